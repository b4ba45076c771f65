/*
 * The OTLP/gRPC receiver in-process: a real server on a free loopback port,
 * a gRPC C core client channel, hand-encoded OTLP requests. Checks the
 * status of each answer and that the accepted spans reach the trace table,
 * and max_connections with raw HTTP/2 connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "receiver.h"
#include "trace_table.h"

#define TRACE_METHOD "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define METRICS_METHOD "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
#define LOGS_METHOD "/opentelemetry.proto.collector.logs.v1.LogsService/Export"

/* --- a tiny protobuf writer for test requests -------------------------------- */

typedef struct pb {
    uint8_t b[1 << 16];
    size_t n;
} pb;

static void pb_varint(pb *p, uint64_t v)
{
    while (v >= 0x80) {
        p->b[p->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p->b[p->n++] = (uint8_t)v;
}

static void pb_bytes(pb *p, unsigned field, const void *data, size_t len)
{
    pb_varint(p, (field << 3) | 2);
    pb_varint(p, len);
    memcpy(p->b + p->n, data, len);
    p->n += len;
}

static void pb_fixed64(pb *p, unsigned field, uint64_t v)
{
    pb_varint(p, (field << 3) | 1);
    memcpy(p->b + p->n, &v, 8); /* little-endian host */
    p->n += 8;
}

/* Span { trace_id=1, span_id=2, parent_span_id=4, name=5, start=7, end=8 } */
static void encode_span(pb *out, const uint8_t *trace_id, size_t trace_len, uint8_t span,
                        uint8_t parent, const char *name)
{
    pb s = {.n = 0};
    uint8_t sid[8] = {span, 0, 0, 0, 0, 0, 0, 0x77};
    uint8_t pid[8] = {parent, 0, 0, 0, 0, 0, 0, 0x77};
    pb_bytes(&s, 1, trace_id, trace_len);
    pb_bytes(&s, 2, sid, 8);
    if (parent)
        pb_bytes(&s, 4, pid, 8);
    pb_bytes(&s, 5, name, strlen(name));
    pb_fixed64(&s, 7, 1000000000ull + span * 1000ull);
    pb_fixed64(&s, 8, 1000000000ull + span * 1000ull + 500);
    pb_bytes(out, 2, s.b, s.n); /* ScopeSpans.spans = 2 */
}

/* ExportTraceServiceRequest with one resource, one scope and the given spans. */
static size_t encode_request(uint8_t *out, const uint8_t *trace_id, size_t trace_len, int nspans,
                             int bad_trace_span)
{
    static pb scope_spans, resource_spans, req;
    scope_spans.n = resource_spans.n = req.n = 0;
    pb scope = {.n = 0};
    pb_bytes(&scope, 1, "testlib", 7); /* InstrumentationScope.name */
    pb_bytes(&scope_spans, 1, scope.b, scope.n);
    for (int i = 0; i < nspans; i++) {
        if (i == bad_trace_span)
            encode_span(&scope_spans, trace_id, 5, (uint8_t)(i + 1), i ? 1 : 0, "bad");
        else
            encode_span(&scope_spans, trace_id, trace_len, (uint8_t)(i + 1), i ? 1 : 0, "op");
    }
    pb resource = {.n = 0};
    pb kv = {.n = 0}, val = {.n = 0};
    pb_bytes(&val, 1, "svc", 3);          /* AnyValue.string_value */
    pb_bytes(&kv, 1, "service.name", 12); /* KeyValue.key */
    pb_bytes(&kv, 2, val.b, val.n);       /* KeyValue.value */
    pb_bytes(&resource, 1, kv.b, kv.n);   /* Resource.attributes */
    pb_bytes(&resource_spans, 1, resource.b, resource.n);
    pb_bytes(&resource_spans, 2, scope_spans.b, scope_spans.n);
    pb_bytes(&req, 1, resource_spans.b, resource_spans.n);
    memcpy(out, req.b, req.n);
    return req.n;
}

/* --- a gRPC C core client ------------------------------------------------------ */

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse TraceResponse;

typedef struct reply {
    grpc_status_code status;
    char details[512];
    uint8_t body[1024];
    size_t body_len;
} reply;

static void call_unary(grpc_channel *ch, const char *method, const uint8_t *data, size_t len,
                       reply *out)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_static_string(method);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(30, GPR_TIMESPAN));
    grpc_call *call =
        grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL, deadline, NULL);
    assert_non_null(call);
    grpc_slice payload = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *req = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_byte_buffer *resp = NULL;
    grpc_slice details;
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &out->status;
    ops[5].data.recv_status_on_client.status_details = &details;
    assert_int_equal(grpc_call_start_batch(call, ops, 6, (void *)1, NULL), GRPC_CALL_OK);
    grpc_event ev = grpc_completion_queue_pluck(cq, (void *)1, deadline, NULL);
    assert_int_equal(ev.type, GRPC_OP_COMPLETE);
    size_t dl = GRPC_SLICE_LENGTH(details);
    if (dl >= sizeof(out->details))
        dl = sizeof(out->details) - 1;
    memcpy(out->details, GRPC_SLICE_START_PTR(details), dl);
    out->details[dl] = '\0';
    out->body_len = 0;
    if (resp) {
        grpc_byte_buffer_reader rd;
        assert_true(grpc_byte_buffer_reader_init(&rd, resp));
        grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
        out->body_len = GRPC_SLICE_LENGTH(all) < sizeof(out->body) ? GRPC_SLICE_LENGTH(all) : 0;
        memcpy(out->body, GRPC_SLICE_START_PTR(all), out->body_len);
        grpc_slice_unref(all);
        grpc_byte_buffer_reader_destroy(&rd);
        grpc_byte_buffer_destroy(resp);
    }
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_byte_buffer_destroy(req);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

/* --- fixture ------------------------------------------------------------------- */

typedef struct fixture {
    dp_trace_table *table;
    dp_ingest *ingest;
    dp_receiver *receiver;
    grpc_channel *channel;
    grpc_channel *gzip_channel;
    int forwarded;
} fixture;

static int count_forward(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len)
{
    fixture *f = ctx;
    f->forwarded++;
    return 0;
}

static int setup(void **state)
{
    grpc_init();
    fixture *f = calloc(1, sizeof(*f));
    dp_trace_table_options o;
    dp_trace_table_options_defaults(&o);
    o.max_pending_runs = 1;
    f->table = dp_trace_table_create(&o);
    dp_receiver_options ro;
    dp_receiver_options_defaults(&ro);
    snprintf(ro.listen, sizeof(ro.listen), "127.0.0.1:0");
    ro.workers = 2;
    ro.max_recv_message_bytes = 64 * 1024;
    ro.max_concurrent_calls = 4;
    dp_ingest_options io = {0};
    io.table = f->table;
    io.forward = count_forward;
    io.forward_ctx = f;
    f->ingest = dp_ingest_create(&io);
    assert_non_null(f->ingest);
    ro.ingest = f->ingest;
    char err[256];
    assert_int_equal(dp_receiver_start(&ro, &f->receiver, err, sizeof(err)), DP_RECEIVER_OK);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", dp_receiver_port(f->receiver));
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    f->channel = grpc_channel_create(target, creds, NULL);
    grpc_arg arg = {0};
    arg.type = GRPC_ARG_INTEGER;
    arg.key = GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
    arg.value.integer = GRPC_COMPRESS_GZIP;
    grpc_channel_args args = {1, &arg};
    f->gzip_channel = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    grpc_channel_destroy(f->channel);
    grpc_channel_destroy(f->gzip_channel);
    dp_receiver_destroy(f->receiver);
    dp_ingest_destroy(f->ingest);
    dp_run_record *r;
    while (dp_trace_table_take(f->table, 0, &r) == DP_TRACE_TABLE_OK)
        dp_trace_table_release(f->table, r);
    dp_trace_table_destroy(f->table);
    free(f);
    grpc_shutdown();
    return 0;
}

static const uint8_t trace_a[16] = {0xa1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t trace_b[16] = {0xb2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static dp_run_record *finalise_one(fixture *f)
{
    dp_trace_table_finalise_all(f->table);
    dp_run_record *r = NULL;
    assert_int_equal(dp_trace_table_take(f->table, 0, &r), DP_TRACE_TABLE_OK);
    return r;
}

/* Everything in one sequence: the receiver is shared and the counters add up. */
static void statuses_and_spans(void **state)
{
    fixture *f = *state;
    static uint8_t req[1 << 17];
    reply rep;

    /* 1. three good spans: OK, empty response (no partial_success) */
    size_t n = encode_request(req, trace_a, 16, 3, -1);
    call_unary(f->channel, TRACE_METHOD, req, n, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_OK);
    assert_int_equal(rep.body_len, 0);
    dp_run_record *r = finalise_one(f);
    assert_int_equal(r->span_count, 3);
    assert_memory_equal(r->trace_id, trace_a, 16);
    assert_int_equal(r->scope_count, 1);
    /* the stored resource is the encoded Resource: 0x0a len KeyValue(...) */
    assert_int_equal(r->scopes[0].resource_raw.ptr[0], 0x0a);
    dp_trace_table_release(f->table, r);

    /* 2. garbage bytes: INVALID_ARGUMENT with a message */
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x13, 0x37};
    call_unary(f->channel, TRACE_METHOD, garbage, sizeof(garbage), &rep);
    assert_int_equal(rep.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_true(strlen(rep.details) > 0);

    /* 3. truncated protobuf: INVALID_ARGUMENT */
    n = encode_request(req, trace_a, 16, 3, -1);
    call_unary(f->channel, TRACE_METHOD, req, n - 5, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_INVALID_ARGUMENT);

    /* 4. one span with a 5-byte trace id among four: OK + partial_success
     * {rejected_spans: 1, error_message}: bytes 0x0a len 0x08 0x01 0x12 ... */
    n = encode_request(req, trace_b, 16, 4, 2);
    call_unary(f->channel, TRACE_METHOD, req, n, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_OK);
    assert_true(rep.body_len > 4);
    assert_int_equal(rep.body[0], 0x0a);
    assert_int_equal(rep.body[2], 0x08);
    assert_int_equal(rep.body[3], 0x01);
    TraceResponse *resp =
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
            NULL, rep.body_len, rep.body);
    assert_non_null(resp);
    assert_non_null(resp->partial_success);
    assert_int_equal(resp->partial_success->rejected_spans, 1);
    assert_non_null(strstr(resp->partial_success->error_message, "trace_id is 5 bytes"));
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(resp,
                                                                                             NULL);
    r = finalise_one(f);
    assert_int_equal(r->span_count, 3); /* 4 sent - 1 rejected */
    dp_trace_table_release(f->table, r);

    /* 5. over max_recv_message_bytes (64 KiB): RESOURCE_EXHAUSTED from the core */
    static uint8_t big[100 * 1024];
    memset(big, 0, sizeof(big));
    call_unary(f->channel, TRACE_METHOD, big, sizeof(big), &rep);
    assert_int_equal(rep.status, GRPC_STATUS_RESOURCE_EXHAUSTED);

    /* 6. gzip-compressed request: decompressed by the core, accepted */
    n = encode_request(req, trace_a, 16, 2, -1);
    call_unary(f->gzip_channel, TRACE_METHOD, req, n, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_OK);
    r = finalise_one(f);
    assert_int_equal(r->span_count, 2);
    dp_trace_table_release(f->table, r);

    /* 7. pending queue full (max_pending_runs = 1): UNAVAILABLE, nothing kept */
    n = encode_request(req, trace_a, 16, 1, -1);
    call_unary(f->channel, TRACE_METHOD, req, n, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_OK);
    dp_trace_table_finalise_all(f->table); /* one run pending: the cap */
    n = encode_request(req, trace_b, 16, 2, -1);
    call_unary(f->channel, TRACE_METHOD, req, n, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_UNAVAILABLE);
    dp_trace_table_stats ts;
    dp_trace_table_get_stats(f->table, &ts);
    assert_int_equal(ts.buffered_spans, 0);
    r = NULL;
    assert_int_equal(dp_trace_table_take(f->table, 0, &r), DP_TRACE_TABLE_OK);
    dp_trace_table_release(f->table, r);
    /* the retry after the sink caught up is accepted */
    call_unary(f->channel, TRACE_METHOD, req, n, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_OK);
    r = finalise_one(f);
    assert_int_equal(r->span_count, 2);
    dp_trace_table_release(f->table, r);

    /* 8. metrics and logs: an empty request is valid (no resource_metrics) */
    call_unary(f->channel, METRICS_METHOD, (const uint8_t *)"", 0, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_OK);
    call_unary(f->channel, LOGS_METHOD, (const uint8_t *)"", 0, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_OK);
    assert_int_equal(f->forwarded, 2);
    call_unary(f->channel, LOGS_METHOD, garbage, sizeof(garbage), &rep);
    assert_int_equal(rep.status, GRPC_STATUS_INVALID_ARGUMENT);

    /* counters: accepted 3 + 3 + 2 + 1 + 2 = 11; rejected 1; refused 2;
     * received = accepted + rejected + refused = 14 */
    dp_receiver_stats st;
    dp_receiver_get_stats(f->receiver, &st);
    assert_int_equal(st.spans_accepted, 11);
    assert_int_equal(st.spans_rejected, 1);
    assert_int_equal(st.spans_refused, 2);
    assert_int_equal(st.spans_received, 14);
    /* OK: calls 1, 4, 6, 7a, 7c, metrics, logs = 7; INVALID_ARGUMENT: 2, 3, logs = 3;
     * UNAVAILABLE: 1. RESOURCE_EXHAUSTED is answered by the core, not counted here. */
    assert_int_equal(st.calls_by_status[GRPC_STATUS_OK], 7);
    assert_int_equal(st.calls_by_status[GRPC_STATUS_INVALID_ARGUMENT], 3);
    assert_int_equal(st.calls_by_status[GRPC_STATUS_UNAVAILABLE], 1);
}

static void bind_conflict_is_an_error(void **state)
{
    fixture *f = *state;
    char addr[64], err[256] = "";
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", dp_receiver_port(f->receiver));
    dp_receiver_options ro;
    dp_receiver_options_defaults(&ro);
    snprintf(ro.listen, sizeof(ro.listen), "%s", addr);
    ro.workers = 1;
    ro.ingest = f->ingest;
    dp_receiver *second = NULL;
    assert_int_equal(dp_receiver_start(&ro, &second, err, sizeof(err)), DP_RECEIVER_EBIND);
    assert_null(second);
    assert_non_null(strstr(err, addr));
}

/* A TCP connection to port that sends the HTTP/2 preface and an empty SETTINGS frame. */
static int h2_connect(int port)
{
    static const char hello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                "\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)send(fd, hello, sizeof(hello) - 1, MSG_NOSIGNAL); /* may be closed already */
    return fd;
}

/* What the server does first on fd within 5 s: 1 it sent bytes (its SETTINGS), 0 it closed
 * the connection (end of file or reset), -1 nothing. */
static int server_first(int fd)
{
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf));
    return n > 0 ? 1 : n == 0 || errno == ECONNRESET ? 0 : -1;
}

/* max_connections 2: two connections are handed to the core, a third is closed at
 * once and counted; once one of the two is closed, a new connection is taken. */
static void max_connections(void **state)
{
    fixture *f = *state;
    char err[256] = "";
    dp_receiver_options ro;
    dp_receiver_options_defaults(&ro);
    snprintf(ro.listen, sizeof(ro.listen), "127.0.0.1:0");
    ro.workers = 1;
    ro.ingest = f->ingest;
    ro.max_connections = 2;
    dp_receiver *r = NULL;
    assert_int_equal(dp_receiver_start(&ro, &r, err, sizeof(err)), DP_RECEIVER_OK);
    int port = dp_receiver_port(r);
    int a = h2_connect(port), b = h2_connect(port);
    assert_int_equal(server_first(a), 1);
    assert_int_equal(server_first(b), 1);
    int c = h2_connect(port);
    assert_int_equal(server_first(c), 0);
    close(c);
    dp_receiver_stats st;
    dp_receiver_get_stats(r, &st);
    assert_int_equal(st.connections_refused_max_connections, 1);
    assert_int_equal(st.connections_refused_fd_limit, 0);

    /* a closes; the core closes its end on its own, then a new connection is taken
     * (tried until it is, at most 50 times: each refusal is counted) */
    close(a);
    int taken = 0, tries = 0;
    struct timespec pause = {0, 20 * 1000 * 1000};
    while (!taken && tries < 50) {
        c = h2_connect(port);
        taken = server_first(c) == 1;
        tries++;
        if (!taken) {
            close(c);
            nanosleep(&pause, NULL); /* polling a condition, at most 50 tries */
        }
    }
    assert_true(taken);
    dp_receiver_get_stats(r, &st);
    assert_int_equal(st.connections_refused_max_connections, (uint64_t)tries);
    close(b);
    close(c);
    dp_receiver_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(statuses_and_spans, setup, teardown),
        cmocka_unit_test_setup_teardown(bind_conflict_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(max_connections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

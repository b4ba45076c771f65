/*
 * The ceiling for dagprof's throughput: a gRPC C core server that answers
 * every call with OK and an empty ExportTraceServiceResponse and does nothing
 * else (with --decode it also unpacks each request with protobuf-c and counts
 * its spans, the cost of decoding alone; with --count it counts the spans by
 * walking the wire format, without decoding them). Same threading model as a
 * daemon would use: one completion queue per worker thread.
 *
 *   null_server --listen 127.0.0.1:PORT [--threads 2] [--decode | --count]
 *
 * Prints "null_server listening on ADDR" on stderr when ready; on SIGTERM or
 * SIGINT it stops and prints "calls=N bytes=N spans=N" on stdout.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <stdbool.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#define CALLS_PER_WORKER 64

enum call_state { WAIT_CALL, WAIT_MESSAGE, WAIT_DONE };

typedef struct server_call {
    struct worker *w;
    enum call_state state;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array request_md;
    grpc_byte_buffer *recv;
    grpc_byte_buffer *send;
    int cancelled;
} server_call;

typedef struct worker {
    pthread_t thread;
    grpc_completion_queue *cq;
    server_call calls[CALLS_PER_WORKER];
    uint64_t calls_done, bytes, spans;
} worker;

static grpc_server *g_server;
static atomic_int g_stopping;
static int g_decode;

static void request_call(worker *w, server_call *c)
{
    c->state = WAIT_CALL;
    c->call = NULL;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->request_md);
    if (grpc_server_request_call(g_server, &c->call, &c->details, &c->request_md, w->cq, w->cq,
                                 c) != GRPC_CALL_OK) {
        grpc_call_details_destroy(&c->details);
        grpc_metadata_array_destroy(&c->request_md);
        c->w = NULL; /* slot no longer in use */
    }
}

static size_t count_spans(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return 0;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    size_t n = 0;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    if (req) {
        for (size_t i = 0; i < req->n_resource_spans; i++)
            for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
                n += req->resource_spans[i]->scope_spans[j]->n_spans;
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
            req, NULL);
    }
    grpc_slice_unref(all);
    return n;
}

/* --count: the spans of a request found by walking the wire format only
 * (ExportTraceServiceRequest.resource_spans = 1 -> ResourceSpans.scope_spans
 * = 2 -> ScopeSpans.spans = 2), without decoding them: a sink that does
 * nothing but can still tell how many spans it got. */
static int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Counts the length-delimited fields at the end of `path` (field numbers, one
 * per nesting level) inside the message [p, end). */
static size_t wire_count(const uint8_t *p, const uint8_t *end, const uint32_t *path, int depth)
{
    size_t n = 0;
    while (p < end) {
        uint64_t tag, v;
        if (wire_varint(&p, end, &tag) < 0)
            return n;
        switch (tag & 7) {
        case 0:
            if (wire_varint(&p, end, &v) < 0)
                return n;
            break;
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        case 2:
            if (wire_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return n;
            if ((tag >> 3) == path[0])
                n += depth == 1 ? 1 : wire_count(p, p + v, path + 1, depth - 1);
            p += v;
            break;
        default:
            return n;
        }
    }
    return n;
}

static size_t count_spans_wire(grpc_byte_buffer *bb)
{
    static const uint32_t path[3] = {1, 2, 2};
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return 0;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    const uint8_t *p = GRPC_SLICE_START_PTR(all);
    size_t n = wire_count(p, p + GRPC_SLICE_LENGTH(all), path, 3);
    grpc_slice_unref(all);
    return n;
}

static void on_event(worker *w, server_call *c, int success)
{
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    switch (c->state) {
    case WAIT_CALL:
        if (!success) { /* server shutting down */
            grpc_call_details_destroy(&c->details);
            grpc_metadata_array_destroy(&c->request_md);
            c->w = NULL;
            return;
        }
        c->recv = NULL;
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_RECV_MESSAGE;
        ops[1].data.recv_message.recv_message = &c->recv;
        c->state = WAIT_MESSAGE;
        if (grpc_call_start_batch(c->call, ops, 2, c, NULL) == GRPC_CALL_OK)
            return;
        break;
    case WAIT_MESSAGE:
        if (success && c->recv) {
            w->bytes += grpc_byte_buffer_length(c->recv);
            /* only trace exports hold spans (an upstream also gets metrics) */
            static const char trace_method[] =
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
            bool traces = grpc_slice_str_cmp(c->details.method, trace_method) == 0;
            if (traces && g_decode == 1)
                w->spans += count_spans(c->recv);
            else if (traces && g_decode == 2)
                w->spans += count_spans_wire(c->recv);
            grpc_byte_buffer_destroy(c->recv);
            c->recv = NULL;
        }
        /* An empty ExportTraceServiceResponse encodes to zero bytes. */
        grpc_slice empty = grpc_empty_slice();
        c->send = grpc_raw_byte_buffer_create(&empty, 1);
        ops[0].op = GRPC_OP_SEND_MESSAGE;
        ops[0].data.send_message.send_message = c->send;
        ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[1].data.send_status_from_server.status = GRPC_STATUS_OK;
        ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[2].data.recv_close_on_server.cancelled = &c->cancelled;
        c->state = WAIT_DONE;
        if (grpc_call_start_batch(c->call, ops, 3, c, NULL) == GRPC_CALL_OK)
            return;
        break;
    case WAIT_DONE:
        if (success && !c->cancelled)
            w->calls_done++;
        break;
    }
    /* The call is over (or a batch could not start): recycle the slot. */
    if (c->send) {
        grpc_byte_buffer_destroy(c->send);
        c->send = NULL;
    }
    grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->request_md);
    if (atomic_load(&g_stopping))
        c->w = NULL;
    else
        request_call(w, c);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            on_event(w, ev.tag, ev.success);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:4318";
    unsigned threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--decode"))
            g_decode = 1;
        else if (!strcmp(argv[i], "--count"))
            g_decode = 2;
        else {
            fprintf(stderr,
                    "usage: null_server --listen HOST:PORT [--threads N] [--decode | --count]\n");
            return 2;
        }
    }
    if (threads == 0 || threads > 64)
        threads = 2;

    /* Signals are taken by sigwait() in main, never by the gRPC threads. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    grpc_init();
    grpc_arg arg = {.type = GRPC_ARG_INTEGER,
                    .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                    .value.integer = 64 * 1024 * 1024};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    g_server = grpc_server_create(&args, NULL);
    worker *workers = calloc(threads, sizeof(*workers));
    if (!workers)
        return 1;
    for (unsigned i = 0; i < threads; i++) {
        workers[i].cq = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(g_server, workers[i].cq, NULL);
    }
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(g_server, listen, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
        fprintf(stderr, "null_server: cannot listen on %s\n", listen);
        return 1;
    }
    grpc_server_start(g_server);
    for (unsigned i = 0; i < threads; i++) {
        for (unsigned k = 0; k < CALLS_PER_WORKER; k++) {
            workers[i].calls[k].w = &workers[i];
            request_call(&workers[i], &workers[i].calls[k]);
        }
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    }
    fprintf(stderr, "null_server listening on %s\n", listen);

    int sig;
    sigwait(&sigs, &sig);
    atomic_store(&g_stopping, 1);

    grpc_completion_queue *shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_server_shutdown_and_notify(g_server, shutdown_cq, NULL);
    grpc_server_cancel_all_calls(g_server);
    grpc_completion_queue_pluck(shutdown_cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_shutdown(shutdown_cq);
    grpc_completion_queue_destroy(shutdown_cq);
    for (unsigned i = 0; i < threads; i++)
        grpc_completion_queue_shutdown(workers[i].cq);
    uint64_t calls = 0, bytes = 0, spans = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        calls += workers[i].calls_done;
        bytes += workers[i].bytes;
        spans += workers[i].spans;
    }
    grpc_server_destroy(g_server);
    for (unsigned i = 0; i < threads; i++)
        grpc_completion_queue_destroy(workers[i].cq);
    free(workers);
    grpc_shutdown();
    printf("calls=%" PRIu64 " bytes=%" PRIu64 " spans=%" PRIu64 "\n", calls, bytes, spans);
    return 0;
}

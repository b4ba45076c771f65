/*
 * otlp/ingest: one request's outcomes (taken, partly rejected, undecodable,
 * refused by the table, refused by the forward hook), the shared counters,
 * and the answer encoders, against bytes written out by hand below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest.h"
#include "trace_table.h"

/*
 * ExportTraceServiceRequest { resource_spans { scope_spans { spans {
 *   trace_id (16 bytes 0x11), span_id (8 bytes 0x22 or, for a bad span,
 *   3 bytes), name "a", start 1000, end 2000 } } } }
 * Span: 0a 10 <16>, 12 08 <8>, 2a 01 61, 39 <fixed64 1000>, 41 <fixed64 2000>
 *       = 18 + 10 + 3 + 9 + 9 = 49 bytes (44 with a 3-byte span id).
 */
static size_t write_request(uint8_t *out, size_t span_id_len)
{
    uint8_t span[64];
    size_t n = 0;
    span[n++] = 0x0a;
    span[n++] = 16;
    memset(span + n, 0x11, 16);
    n += 16;
    span[n++] = 0x12;
    span[n++] = (uint8_t)span_id_len;
    memset(span + n, 0x22, span_id_len);
    n += span_id_len;
    span[n++] = 0x2a;
    span[n++] = 1;
    span[n++] = 'a';
    span[n++] = 0x39; /* field 7, fixed64: 1000 = 0x3e8, little-endian */
    memcpy(span + n, "\xe8\x03\0\0\0\0\0\0", 8);
    n += 8;
    span[n++] = 0x41; /* field 8, fixed64: 2000 = 0x7d0 */
    memcpy(span + n, "\xd0\x07\0\0\0\0\0\0", 8);
    n += 8;
    size_t m = 0;
    out[m++] = 0x0a;             /* resource_spans */
    out[m++] = (uint8_t)(n + 4); /* = scope_spans field (2 + n + 2) */
    out[m++] = 0x12;             /* scope_spans */
    out[m++] = (uint8_t)(n + 2); /* = spans field (2 + n) */
    out[m++] = 0x12;             /* spans */
    out[m++] = (uint8_t)n;
    memcpy(out + m, span, n);
    return m + n;
}

typedef struct fixture {
    dp_trace_table *table;
    dp_ingest *ingest;
    dp_arena arena;     /* decode memory, reset after each request */
    int forward_answer; /* what the forward hook returns */
    size_t forwarded_items;
    uint8_t forwarded[256]; /* the last request taken (its start) */
    size_t forwarded_len;
} fixture;

static int forward(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len, size_t items)
{
    fixture *f = ctx;
    if (f->forward_answer == 0) {
        f->forwarded_items += items;
        f->forwarded_len = len;
        memcpy(f->forwarded, data, len < sizeof f->forwarded ? len : sizeof f->forwarded);
    }
    return f->forward_answer;
}

static fixture *make(size_t memory_limit)
{
    static fixture f;
    memset(&f, 0, sizeof(f));
    dp_trace_table_options o;
    dp_trace_table_options_defaults(&o);
    o.memory_limit_bytes = memory_limit;
    f.table = dp_trace_table_create(&o);
    assert_non_null(f.table);
    dp_ingest_options io = {f.table, NULL, &f, forward};
    f.ingest = dp_ingest_create(&io);
    assert_non_null(f.ingest);
    dp_arena_init(&f.arena, 4096, 1 << 20);
    return &f;
}

/* One request of `signal` into f's ingest; the arena is reset afterwards. */
static dp_ingest_status ingest(fixture *f, enum dp_signal signal, const void *data, size_t len,
                               dp_ingest_result *res)
{
    dp_ingest_request(f->ingest, signal, data, len, &f->arena, res);
    dp_arena_reset(&f->arena);
    return res->status;
}

static void release(fixture *f)
{
    dp_arena_free(&f->arena);
    dp_ingest_destroy(f->ingest);
    dp_trace_table_destroy(f->table);
}

static void traces(void **state)
{
    fixture *f = make(0);
    uint8_t req[128];
    dp_ingest_result res;
    dp_ingest_stats st;

    size_t len = write_request(req, 8);
    assert_int_equal(len, 55); /* 6 bytes of envelopes + a 49-byte span */
    assert_int_equal(ingest(f, DP_SIGNAL_TRACES, req, len, &res), DP_INGEST_OK);
    assert_int_equal(res.rejected, 0);
    assert_string_equal(res.message, "");

    /* a 3-byte span id: decodes, but the span cannot be used */
    len = write_request(req, 3);
    assert_int_equal(ingest(f, DP_SIGNAL_TRACES, req, len, &res), DP_INGEST_OK);
    assert_int_equal(res.rejected, 1);
    assert_non_null(strstr(res.message, "1 span(s) rejected"));

    /* a length running past the end */
    assert_int_equal(ingest(f, DP_SIGNAL_TRACES, "\x0a\x40\x12", 3, &res), DP_INGEST_INVALID);
    assert_non_null(strstr(res.message, "does not decode"));

    dp_ingest_get_stats(f->ingest, &st);
    assert_int_equal(st.spans_received, 2); /* one per decodable request */
    assert_int_equal(st.spans_accepted, 1);
    assert_int_equal(st.spans_rejected, 1);
    assert_int_equal(st.spans_refused, 0);
    /* requests by outcome: the one that does not decode */
    assert_int_equal(st.decode_errors[DP_SIGNAL_TRACES], 1);
    assert_int_equal(st.requests_refused[DP_SIGNAL_TRACES], 0);
    assert_true(st.busy_ns > 0);
    release(f);
}

/*
 * The table at memory_limit (it holds twice that): `before` requests of one
 * 49-byte span taken, then one refused with `want` and the message `says`;
 * the spans it had counted as refused, nothing of it stored.
 */
static void table_refuses(size_t memory_limit, size_t before, dp_ingest_status want,
                          const char *says)
{
    fixture *f = make(memory_limit);
    uint8_t req[128];
    dp_ingest_result res;
    dp_ingest_stats st;
    size_t len = write_request(req, 8);
    for (size_t i = 0; i < before; i++)
        assert_int_equal(ingest(f, DP_SIGNAL_TRACES, req, len, &res), DP_INGEST_OK);
    assert_int_equal(ingest(f, DP_SIGNAL_TRACES, req, len, &res), want);
    assert_non_null(strstr(res.message, "nothing of this request was kept"));
    assert_non_null(strstr(res.message, says));
    dp_ingest_get_stats(f->ingest, &st);
    assert_int_equal(st.spans_received, before + 1);
    assert_int_equal(st.spans_accepted, before);
    assert_int_equal(st.spans_refused, 1);
    /* refused for now counts as such; too large is the receivers' to count */
    assert_int_equal(st.requests_refused[DP_SIGNAL_TRACES], want == DP_INGEST_UNAVAILABLE);
    assert_int_equal(st.decode_errors[DP_SIGNAL_TRACES], 0);
    dp_trace_table_stats ts;
    dp_trace_table_get_stats(f->table, &ts);
    assert_int_equal(ts.spans_inserted, before);
    assert_int_equal(ts.batches_refused, 1);
    release(f);
}

/* A 30-byte memory limit: the table holds at most 60 bytes; the first
 * 49-byte span fits (and is finished early for memory, its run pending), a
 * second one does not (49 + 49 > 60): refused for now. */
static void refused_by_the_table(void **state)
{
    table_refuses(30, 1, DP_INGEST_UNAVAILABLE, "retry later");
}

/* A 10-byte memory limit: the table holds at most 20 bytes, less than the
 * request's one 49-byte span even when empty. Answering "retry later" would
 * have the SDK send it again and again: it is too large, for good. */
static void too_large_for_the_table(void **state)
{
    table_refuses(10, 0, DP_INGEST_TOO_LARGE, "assembly.memory_limit");
}

static void metrics_and_logs(void **state)
{
    fixture *f = make(0);
    dp_ingest_result res;
    dp_ingest_stats st;
    /*
     * ExportMetricsServiceRequest { resource_metrics { scope_metrics { metrics {
     *   gauge (field 5) { three empty data_points (field 1) } } } } }
     * gauge 0a 00 0a 00 0a 00 (6 bytes); metric 2a 06 <6>; scope_metrics' metrics
     * 12 08 <8>; resource_metrics' scope_metrics 12 0a <10>; request 0a 0c <12>
     */
    static const uint8_t metrics[] = {0x0a, 0x0c, 0x12, 0x0a, 0x12, 0x08, 0x2a,
                                      0x06, 0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00};
    assert_int_equal(ingest(f, DP_SIGNAL_METRICS, metrics, sizeof(metrics), &res), DP_INGEST_OK);
    assert_int_equal(f->forwarded_items, 3);

    f->forward_answer = -1; /* the upstream queue is full */
    assert_int_equal(ingest(f, DP_SIGNAL_METRICS, metrics, sizeof(metrics), &res),
                     DP_INGEST_UNAVAILABLE);

    f->forward_answer = 0;
    /* ExportLogsServiceRequest { resource_logs { scope_logs { log_records {} } } } */
    static const uint8_t logs[] = {0x0a, 0x04, 0x12, 0x02, 0x12, 0x00};
    assert_int_equal(ingest(f, DP_SIGNAL_LOGS, logs, sizeof(logs), &res), DP_INGEST_OK);
    assert_int_equal(ingest(f, DP_SIGNAL_LOGS, (const uint8_t *)"\x0a\x05", 2, &res),
                     DP_INGEST_INVALID);

    dp_ingest_get_stats(f->ingest, &st);
    assert_int_equal(st.metric_points, 3); /* the refused request is not counted */
    assert_int_equal(st.log_records, 1);
    /* one metrics request refused, one logs request that does not decode */
    assert_int_equal(st.requests_refused[DP_SIGNAL_METRICS], 1);
    assert_int_equal(st.requests_refused[DP_SIGNAL_LOGS], 0);
    assert_int_equal(st.decode_errors[DP_SIGNAL_LOGS], 1);
    assert_int_equal(st.decode_errors[DP_SIGNAL_METRICS], 0);
    release(f);
}

/* A growing byte string for hand encoding. */
typedef struct hand {
    uint8_t p[2048];
    size_t len;
} hand;

static void hand_put(hand *h, const void *d, size_t n)
{
    assert_true(h->len + n <= sizeof h->p);
    memmove(h->p + h->len, d, n);
    h->len += n;
}

/* Field `number` (LEN) holding inner's bytes, appended to h. */
static void hand_len_field(hand *h, uint32_t number, const hand *inner)
{
    uint8_t head[6];
    size_t k = 0, v = inner->len;
    head[k++] = (uint8_t)(number << 3 | 2);
    do {
        head[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    hand_put(h, head, k);
    hand_put(h, inner->p, inner->len);
}

/*
 * A logs request whose one LogRecord (depth 3) has two attributes: "deep",
 * an AnyValue (depth 5) holding 48 ArrayValue/AnyValue pairs, the innermost
 * empty AnyValue at 5 + 96 = 101, then "keep" = "yes". Forwarded without
 * "deep", the record's dropped_attributes_count (field 7) appended:
 *   keep KeyValue   0a 04 "keep" 12 05 0a 03 "yes"       13 bytes
 *   LogRecord       32 0d <13> 38 01                      17
 *   ScopeLogs       12 11 <17>                            19
 *   ResourceLogs    12 13 <19>                            21
 *   request         0a 15 <21>                            23
 */
static const uint8_t LOGS_FORWARDED[23] = {0x0a, 0x15, 0x12, 0x13, 0x12, 0x11, 0x32, 0x0d,
                                           0x0a, 0x04, 'k',  'e',  'e',  'p',  0x12, 0x05,
                                           0x0a, 0x03, 'y',  'e',  's',  0x38, 0x01};

static size_t deep_logs_request(hand *req)
{
    static hand v, arr, kv, rec, sl, rl;
    v.len = 0; /* the innermost AnyValue, empty */
    for (int i = 0; i < 48; i++) {
        arr.len = 0;
        hand_len_field(&arr, 1, &v); /* ArrayValue.values */
        v.len = 0;
        hand_len_field(&v, 5, &arr); /* AnyValue.array_value */
    }
    kv.len = 0;
    hand_put(&kv,
             "\x0a\x04"
             "deep",
             6);
    hand_len_field(&kv, 2, &v);
    rec.len = 0;
    hand_len_field(&rec, 6, &kv);
    hand_put(&rec, "\x32\x0d\x0a\x04keep\x12\x05\x0a\x03yes", 15);
    sl.len = rl.len = req->len = 0;
    hand_len_field(&sl, 2, &rec);
    hand_len_field(&rl, 2, &sl);
    hand_len_field(req, 1, &rl);
    return req->len;
}

/* Attributes nested past the limit: left out of what is forwarded, counted,
 * said in partial_success; those the OTLP/JSON encoder left out too. */
static void attributes_nested_too_deep(void **state)
{
    fixture *f = make(0);
    dp_ingest_result res;
    dp_ingest_stats st;
    static hand req;
    size_t len = deep_logs_request(&req);

    assert_int_equal(ingest(f, DP_SIGNAL_LOGS, req.p, len, &res), DP_INGEST_OK);
    assert_string_equal(res.message, "1 attribute(s) dropped: nested more than 100 messages deep");
    assert_int_equal(f->forwarded_items, 1);
    assert_int_equal(f->forwarded_len, sizeof LOGS_FORWARDED);
    assert_memory_equal(f->forwarded, LOGS_FORWARDED, sizeof LOGS_FORWARDED);
    dp_ingest_get_stats(f->ingest, &st);
    assert_int_equal(st.attributes_dropped_nesting, 1);
    assert_int_equal(st.log_records, 1);

    /* not taken (the upstream queue is full): nothing counted */
    f->forward_answer = -1;
    assert_int_equal(ingest(f, DP_SIGNAL_LOGS, req.p, len, &res), DP_INGEST_UNAVAILABLE);
    f->forward_answer = 0;
    dp_ingest_get_stats(f->ingest, &st);
    assert_int_equal(st.attributes_dropped_nesting, 1);

    /* clean bytes whose encoder left out 2: forwarded as they are, 2 counted */
    dp_ingest_request_dropped(f->ingest, DP_SIGNAL_LOGS, LOGS_FORWARDED, sizeof LOGS_FORWARDED, 2,
                              &f->arena, &res);
    dp_arena_reset(&f->arena);
    assert_int_equal(res.status, DP_INGEST_OK);
    assert_string_equal(res.message, "2 attribute(s) dropped: nested more than 100 messages deep");
    assert_int_equal(f->forwarded_len, sizeof LOGS_FORWARDED);
    /* and a trace request whose encoder left out 4 */
    uint8_t treq[128];
    size_t tlen = write_request(treq, 8);
    dp_ingest_request_dropped(f->ingest, DP_SIGNAL_TRACES, treq, tlen, 4, &f->arena, &res);
    dp_arena_reset(&f->arena);
    assert_int_equal(res.status, DP_INGEST_OK);
    assert_string_equal(res.message, "4 attribute(s) dropped: nested more than 100 messages deep");
    /* a request that does not decode counts none of them */
    dp_ingest_request_dropped(f->ingest, DP_SIGNAL_LOGS, (const uint8_t *)"\x0a\x05", 2, 5,
                              &f->arena, &res);
    dp_arena_reset(&f->arena);
    assert_int_equal(res.status, DP_INGEST_INVALID);
    dp_ingest_get_stats(f->ingest, &st);
    assert_int_equal(st.attributes_dropped_nesting, 1 + 2 + 4);
    release(f);
}

/* The persistent queue's forward hook: the request is kept as forwarded
 * and left outstanding (not delivered), so the next start replays it. */
static int forward_tracked(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                           size_t items, dp_progress *progress)
{
    forward(ctx, signal, data, len, items);
    dp_progress_release(progress, false);
    return 0;
}

/* Replay: the record's bytes, as the forward hook would have them. */
static int replayed(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                    uint16_t segment)
{
    (void)segment;
    fixture *f = ctx;
    assert_int_equal(signal, DP_SIGNAL_LOGS);
    f->forwarded_items++;
    f->forwarded_len = len;
    memcpy(f->forwarded, data, len < sizeof f->forwarded ? len : sizeof f->forwarded);
    return 0;
}

/* With the persistent queue: what is stored (and replayed at the next
 * start) is the request without the attribute nested too deep. */
static void attributes_nested_too_deep_stored_without(void **state)
{
    fixture *f = make(0);
    dp_ingest_result res;
    static hand req;
    char dir[] = "/tmp/dp-test-ingest-XXXXXX", err[256];
    assert_non_null(mkdtemp(dir));
    dp_storage_options so;
    dp_storage_options_defaults(&so);
    snprintf(so.path, sizeof so.path, "%s", dir);
    dp_storage *s;
    assert_int_equal(dp_storage_open(&so, &s, err, sizeof err), 0);
    dp_ingest_destroy(f->ingest);
    dp_ingest_options io = {
        .table = f->table, .storage = s, .forward_tracked = forward_tracked, .forward_ctx = f};
    f->ingest = dp_ingest_create(&io);
    assert_non_null(f->ingest);

    size_t len = deep_logs_request(&req);
    assert_int_equal(ingest(f, DP_SIGNAL_LOGS, req.p, len, &res), DP_INGEST_OK);
    assert_string_equal(res.message, "1 attribute(s) dropped: nested more than 100 messages deep");
    assert_int_equal(f->forwarded_len, sizeof LOGS_FORWARDED);
    assert_memory_equal(f->forwarded, LOGS_FORWARDED, sizeof LOGS_FORWARDED);
    dp_ingest_destroy(f->ingest);
    f->ingest = NULL;
    dp_storage_close(s);

    /* the next start replays the stored record */
    f->forwarded_len = f->forwarded_items = 0;
    assert_int_equal(dp_storage_open(&so, &s, err, sizeof err), 0);
    dp_storage_replay_stats st;
    assert_int_equal(dp_storage_replay(s, replayed, f, &st), 0);
    assert_int_equal(st.records, 1);
    assert_int_equal(f->forwarded_len, sizeof LOGS_FORWARDED);
    assert_memory_equal(f->forwarded, LOGS_FORWARDED, sizeof LOGS_FORWARDED);
    dp_storage_close(s); /* nothing outstanding: the segment goes */
    assert_int_equal(rmdir(dir), 0);
    release(f);
}

static void encoders(void **state)
{
    dp_buf b;
    dp_buf_init(&b, 0);
    dp_ingest_result ok;
    memset(&ok, 0, sizeof(ok));
    assert_int_equal(dp_ingest_encode_response(&ok, &b), 0);
    assert_int_equal(b.len, 0); /* full success: partial_success left unset */

    /* partial_success (1) { rejected (1) = 3, error_message (2) = "x" }:
     * 0a 05 | 08 03 | 12 01 78 */
    dp_ingest_result partial = ok;
    partial.rejected = 3;
    strcpy(partial.message, "x");
    assert_int_equal(dp_ingest_encode_response(&partial, &b), 0);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "\x0a\x05\x08\x03\x12\x01x", 7);

    /* google.rpc.Status { code (1) = 3, message (2) = "bad" }: 08 03 | 12 03 62 61 64 */
    dp_buf_reset(&b);
    assert_int_equal(dp_ingest_encode_status(3, "bad", &b), 0);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data,
                        "\x08\x03\x12\x03"
                        "bad",
                        7);
    dp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(traces),
        cmocka_unit_test(refused_by_the_table),
        cmocka_unit_test(too_large_for_the_table),
        cmocka_unit_test(metrics_and_logs),
        cmocka_unit_test(attributes_nested_too_deep),
        cmocka_unit_test(attributes_nested_too_deep_stored_without),
        cmocka_unit_test(encoders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The whole pipeline in-process: an input plugin inserts encoded spans into
 * the engine, the engine's threads finalise, decode and profile them, and a
 * capturing output receives every run. Waits on the output's condition
 * variable (bounded), never on a clock.
 *
 * The run: root "run" 0..300 ms; node "a" (dag.node.id) 0..100 with a chat
 * of 100 in / 10 out; node "b" 150..300 with a chat of 200 in / 20 out.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config.h"
#include "engine.h"
#include "opentelemetry/proto/trace/v1/trace.pb-c.h"
#include "profile_types.h"
#include "sink.h"

typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;

#define MS(x) (1700000000000000000ULL + (uint64_t)(x)*1000000ULL)
#define NSPANS 5

static const uint8_t TRACE_ID[16] = {0xe9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* encoded spans: 0 root, 1 a, 2 chat of a, 3 b, 4 chat of b */
static uint8_t *encoded[NSPANS];
static size_t encoded_len[NSPANS];

static void span_id(int n, uint8_t out[8])
{
    memset(out, 0, 8);
    out[0] = 0x5a;
    out[7] = (uint8_t)(n + 1);
}

static void encode_all(void)
{
    static const struct {
        int parent;
        const char *name, *node;
        unsigned start, end;
        int64_t in, out;
    } def[NSPANS] = {
        {-1, "run", NULL, 0, 300, 0, 0},
        {0, "a", "a", 0, 100, 0, 0},
        {1, "chat gpt-4o-mini", NULL, 10, 90, 100, 10},
        {0, "b", "b", 150, 300, 0, 0},
        {3, "chat gpt-4o-mini", NULL, 160, 290, 200, 20},
    };
    for (int n = 0; n < NSPANS; n++) {
        Span s;
        KeyValue kv[4], *kvp[4];
        AnyValue av[4];
        uint8_t sid[8], pid[8];
        opentelemetry__proto__trace__v1__span__init(&s);
        span_id(n, sid);
        s.trace_id.data = (uint8_t *)TRACE_ID;
        s.trace_id.len = 16;
        s.span_id.data = sid;
        s.span_id.len = 8;
        if (def[n].parent >= 0) {
            span_id(def[n].parent, pid);
            s.parent_span_id.data = pid;
            s.parent_span_id.len = 8;
        }
        s.name = (char *)def[n].name;
        s.start_time_unix_nano = MS(def[n].start);
        s.end_time_unix_nano = MS(def[n].end);
        size_t k = 0;
        for (int i = 0; i < 4; i++) {
            opentelemetry__proto__common__v1__key_value__init(&kv[i]);
            opentelemetry__proto__common__v1__any_value__init(&av[i]);
            kv[i].value = &av[i];
            kvp[i] = &kv[i];
        }
        if (def[n].node) {
            kv[k].key = "dag.node.id";
            av[k].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
            av[k++].string_value = (char *)def[n].node;
        }
        if (def[n].in) {
            kv[k].key = "gen_ai.request.model";
            av[k].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
            av[k++].string_value = "gpt-4o-mini";
            kv[k].key = "gen_ai.usage.input_tokens";
            av[k].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
            av[k++].int_value = def[n].in;
            kv[k].key = "gen_ai.usage.output_tokens";
            av[k].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
            av[k++].int_value = def[n].out;
        }
        s.attributes = kvp;
        s.n_attributes = k;
        encoded_len[n] = protobuf_c_message_get_packed_size(&s.base);
        encoded[n] = malloc(encoded_len[n]);
        assert_non_null(encoded[n]);
        assert_int_equal(protobuf_c_message_pack(&s.base, encoded[n]), encoded_len[n]);
    }
}

/* Insert spans [from, to) as one request of one (empty) resource and scope;
 * the table's answer. */
static int try_insert(dp_engine *e, int from, int to)
{
    dp_span_scope scope;
    dp_span_ref spans[NSPANS];
    memset(&scope, 0, sizeof(scope));
    static const int parent_of[NSPANS] = {-1, 0, 1, 0, 3};
    size_t k = 0;
    for (int n = from; n < to; n++) {
        dp_span_ref *b = &spans[k++];
        memset(b, 0, sizeof(*b));
        b->raw = (dp_str){(const char *)encoded[n], encoded_len[n]};
        memcpy(b->trace_id, TRACE_ID, 16);
        span_id(n, b->span_id);
        if (parent_of[n] >= 0) {
            span_id(parent_of[n], b->parent_span_id);
            b->has_parent = true;
        }
    }
    dp_span_batch batch = {&scope, 1, spans, k};
    return dp_trace_table_insert(dp_engine_table(e), &batch);
}

/* try_insert(), which must be taken. */
static void insert(dp_engine *e, int from, int to)
{
    assert_int_equal(try_insert(e, from, to), DP_TRACE_TABLE_OK);
}

/* --- an input plugin that inserts a fixed part of the run when started ---- */

typedef struct test_input {
    int from, to;
    bool started, stopped, destroyed;
} test_input;

static int input_start(void *ctx, dp_engine *e, char *err, size_t errlen)
{
    test_input *in = ctx;
    in->started = true;
    insert(e, in->from, in->to);
    return 0;
}

static void input_stop(void *ctx)
{
    ((test_input *)ctx)->stopped = true;
}

static void input_destroy(void *ctx)
{
    ((test_input *)ctx)->destroyed = true;
}

static const dp_input_plugin test_input_plugin = {"test", input_start, input_stop, input_destroy};

/* --- an output that keeps what it was given ------------------------------- */

typedef struct seen_run {
    size_t spans;
    unsigned llm_calls;
    uint64_t input, output;
    bool partial, supersedes, late;
    /* the record handed over: its spans, those marked duplicate (bit i: span i) */
    size_t record_spans, duplicates;
    uint32_t duplicate_mask;
} seen_run;

typedef struct capture {
    dp_sink base;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    seen_run runs[8];
    size_t count;
    int flushes;
    /* hold_first: the first run is kept in on_run (held) until released */
    bool hold_first, held, released;
} capture;

static int capture_on_run(dp_sink *sink, const dp_run_record *run, const dp_run_profile *p)
{
    capture *c = (capture *)sink;
    pthread_mutex_lock(&c->lock);
    uint32_t mask = 0;
    size_t marked = 0;
    for (size_t i = 0; run->duplicate && i < run->span_count; i++) {
        marked += run->duplicate[i];
        if (run->duplicate[i] && i < 32)
            mask |= 1u << i;
    }
    assert_int_equal(marked, run->duplicate_count);
    if (c->count < 8)
        c->runs[c->count++] = (seen_run){
            p->span_count, p->llm_calls, p->tokens.input, p->tokens.output,     p->partial,
            p->supersedes, p->late,      run->span_count, run->duplicate_count, mask};
    pthread_cond_broadcast(&c->cond);
    if (c->hold_first && !c->held) {
        c->held = true;
        while (!c->released)
            pthread_cond_wait(&c->cond, &c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* Let the held first run go. */
static void capture_release(capture *c)
{
    pthread_mutex_lock(&c->lock);
    c->released = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static int capture_flush(dp_sink *sink)
{
    ((capture *)sink)->flushes++;
    return 0;
}

static void capture_destroy(dp_sink *sink)
{
    (void)sink;
}

static const dp_sink_ops capture_ops = {capture_on_run, capture_flush, capture_destroy};

static void capture_init(capture *c)
{
    memset(c, 0, sizeof(*c));
    c->base.ops = &capture_ops;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
}

/* Wait (at most 30 s) until the output has seen n runs. */
static bool wait_runs(capture *c, size_t n)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    pthread_mutex_lock(&c->lock);
    while (c->count < n && pthread_cond_timedwait(&c->cond, &c->lock, &deadline) == 0)
        ;
    bool ok = c->count >= n;
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* An engine with `out` as its output and `in` (when not NULL) as its input, started. */
static dp_engine *start_engine(const dp_config *cfg, const dp_engine_options *opt, capture *out,
                               test_input *in)
{
    dp_engine *e = NULL;
    capture_init(out);
    assert_int_equal(dp_engine_create(cfg, opt, &e), 0);
    assert_int_equal(dp_engine_add_output(e, &out->base), 0);
    if (in)
        assert_int_equal(dp_engine_add_input(e, &test_input_plugin, in), 0);
    assert_int_equal(dp_engine_start(e), 0);
    return e;
}

static int setup(void **state)
{
    (void)state;
    encode_all();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int n = 0; n < NSPANS; n++)
        free(encoded[n]);
    return 0;
}

/* The defaults with `workers` run processors. */
static dp_config config(unsigned workers)
{
    dp_config cfg;
    dp_config_defaults(&cfg);
    cfg.server.workers = workers;
    return cfg;
}

/* The whole run, each span once: 5 spans, 2 calls, 300 in / 30 out. */
static void assert_whole(const seen_run *r)
{
    assert_int_equal(r->spans, 5);
    assert_int_equal(r->llm_calls, 2);
    assert_int_equal(r->input, 300);
    assert_int_equal(r->output, 30);
}

/* The whole run through an input, reported once at stop: 5 spans, 2 calls,
 * 300 in / 30 out; the input is started, stopped and destroyed once. */
static void test_whole_run(void **state)
{
    (void)state;
    dp_config cfg = config(2);
    capture out;
    test_input in = {0, NSPANS, false, false, false};
    dp_engine *e = start_engine(&cfg, NULL, &out, &in);
    assert_true(in.started);
    dp_engine_stop(e);
    assert_true(in.stopped);
    assert_int_equal(out.count, 1);
    assert_int_equal(out.flushes, 1);
    assert_whole(&out.runs[0]);
    assert_false(out.runs[0].partial || out.runs[0].supersedes || out.runs[0].late);
    dp_engine_stats st;
    dp_engine_get_stats(e, &st);
    assert_int_equal(st.runs_processed, 1);
    assert_int_equal(st.runs_failed, 0);
    assert_int_equal(st.runs_partial, 0);
    assert_int_equal(st.runs_whole_again, 0);
    assert_int_equal(st.processor_count, 2);
    dp_engine_destroy(e);
    assert_true(in.destroyed);
}

/*
 * max_age 1 ms: node a and its chat (no root) are reported as partial (2
 * spans, 100 in); then the rest arrives (root, node b and its chat, and with
 * `resend` node a and its chat again) and, at stop, the run is reported
 * whole from each of its 5 spans once, superseding the partial report; the
 * 2 resent spans are copies.
 */
static void partial_then_whole(bool resend)
{
    dp_config cfg = config(1);
    cfg.assembly.max_age_ms = 1;
    capture out;
    test_input in = {1, 3, false, false, false};
    dp_engine *e = start_engine(&cfg, NULL, &out, &in);
    assert_true(wait_runs(&out, 1));
    assert_true(out.runs[0].partial);
    assert_int_equal(out.runs[0].spans, 2);
    assert_int_equal(out.runs[0].input, 100);
    if (resend) {
        insert(e, 0, NSPANS);
    } else {
        insert(e, 3, NSPANS);
        insert(e, 0, 1);
    }
    dp_engine_stop(e);
    assert_true(out.count >= 2);
    seen_run whole = out.runs[out.count - 1];
    assert_true(whole.supersedes);
    assert_false(whole.late);
    assert_whole(&whole);
    /* the whole run's own record: with `resend` the copies of a and its
     * chat (its spans 1 and 2, already in the partial record) are marked */
    assert_int_equal(whole.record_spans, resend ? 5 : 3);
    assert_int_equal(whole.duplicates, resend ? 2 : 0);
    assert_int_equal(whole.duplicate_mask, resend ? 0x6u : 0u);
    dp_engine_stats st;
    dp_engine_get_stats(e, &st);
    assert_int_equal(st.spans_duplicate, resend ? 2 : 0);
    /* the counters agree with what the output saw: each report partial or superseding */
    uint64_t partial = 0, supersedes = 0;
    for (size_t i = 0; i < out.count; i++) {
        partial += out.runs[i].partial;
        supersedes += out.runs[i].supersedes;
    }
    assert_true(partial >= 1 && supersedes >= 1);
    assert_int_equal(st.runs_partial, partial);
    assert_int_equal(st.runs_whole_again, supersedes);
    assert_int_equal(st.runs_processed, out.count);
    /* one processor (config(1)), which profiled every run */
    assert_int_equal(st.processor_count, 1);
    assert_true(st.processor_busy_ns[0] > 0);
    dp_engine_destroy(e);
}

static void test_partial_then_whole(void **state)
{
    (void)state;
    partial_then_whole(false);
}

static void test_duplicates_across_partial_parts(void **state)
{
    (void)state;
    partial_then_whole(true);
}

/* A retried request stores its spans again: the run is profiled from each
 * span once (5 spans, 2 calls, 300 in / 30 out), and the copies counted. */
static void test_duplicates_profiled_once(void **state)
{
    (void)state;
    dp_config cfg = config(1);
    cfg.assembly.idle_timeout_ms = 3600000; /* all copies arrive before the run is due */
    capture out;
    test_input in = {0, NSPANS, false, false, false};
    dp_engine *e = start_engine(&cfg, NULL, &out, &in);
    insert(e, 0, NSPANS); /* the whole request again */
    insert(e, 1, 3);      /* and node a with its chat once more */
    dp_engine_stop(e);
    assert_int_equal(out.count, 1);
    assert_whole(&out.runs[0]);
    /* 12 stored in arrival order: the first 5 are sent, the 7 after marked */
    assert_int_equal(out.runs[0].record_spans, 12);
    assert_int_equal(out.runs[0].duplicates, 7);
    assert_int_equal(out.runs[0].duplicate_mask, 0xfe0u);
    dp_engine_stats st;
    dp_engine_get_stats(e, &st);
    assert_int_equal(st.spans_duplicate, 5 + 2);
    dp_engine_destroy(e);
}

/*
 * A retry that comes after its run was reported: the root, node a and its
 * chat are reported (3 spans); then a and its chat come again with node b
 * and its chat (a late run: 2 copies, 2 new spans, reported from the 2 new
 * ones, the copies marked for the outputs); then the first request once
 * more (3 copies: no report at all). 5 copies counted.
 */
static void test_late_copies_of_reported_spans(void **state)
{
    (void)state;
    dp_config cfg = config(1);
    cfg.assembly.idle_timeout_ms = 1;
    capture out;
    test_input in = {0, 3, false, false, false};
    dp_engine *e = start_engine(&cfg, NULL, &out, &in);
    assert_true(wait_runs(&out, 1));
    assert_int_equal(out.runs[0].spans, 3);
    assert_false(out.runs[0].late);
    insert(e, 1, NSPANS);
    assert_true(wait_runs(&out, 2));
    seen_run late = out.runs[1];
    assert_true(late.late);
    assert_int_equal(late.spans, 2);
    assert_int_equal(late.input, 200);
    assert_int_equal(late.record_spans, 4);
    assert_int_equal(late.duplicates, 2);
    assert_int_equal(late.duplicate_mask, 0x3u);
    insert(e, 0, 3);
    dp_engine_stop(e);
    assert_int_equal(out.count, 2);
    dp_engine_stats st;
    dp_engine_get_stats(e, &st);
    assert_int_equal(st.spans_duplicate, 2 + 3);
    assert_int_equal(st.runs_processed, 2);
    dp_engine_destroy(e);
}

/*
 * The rest of a partial run that comes while the partial run is still with
 * an output of one processor (an upstream queue that is full, say) is taken
 * by another processor: it waits until the first is done (and kept for its
 * rest), then reports the run whole, superseding the partial report,
 * instead of a late run of 3 spans of its own. Node b and its chat (no
 * root) are finalised for memory; the root, node a and its chat follow.
 */
static void test_rest_waits_for_its_partial_run(void **state)
{
    (void)state;
    dp_config cfg = config(2);
    cfg.assembly.idle_timeout_ms = 1;
    capture out;
    dp_engine *e = start_engine(&cfg, NULL, &out, NULL);
    pthread_mutex_lock(&out.lock);
    out.hold_first = true;
    pthread_mutex_unlock(&out.lock);
    insert(e, 3, NSPANS);
    assert_int_equal(dp_trace_table_shed(dp_engine_table(e), 0), 1);
    assert_true(wait_runs(&out, 1)); /* held by the output */
    assert_true(out.runs[0].partial);
    assert_int_equal(out.runs[0].spans, 2);
    insert(e, 0, 3); /* a late run, due 1 ms after */
    /* until it is reported (on its own) or waits for the partial run */
    bool seen = false;
    for (int i = 0; i < 30000 && !seen; i++) {
        pthread_mutex_lock(&out.lock);
        seen = out.count >= 2;
        pthread_mutex_unlock(&out.lock);
        dp_engine_stats st;
        dp_engine_get_stats(e, &st);
        seen = seen || st.runs_waited == 1;
        struct timespec ms = {0, 1000 * 1000};
        if (!seen)
            nanosleep(&ms, NULL);
    }
    assert_true(seen);
    capture_release(&out);
    assert_true(wait_runs(&out, 2));
    dp_engine_stop(e);
    assert_int_equal(out.count, 2);
    assert_true(out.runs[1].supersedes);
    assert_false(out.runs[1].late);
    assert_whole(&out.runs[1]);
    dp_engine_stats st;
    dp_engine_get_stats(e, &st);
    assert_int_equal(st.runs_waited, 1);
    assert_int_equal(st.runs_whole_again, 1);
    dp_engine_destroy(e);
}

/*
 * A late run made only of copies of reported spans and finished for memory
 * is neither reported nor kept as a partial run: nothing of it was reported
 * as partial, so the late run after it (node b and its chat) is reported as
 * late, not as a whole report superseding one. The root, node a and its chat
 * are reported (finalised by finalise_all, whole); a and its chat come again
 * and are finished for memory; then b and its chat. One processor: in order.
 */
static void test_copies_finished_for_memory_are_not_kept(void **state)
{
    (void)state;
    dp_config cfg = config(1);
    cfg.assembly.idle_timeout_ms = 3600000; /* runs end only as the test says */
    capture out;
    dp_engine *e = start_engine(&cfg, NULL, &out, NULL);
    dp_trace_table *t = dp_engine_table(e);
    insert(e, 0, 3);
    assert_int_equal(dp_trace_table_finalise_all(t), 1);
    assert_true(wait_runs(&out, 1));
    insert(e, 1, 3);
    assert_int_equal(dp_trace_table_shed(t, 0), 1);
    insert(e, 3, NSPANS);
    dp_engine_stop(e);
    assert_int_equal(out.count, 2);
    assert_true(out.runs[1].late);
    assert_false(out.runs[1].supersedes);
    assert_int_equal(out.runs[1].spans, 2);
    assert_int_equal(out.runs[1].input, 200);
    dp_engine_stats st;
    dp_engine_get_stats(e, &st);
    assert_int_equal(st.spans_duplicate, 2);
    assert_int_equal(st.runs_whole_again, 0);
    assert_int_equal(st.runs_partial, 0);
    dp_engine_destroy(e);
}

/*
 * finalise_at_stop: with idle_timeout and max_age at 1 ms, the root with
 * node a arrives, time passes, then node b: still one run of 5 spans,
 * finalised at stop (reason SHUTDOWN), neither partial nor late. The pause
 * only gives the daemon's rules the chance to split the run; the result
 * does not depend on its length.
 */
static void test_finalise_at_stop(void **state)
{
    (void)state;
    dp_config cfg = config(2);
    cfg.assembly.idle_timeout_ms = 1;
    cfg.assembly.max_age_ms = 1;
    capture out;
    test_input in = {0, 3, false, false, false};
    dp_engine_options opt = {.finalise_at_stop = true};
    dp_engine *e = start_engine(&cfg, &opt, &out, &in);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    assert_int_equal(out.count, 0);
    insert(e, 3, NSPANS);
    dp_engine_stop(e);
    assert_int_equal(out.count, 1);
    assert_whole(&out.runs[0]);
    assert_false(out.runs[0].partial || out.runs[0].late || out.runs[0].supersedes);
    dp_trace_table_stats ts;
    dp_trace_table_get_stats(dp_engine_table(e), &ts);
    assert_int_equal(ts.runs_finalised, 1);
    assert_int_equal(ts.runs_by_reason[DP_RUN_SHUTDOWN], 1);
    dp_engine_destroy(e);
}

/* finalise_at_stop with a bound: a batch beyond max_held_bytes is refused
 * whole; what was taken is still reported at stop. */
static void test_finalise_at_stop_bound(void **state)
{
    (void)state;
    dp_config cfg = config(1);
    capture out;
    /* the bound: the encoded bytes of the root and node a, so that they fit
     * an empty table and nothing more fits after them */
    dp_engine_options opt = {true, encoded_len[0] + encoded_len[1]};
    dp_engine *e = start_engine(&cfg, &opt, &out, NULL);
    insert(e, 0, 2);
    assert_int_equal(try_insert(e, 3, 4), DP_TRACE_TABLE_EFULL);
    dp_engine_stop(e);
    assert_int_equal(out.count, 1);
    assert_int_equal(out.runs[0].spans, 2);
    dp_engine_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_run),
        cmocka_unit_test(test_partial_then_whole),
        cmocka_unit_test(test_duplicates_profiled_once),
        cmocka_unit_test(test_duplicates_across_partial_parts),
        cmocka_unit_test(test_late_copies_of_reported_spans),
        cmocka_unit_test(test_rest_waits_for_its_partial_run),
        cmocka_unit_test(test_copies_finished_for_memory_are_not_kept),
        cmocka_unit_test(test_finalise_at_stop),
        cmocka_unit_test(test_finalise_at_stop_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

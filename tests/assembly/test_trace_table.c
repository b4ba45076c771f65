/*
 * Trace assembly rules: idle finalisation after the root, max age, the
 * memory cap (oldest first), late spans, all-or-nothing admission, no span
 * lost, stored bytes intact, memory per buffered span.
 * A fake clock makes every rule deterministic.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace_table.h"

static uint64_t fake_now;

static uint64_t fake_clock(void *ctx)
{
    (void)ctx;
    return fake_now;
}

/* The tests' options: idle 2 s, max age 30 s, late window 60 s, the fake clock. */
static void test_options(dp_trace_table_options *o, size_t memory_limit, size_t max_pending)
{
    dp_trace_table_options_defaults(o);
    o->idle_timeout_ms = 2000;
    o->max_age_ms = 30000;
    o->memory_limit_bytes = memory_limit;
    o->max_pending_runs = max_pending;
    o->late_window_ms = 60000;
    o->shards = 8;
    o->clock = fake_clock;
    fake_now = 1000000;
}

static dp_trace_table *make_table(size_t memory_limit, size_t max_pending)
{
    dp_trace_table_options o;
    test_options(&o, memory_limit, max_pending);
    dp_trace_table *t = dp_trace_table_create(&o);
    assert_non_null(t);
    return t;
}

static const dp_span_scope one_scope[1] = {{
    .resource_raw = {"\x0a\x05hello", 7},
    .resource_schema_url = {"", 0},
    .scope_raw = {"\x0a\x03lib", 5},
    .scope_schema_url = {"", 0},
}};

/* A span of trace `trace` (first id byte), span id `id`, parent `parent` (0 = root). */
static dp_span_ref make_span(uint8_t trace, uint8_t id, uint8_t parent, const char *raw, size_t len)
{
    dp_span_ref s;
    memset(&s, 0, sizeof(s));
    s.raw = (dp_str){raw, len};
    s.scope_index = 0;
    s.trace_id[0] = trace;
    s.trace_id[15] = 0x5a;
    s.span_id[0] = id;
    if (parent) {
        s.parent_span_id[0] = parent;
        s.has_parent = true;
    }
    s.start_ns = 1000u * id;
    s.end_ns = 1000u * id + 500;
    return s;
}

static int insert_spans(dp_trace_table *t, const dp_span_ref *spans, size_t n)
{
    dp_span_batch b = {one_scope, 1, spans, n};
    return dp_trace_table_insert(t, &b);
}

static dp_run_record *take_now(dp_trace_table *t)
{
    dp_run_record *r = NULL;
    int rc = dp_trace_table_take(t, 0, &r);
    return rc == DP_TRACE_TABLE_OK ? r : NULL;
}

static void idle_after_root(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 0);
    dp_span_ref s[2] = {make_span(1, 1, 0, "ROOTBYTES", 9), make_span(1, 2, 1, "CHILD", 5)};
    assert_int_equal(insert_spans(t, s, 2), DP_TRACE_TABLE_OK);

    /* idle_timeout 2000 ms: 1999 ms after the last span it is still buffered */
    fake_now += 1999;
    assert_int_equal(dp_trace_table_collect(t), 0);
    assert_null(take_now(t));
    fake_now += 1;
    assert_int_equal(dp_trace_table_collect(t), 1);

    dp_run_record *r = take_now(t);
    assert_non_null(r);
    assert_int_equal(r->reason, DP_RUN_IDLE);
    assert_false(r->late);
    assert_true(r->has_root);
    assert_int_equal(r->span_count, 2);
    /* both spans share one resource/scope record, stored once */
    assert_int_equal(r->scope_count, 1);
    assert_int_equal(r->scopes[0].resource_raw.len, 7);
    assert_memory_equal(r->scopes[0].resource_raw.ptr, "\x0a\x05hello", 7);
    assert_memory_equal(r->scopes[0].scope_raw.ptr, "\x0a\x03lib", 5);
    /* arrival order, bytes intact, header fields kept */
    assert_int_equal(r->spans[0].raw.len, 9);
    assert_memory_equal(r->spans[0].raw.ptr, "ROOTBYTES", 9);
    assert_false(r->spans[0].has_parent);
    assert_memory_equal(r->spans[1].raw.ptr, "CHILD", 5);
    assert_true(r->spans[1].has_parent);
    assert_int_equal(r->spans[1].parent_span_id[0], 1);
    assert_int_equal(r->spans[1].start_ns, 2000);
    assert_int_equal(r->spans[1].end_ns, 2500);
    assert_int_equal(r->encoded_bytes, 9 + 5);
    dp_trace_table_release(t, r);
    dp_trace_table_destroy(t);
}

static void new_span_restarts_idle(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 0);
    dp_span_ref root = make_span(2, 1, 0, "R", 1);
    dp_span_ref child = make_span(2, 2, 1, "C", 1);
    assert_int_equal(insert_spans(t, &root, 1), DP_TRACE_TABLE_OK);
    fake_now += 1500;
    assert_int_equal(insert_spans(t, &child, 1), DP_TRACE_TABLE_OK);
    /* 2000 ms after the root but only 500 ms after the child: not idle */
    fake_now += 500;
    assert_int_equal(dp_trace_table_collect(t), 0);
    /* 1500 + 2000 = 3500 ms after the root = 2000 ms after the child */
    fake_now += 1500;
    assert_int_equal(dp_trace_table_collect(t), 1);
    dp_run_record *r = take_now(t);
    assert_non_null(r);
    assert_int_equal(r->span_count, 2);
    dp_trace_table_release(t, r);
    dp_trace_table_destroy(t);
}

static void no_root_waits_for_max_age(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 0);
    dp_span_ref child = make_span(3, 2, 1, "C", 1);
    assert_int_equal(insert_spans(t, &child, 1), DP_TRACE_TABLE_OK);
    fake_now += 10000; /* long idle, but no root */
    assert_int_equal(dp_trace_table_collect(t), 0);
    /* the next due time is the max age: 30000 - 10000 = 20000 ms away */
    assert_int_equal(dp_trace_table_next_due_ms(t, 100000), 20000);
    fake_now += 19999;
    assert_int_equal(dp_trace_table_collect(t), 0);
    fake_now += 1;
    assert_int_equal(dp_trace_table_collect(t), 1);
    dp_run_record *r = take_now(t);
    assert_non_null(r);
    assert_int_equal(r->reason, DP_RUN_MAX_AGE);
    assert_false(r->has_root);
    dp_trace_table_release(t, r);
    dp_trace_table_destroy(t);
}

/* A run complete by the idle rule that the finaliser only looks at after its
 * max age as well (it ran late) is finished as idle: whole, not cut short. */
static void late_collect_of_a_complete_run_is_idle(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 0);
    dp_span_ref spans[2] = {make_span(4, 1, 0, "R", 1), make_span(4, 2, 1, "C", 1)};
    assert_int_equal(insert_spans(t, spans, 2), DP_TRACE_TABLE_OK);
    fake_now += 30000; /* both idle (>= 2000) and max age (>= 30000) */
    assert_int_equal(dp_trace_table_collect(t), 1);
    dp_run_record *r = take_now(t);
    assert_non_null(r);
    assert_int_equal(r->reason, DP_RUN_IDLE);
    assert_int_equal(r->span_count, 2);
    dp_trace_table_release(t, r);
    dp_trace_table_destroy(t);
}

static void memory_cap_finalises_oldest_first(void **state)
{
    (void)state;
    /*
     * Each trace holds one 3000-byte span. Its storage is at least the
     * span record (40-byte header + 3000 bytes) plus the scope record
     * (40 + 12 bytes) = 3092 bytes, and at most that plus one 1 KiB chunk,
     * chunk headers, the entry and the scope array: under 5000 bytes.
     * With a 10000-byte cap: two traces (< 10000) fit, three (> 9276) do
     * not, so the third insert finalises exactly the oldest (trace 10).
     */
    dp_trace_table *t = make_table(10000, 0);
    static char big[3000];
    memset(big, 'x', sizeof(big));
    dp_span_ref a = make_span(10, 1, 0, big, sizeof(big));
    dp_span_ref b = make_span(11, 1, 0, big, sizeof(big));
    dp_span_ref c = make_span(12, 1, 0, big, sizeof(big));
    assert_int_equal(insert_spans(t, &a, 1), DP_TRACE_TABLE_OK);
    fake_now += 1;
    assert_int_equal(insert_spans(t, &b, 1), DP_TRACE_TABLE_OK);
    assert_null(take_now(t));
    fake_now += 1;
    assert_int_equal(insert_spans(t, &c, 1), DP_TRACE_TABLE_OK);

    dp_run_record *r = take_now(t);
    assert_non_null(r);
    assert_int_equal(r->trace_id[0], 10);
    assert_int_equal(r->reason, DP_RUN_MEMORY);
    assert_int_equal(r->span_count, 1);
    assert_memory_equal(r->spans[0].raw.ptr, big, sizeof(big));
    dp_trace_table_release(t, r);
    assert_null(take_now(t));

    dp_trace_table_stats st;
    dp_trace_table_get_stats(t, &st);
    assert_int_equal(st.buffered_runs, 2);
    assert_true(st.buffered_bytes <= 10000);
    /* shutdown finalises the rest, never drops them */
    assert_int_equal(dp_trace_table_finalise_all(t), 2);
    for (int i = 0; i < 2; i++) {
        r = take_now(t);
        assert_non_null(r);
        assert_int_equal(r->reason, DP_RUN_SHUTDOWN);
        dp_trace_table_release(t, r);
    }
    dp_trace_table_destroy(t);
}

static void late_spans_form_a_late_run(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 0);
    dp_span_ref root = make_span(4, 1, 0, "R", 1);
    assert_int_equal(insert_spans(t, &root, 1), DP_TRACE_TABLE_OK);
    fake_now += 2000;
    assert_int_equal(dp_trace_table_collect(t), 1);
    dp_run_record *r = take_now(t);
    assert_non_null(r);
    assert_false(r->late);
    dp_trace_table_release(t, r);

    /* a child of the finalised run arrives 1 s later: a new run, flagged late,
     * finalised on idle although it has no root of its own */
    fake_now += 1000;
    dp_span_ref child = make_span(4, 2, 1, "LATE", 4);
    assert_int_equal(insert_spans(t, &child, 1), DP_TRACE_TABLE_OK);
    fake_now += 2000;
    assert_int_equal(dp_trace_table_collect(t), 1);
    r = take_now(t);
    assert_non_null(r);
    assert_true(r->late);
    assert_int_equal(r->span_count, 1);
    assert_memory_equal(r->spans[0].raw.ptr, "LATE", 4);
    dp_trace_table_release(t, r);

    /* after the late window (60 s after the last finalisation) the id is
     * forgotten: a span for it starts an ordinary run */
    fake_now += 60000;
    dp_span_ref again = make_span(4, 3, 0, "NEW", 3);
    assert_int_equal(insert_spans(t, &again, 1), DP_TRACE_TABLE_OK);
    fake_now += 2000;
    assert_int_equal(dp_trace_table_collect(t), 1);
    r = take_now(t);
    assert_non_null(r);
    assert_false(r->late);
    dp_trace_table_release(t, r);

    dp_trace_table_stats st;
    dp_trace_table_get_stats(t, &st);
    assert_int_equal(st.runs_late, 1);
    assert_int_equal(st.runs_finalised, 3);
    dp_trace_table_destroy(t);
}

/* max_held_bytes bounds what is held without finalising anything early:
 * a batch is refused when held bytes plus its encoded bytes pass the bound,
 * and held bytes are at least the encoded bytes stored. */
static void held_bytes_bound_refuses_without_finalising(void **state)
{
    (void)state;
    dp_trace_table_options o;
    test_options(&o, 0, 0);
    o.max_held_bytes = 100;
    dp_trace_table *t = dp_trace_table_create(&o);
    assert_non_null(t);
    static char big[101];
    memset(big, 'x', sizeof big);
    /* 101 > 100 on its own: no retry is ever taken, which EFULL would invite */
    dp_span_ref over = make_span(1, 1, 0, big, 101);
    assert_int_equal(insert_spans(t, &over, 1), DP_TRACE_TABLE_ETOOBIG);
    dp_span_ref fits = make_span(1, 1, 0, big, 100); /* 0 + 100 = 100 */
    assert_int_equal(insert_spans(t, &fits, 1), DP_TRACE_TABLE_OK);
    dp_span_ref one = make_span(1, 2, 1, "y", 1); /* >= 100 + 1 */
    assert_int_equal(insert_spans(t, &one, 1), DP_TRACE_TABLE_EFULL);
    fake_now += 1000; /* no memory rule, and idle (2 s) not reached: nothing is due */
    assert_int_equal(dp_trace_table_collect(t), 0);
    dp_trace_table_stats st;
    dp_trace_table_get_stats(t, &st);
    assert_int_equal(st.buffered_spans, 1);
    assert_int_equal(st.batches_refused, 2);
    dp_trace_table_destroy(t);
}

static void full_pending_queue_refuses_whole_batch(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 1);
    dp_span_ref root = make_span(5, 1, 0, "R", 1);
    assert_int_equal(insert_spans(t, &root, 1), DP_TRACE_TABLE_OK);
    fake_now += 2000;
    assert_int_equal(dp_trace_table_collect(t), 1); /* pending: 1 = the cap */

    dp_span_ref more[2] = {make_span(6, 1, 0, "A", 1), make_span(7, 1, 0, "B", 1)};
    assert_int_equal(insert_spans(t, more, 2), DP_TRACE_TABLE_EFULL);
    dp_trace_table_stats st;
    dp_trace_table_get_stats(t, &st);
    assert_int_equal(st.buffered_runs, 0);
    assert_int_equal(st.buffered_spans, 0);
    assert_int_equal(st.spans_inserted, 1);
    assert_int_equal(st.batches_refused, 1);

    /* once the sink took the run, the same batch is accepted */
    dp_run_record *r = take_now(t);
    assert_non_null(r);
    dp_trace_table_release(t, r);
    assert_int_equal(insert_spans(t, more, 2), DP_TRACE_TABLE_OK);
    dp_trace_table_get_stats(t, &st);
    assert_int_equal(st.buffered_runs, 2);
    assert_int_equal(st.buffered_spans, 2);
    dp_trace_table_destroy(t);
}

static void bad_scope_index_keeps_nothing(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 0);
    dp_span_ref s[2] = {make_span(8, 1, 0, "OK", 2), make_span(8, 2, 1, "BAD", 3)};
    s[1].scope_index = 1; /* the batch has one scope */
    assert_int_equal(insert_spans(t, s, 2), DP_TRACE_TABLE_EINVAL);
    dp_trace_table_stats st;
    dp_trace_table_get_stats(t, &st);
    assert_int_equal(st.buffered_spans, 0);
    assert_int_equal(st.buffered_runs, 0);
    dp_trace_table_destroy(t);
}

/* A realistic load: 200 traces of 20 spans of 200-600 bytes, sent in
 * batches that interleave traces; every span comes back exactly once. */
static void no_loss_and_memory_per_span(void **state)
{
    (void)state;
    enum { TRACES = 200, SPANS = 20, BATCH = 50 };
    dp_trace_table *t = make_table(0, 0);
    static char raw[TRACES * SPANS][600];
    static size_t raw_len[TRACES * SPANS];
    static dp_span_ref all[TRACES * SPANS];
    size_t n = 0;
    uint32_t seed = 12345;
    for (int s = 0; s < SPANS; s++) {
        for (int tr = 0; tr < TRACES; tr++) {
            seed = seed * 1103515245u + 12345u;
            size_t len = 200 + (seed >> 8) % 401; /* 200..600 */
            snprintf(raw[n], sizeof(raw[n]), "t%d-s%d", tr, s);
            memset(raw[n] + strlen(raw[n]), 'a' + s, len - strlen(raw[n]));
            raw_len[n] = len;
            all[n] = make_span(0, (uint8_t)(s + 1), s ? 1 : 0, raw[n], len);
            all[n].trace_id[1] = (uint8_t)tr;
            n++;
        }
    }
    size_t encoded = 0;
    for (size_t i = 0; i < n; i += BATCH) {
        assert_int_equal(insert_spans(t, all + i, BATCH), DP_TRACE_TABLE_OK);
    }
    for (size_t i = 0; i < n; i++)
        encoded += raw_len[i];

    dp_trace_table_stats st;
    dp_trace_table_get_stats(t, &st);
    assert_int_equal(st.buffered_spans, TRACES * SPANS);
    assert_int_equal(st.buffered_runs, TRACES);
    assert_int_equal(st.buffered_encoded_bytes, encoded);
    double ratio = (double)st.buffered_bytes / (double)encoded;
    printf("memory per buffered span: %.2f x its encoded size (%zu spans, %zu bytes encoded, "
           "%zu bytes held)\n",
           ratio, (size_t)(TRACES * SPANS), encoded, st.buffered_bytes);
    assert_true(ratio <= 2.0);

    assert_int_equal(dp_trace_table_finalise_all(t), TRACES);
    static int seen[TRACES * SPANS];
    size_t got = 0;
    dp_run_record *r;
    while ((r = take_now(t)) != NULL) {
        assert_int_equal(r->span_count, SPANS);
        for (size_t i = 0; i < r->span_count; i++) {
            int tr = r->trace_id[1];
            int s = r->spans[i].span_id[0] - 1;
            size_t idx = (size_t)s * TRACES + (size_t)tr;
            assert_int_equal(r->spans[i].raw.len, raw_len[idx]);
            assert_memory_equal(r->spans[i].raw.ptr, raw[idx], raw_len[idx]);
            seen[idx]++;
            got++;
        }
        dp_trace_table_release(t, r);
    }
    assert_int_equal(got, TRACES * SPANS);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
    dp_trace_table_get_stats(t, &st);
    assert_int_equal(st.pending_bytes, 0);
    assert_int_equal(st.buffered_bytes, 0);
    dp_trace_table_destroy(t);
}

static void distinct_resources_are_kept_apart(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 0);
    dp_span_scope scopes[3] = {
        {{"\x0a\x01"
          "A",
          3},
         {"", 0},
         {"", 0},
         {"", 0}},
        {{"\x0a\x01"
          "B",
          3},
         {"", 0},
         {"", 0},
         {"", 0}},
        {{"\x0a\x01"
          "A",
          3},
         {"", 0},
         {"", 0},
         {"", 0}}, /* same bytes as the first */
    };
    dp_span_ref s[3] = {make_span(9, 1, 0, "X", 1), make_span(9, 2, 1, "Y", 1),
                        make_span(9, 3, 1, "Z", 1)};
    s[1].scope_index = 1;
    s[2].scope_index = 2;
    dp_span_batch b = {scopes, 3, s, 3};
    assert_int_equal(dp_trace_table_insert(t, &b), DP_TRACE_TABLE_OK);
    dp_trace_table_finalise_all(t);
    dp_run_record *r = take_now(t);
    assert_non_null(r);
    assert_int_equal(r->scope_count, 2); /* A and B; the third equals A */
    assert_int_equal(r->spans[0].scope_index, r->spans[2].scope_index);
    assert_int_not_equal(r->spans[0].scope_index, r->spans[1].scope_index);
    assert_memory_equal(r->scopes[r->spans[1].scope_index].resource_raw.ptr,
                        "\x0a\x01"
                        "B",
                        3);
    dp_trace_table_release(t, r);
    dp_trace_table_destroy(t);
}

static void take_after_close(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 0);
    dp_trace_table_close(t);
    dp_run_record *r = NULL;
    assert_int_equal(dp_trace_table_take(t, UINT64_MAX, &r), DP_TRACE_TABLE_ECLOSED);
    assert_null(r);
    dp_trace_table_destroy(t);
}

/* A table destroyed with runs still pending (finalised, never taken) and
 * buffered frees them whole: their spans' index too (the leak check of the
 * sanitizer build sees what is left). */
static void destroy_frees_pending_runs(void **state)
{
    (void)state;
    dp_trace_table *t = make_table(0, 0);
    dp_span_ref a[2] = {make_span(11, 1, 0, "R", 1), make_span(11, 2, 1, "C", 1)};
    dp_span_ref b = make_span(12, 1, 0, "S", 1);
    assert_int_equal(insert_spans(t, a, 2), DP_TRACE_TABLE_OK);
    assert_int_equal(dp_trace_table_finalise_all(t), 1);
    assert_int_equal(insert_spans(t, &b, 1), DP_TRACE_TABLE_OK);
    dp_trace_table_stats st;
    dp_trace_table_get_stats(t, &st);
    assert_int_equal(st.pending_runs, 1);
    assert_int_equal(st.buffered_runs, 1);
    dp_trace_table_destroy(t);
}

static void *shed_all(void *arg)
{
    dp_trace_table_shed(arg, 0);
    return NULL;
}

/*
 * Shutdown while another thread finalises runs for memory (the memory
 * guard's shed): once finalise_all has returned and the table is closed, a
 * taker that drained the queue to ECLOSED has had every run; none is left
 * pending (a run the shed had taken off its shard but not yet queued used to
 * come after the takers had gone: acknowledged spans never reported). Many
 * rounds, as the moment is short; each round must end with nothing pending.
 */
static void finalise_all_waits_for_a_shed(void **state)
{
    (void)state;
    enum { ROUNDS = 5000, TRACES = 64 };
    for (int round = 0; round < ROUNDS; round++) {
        dp_trace_table *t = make_table(0, 0);
        dp_span_ref s[TRACES];
        for (int i = 0; i < TRACES; i++) {
            s[i] = make_span((uint8_t)i, 1, 0, "R", 1);
            s[i].trace_id[1] = (uint8_t)round;
        }
        assert_int_equal(insert_spans(t, s, TRACES), DP_TRACE_TABLE_OK);
        pthread_t shedder;
        assert_int_equal(pthread_create(&shedder, NULL, shed_all, t), 0);
        dp_trace_table_finalise_all(t);
        dp_trace_table_close(t);
        size_t taken = 0;
        dp_run_record *r;
        while (dp_trace_table_take(t, 0, &r) == DP_TRACE_TABLE_OK) {
            dp_trace_table_release(t, r);
            taken++;
        }
        pthread_join(shedder, NULL);
        dp_trace_table_stats st;
        dp_trace_table_get_stats(t, &st);
        if (st.pending_runs || taken != TRACES)
            fail_msg("round %d: %zu runs taken of %d, %zu left pending", round, taken, TRACES,
                     st.pending_runs);
        dp_trace_table_destroy(t);
    }
}

/*
 * A trace sent whole is stored in one exactly sized chunk: the 10-span trace
 * holds exactly 9 more spans than the 1-span trace, and its index exactly 9
 * more entries. Each span is its bytes rounded up to 8 (300 -> 304) plus one
 * 72-byte index entry (a 16-byte view, two 8-byte times, 16 + 8 + 8 bytes of
 * ids, a 4-byte scope index and a flag, padded to 8), so the difference is
 * 9 * (72 + 304) = 3384 bytes. (With chunks grown 1 KiB at a time, or an
 * index grown by doubling, the 10-span trace would also pay for slack.)
 */
static void whole_trace_takes_one_exact_chunk(void **state)
{
    (void)state;
    static char raw[300];
    dp_trace_table_stats st;
    dp_span_ref one[1], ten[10];

    dp_trace_table *t1 = make_table(0, 0);
    one[0] = make_span(1, 1, 0, raw, sizeof raw);
    assert_int_equal(insert_spans(t1, one, 1), DP_TRACE_TABLE_OK);
    dp_trace_table_get_stats(t1, &st);
    size_t one_bytes = st.buffered_bytes;

    dp_trace_table *t10 = make_table(0, 0);
    for (uint8_t i = 0; i < 10; i++)
        ten[i] = make_span(2, (uint8_t)(i + 1), i ? 1 : 0, raw, sizeof raw);
    assert_int_equal(insert_spans(t10, ten, 10), DP_TRACE_TABLE_OK);
    dp_trace_table_get_stats(t10, &st);
    assert_int_equal(st.buffered_bytes - one_bytes, 9 * (72 + 304));
    assert_int_equal(st.buffered_encoded_bytes, 10 * 300);

    dp_trace_table_destroy(t1);
    dp_trace_table_destroy(t10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_after_root),
        cmocka_unit_test(new_span_restarts_idle),
        cmocka_unit_test(no_root_waits_for_max_age),
        cmocka_unit_test(late_collect_of_a_complete_run_is_idle),
        cmocka_unit_test(memory_cap_finalises_oldest_first),
        cmocka_unit_test(late_spans_form_a_late_run),
        cmocka_unit_test(full_pending_queue_refuses_whole_batch),
        cmocka_unit_test(held_bytes_bound_refuses_without_finalising),
        cmocka_unit_test(bad_scope_index_keeps_nothing),
        cmocka_unit_test(no_loss_and_memory_per_span),
        cmocka_unit_test(distinct_resources_are_kept_apart),
        cmocka_unit_test(take_after_close),
        cmocka_unit_test(destroy_frees_pending_runs),
        cmocka_unit_test(finalise_all_waits_for_a_shed),
        cmocka_unit_test(whole_trace_takes_one_exact_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The engine (engine.h): trace table -> finaliser -> run processors ->
 * outputs, with the inputs in front.
 *
 * Threads: inputs insert spans into the table from their own threads; one
 * finaliser thread wakes when the next run could be due (a timed condition
 * wait, never a sleep) and moves due runs to the table's pending queue; run
 * processor threads take pending runs, decode their spans into a
 * per-thread arena, build the profile and hand run + profile to every
 * output. A run finished early (age or memory) is reported as partial and
 * kept in the partial-run store; when the rest of the trace arrives, both
 * are profiled together and reported whole. With finalise_at_stop there is
 * no finaliser: every run waits in the table until dp_engine_stop().
 *
 * Decoding a run: its stored spans (and those of the partial records it
 * completes) are sorted by start and span id, so the profile does not depend
 * on arrival order and copies of one span are neighbours; each copy after
 * the first is left out, then the rest are decoded once.
 */
#include "engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "clock.h"
#include "decode.h"
#include "log.h"
#include "partial_runs.h"
#include "profile.h"
#include "span_memory.h"

#define COMPONENT "engine"
#define DP_ENGINE_MAX_INPUTS 8
#define DP_ENGINE_MAX_OUTPUTS 8
#define DP_ENGINE_RUN_ARENA_MAX (1024u * 1024 * 1024)
#define DP_ENGINE_FINALISER_MAX_WAIT_MS 1000
/* Spans of reported runs remembered for their late copies: 8 bytes each. */
#define DP_ENGINE_SENT_SPANS_MAX (512u * 1024)

/* A run processor thread and the time it spent on runs. */
typedef struct engine_processor {
    struct dp_engine *engine;
    pthread_t thread;
    atomic_ullong busy_ns;
    /* the run it has now (under the engine's run_lock): its trace and the
     * order it was taken in */
    bool has_run;
    uint64_t run_seq;
    uint8_t trace_id[16];
} engine_processor;

typedef struct engine_input {
    const dp_input_plugin *plugin;
    void *ctx;
    bool started;
} engine_input;

struct dp_engine {
    const dp_config *cfg;
    dp_engine_options opt;
    dp_trace_table *table;
    dp_partial_runs *partials; /* runs reported early, kept for their rest */
    dp_span_memory *sent;      /* spans of reported runs, for late copies; NULL = none */
    engine_input inputs[DP_ENGINE_MAX_INPUTS];
    size_t input_count;
    dp_sink *outputs[DP_ENGINE_MAX_OUTPUTS];
    size_t output_count;

    pthread_t finaliser;
    bool finaliser_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;

    engine_processor processors[DP_ENGINE_MAX_PROCESSORS];
    unsigned processor_count;
    /* Runs are taken one processor at a time (take_lock) and noted at once
     * with their order (run_lock, run_done): a late run waits until no run
     * of its trace taken before it is still being processed, so that a
     * partial run is kept for its rest (and its spans remembered) before
     * the rest is profiled. */
    pthread_mutex_t take_lock, run_lock;
    pthread_cond_t run_done;
    uint64_t take_seq;
    bool running, stopped;

    atomic_ullong runs_processed, runs_failed, runs_partial, runs_whole_again;
    atomic_ullong spans_undecodable, spans_duplicate, runs_waited;
};

/* One stored span to profile: which record holds it, in arrival order. */
typedef struct ordered_span {
    const dp_span_ref *span;
    uint32_t record; /* index into the records being profiled */
    uint32_t order;  /* arrival: records in order, then their spans in order */
} ordered_span;

/* Start time, then span id, then arrival: copies of one span are neighbours,
 * the first to arrive first. */
static int compare_ordered(const void *a, const void *b)
{
    const ordered_span *x = a, *y = b;
    if (x->span->start_ns != y->span->start_ns)
        return x->span->start_ns < y->span->start_ns ? -1 : 1;
    int c = memcmp(x->span->span_id, y->span->span_id, 8);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Every span of the records, sorted, each stored span once (the first
 * copy), none of the last record's that sent_before marks (when not NULL);
 * returns how many there are, and the copies left out in *copies. */
static size_t order_spans(const dp_run_record *const *records, size_t nrecords,
                          const bool *sent_before, ordered_span *refs, size_t *copies)
{
    size_t n = 0, all = 0;
    for (size_t r = 0; r < nrecords; r++)
        for (size_t i = 0; i < records[r]->span_count; i++, all++) {
            if (sent_before && r == nrecords - 1 && sent_before[i])
                continue;
            refs[n++] = (ordered_span){&records[r]->spans[i], (uint32_t)r, (uint32_t)all};
        }
    qsort(refs, n, sizeof *refs, compare_ordered);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (kept && refs[i].span->start_ns == refs[kept - 1].span->start_ns &&
            memcmp(refs[i].span->span_id, refs[kept - 1].span->span_id, 8) == 0)
            continue;
        refs[kept++] = refs[i];
    }
    *copies = all - kept;
    return kept;
}

/* The decoded resources of one record, by scope index. */
typedef struct record_resources {
    const dp_attr **attrs;
    size_t *counts;
    bool *ok;
} record_resources;

/* A run has few resources: decode each once and share it among its spans.
 * -1 on out of memory. */
static int decode_resources(dp_arena *arena, const dp_run_record *run, record_resources *out)
{
    size_t nscopes = run->scope_count ? run->scope_count : 1;
    out->attrs = dp_arena_calloc(arena, nscopes, sizeof(*out->attrs));
    out->counts = dp_arena_calloc(arena, nscopes, sizeof(*out->counts));
    out->ok = dp_arena_calloc(arena, nscopes, sizeof(*out->ok));
    if (!out->attrs || !out->counts || !out->ok)
        return -1;
    for (size_t i = 0; i < run->scope_count; i++)
        out->ok[i] = dp_otlp_resource_decode(run->scopes[i].resource_raw, arena, &out->attrs[i],
                                             &out->counts[i]) == DP_OTLP_OK;
    return 0;
}

/* Decode the ordered spans into spans[]; returns how many decoded. */
static size_t decode_spans(dp_arena *arena, const dp_run_record *const *records,
                           const record_resources *res, const ordered_span *refs, size_t count,
                           dp_span *spans)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        const dp_run_record *run = records[refs[i].record];
        const record_resources *rr = &res[refs[i].record];
        const dp_span_ref *rs = refs[i].span;
        uint32_t si = rs->scope_index;
        if (si >= run->scope_count || !rr->ok[si] ||
            dp_otlp_span_decode(rs->raw, DP_STR_NULL, arena, &spans[n]) != DP_OTLP_OK)
            continue;
        spans[n].resource_attrs = rr->attrs[si];
        spans[n].resource_attr_count = rr->counts[si];
        spans[n].scope_name = dp_otlp_scope_name(run->scopes[si].scope_raw);
        n++;
    }
    return n;
}

/*
 * Mark the spans of the last record that order_spans() left out (copies of
 * a span earlier in it or in the records before it): the record's
 * duplicate array, for the outputs. -1 on out of memory.
 */
static int mark_duplicates(dp_arena *arena, dp_run_record *run, uint32_t record,
                           const ordered_span *kept, size_t nkept)
{
    bool *dup = dp_arena_alloc(arena, run->span_count ? run->span_count : 1);
    if (!dup)
        return -1;
    memset(dup, 1, run->span_count);
    for (size_t i = 0; i < nkept; i++)
        if (kept[i].record == record)
            dup[kept[i].span - run->spans] = false;
    size_t n = 0;
    for (size_t i = 0; i < run->span_count; i++)
        n += dup[i];
    run->duplicate = n ? dup : NULL;
    run->duplicate_count = n;
    return 0;
}

/*
 * The spans of a run (with the partial records it completes, the run last)
 * decoded into the arena, ordered and each once, without the run's spans
 * that sent_before marks (may be NULL); the run's copies marked
 * (mark_duplicates). *total is every stored span, *copies the duplicates
 * left out; returns how many decoded into *out, with *out NULL on out of
 * memory.
 */
static size_t run_spans(dp_arena *arena, dp_run_record *const *records, size_t nrecords,
                        const bool *sent_before, dp_span **out, size_t *total, size_t *copies)
{
    *out = NULL;
    *total = 0;
    *copies = 0;
    for (size_t r = 0; r < nrecords; r++)
        *total += records[r]->span_count;
    ordered_span *refs = dp_arena_alloc(arena, (*total ? *total : 1) * sizeof(*refs));
    record_resources *res = dp_arena_calloc(arena, nrecords, sizeof(*res));
    if (!refs || !res)
        return 0;
    for (size_t r = 0; r < nrecords; r++)
        if (decode_resources(arena, records[r], &res[r]) < 0)
            return 0;
    size_t left_out;
    size_t unique =
        order_spans((const dp_run_record *const *)records, nrecords, sent_before, refs, &left_out);
    dp_span *spans = dp_arena_calloc(arena, unique ? unique : 1, sizeof(*spans));
    if (!spans ||
        mark_duplicates(arena, records[nrecords - 1], (uint32_t)(nrecords - 1), refs, unique) < 0)
        return 0;
    *out = spans;
    *copies = left_out;
    return decode_spans(arena, (const dp_run_record *const *)records, res, refs, unique, spans);
}

/* The keys of the run's spans (dp_span_memory_key), in the arena; NULL on out of memory. */
static uint64_t *span_keys(dp_arena *arena, const dp_run_record *run)
{
    uint64_t *keys = dp_arena_alloc(arena, (run->span_count ? run->span_count : 1) * sizeof(*keys));
    for (size_t i = 0; keys && i < run->span_count; i++)
        keys[i] = dp_span_memory_key(run->spans[i].span_id, run->spans[i].start_ns);
    return keys;
}

/*
 * A late run's spans that were reported (and forwarded) with an earlier run
 * of the trace: the copies a retry brought after that run was reported.
 * Returns how many, with *found marking them (NULL when none).
 */
static size_t find_sent_before(dp_engine *d, dp_arena *arena, const dp_run_record *run,
                               bool **found)
{
    *found = NULL;
    if (!d->sent || !run->late || !run->span_count)
        return 0;
    uint64_t *keys = span_keys(arena, run);
    bool *marks = dp_arena_alloc(arena, run->span_count * sizeof(*marks));
    if (!keys || !marks)
        return 0;
    size_t n = dp_span_memory_find(d->sent, run->trace_id, keys, run->span_count, marks);
    *found = n ? marks : NULL;
    return n;
}

/* Remember the spans the outputs had of this run (not its copies). */
static void remember_sent(dp_engine *d, dp_arena *arena, const dp_run_record *run)
{
    if (!d->sent)
        return;
    uint64_t *keys = span_keys(arena, run);
    if (!keys)
        return;
    size_t n = 0;
    for (size_t i = 0; i < run->span_count; i++)
        if (!run->duplicate || !run->duplicate[i])
            keys[n++] = keys[i];
    dp_span_memory_add(d->sent, run->trace_id, keys, n, dp_clock_monotonic_ms());
}

static bool finalised_early(const dp_run_record *run)
{
    return run->reason == DP_RUN_MAX_AGE || run->reason == DP_RUN_MEMORY;
}

/* Say why a run is reported before it was complete, and what to raise. */
static void log_early(const dp_engine *d, const dp_run_record *run, const char *hex)
{
    if (run->reason == DP_RUN_MAX_AGE)
        dp_log_warn(COMPONENT,
                    "run %s (%zu spans) reported as partial: still open after assembly.max_age "
                    "(%llu ms) %s; raise assembly.max_age if runs last longer. A whole report "
                    "follows if its remaining spans arrive within assembly.late_window",
                    hex, run->span_count, (unsigned long long)d->cfg->assembly.max_age_ms,
                    run->has_root ? "without going idle" : "and its root span has not arrived");
    else
        dp_log_warn(COMPONENT,
                    "run %s (%zu spans) reported as partial: buffered spans passed "
                    "assembly.memory_limit (%zu bytes) and it was the oldest run; raise "
                    "assembly.memory_limit. A whole report follows if its remaining spans "
                    "arrive within assembly.late_window",
                    hex, run->span_count, d->cfg->assembly.memory_limit_bytes);
}

/* Partial records of one trace taken for a whole report, at most. */
#define DP_ENGINE_PARTS_MAX 64

/* Decode, profile and hand one run to the sink. Returns true when the
 * record was kept as a partial run (not to be released by the caller). */
static bool process_run(dp_engine *d, dp_arena *arena, dp_run_record *run)
{
    char hex[33];
    dp_run_profile *profile = NULL;
    dp_run_record *parts[DP_ENGINE_PARTS_MAX];
    size_t nparts = 0;
    bool kept = false;

    dp_arena_reset(arena);
    dp_hex(run->trace_id, 16, hex);
    /* the rest of a run reported as partial: profile it whole */
    if (run->late)
        nparts = dp_partial_runs_take(d->partials, run->trace_id, parts, DP_ENGINE_PARTS_MAX - 1);
    parts[nparts] = run;
    /* a retry that came after its run was reported: its spans are copies */
    bool *sent_before;
    size_t before = find_sent_before(d, arena, run, &sent_before);
    if (before && before == run->span_count && nparts == 0) {
        atomic_fetch_add(&d->spans_duplicate, before);
        dp_log_debug(COMPONENT,
                     "run %s: %zu late span(s), each a copy of a span reported before: "
                     "not reported or forwarded again",
                     hex, before);
        dp_progress_release(dp_storage_progress_for_run(d->opt.storage, run), true);
        /* nothing of it was reported: not kept as a partial run either (a
         * later late run would be reported as superseding a partial report
         * there never was, with these copies in its profile) */
        return false;
    }
    size_t total, copies;
    dp_span *spans;
    size_t n = run_spans(arena, parts, nparts + 1, sent_before, &spans, &total, &copies);
    if (copies) {
        atomic_fetch_add(&d->spans_duplicate, copies);
        dp_log_debug(COMPONENT, "run %s: %zu span(s) stored more than once, profiled once", hex,
                     copies);
    }
    if (!spans || n + copies < total) {
        /* the bytes were validated on receipt, so this is memory: say so, loudly */
        size_t lost = spans ? total - copies - n : total;
        atomic_fetch_add(&d->spans_undecodable, lost);
        dp_log_error(COMPONENT, "run %s: %zu of %zu spans could not be decoded for the profile",
                     hex, lost, total);
    }
    if (dp_profile_build(spans, n, &d->cfg->profile, &profile) != 0 || !profile) {
        atomic_fetch_add(&d->runs_failed, 1);
        dp_log_error(COMPONENT, "run %s (%zu spans): cannot build the profile: out of memory", hex,
                     total);
        goto keep;
    }
    dp_run_profile_set_late(profile, run->late && nparts == 0);
    dp_run_profile_set_completion(profile, finalised_early(run), nparts > 0,
                                  run->reason == DP_RUN_MEMORY    ? "memory_limit"
                                  : run->reason == DP_RUN_MAX_AGE ? "max_age"
                                                                  : NULL);
    if (finalised_early(run)) {
        atomic_fetch_add_explicit(&d->runs_partial, 1, memory_order_relaxed);
        log_early(d, run, hex);
    } else if (nparts) {
        atomic_fetch_add_explicit(&d->runs_whole_again, 1, memory_order_relaxed);
        dp_log_info(COMPONENT, "run %s: whole report (%zu spans) supersedes its partial report",
                    hex, total);
    }
    /* the sink sees only the new record: what was forwarded is not sent again */
    /* persistent queue: the run's spans are done once every output has them
     * (an output that finishes later, the upstream, holds the progress until
     * it has delivered); a failed output leaves them on disk for a replay */
    run->progress = dp_storage_progress_for_run(d->opt.storage, run);
    bool ok = true;
    for (size_t i = 0; i < d->output_count; i++)
        ok = dp_sink_on_run(d->outputs[i], run, profile) == 0 && ok;
    dp_progress_release(run->progress, ok);
    run->progress = NULL;
    remember_sent(d, arena, run);
    atomic_fetch_add(ok ? &d->runs_processed : &d->runs_failed, 1);
    dp_run_profile_destroy(profile);
keep:
    run->duplicate = NULL; /* in the arena, which the next run resets */
    run->duplicate_count = 0;
    /* an early run (or a whole one finalised early again) is kept for its rest */
    if (finalised_early(run)) {
        uint64_t now = dp_clock_monotonic_ms();
        for (size_t i = 0; i < nparts; i++) {
            if (dp_partial_runs_keep(d->partials, parts[i], now) != 0)
                dp_trace_table_release(d->table, parts[i]);
        }
        kept = dp_partial_runs_keep(d->partials, run, now) == 0;
    } else {
        for (size_t i = 0; i < nparts; i++)
            dp_trace_table_release(d->table, parts[i]);
    }
    return kept;
}

/* Take the next run and note it as this processor's, in the order taken. */
static int take_run(dp_engine *d, engine_processor *self, dp_run_record **run)
{
    pthread_mutex_lock(&d->take_lock);
    int rc = dp_trace_table_take(d->table, UINT64_MAX, run);
    if (rc == DP_TRACE_TABLE_OK) {
        pthread_mutex_lock(&d->run_lock);
        self->has_run = true;
        self->run_seq = d->take_seq++;
        memcpy(self->trace_id, (*run)->trace_id, 16);
        pthread_mutex_unlock(&d->run_lock);
    }
    pthread_mutex_unlock(&d->take_lock);
    return rc;
}

/*
 * A late run: wait while another processor has a run of the same trace taken
 * before it (the partial run it completes, say, still with an output: it is
 * kept for its rest, and its spans remembered, only once that is done).
 */
static void wait_earlier_runs(dp_engine *d, engine_processor *self)
{
    bool waited = false;
    pthread_mutex_lock(&d->run_lock);
    for (;;) {
        bool earlier = false;
        for (unsigned i = 0; i < DP_ENGINE_MAX_PROCESSORS && !earlier; i++) {
            const engine_processor *p = &d->processors[i];
            earlier = p != self && p->has_run && p->run_seq < self->run_seq &&
                      memcmp(p->trace_id, self->trace_id, 16) == 0;
        }
        if (!earlier)
            break;
        if (!waited)
            atomic_fetch_add(&d->runs_waited, 1);
        waited = true;
        pthread_cond_wait(&d->run_done, &d->run_lock);
    }
    pthread_mutex_unlock(&d->run_lock);
}

static void run_done(dp_engine *d, engine_processor *self)
{
    pthread_mutex_lock(&d->run_lock);
    self->has_run = false;
    pthread_cond_broadcast(&d->run_done);
    pthread_mutex_unlock(&d->run_lock);
}

static void *processor_main(void *arg)
{
    engine_processor *self = arg;
    dp_engine *d = self->engine;
    dp_arena arena;
    dp_arena_init(&arena, 256 * 1024, DP_ENGINE_RUN_ARENA_MAX);
    for (;;) {
        dp_run_record *run = NULL;
        int rc = take_run(d, self, &run);
        if (rc == DP_TRACE_TABLE_ECLOSED)
            break;
        if (rc != DP_TRACE_TABLE_OK)
            continue;
        if (run->late)
            wait_earlier_runs(d, self);
        /* busy time: two clock reads per run, which takes milliseconds */
        uint64_t start = dp_clock_monotonic_ns();
        if (!process_run(d, &arena, run))
            dp_trace_table_release(d->table, run);
        run_done(d, self);
        atomic_fetch_add_explicit(&self->busy_ns, dp_clock_monotonic_ns() - start,
                                  memory_order_relaxed);
    }
    dp_arena_free(&arena);
    return NULL;
}

static void *finaliser_main(void *arg)
{
    dp_engine *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        pthread_mutex_unlock(&d->lock);
        dp_trace_table_collect(d->table);
        dp_partial_runs_expire(d->partials, dp_clock_monotonic_ms());
        dp_span_memory_expire(d->sent, dp_clock_monotonic_ms());
        uint64_t wait = dp_trace_table_next_due_ms(d->table, DP_ENGINE_FINALISER_MAX_WAIT_MS);
        if (wait < 1)
            wait = 1; /* a due run was just collected; do not spin */
        struct timespec deadline = dp_clock_deadline(wait);
        pthread_mutex_lock(&d->lock);
        if (!d->stopping)
            pthread_cond_timedwait(&d->wake, &d->lock, &deadline);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

int dp_engine_create(const dp_config *cfg, const dp_engine_options *opt, dp_engine **out)
{
    *out = NULL;
    dp_engine *e = calloc(1, sizeof(*e));
    if (!e) {
        dp_log_error(COMPONENT, "out of memory creating the engine");
        return -1;
    }
    e->cfg = cfg;
    if (opt)
        e->opt = *opt;
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->take_lock, NULL);
    pthread_mutex_init(&e->run_lock, NULL);
    pthread_cond_init(&e->run_done, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->wake, &ca);
    pthread_condattr_destroy(&ca);

    dp_trace_table_options to = cfg->assembly;
    if (e->opt.finalise_at_stop) {
        /* every run waits for stop: no memory rule, nothing is late */
        to.memory_limit_bytes = 0;
        to.late_window_ms = 0;
        to.max_held_bytes = e->opt.max_held_bytes;
    }
    e->table = dp_trace_table_create(&to);
    /* partial runs count against the table's hard limit (twice memory_limit)
     * until released: keep at most half of memory_limit of them */
    if (e->table)
        e->partials = dp_partial_runs_create(e->table, cfg->assembly.late_window_ms,
                                             cfg->assembly.memory_limit_bytes / 2, 4096);
    /* late copies of reported spans are known for as long as late runs are */
    if (e->table && !e->opt.finalise_at_stop && cfg->assembly.late_window_ms) {
        e->sent = dp_span_memory_create(cfg->assembly.late_window_ms, DP_ENGINE_SENT_SPANS_MAX);
        if (!e->sent) {
            dp_log_error(COMPONENT, "out of memory creating the trace table");
            dp_engine_destroy(e);
            return -1;
        }
    }
    if (!e->table || !e->partials) {
        dp_log_error(COMPONENT, "out of memory creating the trace table");
        dp_engine_destroy(e);
        return -1;
    }
    *out = e;
    return 0;
}

dp_trace_table *dp_engine_table(dp_engine *e)
{
    return e->table;
}

int dp_engine_add_input(dp_engine *e, const dp_input_plugin *plugin, void *ctx)
{
    if (e->running || e->input_count == DP_ENGINE_MAX_INPUTS)
        return -1;
    e->inputs[e->input_count++] = (engine_input){plugin, ctx, false};
    return 0;
}

int dp_engine_add_output(dp_engine *e, dp_sink *output)
{
    if (e->running || !output || e->output_count == DP_ENGINE_MAX_OUTPUTS)
        return -1;
    e->outputs[e->output_count++] = output;
    return 0;
}

int dp_engine_start(dp_engine *e)
{
    const dp_config *cfg = e->cfg;
    e->running = true;
    /* one processor per receiver worker (one per core by default) */
    unsigned workers = cfg->server.workers;
    if (!workers) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (unsigned)n : 1;
    }
    unsigned nproc = workers < DP_ENGINE_MAX_PROCESSORS ? workers : DP_ENGINE_MAX_PROCESSORS;
    for (unsigned i = 0; i < nproc; i++) {
        e->processors[i].engine = e;
        if (pthread_create(&e->processors[i].thread, NULL, processor_main, &e->processors[i]) !=
            0) {
            dp_log_error(COMPONENT, "cannot start run processor threads");
            return -1;
        }
        e->processor_count++;
    }
    if (!e->opt.finalise_at_stop) {
        if (pthread_create(&e->finaliser, NULL, finaliser_main, e) != 0) {
            dp_log_error(COMPONENT, "cannot start the finaliser thread");
            return -1;
        }
        e->finaliser_started = true;
    }
    for (size_t i = 0; i < e->input_count; i++) {
        char err[512] = "";
        engine_input *in = &e->inputs[i];
        if (in->plugin->start(in->ctx, e, err, sizeof(err)) != 0) {
            dp_log_error(COMPONENT, "%s", err[0] ? err : in->plugin->name);
            return -1;
        }
        in->started = true;
    }
    return 0;
}

void dp_engine_stop(dp_engine *e)
{
    if (!e || e->stopped)
        return;
    e->stopped = true;
    /* stop accepting; calls in flight finish and their spans are in the table */
    for (size_t i = 0; i < e->input_count; i++) {
        if (e->inputs[i].started)
            e->inputs[i].plugin->stop(e->inputs[i].ctx);
    }
    if (e->finaliser_started) {
        pthread_mutex_lock(&e->lock);
        e->stopping = true;
        pthread_cond_signal(&e->wake);
        pthread_mutex_unlock(&e->lock);
        pthread_join(e->finaliser, NULL);
        e->finaliser_started = false;
    }
    /* what the buffered runs cost, by the table's own accounting (the benchmark reads it);
     * with finalise_at_stop every run is still buffered here, as it should be */
    dp_trace_table_stats ts;
    dp_trace_table_get_stats(e->table, &ts);
    if (ts.buffered_spans && !e->opt.finalise_at_stop)
        dp_log_info("daemon",
                    "buffered at shutdown: %zu runs, %zu spans, %zu encoded span bytes held in "
                    "%zu bytes (%.2f x)",
                    ts.buffered_runs, ts.buffered_spans, ts.buffered_encoded_bytes,
                    ts.buffered_bytes,
                    ts.buffered_encoded_bytes
                        ? (double)ts.buffered_bytes / (double)ts.buffered_encoded_bytes
                        : 0.0);
    /* nothing buffered is dropped: finalise it all, then let the processors drain */
    size_t n = dp_trace_table_finalise_all(e->table);
    if (n && !e->opt.finalise_at_stop)
        dp_log_info("daemon", "finalising %zu pending run(s)", n);
    dp_trace_table_close(e->table);
    for (unsigned i = 0; i < e->processor_count; i++)
        pthread_join(e->processors[i].thread, NULL);
    for (size_t i = 0; i < e->output_count; i++)
        dp_sink_flush(e->outputs[i]);
}

void dp_engine_get_stats(dp_engine *e, dp_engine_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->runs_processed = atomic_load(&e->runs_processed);
    out->runs_failed = atomic_load(&e->runs_failed);
    out->runs_partial = atomic_load(&e->runs_partial);
    out->runs_whole_again = atomic_load(&e->runs_whole_again);
    out->spans_undecodable = atomic_load(&e->spans_undecodable);
    out->spans_duplicate = atomic_load(&e->spans_duplicate);
    out->partial_runs_kept = dp_partial_runs_count(e->partials);
    out->runs_waited = atomic_load(&e->runs_waited);
    out->processor_count = e->processor_count;
    for (unsigned i = 0; i < e->processor_count; i++)
        out->processor_busy_ns[i] = atomic_load(&e->processors[i].busy_ns);
}

void dp_engine_destroy(dp_engine *e)
{
    if (!e)
        return;
    if (e->running)
        dp_engine_stop(e);
    for (size_t i = 0; i < e->input_count; i++)
        e->inputs[i].plugin->destroy(e->inputs[i].ctx);
    dp_partial_runs_destroy(e->partials);
    dp_span_memory_destroy(e->sent);
    dp_trace_table_destroy(e->table);
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->run_done);
    pthread_mutex_destroy(&e->run_lock);
    pthread_mutex_destroy(&e->take_lock);
    free(e);
}

/*
 * The daemon's wiring: receiver -> trace table -> finaliser -> run
 * processors -> sink.
 *
 * Threads: the receiver's workers insert spans into the table; one
 * finaliser thread wakes when the next run could be due (a timed condition
 * wait) and moves due runs to the table's pending queue; run processor
 * threads take pending runs, decode their spans into a per-thread arena,
 * build the profile and hand run + profile to the sink. The calling thread
 * waits for SIGINT/SIGTERM with sigwait(), so no work happens in a signal
 * handler.
 */
#include "daemon.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "decode.h"
#include "export_pipeline.h"
#include "log.h"
#include "partial_runs.h"
#include "profile.h"
#include "receiver.h"
#include "render.h"
#include "sink.h"
#include "trace_table.h"

#define DP_DAEMON_MAX_PROCESSORS 64
#define DP_DAEMON_RUN_ARENA_MAX (1024u * 1024 * 1024)
#define DP_DAEMON_FINALISER_MAX_WAIT_MS 1000

typedef struct daemon_state {
    const dp_config *cfg;
    dp_trace_table *table;
    dp_sink *sink;
    dp_receiver *receiver;
    dp_export_pipeline *exporter; /* NULL without an upstream; owns sink then */
    dp_partial_runs *partials;    /* runs reported early, kept for their rest */

    pthread_t finaliser;
    bool finaliser_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;

    pthread_t processors[DP_DAEMON_MAX_PROCESSORS];
    unsigned processor_count;

    atomic_ullong runs_processed, runs_failed, spans_undecodable;
} daemon_state;

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void trace_id_hex(const uint8_t id[16], char out[33])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[32] = '\0';
}

/* Decode the spans of one record into spans[*n...]; returns how many could
 * not be decoded, or the record's span count on out of memory. */
static size_t decode_record(dp_arena *arena, const dp_run_record *run, dp_span *spans, size_t *n)
{
    /* a run has few resources: decode each once and share it among its spans */
    size_t nscopes = run->scope_count ? run->scope_count : 1;
    const dp_attr **res_attrs = dp_arena_calloc(arena, nscopes, sizeof(*res_attrs));
    size_t *res_counts = dp_arena_calloc(arena, nscopes, sizeof(*res_counts));
    bool *res_ok = dp_arena_calloc(arena, nscopes, sizeof(*res_ok));
    if (!res_attrs || !res_counts || !res_ok)
        return run->span_count;
    for (size_t i = 0; i < run->scope_count; i++)
        res_ok[i] = dp_otlp_resource_decode(run->scopes[i].resource_raw, arena, &res_attrs[i],
                                            &res_counts[i]) == DP_OTLP_OK;
    size_t bad = 0;
    for (size_t i = 0; i < run->span_count; i++) {
        const dp_run_span *rs = &run->spans[i];
        uint32_t si = rs->scope_index;
        dp_span *out = &spans[*n];
        if (si >= run->scope_count || !res_ok[si] ||
            dp_otlp_span_decode(rs->raw, DP_STR_NULL, arena, out) != DP_OTLP_OK) {
            bad++;
            continue;
        }
        out->resource_attrs = res_attrs[si];
        out->resource_attr_count = res_counts[si];
        out->scope_name = dp_otlp_scope_name(run->scopes[si].scope_raw);
        (*n)++;
    }
    return bad;
}

static bool finalised_early(const dp_run_record *run)
{
    return run->reason == DP_RUN_MAX_AGE || run->reason == DP_RUN_MEMORY;
}

/* Say why a run is reported before it was complete, and what to raise. */
static void log_early(const daemon_state *d, const dp_run_record *run, const char *hex)
{
    if (run->reason == DP_RUN_MAX_AGE)
        dp_log_warn("daemon",
                    "run %s (%zu spans) reported as partial: still open after assembly.max_age "
                    "(%llu ms) %s; raise assembly.max_age if runs last longer. A whole report "
                    "follows if its remaining spans arrive within assembly.late_window",
                    hex, run->span_count, (unsigned long long)d->cfg->assembly.max_age_ms,
                    run->has_root ? "without going idle" : "and its root span has not arrived");
    else
        dp_log_warn("daemon",
                    "run %s (%zu spans) reported as partial: buffered spans passed "
                    "assembly.memory_limit (%zu bytes) and it was the oldest run; raise "
                    "assembly.memory_limit. A whole report follows if its remaining spans "
                    "arrive within assembly.late_window",
                    hex, run->span_count, d->cfg->assembly.memory_limit_bytes);
}

/* Partial records of one trace taken for a whole report, at most. */
#define DP_DAEMON_PARTS_MAX 64

/* Decode, profile and hand one run to the sink. Returns true when the
 * record was kept as a partial run (not to be released by the caller). */
static bool process_run(daemon_state *d, dp_arena *arena, dp_run_record *run)
{
    char hex[33];
    dp_run_profile *profile = NULL;
    dp_run_record *parts[DP_DAEMON_PARTS_MAX];
    size_t nparts = 0;
    bool kept = false;

    dp_arena_reset(arena);
    trace_id_hex(run->trace_id, hex);
    /* the rest of a run reported as partial: profile it whole */
    if (run->late)
        nparts = dp_partial_runs_take(d->partials, run->trace_id, parts, DP_DAEMON_PARTS_MAX - 1);
    size_t total = run->span_count;
    for (size_t i = 0; i < nparts; i++)
        total += parts[i]->span_count;
    dp_span *spans = dp_arena_calloc(arena, total ? total : 1, sizeof(*spans));
    size_t n = 0, bad = 0;
    for (size_t i = 0; spans && i < nparts; i++)
        bad += decode_record(arena, parts[i], spans, &n);
    if (spans)
        bad += decode_record(arena, run, spans, &n);
    if (!spans || bad) {
        /* the bytes were validated on receipt, so this is memory: say so, loudly */
        size_t lost = spans ? bad : total;
        atomic_fetch_add(&d->spans_undecodable, lost);
        dp_log_error("daemon", "run %s: %zu of %zu spans could not be decoded for the profile", hex,
                     lost, total);
    }
    if (dp_profile_build(spans, n, &d->cfg->profile, &profile) != 0 || !profile) {
        atomic_fetch_add(&d->runs_failed, 1);
        dp_log_error("daemon", "run %s (%zu spans): cannot build the profile: out of memory", hex,
                     total);
        goto keep;
    }
    dp_run_profile_set_late(profile, run->late && nparts == 0);
    dp_run_profile_set_completion(profile, finalised_early(run), nparts > 0,
                                  run->reason == DP_RUN_MEMORY    ? "memory_limit"
                                  : run->reason == DP_RUN_MAX_AGE ? "max_age"
                                                                  : NULL);
    if (finalised_early(run))
        log_early(d, run, hex);
    else if (nparts)
        dp_log_info("daemon", "run %s: whole report (%zu spans) supersedes its partial report", hex,
                    total);
    /* the sink sees only the new record: what was forwarded is not sent again */
    if (dp_sink_on_run(d->sink, run, profile) == 0)
        atomic_fetch_add(&d->runs_processed, 1);
    else
        atomic_fetch_add(&d->runs_failed, 1);
    dp_run_profile_destroy(profile);
keep:
    /* an early run (or a whole one finalised early again) is kept for its rest */
    if (finalised_early(run)) {
        uint64_t now = monotonic_ms();
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

static void *processor_main(void *arg)
{
    daemon_state *d = arg;
    dp_arena arena;
    dp_arena_init(&arena, 256 * 1024, DP_DAEMON_RUN_ARENA_MAX);
    for (;;) {
        dp_run_record *run = NULL;
        int rc = dp_trace_table_take(d->table, UINT64_MAX, &run);
        if (rc == DP_TRACE_TABLE_ECLOSED)
            break;
        if (rc != DP_TRACE_TABLE_OK)
            continue;
        if (!process_run(d, &arena, run))
            dp_trace_table_release(d->table, run);
    }
    dp_arena_free(&arena);
    return NULL;
}

static void *finaliser_main(void *arg)
{
    daemon_state *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        pthread_mutex_unlock(&d->lock);
        dp_trace_table_collect(d->table);
        dp_partial_runs_expire(d->partials, monotonic_ms());
        uint64_t wait = dp_trace_table_next_due_ms(d->table, DP_DAEMON_FINALISER_MAX_WAIT_MS);
        if (wait < 1)
            wait = 1; /* a due run was just collected; do not spin */
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)(wait / 1000);
        deadline.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&d->lock);
        if (!d->stopping)
            pthread_cond_timedwait(&d->wake, &d->lock, &deadline);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* "HOST:PORT" with the port actually bound (the configured one may be 0). */
static void bound_address(const char *listen, int port, char *out, size_t outlen)
{
    const char *colon = strrchr(listen, ':');
    int host_len = colon ? (int)(colon - listen) : (int)strlen(listen);
    snprintf(out, outlen, "%.*s:%d", host_len, listen, port);
}

static void log_totals(daemon_state *d)
{
    dp_receiver_stats rs;
    dp_trace_table_stats ts;
    memset(&rs, 0, sizeof(rs));
    if (d->receiver)
        dp_receiver_get_stats(d->receiver, &rs);
    dp_trace_table_get_stats(d->table, &ts);
    dp_log_info("daemon",
                "totals: spans received %llu, accepted %llu, rejected %llu, refused %llu; "
                "runs reported %llu (late %llu), failed %llu; spans not decodable %llu",
                (unsigned long long)rs.spans_received, (unsigned long long)rs.spans_accepted,
                (unsigned long long)rs.spans_rejected, (unsigned long long)rs.spans_refused,
                (unsigned long long)atomic_load(&d->runs_processed),
                (unsigned long long)ts.runs_late, (unsigned long long)atomic_load(&d->runs_failed),
                (unsigned long long)atomic_load(&d->spans_undecodable));
}

static void stop_threads(daemon_state *d)
{
    if (d->finaliser_started) {
        pthread_mutex_lock(&d->lock);
        d->stopping = true;
        pthread_cond_signal(&d->wake);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->finaliser, NULL);
        d->finaliser_started = false;
    }
    /* what the buffered runs cost, by the table's own accounting (the benchmark reads it) */
    dp_trace_table_stats ts;
    dp_trace_table_get_stats(d->table, &ts);
    if (ts.buffered_spans)
        dp_log_info("daemon",
                    "buffered at shutdown: %zu runs, %zu spans, %zu encoded span bytes held in "
                    "%zu bytes (%.2f x)",
                    ts.buffered_runs, ts.buffered_spans, ts.buffered_encoded_bytes,
                    ts.buffered_bytes,
                    ts.buffered_encoded_bytes
                        ? (double)ts.buffered_bytes / (double)ts.buffered_encoded_bytes
                        : 0.0);
    /* nothing buffered is dropped: finalise it all, then let the processors drain */
    size_t n = dp_trace_table_finalise_all(d->table);
    if (n)
        dp_log_info("daemon", "finalising %zu pending run(s)", n);
    dp_trace_table_close(d->table);
    for (unsigned i = 0; i < d->processor_count; i++)
        pthread_join(d->processors[i], NULL);
    d->processor_count = 0;
}

int dp_daemon_run(const dp_config *cfg)
{
    int rc = 1;
    daemon_state d;
    memset(&d, 0, sizeof(d));
    d.cfg = cfg;
    pthread_mutex_init(&d.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d.wake, &ca);
    pthread_condattr_destroy(&ca);

    /* every thread started below inherits this mask; only sigwait() sees the signals */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    dp_trace_table_options to;
    dp_trace_table_options_defaults(&to);
    to.idle_timeout_ms = cfg->assembly.idle_timeout_ms;
    to.max_age_ms = cfg->assembly.max_age_ms;
    to.memory_limit_bytes = cfg->assembly.memory_limit_bytes;
    to.shards = cfg->assembly.shards;
    to.late_window_ms = cfg->assembly.late_window_ms;
    to.max_pending_runs = cfg->assembly.max_pending_runs;
    d.table = dp_trace_table_create(&to);
    if (!d.table) {
        dp_log_error("daemon", "out of memory creating the trace table");
        goto out;
    }
    /* partial runs count against the table's hard limit (twice memory_limit)
     * until released: keep at most half of memory_limit of them */
    d.partials = dp_partial_runs_create(d.table, cfg->assembly.late_window_ms,
                                        cfg->assembly.memory_limit_bytes / 2, 4096);
    if (!d.partials) {
        dp_log_error("daemon", "out of memory creating the partial run store");
        goto out;
    }

    dp_render_options ro;
    memset(&ro, 0, sizeof(ro));
    ro.color = cfg->output.color == 1 || (cfg->output.color < 0 && isatty(STDOUT_FILENO));
    ro.waterfall_width = cfg->output.waterfall_width;
    dp_sink *reports = NULL;
    if (cfg->output.reports != DP_REPORTS_NEVER) {
        reports = dp_report_sink_create(stdout, cfg->output.format == DP_FORMAT_JSON, &ro);
        if (!reports) {
            dp_log_error("daemon", "out of memory creating the report sink");
            goto out;
        }
    }
    /* with an upstream, runs go there; reports only when asked for */
    if (dp_export_pipeline_create(cfg, cfg->output.reports == DP_REPORTS_ALWAYS ? reports : NULL,
                                  &d.exporter) != 0) {
        if (cfg->output.reports != DP_REPORTS_ALWAYS)
            dp_sink_destroy(reports);
        goto out;
    }
    if (d.exporter && cfg->output.reports != DP_REPORTS_ALWAYS)
        dp_sink_destroy(reports);
    d.sink = d.exporter ? dp_export_pipeline_sink(d.exporter) : reports;
    if (!d.sink)
        d.sink = dp_discard_sink_create();
    if (!d.sink) {
        dp_log_error("daemon", "out of memory creating the sink");
        goto out;
    }

    unsigned workers = cfg->server.workers;
    if (!workers) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (unsigned)n : 1;
    }
    unsigned nproc = workers < DP_DAEMON_MAX_PROCESSORS ? workers : DP_DAEMON_MAX_PROCESSORS;
    for (unsigned i = 0; i < nproc; i++) {
        if (pthread_create(&d.processors[i], NULL, processor_main, &d) != 0) {
            dp_log_error("daemon", "cannot start run processor threads");
            goto out;
        }
        d.processor_count++;
    }
    if (pthread_create(&d.finaliser, NULL, finaliser_main, &d) != 0) {
        dp_log_error("daemon", "cannot start the finaliser thread");
        goto out;
    }
    d.finaliser_started = true;

    dp_receiver_options rcv;
    memset(&rcv, 0, sizeof(rcv));
    rcv.listen = cfg->server.listen;
    rcv.workers = workers;
    rcv.max_recv_message_bytes = cfg->server.max_recv_message_bytes;
    /* outstanding calls per worker; the core queues the rest */
    rcv.calls_per_worker = cfg->server.max_concurrent_calls;
    rcv.table = d.table;
    if (d.exporter) {
        rcv.forward_counted = dp_export_pipeline_forward;
        rcv.forward_ctx = d.exporter;
    }
    char err[512];
    if (dp_receiver_start(&rcv, &d.receiver, err, sizeof(err)) != DP_RECEIVER_OK) {
        dp_log_error("daemon", "%s", err);
        goto out;
    }
    char addr[300];
    bound_address(cfg->server.listen, dp_receiver_port(d.receiver), addr, sizeof(addr));
    if (d.exporter && dp_export_pipeline_start_metrics(d.exporter, d.receiver, d.table) != 0)
        goto out;
    dp_log_info("daemon", "dagprof listening on %s", addr);

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) == 0 && (sig == SIGINT || sig == SIGTERM)) {
            dp_log_info("daemon", "%s: stopping; finishing calls in flight and pending runs",
                        sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
    }
    /* stop accepting; calls in flight finish and their spans are in the table */
    dp_receiver_shutdown(d.receiver);
    rc = 0;
out:
    /* runs still to process may wait for upstream room only so long */
    dp_export_pipeline_begin_shutdown(d.exporter);
    if (d.table)
        stop_threads(&d);
    if (d.sink)
        dp_sink_flush(d.sink);
    if (d.table && d.sink)
        log_totals(&d);
    /* final metrics, then deliver what is queued within the shutdown timeout;
     * what is left is counted and logged, and the exit is still clean */
    dp_export_pipeline_finish(d.exporter);
    dp_receiver_destroy(d.receiver);
    if (d.exporter)
        dp_export_pipeline_destroy(d.exporter);
    else
        dp_sink_destroy(d.sink);
    dp_partial_runs_destroy(d.partials);
    dp_trace_table_destroy(d.table);
    pthread_cond_destroy(&d.wake);
    pthread_mutex_destroy(&d.lock);
    return rc;
}

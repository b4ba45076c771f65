/*
 * stage_bench: CPU time per span of each stage of dagprof's pipeline, on the
 * requests loadgen sends, in one thread and without gRPC.
 *
 * Every request is one of loadgen's pre-encoded ExportTraceServiceRequests
 * (trace_template.h) with fresh trace ids, and goes through the library code
 * the daemon runs, stage by stage:
 *
 *   decode    dp_otlp_trace_batch_parse() into a per-request arena (in trees
 *             before the shared span index, also the receiver's listing of
 *             the result as the trace table's input)
 *   assemble  dp_trace_table_insert(); the finaliser's dp_trace_table_collect()
 *             and the processors' dp_trace_table_take(); dp_trace_table_release()
 *   profile   each run's stored spans decoded (dp_otlp_resource_decode,
 *             dp_otlp_span_decode) and dp_profile_build(), as the engine's run
 *             processors do (their loop is static in src/engine.c, so it is
 *             written again here; its arena is reset once per collect rather
 *             than per run, so the profiles live until the later stages);
 *             dp_run_profile_destroy()
 *   render    the report sink (dp_report_sink_create) writing each run's
 *             report to /dev/null: render plus one fwrite
 *   enrich    dp_enrich_run(): the run as the request sent upstream
 *   metrics   dp_derived_metrics_record() of each profile
 *   export    what the upstream client does before the network: the copy into
 *             the delivery queue (dp_delivery_queue_push) and the sender's
 *             batches taken and released (dp_delivery_queue_take / complete,
 *             batch_max_items and batch_max_bytes of the upstream defaults).
 *             The gRPC call itself is not measured here, only end to end.
 *
 * The table's clock is injected: it advances 1 ms per request and runs are
 * idle after --buffered-requests ms, so the table holds that many requests'
 * runs as the daemon does under load (its idle timeout at its request rate).
 * A warm-up pass (processed, then discarded) fills the allocator, the table's
 * late-id ring and the derived metrics' series before the timed pass; after
 * the timed pass the runs still buffered are finalised and processed too, so
 * each stage sees every span exactly once.
 *
 * Each stage is timed with CLOCK_THREAD_CPUTIME_ID around a whole request
 * (decode, assemble) or the runs one collect finished (the rest), never per
 * span: the clock reads (about ten per request, their cost printed) add a
 * few ns per span.
 *
 *   stage_bench [--requests N] [--warmup N] [--spans-per-request N]
 *               [--templates N] [--buffered-requests N] [--format json|text]
 *
 * Prints a table of microseconds per span per stage, then one line of
 * key=value pairs (bench/stages.sh reads it):
 *   spans= runs= decode= assemble= profile= render= enrich= metrics= export=
 *   report_path= upstream_path= report_spans_per_s= upstream_spans_per_s=
 * where report_path = decode + assemble + profile + render (dagprof without an
 * upstream) and upstream_path = decode + assemble + profile + enrich + metrics
 * + export (with one), in microseconds of one core per span.
 * Exit status: 0, 1 when a stage failed, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "decode.h"
#include "delivery_queue.h"
#include "derived_metrics.h"
#include "enrich.h"
#include "profile.h"
#include "profile_config.h"
#include "render.h"
#include "sink.h"
#include "trace_table.h"
#include "upstream_config.h"

#include "trace_template.h"

/* Trees with common/dp_err.h also give each decoded span its instrumentation
 * scope's name and mark how a run was completed (partial or whole); older
 * trees have neither call. */
#ifdef DP_ERR_H
#define STAGE_BENCH_SCOPES_AND_COMPLETION 1
#endif

/* Trees whose modules declare their sections of the config file
 * (common/config_map.h) take every default from those tables: the upstream
 * config is plain data filled by dp_upstream_config_defaults(), and the
 * derived metrics refuse options without their defaults (a series cap of 0).
 * Older trees have dp_upstream_config_init() and _free(). */
#ifdef DP_CONFIG_MAP_H
#define STAGE_BENCH_CONFIG_MAPS 1
#endif

/* As the engine's run processors and the receiver's call contexts. */
#define RUN_ARENA_BLOCK (256u * 1024)
#define RUN_ARENA_MAX (1024u * 1024 * 1024)
#define DECODE_ARENA_BLOCK (64u * 1024)
#define DECODE_ARENA_MAX (64u * 1024 * 1024)
/* Trace id prefix of every request (see dp_bench_request_write). */
#define TRACE_ID_PREFIX 0x80000001u
/* Span times of the templates: any fixed instant, for runs that repeat. */
#define BASE_TIME_NS 1700000000000000000ull

enum stage {
    STAGE_DECODE,
    STAGE_ASSEMBLE,
    STAGE_PROFILE,
    STAGE_RENDER,
    STAGE_ENRICH,
    STAGE_METRICS,
    STAGE_EXPORT,
    STAGE_COUNT
};

static const char *const stage_names[STAGE_COUNT] = {
    "decode", "assemble", "profile", "render", "enrich", "metrics", "export",
};

typedef struct options {
    unsigned requests;
    unsigned warmup;
    unsigned spans_per_request;
    unsigned templates;
    unsigned buffered_requests;
    bool json;
} options;

typedef struct bench {
    options opt;
    dp_bench_request *templates;
    uint8_t *request; /* the request being decoded: a template with fresh trace ids */
    size_t request_cap;
    uint64_t seq;
    uint64_t now_ms; /* the trace table's clock */

    dp_arena decode_arena;
    dp_trace_table *table;
    dp_profile_config profile_cfg;
    dp_arena run_arena;
    dp_run_record **runs; /* finished by one collect, not yet released */
    dp_run_profile **profiles;
    size_t *enriched_end; /* end of each run's request in `enriched` */
    size_t run_count, run_cap;

    FILE *devnull;
    dp_sink *reports;
    dp_buf enriched;
    dp_derived_metrics *metrics;
    dp_delivery_queue queue;
    bool queue_ready;
    dp_upstream_config upstream_cfg;

    uint64_t cpu_ns[STAGE_COUNT];
    uint64_t spans_in[STAGE_COUNT]; /* spans each stage handled */
    uint64_t runs_done;
    uint64_t bytes_decoded;
    uint64_t batches_taken;
    const char *failed; /* the first stage that failed, if any */
} bench;

static void usage(FILE *f)
{
    fprintf(f, "usage: stage_bench [--requests N] [--warmup N] [--spans-per-request N]\n"
               "                   [--templates N] [--buffered-requests N] [--format json|text]\n"
               "Runs loadgen's requests through dagprof's pipeline stages in one thread and\n"
               "prints the CPU time per span of each. Defaults: requests 2000, warmup 300,\n"
               "spans-per-request 200, templates 8, buffered-requests 200, format json.\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.requests = 2000,
                   .warmup = 300,
                   .spans_per_request = 200,
                   .templates = 8,
                   .buffered_requests = 200,
                   .json = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "stage_bench: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--format")) {
            if (strcmp(v, "json") && strcmp(v, "text")) {
                fprintf(stderr, "stage_bench: --format takes json or text\n");
                return -1;
            }
            o->json = !strcmp(v, "json");
            continue;
        }
        char *end = NULL;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || end == v || *end || n > 100000000ul) {
            fprintf(stderr, "stage_bench: bad value for %s: %s\n", a, v);
            return -1;
        }
        if (!strcmp(a, "--requests"))
            o->requests = (unsigned)n;
        else if (!strcmp(a, "--warmup"))
            o->warmup = (unsigned)n;
        else if (!strcmp(a, "--spans-per-request"))
            o->spans_per_request = (unsigned)n;
        else if (!strcmp(a, "--templates"))
            o->templates = (unsigned)n;
        else if (!strcmp(a, "--buffered-requests"))
            o->buffered_requests = (unsigned)n;
        else {
            fprintf(stderr, "stage_bench: unknown option %s\n", a);
            return -1;
        }
    }
    if (o->requests == 0 || o->templates == 0 || o->buffered_requests == 0 ||
        o->spans_per_request == 0 || o->spans_per_request > 100000) {
        fprintf(stderr, "stage_bench: requests, templates and buffered-requests must be > 0, "
                        "spans-per-request 1..100000\n");
        return -1;
    }
    return 0;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Charge the CPU time since `since` to a stage; returns the time now, the
 * start of the next stage. */
static uint64_t lap(bench *b, enum stage s, uint64_t since)
{
    uint64_t now = thread_cpu_ns();
    b->cpu_ns[s] += now - since;
    return now;
}

static void fail(bench *b, const char *what)
{
    if (!b->failed) {
        b->failed = what;
        fprintf(stderr, "stage_bench: %s failed\n", what);
    }
}

static uint64_t table_clock(void *ctx)
{
    return *(const uint64_t *)ctx;
}

/* Room for one more finished run in the per-collect arrays. */
static int reserve_run(bench *b)
{
    if (b->run_count < b->run_cap)
        return 0;
    size_t cap = b->run_cap ? 2 * b->run_cap : 64;
    dp_run_record **runs = realloc(b->runs, cap * sizeof(*runs));
    if (!runs)
        return -1;
    b->runs = runs;
    dp_run_profile **profiles = realloc(b->profiles, cap * sizeof(*profiles));
    if (!profiles)
        return -1;
    b->profiles = profiles;
    size_t *ends = realloc(b->enriched_end, cap * sizeof(*ends));
    if (!ends)
        return -1;
    b->enriched_end = ends;
    b->run_cap = cap;
    return 0;
}

/* The processors' take: every finished run, without waiting. */
static void take_finished(bench *b)
{
    for (;;) {
        if (reserve_run(b) != 0) {
            fail(b, "assemble (out of memory)");
            return;
        }
        dp_run_record *run = NULL;
        if (dp_trace_table_take(b->table, 0, &run) != DP_TRACE_TABLE_OK)
            return;
        b->runs[b->run_count++] = run;
    }
}

#ifdef DP_SPAN_REF_H
/* The index the receiver's wire walk fills is the trace table's input as it is. */
typedef dp_span_batch table_input;

static int table_input_of(dp_arena *arena, const dp_otlp_trace_batch *batch, table_input *out)
{
    (void)arena;
    *out = dp_otlp_trace_batch_spans(batch);
    return 0;
}
#else
/* Trees without the shared span index (common/span_ref.h): the receiver lists
 * the parse result again, in the trace table's own types, in its arena. */
typedef dp_trace_batch table_input;

static int table_input_of(dp_arena *arena, const dp_otlp_trace_batch *batch, table_input *out)
{
    dp_trace_batch_scope *scopes =
        dp_arena_alloc(arena, (batch->scope_count ? batch->scope_count : 1) * sizeof(*scopes));
    dp_trace_batch_span *spans =
        dp_arena_alloc(arena, (batch->span_count ? batch->span_count : 1) * sizeof(*spans));
    if (!scopes || !spans)
        return -1;
    for (size_t i = 0; i < batch->scope_count; i++) {
        const dp_otlp_scope_ref *s = &batch->scopes[i];
        dp_trace_batch_scope *o = &scopes[i];
        o->scope_raw = s->scope_raw;
        o->scope_schema_url = s->schema_url;
        o->resource_raw = DP_STR_NULL;
        o->resource_schema_url = DP_STR_NULL;
        if (s->resource_index < batch->resource_count) {
            o->resource_raw = batch->resources[s->resource_index].resource_raw;
            o->resource_schema_url = batch->resources[s->resource_index].schema_url;
        }
    }
    for (size_t i = 0; i < batch->span_count; i++) {
        const dp_otlp_span_ref *s = &batch->spans[i];
        dp_trace_batch_span *o = &spans[i];
        o->raw = s->raw;
        o->scope_index = s->scope_index;
        memcpy(o->trace_id, s->trace_id, 16);
        memcpy(o->span_id, s->span_id, 8);
        memcpy(o->parent_span_id, s->parent_span_id, 8);
        o->has_parent = s->has_parent;
        o->start_ns = s->start_ns;
        o->end_ns = s->end_ns;
    }
    *out = (table_input){scopes, batch->scope_count, spans, batch->span_count};
    return 0;
}
#endif

/* Decode and insert one request, as the receiver does with a call's message. */
static void decode_and_insert(bench *b, uint64_t *t)
{
    const dp_bench_request *tpl = &b->templates[b->seq % b->opt.templates];
    dp_bench_request_write(b->request, tpl, TRACE_ID_PREFIX, b->seq);
    b->seq++;
    *t = thread_cpu_ns();

    dp_otlp_trace_batch batch;
    char err[256] = "";
    memset(&batch, 0, sizeof(batch));
    dp_arena_reset(&b->decode_arena);
    if (dp_otlp_trace_batch_parse(b->request, tpl->len, &b->decode_arena, &batch, err,
                                  sizeof(err)) != DP_OTLP_OK ||
        batch.rejected) {
        fprintf(stderr, "stage_bench: request %" PRIu64 ": %s%s\n", b->seq - 1, err,
                batch.reject_message);
        fail(b, "decode");
        return;
    }
    table_input input;
    if (table_input_of(&b->decode_arena, &batch, &input) != 0) {
        fail(b, "decode (arena)");
        return;
    }
    b->spans_in[STAGE_DECODE] += batch.span_count;
    b->bytes_decoded += tpl->len;
    *t = lap(b, STAGE_DECODE, *t);

    if (dp_trace_table_insert(b->table, &input) != DP_TRACE_TABLE_OK) {
        fail(b, "assemble (insert)");
        return;
    }
    b->spans_in[STAGE_ASSEMBLE] += batch.span_count;
    b->now_ms++;
    dp_trace_table_collect(b->table);
    take_finished(b);
    *t = lap(b, STAGE_ASSEMBLE, *t);
}

/*
 * Decode one run's stored spans into the arena, as the engine's run
 * processors do: each resource once, shared by its spans. Returns the spans
 * decoded, or -1 when one did not decode.
 */
static long decode_run(dp_arena *arena, const dp_run_record *run, dp_span *spans)
{
    size_t nscopes = run->scope_count ? run->scope_count : 1;
    const dp_attr **res_attrs = dp_arena_calloc(arena, nscopes, sizeof(*res_attrs));
    size_t *res_counts = dp_arena_calloc(arena, nscopes, sizeof(*res_counts));
    if (!res_attrs || !res_counts)
        return -1;
    for (size_t i = 0; i < run->scope_count; i++)
        if (dp_otlp_resource_decode(run->scopes[i].resource_raw, arena, &res_attrs[i],
                                    &res_counts[i]) != DP_OTLP_OK)
            return -1;
    for (size_t i = 0; i < run->span_count; i++) {
        uint32_t si = run->spans[i].scope_index;
        if (si >= run->scope_count ||
            dp_otlp_span_decode(run->spans[i].raw, DP_STR_NULL, arena, &spans[i]) != DP_OTLP_OK)
            return -1;
        spans[i].resource_attrs = res_attrs[si];
        spans[i].resource_attr_count = res_counts[si];
#ifdef STAGE_BENCH_SCOPES_AND_COMPLETION
        spans[i].scope_name = dp_otlp_scope_name(run->scopes[si].scope_raw);
#endif
    }
    return (long)run->span_count;
}

/* Take every batch the upstream sender would take now. */
static void take_batches(bench *b, bool all)
{
    const dp_upstream_config *c = &b->upstream_cfg;
    for (;;) {
        dp_delivery_depth d = dp_delivery_queue_depth(&b->queue);
        if (d.queued_requests == 0 ||
            (!all && d.queued_items < c->batch_max_items && d.queued_bytes < c->batch_max_bytes))
            return;
        dp_delivery_batch batch;
        /* timeout 0: the oldest request is due, so take returns at once */
        if (dp_delivery_queue_take(&b->queue, &batch, c->batch_max_items, c->batch_max_bytes, 0) !=
            1) {
            fail(b, "export (take)");
            return;
        }
        /* the sender hands each request to gRPC as one slice */
        size_t total = 0;
        for (dp_delivery_item *it = batch.first; it; it = dp_delivery_item_next(it)) {
            size_t len = 0;
            dp_delivery_item_data(it, &len);
            total += len;
        }
        if (total != batch.len)
            fail(b, "export (batch length)");
        dp_delivery_queue_complete(&b->queue, &batch);
        b->batches_taken++;
    }
}

/* Every stage after assembly, each over all the runs one collect finished. */
static void process_runs(bench *b, uint64_t *t)
{
    size_t n = b->run_count, spans = 0;
    if (n == 0)
        return;

    dp_arena_reset(&b->run_arena);
    for (size_t i = 0; i < n; i++) {
        const dp_run_record *run = b->runs[i];
        b->profiles[i] = NULL;
        dp_span *decoded =
            dp_arena_calloc(&b->run_arena, run->span_count ? run->span_count : 1, sizeof(*decoded));
        long count = decoded ? decode_run(&b->run_arena, run, decoded) : -1;
        if (count < 0 ||
            dp_profile_build(decoded, (size_t)count, &b->profile_cfg, &b->profiles[i]) != 0 ||
            !b->profiles[i]) {
            fail(b, "profile");
            continue;
        }
        dp_run_profile_set_late(b->profiles[i], run->late);
#ifdef STAGE_BENCH_SCOPES_AND_COMPLETION
        dp_run_profile_set_completion(b->profiles[i], false, false, NULL);
#endif
        spans += run->span_count;
    }
    b->spans_in[STAGE_PROFILE] += spans;
    *t = lap(b, STAGE_PROFILE, *t);

    for (size_t i = 0; i < n; i++)
        if (b->profiles[i] && dp_sink_on_run(b->reports, b->runs[i], b->profiles[i]) != 0)
            fail(b, "render");
    b->spans_in[STAGE_RENDER] += spans;
    *t = lap(b, STAGE_RENDER, *t);

    /* late spans are forwarded as they arrived, as the upstream sink does */
    dp_buf_reset(&b->enriched);
    for (size_t i = 0; i < n; i++) {
        const dp_run_profile *with = b->runs[i]->late ? NULL : b->profiles[i];
        if (dp_enrich_run(b->runs[i], with, &b->enriched) != 0)
            fail(b, "enrich");
        b->enriched_end[i] = b->enriched.len;
    }
    b->spans_in[STAGE_ENRICH] += spans;
    *t = lap(b, STAGE_ENRICH, *t);

    for (size_t i = 0; i < n; i++)
        if (b->profiles[i] && !b->runs[i]->late &&
            dp_derived_metrics_record(b->metrics, b->profiles[i]) != 0)
            fail(b, "metrics");
    b->spans_in[STAGE_METRICS] += spans;
    *t = lap(b, STAGE_METRICS, *t);

    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        size_t end = b->enriched_end[i];
        if (end > start && dp_delivery_queue_push(&b->queue, b->enriched.data + start, end - start,
                                                  b->runs[i]->span_count) != 0)
            fail(b, "export (push)");
        start = end;
    }
    take_batches(b, false);
    b->spans_in[STAGE_EXPORT] += spans;
    *t = lap(b, STAGE_EXPORT, *t);

    for (size_t i = 0; i < n; i++)
        dp_run_profile_destroy(b->profiles[i]);
    *t = lap(b, STAGE_PROFILE, *t);
    for (size_t i = 0; i < n; i++)
        dp_trace_table_release(b->table, b->runs[i]);
    b->runs_done += n;
    b->run_count = 0;
    *t = lap(b, STAGE_ASSEMBLE, *t);
}

/* `requests` requests through every stage, then the runs still buffered. */
static void pass(bench *b, unsigned requests)
{
    uint64_t t = thread_cpu_ns();
    for (unsigned i = 0; i < requests && !b->failed; i++) {
        decode_and_insert(b, &t);
        process_runs(b, &t);
    }
    dp_trace_table_finalise_all(b->table);
    take_finished(b);
    t = lap(b, STAGE_ASSEMBLE, t);
    process_runs(b, &t);
    take_batches(b, true);
    lap(b, STAGE_EXPORT, t);
}

/* CPU time of one clock read, to say how much of a stage it can be. */
static double clock_read_ns(void)
{
    uint64_t t0 = thread_cpu_ns();
    for (int i = 0; i < 999; i++)
        thread_cpu_ns();
    return (double)(thread_cpu_ns() - t0) / 1000.0;
}

static int setup(bench *b)
{
    b->templates = calloc(b->opt.templates, sizeof(*b->templates));
    if (!b->templates)
        return -1;
    for (unsigned i = 0; i < b->opt.templates; i++) {
        if (dp_bench_request_build(&b->templates[i], i, b->opt.spans_per_request, BASE_TIME_NS) !=
            0)
            return -1;
        if (b->templates[i].len > b->request_cap)
            b->request_cap = b->templates[i].len;
    }
    b->request = malloc(b->request_cap);
    if (!b->request)
        return -1;
    dp_arena_init(&b->decode_arena, DECODE_ARENA_BLOCK, DECODE_ARENA_MAX);
    dp_arena_init(&b->run_arena, RUN_ARENA_BLOCK, RUN_ARENA_MAX);
    dp_buf_init(&b->enriched, 0);

    dp_trace_table_options to;
    dp_trace_table_options_defaults(&to);
    to.idle_timeout_ms = b->opt.buffered_requests;
    to.clock = table_clock;
    to.clock_ctx = &b->now_ms;
    b->now_ms = 1;
    b->table = dp_trace_table_create(&to);
    dp_profile_config_defaults(&b->profile_cfg);

    b->devnull = fopen("/dev/null", "w");
    dp_render_options ro = {.color = false, .waterfall_width = 0};
    b->reports = b->devnull ? dp_report_sink_create(b->devnull, b->opt.json, &ro) : NULL;
    dp_derived_metrics_options mo;
#ifdef STAGE_BENCH_CONFIG_MAPS
    dp_derived_metrics_options_defaults(&mo);
    dp_upstream_config_defaults(&b->upstream_cfg);
#else
    memset(&mo, 0, sizeof(mo));
    dp_upstream_config_init(&b->upstream_cfg);
#endif
    b->metrics = dp_derived_metrics_create(&mo);
    if (!b->table || !b->reports || !b->metrics ||
        dp_delivery_queue_init(&b->queue, b->upstream_cfg.queue_max_items,
                               b->upstream_cfg.queue_max_bytes) != 0)
        return -1;
    b->queue_ready = true;
    return 0;
}

static void teardown(bench *b)
{
    if (b->queue_ready)
        dp_delivery_queue_destroy(&b->queue);
#ifndef STAGE_BENCH_CONFIG_MAPS
    dp_upstream_config_free(&b->upstream_cfg);
#endif
    dp_derived_metrics_destroy(b->metrics);
    dp_sink_destroy(b->reports);
    if (b->devnull)
        fclose(b->devnull);
    for (size_t i = 0; b->table && i < b->run_count; i++)
        dp_trace_table_release(b->table, b->runs[i]);
    dp_trace_table_destroy(b->table);
    dp_buf_free(&b->enriched);
    dp_arena_free(&b->run_arena);
    dp_arena_free(&b->decode_arena);
    free(b->runs);
    free(b->profiles);
    free(b->enriched_end);
    free(b->request);
    for (unsigned i = 0; b->templates && i < b->opt.templates; i++)
        dp_bench_request_release(&b->templates[i]);
    free(b->templates);
}

static double us_per_span(const bench *b, enum stage s)
{
    return b->spans_in[s] ? (double)b->cpu_ns[s] / 1000.0 / (double)b->spans_in[s] : 0.0;
}

static void report(const bench *b, double clock_ns)
{
    static const enum stage report_path[] = {STAGE_DECODE, STAGE_ASSEMBLE, STAGE_PROFILE,
                                             STAGE_RENDER};
    static const enum stage upstream_path[] = {STAGE_DECODE, STAGE_ASSEMBLE, STAGE_PROFILE,
                                               STAGE_ENRICH, STAGE_METRICS,  STAGE_EXPORT};
    double report_us = 0, upstream_us = 0;
    for (size_t i = 0; i < sizeof(report_path) / sizeof(report_path[0]); i++)
        report_us += us_per_span(b, report_path[i]);
    for (size_t i = 0; i < sizeof(upstream_path) / sizeof(upstream_path[0]); i++)
        upstream_us += us_per_span(b, upstream_path[i]);
    uint64_t spans = b->spans_in[STAGE_DECODE];

    printf("%u requests, %" PRIu64 " spans (%.1f per request, %.0f B per span), %" PRIu64
           " runs, %" PRIu64 " upstream batches; reports in %s; a clock read costs %.0f ns\n",
           b->opt.requests, spans, (double)spans / b->opt.requests,
           spans ? (double)b->bytes_decoded / (double)spans : 0.0, b->runs_done, b->batches_taken,
           b->opt.json ? "JSON" : "text", clock_ns);
    printf("%-9s %10s %10s\n", "stage", "us/span", "ms total");
    for (int s = 0; s < STAGE_COUNT; s++)
        printf("%-9s %10.3f %10.1f\n", stage_names[s], us_per_span(b, (enum stage)s),
               (double)b->cpu_ns[s] / 1e6);
    printf("without an upstream (decode..render): %.3f us/span = %.0f spans/s on one core\n",
           report_us, report_us > 0 ? 1e6 / report_us : 0.0);
    printf("with an upstream (decode..export, no render): %.3f us/span = %.0f spans/s on one "
           "core\n",
           upstream_us, upstream_us > 0 ? 1e6 / upstream_us : 0.0);

    printf("spans=%" PRIu64 " runs=%" PRIu64, spans, b->runs_done);
    for (int s = 0; s < STAGE_COUNT; s++)
        printf(" %s=%.4f", stage_names[s], us_per_span(b, (enum stage)s));
    printf(" report_path=%.4f upstream_path=%.4f report_spans_per_s=%.0f "
           "upstream_spans_per_s=%.0f\n",
           report_us, upstream_us, report_us > 0 ? 1e6 / report_us : 0.0,
           upstream_us > 0 ? 1e6 / upstream_us : 0.0);
}

int main(int argc, char **argv)
{
    bench b;
    int rc = 1;
    memset(&b, 0, sizeof(b));
    if (parse_args(argc, argv, &b.opt) != 0) {
        usage(stderr);
        return 2;
    }
    if (setup(&b) != 0) {
        fprintf(stderr, "stage_bench: out of memory setting up\n");
        goto out;
    }
    if (b.opt.warmup)
        pass(&b, b.opt.warmup);
    memset(b.cpu_ns, 0, sizeof(b.cpu_ns));
    memset(b.spans_in, 0, sizeof(b.spans_in));
    b.runs_done = b.batches_taken = b.bytes_decoded = 0;
    pass(&b, b.opt.requests);
    if (b.failed)
        goto out;
    for (int s = 1; s < STAGE_COUNT; s++) {
        if (b.spans_in[s] != b.spans_in[STAGE_DECODE]) {
            fprintf(stderr, "stage_bench: %s saw %" PRIu64 " spans, decode %" PRIu64 "\n",
                    stage_names[s], b.spans_in[s], b.spans_in[STAGE_DECODE]);
            goto out;
        }
    }
    report(&b, clock_read_ns());
    rc = 0;
out:
    teardown(&b);
    return rc;
}

/*
 * dp_sink: where finalised runs go once profiled.
 *
 * A small vtable so the daemon does not care whether runs are printed
 * (report_sink.c) or re-encoded and sent upstream. on_run() receives the
 * run's stored encoded spans with their resource/scope bytes (so an exporter
 * can rebuild OTLP requests byte-exact) and the run's profile. Both are
 * borrowed for the duration of the call only.
 *
 * on_run() may be called from several threads at once; a sink serialises
 * what it must itself.
 */
#ifndef DP_SINK_H
#define DP_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "profile.h"
#include "render.h"
#include "trace_table.h"

typedef struct dp_sink dp_sink;

typedef struct dp_sink_ops {
    /** Handle one run. Returns 0, or -1 when the run could not be handled (logged by the sink). */
    int (*on_run)(dp_sink *sink, const dp_run_record *run, const dp_run_profile *profile);
    /** Push out anything buffered. Returns 0 or -1. */
    int (*flush)(dp_sink *sink);
    /** Free the sink (tolerates NULL-free internals). */
    void (*destroy)(dp_sink *sink);
} dp_sink_ops;

/** Every sink starts with this header. */
struct dp_sink {
    const dp_sink_ops *ops;
};

static inline int dp_sink_on_run(dp_sink *s, const dp_run_record *run, const dp_run_profile *p)
{
    return s->ops->on_run(s, run, p);
}

static inline int dp_sink_flush(dp_sink *s)
{
    return s->ops->flush ? s->ops->flush(s) : 0;
}

static inline void dp_sink_destroy(dp_sink *s)
{
    if (s)
        s->ops->destroy(s);
}

/**
 * The report sink: renders each run as text (opt) or one JSON line (json)
 * and writes it to `out` with one fwrite under a mutex, then fflush. A
 * report larger than 16 MiB is written in chunks of that size as it is
 * rendered, the mutex held from its first chunk to its last, so reports
 * never interleave and have no size limit. `out` is borrowed (not closed).
 * NULL on out of memory.
 */
dp_sink *dp_report_sink_create(FILE *out, bool json, const dp_render_options *opt);

/** dp_report_sink_create() writing reports over chunk_bytes (0 = 16 MiB) in
 *  chunks of that size. */
dp_sink *dp_report_sink_create_chunked(FILE *out, bool json, const dp_render_options *opt,
                                       size_t chunk_bytes);

/**
 * The ordered report sink, for inputs that end (`dagprof report`): renders
 * each run as the report sink does but keeps the reports until
 * dp_report_sink_write_ordered(): in memory up to chunk_bytes (0 = 16 MiB)
 * each, and a larger report's first chunks in an unnamed temporary file
 * (tmpfile(3)), so reports have no size limit. Its flush does nothing.
 * NULL on out of memory.
 */
dp_sink *dp_ordered_report_sink_create(bool json, const dp_render_options *opt, size_t chunk_bytes);

/**
 * The ordered report sink for `--format html`: each run is one <section>
 * (dp_render_html_run), and dp_report_sink_write_ordered() writes them as
 * one self-contained page; sections over chunk_bytes (0 = 16 MiB) are kept
 * in a temporary file as the ordered report sink's. NULL on out of memory.
 */
dp_sink *dp_ordered_html_report_sink_create(size_t chunk_bytes);

/**
 * Write the ordered sink's reports to `out`, ordered by the runs' start
 * times (ties by trace id), then fflush; the reports are freed. Call once
 * the runs are in (after dp_engine_stop()). 0, or -1 when a write failed.
 */
DP_MUST_CHECK int dp_report_sink_write_ordered(dp_sink *sink, FILE *out);

/** Runs kept or written, and runs that failed to render (or be kept, or
 *  written in chunks), of
 *  either report sink. */
void dp_report_sink_counts(dp_sink *sink, unsigned long long *written, unsigned long long *failed);

/** Settings of the upstream sink. Everything pointed to is borrowed and
 *  must outlive the sink. */
typedef struct dp_upstream_sink_options {
    struct dp_upstream *upstream;       /**< required: where enriched traces go */
    struct dp_derived_metrics *metrics; /**< each profile is recorded here; NULL = none */
    dp_sink *also;            /**< also handed every run (e.g. a report sink); NULL = none */
    size_t max_request_bytes; /**< most bytes of one request (upstream.batch_max_bytes): a larger
                                   run is split; 0 = 4,000,000 */
} dp_upstream_sink_options;

/**
 * The upstream sink: on_run() encodes the run's spans, enriched with the
 * profile (dp_enrich_run_split, each request into a buffer of its exact
 * size, as many requests of at most max_request_bytes as the run needs),
 * and hands each buffer to the upstream's queue (no copy), waiting while
 * the queue is full, so a slow upstream slows
 * the run processors and, through the trace table, makes the receiver
 * answer SDKs UNAVAILABLE: backpressure, not loss. It then records the
 * profile into the derived metrics. NULL on out of memory or a missing
 * upstream.
 */
dp_sink *dp_upstream_sink_create(const dp_upstream_sink_options *opt);

/**
 * From now on a run waits for room in the queue until `deadline_ms`
 * (CLOCK_MONOTONIC milliseconds) at most; a run still not queued then is
 * counted as undelivered and logged. Used at shutdown, when the upstream
 * may be gone for good. Thread-safe.
 */
void dp_upstream_sink_set_deadline(dp_sink *sink, uint64_t deadline_ms);

/** Totals of the upstream sink. */
typedef struct dp_upstream_sink_counts {
    uint64_t runs_sent;         /**< queued for the upstream, every span of them */
    uint64_t spans_sent;        /**< queued, of every run (of a run that failed half-way too) */
    uint64_t runs_failed;       /**< could not be encoded or queued */
    uint64_t spans_undelivered; /**< spans of those runs that were not queued */
} dp_upstream_sink_counts;

/** Snapshot of the upstream sink's totals. */
void dp_upstream_sink_get_counts(dp_sink *sink, dp_upstream_sink_counts *out);

#endif

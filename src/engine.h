/*
 * The engine: what turns spans into reported runs, whatever brings them in
 * and wherever the runs go. It owns the trace table, the finaliser thread,
 * the run processor threads and the store of partial runs; inputs insert
 * spans into its table, outputs (dp_sink) receive every finished run with
 * its profile.
 *
 *   dp_engine_create()       table + partial-run store, from the config and
 *                            the options (how runs are finalised)
 *   dp_engine_add_input()    any number of inputs (an input plugin each)
 *   dp_engine_add_output()   any number of outputs (a dp_sink each)
 *   dp_engine_start()        processors and finaliser, then every input
 *   dp_engine_stop()         inputs stop accepting (calls in flight finish),
 *                            every buffered run is finalised and processed,
 *                            outputs are flushed: nothing buffered is dropped
 *   dp_engine_destroy()      inputs destroyed; outputs are the caller's
 *
 * Inputs and outputs are called from the engine's threads: an output's
 * on_run from several processor threads at once.
 *
 * A run is profiled from its spans ordered by start time (then span id),
 * whatever order they arrived in; a span stored more than once (same span
 * id and start: a retried request, a file read twice) is profiled once and
 * counted in dp_engine_stats.spans_duplicate, and its copies are marked for
 * the outputs (dp_run_record.duplicate), which forward it once. The spans of
 * reported runs are remembered for the late window: a late run's copies of
 * them are copies too, and a late run of nothing else is not reported.
 */
#ifndef DP_ENGINE_H
#define DP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dp_err.h"
#include "sink.h"
#include "storage.h"
#include "trace_table.h"

typedef struct dp_engine dp_engine;

/** An input: something that inserts spans into dp_engine_table(). */
typedef struct dp_input_plugin {
    const char *name;
    /** Start taking data; 0, or -1 with the reason in err. */
    int (*start)(void *ctx, dp_engine *engine, char *err, size_t errlen);
    /** Stop accepting; return once what was accepted is in the table. */
    void (*stop)(void *ctx);
    /** Free the input (after stop, or when it never started). */
    void (*destroy)(void *ctx);
} dp_input_plugin;

/** Most run processor threads. */
#define DP_ENGINE_MAX_PROCESSORS 64

/** Counters of finished runs and of the processors; a snapshot. */
typedef struct dp_engine_stats {
    uint64_t runs_processed;    /* handed to every output */
    uint64_t runs_failed;       /* profile or an output failed */
    uint64_t runs_partial;      /* reported as partial (max_age or memory_limit) */
    uint64_t runs_whole_again;  /* whole reports superseding a partial one */
    uint64_t spans_undecodable; /* stored bytes that did not decode (never expected) */
    uint64_t spans_duplicate;   /* copies of a span already in its run, profiled once */
    size_t partial_runs_kept;   /* partial runs' records kept for their rest, now */
    uint64_t runs_waited;       /* late runs that waited for an earlier run of their trace */
    unsigned processor_count;   /* run processor threads */
    uint64_t processor_busy_ns[DP_ENGINE_MAX_PROCESSORS]; /* time each spent on runs */
} dp_engine_stats;

/** How the engine finalises runs; all zero is the daemon's way. */
typedef struct dp_engine_options {
    /**
     * For inputs that end, such as files: no run is finalised while the
     * inputs run (no finaliser thread: no idle, age or memory rule, no late
     * runs); dp_engine_stop() finalises every run at once, so a trace spread
     * over several inputs is one run.
     */
    bool finalise_at_stop;
    /** With finalise_at_stop: the most bytes the trace table holds; a batch
     *  beyond is refused (DP_TRACE_TABLE_EFULL). 0 = no bound. */
    size_t max_held_bytes;
    /** The persistent queue whose items a run's spans are (borrowed; NULL =
     *  none): counted off once every output has the run. */
    dp_storage *storage;
} dp_engine_options;

/**
 * 0 and *out, or -1 (out of memory, logged). cfg must outlive the engine;
 * opt is copied, NULL is all zero.
 */
DP_MUST_CHECK int dp_engine_create(const dp_config *cfg, const dp_engine_options *opt,
                                   dp_engine **out);

/** The trace table inputs insert into. */
dp_trace_table *dp_engine_table(dp_engine *e);

/** Register an input (ctx is the plugin's; the engine destroys it). Before start. */
DP_MUST_CHECK int dp_engine_add_input(dp_engine *e, const dp_input_plugin *plugin, void *ctx);

/** Register an output (not owned). Before start. */
DP_MUST_CHECK int dp_engine_add_output(dp_engine *e, dp_sink *output);

/** Start the threads, then the inputs in order; 0, or -1 with the reason logged. */
DP_MUST_CHECK int dp_engine_start(dp_engine *e);

/** Stop the inputs, finalise and process every buffered run, flush the outputs. */
void dp_engine_stop(dp_engine *e);

void dp_engine_get_stats(dp_engine *e, dp_engine_stats *out);

/** Stop if running, destroy the inputs, free the engine; NULL is accepted. */
void dp_engine_destroy(dp_engine *e);

#endif

/*
 * dp_trace_table: assembles spans into runs (one run = one trace).
 *
 * Spans arrive in any order, over many requests and connections. The table
 * is sharded by trace id (a mutex per shard, no global lock on the insert
 * path). Each trace keeps its spans as the encoded bytes they arrived as,
 * copied into per-trace chunks (no malloc per span), and one dp_span_ref per
 * span (ids, times, its resource/scope record, a view of its stored bytes)
 * in an index array sized from the batch; a finalised run hands that array
 * over as it is. Resource and scope bytes are stored once per trace
 * (deduplicated) so that a run can be re-encoded later with its spans'
 * resources and scopes.
 *
 * A run is finalised when:
 *  - its root span (no parent) has arrived (or it is a late run) and no span
 *    came for idle_timeout;
 *  - or it is max_age old (since its first span);
 *  - or buffered memory is over memory_limit_bytes: oldest runs first;
 *  - or dp_trace_table_finalise_all() is called (shutdown).
 * Finalised runs wait in a pending queue until taken with
 * dp_trace_table_take(); they are never dropped. Trace ids of finalised runs
 * are remembered for late_window_ms (bounded by late_ids_max); spans arriving
 * for them form a new run flagged late.
 *
 * Admission is all-or-nothing per batch: dp_trace_table_insert() either
 * stores every span of the batch or none (DP_TRACE_TABLE_EFULL when the
 * pending queue holds max_pending_runs runs or memory is over the hard
 * limit, max_held_bytes or 2 x memory_limit_bytes; ETOOBIG when the batch's
 * span bytes alone are over that limit, which no retry changes), so a
 * client's retry never duplicates. The table does not look at span ids: a span inserted
 * twice (a retry whose answer was lost, a file read twice) is stored twice,
 * and whoever profiles the run counts it once.
 *
 * Pure C: no gRPC or protobuf types. Thread-safe unless stated otherwise.
 */
#ifndef DP_TRACE_TABLE_H
#define DP_TRACE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_map.h"
#include "dp_str.h"
#include "span_ref.h"
#include "dp_err.h"

enum {
    DP_TRACE_TABLE_OK = 0,
    DP_TRACE_TABLE_EFULL = DP_EFULL,     /* cannot take more now: the caller answers UNAVAILABLE */
    DP_TRACE_TABLE_ENOMEM = DP_ENOMEM,   /* malloc failed; nothing of the batch was kept */
    DP_TRACE_TABLE_EINVAL = DP_EINVAL,   /* bad arguments (e.g. an index out of range) */
    DP_TRACE_TABLE_ECLOSED = DP_ECLOSED, /* the table is closed and nothing is pending */
    DP_TRACE_TABLE_ETOOBIG = DP_ETOOBIG  /* the batch alone is over the hard limit: never taken */
};

/** Milliseconds on a monotonic clock; injectable for tests. */
typedef uint64_t (*dp_trace_table_clock_fn)(void *ctx);

/** Most shards a table may have. */
#define DP_TRACE_TABLE_MAX_SHARDS 4096

/*
 * The table's settings. The config file's assembly section
 * (trace_table_config.c) declares the first six with their defaults.
 */
typedef struct dp_trace_table_options {
    uint64_t idle_timeout_ms;      /* root seen and no span for this long */
    uint64_t max_age_ms;           /* finalise regardless after this long */
    size_t memory_limit_bytes;     /* buffered bytes before oldest-first finalisation; 0 = none */
    unsigned shards;               /* 1..DP_TRACE_TABLE_MAX_SHARDS */
    uint64_t late_window_ms;       /* how long finalised trace ids are remembered; 0 = not at all */
    size_t max_pending_runs;       /* finalised runs not yet taken; beyond: EFULL. 0 = no cap */
    size_t late_ids_max;           /* cap on remembered ids (not a key); 0 selects 65536 */
    size_t max_held_bytes;         /* buffered + pending bytes beyond which a batch is refused
                                      (EFULL; not a key); 0 = 2 x memory_limit_bytes */
    dp_trace_table_clock_fn clock; /* NULL = CLOCK_MONOTONIC */
    void *clock_ctx;
} dp_trace_table_options;

/* Input and output are the shared span index (common/span_ref.h): a batch
 * of dp_span_ref views into a request, and a run's dp_span_ref array whose
 * views point into the run's storage. */

/* --- output: one finalised run ----------------------------------------------- */

enum dp_run_finalise_reason {
    DP_RUN_IDLE = 0,    /* root seen, idle_timeout passed */
    DP_RUN_MAX_AGE = 1, /* max_age passed */
    DP_RUN_MEMORY = 2,  /* memory limit: oldest first */
    DP_RUN_SHUTDOWN = 3 /* dp_trace_table_finalise_all() */
};

/**
 * A finalised run, owned by whoever took it from the table until
 * dp_trace_table_release(). All views stay valid until then.
 */
typedef struct dp_run_record {
    uint8_t trace_id[16];
    bool late;     /* spans of a run that had already been finalised */
    bool has_root; /* a span without parent arrived */
    enum dp_run_finalise_reason reason;
    const dp_span_ref *spans; /* in arrival order; views into the run's storage */
    size_t span_count;
    const dp_span_scope *scopes; /* deduplicated resource + scope pairs of the run */
    size_t scope_count;
    size_t encoded_bytes; /* sum of spans' encoded sizes */
    size_t stored_bytes;  /* memory held for the run (accounting) */
    uint64_t first_ms;    /* clock at the first span */
    uint64_t last_ms;     /* clock at the latest span */
    /* The run's progress in the persistent queue (storage/storage.h), set
     * by the engine while outputs have the run; NULL without storage. An
     * output that finishes with the run later holds it (dp_progress_hold). */
    struct dp_progress *progress;
    /* Per span, set by the engine while outputs have the run (NULL = none):
     * true for a copy of a span that came earlier in the run or in the
     * partial records it completes (same span id and start: a retried
     * request). The profile counts such a span once and an output that
     * forwards spans sends it once: it leaves out the copies. */
    const bool *duplicate;
    size_t duplicate_count; /* how many are true */
} dp_run_record;

/** Counters; a snapshot, each read atomically. */
typedef struct dp_trace_table_stats {
    uint64_t spans_inserted;
    uint64_t batches_refused;
    uint64_t runs_started;
    uint64_t runs_finalised;
    uint64_t runs_late;
    uint64_t runs_by_reason[4];    /* indexed by dp_run_finalise_reason */
    size_t buffered_runs;          /* not yet finalised */
    size_t pending_runs;           /* finalised, not yet taken */
    size_t buffered_bytes;         /* memory held by buffered runs */
    size_t pending_bytes;          /* memory held by finalised runs not yet released */
    size_t buffered_encoded_bytes; /* encoded span bytes held by buffered runs */
    size_t buffered_spans;
} dp_trace_table_stats;

typedef struct dp_trace_table dp_trace_table;

/** The assembly section of the config file: keys into dp_trace_table_options. */
extern const dp_config_section dp_trace_table_section;

/** Fill options with the assembly section's defaults (the rest 0 or NULL). */
void dp_trace_table_options_defaults(dp_trace_table_options *o);

/**
 * Create a table (with the defaults when opt is NULL); NULL on out of
 * memory or when shards is 0 or above DP_TRACE_TABLE_MAX_SHARDS. The
 * options are copied.
 */
dp_trace_table *dp_trace_table_create(const dp_trace_table_options *opt);

/**
 * Free the table and every run it still holds (buffered or pending).
 * No other call may be running on the table.
 */
void dp_trace_table_destroy(dp_trace_table *t);

/**
 * Store every span of `batch` (bytes are copied). All-or-nothing: returns
 * DP_TRACE_TABLE_OK, or EFULL / ETOOBIG / ENOMEM / EINVAL having kept nothing.
 * May finalise the oldest runs when the memory limit is passed.
 */
DP_MUST_CHECK int dp_trace_table_insert(dp_trace_table *t, const dp_span_batch *batch);

/**
 * Finalise the runs that are due now (idle, max age, memory). Returns how
 * many were finalised. Wakes threads blocked in dp_trace_table_take().
 */
size_t dp_trace_table_collect(dp_trace_table *t);

/**
 * Finalise the oldest buffered runs (reason MEMORY) until the buffered
 * bytes are at most keep_bytes: what a process over its memory limit asks
 * for. Returns how many (0 also when another thread is finalising for
 * memory at the same time).
 */
size_t dp_trace_table_shed(dp_trace_table *t, size_t keep_bytes);

/**
 * Finalise every buffered run (reason SHUTDOWN). Returns how many, once the
 * runs another thread was finalising for memory at the same time are
 * queued too.
 */
size_t dp_trace_table_finalise_all(dp_trace_table *t);

/**
 * Milliseconds until the next run could become due (for a finaliser's
 * timed wait), at most max_wait_ms.
 */
uint64_t dp_trace_table_next_due_ms(dp_trace_table *t, uint64_t max_wait_ms);

/**
 * Take the oldest finalised run. Waits up to wait_ms (0 = do not wait,
 * UINT64_MAX = until a run is pending or the table is closed).
 * Returns OK with *out, EFULL when nothing is pending (timeout), or
 * ECLOSED when the table is closed and nothing is pending.
 */
DP_MUST_CHECK int dp_trace_table_take(dp_trace_table *t, uint64_t wait_ms, dp_run_record **out);

/** Give a taken run's memory back. */
void dp_trace_table_release(dp_trace_table *t, dp_run_record *run);

/**
 * Close the table: dp_trace_table_take() returns ECLOSED once the pending
 * queue is empty. Inserts still work (they are the caller's to stop).
 */
void dp_trace_table_close(dp_trace_table *t);

/** Read the counters. */
void dp_trace_table_get_stats(dp_trace_table *t, dp_trace_table_stats *out);

#endif

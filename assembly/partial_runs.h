/*
 * Runs finalised early (assembly.max_age or assembly.memory_limit) are
 * reported at once as partial, and their records are kept here for a while.
 * When the rest of such a run arrives (the trace table hands it over as a
 * late run), the kept records and the new one are profiled together and
 * reported again, whole, superseding the partial report.
 *
 * Kept records stay counted in the trace table's memory until released.
 * The store is bounded by age (keep_ms, the table's late window), by bytes
 * and by count; what falls out is released and its trace's next spans are
 * then reported as late spans, as without this store.
 *
 * Thread-safe.
 */
#ifndef DP_PARTIAL_RUNS_H
#define DP_PARTIAL_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "trace_table.h"

typedef struct dp_partial_runs dp_partial_runs;

/** NULL on out of memory. Records are released into `table`. */
dp_partial_runs *dp_partial_runs_create(dp_trace_table *table, uint64_t keep_ms, size_t max_bytes,
                                        size_t max_runs);

/** Release every kept record and free the store; NULL is accepted. */
void dp_partial_runs_destroy(dp_partial_runs *pr);

/**
 * Keep `run` (ownership passes to the store) until now_ms + keep_ms.
 * Older records are released to make room. Returns 0, or -1 when it cannot
 * be kept (out of memory, or larger than max_bytes): the caller keeps it.
 */
int dp_partial_runs_keep(dp_partial_runs *pr, dp_run_record *run, uint64_t now_ms);

/**
 * Remove and return (in the order kept) up to `max` records of this trace;
 * the caller owns them and releases them into the table. Returns how many.
 */
size_t dp_partial_runs_take(dp_partial_runs *pr, const uint8_t trace_id[16], dp_run_record **out,
                            size_t max);

/** Release the records kept past their time. Returns how many. */
size_t dp_partial_runs_expire(dp_partial_runs *pr, uint64_t now_ms);

/** Records kept now. */
size_t dp_partial_runs_count(dp_partial_runs *pr);

#endif

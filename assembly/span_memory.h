/*
 * The spans of reported runs, remembered by trace for a while: so that
 * spans a client sends again after their run was reported (a retry whose
 * answer came too late, after the run went idle) are known as copies when
 * they come back as a late run, and are neither profiled nor forwarded a
 * second time.
 *
 * A span is remembered as a 64-bit key of its span id and start time (the
 * rule by which a run's copies are told apart, src/engine.c); a trace's
 * keys are kept sorted, for keep_ms (the table's late window), and at most
 * max_keys keys in all, the oldest traces forgotten first. A forgotten
 * trace's copies are then profiled and forwarded again as late spans, as
 * without this memory.
 *
 * Thread-safe.
 */
#ifndef DP_SPAN_MEMORY_H
#define DP_SPAN_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dp_span_memory dp_span_memory;

/** The key of a span: its span id and start time, mixed. */
uint64_t dp_span_memory_key(const uint8_t span_id[8], uint64_t start_ns);

/** NULL on out of memory. */
dp_span_memory *dp_span_memory_create(uint64_t keep_ms, size_t max_keys);

/** NULL is accepted. */
void dp_span_memory_destroy(dp_span_memory *m);

/**
 * Remember n keys of trace_id until now_ms + keep_ms (the array is copied
 * and sorted). More than max_keys in one call: only the first max_keys are
 * kept. Out of memory: nothing is remembered (logged by nobody: the copies
 * are then sent again, as without this memory).
 */
void dp_span_memory_add(dp_span_memory *m, const uint8_t trace_id[16], const uint64_t *keys,
                        size_t n, uint64_t now_ms);

/**
 * For each of the n keys, found[i] = whether trace_id's remembered spans
 * have it. Returns how many were found.
 */
size_t dp_span_memory_find(dp_span_memory *m, const uint8_t trace_id[16], const uint64_t *keys,
                           size_t n, bool *found);

/** Forget what was kept past its time. Returns how many traces. */
size_t dp_span_memory_expire(dp_span_memory *m, uint64_t now_ms);

/** Keys remembered now. */
size_t dp_span_memory_keys(dp_span_memory *m);

#endif

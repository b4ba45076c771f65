/*
 * dp_memguard: a memory guard for the whole process, in the manner of the
 * OpenTelemetry Collector's memory_limiter processor.
 *
 * Two limits on the process's resident memory: the hard `limit` and the
 * soft limit below it (limit - spike_limit). A sample is taken every
 * check_interval (a thread of the guard's own, or dp_memguard_check()):
 *
 *   NORMAL  under the soft limit: requests are taken
 *   SOFT    at or over the soft limit: new requests are refused (the
 *           receivers answer UNAVAILABLE / 503 with Retry-After)
 *   HARD    at or over the hard limit: refused as well, and every check
 *           asks the owner to give memory back (the shed hook: the engine
 *           finalises its oldest runs) and returns freed heap to the system
 *
 * SOFT and HARD last until a sample is under the soft limit again. glibc
 * keeps freed memory in its arenas, where RSS still counts it; so every
 * check over the soft limit returns freed heap to the system (malloc_trim:
 * the Collector's forced GC), and so does a check under it that finds at
 * least DP_MEMGUARD_TRIM_BYTES free in the heap (at most once a second),
 * so memory comes back after a burst even when no limit was reached.
 * Each crossing is logged once, not each refusal.
 *
 * Beside the samples, a budget of bytes in flight: what the receivers hold
 * of requests being decoded and inserted at once. A request takes its share
 * before decoding (dp_memguard_acquire) and gives it back after; a request
 * that finds the budget spent is refused for now, so the decode memory of
 * many large concurrent requests is bounded between two samples too.
 *
 * Thread-safe: any number of threads may ask and acquire at once; the
 * state is one atomic read on the request path.
 */
#ifndef DP_MEMGUARD_H
#define DP_MEMGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_map.h"

/** The guard's settings: the config file's `memory` section (memguard_config.c). */
typedef struct dp_memguard_options {
    size_t limit_bytes;           /* hard limit on resident memory; 0 = derived (see below) */
    size_t spike_limit_bytes;     /* soft limit = limit - spike; 0 = a fifth of the limit */
    uint64_t check_interval_ms;   /* time between samples */
    size_t in_flight_limit_bytes; /* bytes of requests decoded at once; 0 = a quarter of limit */
} dp_memguard_options;

/** Free heap bytes that make a check under the soft limit trim the heap. */
#define DP_MEMGUARD_TRIM_BYTES ((size_t)16 << 20)

typedef enum dp_memguard_state {
    DP_MEMGUARD_NORMAL = 0,
    DP_MEMGUARD_SOFT = 1,
    DP_MEMGUARD_HARD = 2,
} dp_memguard_state;

/** The process's memory in bytes now; 0 when it cannot be read. Injectable for tests. */
typedef size_t (*dp_memguard_read_fn)(void *ctx);

/** Asked at every check in HARD: give memory back (e.g. finalise the oldest runs). */
typedef void (*dp_memguard_shed_fn)(void *ctx);

/** How the guard reads memory and sheds it; NULL members take the defaults. */
typedef struct dp_memguard_hooks {
    dp_memguard_read_fn read; /* NULL: resident set size from /proc/self/statm */
    void *read_ctx;
    dp_memguard_shed_fn shed; /* NULL: nothing to shed */
    void *shed_ctx;
    /* Return freed heap to the system; NULL: malloc_trim(0). */
    void (*trim)(void *ctx);
    /* Bytes the allocator holds free (what trim could return); NULL: mallinfo2's fordblks. */
    size_t (*free_heap)(void *ctx);
    void *trim_ctx; /* for both */
    /* Milliseconds on a monotonic clock; NULL: CLOCK_MONOTONIC. */
    uint64_t (*clock)(void *ctx);
    void *clock_ctx;
} dp_memguard_hooks;

/** Counters and the last sample; each read atomically. */
typedef struct dp_memguard_stats {
    dp_memguard_state state;
    size_t limit_bytes, soft_limit_bytes, in_flight_limit_bytes;
    size_t memory_bytes;        /* the last sample */
    size_t in_flight_bytes;     /* acquired now */
    uint64_t refused_memory;    /* requests refused while SOFT or HARD */
    uint64_t refused_in_flight; /* requests refused for want of in-flight budget */
    uint64_t soft_crossings;    /* NORMAL -> SOFT or HARD */
    uint64_t hard_crossings;    /* -> HARD */
    uint64_t sheds;             /* shed hook calls */
    uint64_t trims;             /* malloc_trim calls */
} dp_memguard_stats;

typedef struct dp_memguard dp_memguard;

/** The memory section of the config file: keys into dp_memguard_options. */
extern const dp_config_section dp_memguard_section;

/** Fill options with the memory section's defaults. */
void dp_memguard_options_defaults(dp_memguard_options *o);

/**
 * The limit used when memory.limit is 0: four fifths of the smaller of the
 * cgroup's memory limit (v2 memory.max, or v1 memory.limit_in_bytes) and
 * the machine's memory (MemTotal), at least 256 MiB. Exposed for the docs'
 * figures and tests.
 */
size_t dp_memguard_derived_limit(void);

/**
 * Create a guard (hooks may be NULL). Limits of 0 are derived as the
 * options say; a spike limit at or over the limit is taken as a fifth of
 * it. NULL when out of memory. No thread runs until dp_memguard_start().
 */
dp_memguard *dp_memguard_create(const dp_memguard_options *opt, const dp_memguard_hooks *hooks);

/** Start the sampling thread (every check_interval). 0, or -1 when it cannot start. */
int dp_memguard_start(dp_memguard *g);

/** Stop the thread (if started) and free the guard; NULL is accepted. */
void dp_memguard_destroy(dp_memguard *g);

/** Take a sample now and move the state as it says; returns the new state. */
dp_memguard_state dp_memguard_check(dp_memguard *g);

/**
 * May a new request be taken? False (counted as a refusal) while SOFT or
 * HARD; a NULL guard admits everything. `why` (may be NULL) gets the
 * message for the client.
 */
bool dp_memguard_admit(dp_memguard *g, char *why, size_t whylen);

/**
 * Take `bytes` of the in-flight budget. True when taken (give it back with
 * dp_memguard_release()); false (counted) when it would pass the budget
 * while other requests hold some: a request alone always gets its share,
 * so one request of any allowed size can be taken. A NULL guard always
 * grants.
 */
bool dp_memguard_acquire(dp_memguard *g, size_t bytes, char *why, size_t whylen);

/** Give back what dp_memguard_acquire() took. */
void dp_memguard_release(dp_memguard *g, size_t bytes);

/** Read the counters. */
void dp_memguard_get_stats(dp_memguard *g, dp_memguard_stats *out);

/** "normal", "soft" or "hard". */
const char *dp_memguard_state_name(dp_memguard_state s);

#endif

/*
 * dp_upstream: the OTLP client that delivers already-encoded export
 * requests (traces, metrics, logs) to an upstream collector or backend, over
 * OTLP/gRPC or OTLP/HTTP (dp_upstream_connection.protocol, per signal),
 * losing nothing that it accepted unless a shutdown runs out of time or the
 * upstream refuses the data outright.
 *
 * One bounded queue per enabled signal and `concurrency` sender lanes
 * (threads), each with its own connection. A lane takes batches (the
 * queued requests, sent one after the other as one message without being
 * joined), makes one attempt at a time with a per-attempt deadline (a unary
 * Export call on the gRPC C core, or a POST with libcurl), and retries the
 * answers the OTLP specification calls retryable with exponential backoff
 * and jitter, honouring the server's delay (RetryInfo, Retry-After). See
 * docs/upstream.md.
 *
 * Ownership and threads:
 * - dp_upstream_create() copies the config; the caller keeps its own.
 * - dp_upstream_submit() and dp_upstream_submit_wait() (and the per-signal
 *   forms) COPY the request bytes before returning; the caller may reuse or
 *   free its buffer at once.
 * - dp_upstream_submit_owned() and dp_upstream_submit_owned_wait() take over
 *   `bytes`, a buffer from malloc: when they return 0 the upstream frees it
 *   once it is delivered or dropped; when they return an error the caller
 *   still owns it.
 * - Every submit may be called from any thread.
 * - dp_upstream_shutdown() may be called once from one thread (later calls
 *   return 0 at once); dp_upstream_destroy() shuts down (with no time to
 *   flush) if that was not done, then frees everything.
 */
#ifndef DP_UPSTREAM_H
#define DP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_err.h"
#include "upstream_config.h"

typedef struct dp_upstream dp_upstream;

/* Error codes of dp_upstream_submit*() (0 is success). */
#define DP_UPSTREAM_EINVAL DP_EINVAL       /**< bad argument or empty request */
#define DP_UPSTREAM_EFULL DP_EFULL         /**< queue full: answer the sender UNAVAILABLE */
#define DP_UPSTREAM_ESHUTDOWN DP_ECLOSED   /**< shutting down: no longer accepting */
#define DP_UPSTREAM_ENOMEM DP_ENOMEM       /**< out of memory */
#define DP_UPSTREAM_EDISABLED DP_EDISABLED /**< no endpoint configured for this signal */

/** Counters of one signal. "items" are spans, data points or log records. */
typedef struct dp_upstream_stats {
    uint64_t submitted_items;       /**< accepted by submit */
    uint64_t refused_full;          /**< requests not taken: the queue full (EFULL) */
    uint64_t exported_items;        /**< acknowledged by the upstream (minus partial rejections) */
    uint64_t rejected_items;        /**< partial_success.rejected_* reported by the upstream */
    uint64_t failed_items;          /**< refused (non-retryable) or retries given up */
    uint64_t too_large_items;       /**< of failed_items: refused as too large (RESOURCE_EXHAUSTED
                                         without RetryInfo, e.g. over the receive size limit) */
    uint64_t dropped_at_shutdown;   /**< still undelivered when the shutdown timed out */
    uint64_t attempts;              /**< Export calls finished, successful or not */
    uint64_t retries;               /**< attempts that were followed by a retry */
    uint64_t failed_calls;          /**< batches given up (non-retryable or out of time) */
    uint64_t partial_success_calls; /**< successful calls that reported rejections */
    uint64_t queue_items;           /**< queued and in flight, now */
    uint64_t queue_bytes;           /**< queued and in flight, now */
    uint64_t queue_oldest_age_ms;   /**< age of the oldest request queued or in flight, now */
    uint64_t duplicate_items;       /**< never sent: copies of an item of the same run sent
                                         once (spans of a retried request) */
} dp_upstream_stats;

/**
 * Validate the config, open the connections of every signal that has an
 * endpoint (dp_upstream_config_connection()) and start its sender. Returns
 * NULL (with the reason logged) when the settings are unusable (e.g. an
 * unreadable certificate file, a gRPC endpoint with a path, a retry initial
 * backoff above its maximum, a concurrency outside
 * 1..DP_UPSTREAM_MAX_CONCURRENCY) or resources run out.
 * A config with no endpoint at all gives a client with every signal disabled.
 */
dp_upstream *dp_upstream_create(const dp_upstream_config *cfg);

/** Whether a signal has an upstream endpoint. */
bool dp_upstream_enabled(const dp_upstream *up, dp_upstream_signal signal);

/**
 * Queue one encoded Export{Trace,Metrics,Logs}ServiceRequest holding `items`
 * spans / data points / log records. The bytes are copied. Returns 0 or a
 * DP_UPSTREAM_E* code; DP_UPSTREAM_EFULL means the queue is at its bound and
 * the receiver should answer its client UNAVAILABLE so the SDK retries.
 */
int dp_upstream_submit(dp_upstream *up, dp_upstream_signal signal, const void *bytes, size_t len,
                       uint64_t items);

/**
 * dp_upstream_submit() that waits, for at most timeout_ms, while the queue
 * is full: the caller is slowed down to the upstream's pace instead of
 * being refused (backpressure). Wakes when the sender finishes a batch.
 * Returns 0 or a DP_UPSTREAM_E* code; DP_UPSTREAM_EFULL after the wait
 * timed out (counted in refused_full once), DP_UPSTREAM_ESHUTDOWN once
 * shutdown has begun.
 */
int dp_upstream_submit_wait(dp_upstream *up, dp_upstream_signal signal, const void *bytes,
                            size_t len, uint64_t items, uint32_t timeout_ms);

/**
 * dp_upstream_submit() without the copy: the queue takes over `bytes`, a
 * malloc'd buffer (see the ownership rule above). For a request built only
 * to be sent, such as an enriched run.
 */
int dp_upstream_submit_owned(dp_upstream *up, dp_upstream_signal signal, void *bytes, size_t len,
                             uint64_t items);

/** dp_upstream_submit_wait() without the copy (see dp_upstream_submit_owned()). */
int dp_upstream_submit_owned_wait(dp_upstream *up, dp_upstream_signal signal, void *bytes,
                                  size_t len, uint64_t items, uint32_t timeout_ms);

/**
 * Told once how a tracked request ended: done = delivered, or refused for
 * good (not retryable, or retries given up); false = not delivered because a
 * shutdown ran out of time. Called from a sender thread (or the thread that
 * shuts down or destroys the client); never when the submit returned an
 * error.
 */
typedef void (*dp_upstream_done_fn)(void *ctx, bool done);

/** dp_upstream_submit() with `done` told how the request ended. */
int dp_upstream_submit_tracked(dp_upstream *up, dp_upstream_signal signal, const void *bytes,
                               size_t len, uint64_t items, dp_upstream_done_fn done,
                               void *done_ctx);

/** dp_upstream_submit_owned_wait() with `done` told how the request ended; a
 * wait that runs out (EFULL) is not counted in refused_full: the caller
 * waits again in slices, and counts the request once with
 * dp_upstream_count_refused_full() if it gives it up. */
int dp_upstream_submit_owned_wait_tracked(dp_upstream *up, dp_upstream_signal signal, void *bytes,
                                          size_t len, uint64_t items, uint32_t timeout_ms,
                                          dp_upstream_done_fn done, void *done_ctx);

/** dp_upstream_submit() for an ExportTraceServiceRequest. */
int dp_upstream_submit_traces(dp_upstream *up, const void *bytes, size_t len, uint64_t span_count);

/** dp_upstream_submit() for an ExportMetricsServiceRequest. */
int dp_upstream_submit_metrics(dp_upstream *up, const void *bytes, size_t len,
                               uint64_t data_point_count);

/** dp_upstream_submit() for an ExportLogsServiceRequest. */
int dp_upstream_submit_logs(dp_upstream *up, const void *bytes, size_t len,
                            uint64_t log_record_count);

/** Count one request of `signal` not taken because the queue stayed full (refused_full). */
void dp_upstream_count_refused_full(dp_upstream *up, dp_upstream_signal signal);

/** Count n items of `signal` left out as copies of ones sent (duplicate_items). */
void dp_upstream_count_duplicates(dp_upstream *up, dp_upstream_signal signal, uint64_t n);

/** Snapshot of one signal's counters (zeros for a disabled signal). */
void dp_upstream_get_stats(dp_upstream *up, dp_upstream_signal signal, dp_upstream_stats *out);

/**
 * Block until `signal` has finished at least min_attempts Export attempts
 * (dp_upstream_stats.attempts) or timeout_ms passes. Returns 0 when reached,
 * -1 on timeout. Lets tests and health checks wait on delivery events
 * instead of sleeping.
 */
int dp_upstream_wait_attempts(dp_upstream *up, dp_upstream_signal signal, uint64_t min_attempts,
                              uint32_t timeout_ms);

/**
 * Stop accepting, send everything queued (without waiting for batch
 * timers, still retrying) for at most timeout_ms, then cancel what is left.
 * Returns the number of items (spans + data points + log records) that
 * could not be delivered because time ran out; they are also counted in
 * dropped_at_shutdown and logged.
 */
uint64_t dp_upstream_shutdown(dp_upstream *up, uint32_t timeout_ms);

/** Shut down if needed (timeout 0) and free everything. NULL is allowed. */
void dp_upstream_destroy(dp_upstream *up);

#endif

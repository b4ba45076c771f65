/*
 * What every OTLP receiver does with one request once it holds the bytes,
 * whatever the transport (gRPC or HTTP): a trace request is parsed and its
 * spans go into the trace table, all or nothing; a metrics or logs request
 * is validated and offered to the forward hook. Receivers that share one
 * dp_ingest share its limits and its counters, so spans count the same
 * whichever way they came in.
 *
 *   DP_INGEST_OK           taken (result.rejected spans were unusable:
 *                          partial_success)
 *   DP_INGEST_INVALID      the payload does not decode; permanent
 *   DP_INGEST_TOO_LARGE    it needs more decode memory than the arena's cap
 *   DP_INGEST_UNAVAILABLE  the table (or the forward hook) cannot take more
 *                          now, or the memory guard refuses (over its soft
 *                          limit, or too many bytes in flight); nothing of
 *                          the request was kept, so the client's retry does
 *                          not duplicate anything
 *
 * The caller maps these to its transport's statuses; the counters are
 * atomic, so any number of threads may call dp_ingest_request() at once.
 */
#ifndef DP_INGEST_H
#define DP_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "dp_err.h"
#include "memguard.h"
#include "otlp_signal.h"
#include "storage.h"
#include "trace_table.h"

/**
 * Hook for requests the receivers do not keep themselves (metrics, logs):
 * called with the request's encoded bytes (valid during the call only).
 * Return 0 when taken, non-zero when it cannot take more now.
 */
typedef int (*dp_receiver_forward_fn)(void *ctx, enum dp_signal signal, const uint8_t *data,
                                      size_t len);

typedef struct dp_ingest_options {
    dp_trace_table *table;          /* borrowed; required */
    dp_receiver_forward_fn forward; /* NULL = metrics/logs are validated and dropped */
    void *forward_ctx;
    /* Like forward, also given the request's data point / log record count
     * (for queue bounds and counters); used instead of forward when set. */
    int (*forward_counted)(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                           size_t items);
    /* The persistent queue (borrowed; NULL = off): every request taken is
     * appended to it before the answer. With it, metrics and logs go to
     * forward_tracked, which takes over one hold of `progress` (released
     * when delivered) when it returns 0; on non-zero the caller keeps it. */
    dp_storage *storage;
    int (*forward_tracked)(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                           size_t items, dp_progress *progress);
    /* The process memory guard (borrowed; NULL = none): a request is
     * refused while it is over its soft limit, and takes its size from the
     * guard's in-flight budget while it is decoded and stored. */
    dp_memguard *guard;
} dp_ingest_options;

/** Counters since creation; each read atomically. Per-signal arrays are
 *  indexed by enum dp_signal. */
typedef struct dp_ingest_stats {
    uint64_t spans_received; /* usable + rejected spans of decodable requests */
    uint64_t spans_accepted; /* stored in the table */
    uint64_t spans_rejected; /* unusable (partial_success) */
    uint64_t spans_refused;  /* refused for now (the client may retry) */
    /* attributes of accepted requests (of spans, their events and links,
     * log records, resources, scopes) left out: their value nests deeper
     * than protobuf's recursion limit of 100 messages */
    uint64_t attributes_dropped_nesting;
    uint64_t metric_points;
    uint64_t log_records;
    uint64_t requests_refused[DP_SIGNAL_COUNT]; /* DP_INGEST_UNAVAILABLE */
    uint64_t decode_errors[DP_SIGNAL_COUNT];    /* DP_INGEST_INVALID */
    uint64_t busy_ns; /* time spent in dp_ingest_request() by every thread together */
} dp_ingest_stats;

typedef enum dp_ingest_status {
    DP_INGEST_OK = 0,
    DP_INGEST_INVALID,
    DP_INGEST_TOO_LARGE,
    DP_INGEST_UNAVAILABLE,
} dp_ingest_status;

/** The outcome of one request. */
typedef struct dp_ingest_result {
    dp_ingest_status status;
    uint64_t rejected; /* unusable spans of an accepted request */
    char message[320]; /* why, for the client; empty on a clean OK */
} dp_ingest_result;

typedef struct dp_ingest dp_ingest;

/** NULL when out of memory or without a table. The options are copied. */
dp_ingest *dp_ingest_create(const dp_ingest_options *opt);

/** Free it; NULL is accepted. No receiver may use it any more. */
void dp_ingest_destroy(dp_ingest *in);

/**
 * Handle one encoded Export*ServiceRequest of `signal`. Decode structures
 * go into `arena` (the caller resets it afterwards); data must stay valid
 * during the call. Always fills *out.
 */
void dp_ingest_request(dp_ingest *in, enum dp_signal signal, const uint8_t *data, size_t len,
                       dp_arena *arena, dp_ingest_result *out);

/**
 * dp_ingest_request() for a request from which `attributes_dropped`
 * attributes nested too deep were already left out before it was encoded
 * (by the OTLP/JSON encoder): when the request is taken they are counted
 * and said in partial_success as the ones its decode leaves out.
 */
void dp_ingest_request_dropped(dp_ingest *in, enum dp_signal signal, const uint8_t *data,
                               size_t len, size_t attributes_dropped, dp_arena *arena,
                               dp_ingest_result *out);

/**
 * Ask the memory guard, before a request's body is read, whether it may be
 * taken now: true, or false with *out filled (DP_INGEST_UNAVAILABLE and the
 * reason) and the refusal counted. Receivers call it when a request starts;
 * dp_ingest_request() asks again.
 */
bool dp_ingest_admit(dp_ingest *in, enum dp_signal signal, dp_ingest_result *out);

/**
 * Re-ingest one request read back from the persistent queue's `segment`
 * (dp_storage_replay): the same path as dp_ingest_request() without the
 * append, its items counted in that segment. DP_INGEST_UNAVAILABLE means
 * "offer it again later".
 */
void dp_ingest_replay(dp_ingest *in, enum dp_signal signal, const uint8_t *data, size_t len,
                      uint16_t segment, dp_arena *arena, dp_ingest_result *out);

/** Read the counters. */
void dp_ingest_get_stats(dp_ingest *in, dp_ingest_stats *out);

/**
 * Append an encoded Export*ServiceResponse (the three share one shape):
 * empty for a clean OK, partial_success with the rejected count and the
 * message otherwise. 0, or -1 when out cannot grow.
 */
DP_MUST_CHECK int dp_ingest_encode_response(const dp_ingest_result *r, dp_buf *out);

/**
 * Append an encoded google.rpc.Status { code, message } (the body of an
 * OTLP/HTTP error answer). 0, or -1 when out cannot grow.
 */
DP_MUST_CHECK int dp_ingest_encode_status(int code, const char *message, dp_buf *out);

#endif

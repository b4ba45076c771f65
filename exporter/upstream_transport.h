/*
 * The seam between the upstream client's sender lanes and the wire.
 *
 * upstream.c owns everything that must behave the same whatever the
 * protocol: the queue, batches, the retry loop with its backoff, the
 * counters, backpressure and shutdown. A transport (upstream_grpc.c for
 * OTLP/gRPC, upstream_http.c for OTLP/HTTP) only sends: a lane hands it one
 * batch, asks it to send the batch once per attempt, and gets back a result
 * classified as the OTLP specification classifies the protocol's answers:
 * accepted (perhaps partly), retryable (perhaps after a delay the server
 * asked for), or refused for good.
 *
 * Threads and ownership: open/close run on the thread that creates or
 * destroys the client; a lane's batch_begin/send run on that lane's thread
 * only; cancel may be called from any thread between lane_open and
 * lane_close. A transport copies what it needs from the connection; the
 * batch stays the lane's and outlives every attempt.
 */
#ifndef DP_UPSTREAM_TRANSPORT_H
#define DP_UPSTREAM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery_queue.h"
#include "upstream_config.h"

/** How much of an upstream's message is kept for the log. */
#define DP_UPSTREAM_MAX_MESSAGE 512

/** What became of one attempt. */
typedef enum dp_upstream_outcome {
    DP_UPSTREAM_ACCEPTED = 0,  /**< delivered; `rejected` items may have been refused */
    DP_UPSTREAM_RETRYABLE = 1, /**< not delivered, try again (after delay_ms when has_delay) */
    DP_UPSTREAM_REFUSED = 2,   /**< not delivered and never will be: drop and count */
} dp_upstream_outcome;

/** One attempt's answer, classified. Strings are one line, NUL-terminated. */
typedef struct dp_upstream_result {
    dp_upstream_outcome outcome;
    /** The answer in the protocol's words, for logs: "UNAVAILABLE",
     *  "HTTP 503", "connection failed". */
    char status[64];
    /** The upstream's message (google.rpc.Status) or the transport's error. */
    char message[DP_UPSTREAM_MAX_MESSAGE];
    bool has_delay;    /**< the server asked for a delay (RetryInfo, Retry-After) */
    uint64_t delay_ms; /**< that delay */
    int64_t rejected;  /**< ACCEPTED: items refused through partial_success */
    char partial_message[DP_UPSTREAM_MAX_MESSAGE];
} dp_upstream_result;

/** A transport: one table of functions per protocol. */
typedef struct dp_upstream_transport_ops {
    const char *name;
    /** What every lane of a signal shares (credentials, headers, URL);
     *  NULL, with the reason logged, when the settings are unusable. */
    void *(*open)(const dp_upstream_connection *c, const dp_upstream_config *cfg,
                  dp_upstream_signal signal);
    void (*close)(void *shared);
    /** One lane's connection, NULL when out of resources (logged). */
    void *(*lane_open)(void *shared);
    void (*lane_close)(void *lane);
    /** Take one batch for the attempts to come (gzip it, list its parts).
     *  Returns 0, or -1 when out of memory: the batch waits and the lane
     *  asks again. */
    int (*batch_begin)(void *lane, const dp_delivery_batch *batch);
    /** One attempt with the batch of the last batch_begin; blocks until
     *  the answer, the attempt's deadline or a cancel. */
    void (*send)(void *lane, dp_upstream_result *res);
    /** End the attempt in flight, and every later one, at once (shutdown
     *  out of time). Idempotent. */
    void (*cancel)(void *lane);
} dp_upstream_transport_ops;

extern const dp_upstream_transport_ops dp_upstream_grpc_ops;
extern const dp_upstream_transport_ops dp_upstream_http_ops;

/**
 * Read a whole PEM file into a NUL-terminated string of at most 4 MiB;
 * NULL with the reason logged (naming `what` and the path) when it cannot
 * be read, is empty or is larger. The caller frees it; a key should be
 * cleared first (dp_upstream_free_secret()).
 */
char *dp_upstream_read_pem(const char *path, const char *what);

/**
 * Make room for `need` elements of `size` bytes in *array (a malloc'd
 * array of *cap elements, NULL and 0 at first): the capacity doubles from
 * 64 until it fits. Returns 0, or -1 when out of memory (the array is
 * unchanged then).
 */
int dp_upstream_reserve(void **array, size_t *cap, size_t need, size_t size);

/** Clear and free a NUL-terminated secret; NULL is allowed. */
void dp_upstream_free_secret(char *secret);

/** Copy len bytes of an upstream's text into dst[0..cap) as one line:
 *  truncated, NUL-terminated, control characters turned into blanks. */
void dp_upstream_copy_text(char *dst, size_t cap, const void *src, size_t len);

/** Turn the control characters of a NUL-terminated text into blanks, in
 *  place: an upstream's message (partial_success, google.rpc.Status) as
 *  the parsers copy it may hold newlines, and it is logged. */
void dp_upstream_one_line(char *text);

#endif

/*
 * Settings of the upstream OTLP/gRPC client: where re-exported traces,
 * metrics and logs go, how the connection is secured, and how the delivery
 * queue batches, retries and gives up.
 *
 * Connection settings exist once per signal (traces, metrics, logs) because
 * the standard OTEL_EXPORTER_OTLP_<SIGNAL>_* variables may point each signal
 * somewhere else; delivery settings are shared by all signals.
 *
 * Ownership: a dp_upstream_config owns every string it holds (endpoint, file
 * paths, header keys and values). dp_upstream_config_free() releases them;
 * dp_upstream_config_copy() makes an independent deep copy. Header values
 * are secrets (API keys): nothing in this module logs them, and neither may
 * callers.
 *
 * Precedence is the caller's: dp_upstream_config_init() sets defaults, then
 * the caller overlays the config file, dp_upstream_config_from_env() (which
 * only touches settings whose variables are set) and command-line flags in
 * the order it wants.
 */
#ifndef DP_UPSTREAM_CONFIG_H
#define DP_UPSTREAM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_err.h"
#include "otlp_signal.h"

/** Signals the upstream client exports (common/signal.h); also indexes per-signal arrays. */
typedef dp_signal dp_upstream_signal;
#define DP_UPSTREAM_TRACES DP_SIGNAL_TRACES
#define DP_UPSTREAM_METRICS DP_SIGNAL_METRICS
#define DP_UPSTREAM_LOGS DP_SIGNAL_LOGS
#define DP_UPSTREAM_SIGNAL_COUNT DP_SIGNAL_COUNT

/** Message compression on the wire to the upstream. */
typedef enum dp_upstream_compression {
    DP_UPSTREAM_COMPRESSION_NONE = 0,
    DP_UPSTREAM_COMPRESSION_GZIP = 1,
} dp_upstream_compression;

/** Most Export calls in flight per signal (dp_upstream_config.concurrency). */
#define DP_UPSTREAM_MAX_CONCURRENCY 16

/** Most extra headers per signal; more is a configuration error. */
#define DP_UPSTREAM_MAX_HEADERS 32
/** Longest accepted endpoint, file path, header key or header value. */
#define DP_UPSTREAM_MAX_STRING 4096

/* Error codes of this module (0 is success). */
#define DP_UPSTREAM_CONFIG_EINVAL DP_EINVAL /**< malformed value; the log names the variable */
#define DP_UPSTREAM_CONFIG_ENOMEM DP_ENOMEM /**< out of memory */

/** One extra request header (gRPC metadata). key is lowercase ASCII. */
typedef struct dp_upstream_header {
    char *key;
    char *value; /**< secret: never logged */
} dp_upstream_header;

/** Where and how one signal is sent. */
typedef struct dp_upstream_connection {
    /** gRPC target "HOST:PORT" with any http:// or https:// prefix removed;
     *  NULL or "" means this signal is not exported. */
    char *endpoint;
    bool insecure;          /**< plaintext instead of TLS */
    char *ca_file;          /**< PEM roots; NULL = system roots */
    char *client_cert_file; /**< PEM client certificate chain for mTLS; NULL = none */
    char *client_key_file;  /**< PEM private key matching client_cert_file */
    dp_upstream_header headers[DP_UPSTREAM_MAX_HEADERS];
    size_t header_count;
    dp_upstream_compression compression;
    uint32_t timeout_ms; /**< deadline of one export attempt */
} dp_upstream_connection;

/** Everything the upstream client needs. */
typedef struct dp_upstream_config {
    dp_upstream_connection conn[DP_UPSTREAM_SIGNAL_COUNT];

    /* Queue bounds, per signal. A request is refused (DP_UPSTREAM_EFULL)
     * when adding it would pass either bound, except into an empty queue so
     * that one oversized request can never be refused forever. */
    uint64_t queue_max_items; /**< spans / data points / log records */
    uint64_t queue_max_bytes; /**< encoded request bytes, including those in flight */

    /* Batching: queued requests are concatenated (protobuf repeated fields
     * append) into one Export call of at most these sizes; a batch is sent
     * when full or batch_timeout_ms after its oldest request arrived. */
    uint32_t batch_max_items;
    uint32_t batch_max_bytes;
    uint32_t batch_timeout_ms;

    /* Retries of retryable answers: exponential backoff with jitter from
     * retry_initial_ms up to retry_max_ms; a batch is given up after
     * retry_max_elapsed_ms in total (0 = never; the queue then fills and the
     * receiver pushes back on the SDKs instead of losing data). */
    uint32_t retry_initial_ms;
    uint32_t retry_max_ms;
    uint32_t retry_max_elapsed_ms;

    /** Default bound of dp_upstream_shutdown() for callers that want one. */
    uint32_t shutdown_timeout_ms;

    /** Export calls in flight per signal, each on its own sender thread
     *  taking batches from the signal's one queue (1..16; 0 means 1).
     *  Batches may then arrive in another order than they were queued. */
    uint32_t concurrency;
} dp_upstream_config;

/** Defaults: no endpoint (disabled), TLS, no compression, 10 s timeout,
 *  queue 1,000,000 items / 256 MiB, batch 8192 items / 4 MiB / 200 ms,
 *  retries 100 ms .. 5 s, max elapsed 0 (never give up), shutdown 10 s,
 *  one call in flight per signal. */
void dp_upstream_config_init(dp_upstream_config *cfg);

/** Free every string the config owns and re-initialise it to defaults. */
void dp_upstream_config_free(dp_upstream_config *cfg);

/** Deep copy src into dst (dst is initialised first and must not own
 *  strings). Returns 0 or DP_UPSTREAM_CONFIG_ENOMEM (dst then holds defaults). */
int dp_upstream_config_copy(dp_upstream_config *dst, const dp_upstream_config *src);

/**
 * Set one signal's endpoint from "HOST:PORT", "http://HOST:PORT" (implies
 * insecure) or "https://HOST:PORT" (implies TLS). Without a scheme the
 * insecure flag is left as it is. Returns 0 or a DP_UPSTREAM_CONFIG_E* code.
 */
int dp_upstream_config_set_endpoint(dp_upstream_config *cfg, dp_upstream_signal signal,
                                    const char *endpoint);

/**
 * Parse an OTLP headers list ("k1=v1,k2=v2", values percent-decoded, keys
 * lowercased, blanks around items ignored) into one signal's headers,
 * replacing those it had. Returns 0 or a DP_UPSTREAM_CONFIG_E* code; on error
 * the previous headers are kept. `what` names the source in error messages
 * (the value itself is never printed).
 */
int dp_upstream_config_set_headers(dp_upstream_config *cfg, dp_upstream_signal signal,
                                   const char *list, const char *what);

/**
 * Overlay the OTEL_EXPORTER_OTLP_* environment variables as OpenTelemetry
 * SDKs read them for OTLP/gRPC: ENDPOINT, INSECURE, CERTIFICATE,
 * CLIENT_CERTIFICATE, CLIENT_KEY, HEADERS, COMPRESSION (none|gzip) and
 * TIMEOUT (milliseconds), each also as OTEL_EXPORTER_OTLP_<SIGNAL>_<NAME>
 * with SIGNAL in TRACES, METRICS, LOGS; the signal-specific variable wins.
 * The endpoint is used as-is (no path is appended for gRPC); an http://
 * scheme means plaintext and https:// means TLS whatever INSECURE says.
 * Unset or empty variables leave the setting unchanged. Returns 0 or a
 * DP_UPSTREAM_CONFIG_E* code; an error message names the variable.
 */
int dp_upstream_config_from_env(dp_upstream_config *cfg);

/** Name of a signal: "traces", "metrics" or "logs". */
const char *dp_upstream_signal_name(dp_upstream_signal signal);

#endif

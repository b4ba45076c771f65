/*
 * Settings of the upstream OTLP client: where re-exported traces, metrics
 * and logs go, over which protocol (OTLP/gRPC or OTLP/HTTP with protobuf
 * bodies), how the connection is secured, and how the delivery queue
 * batches, retries and gives up.
 *
 * The config file's upstream section (upstream_config.c) declares every
 * key with its default and writes straight into dp_upstream_config. The
 * connection settings come in layers, because the standard
 * OTEL_EXPORTER_OTLP_[<SIGNAL>_]* variables lie under the config file and
 * may point each signal somewhere else:
 *   built-in defaults < environment < config file < flags
 * The section's keys (file and flags, later wins) fill `all`, which applies
 * to every signal; dp_upstream_config_from_env() fills `signal[]`, one per
 * signal. A setting left "unset" in `all` (empty string, UNSET, 0 ms)
 * keeps what the environment gave; one it sets replaces the environment's
 * for every signal, the signal-specific variables too.
 * dp_upstream_config_connection() resolves the layers for one signal.
 *
 * A dp_upstream_config is plain data (no pointers): copy it by assignment.
 * Header values are secrets (API keys): nothing in this module logs them,
 * and neither may callers.
 */
#ifndef DP_UPSTREAM_CONFIG_H
#define DP_UPSTREAM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_map.h"
#include "dp_err.h"
#include "otlp_signal.h"

/** Signals the upstream client exports (common/signal.h); also indexes per-signal arrays. */
typedef dp_signal dp_upstream_signal;
#define DP_UPSTREAM_TRACES DP_SIGNAL_TRACES
#define DP_UPSTREAM_METRICS DP_SIGNAL_METRICS
#define DP_UPSTREAM_LOGS DP_SIGNAL_LOGS
#define DP_UPSTREAM_SIGNAL_COUNT DP_SIGNAL_COUNT

/** Transport security of a connection; UNSET (0) leaves it to the layer below. */
typedef enum dp_upstream_transport {
    DP_UPSTREAM_TRANSPORT_UNSET = 0,
    DP_UPSTREAM_TLS = 1,
    DP_UPSTREAM_PLAINTEXT = 2,
} dp_upstream_transport;

/** Wire protocol of a connection; UNSET (0) leaves it to the layer below. */
typedef enum dp_upstream_protocol {
    DP_UPSTREAM_PROTOCOL_UNSET = 0,
    DP_UPSTREAM_GRPC = 1,          /**< OTLP/gRPC (the default) */
    DP_UPSTREAM_HTTP_PROTOBUF = 2, /**< OTLP/HTTP, binary protobuf bodies */
} dp_upstream_protocol;

/** Message compression on the wire; UNSET (0) leaves it to the layer below. */
typedef enum dp_upstream_compression {
    DP_UPSTREAM_COMPRESSION_UNSET = 0,
    DP_UPSTREAM_COMPRESSION_NONE = 1,
    DP_UPSTREAM_COMPRESSION_GZIP = 2,
} dp_upstream_compression;

/** Deadline of one export attempt when no layer sets one (the OTLP exporter default). */
#define DP_UPSTREAM_DEFAULT_TIMEOUT_MS 10000

/** Most Export calls in flight per signal (dp_upstream_config.concurrency). */
#define DP_UPSTREAM_MAX_CONCURRENCY 16

/** Most extra headers per signal; more is a configuration error. */
#define DP_UPSTREAM_MAX_HEADERS 32

/* Error codes of this module (0 is success). */
#define DP_UPSTREAM_CONFIG_EINVAL DP_EINVAL /**< malformed value; the log names the variable */
#define DP_UPSTREAM_CONFIG_ENOMEM DP_ENOMEM /**< out of memory */

/**
 * Where and how one signal is sent. In a layer, an empty string, UNSET or
 * 0 ms means "not set here"; a resolved connection
 * (dp_upstream_config_connection()) has no UNSET protocol, transport or
 * compression and a timeout.
 */
typedef struct dp_upstream_connection {
    /** In `all`: as written, "HOST:PORT" or "http(s)://HOST[:PORT][/PATH]",
     *  a base endpoint. In `signal[]`: the same without the scheme (which
     *  has decided the transport). Resolved: "HOST[:PORT]", the gRPC target
     *  or the HTTP host; "" means not exported. */
    char endpoint[512];
    /** Resolved only: the OTLP/HTTP request path ("/v1/traces"); for gRPC
     *  the path written in the endpoint, which must be "" or "/"
     *  (dp_upstream_config_check()). */
    char path[528];
    /** `signal[]` only: the endpoint came from the signal's own variable
     *  (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, ...) and is used as-is; a base
     *  endpoint gets the signal's /v1/... path appended over OTLP/HTTP. */
    bool endpoint_exact;
    int protocol;                /**< dp_upstream_protocol */
    int transport;               /**< dp_upstream_transport */
    char ca_file[1024];          /**< PEM roots; "" = system roots */
    char client_cert_file[1024]; /**< PEM client certificate chain for mTLS; "" = none */
    char client_key_file[1024];  /**< PEM private key matching client_cert_file */
    char headers[4096];          /**< "k1=v1,k2=v2", values percent-encoded; secret */
    int compression;             /**< dp_upstream_compression */
    uint64_t timeout_ms;         /**< deadline of one export attempt */
} dp_upstream_connection;

/** Everything the upstream client needs. */
typedef struct dp_upstream_config {
    /** The upstream section's connection keys: every signal, over `signal`. */
    dp_upstream_connection all;
    /** Per signal, under `all`: the OTEL_EXPORTER_OTLP_* variables (endpoints
     *  without a scheme, which has decided the transport). */
    dp_upstream_connection signal[DP_UPSTREAM_SIGNAL_COUNT];

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
     *  taking batches from the signal's one queue (1..16). Batches may then
     *  arrive in another order than they were queued. */
    uint32_t concurrency;
} dp_upstream_config;

/** One extra request header (gRPC metadata), as parsed from a header list. */
typedef struct dp_upstream_header {
    char *key;   /**< lowercase ASCII */
    char *value; /**< secret: never logged */
} dp_upstream_header;

/** The upstream section of the config file: keys into dp_upstream_config. */
extern const dp_config_section dp_upstream_section;

/** Fill the config with the upstream section's defaults: nothing set in
 *  any connection layer (no endpoint: disabled), the delivery keys'
 *  defaults. */
void dp_upstream_config_defaults(dp_upstream_config *cfg);

/**
 * Fill `signal[]` from the OTEL_EXPORTER_OTLP_* environment variables as
 * OpenTelemetry SDKs read them: PROTOCOL (grpc|http/protobuf; http/json is
 * refused), ENDPOINT, INSECURE, CERTIFICATE, CLIENT_CERTIFICATE,
 * CLIENT_KEY, HEADERS, COMPRESSION (none|gzip) and TIMEOUT (milliseconds),
 * each also as OTEL_EXPORTER_OTLP_<SIGNAL>_<NAME> with SIGNAL in TRACES,
 * METRICS, LOGS; the signal-specific variable wins. An http:// scheme means
 * plaintext and https:// means TLS whatever INSECURE says. A signal's own
 * ENDPOINT is used as-is; the generic one is a base to which OTLP/HTTP
 * appends the signal's path (dp_upstream_config_connection()). Unset or
 * empty variables leave the setting unset. Returns 0 or a
 * DP_UPSTREAM_CONFIG_E* code; an error message names the variable, never a
 * header value. On error `signal[]` is unchanged.
 */
int dp_upstream_config_from_env(dp_upstream_config *cfg);

/**
 * The connection of one signal: `all` over `signal[s]`, the protocol (else
 * gRPC), the endpoint split into host and path (over OTLP/HTTP a base
 * endpoint, `all.endpoint` or the generic variable, gets "/v1/<signal>"
 * appended with one slash; a signal's own variable is used as-is, "/" when
 * it has no path), the transport (an explicit `all.transport`, else the
 * endpoint's scheme, else the environment's, else TLS), the compression
 * (else none) and the timeout (else DP_UPSTREAM_DEFAULT_TIMEOUT_MS)
 * decided. No endpoint is applied by default, whatever the protocol: without
 * one the signal is not exported.
 */
void dp_upstream_config_connection(const dp_upstream_config *cfg, dp_upstream_signal s,
                                   dp_upstream_connection *out);

/**
 * Check what only the resolved connections can tell: a gRPC endpoint has no
 * path, and an OTLP/HTTP path fits. Returns 0, or DP_UPSTREAM_CONFIG_EINVAL
 * with the signal and the endpoint logged.
 */
int dp_upstream_config_check(const dp_upstream_config *cfg);

/**
 * Where a resolved connection sends, for messages: "HOST:PORT" for gRPC,
 * the URL ("http://HOST:PORT/v1/traces") for OTLP/HTTP. No secret is part
 * of it (an endpoint cannot carry credentials or a query).
 */
void dp_upstream_connection_url(const dp_upstream_connection *c, char *out, size_t cap);

/** "OTLP/gRPC" or "OTLP/HTTP" for a resolved connection's protocol. */
const char *dp_upstream_protocol_name(int protocol);

/** Whether traces are sent anywhere (the traces connection has an endpoint). */
bool dp_upstream_config_active(const dp_upstream_config *cfg);

/**
 * Parse a header list ("k1=v1,k2=v2", values percent-decoded, keys
 * lowercased, blanks around items ignored, a '%' without two hex digits
 * kept as it is, as SDKs read OTEL_EXPORTER_OTLP_HEADERS) into at most
 * DP_UPSTREAM_MAX_HEADERS headers. Returns 0 with *count set, or a
 * DP_UPSTREAM_CONFIG_E* code (nothing to free then). `what` names the
 * source in error messages; the value itself is never printed. Free the
 * headers with dp_upstream_headers_free().
 */
int dp_upstream_headers_parse(const char *list, const char *what,
                              dp_upstream_header out[DP_UPSTREAM_MAX_HEADERS], size_t *count);

/** Free parsed headers, clearing their values first (they are secrets). */
void dp_upstream_headers_free(dp_upstream_header *headers, size_t count);

/** Name of a signal: "traces", "metrics" or "logs". */
const char *dp_upstream_signal_name(dp_upstream_signal signal);

#endif

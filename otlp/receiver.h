/*
 * The OTLP/gRPC receiver: a gRPC C core server for the three OTLP collector
 * services (TraceService, MetricsService, LogsService /Export, unary).
 *
 * N worker threads, each with its own completion queue and its own pool of
 * call contexts; each context keeps one grpc_server_request_registered_call
 * outstanding, so many calls are in flight per worker. A trace request is
 * parsed into the context's arena (reset, not freed, between calls) and its
 * spans go into the trace table, all or nothing:
 *   OK                  spans stored (partial_success lists unusable spans)
 *   INVALID_ARGUMENT    the payload does not decode
 *   RESOURCE_EXHAUSTED  over max_recv_message_bytes: as sent (answered by the
 *                       core), or as it inflates (gzip or deflate, inflated
 *                       here with zlib and refused at the cap, before more
 *                       memory than the cap is taken)
 *   UNAVAILABLE         the table cannot take more now; nothing was kept,
 *                       so the client's retry does not duplicate spans
 *   DEADLINE_EXCEEDED   the message did not fully arrive within recv_timeout
 *                       (or the answer was not taken within it): cancelled
 *   UNAUTHENTICATED     with an authenticator, the call's metadata carries
 *                       no accepted token (checked before the message is
 *                       decoded; health checks are not asked)
 * Connections are accepted by a thread of the receiver (the core never
 * listens) and handed to the core, in plaintext at once, with TLS through
 * the TLS proxy (tls_proxy.h), which does the handshake and then copies the
 * bytes between the client and a socket pair whose other end is the core's;
 * so running out of file descriptors, or max_connections connections open,
 * closes new connections for the moment instead of stopping the listener.
 * Metrics and logs are validated and answered OK (or INVALID_ARGUMENT), then
 * offered to the forward hook when one is set (upstream export). What is done
 * with a request's bytes is dp_ingest_request() (ingest.h), shared with the
 * OTLP/HTTP receiver.
 */
#ifndef DP_RECEIVER_H
#define DP_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config_map.h"
#include "dp_err.h"
#include "ingest.h"
#include "otlp_signal.h"
#include "receiver_tls.h"
#include "trace_table.h"

/*
 * The receiver's settings. The config file's server section
 * (receiver_config.c) declares all but the last three with their defaults;
 * dp_receiver_options_defaults() applies them. The section is both OTLP
 * receivers': http_listen is the OTLP/HTTP receiver's address
 * (http_receiver.h), which this receiver does not read. tls and auth name
 * the files that the daemon reads into tls_server and authenticator
 * (receiver_tls.h, auth.h), which both receivers share.
 */
typedef struct dp_receiver_options {
    char listen[256];              /* "HOST:PORT"; port 0 picks a free port */
    char http_listen[256];         /* the OTLP/HTTP receiver's "HOST:PORT"; empty: none */
    unsigned workers;              /* 0 = number of cores */
    size_t max_recv_message_bytes; /* larger requests get RESOURCE_EXHAUSTED; not 0 */
    unsigned max_concurrent_calls; /* outstanding trace calls per worker; not 0 */
    /* Limits on clients (docs/security.md); durations in ms, 0 = none unless said. */
    unsigned max_concurrent_streams; /* calls open at once on one connection */
    unsigned recv_timeout_ms;        /* a call's message must be in (its answer taken) by then */
    unsigned keepalive_time_ms;      /* a ping after this long without activity */
    unsigned keepalive_timeout_ms;   /* no ping answer within this: the connection is closed */
    unsigned max_connection_idle_ms; /* a connection without calls this long gets GOAWAY */
    unsigned max_connection_age_ms;  /* a connection this old gets GOAWAY */
    unsigned max_connection_age_grace_ms; /* then its calls have this long to finish */
    unsigned handshake_timeout_ms;        /* TLS handshake and HTTP/2 preface; not 0 */
    /* Connections open at once on each receiver's port; more are closed at once. 0: no limit
     * here (the daemon puts the automatic value, conn_limit.h). */
    unsigned max_connections;
    unsigned shutdown_timeout_ms; /* shutdown waits this long for calls in flight, then cancels */
    dp_tls_options tls;           /* tls.* */
    dp_auth_options auth;         /* auth.* */
    /* The OTLP/HTTP receiver's (http_receiver.h): CORS and keep-alive. */
    char http_cors_allowed_origins[1024]; /* comma-separated; "" = no CORS */
    char http_cors_allowed_headers[512];  /* comma-separated; "*" = any */
    unsigned http_cors_max_age_ms;        /* Access-Control-Max-Age; 0 = not sent */
    unsigned http_idle_timeout_ms;        /* a connection idle this long is closed; 0 = never */
    dp_ingest *ingest; /* where requests go; borrowed, required (other receivers may share it) */
    dp_tls_server *tls_server; /* borrowed; NULL = plaintext */
    dp_auth *authenticator;    /* borrowed; NULL = every request is taken */
    size_t memory_quota_bytes; /* the gRPC core's resource quota (its buffers); 0 = none */
} dp_receiver_options;

/** Counters since start (the span, point and record counts are the ingest's, so they include
 * those of other receivers sharing it); each read atomically. */
typedef struct dp_receiver_stats {
    uint64_t spans_received; /* usable + rejected spans of decodable requests */
    uint64_t spans_accepted; /* stored in the table */
    uint64_t spans_rejected; /* unusable (partial_success) */
    uint64_t spans_refused;  /* answered UNAVAILABLE (the client may retry) */
    uint64_t metric_points;
    uint64_t log_records;
    uint64_t calls_by_status[17]; /* indexed by gRPC status code */
    uint64_t inflate_over_limit;  /* compressed requests refused as they inflated past the cap */
    uint64_t cut_recv_timeout;    /* calls cancelled: the message not in within recv_timeout */
    uint64_t cut_send_timeout;    /* calls cancelled: the answer not taken within recv_timeout */
    uint64_t cut_shutdown;        /* calls cancelled at shutdown, past shutdown_timeout */
    uint64_t calls_in_flight;     /* calls taken and not finished now (a gauge) */
    uint64_t connections_refused_fd_limit; /* accepted and closed at once: out of descriptors */
    uint64_t connections_refused_max_connections; /* accepted and closed: max_connections open */
    uint64_t preface_timeouts; /* plaintext: closed, no HTTP/2 preface within handshake_timeout */
    bool tls;                  /* the rest is TLS's (0 in plaintext) */
    uint64_t tls_connections;  /* open now (a gauge), those in their handshake included */
    uint64_t tls_handshake_failed;  /* closed: refused by TLS (version, certificate, not TLS) */
    uint64_t tls_handshake_timeout; /* closed: handshake not done within handshake_timeout */
} dp_receiver_stats;

typedef struct dp_receiver dp_receiver;

enum {
    DP_RECEIVER_OK = 0,
    DP_RECEIVER_EBIND = DP_EBIND, /* the listen address could not be bound */
    DP_RECEIVER_ENOMEM = DP_ENOMEM,
    DP_RECEIVER_EINVAL = DP_EINVAL,
    DP_RECEIVER_ETHREAD = DP_ETHREAD,
};

/** The server section of the config file: keys into dp_receiver_options. */
extern const dp_config_section dp_receiver_section;

/** Fill the settings with the server section's defaults (the rest 0 or NULL). */
void dp_receiver_options_defaults(dp_receiver_options *o);

/**
 * Create the server, bind the listen address and start the workers.
 * DP_RECEIVER_EINVAL without a listen address or a table, or with
 * max_recv_message_bytes or max_concurrent_calls 0.
 * Returns DP_RECEIVER_OK and *out, or a negative code with a message in err.
 */
int dp_receiver_start(const dp_receiver_options *opt, dp_receiver **out, char *err, size_t errlen);

/** The bound TCP port (useful with port 0). */
int dp_receiver_port(const dp_receiver *r);

/**
 * Stop accepting, let calls in flight finish (their spans are in the table
 * when this returns) for at most shutdown_timeout_ms, then cancel those
 * still open (logged with their count), stop and join the workers.
 * Connections are closed once no call is left, not waited for. Idempotent.
 */
void dp_receiver_shutdown(dp_receiver *r);

/** Shut down if needed and free everything. Tolerates NULL. */
void dp_receiver_destroy(dp_receiver *r);

/** Read the counters. */
void dp_receiver_get_stats(dp_receiver *r, dp_receiver_stats *out);

#endif

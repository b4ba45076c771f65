/*
 * The OTLP/HTTP receiver: POST /v1/traces, /v1/metrics and /v1/logs over
 * HTTP/1.1 (keep-alive), on libmicrohttpd's own thread pool.
 *
 * A request's body is gathered (inflated as it arrives when it comes with
 * Content-Encoding: gzip), never past max_recv_message_bytes, and handed to
 * dp_ingest_request() (ingest.h): the very path of the gRPC receiver, with
 * its limits and counters. The answers are the OTLP/HTTP specification's:
 *   200  Export*ServiceResponse (partial_success lists unusable spans)
 *   401  with an authenticator, the request carries no accepted token
 *        (judged from the headers, before the body is read; with bearer
 *        tokens configured the answer has WWW-Authenticate: Bearer)
 *   400  the body does not decode (or is not valid gzip)
 *   404  another path             405  another method (Allow: POST)
 *   413  the body, inflated or not, is over max_recv_message_bytes
 *   415  another Content-Type or Content-Encoding
 *   503  the trace table (or the forward hook) cannot take more now, with
 *        Retry-After; nothing of the request was kept, so a retry does not
 *        duplicate spans
 * in the request's encoding (application/x-protobuf or application/json);
 * every 4xx/5xx body is a google.rpc.Status. An OTLP/JSON request of any
 * signal is encoded as the protobuf request it stands for (json_encode.c)
 * and takes the same path (metrics and logs are forwarded upstream as that
 * protobuf).
 *
 * Around the requests, as the Collector's confighttp does: CORS for
 * browser exporters when origins are allowed (http_cors.h: preflights 204,
 * Access-Control-Allow-Origin on answers to allowed origins); a connection
 * idle for idle_timeout_s is closed, and one whose request's body is not in
 * recv_timeout_ms after its headers (a slow client); past max_connections open connections
 * a new one is closed as soon as it is accepted; malformed HTTP gets libmicrohttpd's
 * 4xx (400 for a bad header line, a bad Content-Length or chunked body, an
 * HTTP/1.1 request without Host; 431 for headers past its memory; 505 for
 * another HTTP version); a request line without a space is closed without
 * an answer, as libmicrohttpd 0.9.75 does.
 */
#ifndef DP_HTTP_RECEIVER_H
#define DP_HTTP_RECEIVER_H

#include <stddef.h>

#include "auth.h"
#include "dp_err.h"
#include "ingest.h"
#include "receiver_tls.h"

typedef struct dp_http_receiver_options {
    const char *listen;            /* "HOST:PORT" ("[v6]:PORT"); port 0 picks a free port */
    unsigned threads;              /* 0 = number of cores */
    size_t max_recv_message_bytes; /* cap on a body after inflating; not 0 */
    unsigned retry_after_s;        /* Retry-After of a 503; 0 = 1 */
    dp_ingest *ingest;             /* borrowed; required */
    dp_tls_server *tls;            /* borrowed; NULL = plain HTTP, else HTTPS only */
    dp_auth *auth;                 /* borrowed; NULL = every request is taken */
    /* CORS (http_cors.h): comma-separated lists, read at start; NULL or "" origins = off */
    const char *cors_allowed_origins;
    const char *cors_allowed_headers;
    unsigned cors_max_age_s; /* 0: no Access-Control-Max-Age */
    unsigned idle_timeout_s; /* close a connection idle this long; 0 = never */
    /* a request whose body is still coming this long after its headers came is cut off (the
     * connection closed: a client trickling its body); 0 = no limit */
    unsigned recv_timeout_ms;
    /* connections open at once; a new one past it is closed at once (its client sees the
     * connection closed and retries); 0 = no limit of dagprof's */
    unsigned max_connections;
} dp_http_receiver_options;

typedef struct dp_http_receiver dp_http_receiver;

/** Answers given since start, by status, and connections; each read atomically. */
typedef struct dp_http_receiver_stats {
    uint64_t ok;                                  /* 200 */
    uint64_t bad_request;                         /* 400 */
    uint64_t not_found;                           /* 404 */
    uint64_t method_not_allowed;                  /* 405 */
    uint64_t too_large;                           /* 413 */
    uint64_t unsupported_type;                    /* 415 */
    uint64_t unavailable;                         /* 503 */
    uint64_t unauthenticated;                     /* 401 */
    uint64_t connections_open;                    /* now (a gauge) */
    uint64_t connections_refused_max_connections; /* closed at once: max_connections open */
    uint64_t cut_recv_timeout; /* requests cut off: the body not in within recv_timeout_ms */
} dp_http_receiver_stats;

/**
 * Bind the listen address and start serving. Returns DP_OK and *out, or
 * DP_EBIND / DP_ENOMEM / DP_ETHREAD, or DP_EINVAL (no ingest, a listen
 * address that is not HOST:PORT, max_recv_message_bytes 0), with a message
 * in err.
 */
DP_MUST_CHECK int dp_http_receiver_start(const dp_http_receiver_options *opt,
                                         dp_http_receiver **out, char *err, size_t errlen);

/** The bound TCP port (useful with port 0). */
int dp_http_receiver_port(const dp_http_receiver *r);

/**
 * Stop accepting and close every connection; a request being handled
 * finishes first, so what was taken is in the table when this returns.
 * Idempotent.
 */
void dp_http_receiver_shutdown(dp_http_receiver *r);

/** Shut down if needed and free everything; NULL is accepted. */
void dp_http_receiver_destroy(dp_http_receiver *r);

void dp_http_receiver_get_stats(dp_http_receiver *r, dp_http_receiver_stats *out);

#endif

/*
 * TLS on the OTLP/gRPC port, done by dagprof: the receiver accepts every
 * connection itself (as in plaintext) and hands a TLS one here; a proxy
 * thread does the handshake (GnuTLS, non-blocking, receiver_tls.h), then
 * makes a socket pair, hands one end to the gRPC core as a plaintext
 * connection and copies bytes both ways between the TLS session and the
 * other end until both directions are closed.
 *
 * A few threads (no thread per connection), each with its own epoll set;
 * new connections go to them in turn. Per connection and direction one
 * bounded buffer (BUF_SIZE, held only while bytes pass through it): a side
 * is not read while the buffer towards the other is full, so a slow reader
 * holds back its writer instead of memory growing.
 * The end of one side's stream (TLS close_notify or TCP EOF from the
 * client; the core closing its end) is passed on to the other once what is
 * buffered is written (shutdown of the socket pair's write side, or a TLS
 * close_notify and shutdown of the TCP write side); the connection is
 * closed when both directions have ended, or at once on an error; once
 * the core has closed its end, a client that does not take the rest has 5 s
 * (seen even while the buffer towards it is full and the core's end is not
 * read). A connection that has not finished its TLS handshake and sent the
 * whole HTTP/2 client connection preface (its string and SETTINGS frame) within
 * handshake_timeout_ms of its accept is closed (counted as a handshake
 * timeout).
 */
#ifndef DP_TLS_PROXY_H
#define DP_TLS_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "receiver_tls.h"

typedef struct dp_tls_proxy dp_tls_proxy;

/**
 * Called on a proxy thread after a handshake, with the plaintext end of
 * the connection's socket pair (non-blocking, close-on-exec), which the
 * callee owns from then on (the gRPC core: grpc_server_add_channel_from_fd).
 */
typedef void (*dp_tls_proxy_deliver_fn)(void *ctx, int fd);

typedef struct dp_tls_proxy_options {
    dp_tls_server *tls;            /* borrowed; must outlive the proxy */
    unsigned threads;              /* at least 1 */
    unsigned handshake_timeout_ms; /* 0: none */
    dp_tls_proxy_deliver_fn deliver;
    void *deliver_ctx;
} dp_tls_proxy_options;

typedef struct dp_tls_proxy_stats {
    uint64_t open;               /* connections taken and not closed (a gauge) */
    uint64_t handshakes_done;    /* handed to the core */
    uint64_t handshakes_failed;  /* refused by TLS (version, certificate, not TLS) or closed */
    uint64_t handshakes_timeout; /* cut at handshake_timeout_ms */
} dp_tls_proxy_stats;

/** Start the threads. DP_OK and *out, DP_ENOMEM or DP_ETHREAD with the reason in err. */
DP_MUST_CHECK int dp_tls_proxy_start(const dp_tls_proxy_options *o, dp_tls_proxy **out, char *err,
                                     size_t errlen);

/**
 * Take fd, a TCP connection just accepted (the proxy makes it non-blocking,
 * and closes it when done). Never blocks on the network. Returns 0, or -1 when out of memory (fd is
 * closed then).
 */
int dp_tls_proxy_add(dp_tls_proxy *p, int fd);

/** Connections taken and not yet closed: what server.max_connections counts. */
uint64_t dp_tls_proxy_open(dp_tls_proxy *p);

void dp_tls_proxy_get_stats(dp_tls_proxy *p, dp_tls_proxy_stats *out);

/**
 * Stop the threads and close every connection still open; the counts can
 * still be read. Idempotent; tolerates NULL. Not while dp_tls_proxy_add()
 * may be called.
 */
void dp_tls_proxy_stop(dp_tls_proxy *p);

/** Stop if needed and free everything. Tolerates NULL. */
void dp_tls_proxy_destroy(dp_tls_proxy *p);

#endif

/*
 * TLS of the OTLP receivers (server.tls.*), as the Collector's otlp
 * receiver has it: a certificate (chain) and its key, and optionally the
 * CAs that sign client certificates, which makes a client certificate
 * required and verified (mTLS).
 *
 * dp_tls_server_create() reads the files and checks them (each parses, the
 * key is the certificate's, the CA file holds certificates), so a bad file
 * is a configuration error at start that names the key and the file.
 * dp_tls_server_reload() reads them again (SIGHUP) and, when they pass the
 * same checks, puts them in place for every new handshake of both
 * receivers; connections already open keep their session. A bad file
 * leaves the certificates in use as they were.
 *
 * Both receivers do their handshakes with GnuTLS, through a certificate
 * retrieve function asked at each new handshake: each handshake gets its
 * own copy of the certificate and key (freed by GnuTLS with the session)
 * and, with a client CA, requires a client certificate and sets a verify
 * function that checks it against the CAs in use, so a client without a
 * good certificate fails the handshake. The priorities are min_version's
 * (TLS 1.3 only, or 1.3 and 1.2) on both ports:
 *   - OTLP/HTTP: dp_tls_server_mhd_options(), for libmicrohttpd, which does
 *     the handshakes (its own MHD_OPTION_HTTPS_MEM_TRUST is not used: it
 *     only asks for a certificate, checks nothing, and could not be
 *     reloaded);
 *   - OTLP/gRPC: dp_tls_server_session_new(), a session for a connection
 *     that dagprof accepted itself, offering ALPN "h2"; the receiver's TLS
 *     proxy (tls_proxy.h) does the handshake and hands the plaintext
 *     HTTP/2 stream to the gRPC core.
 */
#ifndef DP_RECEIVER_TLS_H
#define DP_RECEIVER_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "dp_err.h"

struct MHD_Connection;
struct gnutls_session_int;
struct MHD_OptionItem;

enum dp_tls_version {
    DP_TLS_1_2 = 0,
    DP_TLS_1_3 = 1,
};

/** The server section's tls.* keys (otlp/receiver_config.c). */
typedef struct dp_tls_options {
    char cert_file[1024];      /* PEM certificate, then its chain; "": no TLS */
    char key_file[1024];       /* PEM private key of cert_file, unencrypted */
    char client_ca_file[1024]; /* PEM CA certificates; set: client certificates required */
    int min_version;           /* enum dp_tls_version */
} dp_tls_options;

typedef struct dp_tls_server dp_tls_server;

/** True when any tls.* file is set (so dp_tls_server_create() is to be called). */
bool dp_tls_options_enabled(const dp_tls_options *o);

/**
 * Read and check the files of `o` (copied). DP_EINVAL with a message in
 * err that starts with the key ("server.tls.cert_file: PATH: ...") when a
 * file is missing, unreadable or not what it should be, or when
 * cert_file and key_file are not both set; DP_ENOMEM. Returns DP_OK and
 * *out. Must outlive the receivers that use it.
 */
DP_MUST_CHECK int dp_tls_server_create(const dp_tls_options *o, dp_tls_server **out, char *err,
                                       size_t errlen);

/**
 * Read and check the files again; when they pass, every later handshake of
 * either receiver uses them. Returns DP_OK with what is now in use in
 * `summary` (as dp_tls_server_summary()), or an error code with the reason
 * in err and the certificates in use unchanged.
 */
DP_MUST_CHECK int dp_tls_server_reload(dp_tls_server *t, char *summary, size_t summary_len,
                                       char *err, size_t errlen);

/**
 * What is in use, for the log: "certificate CN=..., serial 03E9, valid
 * until 2026-01-02T03:04:05Z; client certificates required (CA file: 1
 * certificate)".
 */
void dp_tls_server_summary(dp_tls_server *t, char *out, size_t outlen);

/** The options it was made from. */
const dp_tls_options *dp_tls_server_options(const dp_tls_server *t);

/** Free everything (key material wiped); NULL is accepted. After the receivers. */
void dp_tls_server_destroy(dp_tls_server *t);

/* --- the transports' adapters ---------------------------------------------------------- */

/**
 * A GnuTLS server session (a gnutls_session_t) for the connected socket fd: non-blocking
 * (gnutls_handshake and the record functions return GNUTLS_E_AGAIN), no
 * SIGPIPE, the priorities of min_version, ALPN "h2" offered, the
 * certificates in use at its handshake, a client certificate required and
 * verified when a client CA is configured, no handshake timeout of its own.
 * The session's pointer (gnutls_session_set_ptr) is `t`: leave it. The
 * caller owns the session (gnutls_deinit) and fd. Returns 0 and *out, or a
 * negative GnuTLS error.
 */
int dp_tls_server_session_new(dp_tls_server *t, int fd, struct gnutls_session_int **out);

/**
 * The libmicrohttpd options of an HTTPS daemon served with `t`, for
 * MHD_OPTION_ARRAY: the certificate callback and the priorities of
 * min_version, written at `items` (at most `cap`), the last one
 * MHD_OPTION_END. The daemon must be started with MHD_USE_TLS, and its
 * MHD_OPTION_NOTIFY_CONNECTION callback must call
 * dp_tls_server_mhd_connection_started() for every new connection. Returns
 * the number of items written, END included; -1 when cap is under 3.
 */
int dp_tls_server_mhd_options(dp_tls_server *t, struct MHD_OptionItem *items, size_t cap);

/**
 * A new connection of an HTTPS daemon served with `t` (from its
 * MHD_CONNECTION_NOTIFY_STARTED): ties the connection's TLS session to `t`
 * through `socket_context`, which the caller must leave as it is. A session
 * whose connection is not tied to a server fails its handshake.
 */
void dp_tls_server_mhd_connection_started(dp_tls_server *t, struct MHD_Connection *conn,
                                          void **socket_context);

#endif

/*
 * The server section of the config file: the OTLP receivers' settings
 * (dp_receiver_options; http_listen is the OTLP/HTTP receiver's), with
 * their defaults, ranges and descriptions; listen addresses are checked by
 * common/config_map's dp_config_listen_problem. The tls.* and auth.* keys
 * name files (receiver_tls.h, auth.h); in the YAML file they may be written
 * nested (tls: {cert_file: ...}). The defaults here are the only ones;
 * dp_receiver_options_defaults() applies them.
 */
#include "receiver.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define KEY(...) DP_CONFIG_KEY(dp_receiver_options, __VA_ARGS__)
#define KEY_CHECKED(...) DP_CONFIG_KEY_CHECKED(dp_receiver_options, __VA_ARGS__)

static const dp_config_enum_value tls_versions[] = {
    {"1.2", DP_TLS_1_2},
    {"1.3", DP_TLS_1_3},
    {NULL, 0},
};

static const dp_config_key server_keys[] = {
    KEY_CHECKED(
        "listen", DP_CFG_STRING, listen, "127.0.0.1:4317", 0, 0, NULL, "--listen", 0,
        dp_config_listen_problem,
        "Address of the OTLP/gRPC receiver, HOST:PORT. Use 0.0.0.0:4317 to accept other hosts."),
    KEY_CHECKED("http_listen", DP_CFG_STRING, http_listen, "127.0.0.1:4318", 0, 0, NULL,
                "--http-listen", 0, dp_config_optional_listen_problem,
                "Address of the OTLP/HTTP receiver (POST /v1/traces, /v1/metrics, /v1/logs), "
                "HOST:PORT. Empty: no OTLP/HTTP receiver."),
    KEY("workers", DP_CFG_UINT, workers, "0", 0, 256, NULL, "--workers",
        "Threads of each receiver (gRPC: each with its own completion queue; HTTP: "
        "libmicrohttpd's pool). 0 = one per CPU core."),
    KEY("max_recv_message_size", DP_CFG_SIZE, max_recv_message_bytes, "16MiB", DP_CONFIG_KIB,
        DP_CONFIG_GIB, NULL, NULL,
        "Largest accepted request (after decompression). Larger ones get RESOURCE_EXHAUSTED "
        "(gRPC) or 413 (HTTP)."),
    KEY("max_concurrent_calls", DP_CFG_UINT, max_concurrent_calls, "256", 1, 1024, NULL, NULL,
        "Trace export calls each worker takes at once (reading their messages, at most "
        "recv_timeout each; they are decoded one at a time). Further calls wait in the gRPC "
        "core's queue until one finishes; they are not refused."),
    KEY("max_concurrent_streams", DP_CFG_UINT, max_concurrent_streams, "100", 1, 1000000, NULL,
        NULL,
        "Calls one gRPC connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); "
        "a client past it waits or gets REFUSED_STREAM."),
    KEY("recv_timeout", DP_CFG_DURATION, recv_timeout_ms, "30s", 0, DP_CONFIG_HOUR_MS, NULL, NULL,
        "A gRPC call whose request message has not fully arrived this long after the call "
        "started is cancelled with DEADLINE_EXCEEDED (slow or stalled clients); so is an answer "
        "the client has not taken this long after it was sent. An OTLP/HTTP request whose body "
        "is still coming this long after its headers has its connection closed (a body that "
        "stops altogether: http_idle_timeout). 0: no limit."),
    KEY("keepalive_time", DP_CFG_DURATION, keepalive_time_ms, "2h", 1000, DP_CONFIG_DAY_MS, NULL,
        NULL, "A gRPC connection without activity this long is pinged (HTTP/2 PING)."),
    KEY("keepalive_timeout", DP_CFG_DURATION, keepalive_timeout_ms, "20s", 1, DP_CONFIG_HOUR_MS,
        NULL, NULL, "A keepalive ping not answered within this closes the connection."),
    KEY("max_connection_idle", DP_CFG_DURATION, max_connection_idle_ms, "0", 0, DP_CONFIG_DAY_MS,
        NULL, NULL,
        "A gRPC connection with no call open this long is closed with GOAWAY. 0: never."),
    KEY("max_connection_age", DP_CFG_DURATION, max_connection_age_ms, "0", 0, DP_CONFIG_DAY_MS,
        NULL, NULL,
        "A gRPC connection this old is closed with GOAWAY (clients reconnect, e.g. to spread "
        "over replicas). 0: never."),
    KEY("max_connection_age_grace", DP_CFG_DURATION, max_connection_age_grace_ms, "0", 0,
        DP_CONFIG_DAY_MS, NULL, NULL,
        "After max_connection_age, how long the connection's calls in flight may still take "
        "before it is closed. 0: as long as they need."),
    KEY("handshake_timeout", DP_CFG_DURATION, handshake_timeout_ms, "120s", 100, DP_CONFIG_HOUR_MS,
        NULL, NULL,
        "A new gRPC connection that has not finished its TLS handshake (with TLS) and sent its "
        "HTTP/2 preface within this is closed."),
    KEY("max_connections", DP_CFG_UINT, max_connections, "0", 0, 16777216, NULL, NULL,
        "Connections open at once on each receiver (the gRPC port and the HTTP port, each "
        "separately); a new one past it is closed at once (its client sees the reset and "
        "retries). 0 = automatic: (soft open-file limit - 128) / 2, at least 16, from the limit "
        "after dagprof raised it to the hard limit at start; a third of that on the gRPC port "
        "with TLS, where a connection holds three descriptors. A TLS connection counts from its "
        "accept, handshake included, until it is closed."),
    KEY("shutdown_timeout", DP_CFG_DURATION, shutdown_timeout_ms, "5s", 0, DP_CONFIG_HOUR_MS, NULL,
        NULL,
        "On SIGTERM the gRPC receiver waits this long for calls in flight, then cancels those "
        "still open (logged with their count) and the daemon goes on to report and exit."),
    KEY("tls.cert_file", DP_CFG_STRING, tls.cert_file, "", 0, 0, NULL, NULL,
        "PEM certificate (then its chain) both receivers present; with tls.key_file it turns "
        "TLS on for OTLP/gRPC and OTLP/HTTP. Read again on SIGHUP. Empty: plaintext."),
    KEY("tls.key_file", DP_CFG_STRING, tls.key_file, "", 0, 0, NULL, NULL,
        "PEM private key of tls.cert_file, unencrypted. Read again on SIGHUP."),
    KEY("tls.client_ca_file", DP_CFG_STRING, tls.client_ca_file, "", 0, 0, NULL, NULL,
        "PEM CA certificates of the clients. Set: every client must present a certificate "
        "signed by one of them (mTLS). Read again on SIGHUP. Empty: no client certificates."),
    KEY("tls.min_version", DP_CFG_ENUM, tls.min_version, "1.2", 0, 0, tls_versions, NULL,
        "Oldest TLS version taken, on both receivers: 1.2 or 1.3."),
    KEY("auth.bearer_tokens_file", DP_CFG_STRING, auth.bearer_tokens_file, "", 0, 0, NULL, NULL,
        "File of accepted bearer tokens, one a line: requests must carry Authorization: Bearer "
        "TOKEN (or the API-key header). Read again on SIGHUP. Empty: no bearer tokens."),
    KEY_CHECKED("auth.header", DP_CFG_STRING, auth.header, "", 0, 0, NULL, NULL, 0,
                dp_auth_header_name_problem,
                "Name of a header carrying an API key (x-api-key, ...), whose accepted values "
                "are in auth.header_values_file. Empty: none."),
    KEY("auth.header_values_file", DP_CFG_STRING, auth.header_values_file, "", 0, 0, NULL, NULL,
        "File of accepted values of auth.header, one a line. Read again on SIGHUP."),
    KEY_CHECKED("http_cors_allowed_origins", DP_CFG_STRING, http_cors_allowed_origins, "", 0, 0,
                NULL, NULL, DP_CONFIG_LIST, NULL,
                "Origins whose browser pages may send OTLP/HTTP (CORS), as a YAML list or "
                "comma-separated: https://app.example.com, https://*.example.com (one * for any "
                "characters), or * for every origin. Empty: no CORS headers, OPTIONS is 405."),
    KEY_CHECKED("http_cors_allowed_headers", DP_CFG_STRING, http_cors_allowed_headers, "", 0, 0,
                NULL, NULL, DP_CONFIG_LIST, NULL,
                "Request headers a CORS request may carry besides Accept, Accept-Language, "
                "Content-Language, Content-Type, Content-Encoding and X-Requested-With (a list, "
                "or * for any)."),
    KEY("http_cors_max_age", DP_CFG_DURATION, http_cors_max_age_ms, "2h", 0, DP_CONFIG_DAY_MS, NULL,
        NULL,
        "How long a browser may cache a CORS preflight answer (Access-Control-Max-Age, in "
        "whole seconds). 0: the header is not sent."),
    KEY("http_idle_timeout", DP_CFG_DURATION, http_idle_timeout_ms, "1m", 0, DP_CONFIG_HOUR_MS,
        NULL, NULL,
        "An OTLP/HTTP connection with no traffic for this long (between requests of a "
        "keep-alive connection, or within one) is closed, in whole seconds. 0: never."),
};

const dp_config_section dp_receiver_section =
    DP_CONFIG_SECTION("server",
                      "The OTLP receivers: gRPC and HTTP, with their TLS and tokens "
                      "(docs/security.md).",
                      server_keys);

void dp_receiver_options_defaults(dp_receiver_options *o)
{
    dp_config_section_init(o, sizeof(*o), &dp_receiver_section);
}

/*
 * Upstream endpoints as users write them, and the URL rules of the OTLP
 * exporter specification: splitting "HOST:PORT" or
 * "http(s)://HOST[:PORT][/PATH]" into its parts, and the request path of
 * one signal over OTLP/HTTP (a base endpoint gets "/v1/traces",
 * "/v1/metrics" or "/v1/logs" appended; a signal's own endpoint is used
 * as-is).
 *
 * Pure functions over strings, shared by the config checks, the layers'
 * resolution and their unit tests.
 */
#ifndef DP_UPSTREAM_ENDPOINT_H
#define DP_UPSTREAM_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "otlp_signal.h"

/** An endpoint split into views of the caller's string. */
typedef struct dp_upstream_endpoint {
    int transport;    /**< dp_upstream_transport of the scheme; UNSET without one */
    const char *host; /**< HOST[:PORT] (an IPv6 host in brackets) */
    size_t host_len;
    const char *path; /**< from the first '/' after the host to the end; may be empty */
    size_t path_len;
} dp_upstream_endpoint;

/**
 * Split `text`: an optional http:// (plaintext) or https:// (TLS) scheme,
 * any letter case, then the host and port, then an optional path. Returns
 * NULL, or what is wrong, worded to follow the quoted value in a message:
 * no host, user information ('@': credentials belong in upstream.headers,
 * and an endpoint is logged), a query or fragment, or a blank or control
 * character.
 */
const char *dp_upstream_endpoint_parse(const char *text, dp_upstream_endpoint *out);

/** The problem dp_upstream_endpoint_parse() returns for user information,
 *  so that a caller can refuse it without quoting the value (a password). */
extern const char dp_upstream_endpoint_userinfo[];

/**
 * The OTLP/HTTP request path of `signal` into out[0..cap): with `exact`
 * (the endpoint is the signal's own URL) the endpoint's path as it is, or
 * "/" when it has none; otherwise (a base endpoint) its path without
 * trailing slashes followed by "/v1/traces", "/v1/metrics" or "/v1/logs",
 * so exactly one slash joins them. Returns 0, or -1 when it does not fit.
 */
int dp_upstream_endpoint_http_path(const dp_upstream_endpoint *e, bool exact, dp_signal signal,
                                   char *out, size_t cap);

#endif

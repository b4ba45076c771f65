/*
 * Upstream settings: the config file and flags (already merged in
 * dp_config) laid over the OTEL_EXPORTER_OTLP_* variables, which lie over
 * the client's defaults. A setting the file and flags left "unset" (empty
 * string, -1, 0 ms) keeps what the environment gave; one they set applies
 * to every signal, replacing the signal-specific variables too.
 */
#include "upstream_settings.h"
#include <stdbool.h>
#include <strings.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set_string(char **field, const char *value)
{
    if (!value[0])
        return 0;
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

/* Split "HOST:PORT" / "[V6]:PORT" (a scheme already removed) into host and port. */
static bool split_address(const char *a, char *host, size_t hostcap, long *port)
{
    const char *colon = strrchr(a, ':');
    if (!colon || !colon[1])
        return false;
    const char *h = a;
    size_t hlen = (size_t)(colon - a);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= hostcap)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char *end;
    *port = strtol(colon + 1, &end, 10);
    return *end == '\0';
}

static bool is_loopback_or_any(const char *h)
{
    return strcasecmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
           strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || strcmp(h, "") == 0;
}

/*
 * True when sending to `endpoint` would reach this very dagprof: the same
 * port, and the same host or a loopback address while dagprof listens on
 * loopback or on every address. Forwarded spans would come back as late
 * runs, be forwarded again, and so on.
 */
static bool loops_back(const char *endpoint, const char *listen)
{
    char eh[256], lh[256];
    long ep, lp;
    if (!split_address(endpoint, eh, sizeof(eh), &ep) ||
        !split_address(listen, lh, sizeof(lh), &lp))
        return false;
    if (ep != lp || lp == 0)
        return false;
    if (strcasecmp(eh, lh) == 0)
        return true;
    return is_loopback_or_any(eh) && is_loopback_or_any(lh);
}

int dp_upstream_settings_build(const dp_config *c, dp_upstream_config *out, char *err,
                               size_t errlen)
{
    const dp_upstream_settings *u = &c->upstream;
    dp_upstream_config_init(out);
    if (dp_upstream_config_from_env(out) != 0) {
        snprintf(err, errlen, "bad OTEL_EXPORTER_OTLP_* environment variable (see the log above)");
        goto fail;
    }
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        dp_upstream_connection *conn = &out->conn[s];
        /* a scheme in the endpoint decides TLS unless insecure is set explicitly */
        if (u->endpoint[0] && dp_upstream_config_set_endpoint(out, s, u->endpoint) != 0) {
            snprintf(err, errlen, "upstream.endpoint: not a usable HOST:PORT");
            goto fail;
        }
        if (u->insecure >= 0)
            conn->insecure = u->insecure == 1;
        if (set_string(&conn->ca_file, u->ca_file) < 0 ||
            set_string(&conn->client_cert_file, u->client_cert_file) < 0 ||
            set_string(&conn->client_key_file, u->client_key_file) < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (u->headers[0] &&
            dp_upstream_config_set_headers(out, s, u->headers, "upstream.headers") != 0) {
            snprintf(err, errlen, "upstream.headers: not a list of name=value pairs");
            goto fail;
        }
        if (u->compression >= 0)
            conn->compression =
                u->compression == 1 ? DP_UPSTREAM_COMPRESSION_GZIP : DP_UPSTREAM_COMPRESSION_NONE;
        if (u->timeout_ms)
            conn->timeout_ms = (uint32_t)u->timeout_ms;
    }
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        const char *e = out->conn[s].endpoint;
        if (e && e[0] && loops_back(e, c->server.listen)) {
            snprintf(err, errlen,
                     "the upstream endpoint %s is dagprof's own listen address %s: everything "
                     "sent there would come back (check upstream.endpoint and "
                     "OTEL_EXPORTER_OTLP_*ENDPOINT)",
                     e, c->server.listen);
            goto fail;
        }
    }
    out->queue_max_items = u->queue_max_spans;
    out->queue_max_bytes = u->queue_max_bytes;
    out->batch_max_items = u->batch_max_spans;
    out->batch_max_bytes =
        u->batch_max_bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)u->batch_max_bytes;
    out->batch_timeout_ms = (uint32_t)u->batch_timeout_ms;
    out->retry_initial_ms = (uint32_t)u->retry_initial_backoff_ms;
    out->retry_max_ms = (uint32_t)u->retry_max_backoff_ms;
    out->retry_max_elapsed_ms = (uint32_t)u->retry_max_elapsed_ms;
    out->shutdown_timeout_ms = (uint32_t)u->shutdown_timeout_ms;
    out->concurrency = u->concurrency;
    return 0;
fail:
    dp_upstream_config_free(out);
    return -1;
}

bool dp_upstream_settings_active(const dp_upstream_config *cfg)
{
    const char *e = cfg->conn[DP_UPSTREAM_TRACES].endpoint;
    return e && e[0];
}

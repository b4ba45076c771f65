/*
 * Endpoint splitting and the OTLP/HTTP per-signal paths (see
 * upstream_endpoint.h). The exporter specification asks for the scheme,
 * host, port and path of an endpoint and lets an implementation ignore the
 * rest; dagprof refuses the rest instead of ignoring it, so that what is
 * logged as the destination is the whole of it and holds no credentials.
 */
#include "upstream_endpoint.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "upstream_config.h"

static const char *const signal_paths[DP_SIGNAL_COUNT] = {"/v1/traces", "/v1/metrics", "/v1/logs"};

const char dp_upstream_endpoint_userinfo[] =
    "has user information before the host (put credentials in upstream.headers)";

const char *dp_upstream_endpoint_parse(const char *text, dp_upstream_endpoint *out)
{
    const char *t = text;
    memset(out, 0, sizeof(*out));
    out->transport = DP_UPSTREAM_TRANSPORT_UNSET;
    if (strncasecmp(t, "http://", 7) == 0) {
        t += 7;
        out->transport = DP_UPSTREAM_PLAINTEXT;
    } else if (strncasecmp(t, "https://", 8) == 0) {
        t += 8;
        out->transport = DP_UPSTREAM_TLS;
    }
    for (const char *p = t; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch == 0x7f)
            return "has a blank or control character";
        if (ch == '?' || ch == '#')
            return "has a query or fragment (only scheme, host, port and path are used)";
    }
    size_t host_len = strcspn(t, "/");
    if (memchr(t, '@', host_len))
        return dp_upstream_endpoint_userinfo;
    if (host_len == 0)
        return "has no host";
    out->host = t;
    out->host_len = host_len;
    out->path = t + host_len;
    out->path_len = strlen(out->path);
    return NULL;
}

int dp_upstream_endpoint_http_path(const dp_upstream_endpoint *e, bool exact, dp_signal signal,
                                   char *out, size_t cap)
{
    size_t len = e->path_len;
    int n;

    if ((int)signal < 0 || signal >= DP_SIGNAL_COUNT || cap == 0)
        return -1;
    if (exact) {
        n = len ? snprintf(out, cap, "%.*s", (int)len, e->path) : snprintf(out, cap, "/");
    } else {
        while (len > 0 && e->path[len - 1] == '/')
            len--;
        n = snprintf(out, cap, "%.*s%s", (int)len, e->path, signal_paths[signal]);
    }
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

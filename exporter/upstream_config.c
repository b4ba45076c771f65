/*
 * Upstream client settings: defaults, deep copy, endpoint and header parsing,
 * and the OTEL_EXPORTER_OTLP_* environment variables as SDKs read them.
 *
 * The environment is read once at start-up, so this code favours clear error
 * messages over speed. Header values are secrets: errors name the variable
 * and the position, never the value.
 */
#include "upstream_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static const char *const signal_names[DP_UPSTREAM_SIGNAL_COUNT] = {"traces", "metrics", "logs"};
static const char *const signal_env[DP_UPSTREAM_SIGNAL_COUNT] = {"TRACES", "METRICS", "LOGS"};

const char *dp_upstream_signal_name(dp_upstream_signal signal)
{
    if ((int)signal < 0 || signal >= DP_UPSTREAM_SIGNAL_COUNT)
        return "unknown";
    return signal_names[signal];
}

void dp_upstream_config_init(dp_upstream_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        cfg->conn[s].compression = DP_UPSTREAM_COMPRESSION_NONE;
        cfg->conn[s].timeout_ms = 10000; /* the OTLP exporter default */
    }
    cfg->queue_max_items = 1000000;
    cfg->queue_max_bytes = 256u * 1024 * 1024;
    cfg->batch_max_items = 8192;
    /* Well under gRPC's usual 4 MiB receive limit once several requests
     * are concatenated. */
    cfg->batch_max_bytes = 4u * 1024 * 1024 - 64 * 1024;
    cfg->batch_timeout_ms = 200;
    cfg->retry_initial_ms = 100;
    cfg->retry_max_ms = 5000;
    cfg->retry_max_elapsed_ms = 0;
    cfg->shutdown_timeout_ms = 10000;
    cfg->concurrency = 1;
}

static void headers_free(dp_upstream_connection *c)
{
    for (size_t i = 0; i < c->header_count; i++) {
        free(c->headers[i].key);
        /* Secrets do not linger in freed memory longer than necessary. */
        if (c->headers[i].value) {
            memset(c->headers[i].value, 0, strlen(c->headers[i].value));
            free(c->headers[i].value);
        }
        c->headers[i].key = NULL;
        c->headers[i].value = NULL;
    }
    c->header_count = 0;
}

static void connection_free(dp_upstream_connection *c)
{
    free(c->endpoint);
    free(c->ca_file);
    free(c->client_cert_file);
    free(c->client_key_file);
    headers_free(c);
}

void dp_upstream_config_free(dp_upstream_config *cfg)
{
    if (!cfg)
        return;
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++)
        connection_free(&cfg->conn[s]);
    dp_upstream_config_init(cfg);
}

/* strdup of an optional string; *ok is cleared when memory runs out. */
static char *dup_opt(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

int dp_upstream_config_copy(dp_upstream_config *dst, const dp_upstream_config *src)
{
    bool ok = true;

    *dst = *src;
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        dp_upstream_connection *d = &dst->conn[s];
        const dp_upstream_connection *c = &src->conn[s];
        d->endpoint = dup_opt(c->endpoint, &ok);
        d->ca_file = dup_opt(c->ca_file, &ok);
        d->client_cert_file = dup_opt(c->client_cert_file, &ok);
        d->client_key_file = dup_opt(c->client_key_file, &ok);
        for (size_t i = 0; i < c->header_count; i++) {
            d->headers[i].key = dup_opt(c->headers[i].key, &ok);
            d->headers[i].value = dup_opt(c->headers[i].value, &ok);
        }
    }
    if (!ok) {
        dp_upstream_config_free(dst);
        return DP_UPSTREAM_CONFIG_ENOMEM;
    }
    return 0;
}

/* Replace *slot with a copy of value (NULL or "" clears it). */
static int set_string(char **slot, const char *value)
{
    char *copy = NULL;

    if (value && *value) {
        if (strlen(value) > DP_UPSTREAM_MAX_STRING)
            return DP_UPSTREAM_CONFIG_EINVAL;
        copy = strdup(value);
        if (!copy)
            return DP_UPSTREAM_CONFIG_ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

int dp_upstream_config_set_endpoint(dp_upstream_config *cfg, dp_upstream_signal signal,
                                    const char *endpoint)
{
    if (!cfg || !endpoint || (int)signal < 0 || signal >= DP_UPSTREAM_SIGNAL_COUNT)
        return DP_UPSTREAM_CONFIG_EINVAL;

    dp_upstream_connection *c = &cfg->conn[signal];
    const char *target = endpoint;
    int scheme = 0; /* 0 none, 1 http, 2 https */

    if (strncasecmp(target, "http://", 7) == 0) {
        target += 7;
        scheme = 1;
    } else if (strncasecmp(target, "https://", 8) == 0) {
        target += 8;
        scheme = 2;
    }
    /* A gRPC target has no path; a trailing "/" is common in URLs and
     * harmless, anything after it is not something we can honour. */
    size_t len = strcspn(target, "/");
    if (target[len] == '/' && target[len + 1] != '\0') {
        dp_log_error("upstream", "%s endpoint: a gRPC endpoint has no path",
                     dp_upstream_signal_name(signal));
        return DP_UPSTREAM_CONFIG_EINVAL;
    }
    if (len == 0 || len > DP_UPSTREAM_MAX_STRING) {
        dp_log_error("upstream", "%s endpoint: expected HOST:PORT or http(s)://HOST:PORT",
                     dp_upstream_signal_name(signal));
        return DP_UPSTREAM_CONFIG_EINVAL;
    }
    char *copy = strndup(target, len);
    if (!copy)
        return DP_UPSTREAM_CONFIG_ENOMEM;
    free(c->endpoint);
    c->endpoint = copy;
    if (scheme == 1)
        c->insecure = true;
    else if (scheme == 2)
        c->insecure = false;
    return 0;
}

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = tolower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* Percent-decode s[0..len) into a new string. A '%' not followed by two hex
 * digits is kept literally, as the SDKs that accept unencoded values do. */
static char *percent_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void trim(const char **start, const char **end)
{
    while (*start < *end && isspace((unsigned char)**start))
        (*start)++;
    while (*end > *start && isspace((unsigned char)(*end)[-1]))
        (*end)--;
}

/* gRPC metadata keys: lowercase letters, digits, '-', '_', '.'. */
static bool header_key_valid(const char *k)
{
    if (!*k)
        return false;
    for (; *k; k++) {
        unsigned char ch = (unsigned char)*k;
        if (!(islower(ch) || isdigit(ch) || ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

int dp_upstream_config_set_headers(dp_upstream_config *cfg, dp_upstream_signal signal,
                                   const char *list, const char *what)
{
    dp_upstream_connection parsed = {0};
    int result = DP_UPSTREAM_CONFIG_EINVAL;
    const char *p = list;

    if (!cfg || !list || (int)signal < 0 || signal >= DP_UPSTREAM_SIGNAL_COUNT)
        return DP_UPSTREAM_CONFIG_EINVAL;
    if (!what)
        what = "headers";

    for (size_t item = 1; *p; item++) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *ks = p, *ke = eq ? eq : end;
        trim(&ks, &ke);
        if (!eq && ks == ke) { /* empty item, e.g. a trailing comma */
            p = *end ? end + 1 : end;
            continue;
        }
        if (!eq || ks == ke) {
            dp_log_error("upstream", "%s: item %zu is not key=value", what, item);
            goto out;
        }
        if (parsed.header_count == DP_UPSTREAM_MAX_HEADERS) {
            dp_log_error("upstream", "%s: more than %d headers", what, DP_UPSTREAM_MAX_HEADERS);
            goto out;
        }
        const char *vs = eq + 1, *ve = end;
        trim(&vs, &ve);
        if ((size_t)(ke - ks) > DP_UPSTREAM_MAX_STRING ||
            (size_t)(ve - vs) > DP_UPSTREAM_MAX_STRING) {
            dp_log_error("upstream", "%s: item %zu is too long", what, item);
            goto out;
        }
        dp_upstream_header *h = &parsed.headers[parsed.header_count];
        h->key = percent_decode(ks, (size_t)(ke - ks));
        h->value = percent_decode(vs, (size_t)(ve - vs));
        if (h->key)
            parsed.header_count++;
        if (!h->key || !h->value) {
            result = DP_UPSTREAM_CONFIG_ENOMEM;
            goto out;
        }
        for (char *k = h->key; *k; k++)
            *k = (char)tolower((unsigned char)*k);
        if (!header_key_valid(h->key)) {
            dp_log_error("upstream", "%s: item %zu has an invalid header name", what, item);
            goto out;
        }
        /* Values travel as HTTP/2 header text: control characters would
         * be refused by gRPC at call time, so refuse them now. */
        for (const char *v = h->value; *v; v++) {
            if ((unsigned char)*v < 0x20 || *v == 0x7f) {
                dp_log_error("upstream", "%s: item %zu has a control character in its value", what,
                             item);
                goto out;
            }
        }
        p = *end ? end + 1 : end;
    }

    headers_free(&cfg->conn[signal]);
    memcpy(cfg->conn[signal].headers, parsed.headers, sizeof(parsed.headers));
    cfg->conn[signal].header_count = parsed.header_count;
    parsed.header_count = 0;
    result = 0;
out:
    headers_free(&parsed);
    return result;
}

/* The signal-specific variable if set and non-empty, else the generic one. */
static const char *env_lookup(dp_upstream_signal s, const char *name, char *used, size_t used_len)
{
    char var[96];
    const char *v;

    snprintf(var, sizeof(var), "OTEL_EXPORTER_OTLP_%s_%s", signal_env[s], name);
    v = getenv(var);
    if (!v || !*v) {
        snprintf(var, sizeof(var), "OTEL_EXPORTER_OTLP_%s", name);
        v = getenv(var);
    }
    snprintf(used, used_len, "%s", var);
    return (v && *v) ? v : NULL;
}

static int parse_bool(const char *v, bool *out)
{
    if (strcasecmp(v, "true") == 0) {
        *out = true;
        return 0;
    }
    if (strcasecmp(v, "false") == 0) {
        *out = false;
        return 0;
    }
    return -1;
}

static int env_apply_signal(dp_upstream_config *cfg, dp_upstream_signal s)
{
    dp_upstream_connection *c = &cfg->conn[s];
    char var[96];
    const char *v;
    int rc;

    /* INSECURE first: an http:// or https:// endpoint overrides it. */
    if ((v = env_lookup(s, "INSECURE", var, sizeof(var)))) {
        if (parse_bool(v, &c->insecure) != 0) {
            dp_log_error("upstream", "%s: expected true or false", var);
            return DP_UPSTREAM_CONFIG_EINVAL;
        }
    }
    if ((v = env_lookup(s, "ENDPOINT", var, sizeof(var)))) {
        if ((rc = dp_upstream_config_set_endpoint(cfg, s, v)) != 0) {
            dp_log_error("upstream", "%s: invalid endpoint", var);
            return rc;
        }
    }
    if ((v = env_lookup(s, "CERTIFICATE", var, sizeof(var))) &&
        (rc = set_string(&c->ca_file, v)) != 0)
        return rc;
    if ((v = env_lookup(s, "CLIENT_CERTIFICATE", var, sizeof(var))) &&
        (rc = set_string(&c->client_cert_file, v)) != 0)
        return rc;
    if ((v = env_lookup(s, "CLIENT_KEY", var, sizeof(var))) &&
        (rc = set_string(&c->client_key_file, v)) != 0)
        return rc;
    if ((v = env_lookup(s, "HEADERS", var, sizeof(var)))) {
        if ((rc = dp_upstream_config_set_headers(cfg, s, v, var)) != 0)
            return rc;
    }
    if ((v = env_lookup(s, "COMPRESSION", var, sizeof(var)))) {
        if (strcasecmp(v, "gzip") == 0) {
            c->compression = DP_UPSTREAM_COMPRESSION_GZIP;
        } else if (strcasecmp(v, "none") == 0) {
            c->compression = DP_UPSTREAM_COMPRESSION_NONE;
        } else {
            dp_log_error("upstream", "%s: expected gzip or none", var);
            return DP_UPSTREAM_CONFIG_EINVAL;
        }
    }
    if ((v = env_lookup(s, "TIMEOUT", var, sizeof(var)))) {
        char *end;
        errno = 0;
        unsigned long ms = strtoul(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-' || ms == 0 || ms > 3600000) {
            dp_log_error("upstream", "%s: expected milliseconds between 1 and 3600000", var);
            return DP_UPSTREAM_CONFIG_EINVAL;
        }
        c->timeout_ms = (uint32_t)ms;
    }
    return 0;
}

int dp_upstream_config_from_env(dp_upstream_config *cfg)
{
    if (!cfg)
        return DP_UPSTREAM_CONFIG_EINVAL;
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        int rc = env_apply_signal(cfg, (dp_upstream_signal)s);
        if (rc != 0)
            return rc;
    }
    return 0;
}

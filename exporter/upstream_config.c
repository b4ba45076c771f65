/*
 * Upstream client settings: the upstream section of the config file (keys,
 * defaults, the checks of an endpoint and a header list; the endpoint
 * rules themselves are in upstream_endpoint.c), the
 * OTEL_EXPORTER_OTLP_* environment variables as SDKs read them, the
 * resolution of those layers for one signal, and header lists.
 *
 * The environment is read once at start-up, so this code favours clear error
 * messages over speed. Header values are secrets: errors name the variable
 * or key and the position, never the value.
 */
#include "upstream_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "log.h"
#include "upstream_endpoint.h"

static const char *const signal_names[DP_UPSTREAM_SIGNAL_COUNT] = {"traces", "metrics", "logs"};
static const char *const signal_env[DP_UPSTREAM_SIGNAL_COUNT] = {"TRACES", "METRICS", "LOGS"};

const char *dp_upstream_signal_name(dp_upstream_signal signal)
{
    if ((int)signal < 0 || signal >= DP_UPSTREAM_SIGNAL_COUNT)
        return "unknown";
    return signal_names[signal];
}

/* ---- endpoints ------------------------------------------------------------- */

/* The upstream.endpoint key: syntax only. Whether a path is allowed depends
 * on the protocol, which may be set later or by the environment, so
 * dp_upstream_config_check() judges that once the layers are known. It also
 * refuses user information, because its message does not quote the value:
 * this one would, and the value holds a password. */
static const char *endpoint_problem(const char *value)
{
    dp_upstream_endpoint e;
    if (!value[0])
        return NULL;
    const char *problem = dp_upstream_endpoint_parse(value, &e);
    return problem == dp_upstream_endpoint_userinfo ? NULL : problem;
}

/* ---- header lists ---------------------------------------------------------- */

/* name=value[,name=value...] as a user writes it in the config file or a
 * flag: names are HTTP tokens, values may carry %XX escapes. Empty = no
 * headers. Stricter than what SDKs accept in OTEL_EXPORTER_OTLP_HEADERS, so
 * a mistake in the file is found where it was made. */
static bool valid_header_list(const char *h)
{
    const char *p = h;
    while (*p == ' ')
        p++;
    if (!*p)
        return true;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ',') {
            if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.'))
                return false;
            p++;
        }
        if (p == name || *p != '=')
            return false;
        p++;
        while (*p && *p != ',') {
            if (*p == '%') {
                if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]))
                    return false;
                p += 2;
            }
            p++;
        }
        if (!*p)
            return true;
        p++; /* ',' */
    }
}

static const char *header_list_problem(const char *value)
{
    if (valid_header_list(value))
        return NULL;
    return "not a list of name=value pairs separated by commas, with names of letters, digits "
           "and -_. and values percent-encoded";
}

/* Percent-decode s[0..len) into a new string. A '%' not followed by two hex
 * digits is kept literally, as the SDKs that accept unencoded values do.
 * *out_len is the decoded length: a decoded %00 makes it longer than the
 * string reads, which the caller refuses rather than cut the text there. */
static char *percent_decode(const char *s, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = dp_hex_digit(s[i + 1])) >= 0 &&
            (lo = dp_hex_digit(s[i + 2])) >= 0) {
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    *out_len = o;
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

void dp_upstream_headers_free(dp_upstream_header *headers, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(headers[i].key);
        /* Secrets do not linger in freed memory longer than necessary. */
        if (headers[i].value) {
            memset(headers[i].value, 0, strlen(headers[i].value));
            free(headers[i].value);
        }
        headers[i].key = NULL;
        headers[i].value = NULL;
    }
}

int dp_upstream_headers_parse(const char *list, const char *what,
                              dp_upstream_header out[DP_UPSTREAM_MAX_HEADERS], size_t *count)
{
    int result = DP_UPSTREAM_CONFIG_EINVAL;
    size_t n = 0;
    const char *p = list;

    if (!list || !out || !count)
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
        if (n == DP_UPSTREAM_MAX_HEADERS) {
            dp_log_error("upstream", "%s: more than %d headers", what, DP_UPSTREAM_MAX_HEADERS);
            goto out;
        }
        const char *vs = eq + 1, *ve = end;
        trim(&vs, &ve);
        dp_upstream_header *h = &out[n];
        size_t key_len = 0, value_len = 0;
        h->key = percent_decode(ks, (size_t)(ke - ks), &key_len);
        h->value = percent_decode(vs, (size_t)(ve - vs), &value_len);
        n++;
        if (!h->key || !h->value) {
            result = DP_UPSTREAM_CONFIG_ENOMEM;
            goto out;
        }
        for (char *k = h->key; *k; k++)
            *k = (char)tolower((unsigned char)*k);
        if (strlen(h->key) != key_len || !header_key_valid(h->key)) {
            dp_log_error("upstream", "%s: item %zu has an invalid header name", what, item);
            goto out;
        }
        /* Values travel as HTTP/2 header text: control characters would
         * be refused by gRPC at call time, so refuse them now. */
        for (const char *v = h->value; v < h->value + value_len; v++) {
            if ((unsigned char)*v < 0x20 || *v == 0x7f) {
                dp_log_error("upstream", "%s: item %zu has a control character in its value", what,
                             item);
                goto out;
            }
        }
        p = *end ? end + 1 : end;
    }
    *count = n;
    n = 0;
    result = 0;
out:
    dp_upstream_headers_free(out, n);
    return result;
}

/* ---- the environment ------------------------------------------------------- */

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

/* Copy a variable's value into a connection's field of `cap` bytes. */
static int env_string(const char *var, const char *v, size_t len, char *field, size_t cap)
{
    if (len >= cap) {
        dp_log_error("upstream", "%s: too long (at most %zu bytes)", var, cap - 1);
        return DP_UPSTREAM_CONFIG_EINVAL;
    }
    memcpy(field, v, len);
    field[len] = '\0';
    return 0;
}

#define ENV_STRING(var, v, field) env_string(var, v, strlen(v), field, sizeof(field))

static int env_read_signal(dp_upstream_signal s, dp_upstream_connection *c)
{
    char var[96];
    const char *v;
    int rc;

    /* INSECURE first: an http:// or https:// endpoint overrides it. */
    if ((v = env_lookup(s, "INSECURE", var, sizeof(var)))) {
        if (strcasecmp(v, "true") == 0) {
            c->transport = DP_UPSTREAM_PLAINTEXT;
        } else if (strcasecmp(v, "false") == 0) {
            c->transport = DP_UPSTREAM_TLS;
        } else {
            dp_log_error("upstream", "%s: expected true or false", var);
            return DP_UPSTREAM_CONFIG_EINVAL;
        }
    }
    if ((v = env_lookup(s, "PROTOCOL", var, sizeof(var)))) {
        if (strcasecmp(v, "grpc") == 0) {
            c->protocol = DP_UPSTREAM_GRPC;
        } else if (strcasecmp(v, "http/protobuf") == 0) {
            c->protocol = DP_UPSTREAM_HTTP_PROTOBUF;
        } else if (strcasecmp(v, "http/json") == 0) {
            dp_log_error("upstream", "%s: http/json is not supported; use grpc or http/protobuf",
                         var);
            return DP_UPSTREAM_CONFIG_EINVAL;
        } else {
            dp_log_error("upstream", "%s: expected grpc or http/protobuf", var);
            return DP_UPSTREAM_CONFIG_EINVAL;
        }
    }
    if ((v = env_lookup(s, "ENDPOINT", var, sizeof(var)))) {
        dp_upstream_endpoint e;
        const char *problem = dp_upstream_endpoint_parse(v, &e);
        if (problem) {
            /* not quoted: a value with user information holds a password */
            dp_log_error("upstream", "%s: the endpoint %s", var, problem);
            return DP_UPSTREAM_CONFIG_EINVAL;
        }
        /* host and path without the scheme, which decides the transport */
        if ((rc = env_string(var, e.host, e.host_len + e.path_len, c->endpoint,
                             sizeof(c->endpoint))) != 0)
            return rc;
        /* the signal's own variable is a URL used as-is; the generic one a base */
        c->endpoint_exact = strcmp(var, "OTEL_EXPORTER_OTLP_ENDPOINT") != 0;
        if (e.transport != DP_UPSTREAM_TRANSPORT_UNSET)
            c->transport = e.transport;
    }
    if ((v = env_lookup(s, "CERTIFICATE", var, sizeof(var))) &&
        (rc = ENV_STRING(var, v, c->ca_file)) != 0)
        return rc;
    if ((v = env_lookup(s, "CLIENT_CERTIFICATE", var, sizeof(var))) &&
        (rc = ENV_STRING(var, v, c->client_cert_file)) != 0)
        return rc;
    if ((v = env_lookup(s, "CLIENT_KEY", var, sizeof(var))) &&
        (rc = ENV_STRING(var, v, c->client_key_file)) != 0)
        return rc;
    if ((v = env_lookup(s, "HEADERS", var, sizeof(var)))) {
        dp_upstream_header parsed[DP_UPSTREAM_MAX_HEADERS];
        size_t count;
        if ((rc = dp_upstream_headers_parse(v, var, parsed, &count)) != 0)
            return rc;
        dp_upstream_headers_free(parsed, count);
        if ((rc = ENV_STRING(var, v, c->headers)) != 0)
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
        c->timeout_ms = ms;
    }
    return 0;
}

int dp_upstream_config_from_env(dp_upstream_config *cfg)
{
    dp_upstream_connection read[DP_UPSTREAM_SIGNAL_COUNT];
    if (!cfg)
        return DP_UPSTREAM_CONFIG_EINVAL;
    memset(read, 0, sizeof(read));
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        int rc = env_read_signal((dp_upstream_signal)s, &read[s]);
        if (rc != 0) {
            memset(read, 0, sizeof(read)); /* header values are secrets */
            return rc;
        }
    }
    memcpy(cfg->signal, read, sizeof(read));
    memset(read, 0, sizeof(read));
    return 0;
}

/* ---- resolving the layers -------------------------------------------------- */

/* `over`'s string if it sets one, else `under`'s (both of one capacity). */
#define LAYER_STRING(out, over, under, field)                                                      \
    memcpy((out)->field, (over)->field[0] ? (over)->field : (under)->field, sizeof((out)->field))

/* Split the endpoint of the winning layer into host and path (the path as
 * the protocol wants it); returns the scheme's transport. A layer's
 * endpoint was checked when it was set, so a parse failure cannot happen
 * from the config file or the environment; should it, the signal is not
 * exported rather than sent somewhere unintended. */
static int resolve_endpoint(const char *endpoint, bool exact, dp_upstream_signal s,
                            dp_upstream_connection *out)
{
    dp_upstream_endpoint e;
    char host[sizeof(out->endpoint)];

    out->path[0] = '\0';
    if (!endpoint[0] || dp_upstream_endpoint_parse(endpoint, &e) != NULL) {
        out->endpoint[0] = '\0';
        return DP_UPSTREAM_TRANSPORT_UNSET;
    }
    if (out->protocol == DP_UPSTREAM_HTTP_PROTOBUF) {
        /* "" when it does not fit: dp_upstream_config_check() says so */
        (void)dp_upstream_endpoint_http_path(&e, exact, s, out->path, sizeof(out->path));
    } else {
        snprintf(out->path, sizeof(out->path), "%.*s", (int)e.path_len, e.path);
    }
    /* e.host points into `endpoint`, which may be out->endpoint itself */
    snprintf(host, sizeof(host), "%.*s", (int)e.host_len, e.host);
    memcpy(out->endpoint, host, sizeof(host));
    return e.transport;
}

void dp_upstream_config_connection(const dp_upstream_config *cfg, dp_upstream_signal s,
                                   dp_upstream_connection *out)
{
    const dp_upstream_connection *all = &cfg->all, *env = &cfg->signal[s];
    int scheme;

    *out = *env;
    if (all->protocol != DP_UPSTREAM_PROTOCOL_UNSET)
        out->protocol = all->protocol;
    else if (out->protocol == DP_UPSTREAM_PROTOCOL_UNSET)
        out->protocol = DP_UPSTREAM_GRPC;
    /* the keys' endpoint is a base for every signal, like the generic variable */
    if (all->endpoint[0])
        scheme = resolve_endpoint(all->endpoint, false, s, out);
    else
        scheme = resolve_endpoint(env->endpoint, env->endpoint_exact, s, out);
    out->endpoint_exact = false;
    /* an explicit insecure key beats the scheme, which beats the environment */
    if (all->transport != DP_UPSTREAM_TRANSPORT_UNSET)
        out->transport = all->transport;
    else if (scheme != DP_UPSTREAM_TRANSPORT_UNSET)
        out->transport = scheme;
    else if (out->transport == DP_UPSTREAM_TRANSPORT_UNSET)
        out->transport = DP_UPSTREAM_TLS;
    LAYER_STRING(out, all, env, ca_file);
    LAYER_STRING(out, all, env, client_cert_file);
    LAYER_STRING(out, all, env, client_key_file);
    LAYER_STRING(out, all, env, headers);
    if (all->compression != DP_UPSTREAM_COMPRESSION_UNSET)
        out->compression = all->compression;
    else if (out->compression == DP_UPSTREAM_COMPRESSION_UNSET)
        out->compression = DP_UPSTREAM_COMPRESSION_NONE;
    if (all->timeout_ms)
        out->timeout_ms = all->timeout_ms;
    else if (!out->timeout_ms)
        out->timeout_ms = DP_UPSTREAM_DEFAULT_TIMEOUT_MS;
}

int dp_upstream_config_check(const dp_upstream_config *cfg)
{
    dp_upstream_connection c;
    int result = 0;

    if (!cfg)
        return DP_UPSTREAM_CONFIG_EINVAL;
    dp_upstream_endpoint e;
    if (cfg->all.endpoint[0] &&
        dp_upstream_endpoint_parse(cfg->all.endpoint, &e) == dp_upstream_endpoint_userinfo) {
        dp_log_error("upstream", "upstream.endpoint: the endpoint %s",
                     dp_upstream_endpoint_userinfo);
        return DP_UPSTREAM_CONFIG_EINVAL;
    }
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT && result == 0; s++) {
        dp_upstream_config_connection(cfg, (dp_upstream_signal)s, &c);
        if (!c.endpoint[0])
            continue;
        const char *name = dp_upstream_signal_name((dp_upstream_signal)s);
        if (c.protocol == DP_UPSTREAM_GRPC &&
            !(c.path[0] == '\0' || (c.path[0] == '/' && c.path[1] == '\0'))) {
            dp_log_error("upstream",
                         "%s: the endpoint %s%s has a path, which OTLP/gRPC cannot use (set "
                         "upstream.protocol: http/protobuf, or remove the path)",
                         name, c.endpoint, c.path);
            result = DP_UPSTREAM_CONFIG_EINVAL;
        } else if (c.protocol == DP_UPSTREAM_HTTP_PROTOBUF && !c.path[0]) {
            dp_log_error("upstream", "%s: the endpoint %s with the signal's path is too long", name,
                         c.endpoint);
            result = DP_UPSTREAM_CONFIG_EINVAL;
        }
    }
    memset(&c, 0, sizeof(c)); /* it held the header values */
    return result;
}

const char *dp_upstream_protocol_name(int protocol)
{
    return protocol == DP_UPSTREAM_HTTP_PROTOBUF ? "OTLP/HTTP" : "OTLP/gRPC";
}

void dp_upstream_connection_url(const dp_upstream_connection *c, char *out, size_t cap)
{
    if (c->protocol == DP_UPSTREAM_HTTP_PROTOBUF)
        snprintf(out, cap, "%s://%s%s", c->transport == DP_UPSTREAM_PLAINTEXT ? "http" : "https",
                 c->endpoint, c->path);
    else
        snprintf(out, cap, "%s", c->endpoint);
}

bool dp_upstream_config_active(const dp_upstream_config *cfg)
{
    dp_upstream_connection traces;
    dp_upstream_config_connection(cfg, DP_UPSTREAM_TRACES, &traces);
    bool active = traces.endpoint[0] != '\0';
    memset(&traces, 0, sizeof(traces)); /* it holds the header values */
    return active;
}

/* ---- the upstream section -------------------------------------------------- */

/* "unset" lets an OTEL_EXPORTER_OTLP_* variable decide (env < file < flags). */
static const dp_config_enum_value insecure_values[] = {
    {"unset", DP_UPSTREAM_TRANSPORT_UNSET},
    {"false", DP_UPSTREAM_TLS},
    {"true", DP_UPSTREAM_PLAINTEXT},
    {NULL, 0},
};

static const dp_config_enum_value protocol_values[] = {
    {"unset", DP_UPSTREAM_PROTOCOL_UNSET},
    {"grpc", DP_UPSTREAM_GRPC},
    {"http/protobuf", DP_UPSTREAM_HTTP_PROTOBUF},
    {NULL, 0},
};

static const dp_config_enum_value compression_values[] = {
    {"unset", DP_UPSTREAM_COMPRESSION_UNSET},
    {"none", DP_UPSTREAM_COMPRESSION_NONE},
    {"gzip", DP_UPSTREAM_COMPRESSION_GZIP},
    {NULL, 0},
};

#define KEY(...) DP_CONFIG_KEY(dp_upstream_config, __VA_ARGS__)
#define KEY_CHECKED(...) DP_CONFIG_KEY_CHECKED(dp_upstream_config, __VA_ARGS__)

static const dp_config_key upstream_keys[] = {
    KEY_CHECKED("endpoint", DP_CFG_STRING, all.endpoint, "", 0, 0, NULL, "--upstream", 0,
                endpoint_problem,
                "Upstream: HOST:PORT or http(s)://HOST:PORT (http:// = plaintext, https:// = TLS); "
                "http/protobuf appends /v1/traces, /v1/metrics or /v1/logs to its path. Empty = "
                "OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT if set, else no upstream: runs are only "
                "reported."),
    KEY("protocol", DP_CFG_ENUM, all.protocol, "unset", 0, 0, protocol_values,
        "--upstream-protocol",
        "grpc or http/protobuf (POST with protobuf bodies). unset = "
        "OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL, else grpc."),
    KEY("insecure", DP_CFG_ENUM, all.transport, "unset", 0, 0, insecure_values,
        "--upstream-insecure",
        "true = plaintext, false = TLS. unset = OTEL_EXPORTER_OTLP_INSECURE, else TLS."),
    KEY("ca_file", DP_CFG_STRING, all.ca_file, "", 0, 0, NULL, NULL,
        "PEM file of the CAs that sign the upstream's certificate. Empty = system roots."),
    KEY("client_cert_file", DP_CFG_STRING, all.client_cert_file, "", 0, 0, NULL, NULL,
        "PEM client certificate chain for mutual TLS. Empty = none."),
    KEY("client_key_file", DP_CFG_STRING, all.client_key_file, "", 0, 0, NULL, NULL,
        "PEM private key of client_cert_file."),
    KEY_CHECKED(
        "headers", DP_CFG_STRING, all.headers, "", 0, 0, NULL, NULL,
        DP_CONFIG_SECRET | DP_CONFIG_HEADER_LIST, header_list_problem,
        "Extra request headers: a YAML mapping (or k1=v1,k2=v2 with --set). Values are never "
        "logged."),
    KEY("compression", DP_CFG_ENUM, all.compression, "unset", 0, 0, compression_values, NULL,
        "Compression on the wire. unset = OTEL_EXPORTER_OTLP_COMPRESSION, else none."),
    KEY("timeout", DP_CFG_DURATION, all.timeout_ms, "0", 0, DP_CONFIG_HOUR_MS, NULL, NULL,
        "Deadline of one export attempt. 0 = OTEL_EXPORTER_OTLP_TIMEOUT, else 10s."),
    KEY("queue_max_spans", DP_CFG_UINT, queue_max_items, "1000000", 1, 1e10, NULL, NULL,
        "Items (spans; data points, log records) queued per signal. Beyond it: backpressure."),
    KEY("queue_max_bytes", DP_CFG_SIZE, queue_max_bytes, "256MiB", 64.0 * DP_CONFIG_KIB,
        64.0 * DP_CONFIG_GIB, NULL, NULL,
        "Encoded bytes queued per signal. Beyond it: backpressure."),
    KEY("batch_max_spans", DP_CFG_UINT, batch_max_items, "8192", 1, 10000000, NULL, NULL,
        "Most items in one export call."),
    /* 4 MB (4,000,000 bytes): under the 4 MiB (4,194,304) a Collector's
     * OTLP/gRPC receiver takes by default (max_recv_msg_size_mib: 4), with
     * headroom for a peer that counts a little more than the message. */
    KEY("batch_max_bytes", DP_CFG_SIZE, batch_max_bytes, "4MB", DP_CONFIG_KIB, 1.0 * DP_CONFIG_GIB,
        NULL, NULL,
        "Most encoded bytes in one export call; keep it under the upstream's receive limit "
        "(a Collector's is 4MiB). Larger runs and derived metrics are split into several "
        "requests; only a single span larger than this goes alone."),
    KEY("batch_timeout", DP_CFG_DURATION, batch_timeout_ms, "200ms", 0, DP_CONFIG_HOUR_MS, NULL,
        NULL, "A batch that is not full is sent this long after its oldest item."),
    KEY("retry_initial_backoff", DP_CFG_DURATION, retry_initial_ms, "100ms", 1, DP_CONFIG_HOUR_MS,
        NULL, NULL,
        "First retry delay after a retryable answer; doubles up to retry_max_backoff, with "
        "jitter."),
    KEY("retry_max_backoff", DP_CFG_DURATION, retry_max_ms, "5s", 1, DP_CONFIG_HOUR_MS, NULL, NULL,
        "Longest retry delay (a RetryInfo or Retry-After delay from the upstream wins)."),
    KEY("retry_max_elapsed", DP_CFG_DURATION, retry_max_elapsed_ms, "0", 0, DP_CONFIG_DAY_MS, NULL,
        NULL,
        "Give a batch up after retrying this long. 0 = never: the queue fills and SDKs are "
        "answered UNAVAILABLE instead of losing data."),
    KEY("shutdown_timeout", DP_CFG_DURATION, shutdown_timeout_ms, "10s", 0, DP_CONFIG_HOUR_MS, NULL,
        NULL,
        "On SIGTERM, how long to keep delivering what is queued; what is left is counted and "
        "logged."),
    KEY("concurrency", DP_CFG_UINT, concurrency, "4", 1, DP_UPSTREAM_MAX_CONCURRENCY, NULL, NULL,
        "Export calls in flight per signal. More keeps a distant or slow upstream busy."),
};

const dp_config_section dp_upstream_section = DP_CONFIG_SECTION(
    "upstream",
    "Where enriched spans, derived metrics and forwarded metrics and logs are sent "
    "(OTLP/gRPC or OTLP/HTTP). Precedence: OTEL_EXPORTER_OTLP_* variables < config file < flags.",
    upstream_keys);

void dp_upstream_config_defaults(dp_upstream_config *cfg)
{
    dp_config_section_init(cfg, sizeof(*cfg), &dp_upstream_section);
}

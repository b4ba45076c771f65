/*
 * The configuration tables (one per section) and the list of sections.
 */
#include "config_table.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define KEY(sec, ...) DP_CONFIG_KEY(dp_config, __VA_ARGS__)

#define KIB DP_CONFIG_KIB
#define MIB DP_CONFIG_MIB
#define GIB DP_CONFIG_GIB
#define HOUR_MS DP_CONFIG_HOUR_MS
#define DAY_MS DP_CONFIG_DAY_MS

/* name=value[,name=value...] as in OTEL_EXPORTER_OTLP_HEADERS: names are
 * HTTP tokens, values may carry %XX escapes. Empty = no headers. */
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
    return valid_header_list(value) ? NULL
                                    : "not a list of name=value pairs separated by commas, with "
                                      "names of letters, digits and -_. and values percent-encoded";
}

static const dp_config_enum_value format_values[] = {
    {"text", DP_FORMAT_TEXT},
    {"json", DP_FORMAT_JSON},
    {NULL, 0},
};

static const dp_config_enum_value color_values[] = {
    {"auto", -1},
    {"always", 1},
    {"never", 0},
    {NULL, 0},
};

static const dp_config_enum_value reports_values[] = {
    {"auto", DP_REPORTS_AUTO},
    {"always", DP_REPORTS_ALWAYS},
    {"never", DP_REPORTS_NEVER},
    {NULL, 0},
};

/* "unset" lets an OTEL_EXPORTER_OTLP_* variable decide (env < file < flags). */
static const dp_config_enum_value insecure_values[] = {
    {"unset", -1},
    {"false", 0},
    {"true", 1},
    {NULL, 0},
};

static const dp_config_enum_value compression_values[] = {
    {"unset", -1},
    {"none", 0},
    {"gzip", 1},
    {NULL, 0},
};

static const dp_config_enum_value log_level_values[] = {
    {"error", 0}, {"warn", 1}, {"info", 2}, {"debug", 3}, {NULL, 0},
};

static const dp_config_key output_keys[] = {
    KEY(output, "format", DP_CFG_ENUM, output.format, "text", 0, 0, format_values, "--format",
        "Report format: text for people, json for one JSON object per run on one line."),
    KEY(output, "color", DP_CFG_ENUM, output.color, "auto", 0, 0, color_values, "--color",
        "ANSI colours in text reports. auto = only when stdout is a terminal."),
    KEY(output, "waterfall_width", DP_CFG_UINT, output.waterfall_width, "50", 10, 500, NULL, NULL,
        "Columns of the waterfall chart's time axis in text reports."),
    KEY(output, "reports", DP_CFG_ENUM, output.reports, "auto", 0, 0, reports_values, "--reports",
        "Print run reports on stdout. auto = only when no upstream is configured."),
};

static const dp_config_key upstream_keys[] = {
    KEY(upstream, "endpoint", DP_CFG_STRING, upstream.endpoint, "", 0, 0, NULL, "--upstream",
        "OTLP/gRPC upstream, HOST:PORT (http:// = plaintext, https:// = TLS). Empty = "
        "OTEL_EXPORTER_OTLP_ENDPOINT if set, else no upstream: runs are only reported."),
    KEY(upstream, "insecure", DP_CFG_ENUM, upstream.insecure, "unset", 0, 0, insecure_values,
        "--upstream-insecure",
        "true = plaintext, false = TLS. unset = OTEL_EXPORTER_OTLP_INSECURE, else TLS."),
    KEY(upstream, "ca_file", DP_CFG_STRING, upstream.ca_file, "", 0, 0, NULL, NULL,
        "PEM file of the CAs that sign the upstream's certificate. Empty = system roots."),
    KEY(upstream, "client_cert_file", DP_CFG_STRING, upstream.client_cert_file, "", 0, 0, NULL,
        NULL, "PEM client certificate chain for mutual TLS. Empty = none."),
    KEY(upstream, "client_key_file", DP_CFG_STRING, upstream.client_key_file, "", 0, 0, NULL, NULL,
        "PEM private key of client_cert_file."),
    DP_CONFIG_KEY_CHECKED(
        dp_config, "headers", DP_CFG_STRING, upstream.headers, "", 0, 0, NULL, NULL,
        DP_CONFIG_SECRET | DP_CONFIG_HEADER_LIST, header_list_problem,
        "Extra request headers: a YAML mapping (or k1=v1,k2=v2 with --set). Values are never "
        "logged."),
    KEY(upstream, "compression", DP_CFG_ENUM, upstream.compression, "unset", 0, 0,
        compression_values, NULL,
        "Compression on the wire. unset = OTEL_EXPORTER_OTLP_COMPRESSION, else none."),
    KEY(upstream, "timeout", DP_CFG_DURATION, upstream.timeout_ms, "0", 0, HOUR_MS, NULL, NULL,
        "Deadline of one export attempt. 0 = OTEL_EXPORTER_OTLP_TIMEOUT, else 10s."),
    KEY(upstream, "queue_max_spans", DP_CFG_UINT, upstream.queue_max_spans, "1000000", 1, 1e10,
        NULL, NULL,
        "Items (spans; data points, log records) queued per signal. Beyond it: backpressure."),
    KEY(upstream, "queue_max_bytes", DP_CFG_SIZE, upstream.queue_max_bytes, "256MiB", 64.0 * KIB,
        64.0 * GIB, NULL, NULL, "Encoded bytes queued per signal. Beyond it: backpressure."),
    KEY(upstream, "batch_max_spans", DP_CFG_UINT, upstream.batch_max_spans, "8192", 1, 10000000,
        NULL, NULL, "Most items in one export call."),
    KEY(upstream, "batch_max_bytes", DP_CFG_SIZE, upstream.batch_max_bytes, "4MiB", KIB, 1.0 * GIB,
        NULL, NULL, "Most encoded bytes in one export call (one request may exceed it)."),
    KEY(upstream, "batch_timeout", DP_CFG_DURATION, upstream.batch_timeout_ms, "200ms", 0, HOUR_MS,
        NULL, NULL, "A batch that is not full is sent this long after its oldest item."),
    KEY(upstream, "retry_initial_backoff", DP_CFG_DURATION, upstream.retry_initial_backoff_ms,
        "100ms", 1, HOUR_MS, NULL, NULL,
        "First retry delay after a retryable answer; doubles up to retry_max_backoff, with "
        "jitter."),
    KEY(upstream, "retry_max_backoff", DP_CFG_DURATION, upstream.retry_max_backoff_ms, "5s", 1,
        HOUR_MS, NULL, NULL, "Longest retry delay (a RetryInfo delay from the upstream wins)."),
    KEY(upstream, "retry_max_elapsed", DP_CFG_DURATION, upstream.retry_max_elapsed_ms, "0", 0,
        DAY_MS, NULL, NULL,
        "Give a batch up after retrying this long. 0 = never: the queue fills and SDKs are "
        "answered UNAVAILABLE instead of losing data."),
    KEY(upstream, "shutdown_timeout", DP_CFG_DURATION, upstream.shutdown_timeout_ms, "10s", 0,
        HOUR_MS, NULL, NULL,
        "On SIGTERM, how long to keep delivering what is queued; what is left is counted and "
        "logged."),
    KEY(upstream, "concurrency", DP_CFG_UINT, upstream.concurrency, "4", 1, 16, NULL, NULL,
        "Export calls in flight per signal. More keeps a distant or slow upstream busy."),
};

static const dp_config_key pricing_keys[] = {
    KEY(pricing, "file", DP_CFG_STRING, price_file, "", 0, 0, NULL, "--price-file",
        "YAML price file whose entries override or extend the built-in prices. Empty = none."),
};

static const dp_config_key log_keys[] = {
    KEY(log, "level", DP_CFG_ENUM_STRING, log_level, "info", 0, 0, log_level_values, "--log-level",
        "Least severe log lines written to stderr."),
};

static const dp_config_section output_section =
    DP_CONFIG_SECTION("output", "How reports are printed.", output_keys);
static const dp_config_section upstream_section = DP_CONFIG_SECTION(
    "upstream",
    "Where enriched spans, derived metrics and forwarded metrics and logs are sent "
    "(OTLP/gRPC). Precedence: OTEL_EXPORTER_OTLP_* variables < config file < flags.",
    upstream_keys);
static const dp_config_section pricing_section =
    DP_CONFIG_SECTION("pricing", "Model prices (USD per million tokens).", pricing_keys);
static const dp_config_section log_section =
    DP_CONFIG_SECTION("log", "Logging to stderr.", log_keys);

/* A section whose keys point into dp_config's `member` (or into dp_config itself). */
#define PART(section, member)                                                                      \
    {                                                                                              \
        &section, offsetof(dp_config, member)                                                      \
    }
#define APP_PART(section)                                                                          \
    {                                                                                              \
        &section, 0                                                                                \
    }

const dp_config_part dp_config_parts[] = {
    PART(dp_receiver_section, server),
    PART(dp_trace_table_section, assembly),
    APP_PART(output_section),
    APP_PART(upstream_section),
    PART(dp_derived_metrics_section, metrics),
    PART(dp_profile_section, profile),
    PART(dp_thresholds_section, profile),
    PART(dp_recommendations_section, profile),
    PART(dp_budget_section, profile),
    APP_PART(pricing_section),
    APP_PART(log_section),
};

const size_t dp_config_part_count = sizeof(dp_config_parts) / sizeof(dp_config_parts[0]);

const dp_config_part *dp_config_part_find(const char *name, size_t len)
{
    for (size_t i = 0; i < dp_config_part_count; i++) {
        const char *n = dp_config_parts[i].section->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &dp_config_parts[i];
    }
    return NULL;
}

void *dp_config_part_base(dp_config *c, const dp_config_part *p)
{
    return (char *)c + p->offset;
}

const void *dp_config_part_const_base(const dp_config *c, const dp_config_part *p)
{
    return (const char *)c + p->offset;
}

int dp_config_section_names(char *out, size_t outlen)
{
    if (outlen == 0)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < dp_config_part_count; i++)
        if (dp_config_list_append(out, outlen, dp_config_parts[i].section->name) < 0)
            return -1;
    return 0;
}

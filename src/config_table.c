/*
 * The configuration tables (one per section) and the parsing of one value
 * for one key. Everything that reads user settings (YAML file, flags,
 * --set) goes through dp_config_key_set(), so a value means the same thing
 * wherever it is written, and the defaults below are parsed the same way.
 */
#include "config_table.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KEY(sec, nm, ty, field, def, lo, hi, en, fl, desc)                                         \
    {                                                                                              \
        nm, ty, offsetof(dp_config, field), sizeof(((dp_config *)0)->field), def, lo, hi, en, fl,  \
            desc                                                                                   \
    }

#define KIB 1024.0
#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * 1024.0 * 1024.0)
#define HOUR_MS 3600000.0
#define DAY_MS (24.0 * HOUR_MS)

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

static const dp_config_enum_value temporality_values[] = {
    {"cumulative", 0},
    {"delta", 1},
    {NULL, 0},
};

static const dp_config_enum_value log_level_values[] = {
    {"error", 0}, {"warn", 1}, {"info", 2}, {"debug", 3}, {NULL, 0},
};

static const dp_config_key server_keys[] = {
    KEY(server, "listen", DP_CFG_STRING, server.listen, "127.0.0.1:4317", 0, 0, NULL, "--listen",
        "Address of the OTLP/gRPC receiver, HOST:PORT. Use 0.0.0.0:4317 to accept other hosts."),
    KEY(server, "workers", DP_CFG_UINT, server.workers, "0", 0, 256, NULL, "--workers",
        "Receiver threads, each with its own completion queue. 0 = one per CPU core."),
    KEY(server, "max_recv_message_size", DP_CFG_SIZE, server.max_recv_message_bytes, "16MiB", KIB,
        GIB, NULL, NULL,
        "Largest accepted request (after decompression). Larger ones get RESOURCE_EXHAUSTED."),
    KEY(server, "max_concurrent_calls", DP_CFG_UINT, server.max_concurrent_calls, "32", 1, 1024,
        NULL, NULL,
        "Trace export calls each worker handles at once. Further calls wait in the gRPC "
        "core's queue until one finishes; they are not refused."),
};

static const dp_config_key assembly_keys[] = {
    KEY(assembly, "idle_timeout", DP_CFG_DURATION, assembly.idle_timeout_ms, "2s", 1, DAY_MS, NULL,
        "--idle-timeout",
        "A run is finished when its root span has arrived and no span came for this long."),
    KEY(assembly, "max_age", DP_CFG_DURATION, assembly.max_age_ms, "1h", 1, DAY_MS, NULL,
        "--max-age",
        "Safety limit: a run still open this long after its first span is reported as partial "
        "(reported again, whole, if its remaining spans arrive within late_window)."),
    KEY(assembly, "memory_limit", DP_CFG_SIZE, assembly.memory_limit_bytes, "256MiB", MIB,
        64.0 * GIB, NULL, NULL,
        "Buffered span bytes. Above it the oldest runs are finished early (never dropped)."),
    KEY(assembly, "shards", DP_CFG_UINT, assembly.shards, "64", 1, 4096, NULL, NULL,
        "Trace table shards (one lock each). More shards, less contention between workers."),
    KEY(assembly, "late_window", DP_CFG_DURATION, assembly.late_window_ms, "10m", 0, DAY_MS, NULL,
        NULL,
        "How long a finished run's trace id is remembered, so later spans are reported as late; a "
        "partial run's spans are kept as long, to report it again whole."),
    KEY(assembly, "max_pending_runs", DP_CFG_UINT, assembly.max_pending_runs, "65536", 1, 1000000,
        NULL, NULL,
        "Finished runs waiting to be profiled and reported; a buffer for bursts (their bytes also "
        "count against twice memory_limit). Beyond it calls get UNAVAILABLE."),
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
    KEY(upstream, "headers", DP_CFG_STRING, upstream.headers, "", 0, 0, NULL, NULL,
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

static const dp_config_key metrics_keys[] = {
    KEY(metrics, "export_interval", DP_CFG_DURATION, metrics.export_interval_ms, "15s", 100, DAY_MS,
        NULL, NULL, "How often derived metrics are collected and sent upstream."),
    KEY(metrics, "temporality", DP_CFG_ENUM, metrics.delta, "cumulative", 0, 0, temporality_values,
        NULL, "cumulative: totals since start; delta: changes since the previous export."),
    KEY(metrics, "max_series_per_metric", DP_CFG_UINT, metrics.max_series_per_metric, "2000", 1,
        1000000, NULL, NULL,
        "Attribute sets per metric; beyond it new ones fold into one otel.metric.overflow series."),
};

static const dp_config_key profile_keys[] = {
    KEY(profile, "default_model", DP_CFG_STRING, profile.default_model, "", 0, 0, NULL,
        "--default-model",
        "Model assumed for LLM calls that name none. Empty = none (their cost is unknown)."),
};

static const dp_config_key threshold_keys[] = {
    KEY(thresholds, "slow_node_factor", DP_CFG_DOUBLE, profile.slow_node_factor, "2.0", 1, 1000,
        NULL, NULL, "slow_node: a node's execution is above this many times the run's mean."),
    KEY(thresholds, "slow_node_high_factor", DP_CFG_DOUBLE, profile.slow_node_high_factor, "4.0", 1,
        1000, NULL, NULL, "slow_node is of high severity above this many times the mean."),
    KEY(thresholds, "token_usage_factor", DP_CFG_DOUBLE, profile.token_usage_factor, "3.0", 1, 1000,
        NULL, NULL, "high_token_usage: a node's tokens are above this many times the run's mean."),
    KEY(thresholds, "token_usage_high_factor", DP_CFG_DOUBLE, profile.token_usage_high_factor,
        "5.0", 1, 1000, NULL, NULL,
        "high_token_usage is of high severity above this many times the mean."),
    KEY(thresholds, "retries_min", DP_CFG_UINT, profile.retries_min, "2", 1, 1000, NULL, NULL,
        "excessive_retries: a node retried at least this many times."),
    KEY(thresholds, "retries_high", DP_CFG_UINT, profile.retries_high, "3", 1, 1000, NULL, NULL,
        "excessive_retries is of high severity from this many retries."),
    KEY(thresholds, "tool_latency", DP_CFG_DURATION_D, profile.tool_latency_ms, "1s", 1, HOUR_MS,
        NULL, NULL, "tool_latency: one tool call took longer than this."),
    KEY(thresholds, "tool_latency_high", DP_CFG_DURATION_D, profile.tool_latency_high_ms, "5s", 1,
        HOUR_MS, NULL, NULL, "tool_latency is of high severity above this."),
    KEY(thresholds, "slow_llm_call", DP_CFG_DURATION_D, profile.slow_llm_call_ms, "3s", 1, HOUR_MS,
        NULL, NULL, "slow_llm_call: one LLM call took longer than this."),
    KEY(thresholds, "slow_llm_call_high", DP_CFG_DURATION_D, profile.slow_llm_call_high_ms, "10s",
        1, HOUR_MS, NULL, NULL, "slow_llm_call is of high severity above this."),
    KEY(thresholds, "dependency_wait_factor", DP_CFG_DOUBLE, profile.dependency_wait_factor, "1.0",
        0, 1000, NULL, NULL,
        "dependency_wait: a node waited for its dependencies more than this times its execution."),
    KEY(thresholds, "dependency_wait_high_factor", DP_CFG_DOUBLE,
        profile.dependency_wait_high_factor, "2.0", 0, 1000, NULL, NULL,
        "dependency_wait is of high severity above this many times the execution."),
    KEY(thresholds, "sequential_min_nodes", DP_CFG_UINT, profile.sequential_min_nodes, "3", 2, 1000,
        NULL, NULL,
        "sequential_bottleneck: at least this many nodes ran one after another, unlinked."),
    KEY(thresholds, "sequential_medium_impact_pct", DP_CFG_DOUBLE,
        profile.sequential_medium_impact_pct, "20", 0, 100, NULL, NULL,
        "sequential_bottleneck is of medium severity (else low) from this impact, in % of the "
        "run's wall time."),
    KEY(thresholds, "sequential_high_impact_pct", DP_CFG_DOUBLE, profile.sequential_high_impact_pct,
        "50", 0, 100, NULL, NULL,
        "sequential_bottleneck is of high severity from this impact, in % of the run's wall "
        "time."),
    KEY(thresholds, "severity_min_time", DP_CFG_DURATION_D, profile.severity_min_ms, "1s", 0,
        HOUR_MS, NULL, NULL,
        "A finding or recommendation about time is medium or high only when it concerns at least "
        "this long (else low), whatever its share of the run."),
    KEY(thresholds, "severity_min_usd", DP_CFG_DOUBLE, profile.severity_min_usd, "0.01", 0, 1e6,
        NULL, NULL,
        "A finding or recommendation about cost is medium or high only when it concerns at least "
        "this many US dollars (else low), whatever its share of the run."),
    KEY(thresholds, "expensive_node_usd", DP_CFG_DOUBLE, profile.expensive_node_usd, "0.10", 0, 1e6,
        NULL, NULL, "expensive_node: a node cost more than this many US dollars."),
    KEY(thresholds, "expensive_node_high_factor", DP_CFG_DOUBLE, profile.expensive_node_high_factor,
        "5.0", 1, 1000, NULL, NULL,
        "expensive_node is of high severity above this many times expensive_node_usd."),
    KEY(thresholds, "budget_high_factor", DP_CFG_DOUBLE, profile.budget_high_factor, "2.0", 1, 1000,
        NULL, NULL,
        "budget_exceeded is of high severity above this many times the budget (budget.usd or "
        "budget.tokens)."),
};

static const dp_config_key recommendation_keys[] = {
    KEY(recommendations, "model_downgrade_share", DP_CFG_DOUBLE, profile.model_downgrade_share,
        "0.30", 0, 1, NULL, NULL,
        "model_downgrade: at least this share of the run's tokens went to its priciest model."),
    KEY(recommendations, "reduce_context_tokens", DP_CFG_DOUBLE, profile.reduce_context_tokens,
        "4000", 0, 1e9, NULL, NULL,
        "reduce_context: the mean input tokens per LLM call are above this."),
    KEY(recommendations, "batch_min_calls", DP_CFG_UINT, profile.batch_min_calls, "5", 2, 1000000,
        NULL, NULL, "batch_operations: at least this many small calls of one operation in a node."),
    KEY(recommendations, "batch_small_call", DP_CFG_DURATION_D, profile.batch_small_ms, "500ms", 0,
        HOUR_MS, NULL, NULL, "batch_operations: a call at most this long counts as small."),
    KEY(recommendations, "restructure_chain_nodes", DP_CFG_UINT, profile.restructure_chain_nodes,
        "4", 2, 1000000, NULL, NULL,
        "restructure_dag: the critical path is a chain of at least this many nodes."),
    KEY(recommendations, "parallelize_min_share", DP_CFG_DOUBLE, profile.parallelize_min_share,
        "0.05", 0, 1, NULL, NULL,
        "parallelize: only recommended when it would save at least this share of the wall time."),
};

static const dp_config_key budget_keys[] = {
    KEY(budget, "usd", DP_CFG_DOUBLE, profile.budget_usd, "0", 0, 1e9, NULL, NULL,
        "budget_exceeded: a run cost more than this many US dollars. 0 = no cost budget."),
    KEY(budget, "tokens", DP_CFG_UINT, profile.budget_tokens, "0", 0, 1e15, NULL, NULL,
        "budget_exceeded: a run used more tokens than this. 0 = no token budget."),
};

static const dp_config_key pricing_keys[] = {
    KEY(pricing, "file", DP_CFG_STRING, price_file, "", 0, 0, NULL, "--price-file",
        "YAML price file whose entries override or extend the built-in prices. Empty = none."),
};

static const dp_config_key log_keys[] = {
    KEY(log, "level", DP_CFG_ENUM_STRING, log_level, "info", 0, 0, log_level_values, "--log-level",
        "Least severe log lines written to stderr."),
};

#define SECTION(nm, desc, keys)                                                                    \
    {                                                                                              \
        nm, desc, keys, sizeof(keys) / sizeof(keys[0])                                             \
    }

const dp_config_section dp_config_sections[] = {
    SECTION("server", "The OTLP/gRPC receiver.", server_keys),
    SECTION("assembly", "How spans are grouped into runs and when a run counts as finished.",
            assembly_keys),
    SECTION("output", "How reports are printed.", output_keys),
    SECTION("upstream",
            "Where enriched spans, derived metrics and forwarded metrics and logs are sent "
            "(OTLP/gRPC). Precedence: OTEL_EXPORTER_OTLP_* variables < config file < flags.",
            upstream_keys),
    SECTION("metrics", "Derived metrics sent upstream.", metrics_keys),
    SECTION("profile", "How spans are read into DAG nodes.", profile_keys),
    SECTION("thresholds", "When a bottleneck is reported, and when it is of high severity.",
            threshold_keys),
    SECTION("recommendations", "When a recommendation is made.", recommendation_keys),
    SECTION("budget", "Per-run budgets; a run above one gets a budget_exceeded bottleneck.",
            budget_keys),
    SECTION("pricing", "Model prices (USD per million tokens).", pricing_keys),
    SECTION("log", "Logging to stderr.", log_keys),
};

const size_t dp_config_section_count = sizeof(dp_config_sections) / sizeof(dp_config_sections[0]);

const dp_config_section *dp_config_section_find(const char *name, size_t len)
{
    for (size_t i = 0; i < dp_config_section_count; i++) {
        const char *n = dp_config_sections[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &dp_config_sections[i];
    }
    return NULL;
}

const dp_config_key *dp_config_key_find(const dp_config_section *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->key_count; i++) {
        const char *n = s->keys[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &s->keys[i];
    }
    return NULL;
}

const char *dp_config_type_name(const dp_config_key *k)
{
    switch (k->type) {
    case DP_CFG_STRING:
        return "string";
    case DP_CFG_UINT:
        return "integer";
    case DP_CFG_SIZE:
        return "size";
    case DP_CFG_DURATION:
    case DP_CFG_DURATION_D:
        return "duration";
    case DP_CFG_DOUBLE:
        return "number";
    case DP_CFG_ENUM:
    case DP_CFG_ENUM_STRING:
        return "enum";
    }
    return "?";
}

/* Sizes and durations are shown in the largest unit that divides them
 * exactly, so a range reads "1KiB..1GiB" rather than "1024..1073741824". */
static void format_bytes(double v, char *out, size_t outlen)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (v >= units[i].mult && fmod(v, units[i].mult) == 0) {
            snprintf(out, outlen, "%.0f%s", v / units[i].mult, units[i].unit);
            return;
        }
    }
    snprintf(out, outlen, "%.0fB", v);
}

static void format_ms(double v, char *out, size_t outlen)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"h", HOUR_MS}, {"m", 60000.0}, {"s", 1000.0}};
    if (v == 0) {
        snprintf(out, outlen, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (v >= units[i].mult && fmod(v, units[i].mult) == 0) {
            snprintf(out, outlen, "%.0f%s", v / units[i].mult, units[i].unit);
            return;
        }
    }
    snprintf(out, outlen, "%gms", v);
}

static void format_number(const dp_config_key *k, double v, char *out, size_t outlen)
{
    switch (k->type) {
    case DP_CFG_SIZE:
        format_bytes(v, out, outlen);
        break;
    case DP_CFG_DURATION:
    case DP_CFG_DURATION_D:
        format_ms(v, out, outlen);
        break;
    default:
        snprintf(out, outlen, "%.15g", v);
        break;
    }
}

static int append_enum_names(const dp_config_enum_value *e, char *out, size_t outlen)
{
    size_t used = strlen(out);
    for (size_t i = 0; e[i].name; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", e[i].name);
        if (n < 0 || (size_t)n >= outlen - used)
            return -1;
        used += (size_t)n;
    }
    return 0;
}

void dp_config_key_range_text(const dp_config_key *k, char *out, size_t outlen)
{
    char lo[32], hi[32];
    if (outlen == 0)
        return;
    out[0] = '\0';
    switch (k->type) {
    case DP_CFG_STRING:
        break;
    case DP_CFG_ENUM:
    case DP_CFG_ENUM_STRING:
        append_enum_names(k->enum_values, out, outlen);
        break;
    default:
        format_number(k, k->min, lo, sizeof(lo));
        format_number(k, k->max, hi, sizeof(hi));
        snprintf(out, outlen, "%s..%s", lo, hi);
        break;
    }
}

int dp_config_allowed_names(const dp_config_section *s, char *out, size_t outlen)
{
    size_t used = 0;
    size_t count = s ? s->key_count : dp_config_section_count;
    if (outlen == 0)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const char *name = s ? s->keys[i].name : dp_config_sections[i].name;
        int n = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", name);
        if (n < 0 || (size_t)n >= outlen - used)
            return -1;
        used += (size_t)n;
    }
    return 0;
}

/* ---- parsing one value ---------------------------------------------------- */

/* A whole number of at most 20 digits, no sign, no spaces. */
static int parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (*s != '\0')
        return -1;
    *out = v;
    return 0;
}

/* "12", "1.5": digits with an optional fraction; sets *end past it. No
 * exponents, signs, hex or inf/nan, which strtod alone would accept; the
 * value itself comes from strtod so it is correctly rounded ("0.3" is the
 * same double as the C literal 0.3). */
static int parse_decimal(const char *s, double *out, const char **end)
{
    const char *p = s;
    char digits[64];
    if (!isdigit((unsigned char)*p))
        return -1;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((size_t)(p - s) >= sizeof(digits))
        return -1;
    memcpy(digits, s, (size_t)(p - s));
    digits[p - s] = '\0';
    *out = strtod(digits, NULL);
    *end = p;
    return 0;
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

static int parse_size(const char *s, double *out)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1},      {"b", 1},     {"byte", 1}, {"bytes", 1}, {"kib", KIB},
        {"mib", MIB}, {"gib", GIB}, {"kb", 1e3}, {"mb", 1e6},  {"gb", 1e9},
    };
    double v;
    const char *p;
    if (parse_decimal(s, &v, &p) < 0)
        return -1;
    p = skip_spaces(p);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].unit) == 0) {
            *out = floor(v * units[i].mult);
            return 0;
        }
    }
    return -1;
}

/* A duration needs its unit (a bare "2" could mean 2 ms or 2 s); only 0
 * may stand alone. */
static int parse_duration(const char *s, double *out_ms)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", HOUR_MS}};
    double v;
    const char *p;
    if (parse_decimal(s, &v, &p) < 0)
        return -1;
    p = skip_spaces(p);
    if (*p == '\0')
        return v == 0 ? (*out_ms = 0, 0) : -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].unit) == 0) {
            *out_ms = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static int parse_double(const char *s, double *out)
{
    double v;
    const char *p = s;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (parse_decimal(p, &v, &p) < 0)
        return -1;
    if (*p == 'e' || *p == 'E') {
        /* exponents are rare in a config but harmless: let strtod do them */
        char *end;
        v = strtod(s, &end);
        if (*end != '\0' || !isfinite(v))
            return -1;
        *out = v;
        return 0;
    }
    if (*p != '\0')
        return -1;
    *out = neg ? -v : v;
    return 0;
}

static const char *expected_text(const dp_config_key *k)
{
    switch (k->type) {
    case DP_CFG_UINT:
        return "a whole number";
    case DP_CFG_SIZE:
        return "a size such as 16MiB, 512KiB or 1048576";
    case DP_CFG_DURATION:
    case DP_CFG_DURATION_D:
        return "a duration such as 500ms, 2s, 1.5m or 1h";
    case DP_CFG_DOUBLE:
        return "a number";
    default:
        return "a value";
    }
}

static void store_uint(void *field, size_t size, uint64_t v)
{
    if (size == sizeof(uint64_t)) {
        uint64_t x = v;
        memcpy(field, &x, sizeof(x));
    } else {
        unsigned x = (unsigned)v;
        memcpy(field, &x, sizeof(x));
    }
}

/* HOST:PORT, [IPV6]:PORT; the port a number 0..65535, the host not empty. */
static bool valid_listen_address(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || !colon[1])
        return false;
    if (a[0] == '[' && colon[-1] != ']')
        return false;
    if (a[0] != '[' && memchr(a, ':', (size_t)(colon - a)))
        return false; /* a bare IPv6 address needs brackets */
    unsigned long port = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (unsigned long)(*p - '0');
        if (port > 65535)
            return false;
    }
    return true;
}

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

int dp_config_key_set(dp_config *c, const dp_config_section *s, const dp_config_key *k,
                      const char *value, size_t len, char *err, size_t errlen)
{
    /* A copy with a NUL, long enough for the longest string key
     * (upstream.headers); values longer than that are wrong for every key. */
    char text[4200];
    char shown[64];
    char range[160];
    char *field = (char *)c + k->offset;
    double num = 0;

    if (len >= sizeof(text) || memchr(value, '\0', len)) {
        snprintf(err, errlen, "%s.%s: value is too long or contains a NUL byte", s->name, k->name);
        return -1;
    }
    memcpy(text, value, len);
    text[len] = '\0';
    /* what the message quotes: the user's text, shortened; header values
     * are secrets and are never quoted */
    snprintf(shown, sizeof(shown), "%.*s", (int)(sizeof(shown) - 1), text);
    if (len >= sizeof(shown))
        memcpy(shown + sizeof(shown) - 4, "...", 4);
    if (k->offset == offsetof(dp_config, upstream.headers))
        snprintf(shown, sizeof(shown), "(value not shown)");

    switch (k->type) {
    case DP_CFG_STRING:
        if (len >= k->size) {
            snprintf(err, errlen, "%s.%s: '%s' is too long (at most %zu bytes)", s->name, k->name,
                     shown, k->size - 1);
            return -1;
        }
        if (k->offset == offsetof(dp_config, server.listen) && !valid_listen_address(text)) {
            snprintf(err, errlen,
                     "%s.%s: '%s' is not HOST:PORT (e.g. 127.0.0.1:4317, [::1]:4317, "
                     "0.0.0.0:4317; port 0..65535)",
                     s->name, k->name, shown);
            return -1;
        }
        if (k->offset == offsetof(dp_config, upstream.headers) && !valid_header_list(text)) {
            snprintf(err, errlen,
                     "%s.%s: not a list of name=value pairs separated by commas, with "
                     "names of letters, digits and -_. and values percent-encoded (value not "
                     "shown)",
                     s->name, k->name);
            return -1;
        }
        memcpy(field, text, len + 1);
        return 0;
    case DP_CFG_ENUM:
    case DP_CFG_ENUM_STRING:
        for (size_t i = 0; k->enum_values[i].name; i++) {
            if (strcasecmp(text, k->enum_values[i].name) != 0)
                continue;
            if (k->type == DP_CFG_ENUM) {
                int v = k->enum_values[i].value;
                memcpy(field, &v, sizeof(v));
            } else {
                snprintf(field, k->size, "%s", k->enum_values[i].name);
            }
            return 0;
        }
        dp_config_key_range_text(k, range, sizeof(range));
        snprintf(err, errlen, "%s.%s: '%s' is not one of: %s", s->name, k->name, shown, range);
        return -1;
    case DP_CFG_UINT: {
        uint64_t u;
        if (parse_uint(text, &u) < 0)
            goto bad_type;
        num = (double)u;
        break;
    }
    case DP_CFG_SIZE:
        if (parse_size(text, &num) < 0)
            goto bad_type;
        break;
    case DP_CFG_DURATION:
    case DP_CFG_DURATION_D:
        if (parse_duration(text, &num) < 0)
            goto bad_type;
        if (k->type == DP_CFG_DURATION && num != floor(num)) {
            snprintf(err, errlen, "%s.%s: '%s' is not a whole number of milliseconds", s->name,
                     k->name, shown);
            return -1;
        }
        break;
    case DP_CFG_DOUBLE:
        if (parse_double(text, &num) < 0)
            goto bad_type;
        break;
    }

    if (num < k->min || num > k->max) {
        dp_config_key_range_text(k, range, sizeof(range));
        snprintf(err, errlen, "%s.%s: '%s' is out of range (%s)", s->name, k->name, shown, range);
        return -1;
    }
    if (k->type == DP_CFG_DOUBLE || k->type == DP_CFG_DURATION_D)
        memcpy(field, &num, sizeof(num));
    else
        store_uint(field, k->size, (uint64_t)num);
    return 0;

bad_type:
    snprintf(err, errlen, "%s.%s: expected %s, got '%s'", s->name, k->name, expected_text(k),
             shown);
    return -1;
}

double dp_config_key_number(const dp_config *c, const dp_config_key *k)
{
    const char *field = (const char *)c + k->offset;
    switch (k->type) {
    case DP_CFG_DOUBLE:
    case DP_CFG_DURATION_D: {
        double d;
        memcpy(&d, field, sizeof(d));
        return d;
    }
    case DP_CFG_UINT:
    case DP_CFG_SIZE:
    case DP_CFG_DURATION:
        if (k->size == sizeof(uint64_t)) {
            uint64_t u;
            memcpy(&u, field, sizeof(u));
            return (double)u;
        } else {
            unsigned u;
            memcpy(&u, field, sizeof(u));
            return (double)u;
        }
    case DP_CFG_ENUM: {
        int v;
        memcpy(&v, field, sizeof(v));
        return v;
    }
    default:
        return 0;
    }
}

void dp_config_key_format(const dp_config *c, const dp_config_key *k, char *out, size_t outlen)
{
    const char *field = (const char *)c + k->offset;
    if (outlen == 0)
        return;
    switch (k->type) {
    case DP_CFG_STRING:
    case DP_CFG_ENUM_STRING:
        snprintf(out, outlen, "%s", field);
        return;
    case DP_CFG_ENUM: {
        int v = (int)dp_config_key_number(c, k);
        for (size_t i = 0; k->enum_values[i].name; i++) {
            if (k->enum_values[i].value == v) {
                snprintf(out, outlen, "%s", k->enum_values[i].name);
                return;
            }
        }
        snprintf(out, outlen, "%d", v);
        return;
    }
    default:
        format_number(k, dp_config_key_number(c, k), out, outlen);
        return;
    }
}

int dp_config_parse_number(const char *text, size_t len, double *out)
{
    char buf[64];
    if (len >= sizeof(buf) || memchr(text, '\0', len))
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return parse_double(buf, out);
}

/*
 * The application's own sections of the config file (output, pricing,
 * log) and the list of every section: the modules' (declared next to their
 * options structs) and these, in the order of the documentation, each with
 * the place of its owner's struct in dp_config.
 */
#include "config_table.h"

#include <stddef.h>
#include <string.h>

#include "log.h"

#define OUTPUT_KEY(...) DP_CONFIG_KEY(dp_output_config, __VA_ARGS__)
#define APP_KEY(...) DP_CONFIG_KEY(dp_config, __VA_ARGS__)

static const dp_config_enum_value format_values[] = {
    {"text", DP_FORMAT_TEXT},
    {"json", DP_FORMAT_JSON},
    {"html", DP_FORMAT_HTML},
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

static const dp_config_enum_value log_level_values[] = {
    {"error", DP_LOG_ERROR},
    {"warn", DP_LOG_WARN},
    {"info", DP_LOG_INFO},
    {"debug", DP_LOG_DEBUG},
    {NULL, 0},
};

static const dp_config_key output_keys[] = {
    OUTPUT_KEY("format", DP_CFG_ENUM, format, "text", 0, 0, format_values, "--format",
               "Report format: text for people, json for one JSON object per run on one line, html "
               "(dagprof report only) for one self-contained page with a section per run."),
    OUTPUT_KEY("color", DP_CFG_ENUM, color, "auto", 0, 0, color_values, "--color",
               "ANSI colours in text reports. auto = only when stdout is a terminal."),
    OUTPUT_KEY("waterfall_width", DP_CFG_UINT, waterfall_width, "50", 10, 500, NULL, NULL,
               "Columns of the waterfall chart's time axis in text reports."),
    OUTPUT_KEY("reports", DP_CFG_ENUM, reports, "auto", 0, 0, reports_values, "--reports",
               "Print run reports on stdout. auto = only when no upstream is configured."),
    OUTPUT_KEY("html_dir", DP_CFG_STRING, html_dir, "", 0, 0, NULL, "--html-dir",
               "Directory for HTML reports: one self-contained page per run, named by its start "
               "time and trace id, and index.html listing them (created if missing). Empty = "
               "none."),
    OUTPUT_KEY("html_max_files", DP_CFG_UINT, html_max_files, "1000", 1, 1000000, NULL, NULL,
               "Run pages kept in html_dir; beyond it the oldest runs' pages are deleted."),
};

static const dp_config_key pricing_keys[] = {
    APP_KEY("file", DP_CFG_STRING, price_file, "", 0, 0, NULL, "--price-file",
            "Price file (dagprof YAML, LiteLLM JSON or genai-prices JSON) whose entries override "
            "or extend the built-in prices. Empty = none."),
};

static const dp_config_enum_value log_format_values[] = {
    {"text", 0},
    {"json", 1},
    {NULL, 0},
};

static const dp_config_key log_keys[] = {
    APP_KEY("level", DP_CFG_ENUM_STRING, log_level, "info", 0, 0, log_level_values, "--log-level",
            "Least severe log lines written to stderr (the gRPC core's own lines come through "
            "the same log as component grpc; GRPC_VERBOSITY still decides which it emits)."),
    APP_KEY("format", DP_CFG_ENUM_STRING, log_format, "text", 0, 0, log_format_values,
            "--log-format",
            "Log line format: text, or json for one object per line with time, level, "
            "component and message."),
};

static const dp_config_key health_keys[] = {
    DP_CONFIG_KEY_CHECKED(
        dp_config, "listen", DP_CFG_STRING, health_listen, "127.0.0.1:13133", 0, 0, NULL,
        "--health-listen", 0, dp_config_optional_listen_problem,
        "Address of the HTTP health endpoint, HOST:PORT: GET / or /health answers 200 while "
        "dagprof is ready and 503 while it starts or drains. Empty = none."),
};

static const dp_config_section output_section =
    DP_CONFIG_SECTION("output", "How reports are printed and written.", output_keys);
static const dp_config_section pricing_section =
    DP_CONFIG_SECTION("pricing", "Model prices (USD per million tokens).", pricing_keys);
static const dp_config_section log_section =
    DP_CONFIG_SECTION("log", "Logging to stderr.", log_keys);
static const dp_config_section health_section = DP_CONFIG_SECTION(
    "health", "The health endpoint for probes (like the Collector's health_check).", health_keys);

/* A section whose keys point into dp_config's `member`, or into dp_config itself. */
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
    PART(output_section, output),
    PART(dp_upstream_section, upstream),
    PART(dp_derived_metrics_section, metrics),
    PART(dp_profile_section, profile),
    PART(dp_thresholds_section, profile),
    PART(dp_recommendations_section, profile),
    PART(dp_budget_section, profile),
    APP_PART(pricing_section),
    APP_PART(log_section),
    APP_PART(health_section),
    PART(dp_self_telemetry_section, telemetry),
    PART(dp_storage_section, storage),
    PART(dp_memguard_section, memory),
    PART(dp_history_section, history),
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

/*
 * The metrics section of the config file: the derived metrics' settings
 * (dp_derived_metrics_options), with their defaults, ranges and
 * descriptions. The defaults here are the only ones;
 * dp_derived_metrics_options_defaults() applies them.
 */
#include "derived_metrics.h"

#include <stddef.h>

#define KEY(...) DP_CONFIG_KEY(dp_derived_metrics_options, __VA_ARGS__)

static const dp_config_enum_value temporality_values[] = {
    {"cumulative", DP_METRICS_CUMULATIVE},
    {"delta", DP_METRICS_DELTA},
    {NULL, 0},
};

static const dp_config_key metrics_keys[] = {
    KEY("export_interval", DP_CFG_DURATION, export_interval_ms, "15s", 100, DP_CONFIG_DAY_MS, NULL,
        NULL, "How often derived metrics are collected and sent upstream."),
    KEY("temporality", DP_CFG_ENUM, temporality, "cumulative", 0, 0, temporality_values, NULL,
        "cumulative: totals since start; delta: changes since the previous export."),
    KEY("max_series_per_metric", DP_CFG_UINT, max_series, "2000", 1, 1000000, NULL, NULL,
        "Attribute sets per metric; beyond it new ones fold into one otel.metric.overflow series."),
};

const dp_config_section dp_derived_metrics_section =
    DP_CONFIG_SECTION("metrics", "Derived metrics sent upstream.", metrics_keys);

void dp_derived_metrics_options_defaults(dp_derived_metrics_options *o)
{
    dp_config_section_init(o, sizeof(*o), &dp_derived_metrics_section);
}

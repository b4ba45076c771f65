/*
 * The telemetry section of the config file: where dagprof's own metrics
 * are served and how often the status line may be written
 * (dp_self_telemetry_options, self_telemetry.h). The defaults here are the
 * only ones.
 */
#include "self_telemetry.h"

#include <stddef.h>

#define KEY(...) DP_CONFIG_KEY(dp_self_telemetry_options, __VA_ARGS__)

static const dp_config_key telemetry_keys[] = {
    DP_CONFIG_KEY_CHECKED(dp_self_telemetry_options, "listen", DP_CFG_STRING, listen,
                          "127.0.0.1:8888", 0, 0, NULL, "--telemetry-listen", 0,
                          dp_config_optional_listen_problem,
                          "Address of dagprof's own metrics, HOST:PORT: GET /metrics answers in "
                          "the Prometheus text format. Empty = none."),
    KEY("status_interval", DP_CFG_DURATION, status_interval_ms, "10s", 0, DP_CONFIG_DAY_MS, NULL,
        NULL,
        "How often an info log line sums up spans, runs, memory and the upstream queue; written "
        "only when a figure changed. 0 = never."),
};

const dp_config_section dp_self_telemetry_section = DP_CONFIG_SECTION(
    "telemetry", "dagprof's own metrics (like the Collector's internal telemetry).",
    telemetry_keys);

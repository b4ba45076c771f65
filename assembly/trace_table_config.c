/*
 * The assembly section of the config file: the trace table's settings
 * (dp_trace_table_options), with their defaults, ranges and descriptions.
 * The defaults here are the only ones; dp_trace_table_options_defaults()
 * applies them.
 */
#include "trace_table.h"

#include <stddef.h>

#define KEY(...) DP_CONFIG_KEY(dp_trace_table_options, __VA_ARGS__)

static const dp_config_key assembly_keys[] = {
    KEY("idle_timeout", DP_CFG_DURATION, idle_timeout_ms, "2s", 1, DP_CONFIG_DAY_MS, NULL,
        "--idle-timeout",
        "A run is finished when its root span has arrived and no span came for this long."),
    KEY("max_age", DP_CFG_DURATION, max_age_ms, "1h", 1, DP_CONFIG_DAY_MS, NULL, "--max-age",
        "Safety limit: a run still open this long after its first span is reported as partial "
        "(reported again, whole, if its remaining spans arrive within late_window)."),
    KEY("memory_limit", DP_CFG_SIZE, memory_limit_bytes, "256MiB", DP_CONFIG_MIB,
        64.0 * DP_CONFIG_GIB, NULL, NULL,
        "Buffered span bytes. Above it the oldest runs are finished early (never dropped). A "
        "request whose spans are more than twice it is refused for good (RESOURCE_EXHAUSTED, "
        "HTTP 413): keep it above server.max_recv_message_size."),
    KEY("shards", DP_CFG_UINT, shards, "64", 1, DP_TRACE_TABLE_MAX_SHARDS, NULL, NULL,
        "Trace table shards (one lock each). More shards, less contention between workers."),
    KEY("late_window", DP_CFG_DURATION, late_window_ms, "10m", 0, DP_CONFIG_DAY_MS, NULL, NULL,
        "How long a finished run's trace id is remembered, so later spans are reported as late; a "
        "partial run's spans are kept as long, to report it again whole. At most 65,536 ids are "
        "remembered (1,024 per shard at 64 shards): past about 109 finished runs a second over "
        "the default 10m the oldest are forgotten early."),
    KEY("max_pending_runs", DP_CFG_UINT, max_pending_runs, "65536", 1, 1000000, NULL, NULL,
        "Finished runs waiting to be profiled and reported; a buffer for bursts (their bytes also "
        "count against twice memory_limit). Beyond it calls get UNAVAILABLE."),
};

const dp_config_section dp_trace_table_section = DP_CONFIG_SECTION(
    "assembly", "How spans are grouped into runs and when a run counts as finished.",
    assembly_keys);

void dp_trace_table_options_defaults(dp_trace_table_options *o)
{
    dp_config_section_init(o, sizeof(*o), &dp_trace_table_section);
}

/*
 * The memory section of the config file: the process memory guard's
 * settings (dp_memguard_options), with their defaults, ranges and
 * descriptions. The defaults here are the only ones;
 * dp_memguard_options_defaults() applies them.
 */
#include "memguard.h"

#include <stddef.h>

#define KEY(...) DP_CONFIG_KEY(dp_memguard_options, __VA_ARGS__)

static const dp_config_key memory_keys[] = {
    KEY("limit", DP_CFG_SIZE, limit_bytes, "0", 0, 4096.0 * DP_CONFIG_GIB, NULL, "--memory-limit",
        "Hard limit on dagprof's resident memory (RSS). At or over it every request is refused "
        "and the oldest runs are finished early until memory is under the soft limit. 0 = four "
        "fifths of the container's memory limit (cgroup) or of the machine's memory, at least "
        "256MiB."),
    KEY("spike_limit", DP_CFG_SIZE, spike_limit_bytes, "0", 0, 4096.0 * DP_CONFIG_GIB, NULL, NULL,
        "The soft limit is limit minus this: at or over it new requests are refused (gRPC "
        "UNAVAILABLE, HTTP 503 with Retry-After) until memory is under it again. The most memory "
        "may grow between two checks. 0 = a fifth of limit."),
    KEY("check_interval", DP_CFG_DURATION, check_interval_ms, "250ms", 10, DP_CONFIG_HOUR_MS, NULL,
        NULL, "Time between two readings of the process's memory."),
    KEY("in_flight_limit", DP_CFG_SIZE, in_flight_limit_bytes, "0", 0, 4096.0 * DP_CONFIG_GIB, NULL,
        NULL,
        "Bytes of requests decoded and stored at once by all receivers together; a request "
        "that would pass it is refused for now (a request alone is always taken). 0 = a quarter "
        "of limit."),
};

const dp_config_section dp_memguard_section = DP_CONFIG_SECTION(
    "memory", "The process memory guard (like the Collector's memory_limiter).", memory_keys);

void dp_memguard_options_defaults(dp_memguard_options *o)
{
    dp_config_section_init(o, sizeof(*o), &dp_memguard_section);
}

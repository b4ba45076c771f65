/*
 * The storage section of the config file: the persistent queue's settings
 * (dp_storage_options), with their defaults, ranges and descriptions.
 */
#include <stddef.h>

#include "storage.h"

#define KEY(...) DP_CONFIG_KEY(dp_storage_options, __VA_ARGS__)

static const char *sync_problem(const char *value)
{
    return dp_storage_sync_interval_ms(value) < 0
               ? "is neither always nor a duration from 1ms to 1h (e.g. 100ms, 1s)"
               : NULL;
}

static const dp_config_key storage_keys[] = {
    KEY("path", DP_CFG_STRING, path, "", 0, 0, NULL, "--storage-path",
        "Directory of the persistent queue: every accepted request is written there before it is "
        "acknowledged and replayed at the next start if the daemon stopped before reporting or "
        "delivering it. Empty = off (in memory only)."),
    DP_CONFIG_KEY_CHECKED(
        dp_storage_options, "sync", DP_CFG_STRING, sync, "100ms", 0, 0, NULL, NULL, 0, sync_problem,
        "always = fdatasync before acknowledging (concurrent requests share one); a duration = "
        "fdatasync in the background that often, which a machine crash can lose (a killed "
        "process loses nothing)."),
    KEY("max_size", DP_CFG_SIZE, max_size_bytes, "1GiB", DP_CONFIG_MIB, 1024.0 * DP_CONFIG_GIB,
        NULL, NULL,
        "Most bytes of segment files on disk; beyond it (or on a full disk) requests get "
        "UNAVAILABLE / 503 until runs are reported or delivered."),
    KEY("segment_size", DP_CFG_SIZE, segment_size_bytes, "64MiB", 64.0 * DP_CONFIG_KIB,
        4.0 * DP_CONFIG_GIB, NULL, NULL,
        "Size at which a segment file is closed and a new one started; a closed segment is "
        "deleted once everything in it is done."),
};

static const dp_config_not_below storage_rules[] = {
    {"max_size", "segment_size"},
};

const dp_config_section dp_storage_section = DP_CONFIG_SECTION_RULES(
    "storage", "The persistent queue: accepted requests on disk until reported or delivered.",
    storage_keys, storage_rules);

void dp_storage_options_defaults(dp_storage_options *o)
{
    dp_config_section_init(o, sizeof(*o), &dp_storage_section);
}

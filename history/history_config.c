/*
 * The history section of the config file: where the run history is kept
 * and how long (dp_history_options), and the conventional place the
 * commands read when given no path.
 */
#include <stdio.h>
#include <stdlib.h>

#include "history.h"

#define KEY(...) DP_CONFIG_KEY(dp_history_options, __VA_ARGS__)

static const dp_config_key history_keys[] = {
    KEY("path", DP_CFG_STRING, path, "", 0, 0, NULL, "--history",
        "SQLite database of the run history: a row per reported run with its nodes, findings "
        "and JSON report, for dagprof runs, trends and diff (created if missing; its directory "
        "must exist). Empty = off. The commands read $XDG_STATE_HOME/dagprof/history.db "
        "(~/.local/state/dagprof/history.db) when given no path."),
    KEY("max_age", DP_CFG_DURATION, max_age_ms, "30d", 0, 3650.0 * DP_CONFIG_DAY_MS, NULL, NULL,
        "Runs recorded longer ago are deleted (so trace files profiled with dagprof report "
        "--history stay as long as live runs). 0 = no age limit."),
    KEY("max_size", DP_CFG_SIZE, max_size_bytes, "1GiB", DP_CONFIG_MIB, 1024.0 * DP_CONFIG_GIB,
        NULL, NULL,
        "Most bytes of database pages in use; beyond it the runs that started first are "
        "deleted."),
    KEY("queue_runs", DP_CFG_UINT, queue_runs, "1024", 1, 1000000, NULL, NULL,
        "Runs waiting for the history's writer; in the daemon a run that finds the queue full "
        "is not recorded (counted in dagprof_history_dropped_runs and logged); dagprof report "
        "waits for room."),
};

const dp_config_section dp_history_section = DP_CONFIG_SECTION(
    "history", "The run history (SQLite) read by dagprof runs and trends.", history_keys);

void dp_history_options_defaults(dp_history_options *o)
{
    dp_config_section_init(o, sizeof(*o), &dp_history_section);
}

int dp_history_default_path(char *out, size_t outlen)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (state && state[0] == '/')
        n = snprintf(out, outlen, "%s/dagprof/history.db", state);
    else if (home && home[0])
        n = snprintf(out, outlen, "%s/.local/state/dagprof/history.db", home);
    else
        return -1;
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/*
 * The commands that read the run history (history/history.h):
 *   dagprof runs    recent runs, one line each (runs_cmd.c)
 *   dagprof trends  per-node figures of one DAG over time, regressions
 *                   (trends_cmd.c)
 * and what they share: where the history is (--history PATH, else
 * history.path of --config FILE, else the conventional place), durations
 * such as 24h or 7d, and UTC times.
 */
#ifndef DP_RUNS_CMD_H
#define DP_RUNS_CMD_H

#include <stdint.h>
#include <stdio.h>

#include "history.h"

/** `dagprof runs ARGS` (argv[0] is "runs"); returns the exit status (0, 1, 2). */
int dp_runs_main(int argc, char **argv, FILE *out, FILE *errout);

/** `dagprof trends ARGS` (argv[0] is "trends"); returns the exit status (0, 1, 2). */
int dp_trends_main(int argc, char **argv, FILE *out, FILE *errout);

/**
 * Open the history for reading: `path` when given, else history.path of
 * the config file `config` (when given and set), else the conventional
 * place. Returns 0 and *h, or -1 with a message on errout prefixed by
 * "dagprof CMD: ".
 */
int dp_history_cli_open(const char *cmd, const char *path, const char *config, dp_history **h,
                        FILE *errout);

/** A command's options: its name ("runs"), the usage line, its option names. */
typedef struct dp_history_cli_spec {
    const char *cmd;
    const char *usage; /* "Usage: dagprof runs [...]" */
    const char *about; /* one line under the usage for --help */
    const char *const *options;
    size_t option_count;
} dp_history_cli_spec;

/**
 * The option at argv[*i] (advanced past its value): its name and value,
 * from "--name=value" or "--name value". Returns 0; 1 for -h/--help (the
 * usage was written to out); or DP_EXIT_USAGE with the problem and the
 * usage written to errout.
 */
int dp_history_cli_option(const dp_history_cli_spec *spec, int argc, char **argv, int *i,
                          char name[32], const char **value, FILE *out, FILE *errout);

/** Write "dagprof CMD: " + the problem (fmt with arg) and the usage to errout; DP_EXIT_USAGE. */
int dp_history_cli_usage(const dp_history_cli_spec *spec, FILE *errout, const char *fmt,
                         const char *arg);

/** A whole number from 1 to max; 0 or -1. */
int dp_history_cli_count(const char *s, unsigned long long max, unsigned long long *out);

/** Parse a duration with its unit (ms, s, m, h, d, w): "24h", "7d", "1.5h". 0 or -1. */
int dp_history_cli_duration(const char *s, uint64_t *out_ms);

/** now_ns - ms: the start of the last `ms` milliseconds in Unix ns; 0 (no bound) when that
 *  reaches back to 1970 or further (also when ms x 10^6 exceeds 2^64). */
uint64_t dp_history_cli_since_ns(uint64_t now_ns, uint64_t ms);

/** "2026-12-01 07:51:48.123Z" for a Unix time in ns. */
void dp_history_cli_time(uint64_t ns, char *out, size_t outlen);

#endif

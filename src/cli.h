/*
 * The command line of the dagprof binary, kept out of main.c so tests can
 * drive it in-process:
 *   dagprof [OPTIONS]                 run the daemon
 *   dagprof report [OPTIONS] FILE...  profile OTLP trace files offline
 *   dagprof diff [OPTIONS] RUN_A RUN_B what changed between two runs
 *   dagprof validate [OPTIONS]        check the configuration, start nothing
 *   dagprof config-reference          print docs/configuration.md
 *   dagprof config-example            print examples/dagprof.yaml
 *   dagprof --help | --version
 * Settings: built-in defaults < --config FILE < flags (in the order given).
 * Exit status: 0 ok, 1 a run or a file failed, 2 bad command line or config.
 */
#ifndef DP_CLI_H
#define DP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"

/** The version printed by --version; keep in step with project() in CMakeLists.txt. */
#define DP_VERSION "0.1.0"

/** Exit status for a bad command line or configuration. */
#define DP_EXIT_USAGE 2

enum dp_cli_command {
    DP_CLI_DAEMON = 0,
    DP_CLI_REPORT,
    DP_CLI_HELP,
    DP_CLI_VERSION,
    DP_CLI_CONFIG_REFERENCE,
    DP_CLI_CONFIG_EXAMPLE,
    DP_CLI_PRICES,
    DP_CLI_VALIDATE,
    DP_CLI_DIFF,
};

/** A parsed command line. files point into argv. */
typedef struct dp_cli {
    enum dp_cli_command command;
    dp_config config;        /* defaults < config file < flags; prices not loaded */
    const char *config_path; /* NULL when no --config */
    char **files;            /* report: the FILE arguments (owned array) */
    int file_count;
    bool usage_hint;     /* after an error: the command line was wrong (not the file) */
    const char *trace_a; /* diff: --trace-a, --trace-b, --output (NULL when absent) */
    const char *trace_b;
    const char *output_path;
} dp_cli;

/**
 * Parse argv into cli (argv[0] is the program name). Returns 0, or -1 with a
 * one-line message in err; cli->usage_hint then says whether to add the
 * "Try 'dagprof --help'" hint. Call dp_cli_release() in both cases.
 */
int dp_cli_parse(dp_cli *cli, int argc, char **argv, char *err, size_t errlen);

/** Free what dp_cli_parse() allocated (tolerates a half-filled cli). */
void dp_cli_release(dp_cli *cli);

/** Append the --help text. Returns 0, -1 on out of memory. */
int dp_cli_help(dp_buf *out);

/**
 * The whole program: parse, load prices, then run the command with reports
 * on `out` and messages on `errout`. Returns the exit status.
 */
int dp_cli_main_to(int argc, char **argv, FILE *out, FILE *errout);

/** dp_cli_main_to() on stdout and stderr. */
int dp_cli_main(int argc, char **argv);

#endif

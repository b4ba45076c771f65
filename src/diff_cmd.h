/*
 * `dagprof diff RUN_A RUN_B`: what changed between two runs of a DAG
 * (profiler/diff.h does the comparison). Each operand becomes one run's
 * JSON report (dp_diff_load_operand): an OTLP trace file (protobuf or
 * OTLP/JSON) is profiled through the engine as `dagprof report` profiles it
 * and rendered to JSON in memory; `FILE#TRACEID` (or --trace-a / --trace-b)
 * picks one run of a file holding several, by trace id or a unique prefix.
 */
#ifndef DP_DIFF_CMD_H
#define DP_DIFF_CMD_H

#include <stdio.h>

#include "config.h"

/** What `dagprof diff` was given. Strings are borrowed (argv). */
typedef struct dp_diff_args {
    const char *run_a;   /* operand A (before) */
    const char *run_b;   /* operand B (after) */
    const char *trace_a; /* --trace-a: the run of A's file; NULL = from the operand */
    const char *trace_b; /* --trace-b */
    const char *output;  /* --output FILE; NULL = `out` */
} dp_diff_args;

/**
 * One operand as one run's JSON report: *json (malloc'ed, NUL-terminated,
 * the caller frees) and 0; or -1 with a one-line message in err. `trace`
 * (may be NULL) picks the run when the operand is a file holding several;
 * `FILE#TRACEID` does the same. An operand that is not an existing file is
 * refused ("not a file; run history not available").
 */
int dp_diff_load_operand(const dp_config *cfg, const char *operand, const char *trace, char **json,
                         char *err, size_t errlen);

/**
 * The command: both operands, the comparison, rendered per
 * cfg->output.format (text, json, html) to args->output or `out`; messages
 * on errout. Returns the exit status: 0, or 1 when an operand or the output
 * failed.
 */
int dp_diff_run_to(const dp_config *cfg, const dp_diff_args *args, FILE *out, FILE *errout);

#endif

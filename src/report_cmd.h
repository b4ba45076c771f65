/*
 * `dagprof report FILE...`: the offline path, on the daemon's engine. Reads
 * OTLP trace files (protobuf or OTLP/JSON, see otlp_file.h) through the
 * trace file input, assembles all their spans by trace id, profiles each
 * trace as one run and prints the reports in the order of the runs' start
 * times, as the daemon would print them.
 */
#ifndef DP_REPORT_CMD_H
#define DP_REPORT_CMD_H

#include <stdio.h>

#include "config.h"

/**
 * Largest total of span memory the offline report holds (the trace table's
 * bound): a file whose spans would pass it fails with a message instead of
 * exhausting the machine.
 */
#define DP_REPORT_MAX_SPAN_BYTES ((size_t)4 << 30)

/**
 * Profile `files` and write one report per run to `out` (text, JSON lines, or
 * one HTML page with a section per run, per cfg->output.format), and with
 * cfg->output.html_dir also one HTML page per run there (html_sink.h); problems with files go to
 * `errout`, each naming the file (and line). A file that cannot be read does not stop the others.
 * A span present more than once (same trace id, span id and start) is
 * profiled once, and the number of copies dropped is reported on errout.
 * Returns the exit status: 0, or 1 when a file failed, a run could not be
 * profiled, or no file held any span.
 */
int dp_report_run_to(const dp_config *cfg, char *const *files, int count, FILE *out, FILE *errout);

/** dp_report_run_to() on stdout and stderr. */
int dp_report_run(const dp_config *cfg, char *const *files, int count);

#endif

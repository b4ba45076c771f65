/*
 * The HTML sink: one self-contained HTML page per run in a directory
 * (output.html_dir), for the daemon and `dagprof report --html-dir`.
 *
 * Each page is named by the run's start time and trace id
 * (20261201T075148.123Z-<trace id>.html, so names sort by start time) and
 * written atomically: a temporary file in the same directory, then
 * rename(). A whole run after its partial report replaces the partial
 * page, whether or not it starts at the same time. index.html lists the
 * runs, newest first, with their date, DAG id, wall time and cost, and is
 * rewritten (atomically) after each page (or at flush). At most max_files pages are
 * kept: beyond that the oldest page is deleted. Pages already in the
 * directory when the sink starts are counted and listed with the figures
 * their heads carry (render.h).
 */
#ifndef DP_HTML_SINK_H
#define DP_HTML_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "sink.h"

/**
 * Create the sink writing into `dir` (created when missing; its parent must
 * exist). index.html is rewritten after every page, or with index_at_flush
 * only when the sink is flushed (for inputs that end, such as `dagprof
 * report`, where the runs come all at once). Returns the sink, or NULL with
 * the reason in err (the directory cannot be created or read, out of memory).
 */
dp_sink *dp_html_sink_create(const char *dir, size_t max_files, bool index_at_flush, char *err,
                             size_t errlen);

/** Pages written, and runs whose page could not be written, so far. */
void dp_html_sink_counts(dp_sink *sink, unsigned long long *written, unsigned long long *failed);

#endif

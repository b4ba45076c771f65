/*
 * Rendering a run profile for people (text, HTML) and scripts (JSON).
 * All append to a dp_buf so a report is written with one call.
 */
#ifndef DP_RENDER_H
#define DP_RENDER_H

#include <stdbool.h>

#include "buf.h"
#include "profile.h"

typedef struct dp_render_options {
    bool color;               /* ANSI colours in text output */
    unsigned waterfall_width; /* columns of the waterfall's time axis; 0 = 50 */
} dp_render_options;

/** The full human report. Returns 0, -1 on out of memory. */
int dp_render_text(const dp_run_profile *p, const dp_render_options *opt, dp_buf *out);

/** One JSON object on one line, ending in '\n'. Returns 0, -1 on out of memory. */
int dp_render_json(const dp_run_profile *p, dp_buf *out);

/** The names of the recommendation types in `overlaps` (bit 1 << type), ", "-separated. */
void dp_render_overlap_names(unsigned overlaps, char *out, size_t cap);

/**
 * Append s[0..len) escaped for HTML text, attribute values (quoted) and SVG:
 * & < > " ' become entities, control characters '?'; every other byte is
 * copied. Every text from spans goes through it. Returns 0, -1 on out of
 * memory or the buffer's cap (the buffer may then hold part of the text).
 */
int dp_html_escape(dp_buf *out, const char *s, size_t len);

/**
 * The HTML report of one run: a whole self-contained page (no script, no
 * external resource; docs/reports.md). Its head carries the run's key
 * figures for page directories: <meta name="dagprof:dag-id"> (escaped),
 * "dagprof:wall-ms", "dagprof:cost-usd" (or "unknown") and "dagprof:partial"
 * (0 or 1), in the JSON report's rounding. Returns 0, or -1 on out of memory
 * or the buffer's cap, with nothing appended.
 */
int dp_render_html(const dp_run_profile *p, dp_buf *out);

/** The head of a page holding several runs; title is escaped ("dagprof: TITLE"). 0 or -1. */
int dp_render_html_begin(const char *title, dp_buf *out);
/** One run's <section> for a page opened with dp_render_html_begin(); nothing on failure. */
int dp_render_html_run(const dp_run_profile *p, dp_buf *out);
/** The end of a page opened with dp_render_html_begin(). 0 or -1. */
int dp_render_html_end(dp_buf *out);

#endif

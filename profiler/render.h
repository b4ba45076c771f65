/*
 * Rendering a run profile for people (text) and scripts (JSON).
 * Both append to a dp_buf so a report is written with one call.
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

#endif

/*
 * What changed between two runs of a DAG (`dagprof diff`), computed from the
 * two runs' JSON reports (render_json.c's format), so a run profiled from a
 * file now and a run whose report was stored earlier compare the same way.
 *
 *   dp_diff_compute()       parse both reports, match their nodes (by id,
 *                           then by name), work out every delta
 *   dp_diff_render_text()   an aligned table for people
 *   dp_diff_render_json()   one JSON object (schema in docs/reports.md)
 *   dp_diff_render_html()   a self-contained page, styled and escaped as
 *                           the HTML report (render_html_internal.h)
 *   dp_diff_destroy()       frees the diff and every string it points to
 *
 * Every figure is defined in docs/metrics.md ("Comparing two runs").
 */
#ifndef DP_DIFF_H
#define DP_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/** Token counts of a node or a run, as the JSON report gives them. */
typedef struct dp_diff_tokens {
    uint64_t input, output, cache_read, cache_write, total;
} dp_diff_tokens;

/** One node as one run reported it. Strings point into the diff's parsed reports. */
typedef struct dp_diff_node_side {
    bool present; /* false: the node is not in this run */
    const char *id;
    const char *name;
    const char *model; /* NULL: none */
    double duration_ms;
    double wait_ms;
    dp_diff_tokens tokens;
    double cost_usd;
    bool cost_known; /* false: the report's cost was null (a price unknown) */
    uint64_t retries;
    bool on_critical_path;
} dp_diff_node_side;

enum dp_diff_status {
    DP_DIFF_CHANGED = 0, /* in both runs, some figure differs */
    DP_DIFF_UNCHANGED,   /* in both runs, every figure equal */
    DP_DIFF_ADDED,       /* only in run B */
    DP_DIFF_REMOVED,     /* only in run A */
};

enum dp_diff_match {
    DP_DIFF_MATCH_NONE = 0, /* added or removed */
    DP_DIFF_MATCH_ID,       /* same node id */
    DP_DIFF_MATCH_NAME,     /* ids differ, same node name */
};

/** A node of either run, with both sides. */
typedef struct dp_diff_node {
    dp_diff_node_side a, b;
    enum dp_diff_status status;
    enum dp_diff_match match;
} dp_diff_node;

/** One run's totals. Strings point into the diff's parsed reports. */
typedef struct dp_diff_run {
    const char *trace_id;
    const char *dag_id;
    double wall_ms;
    double execution_ms;
    double critical_path_ms;
    double parallelism;
    double cost_usd;
    bool cost_known; /* false: the report's cost was null */
    dp_diff_tokens tokens;
    uint64_t retries;
    size_t node_count;
    const char **critical_path; /* node ids in path order (owned array) */
    size_t critical_path_count;
} dp_diff_run;

/** The comparison of run A (before) with run B (after). */
typedef struct dp_run_diff {
    dp_diff_run a, b;
    /* changed, added and removed nodes by decreasing |duration delta| (an
     * added node's delta is its duration, a removed node's minus its
     * duration; ties by id), then the unchanged nodes in run B's order */
    dp_diff_node *nodes;
    size_t node_count;
    size_t changed, unchanged, added, removed; /* nodes by status */
    bool critical_path_changed;                /* the two paths' node id lists differ */
    void *reports_[2];                         /* the parsed reports (private) */
} dp_run_diff;

/**
 * Compare two JSON reports (one run each, as dp_render_json() writes it; a
 * trailing newline is fine). Returns 0 and *out (free with dp_diff_destroy),
 * or -1 with a message in err naming report "A" or "B" and what is wrong.
 */
int dp_diff_compute(const char *report_a, size_t len_a, const char *report_b, size_t len_b,
                    dp_run_diff **out, char *err, size_t errlen);

/** Free a diff; NULL is accepted. */
void dp_diff_destroy(dp_run_diff *d);

/** The text form. 0, or -1 on out of memory (or the buffer's cap). */
int dp_diff_render_text(const dp_run_diff *d, dp_buf *out);

/** One JSON object on one line, ending in '\n'. 0, or -1 with nothing appended. */
int dp_diff_render_json(const dp_run_diff *d, dp_buf *out);

/** A whole self-contained HTML page. 0, or -1 on out of memory (or the buffer's cap). */
int dp_diff_render_html(const dp_run_diff *d, dp_buf *out);

/**
 * Percent change from a to b: (b − a) / |a| × 100; false (no percentage)
 * when a is 0.
 */
bool dp_diff_percent(double a, double b, double *pct);

#endif

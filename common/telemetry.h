/*
 * dp_telemetry: a snapshot of dagprof's own counters and gauges as data,
 * so one gathering feeds every place they are shown: the Prometheus text
 * of the /metrics endpoint (rendered here), the OTLP self-metrics sent
 * upstream (exporter/derived_metrics.c) and the periodic status line.
 *
 * A snapshot is a list of metric families (name, kind, unit, help), each
 * with its points (labels and a value), in the order they were added. Names
 * are the Prometheus base names, Collector-style ("dagprof_receiver_
 * accepted_spans"); the Prometheus text adds "_total" to counters, OTLP
 * uses the base name. Everything lives in the snapshot's arena and is freed
 * in one step; strings given to it are copied unless said otherwise.
 *
 * Not thread-safe: one thread builds and reads a snapshot.
 */
#ifndef DP_TELEMETRY_H
#define DP_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"

enum dp_telemetry_kind {
    DP_TELEMETRY_COUNTER, /* monotonic total since start */
    DP_TELEMETRY_GAUGE,   /* a value now */
};

typedef struct dp_telemetry_label {
    const char *key;
    const char *value;
} dp_telemetry_label;

typedef struct dp_telemetry_point {
    struct dp_telemetry_point *next;
    const dp_telemetry_label *labels;
    size_t label_count;
    double value;
} dp_telemetry_point;

typedef struct dp_telemetry_family {
    struct dp_telemetry_family *next;
    const char *name; /* static: base name without "_total" */
    const char *unit; /* static: OTLP unit ("{span}", "By", "s") */
    const char *help; /* static: one sentence */
    enum dp_telemetry_kind kind;
    bool fractional; /* values are not whole numbers (seconds): OTLP as_double */
    dp_telemetry_point *first, *last;
    size_t point_count;
} dp_telemetry_family;

typedef struct dp_telemetry {
    dp_arena arena;
    dp_telemetry_family *first, *last;
    size_t family_count, point_count;
    bool failed; /* an allocation failed: the snapshot is incomplete */
} dp_telemetry;

/** Something that fills a snapshot with the figures it knows (the daemon's
 *  gathering, given to whoever exports or shows them). */
typedef void (*dp_telemetry_gather_fn)(void *ctx, dp_telemetry *out);

/** An empty snapshot. */
void dp_telemetry_init(dp_telemetry *t);

/** Free everything; the snapshot can be initialised again. */
void dp_telemetry_free(dp_telemetry *t);

/**
 * Start a family; the points added next belong to it. name, unit and help
 * are not copied (static strings). NULL on out of memory (t->failed set).
 */
dp_telemetry_family *dp_telemetry_family_add(dp_telemetry *t, const char *name,
                                             enum dp_telemetry_kind kind, const char *unit,
                                             const char *help);

/**
 * Add a point to the last family: its value and its labels as key, value
 * pairs ended by NULL: dp_telemetry_add(t, 12, "transport", "grpc", NULL).
 * Keys are not copied (static strings), values are. Ignored (t->failed
 * set) when out of memory or without a family.
 */
void dp_telemetry_add(dp_telemetry *t, double value, ...);

/** dp_telemetry_add() with labels from an array (keys and values copied). */
void dp_telemetry_add_labels(dp_telemetry *t, double value, const dp_telemetry_label *labels,
                             size_t count);

/** The family called `name`, or NULL. */
const dp_telemetry_family *dp_telemetry_find(const dp_telemetry *t, const char *name);

/** The sum of every point of the family called `name` (0 when there is none). */
double dp_telemetry_sum(const dp_telemetry *t, const char *name);

/**
 * The value of the point of `name` whose labels include key = value (the
 * first such point), or 0. key NULL: the family's first point.
 */
double dp_telemetry_value(const dp_telemetry *t, const char *name, const char *key,
                          const char *value);

/** Content-Type of dp_telemetry_render_prometheus()'s text. */
#define DP_TELEMETRY_PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/**
 * Append the snapshot as Prometheus text exposition format 0.0.4: per
 * family "# HELP", "# TYPE" and one line per point; counters get the
 * "_total" suffix, label values and help are escaped as the format says.
 * Label keys must be valid Prometheus label names. 0, or -1 when out cannot
 * grow.
 */
int dp_telemetry_render_prometheus(const dp_telemetry *t, dp_buf *out);

#endif

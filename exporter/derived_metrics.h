/*
 * Derived metrics: OTLP metrics computed from run profiles (cost, tokens,
 * latency, bottlenecks, recommendations' savings) plus dagprof's own
 * self-telemetry (a dp_telemetry snapshot: receiver, assembly, processor
 * and exporter counters), aggregated in memory and encoded as an
 * ExportMetricsServiceRequest on every export interval, under dagprof's
 * resource (service_identity.h: service.name, service.instance.id and
 * OTEL_RESOURCE_ATTRIBUTES).
 *
 * Names follow the OpenTelemetry GenAI semantic conventions where they exist
 * (gen_ai.client.token.usage, gen_ai.client.operation.duration, ...) with
 * their advised histogram bucket boundaries; dag.* for the rest. Each metric
 * has a cap on its number of series (attribute sets); beyond it new series
 * fold into one overflow series with the attribute otel.metric.overflow=true,
 * as OpenTelemetry SDKs do. Temporality is cumulative by default, delta on
 * request. The list of metrics and attributes: docs/metrics.md ("Derived
 * metrics") and docs/telemetry.md (self-telemetry).
 *
 * Thread-safe: dp_derived_metrics_record() may be called from several
 * threads while another collects.
 */
#ifndef DP_DERIVED_METRICS_H
#define DP_DERIVED_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config_map.h"
#include "profile_types.h"
#include "service_identity.h"
#include "telemetry.h"

typedef struct dp_derived_metrics dp_derived_metrics;

/** Temporality of the exported sums and histograms. */
enum dp_metrics_temporality {
    DP_METRICS_CUMULATIVE = 0, /* totals since start */
    DP_METRICS_DELTA = 1,      /* changes since the previous collection */
};

/*
 * The derived metrics' settings. The config file's metrics section
 * (derived_metrics_config.c) declares the first three with their defaults;
 * dp_derived_metrics_options_defaults() applies them.
 */
typedef struct dp_derived_metrics_options {
    uint64_t export_interval_ms; /* how often the caller collects; not used here */
    int temporality;             /* enum dp_metrics_temporality */
    size_t max_series;           /* series (attribute sets) per metric; not 0 */
    /* the resource's attributes (copied); none = service.name "dagprof" alone */
    const dp_resource_attr *resource;
    size_t resource_count;
    uint64_t start_time_ns; /* start of the first interval (unix ns); 0 = creation time */
} dp_derived_metrics_options;

/** The metrics section of the config file: keys into dp_derived_metrics_options. */
extern const dp_config_section dp_derived_metrics_section;

/** Fill the options with the metrics section's defaults (the rest 0 or NULL). */
void dp_derived_metrics_options_defaults(dp_derived_metrics_options *o);

/** opt NULL = the defaults. NULL on out of memory or when opt->max_series is 0. */
dp_derived_metrics *dp_derived_metrics_create(const dp_derived_metrics_options *opt);

/** Fold one run's profile into the aggregates. Returns 0, -1 on out of memory. */
int dp_derived_metrics_record(dp_derived_metrics *m, const dp_run_profile *profile);

/**
 * Encode every metric as one ExportMetricsServiceRequest appended to `out`:
 * the derived metrics under the scope "dagprof", then the self-telemetry
 * snapshot `self` (may be NULL: none) under "dagprof.telemetry", its
 * counters as monotonic sums, its gauges as gauges. now_ns is the
 * collection time. With delta temporality the aggregates are reset
 * afterwards and a counter's point carries the change since the previous
 * collection (snapshots are expected to list the same points in the same
 * order each time; when the number of points changes, the totals are sent
 * once as they are). Returns the number of data points written (0 = nothing
 * to export: `out` untouched), or -1 on out of memory.
 */
long dp_derived_metrics_collect(dp_derived_metrics *m, const dp_telemetry *self, uint64_t now_ns,
                                dp_buf *out);

/**
 * Called with each request of dp_derived_metrics_collect_split(): `request`
 * holds it (malloc'd; the callee may take the bytes with dp_buf_release())
 * and `points` its data points. Return 0 to go on, non-zero to stop.
 */
typedef int (*dp_metrics_request_fn)(void *arg, dp_buf *request, size_t points);

/**
 * dp_derived_metrics_collect() in as many ExportMetricsServiceRequests as
 * it takes to keep each within max_request_bytes (0 = one request), handed
 * to emit one by one after the aggregates are unlocked (emit may block).
 * Each request has the resource and the scope of each metric it holds
 * ("dagprof", "dagprof.telemetry"); a metric whose points do not fit
 * one request is repeated (name, unit, description, temporality) with a
 * share of its points in each; a single point larger than the limit goes
 * alone. Returns the data points of the collection (0 = nothing to export,
 * emit not called), or -1 when out of memory or emit stopped (with delta
 * temporality the aggregates are reset all the same).
 */
long dp_derived_metrics_collect_split(dp_derived_metrics *m, const dp_telemetry *self,
                                      uint64_t now_ns, size_t max_request_bytes,
                                      dp_metrics_request_fn emit, void *arg);

void dp_derived_metrics_destroy(dp_derived_metrics *m);

#endif

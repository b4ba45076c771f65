/*
 * The daemon's export side when an upstream is configured: the upstream
 * OTLP client, the upstream sink (enriched runs), the derived metrics with
 * their export timer (which also sends dagprof's self-telemetry), and the
 * receiver's forward hook for the metrics and logs SDKs send. Kept out of
 * daemon.c so the daemon only wires it in.
 *
 * Life cycle: create -> (daemon starts processors and the receiver) ->
 * start_metrics -> ... -> begin_shutdown (before the last runs are
 * processed) -> finish (final metrics, flush with the shutdown timeout)
 * -> destroy.
 */
#ifndef DP_EXPORT_PIPELINE_H
#define DP_EXPORT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "service_identity.h"
#include "sink.h"
#include "storage.h"
#include "telemetry.h"
#include "upstream.h"

typedef struct dp_export_pipeline dp_export_pipeline;

/**
 * When cfg->upstream sends traces anywhere (with the environment under it
 * once dp_config_read_environment() has read it), build the pipeline. The
 * derived metrics carry `identity` as their resource (copied; NULL =
 * service.name "dagprof" alone). `reports` (may be NULL) is
 * taken over: it also receives every run when output.reports says so. Returns 0 with *out set, 0
 * with *out NULL when no upstream is configured
 * (`reports` is then untouched and still the caller's), or -1 with the
 * reason logged (`reports` is then destroyed).
 */
int dp_export_pipeline_create(const dp_config *cfg, const dp_service_identity *identity,
                              dp_sink *reports, dp_export_pipeline **out);

/** The sink runs go to (owned by the pipeline). */
dp_sink *dp_export_pipeline_sink(dp_export_pipeline *p);

/**
 * The receiver's forward hook with the persistent queue (forward_tracked):
 * as dp_export_pipeline_forward(), and on 0 it has taken over the hold of
 * `progress`, released when the request is delivered.
 */
int dp_export_pipeline_forward_tracked(void *ctx, enum dp_signal signal, const uint8_t *data,
                                       size_t len, size_t items, dp_progress *progress);

/** The receiver's forward hook (forward_counted) for SDK metrics and logs. ctx is the pipeline. */
int dp_export_pipeline_forward(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                               size_t items);

/** The upstream client (owned by the pipeline), for its counters. */
dp_upstream *dp_export_pipeline_upstream(dp_export_pipeline *p);

/**
 * Start the metrics timer: every metrics.export_interval the derived
 * metrics are collected, with the self-telemetry `gather` fills (may be
 * NULL: none), and queued upstream. Returns 0 or -1.
 */
int dp_export_pipeline_start_metrics(dp_export_pipeline *p, dp_telemetry_gather_fn gather,
                                     void *gather_ctx);

/** Shutdown begins now: runs wait for queue room only until the shutdown timeout. */
void dp_export_pipeline_begin_shutdown(dp_export_pipeline *p);

/**
 * After the last run was processed: stop the timer, collect the metrics a
 * last time, deliver what is queued within what is left of the shutdown
 * timeout and log totals, with the count of what could not be delivered.
 * Returns the number of items (spans, data points, log records) not
 * delivered.
 */
uint64_t dp_export_pipeline_finish(dp_export_pipeline *p);

/** Free everything (finishes first if needed). NULL is allowed. */
void dp_export_pipeline_destroy(dp_export_pipeline *p);

/** A sink that accepts runs and does nothing (no reports, no upstream). */
dp_sink *dp_discard_sink_create(void);

#endif

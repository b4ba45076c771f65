/*
 * dagprof's self-telemetry in the daemon, like the OpenTelemetry
 * Collector's internal telemetry: its own counters and gauges gathered from
 * the stats every stage already keeps (the receivers' ingests, the trace
 * table, the engine, the upstream client) into a dp_telemetry snapshot
 * (common/telemetry.h), shown three ways:
 *
 *   GET /metrics on telemetry.listen (default 127.0.0.1:8888): Prometheus
 *       text format 0.0.4, one snapshot per scrape (http_endpoint.h);
 *   OTLP metrics upstream, with the derived metrics, every
 *       metrics.export_interval (the export pipeline calls
 *       dp_self_telemetry_gather());
 *   one info log line every telemetry.status_interval (default 10 s) with
 *       the main figures, written only when one of them changed.
 *
 * Gathering reads counters (relaxed atomics, a few short locks); nothing
 * is added on the per-span path. Every metric: docs/telemetry.md.
 *
 * Life cycle: start (binds the address: a bad one fails before the
 * receivers listen) -> attach (the daemon's parts, once they run) -> ...
 * -> destroy (before the parts it reads are freed). Before attach,
 * /metrics answers 503.
 */
#ifndef DP_SELF_TELEMETRY_H
#define DP_SELF_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "config_map.h"
#include "dp_err.h"
#include "http_receiver.h"
#include "ingest.h"
#include "memguard.h"
#include "receiver.h"
#include "service_identity.h"
#include "telemetry.h"
#include "upstream.h"

typedef struct dp_engine dp_engine; /* engine.h, which needs config.h, which needs this */

/* The telemetry section of the config file (self_telemetry_config.c). */
typedef struct dp_self_telemetry_options {
    char listen[256];            /* HOST:PORT of GET /metrics; "" = no endpoint */
    uint64_t status_interval_ms; /* 0 = no status line */
} dp_self_telemetry_options;

extern const dp_config_section dp_self_telemetry_section;

/** The OTLP receivers' transports, the label of the receiver metrics. */
enum dp_transport { DP_TRANSPORT_GRPC = 0, DP_TRANSPORT_HTTP = 1, DP_TRANSPORT_COUNT = 2 };

/** What the figures are read from; everything is borrowed. */
typedef struct dp_self_telemetry_sources {
    dp_engine *engine;                     /* required: trace table, runs, processors */
    size_t memory_limit_bytes;             /* assembly.memory_limit, shown beside the bytes */
    dp_ingest *ingest[DP_TRANSPORT_COUNT]; /* each transport's ingest; NULL = not running */
    dp_receiver *grpc;                     /* NULL = not running */
    dp_http_receiver *http;                /* NULL = not running */
    dp_upstream *upstream;                 /* NULL = no upstream */
    dp_storage *storage;                   /* NULL = no persistent queue */
    const dp_service_identity *identity;   /* NULL = none: no target_info */
    uint64_t start_ms;                     /* monotonic start, for the uptime */
    dp_memguard *guard;                    /* NULL = no memory guard */
    dp_telemetry_gather_fn extra;          /* more figures (the run history's); NULL = none */
    void *extra_ctx;
} dp_self_telemetry_sources;

/** Add every figure of `src` to `out`. */
void dp_self_telemetry_collect(const dp_self_telemetry_sources *src, dp_telemetry *out);

/**
 * The status line's text (without the component prefix) from a snapshot:
 * spans, rejected requests, runs, buffered bytes and, with an upstream, its
 * queue and deliveries.
 */
void dp_self_telemetry_status_text(const dp_telemetry *t, char *out, size_t outlen);

typedef struct dp_self_telemetry dp_self_telemetry;

/**
 * Listen on opt->listen (when set) and start the status line's timer (when
 * the interval is set). Returns DP_OK and *out, or DP_EINVAL / DP_EBIND /
 * DP_ENOMEM / DP_ETHREAD with the reason in err.
 */
DP_MUST_CHECK int dp_self_telemetry_start(const dp_self_telemetry_options *opt,
                                          dp_self_telemetry **out, char *err, size_t errlen);

/** The daemon's parts, running from now on (copied). */
void dp_self_telemetry_attach(dp_self_telemetry *t, const dp_self_telemetry_sources *src);

/** The bound port of /metrics, 0 without an endpoint. */
int dp_self_telemetry_port(const dp_self_telemetry *t);

/** A dp_telemetry_gather_fn (ctx is the dp_self_telemetry): the figures now,
 *  nothing before attach. Any thread. */
void dp_self_telemetry_gather(void *ctx, dp_telemetry *out);

/** Stop the endpoint and the timer and free; NULL is accepted. */
void dp_self_telemetry_destroy(dp_self_telemetry *t);

#endif

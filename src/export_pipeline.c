/*
 * Export pipeline: upstream client + upstream sink + derived metrics timer
 * + forward hook. See export_pipeline.h for the life cycle.
 *
 * The metrics timer waits on a condition variable with a deadline (never a
 * sleep), so shutdown wakes it at once. Forwarded SDK metrics and logs are
 * queued without waiting (the receiver's threads must not block); a full
 * queue makes the receiver answer UNAVAILABLE.
 */
#include "export_pipeline.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "derived_metrics.h"
#include "log.h"
#include "upstream.h"

#define COMPONENT "export"
/* How long the timer waits for room in a full metrics queue. */
#define METRICS_SUBMIT_WAIT_MS 1000

struct dp_export_pipeline {
    const dp_config *cfg;
    dp_upstream *upstream;
    dp_derived_metrics *metrics;
    dp_sink *reports;              /* owned; may be NULL */
    dp_sink *sink;                 /* the upstream sink, owned */
    dp_telemetry_gather_fn gather; /* the self-telemetry; NULL = none */
    void *gather_ctx;
    uint64_t shutdown_deadline_ms;

    pthread_t timer;
    bool timer_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    bool finished;

    atomic_ullong forward_disabled_warned;
    uint64_t undelivered;
};

/* Log where traces go; the endpoint is not a secret, header values are. */
static void log_destination(const dp_upstream_config *cfg)
{
    dp_upstream_connection c;
    dp_upstream_header headers[DP_UPSTREAM_MAX_HEADERS];
    size_t header_count = 0;
    dp_upstream_config_connection(cfg, DP_UPSTREAM_TRACES, &c);
    if (dp_upstream_headers_parse(c.headers, "upstream headers", headers, &header_count) == 0)
        dp_upstream_headers_free(headers, header_count);
    char url[1200];
    dp_upstream_connection_url(&c, url, sizeof(url));
    dp_log_info(COMPONENT, "exporting to %s (%s, %s%s, %zu extra header(s))", url,
                dp_upstream_protocol_name(c.protocol),
                c.transport == DP_UPSTREAM_PLAINTEXT ? "plaintext" : "TLS",
                c.compression == DP_UPSTREAM_COMPRESSION_GZIP ? ", gzip" : "", header_count);
    memset(&c, 0, sizeof(c));
}

int dp_export_pipeline_create(const dp_config *cfg, const dp_service_identity *identity,
                              dp_sink *reports, dp_export_pipeline **out)
{
    dp_export_pipeline *p = NULL;
    *out = NULL;

    if (!dp_upstream_config_active(&cfg->upstream))
        return 0;
    p = calloc(1, sizeof(*p));
    if (!p)
        goto fail;
    p->cfg = cfg;
    p->reports = reports;
    reports = NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &ca);
    pthread_condattr_destroy(&ca);

    p->upstream = dp_upstream_create(&cfg->upstream);
    if (!p->upstream)
        goto fail; /* the reason is logged */
    dp_derived_metrics_options mo = cfg->metrics;
    if (identity) {
        mo.resource = identity->attrs;
        mo.resource_count = identity->count;
    }
    p->metrics = dp_derived_metrics_create(&mo);
    if (!p->metrics)
        goto fail;
    dp_upstream_sink_options so;
    memset(&so, 0, sizeof(so));
    so.upstream = p->upstream;
    so.metrics = p->metrics;
    so.also = p->reports;
    so.max_request_bytes = cfg->upstream.batch_max_bytes;
    p->sink = dp_upstream_sink_create(&so);
    if (!p->sink)
        goto fail;
    log_destination(&cfg->upstream);
    *out = p;
    return 0;
fail:
    if (p && !p->upstream)
        dp_log_error(COMPONENT, "cannot start the upstream exporter");
    else
        dp_log_error(COMPONENT, "out of memory starting the upstream exporter");
    dp_sink_destroy(reports);
    dp_export_pipeline_destroy(p);
    return -1;
}

dp_sink *dp_export_pipeline_sink(dp_export_pipeline *p)
{
    return p->sink;
}

int dp_export_pipeline_forward(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                               size_t items)
{
    dp_export_pipeline *p = ctx;
    dp_upstream_signal s = signal; /* one enum: the receiver's signal is the upstream's */
    if (len == 0)
        return 0; /* an empty request carries nothing to forward */
    int rc = dp_upstream_submit(p->upstream, s, data, len, items);
    if (rc == 0)
        return 0;
    if (rc == DP_UPSTREAM_EDISABLED) {
        /* the settings route this signal nowhere: a choice, said once */
        if (atomic_exchange(&p->forward_disabled_warned, 1) == 0)
            dp_log_warn(COMPONENT, "no upstream endpoint for %s: received %s are not forwarded",
                        dp_upstream_signal_name(s), dp_upstream_signal_name(s));
        return 0;
    }
    return -1; /* full, shutting down or out of memory: the SDK retries */
}

int dp_export_pipeline_forward_tracked(void *ctx, enum dp_signal signal, const uint8_t *data,
                                       size_t len, size_t items, dp_progress *progress)
{
    dp_export_pipeline *p = ctx;
    dp_upstream_signal s = signal;
    if (len == 0 || !dp_upstream_enabled(p->upstream, s)) {
        /* nothing goes upstream: done with at once (the untracked hook
         * says why, once) */
        int rc = dp_export_pipeline_forward(ctx, signal, data, len, items);
        if (rc == 0)
            dp_progress_release(progress, true);
        return rc;
    }
    int rc =
        dp_upstream_submit_tracked(p->upstream, s, data, len, items, dp_progress_settle, progress);
    return rc == 0 ? 0 : -1; /* full, shutting down or out of memory: the SDK retries */
}

dp_upstream *dp_export_pipeline_upstream(dp_export_pipeline *p)
{
    return p->upstream;
}

/* One metrics collection on its way to the queue, request by request. */
typedef struct metrics_delivery {
    dp_export_pipeline *p;
    uint32_t wait_ms;
    size_t points_queued;
    int rc; /* why a request was not queued; 0 = all were */
} metrics_delivery;

/* dp_metrics_request_fn: queue one request (the queue takes its bytes). */
static int queue_metrics(void *arg, dp_buf *request, size_t points)
{
    metrics_delivery *d = arg;
    size_t len;
    char *bytes = dp_buf_release(request, &len);
    int rc = dp_upstream_submit_owned_wait(d->p->upstream, DP_UPSTREAM_METRICS, bytes, len,
                                           (uint64_t)points, d->wait_ms);
    if (rc != 0) {
        free(bytes); /* refused: still ours */
        d->rc = rc;
        return rc;
    }
    d->points_queued += points;
    return 0;
}

/* Collect the derived metrics once and queue them, in requests of at most
 * upstream.batch_max_bytes; `wait_ms` bounds each wait for room. */
static void collect_and_send(dp_export_pipeline *p, uint32_t wait_ms)
{
    dp_telemetry self;
    dp_telemetry_init(&self);
    if (p->gather)
        p->gather(p->gather_ctx, &self);
    metrics_delivery d = {p, wait_ms, 0, 0};
    long points = dp_derived_metrics_collect_split(
        p->metrics, p->gather ? &self : NULL, dp_clock_realtime_ns(),
        p->cfg->upstream.batch_max_bytes, queue_metrics, &d);
    dp_telemetry_free(&self);
    if (points >= 0 || d.rc == 0)
        return; /* delivered, nothing to export, or not encoded (logged) */
    int rc = d.rc;
    dp_log_warn(
        COMPONENT, "derived metrics: %zu data points queued, the rest not: %s%s", d.points_queued,
        rc == DP_UPSTREAM_EFULL       ? "the metrics queue is full"
        : rc == DP_UPSTREAM_EDISABLED ? "no metrics endpoint"
                                      : "the upstream client refused them",
        p->cfg->metrics.temporality == DP_METRICS_DELTA ? ""
                                                        : " (the next export carries the totals)");
}

static void *timer_main(void *arg)
{
    dp_export_pipeline *p = arg;
    uint64_t interval = p->cfg->metrics.export_interval_ms;
    uint64_t next = dp_clock_monotonic_ms() + interval;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
        pthread_cond_timedwait(&p->wake, &p->lock, &ts);
        if (p->stopping)
            break;
        if (dp_clock_monotonic_ms() < next)
            continue; /* woken early: wait out the interval */
        pthread_mutex_unlock(&p->lock);
        collect_and_send(p, METRICS_SUBMIT_WAIT_MS);
        next += interval;
        uint64_t now = dp_clock_monotonic_ms();
        if (next <= now)
            next = now + interval; /* fell behind: do not export in a burst */
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int dp_export_pipeline_start_metrics(dp_export_pipeline *p, dp_telemetry_gather_fn gather,
                                     void *gather_ctx)
{
    p->gather = gather;
    p->gather_ctx = gather_ctx;
    if (pthread_create(&p->timer, NULL, timer_main, p) != 0) {
        dp_log_error(COMPONENT, "cannot start the metrics timer thread");
        return -1;
    }
    p->timer_started = true;
    return 0;
}

void dp_export_pipeline_begin_shutdown(dp_export_pipeline *p)
{
    if (!p)
        return;
    p->shutdown_deadline_ms = dp_clock_monotonic_ms() + p->cfg->upstream.shutdown_timeout_ms;
    dp_upstream_sink_set_deadline(p->sink, p->shutdown_deadline_ms);
}

static void stop_timer(dp_export_pipeline *p)
{
    if (!p->timer_started)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->timer, NULL);
    p->timer_started = false;
}

uint64_t dp_export_pipeline_finish(dp_export_pipeline *p)
{
    if (!p || p->finished)
        return p ? p->undelivered : 0;
    p->finished = true;
    stop_timer(p);
    if (!p->shutdown_deadline_ms)
        dp_export_pipeline_begin_shutdown(p);
    uint64_t now = dp_clock_monotonic_ms();
    uint64_t left = p->shutdown_deadline_ms > now ? p->shutdown_deadline_ms - now : 0;
    /* the last collection holds every run processed */
    collect_and_send(p, (uint32_t)(left < METRICS_SUBMIT_WAIT_MS ? left : METRICS_SUBMIT_WAIT_MS));
    now = dp_clock_monotonic_ms();
    left = p->shutdown_deadline_ms > now ? p->shutdown_deadline_ms - now : 0;
    uint64_t dropped = dp_upstream_shutdown(p->upstream, (uint32_t)left);

    dp_upstream_sink_counts sc;
    dp_upstream_stats st[DP_UPSTREAM_SIGNAL_COUNT];
    dp_upstream_sink_get_counts(p->sink, &sc);
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++)
        dp_upstream_get_stats(p->upstream, s, &st[s]);
    const dp_upstream_stats *t = &st[DP_UPSTREAM_TRACES];
    uint64_t lost = dropped + sc.spans_undelivered;
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++)
        lost += st[s].failed_items + st[s].rejected_items;
    p->undelivered = lost;
    dp_log_info(COMPONENT,
                "upstream totals: spans queued %" PRIu64 ", exported %" PRIu64 ", refused %" PRIu64
                ", rejected %" PRIu64 ", retries %" PRIu64 ", refused as too large %" PRIu64
                "; metric points exported %" PRIu64 "; log records exported %" PRIu64,
                t->submitted_items, t->exported_items, t->failed_items, t->rejected_items,
                t->retries, t->too_large_items, st[DP_UPSTREAM_METRICS].exported_items,
                st[DP_UPSTREAM_LOGS].exported_items);
    if (lost)
        dp_log_error(COMPONENT,
                     "%" PRIu64 " item(s) could not be delivered upstream: %" PRIu64
                     " span(s) never queued, %" PRIu64 " left when the shutdown timeout ran out, "
                     "the rest refused or rejected by the upstream",
                     lost, sc.spans_undelivered, dropped);
    else
        dp_log_info(COMPONENT, "everything received was delivered upstream");
    return lost;
}

void dp_export_pipeline_destroy(dp_export_pipeline *p)
{
    if (!p)
        return;
    stop_timer(p);
    dp_sink_destroy(p->sink);
    dp_upstream_destroy(p->upstream);
    dp_derived_metrics_destroy(p->metrics);
    dp_sink_destroy(p->reports);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- the discard sink ------------------------------------------------------ */

static int discard_on_run(dp_sink *sink, const dp_run_record *run, const dp_run_profile *profile)
{
    (void)sink;
    (void)run;
    (void)profile;
    return 0;
}

static void discard_destroy(dp_sink *sink)
{
    free(sink);
}

static const dp_sink_ops discard_ops = {discard_on_run, NULL, discard_destroy};

dp_sink *dp_discard_sink_create(void)
{
    dp_sink *s = calloc(1, sizeof(*s));
    if (s)
        s->ops = &discard_ops;
    return s;
}

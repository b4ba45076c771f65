/*
 * The upstream sink: the last step of the daemon's pipeline when an
 * upstream is configured. Each finalised run is re-encoded with its
 * enrichment (exporter/enrich.c) and queued on the upstream client's trace
 * queue; its profile then feeds the derived metrics.
 *
 * Loss-free by construction: when the queue is full, on_run() waits for the
 * sender to finish a batch instead of dropping the run. The run processor
 * that called it stays busy, pending runs pile up in the trace table, the
 * table refuses new spans and the receiver answers the SDKs UNAVAILABLE, so
 * they keep their spans and retry. Only a shutdown deadline ends the wait;
 * what could not be queued then is counted and logged.
 *
 * Each run is encoded into a buffer of its own, allocated once at its exact
 * size (no allocation per span), which the upstream client takes over: the
 * request is not copied into the queue. A run larger than max_request_bytes
 * (upstream.batch_max_bytes: what the upstream accepts in one message) is
 * cut into as many requests as it takes (dp_enrich_run_split), each queued
 * the same way; a span that alone is larger goes in a request of its own,
 * with a warning, and the upstream's refusal of it is counted and logged
 * by the client.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "derived_metrics.h"
#include "enrich.h"
#include "log.h"
#include "sink.h"
#include "storage.h"
#include "upstream.h"

#define COMPONENT "upstream"
#define DEFAULT_MAX_REQUEST_BYTES (4000u * 1000)
/* Slice of one wait for room: the deadline is re-read between slices. */
#define WAIT_SLICE_MS 500

typedef struct upstream_sink {
    dp_sink base;
    dp_upstream_sink_options opt;
    atomic_ullong deadline_ms; /* 0 = wait as long as it takes */
    atomic_ullong runs_sent, spans_sent, runs_failed, spans_undelivered;
} upstream_sink;

/* Hand one encoded request (malloc'd) to the upstream, waiting for room as
 * long as the deadline allows. On 0 the upstream owns bytes, else the caller. */
static int submit(upstream_sink *u, void *bytes, size_t len, uint64_t spans, dp_progress *progress)
{
    for (;;) {
        uint64_t deadline = atomic_load(&u->deadline_ms);
        uint32_t slice = WAIT_SLICE_MS;
        if (deadline) {
            uint64_t now = dp_clock_monotonic_ms();
            if (now >= deadline)
                slice = 0;
            else if (deadline - now < slice)
                slice = (uint32_t)(deadline - now);
        }
        /* with the persistent queue, the run's progress is held until the
         * request is delivered (dp_progress_settle) */
        int rc = dp_upstream_submit_owned_wait_tracked(
            u->opt.upstream, DP_UPSTREAM_TRACES, bytes, len, spans, slice,
            progress ? dp_progress_settle : NULL, progress);
        if (rc != DP_UPSTREAM_EFULL)
            return rc;
        if (deadline && slice == 0) { /* given up: counted once, not per slice */
            dp_upstream_count_refused_full(u->opt.upstream, DP_UPSTREAM_TRACES);
            return rc;
        }
    }
}

/* One run on its way to the queue, request by request. */
typedef struct run_delivery {
    upstream_sink *u;
    const dp_run_record *run;
    size_t spans_queued;
    size_t requests;
    int submit_rc; /* why the last request was not queued; 0 = all were */
} run_delivery;

/* dp_enrich_request_fn: queue one request of the run (the queue takes its bytes). */
static int queue_request(void *arg, dp_buf *request, size_t span_count)
{
    run_delivery *d = arg;
    size_t len;
    char *bytes = dp_buf_release(request, &len);
    if (span_count == 1 && len > d->u->opt.max_request_bytes) {
        char hex[33];
        dp_hex(d->run->trace_id, 16, hex);
        dp_log_warn(COMPONENT,
                    "run %s: one span takes %zu bytes, more than upstream.batch_max_bytes (%zu); "
                    "sent alone, the upstream may refuse it as too large",
                    hex, len, d->u->opt.max_request_bytes);
    }
    /* with the persistent queue, each request holds the run's progress
     * until it is delivered: the run is done when all of them are */
    dp_progress *progress = dp_progress_hold(d->run->progress);
    int rc = submit(d->u, bytes, len, span_count, progress);
    if (rc != 0) {
        free(bytes); /* refused: still ours */
        /* kept for a replay when it may go later (shutting down, out of
         * memory), done when it never can */
        dp_progress_release(progress, rc == DP_UPSTREAM_EDISABLED || rc == DP_UPSTREAM_EINVAL);
        d->submit_rc = rc;
        return rc;
    }
    d->spans_queued += span_count;
    d->requests++;
    return 0;
}

static int upstream_on_run(dp_sink *sink, const dp_run_record *run, const dp_run_profile *profile)
{
    upstream_sink *u = (upstream_sink *)sink;
    char hex[33];
    const char *why = "out of memory";

    /* the copies of spans a retried request brought are sent once (counted
     * before the report below is out, so a reader of both sees both) */
    size_t to_send = run->span_count - run->duplicate_count;
    dp_upstream_count_duplicates(u->opt.upstream, DP_UPSTREAM_TRACES, run->duplicate_count);
    /* the reports (when also wanted) do not depend on the delivery */
    if (u->opt.also)
        dp_sink_on_run(u->opt.also, run, profile);
    if (to_send == 0)
        return 0;
    /* Late spans belong to a run already profiled and sent: they are
     * forwarded as they arrived, not enriched as if they were a run of their
     * own, and they are not counted as another run in the metrics. */
    const dp_run_profile *enrich_with = run->late ? NULL : profile;
    run_delivery d = {u, run, 0, 0, 0};
    int rc = dp_enrich_run_split(run, enrich_with, u->opt.max_request_bytes, queue_request, &d);
    if (rc != 0 && d.submit_rc == 0) {
        why = rc == DP_ENOMEM ? "cannot encode the run (out of memory)"
                              : "cannot encode the run (an encoder error, logged above)";
    } else if (d.submit_rc == DP_UPSTREAM_EFULL) {
        why = "the upstream queue stayed full until the shutdown deadline";
    } else if (d.submit_rc == DP_UPSTREAM_ESHUTDOWN) {
        why = "the upstream client is shut down";
    } else if (d.submit_rc != 0 && d.submit_rc != DP_UPSTREAM_ENOMEM) {
        why = "the upstream client refused the request";
    }
    atomic_fetch_add(&u->spans_sent, d.spans_queued);
    if (rc == 0) {
        atomic_fetch_add(&u->runs_sent, 1);
        if (d.requests > 1) {
            dp_hex(run->trace_id, 16, hex);
            dp_log_debug(COMPONENT, "run %s: %zu spans in %zu requests of at most %zu bytes", hex,
                         to_send, d.requests, u->opt.max_request_bytes);
        }
    } else {
        size_t lost = to_send - d.spans_queued;
        atomic_fetch_add(&u->runs_failed, 1);
        atomic_fetch_add(&u->spans_undelivered, lost);
        dp_hex(run->trace_id, 16, hex);
        dp_log_error(COMPONENT, "run %s: %zu of %zu span(s) not delivered: %s", hex, lost, to_send,
                     why);
    }
    /* metrics describe every profiled run, delivered or not (late spans are no run) */
    if (u->opt.metrics && enrich_with &&
        dp_derived_metrics_record(u->opt.metrics, enrich_with) != 0)
        dp_log_warn(COMPONENT, "out of memory recording a run into the derived metrics");
    return rc == 0 ? 0 : -1;
}

static int upstream_flush(dp_sink *sink)
{
    upstream_sink *u = (upstream_sink *)sink;
    /* the upstream client flushes itself on shutdown; only the tee remains */
    return u->opt.also ? dp_sink_flush(u->opt.also) : 0;
}

static void upstream_destroy(dp_sink *sink)
{
    free(sink);
}

static const dp_sink_ops upstream_sink_ops = {
    .on_run = upstream_on_run,
    .flush = upstream_flush,
    .destroy = upstream_destroy,
};

dp_sink *dp_upstream_sink_create(const dp_upstream_sink_options *opt)
{
    if (!opt || !opt->upstream)
        return NULL;
    upstream_sink *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->base.ops = &upstream_sink_ops;
    u->opt = *opt;
    if (!u->opt.max_request_bytes)
        u->opt.max_request_bytes = DEFAULT_MAX_REQUEST_BYTES;
    return &u->base;
}

void dp_upstream_sink_set_deadline(dp_sink *sink, uint64_t deadline_ms)
{
    upstream_sink *u = (upstream_sink *)sink;
    atomic_store(&u->deadline_ms, deadline_ms ? deadline_ms : 1);
}

void dp_upstream_sink_get_counts(dp_sink *sink, dp_upstream_sink_counts *out)
{
    upstream_sink *u = (upstream_sink *)sink;
    out->runs_sent = atomic_load(&u->runs_sent);
    out->spans_sent = atomic_load(&u->spans_sent);
    out->runs_failed = atomic_load(&u->runs_failed);
    out->spans_undelivered = atomic_load(&u->spans_undelivered);
}

/*
 * The upstream OTLP client: sender lanes, the retry loop and the counters
 * (see upstream.h for the contract and docs/upstream.md for the delivery
 * rules), over one transport per signal: OTLP/gRPC (upstream_grpc.c) or
 * OTLP/HTTP (upstream_http.c), behind upstream_transport.h.
 *
 * Each enabled signal has a sender: a delivery queue, the transport's
 * shared state (credentials, headers) and `concurrency` lanes, each a
 * thread with its own connection. A lane takes a batch, makes one attempt
 * at a time and waits for its answer; the lanes together keep
 * `concurrency` attempts in flight and give natural backpressure: while the
 * upstream is slow or down the queue fills and submit answers EFULL. What
 * is retried, when, and how it is counted is decided here from the
 * transport's classified answer, so both protocols behave alike.
 */
#include "upstream.h"

#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "delivery_queue.h"
#include "log.h"
#include "upstream_transport.h"

#define COMPONENT "upstream"

struct sender;

/* One attempt at a time per lane; a signal's lanes share its queue so that
 * up to `concurrency` attempts are in flight, which a single one at a time
 * could not keep the upstream's pipe full with. Each lane has its own
 * connection: several connections let the upstream read and decode
 * requests in parallel instead of through one HTTP/2 stream multiplex, and
 * a load balancer in front of it can spread them. */
typedef struct lane {
    struct sender *s;
    pthread_t thread;
    bool thread_started;
    void *transport; /* the transport's lane */
    uint64_t rng;
} lane;

typedef struct sender {
    dp_upstream *up;
    dp_upstream_signal signal;
    dp_upstream_connection conn; /* resolved from the config's layers */
    bool enabled;
    bool queue_ready;
    dp_delivery_queue queue;

    const dp_upstream_transport_ops *transport;
    void *shared; /* the transport's state for every lane */

    lane lanes[DP_UPSTREAM_MAX_CONCURRENCY];
    unsigned lane_count;

    /* Guards everything below. */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* attempts, done, abort */
    bool sync_ready;
    bool abort;                 /* shutdown ran out of time */
    unsigned lanes_done;        /* lanes that have sent all they will send */
    bool done;                  /* every lane is done */
    uint64_t batches_completed; /* wakes dp_upstream_submit_wait(): room in the queue */
    uint64_t bytes_since_trim;  /* delivered since memory was last handed back */
    uint64_t last_trim_ms;
    dp_upstream_stats stats;
} sender;

struct dp_upstream {
    dp_upstream_config cfg;
    sender senders[DP_UPSTREAM_SIGNAL_COUNT];
    bool shut_down;
};

static struct timespec abs_time(uint64_t ms)
{
    return (struct timespec){(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
}

/* xorshift64*: jitter only needs to de-synchronise clients, not be secure. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- setup ------------------------------------------------------------- */

static int sender_open(dp_upstream *up, sender *s, dp_upstream_signal signal)
{
    const dp_upstream_config *cfg = &up->cfg;
    const dp_upstream_connection *c = &s->conn;
    dp_upstream_header headers[DP_UPSTREAM_MAX_HEADERS];
    size_t header_count = 0;
    char url[1200];

    s->up = up;
    s->signal = signal;
    dp_upstream_config_connection(cfg, signal, &s->conn);
    s->lane_count = cfg->concurrency; /* checked by dp_upstream_create() */
    for (unsigned i = 0; i < s->lane_count; i++) {
        s->lanes[i].s = s;
        s->lanes[i].rng = (uint64_t)dp_clock_monotonic_ms() * 0x9E3779B97F4A7C15ull +
                          (uint64_t)(uintptr_t)&s->lanes[i] + 1;
    }

    pthread_condattr_t attr;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -1;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    s->sync_ready = true;

    if (!c->endpoint[0])
        return 0; /* disabled: counters read as zero */
    /* the header count for the log line; the transports parse them again */
    if (dp_upstream_headers_parse(c->headers, "upstream headers", headers, &header_count) != 0)
        return -1; /* the reason is logged */
    dp_upstream_headers_free(headers, header_count);

    if (dp_delivery_queue_init(&s->queue, cfg->queue_max_items, cfg->queue_max_bytes) != 0)
        return -1;
    s->queue_ready = true;

    s->transport =
        c->protocol == DP_UPSTREAM_HTTP_PROTOBUF ? &dp_upstream_http_ops : &dp_upstream_grpc_ops;
    if (!(s->shared = s->transport->open(c, cfg, signal)))
        return -1; /* the reason is logged */
    for (unsigned i = 0; i < s->lane_count; i++)
        if (!(s->lanes[i].transport = s->transport->lane_open(s->shared)))
            return -1;
    s->enabled = true;
    dp_upstream_connection_url(c, url, sizeof(url));
    dp_log_info(COMPONENT, "%s go to %s (%s, %s%s, %zu extra header%s)",
                dp_upstream_signal_name(signal), url, s->transport->name,
                c->transport == DP_UPSTREAM_PLAINTEXT ? "plaintext" : "TLS",
                c->compression == DP_UPSTREAM_COMPRESSION_GZIP ? ", gzip" : "", header_count,
                header_count == 1 ? "" : "s");
    return 0;
}

/* ---- the retry loop ---------------------------------------------------- */

/* Sleep for delay_ms unless the shutdown aborts; returns false if aborted. */
static bool backoff_wait(sender *s, uint64_t delay_ms)
{
    uint64_t until = dp_clock_monotonic_ms() + delay_ms;
    struct timespec ts = abs_time(until);
    bool aborted;

    pthread_mutex_lock(&s->mu);
    while (!s->abort && dp_clock_monotonic_ms() < until)
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
    aborted = s->abort;
    pthread_mutex_unlock(&s->mu);
    return !aborted;
}

static void count(sender *s, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&s->mu);
    *field += n;
    pthread_mutex_unlock(&s->mu);
}

/* Send one batch until it is delivered, refused for good or dropped at
 * shutdown; true unless dropped (what a tracked request is told). */
static bool deliver(lane *l, dp_delivery_batch *batch)
{
    sender *s = l->s;
    const dp_upstream_config *cfg = &s->up->cfg;
    const char *sig = dp_upstream_signal_name(s->signal);
    uint64_t start = dp_clock_monotonic_ms();
    uint64_t backoff = cfg->retry_initial_ms ? cfg->retry_initial_ms : 1;
    uint64_t retries = 0;
    dp_upstream_result res;

    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool aborted = s->abort;
        pthread_mutex_unlock(&s->mu);
        if (aborted) {
            count(s, &s->stats.dropped_at_shutdown, batch->items);
            return false;
        }

        s->transport->send(l->transport, &res);

        pthread_mutex_lock(&s->mu);
        s->stats.attempts++;
        aborted = s->abort;
        if (res.outcome == DP_UPSTREAM_ACCEPTED) {
            uint64_t rejected = res.rejected > 0 ? (uint64_t)res.rejected : 0;
            if (rejected > batch->items)
                rejected = batch->items;
            s->stats.exported_items += batch->items - rejected;
            s->stats.rejected_items += rejected;
            if (rejected || res.partial_message[0])
                s->stats.partial_success_calls++;
        }
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mu);

        if (res.outcome == DP_UPSTREAM_ACCEPTED) {
            if (res.rejected > 0 || res.partial_message[0])
                dp_log_warn(COMPONENT,
                            "%s: upstream accepted the batch but rejected %" PRId64 " of %" PRIu64
                            " item(s): %s",
                            sig, res.rejected, batch->items,
                            res.partial_message[0] ? res.partial_message : "(no message)");
            return true;
        }
        if (aborted) {
            count(s, &s->stats.dropped_at_shutdown, batch->items);
            return false;
        }
        if (res.outcome == DP_UPSTREAM_REFUSED) {
            /* gRPC RESOURCE_EXHAUSTED without RetryInfo (refused is what
             * the transport makes of it) or HTTP 413: what a server answers
             * a message over its receive limit. Retrying cannot help. */
            bool too_large = strcmp(res.status, "RESOURCE_EXHAUSTED") == 0 ||
                             strcmp(res.status, "HTTP 413") == 0;
            pthread_mutex_lock(&s->mu);
            s->stats.failed_items += batch->items;
            s->stats.failed_calls++;
            if (too_large)
                s->stats.too_large_items += batch->items;
            pthread_mutex_unlock(&s->mu);
            if (too_large)
                dp_log_error(COMPONENT,
                             "%s: upstream refused a batch of %" PRIu64
                             " item(s), %zu bytes, as too large (%s: %s); not retried: its "
                             "receive limit is below upstream.batch_max_bytes (%u) or one item is "
                             "larger than that",
                             sig, batch->items, batch->len, res.status,
                             res.message[0] ? res.message : "no message", cfg->batch_max_bytes);
            else
                dp_log_error(
                    COMPONENT,
                    "%s: upstream refused a batch of %" PRIu64 " item(s) with %s: %s (not retried)",
                    sig, batch->items, res.status, res.message[0] ? res.message : "(no message)");
            return true;
        }

        /* Jitter in [backoff/2, 3*backoff/2) keeps many clients from
         * retrying in step; the server's delay (RetryInfo, Retry-After)
         * wins when given. */
        uint64_t delay = backoff / 2 + next_random(&l->rng) % (backoff + 1);
        if (res.has_delay && res.delay_ms > 0)
            delay = res.delay_ms;
        backoff = backoff * 2 > cfg->retry_max_ms ? cfg->retry_max_ms : backoff * 2;
        if (backoff == 0)
            backoff = 1;

        if (cfg->retry_max_elapsed_ms &&
            dp_clock_monotonic_ms() + delay - start > cfg->retry_max_elapsed_ms) {
            pthread_mutex_lock(&s->mu);
            s->stats.failed_items += batch->items;
            s->stats.failed_calls++;
            pthread_mutex_unlock(&s->mu);
            dp_log_error(COMPONENT,
                         "%s: giving up a batch of %" PRIu64
                         " item(s) after %u ms of retries; last answer %s: %s",
                         sig, batch->items, cfg->retry_max_elapsed_ms, res.status,
                         res.message[0] ? res.message : "(no message)");
            return true;
        }
        count(s, &s->stats.retries, 1);
        /* One warning per batch; an outage would otherwise log at the
         * retry rate. The retries counter keeps the full figure. */
        dp_log_at(++retries == 1 ? DP_LOG_WARN : DP_LOG_DEBUG, COMPONENT,
                  "%s: upstream answered %s (%s); retrying in %" PRIu64 " ms", sig, res.status,
                  res.message[0] ? res.message : "no message", delay);
        if (!backoff_wait(s, delay)) {
            count(s, &s->stats.dropped_at_shutdown, batch->items);
            return false;
        }
    }
}

/* Memory that passed through the queue before a drained queue hands freed
 * pages back to the system, and how often at most. */
#define TRIM_MIN_BYTES (64u << 20)
#define TRIM_MIN_INTERVAL_MS 1000

/*
 * The queue's requests are allocated by the run processors (each enriched
 * run is encoded into a buffer the queue takes over) and freed by the
 * sender lanes: glibc keeps such memory in the allocating threads' arenas,
 * so after a burst dagprof held several times its no-upstream footprint long
 * after the queue had drained (bench/README.md, "Memory after a drain").
 * Once the queue is empty after enough bytes went through it, malloc_trim()
 * hands the free pages back. Called with s->mu held.
 */
static bool want_trim(sender *s, uint64_t delivered_bytes)
{
    s->bytes_since_trim += delivered_bytes;
    if (s->bytes_since_trim < TRIM_MIN_BYTES)
        return false;
    uint64_t now = dp_clock_monotonic_ms();
    if (now - s->last_trim_ms < TRIM_MIN_INTERVAL_MS)
        return false;
    dp_delivery_depth d = dp_delivery_queue_depth(&s->queue);
    if (d.queued_bytes || d.inflight_bytes)
        return false;
    s->bytes_since_trim = 0;
    s->last_trim_ms = now;
    return true;
}

static void *sender_main(void *arg)
{
    lane *l = arg;
    sender *s = l->s;
    const dp_upstream_config *cfg = &s->up->cfg;
    dp_delivery_batch batch;

    for (;;) {
        bool batch_ready = true;
        int rc = dp_delivery_queue_take(&s->queue, &batch, cfg->batch_max_items,
                                        cfg->batch_max_bytes, cfg->batch_timeout_ms);
        if (rc == 0)
            break;
        if (rc < 0) {
            /* Taking a batch does not allocate today; should a future
             * queue fail, wait a little and try again: nothing is lost,
             * it is still queued. */
            if (!backoff_wait(s, cfg->retry_initial_ms ? cfg->retry_initial_ms : 100))
                break;
            continue;
        }
        pthread_mutex_lock(&s->mu);
        bool aborted = s->abort; /* taken just before the shutdown ran out of time */
        pthread_mutex_unlock(&s->mu);
        if (aborted) {
            count(s, &s->stats.dropped_at_shutdown, batch.items);
            batch_ready = false;
        }
        while (batch_ready && s->transport->batch_begin(l->transport, &batch) != 0) {
            /* Out of memory for the batch's parts (or its compression):
             * the batch waits, nothing is lost; only a shutdown out of
             * time ends the wait. */
            if (!backoff_wait(s, cfg->retry_initial_ms ? cfg->retry_initial_ms : 100)) {
                count(s, &s->stats.dropped_at_shutdown, batch.items);
                batch_ready = false;
                break;
            }
        }
        /* tracked requests (the persistent queue's) are told how it ended;
         * complete() tells any not told yet that they were dropped */
        if (batch_ready)
            dp_delivery_batch_settle(&batch, deliver(l, &batch));
        uint64_t len = batch.len;
        dp_delivery_queue_complete(&s->queue, &batch);
        pthread_mutex_lock(&s->mu);
        s->batches_completed++;
        pthread_cond_broadcast(&s->cond);
        bool trim = want_trim(s, len);
        pthread_mutex_unlock(&s->mu);
#ifdef __GLIBC__
        if (trim)
            malloc_trim(0);
#else
        (void)trim;
#endif
    }

    pthread_mutex_lock(&s->mu);
    if (++s->lanes_done == s->lane_count)
        s->done = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- public API -------------------------------------------------------- */

static void sender_close(sender *s)
{
    for (unsigned i = 0; i < s->lane_count; i++) {
        if (s->lanes[i].transport) {
            s->transport->lane_close(s->lanes[i].transport);
            s->lanes[i].transport = NULL;
        }
    }
    if (s->shared) {
        s->transport->close(s->shared);
        s->shared = NULL;
    }
    if (s->queue_ready) {
        dp_delivery_queue_destroy(&s->queue);
        s->queue_ready = false;
    }
    if (s->sync_ready) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->mu);
        s->sync_ready = false;
    }
}

dp_upstream *dp_upstream_create(const dp_upstream_config *cfg)
{
    dp_upstream *up = NULL;

    if (!cfg)
        return NULL;
    if (cfg->retry_initial_ms > cfg->retry_max_ms) {
        dp_log_error(COMPONENT, "retry initial backoff (%u ms) exceeds the maximum (%u ms)",
                     cfg->retry_initial_ms, cfg->retry_max_ms);
        return NULL;
    }
    if (cfg->concurrency < 1 || cfg->concurrency > DP_UPSTREAM_MAX_CONCURRENCY) {
        dp_log_error(COMPONENT, "concurrency %u is not within 1..%d", cfg->concurrency,
                     DP_UPSTREAM_MAX_CONCURRENCY);
        return NULL;
    }
    if (dp_upstream_config_check(cfg) != 0)
        return NULL; /* the reason is logged */
    up = calloc(1, sizeof(*up));
    if (!up)
        return NULL;
    up->cfg = *cfg;

    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        if (sender_open(up, &up->senders[i], (dp_upstream_signal)i) != 0)
            goto fail;
    }
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        sender *s = &up->senders[i];
        if (!s->enabled)
            continue;
        for (unsigned j = 0; j < s->lane_count; j++) {
            if (pthread_create(&s->lanes[j].thread, NULL, sender_main, &s->lanes[j]) != 0)
                goto fail; /* shutdown(0) aborts and joins the lanes that started */
            s->lanes[j].thread_started = true;
        }
    }
    return up;
fail:
    dp_log_error(COMPONENT, "cannot start the upstream client");
    dp_upstream_destroy(up);
    return NULL;
}

bool dp_upstream_enabled(const dp_upstream *up, dp_upstream_signal signal)
{
    return up && (int)signal >= 0 && signal < DP_UPSTREAM_SIGNAL_COUNT &&
           up->senders[signal].enabled;
}

/* One request to queue: copied from `bytes`, or `owned` handed over. */
typedef struct request {
    const void *bytes;
    void *owned;
    size_t len;
    uint64_t items;
    dp_upstream_done_fn done; /* NULL: untracked */
    void *done_ctx;
    bool retried; /* a wait that runs out is not counted: the caller tries again */
} request;

static uint64_t batches_completed(sender *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->batches_completed;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/*
 * Queue r on the signal's sender. When the queue is full: EFULL at once, or
 * with `wait`, wait for a batch to complete and try again, until timeout_ms
 * has passed.
 */
static int submit(dp_upstream *up, dp_upstream_signal signal, const request *r, bool wait,
                  uint32_t timeout_ms)
{
    if (!up || (int)signal < 0 || signal >= DP_UPSTREAM_SIGNAL_COUNT ||
        !(r->owned ? r->owned : r->bytes) || r->len == 0)
        return DP_UPSTREAM_EINVAL;
    sender *s = &up->senders[signal];
    if (!s->enabled)
        return DP_UPSTREAM_EDISABLED;
    uint64_t until = dp_clock_monotonic_ms() + timeout_ms;
    struct timespec ts = abs_time(until);
    for (;;) {
        /* read the completion count before trying, so a batch finished
         * between a refused push and the wait still wakes us */
        uint64_t seen = wait ? batches_completed(s) : 0;
        int rc = r->done    ? dp_delivery_queue_push_tracked(&s->queue, r->bytes, r->owned, r->len,
                                                             r->items, r->done, r->done_ctx)
                 : r->owned ? dp_delivery_queue_push_owned(&s->queue, r->owned, r->len, r->items)
                            : dp_delivery_queue_push(&s->queue, r->bytes, r->len, r->items);
        if (rc == 0) {
            count(s, &s->stats.submitted_items, r->items);
            return 0;
        }
        if (rc == DP_DELIVERY_ECLOSED)
            return DP_UPSTREAM_ESHUTDOWN;
        if (rc == DP_DELIVERY_ENOMEM)
            return DP_UPSTREAM_ENOMEM;
        if (rc != DP_DELIVERY_EFULL)
            return DP_UPSTREAM_EINVAL;
        if (!wait) {
            count(s, &s->stats.refused_full, 1);
            return DP_UPSTREAM_EFULL;
        }
        pthread_mutex_lock(&s->mu);
        while (s->batches_completed == seen && !s->done && dp_clock_monotonic_ms() < until)
            pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        bool give_up =
            s->done || (s->batches_completed == seen && dp_clock_monotonic_ms() >= until);
        if (give_up && !s->done && !r->retried)
            s->stats.refused_full++;
        bool done = s->done;
        pthread_mutex_unlock(&s->mu);
        if (done)
            return DP_UPSTREAM_ESHUTDOWN;
        if (give_up)
            return DP_UPSTREAM_EFULL;
    }
}

int dp_upstream_submit(dp_upstream *up, dp_upstream_signal signal, const void *bytes, size_t len,
                       uint64_t items)
{
    request r = {bytes, NULL, len, items};
    return submit(up, signal, &r, false, 0);
}

int dp_upstream_submit_wait(dp_upstream *up, dp_upstream_signal signal, const void *bytes,
                            size_t len, uint64_t items, uint32_t timeout_ms)
{
    request r = {bytes, NULL, len, items};
    return submit(up, signal, &r, true, timeout_ms);
}

int dp_upstream_submit_owned(dp_upstream *up, dp_upstream_signal signal, void *bytes, size_t len,
                             uint64_t items)
{
    request r = {NULL, bytes, len, items};
    return submit(up, signal, &r, false, 0);
}

int dp_upstream_submit_owned_wait(dp_upstream *up, dp_upstream_signal signal, void *bytes,
                                  size_t len, uint64_t items, uint32_t timeout_ms)
{
    request r = {NULL, bytes, len, items};
    return submit(up, signal, &r, true, timeout_ms);
}

int dp_upstream_submit_tracked(dp_upstream *up, dp_upstream_signal signal, const void *bytes,
                               size_t len, uint64_t items, dp_upstream_done_fn done, void *done_ctx)
{
    request r = {bytes, NULL, len, items, done, done_ctx};
    return submit(up, signal, &r, false, 0);
}

int dp_upstream_submit_owned_wait_tracked(dp_upstream *up, dp_upstream_signal signal, void *bytes,
                                          size_t len, uint64_t items, uint32_t timeout_ms,
                                          dp_upstream_done_fn done, void *done_ctx)
{
    request r = {NULL, bytes, len, items, done, done_ctx, true};
    return submit(up, signal, &r, true, timeout_ms);
}

int dp_upstream_submit_traces(dp_upstream *up, const void *bytes, size_t len, uint64_t span_count)
{
    return dp_upstream_submit(up, DP_UPSTREAM_TRACES, bytes, len, span_count);
}

int dp_upstream_submit_metrics(dp_upstream *up, const void *bytes, size_t len,
                               uint64_t data_point_count)
{
    return dp_upstream_submit(up, DP_UPSTREAM_METRICS, bytes, len, data_point_count);
}

int dp_upstream_submit_logs(dp_upstream *up, const void *bytes, size_t len,
                            uint64_t log_record_count)
{
    return dp_upstream_submit(up, DP_UPSTREAM_LOGS, bytes, len, log_record_count);
}

void dp_upstream_count_refused_full(dp_upstream *up, dp_upstream_signal signal)
{
    if (dp_upstream_enabled(up, signal))
        count(&up->senders[signal], &up->senders[signal].stats.refused_full, 1);
}

void dp_upstream_count_duplicates(dp_upstream *up, dp_upstream_signal signal, uint64_t n)
{
    if (n && dp_upstream_enabled(up, signal))
        count(&up->senders[signal], &up->senders[signal].stats.duplicate_items, n);
}

void dp_upstream_get_stats(dp_upstream *up, dp_upstream_signal signal, dp_upstream_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!dp_upstream_enabled(up, signal))
        return;
    sender *s = &up->senders[signal];
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
    dp_delivery_depth d = dp_delivery_queue_depth(&s->queue);
    out->queue_items = d.queued_items + d.inflight_items;
    out->queue_bytes = d.queued_bytes + d.inflight_bytes;
    uint64_t now = dp_clock_monotonic_ms();
    if (d.oldest_enqueued_ms && now > d.oldest_enqueued_ms)
        out->queue_oldest_age_ms = now - d.oldest_enqueued_ms;
}

int dp_upstream_wait_attempts(dp_upstream *up, dp_upstream_signal signal, uint64_t min_attempts,
                              uint32_t timeout_ms)
{
    if (!dp_upstream_enabled(up, signal))
        return -1;
    sender *s = &up->senders[signal];
    uint64_t until = dp_clock_monotonic_ms() + timeout_ms;
    struct timespec ts = abs_time(until);
    int result;

    pthread_mutex_lock(&s->mu);
    while (s->stats.attempts < min_attempts && dp_clock_monotonic_ms() < until)
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
    result = s->stats.attempts >= min_attempts ? 0 : -1;
    pthread_mutex_unlock(&s->mu);
    return result;
}

uint64_t dp_upstream_shutdown(dp_upstream *up, uint32_t timeout_ms)
{
    uint64_t undelivered = 0;

    if (!up || up->shut_down)
        return 0;
    up->shut_down = true;

    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++)
        if (up->senders[i].queue_ready)
            dp_delivery_queue_close(&up->senders[i].queue);

    /* Flush: wait for every sender to finish, all against one deadline. */
    uint64_t until = dp_clock_monotonic_ms() + timeout_ms;
    struct timespec ts = abs_time(until);
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        sender *s = &up->senders[i];
        if (!s->enabled || !s->lanes[0].thread_started)
            continue;
        pthread_mutex_lock(&s->mu);
        while (!s->done && dp_clock_monotonic_ms() < until)
            pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        pthread_mutex_unlock(&s->mu);
    }

    /* Out of time: cancel the calls in flight, stop retrying, and drop what
     * is still queued now. Left in the queue, the lanes would take it batch
     * after batch and prepare each (gzip over OTLP/HTTP) only to drop it,
     * holding the exit for as long as that takes. Dropped under s->mu, so
     * no lane sees the abort before the queue is empty; the requests' done
     * callbacks (the persistent queue's) take no lock of this client. */
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        sender *s = &up->senders[i];
        if (!s->enabled || !s->lanes[0].thread_started)
            continue;
        pthread_mutex_lock(&s->mu);
        if (!s->done) {
            s->abort = true;
            for (unsigned j = 0; j < s->lane_count; j++)
                if (s->lanes[j].transport)
                    s->transport->cancel(s->lanes[j].transport);
            s->stats.dropped_at_shutdown += dp_delivery_queue_drain(&s->queue, NULL);
            pthread_cond_broadcast(&s->cond);
        }
        pthread_mutex_unlock(&s->mu);
    }
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        sender *s = &up->senders[i];
        for (unsigned j = 0; j < s->lane_count; j++) {
            if (s->lanes[j].thread_started) {
                pthread_join(s->lanes[j].thread, NULL);
                s->lanes[j].thread_started = false;
            }
        }
        if (!s->queue_ready)
            continue;
        uint64_t requests = 0;
        uint64_t left = dp_delivery_queue_drain(&s->queue, &requests);
        pthread_mutex_lock(&s->mu);
        s->stats.dropped_at_shutdown += left;
        uint64_t dropped = s->stats.dropped_at_shutdown;
        pthread_mutex_unlock(&s->mu);
        if (dropped)
            dp_log_error(COMPONENT,
                         "%s: %" PRIu64 " item(s) could not be delivered before the "
                         "shutdown timeout (%u ms)",
                         dp_upstream_signal_name((dp_upstream_signal)i), dropped, timeout_ms);
        undelivered += dropped;
    }
    return undelivered;
}

void dp_upstream_destroy(dp_upstream *up)
{
    if (!up)
        return;
    /* A half-built client may have threads but was never shut down. */
    if (!up->shut_down)
        dp_upstream_shutdown(up, 0);
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++)
        sender_close(&up->senders[i]);
    /* the copy of the config holds the header values: secrets */
    memset(&up->cfg, 0, sizeof(up->cfg));
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++)
        memset(&up->senders[i].conn, 0, sizeof(up->senders[i].conn));
    free(up);
}

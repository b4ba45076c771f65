/*
 * The history sink (history.h): the run processors render a run's JSON
 * report and copy the figures the store keeps (the profile's run fields,
 * nodes and findings, into one arena per run), then append it to a bounded
 * queue and return; they never touch the database and never wait for it
 * (unless wait_when_full: dagprof report waits for room rather than drop
 * runs, as long as the writer is not failing).
 * One writer thread takes up to batch_runs runs at a time, inserts them in
 * one transaction and applies retention after each batch. Runs stay in the
 * queue until their transaction commits, so a failed batch is written again
 * on the next attempt; while the database fails, the writer waits retry_ms,
 * doubled after each failure up to 30 s, and logs only the first failure of
 * a streak and the recovery.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "buf.h"
#include "clock.h"
#include "history.h"
#include "log.h"
#include "profile_types.h"
#include "render.h"
#include "sink.h"

#define RETRY_MAX_MS 30000u
#define REPORT_MAX_BYTES ((size_t)256 << 20)

/* One run on its way to the database: the figures the store keeps, owned by `arena`. */
typedef struct history_item {
    dp_arena arena;
    dp_run_profile profile; /* its arena field unused; arrays point into `arena` */
    char *json;
    size_t json_len;
} history_item;

typedef struct history_sink {
    dp_sink base; /* first: a dp_sink * is a history_sink * */
    dp_history_options opt;
    unsigned retry_ms, batch_runs, flush_wait_ms;
    bool wait_when_full;
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the writer: work, or stop */
    pthread_cond_t emptied; /* flush: the queue became empty */
    pthread_cond_t room;    /* wait_when_full: runs left the queue, or the writer failed */
    history_item **ring;
    size_t cap, head, count; /* ring[head .. head+count) queued; the first `writing` in flight */
    size_t writing;
    bool stop;
    bool failing; /* the last attempt failed: flush does not wait for the next */
    bool thread_started;
    pthread_t thread;
    atomic_ullong written, dropped_full, dropped_failed, failures, deleted;
} history_sink;

static void item_free(history_item *it)
{
    if (!it)
        return;
    free(it->json);
    dp_arena_free(&it->arena);
    free(it);
}

static const char *copy_str(dp_arena *a, const char *s)
{
    return s ? dp_arena_strndup(a, s, strlen(s)) : NULL;
}

/* The figures of p the store keeps, copied; NULL on out of memory. */
static history_item *item_create(const dp_run_profile *p)
{
    history_item *it = calloc(1, sizeof(*it));
    if (!it)
        return NULL;
    dp_arena_init(&it->arena, 16384, 0);
    dp_run_profile *c = &it->profile;
    *c = *p;
    memset(&c->arena, 0, sizeof(c->arena));
    c->critical_path = NULL, c->critical_path_count = 0;
    c->models = NULL, c->model_count = 0;
    c->calls = NULL, c->call_count = 0;
    c->dag_id = copy_str(&it->arena, p->dag_id);
    c->service = copy_str(&it->arena, p->service);
    c->nodes = p->node_count ? dp_arena_calloc(&it->arena, p->node_count, sizeof(*c->nodes)) : NULL;
    c->bottlenecks = p->bottleneck_count
                         ? dp_arena_alloc(&it->arena, p->bottleneck_count * sizeof(*c->bottlenecks))
                         : NULL;
    c->recommendations =
        p->recommendation_count
            ? dp_arena_alloc(&it->arena, p->recommendation_count * sizeof(*c->recommendations))
            : NULL;
    if ((p->dag_id && !c->dag_id) || (p->service && !c->service) || (p->node_count && !c->nodes) ||
        (p->bottleneck_count && !c->bottlenecks) ||
        (p->recommendation_count && !c->recommendations))
        goto fail;
    if (p->bottleneck_count)
        memcpy(c->bottlenecks, p->bottlenecks, p->bottleneck_count * sizeof(*c->bottlenecks));
    if (p->recommendation_count)
        memcpy(c->recommendations, p->recommendations,
               p->recommendation_count * sizeof(*c->recommendations));
    for (size_t i = 0; i < p->node_count; i++) {
        dp_node_profile *n = &c->nodes[i];
        *n = p->nodes[i];
        n->deps = NULL, n->dep_count = 0;
        n->tool_calls = NULL; /* tool_call_count kept */
        n->id = copy_str(&it->arena, p->nodes[i].id);
        n->name = copy_str(&it->arena, p->nodes[i].name);
        n->model = copy_str(&it->arena, p->nodes[i].model);
        if ((p->nodes[i].id && !n->id) || (p->nodes[i].name && !n->name) ||
            (p->nodes[i].model && !n->model))
            goto fail;
    }
    return it;
fail:
    item_free(it);
    return NULL;
}

static void log_counts(history_sink *s, const char *what, const char *err)
{
    dp_log_warn("history", "%s: %s (%llu write failures so far; retrying)", what, err,
                (unsigned long long)atomic_load(&s->failures));
}

/* Write the first n queued runs in one transaction. 0 or -1 (reason in err). */
static int write_batch(dp_history *h, history_item **items, size_t n, char *err, size_t errlen)
{
    if (dp_history_begin(h, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (dp_history_insert(h, &items[i]->profile, items[i]->json, items[i]->json_len, err,
                              errlen) < 0) {
            dp_history_rollback(h);
            return -1;
        }
    }
    if (dp_history_commit(h, err, errlen) < 0) {
        dp_history_rollback(h);
        return -1;
    }
    return 0;
}

static void wait_ms(history_sink *s, unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (!s->stop && pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0)
        ;
    pthread_mutex_unlock(&s->lock);
}

static void *writer_main(void *arg)
{
    history_sink *s = arg;
    dp_history *h = NULL;
    bool failing = false;
    unsigned backoff = s->retry_ms;
    history_item **batch = calloc(s->batch_runs, sizeof(*batch));
    char err[1400];

    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->stop && s->count == 0)
            pthread_cond_wait(&s->wake, &s->lock);
        bool stopping = s->stop;
        size_t n = s->count < s->batch_runs ? s->count : s->batch_runs;
        for (size_t i = 0; batch && i < n; i++)
            batch[i] = s->ring[(s->head + i) % s->cap];
        s->writing = n;
        pthread_mutex_unlock(&s->lock);
        if (n == 0 && stopping)
            break;
        if (!batch) {
            snprintf(err, sizeof(err), "out of memory");
            goto failed;
        }
        if (!h && dp_history_open(s->opt.path, DP_HISTORY_WRITE, &h, err, sizeof(err)) < 0)
            goto failed;
        if (write_batch(h, batch, n, err, sizeof(err)) < 0)
            goto failed;
        uint64_t deleted = 0;
        if (dp_history_apply_retention(h, (uint64_t)dp_clock_realtime_ns(), s->opt.max_age_ms,
                                       s->opt.max_size_bytes, &deleted, err, sizeof(err)) < 0)
            dp_log_warn("history", "retention: %s", err);
        atomic_fetch_add(&s->deleted, deleted);
        if (failing)
            dp_log_info("history", "%s: writing runs again", s->opt.path);
        failing = false;
        backoff = s->retry_ms;
        pthread_mutex_lock(&s->lock);
        s->failing = false;
        for (size_t i = 0; i < n; i++) {
            item_free(s->ring[s->head]);
            s->ring[s->head] = NULL;
            s->head = (s->head + 1) % s->cap;
        }
        s->count -= n;
        s->writing = 0;
        pthread_cond_broadcast(&s->room);
        /* counted with the queue's change, so a snapshot never sees a run twice */
        atomic_fetch_add(&s->written, n);
        if (s->count == 0)
            pthread_cond_broadcast(&s->emptied);
        pthread_mutex_unlock(&s->lock);
        continue;
    failed:
        atomic_fetch_add(&s->failures, 1);
        if (!failing)
            log_counts(s, "cannot write the run history", err);
        failing = true;
        /* a connection that failed may hold a broken state: open again next time */
        dp_history_close(h);
        h = NULL;
        pthread_mutex_lock(&s->lock);
        s->writing = 0;
        s->failing = true;
        pthread_cond_broadcast(&s->emptied); /* a waiting flush gives up */
        pthread_cond_broadcast(&s->room);    /* and so do runs waiting for room */
        pthread_mutex_unlock(&s->lock);
        if (stopping)
            break; /* one last attempt at shutdown; what is left is counted below */
        wait_ms(s, backoff);
        backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
    }
    dp_history_close(h);
    free(batch);
    return NULL;
}

static int history_on_run(dp_sink *sink, const dp_run_record *run, const dp_run_profile *p)
{
    history_sink *s = (history_sink *)sink;
    (void)run;
    dp_buf json;
    dp_buf_init(&json, REPORT_MAX_BYTES);
    history_item *it = NULL;
    if (dp_render_json(p, &json) < 0 || !(it = item_create(p))) {
        dp_buf_free(&json);
        atomic_fetch_add(&s->dropped_failed, 1);
        dp_log_warn("history", "cannot keep a run for the history: out of memory");
        return -1;
    }
    it->json = (char *)json.data; /* ownership moves to the item */
    it->json_len = json.len;
    pthread_mutex_lock(&s->lock);
    while (s->wait_when_full && s->count == s->cap && !s->stop && !s->failing)
        pthread_cond_wait(&s->room, &s->lock);
    bool full = s->count == s->cap || s->stop;
    if (!full) {
        s->ring[(s->head + s->count) % s->cap] = it;
        s->count++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    if (full) {
        unsigned long long dropped = atomic_fetch_add(&s->dropped_full, 1) + 1;
        /* one line for the first drop and then one per 1000, not one per run */
        if (dropped == 1 || dropped % 1000 == 0)
            dp_log_warn("history",
                        "history queue full (%u runs): run not recorded (%llu dropped so far)",
                        s->cap > 0 ? (unsigned)s->cap : 0u, dropped);
        item_free(it);
    }
    return 0;
}

/* Wait (at most flush_wait_ms) until every queued run is written; not while the database
 * fails (the runs stay queued for the retries, or are counted at destroy). */
static int history_flush(dp_sink *sink)
{
    history_sink *s = (history_sink *)sink;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->flush_wait_ms / 1000;
    until.tv_nsec += (long)(s->flush_wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (s->count > 0 && !s->failing &&
           pthread_cond_timedwait(&s->emptied, &s->lock, &until) == 0)
        ;
    size_t left = s->count;
    pthread_mutex_unlock(&s->lock);
    return left ? -1 : 0;
}

static void history_destroy(dp_sink *sink)
{
    history_sink *s = (history_sink *)sink;
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stop = true;
        pthread_cond_broadcast(&s->wake);
        pthread_cond_broadcast(&s->room);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    if (s->count) {
        atomic_fetch_add(&s->dropped_failed, s->count);
        dp_log_warn("history", "%zu run%s not written to the run history at shutdown", s->count,
                    s->count == 1 ? "" : "s");
    }
    for (size_t i = 0; s->ring && i < s->count; i++)
        item_free(s->ring[(s->head + i) % s->cap]);
    free(s->ring);
    pthread_cond_destroy(&s->room);
    pthread_cond_destroy(&s->emptied);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const dp_sink_ops history_ops = {history_on_run, history_flush, history_destroy};

dp_sink *dp_history_sink_create(const dp_history_options *opt, const dp_history_sink_tuning *tuning)
{
    history_sink *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base.ops = &history_ops;
    s->opt = *opt;
    s->retry_ms = tuning && tuning->retry_ms ? tuning->retry_ms : 1000;
    s->batch_runs = tuning && tuning->batch_runs ? tuning->batch_runs : 256;
    s->flush_wait_ms = tuning && tuning->flush_wait_ms ? tuning->flush_wait_ms : 10000;
    s->wait_when_full = tuning && tuning->wait_when_full;
    s->cap = opt->queue_runs ? opt->queue_runs : 1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->emptied, NULL);
    pthread_cond_init(&s->room, NULL);
    s->ring = calloc(s->cap, sizeof(*s->ring));
    if (!s->ring) {
        history_destroy(&s->base);
        return NULL;
    }
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        dp_log_error("history", "cannot start the history writer thread");
        history_destroy(&s->base);
        return NULL;
    }
    s->thread_started = true;
    return &s->base;
}

void dp_history_sink_get_counts(dp_sink *sink, dp_history_sink_counts *out)
{
    history_sink *s = (history_sink *)sink;
    memset(out, 0, sizeof(*out));
    out->runs_dropped_full = atomic_load(&s->dropped_full);
    out->runs_dropped_failed = atomic_load(&s->dropped_failed);
    out->write_failures = atomic_load(&s->failures);
    out->runs_deleted = atomic_load(&s->deleted);
    pthread_mutex_lock(&s->lock);
    out->runs_written = atomic_load(&s->written); /* changed with the queue, under the lock */
    out->queued = s->count;
    pthread_mutex_unlock(&s->lock);
}

void dp_history_sink_gather(void *ctx, dp_telemetry *out)
{
    dp_history_sink_counts c;
    dp_history_sink_get_counts(ctx, &c);
    if (dp_telemetry_family_add(out, "dagprof_history_written_runs", DP_TELEMETRY_COUNTER, "{run}",
                                "Runs written to the run history."))
        dp_telemetry_add(out, (double)c.runs_written, NULL);
    if (dp_telemetry_family_add(out, "dagprof_history_dropped_runs", DP_TELEMETRY_COUNTER, "{run}",
                                "Runs not recorded in the run history, by reason.")) {
        dp_telemetry_add(out, (double)c.runs_dropped_full, "reason", "queue_full", NULL);
        dp_telemetry_add(out, (double)c.runs_dropped_failed, "reason", "failed", NULL);
    }
    if (dp_telemetry_family_add(out, "dagprof_history_write_failures", DP_TELEMETRY_COUNTER,
                                "{attempt}",
                                "Failed attempts to open or write the run history database."))
        dp_telemetry_add(out, (double)c.write_failures, NULL);
    if (dp_telemetry_family_add(out, "dagprof_history_deleted_runs", DP_TELEMETRY_COUNTER, "{run}",
                                "Runs deleted from the run history by retention."))
        dp_telemetry_add(out, (double)c.runs_deleted, NULL);
    if (dp_telemetry_family_add(out, "dagprof_history_queue_runs", DP_TELEMETRY_GAUGE, "{run}",
                                "Runs waiting for the run history's writer."))
        dp_telemetry_add(out, (double)c.queued, NULL);
}

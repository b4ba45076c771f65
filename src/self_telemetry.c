/*
 * The self-telemetry service of the daemon (self_telemetry.h): the
 * /metrics endpoint, the status line's timer, and the gathering both use
 * and the export pipeline calls. The daemon's parts are attached once they
 * run; one mutex makes a gathering see them whole and keeps them from
 * being read once the service is being destroyed.
 */
#include "self_telemetry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "http_endpoint.h"
#include "log.h"

#define COMPONENT "telemetry"
#define STATUS_MAX 1024

struct dp_self_telemetry {
    dp_self_telemetry_options opt;
    dp_http_endpoint *endpoint; /* NULL without telemetry.listen */

    pthread_mutex_t lock; /* guards src and attached */
    dp_self_telemetry_sources src;
    bool attached;

    pthread_t timer;
    bool timer_started;
    pthread_mutex_t timer_lock;
    pthread_cond_t wake;
    bool stopping;
    char last_status[STATUS_MAX]; /* the timer's own */
};

void dp_self_telemetry_gather(void *ctx, dp_telemetry *out)
{
    dp_self_telemetry *t = ctx;
    pthread_mutex_lock(&t->lock);
    if (t->attached)
        dp_self_telemetry_collect(&t->src, out);
    pthread_mutex_unlock(&t->lock);
}

/* --- GET /metrics -------------------------------------------------------------------------- */

/* A resource attribute's key as a Prometheus label name: characters other
 * than letters, digits and '_' become '_' (service.name -> service_name),
 * and a leading digit gets a '_' before it. */
static char *label_name(dp_arena *arena, const char *key)
{
    size_t len = strlen(key);
    char *out = dp_arena_alloc(arena, len + 2);
    if (!out)
        return NULL;
    char *o = out;
    if (key[0] >= '0' && key[0] <= '9')
        *o++ = '_';
    for (const char *k = key; *k; k++) {
        char c = *k;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        *o++ = ok ? c : '_';
    }
    *o = '\0';
    return out;
}

/* target_info: dagprof's resource as labels of a gauge of 1, as the
 * OpenTelemetry specification maps a resource to Prometheus. */
static void add_target_info(const dp_service_identity *id, dp_telemetry *out)
{
    if (!id || !id->count)
        return;
    dp_telemetry_label *labels = dp_arena_calloc(&out->arena, id->count, sizeof(*labels));
    if (!labels) {
        out->failed = true;
        return;
    }
    for (size_t i = 0; i < id->count; i++) {
        labels[i].key = label_name(&out->arena, id->attrs[i].key);
        labels[i].value = id->attrs[i].value;
        if (!labels[i].key) {
            out->failed = true;
            return;
        }
    }
    dp_telemetry_family_add(out, "target_info", DP_TELEMETRY_GAUGE, "1",
                            "Target metadata: the resource attributes of this dagprof.");
    dp_telemetry_add_labels(out, 1, labels, id->count);
}

static void on_request(void *ctx, const char *method, const char *url, dp_http_answer *a)
{
    dp_self_telemetry *t = ctx;
    a->content_type = "text/plain; charset=utf-8";
    if (strcmp(url, "/metrics") != 0) {
        a->status = 404;
        (void)dp_buf_puts(&a->body, "not found: dagprof serves its metrics on /metrics\n");
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        a->status = 405;
        a->allow = "GET, HEAD";
        (void)dp_buf_printf(&a->body, "%.40s is not allowed on /metrics: use GET\n", method);
        return;
    }
    dp_telemetry snap;
    dp_telemetry_init(&snap);
    pthread_mutex_lock(&t->lock);
    bool attached = t->attached;
    if (attached) {
        dp_self_telemetry_collect(&t->src, &snap);
        add_target_info(t->src.identity, &snap);
    }
    pthread_mutex_unlock(&t->lock);
    if (!attached) {
        a->status = 503;
        (void)dp_buf_puts(&a->body, "dagprof is starting\n");
    } else if (snap.failed || dp_telemetry_render_prometheus(&snap, &a->body) != 0) {
        dp_buf_reset(&a->body);
        a->status = 500;
        (void)dp_buf_puts(&a->body, "out of memory gathering the metrics\n");
    } else {
        a->status = 200;
        a->content_type = DP_TELEMETRY_PROMETHEUS_CONTENT_TYPE;
    }
    dp_telemetry_free(&snap);
}

/* --- the status line ------------------------------------------------------------------------ */

/* Log the main figures when one of them changed since the last line. */
static void status_tick(dp_self_telemetry *t)
{
    char line[STATUS_MAX];
    dp_telemetry snap;
    dp_telemetry_init(&snap);
    dp_self_telemetry_gather(t, &snap);
    bool have = snap.family_count > 0;
    if (have)
        dp_self_telemetry_status_text(&snap, line, sizeof(line));
    dp_telemetry_free(&snap);
    if (!have || strcmp(line, t->last_status) == 0)
        return;
    memcpy(t->last_status, line, sizeof(line));
    dp_log_info(COMPONENT, "%s", line);
}

static void *timer_main(void *arg)
{
    dp_self_telemetry *t = arg;
    uint64_t interval = t->opt.status_interval_ms;
    pthread_mutex_lock(&t->timer_lock);
    while (!t->stopping) {
        struct timespec deadline = dp_clock_deadline(interval);
        /* a timed wait on a monotonic condition; woken early only to stop */
        while (!t->stopping && pthread_cond_timedwait(&t->wake, &t->timer_lock, &deadline) == 0) {
        }
        if (t->stopping)
            break;
        pthread_mutex_unlock(&t->timer_lock);
        status_tick(t);
        pthread_mutex_lock(&t->timer_lock);
    }
    pthread_mutex_unlock(&t->timer_lock);
    return NULL;
}

/* --- life cycle --------------------------------------------------------------------------------
 */

int dp_self_telemetry_start(const dp_self_telemetry_options *opt, dp_self_telemetry **out,
                            char *err, size_t errlen)
{
    int rc = DP_ENOMEM;
    *out = NULL;
    dp_self_telemetry *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "telemetry: out of memory");
        return rc;
    }
    t->opt = *opt;
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->timer_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (opt->listen[0]) {
        rc = dp_http_endpoint_start("telemetry endpoint", opt->listen, on_request, t, &t->endpoint,
                                    err, errlen);
        if (rc != DP_OK)
            goto fail;
    }
    if (opt->status_interval_ms) {
        if (pthread_create(&t->timer, NULL, timer_main, t) != 0) {
            rc = DP_ETHREAD;
            snprintf(err, errlen, "telemetry: cannot start the status line's thread");
            goto fail;
        }
        t->timer_started = true;
    }
    *out = t;
    return DP_OK;
fail:
    dp_self_telemetry_destroy(t);
    return rc;
}

void dp_self_telemetry_attach(dp_self_telemetry *t, const dp_self_telemetry_sources *src)
{
    pthread_mutex_lock(&t->lock);
    t->src = *src;
    t->attached = true;
    pthread_mutex_unlock(&t->lock);
}

int dp_self_telemetry_port(const dp_self_telemetry *t)
{
    return t->endpoint ? dp_http_endpoint_port(t->endpoint) : 0;
}

void dp_self_telemetry_destroy(dp_self_telemetry *t)
{
    if (!t)
        return;
    if (t->timer_started) {
        pthread_mutex_lock(&t->timer_lock);
        t->stopping = true;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->timer_lock);
        pthread_join(t->timer, NULL);
    }
    /* a scrape being answered finishes first */
    dp_http_endpoint_destroy(t->endpoint);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->timer_lock);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

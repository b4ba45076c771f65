/*
 * The HTTP health endpoint (see health_endpoint.h), served by the shared
 * small HTTP server of dagprof's own endpoints (http_endpoint.h).
 */
#include "health_endpoint.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "http_endpoint.h"

struct dp_health_endpoint {
    dp_http_endpoint *server;
    atomic_int state;
    uint64_t up_since_ns; /* wall clock at start */
    uint64_t up_since_ms; /* monotonic clock at start */
};

static void on_request(void *ctx, const char *method, const char *url, dp_http_answer *a)
{
    dp_health_endpoint *h = ctx;
    a->content_type = "application/json";
    if (strcmp(url, "/") != 0 && strcmp(url, "/health") != 0) {
        a->status = 404;
        (void)dp_buf_puts(&a->body, "{\"status\":\"Not found\"}");
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        a->status = 405;
        a->allow = "GET, HEAD";
        (void)dp_buf_puts(&a->body, "{\"status\":\"Method not allowed\"}");
        return;
    }
    char since[40];
    time_t t = (time_t)(h->up_since_ns / 1000000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    uint64_t up_ms = dp_clock_monotonic_ms() - h->up_since_ms;
    bool ready = atomic_load(&h->state) == DP_HEALTH_READY;
    a->status = ready ? 200 : 503;
    (void)dp_buf_printf(&a->body, "{\"status\":\"%s\",\"upSince\":\"%s\",\"uptime\":\"%.3fs\"}",
                        ready ? "Server available" : "Server not available", since,
                        (double)up_ms / 1000.0);
}

int dp_health_endpoint_start(const char *listen, dp_health_endpoint **out, char *err, size_t errlen)
{
    *out = NULL;
    dp_health_endpoint *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "health endpoint: out of memory");
        return DP_ENOMEM;
    }
    atomic_init(&h->state, DP_HEALTH_STARTING);
    h->up_since_ns = dp_clock_realtime_ns();
    h->up_since_ms = dp_clock_monotonic_ms();
    int rc =
        dp_http_endpoint_start("health endpoint", listen, on_request, h, &h->server, err, errlen);
    if (rc != DP_OK) {
        free(h);
        return rc;
    }
    *out = h;
    return DP_OK;
}

void dp_health_endpoint_set(dp_health_endpoint *h, dp_health_state state)
{
    if (h)
        atomic_store(&h->state, (int)state);
}

int dp_health_endpoint_port(const dp_health_endpoint *h)
{
    return dp_http_endpoint_port(h->server);
}

void dp_health_endpoint_destroy(dp_health_endpoint *h)
{
    if (!h)
        return;
    dp_http_endpoint_destroy(h->server);
    free(h);
}

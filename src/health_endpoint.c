/*
 * The HTTP health endpoint (see health_endpoint.h), on libmicrohttpd like
 * the OTLP/HTTP receiver and on a socket opened the same way
 * (common/tcp_listen.h): one internal polling thread.
 */
#include "health_endpoint.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "tcp_listen.h"

struct dp_health_endpoint {
    struct MHD_Daemon *daemon;
    atomic_int state;
    int port;
    uint64_t up_since_ns; /* wall clock at start */
    uint64_t up_since_ms; /* monotonic clock at start */
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ok = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req)
{
    dp_health_endpoint *h = cls;
    (void)version;
    (void)upload;
    if (*upload_size) {
        *upload_size = 0; /* a body is not read */
        return MHD_YES;
    }
    if (!*req) {
        *req = h; /* answer once the request is complete */
        return MHD_YES;
    }
    if (strcmp(url, "/") != 0 && strcmp(url, "/health") != 0)
        return reply(conn, MHD_HTTP_NOT_FOUND, "{\"status\":\"Not found\"}");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"status\":\"Method not allowed\"}");

    char since[40], body[200];
    time_t t = (time_t)(h->up_since_ns / 1000000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    uint64_t up_ms = dp_clock_monotonic_ms() - h->up_since_ms;
    bool ready = atomic_load(&h->state) == DP_HEALTH_READY;
    snprintf(body, sizeof(body), "{\"status\":\"%s\",\"upSince\":\"%s\",\"uptime\":\"%.3fs\"}",
             ready ? "Server available" : "Server not available", since, (double)up_ms / 1000.0);
    return reply(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap; /* connection-level errors of probes are not worth a log line */
}

int dp_health_endpoint_start(const char *listen, dp_health_endpoint **out, char *err, size_t errlen)
{
    int rc, fd, port = 0;
    dp_health_endpoint *h = NULL;
    char why[400];

    *out = NULL;
    rc = fd = dp_tcp_listen(listen ? listen : "", 64, &port, why, sizeof(why));
    if (fd < 0) {
        snprintf(err, errlen, "health endpoint: %s", why);
        goto out;
    }
    rc = DP_ENOMEM;
    h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "health endpoint: out of memory");
        goto out;
    }
    h->port = port;
    atomic_init(&h->state, DP_HEALTH_STARTING);
    h->up_since_ns = dp_clock_realtime_ns();
    h->up_since_ms = dp_clock_monotonic_ms();
    /* the listening socket is handed over and closed by MHD_stop_daemon */
    h->daemon =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                         on_request, h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)10, MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL, MHD_OPTION_END);
    if (!h->daemon) {
        rc = DP_ETHREAD;
        snprintf(err, errlen, "health endpoint: cannot start its thread");
        goto out;
    }
    fd = -1; /* the daemon's now */
    *out = h;
    h = NULL;
    rc = DP_OK;
out:
    if (fd >= 0)
        close(fd);
    dp_health_endpoint_destroy(h);
    return rc;
}

void dp_health_endpoint_set(dp_health_endpoint *h, dp_health_state state)
{
    if (h)
        atomic_store(&h->state, (int)state);
}

int dp_health_endpoint_port(const dp_health_endpoint *h)
{
    return h->port;
}

void dp_health_endpoint_destroy(dp_health_endpoint *h)
{
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    free(h);
}

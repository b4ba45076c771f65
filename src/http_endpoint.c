/*
 * dagprof's own small HTTP endpoints (see http_endpoint.h): one
 * libmicrohttpd thread, the answer built by the owner's handler and handed
 * to libmicrohttpd without a copy.
 */
#include "http_endpoint.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcp_listen.h"

#define ANSWER_MAX_BYTES (64u * 1024 * 1024)

struct dp_http_endpoint {
    struct MHD_Daemon *daemon;
    dp_http_endpoint_handler handler;
    void *ctx;
    int port;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req)
{
    dp_http_endpoint *e = cls;
    (void)version;
    (void)upload;
    if (*upload_size) {
        *upload_size = 0; /* a body is not read */
        return MHD_YES;
    }
    if (!*req) {
        *req = e; /* answer once the request is complete */
        return MHD_YES;
    }
    dp_http_answer a;
    memset(&a, 0, sizeof(a));
    dp_buf_init(&a.body, ANSWER_MAX_BYTES);
    e->handler(e->ctx, method, url, &a);
    size_t len;
    char *body = dp_buf_release(&a.body, &len);
    /* the response takes the body over (freed with free()); an empty one is static */
    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (a.content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a.content_type);
    if (a.allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, a.allow);
    enum MHD_Result ok = MHD_queue_response(conn, a.status ? a.status : 500, r);
    MHD_destroy_response(r);
    return ok;
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap; /* connection-level errors of probes and scrapers are not worth a log line */
}

int dp_http_endpoint_start(const char *name, const char *listen, dp_http_endpoint_handler handler,
                           void *ctx, dp_http_endpoint **out, char *err, size_t errlen)
{
    int rc, fd, port = 0;
    dp_http_endpoint *e = NULL;
    char why[400];

    *out = NULL;
    rc = fd = dp_tcp_listen(listen ? listen : "", 64, &port, why, sizeof(why));
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", name, why);
        goto out;
    }
    rc = DP_ENOMEM;
    e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errlen, "%s: out of memory", name);
        goto out;
    }
    e->handler = handler;
    e->ctx = ctx;
    e->port = port;
    /* the listening socket is handed over and closed by MHD_stop_daemon; poll(), not
     * select(): with the open-file limit raised (conn_limit.h) a probe's connection may
     * get a descriptor past FD_SETSIZE, which select() cannot watch */
    e->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG,
                                 0, NULL, NULL, on_request, e, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL, MHD_OPTION_END);
    if (!e->daemon) {
        rc = DP_ETHREAD;
        snprintf(err, errlen, "%s: cannot start its thread", name);
        goto out;
    }
    fd = -1; /* the daemon's now */
    *out = e;
    e = NULL;
    rc = DP_OK;
out:
    if (fd >= 0)
        close(fd);
    dp_http_endpoint_destroy(e);
    return rc;
}

int dp_http_endpoint_port(const dp_http_endpoint *e)
{
    return e->port;
}

void dp_http_endpoint_destroy(dp_http_endpoint *e)
{
    if (!e)
        return;
    if (e->daemon)
        MHD_stop_daemon(e->daemon);
    free(e);
}

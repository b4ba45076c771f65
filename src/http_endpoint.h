/*
 * A small HTTP/1.1 server for dagprof's own endpoints (the health endpoint
 * and the /metrics endpoint): libmicrohttpd with one internal thread on a
 * socket opened by common/tcp_listen.h, each on its own address so a probe
 * or a scrape never waits behind OTLP traffic. The owner gives a handler
 * that turns a method and a path into an answer; a request body is read and
 * dropped. HEAD gets the headers of the GET answer without its body
 * (libmicrohttpd leaves it out).
 */
#ifndef DP_HTTP_ENDPOINT_H
#define DP_HTTP_ENDPOINT_H

#include <stddef.h>

#include "buf.h"
#include "dp_err.h"

typedef struct dp_http_endpoint dp_http_endpoint;

/** What the handler answers. */
typedef struct dp_http_answer {
    unsigned status;          /* 0 is taken as 500 */
    const char *content_type; /* static; NULL = none */
    const char *allow;        /* static Allow header (405); NULL = none */
    dp_buf body;              /* empty, capped at 64 MiB; the endpoint frees it */
} dp_http_answer;

/** Fill *answer for one complete request; called on the endpoint's thread. */
typedef void (*dp_http_endpoint_handler)(void *ctx, const char *method, const char *url,
                                         dp_http_answer *answer);

/**
 * Listen on "HOST:PORT" (port 0 picks a free one) and serve with `handler`.
 * `name` ("health endpoint") starts every message in err. Returns DP_OK
 * and *out, or DP_EINVAL (not HOST:PORT), DP_EBIND, DP_ENOMEM, DP_ETHREAD
 * with the reason in err.
 */
DP_MUST_CHECK int dp_http_endpoint_start(const char *name, const char *listen,
                                         dp_http_endpoint_handler handler, void *ctx,
                                         dp_http_endpoint **out, char *err, size_t errlen);

/** The bound TCP port. */
int dp_http_endpoint_port(const dp_http_endpoint *e);

/** Stop serving (a request being answered finishes first) and free; NULL is accepted. */
void dp_http_endpoint_destroy(dp_http_endpoint *e);

#endif

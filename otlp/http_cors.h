/*
 * CORS for the OTLP/HTTP receiver (http_receiver.c), so an SDK running in a
 * browser page of another origin may export to dagprof, as the Collector's
 * confighttp `cors` settings allow:
 *
 *   allowed origins   "https://app.example.com"; a pattern in which one
 *                     '*' stands for one or more characters (a scheme, then
 *                     "*.example.com"); or "*" for every origin
 *   allowed headers   request headers a page may send besides the ones
 *                     always allowed (Accept, Accept-Language,
 *                     Content-Language, Content-Type, Content-Encoding,
 *                     X-Requested-With); "*" for any
 *   max age           how long a browser may cache a preflight answer
 *
 * A request from an allowed Origin gets Access-Control-Allow-Origin (the
 * origin itself, or "*" when every origin is allowed) and Vary: Origin. A
 * preflight (OPTIONS with Origin and Access-Control-Request-Method) is
 * answered 204; when the origin, the method (POST) and every requested
 * header are allowed it carries Access-Control-Allow-Origin,
 * -Allow-Methods, -Allow-Headers and -Max-Age, otherwise none of them, so
 * the browser does not send the request. Without allowed origins nothing
 * of this happens (no CORS headers; OPTIONS is 405 like any other method).
 */
#ifndef DP_HTTP_CORS_H
#define DP_HTTP_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "dp_err.h"

typedef struct dp_http_cors dp_http_cors;

/**
 * From comma-separated lists (surrounding blanks ignored). *out is NULL
 * when `origins` is empty (CORS off). Returns DP_OK, DP_EINVAL with the
 * reason in err (an origin with more than one '*'), or DP_ENOMEM.
 */
DP_MUST_CHECK int dp_http_cors_create(const char *origins, const char *headers, unsigned max_age_s,
                                      dp_http_cors **out, char *err, size_t errlen);

void dp_http_cors_destroy(dp_http_cors *c);

/**
 * The Access-Control-Allow-Origin value for a request with this Origin
 * header: "*" or `origin` itself when allowed, NULL when not (or no
 * origin).
 */
const char *dp_http_cors_allow_origin(const dp_http_cors *c, const char *origin);

/** What a preflight is answered with; every field NULL/0 when it is refused. */
typedef struct dp_http_cors_preflight {
    const char *allow_origin;  /* "*" or the origin */
    const char *allow_methods; /* "POST" */
    char allow_headers[512];   /* the requested headers, when all are allowed */
    unsigned max_age_s;        /* 0: no Access-Control-Max-Age */
} dp_http_cors_preflight;

/**
 * Judge a preflight: the Origin, Access-Control-Request-Method and
 * Access-Control-Request-Headers (NULL when absent). True when allowed.
 */
bool dp_http_cors_judge_preflight(const dp_http_cors *c, const char *origin, const char *method,
                                  const char *headers, dp_http_cors_preflight *out);

#endif

/*
 * OTLP/HTTP receiver on libmicrohttpd; see http_receiver.h for the contract.
 *
 * libmicrohttpd calls the access handler several times per request, always
 * on the thread of the request's connection: once with the headers (the
 * route, the Content-Type and Content-Encoding are judged there and a
 * request context is taken from the pool), once per piece of the body (kept,
 * or inflated as it arrives, never past the cap), and once more with no
 * body left, when the request is handed to dp_ingest_request() and the
 * answer queued. The context (body buffer, inflate state, decode arena,
 * answer buffer) goes back to the pool when the request is completed, so a
 * busy receiver allocates nothing per request but the answer libmicrohttpd
 * copies.
 */
#include "http_receiver.h"

#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "clock.h"
#include "http_cors.h"
#include "inflate_capped.h"
#include "json_write.h"
#include "log.h"
#include "otlp_file.h"
#include "tcp_listen.h"

#define COMPONENT "http-receiver"
#define KEPT_BODY_BYTES (1u << 20) /* body buffer a pooled context keeps between requests */

enum body_type { BODY_PROTOBUF, BODY_JSON };

/* google.rpc.Code values put in Status.code (the specification leaves it optional) */
enum {
    RPC_INVALID_ARGUMENT = 3,
    RPC_NOT_FOUND = 5,
    RPC_RESOURCE_EXHAUSTED = 8,
    RPC_UNIMPLEMENTED = 12,
    RPC_UNAVAILABLE = 14,
    RPC_UNAUTHENTICATED = 16
};

/* One request in progress; pooled, reused by later requests. */
typedef struct request_ctx {
    struct request_ctx *next_free;
    struct request_ctx *next_all;
    enum dp_signal signal;
    enum body_type type;
    int status;          /* an answer decided before the body was read; 0 = none yet */
    char message[320];   /* its reason */
    bool compressed;     /* the body is gzip or deflate; z inflates it */
    bool answered;       /* an answer was queued early (over-size) */
    uint64_t started_ms; /* when the headers came (monotonic) */
    dp_inflater z;
    dp_buf body;    /* the body, inflated; capped at max_recv_message_bytes */
    dp_buf encoded; /* an OTLP/JSON body encoded as protobuf */
    dp_buf answer;  /* the answer's bytes */
    dp_arena arena; /* decode structures */
} request_ctx;

struct dp_http_receiver {
    dp_http_receiver_options opt;
    struct MHD_Daemon *daemon;
    int listen_fd;
    int port;
    pthread_mutex_t pool_lock;
    request_ctx *free_list;
    request_ctx *all;   /* every context made, for destroy */
    dp_http_cors *cors; /* NULL: no CORS */
    _Atomic uint64_t answers[8];
    _Atomic uint64_t open_conns;       /* started and not yet closed */
    _Atomic uint64_t refused_max_conn; /* closed at once: max_connections open */
    _Atomic uint64_t limit_log_ms;     /* when the refusals were last logged */
    _Atomic uint64_t cut_recv_timeout; /* requests cut off: body not in within recv_timeout */
    _Atomic uint64_t cut_log_ms;       /* when the cut-offs were last logged */
};

/* Index of each answered status in dp_http_receiver::answers. */
static int answer_slot(int status)
{
    switch (status) {
    case 200:
        return 0;
    case 400:
        return 1;
    case 404:
        return 2;
    case 405:
        return 3;
    case 413:
        return 4;
    case 415:
        return 5;
    case 401:
        return 7;
    default:
        return 6;
    }
}

/* --- the pool of request contexts ------------------------------------------------ */

static request_ctx *ctx_take(dp_http_receiver *r)
{
    pthread_mutex_lock(&r->pool_lock);
    request_ctx *c = r->free_list;
    if (c) {
        r->free_list = c->next_free;
    } else if ((c = calloc(1, sizeof(*c)))) {
        dp_buf_init(&c->body, r->opt.max_recv_message_bytes);
        /* protobuf can be up to 4 times the JSON it is encoded from (a packed
         * fixed64 is 8 bytes where "0," is 2); what is over the limit is refused
         * once encoded */
        dp_buf_init(&c->encoded, 4 * r->opt.max_recv_message_bytes + (64u << 10));
        dp_buf_init(&c->answer, 64 * 1024);
        /* decoded structures are a few times the message size at most, as in the gRPC receiver */
        dp_arena_init(&c->arena, 64 * 1024, 4 * r->opt.max_recv_message_bytes + (1u << 20));
        c->next_all = r->all;
        r->all = c;
    }
    pthread_mutex_unlock(&r->pool_lock);
    if (!c)
        return NULL;
    c->next_free = NULL;
    c->status = 0;
    c->message[0] = '\0';
    c->compressed = c->answered = false;
    c->type = BODY_PROTOBUF;
    dp_buf_reset(&c->body);
    dp_buf_reset(&c->encoded);
    dp_buf_reset(&c->answer);
    return c;
}

static void ctx_give_back(dp_http_receiver *r, request_ctx *c)
{
    dp_inflater_end(&c->z);
    dp_arena_reset(&c->arena);
    /* a pooled context keeps a body buffer of ordinary size; one grown for a
     * rare large request goes back to the allocator */
    if (c->body.cap > KEPT_BODY_BYTES)
        dp_buf_free(&c->body);
    if (c->encoded.cap > KEPT_BODY_BYTES)
        dp_buf_free(&c->encoded);
    pthread_mutex_lock(&r->pool_lock);
    c->next_free = r->free_list;
    r->free_list = c;
    pthread_mutex_unlock(&r->pool_lock);
}

static void ctx_free(request_ctx *c)
{
    dp_inflater_end(&c->z);
    dp_buf_free(&c->body);
    dp_buf_free(&c->encoded);
    dp_buf_free(&c->answer);
    dp_arena_free(&c->arena);
    free(c);
}

/* --- answers ----------------------------------------------------------------------- */

static void decide(request_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void decide(request_ctx *c, int status, const char *fmt, ...)
{
    va_list ap;
    c->status = status;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
}

static int rpc_code_of(int http_status)
{
    switch (http_status) {
    case 401:
        return RPC_UNAUTHENTICATED;
    case 404:
        return RPC_NOT_FOUND;
    case 405:
        return RPC_UNIMPLEMENTED;
    case 413:
        return RPC_RESOURCE_EXHAUSTED;
    case 503:
        return RPC_UNAVAILABLE;
    default:
        return RPC_INVALID_ARGUMENT;
    }
}

/* The partial_success field's name in OTLP/JSON, per signal. */
static const char *rejected_key(enum dp_signal s)
{
    return s == DP_SIGNAL_TRACES    ? "rejectedSpans"
           : s == DP_SIGNAL_METRICS ? "rejectedDataPoints"
                                    : "rejectedLogRecords";
}

/* OTLP/JSON bodies: the protobuf JSON mapping of the same messages (int64 as a string). */
static int encode_json_answer(request_ctx *c, int status, const dp_ingest_result *res)
{
    dp_json_writer w;
    dp_json_writer_init(&w, &c->answer);
    dp_json_writer_object_begin(&w);
    if (status == 200) {
        if (res->rejected || res->message[0]) {
            char count[24];
            snprintf(count, sizeof(count), "%llu", (unsigned long long)res->rejected);
            dp_json_writer_key(&w, "partialSuccess");
            dp_json_writer_object_begin(&w);
            if (res->rejected) {
                dp_json_writer_key(&w, rejected_key(c->signal));
                dp_json_writer_cstring(&w, count);
            }
            if (res->message[0]) {
                dp_json_writer_key(&w, "errorMessage");
                dp_json_writer_cstring(&w, res->message);
            }
            dp_json_writer_object_end(&w);
        }
    } else {
        dp_json_writer_key(&w, "code");
        dp_json_writer_int(&w, rpc_code_of(status));
        dp_json_writer_key(&w, "message");
        dp_json_writer_cstring(&w, c->message);
    }
    dp_json_writer_object_end(&w);
    return dp_json_writer_finish(&w);
}

/* An allowed Origin may read the answer (error bodies too); caches keep answers apart by Origin. */
static void add_cors_headers(dp_http_receiver *r, struct MHD_Connection *conn,
                             struct MHD_Response *resp)
{
    if (!r->cors)
        return;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *allow = dp_http_cors_allow_origin(r->cors, origin);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
}

/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method): 204,
 * with the Access-Control-Allow-* headers only when the request is allowed. */
static enum MHD_Result answer_preflight(dp_http_receiver *r, struct MHD_Connection *conn)
{
    dp_http_cors_preflight pf;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    bool ok = dp_http_cors_judge_preflight(
        r->cors, origin,
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method"),
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers"), &pf);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    if (ok) {
        char age[16];
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, pf.allow_origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", pf.allow_methods);
        if (pf.allow_headers[0])
            MHD_add_response_header(resp, "Access-Control-Allow-Headers", pf.allow_headers);
        if (pf.max_age_s) {
            snprintf(age, sizeof(age), "%u", pf.max_age_s);
            MHD_add_response_header(resp, "Access-Control-Max-Age", age);
        }
    } else {
        dp_log_debug(COMPONENT, "CORS preflight refused (origin, method or headers not allowed)");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
                            "Origin, Access-Control-Request-Method, "
                            "Access-Control-Request-Headers");
    enum MHD_Result q = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, resp);
    MHD_destroy_response(resp);
    return q;
}

static bool is_preflight(dp_http_receiver *r, struct MHD_Connection *conn, const char *method)
{
    return r->cors && strcmp(method, "OPTIONS") == 0 &&
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin") &&
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
}

/* Queue the answer: status, body in the request's encoding, headers. */
static enum MHD_Result answer(dp_http_receiver *r, struct MHD_Connection *conn, request_ctx *c,
                              int status, const dp_ingest_result *res)
{
    dp_buf_reset(&c->answer);
    int rc;
    if (c->type == BODY_JSON)
        rc = encode_json_answer(c, status, res);
    else if (status == 200)
        rc = dp_ingest_encode_response(res, &c->answer);
    else
        rc = dp_ingest_encode_status(rpc_code_of(status), c->message, &c->answer);
    if (rc != 0)
        dp_buf_reset(&c->answer); /* out of memory: the status still says it all */
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        c->answer.len, c->answer.len ? c->answer.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            c->type == BODY_JSON ? "application/json" : "application/x-protobuf");
    if (status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->cors ? "POST, OPTIONS" : "POST");
    if (status == 401 && dp_auth_takes_bearer(r->opt.auth))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    add_cors_headers(r, conn, resp);
    if (status == 503) {
        char secs[16];
        snprintf(secs, sizeof(secs), "%u", r->opt.retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    enum MHD_Result q = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    atomic_fetch_add(&r->answers[answer_slot(status)], 1);
    if (status != 200)
        dp_log_debug(COMPONENT, "answered %d: %s", status, c->message);
    return q;
}

/* --- judging the headers ---------------------------------------------------------------- */

static bool media_type_is(const char *value, const char *type)
{
    size_t n = strlen(type);
    while (*value == ' ' || *value == '\t')
        value++;
    if (strncasecmp(value, type, n) != 0)
        return false;
    value += n;
    while (*value == ' ' || *value == '\t')
        value++;
    return *value == '\0' || *value == ';';
}

/* Route, method, Content-Type and Content-Encoding; sets c->status when the answer is an error. */
static void judge_headers(dp_http_receiver *r, struct MHD_Connection *conn, request_ctx *c,
                          const char *url, const char *method)
{
    static const char *const paths[3] = {"/v1/traces", "/v1/metrics", "/v1/logs"};
    int route = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(url, paths[i]) == 0)
            route = i;
    const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (type && media_type_is(type, "application/json"))
        c->type = BODY_JSON;
    if (route < 0) {
        decide(c, 404, "no such path: %.200s (OTLP/HTTP takes /v1/traces, /v1/metrics, /v1/logs)",
               url);
        return;
    }
    c->signal = (enum dp_signal)route;
    if (strcmp(method, "POST") != 0) {
        decide(c, 405, "%.40s is not allowed on %s: use POST", method, paths[route]);
        return;
    }
    if (!type || !(media_type_is(type, "application/x-protobuf") || c->type == BODY_JSON)) {
        decide(c, 415,
               "Content-Type %.100s is not taken: use application/x-protobuf or "
               "application/json",
               type ? type : "(none)");
        return;
    }
    const char *encoding = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
    bool gzip = encoding && strcasecmp(encoding, "gzip") == 0;
    if (gzip || (encoding && strcasecmp(encoding, "deflate") == 0)) {
        if (dp_inflater_init(&c->z, gzip ? DP_INFLATE_GZIP : DP_INFLATE_ZLIB,
                             r->opt.max_recv_message_bytes) != DP_INFLATE_OK) {
            dp_inflater_end(&c->z);
            decide(c, 503, "out of memory starting to inflate");
            return;
        }
        c->compressed = true;
    } else if (encoding && strcasecmp(encoding, "identity") != 0) {
        decide(c, 415, "Content-Encoding %.60s is not taken: use gzip, deflate or none", encoding);
        return;
    }
    const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (length && !c->compressed && strtoull(length, NULL, 10) > r->opt.max_recv_message_bytes)
        decide(c, 413, "the body is %.30s bytes, over the limit of %zu", length,
               r->opt.max_recv_message_bytes);
}

/* --- the body --------------------------------------------------------------------------- */

static const char *inflate_format_name(const request_ctx *c)
{
    return c->z.format == DP_INFLATE_GZIP ? "gzip" : "deflate";
}

/* Keep (or inflate) one piece of the body; sets c->status when it cannot be taken. */
static void take_body(dp_http_receiver *r, request_ctx *c, const char *data, size_t len)
{
    size_t cap = r->opt.max_recv_message_bytes;
    if (!c->compressed) {
        if (c->body.len + len > cap)
            decide(c, 413, "the body is over the limit of %zu bytes", cap);
        else if (dp_buf_append(&c->body, data, len) != 0)
            decide(c, 503, "out of memory taking the body");
        return;
    }
    switch (dp_inflater_feed(&c->z, data, len, &c->body)) {
    case DP_INFLATE_OK:
        break;
    case DP_INFLATE_OVER_CAP:
        decide(c, 413, "the body inflates to more than the limit of %zu bytes", cap);
        break;
    case DP_INFLATE_NOMEM:
        decide(c, 503, "out of memory inflating the body");
        break;
    default:
        decide(c, 400, "the body is not valid %s: %s", inflate_format_name(c),
               dp_inflater_message(&c->z));
        break;
    }
}

/* The body is complete: ingest it and answer. */
static enum MHD_Result finish(dp_http_receiver *r, struct MHD_Connection *conn, request_ctx *c)
{
    dp_ingest_result res;
    memset(&res, 0, sizeof(res));
    if (!c->status && c->compressed && dp_inflater_finish(&c->z) != DP_INFLATE_OK)
        decide(c, 400, "the %s body is %s", inflate_format_name(c),
               c->z.status == DP_INFLATE_TRUNCATED ? "truncated" : "not valid");
    const uint8_t *data = (const uint8_t *)c->body.data;
    size_t len = c->body.len;
    /* attributes the OTLP/JSON encoder left out (nested too deep): counted
     * and said by the ingest as the protobuf decode's own */
    dp_otlp_json_dropped dropped = {0};
    if (!c->status && c->type == BODY_JSON) {
        /* OTLP/JSON becomes the protobuf request it stands for; from there
         * on it takes the same path as a binary one */
        static const char *const requests[] = {
            "ExportTraceServiceRequest", "ExportMetricsServiceRequest", "ExportLogsServiceRequest"};
        char err[256];
        if (dp_otlp_json_encode_dropped(c->signal, c->body.data, c->body.len, &c->encoded, &dropped,
                                        err, sizeof(err)) != 0)
            decide(c, 400, "OTLP/JSON %s cannot be read: %s", requests[c->signal], err);
        else if (c->encoded.len > r->opt.max_recv_message_bytes)
            decide(c, 413, "the OTLP/JSON body is %zu bytes as protobuf, over the limit of %zu",
                   c->encoded.len, r->opt.max_recv_message_bytes);
        data = (const uint8_t *)c->encoded.data;
        len = c->encoded.len;
    }
    if (c->status)
        return answer(r, conn, c, c->status, &res);
    if (dropped.attributes)
        dp_log_debug(COMPONENT, "OTLP/JSON: %zu attribute(s) nested too deep left out, first %s",
                     dropped.attributes, dropped.first);

    dp_ingest_request_dropped(r->opt.ingest, c->signal, data, len, dropped.attributes, &c->arena,
                              &res);
    int status = 200;
    switch (res.status) {
    case DP_INGEST_OK:
        break;
    case DP_INGEST_INVALID:
        status = 400;
        break;
    case DP_INGEST_TOO_LARGE:
        status = 413;
        break;
    case DP_INGEST_UNAVAILABLE:
        status = 503;
        break;
    }
    if (status != 200)
        snprintf(c->message, sizeof(c->message), "%s", res.message);
    return answer(r, conn, c, status, &res);
}

/* A warning repeated by many connections is logged at most every 10 s:
 * true for the one thread whose turn it is (last_ms: when it was last logged). */
static bool log_due(_Atomic uint64_t *last_ms)
{
    uint64_t now = dp_clock_monotonic_ms();
    uint64_t last = atomic_load(last_ms);
    return (last == 0 || now - last >= 10000) &&
           atomic_compare_exchange_strong(last_ms, &last, now);
}

/*
 * server.recv_timeout: a body still coming that long after its headers (a
 * client trickling it) is cut off, as the gRPC receiver cuts off a call:
 * libmicrohttpd cannot answer in the middle of a body, so the connection is
 * closed (the client sees it closed and retries). A body that stops coming
 * altogether is closed by http_idle_timeout. Counted, logged at most every
 * 10 s.
 */
static enum MHD_Result cut_off_slow(dp_http_receiver *r)
{
    uint64_t cut = atomic_fetch_add(&r->cut_recv_timeout, 1) + 1;
    if (log_due(&r->cut_log_ms))
        dp_log_warn(COMPONENT,
                    "an OTLP/HTTP request's body was not in within server.recv_timeout (%u ms) "
                    "of its headers: connection closed (%llu so far)",
                    r->opt.recv_timeout_ms, (unsigned long long)cut);
    return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    dp_http_receiver *r = cls;
    request_ctx *c = *state;
    if (!c) { /* the headers: judge them, the body follows */
        c = ctx_take(r);
        if (!c)
            return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
        *state = c;
        c->started_ms = dp_clock_monotonic_ms();
        judge_headers(r, conn, c, url, method);
        if (c->status == 405 && is_preflight(r, conn, method)) {
            /* an OTLP path (judged above), asked by a browser before a cross-origin POST;
             * browsers send no credentials with it, so it comes before the auth check */
            c->answered = true;
            return answer_preflight(r, conn);
        }
        if (r->opt.auth) { /* before anything else is said about the request */
            dp_auth_result a = dp_auth_check(
                r->opt.auth,
                dp_str_from_cstr(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                             MHD_HTTP_HEADER_AUTHORIZATION)),
                dp_str_from_cstr(dp_auth_header_name(r->opt.auth)
                                     ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                   dp_auth_header_name(r->opt.auth))
                                     : NULL));
            if (a != DP_AUTH_OK)
                decide(c, 401, "%s", dp_auth_message(r->opt.auth, a));
        }
        dp_ingest_result admit;
        if (!c->status && !dp_ingest_admit(r->opt.ingest, c->signal, &admit))
            decide(c, 503, "%s", admit.message); /* over the memory guard's limit */
        /* do not read a body that is not taken */
        if (c->status == 413 || c->status == 401 || c->status == 503) {
            c->answered = true;
            return answer(r, conn, c, c->status, &(dp_ingest_result){0});
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (r->opt.recv_timeout_ms &&
            dp_clock_monotonic_ms() - c->started_ms > r->opt.recv_timeout_ms)
            return cut_off_slow(r); /* answered already, or answered never */
        /* over the memory guard's limits now: the body is dropped (the
         * answer is 503 with Retry-After), what was kept of it given back;
         * requests taken before the limit was reached would otherwise go on
         * filling memory past it with their bodies */
        dp_ingest_result admit;
        if (!c->status && !dp_ingest_admit(r->opt.ingest, c->signal, &admit)) {
            decide(c, 503, "%s", admit.message);
            dp_buf_free(&c->body);
        }
        if (!c->status)
            take_body(r, c, upload, *upload_size);
        /* taken, or (once an answer is decided) read past and dropped: the
         * answer comes at the end of the body, which keeps the connection
         * usable; libmicrohttpd cannot answer in the middle of a body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (c->answered)
        return MHD_YES;
    c->answered = true;
    return finish(r, conn, c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode why)
{
    if (*state)
        ctx_give_back(cls, *state);
    *state = NULL;
}

/* libmicrohttpd says every connection it set up (STARTED) and, once, its end (CLOSED). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    dp_http_receiver *r = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&r->open_conns, 1);
        if (r->opt.tls)
            dp_tls_server_mhd_connection_started(r->opt.tls, conn, socket_context);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&r->open_conns, 1);
    }
}

/*
 * server.max_connections: called on a connection just accepted, before
 * libmicrohttpd sets it up; at the limit it is closed at once (counted,
 * logged at most every 10 s). Connections accepted at the same instant by
 * different threads of the pool are judged before either is counted, so
 * the limit may be passed by at most the pool's threads - 1.
 */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    dp_http_receiver *r = cls;
    (void)addr;
    (void)addrlen;
    if (atomic_load(&r->open_conns) < r->opt.max_connections)
        return MHD_YES;
    uint64_t refused = atomic_fetch_add(&r->refused_max_conn, 1) + 1;
    if (log_due(&r->limit_log_ms))
        dp_log_warn(COMPONENT,
                    "server.max_connections (%u) HTTP connections are open: new connections are "
                    "closed at once until some close (%llu so far)",
                    r->opt.max_connections, (unsigned long long)refused);
    return MHD_NO;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[256];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    dp_log_debug(COMPONENT, "libmicrohttpd: %s", line);
}

/* --- lifecycle ----------------------------------------------------------------------------- */

int dp_http_receiver_start(const dp_http_receiver_options *opt, dp_http_receiver **out, char *err,
                           size_t errlen)
{
    int rc = DP_EINVAL;
    dp_http_receiver *r = NULL;
    *out = NULL;
    if (!opt || !opt->ingest || !opt->listen || !opt->listen[0] || !opt->max_recv_message_bytes) {
        snprintf(err, errlen,
                 "http receiver: listen address, ingest and message size are required");
        goto out;
    }
    rc = DP_ENOMEM;
    r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "http receiver: out of memory");
        goto out;
    }
    r->listen_fd = -1;
    pthread_mutex_init(&r->pool_lock, NULL);
    r->opt = *opt;
    r->opt.listen = NULL; /* not kept */
    r->opt.cors_allowed_origins = r->opt.cors_allowed_headers = NULL;
    char why[400];
    rc = dp_http_cors_create(opt->cors_allowed_origins, opt->cors_allowed_headers,
                             opt->cors_max_age_s, &r->cors, why, sizeof(why));
    if (rc != DP_OK) {
        snprintf(err, errlen, "http receiver: CORS: %s", rc == DP_ENOMEM ? "out of memory" : why);
        goto out;
    }
    if (!r->opt.retry_after_s)
        r->opt.retry_after_s = 1;
    if (!r->opt.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        r->opt.threads = n > 0 ? (unsigned)n : 1;
    }
    r->listen_fd = dp_tcp_listen(opt->listen, 1024, &r->port, why, sizeof(why));
    if (r->listen_fd < 0) {
        rc = r->listen_fd;
        r->listen_fd = -1;
        snprintf(err, errlen, "http receiver: %s", why);
        goto out;
    }
    rc = DP_ETHREAD;
    /* HTTPS: the certificate callback and priorities of receiver_tls.c */
    struct MHD_OptionItem tls_options[4] = {{MHD_OPTION_END, 0, NULL}};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (r->opt.tls) {
        flags |= MHD_USE_TLS;
        dp_tls_server_mhd_options(r->opt.tls, tls_options, 4);
    }
    /* max_connections is judged here (on_accept), on the whole pool's count;
     * libmicrohttpd's own limit (1020 by default, divided among the pool's
     * threads; a thread at its share stops accepting, which leaves clients
     * waiting in the backlog) is put where no thread reaches it first */
    struct MHD_OptionItem limit_options[2] = {{MHD_OPTION_END, 0, NULL}};
    if (r->opt.max_connections) {
        uint64_t per_thread = (uint64_t)r->opt.max_connections + r->opt.threads;
        uint64_t mhd_limit = per_thread * r->opt.threads;
        limit_options[0] =
            (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                    (intptr_t)(mhd_limit > INT_MAX ? INT_MAX : mhd_limit), NULL};
    }
    /* libmicrohttpd's thread pool, each thread with its own epoll set; the
     * listening socket is handed over and closed by MHD_stop_daemon */
    r->daemon = MHD_start_daemon(
        flags, 0, r->opt.max_connections ? on_accept : NULL, r, on_request, r,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, r->listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, r->opt.threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, r, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)r->opt.idle_timeout_s,
        /* strict: an HTTP/1.1 request without Host is a 400, as in the Collector */
        MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_ARRAY, tls_options, MHD_OPTION_ARRAY,
        limit_options, MHD_OPTION_END);
    if (!r->daemon) {
        snprintf(err, errlen, "http receiver: cannot start the HTTP server threads%s",
                 r->opt.tls ? " (or set up TLS)" : "");
        goto out;
    }
    r->listen_fd = -1; /* the daemon's now */
    *out = r;
    r = NULL;
    rc = DP_OK;
out:
    if (r && r->listen_fd >= 0)
        close(r->listen_fd);
    dp_http_receiver_destroy(r);
    return rc;
}

int dp_http_receiver_port(const dp_http_receiver *r)
{
    return r->port;
}

void dp_http_receiver_shutdown(dp_http_receiver *r)
{
    if (!r || !r->daemon)
        return;
    /* joins the threads: a request being handled in one finishes first */
    MHD_stop_daemon(r->daemon);
    r->daemon = NULL;
}

void dp_http_receiver_destroy(dp_http_receiver *r)
{
    if (!r)
        return;
    dp_http_receiver_shutdown(r);
    for (request_ctx *c = r->all, *next; c; c = next) {
        next = c->next_all;
        ctx_free(c);
    }
    pthread_mutex_destroy(&r->pool_lock);
    dp_http_cors_destroy(r->cors);
    free(r);
}

void dp_http_receiver_get_stats(dp_http_receiver *r, dp_http_receiver_stats *o)
{
    o->ok = atomic_load(&r->answers[0]);
    o->bad_request = atomic_load(&r->answers[1]);
    o->not_found = atomic_load(&r->answers[2]);
    o->method_not_allowed = atomic_load(&r->answers[3]);
    o->too_large = atomic_load(&r->answers[4]);
    o->unsupported_type = atomic_load(&r->answers[5]);
    o->unavailable = atomic_load(&r->answers[6]);
    o->unauthenticated = atomic_load(&r->answers[7]);
    o->connections_open = atomic_load(&r->open_conns);
    o->connections_refused_max_connections = atomic_load(&r->refused_max_conn);
    o->cut_recv_timeout = atomic_load(&r->cut_recv_timeout);
}

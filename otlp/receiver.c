/*
 * OTLP/gRPC receiver on the gRPC C core; see receiver.h for the contract.
 *
 * Each worker thread owns a completion queue, a decode arena and a pool of
 * call contexts. A context cycles: REQUESTED (a registered call is
 * requested on the worker's queue) -> the call's headers arrive and the
 * context starts reading its message -> RECEIVING (at most
 * server.recv_timeout, then the call is cancelled) -> the message is in, the
 * worker handles it synchronously (read, inflate, parse into the worker's
 * arena, insert into the trace table) and starts one batch that sends the
 * answer, which a small `sending` record of its own carries from then on
 * (at most server.recv_timeout too), so the context is requested again at
 * once: a client that never reads its answers holds no context.
 * A context or sending record is freed only after its last batch has
 * completed. The worker wakes at least every tick to cancel calls past
 * their time.
 */
#include "receiver.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "clock.h"
#include "conn_limit.h"
#include "decode.h"
#include "health_watch.h"
#include "inflate_capped.h"
#include "log.h"
#include "preface_wait.h"
#include "pb_wire.h"
#include "tcp_listen.h"
#include "tls_proxy.h"

#define DP_RECEIVER_SIDE_CALLS 2            /* outstanding metrics and logs calls per worker */
#define DP_RECEIVER_KEPT_SCRATCH (1u << 20) /* message copy a worker keeps */

static const char *const method_paths[3] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};

enum ctx_state { CTX_IDLE, CTX_REQUESTED, CTX_RECEIVING };

typedef struct worker worker;

typedef struct call_ctx {
    enum dp_grpc_tag_kind kind; /* DP_TAG_CALL (0): first, as every tag's (health_watch.h) */
    worker *w;
    enum dp_signal signal;
    bool other; /* takes calls of every other method: health checks, or UNIMPLEMENTED */
    grpc_call_details call_details; /* other: the method called */
    enum ctx_state state;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array request_md;
    grpc_byte_buffer *payload;
    uint64_t recv_deadline_ms; /* RECEIVING: cancelled when the message is not in by then */
    bool cut;                  /* cancelled for taking too long */
} call_ctx;

/* A call being answered: what the answer's batch needs until it completes. */
typedef struct sending {
    enum dp_grpc_tag_kind kind; /* DP_TAG_SEND */
    worker *w;
    grpc_call *call;
    grpc_byte_buffer *response;
    grpc_slice details;
    int cancelled;
    uint64_t deadline_ms; /* cancelled when the client has not taken the answer by then */
    bool cut;
    struct sending *prev, *next;
} sending;

struct worker {
    dp_receiver *r;
    grpc_completion_queue *cq;
    pthread_t thread;
    bool thread_started;
    call_ctx *ctxs;
    size_t ctx_count;
    sending *sendings; /* answers in flight, newest first */
    dp_arena arena;    /* decode structures of the call being handled; reset after it */
    dp_buf scratch;    /* a multi-slice message copied, or a compressed one inflated */
    uint64_t next_sweep_ms;
};

struct dp_receiver {
    dp_receiver_options opt;
    grpc_server *server;
    grpc_completion_queue *shutdown_cq;
    void *methods[3];
    worker *workers;
    unsigned worker_count;
    int port;
    bool started, shut_down;
    atomic_bool shutting_down;
    dp_ingest *ingest;          /* where requests go (borrowed) */
    dp_health_watches *watches; /* open health Watch streams */
    _Atomic uint64_t calls_by_status[17];
    _Atomic uint64_t inflate_over_limit; /* compressed requests refused as they inflated */
    _Atomic uint64_t cut_recv, cut_send; /* calls cancelled past server.recv_timeout */
    _Atomic uint64_t in_flight;          /* calls taken and not yet released */
    /* contexts not idle and answers in flight: what may still use a queue */
    _Atomic uint64_t active;
    int listen_fd;  /* the listening socket dagprof accepts on */
    int reserve_fd; /* a descriptor kept to give up when the process has no other */
    grpc_server_credentials *insecure; /* for connections accepted here (TLS: their plaintext) */
    dp_tls_proxy *proxy;               /* TLS: handshakes, then bytes between client and core */
    pthread_mutex_t core_lock;         /* a connection handed to the core vs its shutdown */
    bool core_closed;                  /* under core_lock: the core takes no more connections */
    pthread_t acceptor;
    bool acceptor_started;
    _Atomic uint64_t refused_fd_limit; /* connections closed at once: no descriptor to spare */
    _Atomic uint64_t refused_max_conn; /* connections closed at once: server.max_connections */
    dp_conn_table conns;     /* plaintext: connections handed to the core (the acceptor's) */
    dp_preface_wait preface; /* plaintext: accepted, their HTTP/2 preface not yet whole */
    _Atomic uint64_t preface_timeouts; /* plaintext: closed, no preface within handshake_timeout */
    uint64_t next_sweep_ms;            /* at the limit, conns is swept again from then on */
    _Atomic uint64_t cut_shutdown;     /* calls in flight cancelled past server.shutdown_timeout */
};

/* --- answers --------------------------------------------------------------- */

/* The answer's message: empty on a clean OK, else the partial_success, in a
 * slice that owns the encoded bytes (no copy). */
static grpc_byte_buffer *response_buffer(const dp_ingest_result *res)
{
    grpc_slice s = grpc_empty_slice();
    if (res->rejected || res->message[0]) {
        dp_buf b;
        dp_buf_init(&b, 0);
        if (dp_ingest_encode_response(res, &b) == 0) {
            size_t len;
            char *data = dp_buf_release(&b, &len);
            s = grpc_slice_new(data, len, free);
        } else {
            /* out of memory: the call still succeeds, without the details */
            dp_buf_free(&b);
        }
    }
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* --- reading a request --------------------------------------------------------- */

/* A compressed message inflated into c->scratch, never past max_recv_message_bytes
 * (the core's own decompression is off: it would inflate the whole message first). */
static grpc_status_code inflate_payload(call_ctx *c, grpc_byte_buffer *bb, char *why, size_t whylen)
{
    size_t limit = c->w->r->opt.max_recv_message_bytes;
    grpc_compression_algorithm alg = bb->data.raw.compression;
    if (alg != GRPC_COMPRESS_GZIP && alg != GRPC_COMPRESS_DEFLATE) {
        snprintf(why, whylen, "grpc-encoding %d is not taken: use gzip, deflate or identity",
                 (int)alg);
        return GRPC_STATUS_UNIMPLEMENTED;
    }
    const char *name = alg == GRPC_COMPRESS_GZIP ? "gzip" : "deflate";
    dp_inflater f;
    dp_buf_reset(&c->w->scratch);
    dp_inflate_status st =
        dp_inflater_init(&f, alg == GRPC_COMPRESS_GZIP ? DP_INFLATE_GZIP : DP_INFLATE_ZLIB, limit);
    const grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
    for (size_t i = 0; st == DP_INFLATE_OK && i < sb->count; i++)
        st = dp_inflater_feed(&f, GRPC_SLICE_START_PTR(sb->slices[i]),
                              GRPC_SLICE_LENGTH(sb->slices[i]), &c->w->scratch);
    if (st == DP_INFLATE_OK)
        st = dp_inflater_finish(&f);
    grpc_status_code status = GRPC_STATUS_OK;
    switch (st) {
    case DP_INFLATE_OK:
        break;
    case DP_INFLATE_OVER_CAP:
        atomic_fetch_add(&c->w->r->inflate_over_limit, 1);
        snprintf(why, whylen,
                 "the %s request message inflates to more than max_recv_message_size (%zu bytes)",
                 name, limit);
        status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        break;
    case DP_INFLATE_NOMEM:
        snprintf(why, whylen, "out of memory inflating the request message; retry later");
        status = GRPC_STATUS_UNAVAILABLE;
        break;
    default:
        snprintf(why, whylen, "the %s request message is %s: %s", name,
                 st == DP_INFLATE_TRUNCATED ? "truncated" : "not valid", dp_inflater_message(&f));
        status = GRPC_STATUS_INVALID_ARGUMENT;
        break;
    }
    dp_inflater_end(&f);
    return status;
}

/* The request's bytes, contiguous, in *data and *len (NULL and 0 for an empty
 * message). GRPC_STATUS_OK, or the status to answer with its reason in why. */
static grpc_status_code read_payload(call_ctx *c, const uint8_t **data, size_t *len, char *why,
                                     size_t whylen)
{
    *data = NULL;
    *len = 0;
    grpc_byte_buffer *bb = c->payload;
    if (!bb)
        return GRPC_STATUS_OK;
    size_t limit = c->w->r->opt.max_recv_message_bytes;
    if (bb->type != GRPC_BB_RAW) {
        snprintf(why, whylen, "the request message cannot be read");
        return GRPC_STATUS_INTERNAL;
    }
    if (bb->data.raw.compression != GRPC_COMPRESS_NONE) {
        grpc_status_code st = inflate_payload(c, bb, why, whylen);
        if (st == GRPC_STATUS_OK) {
            *data = (const uint8_t *)c->w->scratch.data;
            *len = c->w->scratch.len;
        }
        return st;
    }
    const grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
    if (sb->count == 1) {
        /* the common case: one slice, use it in place */
        *data = GRPC_SLICE_START_PTR(sb->slices[0]);
        *len = GRPC_SLICE_LENGTH(sb->slices[0]);
        return GRPC_STATUS_OK;
    }
    dp_buf_reset(&c->w->scratch);
    if (sb->length > limit) { /* the core checks it too */
        snprintf(why, whylen, "the request message is over max_recv_message_size (%zu bytes)",
                 limit);
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    if (dp_buf_reserve_exact(&c->w->scratch, sb->length) != 0) {
        snprintf(why, whylen, "out of memory reading the request message; retry later");
        return GRPC_STATUS_UNAVAILABLE;
    }
    for (size_t i = 0; i < sb->count; i++)
        dp_buf_append(&c->w->scratch, GRPC_SLICE_START_PTR(sb->slices[i]),
                      GRPC_SLICE_LENGTH(sb->slices[i])); /* reserved above: cannot fail */
    *data = (const uint8_t *)c->w->scratch.data;
    *len = c->w->scratch.len;
    return GRPC_STATUS_OK;
}

/* --- handling ------------------------------------------------------------------ */

/* The gRPC status of each outcome of dp_ingest_request(). */
static grpc_status_code grpc_status_of(dp_ingest_status st)
{
    switch (st) {
    case DP_INGEST_OK:
        return GRPC_STATUS_OK;
    case DP_INGEST_INVALID:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case DP_INGEST_TOO_LARGE:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case DP_INGEST_UNAVAILABLE:
        break;
    }
    return GRPC_STATUS_UNAVAILABLE;
}

/* The context has nothing outstanding on its queue any more. */
static void ctx_idle(call_ctx *c)
{
    if (c->state != CTX_IDLE)
        atomic_fetch_sub(&c->w->r->active, 1);
    c->state = CTX_IDLE;
}

static void request_call(call_ctx *c)
{
    dp_receiver *r = c->w->r;
    if (atomic_load(&r->shutting_down)) {
        ctx_idle(c);
        return;
    }
    if (c->state == CTX_IDLE)
        atomic_fetch_add(&r->active, 1);
    grpc_metadata_array_init(&c->request_md);
    c->call = NULL;
    c->payload = NULL;
    c->state = CTX_REQUESTED;
    grpc_call_error e;
    if (c->other) {
        grpc_call_details_init(&c->call_details);
        e = grpc_server_request_call(r->server, &c->call, &c->call_details, &c->request_md,
                                     c->w->cq, c->w->cq, c);
    } else {
        e = grpc_server_request_registered_call(r->server, r->methods[c->signal], &c->call,
                                                &c->deadline, &c->request_md, NULL, c->w->cq,
                                                c->w->cq, c);
    }
    if (e != GRPC_CALL_OK) {
        dp_log_error("receiver", "cannot request a call: grpc_call_error %d", (int)e);
        grpc_metadata_array_destroy(&c->request_md);
        if (c->other)
            grpc_call_details_destroy(&c->call_details);
        ctx_idle(c);
    }
}

static uint64_t now_ms(void)
{
    return dp_clock_monotonic_ms();
}

/* server.recv_timeout from now; UINT64_MAX when there is none. */
static uint64_t call_deadline(const dp_receiver *r)
{
    return r->opt.recv_timeout_ms ? now_ms() + r->opt.recv_timeout_ms : UINT64_MAX;
}

/* The call is over for this receiver: one fewer in flight. */
static void call_released(dp_receiver *r)
{
    atomic_fetch_sub(&r->in_flight, 1);
}

static void release(call_ctx *c);

static void sending_free(sending *s)
{
    worker *w = s->w;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->sendings = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->response)
        grpc_byte_buffer_destroy(s->response);
    grpc_slice_unref(s->details);
    grpc_call_unref(s->call);
    call_released(w->r);
    atomic_fetch_sub(&w->r->active, 1);
    free(s);
}

/* Answer the call: initial metadata, the response when there is one, the
 * status with its message. The call goes to a sending record (freed when
 * the batch completes) and the context takes calls again. */
static void answer(call_ctx *c, grpc_status_code status, grpc_byte_buffer *response,
                   const char *message)
{
    worker *w = c->w;
    atomic_fetch_add(&w->r->calls_by_status[status], 1);
    sending *s = calloc(1, sizeof(*s));
    if (!s) {
        /* out of memory: the client gets CANCELLED and may retry */
        if (response)
            grpc_byte_buffer_destroy(response);
        grpc_call_cancel(c->call, NULL);
        release(c);
        return;
    }
    atomic_fetch_add(&w->r->active, 1);
    s->kind = DP_TAG_SEND;
    s->w = w;
    s->call = c->call;
    c->call = NULL;
    s->response = response;
    s->details = grpc_slice_from_copied_string(message);
    s->deadline_ms = call_deadline(w->r);
    s->next = w->sendings;
    if (s->next)
        s->next->prev = s;
    w->sendings = s;
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (response) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = response;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = status;
    ops[n++].data.send_status_from_server.status_details = &s->details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &s->cancelled;
    grpc_call_error e = grpc_call_start_batch(s->call, ops, n, s, NULL);
    if (e != GRPC_CALL_OK) {
        dp_log_error("receiver", "cannot answer a call: grpc_call_error %d", (int)e);
        sending_free(s); /* clean up as if it had completed */
    }
    release(c);
}

/* Start reading the call's message: RECEIVING until it is in, or cancelled
 * past server.recv_timeout. */
static void receive(call_ctx *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    c->state = CTX_RECEIVING;
    c->cut = false;
    c->recv_deadline_ms = call_deadline(c->w->r);
    if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK)
        answer(c, GRPC_STATUS_INTERNAL, NULL, "cannot read the request message");
}

static bool method_is(grpc_slice method, const char *path)
{
    size_t len = GRPC_SLICE_LENGTH(method);
    return len == strlen(path) && memcmp(GRPC_SLICE_START_PTR(method), path, len) == 0;
}

/* A Watch stream: handed to health_watch.c, and this context takes calls again. */
static void on_watch_call(call_ctx *c)
{
    int rc = dp_health_watch_start(c->w->r->watches, c->call);
    if (rc == DP_OK) {
        c->call = NULL; /* the watch's now */
        call_released(c->w->r);
        release(c);
        return;
    }
    if (rc == DP_EFULL)
        answer(c, GRPC_STATUS_RESOURCE_EXHAUSTED, NULL,
               "too many health Watch streams are open; use Check, or retry later");
    else
        answer(c, GRPC_STATUS_INTERNAL, NULL, "cannot start the health Watch");
}

/* A method of no registered service: the health service, or UNIMPLEMENTED at once. */
static void on_other_call(call_ctx *c)
{
    grpc_slice method = c->call_details.method;
    size_t len = GRPC_SLICE_LENGTH(method);
    if (method_is(method, DP_HEALTH_WATCH)) {
        on_watch_call(c);
        return;
    }
    if (method_is(method, DP_HEALTH_CHECK)) {
        receive(c);
        return;
    }
    char message[300];
    snprintf(message, sizeof(message),
             "unknown method %.*s: dagprof serves OTLP Export and grpc.health.v1.Health "
             "(Check, Watch)",
             (int)(len > 200 ? 200 : len), (const char *)GRPC_SLICE_START_PTR(method));
    answer(c, GRPC_STATUS_UNIMPLEMENTED, NULL, message);
}

/*
 * grpc.health.v1.HealthCheckRequest { string service = 1; } answered with
 * HealthCheckResponse { ServingStatus status = 1; } (SERVING = 1,
 * NOT_SERVING = 2 while shutting down); a service dagprof does not serve
 * is NOT_FOUND, as the health protocol says.
 */
static void on_health_request(call_ctx *c)
{
    const uint8_t *data;
    size_t len;
    bool known;
    char why[256];
    grpc_status_code st = read_payload(c, &data, &len, why, sizeof(why));
    if (st != GRPC_STATUS_OK) {
        answer(c, st, NULL, why);
        return;
    }
    if (dp_health_read_request(data, len, &known) != 0) {
        answer(c, GRPC_STATUS_INVALID_ARGUMENT, NULL, "HealthCheckRequest does not decode");
        return;
    }
    if (!known) {
        answer(c, GRPC_STATUS_NOT_FOUND, NULL, "dagprof does not serve this service");
        return;
    }
    answer(c, GRPC_STATUS_OK,
           dp_health_response(atomic_load(&c->w->r->shutting_down) ? DP_HEALTH_NOT_SERVING
                                                                   : DP_HEALTH_SERVING),
           "");
}

/* The value of metadata `key` (lower case, as the core has it), or {NULL, 0}. */
static dp_str metadata_value(const grpc_metadata_array *md, const char *key)
{
    for (size_t i = 0; key && i < md->count; i++)
        if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0)
            return (dp_str){(const char *)GRPC_SLICE_START_PTR(md->metadata[i].value),
                            GRPC_SLICE_LENGTH(md->metadata[i].value)};
    return DP_STR_NULL;
}

/* With an authenticator: answers UNAUTHENTICATED and returns false when
 * the call's metadata carries no accepted credential. */
static bool authenticated(call_ctx *c)
{
    dp_auth *auth = c->w->r->opt.authenticator;
    if (!auth)
        return true;
    dp_auth_result a = dp_auth_check(auth, metadata_value(&c->request_md, "authorization"),
                                     metadata_value(&c->request_md, dp_auth_header_name(auth)));
    if (a == DP_AUTH_OK)
        return true;
    answer(c, GRPC_STATUS_UNAUTHENTICATED, NULL, dp_auth_message(auth, a));
    return false;
}

static void on_call(call_ctx *c)
{
    dp_receiver *r = c->w->r;
    dp_ingest_result res;
    const uint8_t *data;
    size_t len;
    if (!authenticated(c))
        return;
    if (!dp_ingest_admit(r->ingest, c->signal, &res)) { /* over the memory guard's limit */
        answer(c, GRPC_STATUS_UNAVAILABLE, NULL, res.message);
        return;
    }
    grpc_status_code status = read_payload(c, &data, &len, res.message, sizeof(res.message));
    if (status != GRPC_STATUS_OK) {
        dp_log_debug("receiver", "%s: status %d: %s", method_paths[c->signal], (int)status,
                     res.message);
        answer(c, status, NULL, res.message);
        return;
    }
    dp_ingest_request(r->ingest, c->signal, data, len, &c->w->arena, &res);
    status = grpc_status_of(res.status);
    if (status != GRPC_STATUS_OK)
        dp_log_debug("receiver", "%s: status %d: %s", method_paths[c->signal], (int)status,
                     res.message);
    answer(c, status, status == GRPC_STATUS_OK ? response_buffer(&res) : NULL,
           status == GRPC_STATUS_OK ? "" : res.message);
}

/* The context is done with its call (answered, handed over or cancelled): it takes calls again. */
static void release(call_ctx *c)
{
    worker *w = c->w;
    if (c->call) { /* not answered: cancelled, or out of memory answering */
        grpc_call_unref(c->call);
        call_released(w->r);
    }
    c->call = NULL;
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    grpc_metadata_array_destroy(&c->request_md);
    if (c->other)
        grpc_call_details_destroy(&c->call_details);
    dp_arena_reset(&w->arena);
    /* a copy of a rare large message goes back to the allocator */
    if (w->scratch.cap > DP_RECEIVER_KEPT_SCRATCH)
        dp_buf_free(&w->scratch);
    request_call(c);
}

/* The call's message is in (or the call ended first). */
static void on_received(call_ctx *c, bool success)
{
    if (!success || c->cut) {
        /* cancelled: by the client, past server.recv_timeout, or at shutdown */
        release(c);
        return;
    }
    if (c->other)
        on_health_request(c);
    else
        on_call(c);
}

/* Cancel the calls of this worker that are past their time: a message not
 * in, or an answer not taken, within server.recv_timeout. */
static void sweep(worker *w)
{
    dp_receiver *r = w->r;
    uint64_t now = now_ms();
    char message[160];
    snprintf(message, sizeof(message),
             "the request message did not arrive within server.recv_timeout (%u ms)",
             r->opt.recv_timeout_ms);
    for (size_t i = 0; i < w->ctx_count; i++) {
        call_ctx *c = &w->ctxs[i];
        if (c->state == CTX_RECEIVING && !c->cut && now >= c->recv_deadline_ms) {
            c->cut = true;
            atomic_fetch_add(&r->cut_recv, 1);
            grpc_call_cancel_with_status(c->call, GRPC_STATUS_DEADLINE_EXCEEDED, message, NULL);
        }
    }
    for (sending *s = w->sendings; s; s = s->next) {
        if (!s->cut && now >= s->deadline_ms) {
            s->cut = true;
            atomic_fetch_add(&r->cut_send, 1);
            grpc_call_cancel_with_status(s->call, GRPC_STATUS_DEADLINE_EXCEEDED,
                                         "the answer was not taken within server.recv_timeout",
                                         NULL);
        }
    }
}

/* How long a worker waits for an event before it looks for calls past their time. */
static uint64_t sweep_tick_ms(const dp_receiver *r)
{
    uint64_t t = r->opt.recv_timeout_ms / 8;
    return t < 20 ? 20 : t > 1000 ? 1000 : t;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    uint64_t tick = sweep_tick_ms(w->r);
    for (;;) {
        gpr_timespec wake = w->r->opt.recv_timeout_ms
                                ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                               gpr_time_from_millis((int64_t)tick, GPR_TIMESPAN))
                                : gpr_inf_future(GPR_CLOCK_MONOTONIC);
        grpc_event ev = grpc_completion_queue_next(w->cq, wake, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (w->r->opt.recv_timeout_ms && now_ms() >= w->next_sweep_ms) {
            sweep(w);
            w->next_sweep_ms = now_ms() + tick;
        }
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        enum dp_grpc_tag_kind kind = *(enum dp_grpc_tag_kind *)ev.tag;
        if (kind == DP_TAG_WATCH) {
            dp_health_watch_on_event(ev.tag, ev.success);
            continue;
        }
        if (kind == DP_TAG_SEND) {
            sending_free(ev.tag);
            continue;
        }
        call_ctx *c = ev.tag;
        if (c->state == CTX_REQUESTED) {
            if (!ev.success) {
                /* the server is shutting down: this request will not be matched */
                grpc_metadata_array_destroy(&c->request_md);
                if (c->other)
                    grpc_call_details_destroy(&c->call_details);
                ctx_idle(c);
                continue;
            }
            atomic_fetch_add(&w->r->in_flight, 1);
            if (c->other)
                on_other_call(c);
            else
                receive(c);
        } else if (c->state == CTX_RECEIVING) {
            on_received(c, ev.success);
        }
    }
    return NULL;
}

/* --- accepting ------------------------------------------------------------------ */

/*
 * The gRPC core's own listener (1.51) stops accepting for good after one
 * accept4() fails with EMFILE. dagprof accepts every connection itself and
 * hands it to the core (plaintext at once, TLS through the proxy after its
 * handshake, tls_proxy.h); when the process is out of descriptors it
 * gives up its reserve descriptor for a moment to accept the waiting
 * connection and close it at once (the client sees the connection reset and
 * retries), so the backlog does not hang clients, and takes connections
 * again as soon as descriptors are free.
 */
static void refuse_one(dp_receiver *r, int err, uint64_t *last_log_ms)
{
    if (r->reserve_fd >= 0) {
        close(r->reserve_fd);
        int fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            atomic_fetch_add(&r->refused_fd_limit, 1);
        }
    } else {
        /* no reserve either (another thread took the descriptor it freed):
         * wait for descriptors to be freed */
        poll(NULL, 0, 100);
    }
    /* the reserve back (it stays missing while descriptors are still short) */
    r->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    uint64_t now = now_ms();
    if (*last_log_ms == 0 || now - *last_log_ms >= 10000) {
        *last_log_ms = now;
        dp_log_warn("receiver",
                    "cannot accept a gRPC connection: %s (out of file descriptors: raise ulimit "
                    "-n); new connections are closed until descriptors are free (%llu so far)",
                    strerror(err), (unsigned long long)atomic_load(&r->refused_fd_limit));
    }
}

/*
 * server.max_connections. With TLS the proxy counts the connections it
 * holds, from the accept to their close. In plaintext the connections
 * handed to the core are tracked by descriptor (dp_conn_table); the core
 * closes them on its own, so the table is swept (each tracked descriptor
 * checked with fstat) only when the count reaches the limit, and while it
 * stays there at most every 50 ms (or 10 times as long as a sweep took, for
 * large tables). At the limit the new connection is closed at once: its
 * client sees the reset and retries, instead of waiting in the backlog.
 */
static bool admit(dp_receiver *r, int fd, uint64_t *last_log_ms)
{
    unsigned limit = r->opt.max_connections;
    uint64_t open = r->proxy ? dp_tls_proxy_open(r->proxy) : r->conns.count;
    if (!r->proxy && open >= limit) {
        uint64_t now = now_ms();
        if (now >= r->next_sweep_ms) {
            dp_conn_table_sweep(&r->conns);
            uint64_t took = now_ms() - now;
            r->next_sweep_ms = now_ms() + (took * 10 > 50 ? took * 10 : 50);
        }
        open = r->conns.count;
    }
    if (open >= limit) {
        uint64_t refused = atomic_fetch_add(&r->refused_max_conn, 1) + 1;
        uint64_t now = now_ms();
        if (*last_log_ms == 0 || now - *last_log_ms >= 10000) {
            *last_log_ms = now;
            dp_log_warn("receiver",
                        "server.max_connections (%u) gRPC connections are open: new connections "
                        "are closed at once until some close (%llu so far)",
                        limit, (unsigned long long)refused);
        }
        return false;
    }
    /* fstat cannot fail on a socket just accepted; out of memory, it is taken uncounted */
    if (!r->proxy)
        dp_conn_table_track(&r->conns, fd);
    return true;
}

/* A plaintext connection whose preface has arrived: to the core. */
static void plaintext_ready(void *ctx, int fd)
{
    dp_receiver *r = ctx;
    grpc_server_add_channel_from_fd(r->server, fd, r->insecure);
}

/* Take the connections waiting on the listening socket (at most 64 at a time). */
static void accept_ready(dp_receiver *r, uint64_t *last_log_ms, uint64_t *last_limit_log_ms)
{
    for (int n = 0; n < 64 && !atomic_load(&r->shutting_down); n++) {
        int fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            /* the reserve lost to another thread in refuse_one(): take it
             * back now that descriptors are free again */
            if (r->reserve_fd < 0)
                r->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (r->opt.max_connections && !admit(r, fd, last_limit_log_ms)) {
                close(fd);
                continue;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            if (r->proxy)
                dp_tls_proxy_add(r->proxy, fd); /* closes it when out of memory */
            else if (dp_preface_wait_add(&r->preface, fd, now_ms()) != DP_OK)
                plaintext_ready(r, fd); /* no room to wait: the core takes it untimed */
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            refuse_one(r, errno, last_log_ms);
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            dp_log_warn("receiver", "accept: %s", strerror(errno));
        break;
    }
}

static void *acceptor_main(void *arg)
{
    dp_receiver *r = arg;
    uint64_t last_log_ms = 0, last_limit_log_ms = 0;
    bool waits = !r->proxy; /* plaintext: connections wait here for their preface */
    while (!atomic_load(&r->shutting_down)) {
        struct pollfd p[2] = {
            {.fd = r->listen_fd, .events = POLLIN},
            {.fd = waits ? dp_preface_wait_fd(&r->preface) : -1, .events = POLLIN}};
        /* wakes at least every 100 ms to see shutting_down, sooner for a deadline */
        int timeout = 100;
        if (waits) {
            int next = dp_preface_wait_next_ms(&r->preface, now_ms());
            if (next >= 0 && next < timeout)
                timeout = next;
        }
        int n = poll(p, 2, timeout);
        if (n > 0 && (p[0].revents & POLLIN))
            accept_ready(r, &last_log_ms, &last_limit_log_ms);
        if (waits) {
            size_t cut = dp_preface_wait_run(&r->preface, now_ms(), plaintext_ready, r);
            if (cut)
                atomic_fetch_add(&r->preface_timeouts, cut);
        }
    }
    return NULL;
}

/* A TLS connection past its handshake (a proxy thread): its plaintext end to the core. */
static void deliver_to_core(void *ctx, int fd)
{
    dp_receiver *r = ctx;
    pthread_mutex_lock(&r->core_lock);
    if (r->core_closed)
        close(fd);
    else
        grpc_server_add_channel_from_fd(r->server, fd, r->insecure);
    pthread_mutex_unlock(&r->core_lock);
}

/* --- lifecycle ------------------------------------------------------------------- */

static int worker_init(dp_receiver *r, worker *w, unsigned trace_calls)
{
    w->r = r;
    w->cq = grpc_completion_queue_create_for_next(NULL);
    if (!w->cq)
        return -1;
    w->ctx_count = trace_calls + 2 * DP_RECEIVER_SIDE_CALLS + 1; /* + other methods */
    w->ctxs = calloc(w->ctx_count, sizeof(*w->ctxs));
    if (!w->ctxs)
        return -1;
    /* decoded structures are a few times the message size at most */
    dp_arena_init(&w->arena, 64 * 1024, 4 * r->opt.max_recv_message_bytes + (1u << 20));
    dp_buf_init(&w->scratch, 0);
    for (size_t i = 0; i < w->ctx_count; i++) {
        call_ctx *c = &w->ctxs[i];
        c->w = w;
        c->signal = i < trace_calls                            ? DP_SIGNAL_TRACES
                    : i < trace_calls + DP_RECEIVER_SIDE_CALLS ? DP_SIGNAL_METRICS
                                                               : DP_SIGNAL_LOGS;
        c->other = i == w->ctx_count - 1;
        c->state = CTX_IDLE;
    }
    return 0;
}

int dp_receiver_start(const dp_receiver_options *opt, dp_receiver **out, char *err, size_t errlen)
{
    int rc = DP_RECEIVER_EINVAL;
    dp_receiver *r = NULL;
    *out = NULL;
    if (!opt || !opt->ingest || !opt->listen[0] || !opt->max_recv_message_bytes ||
        !opt->max_concurrent_calls) {
        snprintf(err, errlen,
                 "receiver: listen address, ingest, message size and calls per worker are "
                 "required");
        goto out;
    }
    rc = DP_RECEIVER_ENOMEM;
    r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "receiver: out of memory");
        goto out;
    }
    r->opt = *opt;
    r->ingest = opt->ingest;
    r->listen_fd = r->reserve_fd = -1;
    r->preface.ep = -1; /* nothing to close yet */
    pthread_mutex_init(&r->core_lock, NULL);
    dp_conn_table_init(&r->conns);
    r->watches = dp_health_watches_create();
    if (!r->watches)
        goto out;
    grpc_init();
    if (r->opt.max_recv_message_bytes > INT_MAX)
        r->opt.max_recv_message_bytes = INT_MAX;
    r->worker_count = opt->workers;
    if (!r->worker_count) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        r->worker_count = n > 0 ? (unsigned)n : 1;
    }

    grpc_arg args[16];
    memset(args, 0, sizeof(args));
    size_t nargs = 0;
    struct {
        const char *key;
        unsigned value;
        bool set;
    } ints[] = {
        {GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (unsigned)r->opt.max_recv_message_bytes, true},
        /* without this a second server on the same port would bind silently */
        {GRPC_ARG_ALLOW_REUSEPORT, 0, true},
        /* compressed messages come as they are, to be inflated under the cap (inflate_payload) */
        {GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0, true},
        {GRPC_ARG_MAX_CONCURRENT_STREAMS, r->opt.max_concurrent_streams,
         r->opt.max_concurrent_streams > 0},
        {GRPC_ARG_KEEPALIVE_TIME_MS, r->opt.keepalive_time_ms, r->opt.keepalive_time_ms > 0},
        {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, r->opt.keepalive_timeout_ms,
         r->opt.keepalive_timeout_ms > 0},
        {GRPC_ARG_MAX_CONNECTION_IDLE_MS, r->opt.max_connection_idle_ms,
         r->opt.max_connection_idle_ms > 0},
        {GRPC_ARG_MAX_CONNECTION_AGE_MS, r->opt.max_connection_age_ms,
         r->opt.max_connection_age_ms > 0},
        {GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, r->opt.max_connection_age_grace_ms,
         r->opt.max_connection_age_grace_ms > 0},
        {GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, r->opt.handshake_timeout_ms,
         r->opt.handshake_timeout_ms > 0},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (!ints[i].set)
            continue;
        args[nargs].type = GRPC_ARG_INTEGER;
        args[nargs].key = (char *)ints[i].key;
        args[nargs++].value.integer = ints[i].value > INT_MAX ? INT_MAX : (int)ints[i].value;
    }
    /* the memory guard's hard limit bounds the core's own buffers too: under
     * pressure it shrinks flow-control windows, and past it refuses */
    grpc_resource_quota *quota = NULL;
    if (r->opt.memory_quota_bytes) {
        quota = grpc_resource_quota_create("dagprof-receiver");
        if (!quota)
            goto out;
        grpc_resource_quota_resize(quota, r->opt.memory_quota_bytes);
        args[nargs].type = GRPC_ARG_POINTER;
        args[nargs].key = GRPC_ARG_RESOURCE_QUOTA;
        args[nargs].value.pointer.p = quota;
        args[nargs++].value.pointer.vtable = grpc_resource_quota_arg_vtable();
    }
    grpc_channel_args cargs = {nargs, args};
    r->server = grpc_server_create(&cargs, NULL);
    if (quota)
        grpc_resource_quota_unref(quota); /* the server holds its own reference */
    if (!r->server)
        goto out;
    for (int m = 0; m < 3; m++) {
        r->methods[m] =
            grpc_server_register_method(r->server, method_paths[m], NULL, GRPC_SRM_PAYLOAD_NONE, 0);
        if (!r->methods[m])
            goto out;
    }
    r->workers = calloc(r->worker_count, sizeof(*r->workers));
    if (!r->workers)
        goto out;
    for (unsigned i = 0; i < r->worker_count; i++) {
        if (worker_init(r, &r->workers[i], r->opt.max_concurrent_calls) != 0)
            goto out;
        grpc_server_register_completion_queue(r->server, r->workers[i].cq, NULL);
    }
    r->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    if (!r->shutdown_cq)
        goto out;

    /* dagprof's own listening socket and accept loop (acceptor_main) */
    char why[256];
    r->listen_fd = dp_tcp_listen(r->opt.listen, 1024, &r->port, why, sizeof(why));
    if (r->listen_fd < 0) {
        rc = r->listen_fd == DP_EINVAL ? DP_RECEIVER_EINVAL : DP_RECEIVER_EBIND;
        r->listen_fd = -1;
        snprintf(err, errlen, "receiver: %s", why); /* names the address */
        goto out;
    }
    if (fcntl(r->listen_fd, F_SETFL, fcntl(r->listen_fd, F_GETFL) | O_NONBLOCK) != 0) {
        rc = DP_RECEIVER_EBIND;
        snprintf(err, errlen, "receiver: cannot listen on %s: %s", r->opt.listen, strerror(errno));
        goto out;
    }
    r->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    r->insecure = grpc_insecure_server_credentials_create();
    if (!r->insecure)
        goto out;
    grpc_server_start(r->server);
    r->started = true;
    if (r->opt.tls_server) {
        dp_tls_proxy_options po = {r->opt.tls_server, r->worker_count, r->opt.handshake_timeout_ms,
                                   deliver_to_core, r};
        int prc = dp_tls_proxy_start(&po, &r->proxy, err, errlen);
        if (prc != DP_OK) {
            rc = prc;
            goto out;
        }
    } else if (dp_preface_wait_init(&r->preface, r->opt.handshake_timeout_ms) != DP_OK) {
        snprintf(err, errlen, "receiver: cannot create an epoll set: %s", strerror(errno));
        goto out;
    }

    for (unsigned i = 0; i < r->worker_count; i++) {
        worker *w = &r->workers[i];
        for (size_t k = 0; k < w->ctx_count; k++)
            request_call(&w->ctxs[k]);
    }
    for (unsigned i = 0; i < r->worker_count; i++) {
        if (pthread_create(&r->workers[i].thread, NULL, worker_main, &r->workers[i]) != 0) {
            rc = DP_RECEIVER_ETHREAD;
            snprintf(err, errlen, "receiver: cannot start worker threads");
            goto out;
        }
        r->workers[i].thread_started = true;
    }
    if (pthread_create(&r->acceptor, NULL, acceptor_main, r) != 0) {
        rc = DP_RECEIVER_ETHREAD;
        snprintf(err, errlen, "receiver: cannot start the accepting thread");
        goto out;
    }
    r->acceptor_started = true;
    *out = r;
    r = NULL;
    rc = DP_RECEIVER_OK;
out:
    if (r && rc == DP_RECEIVER_ENOMEM)
        snprintf(err, errlen, "receiver: out of memory creating the gRPC server");
    dp_receiver_destroy(r);
    return rc;
}

int dp_receiver_port(const dp_receiver *r)
{
    return r->port;
}

/*
 * Wait, at most server.shutdown_timeout, for the shutdown's tag; true when it
 * came. The core sends it once every call has finished and every
 * connection has closed: a client that keeps a connection without calls
 * open past the GOAWAY (gRPC libraries close theirs; one that does not
 * answer the GOAWAY's PING is closed by the core only after 20 s) would
 * hold it. So once no call is left (every context idle, as the requests
 * not matched came back at the shutdown, no answer in flight, no Watch
 * stream open) the remaining connections are closed at once.
 */
static bool shutdown_wait(dp_receiver *r)
{
    gpr_timespec limit =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_millis((int64_t)r->opt.shutdown_timeout_ms, GPR_TIMESPAN));
    bool idle_closed = false;
    for (;;) {
        gpr_timespec step =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(10, GPR_TIMESPAN));
        if (gpr_time_cmp(step, limit) > 0)
            step = limit;
        if (grpc_completion_queue_pluck(r->shutdown_cq, r, step, NULL).type != GRPC_QUEUE_TIMEOUT)
            return true;
        if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), limit) >= 0)
            return false;
        if (!idle_closed && atomic_load(&r->active) == 0 &&
            dp_health_watches_open(r->watches) == 0) {
            grpc_server_cancel_all_calls(r->server); /* none left: it closes the connections */
            idle_closed = true;
        }
    }
}

void dp_receiver_shutdown(dp_receiver *r)
{
    if (!r || r->shut_down)
        return;
    r->shut_down = true;
    atomic_store(&r->shutting_down, true);
    /* Watch streams get NOT_SERVING and end now: the shutdown below waits
     * for every call, and does not wait for watching clients this way */
    dp_health_watches_shutdown(r->watches);
    if (r->acceptor_started) { /* it sees shutting_down within its poll's 100 ms */
        pthread_join(r->acceptor, NULL);
        r->acceptor_started = false;
    }
    /* connections that never sent their preface: closed now */
    if (r->preface.ep >= 0)
        dp_preface_wait_free(&r->preface);
    /* handshakes that finish from now on are not handed to the core */
    pthread_mutex_lock(&r->core_lock);
    r->core_closed = true;
    pthread_mutex_unlock(&r->core_lock);
    if (r->server) {
        if (r->started) {
            /* no new calls; the tag comes once every call in flight has finished,
             * or is cancelled past server.shutdown_timeout */
            grpc_server_shutdown_and_notify(r->server, r->shutdown_cq, r);
            if (!shutdown_wait(r)) {
                uint64_t open = atomic_load(&r->in_flight);
                atomic_store(&r->cut_shutdown, open);
                dp_log_warn("receiver",
                            "shutdown: %llu call(s) still open after server.shutdown_timeout "
                            "(%u ms) cancelled (CANCELLED to their clients, nothing of them kept)",
                            (unsigned long long)open, r->opt.shutdown_timeout_ms);
                grpc_server_cancel_all_calls(r->server);
                grpc_completion_queue_pluck(r->shutdown_cq, r, gpr_inf_future(GPR_CLOCK_REALTIME),
                                            NULL);
            }
            /* the server is done with its calls, but a worker may still be
             * handling the end of one (a cancelled call's last batch, a call
             * matched just before): its queue is shut down only once every
             * context is idle and every answer's record freed */
            for (int i = 0; i < 10000 && atomic_load(&r->active) > 0; i++)
                nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        grpc_server_destroy(r->server);
        r->server = NULL;
    }
    if (r->proxy) {
        /* the core has closed its ends: the proxy sends the last answers on and closes */
        for (int i = 0; i < 1000 && dp_tls_proxy_open(r->proxy) > 0; i++)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        dp_tls_proxy_stop(r->proxy); /* freed with the receiver: its counts are still read */
    }
    for (unsigned i = 0; r->workers && i < r->worker_count; i++) {
        worker *w = &r->workers[i];
        if (!w->cq)
            continue;
        grpc_completion_queue_shutdown(w->cq);
        if (w->thread_started) {
            pthread_join(w->thread, NULL);
            w->thread_started = false;
        } else {
            /* never started: drain the queue here */
            while (
                grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
                GRPC_QUEUE_SHUTDOWN) {
            }
        }
    }
}

void dp_receiver_destroy(dp_receiver *r)
{
    if (!r)
        return;
    dp_receiver_shutdown(r);
    for (unsigned i = 0; r->workers && i < r->worker_count; i++) {
        worker *w = &r->workers[i];
        dp_arena_free(&w->arena);
        dp_buf_free(&w->scratch);
        free(w->ctxs);
        if (w->cq)
            grpc_completion_queue_destroy(w->cq);
    }
    free(r->workers);
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    if (r->reserve_fd >= 0)
        close(r->reserve_fd);
    if (r->preface.ep >= 0)
        dp_preface_wait_free(&r->preface); /* a start that failed */
    dp_conn_table_free(&r->conns);
    dp_tls_proxy_destroy(r->proxy);
    pthread_mutex_destroy(&r->core_lock);
    if (r->insecure)
        grpc_server_credentials_release(r->insecure);
    if (r->shutdown_cq) {
        grpc_completion_queue_shutdown(r->shutdown_cq);
        grpc_completion_queue_destroy(r->shutdown_cq);
    }
    bool grpc_started = r->watches != NULL; /* grpc_init() came after it */
    dp_health_watches_destroy(r->watches);
    free(r);
    if (grpc_started)
        grpc_shutdown();
}

void dp_receiver_get_stats(dp_receiver *r, dp_receiver_stats *o)
{
    dp_ingest_stats is;
    memset(o, 0, sizeof(*o));
    dp_ingest_get_stats(r->ingest, &is);
    o->spans_received = is.spans_received;
    o->spans_accepted = is.spans_accepted;
    o->spans_rejected = is.spans_rejected;
    o->spans_refused = is.spans_refused;
    o->metric_points = is.metric_points;
    o->log_records = is.log_records;
    for (int i = 0; i < 17; i++)
        o->calls_by_status[i] = atomic_load(&r->calls_by_status[i]);
    o->inflate_over_limit = atomic_load(&r->inflate_over_limit);
    o->cut_recv_timeout = atomic_load(&r->cut_recv);
    o->cut_send_timeout = atomic_load(&r->cut_send);
    o->cut_shutdown = atomic_load(&r->cut_shutdown);
    o->calls_in_flight = atomic_load(&r->in_flight);
    o->connections_refused_fd_limit = atomic_load(&r->refused_fd_limit);
    o->connections_refused_max_connections = atomic_load(&r->refused_max_conn);
    o->preface_timeouts = atomic_load(&r->preface_timeouts);
    /* read by the telemetry thread while the receiver runs: the proxy lives as long */
    if (r->proxy) {
        dp_tls_proxy_stats ps;
        dp_tls_proxy_get_stats(r->proxy, &ps);
        o->tls = true;
        o->tls_connections = ps.open;
        o->tls_handshake_failed = ps.handshakes_failed;
        o->tls_handshake_timeout = ps.handshakes_timeout;
    }
}

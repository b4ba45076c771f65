/*
 * grpc.health.v1.Health Watch streams; see health_watch.h.
 *
 * A watch has up to three batches in flight, each with its own tag:
 * RECV_MESSAGE (the request), RECV_CLOSE_ON_SERVER (started at once: it
 * completes when the call is over, cancelled by the client or ended by
 * dagprof) and one send at a time (a status message, with the initial
 * metadata the first time and the final status when the stream ends). What
 * to send next is decided in one place, advance(), after every event and at
 * shutdown, under the registry's lock (the shutdown runs on another thread
 * than the workers). A watch is freed once none of its batches is in flight.
 */
#include "health_watch.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dp_str.h"
#include "log.h"
#include "pb_wire.h"

/* The services a health request may name: the server as a whole, and dagprof's three. */
static const char *const served[] = {
    "",
    "opentelemetry.proto.collector.trace.v1.TraceService",
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "opentelemetry.proto.collector.logs.v1.LogsService",
};

enum watch_op { OP_RECV, OP_SEND, OP_CLOSE };

typedef struct watch watch;

typedef struct watch_tag {
    enum dp_grpc_tag_kind kind; /* DP_TAG_WATCH: first, as every tag's */
    enum watch_op op;
    watch *w;
} watch_tag;

struct watch {
    dp_health_watches *hw;
    grpc_call *call;
    watch_tag recv_tag, send_tag, close_tag;
    grpc_byte_buffer *request;
    grpc_byte_buffer *sending;
    grpc_slice details;
    int cancelled;
    bool recv_busy, send_busy, close_busy;
    bool read;          /* the request was read: `known` holds */
    bool known;         /* the service is one dagprof serves */
    bool metadata_sent; /* initial metadata went with the first message */
    bool ended;         /* the final status was sent, or the call is over */
    grpc_status_code end_status;
    const char *end_message;
    int sent; /* the last status sent; 0 before the first */
    watch *prev, *next;
};

struct dp_health_watches {
    pthread_mutex_t lock;
    watch *list;
    size_t count;
    bool shutting_down;
};

/* --- messages ------------------------------------------------------------------ */

int dp_health_read_request(const uint8_t *data, size_t len, bool *known)
{
    dp_str service = {"", 0};
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why = NULL;
    int rc;
    *known = false;
    while ((rc = dp_pb_next(&pos, end, &f, &why)) > 0)
        if (f.number == 1 && f.wire_type == DP_PB_LEN)
            service = (dp_str){(const char *)f.data, f.len};
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
        *known = *known || dp_str_eq_cstr(service, served[i]);
    return 0;
}

grpc_byte_buffer *dp_health_response(enum dp_health_serving_status status)
{
    /* HealthCheckResponse { ServingStatus status = 1; }: tag 0x08, the value as a varint */
    uint8_t bytes[2] = {0x08, (uint8_t)status};
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)bytes, sizeof(bytes));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* The request's bytes read into *known; -1 when there is none or it does not decode. */
static int read_request(grpc_byte_buffer *bb, bool *known)
{
    grpc_byte_buffer_reader reader;
    if (!bb || !grpc_byte_buffer_reader_init(&reader, bb))
        return -1;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    int rc = dp_health_read_request(GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all), known);
    grpc_slice_unref(all);
    return rc;
}

/* --- one watch --------------------------------------------------------------------- */

static enum dp_health_serving_status current_status(const watch *w)
{
    if (!w->known)
        return DP_HEALTH_SERVICE_UNKNOWN;
    return w->hw->shutting_down ? DP_HEALTH_NOT_SERVING : DP_HEALTH_SERVING;
}

/* Start the one send batch; with `end`, the final status follows the message. */
static void start_send(watch *w, bool message, bool end)
{
    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!w->metadata_sent)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (message) {
        w->sent = current_status(w);
        w->sending = dp_health_response((enum dp_health_serving_status)w->sent);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = w->sending;
    }
    if (end) {
        w->details = grpc_slice_from_static_string(w->end_message);
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = w->end_status;
        ops[n++].data.send_status_from_server.status_details = &w->details;
        w->ended = true;
    }
    w->metadata_sent = true;
    w->send_busy = true;
    grpc_call_error e = grpc_call_start_batch(w->call, ops, n, &w->send_tag, NULL);
    if (e != GRPC_CALL_OK) {
        dp_log_error("receiver", "health Watch: cannot send: grpc_call_error %d", (int)e);
        w->send_busy = false;
        w->ended = true; /* the call is broken; its close batch still completes */
    }
}

/* End the stream with `status` as soon as no send is in flight. */
static void end_with(watch *w, grpc_status_code status, const char *message)
{
    w->end_status = status;
    w->end_message = message;
}

/* Send what the stream lacks: the status when it changed, the end at shutdown. */
static void advance(watch *w)
{
    if (w->send_busy || w->ended || w->recv_busy)
        return;
    if (w->end_status != GRPC_STATUS_OK) { /* a request that cannot be read */
        start_send(w, false, true);
        return;
    }
    bool message = w->read && (int)current_status(w) != w->sent;
    bool end = w->hw->shutting_down;
    if (message || end)
        start_send(w, message, end);
}

static void free_if_done(watch *w)
{
    dp_health_watches *hw = w->hw;
    if (w->recv_busy || w->send_busy || w->close_busy)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        hw->list = w->next;
    if (w->next)
        w->next->prev = w->prev;
    hw->count--;
    if (w->request)
        grpc_byte_buffer_destroy(w->request);
    grpc_call_unref(w->call);
    free(w);
}

void dp_health_watch_on_event(void *tag, bool success)
{
    watch_tag *t = tag;
    watch *w = t->w;
    dp_health_watches *hw = w->hw;
    pthread_mutex_lock(&hw->lock);
    switch (t->op) {
    case OP_RECV:
        w->recv_busy = false;
        if (success && read_request(w->request, &w->known) == 0)
            w->read = true;
        else
            end_with(w, GRPC_STATUS_INVALID_ARGUMENT, "no HealthCheckRequest could be read");
        break;
    case OP_SEND:
        w->send_busy = false;
        if (w->sending)
            grpc_byte_buffer_destroy(w->sending);
        w->sending = NULL;
        if (!success)
            w->ended = true;
        break;
    case OP_CLOSE:
        w->close_busy = false;
        w->ended = true; /* cancelled by the client, or ended by dagprof: nothing more to send */
        break;
    }
    advance(w);
    free_if_done(w);
    pthread_mutex_unlock(&hw->lock);
}

int dp_health_watch_start(dp_health_watches *hw, grpc_call *call)
{
    int rc = DP_OK;
    pthread_mutex_lock(&hw->lock);
    watch *w = hw->count < DP_HEALTH_MAX_WATCHES ? calloc(1, sizeof(*w)) : NULL;
    if (!w) {
        rc = hw->count < DP_HEALTH_MAX_WATCHES ? DP_ENOMEM : DP_EFULL;
        goto out;
    }
    w->hw = hw;
    w->call = call;
    w->recv_tag = (watch_tag){DP_TAG_WATCH, OP_RECV, w};
    w->send_tag = (watch_tag){DP_TAG_WATCH, OP_SEND, w};
    w->close_tag = (watch_tag){DP_TAG_WATCH, OP_CLOSE, w};
    w->end_status = GRPC_STATUS_OK;
    w->end_message = "dagprof is shutting down";

    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &w->cancelled;
    if (grpc_call_start_batch(call, &op, 1, &w->close_tag, NULL) != GRPC_CALL_OK) {
        free(w);
        rc = DP_EINVAL; /* nothing started: the call is still the caller's */
        goto out;
    }
    w->close_busy = true;
    w->next = hw->list;
    if (hw->list)
        hw->list->prev = w;
    hw->list = w;
    hw->count++;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &w->request;
    if (grpc_call_start_batch(call, &op, 1, &w->recv_tag, NULL) == GRPC_CALL_OK)
        w->recv_busy = true;
    else
        end_with(w, GRPC_STATUS_INTERNAL, "cannot read the HealthCheckRequest");
    advance(w);
out:
    pthread_mutex_unlock(&hw->lock);
    return rc;
}

/* --- the registry ------------------------------------------------------------------ */

dp_health_watches *dp_health_watches_create(void)
{
    dp_health_watches *hw = calloc(1, sizeof(*hw));
    if (hw)
        pthread_mutex_init(&hw->lock, NULL);
    return hw;
}

void dp_health_watches_shutdown(dp_health_watches *hw)
{
    if (!hw)
        return;
    pthread_mutex_lock(&hw->lock);
    hw->shutting_down = true;
    for (watch *w = hw->list; w; w = w->next)
        advance(w);
    pthread_mutex_unlock(&hw->lock);
}

bool dp_health_watches_shutting_down(dp_health_watches *hw)
{
    pthread_mutex_lock(&hw->lock);
    bool s = hw->shutting_down;
    pthread_mutex_unlock(&hw->lock);
    return s;
}

size_t dp_health_watches_open(dp_health_watches *hw)
{
    pthread_mutex_lock(&hw->lock);
    size_t n = hw->count;
    pthread_mutex_unlock(&hw->lock);
    return n;
}

void dp_health_watches_destroy(dp_health_watches *hw)
{
    if (!hw)
        return;
    if (hw->count)
        dp_log_error("receiver", "%zu health Watch stream(s) still open at destroy", hw->count);
    pthread_mutex_destroy(&hw->lock);
    free(hw);
}

/*
 * One request of any OTLP receiver into the pipeline; see ingest.h.
 * The gRPC receiver (receiver.c) and the HTTP receiver (http_receiver.c)
 * both end here, so the decode, the table insert, the forward hook and
 * the counters exist once.
 */
#include "ingest.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "decode.h"
#include "pb_wire.h"

struct dp_ingest {
    dp_ingest_options opt;
    _Atomic uint64_t spans_received, spans_accepted, spans_rejected, spans_refused;
    _Atomic uint64_t attributes_dropped_nesting;
    _Atomic uint64_t metric_points, log_records;
    /* by outcome and signal, and the time spent: one relaxed add per request */
    _Atomic uint64_t requests_refused[DP_SIGNAL_COUNT], decode_errors[DP_SIGNAL_COUNT];
    _Atomic uint64_t busy_ns;
};

dp_ingest *dp_ingest_create(const dp_ingest_options *opt)
{
    if (!opt || !opt->table)
        return NULL;
    dp_ingest *in = calloc(1, sizeof(*in));
    if (in)
        in->opt = *opt;
    return in;
}

void dp_ingest_destroy(dp_ingest *in)
{
    free(in);
}

static void fail(dp_ingest_result *out, dp_ingest_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(dp_ingest_result *out, dp_ingest_status status, const char *fmt, ...)
{
    va_list ap;
    out->status = status;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
}

/* Where a request stands in the persistent queue: appended by this call
 * (append), or read back from `segment` (replay); unused without storage. */
typedef struct wal_place {
    bool append;
    uint16_t segment;
    uint64_t sequence;
} wal_place;

/* Persistent queue, step 1: append the request holding `items` (the
 * receiver has validated it; it answers OK only after step 2), or count a
 * replayed one in its segment. False with *out filled when it cannot be
 * kept. */
static bool wal_take(dp_ingest *in, enum dp_signal signal, const uint8_t *data, size_t len,
                     uint64_t items, wal_place *w, dp_ingest_result *out)
{
    if (!w->append) {
        dp_storage_pin(in->opt.storage, w->segment, items);
        return true;
    }
    int rc =
        dp_storage_append(in->opt.storage, signal, data, len, items, &w->segment, &w->sequence);
    if (rc == 0)
        return true;
    fail(out, rc == DP_EINVAL ? DP_INGEST_TOO_LARGE : DP_INGEST_UNAVAILABLE,
         rc == DP_EFULL    ? "dagprof's persistent queue is full (storage.max_size or disk); "
                             "nothing of this request was kept, retry later"
         : rc == DP_EINVAL ? "request too large for the persistent queue"
                           : "dagprof's persistent queue cannot be written; retry later");
    return false;
}

/* Persistent queue, step 2: the request is durable as storage.sync wants
 * before it is acknowledged. */
static void wal_settle(dp_ingest *in, const wal_place *w, dp_ingest_result *out)
{
    if (w->append && dp_storage_wait_durable(in->opt.storage, w->sequence) != 0)
        fail(out, DP_INGEST_UNAVAILABLE,
             "dagprof's persistent queue cannot be synced; retry later");
}

/* The partial_success warning for attributes left out (every item was taken). */
static void say_dropped(dp_ingest_result *out, size_t dropped)
{
    snprintf(out->message, sizeof(out->message),
             "%zu attribute(s) dropped: nested more than %d messages deep", dropped,
             DP_OTLP_NESTING_LIMIT);
}

/* dropped_before: attributes the caller left out already (the OTLP/JSON encoder) */
static void ingest_traces(dp_ingest *in, const uint8_t *data, size_t len, size_t dropped_before,
                          dp_arena *arena, wal_place *w, dp_ingest_result *out)
{
    dp_otlp_trace_batch batch;
    char err[256] = "";
    memset(&batch, 0, sizeof(batch));
    int rc = dp_otlp_trace_batch_parse(data, len, arena, &batch, err, sizeof(err));
    if (rc == DP_OTLP_EDECODE) {
        fail(out, DP_INGEST_INVALID, "ExportTraceServiceRequest does not decode: %s", err);
        return;
    }
    if (rc != DP_OTLP_OK) {
        fail(out, DP_INGEST_TOO_LARGE, "request needs more than %zu bytes of decode memory",
             arena->max_bytes);
        return;
    }
    atomic_fetch_add(&in->spans_received, batch.span_count + batch.rejected);
    batch.attributes_dropped += dropped_before;

    /* persistent queue: the request is on disk before its spans are in the
     * table, each span tagged with its segment (counted off when reported) */
    bool stored = in->opt.storage && batch.span_count;
    if (stored) {
        if (!wal_take(in, DP_SIGNAL_TRACES, data, len, batch.span_count, w, out)) {
            atomic_fetch_add(&in->spans_refused, batch.span_count + batch.rejected);
            return;
        }
        for (size_t i = 0; i < batch.span_count; i++)
            batch.spans[i].storage_segment = w->segment;
    }

    /* the index the walk filled is the table's input, as it is */
    dp_span_batch tb = dp_otlp_trace_batch_spans(&batch);
    rc = dp_trace_table_insert(in->opt.table, &tb);
    if (stored && rc != DP_TRACE_TABLE_OK)
        dp_storage_unpin(in->opt.storage, w->segment, batch.span_count);
    if (rc == DP_TRACE_TABLE_OK) {
        atomic_fetch_add(&in->spans_accepted, batch.span_count);
        atomic_fetch_add(&in->spans_rejected, batch.rejected);
        atomic_fetch_add(&in->attributes_dropped_nesting, batch.attributes_dropped);
        out->status = DP_INGEST_OK;
        out->rejected = batch.rejected;
        if (batch.rejected)
            snprintf(out->message, sizeof(out->message), "%zu span(s) rejected; first: %s",
                     batch.rejected, batch.reject_message);
        else if (batch.attributes_dropped)
            say_dropped(out, batch.attributes_dropped); /* every span was accepted */
        if (stored)
            wal_settle(in, w, out);
        return;
    }
    if (rc == DP_TRACE_TABLE_EINVAL) {
        fail(out, DP_INGEST_INVALID, "spans refer to a scope the request lacks");
        return;
    }
    atomic_fetch_add(&in->spans_refused, batch.span_count + batch.rejected);
    if (rc == DP_TRACE_TABLE_ETOOBIG) {
        fail(out, DP_INGEST_TOO_LARGE,
             "the request's spans are more than dagprof buffers at once (twice "
             "assembly.memory_limit); nothing of this request was kept: send smaller requests");
        return;
    }
    fail(out, DP_INGEST_UNAVAILABLE,
         "dagprof cannot buffer more spans right now (pending runs or memory limit); "
         "nothing of this request was kept, retry later");
}

/* A metrics or logs request into the persistent queue, then to the
 * tracked forward hook with its progress; 0 when taken. */
static int forward_stored(dp_ingest *in, enum dp_signal signal, const uint8_t *data, size_t len,
                          size_t items, wal_place *w, dp_ingest_result *out)
{
    if (!wal_take(in, signal, data, len, 1, w, out))
        return 1;
    dp_progress *p = dp_storage_progress_for_items(in->opt.storage, w->segment, 1);
    if (!p || in->opt.forward_tracked(in->opt.forward_ctx, signal, data, len, items, p) != 0) {
        if (p)
            dp_progress_release(p, true); /* counted off: the client retries */
        else
            dp_storage_unpin(in->opt.storage, w->segment, 1);
        return -1;
    }
    wal_settle(in, w, out);
    return out->status == DP_INGEST_OK ? 0 : 1;
}

static void ingest_side(dp_ingest *in, enum dp_signal signal, const uint8_t *data, size_t len,
                        size_t dropped_before, dp_arena *arena, wal_place *w, dp_ingest_result *out)
{
    char err[256] = "";
    dp_otlp_side_request v;
    int rc;
    if (signal == DP_SIGNAL_METRICS)
        rc = dp_otlp_metrics_validate(data, len, arena, &v, err, sizeof(err));
    else
        rc = dp_otlp_logs_validate(data, len, arena, &v, err, sizeof(err));
    const char *what =
        signal == DP_SIGNAL_METRICS ? "ExportMetricsServiceRequest" : "ExportLogsServiceRequest";
    if (rc == DP_OTLP_EDECODE) {
        fail(out, DP_INGEST_INVALID, "%s does not decode: %s", what, err);
        return;
    }
    if (rc != DP_OTLP_OK) {
        fail(out, DP_INGEST_TOO_LARGE, "%s needs more than %zu bytes of decode memory", what,
             arena->max_bytes);
        return;
    }
    /* from here on, the request is what is forwarded: without the
     * attributes nested too deep (a rewrite in the arena) when it had some */
    data = v.forward;
    len = v.forward_len;
    size_t items = v.items;
    /* the forward hook queues the request upstream without waiting: a full
     * queue is answered "unavailable" so the SDK keeps the data and retries */
    int taken = 0;
    if (in->opt.storage && in->opt.forward_tracked) {
        taken = forward_stored(in, signal, data, len, items, w, out);
        if (taken > 0)
            return; /* out says why */
    } else if (in->opt.forward_counted)
        taken = in->opt.forward_counted(in->opt.forward_ctx, signal, data, len, items);
    else if (in->opt.forward)
        taken = in->opt.forward(in->opt.forward_ctx, signal, data, len);
    if (taken != 0) {
        fail(out, DP_INGEST_UNAVAILABLE, "dagprof cannot forward more right now; retry");
        return;
    }
    atomic_fetch_add(signal == DP_SIGNAL_METRICS ? &in->metric_points : &in->log_records, items);
    size_t dropped = dropped_before + v.attributes_dropped;
    atomic_fetch_add(&in->attributes_dropped_nesting, dropped);
    out->status = DP_INGEST_OK;
    if (dropped)
        say_dropped(out, dropped);
}

/* A refusal of the memory guard, counted with the table's and the queue's. */
static void refuse_for_memory(dp_ingest *in, enum dp_signal signal, dp_ingest_result *out)
{
    out->status = DP_INGEST_UNAVAILABLE;
    if ((unsigned)signal < DP_SIGNAL_COUNT)
        atomic_fetch_add_explicit(&in->requests_refused[signal], 1, memory_order_relaxed);
}

bool dp_ingest_admit(dp_ingest *in, enum dp_signal signal, dp_ingest_result *out)
{
    memset(out, 0, sizeof(*out));
    if (dp_memguard_admit(in->opt.guard, out->message, sizeof(out->message)))
        return true;
    refuse_for_memory(in, signal, out);
    return false;
}

void dp_ingest_request(dp_ingest *in, enum dp_signal signal, const uint8_t *data, size_t len,
                       dp_arena *arena, dp_ingest_result *out)
{
    dp_ingest_request_dropped(in, signal, data, len, 0, arena, out);
}

void dp_ingest_request_dropped(dp_ingest *in, enum dp_signal signal, const uint8_t *data,
                               size_t len, size_t attributes_dropped, dp_arena *arena,
                               dp_ingest_result *out)
{
    uint64_t start = dp_clock_monotonic_ns();
    wal_place w = {.append = true};
    memset(out, 0, sizeof(*out));
    /* the guard's state may have changed since the receiver asked; then
     * the request's size is held against the in-flight budget while its
     * decode memory and its copy into the table exist */
    if (!dp_ingest_admit(in, signal, out))
        goto out;
    if (!dp_memguard_acquire(in->opt.guard, len, out->message, sizeof(out->message))) {
        refuse_for_memory(in, signal, out);
        goto out;
    }
    if (signal == DP_SIGNAL_TRACES)
        ingest_traces(in, data, len, attributes_dropped, arena, &w, out);
    else
        ingest_side(in, signal, data, len, attributes_dropped, arena, &w, out);
    dp_memguard_release(in->opt.guard, len);
    _Atomic uint64_t *outcome = out->status == DP_INGEST_UNAVAILABLE ? in->requests_refused
                                : out->status == DP_INGEST_INVALID   ? in->decode_errors
                                                                     : NULL;
    if (outcome && (unsigned)signal < DP_SIGNAL_COUNT)
        atomic_fetch_add_explicit(&outcome[signal], 1, memory_order_relaxed);
out:
    atomic_fetch_add_explicit(&in->busy_ns, dp_clock_monotonic_ns() - start, memory_order_relaxed);
}

void dp_ingest_replay(dp_ingest *in, enum dp_signal signal, const uint8_t *data, size_t len,
                      uint16_t segment, dp_arena *arena, dp_ingest_result *out)
{
    wal_place w = {.append = false, .segment = segment};
    memset(out, 0, sizeof(*out));
    if (!in->opt.storage) {
        fail(out, DP_INGEST_INVALID, "no persistent queue to replay into");
        return;
    }
    if (signal == DP_SIGNAL_TRACES)
        ingest_traces(in, data, len, 0, arena, &w, out);
    else
        ingest_side(in, signal, data, len, 0, arena, &w, out);
}

void dp_ingest_get_stats(dp_ingest *in, dp_ingest_stats *o)
{
    memset(o, 0, sizeof(*o));
    o->spans_received = atomic_load(&in->spans_received);
    o->spans_accepted = atomic_load(&in->spans_accepted);
    o->spans_rejected = atomic_load(&in->spans_rejected);
    o->spans_refused = atomic_load(&in->spans_refused);
    o->attributes_dropped_nesting = atomic_load(&in->attributes_dropped_nesting);
    o->metric_points = atomic_load(&in->metric_points);
    o->log_records = atomic_load(&in->log_records);
    for (int s = 0; s < DP_SIGNAL_COUNT; s++) {
        o->requests_refused[s] = atomic_load(&in->requests_refused[s]);
        o->decode_errors[s] = atomic_load(&in->decode_errors[s]);
    }
    o->busy_ns = atomic_load(&in->busy_ns);
}

/* Longest error_message of a partial_success, in bytes. */
#define PARTIAL_MESSAGE_MAX 300

/*
 * Export*ServiceResponse { Export*PartialSuccess partial_success = 1; }
 * Export*PartialSuccess { int64 rejected_<items> = 1; string error_message = 2; }
 * Strings are made valid UTF-8 as they are written (dp_pb_put_string).
 */
static void encode_response(dp_pb_writer *w, const void *ctx)
{
    const dp_ingest_result *r = ctx;
    if (!r->rejected && !r->message[0])
        return;
    dp_pb_begin(w, 1);
    if (r->rejected)
        dp_pb_put_varint(w, 1, r->rejected);
    if (r->message[0])
        dp_pb_put_string(w, 2, r->message, strnlen(r->message, PARTIAL_MESSAGE_MAX));
    dp_pb_end(w);
}

int dp_ingest_encode_response(const dp_ingest_result *r, dp_buf *out)
{
    return dp_pb_encode(encode_response, r, out) == DP_OK ? 0 : -1;
}

typedef struct status_ctx {
    int code;
    const char *message;
} status_ctx;

/* google.rpc.Status { int32 code = 1; string message = 2; repeated Any details = 3; } */
static void encode_status(dp_pb_writer *w, const void *ctx)
{
    const status_ctx *s = ctx;
    if (s->code)
        dp_pb_put_int64(w, 1, s->code);
    if (s->message && s->message[0])
        dp_pb_put_string(w, 2, s->message, strlen(s->message));
}

int dp_ingest_encode_status(int code, const char *message, dp_buf *out)
{
    status_ctx s = {code, message};
    return dp_pb_encode(encode_status, &s, out) == DP_OK ? 0 : -1;
}

/*
 * The upstream OTLP/gRPC client: channels, sender threads and the retry
 * loop over the gRPC C core (see upstream.h for the contract and
 * docs/upstream.md for the delivery rules).
 *
 * Each enabled signal has a sender: a delivery queue, a gRPC channel, a
 * completion queue used by that sender's thread only, and the request
 * metadata (extra headers) built once. Each lane thread takes a batch, makes
 * one Export call at a time and waits for it; the lanes together keep
 * `concurrency` calls in flight and give natural backpressure: while the
 * upstream is slow or down the queue fills and submit answers EFULL.
 *
 * A batch is sent as a list of slices, one per queued request, pointing at
 * the queue's own storage: gRPC frames and writes them without the batch
 * ever being joined into one buffer.
 */
#include "upstream.h"

#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "delivery_queue.h"
#include "log.h"
#include "upstream_status.h"

#define COMPONENT "upstream"
/* Largest PEM file read for TLS settings. */
#define MAX_PEM_BYTES (4u * 1024 * 1024)
/* How much of an upstream's error message is logged. */
#define MAX_LOGGED_MESSAGE 512
/* The system's trust store, used when no CA file is given. */
#define SYSTEM_ROOTS_FILE "/etc/ssl/certs/ca-certificates.crt"

static const char *const export_methods[DP_UPSTREAM_SIGNAL_COUNT] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};

struct sender;

/* One Export call at a time per lane; a signal's lanes share its queue so
 * that up to `concurrency` calls are in flight, which a single unary call
 * at a time could not keep the upstream's pipe full with. Each lane has its
 * own channel on its own connection: several connections let the upstream
 * read and decode calls in parallel instead of through one HTTP/2 stream
 * multiplex, and a load balancer in front of it can spread them. */
typedef struct lane {
    struct sender *s;
    pthread_t thread;
    bool thread_started;
    grpc_channel *channel;
    void *method; /* registered call handle on channel */
    grpc_completion_queue *cq;
    grpc_call *call; /* the call in flight, for cancellation; under s->mu */
    uint64_t rng;
    grpc_slice *slices; /* one per request of the batch; reused by every batch */
    size_t slice_cap;
} lane;

typedef struct sender {
    dp_upstream *up;
    dp_upstream_signal signal;
    dp_upstream_connection conn; /* resolved from the config's layers */
    bool enabled;
    bool queue_ready;
    dp_delivery_queue queue;

    grpc_metadata metadata[DP_UPSTREAM_MAX_HEADERS];
    size_t metadata_count;

    lane lanes[DP_UPSTREAM_MAX_CONCURRENCY];
    unsigned lane_count;

    /* Guards everything below. */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* attempts, done, abort */
    bool sync_ready;
    bool abort;                 /* shutdown ran out of time */
    unsigned lanes_done;        /* lanes that have sent all they will send */
    bool done;                  /* every lane is done */
    uint64_t batches_completed; /* wakes dp_upstream_submit_wait(): room in the queue */
    uint64_t bytes_since_trim;  /* delivered since memory was last handed back */
    uint64_t last_trim_ms;
    dp_upstream_stats stats;
} sender;

struct dp_upstream {
    dp_upstream_config cfg;
    sender senders[DP_UPSTREAM_SIGNAL_COUNT];
    bool grpc_initialised;
    bool shut_down;
};

static struct timespec abs_time(uint64_t ms)
{
    return (struct timespec){(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
}

/* xorshift64*: jitter only needs to de-synchronise clients, not be secure. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- setup ------------------------------------------------------------- */

/* Read a whole PEM file into a NUL-terminated string; NULL with the reason
 * logged when it cannot be read or is too large. */
static char *read_pem(const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL, *result = NULL;
    size_t len = 0;

    if (!f) {
        dp_log_error(COMPONENT, "cannot open %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    data = malloc(MAX_PEM_BYTES + 1);
    if (!data)
        goto out;
    len = fread(data, 1, MAX_PEM_BYTES + 1, f);
    if (ferror(f) || len == 0 || len > MAX_PEM_BYTES) {
        dp_log_error(COMPONENT, "cannot read %s %s (empty, unreadable or over %u bytes)", what,
                     path, MAX_PEM_BYTES);
        goto out;
    }
    data[len] = '\0';
    result = data;
    data = NULL;
out:
    free(data);
    if (f)
        fclose(f);
    return result;
}

static grpc_channel_credentials *make_credentials(const dp_upstream_connection *c)
{
    grpc_channel_credentials *creds = NULL;
    char *roots = NULL, *cert = NULL, *key = NULL;
    grpc_ssl_pem_key_cert_pair pair;

    if (c->transport == DP_UPSTREAM_PLAINTEXT)
        return grpc_insecure_credentials_create();

    if (c->ca_file[0]) {
        if (!(roots = read_pem(c->ca_file, "CA file")))
            goto out;
    } else {
        /* The system store; when absent gRPC falls back to its own roots. */
        FILE *f = fopen(SYSTEM_ROOTS_FILE, "rb");
        if (f) {
            fclose(f);
            roots = read_pem(SYSTEM_ROOTS_FILE, "system roots");
        }
    }
    if ((c->client_cert_file[0] != '\0') != (c->client_key_file[0] != '\0')) {
        dp_log_error(COMPONENT, "a client certificate needs both a certificate and a key file");
        goto out;
    }
    if (c->client_cert_file[0]) {
        if (!(cert = read_pem(c->client_cert_file, "client certificate")) ||
            !(key = read_pem(c->client_key_file, "client key")))
            goto out;
        pair.cert_chain = cert;
        pair.private_key = key;
    }
    /* gRPC copies the PEM strings. */
    creds = grpc_ssl_credentials_create(roots, cert ? &pair : NULL, NULL, NULL);
    if (!creds)
        dp_log_error(COMPONENT, "cannot create TLS credentials");
out:
    free(roots);
    free(cert);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    return creds;
}

static int sender_open(dp_upstream *up, sender *s, dp_upstream_signal signal)
{
    const dp_upstream_config *cfg = &up->cfg;
    const dp_upstream_connection *c = &s->conn;
    grpc_channel_credentials *creds = NULL;
    dp_upstream_header headers[DP_UPSTREAM_MAX_HEADERS];
    size_t header_count = 0;
    int result = -1;

    s->up = up;
    s->signal = signal;
    dp_upstream_config_connection(cfg, signal, &s->conn);
    s->lane_count = cfg->concurrency; /* checked by dp_upstream_create() */
    for (unsigned i = 0; i < s->lane_count; i++) {
        s->lanes[i].s = s;
        s->lanes[i].rng = (uint64_t)dp_clock_monotonic_ms() * 0x9E3779B97F4A7C15ull +
                          (uint64_t)(uintptr_t)&s->lanes[i] + 1;
    }

    pthread_condattr_t attr;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -1;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_destroy(&s->mu);
        return -1;
    }
    s->sync_ready = true;

    if (!c->endpoint[0])
        return 0; /* disabled: counters read as zero */
    if (dp_upstream_headers_parse(c->headers, "upstream headers", headers, &header_count) != 0)
        return -1; /* the reason is logged */

    if (dp_delivery_queue_init(&s->queue, cfg->queue_max_items, cfg->queue_max_bytes) != 0)
        goto out;
    s->queue_ready = true;

    if (!(creds = make_credentials(c)))
        goto out;

    /* gRPC's own reconnect backoff follows ours, so a retry after the
     * upstream comes back finds the channel trying to connect. gRPC's
     * transparent retries are off: this client decides what is retried. */
    grpc_arg args[7];
    size_t nargs = 0;
    args[nargs++] = (grpc_arg){
        .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_ENABLE_RETRIES, .value.integer = 0};
    args[nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                               .key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                               .value.integer = (int)cfg->retry_initial_ms};
    args[nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                               .key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                               .value.integer = (int)cfg->retry_initial_ms};
    args[nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                               .key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                               .value.integer = (int)cfg->retry_max_ms};
    /* Without it channels to one target share one connection. */
    args[nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                               .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                               .value.integer = 1};
    if (c->compression == DP_UPSTREAM_COMPRESSION_GZIP)
        args[nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                   .key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM,
                                   .value.integer = GRPC_COMPRESS_GZIP};
    grpc_channel_args channel_args = {.num_args = nargs, .args = args};

    for (unsigned i = 0; i < s->lane_count; i++) {
        lane *l = &s->lanes[i];
        if (!(l->channel = grpc_channel_create(c->endpoint, creds, &channel_args)))
            goto out;
        if (!(l->method =
                  grpc_channel_register_call(l->channel, export_methods[signal], NULL, NULL)))
            goto out;
        if (!(l->cq = grpc_completion_queue_create_for_next(NULL)))
            goto out;
    }
    for (size_t i = 0; i < header_count; i++) {
        s->metadata[i].key = grpc_slice_from_copied_string(headers[i].key);
        s->metadata[i].value = grpc_slice_from_copied_string(headers[i].value);
        s->metadata_count++;
    }
    s->enabled = true;
    result = 0;
    dp_log_info(COMPONENT, "%s go to %s (%s%s, %zu extra header%s)",
                dp_upstream_signal_name(signal), c->endpoint,
                c->transport == DP_UPSTREAM_PLAINTEXT ? "plaintext" : "TLS",
                c->compression == DP_UPSTREAM_COMPRESSION_GZIP ? ", gzip" : "", header_count,
                header_count == 1 ? "" : "s");
out:
    dp_upstream_headers_free(headers, header_count);
    if (creds)
        grpc_channel_credentials_release(creds);
    return result;
}

/* ---- one attempt ------------------------------------------------------- */

typedef struct attempt_result {
    int code; /* gRPC status */
    char message[MAX_LOGGED_MESSAGE];
    bool has_retry_info;
    uint64_t retry_delay_ms;
    int64_t rejected; /* partial success */
    char partial_message[MAX_LOGGED_MESSAGE];
} attempt_result;

static void copy_slice_text(char *dst, size_t cap, grpc_slice s)
{
    size_t n = GRPC_SLICE_LENGTH(s);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, GRPC_SLICE_START_PTR(s), n);
    dst[n] = '\0';
    /* Keep log lines on one line whatever the upstream sent. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)dst[i] < 0x20)
            dst[i] = ' ';
}

static void read_status_details(const grpc_metadata_array *trailing, attempt_result *res)
{
    for (size_t i = 0; i < trailing->count; i++) {
        const grpc_metadata *md = &trailing->metadata[i];
        if (!grpc_slice_str_cmp(md->key, "grpc-status-details-bin")) {
            uint64_t delay = 0;
            int rc = dp_upstream_status_retry_delay(GRPC_SLICE_START_PTR(md->value),
                                                    GRPC_SLICE_LENGTH(md->value), &delay);
            if (rc == 1) {
                res->has_retry_info = true;
                res->retry_delay_ms = delay;
            } else if (rc < 0) {
                dp_log_warn(COMPONENT, "ignoring malformed grpc-status-details-bin from upstream");
            }
        }
    }
}

static void read_response(grpc_byte_buffer *bb, attempt_result *res)
{
    grpc_byte_buffer_reader reader;

    if (!bb)
        return;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    if (dp_upstream_partial_success_parse(GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all),
                                          &res->rejected, res->partial_message,
                                          sizeof(res->partial_message)) != 0)
        dp_log_warn(COMPONENT, "ignoring malformed export response from upstream");
    grpc_slice_unref(all);
}

/* Make one Export call carrying the batch's slices and wait for its end. */
static void attempt_export(lane *l, grpc_slice *payload, size_t nslices, attempt_result *res)
{
    sender *s = l->s;
    const dp_upstream_connection *c = &s->conn;
    grpc_metadata_array initial_md, trailing_md;
    grpc_byte_buffer *send = NULL, *recv = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_call *call;
    grpc_op ops[6];

    memset(res, 0, sizeof(*res));
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);

    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(c->timeout_ms, GPR_TIMESPAN));
    call = grpc_channel_create_registered_call(l->channel, NULL, GRPC_PROPAGATE_DEFAULTS, l->cq,
                                               l->method, deadline, NULL);
    if (!call) {
        res->code = GRPC_STATUS_UNAVAILABLE;
        snprintf(res->message, sizeof(res->message), "cannot create a call");
        goto out;
    }
    send = grpc_raw_byte_buffer_create(payload, nslices);

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = s->metadata_count;
    ops[0].data.send_initial_metadata.metadata = s->metadata_count ? s->metadata : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.error_string = &error_string;

    pthread_mutex_lock(&s->mu);
    l->call = call;
    bool abort_now = s->abort;
    pthread_mutex_unlock(&s->mu);
    if (abort_now)
        grpc_call_cancel(call, NULL);

    grpc_call_error err = grpc_call_start_batch(call, ops, 6, l, NULL);
    if (err != GRPC_CALL_OK) {
        res->code = GRPC_STATUS_INTERNAL;
        snprintf(res->message, sizeof(res->message), "cannot start the call (error %d)", (int)err);
    } else {
        /* The batch always completes: at the latest at the call deadline
         * or when shutdown cancels it. */
        grpc_event ev;
        do {
            ev = grpc_completion_queue_next(l->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        } while (ev.type != GRPC_OP_COMPLETE || ev.tag != l);
        res->code = (int)status;
        copy_slice_text(res->message, sizeof(res->message), details);
        if (!res->message[0] && error_string)
            snprintf(res->message, sizeof(res->message), "%s", error_string);
        read_status_details(&trailing_md, res);
        if (status == GRPC_STATUS_OK)
            read_response(recv, res);
    }

    pthread_mutex_lock(&s->mu);
    l->call = NULL;
    pthread_mutex_unlock(&s->mu);
    grpc_call_unref(call);
out:
    if (send)
        grpc_byte_buffer_destroy(send);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_slice_unref(details);
    if (error_string)
        gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
}

/* ---- the retry loop ---------------------------------------------------- */

static const char *status_name(int code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (code >= 0 && code < (int)(sizeof(names) / sizeof(names[0])))
        return names[code];
    return "UNKNOWN";
}

/* Sleep for delay_ms unless the shutdown aborts; returns false if aborted. */
static bool backoff_wait(sender *s, uint64_t delay_ms)
{
    uint64_t until = dp_clock_monotonic_ms() + delay_ms;
    struct timespec ts = abs_time(until);
    bool aborted;

    pthread_mutex_lock(&s->mu);
    while (!s->abort && dp_clock_monotonic_ms() < until)
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
    aborted = s->abort;
    pthread_mutex_unlock(&s->mu);
    return !aborted;
}

static void count(sender *s, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&s->mu);
    *field += n;
    pthread_mutex_unlock(&s->mu);
}

static void deliver(lane *l, dp_delivery_batch *batch)
{
    sender *s = l->s;
    const dp_upstream_config *cfg = &s->up->cfg;
    const char *sig = dp_upstream_signal_name(s->signal);
    uint64_t start = dp_clock_monotonic_ms();
    uint64_t backoff = cfg->retry_initial_ms ? cfg->retry_initial_ms : 1;
    uint64_t retries = 0;
    attempt_result res;

    /* Static slices do not own the requests: the batch outlives every
     * attempt (each call is unreferenced before the next starts) and is
     * freed by dp_delivery_queue_complete() after the last one. */
    size_t nslices = 0;
    for (dp_delivery_item *it = batch->first; it; it = dp_delivery_item_next(it)) {
        size_t len;
        const uint8_t *data = dp_delivery_item_data(it, &len);
        l->slices[nslices++] = grpc_slice_from_static_buffer(data, len);
    }

    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool aborted = s->abort;
        pthread_mutex_unlock(&s->mu);
        if (aborted) {
            count(s, &s->stats.dropped_at_shutdown, batch->items);
            return;
        }

        attempt_export(l, l->slices, nslices, &res);

        pthread_mutex_lock(&s->mu);
        s->stats.attempts++;
        aborted = s->abort;
        if (res.code == GRPC_STATUS_OK) {
            uint64_t rejected = res.rejected > 0 ? (uint64_t)res.rejected : 0;
            if (rejected > batch->items)
                rejected = batch->items;
            s->stats.exported_items += batch->items - rejected;
            s->stats.rejected_items += rejected;
            if (rejected || res.partial_message[0])
                s->stats.partial_success_calls++;
        }
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mu);

        if (res.code == GRPC_STATUS_OK) {
            if (res.rejected > 0 || res.partial_message[0])
                dp_log_warn(COMPONENT,
                            "%s: upstream accepted the batch but rejected %" PRId64 " of %" PRIu64
                            " item(s): %s",
                            sig, res.rejected, batch->items,
                            res.partial_message[0] ? res.partial_message : "(no message)");
            return;
        }
        if (aborted) {
            count(s, &s->stats.dropped_at_shutdown, batch->items);
            return;
        }
        if (!dp_upstream_status_retryable(res.code, res.has_retry_info)) {
            pthread_mutex_lock(&s->mu);
            s->stats.failed_items += batch->items;
            s->stats.failed_calls++;
            pthread_mutex_unlock(&s->mu);
            dp_log_error(COMPONENT,
                         "%s: upstream refused a batch of %" PRIu64
                         " item(s) with %s: %s (not retried)",
                         sig, batch->items, status_name(res.code),
                         res.message[0] ? res.message : "(no message)");
            return;
        }

        /* Jitter in [backoff/2, 3*backoff/2) keeps many clients from
         * retrying in step; the server's RetryInfo delay wins when given. */
        uint64_t delay = backoff / 2 + next_random(&l->rng) % (backoff + 1);
        if (res.has_retry_info && res.retry_delay_ms > 0)
            delay = res.retry_delay_ms;
        backoff = backoff * 2 > cfg->retry_max_ms ? cfg->retry_max_ms : backoff * 2;
        if (backoff == 0)
            backoff = 1;

        if (cfg->retry_max_elapsed_ms &&
            dp_clock_monotonic_ms() + delay - start > cfg->retry_max_elapsed_ms) {
            pthread_mutex_lock(&s->mu);
            s->stats.failed_items += batch->items;
            s->stats.failed_calls++;
            pthread_mutex_unlock(&s->mu);
            dp_log_error(COMPONENT,
                         "%s: giving up a batch of %" PRIu64
                         " item(s) after %u ms of retries; last answer %s: %s",
                         sig, batch->items, cfg->retry_max_elapsed_ms, status_name(res.code),
                         res.message[0] ? res.message : "(no message)");
            return;
        }
        count(s, &s->stats.retries, 1);
        /* One warning per batch; an outage would otherwise log at the
         * retry rate. The retries counter keeps the full figure. */
        dp_log_at(++retries == 1 ? DP_LOG_WARN : DP_LOG_DEBUG, COMPONENT,
                  "%s: upstream answered %s (%s); retrying in %" PRIu64 " ms", sig,
                  status_name(res.code), res.message[0] ? res.message : "no message", delay);
        if (!backoff_wait(s, delay)) {
            count(s, &s->stats.dropped_at_shutdown, batch->items);
            return;
        }
        /* After a connection failure gRPC may still be waiting out its own
         * reconnect backoff; make the next attempt connect at once. */
        if (res.code == GRPC_STATUS_UNAVAILABLE)
            grpc_channel_reset_connect_backoff(l->channel);
    }
}

/* Room for one slice per request of the batch; false when out of memory. */
static bool reserve_slices(lane *l, uint64_t requests)
{
    if (requests <= l->slice_cap)
        return true;
    size_t cap = l->slice_cap ? l->slice_cap : 64;
    while (cap < requests)
        cap *= 2;
    grpc_slice *slices = realloc(l->slices, cap * sizeof(*slices));
    if (!slices)
        return false;
    l->slices = slices;
    l->slice_cap = cap;
    return true;
}

/* Memory that passed through the queue before a drained queue hands freed
 * pages back to the system, and how often at most. */
#define TRIM_MIN_BYTES (64u << 20)
#define TRIM_MIN_INTERVAL_MS 1000

/*
 * The queue's requests are allocated by the run processors (each enriched
 * run is encoded into a buffer the queue takes over) and freed by the
 * sender lanes: glibc keeps such memory in the allocating threads' arenas,
 * so after a burst dagprof held several times its no-upstream footprint long
 * after the queue had drained (bench/README.md, "Memory after a drain").
 * Once the queue is empty after enough bytes went through it, malloc_trim()
 * hands the free pages back. Called with s->mu held.
 */
static bool want_trim(sender *s, uint64_t delivered_bytes)
{
    s->bytes_since_trim += delivered_bytes;
    if (s->bytes_since_trim < TRIM_MIN_BYTES)
        return false;
    uint64_t now = dp_clock_monotonic_ms();
    if (now - s->last_trim_ms < TRIM_MIN_INTERVAL_MS)
        return false;
    dp_delivery_depth d = dp_delivery_queue_depth(&s->queue);
    if (d.queued_bytes || d.inflight_bytes)
        return false;
    s->bytes_since_trim = 0;
    s->last_trim_ms = now;
    return true;
}

static void *sender_main(void *arg)
{
    lane *l = arg;
    sender *s = l->s;
    const dp_upstream_config *cfg = &s->up->cfg;
    dp_delivery_batch batch;

    for (;;) {
        int rc = dp_delivery_queue_take(&s->queue, &batch, cfg->batch_max_items,
                                        cfg->batch_max_bytes, cfg->batch_timeout_ms);
        if (rc == 0)
            break;
        if (rc < 0) {
            /* Taking a batch does not allocate today; should a future
             * queue fail, wait a little and try again: nothing is lost,
             * it is still queued. */
            if (!backoff_wait(s, cfg->retry_initial_ms ? cfg->retry_initial_ms : 100))
                break;
            continue;
        }
        while (!reserve_slices(l, batch.requests)) {
            /* Out of memory for the slice list: the batch waits, nothing
             * is lost; only a shutdown out of time ends the wait. */
            if (!backoff_wait(s, cfg->retry_initial_ms ? cfg->retry_initial_ms : 100)) {
                count(s, &s->stats.dropped_at_shutdown, batch.items);
                break;
            }
        }
        if (batch.requests <= l->slice_cap)
            deliver(l, &batch);
        uint64_t len = batch.len;
        dp_delivery_queue_complete(&s->queue, &batch);
        pthread_mutex_lock(&s->mu);
        s->batches_completed++;
        pthread_cond_broadcast(&s->cond);
        bool trim = want_trim(s, len);
        pthread_mutex_unlock(&s->mu);
#ifdef __GLIBC__
        if (trim)
            malloc_trim(0);
#else
        (void)trim;
#endif
    }

    pthread_mutex_lock(&s->mu);
    if (++s->lanes_done == s->lane_count)
        s->done = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- public API -------------------------------------------------------- */

static void sender_close(sender *s)
{
    for (unsigned i = 0; i < s->lane_count; i++) {
        lane *l = &s->lanes[i];
        if (!l->cq)
            continue;
        grpc_completion_queue_shutdown(l->cq);
        while (grpc_completion_queue_next(l->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(l->cq);
        l->cq = NULL;
    }
    for (unsigned i = 0; i < s->lane_count; i++) {
        if (s->lanes[i].channel) {
            grpc_channel_destroy(s->lanes[i].channel);
            s->lanes[i].channel = NULL;
        }
        free(s->lanes[i].slices);
        s->lanes[i].slices = NULL;
        s->lanes[i].slice_cap = 0;
    }
    for (size_t i = 0; i < s->metadata_count; i++) {
        grpc_slice_unref(s->metadata[i].key);
        grpc_slice_unref(s->metadata[i].value);
    }
    s->metadata_count = 0;
    if (s->queue_ready) {
        dp_delivery_queue_destroy(&s->queue);
        s->queue_ready = false;
    }
    if (s->sync_ready) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->mu);
        s->sync_ready = false;
    }
}

dp_upstream *dp_upstream_create(const dp_upstream_config *cfg)
{
    dp_upstream *up = NULL;

    if (!cfg)
        return NULL;
    if (cfg->retry_initial_ms > cfg->retry_max_ms) {
        dp_log_error(COMPONENT, "retry initial backoff (%u ms) exceeds the maximum (%u ms)",
                     cfg->retry_initial_ms, cfg->retry_max_ms);
        return NULL;
    }
    if (cfg->concurrency < 1 || cfg->concurrency > DP_UPSTREAM_MAX_CONCURRENCY) {
        dp_log_error(COMPONENT, "concurrency %u is not within 1..%d", cfg->concurrency,
                     DP_UPSTREAM_MAX_CONCURRENCY);
        return NULL;
    }
    up = calloc(1, sizeof(*up));
    if (!up)
        return NULL;
    up->cfg = *cfg;
    grpc_init();
    up->grpc_initialised = true;

    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        if (sender_open(up, &up->senders[i], (dp_upstream_signal)i) != 0)
            goto fail;
    }
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        sender *s = &up->senders[i];
        if (!s->enabled)
            continue;
        for (unsigned j = 0; j < s->lane_count; j++) {
            if (pthread_create(&s->lanes[j].thread, NULL, sender_main, &s->lanes[j]) != 0)
                goto fail; /* shutdown(0) aborts and joins the lanes that started */
            s->lanes[j].thread_started = true;
        }
    }
    return up;
fail:
    dp_log_error(COMPONENT, "cannot start the upstream client");
    dp_upstream_destroy(up);
    return NULL;
}

bool dp_upstream_enabled(const dp_upstream *up, dp_upstream_signal signal)
{
    return up && (int)signal >= 0 && signal < DP_UPSTREAM_SIGNAL_COUNT &&
           up->senders[signal].enabled;
}

/* One request to queue: copied from `bytes`, or `owned` handed over. */
typedef struct request {
    const void *bytes;
    void *owned;
    size_t len;
    uint64_t items;
} request;

static uint64_t batches_completed(sender *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->batches_completed;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/*
 * Queue r on the signal's sender. When the queue is full: EFULL at once, or
 * with `wait`, wait for a batch to complete and try again, until timeout_ms
 * has passed.
 */
static int submit(dp_upstream *up, dp_upstream_signal signal, const request *r, bool wait,
                  uint32_t timeout_ms)
{
    if (!up || (int)signal < 0 || signal >= DP_UPSTREAM_SIGNAL_COUNT ||
        !(r->owned ? r->owned : r->bytes) || r->len == 0)
        return DP_UPSTREAM_EINVAL;
    sender *s = &up->senders[signal];
    if (!s->enabled)
        return DP_UPSTREAM_EDISABLED;
    uint64_t until = dp_clock_monotonic_ms() + timeout_ms;
    struct timespec ts = abs_time(until);
    for (;;) {
        /* read the completion count before trying, so a batch finished
         * between a refused push and the wait still wakes us */
        uint64_t seen = wait ? batches_completed(s) : 0;
        int rc = r->owned ? dp_delivery_queue_push_owned(&s->queue, r->owned, r->len, r->items)
                          : dp_delivery_queue_push(&s->queue, r->bytes, r->len, r->items);
        if (rc == 0) {
            count(s, &s->stats.submitted_items, r->items);
            return 0;
        }
        if (rc == DP_DELIVERY_ECLOSED)
            return DP_UPSTREAM_ESHUTDOWN;
        if (rc == DP_DELIVERY_ENOMEM)
            return DP_UPSTREAM_ENOMEM;
        if (rc != DP_DELIVERY_EFULL)
            return DP_UPSTREAM_EINVAL;
        if (!wait) {
            count(s, &s->stats.refused_full, 1);
            return DP_UPSTREAM_EFULL;
        }
        pthread_mutex_lock(&s->mu);
        while (s->batches_completed == seen && !s->done && dp_clock_monotonic_ms() < until)
            pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        bool give_up =
            s->done || (s->batches_completed == seen && dp_clock_monotonic_ms() >= until);
        if (give_up && !s->done)
            s->stats.refused_full++;
        bool done = s->done;
        pthread_mutex_unlock(&s->mu);
        if (done)
            return DP_UPSTREAM_ESHUTDOWN;
        if (give_up)
            return DP_UPSTREAM_EFULL;
    }
}

int dp_upstream_submit(dp_upstream *up, dp_upstream_signal signal, const void *bytes, size_t len,
                       uint64_t items)
{
    request r = {bytes, NULL, len, items};
    return submit(up, signal, &r, false, 0);
}

int dp_upstream_submit_wait(dp_upstream *up, dp_upstream_signal signal, const void *bytes,
                            size_t len, uint64_t items, uint32_t timeout_ms)
{
    request r = {bytes, NULL, len, items};
    return submit(up, signal, &r, true, timeout_ms);
}

int dp_upstream_submit_owned(dp_upstream *up, dp_upstream_signal signal, void *bytes, size_t len,
                             uint64_t items)
{
    request r = {NULL, bytes, len, items};
    return submit(up, signal, &r, false, 0);
}

int dp_upstream_submit_owned_wait(dp_upstream *up, dp_upstream_signal signal, void *bytes,
                                  size_t len, uint64_t items, uint32_t timeout_ms)
{
    request r = {NULL, bytes, len, items};
    return submit(up, signal, &r, true, timeout_ms);
}

int dp_upstream_submit_traces(dp_upstream *up, const void *bytes, size_t len, uint64_t span_count)
{
    return dp_upstream_submit(up, DP_UPSTREAM_TRACES, bytes, len, span_count);
}

int dp_upstream_submit_metrics(dp_upstream *up, const void *bytes, size_t len,
                               uint64_t data_point_count)
{
    return dp_upstream_submit(up, DP_UPSTREAM_METRICS, bytes, len, data_point_count);
}

int dp_upstream_submit_logs(dp_upstream *up, const void *bytes, size_t len,
                            uint64_t log_record_count)
{
    return dp_upstream_submit(up, DP_UPSTREAM_LOGS, bytes, len, log_record_count);
}

void dp_upstream_get_stats(dp_upstream *up, dp_upstream_signal signal, dp_upstream_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!dp_upstream_enabled(up, signal))
        return;
    sender *s = &up->senders[signal];
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
    dp_delivery_depth d = dp_delivery_queue_depth(&s->queue);
    out->queue_items = d.queued_items + d.inflight_items;
    out->queue_bytes = d.queued_bytes + d.inflight_bytes;
    uint64_t now = dp_clock_monotonic_ms();
    if (d.oldest_enqueued_ms && now > d.oldest_enqueued_ms)
        out->queue_oldest_age_ms = now - d.oldest_enqueued_ms;
}

int dp_upstream_wait_attempts(dp_upstream *up, dp_upstream_signal signal, uint64_t min_attempts,
                              uint32_t timeout_ms)
{
    if (!dp_upstream_enabled(up, signal))
        return -1;
    sender *s = &up->senders[signal];
    uint64_t until = dp_clock_monotonic_ms() + timeout_ms;
    struct timespec ts = abs_time(until);
    int result;

    pthread_mutex_lock(&s->mu);
    while (s->stats.attempts < min_attempts && dp_clock_monotonic_ms() < until)
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
    result = s->stats.attempts >= min_attempts ? 0 : -1;
    pthread_mutex_unlock(&s->mu);
    return result;
}

uint64_t dp_upstream_shutdown(dp_upstream *up, uint32_t timeout_ms)
{
    uint64_t undelivered = 0;

    if (!up || up->shut_down)
        return 0;
    up->shut_down = true;

    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++)
        if (up->senders[i].queue_ready)
            dp_delivery_queue_close(&up->senders[i].queue);

    /* Flush: wait for every sender to finish, all against one deadline. */
    uint64_t until = dp_clock_monotonic_ms() + timeout_ms;
    struct timespec ts = abs_time(until);
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        sender *s = &up->senders[i];
        if (!s->enabled || !s->lanes[0].thread_started)
            continue;
        pthread_mutex_lock(&s->mu);
        while (!s->done && dp_clock_monotonic_ms() < until)
            pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        pthread_mutex_unlock(&s->mu);
    }

    /* Out of time: cancel the calls in flight and stop retrying. */
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        sender *s = &up->senders[i];
        if (!s->enabled || !s->lanes[0].thread_started)
            continue;
        pthread_mutex_lock(&s->mu);
        if (!s->done) {
            s->abort = true;
            for (unsigned j = 0; j < s->lane_count; j++)
                if (s->lanes[j].call)
                    grpc_call_cancel(s->lanes[j].call, NULL);
            pthread_cond_broadcast(&s->cond);
        }
        pthread_mutex_unlock(&s->mu);
    }
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++) {
        sender *s = &up->senders[i];
        for (unsigned j = 0; j < s->lane_count; j++) {
            if (s->lanes[j].thread_started) {
                pthread_join(s->lanes[j].thread, NULL);
                s->lanes[j].thread_started = false;
            }
        }
        if (!s->queue_ready)
            continue;
        uint64_t requests = 0;
        uint64_t left = dp_delivery_queue_drain(&s->queue, &requests);
        pthread_mutex_lock(&s->mu);
        s->stats.dropped_at_shutdown += left;
        uint64_t dropped = s->stats.dropped_at_shutdown;
        pthread_mutex_unlock(&s->mu);
        if (dropped)
            dp_log_error(COMPONENT,
                         "%s: %" PRIu64 " item(s) could not be delivered before the "
                         "shutdown timeout (%u ms)",
                         dp_upstream_signal_name((dp_upstream_signal)i), dropped, timeout_ms);
        undelivered += dropped;
    }
    return undelivered;
}

void dp_upstream_destroy(dp_upstream *up)
{
    if (!up)
        return;
    /* A half-built client may have threads but was never shut down. */
    if (!up->shut_down)
        dp_upstream_shutdown(up, 0);
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++)
        sender_close(&up->senders[i]);
    /* the copy of the config holds the header values: secrets */
    memset(&up->cfg, 0, sizeof(up->cfg));
    for (int i = 0; i < DP_UPSTREAM_SIGNAL_COUNT; i++)
        memset(&up->senders[i].conn, 0, sizeof(up->senders[i].conn));
    if (up->grpc_initialised)
        grpc_shutdown();
    free(up);
}

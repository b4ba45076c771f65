/*
 * The OTLP/gRPC upstream transport over the gRPC C core (see
 * upstream_transport.h for the contract, docs/upstream.md for the rules).
 *
 * Per signal: the channel credentials and the request metadata (extra
 * headers) built once. Per lane: its own channel (its own connection, see
 * GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL), a registered Export method and a
 * completion queue used by that lane's thread only. An attempt is one unary
 * Export call carrying the batch as a list of slices that point at the
 * queue's own storage: gRPC frames and writes them without the batch ever
 * being joined into one buffer.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "upstream_status.h"
#include "upstream_transport.h"

#define COMPONENT "upstream"
/* The system's trust store, used when no CA file is given. */
#define SYSTEM_ROOTS_FILE "/etc/ssl/certs/ca-certificates.crt"
#define MAX_CHANNEL_ARGS 7

static const char *const export_methods[DP_UPSTREAM_SIGNAL_COUNT] = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
};

typedef struct grpc_shared {
    char target[sizeof(((dp_upstream_connection *)0)->endpoint)];
    const char *method;
    uint64_t timeout_ms;
    grpc_channel_credentials *creds;
    grpc_arg args[MAX_CHANNEL_ARGS];
    size_t nargs;
    grpc_metadata metadata[DP_UPSTREAM_MAX_HEADERS];
    size_t metadata_count;
} grpc_shared;

typedef struct grpc_lane {
    grpc_shared *sh;
    grpc_channel *channel;
    void *method; /* registered call handle on channel */
    grpc_completion_queue *cq;
    grpc_slice *slices; /* one per request of the batch; reused by every batch */
    size_t slice_cap;
    size_t nslices;
    bool reset_backoff; /* the last attempt could not reach the upstream */

    pthread_mutex_t mu; /* guards call and cancelled */
    grpc_call *call;    /* the call in flight, for cancel */
    bool cancelled;
} grpc_lane;

/* ---- setup ------------------------------------------------------------- */

static grpc_channel_credentials *make_credentials(const dp_upstream_connection *c)
{
    grpc_channel_credentials *creds = NULL;
    char *roots = NULL, *cert = NULL, *key = NULL;
    grpc_ssl_pem_key_cert_pair pair;

    if (c->transport == DP_UPSTREAM_PLAINTEXT)
        return grpc_insecure_credentials_create();

    if (c->ca_file[0]) {
        if (!(roots = dp_upstream_read_pem(c->ca_file, "CA file")))
            goto out;
    } else {
        /* The system store; when absent gRPC falls back to its own roots. */
        FILE *f = fopen(SYSTEM_ROOTS_FILE, "rb");
        if (f) {
            fclose(f);
            roots = dp_upstream_read_pem(SYSTEM_ROOTS_FILE, "system roots");
        }
    }
    if ((c->client_cert_file[0] != '\0') != (c->client_key_file[0] != '\0')) {
        dp_log_error(COMPONENT, "a client certificate needs both a certificate and a key file");
        goto out;
    }
    if (c->client_cert_file[0]) {
        if (!(cert = dp_upstream_read_pem(c->client_cert_file, "client certificate")) ||
            !(key = dp_upstream_read_pem(c->client_key_file, "client key")))
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
    dp_upstream_free_secret(key);
    return creds;
}

static void grpc_transport_close(void *shared)
{
    grpc_shared *sh = shared;
    if (!sh)
        return;
    for (size_t i = 0; i < sh->metadata_count; i++) {
        grpc_slice_unref(sh->metadata[i].key);
        grpc_slice_unref(sh->metadata[i].value);
    }
    if (sh->creds)
        grpc_channel_credentials_release(sh->creds);
    free(sh);
    grpc_shutdown();
}

static void *grpc_transport_open(const dp_upstream_connection *c, const dp_upstream_config *cfg,
                                 dp_upstream_signal signal)
{
    dp_upstream_header headers[DP_UPSTREAM_MAX_HEADERS];
    size_t header_count = 0;
    grpc_shared *sh = NULL, *result = NULL;

    if (dp_upstream_headers_parse(c->headers, "upstream headers", headers, &header_count) != 0)
        return NULL; /* the reason is logged */
    /* gRPC metadata values (keys without "-bin") are printable ASCII: the
     * core refuses a call carrying any other byte, which would drop every
     * batch as if the upstream had refused it. OTLP/HTTP sends such bytes. */
    for (size_t i = 0; i < header_count; i++) {
        for (const unsigned char *v = (const unsigned char *)headers[i].value; *v; v++) {
            if (*v > 0x7e) {
                dp_log_error(COMPONENT,
                             "upstream headers: the value of %s has a byte outside printable "
                             "ASCII (0x%02x), which gRPC metadata cannot carry",
                             headers[i].key, *v);
                goto out;
            }
        }
    }
    grpc_init(); /* balanced by grpc_transport_close(), which also frees sh */
    sh = calloc(1, sizeof(*sh));
    if (!sh) {
        grpc_shutdown();
        goto out;
    }
    snprintf(sh->target, sizeof(sh->target), "%s", c->endpoint);
    sh->method = export_methods[signal];
    sh->timeout_ms = c->timeout_ms;
    if (!(sh->creds = make_credentials(c)))
        goto out;

    /* gRPC's own reconnect backoff follows ours, so a retry after the
     * upstream comes back finds the channel trying to connect. gRPC's
     * transparent retries are off: this client decides what is retried. */
    grpc_arg *a = sh->args;
    a[sh->nargs++] = (grpc_arg){
        .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_ENABLE_RETRIES, .value.integer = 0};
    a[sh->nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                .key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                                .value.integer = (int)cfg->retry_initial_ms};
    a[sh->nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                .key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                                .value.integer = (int)cfg->retry_initial_ms};
    a[sh->nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                .key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                                .value.integer = (int)cfg->retry_max_ms};
    /* Without it channels to one target share one connection. */
    a[sh->nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                                .value.integer = 1};
    if (c->compression == DP_UPSTREAM_COMPRESSION_GZIP)
        a[sh->nargs++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                                    .key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM,
                                    .value.integer = GRPC_COMPRESS_GZIP};

    for (size_t i = 0; i < header_count; i++) {
        sh->metadata[i].key = grpc_slice_from_copied_string(headers[i].key);
        sh->metadata[i].value = grpc_slice_from_copied_string(headers[i].value);
        sh->metadata_count++;
    }
    result = sh;
    sh = NULL;
out:
    dp_upstream_headers_free(headers, header_count);
    grpc_transport_close(sh);
    return result;
}

static void grpc_transport_lane_close(void *lane_ptr)
{
    grpc_lane *l = lane_ptr;
    if (!l)
        return;
    if (l->cq) {
        grpc_completion_queue_shutdown(l->cq);
        while (grpc_completion_queue_next(l->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(l->cq);
    }
    if (l->channel)
        grpc_channel_destroy(l->channel);
    free(l->slices);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static void *grpc_transport_lane_open(void *shared)
{
    grpc_shared *sh = shared;
    grpc_lane *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l);
        return NULL;
    }
    l->sh = sh;
    grpc_channel_args channel_args = {.num_args = sh->nargs, .args = sh->args};
    if (!(l->channel = grpc_channel_create(sh->target, sh->creds, &channel_args)) ||
        !(l->method = grpc_channel_register_call(l->channel, sh->method, NULL, NULL)) ||
        !(l->cq = grpc_completion_queue_create_for_next(NULL))) {
        dp_log_error(COMPONENT, "cannot open a gRPC channel to %s", sh->target);
        grpc_transport_lane_close(l);
        return NULL;
    }
    return l;
}

/* ---- one batch, one attempt ---------------------------------------------- */

/* Static slices do not own the requests: the batch outlives every attempt
 * (each call is unreferenced before the next starts) and is freed by
 * dp_delivery_queue_complete() after the last one. */
static int grpc_transport_batch_begin(void *lane_ptr, const dp_delivery_batch *batch)
{
    grpc_lane *l = lane_ptr;
    void *slices = l->slices;
    if (dp_upstream_reserve(&slices, &l->slice_cap, batch->requests, sizeof(grpc_slice)) != 0)
        return -1;
    l->slices = slices;
    l->nslices = 0;
    for (dp_delivery_item *it = batch->first; it; it = dp_delivery_item_next(it)) {
        size_t len;
        const uint8_t *data = dp_delivery_item_data(it, &len);
        l->slices[l->nslices++] = grpc_slice_from_static_buffer(data, len);
    }
    return 0;
}

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

static void read_status_details(const grpc_metadata_array *trailing, dp_upstream_result *res)
{
    for (size_t i = 0; i < trailing->count; i++) {
        const grpc_metadata *md = &trailing->metadata[i];
        if (!grpc_slice_str_cmp(md->key, "grpc-status-details-bin")) {
            uint64_t delay = 0;
            int rc = dp_upstream_status_retry_delay(GRPC_SLICE_START_PTR(md->value),
                                                    GRPC_SLICE_LENGTH(md->value), &delay);
            if (rc == 1) {
                res->has_delay = true;
                res->delay_ms = delay;
            } else if (rc < 0) {
                dp_log_warn(COMPONENT, "ignoring malformed grpc-status-details-bin from upstream");
            }
        }
    }
}

static void read_response(grpc_byte_buffer *bb, dp_upstream_result *res)
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
    dp_upstream_one_line(res->partial_message);
    grpc_slice_unref(all);
}

/* Classify the call's end as the OTLP specification does for gRPC. */
static void classify(int code, dp_upstream_result *res)
{
    snprintf(res->status, sizeof(res->status), "%s", status_name(code));
    if (code == GRPC_STATUS_OK)
        res->outcome = DP_UPSTREAM_ACCEPTED;
    else if (dp_upstream_status_retryable(code, res->has_delay))
        res->outcome = DP_UPSTREAM_RETRYABLE;
    else
        res->outcome = DP_UPSTREAM_REFUSED;
}

/* Make one Export call carrying the batch's slices and wait for its end. */
static void grpc_transport_send(void *lane_ptr, dp_upstream_result *res)
{
    grpc_lane *l = lane_ptr;
    grpc_shared *sh = l->sh;
    grpc_metadata_array initial_md, trailing_md;
    grpc_byte_buffer *send = NULL, *recv = NULL;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_call *call;
    grpc_op ops[6];
    int code;

    memset(res, 0, sizeof(*res));
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);

    /* After a connection failure gRPC may still be waiting out its own
     * reconnect backoff; make this attempt connect at once. */
    if (l->reset_backoff)
        grpc_channel_reset_connect_backoff(l->channel);

    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(sh->timeout_ms, GPR_TIMESPAN));
    call = grpc_channel_create_registered_call(l->channel, NULL, GRPC_PROPAGATE_DEFAULTS, l->cq,
                                               l->method, deadline, NULL);
    if (!call) {
        code = GRPC_STATUS_UNAVAILABLE;
        snprintf(res->message, sizeof(res->message), "cannot create a call");
        goto out;
    }
    send = grpc_raw_byte_buffer_create(l->slices, l->nslices);

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = sh->metadata_count;
    ops[0].data.send_initial_metadata.metadata = sh->metadata_count ? sh->metadata : NULL;
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

    pthread_mutex_lock(&l->mu);
    l->call = call;
    bool cancel_now = l->cancelled;
    pthread_mutex_unlock(&l->mu);
    if (cancel_now)
        grpc_call_cancel(call, NULL);

    grpc_call_error err = grpc_call_start_batch(call, ops, 6, l, NULL);
    if (err != GRPC_CALL_OK) {
        code = GRPC_STATUS_INTERNAL;
        snprintf(res->message, sizeof(res->message), "cannot start the call (error %d)", (int)err);
    } else {
        /* The batch always completes: at the latest at the call deadline
         * or when a cancel ends it. */
        grpc_event ev;
        do {
            ev = grpc_completion_queue_next(l->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        } while (ev.type != GRPC_OP_COMPLETE || ev.tag != l);
        code = (int)status;
        dp_upstream_copy_text(res->message, sizeof(res->message), GRPC_SLICE_START_PTR(details),
                              GRPC_SLICE_LENGTH(details));
        if (!res->message[0] && error_string)
            dp_upstream_copy_text(res->message, sizeof(res->message), error_string,
                                  strlen(error_string));
        read_status_details(&trailing_md, res);
        if (status == GRPC_STATUS_OK)
            read_response(recv, res);
    }

    pthread_mutex_lock(&l->mu);
    l->call = NULL;
    pthread_mutex_unlock(&l->mu);
    grpc_call_unref(call);
out:
    classify(code, res);
    l->reset_backoff = code == GRPC_STATUS_UNAVAILABLE;
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

static void grpc_transport_cancel(void *lane_ptr)
{
    grpc_lane *l = lane_ptr;
    pthread_mutex_lock(&l->mu);
    l->cancelled = true;
    if (l->call)
        grpc_call_cancel(l->call, NULL);
    pthread_mutex_unlock(&l->mu);
}

const dp_upstream_transport_ops dp_upstream_grpc_ops = {
    .name = "OTLP/gRPC",
    .open = grpc_transport_open,
    .close = grpc_transport_close,
    .lane_open = grpc_transport_lane_open,
    .lane_close = grpc_transport_lane_close,
    .batch_begin = grpc_transport_batch_begin,
    .send = grpc_transport_send,
    .cancel = grpc_transport_cancel,
};

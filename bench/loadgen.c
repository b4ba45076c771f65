/*
 * dagprof load generator: a gRPC C core client that sends pre-encoded OTLP
 * trace requests (see trace_template.h) to TraceService/Export at a chosen
 * concurrency and rate, with fresh trace ids in every request, and counts
 * what the server accepted.
 *
 *   loadgen --target 127.0.0.1:4317 [--concurrency 64] [--spans-per-request 200]
 *           [--duration 10 | --requests N] [--rate REQ_PER_S] [--threads 1]
 *           [--channels 4] [--templates 8] [--quiet]
 *
 * It prints one summary line of key=value pairs that bench/run.sh parses:
 *   requests_ok= requests_failed= spans_ok= spans_failed= bytes_ok= elapsed_s=
 *   spans_per_s= requests_per_s= (and status_<code>= for each failure code)
 * Exit status: 0 when every request got OK, 1 otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trace_template.h"

#define EXPORT_METHOD "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define MAX_STATUS 17 /* gRPC status codes 0..16 */
#define CALL_DEADLINE_S 60

typedef struct options {
    const char *target;
    unsigned concurrency;
    unsigned spans_per_request;
    double duration_s; /* 0 = until --requests are sent */
    uint64_t requests; /* 0 = until --duration ends */
    double rate;       /* requests per second, all threads; 0 = as fast as possible */
    unsigned threads;
    unsigned channels;
    unsigned templates;
    int quiet;
} options;

/* One call in flight; slots are reused, so nothing is allocated per send but gRPC's own. */
typedef struct slot {
    struct worker *w;
    grpc_call *call;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_byte_buffer *send;
    grpc_byte_buffer *recv;
    grpc_status_code status;
    grpc_slice details;
    size_t spans;
    size_t bytes;
    int busy;
} slot;

typedef struct worker {
    pthread_t thread;
    unsigned id;
    const options *opt;
    grpc_completion_queue *cq;
    grpc_channel **channels;
    unsigned n_channels;
    slot *slots;
    unsigned n_slots;
    unsigned inflight;
    double rate; /* this worker's share */
    /* results */
    uint64_t requests_ok, requests_failed, spans_ok, spans_failed, bytes_ok;
    uint64_t status_counts[MAX_STATUS];
    double first_send, last_done;
} worker;

static const dp_bench_request *g_templates;
static unsigned g_n_templates;
static uint32_t g_prefix;
static atomic_uint_fast64_t g_seq;     /* next request sequence number */
static atomic_uint_fast64_t g_started; /* requests started, for --requests */
static double g_end_time;              /* monotonic seconds; 0 = none */
static atomic_int g_errors_printed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static gpr_timespec in_seconds(double s)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_micros((int64_t)(s * 1e6), GPR_TIMESPAN));
}

static void usage(FILE *f)
{
    fprintf(f, "usage: loadgen --target HOST:PORT [--concurrency N] [--spans-per-request N]\n"
               "               [--duration SECONDS | --requests N] [--rate REQ_PER_S]\n"
               "               [--threads N] [--channels N] [--templates N] [--quiet]\n"
               "Sends pre-encoded OTLP agent DAG traces to TraceService/Export and reports\n"
               "spans/s. Defaults: concurrency 64, spans-per-request 200, duration 10,\n"
               "threads 1, channels 4, templates 8, rate unlimited.\n");
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.concurrency = 64,
                   .spans_per_request = 200,
                   .duration_s = 0,
                   .threads = 1,
                   .channels = 4,
                   .templates = 8};
    int have_duration = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "loadgen: %s needs a value\n", a);
            return -1;
        }
        i++;
        char *end = NULL;
        errno = 0;
        if (!strcmp(a, "--target")) {
            o->target = v;
            continue;
        }
        double d = strtod(v, &end);
        if (errno || end == v || *end || d < 0) {
            fprintf(stderr, "loadgen: bad value for %s: %s\n", a, v);
            return -1;
        }
        if (!strcmp(a, "--concurrency"))
            o->concurrency = (unsigned)d;
        else if (!strcmp(a, "--spans-per-request"))
            o->spans_per_request = (unsigned)d;
        else if (!strcmp(a, "--duration")) {
            o->duration_s = d;
            have_duration = 1;
        } else if (!strcmp(a, "--requests"))
            o->requests = (uint64_t)d;
        else if (!strcmp(a, "--rate"))
            o->rate = d;
        else if (!strcmp(a, "--threads"))
            o->threads = (unsigned)d;
        else if (!strcmp(a, "--channels"))
            o->channels = (unsigned)d;
        else if (!strcmp(a, "--templates"))
            o->templates = (unsigned)d;
        else {
            fprintf(stderr, "loadgen: unknown option %s\n", a);
            return -1;
        }
    }
    if (!o->target) {
        fprintf(stderr, "loadgen: --target is required\n");
        return -1;
    }
    if (!have_duration && o->requests == 0)
        o->duration_s = 10;
    if (o->concurrency == 0 || o->threads == 0 || o->channels == 0 || o->templates == 0 ||
        o->spans_per_request == 0 || o->spans_per_request > 100000) {
        fprintf(stderr, "loadgen: concurrency, threads, channels, templates must be > 0 and "
                        "spans-per-request 1..100000\n");
        return -1;
    }
    if (o->threads > o->concurrency)
        o->threads = o->concurrency;
    return 0;
}

/* Take the next request number, or return 0 when --requests are all started. */
static int claim_request(const options *o, uint64_t *seq)
{
    if (o->requests) {
        uint64_t n = atomic_fetch_add(&g_started, 1);
        if (n >= o->requests)
            return 0;
    }
    *seq = atomic_fetch_add(&g_seq, 1);
    return 1;
}

static int start_call(worker *w, slot *s, uint64_t seq)
{
    const dp_bench_request *t = &g_templates[seq % g_n_templates];
    grpc_slice payload = grpc_slice_malloc(t->len);
    dp_bench_request_write(GRPC_SLICE_START_PTR(payload), t, g_prefix, seq);
    s->send = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);
    s->recv = NULL;
    s->spans = t->spans;
    s->bytes = t->len;
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);

    grpc_channel *ch = w->channels[seq % w->n_channels];
    grpc_slice method = grpc_slice_from_static_string(EXPORT_METHOD);
    s->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq, method, NULL,
                                       in_seconds(CALL_DEADLINE_S), NULL);

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[5].data.recv_status_on_client.status = &s->status;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    grpc_call_error err = grpc_call_start_batch(s->call, ops, 6, s, NULL);
    if (err != GRPC_CALL_OK) {
        fprintf(stderr, "loadgen: grpc_call_start_batch: %d\n", (int)err);
        grpc_call_unref(s->call);
        grpc_byte_buffer_destroy(s->send);
        grpc_metadata_array_destroy(&s->initial_md);
        grpc_metadata_array_destroy(&s->trailing_md);
        return -1;
    }
    s->busy = 1;
    w->inflight++;
    return 0;
}

static void finish_call(worker *w, slot *s)
{
    if (s->status == GRPC_STATUS_OK) {
        w->requests_ok++;
        w->spans_ok += s->spans;
        w->bytes_ok += s->bytes;
    } else {
        w->requests_failed++;
        w->spans_failed += s->spans;
        if ((unsigned)s->status < MAX_STATUS)
            w->status_counts[s->status]++;
        if (atomic_fetch_add(&g_errors_printed, 1) < 5) {
            char *msg = grpc_slice_to_c_string(s->details);
            fprintf(stderr, "loadgen: call failed: status %d: %s\n", (int)s->status, msg);
            gpr_free(msg);
        }
    }
    grpc_byte_buffer_destroy(s->send);
    if (s->recv)
        grpc_byte_buffer_destroy(s->recv);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_call_unref(s->call);
    s->call = NULL;
    s->busy = 0;
    w->inflight--;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    const options *o = w->opt;
    double interval = w->rate > 0 ? 1.0 / w->rate : 0;
    double next_send = now_s();
    int sending = 1;
    w->first_send = now_s();
    w->last_done = w->first_send;

    while (sending || w->inflight > 0) {
        double t = now_s();
        if (sending && g_end_time > 0 && t >= g_end_time)
            sending = 0;
        /* Fill free slots, as the rate allows. */
        while (sending && w->inflight < w->n_slots && (interval == 0 || t >= next_send)) {
            slot *s = NULL;
            for (unsigned i = 0; i < w->n_slots; i++)
                if (!w->slots[i].busy) {
                    s = &w->slots[i];
                    break;
                }
            uint64_t seq;
            if (!s || !claim_request(o, &seq)) {
                if (s)
                    sending = 0;
                break;
            }
            if (start_call(w, s, seq) != 0) {
                sending = 0;
                break;
            }
            if (interval > 0)
                next_send += interval;
        }
        if (!sending && w->inflight == 0)
            break;
        /* Wait for a completion, or until the next send is due / the run ends. */
        double wait = 1.0;
        if (sending && interval > 0 && w->inflight < w->n_slots)
            wait = next_send - now_s();
        if (sending && g_end_time > 0 && g_end_time - now_s() < wait)
            wait = g_end_time - now_s();
        if (wait < 0)
            wait = 0;
        grpc_event ev = grpc_completion_queue_next(w->cq, in_seconds(wait), NULL);
        if (ev.type == GRPC_OP_COMPLETE) {
            finish_call(w, (slot *)ev.tag);
            w->last_done = now_s();
        } else if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    options o;
    int rc = 2;
    worker *workers = NULL;
    dp_bench_request *templates = NULL;
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }

    /* Trace id prefix: differs between runs so a daemon kept across runs
     * never sees a trace id twice; the top bit keeps ids non-zero. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g_prefix =
        0x80000000u | (uint32_t)((ts.tv_nsec ^ (ts.tv_sec << 10) ^ (getpid() << 4)) & 0x7fffffff);

    templates = calloc(o.templates, sizeof(*templates));
    if (!templates)
        goto out;
    uint64_t base_ns = ((uint64_t)ts.tv_sec - 600) * 1000000000ull;
    size_t total_spans = 0, total_bytes = 0;
    for (unsigned i = 0; i < o.templates; i++) {
        if (dp_bench_request_build(&templates[i], i, o.spans_per_request, base_ns) != 0) {
            fprintf(stderr, "loadgen: cannot build request template %u\n", i);
            goto out;
        }
        total_spans += templates[i].spans;
        total_bytes += templates[i].len;
    }
    g_templates = templates;
    g_n_templates = o.templates;
    if (!o.quiet)
        fprintf(stderr, "loadgen: %u templates, %.1f spans and %.0f bytes per request on average\n",
                o.templates, (double)total_spans / o.templates, (double)total_bytes / o.templates);

    grpc_init();
    workers = calloc(o.threads, sizeof(*workers));
    if (!workers)
        goto out_grpc;
    double start = now_s();
    g_end_time = o.duration_s > 0 ? start + o.duration_s : 0;
    unsigned channels_each = o.channels / o.threads ? o.channels / o.threads : 1;
    for (unsigned i = 0; i < o.threads; i++) {
        worker *w = &workers[i];
        w->id = i;
        w->opt = &o;
        w->cq = grpc_completion_queue_create_for_next(NULL);
        w->n_channels = channels_each;
        w->channels = calloc(channels_each, sizeof(*w->channels));
        w->n_slots = o.concurrency / o.threads + (i < o.concurrency % o.threads);
        w->slots = calloc(w->n_slots, sizeof(*w->slots));
        w->rate = o.rate / o.threads;
        if (!w->channels || !w->slots)
            goto out_grpc;
        for (unsigned c = 0; c < channels_each; c++) {
            /* Distinct channel args so each channel gets its own connection. */
            grpc_arg arg = {.type = GRPC_ARG_INTEGER,
                            .key = "dagprof.loadgen.channel",
                            .value.integer = (int)(i * channels_each + c)};
            grpc_arg args[2] = {arg,
                                {.type = GRPC_ARG_INTEGER,
                                 .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                                 .value.integer = 64 * 1024 * 1024}};
            grpc_channel_args cargs = {.num_args = 2, .args = args};
            grpc_channel_credentials *creds = grpc_insecure_credentials_create();
            w->channels[c] = grpc_channel_create(o.target, creds, &cargs);
            grpc_channel_credentials_release(creds);
        }
        for (unsigned k = 0; k < w->n_slots; k++)
            w->slots[k].w = w;
    }
    for (unsigned i = 0; i < o.threads; i++)
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    for (unsigned i = 0; i < o.threads; i++)
        pthread_join(workers[i].thread, NULL);

    uint64_t rq_ok = 0, rq_fail = 0, sp_ok = 0, sp_fail = 0, by_ok = 0;
    uint64_t status[MAX_STATUS] = {0};
    double first = 0, last = 0;
    for (unsigned i = 0; i < o.threads; i++) {
        worker *w = &workers[i];
        rq_ok += w->requests_ok;
        rq_fail += w->requests_failed;
        sp_ok += w->spans_ok;
        sp_fail += w->spans_failed;
        by_ok += w->bytes_ok;
        for (int k = 0; k < MAX_STATUS; k++)
            status[k] += w->status_counts[k];
        if (i == 0 || w->first_send < first)
            first = w->first_send;
        if (w->last_done > last)
            last = w->last_done;
    }
    double elapsed = last - first > 0 ? last - first : 1e-9;
    printf("requests_ok=%" PRIu64 " requests_failed=%" PRIu64 " spans_ok=%" PRIu64
           " spans_failed=%" PRIu64 " bytes_ok=%" PRIu64 " elapsed_s=%.3f spans_per_s=%.0f"
           " requests_per_s=%.0f",
           rq_ok, rq_fail, sp_ok, sp_fail, by_ok, elapsed, (double)sp_ok / elapsed,
           (double)rq_ok / elapsed);
    for (int k = 0; k < MAX_STATUS; k++)
        if (status[k])
            printf(" status_%d=%" PRIu64, k, status[k]);
    printf("\n");
    fflush(stdout);
    rc = rq_fail == 0 && rq_ok > 0 ? 0 : 1;

out_grpc:
    if (workers) {
        for (unsigned i = 0; i < o.threads; i++) {
            worker *w = &workers[i];
            for (unsigned c = 0; w->channels && c < w->n_channels; c++)
                if (w->channels[c])
                    grpc_channel_destroy(w->channels[c]);
            if (w->cq) {
                grpc_completion_queue_shutdown(w->cq);
                while (grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
                           .type != GRPC_QUEUE_SHUTDOWN) {
                }
                grpc_completion_queue_destroy(w->cq);
            }
            free(w->channels);
            free(w->slots);
        }
        free(workers);
    }
    grpc_shutdown();
out:
    for (unsigned i = 0; templates && i < o.templates; i++)
        dp_bench_request_release(&templates[i]);
    free(templates);
    return rc;
}

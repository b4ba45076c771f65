/*
 * What dagprof's self-telemetry shows (self_telemetry.h): every figure read
 * from the stats the stages keep, into one snapshot, and the status line
 * made from a snapshot. The names, units and help texts here are the ones
 * docs/telemetry.md lists.
 */
#include "self_telemetry.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "trace_table.h"

#define NS_PER_S 1e9
#define MS_PER_S 1e3

static const char *const transport_names[DP_TRANSPORT_COUNT] = {"grpc", "http"};
static const char *const signal_names[DP_SIGNAL_COUNT] = {"traces", "metrics", "logs"};

/* --- helpers: one family with one point per transport or per signal ------------------ */

/* One point per running transport: value[transport]. */
static void per_transport(dp_telemetry *t, const bool running[DP_TRANSPORT_COUNT], const char *name,
                          const char *unit, const char *help,
                          const double value[DP_TRANSPORT_COUNT])
{
    dp_telemetry_family_add(t, name, DP_TELEMETRY_COUNTER, unit, help);
    for (int i = 0; i < DP_TRANSPORT_COUNT; i++)
        if (running[i])
            dp_telemetry_add(t, value[i], "transport", transport_names[i], NULL);
}

/* One point per running transport and signal: value[transport][signal]. */
static void per_transport_signal(dp_telemetry *t, const bool running[DP_TRANSPORT_COUNT],
                                 const char *name, const char *help,
                                 const uint64_t value[DP_TRANSPORT_COUNT][DP_SIGNAL_COUNT])
{
    dp_telemetry_family_add(t, name, DP_TELEMETRY_COUNTER, "{request}", help);
    for (int i = 0; i < DP_TRANSPORT_COUNT; i++)
        for (int s = 0; running[i] && s < DP_SIGNAL_COUNT; s++)
            dp_telemetry_add(t, (double)value[i][s], "transport", transport_names[i], "signal",
                             signal_names[s], NULL);
}

/* --- the receivers -------------------------------------------------------------------- */

static void collect_receivers(const dp_self_telemetry_sources *src, dp_telemetry *t)
{
    dp_ingest_stats in[DP_TRANSPORT_COUNT];
    bool running[DP_TRANSPORT_COUNT];
    double received[DP_TRANSPORT_COUNT], accepted[DP_TRANSPORT_COUNT], refused[DP_TRANSPORT_COUNT],
        rejected[DP_TRANSPORT_COUNT], points[DP_TRANSPORT_COUNT], records[DP_TRANSPORT_COUNT],
        busy[DP_TRANSPORT_COUNT], dropped_nesting[DP_TRANSPORT_COUNT];
    uint64_t refused_requests[DP_TRANSPORT_COUNT][DP_SIGNAL_COUNT];
    uint64_t decode_errors[DP_TRANSPORT_COUNT][DP_SIGNAL_COUNT];
    memset(in, 0, sizeof(in));
    for (int i = 0; i < DP_TRANSPORT_COUNT; i++) {
        running[i] = src->ingest[i] != NULL;
        if (running[i])
            dp_ingest_get_stats(src->ingest[i], &in[i]);
        received[i] = (double)in[i].spans_received;
        accepted[i] = (double)in[i].spans_accepted;
        refused[i] = (double)in[i].spans_refused;
        rejected[i] = (double)in[i].spans_rejected;
        points[i] = (double)in[i].metric_points;
        records[i] = (double)in[i].log_records;
        dropped_nesting[i] = (double)in[i].attributes_dropped_nesting;
        busy[i] = (double)in[i].busy_ns / NS_PER_S;
        memcpy(refused_requests[i], in[i].requests_refused, sizeof(refused_requests[i]));
        memcpy(decode_errors[i], in[i].decode_errors, sizeof(decode_errors[i]));
    }
    per_transport(t, running, "dagprof_receiver_received_spans", "{span}",
                  "Spans of trace requests that decoded: accepted, rejected and refused ones.",
                  received);
    per_transport(t, running, "dagprof_receiver_accepted_spans", "{span}",
                  "Spans stored for profiling.", accepted);
    per_transport(t, running, "dagprof_receiver_refused_spans", "{span}",
                  "Spans of requests refused for now (gRPC UNAVAILABLE, HTTP 503: backpressure); "
                  "the client may send them again.",
                  refused);
    per_transport(t, running, "dagprof_receiver_rejected_spans", "{span}",
                  "Unusable spans (ids of the wrong size) left out of accepted requests and "
                  "reported in partial_success.",
                  rejected);
    dp_telemetry_family_add(t, "dagprof_receiver_attributes_dropped", DP_TELEMETRY_COUNTER,
                            "{attribute}",
                            "Attributes left out of accepted requests (spans, metrics, logs), by "
                            "reason (nesting: the value nests deeper than protobuf's limit of "
                            "100 messages).");
    for (int i = 0; i < DP_TRANSPORT_COUNT; i++)
        if (running[i])
            dp_telemetry_add(t, dropped_nesting[i], "transport", transport_names[i], "reason",
                             "nesting", NULL);
    per_transport(t, running, "dagprof_receiver_accepted_metric_points", "{datapoint}",
                  "Metric data points taken and forwarded upstream.", points);
    per_transport(t, running, "dagprof_receiver_accepted_log_records", "{record}",
                  "Log records taken and forwarded upstream.", records);
    per_transport_signal(t, running, "dagprof_receiver_refused_requests",
                         "Requests refused for now because the trace table or the upstream queue "
                         "was full (gRPC UNAVAILABLE, HTTP 503).",
                         refused_requests);
    per_transport_signal(t, running, "dagprof_receiver_decode_errors",
                         "Requests whose payload does not decode as the signal's OTLP request.",
                         decode_errors);

    /* permanent errors, as each transport answered them */
    dp_telemetry_family_add(t, "dagprof_receiver_rejected_requests", DP_TELEMETRY_COUNTER,
                            "{request}", "Requests answered with a permanent error, by reason.");
    if (src->grpc) {
        dp_receiver_stats g;
        dp_receiver_get_stats(src->grpc, &g);
        dp_telemetry_add(t, (double)g.calls_by_status[3], "transport", "grpc", "reason", "invalid",
                         NULL);
        dp_telemetry_add(t, (double)g.calls_by_status[8], "transport", "grpc", "reason",
                         "too_large", NULL);
        dp_telemetry_add(t, (double)g.calls_by_status[12], "transport", "grpc", "reason",
                         "unimplemented", NULL);
        dp_telemetry_add(t, (double)g.calls_by_status[16], "transport", "grpc", "reason",
                         "unauthenticated", NULL);
    }
    if (src->http) {
        dp_http_receiver_stats h;
        dp_http_receiver_get_stats(src->http, &h);
        dp_telemetry_add(t, (double)h.bad_request, "transport", "http", "reason", "invalid", NULL);
        dp_telemetry_add(t, (double)h.too_large, "transport", "http", "reason", "too_large", NULL);
        dp_telemetry_add(t, (double)h.unsupported_type, "transport", "http", "reason",
                         "unsupported_media_type", NULL);
        dp_telemetry_add(t, (double)h.not_found, "transport", "http", "reason", "not_found", NULL);
        dp_telemetry_add(t, (double)h.method_not_allowed, "transport", "http", "reason",
                         "method_not_allowed", NULL);
        dp_telemetry_add(t, (double)h.unauthenticated, "transport", "http", "reason",
                         "unauthenticated", NULL);
        dp_telemetry_family_add(t, "dagprof_receiver_http_refused_connections",
                                DP_TELEMETRY_COUNTER, "{connection}",
                                "OTLP/HTTP connections closed as soon as accepted, by reason: "
                                "server.max_connections were open (max_connections).");
        dp_telemetry_add(t, (double)h.connections_refused_max_connections, "reason",
                         "max_connections", NULL);
        dp_telemetry_family_add(t, "dagprof_receiver_http_cut_off_requests", DP_TELEMETRY_COUNTER,
                                "{request}",
                                "OTLP/HTTP requests whose connection the receiver closed, by "
                                "reason: the body still coming server.recv_timeout after the "
                                "headers (recv_timeout).");
        dp_telemetry_add(t, (double)h.cut_recv_timeout, "reason", "recv_timeout", NULL);
        dp_telemetry_family_add(t, "dagprof_receiver_http_connections", DP_TELEMETRY_GAUGE,
                                "{connection}", "OTLP/HTTP connections open now.");
        dp_telemetry_add(t, (double)h.connections_open, NULL);
    }
    if (src->grpc) {
        dp_receiver_stats g;
        dp_receiver_get_stats(src->grpc, &g);
        dp_telemetry_family_add(t, "dagprof_receiver_grpc_inflate_refused_requests",
                                DP_TELEMETRY_COUNTER, "{request}",
                                "gRPC requests whose gzip or deflate message inflated past "
                                "server.max_recv_message_size, refused at the limit.");
        dp_telemetry_add(t, (double)g.inflate_over_limit, NULL);
        dp_telemetry_family_add(t, "dagprof_receiver_grpc_cut_off_calls", DP_TELEMETRY_COUNTER,
                                "{call}",
                                "gRPC calls cancelled by the receiver, by reason: the message not "
                                "in (recv_timeout) or the answer not taken (send_timeout) within "
                                "server.recv_timeout, or still open past server.shutdown_timeout.");
        dp_telemetry_add(t, (double)g.cut_recv_timeout, "reason", "recv_timeout", NULL);
        dp_telemetry_add(t, (double)g.cut_send_timeout, "reason", "send_timeout", NULL);
        dp_telemetry_add(t, (double)g.cut_shutdown, "reason", "shutdown", NULL);
        dp_telemetry_family_add(t, "dagprof_receiver_grpc_calls_in_flight", DP_TELEMETRY_GAUGE,
                                "{call}",
                                "gRPC calls the receiver has taken and not finished: reading "
                                "their message, being decoded, or being answered.");
        dp_telemetry_add(t, (double)g.calls_in_flight, NULL);
        dp_telemetry_family_add(t, "dagprof_receiver_grpc_refused_connections",
                                DP_TELEMETRY_COUNTER, "{connection}",
                                "gRPC connections accepted and closed at once, by "
                                "reason: the process was out of file descriptors (fd_limit), or "
                                "server.max_connections were open (max_connections).");
        dp_telemetry_add(t, (double)g.connections_refused_fd_limit, "reason", "fd_limit", NULL);
        dp_telemetry_add(t, (double)g.connections_refused_max_connections, "reason",
                         "max_connections", NULL);
        if (!g.tls) {
            dp_telemetry_family_add(t, "dagprof_receiver_grpc_preface_timeouts",
                                    DP_TELEMETRY_COUNTER, "{connection}",
                                    "Plaintext gRPC connections closed because the client's "
                                    "HTTP/2 connection preface had not arrived within "
                                    "server.handshake_timeout of their accept.");
            dp_telemetry_add(t, (double)g.preface_timeouts, NULL);
        } else {
            dp_telemetry_family_add(t, "dagprof_receiver_grpc_tls_connections", DP_TELEMETRY_GAUGE,
                                    "{connection}",
                                    "TLS gRPC connections open now, those in their handshake "
                                    "included (what server.max_connections counts).");
            dp_telemetry_add(t, (double)g.tls_connections, NULL);
            dp_telemetry_family_add(
                t, "dagprof_receiver_grpc_tls_failed_handshakes", DP_TELEMETRY_COUNTER,
                "{connection}",
                "TLS gRPC connections closed in their handshake, by reason: refused by TLS "
                "(failed: version, certificate, not TLS, or the client went away) or not done "
                "within server.handshake_timeout (timeout).");
            dp_telemetry_add(t, (double)g.tls_handshake_failed, "reason", "failed", NULL);
            dp_telemetry_add(t, (double)g.tls_handshake_timeout, "reason", "timeout", NULL);
        }
    }
    per_transport(t, running, "dagprof_receiver_busy_seconds", "s",
                  "Time the transport's threads spent decoding and storing requests, all threads "
                  "together.",
                  busy);
}

/* --- assembly and processors --------------------------------------------------------------- */

static void gauge(dp_telemetry *t, const char *name, const char *unit, const char *help,
                  double value)
{
    dp_telemetry_family_add(t, name, DP_TELEMETRY_GAUGE, unit, help);
    dp_telemetry_add(t, value, NULL);
}

static void counter(dp_telemetry *t, const char *name, const char *unit, const char *help,
                    double value)
{
    dp_telemetry_family_add(t, name, DP_TELEMETRY_COUNTER, unit, help);
    dp_telemetry_add(t, value, NULL);
}

static void collect_assembly(const dp_self_telemetry_sources *src, dp_telemetry *t)
{
    static const char *const reasons[4] = {"idle", "max_age", "memory_limit", "shutdown"};
    dp_trace_table_stats ts;
    dp_engine_stats es;
    dp_trace_table_get_stats(dp_engine_table(src->engine), &ts);
    dp_engine_get_stats(src->engine, &es);

    gauge(t, "dagprof_assembly_runs_in_progress", "{run}",
          "Runs being assembled: spans arrived, not finished yet.", (double)ts.buffered_runs);
    gauge(t, "dagprof_assembly_buffered_spans", "{span}", "Spans of the runs being assembled.",
          (double)ts.buffered_spans);
    gauge(t, "dagprof_assembly_buffered_bytes", "By",
          "Memory held by the runs being assembled, counted against assembly.memory_limit.",
          (double)ts.buffered_bytes);
    gauge(t, "dagprof_assembly_memory_limit_bytes", "By",
          "assembly.memory_limit: past it the oldest runs are finished early; at twice it "
          "requests are refused.",
          (double)src->memory_limit_bytes);
    gauge(t, "dagprof_assembly_pending_runs", "{run}",
          "Finished runs waiting for a processor (at most assembly.max_pending_runs).",
          (double)ts.pending_runs);
    gauge(t, "dagprof_assembly_pending_bytes", "By",
          "Memory held by finished runs not yet released: waiting, being profiled or kept as "
          "partial.",
          (double)ts.pending_bytes);
    gauge(t, "dagprof_assembly_kept_partial_runs", "{run}",
          "Records of runs reported as partial, kept for their remaining spans.",
          (double)es.partial_runs_kept);
    counter(t, "dagprof_assembly_runs_started", "{run}", "Runs whose first span arrived.",
            (double)ts.runs_started);
    dp_telemetry_family_add(
        t, "dagprof_assembly_runs_finished", DP_TELEMETRY_COUNTER, "{run}",
        "Runs finished, by why: idle after their root, max_age, memory_limit, shutdown.");
    for (int i = 0; i < 4; i++)
        dp_telemetry_add(t, (double)ts.runs_by_reason[i], "reason", reasons[i], NULL);
    counter(t, "dagprof_assembly_late_runs", "{run}",
            "Runs of spans that arrived after their trace had been finished.",
            (double)ts.runs_late);

    counter(t, "dagprof_processor_reported_runs", "{run}",
            "Runs profiled and handed to every output.", (double)es.runs_processed);
    counter(t, "dagprof_processor_failed_runs", "{run}", "Runs whose profile or an output failed.",
            (double)es.runs_failed);
    counter(t, "dagprof_processor_partial_runs", "{run}",
            "Runs reported as partial: still open at assembly.max_age, or pushed out by the "
            "memory limit.",
            (double)es.runs_partial);
    counter(t, "dagprof_processor_rereported_runs", "{run}",
            "Whole reports of runs reported as partial before.", (double)es.runs_whole_again);
    counter(t, "dagprof_processor_duplicate_spans", "{span}",
            "Copies of a span already in its run (a retried request), profiled once.",
            (double)es.spans_duplicate);
    counter(t, "dagprof_processor_undecodable_spans", "{span}",
            "Stored spans that could not be decoded for the profile (never expected).",
            (double)es.spans_undecodable);
    dp_telemetry_family_add(
        t, "dagprof_processor_busy_seconds", DP_TELEMETRY_COUNTER, "s",
        "Time each run processor thread spent profiling runs and handing them on.");
    for (unsigned i = 0; i < es.processor_count; i++) {
        char worker[16];
        snprintf(worker, sizeof(worker), "%u", i);
        dp_telemetry_add(t, (double)es.processor_busy_ns[i] / NS_PER_S, "worker", worker, NULL);
    }
}

/* --- the upstream --------------------------------------------------------------------------- */

/* One family with a point per signal that has an upstream endpoint. */
typedef struct upstream_figure {
    const char *name;
    enum dp_telemetry_kind kind;
    const char *unit;
    const char *help;
    size_t offset; /* of a uint64_t in dp_upstream_stats */
    double scale;  /* value = field / scale */
} upstream_figure;

#define FIGURE(n, k, u, h, f, s)                                                                   \
    {                                                                                              \
        n, k, u, h, offsetof(dp_upstream_stats, f), s                                              \
    }

static const upstream_figure upstream_figures[] = {
    FIGURE("dagprof_exporter_queue_size", DP_TELEMETRY_GAUGE, "{item}",
           "Items (spans, data points, log records) queued or in flight to the upstream.",
           queue_items, 1),
    FIGURE("dagprof_exporter_queue_bytes", DP_TELEMETRY_GAUGE, "By",
           "Encoded bytes queued or in flight to the upstream.", queue_bytes, 1),
    FIGURE("dagprof_exporter_queue_oldest_age_seconds", DP_TELEMETRY_GAUGE, "s",
           "Age of the oldest request queued or in flight: how far delivery lags.",
           queue_oldest_age_ms, MS_PER_S),
    FIGURE("dagprof_exporter_queued_items", DP_TELEMETRY_COUNTER, "{item}",
           "Items taken into the upstream queue.", submitted_items, 1),
    FIGURE("dagprof_exporter_enqueue_failed_requests", DP_TELEMETRY_COUNTER, "{request}",
           "Requests not taken because the queue was full (the sender is pushed back).",
           refused_full, 1),
    FIGURE("dagprof_exporter_sent_items", DP_TELEMETRY_COUNTER, "{item}",
           "Items the upstream acknowledged.", exported_items, 1),
    FIGURE("dagprof_exporter_rejected_items", DP_TELEMETRY_COUNTER, "{item}",
           "Items the upstream rejected in a partial success.", rejected_items, 1),
    FIGURE("dagprof_exporter_failed_items", DP_TELEMETRY_COUNTER, "{item}",
           "Items given up: refused by the upstream (not retryable) or out of retries.",
           failed_items, 1),
    FIGURE("dagprof_exporter_dropped_items", DP_TELEMETRY_COUNTER, "{item}",
           "Items still undelivered when the shutdown timeout ran out.", dropped_at_shutdown, 1),
    FIGURE("dagprof_exporter_retries", DP_TELEMETRY_COUNTER, "{attempt}",
           "Export attempts that were followed by a retry.", retries, 1),
    FIGURE("dagprof_exporter_duplicate_items", DP_TELEMETRY_COUNTER, "{item}",
           "Items not sent because the same item of the run was sent once (the spans of a "
           "retried request).",
           duplicate_items, 1),
};

static void collect_upstream(const dp_self_telemetry_sources *src, dp_telemetry *t)
{
    dp_upstream_stats st[DP_SIGNAL_COUNT];
    bool on[DP_SIGNAL_COUNT];
    for (int s = 0; s < DP_SIGNAL_COUNT; s++) {
        on[s] = dp_upstream_enabled(src->upstream, (dp_upstream_signal)s);
        dp_upstream_get_stats(src->upstream, (dp_upstream_signal)s, &st[s]);
    }
    for (size_t i = 0; i < sizeof(upstream_figures) / sizeof(upstream_figures[0]); i++) {
        const upstream_figure *f = &upstream_figures[i];
        dp_telemetry_family_add(t, f->name, f->kind, f->unit, f->help);
        for (int s = 0; s < DP_SIGNAL_COUNT; s++) {
            uint64_t v;
            memcpy(&v, (const char *)&st[s] + f->offset, sizeof(v));
            if (on[s])
                dp_telemetry_add(t, (double)v / f->scale, "signal", signal_names[s], NULL);
        }
    }
}

/* --- the persistent queue ------------------------------------------------------------------ */

#define STORAGE_FIGURE(n, k, u, h, f)                                                              \
    {                                                                                              \
        n, k, u, h, offsetof(dp_storage_stats, f), 1                                               \
    }

/* the same shape as the upstream's: offset of a uint64_t in dp_storage_stats */
static const upstream_figure storage_figures[] = {
    STORAGE_FIGURE("dagprof_storage_segments", DP_TELEMETRY_GAUGE, "{file}",
                   "Segment files of the persistent queue on disk.", segments),
    STORAGE_FIGURE("dagprof_storage_bytes", DP_TELEMETRY_GAUGE, "By",
                   "Bytes of the persistent queue's segment files.", bytes),
    STORAGE_FIGURE("dagprof_storage_outstanding_items", DP_TELEMETRY_GAUGE, "{item}",
                   "Items on disk not yet reported or delivered: spans, and one per forwarded "
                   "metrics or logs request.",
                   outstanding),
    STORAGE_FIGURE("dagprof_storage_appended_records", DP_TELEMETRY_COUNTER, "{record}",
                   "Requests written to the persistent queue since the start.", records),
    STORAGE_FIGURE("dagprof_storage_refused_records", DP_TELEMETRY_COUNTER, "{record}",
                   "Requests refused because the queue reached storage.max_size or the disk was "
                   "full (answered UNAVAILABLE / 503).",
                   refused_full),
    STORAGE_FIGURE("dagprof_storage_syncs", DP_TELEMETRY_COUNTER, "{call}",
                   "fdatasync calls of the persistent queue.", syncs),
    STORAGE_FIGURE("dagprof_storage_replayed_records", DP_TELEMETRY_COUNTER, "{record}",
                   "Records read back from the queue at start and taken in again.",
                   replayed_records),
    STORAGE_FIGURE("dagprof_storage_corrupted_tails", DP_TELEMETRY_COUNTER, "{segment}",
                   "Segment ends found corrupted or truncated at start, skipped.", corrupted_tails),
    STORAGE_FIGURE("dagprof_storage_skipped_bytes", DP_TELEMETRY_COUNTER, "By",
                   "Bytes of the corrupted or truncated segment ends skipped at start.",
                   skipped_bytes),
};

static void collect_storage(const dp_self_telemetry_sources *src, dp_telemetry *t)
{
    dp_storage_stats st;
    dp_storage_get_stats(src->storage, &st);
    for (size_t i = 0; i < sizeof(storage_figures) / sizeof(storage_figures[0]); i++) {
        const upstream_figure *f = &storage_figures[i];
        uint64_t v;
        memcpy(&v, (const char *)&st + f->offset, sizeof(v));
        dp_telemetry_family_add(t, f->name, f->kind, f->unit, f->help);
        dp_telemetry_add(t, (double)v, NULL);
    }
}

/* --- the memory guard ------------------------------------------------------------------------- */

static void collect_memory(const dp_self_telemetry_sources *src, dp_telemetry *t)
{
    dp_memguard_stats ms;
    dp_memguard_get_stats(src->guard, &ms);
    gauge(t, "dagprof_process_memory_bytes", "By",
          "Resident memory at the memory guard's last reading (memory.check_interval).",
          (double)ms.memory_bytes);
    gauge(t, "dagprof_memory_limit_bytes", "By", "memory.limit: the hard limit.",
          (double)ms.limit_bytes);
    gauge(t, "dagprof_memory_soft_limit_bytes", "By",
          "memory.limit minus memory.spike_limit: over it requests are refused.",
          (double)ms.soft_limit_bytes);
    gauge(t, "dagprof_memory_state", "1",
          "0 under the soft limit, 1 over it, 2 over the hard limit.", (double)ms.state);
    gauge(t, "dagprof_memory_in_flight_bytes", "By",
          "Bytes of requests being decoded and stored now (at most memory.in_flight_limit).",
          (double)ms.in_flight_bytes);
    dp_telemetry_family_add(t, "dagprof_memory_refused_requests", DP_TELEMETRY_COUNTER, "{request}",
                            "Requests refused by the memory guard (gRPC UNAVAILABLE, HTTP 503), "
                            "by reason: over the soft or hard limit, or in-flight bytes.");
    dp_telemetry_add(t, (double)ms.refused_memory, "reason", "memory_limit", NULL);
    dp_telemetry_add(t, (double)ms.refused_in_flight, "reason", "in_flight_limit", NULL);
    counter(t, "dagprof_memory_limit_crossings", "{crossing}",
            "Times memory went over the soft limit (each logged once).", (double)ms.soft_crossings);
}

void dp_self_telemetry_collect(const dp_self_telemetry_sources *src, dp_telemetry *out)
{
    counter(out, "dagprof_process_uptime_seconds", "s", "Time since dagprof started.",
            (double)(dp_clock_monotonic_ms() - src->start_ms) / MS_PER_S);
    collect_receivers(src, out);
    collect_assembly(src, out);
    if (src->upstream)
        collect_upstream(src, out);
    if (src->storage)
        collect_storage(src, out);
    if (src->guard)
        collect_memory(src, out);
    if (src->extra)
        src->extra(src->extra_ctx, out);
}

/* --- the status line ------------------------------------------------------------------------ */

static double sum(const dp_telemetry *t, const char *name)
{
    return dp_telemetry_sum(t, name);
}

/* The largest point of a family (0 without points). */
static double largest(const dp_telemetry *t, const char *name)
{
    const dp_telemetry_family *f = dp_telemetry_find(t, name);
    double max = 0;
    for (const dp_telemetry_point *p = f ? f->first : NULL; p; p = p->next)
        max = p->value > max ? p->value : max;
    return max;
}

/* Bytes as people read them: 512 B, 3.5 KiB, 256.0 MiB, 1.2 GiB. */
static void human_bytes(double bytes, char *out, size_t outlen)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        snprintf(out, outlen, "%.0f B", bytes);
        return;
    }
    int u = 0;
    for (bytes /= 1024; bytes >= 1024 && u < 3; u++)
        bytes /= 1024;
    snprintf(out, outlen, "%.1f %s", bytes, units[u]);
}

void dp_self_telemetry_status_text(const dp_telemetry *t, char *out, size_t outlen)
{
    char buffered[32], limit[32];
    human_bytes(sum(t, "dagprof_assembly_buffered_bytes"), buffered, sizeof(buffered));
    human_bytes(sum(t, "dagprof_assembly_memory_limit_bytes"), limit, sizeof(limit));
    int n = snprintf(
        out, outlen,
        "spans received %.0f, accepted %.0f, refused %.0f, rejected %.0f; requests with errors "
        "%.0f; runs in progress %.0f, pending %.0f, reported %.0f (partial %.0f, whole again "
        "%.0f, late %.0f), failed %.0f; buffered %s of %s",
        sum(t, "dagprof_receiver_received_spans"), sum(t, "dagprof_receiver_accepted_spans"),
        sum(t, "dagprof_receiver_refused_spans"), sum(t, "dagprof_receiver_rejected_spans"),
        sum(t, "dagprof_receiver_rejected_requests"), sum(t, "dagprof_assembly_runs_in_progress"),
        sum(t, "dagprof_assembly_pending_runs"), sum(t, "dagprof_processor_reported_runs"),
        sum(t, "dagprof_processor_partial_runs"), sum(t, "dagprof_processor_rereported_runs"),
        sum(t, "dagprof_assembly_late_runs"), sum(t, "dagprof_processor_failed_runs"), buffered,
        limit);
    if (n < 0 || (size_t)n >= outlen || !dp_telemetry_find(t, "dagprof_exporter_queue_size"))
        return;
    snprintf(out + n, outlen - (size_t)n,
             "; upstream queue %.0f items (oldest %.1f s), sent %.0f, retries %.0f, failed %.0f",
             sum(t, "dagprof_exporter_queue_size"),
             largest(t, "dagprof_exporter_queue_oldest_age_seconds"),
             sum(t, "dagprof_exporter_sent_items"), sum(t, "dagprof_exporter_retries"),
             sum(t, "dagprof_exporter_failed_items") + sum(t, "dagprof_exporter_rejected_items") +
                 sum(t, "dagprof_exporter_dropped_items"));
}

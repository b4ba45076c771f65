/*
 * The daemon: the engine (engine.h) with the OTLP/gRPC receiver and the
 * OTLP/HTTP receiver as its inputs (each feeding a dp_ingest of its own:
 * one path, one set of counters per transport) and the report sink or the
 * upstream export pipeline as its output, with the health endpoint and the
 * self-telemetry (self_telemetry.h) beside them.
 * The calling thread waits for SIGINT/SIGTERM with sigwait(), so no work
 * happens in a signal handler; SIGHUP there reads the receivers'
 * certificates and token files again (server.tls, server.auth), which both
 * receivers share.
 */
#include "daemon.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cli.h"
#include "clock.h"
#include "conn_limit.h"
#include "engine.h"
#include "export_pipeline.h"
#include "grpc_log.h"
#include "health_endpoint.h"
#include "http_receiver.h"
#include "ingest.h"
#include "log.h"
#include "memguard.h"
#include "receiver.h"
#include "receiver_tls.h"
#include "render.h"
#include "history.h"
#include "html_sink.h"
#include "self_telemetry.h"
#include "service_identity.h"
#include "sink.h"
#include "storage.h"
#include "storage_input.h"
#include "trace_table.h"

/* What both receivers share of server.tls and server.auth; NULL when not configured. */
typedef struct receiver_security {
    dp_tls_server *tls;
    dp_auth *auth;
} receiver_security;

/* The OTLP/gRPC receiver as the engine's input. */
typedef struct grpc_input {
    const dp_config *cfg;
    dp_ingest *ingest; /* the gRPC transport's */
    const receiver_security *security;
    dp_receiver *receiver;
    size_t memory_quota;      /* the gRPC core's buffers: the memory guard's hard limit */
    unsigned max_connections; /* server.max_connections, the automatic value worked out */
} grpc_input;

/* The OTLP/HTTP receiver as the engine's input. */
typedef struct http_input {
    const dp_config *cfg;
    dp_ingest *ingest;
    const receiver_security *security;
    dp_http_receiver *receiver;
    unsigned max_connections; /* server.max_connections, the automatic value worked out */
} http_input;

/* "HOST:PORT" with the port actually bound (the configured one may be 0). */
static void bound_address(const char *listen, int port, char *out, size_t outlen)
{
    const char *colon = strrchr(listen, ':');
    int host_len = colon ? (int)(colon - listen) : (int)strlen(listen);
    snprintf(out, outlen, "%.*s:%d", host_len, listen, port);
}

static int grpc_input_start(void *ctx, dp_engine *engine, char *err, size_t errlen)
{
    grpc_input *in = ctx;
    const dp_config *cfg = in->cfg;
    dp_receiver_options rcv = cfg->server;
    rcv.ingest = in->ingest;
    rcv.tls_server = in->security->tls;
    rcv.authenticator = in->security->auth;
    rcv.memory_quota_bytes = in->memory_quota;
    rcv.max_connections = in->max_connections;
    return dp_receiver_start(&rcv, &in->receiver, err, errlen) == DP_RECEIVER_OK ? 0 : -1;
}

static void grpc_input_stop(void *ctx)
{
    grpc_input *in = ctx;
    dp_receiver_shutdown(in->receiver);
}

static void grpc_input_destroy(void *ctx)
{
    grpc_input *in = ctx;
    dp_receiver_destroy(in->receiver);
    in->receiver = NULL;
}

static const dp_input_plugin grpc_input_plugin = {
    "otlp-grpc",
    grpc_input_start,
    grpc_input_stop,
    grpc_input_destroy,
};

static int http_input_start(void *ctx, dp_engine *engine, char *err, size_t errlen)
{
    http_input *in = ctx;
    dp_http_receiver_options opt;
    memset(&opt, 0, sizeof(opt));
    opt.listen = in->cfg->server.http_listen;
    opt.threads = in->cfg->server.workers; /* 0: one per core */
    opt.max_recv_message_bytes = in->cfg->server.max_recv_message_bytes;
    opt.cors_allowed_origins = in->cfg->server.http_cors_allowed_origins;
    opt.cors_allowed_headers = in->cfg->server.http_cors_allowed_headers;
    opt.cors_max_age_s = in->cfg->server.http_cors_max_age_ms / 1000;
    /* whole seconds, rounded up: a configured timeout never ends earlier */
    opt.idle_timeout_s = (in->cfg->server.http_idle_timeout_ms + 999) / 1000;
    opt.recv_timeout_ms = in->cfg->server.recv_timeout_ms;
    opt.ingest = in->ingest;
    opt.tls = in->security->tls;
    opt.auth = in->security->auth;
    opt.max_connections = in->max_connections;
    return dp_http_receiver_start(&opt, &in->receiver, err, errlen) == DP_OK ? 0 : -1;
}

static void http_input_stop(void *ctx)
{
    http_input *in = ctx;
    dp_http_receiver_shutdown(in->receiver);
}

static void http_input_destroy(void *ctx)
{
    http_input *in = ctx;
    dp_http_receiver_destroy(in->receiver);
    in->receiver = NULL;
}

static const dp_input_plugin http_input_plugin = {
    "otlp-http",
    http_input_start,
    http_input_stop,
    http_input_destroy,
};

/*
 * Metrics and logs sent to dagprof when no upstream is set: they have
 * nowhere to go. They are answered OK (as a Collector's pipeline ending in
 * its nop exporter would; an error would only make SDKs retry them for
 * ever), counted, said once at warn (at the first one that holds a data
 * point or a record) and totalled at exit.
 */
typedef struct side_signals_dropped {
    atomic_ullong points, records;
    atomic_bool warned;
} side_signals_dropped;

static int drop_side_signal(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                            size_t items)
{
    side_signals_dropped *d = ctx;
    (void)data;
    (void)len;
    bool metrics = signal == DP_SIGNAL_METRICS;
    atomic_fetch_add(metrics ? &d->points : &d->records, items);
    if (items && !atomic_exchange(&d->warned, true))
        dp_log_warn("daemon",
                    "metrics and logs are forwarded only when an upstream is set "
                    "(upstream.endpoint); %zu %s dropped, answered OK (totals at exit)",
                    items, metrics ? "metric data point(s)" : "log record(s)");
    return 0;
}

static void log_totals(dp_engine *engine, dp_ingest *const ingest[DP_TRANSPORT_COUNT])
{
    dp_ingest_stats rs, one;
    dp_trace_table_stats ts;
    dp_engine_stats es;
    memset(&rs, 0, sizeof(rs));
    for (int i = 0; i < DP_TRANSPORT_COUNT; i++) {
        if (!ingest[i])
            continue;
        dp_ingest_get_stats(ingest[i], &one);
        rs.spans_received += one.spans_received;
        rs.spans_accepted += one.spans_accepted;
        rs.spans_rejected += one.spans_rejected;
        rs.spans_refused += one.spans_refused;
    }
    dp_trace_table_get_stats(dp_engine_table(engine), &ts);
    dp_engine_get_stats(engine, &es);
    dp_log_info("daemon",
                "totals: spans received %llu, accepted %llu, rejected %llu, refused %llu; "
                "runs reported %llu (late %llu), failed %llu; spans not decodable %llu, "
                "received more than once %llu",
                (unsigned long long)rs.spans_received, (unsigned long long)rs.spans_accepted,
                (unsigned long long)rs.spans_rejected, (unsigned long long)rs.spans_refused,
                (unsigned long long)es.runs_processed, (unsigned long long)ts.runs_late,
                (unsigned long long)es.runs_failed, (unsigned long long)es.spans_undecodable,
                (unsigned long long)es.spans_duplicate);
}

/*
 * Read the files of server.tls and server.auth. Returns 0, or -1 with the
 * reason logged (a configuration error: nothing has started).
 */
static int security_open(const dp_config *cfg, receiver_security *sec)
{
    char err[2600], summary[2600];
    if (dp_tls_options_enabled(&cfg->server.tls)) {
        if (dp_tls_server_create(&cfg->server.tls, &sec->tls, err, sizeof(err)) != DP_OK) {
            dp_log_error("daemon", "%s", err);
            return -1;
        }
        dp_tls_server_summary(sec->tls, summary, sizeof(summary));
        dp_log_info("daemon", "TLS on the receivers: %s", summary);
    }
    if (dp_auth_options_enabled(&cfg->server.auth)) {
        if (dp_auth_create(&cfg->server.auth, &sec->auth, err, sizeof(err)) != DP_OK) {
            dp_log_error("daemon", "%s", err);
            return -1;
        }
        dp_auth_summary(sec->auth, summary, sizeof(summary));
        dp_log_info("daemon", "requests must carry a token: %s", summary);
    }
    return 0;
}

/*
 * SIGHUP: read the certificates and token files again. What was reloaded
 * is said in one info line; a file that does not pass is logged as an error
 * and what was in use stays in use.
 */
static void security_reload(receiver_security *sec)
{
    char err[2600], tls_summary[2600] = "", auth_summary[300] = "";
    bool tls_ok = false, auth_ok = false;
    if (sec->tls) {
        tls_ok = dp_tls_server_reload(sec->tls, tls_summary, sizeof(tls_summary), err,
                                      sizeof(err)) == DP_OK;
        if (!tls_ok)
            dp_log_error("daemon", "SIGHUP: %s; the certificates in use are kept", err);
    }
    if (sec->auth) {
        auth_ok = dp_auth_reload(sec->auth, auth_summary, sizeof(auth_summary), err, sizeof(err)) ==
                  DP_OK;
        if (!auth_ok)
            dp_log_error("daemon", "SIGHUP: %s; the tokens in use are kept", err);
    }
    if (tls_ok || auth_ok)
        dp_log_info("daemon", "SIGHUP: reloaded %s%s%s%s%s", tls_ok ? "TLS: " : "", tls_summary,
                    tls_ok && auth_ok ? "; " : "", auth_ok ? "tokens: " : "", auth_summary);
    else if (!sec->tls && !sec->auth)
        dp_log_info("daemon", "SIGHUP: nothing to reload (no server.tls or server.auth files)");
}

/* dagprof's resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; -1 when out of memory. */
static int read_identity(dp_service_identity *id)
{
    char warn[200];
    if (dp_service_identity_init(id, getenv("OTEL_SERVICE_NAME"),
                                 getenv("OTEL_RESOURCE_ATTRIBUTES"), warn, sizeof(warn)) != 0) {
        dp_log_error("daemon", "out of memory reading OTEL_RESOURCE_ATTRIBUTES");
        return -1;
    }
    if (warn[0])
        dp_log_warn("daemon", "OTEL_RESOURCE_ATTRIBUTES ignored: %s", warn);
    dp_log_info("daemon", "service.name %s, service.instance.id %s",
                dp_service_identity_get(id, "service.name"),
                dp_service_identity_get(id, "service.instance.id"));
    return 0;
}

/* The memory guard over its hard limit: the oldest runs that hold half of
 * the table's buffered bytes are finalised (reported as partial, never
 * dropped), so their memory goes once they are reported. */
static void shed_runs(void *ctx)
{
    dp_trace_table *table = ctx;
    dp_trace_table_stats ts;
    dp_trace_table_get_stats(table, &ts);
    size_t runs = dp_trace_table_shed(table, ts.buffered_bytes / 2);
    if (runs)
        dp_log_debug("daemon", "memory over memory.limit: %zu oldest runs finalised", runs);
}

/* The ingest a transport's receiver hands requests to; NULL when out of memory. */
static dp_ingest *make_ingest(dp_engine *engine, dp_export_pipeline *exporter,
                              side_signals_dropped *dropped, dp_storage *storage,
                              dp_memguard *guard)
{
    dp_ingest_options io;
    memset(&io, 0, sizeof(io));
    io.table = dp_engine_table(engine);
    io.guard = guard;
    if (exporter) {
        io.forward_counted = dp_export_pipeline_forward;
        io.forward_ctx = exporter;
    } else {
        io.forward_counted = drop_side_signal;
        io.forward_ctx = dropped;
    }
    /* persistent queue: requests on disk before the answer */
    io.storage = storage;
    if (storage && exporter)
        io.forward_tracked = dp_export_pipeline_forward_tracked;
    return dp_ingest_create(&io);
}

/* A limit for the log: its number, or "unlimited". */
static const char *limit_text(uint64_t v, char *buf, size_t len)
{
    if (v == UINT64_MAX)
        return "unlimited";
    snprintf(buf, len, "%llu", (unsigned long long)v);
    return buf;
}

/*
 * The soft open-file limit raised to the hard limit (as the Go runtime does
 * for the Collector: connections, upstream export, storage files), then
 * server.max_connections for each receiver: as configured, or 0 for the
 * automatic value derived from the raised limit (conn_limit.h), a third of
 * it for the gRPC port with TLS. Returns the HTTP receiver's; the gRPC
 * receiver's in *grpc_limit.
 */
static unsigned connection_limit(const dp_config *cfg, unsigned *grpc_limit)
{
    uint64_t before, after;
    char a[24], b[24];
    if (dp_fd_limit_raise(&before, &after) != 0)
        dp_log_warn("daemon",
                    "cannot raise the open-file limit (%s) to the hard limit: %s; going on with "
                    "it",
                    limit_text(before, a, sizeof(a)), strerror(errno));
    else if (after != before)
        dp_log_info("daemon", "open-file limit raised from %s to %s (the hard limit)",
                    limit_text(before, a, sizeof(a)), limit_text(after, b, sizeof(b)));
    uint64_t soft = dp_fd_limit_soft();
    unsigned n = cfg->server.max_connections;
    bool automatic = n == 0;
    if (automatic)
        n = dp_max_connections_auto(soft);
    /* a TLS gRPC connection holds three descriptors: its socket and a pair to the core */
    *grpc_limit = n;
    if (automatic && cfg->server.tls.cert_file[0]) {
        *grpc_limit = n / 3 > DP_CONN_AUTO_MIN ? n / 3 : DP_CONN_AUTO_MIN;
        dp_log_info("daemon",
                    "server.max_connections: %u per receiver (automatic: (open-file limit %s - %u) "
                    "/ 2), a third of it on the TLS gRPC port (%u: three descriptors a connection)",
                    n, limit_text(soft, a, sizeof(a)), DP_CONN_RESERVED_FDS, *grpc_limit);
    } else if (automatic)
        dp_log_info("daemon",
                    "server.max_connections: %u per receiver (automatic: (open-file limit %s - %u) "
                    "/ 2)",
                    n, limit_text(soft, a, sizeof(a)), DP_CONN_RESERVED_FDS);
    else
        dp_log_info("daemon", "server.max_connections: %u per receiver (open-file limit %s)", n,
                    limit_text(soft, a, sizeof(a)));
    return n;
}

int dp_daemon_run(const dp_config *cfg)
{
    int rc = 1;
    dp_engine *engine = NULL;
    dp_export_pipeline *exporter = NULL; /* NULL without an upstream; owns its sink then */
    dp_sink *sink = NULL;
    dp_sink *pages = NULL;   /* output.html_dir: a page per run, besides the other output */
    dp_sink *history = NULL; /* history.path: every run recorded, off the run processors */
    dp_ingest *ingest[DP_TRANSPORT_COUNT] = {NULL, NULL}; /* what a receiver does with a request */
    receiver_security security = {NULL, NULL};            /* both receivers' TLS and tokens */
    grpc_input grpc = {cfg, NULL, &security, NULL, 0, 0};
    http_input http = {cfg, NULL, &security, NULL, 0};
    dp_health_endpoint *health = NULL; /* 503 until listening, and again while draining */
    side_signals_dropped dropped = {0, 0, false}; /* metrics and logs, without an upstream */
    dp_self_telemetry *telemetry = NULL; /* /metrics, the status line, self-metrics upstream */
    dp_storage *storage = NULL;          /* the persistent queue; NULL when storage.path is empty */
    dp_ingest *replay_ingest = NULL;     /* its replay's own ingest (own counters) */
    dp_memguard *guard = NULL;           /* refuses requests over the memory limits */
    dp_service_identity identity;
    memset(&identity, 0, sizeof(identity));

    /* every thread started below inherits this mask; only sigwait() sees the signals */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    uint64_t start_ms = dp_clock_monotonic_ms();
    http.max_connections = connection_limit(cfg, &grpc.max_connections);

    if (security_open(cfg, &security) != 0) {
        rc = DP_EXIT_USAGE; /* a bad file of the configuration */
        goto out;
    }

    if (cfg->health_listen[0]) {
        char err[300];
        if (dp_health_endpoint_start(cfg->health_listen, &health, err, sizeof(err)) != DP_OK) {
            dp_log_error("daemon", "%s (set health.listen, or --health-listen \"\" for none)", err);
            goto out;
        }
    }
    /* always: without an endpoint or a status line it still feeds the OTLP self-metrics */
    char telemetry_err[300];
    if (dp_self_telemetry_start(&cfg->telemetry, &telemetry, telemetry_err,
                                sizeof(telemetry_err)) != DP_OK) {
        dp_log_error("daemon", "%s (set telemetry.listen, or --telemetry-listen \"\" for none)",
                     telemetry_err);
        goto out;
    }
    if (cfg->storage.path[0]) {
        char err[1400];
        if (dp_storage_open(&cfg->storage, &storage, err, sizeof(err)) != 0) {
            dp_log_error("daemon", "%s", err);
            goto out;
        }
    }
    dp_engine_options eo = {.storage = storage};
    if (read_identity(&identity) != 0 || dp_engine_create(cfg, &eo, &engine) != 0)
        goto out;

    dp_render_options ro;
    memset(&ro, 0, sizeof(ro));
    ro.color = cfg->output.color == 1 || (cfg->output.color < 0 && isatty(STDOUT_FILENO));
    ro.waterfall_width = cfg->output.waterfall_width;
    dp_sink *reports = NULL;
    if (cfg->output.reports != DP_REPORTS_NEVER) {
        reports = dp_report_sink_create(stdout, cfg->output.format == DP_FORMAT_JSON, &ro);
        if (!reports) {
            dp_log_error("daemon", "out of memory creating the report sink");
            goto out;
        }
    }
    /* with an upstream, runs go there; reports only when asked for */
    if (dp_export_pipeline_create(cfg, &identity,
                                  cfg->output.reports == DP_REPORTS_ALWAYS ? reports : NULL,
                                  &exporter) != 0) {
        if (cfg->output.reports != DP_REPORTS_ALWAYS)
            dp_sink_destroy(reports);
        goto out;
    }
    if (exporter && cfg->output.reports != DP_REPORTS_ALWAYS)
        dp_sink_destroy(reports);
    sink = exporter ? dp_export_pipeline_sink(exporter) : reports;
    if (!sink)
        sink = dp_discard_sink_create();
    if (!sink) {
        dp_log_error("daemon", "out of memory creating the sink");
        goto out;
    }

    dp_memguard_hooks hooks = {.shed = shed_runs, .shed_ctx = dp_engine_table(engine)};
    guard = dp_memguard_create(&cfg->memory, &hooks);
    if (!guard || dp_memguard_start(guard) != 0) {
        dp_log_error("daemon", "cannot start the memory guard");
        goto out;
    }
    {
        dp_memguard_stats ms;
        dp_memguard_get_stats(guard, &ms);
        grpc.memory_quota = ms.limit_bytes;
        dp_log_info("daemon",
                    "memory limit %zu MiB (refusing requests from %zu MiB), %zu MiB of requests "
                    "in flight at most",
                    ms.limit_bytes >> 20, ms.soft_limit_bytes >> 20,
                    ms.in_flight_limit_bytes >> 20);
    }
    grpc.ingest = ingest[DP_TRANSPORT_GRPC] =
        make_ingest(engine, exporter, &dropped, storage, guard);
    if (cfg->server.http_listen[0])
        http.ingest = ingest[DP_TRANSPORT_HTTP] =
            make_ingest(engine, exporter, &dropped, storage, guard);
    if (!grpc.ingest || (cfg->server.http_listen[0] && !http.ingest)) {
        dp_log_error("daemon", "out of memory creating the receivers");
        goto out;
    }
    /* persistent queue: replayed by the first input, before the receivers
     * listen, through an ingest of its own */
    if (storage) {
        void *replay = NULL;
        replay_ingest = make_ingest(engine, exporter, &dropped, storage, NULL);
        if (replay_ingest)
            replay =
                dp_storage_input_create(storage, replay_ingest, cfg->server.max_recv_message_bytes);
        if (!replay || dp_engine_add_input(engine, &dp_storage_input_plugin, replay) != 0) {
            dp_storage_input_plugin.destroy(replay);
            dp_log_error("daemon", "out of memory creating the storage replay");
            goto out;
        }
    }
    if (cfg->output.html_dir[0]) {
        char err[4200];
        pages = dp_html_sink_create(cfg->output.html_dir, cfg->output.html_max_files, false, err,
                                    sizeof(err));
        if (!pages) {
            dp_log_error("daemon", "%s (output.html_dir)", err);
            goto out;
        }
    }
    if (cfg->history.path[0]) {
        history = dp_history_sink_create(&cfg->history, NULL);
        if (!history) {
            dp_log_error("daemon", "cannot start the run history (history.path)");
            goto out;
        }
        dp_log_info("daemon", "recording runs in %s", cfg->history.path);
    }
    if (dp_engine_add_output(engine, sink) != 0 ||
        (pages && dp_engine_add_output(engine, pages) != 0) ||
        (history && dp_engine_add_output(engine, history) != 0) ||
        dp_engine_add_input(engine, &grpc_input_plugin, &grpc) != 0 ||
        (cfg->server.http_listen[0] &&
         dp_engine_add_input(engine, &http_input_plugin, &http) != 0) ||
        dp_engine_start(engine) != 0)
        goto out;
    char addr[300], http_addr[340] = "";
    bound_address(cfg->server.listen, dp_receiver_port(grpc.receiver), addr, sizeof(addr));
    if (http.receiver) {
        char bound[300];
        bound_address(cfg->server.http_listen, dp_http_receiver_port(http.receiver), bound,
                      sizeof(bound));
        snprintf(http_addr, sizeof(http_addr), " and %s (OTLP/HTTP)", bound);
    }
    {
        dp_self_telemetry_sources src;
        memset(&src, 0, sizeof(src));
        src.engine = engine;
        src.memory_limit_bytes = cfg->assembly.memory_limit_bytes;
        src.guard = guard;
        src.ingest[DP_TRANSPORT_GRPC] = grpc.ingest;
        src.ingest[DP_TRANSPORT_HTTP] = http.receiver ? http.ingest : NULL;
        src.grpc = grpc.receiver;
        src.http = http.receiver;
        src.upstream = exporter ? dp_export_pipeline_upstream(exporter) : NULL;
        src.storage = storage;
        src.identity = &identity;
        src.start_ms = start_ms;
        if (history) {
            src.extra = dp_history_sink_gather;
            src.extra_ctx = history;
        }
        dp_self_telemetry_attach(telemetry, &src);
    }
    if (exporter &&
        dp_export_pipeline_start_metrics(exporter, dp_self_telemetry_gather, telemetry) != 0)
        goto out;
    char health_addr[340] = "", metrics_addr[340] = "";
    if (health) {
        char bound[300];
        bound_address(cfg->health_listen, dp_health_endpoint_port(health), bound, sizeof(bound));
        snprintf(health_addr, sizeof(health_addr), "; health on http://%s/health", bound);
    }
    if (cfg->telemetry.listen[0]) {
        char bound[300];
        bound_address(cfg->telemetry.listen, dp_self_telemetry_port(telemetry), bound,
                      sizeof(bound));
        snprintf(metrics_addr, sizeof(metrics_addr), "; metrics on http://%s/metrics", bound);
    }
    dp_log_info("daemon", "dagprof listening on %s (OTLP/gRPC)%s%s%s", addr, http_addr, health_addr,
                metrics_addr);
    dp_health_endpoint_set(health, DP_HEALTH_READY);

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            security_reload(&security);
            continue;
        }
        if (sig == SIGINT || sig == SIGTERM) {
            dp_log_info("daemon", "%s: stopping; finishing calls in flight and pending runs",
                        sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
    }
    rc = 0;
out:
    dp_health_endpoint_set(health, DP_HEALTH_DRAINING);
    /* runs still to process may wait for upstream room only so long */
    dp_export_pipeline_begin_shutdown(exporter);
    /* inputs stop, every buffered run is reported, outputs are flushed */
    dp_engine_stop(engine);
    if (engine && sink)
        log_totals(engine, ingest);
    if (atomic_load(&dropped.points) || atomic_load(&dropped.records))
        dp_log_warn("daemon",
                    "metrics and logs not forwarded (no upstream): %llu metric data point(s), "
                    "%llu log record(s) dropped",
                    (unsigned long long)atomic_load(&dropped.points),
                    (unsigned long long)atomic_load(&dropped.records));
    /* final metrics, then deliver what is queued within the shutdown timeout;
     * what is left is counted and logged, and the exit is still clean */
    dp_export_pipeline_finish(exporter);
    /* it reads the receivers, the engine and the upstream: before they go */
    dp_self_telemetry_destroy(telemetry);
    dp_memguard_destroy(guard); /* its thread sheds runs of the engine's table: before it goes */
    dp_engine_destroy(engine);
    for (int i = 0; i < DP_TRANSPORT_COUNT; i++)
        dp_ingest_destroy(ingest[i]); /* after the receivers that used them */
    dp_ingest_destroy(replay_ingest);
    dp_tls_server_destroy(security.tls);
    dp_auth_destroy(security.auth);
    dp_health_endpoint_destroy(health);
    dp_service_identity_free(&identity);
    if (exporter)
        dp_export_pipeline_destroy(exporter);
    else
        dp_sink_destroy(sink);
    dp_sink_destroy(pages);
    dp_sink_destroy(history); /* after the telemetry that reads it */
    /* last: the upstream has told every tracked request how it ended; what
     * was not done stays on disk for the next start */
    dp_storage_close(storage);
    return rc;
}

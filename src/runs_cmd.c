/*
 * `dagprof runs [--history PATH] [--config FILE] [--dag ID] [--since 24h]
 * [--limit N] [--format text|json]`: the recent runs of the run history,
 * newest first, one line each (runs_cmd.h). Also the helpers the history
 * commands share.
 */
#include "runs_cmd.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "json_write.h"

int dp_history_cli_duration(const char *s, uint64_t *out_ms)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ms", 1},        {"s", 1000},       {"m", 60000},
                 {"h", 3600000.0}, {"d", 86400000.0}, {"w", 7 * 86400000.0}};
    char *end;
    if (!s || !(*s >= '0' && *s <= '9'))
        return -1;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double ms = v * units[i].ms;
            if (ms > 1e15)
                return -1;
            *out_ms = (uint64_t)llround(ms);
            return 0;
        }
    }
    return -1;
}

uint64_t dp_history_cli_since_ns(uint64_t now_ns, uint64_t ms)
{
    return ms < now_ns / 1000000u ? now_ns - ms * 1000000u : 0;
}

void dp_history_cli_time(uint64_t ns, char *out, size_t outlen)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    char when[32] = "1970-01-01 00:00:00";
    if (gmtime_r(&secs, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03uZ", when, (unsigned)(ns / 1000000u % 1000u));
}

int dp_history_cli_open(const char *cmd, const char *path, const char *config, dp_history **h,
                        FILE *errout)
{
    char where[1024], err[2048];
    dp_config *cfg = NULL;
    int result = -1;
    if (!path && config) {
        cfg = calloc(1, sizeof(*cfg));
        if (!cfg) {
            fprintf(errout, "dagprof %s: out of memory\n", cmd);
            return -1;
        }
        dp_config_defaults(cfg);
        if (dp_config_load_file(cfg, config, err, sizeof(err)) < 0) {
            fprintf(errout, "dagprof %s: %s\n", cmd, err);
            goto out;
        }
        if (cfg->history.path[0]) {
            snprintf(where, sizeof(where), "%s", cfg->history.path);
            path = where;
        }
    }
    if (!path) {
        if (dp_history_default_path(where, sizeof(where)) < 0) {
            fprintf(errout,
                    "dagprof %s: no history given (--history PATH) and neither XDG_STATE_HOME "
                    "nor HOME is set\n",
                    cmd);
            goto out;
        }
        path = where;
    }
    if (dp_history_open(path, DP_HISTORY_READ, h, err, sizeof(err)) < 0) {
        fprintf(errout, "dagprof %s: %s\n", cmd, err);
        goto out;
    }
    result = 0;
out:
    if (cfg)
        dp_config_release(cfg);
    free(cfg);
    return result;
}

int dp_history_cli_usage(const dp_history_cli_spec *spec, FILE *errout, const char *fmt,
                         const char *arg)
{
    fprintf(errout, "dagprof %s: ", spec->cmd);
    fprintf(errout, fmt, arg);
    fprintf(errout, "\n%s\n", spec->usage);
    return DP_EXIT_USAGE;
}

int dp_history_cli_option(const dp_history_cli_spec *spec, int argc, char **argv, int *i,
                          char name[32], const char **value, FILE *out, FILE *errout)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        fprintf(out, "%s\n%s\n", spec->usage, spec->about);
        return 1;
    }
    const char *eq = strchr(arg, '=');
    size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (arg[0] != '-' || name_len >= 32)
        return dp_history_cli_usage(spec, errout, "unexpected argument '%s'", arg);
    memcpy(name, arg, name_len);
    name[name_len] = '\0';
    bool known = false;
    for (size_t k = 0; k < spec->option_count; k++)
        known |= strcmp(name, spec->options[k]) == 0;
    if (!known)
        return dp_history_cli_usage(spec, errout, "unknown option '%s'", name);
    *value = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!*value)
        return dp_history_cli_usage(spec, errout, "option '%s' needs a value", name);
    return 0;
}

int dp_history_cli_count(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9')
        return -1;
    unsigned long long n = strtoull(s, &end, 10);
    if (*end || n == 0 || n > max)
        return -1;
    *out = n;
    return 0;
}

/* The options of `dagprof runs`. */
typedef struct runs_args {
    const char *history, *config, *dag;
    uint64_t since_ms;
    size_t limit;
    bool json;
} runs_args;

static const char *const runs_options[] = {"--history", "--config", "--dag",
                                           "--since",   "--limit",  "--format"};
static const dp_history_cli_spec runs_spec = {
    "runs",
    "Usage: dagprof runs [--history PATH] [--config FILE] [--dag ID] [--since DURATION] "
    "[--limit N] [--format text|json]",
    "The recent runs of the run history, newest first (docs/reports.md).",
    runs_options,
    sizeof(runs_options) / sizeof(runs_options[0]),
};

/* 0, 1 after --help, or DP_EXIT_USAGE. */
static int parse_args(int argc, char **argv, runs_args *a, FILE *out, FILE *errout)
{
    memset(a, 0, sizeof(*a));
    a->limit = 20;
    for (int i = 1; i < argc; i++) {
        char name[32];
        const char *value;
        int rc = dp_history_cli_option(&runs_spec, argc, argv, &i, name, &value, out, errout);
        if (rc != 0)
            return rc;
        unsigned long long n;
        if (strcmp(name, "--history") == 0) {
            a->history = value;
        } else if (strcmp(name, "--config") == 0) {
            a->config = value;
        } else if (strcmp(name, "--dag") == 0) {
            a->dag = value;
        } else if (strcmp(name, "--since") == 0) {
            if (dp_history_cli_duration(value, &a->since_ms) < 0 || a->since_ms == 0)
                return dp_history_cli_usage(
                    &runs_spec, errout, "--since needs a duration such as 30m, 24h or 7d, got '%s'",
                    value);
        } else if (strcmp(name, "--limit") == 0) {
            if (dp_history_cli_count(value, 10000000, &n) < 0)
                return dp_history_cli_usage(&runs_spec, errout,
                                            "--limit needs a number from 1 to 10000000, got '%s'",
                                            value);
            a->limit = (size_t)n;
        } else if (strcmp(value, "json") == 0 || strcmp(value, "text") == 0) {
            a->json = strcmp(value, "json") == 0; /* --format */
        } else {
            return dp_history_cli_usage(&runs_spec, errout, "--format is text or json, got '%s'",
                                        value);
        }
    }
    return 0;
}

static void run_json(dp_buf *b, const dp_history_run *r)
{
    char when[40];
    dp_json_writer w;
    dp_json_writer_init(&w, b);
    dp_json_writer_object_begin(&w);
    dp_history_cli_time(r->start_ns, when, sizeof(when));
    dp_json_writer_key(&w, "start");
    dp_json_writer_cstring(&w, when);
    dp_json_writer_key(&w, "start_unix_nano");
    dp_json_writer_uint(&w, r->start_ns);
    dp_json_writer_key(&w, "trace_id");
    dp_json_writer_cstring(&w, r->trace_id);
    dp_json_writer_key(&w, "dag_id");
    dp_json_writer_cstring(&w, r->dag_id);
    dp_json_writer_key(&w, "service");
    if (r->service)
        dp_json_writer_cstring(&w, r->service);
    else
        dp_json_writer_null(&w);
    dp_json_writer_key(&w, "wall_ms");
    dp_json_writer_double(&w, r->wall_ms, 3);
    dp_json_writer_key(&w, "critical_path_ms");
    dp_json_writer_double(&w, r->critical_path_ms, 3);
    dp_json_writer_key(&w, "parallelism");
    dp_json_writer_double(&w, r->parallelism, 3);
    dp_json_writer_key(&w, "tokens");
    dp_json_writer_object_begin(&w);
    dp_json_writer_key(&w, "input");
    dp_json_writer_uint(&w, r->input_tokens);
    dp_json_writer_key(&w, "output");
    dp_json_writer_uint(&w, r->output_tokens);
    dp_json_writer_key(&w, "cache_read");
    dp_json_writer_uint(&w, r->cache_read_tokens);
    dp_json_writer_key(&w, "cache_write");
    dp_json_writer_uint(&w, r->cache_write_tokens);
    dp_json_writer_object_end(&w);
    dp_json_writer_key(&w, "cost_usd");
    dp_json_writer_double(&w, r->cost_usd, 6);
    dp_json_writer_key(&w, "cost_complete");
    dp_json_writer_bool(&w, r->cost_complete);
    dp_json_writer_key(&w, "nodes");
    dp_json_writer_uint(&w, r->node_count);
    dp_json_writer_key(&w, "partial");
    dp_json_writer_bool(&w, r->partial);
    dp_json_writer_key(&w, "late");
    dp_json_writer_bool(&w, r->late);
    dp_json_writer_object_end(&w);
    if (dp_json_writer_finish(&w) == 0)
        dp_buf_puts(b, "\n");
}

static int width_of(const dp_history_run *runs, size_t n, bool service, int least)
{
    int w = least;
    for (size_t i = 0; i < n; i++) {
        const char *s = service ? (runs[i].service ? runs[i].service : "-") : runs[i].dag_id;
        int len = (int)strlen(s);
        w = len > w ? len : w;
    }
    return w > 40 ? 40 : w;
}

static void runs_text(dp_buf *b, const dp_history_run *runs, size_t n)
{
    int dag_w = width_of(runs, n, false, 3), svc_w = width_of(runs, n, true, 7);
    dp_buf_printf(b, "%-24s  %-32s  %-*s  %-*s  %11s  %11s  %10s  %12s  %5s\n", "START (UTC)",
                  "TRACE ID", dag_w, "DAG", svc_w, "SERVICE", "WALL", "CRIT PATH", "TOKENS", "COST",
                  "NODES");
    for (size_t i = 0; i < n; i++) {
        const dp_history_run *r = &runs[i];
        char when[40], wall[24], path[24], cost[24];
        dp_history_cli_time(r->start_ns, when, sizeof(when));
        snprintf(wall, sizeof(wall), "%.1f ms", r->wall_ms);
        snprintf(path, sizeof(path), "%.1f ms", r->critical_path_ms);
        /* an incomplete cost is a lower bound */
        snprintf(cost, sizeof(cost), "%s$%.6f", r->cost_complete ? "" : ">=", r->cost_usd);
        dp_buf_printf(b, "%-24s  %-32s  %-*.*s  %-*.*s  %11s  %11s  %10llu  %12s  %5u%s%s\n", when,
                      r->trace_id, dag_w, dag_w, r->dag_id, svc_w, svc_w,
                      r->service ? r->service : "-", wall, path,
                      (unsigned long long)(r->input_tokens + r->output_tokens), cost, r->node_count,
                      r->partial ? "  partial" : "", r->late ? "  late" : "");
    }
}

int dp_runs_main(int argc, char **argv, FILE *out, FILE *errout)
{
    runs_args a;
    int status = parse_args(argc, argv, &a, out, errout);
    if (status != 0)
        return status == 1 ? 0 : status;
    dp_history *h = NULL;
    if (dp_history_cli_open("runs", a.history, a.config, &h, errout) < 0)
        return 1;
    dp_history_filter f;
    memset(&f, 0, sizeof(f));
    f.dag_id = a.dag;
    f.limit = a.limit;
    uint64_t now = dp_clock_realtime_ns();
    if (a.since_ms)
        f.since_ns = dp_history_cli_since_ns(now, a.since_ms);
    dp_history_run *runs = NULL;
    size_t n = 0;
    char err[1024];
    dp_buf b;
    dp_buf_init(&b, (size_t)1 << 30);
    status = 1;
    if (dp_history_list_runs(h, &f, &runs, &n, err, sizeof(err)) < 0) {
        fprintf(errout, "dagprof runs: %s\n", err);
        goto out;
    }
    if (a.json) {
        for (size_t i = 0; i < n; i++)
            run_json(&b, &runs[i]);
    } else if (n == 0) {
        fprintf(errout, "dagprof runs: no runs%s%s%s\n", a.dag ? " of DAG " : "",
                a.dag ? a.dag : "", a.since_ms ? " in that time" : "");
    } else {
        runs_text(&b, runs, n);
    }
    if (fwrite(b.data, 1, b.len, out) != b.len || fflush(out) != 0) {
        fprintf(errout, "dagprof runs: cannot write the output\n");
        goto out;
    }
    status = 0;
out:
    dp_buf_free(&b);
    dp_history_runs_free(runs, n);
    dp_history_close(h);
    return status;
}

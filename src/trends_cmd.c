/*
 * `dagprof trends --dag ID [--history PATH] [--config FILE] [--since 24h]
 * [--window N | --previous DURATION] [--threshold 20%] [--format text|json]`:
 * how one DAG's runs behaved over a window of the run history, node by node,
 * what they cost at scale, and which nodes got slower or dearer than in the
 * window before. Only whole runs count (partial and late reports are left
 * out). Every figure is defined in docs/metrics.md ("Trends").
 *
 * Windows: by time, the runs that started in the last --since (default 24h)
 * against the --previous (default: as long) before them; by count
 * (--window N), the N most recent runs against the N before them.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "json_write.h"
#include "runs_cmd.h"
#include "stats.h"

#define MONTH_S (30.0 * 86400.0)

/* One node's figures over one window. */
typedef struct node_stat {
    const char *id; /* borrowed from the node rows */
    double *duration, *wait;
    size_t count, cap;
    double tokens_sum, cost_sum;
    bool cost_unknown;
    size_t critical, bottleneck;
} node_stat;

/* One window: its runs and their nodes. */
typedef struct window {
    const dp_history_run *runs; /* oldest first */
    size_t run_count;
    node_stat *nodes; /* in order of first appearance */
    size_t node_count, node_cap;
    double cost_sum;
    bool cost_incomplete;
} window;

typedef struct trends_args {
    const char *history, *config, *dag;
    const char *since_text, *previous_text; /* as given, for the header */
    uint64_t since_ms, previous_ms;
    size_t window_runs; /* 0 = by time */
    double threshold_pct;
    bool json, since_given;
} trends_args;

static const char *const trends_options[] = {"--history",  "--config", "--dag",       "--since",
                                             "--previous", "--window", "--threshold", "--format"};
static const dp_history_cli_spec trends_spec = {
    "trends",
    "Usage: dagprof trends --dag ID [--history PATH] [--config FILE] [--since DURATION] "
    "[--window N | --previous DURATION] [--threshold PCT] [--format text|json]",
    "Per-node figures of one DAG's runs over time and regressions (docs/reports.md, "
    "docs/metrics.md).",
    trends_options,
    sizeof(trends_options) / sizeof(trends_options[0]),
};

/* One option's value into a. 0 or DP_EXIT_USAGE. */
static int take_option(trends_args *a, const char *name, const char *value, FILE *errout)
{
    unsigned long long n;
    uint64_t ms;
    if (strcmp(name, "--history") == 0) {
        a->history = value;
    } else if (strcmp(name, "--config") == 0) {
        a->config = value;
    } else if (strcmp(name, "--dag") == 0) {
        a->dag = value;
    } else if (strcmp(name, "--since") == 0 || strcmp(name, "--previous") == 0) {
        if (dp_history_cli_duration(value, &ms) < 0 || ms == 0)
            return dp_history_cli_usage(&trends_spec, errout,
                                        "a duration such as 30m, 24h or 7d is needed, got '%s'",
                                        value);
        if (strcmp(name, "--since") == 0)
            a->since_ms = ms, a->since_text = value, a->since_given = true;
        else
            a->previous_ms = ms, a->previous_text = value;
    } else if (strcmp(name, "--window") == 0) {
        if (dp_history_cli_count(value, 1000000, &n) < 0)
            return dp_history_cli_usage(&trends_spec, errout,
                                        "--window needs a number of runs from 1 to 1000000, "
                                        "got '%s'",
                                        value);
        a->window_runs = (size_t)n;
    } else if (strcmp(name, "--threshold") == 0) {
        char *end;
        double t = strtod(value, &end);
        if (end == value || (*end && strcmp(end, "%") != 0) || !(t >= 0) || t > 1e6)
            return dp_history_cli_usage(&trends_spec, errout,
                                        "--threshold needs a percentage such as 20%%, got '%s'",
                                        value);
        a->threshold_pct = t;
    } else if (strcmp(value, "json") == 0 || strcmp(value, "text") == 0) {
        a->json = strcmp(value, "json") == 0; /* --format */
    } else {
        return dp_history_cli_usage(&trends_spec, errout, "--format is text or json, got '%s'",
                                    value);
    }
    return 0;
}

/* 0, 1 after --help, or DP_EXIT_USAGE. */
static int parse_args(int argc, char **argv, trends_args *a, FILE *out, FILE *errout)
{
    memset(a, 0, sizeof(*a));
    a->since_ms = 24 * 3600000ull;
    a->since_text = "24h";
    a->threshold_pct = 20;
    for (int i = 1; i < argc; i++) {
        char name[32];
        const char *value;
        int rc = dp_history_cli_option(&trends_spec, argc, argv, &i, name, &value, out, errout);
        if (rc == 0)
            rc = take_option(a, name, value, errout);
        if (rc != 0)
            return rc;
    }
    if (!a->dag)
        return dp_history_cli_usage(&trends_spec, errout, "%s", "--dag ID is required");
    if (a->window_runs && a->previous_ms)
        return dp_history_cli_usage(&trends_spec, errout, "%s",
                                    "--window and --previous exclude each other");
    if (!a->previous_ms)
        a->previous_ms = a->since_ms, a->previous_text = a->since_text;
    return 0;
}

/* --- figures -------------------------------------------------------------------------------- */

static node_stat *node_of(window *w, const char *id)
{
    for (size_t i = 0; i < w->node_count; i++)
        if (strcmp(w->nodes[i].id, id) == 0)
            return &w->nodes[i];
    if (w->node_count == w->node_cap) {
        size_t cap = w->node_cap ? w->node_cap * 2 : 16;
        node_stat *grown = realloc(w->nodes, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        w->nodes = grown;
        w->node_cap = cap;
    }
    node_stat *s = &w->nodes[w->node_count++];
    memset(s, 0, sizeof(*s));
    s->id = id;
    return s;
}

static int node_add(window *w, const dp_history_node *n)
{
    node_stat *s = node_of(w, n->node_id);
    if (!s)
        return -1;
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        double *d = realloc(s->duration, cap * sizeof(*d));
        if (d)
            s->duration = d;
        double *x = realloc(s->wait, cap * sizeof(*x));
        if (x)
            s->wait = x;
        if (!d || !x)
            return -1;
        s->cap = cap;
    }
    s->duration[s->count] = n->duration_ms;
    s->wait[s->count] = n->wait_ms;
    s->count++;
    s->tokens_sum += (double)(n->input_tokens + n->output_tokens);
    s->cost_sum += n->cost_usd;
    s->cost_unknown |= !n->cost_known;
    s->critical += n->on_critical_path;
    s->bottleneck += n->bottlenecks > 0;
    return 0;
}

static void window_free(window *w)
{
    for (size_t i = 0; i < w->node_count; i++) {
        free(w->nodes[i].duration);
        free(w->nodes[i].wait);
    }
    free(w->nodes);
}

/* Whether the run (start, row id) is one of the window's, whose runs are ordered by start,
 * then row id (as the listing returns them, reversed): a binary search, so that sorting the
 * nodes of R runs costs O(nodes log R), not O(nodes x R). */
static bool run_in(const window *w, uint64_t start_ns, int64_t row_id)
{
    size_t lo = 0, hi = w->run_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const dp_history_run *r = &w->runs[mid];
        if (r->start_ns == start_ns && r->row_id == row_id)
            return true;
        if (r->start_ns < start_ns || (r->start_ns == start_ns && r->row_id < row_id))
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Sort the nodes' runs into the windows. 0 or -1 (out of memory). */
static int fill_windows(window *cur, window *prev, const dp_history_node *nodes, size_t n)
{
    for (size_t i = 0; i < cur->run_count; i++) {
        cur->cost_sum += cur->runs[i].cost_usd;
        cur->cost_incomplete |= !cur->runs[i].cost_complete;
    }
    for (size_t i = 0; i < prev->run_count; i++) {
        prev->cost_sum += prev->runs[i].cost_usd;
        prev->cost_incomplete |= !prev->runs[i].cost_complete;
    }
    for (size_t i = 0; i < n; i++) {
        const dp_history_node *x = &nodes[i];
        window *w = run_in(cur, x->run_start_ns, x->run_row_id)    ? cur
                    : run_in(prev, x->run_start_ns, x->run_row_id) ? prev
                                                                   : NULL;
        if (w && node_add(w, &nodes[i]) < 0)
            return -1;
    }
    return 0;
}

static const node_stat *find_node(const window *w, const char *id)
{
    for (size_t i = 0; i < w->node_count; i++)
        if (strcmp(w->nodes[i].id, id) == 0)
            return &w->nodes[i];
    return NULL;
}

/* The summary of a window's runs. */
typedef struct run_totals {
    double p50_wall, p95_wall, cost_per_run;
    double rate_per_s; /* < 0: under 2 runs or no time between first and last */
} run_totals;

static int totals_of(const window *w, run_totals *t)
{
    memset(t, 0, sizeof(*t));
    t->rate_per_s = -1;
    if (w->run_count == 0)
        return 0;
    double *walls = malloc(w->run_count * sizeof(*walls));
    if (!walls)
        return -1;
    for (size_t i = 0; i < w->run_count; i++)
        walls[i] = w->runs[i].wall_ms;
    t->p50_wall = dp_percentile_nearest_rank(walls, w->run_count, 50);
    t->p95_wall = dp_percentile_nearest_rank(walls, w->run_count, 95);
    free(walls);
    t->cost_per_run = w->cost_sum / (double)w->run_count;
    uint64_t first = w->runs[0].start_ns, last = w->runs[w->run_count - 1].start_ns;
    if (w->run_count >= 2 && last > first)
        t->rate_per_s = (double)(w->run_count - 1) / ((double)(last - first) / 1e9);
    return 0;
}

/* A change in percent, or NAN when there is nothing to compare against. */
static double change_pct(double before, double after)
{
    return before > 0 ? (after - before) / before * 100.0 : NAN;
}

/* --- output --------------------------------------------------------------------------------- */

typedef struct node_figures {
    double p50_duration, p95_duration, p50_wait, p95_wait, mean_tokens, cost_per_run;
    double critical_pct, bottleneck_pct;
    bool has_previous;
    double prev_p50_duration, prev_cost_per_run, duration_change, cost_change;
    bool duration_regressed, cost_regressed;
} node_figures;

static void figures_of(const node_stat *s, const window *cur, const node_stat *p,
                       const window *prev, double threshold, node_figures *f)
{
    memset(f, 0, sizeof(*f));
    f->p50_duration = dp_percentile_nearest_rank(s->duration, s->count, 50);
    f->p95_duration = dp_percentile_nearest_rank(s->duration, s->count, 95);
    f->p50_wait = dp_percentile_nearest_rank(s->wait, s->count, 50);
    f->p95_wait = dp_percentile_nearest_rank(s->wait, s->count, 95);
    f->mean_tokens = s->tokens_sum / (double)s->count;
    f->cost_per_run = s->cost_sum / (double)cur->run_count;
    f->critical_pct = 100.0 * (double)s->critical / (double)s->count;
    f->bottleneck_pct = 100.0 * (double)s->bottleneck / (double)s->count;
    if (p && p->count) {
        f->has_previous = true;
        f->prev_p50_duration = dp_percentile_nearest_rank(p->duration, p->count, 50);
        f->prev_cost_per_run = p->cost_sum / (double)prev->run_count;
        f->duration_change = change_pct(f->prev_p50_duration, f->p50_duration);
        f->cost_change = change_pct(f->prev_cost_per_run, f->cost_per_run);
        f->duration_regressed = !isnan(f->duration_change) && f->duration_change > threshold;
        f->cost_regressed = !isnan(f->cost_change) && f->cost_change > threshold;
    }
}

static void text_header(dp_buf *b, const trends_args *a, const window *cur, const window *prev,
                        const run_totals *t, const run_totals *pt)
{
    char from[40] = "-", to[40] = "-";
    if (cur->run_count) {
        dp_history_cli_time(cur->runs[0].start_ns, from, sizeof(from));
        dp_history_cli_time(cur->runs[cur->run_count - 1].start_ns, to, sizeof(to));
    }
    dp_buf_printf(b, "Trends of DAG %s: %zu whole run%s", a->dag, cur->run_count,
                  cur->run_count == 1 ? "" : "s");
    if (a->window_runs)
        dp_buf_printf(b, " (the %zu most recent)", a->window_runs);
    else
        dp_buf_printf(b, " started in the last %s", a->since_text);
    dp_buf_printf(b, ", %s .. %s\n", from, to);
    dp_buf_printf(b, "Previous window: %zu run%s", prev->run_count,
                  prev->run_count == 1 ? "" : "s");
    if (a->window_runs)
        dp_buf_printf(b, " (the %zu before)\n", a->window_runs);
    else
        dp_buf_printf(b, " (the %s before)\n", a->previous_text);
    const char *atleast = cur->cost_incomplete ? ">=" : "";
    dp_buf_printf(b, "\nRuns\n  wall p50 %.1f ms, p95 %.1f ms", t->p50_wall, t->p95_wall);
    if (prev->run_count)
        dp_buf_printf(b, " (previous p50 %.1f ms, p95 %.1f ms)", pt->p50_wall, pt->p95_wall);
    dp_buf_printf(b, "\n  cost per run %s$%.6f", atleast, t->cost_per_run);
    if (prev->run_count)
        dp_buf_printf(b, " (previous %s$%.6f)", prev->cost_incomplete ? ">=" : "",
                      pt->cost_per_run);
    dp_buf_printf(b, "\n  cost per 1,000 runs %s$%.2f\n", atleast, t->cost_per_run * 1000.0);
    if (t->rate_per_s < 0)
        dp_buf_printf(b, "  cost per month: needs at least 2 runs at different times for a run "
                         "rate\n");
    else
        dp_buf_printf(b,
                      "  cost per month %s$%.2f at the observed %.4g runs/s (%.0f runs in 30 "
                      "days; the rate of %zu runs over %.3f s)\n",
                      atleast, t->rate_per_s * MONTH_S * t->cost_per_run, t->rate_per_s,
                      t->rate_per_s * MONTH_S, cur->run_count,
                      (double)(cur->run_count - 1) / t->rate_per_s);
    if (cur->cost_incomplete)
        dp_buf_printf(b, "  (>= : some calls had no known price; the cost is a lower bound)\n");
}

static int render_text(dp_buf *b, const trends_args *a, const window *cur, const window *prev)
{
    run_totals t, pt;
    if (totals_of(cur, &t) < 0 || totals_of(prev, &pt) < 0)
        return -1;
    text_header(b, a, cur, prev, &t, &pt);
    if (cur->run_count == 0)
        return 0;
    int id_w = 4;
    for (size_t i = 0; i < cur->node_count; i++) {
        int len = (int)strlen(cur->nodes[i].id);
        id_w = len > id_w ? (len > 40 ? 40 : len) : id_w;
    }
    dp_buf_printf(b, "\nNodes\n  %-*s  %5s  %10s  %10s  %10s  %10s  %11s  %11s  %8s  %10s\n", id_w,
                  "NODE", "RUNS", "P50 DUR", "P95 DUR", "P50 WAIT", "P95 WAIT", "MEAN TOKENS",
                  "COST/RUN", "CRITICAL", "BOTTLENECK");
    size_t regressions = 0;
    for (size_t i = 0; i < cur->node_count; i++) {
        const node_stat *s = &cur->nodes[i];
        node_figures f;
        figures_of(s, cur, find_node(prev, s->id), prev, a->threshold_pct, &f);
        regressions += f.duration_regressed || f.cost_regressed;
        char cost[24];
        if (s->cost_unknown && s->cost_sum == 0)
            snprintf(cost, sizeof(cost), "unknown"); /* no call of it has a price */
        else
            snprintf(cost, sizeof(cost), "%s$%.6f", s->cost_unknown ? ">=" : "", f.cost_per_run);
        dp_buf_printf(b,
                      "  %-*.*s  %5zu  %7.1f ms  %7.1f ms  %7.1f ms  %7.1f ms  %11.1f  %11s  "
                      "%7.1f%%  %9.1f%%\n",
                      id_w, id_w, s->id, s->count, f.p50_duration, f.p95_duration, f.p50_wait,
                      f.p95_wait, f.mean_tokens, cost, f.critical_pct, f.bottleneck_pct);
    }
    dp_buf_printf(b,
                  "\nRegressions (p50 duration or cost per run up more than %.10g%% against "
                  "the previous window)\n",
                  a->threshold_pct);
    if (prev->run_count == 0)
        dp_buf_printf(b, "  none to tell: the previous window holds no run\n");
    else if (regressions == 0)
        dp_buf_printf(b, "  none\n");
    for (size_t i = 0; i < cur->node_count; i++) {
        const node_stat *s = &cur->nodes[i];
        node_figures f;
        figures_of(s, cur, find_node(prev, s->id), prev, a->threshold_pct, &f);
        if (f.duration_regressed)
            dp_buf_printf(b, "  %s: p50 duration %.1f ms -> %.1f ms (+%.1f%%)\n", s->id,
                          f.prev_p50_duration, f.p50_duration, f.duration_change);
        if (f.cost_regressed)
            dp_buf_printf(b, "  %s: cost per run $%.6f -> $%.6f (+%.1f%%)\n", s->id,
                          f.prev_cost_per_run, f.cost_per_run, f.cost_change);
    }
    return 0;
}

static void json_number_or_null(dp_json_writer *w, const char *key, double v, unsigned decimals)
{
    dp_json_writer_key(w, key);
    if (isnan(v))
        dp_json_writer_null(w);
    else
        dp_json_writer_double(w, v, decimals);
}

static void json_window(dp_json_writer *w, const char *key, const window *win, const run_totals *t)
{
    dp_json_writer_key(w, key);
    dp_json_writer_object_begin(w);
    dp_json_writer_key(w, "runs");
    dp_json_writer_uint(w, win->run_count);
    if (win->run_count) {
        dp_json_writer_key(w, "first_start_unix_nano");
        dp_json_writer_uint(w, win->runs[0].start_ns);
        dp_json_writer_key(w, "last_start_unix_nano");
        dp_json_writer_uint(w, win->runs[win->run_count - 1].start_ns);
        json_number_or_null(w, "p50_wall_ms", t->p50_wall, 3);
        json_number_or_null(w, "p95_wall_ms", t->p95_wall, 3);
        json_number_or_null(w, "cost_per_run_usd", t->cost_per_run, 9);
        dp_json_writer_key(w, "cost_complete");
        dp_json_writer_bool(w, !win->cost_incomplete);
        json_number_or_null(w, "cost_per_1000_runs_usd", t->cost_per_run * 1000.0, 6);
        json_number_or_null(w, "runs_per_second", t->rate_per_s < 0 ? NAN : t->rate_per_s, 9);
        json_number_or_null(w, "cost_per_month_usd",
                            t->rate_per_s < 0 ? NAN : t->rate_per_s * MONTH_S * t->cost_per_run, 6);
    }
    dp_json_writer_object_end(w);
}

static int render_json(dp_buf *b, const trends_args *a, const window *cur, const window *prev)
{
    run_totals t, pt;
    if (totals_of(cur, &t) < 0 || totals_of(prev, &pt) < 0)
        return -1;
    dp_json_writer w;
    dp_json_writer_init(&w, b);
    dp_json_writer_object_begin(&w);
    dp_json_writer_key(&w, "dag_id");
    dp_json_writer_cstring(&w, a->dag);
    dp_json_writer_key(&w, "threshold_pct");
    dp_json_writer_double(&w, a->threshold_pct, 3);
    json_window(&w, "window", cur, &t);
    json_window(&w, "previous", prev, &pt);
    dp_json_writer_key(&w, "nodes");
    dp_json_writer_array_begin(&w);
    for (size_t i = 0; i < cur->node_count; i++) {
        const node_stat *s = &cur->nodes[i];
        node_figures f;
        figures_of(s, cur, find_node(prev, s->id), prev, a->threshold_pct, &f);
        dp_json_writer_object_begin(&w);
        dp_json_writer_key(&w, "id");
        dp_json_writer_cstring(&w, s->id);
        dp_json_writer_key(&w, "runs");
        dp_json_writer_uint(&w, s->count);
        json_number_or_null(&w, "p50_duration_ms", f.p50_duration, 3);
        json_number_or_null(&w, "p95_duration_ms", f.p95_duration, 3);
        json_number_or_null(&w, "p50_wait_ms", f.p50_wait, 3);
        json_number_or_null(&w, "p95_wait_ms", f.p95_wait, 3);
        json_number_or_null(&w, "mean_tokens", f.mean_tokens, 3);
        json_number_or_null(&w, "cost_per_run_usd", f.cost_per_run, 9);
        dp_json_writer_key(&w, "cost_complete");
        dp_json_writer_bool(&w, !s->cost_unknown);
        json_number_or_null(&w, "critical_path_pct", f.critical_pct, 3);
        json_number_or_null(&w, "bottleneck_pct", f.bottleneck_pct, 3);
        dp_json_writer_key(&w, "previous");
        if (f.has_previous) {
            dp_json_writer_object_begin(&w);
            json_number_or_null(&w, "p50_duration_ms", f.prev_p50_duration, 3);
            json_number_or_null(&w, "cost_per_run_usd", f.prev_cost_per_run, 9);
            json_number_or_null(&w, "p50_duration_change_pct", f.duration_change, 3);
            json_number_or_null(&w, "cost_per_run_change_pct", f.cost_change, 3);
            dp_json_writer_object_end(&w);
        } else {
            dp_json_writer_null(&w);
        }
        dp_json_writer_key(&w, "regressions");
        dp_json_writer_array_begin(&w);
        if (f.duration_regressed)
            dp_json_writer_cstring(&w, "p50_duration");
        if (f.cost_regressed)
            dp_json_writer_cstring(&w, "cost_per_run");
        dp_json_writer_array_end(&w);
        dp_json_writer_object_end(&w);
    }
    dp_json_writer_array_end(&w);
    dp_json_writer_object_end(&w);
    if (dp_json_writer_finish(&w) < 0)
        return -1;
    return dp_buf_puts(b, "\n");
}

/* --- the command ---------------------------------------------------------------------------- */

/* Pick the runs of both windows from `all` (newest first): cur and prev point into `sorted`,
 * oldest first. */
static void split_windows(const trends_args *a, const dp_history_run *all, size_t n,
                          uint64_t now_ns, dp_history_run *sorted, window *cur, window *prev)
{
    /* oldest first */
    for (size_t i = 0; i < n; i++)
        sorted[i] = all[n - 1 - i];
    size_t cur_n, prev_n;
    if (a->window_runs) {
        cur_n = n < a->window_runs ? n : a->window_runs;
        prev_n = n - cur_n;
    } else {
        uint64_t cut = dp_history_cli_since_ns(now_ns, a->since_ms);
        cur_n = 0;
        for (size_t i = 0; i < n; i++)
            cur_n += sorted[i].start_ns >= cut;
        prev_n = n - cur_n;
    }
    prev->runs = sorted;
    prev->run_count = prev_n;
    cur->runs = sorted + prev_n;
    cur->run_count = cur_n;
}

int dp_trends_main(int argc, char **argv, FILE *out, FILE *errout)
{
    trends_args a;
    int status = parse_args(argc, argv, &a, out, errout);
    if (status != 0)
        return status == 1 ? 0 : status;
    dp_history *h = NULL;
    if (dp_history_cli_open("trends", a.history, a.config, &h, errout) < 0)
        return 1;
    status = 1;
    char err[1024];
    dp_history_run *all = NULL, *sorted = NULL;
    dp_history_node *nodes = NULL;
    size_t run_n = 0, node_n = 0;
    window cur, prev;
    memset(&cur, 0, sizeof(cur));
    memset(&prev, 0, sizeof(prev));
    dp_buf b;
    dp_buf_init(&b, (size_t)1 << 30);

    uint64_t now = dp_clock_realtime_ns();
    dp_history_filter f;
    memset(&f, 0, sizeof(f));
    f.dag_id = a.dag;
    f.whole_only = true;
    if (a.window_runs) {
        f.limit = 2 * a.window_runs;
        if (a.since_given)
            f.since_ns = dp_history_cli_since_ns(now, a.since_ms);
    } else {
        f.since_ns = dp_history_cli_since_ns(now, a.since_ms + a.previous_ms);
    }
    if (dp_history_list_runs(h, &f, &all, &run_n, err, sizeof(err)) < 0) {
        fprintf(errout, "dagprof trends: %s\n", err);
        goto out;
    }
    sorted = calloc(run_n ? run_n : 1, sizeof(*sorted));
    if (!sorted) {
        fprintf(errout, "dagprof trends: out of memory\n");
        goto out;
    }
    split_windows(&a, all, run_n, now, sorted, &cur, &prev);
    if (cur.run_count == 0) {
        if (a.window_runs)
            fprintf(errout, "dagprof trends: no whole runs of DAG %s in the history\n", a.dag);
        else
            fprintf(errout,
                    "dagprof trends: no whole runs of DAG %s started in the last %s (--since "
                    "DURATION looks further back; dagprof runs lists what the history holds)\n",
                    a.dag, a.since_text);
        if (!a.json)
            goto done;
    }
    /* the nodes of every selected run: from the oldest selected start on */
    dp_history_filter nf = f;
    nf.limit = 0;
    nf.since_ns = run_n ? sorted[0].start_ns : f.since_ns;
    if (run_n && dp_history_list_nodes(h, &nf, &nodes, &node_n, err, sizeof(err)) < 0) {
        fprintf(errout, "dagprof trends: %s\n", err);
        goto out;
    }
    if (fill_windows(&cur, &prev, nodes, node_n) < 0 ||
        (a.json ? render_json(&b, &a, &cur, &prev) : render_text(&b, &a, &cur, &prev)) < 0) {
        fprintf(errout, "dagprof trends: out of memory\n");
        goto out;
    }
    if (fwrite(b.data, 1, b.len, out) != b.len || fflush(out) != 0) {
        fprintf(errout, "dagprof trends: cannot write the output\n");
        goto out;
    }
done:
    status = 0;
out:
    dp_buf_free(&b);
    window_free(&cur);
    window_free(&prev);
    dp_history_nodes_free(nodes, node_n);
    /* sorted holds copies of all's entries: the strings are freed once, through all */
    free(sorted);
    dp_history_runs_free(all, run_n);
    dp_history_close(h);
    return status;
}

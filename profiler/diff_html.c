/*
 * `dagprof diff --format html`: the comparison of two runs as one
 * self-contained page, in the HTML report's page, stylesheet and writers
 * (dp_render_html_begin/end, render_html_internal.h), so it reads like the
 * report and rounds every figure as the JSON report does. Every name from
 * the reports (DAG ids, trace ids, node ids and names, models) goes through
 * dp_html_escape(); no anchor or attribute is built from a name.
 *
 * Page: cards with the run totals (B, and the change from A), the totals as
 * a table, the critical path before and after, the nodes that changed,
 * appeared or disappeared (by decreasing |duration delta|), and the
 * unchanged nodes folded in a <details>.
 */
#include "diff.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "render_html_internal.h"

/* Colour of a delta where more is worse (time, cost, tokens, retries). */
static const char *worse_if_up(double delta)
{
    return delta > 0 ? "sev-high" : delta < 0 ? "sev-low" : "";
}

static void pct_cell(html_out *o, bool have, double a, double b)
{
    double pct;
    html_lit(o, "<td class=\"n\">");
    if (have && dp_diff_percent(a, b, &pct)) {
        if (pct > 0)
            html_lit(o, "+");
        html_num(o, pct, PCT_DECIMALS);
        html_lit(o, "%");
    } else {
        html_lit(o, "-");
    }
    html_lit(o, "</td>");
}

/* A figure as the JSON report writes it; counts (decimals 0) as integers. */
static void figure(html_out *o, double v, unsigned decimals)
{
    if (decimals == 0)
        html_put(o, "%.0f", v);
    else
        html_num(o, v, decimals);
}

static void signed_num(html_out *o, double v, unsigned decimals)
{
    if (v > 0)
        html_lit(o, "+");
    figure(o, v, decimals);
}

/* One side's figure in a cell: "-" without the node, a cost as the report
 * writes costs (usd_known non-NULL), any other figure with `decimals`. */
static void side_cell(html_out *o, bool have, double v, unsigned decimals, const bool *usd_known)
{
    html_lit(o, "<td class=\"n\">");
    if (!have)
        html_lit(o, "-");
    else if (usd_known)
        html_usd(o, v, *usd_known);
    else
        figure(o, v, decimals);
    html_lit(o, "</td>");
}

/* A real figure: A, B, delta, percent cells. */
static void real_cells(html_out *o, bool have_a, double a, bool have_b, double b, unsigned decimals,
                       bool color)
{
    double delta = (have_b ? b : 0) - (have_a ? a : 0);
    side_cell(o, have_a, a, decimals, NULL);
    side_cell(o, have_b, b, decimals, NULL);
    html_put(o, "<td class=\"n %s\">", color ? worse_if_up(delta) : "");
    signed_num(o, delta, decimals);
    html_lit(o, "</td>");
    pct_cell(o, have_a && have_b, a, b);
}

static void usd_cells(html_out *o, bool have_a, bool known_a, double a, bool have_b, bool known_b,
                      double b)
{
    bool known = (!have_a || known_a) && (!have_b || known_b);
    double delta = (have_b ? b : 0) - (have_a ? a : 0);
    side_cell(o, have_a, a, USD_DECIMALS, &known_a);
    side_cell(o, have_b, b, USD_DECIMALS, &known_b);
    html_put(o, "<td class=\"n %s\">", known ? worse_if_up(delta) : "");
    if (!known) {
        html_lit(o, "unknown");
    } else {
        html_lit(o, delta < 0 ? "-$" : "+$");
        html_num(o, fabs(delta), USD_DECIMALS);
    }
    html_lit(o, "</td>");
    pct_cell(o, known && have_a && have_b, a, b);
}

static void total_row(html_out *o, const char *label, double a, double b, unsigned decimals)
{
    html_put(o, "<tr><td>%s</td>", label);
    real_cells(o, true, a, true, b, decimals, strcmp(label, "parallelism") != 0);
    html_lit(o, "</tr>");
}

static void count_row(html_out *o, const char *label, uint64_t a, uint64_t b)
{
    total_row(o, label, (double)a, (double)b, 0);
}

static void card(html_out *o, const char *label, double a, double b, unsigned decimals,
                 const char *unit)
{
    html_put(o, "<div class=\"card\">%s<b>", label);
    figure(o, b, decimals);
    html_put(o, "%s</b>was ", unit);
    figure(o, a, decimals);
    html_put(o, "%s (<span class=\"%s\">", unit,
             strcmp(label, "parallelism") ? worse_if_up(b - a) : "");
    signed_num(o, b - a, decimals);
    html_put(o, "%s</span>)</div>", unit);
}

static void summary(html_out *o, const dp_run_diff *d)
{
    const dp_diff_run *a = &d->a, *b = &d->b;
    html_lit(o, "<h1>dagprof diff: ");
    html_text(o, b->dag_id, "unknown");
    html_lit(o, "</h1>\n<p class=\"meta\">A (before): trace <code>");
    html_text(o, a->trace_id, "");
    html_lit(o, "</code>, DAG ");
    html_text(o, a->dag_id, "unknown");
    html_lit(o, "<br>B (after): trace <code>");
    html_text(o, b->trace_id, "");
    html_lit(o, "</code>, DAG ");
    html_text(o, b->dag_id, "unknown");
    html_lit(o, "</p>\n<div class=\"cards\">");
    card(o, "wall time", a->wall_ms, b->wall_ms, MS_DECIMALS, " ms");
    card(o, "critical path", a->critical_path_ms, b->critical_path_ms, MS_DECIMALS, " ms");
    card(o, "parallelism", a->parallelism, b->parallelism, RATIO_DECIMALS, "");
    card(o, "tokens", (double)a->tokens.total, (double)b->tokens.total, 0, "");
    html_lit(o, "<div class=\"card\">cost<b>");
    html_usd(o, b->cost_usd, b->cost_known);
    html_lit(o, "</b>was ");
    html_usd(o, a->cost_usd, a->cost_known);
    html_lit(o, "</div></div>\n");

    html_lit(o, "<h2>Run</h2>\n<table class=\"totals\"><thead><tr><th>figure</th>"
                "<th class=\"n\">A</th><th class=\"n\">B</th><th class=\"n\">delta</th>"
                "<th class=\"n\">%</th></tr></thead><tbody>");
    total_row(o, "wall time (ms)", a->wall_ms, b->wall_ms, MS_DECIMALS);
    total_row(o, "critical path (ms)", a->critical_path_ms, b->critical_path_ms, MS_DECIMALS);
    total_row(o, "execution, sum (ms)", a->execution_ms, b->execution_ms, MS_DECIMALS);
    total_row(o, "parallelism", a->parallelism, b->parallelism, RATIO_DECIMALS);
    html_lit(o, "<tr><td>cost</td>");
    usd_cells(o, true, a->cost_known, a->cost_usd, true, b->cost_known, b->cost_usd);
    html_lit(o, "</tr>");
    count_row(o, "tokens", a->tokens.total, b->tokens.total);
    count_row(o, "input tokens", a->tokens.input, b->tokens.input);
    count_row(o, "output tokens", a->tokens.output, b->tokens.output);
    count_row(o, "cache read tokens", a->tokens.cache_read, b->tokens.cache_read);
    count_row(o, "cache write tokens", a->tokens.cache_write, b->tokens.cache_write);
    count_row(o, "nodes", a->node_count, b->node_count);
    count_row(o, "retries", a->retries, b->retries);
    html_lit(o, "</tbody></table>\n");
}

static void path(html_out *o, const char *label, const dp_diff_run *r)
{
    html_put(o, "<p class=\"path\">%s (", label);
    html_ms(o, r->critical_path_ms);
    html_put(o, ", %zu node%s): ", r->critical_path_count, r->critical_path_count == 1 ? "" : "s");
    for (size_t i = 0; i < r->critical_path_count; i++) {
        if (i)
            html_lit(o, " &rarr; ");
        html_lit(o, "<span class=\"crit-mark\">");
        html_text(o, r->critical_path[i], "");
        html_lit(o, "</span>");
    }
    if (r->critical_path_count == 0)
        html_lit(o, "(none)");
    html_lit(o, "</p>\n");
}

static const char *status_name(enum dp_diff_status s)
{
    return s == DP_DIFF_CHANGED     ? "changed"
           : s == DP_DIFF_UNCHANGED ? "unchanged"
           : s == DP_DIFF_ADDED     ? "added"
                                    : "removed";
}

/* "A → B" of a count, "-" for a side without the node. */
static void count_pair(html_out *o, bool have_a, uint64_t a, bool have_b, uint64_t b)
{
    if (have_a)
        html_put(o, "%" PRIu64, a);
    else
        html_lit(o, "-");
    html_lit(o, " &rarr; ");
    if (have_b)
        html_put(o, "%" PRIu64, b);
    else
        html_lit(o, "-");
}

static void node_row(html_out *o, const dp_diff_node *n)
{
    const dp_diff_node_side *a = &n->a, *b = &n->b;
    const dp_diff_node_side *now = b->present ? b : a;
    html_put(o, "<tr class=\"%s%s\"><td class=\"node\">", status_name(n->status),
             b->present && b->on_critical_path ? " crit" : "");
    html_text(o, now->id, "");
    if (now->name && strcmp(now->name, now->id) != 0) {
        html_lit(o, "<br><span class=\"meta\">");
        html_text(o, now->name, "");
        html_lit(o, "</span>");
    }
    if (n->match == DP_DIFF_MATCH_NAME) {
        html_lit(o, "<br><span class=\"meta\">matched by name; id in A: ");
        html_text(o, a->id, "");
        html_lit(o, "</span>");
    }
    html_put(o, "</td><td class=\"status\">%s</td>", status_name(n->status));
    real_cells(o, a->present, a->duration_ms, b->present, b->duration_ms, MS_DECIMALS, true);
    real_cells(o, a->present, a->wait_ms, b->present, b->wait_ms, MS_DECIMALS, true);
    /* tokens: the total A → B, then each kind that changed */
    html_lit(o, "<td class=\"n tokens\" style=\"white-space:nowrap\">");
    const uint64_t ka[5] = {a->tokens.total, a->tokens.input, a->tokens.output,
                            a->tokens.cache_read, a->tokens.cache_write};
    const uint64_t kb[5] = {b->tokens.total, b->tokens.input, b->tokens.output,
                            b->tokens.cache_read, b->tokens.cache_write};
    static const char *const kinds[5] = {"", "input ", "output ", "cache read ", "cache write "};
    for (int k = 0; k < 5; k++) {
        if (k > 0 && (!a->present || !b->present || ka[k] == kb[k]))
            continue;
        html_put(o, "%s%s", k ? "<br>" : "", kinds[k]);
        count_pair(o, a->present, ka[k], b->present, kb[k]);
    }
    html_lit(o, "</td>");
    int64_t dt = (int64_t)((b->present ? b->tokens.total : 0) - (a->present ? a->tokens.total : 0));
    html_put(o, "<td class=\"n %s\">%+" PRId64 "</td>", worse_if_up((double)dt), dt);
    usd_cells(o, a->present, a->cost_known, a->cost_usd, b->present, b->cost_known, b->cost_usd);
    html_lit(o, "<td class=\"n\" style=\"white-space:nowrap\">");
    count_pair(o, a->present, a->retries, b->present, b->retries);
    html_put(o, "</td><td style=\"white-space:nowrap\">%s &rarr; %s</td><td class=\"model\">",
             !a->present           ? "-"
             : a->on_critical_path ? "yes"
                                   : "no",
             !b->present           ? "-"
             : b->on_critical_path ? "yes"
                                   : "no");
    /* one model, or "A → B" when a node of both runs changed it */
    bool changed =
        a->present && b->present &&
        !((!a->model && !b->model) || (a->model && b->model && strcmp(a->model, b->model) == 0));
    html_text(o, a->present ? a->model : b->model, "-");
    if (changed) {
        html_lit(o, " &rarr; ");
        html_text(o, b->model, "-");
    }
    html_lit(o, "</td></tr>\n");
}

static void node_table_head(html_out *o)
{
    html_lit(
        o, "<table class=\"nodes\"><thead><tr><th>node</th><th>status</th>"
           "<th class=\"n\">duration A ms</th><th class=\"n\">duration B ms</th>"
           "<th class=\"n\">delta</th><th class=\"n\">%</th>"
           "<th class=\"n\">wait A ms</th><th class=\"n\">wait B ms</th>"
           "<th class=\"n\">delta</th><th class=\"n\">%</th>"
           "<th class=\"n\">tokens A &rarr; B (changed kinds)</th><th class=\"n\">tokens delta</th>"
           "<th class=\"n\">cost A</th><th class=\"n\">cost B</th>"
           "<th class=\"n\">delta</th><th class=\"n\">%</th>"
           "<th class=\"n\">retries</th><th>critical path</th><th>model</th>"
           "</tr></thead><tbody>\n");
}

static void nodes(html_out *o, const dp_run_diff *d)
{
    html_put(o,
             "<h2>Nodes</h2>\n<p class=\"counts\">%zu changed, %zu added, %zu removed, "
             "%zu unchanged; changes by decreasing |duration delta|.</p>\n",
             d->changed, d->added, d->removed, d->unchanged);
    if (d->node_count > d->unchanged) {
        node_table_head(o);
        for (size_t i = 0; i < d->node_count; i++) {
            if (d->nodes[i].status != DP_DIFF_UNCHANGED)
                node_row(o, &d->nodes[i]);
        }
        html_lit(o, "</tbody></table>\n");
    }
    if (d->unchanged) {
        html_put(o,
                 "<details class=\"unchanged\"><summary>%zu node%s unchanged (every figure "
                 "equal)</summary>\n",
                 d->unchanged, d->unchanged == 1 ? "" : "s");
        node_table_head(o);
        for (size_t i = 0; i < d->node_count; i++) {
            if (d->nodes[i].status == DP_DIFF_UNCHANGED)
                node_row(o, &d->nodes[i]);
        }
        html_lit(o, "</tbody></table></details>\n");
    }
}

int dp_diff_render_html(const dp_run_diff *d, dp_buf *out)
{
    if (!d || !out)
        return -1;
    size_t start = out->len;
    html_out o = {out, 0, "diff"};
    char title[160];
    snprintf(title, sizeof(title), "diff of %s", d->b.dag_id ? d->b.dag_id : "unknown");
    if (dp_render_html_begin(title, out) < 0)
        o.err = -1;
    summary(&o, d);
    html_put(&o, "<h2>Critical path%s</h2>\n",
             d->critical_path_changed ? " (changed)" : " (same nodes)");
    path(&o, "A", &d->a);
    path(&o, "B", &d->b);
    nodes(&o, d);
    if (!o.err && dp_render_html_end(out) < 0)
        o.err = -1;
    if (o.err)
        out->len = start;
    return o.err;
}

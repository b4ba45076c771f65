/*
 * The HTML report: one self-contained page per run (or one page holding a
 * section per run), for people who open a run in a browser. No script, no
 * external stylesheet, font or image: inline CSS, inline SVG, and <details>
 * for what expands. It shows the summary with the three biggest fixes, a
 * waterfall of nodes and their LLM and tool calls, the DAG as a layered
 * graph, the findings, cost and tokens by node and by model, execution
 * against wait per node, and the node table every other part links to.
 *
 * Every figure is formatted as the JSON report formats it
 * (dp_json_format_double with the same decimals), so the two never differ.
 * Every text taken from spans (dag id, service, node ids and names, models,
 * tool names, the findings that quote them) goes through dp_html_escape(), the
 * one escaping helper, in text, attributes and SVG alike; anchors are built
 * from indexes, never from names.
 *
 * Like render_json.c it streams into the caller's dp_buf. The DAG and the
 * bars are drawn by render_html_graph.c and render_html_bars.c.
 */
#include "render.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "json_write.h"
#include "profile_types.h"
#include "render_html_internal.h"
#include "report_figures.h"

/* node links listed under one recommendation; the rest are counted */
#define REC_NODE_LINKS 12

int dp_html_escape(dp_buf *out, const char *s, size_t len)
{
    if (!out)
        return -1;
    size_t plain = 0; /* start of the run of bytes copied as they are */
    for (size_t i = 0; s && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            /* control characters never reach a page (profile.c already
             * replaces them in names; this holds for any caller) */
            rep = c < 0x20 || c == 0x7f ? "?" : NULL;
            break;
        }
        if (!rep)
            continue;
        if ((i > plain && dp_buf_append(out, s + plain, i - plain) < 0) ||
            dp_buf_puts(out, rep) < 0)
            return -1;
        plain = i + 1;
    }
    if (s && len > plain && dp_buf_append(out, s + plain, len - plain) < 0)
        return -1;
    return 0;
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fff}"
    "main{max-width:1240px;margin:0 auto;padding:12px 20px}"
    "h1{font-size:20px}h2{font-size:18px;border-bottom:2px solid #444;margin-top:28px}"
    "h3{font-size:15px;margin:18px 0 6px}"
    "a{color:#0b5cad}.meta{color:#555}.warn{background:#fff3cd;padding:4px 8px}"
    ".cards{display:flex;flex-wrap:wrap;gap:8px}"
    ".card{border:1px solid #ccc;border-radius:4px;padding:6px 10px;flex:1 1 120px}"
    ".card b{display:block;font-size:17px}"
    "table{border-collapse:collapse;width:100%;font-size:13px}"
    "th,td{border-bottom:1px solid #e3e3e3;padding:2px 6px;text-align:left;vertical-align:top}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "tr.crit td:first-child{border-left:4px solid #d62728}"
    ".crit-mark{color:#d62728;font-weight:bold}"
    ".row{display:grid;grid-template-columns:260px 1fr 110px;align-items:center;gap:6px;"
    "min-height:18px}"
    ".row .lbl{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}"
    ".row .d{text-align:right;font-variant-numeric:tabular-nums}"
    ".trk{position:relative;height:14px;background:#f4f4f4}"
    ".trk span{position:absolute;top:1px;height:12px;min-width:1px}"
    ".trk .bar,.k-node{background:#1f77b4}.crit .trk .bar,.k-crit{background:#d62728}"
    ".trk .wait,.k-hatch{background:repeating-linear-gradient(45deg,#bbb 0 3px,#eee 3px 6px)}"
    ".trk .llm,.k-llm{background:#9467bd}.trk .tool,.k-tool{background:#2ca02c}"
    ".trk .fail{outline:2px solid #ff7f0e}"
    "details.wf>summary{list-style:none;cursor:pointer}"
    "details.wf>summary::-webkit-details-marker{display:none}"
    "details.wf>summary .lbl::before{content:'\\25B8  '}"
    "details.wf[open]>summary .lbl::before{content:'\\25BE  '}"
    ".call .lbl{padding-left:22px;color:#444}"
    ".graph{overflow:auto;border:1px solid #ddd;max-height:640px}"
    "svg text{font:11px system-ui,sans-serif}"
    ".gn rect{fill:#e8f0fa;stroke:#1f77b4}.gn.crit rect{fill:#fde8e8;stroke:#d62728;"
    "stroke-width:2}"
    ".ge{fill:none;stroke:#888}.ge.inferred{stroke-dasharray:5 4}.ge.crit{stroke:#d62728;"
    "stroke-width:2}"
    ".stack{display:flex;height:12px;background:#f4f4f4}.stack span{height:12px}"
    ".k-in{background:#1f77b4}.k-cr{background:#8fd18f}.k-cw{background:#ffbf6b}"
    ".k-out{background:#9467bd}.k-given{background:#444}.k-wait{background:#bbb}"
    ".k-exec{background:#1f77b4}"
    ".legend span{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px}"
    ".sev-high{color:#b00020;font-weight:bold}.sev-medium{color:#a05a00}.sev-low{color:#256}"
    ".save.zero{display:none}.save:not(.zero)~.save:not(.zero)::before{content:', '}"
    "@media print{main{max-width:none}.graph{max-height:none;overflow:visible}"
    "details::details-content{content-visibility:visible;display:contents}"
    "h2{break-before:page}h3,tr,.row{break-inside:avoid}a{color:inherit}}";

/* The head of a page; with a run, the run's key figures as <meta> too (for
 * the index of a page directory, read back by html_sink.c). */
static void head(html_out *o, const char *title, const dp_run_profile *p)
{
    html_lit(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<meta name=\"generator\" content=\"dagprof\">");
    if (p) {
        html_lit(o, "<meta name=\"dagprof:dag-id\" content=\"");
        html_text(o, p->dag_id, "unknown");
        html_lit(o, "\"><meta name=\"dagprof:wall-ms\" content=\"");
        html_num(o, p->wall_ms, MS_DECIMALS);
        html_lit(o, "\"><meta name=\"dagprof:cost-usd\" content=\"");
        if (html_run_cost_known(p))
            html_num(o, p->cost_usd, USD_DECIMALS);
        else
            html_lit(o, "unknown");
        html_put(o, "\"><meta name=\"dagprof:partial\" content=\"%d\">", p->partial);
    }
    html_lit(o, "<title>dagprof: ");
    html_text(o, title, "report");
    html_lit(o, "</title><style>");
    html_lit(o, css);
    html_lit(o, "</style></head><body><main>\n");
}

int dp_render_html_begin(const char *title, dp_buf *out)
{
    html_out o = {out, 0, ""};
    head(&o, title, NULL);
    return o.err;
}

int dp_render_html_end(dp_buf *out)
{
    return dp_buf_puts(out, "</main></body></html>\n") < 0 ? -1 : 0;
}

/* <time datetime="2026-12-01T07:51:48.123Z">2026-12-01T07:51:48.123Z</time> (UTC, ISO 8601) */
static void date(html_out *o, const dp_run_profile *p)
{
    char when[DP_ISO8601_MAX];
    if (!p->span_count) {
        html_lit(o, "unknown");
        return;
    }
    dp_utc_iso8601(p->start_ns, when);
    html_put(o, "<time datetime=\"%s\">%s</time>", when, when);
}

static void card(html_out *o, const char *label, const char *cls)
{
    html_put(o, "<div class=\"card %s\">%s<b>", cls, label);
}

/* What a recommendation saves: time, tokens and cost, each in its own element
 * for readers of the page; a part that saves nothing is there but not shown
 * (class zero; CSS puts the commas between the parts shown), as the text
 * report leaves it out. The time stays shown when nothing else is. */
static void recommendation_savings(html_out *o, const dp_recommendation *r)
{
    bool tokens = r->savings_tokens > 0;
    bool cost = r->savings_cost_usd > 0 || !r->savings_cost_known;
    bool ms = r->savings_time_ms > 0 || (!tokens && !cost);
    html_put(o, "saves <span class=\"save%s\"><span class=\"save-ms\">", ms ? "" : " zero");
    html_ms(o, r->savings_time_ms);
    html_put(o,
             "</span></span><span class=\"save%s\"><span class=\"save-tokens\">%llu "
             "tokens</span></span><span class=\"save%s\"><span class=\"save-usd\">",
             tokens ? "" : " zero", (unsigned long long)r->savings_tokens, cost ? "" : " zero");
    html_usd(o, r->savings_cost_usd, r->savings_cost_known);
    html_lit(o, "</span></span>");
}

/* Links to the nodes a recommendation concerns (the first REC_NODE_LINKS). */
static void rec_nodes(html_out *o, const dp_run_profile *p, const dp_recommendation *r)
{
    if (!r->node_count)
        return;
    html_lit(o, "<span class=\"rec-nodes\">nodes: ");
    for (size_t i = 0; i < r->node_count && i < REC_NODE_LINKS; i++) {
        if (i)
            html_lit(o, ", ");
        html_node_link(o, p, r->nodes[i] < p->node_count ? (int)r->nodes[i] : -1);
    }
    if (r->node_count > REC_NODE_LINKS)
        html_put(o, " and %zu more", r->node_count - REC_NODE_LINKS);
    html_lit(o, "</span>");
}

/* One unit of the combined savings: "X" or "X to Y"; nothing when it saves none. */
static void combined_part(html_out *o, const char **sep, double lo, double hi, int unit)
{
    if (!(hi > 0))
        return;
    html_lit(o, *sep);
    for (int k = 0; k < 2; k++) {
        double v = k ? hi : lo;
        if (k && !(lo < hi))
            break;
        if (k)
            html_lit(o, " to ");
        if (unit == 0)
            html_ms(o, v);
        else if (unit == 1)
            html_put(o, "%.0f tokens", v);
        else
            html_usd(o, v, true);
    }
    *sep = ", ";
}

/* The recommendations with the largest estimated savings (report_figures.h), best first,
 * and what they save together. */
static void top_fixes(html_out *o, const dp_run_profile *p)
{
    dp_top_fixes top;
    dp_report_top_fixes(p, &top);
    html_lit(o, "<h3>Top fixes</h3>");
    if (!top.count) {
        html_lit(o, "<p>No recommendation for this run.</p>");
        return;
    }
    html_lit(o, "<ol class=\"top-fixes\">");
    for (size_t i = 0; i < top.count; i++) {
        const dp_recommendation *r = &p->recommendations[top.rec[i]];
        html_put(o, "<li><a href=\"#%s-r%zu\"><b>%s</b></a> (%s priority%s): ", o->rid, top.rec[i],
                 dp_recommendation_type_name(r->type), dp_severity_name(r->priority),
                 r->hypothesis ? ", hypothesis" : "");
        recommendation_savings(o, r);
        html_lit(o, " <span class=\"share\">(");
        html_num(o, top.share_pct[i], PCT_DECIMALS);
        html_put(o, "%% of the run's %s)</span>. ", dp_report_share_basis_name(top.share_of[i]));
        html_text(o, r->description, "");
        html_lit(o, " ");
        rec_nodes(o, p, r);
        html_lit(o, "</li>");
    }
    html_lit(o, "</ol>");
    if (top.count < 2)
        return;
    html_put(o, "<p class=\"combined\" data-overlapping=\"%d\">Together: <b>", top.overlapping);
    const char *sep = "";
    combined_part(o, &sep, top.at_least.time_ms, top.at_most.time_ms, 0);
    combined_part(o, &sep, (double)top.at_least.tokens, (double)top.at_most.tokens, 1);
    if (!top.at_most.cost_known) {
        html_lit(o, sep);
        html_lit(o, "cost unknown");
        sep = ", ";
    } else {
        combined_part(o, &sep, top.at_least.cost_usd, top.at_most.cost_usd, 2);
    }
    if (!*sep)
        html_lit(o, "nothing");
    html_lit(o, top.overlapping ? "</b> (some claim the same savings: from the best set that does "
                                  "not overlap up to their sum, an upper bound)</p>"
                                : "</b> (no two claim the same savings: their sum)</p>");
}

static void summary(html_out *o, const dp_run_profile *p, const char *trace)
{
    html_put(
        o,
        "<section class=\"run\" id=\"%s\" data-trace-id=\"%s\">\n<h2>DAG <span class=\"dag-id\">",
        o->rid, trace);
    html_text(o, p->dag_id, "unknown");
    html_put(o,
             "</span></h2>\n<p class=\"meta\">trace <code>%s</code> &middot; started <span "
             "class=\"run-start\">",
             trace);
    date(o, p);
    html_lit(o, "</span> &middot; service <span class=\"service\">");
    html_text(o, p->service, "unknown");
    html_put(
        o, "</span> &middot; %zu spans &middot; dependencies <span class=\"deps\">%s</span></p>\n",
        p->span_count, html_deps_name(p));
    if (p->partial)
        html_put(o,
                 "<p class=\"warn\">Partial: reported before the run was complete (assembly.%s); a "
                 "whole report follows if its remaining spans arrive.</p>",
                 p->partial_reason ? p->partial_reason : "max_age");
    if (p->supersedes)
        html_lit(o,
                 "<p class=\"warn\">Whole run: supersedes the partial report of this trace.</p>");
    if (p->late)
        html_lit(o, "<p class=\"warn\">Late spans of an already reported run.</p>");

    html_lit(o, "<div class=\"cards\">");
    card(o, "wall", "wall");
    html_ms(o, p->wall_ms);
    html_lit(o, "</b></div>");
    card(o, "critical path", "critical-path");
    html_ms(o, p->critical_path_ms);
    html_lit(o, "</b></div>");
    card(o, "parallelism", "parallelism");
    html_num(o, p->parallelism, RATIO_DECIMALS);
    html_lit(o, "</b></div>");
    card(o, "possible speed-up", "speedup");
    html_num(o, p->speedup, RATIO_DECIMALS);
    html_lit(o, "x</b>");
    if (p->speedup_if_independent >= 0) {
        html_lit(o, "<small>");
        html_num(o, p->speedup_if_independent, RATIO_DECIMALS);
        html_lit(o, "x if the top-level nodes are independent</small>");
    }
    html_lit(o, "</div>");
    card(o, "tokens", "tokens");
    /* the cache parts only when there are some, as in the text report */
    html_put(o, "%llu</b><small>input %llu, output %llu",
             (unsigned long long)dp_token_total(&p->tokens), (unsigned long long)p->tokens.input,
             (unsigned long long)p->tokens.output);
    if (p->tokens.cache_read)
        html_put(o, ", cache read %llu", (unsigned long long)p->tokens.cache_read);
    if (p->tokens.cache_write)
        html_put(o, ", cache write %llu", (unsigned long long)p->tokens.cache_write);
    html_lit(o, "</small>");
    if (p->calls_without_usage)
        html_put(o, "<small>+ %u LLM call(s) reported no usage: not in tokens or cost</small>",
                 p->calls_without_usage);
    html_lit(o, "</div>");
    card(o, "cost", "cost");
    html_usd(o, p->cost_usd, html_run_cost_known(p));
    html_lit(o, "</b>");
    if (!p->cost_complete)
        html_put(o, "<small>+ unknown: %u call(s) with no price</small>", p->unknown_cost_calls);
    html_lit(o, "</div>");
    card(o, "nodes / calls", "counts");
    html_put(o, "%zu</b><small>%u LLM call%s, %u tool call%s, %u retr%s</small></div></div>\n",
             p->node_count, p->llm_calls, p->llm_calls == 1 ? "" : "s", p->tool_calls,
             p->tool_calls == 1 ? "" : "s", p->retries, p->retries == 1 ? "y" : "ies");

    if (p->critical_path_count) {
        html_lit(o, "<p class=\"critical-path-nodes\">Critical path: ");
        for (size_t i = 0; i < p->critical_path_count; i++) {
            if (i)
                html_lit(o, " &rarr; ");
            html_node_link(o, p, (int)p->critical_path[i]);
        }
        html_lit(o, "</p>\n");
    }
    top_fixes(o, p);
}

void dp_html_node_tooltip(html_out *o, const dp_node_profile *n)
{
    html_text(o, n->id, "");
    html_lit(o, ": start ");
    html_ms(o, n->start_ms);
    html_lit(o, ", duration ");
    html_ms(o, n->duration_ms);
    html_lit(o, ", wait ");
    html_ms(o, n->wait_ms);
    html_lit(o, ", cost ");
    html_usd(o, n->cost_usd, n->cost_known);
    html_lit(o, n->on_critical_path ? ", on the critical path" : "");
}

static void node_table(html_out *o, const dp_run_profile *p)
{
    if (!p->node_count)
        return;
    html_lit(
        o,
        "<h3>Nodes</h3><table class=\"nodes\"><thead><tr><th>node</th><th>name</th>"
        "<th class=\"n\">start</th><th class=\"n\">duration</th><th class=\"n\">wait</th>"
        "<th class=\"n\">execution</th><th class=\"n\">retries</th><th class=\"n\">LLM calls</th>"
        "<th class=\"n\">tokens</th><th class=\"n\">cost</th><th>model</th><th>critical</th>"
        "<th>findings</th></tr></thead><tbody>\n");
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        html_put(o, "<tr id=\"%s-n%zu\" class=\"node%s\" data-node=\"", o->rid, j,
                 n->on_critical_path ? " crit" : "");
        html_text(o, n->id, "");
        html_put(o, "\" data-critical=\"%d\"><td class=\"id\">", n->on_critical_path);
        html_text(o, n->id, "");
        html_lit(o, "</td><td class=\"name\">");
        html_text(o, n->name, "");
        html_lit(o, "</td><td class=\"n start\">");
        html_ms(o, n->start_ms);
        html_lit(o, "</td><td class=\"n duration\">");
        html_ms(o, n->duration_ms);
        html_lit(o, "</td><td class=\"n wait\">");
        html_ms(o, n->wait_ms);
        html_lit(o, "</td><td class=\"n execution\">");
        html_ms(o, n->execution_ms);
        html_put(o, "</td><td class=\"n retries\">%u</td><td class=\"n llm\">%u</td>", n->retries,
                 n->llm_calls);
        html_put(
            o,
            "<td class=\"n tokens\" title=\"input %llu, output %llu, cache read %llu, cache write "
            "%llu\">%llu</td><td class=\"n cost\">",
            (unsigned long long)n->tokens.input, (unsigned long long)n->tokens.output,
            (unsigned long long)n->tokens.cache_read, (unsigned long long)n->tokens.cache_write,
            (unsigned long long)dp_token_total(&n->tokens));
        html_usd(o, n->cost_usd, n->cost_known);
        html_lit(o, "</td><td class=\"model\">");
        html_text(o, n->model, "-");
        html_put(o, "</td><td class=\"critical\">%s</td><td class=\"findings\">",
                 n->on_critical_path ? "<span class=\"crit-mark\">&#9733; critical</span>" : "");
        for (size_t b = 0; b < p->bottleneck_count; b++) {
            if (p->bottlenecks[b].node == (int)j)
                html_put(o, "<a href=\"#%s-b%zu\">%s</a> ", o->rid, b,
                         dp_bottleneck_type_name(p->bottlenecks[b].type));
        }
        html_lit(o, "</td></tr>\n");
    }
    html_lit(o, "</tbody></table>\n");
}

/* A bar on a track of the run's wall time. */
static void track_span(html_out *o, const dp_run_profile *p, const char *cls, double start,
                       double len)
{
    long left = html_share(start, p->wall_ms), width = html_share(len, p->wall_ms);
    html_put(o, "<span class=\"%s\" style=\"left:" SHARE_FMT ";width:" SHARE_FMT "\"", cls,
             SHARE_ARGS(left), SHARE_ARGS(width));
}

static void call_row(html_out *o, const dp_run_profile *p, const dp_call_profile *c)
{
    html_lit(o, "<div class=\"row call\"><span class=\"lbl\">");
    html_lit(o, c->is_tool ? "tool " : "llm ");
    html_text(o, c->name, "");
    if (c->model) {
        html_lit(o, " &middot; ");
        html_text(o, c->model, "");
    }
    html_lit(o, "</span><span class=\"trk\">");
    char cls[32];
    snprintf(cls, sizeof(cls), "%s%s", c->is_tool ? "tool" : "llm", c->success ? "" : " fail");
    track_span(o, p, cls, c->start_ms, c->duration_ms);
    html_lit(o, " title=\"");
    html_text(o, c->name, "");
    html_lit(o, ": start ");
    html_ms(o, c->start_ms);
    html_lit(o, ", duration ");
    html_ms(o, c->duration_ms);
    if (c->is_llm) {
        html_put(o, ", input %llu, output %llu, cache read %llu, cache write %llu tokens, cost ",
                 (unsigned long long)c->tokens.input, (unsigned long long)c->tokens.output,
                 (unsigned long long)c->tokens.cache_read,
                 (unsigned long long)c->tokens.cache_write);
        html_usd(o, c->cost_usd, c->cost_known);
    }
    html_lit(o, c->success ? "" : ", FAILED");
    html_lit(o, "\"></span></span><span class=\"d\">");
    html_ms(o, c->duration_ms);
    html_lit(o, "</span></div>");
}

/* The calls of bucket k (a node, or node_count for calls outside every node), in span order. */
static void call_rows(html_out *o, const dp_run_profile *p, const size_t *first,
                      const size_t *order, size_t k)
{
    for (size_t i = first[k]; i < first[k + 1]; i++)
        call_row(o, p, &p->calls[order[i]]);
}

static void waterfall(html_out *o, const dp_run_profile *p)
{
    size_t n = p->node_count;
    if (!n)
        return;
    /* calls grouped by node in one pass (a counting sort), not one pass per node */
    size_t *first = calloc(n + 2, sizeof(*first));
    size_t *order = malloc((p->call_count ? p->call_count : 1) * sizeof(*order));
    if (!first || !order) {
        o->err = -1;
        goto out;
    }
    for (size_t c = 0; c < p->call_count; c++) {
        int node = p->calls[c].node;
        first[(node >= 0 && (size_t)node < n ? (size_t)node : n) + 1]++;
    }
    for (size_t k = 0; k <= n; k++)
        first[k + 1] += first[k];
    for (size_t c = 0, *fill = first; c < p->call_count; c++) {
        int node = p->calls[c].node;
        order[fill[node >= 0 && (size_t)node < n ? (size_t)node : n]++] = c;
    }
    for (size_t k = n + 1; k > 0; k--) /* the fill moved each start to the next one's */
        first[k] = first[k - 1];
    first[0] = 0;

    html_lit(o, "<h3>Waterfall</h3><p class=\"legend\">0 to ");
    html_ms(o, p->wall_ms);
    html_lit(o, ":<span class=\"k-hatch\"></span>wait<span class=\"k-node\"></span>node"
                "<span class=\"k-crit\"></span>critical path<span class=\"k-llm\"></span>LLM "
                "call<span class=\"k-tool\"></span>tool call (click a node for its calls)</p>"
                "<div class=\"waterfall\">\n");
    for (size_t j = 0; j < n; j++) {
        const dp_node_profile *nd = &p->nodes[j];
        bool calls = first[j + 1] > first[j];
        const char *crit = nd->on_critical_path ? " crit" : "";
        if (calls)
            html_put(o, "<details class=\"wf%s\" id=\"%s-w%zu\"><summary class=\"row\">", crit,
                     o->rid, j);
        else
            html_put(o, "<div class=\"wf row%s\" id=\"%s-w%zu\">", crit, o->rid, j);
        html_lit(o, "<span class=\"lbl\">");
        html_text(o, nd->id, "");
        html_lit(o, "</span><span class=\"trk\">");
        if (nd->wait_ms > 0) {
            track_span(o, p, "wait", nd->start_ms - nd->wait_ms, nd->wait_ms);
            html_lit(o, " title=\"wait ");
            html_ms(o, nd->wait_ms);
            html_lit(o, " (ready at ");
            html_ms(o, nd->ready_ms);
            html_lit(o, ")\"></span>");
        }
        track_span(o, p, "bar", nd->start_ms, nd->duration_ms);
        html_lit(o, " title=\"");
        dp_html_node_tooltip(o, nd);
        html_lit(o, "\"></span></span><span class=\"d\">");
        html_ms(o, nd->duration_ms);
        html_lit(o, calls ? "</span></summary>" : "</span></div>\n");
        if (!calls)
            continue;
        call_rows(o, p, first, order, j);
        html_lit(o, "</details>\n");
    }
    if (first[n + 1] > first[n]) {
        html_lit(o,
                 "<details class=\"wf\"><summary class=\"row\"><span class=\"lbl\">(outside every "
                 "node)</span><span></span><span></span></summary>");
        call_rows(o, p, first, order, n);
        html_lit(o, "</details>\n");
    }
    html_lit(o, "</div>\n");
out:
    free(first);
    free(order);
}

/* Tool calls by tool name (docs/metrics.md). */
static void tool_table(html_out *o, const dp_run_profile *p)
{
    if (!p->tool_stat_count)
        return;
    html_lit(o, "<h3>Tools</h3><table class=\"tools\"><thead><tr><th>tool</th><th "
                "class=\"n\">calls</th><th class=\"n\">p50</th><th class=\"n\">max</th><th "
                "class=\"n\">total</th><th class=\"n\">failures</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < p->tool_stat_count; i++) {
        const dp_tool_stat *t = &p->tool_stats[i];
        html_lit(o, "<tr data-tool=\"");
        html_text(o, t->name, "");
        html_lit(o, "\"><td class=\"tool-name\">");
        html_text(o, t->name, "");
        html_put(o, "</td><td class=\"n calls\">%u</td><td class=\"n p50\">", t->count);
        html_ms(o, t->p50_ms);
        html_lit(o, "</td><td class=\"n max\">");
        html_ms(o, t->max_ms);
        html_lit(o, "</td><td class=\"n total\">");
        html_ms(o, t->total_ms);
        html_put(o, "</td><td class=\"n failures\">%u</td></tr>\n", t->failures);
    }
    html_lit(o, "</tbody></table>\n");
}

static void findings(html_out *o, const dp_run_profile *p)
{
    html_put(o, "<h3>Bottlenecks</h3>%s", p->bottleneck_count ? "" : "<p>None.</p>");
    if (p->bottleneck_count) {
        html_lit(o,
                 "<table class=\"bottlenecks\"><thead><tr><th>#</th><th>severity</th><th>type</th>"
                 "<th>node</th><th class=\"n\">impact</th><th>details</th></tr></thead><tbody>\n");
        for (size_t i = 0; i < p->bottleneck_count; i++) {
            const dp_bottleneck *b = &p->bottlenecks[i];
            const char *sev = dp_severity_name(b->severity);
            html_put(o,
                     "<tr id=\"%s-b%zu\"><td>%zu</td><td class=\"sev-%s\">%s</td><td>%s%s</td><td>",
                     o->rid, i, i + 1, sev, sev, dp_bottleneck_type_name(b->type),
                     b->hypothesis ? " <small>(hypothesis)</small>" : "");
            html_node_link(o, p, b->node);
            if (b->node >= 0)
                html_put(o,
                         " <small>(<a href=\"#%s-w%d\">waterfall</a>, <a "
                         "href=\"#%s-g%d\">graph</a>)</small>",
                         o->rid, b->node, o->rid, b->node);
            html_lit(o, "</td><td class=\"n\">");
            html_num(o, b->impact_pct, PCT_DECIMALS);
            html_lit(o, "%</td><td>");
            html_text(o, b->details, "");
            html_lit(o, "<br>&rarr; ");
            html_text(o, b->suggestion, "");
            html_lit(o, "</td></tr>\n");
        }
        html_lit(o, "</tbody></table>");
        if (p->bottlenecks_omitted)
            html_put(o, "<p class=\"meta\">%zu more with lower impact not shown.</p>",
                     p->bottlenecks_omitted);
    }
    html_put(o, "<h3>Recommendations</h3>%s", p->recommendation_count ? "" : "<p>None.</p>");
    if (!p->recommendation_count)
        return;
    html_lit(o, "<ol class=\"recommendations\">");
    for (size_t i = 0; i < p->recommendation_count; i++) {
        const dp_recommendation *r = &p->recommendations[i];
        html_put(o, "<li id=\"%s-r%zu\"><b>%s</b> <span class=\"sev-%s\">[%s]</span>%s ", o->rid, i,
                 dp_recommendation_type_name(r->type), dp_severity_name(r->priority),
                 dp_severity_name(r->priority),
                 r->hypothesis ? " <small>(hypothesis)</small>" : "");
        recommendation_savings(o, r);
        html_lit(o, "<br>");
        html_text(o, r->description, "");
        if (r->node_count) {
            html_lit(o, "<br>");
            rec_nodes(o, p, r);
        }
        html_lit(o, "<br>&rarr; ");
        html_text(o, r->implementation, "");
        if (r->overlaps) {
            char names[256];
            dp_render_overlap_names(r->overlaps, names, sizeof(names));
            html_put(o, "<br><small>Savings overlap with %s: alternatives, not additive.</small>",
                     names);
        }
        html_lit(o, "</li>\n");
    }
    html_lit(o, "</ol>\n");
}

int dp_render_html_run(const dp_run_profile *p, dp_buf *out)
{
    if (!p || !out)
        return -1;
    size_t start_len = out->len;
    char trace[33];
    dp_hex(p->trace_id, 16, trace);
    html_out o = {out, 0, ""};
    snprintf(o.rid, sizeof(o.rid), "r%s", trace);
    /* a few hundred bytes per node and call in one step, as render.c does */
    size_t items = p->node_count + p->call_count;
    (void)dp_buf_reserve(out, 8192 + (items < 1000000 ? items : 1000000) * 1200);
    summary(&o, p, trace);
    waterfall(&o, p);
    dp_html_graph(&o, p);
    findings(&o, p);
    dp_html_cost_section(&o, p);
    tool_table(&o, p);
    dp_html_wait_section(&o, p);
    node_table(&o, p);
    html_lit(&o, "</section>\n");
    if (o.err) { /* no cut section left behind */
        out->len = start_len;
        if (out->data)
            out->data[start_len] = '\0';
    }
    return o.err;
}

int dp_render_html(const dp_run_profile *p, dp_buf *out)
{
    if (!p || !out)
        return -1;
    size_t start_len = out->len;
    html_out o = {out, 0, ""};
    head(&o, p->dag_id ? p->dag_id : "unknown", p);
    if (o.err || dp_render_html_run(p, out) != 0 || dp_render_html_end(out) != 0) {
        out->len = start_len;
        if (out->data)
            out->data[start_len] = '\0';
        return -1;
    }
    return 0;
}

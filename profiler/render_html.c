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
 * tool names, the findings that quote them) goes through html_text(), the
 * one escaping helper, in text, attributes and SVG alike; anchors are built
 * from indexes, never from names.
 *
 * Like render_json.c it streams into the caller's dp_buf; the graph layout
 * needs three small arrays per run (layer, row, order), allocated here.
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

/* the JSON report's rounding (render_json.c) */
#define MS_DECIMALS 3
#define USD_DECIMALS 8
#define RATIO_DECIMALS 3
#define PCT_DECIMALS 2

/* graph geometry, px */
#define BOX_W 150
#define BOX_H 28
#define COL_W 210
#define ROW_H 40
#define PAD 10
#define LABEL_CHARS 20
#define TOP_FIXES 3

typedef struct html_out {
    dp_buf *b;
    int err;
    char rid[40]; /* anchor prefix of the run: "r" + trace id hex */
} html_out;

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

static void put(html_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(html_out *o, const char *fmt, ...)
{
    if (o->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (dp_buf_vprintf(o->b, fmt, ap) < 0)
        o->err = -1;
    va_end(ap);
}

static void lit(html_out *o, const char *s)
{
    if (!o->err && dp_buf_puts(o->b, s) < 0)
        o->err = -1;
}

/* Untrusted text, escaped; NULL writes `none`. */
static void text(html_out *o, const char *s, const char *none)
{
    if (!s)
        s = none;
    if (!o->err && dp_html_escape(o->b, s, strlen(s)) < 0)
        o->err = -1;
}

/* At most `chars` code points of s, escaped, with "…" when cut. */
static void text_cut(html_out *o, const char *s, size_t chars)
{
    size_t i = 0, seen = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && seen++ == chars)
            break;
    }
    if (!o->err && dp_html_escape(o->b, s, i) < 0)
        o->err = -1;
    if (s[i])
        lit(o, "\xe2\x80\xa6");
}

static void num(html_out *o, double v, unsigned decimals)
{
    char tmp[DP_JSON_NUMBER_MAX];
    dp_json_format_double(tmp, v, decimals);
    lit(o, tmp);
}

static void ms(html_out *o, double v)
{
    num(o, v, MS_DECIMALS);
    lit(o, " ms");
}

static void usd(html_out *o, double v, bool known)
{
    if (!known) {
        lit(o, "unknown");
        return;
    }
    lit(o, "$");
    num(o, v, USD_DECIMALS);
}

/* A share in thousandths of a percent, for CSS geometry (not a reported
 * figure), printed with SHARE_FMT: integers, as printf's reals are slow. */
static long share(double part, double whole)
{
    if (!(whole > 0) || !(part > 0))
        return 0;
    double v = part / whole * 100.0;
    return lround((v > 100 ? 100 : v) * 1000);
}
#define SHARE_FMT "%ld.%03ld%%"
#define SHARE_ARGS(s) (s) / 1000, (s) % 1000

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
    "@media print{main{max-width:none}.graph{max-height:none;overflow:visible}"
    "details::details-content{content-visibility:visible;display:contents}"
    "h2{break-before:page}h3,tr,.row{break-inside:avoid}a{color:inherit}}";

static bool run_cost_known(const dp_run_profile *p);

/* The head of a page; with a run, the run's key figures as <meta> too (for
 * the index of a page directory, read back by html_sink.c). */
static void head(html_out *o, const char *title, const dp_run_profile *p)
{
    lit(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           "<meta name=\"generator\" content=\"dagprof\">");
    if (p) {
        lit(o, "<meta name=\"dagprof:dag-id\" content=\"");
        text(o, p->dag_id, "unknown");
        lit(o, "\"><meta name=\"dagprof:wall-ms\" content=\"");
        num(o, p->wall_ms, MS_DECIMALS);
        lit(o, "\"><meta name=\"dagprof:cost-usd\" content=\"");
        if (run_cost_known(p))
            num(o, p->cost_usd, USD_DECIMALS);
        else
            lit(o, "unknown");
        put(o, "\"><meta name=\"dagprof:partial\" content=\"%d\">", p->partial);
    }
    lit(o, "<title>dagprof: ");
    text(o, title, "report");
    lit(o, "</title><style>");
    lit(o, css);
    lit(o, "</style></head><body><main>\n");
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

/* "2026-12-01 07:51:48.123 UTC" */
static void date(html_out *o, uint64_t ns)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    char buf[64];
    if (!gmtime_r(&secs, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm)) {
        lit(o, "unknown");
        return;
    }
    put(o, "%s.%03u UTC", buf, (unsigned)(ns / 1000000u % 1000u));
}

static void card(html_out *o, const char *label, const char *cls)
{
    put(o, "<div class=\"card %s\">%s<b>", cls, label);
}

static bool run_cost_known(const dp_run_profile *p)
{
    return p->cost_any_known || p->unknown_cost_calls == 0; /* as render_json.c */
}

static const char *deps_name(const dp_run_profile *p)
{
    return p->deps_source == DP_DEPS_LANGGRAPH_STEPS ? "langgraph_steps"
           : p->explicit_deps                        ? "declared"
                                                     : "inferred";
}

static void node_link(html_out *o, const dp_run_profile *p, int node)
{
    if (node < 0) {
        lit(o, "(run)");
        return;
    }
    put(o, "<a href=\"#%s-n%d\">", o->rid, node);
    text(o, p->nodes[node].id, "");
    lit(o, "</a>");
}

static void recommendation_savings(html_out *o, const dp_recommendation *r)
{
    lit(o, "saves <span class=\"save-ms\">");
    ms(o, r->savings_time_ms);
    put(o, "</span>, <span class=\"save-tokens\">%llu tokens</span>, <span class=\"save-usd\">",
        (unsigned long long)r->savings_tokens);
    usd(o, r->savings_cost_usd, r->savings_cost_known);
    lit(o, "</span>");
}

/* The three recommendations with the largest time savings (then cost), best first. */
static void top_fixes(html_out *o, const dp_run_profile *p)
{
    size_t pick[TOP_FIXES], n = 0;
    for (size_t r = 0; r < p->recommendation_count; r++) {
        const dp_recommendation *x = &p->recommendations[r];
        size_t at = n;
        while (at > 0) {
            const dp_recommendation *y = &p->recommendations[pick[at - 1]];
            bool better = x->savings_time_ms > y->savings_time_ms ||
                          (x->savings_time_ms == y->savings_time_ms &&
                           x->savings_cost_usd > y->savings_cost_usd);
            if (!better)
                break;
            at--;
        }
        if (at >= TOP_FIXES)
            continue;
        size_t last = n < TOP_FIXES ? n : TOP_FIXES - 1;
        memmove(&pick[at + 1], &pick[at], (last - at) * sizeof(pick[0]));
        pick[at] = r;
        if (n < TOP_FIXES)
            n++;
    }
    lit(o, "<h3>Top fixes</h3>");
    if (!n) {
        lit(o, "<p>No recommendation for this run.</p>");
        return;
    }
    lit(o, "<ol class=\"top-fixes\">");
    for (size_t i = 0; i < n; i++) {
        const dp_recommendation *r = &p->recommendations[pick[i]];
        put(o, "<li><a href=\"#%s-r%zu\"><b>%s</b></a> (%s priority%s): ", o->rid, pick[i],
            dp_recommendation_type_name(r->type), dp_severity_name(r->priority),
            r->hypothesis ? ", hypothesis" : "");
        recommendation_savings(o, r);
        lit(o, ". ");
        text(o, r->description, "");
        lit(o, "</li>");
    }
    lit(o, "</ol>");
}

static void summary(html_out *o, const dp_run_profile *p, const char *trace)
{
    put(o,
        "<section class=\"run\" id=\"%s\" data-trace-id=\"%s\">\n<h2>DAG <span class=\"dag-id\">",
        o->rid, trace);
    text(o, p->dag_id, "unknown");
    put(o,
        "</span></h2>\n<p class=\"meta\">trace <code>%s</code> &middot; started <span "
        "class=\"run-start\">",
        trace);
    date(o, p->start_ns);
    lit(o, "</span> &middot; service <span class=\"service\">");
    text(o, p->service, "unknown");
    put(o, "</span> &middot; %zu spans &middot; dependencies <span class=\"deps\">%s</span></p>\n",
        p->span_count, deps_name(p));
    if (p->partial)
        put(o,
            "<p class=\"warn\">Partial: reported before the run was complete (assembly.%s); a "
            "whole report follows if its remaining spans arrive.</p>",
            p->partial_reason ? p->partial_reason : "max_age");
    if (p->supersedes)
        lit(o, "<p class=\"warn\">Whole run: supersedes the partial report of this trace.</p>");
    if (p->late)
        lit(o, "<p class=\"warn\">Late spans of an already reported run.</p>");

    lit(o, "<div class=\"cards\">");
    card(o, "wall", "wall");
    ms(o, p->wall_ms);
    lit(o, "</b></div>");
    card(o, "critical path", "critical-path");
    ms(o, p->critical_path_ms);
    lit(o, "</b></div>");
    card(o, "parallelism", "parallelism");
    num(o, p->parallelism, RATIO_DECIMALS);
    lit(o, "</b></div>");
    card(o, "possible speed-up", "speedup");
    num(o, p->speedup, RATIO_DECIMALS);
    lit(o, "x</b>");
    if (p->speedup_if_independent >= 0) {
        lit(o, "<small>");
        num(o, p->speedup_if_independent, RATIO_DECIMALS);
        lit(o, "x if the top-level nodes are independent</small>");
    }
    lit(o, "</div>");
    card(o, "tokens", "tokens");
    put(o,
        "%llu</b><small>input %llu, output %llu, cache read %llu, cache write %llu</small></div>",
        (unsigned long long)dp_token_total(&p->tokens), (unsigned long long)p->tokens.input,
        (unsigned long long)p->tokens.output, (unsigned long long)p->tokens.cache_read,
        (unsigned long long)p->tokens.cache_write);
    card(o, "cost", "cost");
    usd(o, p->cost_usd, run_cost_known(p));
    lit(o, "</b>");
    if (!p->cost_complete)
        put(o, "<small>+ unknown: %u call(s) with no price</small>", p->unknown_cost_calls);
    lit(o, "</div>");
    card(o, "nodes / calls", "counts");
    put(o, "%zu</b><small>%u LLM calls, %u tool calls, %u retries</small></div></div>\n",
        p->node_count, p->llm_calls, p->tool_calls, p->retries);

    if (p->critical_path_count) {
        lit(o, "<p class=\"critical-path-nodes\">Critical path: ");
        for (size_t i = 0; i < p->critical_path_count; i++) {
            if (i)
                lit(o, " &rarr; ");
            node_link(o, p, (int)p->critical_path[i]);
        }
        lit(o, "</p>\n");
    }
    top_fixes(o, p);
}

static void node_table(html_out *o, const dp_run_profile *p)
{
    if (!p->node_count)
        return;
    lit(o,
        "<h3>Nodes</h3><table class=\"nodes\"><thead><tr><th>node</th><th>name</th>"
        "<th class=\"n\">start</th><th class=\"n\">duration</th><th class=\"n\">wait</th>"
        "<th class=\"n\">execution</th><th class=\"n\">retries</th><th class=\"n\">LLM calls</th>"
        "<th class=\"n\">tokens</th><th class=\"n\">cost</th><th>model</th><th>critical</th>"
        "<th>findings</th></tr></thead><tbody>\n");
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        put(o, "<tr id=\"%s-n%zu\" class=\"node%s\" data-node=\"", o->rid, j,
            n->on_critical_path ? " crit" : "");
        text(o, n->id, "");
        put(o, "\" data-critical=\"%d\"><td class=\"id\">", n->on_critical_path);
        text(o, n->id, "");
        lit(o, "</td><td class=\"name\">");
        text(o, n->name, "");
        lit(o, "</td><td class=\"n start\">");
        ms(o, n->start_ms);
        lit(o, "</td><td class=\"n duration\">");
        ms(o, n->duration_ms);
        lit(o, "</td><td class=\"n wait\">");
        ms(o, n->wait_ms);
        lit(o, "</td><td class=\"n execution\">");
        ms(o, n->execution_ms);
        put(o, "</td><td class=\"n retries\">%u</td><td class=\"n llm\">%u</td>", n->retries,
            n->llm_calls);
        put(o,
            "<td class=\"n tokens\" title=\"input %llu, output %llu, cache read %llu, cache write "
            "%llu\">%llu</td><td class=\"n cost\">",
            (unsigned long long)n->tokens.input, (unsigned long long)n->tokens.output,
            (unsigned long long)n->tokens.cache_read, (unsigned long long)n->tokens.cache_write,
            (unsigned long long)dp_token_total(&n->tokens));
        usd(o, n->cost_usd, n->cost_known);
        lit(o, "</td><td class=\"model\">");
        text(o, n->model, "-");
        put(o, "</td><td class=\"critical\">%s</td><td class=\"findings\">",
            n->on_critical_path ? "<span class=\"crit-mark\">&#9733; critical</span>" : "");
        for (size_t b = 0; b < p->bottleneck_count; b++) {
            if (p->bottlenecks[b].node == (int)j)
                put(o, "<a href=\"#%s-b%zu\">%s</a> ", o->rid, b,
                    dp_bottleneck_type_name(p->bottlenecks[b].type));
        }
        lit(o, "</td></tr>\n");
    }
    lit(o, "</tbody></table>\n");
}

/* A bar on a track of the run's wall time. */
static void track_span(html_out *o, const dp_run_profile *p, const char *cls, double start,
                       double len)
{
    long left = share(start, p->wall_ms), width = share(len, p->wall_ms);
    put(o, "<span class=\"%s\" style=\"left:" SHARE_FMT ";width:" SHARE_FMT "\"", cls,
        SHARE_ARGS(left), SHARE_ARGS(width));
}

static void call_row(html_out *o, const dp_run_profile *p, const dp_call_profile *c)
{
    lit(o, "<div class=\"row call\"><span class=\"lbl\">");
    lit(o, c->is_tool ? "tool " : "llm ");
    text(o, c->name, "");
    if (c->model) {
        lit(o, " &middot; ");
        text(o, c->model, "");
    }
    lit(o, "</span><span class=\"trk\">");
    char cls[32];
    snprintf(cls, sizeof(cls), "%s%s", c->is_tool ? "tool" : "llm", c->success ? "" : " fail");
    track_span(o, p, cls, c->start_ms, c->duration_ms);
    lit(o, " title=\"");
    text(o, c->name, "");
    lit(o, ": start ");
    ms(o, c->start_ms);
    lit(o, ", duration ");
    ms(o, c->duration_ms);
    if (c->is_llm) {
        put(o, ", input %llu, output %llu, cache read %llu, cache write %llu tokens, cost ",
            (unsigned long long)c->tokens.input, (unsigned long long)c->tokens.output,
            (unsigned long long)c->tokens.cache_read, (unsigned long long)c->tokens.cache_write);
        usd(o, c->cost_usd, c->cost_known);
    }
    lit(o, c->success ? "" : ", FAILED");
    lit(o, "\"></span></span><span class=\"d\">");
    ms(o, c->duration_ms);
    lit(o, "</span></div>");
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

    lit(o, "<h3>Waterfall</h3><p class=\"legend\">0 to ");
    ms(o, p->wall_ms);
    lit(o, ":<span class=\"k-hatch\"></span>wait<span class=\"k-node\"></span>node"
           "<span class=\"k-crit\"></span>critical path<span class=\"k-llm\"></span>LLM "
           "call<span class=\"k-tool\"></span>tool call (click a node for its calls)</p>"
           "<div class=\"waterfall\">\n");
    for (size_t j = 0; j < n; j++) {
        const dp_node_profile *nd = &p->nodes[j];
        bool calls = first[j + 1] > first[j];
        const char *crit = nd->on_critical_path ? " crit" : "";
        if (calls)
            put(o, "<details class=\"wf%s\" id=\"%s-w%zu\"><summary class=\"row\">", crit, o->rid,
                j);
        else
            put(o, "<div class=\"wf row%s\" id=\"%s-w%zu\">", crit, o->rid, j);
        lit(o, "<span class=\"lbl\">");
        text(o, nd->id, "");
        lit(o, "</span><span class=\"trk\">");
        if (nd->wait_ms > 0) {
            track_span(o, p, "wait", nd->start_ms - nd->wait_ms, nd->wait_ms);
            lit(o, " title=\"wait ");
            ms(o, nd->wait_ms);
            lit(o, " (ready at ");
            ms(o, nd->ready_ms);
            lit(o, ")\"></span>");
        }
        track_span(o, p, "bar", nd->start_ms, nd->duration_ms);
        lit(o, " title=\"");
        text(o, nd->id, "");
        lit(o, ": start ");
        ms(o, nd->start_ms);
        lit(o, ", duration ");
        ms(o, nd->duration_ms);
        lit(o, ", wait ");
        ms(o, nd->wait_ms);
        lit(o, nd->on_critical_path ? ", on the critical path\"" : "\"");
        lit(o, "></span></span><span class=\"d\">");
        ms(o, nd->duration_ms);
        lit(o, calls ? "</span></summary>" : "</span></div>\n");
        if (!calls)
            continue;
        call_rows(o, p, first, order, j);
        lit(o, "</details>\n");
    }
    if (first[n + 1] > first[n]) {
        lit(o, "<details class=\"wf\"><summary class=\"row\"><span class=\"lbl\">(outside every "
               "node)</span><span></span><span></span></summary>");
        call_rows(o, p, first, order, n);
        lit(o, "</details>\n");
    }
    lit(o, "</div>\n");
out:
    free(first);
    free(order);
}

typedef struct end_key {
    double end_ms;
    size_t node;
} end_key;

static int by_end(const void *a, const void *b)
{
    const end_key *x = a, *y = b;
    if (x->end_ms != y->end_ms)
        return x->end_ms < y->end_ms ? -1 : 1;
    return x->node < y->node ? -1 : 1;
}

/* Layer = dependency depth; nodes are laid out in order of their end, so a
 * dependency that ends later (bad input, cycles) does not raise a layer. */
static int layout(const dp_run_profile *p, size_t *layer, size_t *row, size_t *layers, size_t *rows)
{
    size_t n = p->node_count;
    end_key *order = malloc(n * sizeof(*order));
    size_t *per_layer = calloc(n + 1, sizeof(*per_layer));
    bool *done = calloc(n, sizeof(*done));
    int rc = -1;
    if (!order || !per_layer || !done)
        goto out;
    for (size_t j = 0; j < n; j++)
        order[j] = (end_key){p->nodes[j].end_ms, j};
    qsort(order, n, sizeof(*order), by_end);
    for (size_t k = 0; k < n; k++) {
        size_t j = order[k].node, depth = 0;
        for (size_t d = 0; d < p->nodes[j].dep_count; d++) {
            size_t dep = p->nodes[j].deps[d];
            if (dep < n && done[dep] && layer[dep] + 1 > depth)
                depth = layer[dep] + 1;
        }
        layer[j] = depth;
        done[j] = true;
    }
    *layers = *rows = 0;
    for (size_t j = 0; j < n; j++) { /* rows by start within a layer */
        row[j] = per_layer[layer[j]]++;
        if (layer[j] + 1 > *layers)
            *layers = layer[j] + 1;
        if (row[j] + 1 > *rows)
            *rows = row[j] + 1;
    }
    rc = 0;
out:
    free(order);
    free(per_layer);
    free(done);
    return rc;
}

static void graph(html_out *o, const dp_run_profile *p)
{
    size_t n = p->node_count;
    if (!n)
        return;
    size_t *layer = malloc(n * sizeof(*layer)), *row = malloc(n * sizeof(*row));
    size_t *path_pos = malloc(n * sizeof(*path_pos));
    size_t layers = 0, rows = 0;
    if (!layer || !row || !path_pos || layout(p, layer, row, &layers, &rows) != 0) {
        o->err = -1;
        goto out;
    }
    for (size_t j = 0; j < n; j++)
        path_pos[j] = SIZE_MAX;
    for (size_t i = 0; i < p->critical_path_count; i++)
        if (p->critical_path[i] < n)
            path_pos[p->critical_path[i]] = i;
    const char *edge_kind = p->deps_source == DP_DEPS_INFERRED ? "inferred" : "explicit";
    lit(o,
        "<h3>DAG</h3><p class=\"legend\">Layers by dependency depth, left to right. "
        "<svg width=\"150\" height=\"10\" aria-hidden=\"true\"><line x1=\"0\" y1=\"5\" x2=\"30\" "
        "y2=\"5\" class=\"ge\"/><line x1=\"80\" y1=\"5\" x2=\"110\" y2=\"5\" class=\"ge "
        "inferred\"/></svg> declared / inferred from timing &middot; <svg width=\"30\" "
        "height=\"10\" aria-hidden=\"true\"><line x1=\"0\" y1=\"5\" x2=\"30\" y2=\"5\" "
        "class=\"ge crit\"/></svg> critical path. ");
    put(o, "This run's edges: <b class=\"edge-kind\">%s</b> (%s).</p>", edge_kind, deps_name(p));
    unsigned width = (unsigned)(layers * COL_W - (COL_W - BOX_W) + 2 * PAD);
    unsigned height = (unsigned)(rows * ROW_H - (ROW_H - BOX_H) + 2 * PAD);
    put(o,
        "<div class=\"graph\"><svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" "
        "width=\"%u\" height=\"%u\" viewBox=\"0 0 %u %u\" role=\"img\"><title>DAG of ",
        width, height, width, height);
    text(o, p->dag_id, "unknown");
    lit(o, "</title>\n");
    for (size_t j = 0; j < n; j++) {
        const dp_node_profile *t = &p->nodes[j];
        long x2 = PAD + (long)layer[j] * COL_W, y2 = PAD + (long)row[j] * ROW_H + BOX_H / 2;
        for (size_t d = 0; d < t->dep_count; d++) {
            size_t f = t->deps[d];
            if (f >= n)
                continue;
            long x1 = PAD + (long)layer[f] * COL_W + BOX_W;
            long y1 = PAD + (long)row[f] * ROW_H + BOX_H / 2;
            bool crit = path_pos[j] != SIZE_MAX && path_pos[f] != SIZE_MAX &&
                        path_pos[f] + 1 == path_pos[j];
            long mx = (x1 + x2) / 2;
            put(o, "<path class=\"ge %s%s\" d=\"M%ld %ldC%ld %ld %ld %ld %ld %ld\"><title>",
                edge_kind, crit ? " crit" : "", x1, y1, mx, y1, mx, y2, x2, y2);
            text(o, p->nodes[f].id, "");
            lit(o, " &#8594; ");
            text(o, t->id, "");
            put(o, " (%s)</title></path>\n", edge_kind);
        }
    }
    for (size_t j = 0; j < n; j++) {
        const dp_node_profile *t = &p->nodes[j];
        long x = PAD + (long)layer[j] * COL_W, y = PAD + (long)row[j] * ROW_H;
        put(o, "<a href=\"#%s-n%zu\"><g class=\"gn%s\" data-node=\"", o->rid, j,
            t->on_critical_path ? " crit" : "");
        text(o, t->id, "");
        lit(o, "\"><title>");
        text(o, t->id, "");
        lit(o, ": duration ");
        ms(o, t->duration_ms);
        lit(o, ", wait ");
        ms(o, t->wait_ms);
        lit(o, ", cost ");
        usd(o, t->cost_usd, t->cost_known);
        lit(o, t->on_critical_path ? ", on the critical path" : "");
        put(o, "</title><rect x=\"%ld\" y=\"%ld\" width=\"%d\" height=\"%d\" rx=\"4\"/>", x, y,
            BOX_W, BOX_H);
        put(o, "<text x=\"%ld\" y=\"%ld\">", x + 6, y + BOX_H / 2 + 4);
        text_cut(o, t->id, LABEL_CHARS);
        lit(o, "</text></g></a>\n");
    }
    lit(o, "</svg></div>\n");
out:
    free(layer);
    free(row);
    free(path_pos);
}

/* One stacked bar of token kinds scaled to `max` tokens. */
static void token_stack(html_out *o, const dp_token_counts *t, uint64_t max)
{
    uint64_t cached = t->cache_read + t->cache_write;
    uint64_t uncached = t->input > cached ? t->input - cached : 0;
    const struct {
        const char *cls, *what;
        uint64_t v;
    } part[] = {{"k-in", "uncached input", uncached},
                {"k-cr", "cache read", t->cache_read},
                {"k-cw", "cache write", t->cache_write},
                {"k-out", "output", t->output}};
    lit(o, "<div class=\"stack\">");
    for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++) {
        if (!part[i].v)
            continue;
        long width = share((double)part[i].v, (double)max);
        put(o, "<span class=\"%s\" style=\"width:" SHARE_FMT "\" title=\"%s %llu tokens\"></span>",
            part[i].cls, SHARE_ARGS(width), part[i].what, (unsigned long long)part[i].v);
    }
    lit(o, "</div>");
}

/* One stacked bar of a cost by what it paid for, scaled to `max` USD. */
static void cost_bar(html_out *o, const dp_cost_split *sp, bool known, double max)
{
    const struct {
        const char *cls, *what;
        double v;
    } part[] = {{"k-in", "uncached input", sp->input},
                {"k-cr", "cache read", sp->cache_read},
                {"k-cw", "cache write", sp->cache_write},
                {"k-out", "output", sp->output},
                {"k-given", "given on the span", sp->given}};
    lit(o, "<div class=\"stack\">");
    for (size_t i = 0; known && i < sizeof(part) / sizeof(part[0]); i++) {
        if (!(part[i].v > 0))
            continue;
        long width = share(part[i].v, max);
        put(o, "<span class=\"%s\" style=\"width:" SHARE_FMT "\" title=\"%s ", part[i].cls,
            SHARE_ARGS(width), part[i].what);
        usd(o, part[i].v, true);
        lit(o, "\"></span>");
    }
    lit(o, "</div>");
}

/* The largest token total and known cost so far, for scaling bars. */
static void widen(uint64_t *max_tokens, double *max_cost, const dp_token_counts *t, double cost,
                  bool cost_known)
{
    if (dp_token_total(t) > *max_tokens)
        *max_tokens = dp_token_total(t);
    if (cost_known && cost > *max_cost)
        *max_cost = cost;
}

/* The cost, its bar, the token total and its split: the last cells of a row. */
static void cost_cells(html_out *o, double cost, bool known, const dp_cost_split *sp,
                       double max_cost, const dp_token_counts *t, uint64_t max_tokens)
{
    lit(o, "<td class=\"n cost\">");
    usd(o, cost, known);
    lit(o, "</td><td>");
    cost_bar(o, sp, known, max_cost);
    put(o, "</td><td class=\"n tokens\">%llu</td><td>", (unsigned long long)dp_token_total(t));
    token_stack(o, t, max_tokens);
    lit(o, "</td></tr>\n");
}

static void cost_section(html_out *o, const dp_run_profile *p)
{
    if (!p->llm_calls && !p->model_count)
        return;
    uint64_t max_tokens = 0;
    double max_cost = 0;
    for (size_t j = 0; j < p->node_count; j++)
        widen(&max_tokens, &max_cost, &p->nodes[j].tokens, p->nodes[j].cost_usd,
              p->nodes[j].cost_known);
    lit(o, "<h3>Cost and tokens by node</h3><p class=\"legend\">cost and tokens:<span "
           "class=\"k-in\"></span>uncached input<span class=\"k-cr\"></span>cache read<span "
           "class=\"k-cw\"></span>cache write<span class=\"k-out\"></span>output<span "
           "class=\"k-given\"></span>cost given on the span (no split)</p><table "
           "class=\"cost-nodes\"><thead><tr><th>node</th>"
           "<th class=\"n\">cost</th><th style=\"width:35%\">cost</th><th class=\"n\">tokens</th>"
           "<th style=\"width:35%\">tokens by kind</th></tr></thead><tbody>\n");
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        lit(o, "<tr><td>");
        node_link(o, p, (int)j);
        lit(o, "</td>");
        cost_cells(o, n->cost_usd, n->cost_known, &n->cost_split, max_cost, &n->tokens, max_tokens);
    }
    lit(o, "</tbody></table>\n");

    max_tokens = 0;
    max_cost = 0;
    for (size_t m = 0; m < p->model_count; m++)
        widen(&max_tokens, &max_cost, &p->models[m].tokens, p->models[m].cost_usd,
              p->models[m].cost_known);
    lit(o, "<h3>By model</h3><table class=\"models\"><thead><tr><th>model</th><th class=\"n\">"
           "calls</th><th class=\"n\">input</th><th class=\"n\">output</th><th class=\"n\">cache "
           "read</th><th class=\"n\">cache write</th><th class=\"n\">cost</th><th "
           "style=\"width:18%\">cost</th><th class=\"n\">tokens</th><th style=\"width:18%\">"
           "tokens by kind</th></tr></thead><tbody>\n");
    for (size_t m = 0; m < p->model_count; m++) {
        const dp_model_usage *u = &p->models[m];
        lit(o, "<tr data-model=\"");
        text(o, u->model, "unknown");
        lit(o, "\"><td class=\"model\">");
        text(o, u->model, "unknown");
        put(o,
            "</td><td class=\"n calls\">%u</td><td class=\"n input\">%llu</td><td class=\"n "
            "output\">%llu</td><td class=\"n cache-read\">%llu</td><td class=\"n "
            "cache-write\">%llu</td>",
            u->calls, (unsigned long long)u->tokens.input, (unsigned long long)u->tokens.output,
            (unsigned long long)u->tokens.cache_read, (unsigned long long)u->tokens.cache_write);
        cost_cells(o, u->cost_usd, u->cost_known, &u->cost_split, max_cost, &u->tokens, max_tokens);
    }
    lit(o, "</tbody></table>\n");
}

static void wait_section(html_out *o, const dp_run_profile *p)
{
    if (!p->node_count)
        return;
    double max = 0;
    for (size_t j = 0; j < p->node_count; j++) {
        double t = p->nodes[j].wait_ms + p->nodes[j].execution_ms;
        if (t > max)
            max = t;
    }
    lit(o, "<h3>Execution and wait per node</h3><p class=\"legend\"><span class=\"k-wait\">"
           "</span>wait<span class=\"k-exec\"></span>execution</p>"
           "<table class=\"wait-exec\"><tbody>\n");
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        lit(o, "<tr><td style=\"width:25%\">");
        node_link(o, p, (int)j);
        lit(o, "</td><td><div class=\"stack\">");
        long wait = share(n->wait_ms, max), exec = share(n->execution_ms, max);
        put(o, "<span class=\"k-wait\" style=\"width:" SHARE_FMT "\" title=\"wait ",
            SHARE_ARGS(wait));
        ms(o, n->wait_ms);
        put(o, "\"></span><span class=\"k-exec\" style=\"width:" SHARE_FMT "\" title=\"execution ",
            SHARE_ARGS(exec));
        ms(o, n->execution_ms);
        lit(o, "\"></span></div></td><td class=\"n\" style=\"width:22%\">");
        ms(o, n->wait_ms);
        lit(o, " + ");
        ms(o, n->execution_ms);
        lit(o, "</td></tr>\n");
    }
    lit(o, "</tbody></table>\n");
}

static void findings(html_out *o, const dp_run_profile *p)
{
    put(o, "<h3>Bottlenecks</h3>%s", p->bottleneck_count ? "" : "<p>None.</p>");
    if (p->bottleneck_count) {
        lit(o, "<table class=\"bottlenecks\"><thead><tr><th>#</th><th>severity</th><th>type</th>"
               "<th>node</th><th class=\"n\">impact</th><th>details</th></tr></thead><tbody>\n");
        for (size_t i = 0; i < p->bottleneck_count; i++) {
            const dp_bottleneck *b = &p->bottlenecks[i];
            const char *sev = dp_severity_name(b->severity);
            put(o, "<tr id=\"%s-b%zu\"><td>%zu</td><td class=\"sev-%s\">%s</td><td>%s%s</td><td>",
                o->rid, i, i + 1, sev, sev, dp_bottleneck_type_name(b->type),
                b->hypothesis ? " <small>(hypothesis)</small>" : "");
            node_link(o, p, b->node);
            lit(o, "</td><td class=\"n\">");
            num(o, b->impact_pct, PCT_DECIMALS);
            lit(o, "%</td><td>");
            text(o, b->details, "");
            lit(o, "<br>&rarr; ");
            text(o, b->suggestion, "");
            lit(o, "</td></tr>\n");
        }
        lit(o, "</tbody></table>");
        if (p->bottlenecks_omitted)
            put(o, "<p class=\"meta\">%zu more with lower impact not shown.</p>",
                p->bottlenecks_omitted);
    }
    put(o, "<h3>Recommendations</h3>%s", p->recommendation_count ? "" : "<p>None.</p>");
    if (!p->recommendation_count)
        return;
    lit(o, "<ol class=\"recommendations\">");
    for (size_t i = 0; i < p->recommendation_count; i++) {
        const dp_recommendation *r = &p->recommendations[i];
        put(o, "<li id=\"%s-r%zu\"><b>%s</b> <span class=\"sev-%s\">[%s]</span>%s ", o->rid, i,
            dp_recommendation_type_name(r->type), dp_severity_name(r->priority),
            dp_severity_name(r->priority), r->hypothesis ? " <small>(hypothesis)</small>" : "");
        recommendation_savings(o, r);
        lit(o, "<br>");
        text(o, r->description, "");
        lit(o, "<br>&rarr; ");
        text(o, r->implementation, "");
        if (r->overlaps) {
            char names[256];
            dp_render_overlap_names(r->overlaps, names, sizeof(names));
            put(o, "<br><small>Savings overlap with %s: alternatives, not additive.</small>",
                names);
        }
        lit(o, "</li>\n");
    }
    lit(o, "</ol>\n");
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
    graph(&o, p);
    findings(&o, p);
    cost_section(&o, p);
    wait_section(&o, p);
    node_table(&o, p);
    lit(&o, "</section>\n");
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

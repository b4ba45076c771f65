/*
 * The human report of one run: summary, node breakdown, critical path,
 * bottlenecks, recommendations, an ASCII waterfall with the critical path
 * marked, and cost-by-node bars. Written into a dp_buf in one go so the
 * caller prints a report with a single write.
 *
 * It is the daemon's default output, rendered once per finished run, so
 * it stays cheap: every line is formatted once, straight into the buffer
 * (which is sized up front from the node count), and each section is one
 * pass over its items.
 */
#include "render.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "profile_types.h"
#include "report_figures.h"

#define NAME_COL 24
#define BAR_WIDTH 20
#define WATERFALL_MAX 200
#define MODEL_COL_MAX 40
#define ELLIPSIS "..."
#define REC_NODES_SHOWN 10 /* node ids listed under a recommendation */

typedef struct text_out {
    dp_buf *b;
    bool color;
    int err;
} text_out;

static void put(text_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Format straight into the buffer's free room; only a line that does not
 * fit goes through dp_buf_vprintf, which grows the buffer (or hits its cap). */
static void put(text_out *o, const char *fmt, ...)
{
    if (o->err)
        return;
    dp_buf *b = o->b;
    va_list ap;
    if (b->data && b->cap > b->len + 1) {
        size_t room = b->cap - b->len; /* the NUL included */
        if (b->max && room > b->max + 1 - b->len)
            room = b->max + 1 - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        b->data[b->len] = '\0'; /* drop the cut attempt */
        if (n < 0) {
            o->err = -1;
            return;
        }
    }
    va_start(ap, fmt);
    if (dp_buf_vprintf(b, fmt, ap) < 0)
        o->err = -1;
    va_end(ap);
}

static void put_bytes(text_out *o, const char *s, size_t n)
{
    if (!o->err && dp_buf_append(o->b, s, n) < 0)
        o->err = -1;
}

/* Display width of UTF-8 text: one column per code point (continuation
 * bytes do not count). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* s left-aligned in a column of width code points; longer text is cut at
 * a code point boundary and ends in an ellipsis so the column keeps its width. */
static void put_column(text_out *o, const char *s, size_t width)
{
    size_t w = text_width(s);
    if (w <= width) {
        put_bytes(o, s, strlen(s));
        for (; w < width; w++)
            put_bytes(o, " ", 1);
        return;
    }
    size_t keep = width > sizeof(ELLIPSIS) - 1 ? width - (sizeof(ELLIPSIS) - 1) : 0;
    size_t i = 0, seen = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && seen++ == keep)
            break;
    }
    put_bytes(o, s, i);
    put_bytes(o, ELLIPSIS, sizeof(ELLIPSIS) - 1);
}

static const char *sev_color(const text_out *o, enum dp_severity s)
{
    if (!o->color)
        return "";
    return s == DP_SEVERITY_HIGH ? "\033[31m" : s == DP_SEVERITY_MEDIUM ? "\033[33m" : "\033[36m";
}

static const char *reset(const text_out *o)
{
    return o->color ? "\033[0m" : "";
}

/* "$0.0123", "$0.000063" below a tenth of a cent (so small runs do not read $0.0000),
 * or "unknown" */
static const char *money(char *buf, size_t cap, double usd, bool known)
{
    if (known)
        snprintf(buf, cap, usd != 0 && fabs(usd) < 0.001 ? "$%.6f" : "$%.4f", usd);
    else
        snprintf(buf, cap, "unknown");
    return buf;
}

static void summary(text_out *o, const dp_run_profile *p)
{
    char usd[32];
    char hex[33];
    dp_hex(p->trace_id, 16, hex);
    put(o, "=== dagprof run %s  trace %s  (%zu spans)%s%s ===\n", p->dag_id, hex, p->span_count,
        p->late ? "  [LATE SPANS of an already reported run]" : "",
        p->supersedes ? "  [WHOLE RUN: supersedes the partial report of this trace]" : "");
    if (p->partial)
        put(o,
            "  [PARTIAL: reported before the run was complete (assembly.%s); a whole report "
            "follows if its remaining spans arrive]\n",
            p->partial_reason ? p->partial_reason : "max_age");
    char when[DP_ISO8601_MAX];
    put(o, "  DAG %s   service %s   run start %s\n", p->dag_id ? p->dag_id : "unknown",
        p->service ? p->service : "unknown",
        p->span_count ? dp_utc_iso8601(p->start_ns, when) : "unknown");
    put(o, "Summary\n");
    put(o, "  wall time        %12.1f ms\n", p->wall_ms);
    put(o, "  execution (sum)  %12.1f ms   parallelism %.2f\n", p->execution_ms, p->parallelism);
    if (p->speedup_if_independent >= 0)
        put(o,
            "  critical path    %12.1f ms   possible speed-up %.2fx along the inferred "
            "dependencies, %.2fx if the top-level nodes are independent\n",
            p->critical_path_ms, p->speedup, p->speedup_if_independent);
    else
        put(o, "  critical path    %12.1f ms   possible speed-up %.2fx\n", p->critical_path_ms,
            p->speedup);
    put(o, "  nodes %zu   LLM calls %u   tool calls %u   retries %u\n", p->node_count, p->llm_calls,
        p->tool_calls, p->retries);
    if (dp_token_total(&p->tokens)) {
        put(o, "  tokens           %llu (input %llu, output %llu",
            (unsigned long long)dp_token_total(&p->tokens), (unsigned long long)p->tokens.input,
            (unsigned long long)p->tokens.output);
        if (p->tokens.cache_read)
            put(o, ", cache read %llu", (unsigned long long)p->tokens.cache_read);
        if (p->tokens.cache_write)
            put(o, ", cache write %llu", (unsigned long long)p->tokens.cache_write);
        put(o, ")\n");
    }
    /* a run without model calls and without cost has no cost lines */
    double per_1000;
    if (p->cost_complete) {
        if (p->cost_usd != 0 || p->llm_calls)
            put(o, "  cost             %s\n", money(usd, sizeof(usd), p->cost_usd, true));
    } else if (p->cost_any_known)
        put(o, "  cost             %s known + unknown (%u call(s) with no price)\n",
            money(usd, sizeof(usd), p->cost_usd, true), p->unknown_cost_calls);
    else
        put(o, "  cost             unknown (%u call(s) with no price)\n", p->unknown_cost_calls);
    if (dp_report_cost_per_1000_runs(p, &per_1000) && per_1000 > 0) {
        if (per_1000 >= 1)
            snprintf(usd, sizeof(usd), "$%.2f", per_1000);
        else
            money(usd, sizeof(usd), per_1000, true);
        put(o, "  cost per 1,000 runs %s%s (extrapolated from this run: its cost x 1000)\n",
            p->cost_complete ? "" : ">= ", usd);
    }
    if (p->coerced_values || p->ignored_values)
        put(o, "  odd values       %u coerced, %u ignored\n", p->coerced_values, p->ignored_values);
    if (p->duplicate_spans)
        put(o, "  duplicates       %zu span(s) received more than once, counted once\n",
            p->duplicate_spans);
    if (p->aggregate_spans && p->duplicate_layer_spans)
        put(o,
            "  counted once     %u span(s) with usage summing the calls below them and %u second "
            "instrumentation layer(s) of a call: not added again\n",
            p->aggregate_spans, p->duplicate_layer_spans);
    else if (p->aggregate_spans)
        put(o,
            "  counted once     %u span(s) with usage summing the calls below them: not added "
            "again\n",
            p->aggregate_spans);
    else if (p->duplicate_layer_spans)
        put(o, "  counted once     %u second instrumentation layer(s) of a call: not added again\n",
            p->duplicate_layer_spans);
    if (p->calls_without_usage)
        put(o,
            "  no usage         %u LLM call(s) reported no token usage: not in the tokens or "
            "cost\n",
            p->calls_without_usage);
    if (p->node_source == DP_NODES_ROOT_CHILDREN)
        put(o, "  (no step attributes: the root's direct children are the nodes)\n");
    else if (p->node_source == DP_NODES_FRAMEWORK)
        put(o, "  (nodes: the framework's steps: LangGraph nodes, Traceloop tasks, AI SDK "
               "functionIds)\n");
    put(o, "  dependencies     %s\n",
        p->deps_source == DP_DEPS_LANGGRAPH_STEPS ? "LangGraph steps (langgraph_step)"
        : p->explicit_deps                        ? "declared (links / depends_on)"
                                                  : "inferred from timing (a hypothesis)");
}

static void node_table(text_out *o, const dp_run_profile *p)
{
    if (!p->node_count)
        return;
    put(o, "\nNodes\n");
    put(o, "  %-*s %10s %10s %10s %10s %5s %9s %10s  %s\n", NAME_COL, "NODE", "START ms", "DUR ms",
        "WAIT ms", "EXEC ms", "RETRY", "TOKENS", "COST", "MODEL");
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        char cost[32];
        put(o, "  %-*.*s %10.1f %10.1f %10.1f %10.1f %5u %9llu %10s  %s%s\n", NAME_COL, NAME_COL,
            n->id, n->start_ms, n->duration_ms, n->wait_ms, n->execution_ms, n->retries,
            (unsigned long long)dp_token_total(&n->tokens),
            money(cost, sizeof(cost), n->cost_usd, n->cost_known), n->model ? n->model : "-",
            n->on_critical_path ? "  *" : "");
    }
}

/* The width of a name column: the longest name, at most MODEL_COL_MAX. */
static size_t widen_column(size_t width, const char *s)
{
    size_t w = s ? text_width(s) : 1;
    if (w > MODEL_COL_MAX)
        w = MODEL_COL_MAX;
    return w > width ? w : width;
}

/* " 6500.0 ms, 300 tokens, $0.1161": the non-zero parts of a saving; "unknown" cost when so. */
static void savings_parts(text_out *o, double ms, uint64_t tokens, double usd, bool usd_known)
{
    char cost[32];
    const char *sep = "";
    if (ms > 0) {
        put(o, "%.1f ms", ms);
        sep = ", ";
    }
    if (tokens) {
        put(o, "%s%llu tokens", sep, (unsigned long long)tokens);
        sep = ", ";
    }
    if (!usd_known || usd > 0)
        put(o, "%s%s%s", sep, usd_known ? "" : "cost ", money(cost, sizeof(cost), usd, usd_known));
    else if (!*sep)
        put(o, "nothing measurable");
}

/* One unit of the combined savings: "X" or "X to Y" (only the units with a saving). */
static void combined_part(text_out *o, const char **sep, const char *fmt, double lo, double hi)
{
    if (!(hi > 0))
        return;
    put(o, "%s", *sep);
    put(o, fmt, lo);
    if (lo < hi) {
        put(o, " to ");
        put(o, fmt, hi);
    }
    *sep = ", ";
}

static void top_fixes(text_out *o, const dp_run_profile *p)
{
    dp_top_fixes top;
    dp_report_top_fixes(p, &top);
    if (!top.count)
        return;
    put(o, "\nTop %zu fix%s (largest estimated savings first)\n", top.count,
        top.count == 1 ? "" : "es");
    for (size_t i = 0; i < top.count; i++) {
        const dp_recommendation *r = &p->recommendations[top.rec[i]];
        put(o, "  %zu. %-17s saves ", i + 1, dp_recommendation_type_name(r->type));
        savings_parts(o, r->savings_time_ms, r->savings_tokens, r->savings_cost_usd,
                      r->savings_cost_known);
        put(o, " (%.1f%% of the run's %s)%s\n", top.share_pct[i],
            dp_report_share_basis_name(top.share_of[i]), r->hypothesis ? "  (hypothesis)" : "");
    }
    if (top.count < 2)
        return;
    put(o, "  combined: ");
    const char *sep = "";
    combined_part(o, &sep, "%.1f ms", top.at_least.time_ms, top.at_most.time_ms);
    combined_part(o, &sep, "%.0f tokens", (double)top.at_least.tokens, (double)top.at_most.tokens);
    if (!top.at_most.cost_known)
        put(o, "%scost unknown", sep), sep = ", ";
    else
        combined_part(o, &sep, top.at_most.cost_usd < 0.001 ? "$%.6f" : "$%.4f",
                      top.at_least.cost_usd, top.at_most.cost_usd);
    if (!*sep)
        put(o, "nothing");
    put(o, "%s\n",
        top.overlapping ? "  (some claim the same savings: from the best set that does "
                          "not overlap up to the sum, an upper bound)"
                        : "  (no two claim the same savings: the sum)");
}

static void tool_table(text_out *o, const dp_run_profile *p)
{
    const dp_tool_stat *st = p->tool_stats;
    size_t n = p->tool_stat_count;
    if (!n)
        return;
    size_t width = 4;
    for (size_t i = 0; i < n; i++)
        width = widen_column(width, st[i].name);
    put(o, "\nTools\n  ");
    put_column(o, "TOOL", width);
    put(o, " %6s %10s %10s %10s %8s\n", "CALLS", "P50 ms", "MAX ms", "TOTAL ms", "FAILURES");
    for (size_t i = 0; i < n; i++) {
        put(o, "  ");
        put_column(o, st[i].name, width);
        put(o, " %6u %10.1f %10.1f %10.1f %8u\n", st[i].count, st[i].p50_ms, st[i].max_ms,
            st[i].total_ms, st[i].failures);
    }
}

static void critical(text_out *o, const dp_run_profile *p)
{
    if (!p->critical_path_count)
        return;
    put(o, "\nCritical path (%.1f ms): ", p->critical_path_ms);
    for (size_t i = 0; i < p->critical_path_count; i++)
        put(o, "%s%s", i ? " -> " : "", p->nodes[p->critical_path[i]].id);
    put(o, "\n");
}

static void waterfall(text_out *o, const dp_run_profile *p, unsigned width)
{
    if (!p->node_count)
        return;
    put(o, "\nWaterfall (0 .. %.1f ms; '#' critical path, '=' other, '*' marks critical nodes)\n",
        p->wall_ms);
    char bar[WATERFALL_MAX + 1];
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        unsigned from = 0, len = width;
        if (p->wall_ms > 0) {
            from = (unsigned)floor(n->start_ms / p->wall_ms * width);
            len = (unsigned)lround(n->duration_ms / p->wall_ms * width);
        }
        if (from >= width)
            from = width - 1;
        if (len < 1)
            len = 1;
        if (from + len > width)
            len = width - from;
        memset(bar, ' ', width);
        memset(bar + from, n->on_critical_path ? '#' : '=', len);
        bar[width] = '\0';
        put(o, "  %-*.*s |%s| %10.1f ms%s\n", NAME_COL, NAME_COL, n->id, bar, n->duration_ms,
            n->on_critical_path ? " *" : "");
    }
}

static void cost_bars(text_out *o, const dp_run_profile *p)
{
    /* nodes that cost nothing have no line; no such node, no section */
    size_t shown = 0;
    for (size_t j = 0; j < p->node_count; j++)
        shown += !p->nodes[j].cost_known || p->nodes[j].cost_usd != 0;
    if (!shown)
        return;
    put(o, "\nCost by node\n");
    /* U+2588 / U+2591, three bytes each */
    static const char full[] = "\xe2\x96\x88", empty[] = "\xe2\x96\x91";
    char bar[BAR_WIDTH * 3 + 1];
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        if (!n->cost_known) {
            put(o, "  %-*.*s %-*s  unknown\n", NAME_COL, NAME_COL, n->id, BAR_WIDTH, "?");
            continue;
        }
        if (n->cost_usd == 0)
            continue;
        double share = p->cost_usd > 0 ? n->cost_usd / p->cost_usd : 0;
        unsigned filled = (unsigned)lround(share * BAR_WIDTH);
        for (unsigned i = 0; i < BAR_WIDTH; i++)
            memcpy(bar + 3 * i, i < filled ? full : empty, 3);
        bar[BAR_WIDTH * 3] = '\0';
        char usd[32];
        put(o, "  %-*.*s %s %3.0f%%  %s\n", NAME_COL, NAME_COL, n->id, bar, share * 100.0,
            money(usd, sizeof(usd), n->cost_usd, true));
    }
}

/* ", cache read $0.0012": one non-zero part of a cost split. */
static void split_part(text_out *o, const char **sep, const char *what, double usd)
{
    if (!(usd > 0))
        return;
    char cost[32];
    put(o, "%s%s %s", *sep, what, money(cost, sizeof(cost), usd, true));
    *sep = ", ";
}

static void by_model(text_out *o, const dp_run_profile *p)
{
    /* a model with no call, no token and no cost (all zero) has no row */
    size_t width = 5;
    bool any = false, cache = false;
    for (size_t m = 0; m < p->model_count; m++) {
        const dp_model_usage *u = &p->models[m];
        if (!u->calls && !dp_token_total(&u->tokens) && u->cost_known && u->cost_usd == 0)
            continue;
        any = true;
        cache |= u->tokens.cache_read || u->tokens.cache_write;
        width = widen_column(width, u->model);
    }
    if (!any)
        return;
    /* the cache columns only when some model read or wrote a cache */
    put(o, "\nBy model (input includes the cache tokens)\n  ");
    put_column(o, "MODEL", width);
    put(o, " %6s %10s", "CALLS", "INPUT");
    if (cache)
        put(o, " %11s %12s", "CACHE READ", "CACHE WRITE");
    put(o, " %10s %12s\n", "OUTPUT", "COST");
    for (size_t m = 0; m < p->model_count; m++) {
        const dp_model_usage *u = &p->models[m];
        if (!u->calls && !dp_token_total(&u->tokens) && u->cost_known && u->cost_usd == 0)
            continue;
        char cost[32];
        put(o, "  ");
        put_column(o, u->model ? u->model : "-", width);
        put(o, " %6u %10llu", u->calls, (unsigned long long)u->tokens.input);
        if (cache)
            put(o, " %11llu %12llu", (unsigned long long)u->tokens.cache_read,
                (unsigned long long)u->tokens.cache_write);
        put(o, " %10llu %12s\n", (unsigned long long)u->tokens.output,
            money(cost, sizeof(cost), u->cost_usd, u->cost_known));
        if (!u->cost_known || !(u->cost_usd > 0))
            continue;
        /* what the cost paid for: only the parts that cost something */
        const char *sep = "";
        put(o, "    cost: ");
        split_part(o, &sep, "uncached input", u->cost_split.input);
        split_part(o, &sep, "cache read", u->cost_split.cache_read);
        split_part(o, &sep, "cache write", u->cost_split.cache_write);
        split_part(o, &sep, "output", u->cost_split.output);
        split_part(o, &sep, "given on the span", u->cost_split.given);
        put(o, "\n");
    }
}

static void bottlenecks(text_out *o, const dp_run_profile *p)
{
    put(o, "\nBottlenecks%s\n", p->bottleneck_count ? "" : ": none");
    for (size_t i = 0; i < p->bottleneck_count; i++) {
        const dp_bottleneck *b = &p->bottlenecks[i];
        put(o, "  %zu. %s[%s]%s %s  %s  impact %.1f%%%s\n", i + 1, sev_color(o, b->severity),
            dp_severity_name(b->severity), reset(o), dp_bottleneck_type_name(b->type),
            b->node >= 0 ? p->nodes[b->node].id : "(run)", b->impact_pct,
            b->hypothesis ? "  (hypothesis: dependencies inferred from timing)" : "");
        put(o, "     %s\n     -> %s\n", b->details, b->suggestion);
    }
    if (p->bottlenecks_omitted)
        put(o, "  (%zu more with lower impact not shown)\n", p->bottlenecks_omitted);
}

void dp_render_overlap_names(unsigned overlaps, char *out, size_t cap)
{
    size_t used = 0;
    if (cap)
        out[0] = '\0';
    for (unsigned t = 0; t < 32 && used < cap; t++) {
        if (!(overlaps & (1u << t)))
            continue;
        int n = snprintf(out + used, cap - used, "%s%s", used ? ", " : "",
                         dp_recommendation_type_name((enum dp_recommendation_type)t));
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

static void recommendations(text_out *o, const dp_run_profile *p)
{
    put(o, "\nRecommendations%s\n", p->recommendation_count ? "" : ": none");
    for (size_t i = 0; i < p->recommendation_count; i++) {
        const dp_recommendation *r = &p->recommendations[i];
        put(o, "  %zu. %s[%s]%s %s  saves ", i + 1, sev_color(o, r->priority),
            dp_severity_name(r->priority), reset(o), dp_recommendation_type_name(r->type));
        savings_parts(o, r->savings_time_ms, r->savings_tokens, r->savings_cost_usd,
                      r->savings_cost_known);
        put(o, "\n");
        put(o, "     %s\n     -> %s\n", r->description, r->implementation);
        if (r->node_count) {
            put(o, "     nodes:");
            for (size_t k = 0; k < r->node_count && k < REC_NODES_SHOWN; k++) {
                if (r->nodes[k] < p->node_count)
                    put(o, "%s %s", k ? "," : "", p->nodes[r->nodes[k]].id);
            }
            if (r->node_count > REC_NODES_SHOWN)
                put(o, " and %zu more", r->node_count - REC_NODES_SHOWN);
            put(o, "\n");
        }
        if (r->overlaps) {
            char names[256];
            dp_render_overlap_names(r->overlaps, names, sizeof(names));
            put(o, "     (savings overlap with %s: alternatives, not additive)\n", names);
        }
    }
}

int dp_render_text(const dp_run_profile *p, const dp_render_options *opt, dp_buf *out)
{
    if (!p || !out)
        return -1;
    unsigned width = opt && opt->waterfall_width ? opt->waterfall_width : 50;
    if (width > WATERFALL_MAX)
        width = WATERFALL_MAX;
    text_out o = {out, opt && opt->color, 0};
    /* Size the buffer once for a typical report (the fixed sections plus a
     * few lines per node) so lines rarely have to grow it; a refusal (the
     * cap) is not an error here, the lines themselves decide. */
    size_t estimate = 2048 + (p->node_count < 1000000 ? p->node_count : 1000000) *
                                 (4 * NAME_COL + 3 * width + 200);
    if (out->max && estimate > out->max - (out->len < out->max ? out->len : out->max))
        estimate = out->max - (out->len < out->max ? out->len : out->max); /* a chunk at most */
    (void)dp_buf_reserve(out, estimate);
    summary(&o, p);
    top_fixes(&o, p);
    node_table(&o, p);
    tool_table(&o, p);
    critical(&o, p);
    bottlenecks(&o, p);
    recommendations(&o, p);
    waterfall(&o, p, width);
    cost_bars(&o, p);
    by_model(&o, p);
    put(&o, "\n");
    return o.err;
}

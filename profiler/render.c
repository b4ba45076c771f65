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

#define NAME_COL 24
#define BAR_WIDTH 20
#define WATERFALL_MAX 200
#define MODEL_COL_MAX 40
#define ELLIPSIS "..."

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
    put(o, "  tokens           %llu (input %llu, output %llu, cache read %llu, cache write %llu)\n",
        (unsigned long long)dp_token_total(&p->tokens), (unsigned long long)p->tokens.input,
        (unsigned long long)p->tokens.output, (unsigned long long)p->tokens.cache_read,
        (unsigned long long)p->tokens.cache_write);
    if (p->cost_complete)
        put(o, "  cost             %s\n", money(usd, sizeof(usd), p->cost_usd, true));
    else if (p->cost_any_known)
        put(o, "  cost             %s known + unknown (%u call(s) with no price)\n",
            money(usd, sizeof(usd), p->cost_usd, true), p->unknown_cost_calls);
    else
        put(o, "  cost             unknown (%u call(s) with no price)\n", p->unknown_cost_calls);
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
        for (size_t t = 0; t < n->tool_call_count; t++) {
            const dp_tool_call_profile *tc = &n->tool_calls[t];
            put(o, "      tool %-.40s %.1f ms %s\n", tc->name, tc->duration_ms,
                tc->success ? "ok" : "FAILED");
        }
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
    if (!p->node_count || !p->llm_calls)
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
        double share = p->cost_usd > 0 ? n->cost_usd / p->cost_usd : 0;
        unsigned filled = (unsigned)lround(share * BAR_WIDTH);
        for (unsigned i = 0; i < BAR_WIDTH; i++)
            memcpy(bar + 3 * i, i < filled ? full : empty, 3);
        bar[BAR_WIDTH * 3] = '\0';
        char usd[32];
        put(o, "  %-*.*s %s %3.0f%%  %s\n", NAME_COL, NAME_COL, n->id, bar, share * 100.0,
            money(usd, sizeof(usd), n->cost_usd, true));
    }
    if (p->model_count) {
        put(o, "\nBy model\n");
        /* the column fits the longest name, up to MODEL_COL_MAX */
        size_t width = 0;
        for (size_t m = 0; m < p->model_count && width < MODEL_COL_MAX; m++) {
            size_t w = p->models[m].model ? text_width(p->models[m].model) : 1;
            if (w > width)
                width = w;
        }
        if (width > MODEL_COL_MAX)
            width = MODEL_COL_MAX;
        for (size_t m = 0; m < p->model_count; m++) {
            const dp_model_usage *u = &p->models[m];
            char cost[32];
            put(o, "  ");
            put_column(o, u->model ? u->model : "-", width);
            put(o, " calls %4u  tokens %9llu  cost %s\n", u->calls,
                (unsigned long long)dp_token_total(&u->tokens),
                money(cost, sizeof(cost), u->cost_usd, u->cost_known));
        }
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
        char cost[32];
        put(o, "  %zu. %s[%s]%s %s  saves %.1f ms, %llu tokens, %s\n", i + 1,
            sev_color(o, r->priority), dp_severity_name(r->priority), reset(o),
            dp_recommendation_type_name(r->type), r->savings_time_ms,
            (unsigned long long)r->savings_tokens,
            money(cost, sizeof(cost), r->savings_cost_usd, r->savings_cost_known));
        put(o, "     %s\n     -> %s\n", r->description, r->implementation);
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
    node_table(&o, p);
    critical(&o, p);
    bottlenecks(&o, p);
    recommendations(&o, p);
    waterfall(&o, p, width);
    cost_bars(&o, p);
    put(&o, "\n");
    return o.err;
}

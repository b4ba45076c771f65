/*
 * The JSON report: one object per run on one line (the --format json
 * output). Times are milliseconds relative to the run's start, costs USD or
 * null when unknown, token counts integers.
 *
 * It runs once per finished run on the run processors, so it streams
 * straight into the caller's dp_buf with the json_write writer: no tree,
 * no allocation beyond the buffer's own growth. Names and ids come from the
 * wire and may be any bytes; the writer escapes them and replaces invalid
 * UTF-8, so the line is always valid JSON.
 */
#include "render.h"

#include "clock.h"
#include "json_write.h"
#include "profile_types.h"
#include "report_figures.h"

/* Rounding of reals, chosen so binary noise (0.1 + 0.2) never shows and
 * reports compare cleanly: times to the microsecond, money to a millionth
 * of a cent, ratios to 3 places, percentages to 2. */
#define MS_DECIMALS 3
#define USD_DECIMALS 8
#define RATIO_DECIMALS 3
#define PCT_DECIMALS 2

static void key_ms(dp_json_writer *w, const char *key, double ms)
{
    dp_json_writer_key(w, key);
    dp_json_writer_double(w, ms, MS_DECIMALS);
}

static void key_usd(dp_json_writer *w, const char *key, double usd, bool known)
{
    dp_json_writer_key(w, key);
    if (known)
        dp_json_writer_double(w, usd, USD_DECIMALS);
    else
        dp_json_writer_null(w);
}

static void key_uint(dp_json_writer *w, const char *key, uint64_t v)
{
    dp_json_writer_key(w, key);
    dp_json_writer_uint(w, v);
}

static void key_bool(dp_json_writer *w, const char *key, bool v)
{
    dp_json_writer_key(w, key);
    dp_json_writer_bool(w, v);
}

static void key_text(dp_json_writer *w, const char *key, const char *s)
{
    dp_json_writer_key(w, key);
    dp_json_writer_cstring(w, s);
}

static void tokens(dp_json_writer *w, const dp_token_counts *t)
{
    dp_json_writer_key(w, "tokens");
    dp_json_writer_object_begin(w);
    key_uint(w, "input", t->input);
    key_uint(w, "output", t->output);
    key_uint(w, "cache_read", t->cache_read);
    key_uint(w, "cache_write", t->cache_write);
    key_uint(w, "total", dp_token_total(t));
    dp_json_writer_object_end(w);
}

static void summary(dp_json_writer *w, const dp_run_profile *p)
{
    bool run_cost_known = p->cost_any_known || p->unknown_cost_calls == 0;
    dp_json_writer_key(w, "summary");
    dp_json_writer_object_begin(w);
    key_ms(w, "wall_ms", p->wall_ms);
    key_ms(w, "execution_ms", p->execution_ms);
    key_ms(w, "critical_path_ms", p->critical_path_ms);
    dp_json_writer_key(w, "parallelism");
    dp_json_writer_double(w, p->parallelism, RATIO_DECIMALS);
    dp_json_writer_key(w, "speedup");
    dp_json_writer_double(w, p->speedup, RATIO_DECIMALS);
    dp_json_writer_key(w, "speedup_if_independent");
    if (p->speedup_if_independent >= 0)
        dp_json_writer_double(w, p->speedup_if_independent, RATIO_DECIMALS);
    else
        dp_json_writer_null(w);
    key_uint(w, "node_count", p->node_count);
    key_uint(w, "retries", p->retries);
    key_uint(w, "llm_calls", p->llm_calls);
    key_uint(w, "tool_calls", p->tool_calls);
    tokens(w, &p->tokens);
    key_usd(w, "cost_usd", p->cost_usd, run_cost_known);
    key_bool(w, "cost_complete", p->cost_complete);
    key_uint(w, "unknown_cost_calls", p->unknown_cost_calls);
    key_uint(w, "coerced_values", p->coerced_values);
    key_uint(w, "ignored_values", p->ignored_values);
    key_uint(w, "duplicate_spans", p->duplicate_spans);
    key_text(w, "dependencies",
             p->deps_source == DP_DEPS_LANGGRAPH_STEPS ? "langgraph_steps"
             : p->explicit_deps                        ? "declared"
                                                       : "inferred");
    key_uint(w, "aggregate_spans", p->aggregate_spans);
    key_uint(w, "duplicate_layer_spans", p->duplicate_layer_spans);
    key_uint(w, "calls_without_usage", p->calls_without_usage);
    double per_1000;
    bool known = dp_report_cost_per_1000_runs(p, &per_1000);
    key_usd(w, "cost_per_1000_runs_usd", per_1000, known);
    dp_json_writer_object_end(w);
}

static void node(dp_json_writer *w, const dp_run_profile *p, const dp_node_profile *n)
{
    dp_json_writer_object_begin(w);
    key_text(w, "id", n->id);
    key_text(w, "name", n->name);
    key_text(w, "model", n->model);
    key_ms(w, "start_ms", n->start_ms);
    key_ms(w, "duration_ms", n->duration_ms);
    key_ms(w, "wait_ms", n->wait_ms);
    key_ms(w, "execution_ms", n->execution_ms);
    dp_json_writer_key(w, "depends_on");
    dp_json_writer_array_begin(w);
    for (size_t i = 0; i < n->dep_count; i++)
        dp_json_writer_cstring(w, p->nodes[n->deps[i]].id);
    dp_json_writer_array_end(w);
    key_bool(w, "on_critical_path", n->on_critical_path);
    key_uint(w, "retries", n->retries);
    key_uint(w, "llm_calls", n->llm_calls);
    tokens(w, &n->tokens);
    key_usd(w, "cost_usd", n->cost_usd, n->cost_known);
    dp_json_writer_key(w, "tool_calls");
    dp_json_writer_array_begin(w);
    for (size_t i = 0; i < n->tool_call_count; i++) {
        const dp_tool_call_profile *t = &n->tool_calls[i];
        dp_json_writer_object_begin(w);
        key_text(w, "name", t->name);
        key_ms(w, "duration_ms", t->duration_ms);
        key_bool(w, "success", t->success);
        dp_json_writer_object_end(w);
    }
    dp_json_writer_array_end(w);
    dp_json_writer_object_end(w);
}

static void models(dp_json_writer *w, const dp_run_profile *p)
{
    dp_json_writer_key(w, "by_model");
    dp_json_writer_array_begin(w);
    for (size_t m = 0; m < p->model_count; m++) {
        const dp_model_usage *u = &p->models[m];
        dp_json_writer_object_begin(w);
        key_text(w, "model", u->model);
        key_uint(w, "calls", u->calls);
        tokens(w, &u->tokens);
        key_usd(w, "cost_usd", u->cost_usd, u->cost_known);
        dp_json_writer_key(w, "cost_split");
        if (u->cost_known) {
            dp_json_writer_object_begin(w);
            key_usd(w, "input", u->cost_split.input, true);
            key_usd(w, "cache_read", u->cost_split.cache_read, true);
            key_usd(w, "cache_write", u->cost_split.cache_write, true);
            key_usd(w, "output", u->cost_split.output, true);
            key_usd(w, "given", u->cost_split.given, true);
            dp_json_writer_object_end(w);
        } else {
            dp_json_writer_null(w);
        }
        dp_json_writer_object_end(w);
    }
    dp_json_writer_array_end(w);
}

static void bottlenecks(dp_json_writer *w, const dp_run_profile *p)
{
    dp_json_writer_key(w, "bottlenecks");
    dp_json_writer_array_begin(w);
    for (size_t b = 0; b < p->bottleneck_count; b++) {
        const dp_bottleneck *x = &p->bottlenecks[b];
        dp_json_writer_object_begin(w);
        key_text(w, "type", dp_bottleneck_type_name(x->type));
        key_text(w, "node", x->node >= 0 ? p->nodes[x->node].id : NULL);
        key_text(w, "severity", dp_severity_name(x->severity));
        dp_json_writer_key(w, "impact_pct");
        dp_json_writer_double(w, x->impact_pct, PCT_DECIMALS);
        key_bool(w, "hypothesis", x->hypothesis);
        key_text(w, "details", x->details);
        key_text(w, "suggestion", x->suggestion);
        dp_json_writer_object_end(w);
    }
    dp_json_writer_array_end(w);
}

static void recommendations(dp_json_writer *w, const dp_run_profile *p)
{
    dp_json_writer_key(w, "recommendations");
    dp_json_writer_array_begin(w);
    for (size_t r = 0; r < p->recommendation_count; r++) {
        const dp_recommendation *x = &p->recommendations[r];
        dp_json_writer_object_begin(w);
        key_text(w, "type", dp_recommendation_type_name(x->type));
        key_text(w, "priority", dp_severity_name(x->priority));
        dp_json_writer_key(w, "savings");
        dp_json_writer_object_begin(w);
        key_ms(w, "time_ms", x->savings_time_ms);
        key_uint(w, "tokens", x->savings_tokens);
        key_usd(w, "cost_usd", x->savings_cost_usd, x->savings_cost_known);
        dp_json_writer_object_end(w);
        key_bool(w, "hypothesis", x->hypothesis);
        dp_json_writer_key(w, "overlaps_with");
        dp_json_writer_array_begin(w);
        for (unsigned t = 0; t < 32; t++) {
            if (x->overlaps & (1u << t))
                dp_json_writer_cstring(w,
                                       dp_recommendation_type_name((enum dp_recommendation_type)t));
        }
        dp_json_writer_array_end(w);
        key_text(w, "description", x->description);
        key_text(w, "implementation", x->implementation);
        dp_json_writer_key(w, "nodes");
        dp_json_writer_array_begin(w);
        for (size_t i = 0; i < x->node_count; i++) {
            if (x->nodes[i] < p->node_count)
                dp_json_writer_cstring(w, p->nodes[x->nodes[i]].id);
        }
        dp_json_writer_array_end(w);
        dp_json_writer_object_end(w);
    }
    dp_json_writer_array_end(w);
}

static void savings(dp_json_writer *w, const char *key, double ms, uint64_t tok, double usd,
                    bool usd_known)
{
    dp_json_writer_key(w, key);
    dp_json_writer_object_begin(w);
    key_ms(w, "time_ms", ms);
    key_uint(w, "tokens", tok);
    key_usd(w, "cost_usd", usd, usd_known);
    dp_json_writer_object_end(w);
}

static void top_fixes(dp_json_writer *w, const dp_run_profile *p)
{
    dp_top_fixes top;
    dp_report_top_fixes(p, &top);
    dp_json_writer_key(w, "top_fixes");
    dp_json_writer_object_begin(w);
    dp_json_writer_key(w, "fixes");
    dp_json_writer_array_begin(w);
    for (size_t i = 0; i < top.count; i++) {
        const dp_recommendation *r = &p->recommendations[top.rec[i]];
        dp_json_writer_object_begin(w);
        key_uint(w, "recommendation", top.rec[i]);
        key_text(w, "type", dp_recommendation_type_name(r->type));
        dp_json_writer_key(w, "share_pct");
        dp_json_writer_double(w, top.share_pct[i], PCT_DECIMALS);
        key_text(w, "share_of",
                 top.share_of[i] == DP_SHARE_COST     ? "cost"
                 : top.share_of[i] == DP_SHARE_TOKENS ? "tokens"
                                                      : "wall_time");
        savings(w, "savings", r->savings_time_ms, r->savings_tokens, r->savings_cost_usd,
                r->savings_cost_known);
        dp_json_writer_object_end(w);
    }
    dp_json_writer_array_end(w);
    dp_json_writer_key(w, "combined_savings");
    dp_json_writer_object_begin(w);
    savings(w, "at_least", top.at_least.time_ms, top.at_least.tokens, top.at_least.cost_usd,
            top.at_least.cost_known);
    savings(w, "at_most", top.at_most.time_ms, top.at_most.tokens, top.at_most.cost_usd,
            top.at_most.cost_known);
    key_bool(w, "overlapping", top.overlapping);
    dp_json_writer_object_end(w);
    dp_json_writer_object_end(w);
}

static void tool_stats(dp_json_writer *w, const dp_run_profile *p)
{
    dp_json_writer_key(w, "tool_stats");
    dp_json_writer_array_begin(w);
    for (size_t i = 0; i < p->tool_stat_count; i++) {
        const dp_tool_stat *t = &p->tool_stats[i];
        dp_json_writer_object_begin(w);
        key_text(w, "name", t->name);
        key_uint(w, "calls", t->count);
        key_ms(w, "p50_ms", t->p50_ms);
        key_ms(w, "max_ms", t->max_ms);
        key_ms(w, "total_ms", t->total_ms);
        key_uint(w, "failures", t->failures);
        dp_json_writer_object_end(w);
    }
    dp_json_writer_array_end(w);
}

int dp_render_json(const dp_run_profile *p, dp_buf *out)
{
    if (!p || !out)
        return -1;
    char trace[33];
    dp_hex(p->trace_id, 16, trace);

    dp_json_writer w;
    dp_json_writer_init(&w, out);
    dp_json_writer_object_begin(&w);
    dp_json_writer_key(&w, "trace_id");
    dp_json_writer_string(&w, trace, 32);
    key_text(&w, "dag_id", p->dag_id ? p->dag_id : "unknown");
    key_text(&w, "service", p->service);
    char when[DP_ISO8601_MAX];
    key_text(&w, "start_time", p->span_count ? dp_utc_iso8601(p->start_ns, when) : NULL);
    key_uint(&w, "start_unix_nano", p->start_ns);
    key_bool(&w, "late", p->late);
    key_bool(&w, "partial", p->partial);
    dp_json_writer_key(&w, "partial_reason");
    if (p->partial_reason)
        dp_json_writer_cstring(&w, p->partial_reason);
    else
        dp_json_writer_null(&w);
    key_bool(&w, "supersedes_partial", p->supersedes);
    key_uint(&w, "span_count", p->span_count);
    summary(&w, p);
    dp_json_writer_key(&w, "nodes");
    dp_json_writer_array_begin(&w);
    for (size_t j = 0; j < p->node_count; j++)
        node(&w, p, &p->nodes[j]);
    dp_json_writer_array_end(&w);
    dp_json_writer_key(&w, "critical_path");
    dp_json_writer_object_begin(&w);
    key_ms(&w, "duration_ms", p->critical_path_ms);
    dp_json_writer_key(&w, "nodes");
    dp_json_writer_array_begin(&w);
    for (size_t i = 0; i < p->critical_path_count; i++)
        dp_json_writer_cstring(&w, p->nodes[p->critical_path[i]].id);
    dp_json_writer_array_end(&w);
    dp_json_writer_object_end(&w);
    models(&w, p);
    tool_stats(&w, p);
    bottlenecks(&w, p);
    recommendations(&w, p);
    top_fixes(&w, p);
    dp_json_writer_object_end(&w);
    /* the newline is part of the document so a failure removes it too */
    if (!w.err && dp_buf_append(out, "\n", 1) != 0)
        w.err = -1;
    return dp_json_writer_finish(&w);
}

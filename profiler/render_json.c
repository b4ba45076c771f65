/*
 * The JSON report: one object per run on one line (the --format json
 * output), built with jansson. Times are milliseconds relative to the run's
 * start, costs USD or null when unknown, token counts integers.
 */
#include "render.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "profile_types.h"

/* Round away binary noise (0.1 + 0.2) so reports compare and read cleanly:
 * times to the microsecond, money to a millionth of a cent. */
static json_t *real_value(double x, double scale)
{
    double r = round(x * scale) / scale;
    if (!isfinite(r))
        r = x;                                       /* too large to round: keep as is */
    return isfinite(r) ? json_real(r) : json_null(); /* JSON has no inf/NaN */
}

static json_t *ms_value(double ms)
{
    return real_value(ms, 1000.0);
}

static json_t *usd_value(double usd, bool known)
{
    return known ? real_value(usd, 1e8) : json_null();
}

/* Span names and ids are bytes from the wire and may not be UTF-8, which
 * JSON strings must be: such bytes are replaced by '?' rather than losing
 * the whole report. */
static json_t *text_value(const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    if (v)
        return v;
    size_t len = strlen(s);
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    copy[len] = '\0';
    v = json_string(copy);
    free(copy);
    return v;
}

static json_t *tokens_value(const dp_token_counts *t)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "input", (json_int_t)t->input, "output",
                     (json_int_t)t->output, "cache_read", (json_int_t)t->cache_read, "cache_write",
                     (json_int_t)t->cache_write, "total", (json_int_t)dp_token_total(t));
}

static json_t *node_value(const dp_run_profile *p, const dp_node_profile *n)
{
    json_t *deps = json_array();
    json_t *tools = json_array();
    if (!deps || !tools)
        goto fail;
    for (size_t i = 0; i < n->dep_count; i++) {
        if (json_array_append_new(deps, text_value(p->nodes[n->deps[i]].id)) < 0)
            goto fail;
    }
    for (size_t i = 0; i < n->tool_call_count; i++) {
        const dp_tool_call_profile *t = &n->tool_calls[i];
        json_t *tv = json_pack("{s:o,s:o,s:b}", "name", text_value(t->name), "duration_ms",
                               ms_value(t->duration_ms), "success", t->success);
        if (json_array_append_new(tools, tv) < 0)
            goto fail;
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:i,s:i,s:o,s:o,s:o}", "id",
                     text_value(n->id), "name", text_value(n->name), "model", text_value(n->model),
                     "start_ms", ms_value(n->start_ms), "duration_ms", ms_value(n->duration_ms),
                     "wait_ms", ms_value(n->wait_ms), "execution_ms", ms_value(n->execution_ms),
                     "depends_on", deps, "on_critical_path", n->on_critical_path, "retries",
                     (int)n->retries, "llm_calls", (int)n->llm_calls, "tokens",
                     tokens_value(&n->tokens), "cost_usd", usd_value(n->cost_usd, n->cost_known),
                     "tool_calls", tools);
fail:
    json_decref(deps);
    json_decref(tools);
    return NULL;
}

static json_t *build(const dp_run_profile *p)
{
    static const char hex[] = "0123456789abcdef";
    char trace[33];
    for (size_t i = 0; i < 16; i++) {
        trace[2 * i] = hex[p->trace_id[i] >> 4];
        trace[2 * i + 1] = hex[p->trace_id[i] & 15];
    }
    trace[32] = '\0';

    bool run_cost_known = p->cost_any_known || p->unknown_cost_calls == 0;
    json_t *summary = json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:I,s:i,s:i,s:i,s:o,s:o,s:b,s:i,s:i,s:i}", "wall_ms",
        ms_value(p->wall_ms), "execution_ms", ms_value(p->execution_ms), "critical_path_ms",
        ms_value(p->critical_path_ms), "parallelism", real_value(p->parallelism, 1000), "speedup",
        real_value(p->speedup, 1000), "node_count", (json_int_t)p->node_count, "retries",
        (int)p->retries, "llm_calls", (int)p->llm_calls, "tool_calls", (int)p->tool_calls, "tokens",
        tokens_value(&p->tokens), "cost_usd", usd_value(p->cost_usd, run_cost_known),
        "cost_complete", p->cost_complete, "unknown_cost_calls", (int)p->unknown_cost_calls,
        "coerced_values", (int)p->coerced_values, "ignored_values", (int)p->ignored_values);

    json_t *nodes = json_array();
    json_t *cp_nodes = json_array();
    json_t *models = json_array();
    json_t *bottlenecks = json_array();
    json_t *recs = json_array();
    if (!summary || !nodes || !cp_nodes || !models || !bottlenecks || !recs)
        goto fail;
    for (size_t j = 0; j < p->node_count; j++) {
        if (json_array_append_new(nodes, node_value(p, &p->nodes[j])) < 0)
            goto fail;
    }
    for (size_t i = 0; i < p->critical_path_count; i++) {
        if (json_array_append_new(cp_nodes, text_value(p->nodes[p->critical_path[i]].id)) < 0)
            goto fail;
    }
    for (size_t m = 0; m < p->model_count; m++) {
        const dp_model_usage *u = &p->models[m];
        json_t *mv = json_pack("{s:o,s:i,s:o,s:o}", "model", text_value(u->model), "calls",
                               (int)u->calls, "tokens", tokens_value(&u->tokens), "cost_usd",
                               usd_value(u->cost_usd, u->cost_known));
        if (json_array_append_new(models, mv) < 0)
            goto fail;
    }
    for (size_t b = 0; b < p->bottleneck_count; b++) {
        const dp_bottleneck *x = &p->bottlenecks[b];
        json_t *bv =
            json_pack("{s:s,s:o,s:s,s:o,s:o,s:s}", "type", dp_bottleneck_type_name(x->type), "node",
                      x->node >= 0 ? text_value(p->nodes[x->node].id) : json_null(), "severity",
                      dp_severity_name(x->severity), "impact_pct", real_value(x->impact_pct, 100),
                      "details", text_value(x->details), "suggestion", x->suggestion);
        if (json_array_append_new(bottlenecks, bv) < 0)
            goto fail;
    }
    for (size_t r = 0; r < p->recommendation_count; r++) {
        const dp_recommendation *x = &p->recommendations[r];
        json_t *rv = json_pack(
            "{s:s,s:s,s:{s:o,s:I,s:o},s:o,s:s}", "type", dp_recommendation_type_name(x->type),
            "priority", dp_severity_name(x->priority), "savings", "time_ms",
            ms_value(x->savings_time_ms), "tokens", (json_int_t)x->savings_tokens, "cost_usd",
            usd_value(x->savings_cost_usd, x->savings_cost_known), "description",
            text_value(x->description), "implementation", x->implementation);
        if (json_array_append_new(recs, rv) < 0)
            goto fail;
    }
    return json_pack("{s:s,s:o,s:b,s:I,s:o,s:o,s:{s:o,s:o},s:o,s:o,s:o}", "trace_id", trace,
                     "dag_id", text_value(p->dag_id ? p->dag_id : "unknown"), "late", p->late,
                     "span_count", (json_int_t)p->span_count, "summary", summary, "nodes", nodes,
                     "critical_path", "duration_ms", ms_value(p->critical_path_ms), "nodes",
                     cp_nodes, "by_model", models, "bottlenecks", bottlenecks, "recommendations",
                     recs);
fail:
    json_decref(summary);
    json_decref(nodes);
    json_decref(cp_nodes);
    json_decref(models);
    json_decref(bottlenecks);
    json_decref(recs);
    return NULL;
}

int dp_render_json(const dp_run_profile *p, dp_buf *out)
{
    int rc = -1;
    char *text = NULL;
    json_t *root = p && out ? build(p) : NULL;
    if (!root)
        goto out;
    text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text)
        goto out;
    if (dp_buf_puts(out, text) < 0 || dp_buf_puts(out, "\n") < 0)
        goto out;
    rc = 0;
out:
    free(text);
    json_decref(root);
    return rc;
}

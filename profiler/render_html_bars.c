/*
 * The HTML report's bars (render_html_internal.h): cost and tokens by node
 * and by model, each as a stacked bar by what it paid for (uncached input,
 * cache read, cache write, output, or a cost given on the span), and wait
 * against execution per node. Widths are shares of the largest row.
 */
#include "render_html_internal.h"

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
    html_lit(o, "<div class=\"stack\">");
    for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++) {
        if (!part[i].v)
            continue;
        long width = html_share((double)part[i].v, (double)max);
        html_put(
            o, "<span class=\"%s\" style=\"width:" SHARE_FMT "\" title=\"%s %llu tokens\"></span>",
            part[i].cls, SHARE_ARGS(width), part[i].what, (unsigned long long)part[i].v);
    }
    html_lit(o, "</div>");
}

/* One stacked bar of a cost by what it paid for, scaled to `max` USD; with
 * `text`, the non-zero parts in figures under it too. */
static void cost_bar(html_out *o, const dp_cost_split *sp, bool known, double max, bool text)
{
    const struct {
        const char *cls, *what;
        double v;
    } part[] = {{"k-in", "uncached input", sp->input},
                {"k-cr", "cache read", sp->cache_read},
                {"k-cw", "cache write", sp->cache_write},
                {"k-out", "output", sp->output},
                {"k-given", "given on the span", sp->given}};
    const size_t parts = sizeof(part) / sizeof(part[0]);
    html_lit(o, "<div class=\"stack\">");
    for (size_t i = 0; known && i < parts; i++) {
        if (!(part[i].v > 0))
            continue;
        long width = html_share(part[i].v, max);
        html_put(o, "<span class=\"%s\" style=\"width:" SHARE_FMT "\" title=\"%s ", part[i].cls,
                 SHARE_ARGS(width), part[i].what);
        html_usd(o, part[i].v, true);
        html_lit(o, "\"></span>");
    }
    html_lit(o, "</div>");
    if (!text || !known)
        return;
    html_lit(o, "<small class=\"cost-split\">");
    for (size_t i = 0, shown = 0; i < parts; i++) {
        if (!(part[i].v > 0))
            continue;
        html_put(o, "%s%s ", shown++ ? " &middot; " : "", part[i].what);
        html_usd(o, part[i].v, true);
    }
    html_lit(o, "</small>");
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
                       double max_cost, const dp_token_counts *t, uint64_t max_tokens,
                       bool split_text)
{
    html_lit(o, "<td class=\"n cost\">");
    html_usd(o, cost, known);
    html_lit(o, "</td><td>");
    cost_bar(o, sp, known, max_cost, split_text);
    html_put(o, "</td><td class=\"n tokens\">%llu</td><td>", (unsigned long long)dp_token_total(t));
    token_stack(o, t, max_tokens);
    html_lit(o, "</td></tr>\n");
}

void dp_html_cost_section(html_out *o, const dp_run_profile *p)
{
    if (!p->llm_calls && !p->model_count)
        return;
    uint64_t max_tokens = 0;
    double max_cost = 0;
    for (size_t j = 0; j < p->node_count; j++)
        widen(&max_tokens, &max_cost, &p->nodes[j].tokens, p->nodes[j].cost_usd,
              p->nodes[j].cost_known);
    html_lit(o,
             "<h3>Cost and tokens by node</h3><p class=\"legend\">cost and tokens:<span "
             "class=\"k-in\"></span>uncached input<span class=\"k-cr\"></span>cache read<span "
             "class=\"k-cw\"></span>cache write<span class=\"k-out\"></span>output<span "
             "class=\"k-given\"></span>cost given on the span (no split)</p><table "
             "class=\"cost-nodes\"><thead><tr><th>node</th>"
             "<th class=\"n\">cost</th><th style=\"width:35%\">cost</th><th class=\"n\">tokens</th>"
             "<th style=\"width:35%\">tokens by kind</th></tr></thead><tbody>\n");
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        html_lit(o, "<tr><td>");
        html_node_link(o, p, (int)j);
        html_lit(o, "</td>");
        cost_cells(o, n->cost_usd, n->cost_known, &n->cost_split, max_cost, &n->tokens, max_tokens,
                   false);
    }
    html_lit(o, "</tbody></table>\n");

    max_tokens = 0;
    max_cost = 0;
    for (size_t m = 0; m < p->model_count; m++)
        widen(&max_tokens, &max_cost, &p->models[m].tokens, p->models[m].cost_usd,
              p->models[m].cost_known);
    html_lit(o,
             "<h3>By model</h3><table class=\"models\"><thead><tr><th>model</th><th class=\"n\">"
             "calls</th><th class=\"n\">input</th><th class=\"n\">output</th><th class=\"n\">cache "
             "read</th><th class=\"n\">cache write</th><th class=\"n\">cost</th><th "
             "style=\"width:18%\">cost</th><th class=\"n\">tokens</th><th style=\"width:18%\">"
             "tokens by kind</th></tr></thead><tbody>\n");
    for (size_t m = 0; m < p->model_count; m++) {
        const dp_model_usage *u = &p->models[m];
        html_lit(o, "<tr data-model=\"");
        html_text(o, u->model, "unknown");
        html_lit(o, "\"><td class=\"model\">");
        html_text(o, u->model, "unknown");
        html_put(o,
                 "</td><td class=\"n calls\">%u</td><td class=\"n input\">%llu</td><td class=\"n "
                 "output\">%llu</td><td class=\"n cache-read\">%llu</td><td class=\"n "
                 "cache-write\">%llu</td>",
                 u->calls, (unsigned long long)u->tokens.input,
                 (unsigned long long)u->tokens.output, (unsigned long long)u->tokens.cache_read,
                 (unsigned long long)u->tokens.cache_write);
        cost_cells(o, u->cost_usd, u->cost_known, &u->cost_split, max_cost, &u->tokens, max_tokens,
                   true);
    }
    html_lit(o, "</tbody></table>\n");
}

void dp_html_wait_section(html_out *o, const dp_run_profile *p)
{
    if (!p->node_count)
        return;
    double max = 0;
    for (size_t j = 0; j < p->node_count; j++) {
        double t = p->nodes[j].wait_ms + p->nodes[j].execution_ms;
        if (t > max)
            max = t;
    }
    html_lit(o, "<h3>Execution and wait per node</h3><p class=\"legend\"><span class=\"k-wait\">"
                "</span>wait<span class=\"k-exec\"></span>execution</p>"
                "<table class=\"wait-exec\"><tbody>\n");
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        html_lit(o, "<tr><td style=\"width:25%\">");
        html_node_link(o, p, (int)j);
        html_lit(o, "</td><td><div class=\"stack\">");
        long wait = html_share(n->wait_ms, max), exec = html_share(n->execution_ms, max);
        html_put(o, "<span class=\"k-wait\" style=\"width:" SHARE_FMT "\" title=\"wait ",
                 SHARE_ARGS(wait));
        html_ms(o, n->wait_ms);
        html_put(
            o, "\"></span><span class=\"k-exec\" style=\"width:" SHARE_FMT "\" title=\"execution ",
            SHARE_ARGS(exec));
        html_ms(o, n->execution_ms);
        html_lit(o, "\"></span></div></td><td class=\"n\" style=\"width:22%\">");
        html_ms(o, n->wait_ms);
        html_lit(o, " + ");
        html_ms(o, n->execution_ms);
        html_lit(o, "</td></tr>\n");
    }
    html_lit(o, "</tbody></table>\n");
}

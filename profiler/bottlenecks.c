/*
 * Bottleneck detection: nine checks over the finished node figures, each
 * driven by thresholds from dp_profile_config. Impact is a share of the
 * run's wall time (time checks), of its known cost (cost checks), or of its
 * tokens (token checks when cost is unknown). Sorted by impact, highest
 * first. Exact rules: docs/metrics.md.
 */
#include "profile_internal.h"

#include <stdlib.h>
#include <string.h>

/* More findings than this on one run are not readable; the highest-impact
 * ones are kept and the list says how many were left out. */
#define BOTTLENECKS_MAX 256
#define FINDINGS_MAX 65536

typedef struct finding_list {
    dp_bottleneck *items;
    size_t count;
    size_t cap;
    size_t dropped;
} finding_list;

static dp_bottleneck *add(finding_list *l, enum dp_bottleneck_type type, int node,
                          enum dp_severity sev, double impact)
{
    if (l->count == l->cap) {
        l->dropped++;
        return NULL;
    }
    dp_bottleneck *b = &l->items[l->count++];
    memset(b, 0, sizeof(*b));
    b->type = type;
    b->node = node;
    b->severity = sev;
    b->impact_pct = impact;
    return b;
}

static double pct(double part, double whole)
{
    return whole > 0 ? part / whole * 100.0 : 0.0;
}

static void node_checks(dp_prof_ctx *c, finding_list *l)
{
    const dp_profile_config *cfg = c->cfg;
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    double mean_exec = nn ? p->execution_ms / (double)nn : 0;
    uint64_t node_tokens = 0;
    for (size_t j = 0; j < nn; j++)
        node_tokens += dp_token_total(&p->nodes[j].tokens);
    double mean_tokens = nn ? (double)node_tokens / (double)nn : 0;

    for (size_t j = 0; j < nn; j++) {
        const dp_node_profile *n = &p->nodes[j];
        int id = (int)j;
        dp_bottleneck *b;

        if (mean_exec > 0 && n->execution_ms > cfg->slow_node_factor * mean_exec) {
            bool high = n->execution_ms > cfg->slow_node_high_factor * mean_exec;
            b = add(l, DP_BOTTLENECK_SLOW_NODE, id, high ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM,
                    pct(n->execution_ms, p->wall_ms));
            if (b) {
                dp_prof_format(b->details, sizeof(b->details),
                               "execution %.1f ms, %.1fx the mean node execution (%.1f ms)",
                               n->execution_ms, n->execution_ms / mean_exec, mean_exec);
                dp_prof_format(b->suggestion, sizeof(b->suggestion),
                               "Split the node into smaller tasks that can run in parallel, or "
                               "use a faster model");
            }
        }

        uint64_t tt = dp_token_total(&n->tokens);
        if (mean_tokens > 0 && (double)tt > cfg->token_usage_factor * mean_tokens) {
            bool high = (double)tt > cfg->token_usage_high_factor * mean_tokens;
            bool by_cost = p->cost_any_known && n->cost_known && p->cost_usd > 0;
            double impact = by_cost ? pct(n->cost_usd, p->cost_usd)
                                    : pct((double)tt, (double)dp_token_total(&p->tokens));
            b = add(l, DP_BOTTLENECK_HIGH_TOKEN_USAGE, id,
                    high ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM, impact);
            if (b) {
                dp_prof_format(b->details, sizeof(b->details),
                               "%llu tokens, %.1fx the mean per node (%.0f); impact is the "
                               "share of run %s",
                               (unsigned long long)tt, (double)tt / mean_tokens, mean_tokens,
                               by_cost ? "cost" : "tokens");
                dp_prof_format(b->suggestion, sizeof(b->suggestion),
                               "Reduce the context sent to this node: summarise inputs or "
                               "include only what the step needs");
            }
        }

        if (n->retries >= cfg->retries_min && n->retries > 0) {
            bool high = n->retries >= cfg->retries_high;
            /* time lost: measured failed attempts, else an equal share per attempt */
            double lost = n->failed_attempt_ms > 0
                              ? n->failed_attempt_ms
                              : n->execution_ms * n->retries / (n->retries + 1.0);
            b = add(l, DP_BOTTLENECK_EXCESSIVE_RETRIES, id,
                    high ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM, pct(lost, p->wall_ms));
            if (b) {
                dp_prof_format(b->details, sizeof(b->details),
                               "%u retries; about %.1f ms spent in failed attempts", n->retries,
                               lost);
                dp_prof_format(b->suggestion, sizeof(b->suggestion),
                               "Find why attempts fail: validate inputs earlier, make the "
                               "prompt or tool contract stricter");
            }
        }

        if (n->wait_ms > cfg->dependency_wait_factor * n->execution_ms && n->wait_ms > 0) {
            bool high = n->wait_ms > cfg->dependency_wait_high_factor * n->execution_ms;
            b = add(l, DP_BOTTLENECK_DEPENDENCY_WAIT, id,
                    high ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM, pct(n->wait_ms, p->wall_ms));
            if (b) {
                dp_prof_format(b->details, sizeof(b->details),
                               "waited %.1f ms after its dependencies were done, then ran "
                               "%.1f ms",
                               n->wait_ms, n->execution_ms);
                dp_prof_format(b->suggestion, sizeof(b->suggestion),
                               "Start the node as soon as its inputs are ready; check the "
                               "scheduler or worker pool");
            }
        }

        if (n->cost_known && n->llm_calls && n->cost_usd > cfg->expensive_node_usd) {
            bool high = n->cost_usd > cfg->expensive_node_high_factor * cfg->expensive_node_usd;
            b = add(l, DP_BOTTLENECK_EXPENSIVE_NODE, id,
                    high ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM, pct(n->cost_usd, p->cost_usd));
            if (b) {
                dp_prof_format(b->details, sizeof(b->details), "costs $%.4f (threshold $%.4f)",
                               n->cost_usd, cfg->expensive_node_usd);
                dp_prof_format(b->suggestion, sizeof(b->suggestion),
                               "Use a cheaper model for this node, cache its results or cut "
                               "its context");
            }
        }
    }
}

/* Tool and LLM call latency, one finding per node (or for calls outside
 * any node) summing the slow calls. */
static int call_checks(dp_prof_ctx *c, finding_list *l, bool tools)
{
    const dp_profile_config *cfg = c->cfg;
    dp_run_profile *p = c->p;
    size_t slots = p->node_count + 1; /* last slot: calls outside nodes */
    double *slow_ms = dp_arena_calloc(c->scratch, slots, sizeof(double));
    unsigned *slow_n = dp_arena_calloc(c->scratch, slots, sizeof(unsigned));
    double *longest = dp_arena_calloc(c->scratch, slots, sizeof(double));
    if (!slow_ms || !slow_n || !longest)
        return -1;
    double limit = tools ? cfg->tool_latency_ms : cfg->slow_llm_call_ms;
    double high_limit = tools ? cfg->tool_latency_high_ms : cfg->slow_llm_call_high_ms;
    for (size_t i = 0; i < c->n; i++) {
        const dp_prof_span *ps = &c->si[i];
        if (tools ? !ps->is_tool : !ps->is_llm)
            continue;
        double d = dp_prof_ms(ps->end_ns - ps->start_ns);
        if (d <= limit)
            continue;
        size_t slot = ps->node >= 0 ? (size_t)ps->node : p->node_count;
        slow_ms[slot] += d;
        slow_n[slot]++;
        if (d > longest[slot])
            longest[slot] = d;
    }
    for (size_t s = 0; s < slots; s++) {
        if (!slow_n[s])
            continue;
        int node = s < p->node_count ? (int)s : -1;
        enum dp_severity sev = longest[s] > high_limit ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM;
        dp_bottleneck *b = add(l, tools ? DP_BOTTLENECK_TOOL_LATENCY : DP_BOTTLENECK_SLOW_LLM_CALL,
                               node, sev, pct(slow_ms[s], p->wall_ms));
        if (!b)
            continue;
        dp_prof_format(b->details, sizeof(b->details),
                       "%u %s call(s) over %.0f ms, %.1f ms in total, longest %.1f ms", slow_n[s],
                       tools ? "tool" : "LLM", limit, slow_ms[s], longest[s]);
        if (tools)
            dp_prof_format(b->suggestion, sizeof(b->suggestion),
                           "Cache tool results, run independent tool calls in parallel, or add "
                           "a timeout");
        else
            dp_prof_format(b->suggestion, sizeof(b->suggestion),
                           "Stream the response, shorten the prompt or output, or use a faster "
                           "model");
    }
    return 0;
}

/* One finding for a chain of sequential siblings. Impact is the time that
 * running them side by side would save (all but the longest); its severity
 * steps come from the config. */
static void report_chain(dp_prof_ctx *c, finding_list *l, const size_t *chain, size_t len)
{
    dp_run_profile *p = c->p;
    double sum = 0, top = 0;
    for (size_t k = 0; k < len; k++) {
        double e = p->nodes[chain[k]].execution_ms;
        sum += e;
        if (e > top)
            top = e;
    }
    const dp_profile_config *cfg = c->cfg;
    double impact = pct(sum - top, p->wall_ms);
    enum dp_severity sev = impact >= cfg->sequential_high_impact_pct     ? DP_SEVERITY_HIGH
                           : impact >= cfg->sequential_medium_impact_pct ? DP_SEVERITY_MEDIUM
                                                                         : DP_SEVERITY_LOW;
    dp_bottleneck *b = add(l, DP_BOTTLENECK_SEQUENTIAL, (int)chain[0], sev, impact);
    if (!b)
        return;
    if (!p->explicit_deps) {
        /* nothing says these nodes could overlap: a hypothesis, at most medium */
        b->hypothesis = true;
        if (b->severity > DP_SEVERITY_MEDIUM)
            b->severity = DP_SEVERITY_MEDIUM;
    }
    dp_prof_format(b->details, sizeof(b->details),
                   "%zu nodes ran one after another from %s to %s (%.1f ms) with no declared "
                   "dependency between them",
                   len, p->nodes[chain[0]].id, p->nodes[chain[len - 1]].id, sum);
    dp_prof_format(b->suggestion, sizeof(b->suggestion),
                   "Run these nodes concurrently if they are independent, or declare their "
                   "dependencies (dag.depends_on)");
}

/* Sibling nodes that ran one after another with no declared dependency
 * between neighbours. In a run without explicit dependencies nothing links
 * them, so any such chain counts. */
static int sequential_checks(dp_prof_ctx *c, finding_list *l)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    unsigned min_nodes = c->cfg->sequential_min_nodes ? c->cfg->sequential_min_nodes : 2;
    size_t *order = dp_prof_sibling_order(c);
    size_t *chain = dp_arena_alloc(c->scratch, (nn ? nn : 1) * sizeof(size_t));
    if (!order || !chain)
        return -1;
    size_t len = 0;
    for (size_t k = 0; k <= nn; k++) {
        size_t j = k < nn ? order[k] : 0;
        bool extends = false;
        if (k < nn && len > 0) {
            size_t prev = chain[len - 1];
            bool sibling = p->nodes[j].parent_node == p->nodes[prev].parent_node;
            bool linked =
                p->explicit_deps && (dp_prof_has_edge(p, j, prev) || dp_prof_has_edge(p, prev, j));
            extends = sibling && dp_prof_ran_after(&p->nodes[prev], &p->nodes[j]) && !linked;
        }
        if (extends) {
            chain[len++] = j;
            continue;
        }
        if (len >= min_nodes)
            report_chain(c, l, chain, len);
        len = 0;
        if (k < nn)
            chain[len++] = j;
    }
    return 0;
}

static void budget_checks(dp_prof_ctx *c, finding_list *l)
{
    const dp_profile_config *cfg = c->cfg;
    dp_run_profile *p = c->p;
    if (cfg->budget_usd > 0 && p->cost_usd > cfg->budget_usd) {
        bool high = p->cost_usd > cfg->budget_high_factor * cfg->budget_usd;
        dp_bottleneck *b =
            add(l, DP_BOTTLENECK_BUDGET_EXCEEDED, -1, high ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM,
                pct(p->cost_usd - cfg->budget_usd, p->cost_usd));
        if (b) {
            dp_prof_format(b->details, sizeof(b->details),
                           "run cost $%.4f%s exceeds the budget of $%.4f", p->cost_usd,
                           p->cost_complete ? "" : " (known part only)", cfg->budget_usd);
            dp_prof_format(b->suggestion, sizeof(b->suggestion),
                           "Cut tokens on the costliest nodes or move them to cheaper models");
        }
    }
    uint64_t tt = dp_token_total(&p->tokens);
    if (cfg->budget_tokens > 0 && tt > cfg->budget_tokens) {
        bool high = (double)tt > cfg->budget_high_factor * (double)cfg->budget_tokens;
        dp_bottleneck *b =
            add(l, DP_BOTTLENECK_BUDGET_EXCEEDED, -1, high ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM,
                pct((double)(tt - cfg->budget_tokens), (double)tt));
        if (b) {
            dp_prof_format(b->details, sizeof(b->details),
                           "run used %llu tokens, over the budget of %llu", (unsigned long long)tt,
                           (unsigned long long)cfg->budget_tokens);
            dp_prof_format(b->suggestion, sizeof(b->suggestion),
                           "Shorten contexts and outputs on the nodes with most tokens");
        }
    }
}

/* The time (ms) or money (USD) a finding is about, for the absolute floors;
 * budgets are the user's own line and have none. */
static bool below_floor(const dp_prof_ctx *c, const dp_bottleneck *b)
{
    const dp_run_profile *p = c->p;
    switch (b->type) {
    case DP_BOTTLENECK_BUDGET_EXCEEDED:
        return false;
    case DP_BOTTLENECK_EXPENSIVE_NODE:
        return b->impact_pct / 100.0 * p->cost_usd < c->cfg->severity_min_usd;
    case DP_BOTTLENECK_HIGH_TOKEN_USAGE:
        /* impact is a cost share when costs are known, else a token share */
        return p->cost_any_known && b->node >= 0 && p->nodes[b->node].cost_known &&
               p->nodes[b->node].cost_usd < c->cfg->severity_min_usd;
    default:
        return b->impact_pct / 100.0 * p->wall_ms < c->cfg->severity_min_ms;
    }
}

/*
 * One finding per cause per node: a slow node whose slow model or tool
 * calls take at least half its time is told by those (slow_llm_call,
 * tool_latency), and a node over the cost threshold by expensive_node
 * rather than also by high_token_usage. Then the absolute floors.
 */
static int settle(dp_prof_ctx *c, finding_list *l)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    double *slow_call_ms = dp_arena_calloc(c->scratch, nn ? nn : 1, sizeof(double));
    bool *expensive = dp_arena_calloc(c->scratch, nn ? nn : 1, sizeof(bool));
    if (!slow_call_ms || !expensive)
        return -1;
    for (size_t i = 0; i < l->count; i++) {
        const dp_bottleneck *o = &l->items[i];
        if (o->node < 0)
            continue;
        if (o->type == DP_BOTTLENECK_SLOW_LLM_CALL || o->type == DP_BOTTLENECK_TOOL_LATENCY)
            slow_call_ms[o->node] += o->impact_pct / 100.0 * p->wall_ms;
        if (o->type == DP_BOTTLENECK_EXPENSIVE_NODE)
            expensive[o->node] = true;
    }
    size_t w = 0;
    for (size_t i = 0; i < l->count; i++) {
        dp_bottleneck *b = &l->items[i];
        if (b->node >= 0 && b->type == DP_BOTTLENECK_SLOW_NODE &&
            slow_call_ms[b->node] >= 0.5 * p->nodes[b->node].execution_ms &&
            slow_call_ms[b->node] > 0)
            continue;
        if (b->node >= 0 && b->type == DP_BOTTLENECK_HIGH_TOKEN_USAGE && expensive[b->node])
            continue;
        if (b->severity > DP_SEVERITY_LOW && below_floor(c, b))
            b->severity = DP_SEVERITY_LOW;
        l->items[w++] = *b;
    }
    l->count = w;
    return 0;
}

static int cmp_impact(const void *a, const void *b)
{
    const dp_bottleneck *x = a, *y = b;
    if (x->impact_pct != y->impact_pct)
        return x->impact_pct > y->impact_pct ? -1 : 1;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

int dp_prof_find_bottlenecks(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    /* room for every finding of a normal run; beyond it they are counted only */
    size_t cap = 8 * p->node_count + 8;
    if (cap > FINDINGS_MAX)
        cap = FINDINGS_MAX;
    finding_list l = {dp_arena_alloc(c->scratch, cap * sizeof(dp_bottleneck)), 0, cap, 0};
    if (!l.items)
        return -1;
    node_checks(c, &l);
    if (call_checks(c, &l, true) < 0 || call_checks(c, &l, false) < 0)
        return -1;
    if (sequential_checks(c, &l) < 0)
        return -1;
    budget_checks(c, &l);
    if (settle(c, &l) < 0)
        return -1;
    qsort(l.items, l.count, sizeof(dp_bottleneck), cmp_impact);
    size_t keep = l.count > BOTTLENECKS_MAX ? BOTTLENECKS_MAX : l.count;
    p->bottlenecks = dp_arena_alloc(&p->arena, (keep ? keep : 1) * sizeof(dp_bottleneck));
    if (!p->bottlenecks)
        return -1;
    memcpy(p->bottlenecks, l.items, keep * sizeof(dp_bottleneck));
    p->bottleneck_count = keep;
    p->bottlenecks_omitted = l.count - keep + l.dropped;
    return 0;
}

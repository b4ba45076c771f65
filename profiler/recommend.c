/*
 * Recommendations with estimated savings (time, tokens, USD), each computed
 * from the profile itself: parallelize, cache, model_downgrade,
 * reduce_context, batch_operations, restructure_dag. The estimates and
 * their assumptions are spelled out in docs/metrics.md.
 */
#include "profile_internal.h"

#include <stdlib.h>
#include <string.h>

#define RECOMMENDATIONS_MAX 6

static double share_pct(double part, double whole)
{
    return whole > 0 ? part / whole * 100.0 : 0.0;
}

/* Whether a saving is big enough in absolute terms for medium or high. */
static bool above_floor(const dp_prof_ctx *c, double time_ms, double cost)
{
    return (time_ms > 0 && time_ms >= c->cfg->severity_min_ms) ||
           (cost > 0 && cost >= c->cfg->severity_min_usd);
}

/* Priority from the larger of the time share and the cost share saved,
 * low whatever the share when the saving is below the absolute floors. */
static enum dp_severity priority_for(const dp_prof_ctx *c, double time_ms, double cost)
{
    const dp_run_profile *p = c->p;
    double s = share_pct(time_ms, p->wall_ms);
    double sc = share_pct(cost, p->cost_usd);
    if (sc > s)
        s = sc;
    if (!above_floor(c, time_ms, cost))
        return DP_SEVERITY_LOW;
    if (s >= 30)
        return DP_SEVERITY_HIGH;
    if (s >= 10)
        return DP_SEVERITY_MEDIUM;
    return DP_SEVERITY_LOW;
}

/* Advice that rests on dependencies inferred from timing is a hypothesis:
 * at most medium. */
static void mark_hypothesis(dp_recommendation *r)
{
    r->hypothesis = true;
    if (r->priority > DP_SEVERITY_MEDIUM)
        r->priority = DP_SEVERITY_MEDIUM;
}

static dp_recommendation *add(dp_run_profile *p, enum dp_recommendation_type type)
{
    if (p->recommendation_count == RECOMMENDATIONS_MAX)
        return NULL;
    dp_recommendation *r = &p->recommendations[p->recommendation_count++];
    memset(r, 0, sizeof(*r));
    r->type = type;
    r->savings_cost_known = true;
    return r;
}

/* A flag per node, for collecting the nodes a recommendation concerns. */
static bool *node_marks(dp_prof_ctx *c)
{
    return dp_arena_calloc(c->scratch, c->p->node_count ? c->p->node_count : 1, sizeof(bool));
}

static void mark_node(bool *mark, int node)
{
    if (mark && node >= 0)
        mark[node] = true;
}

/* The marked nodes, in node order, as r's node list (in the profile's arena). */
static int set_nodes(dp_prof_ctx *c, dp_recommendation *r, const bool *mark)
{
    size_t n = 0;
    for (size_t j = 0; j < c->p->node_count; j++)
        n += mark[j];
    if (!n)
        return 0;
    size_t *list = dp_arena_alloc(&c->p->arena, n * sizeof(*list));
    if (!list)
        return -1;
    for (size_t j = 0, k = 0; j < c->p->node_count; j++) {
        if (mark[j])
            list[k++] = j;
    }
    r->nodes = list;
    r->node_count = n;
    return 0;
}

/* Only when dependencies are inferred: declared ones (or LangGraph's
 * steps) say which nodes cannot overlap, and waits beyond them are
 * dependency_wait findings. The saving is the one speedup_if_independent
 * states, so the two figures always agree. */
static void parallelize(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    if (p->explicit_deps || p->node_count == 0)
        return;
    double actual = 0;
    double ideal = dp_prof_ideal_end(c, &actual);
    double saved = actual - ideal;
    if (saved < 0)
        saved = 0;
    if (p->wall_ms > saved)
        p->speedup_if_independent = p->wall_ms / (p->wall_ms - saved);
    if (saved <= 0 || saved < c->cfg->parallelize_min_share * p->wall_ms)
        return;
    dp_recommendation *r = add(p, DP_REC_PARALLELIZE);
    if (!r)
        return;
    r->savings_time_ms = saved;
    r->priority = priority_for(c, saved, 0);
    mark_hypothesis(r);
    dp_prof_format(r->description, sizeof(r->description),
                   "Hypothesis (dependencies inferred from timing): if the top-level nodes are "
                   "independent, running them concurrently would finish at %.1f ms instead of "
                   "%.1f ms (speed-up %.2fx)",
                   ideal, actual, p->speedup_if_independent);
    dp_prof_format(r->implementation, sizeof(r->implementation),
                   "Start independent nodes together (e.g. asyncio.gather, Promise.all) and "
                   "declare the real edges with dag.depends_on");
}

static int cmp_cache(const void *a, const void *b, void *arg)
{
    const dp_prof_ctx *c = arg;
    const dp_prof_span *x = &c->si[*(const int *)a], *y = &c->si[*(const int *)b];
    size_t m = x->model.len < y->model.len ? x->model.len : y->model.len;
    int r = m ? memcmp(x->model.ptr, y->model.ptr, m) : 0;
    if (r == 0 && x->model.len != y->model.len)
        r = x->model.len < y->model.len ? -1 : 1;
    if (r == 0)
        r = memcmp(x->input_sha, y->input_sha, 32);
    if (r == 0 && x->start_ns != y->start_ns)
        r = x->start_ns < y->start_ns ? -1 : 1;
    return r;
}

static bool same_call(const dp_prof_ctx *c, int x, int y)
{
    return dp_str_eq(c->si[x].model, c->si[y].model) &&
           memcmp(c->si[x].input_sha, c->si[y].input_sha, 32) == 0;
}

static int cache(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    int *calls = dp_arena_alloc(c->scratch, (c->n ? c->n : 1) * sizeof(int));
    if (!calls)
        return -1;
    size_t k = 0;
    /* a failed call gave no answer to serve again: its retry is no repeat */
    for (size_t i = 0; i < c->n; i++) {
        if (c->si[i].is_llm && c->si[i].has_input && c->spans[i].status != DP_STATUS_ERROR)
            calls[k++] = (int)i;
    }
    qsort_r(calls, k, sizeof(int), cmp_cache, c);
    bool *mark = node_marks(c);
    if (!mark)
        return -1;
    double time = 0, cost = 0;
    uint64_t tokens = 0;
    unsigned repeats = 0, groups = 0;
    bool cost_known = true;
    for (size_t i = 1; i < k; i++) {
        const dp_prof_span *cur = &c->si[calls[i]];
        if (!same_call(c, calls[i - 1], calls[i]))
            continue;
        /* cur repeats an earlier identical call: all of it could be served from cache */
        if (i < 2 || !same_call(c, calls[i - 2], calls[i - 1]))
            groups++;
        repeats++;
        mark_node(mark, cur->node);
        time += dp_prof_ms(cur->end_ns - cur->start_ns);
        tokens += dp_token_total(&cur->tokens);
        if (cur->cost_known)
            cost += cur->cost;
        else
            cost_known = false;
    }
    if (!repeats)
        return 0;
    dp_recommendation *r = add(p, DP_REC_CACHE);
    if (!r)
        return 0;
    r->savings_time_ms = time;
    r->savings_tokens = tokens;
    r->savings_cost_usd = cost;
    r->savings_cost_known = cost_known;
    r->priority = priority_for(c, time, cost);
    dp_prof_format(r->description, sizeof(r->description),
                   "%u LLM call(s) repeat an earlier call with the same model and the same input "
                   "(%u distinct input(s))",
                   repeats, groups);
    dp_prof_format(r->implementation, sizeof(r->implementation),
                   "Cache responses keyed by model and a hash of the input, or use the "
                   "provider's prompt caching");
    return set_nodes(c, r, mark);
}

static double price_level(const dp_model_price *pr)
{
    return pr->input_per_mtok + pr->output_per_mtok;
}

static int model_downgrade(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    const dp_model_usage *top = NULL;
    const dp_model_price *top_price = NULL;
    uint64_t all_tokens = 0;
    /* embedding models are no substitutes for chat models, either way */
    for (size_t m = 0; m < p->model_count; m++) {
        if (p->models[m].embedding)
            continue;
        all_tokens += dp_token_total(&p->models[m].tokens);
        const dp_model_price *pr = dp_prof_price(c, dp_str_from_cstr(p->models[m].model));
        if (pr && (!top_price || price_level(pr) > price_level(top_price))) {
            top = &p->models[m];
            top_price = pr;
        }
    }
    if (!top || all_tokens == 0)
        return 0;
    double share = (double)dp_token_total(&top->tokens) / (double)all_tokens;
    if (share < c->cfg->model_downgrade_share)
        return 0;
    dp_str top_name = dp_str_from_cstr(top->model);
    const char *vendor = dp_price_vendor(top_name);

    /* the cheapest model of the same vendor already used in this run ... */
    const char *alt_name = NULL;
    const dp_model_price *alt = NULL;
    for (size_t m = 0; m < p->model_count && vendor; m++) {
        if (p->models[m].embedding)
            continue;
        dp_str name = dp_str_from_cstr(p->models[m].model);
        const char *v = dp_price_vendor(name);
        const dp_model_price *pr = dp_prof_price(c, name);
        if (!pr || !v || strcmp(v, vendor) != 0 || price_level(pr) >= price_level(top_price))
            continue;
        if (!alt || price_level(pr) < price_level(alt)) {
            alt = pr;
            alt_name = p->models[m].model;
        }
    }
    /* ... else the family's named cheaper sibling */
    if (!alt) {
        alt = dp_price_table_cheaper_sibling(c->cfg->prices, top_name, &alt_name);
        if (alt && price_level(alt) >= price_level(top_price))
            alt = NULL;
    }
    if (!alt)
        return 0;

    bool *mark = node_marks(c);
    if (!mark)
        return -1;
    double saved = 0;
    for (size_t i = 0; i < c->n; i++) {
        const dp_prof_span *ps = &c->si[i];
        if (!ps->is_llm || !ps->cost_known || !dp_str_eq(ps->model, top_name))
            continue;
        double now = ps->cost;
        double then = dp_prof_call_cost(alt, &ps->tokens);
        if (now > then) {
            saved += now - then;
            mark_node(mark, ps->node);
        }
    }
    if (saved <= 0)
        return 0;
    dp_recommendation *r = add(p, DP_REC_MODEL_DOWNGRADE);
    if (!r)
        return 0;
    r->savings_cost_usd = saved;
    r->priority = priority_for(c, 0, saved);
    dp_prof_format(r->description, sizeof(r->description),
                   "%.0f%% of the run's LLM tokens (embedding models aside) go to %s, its most "
                   "expensive model; the same tokens on %s would cost $%.4f less",
                   share * 100.0, top->model, alt_name, saved);
    dp_prof_format(r->implementation, sizeof(r->implementation),
                   "Move the simpler nodes from %s to %s and keep %s for the steps that need it",
                   top->model, alt_name, top->model);
    return set_nodes(c, r, mark);
}

static int reduce_context(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    double threshold = c->cfg->reduce_context_tokens > 0 ? c->cfg->reduce_context_tokens : 0;
    bool *mark = node_marks(c);
    if (!mark)
        return -1;
    uint64_t input = 0, excess = 0;
    unsigned calls = 0;
    double cost = 0;
    bool cost_known = true;
    for (size_t i = 0; i < c->n; i++) {
        const dp_prof_span *ps = &c->si[i];
        if (!ps->is_llm || !ps->has_tokens)
            continue;
        calls++;
        input += ps->tokens.input;
        if ((double)ps->tokens.input > threshold) {
            uint64_t over = ps->tokens.input - (uint64_t)threshold;
            excess += over;
            mark_node(mark, ps->node);
            const dp_model_price *pr = dp_prof_price(c, ps->model);
            if (pr)
                cost += (double)over * dp_prof_call_input_rate(pr, &ps->tokens) / 1e6;
            else
                cost_known = false;
        }
    }
    if (!calls)
        return 0;
    double mean = (double)input / calls;
    if (mean <= threshold)
        return 0;
    dp_recommendation *r = add(p, DP_REC_REDUCE_CONTEXT);
    if (!r)
        return 0;
    r->savings_tokens = excess;
    r->savings_cost_usd = cost;
    r->savings_cost_known = cost_known;
    r->priority = mean > 2 * threshold ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM;
    if (cost_known && !above_floor(c, 0, cost))
        r->priority = DP_SEVERITY_LOW;
    dp_prof_format(r->description, sizeof(r->description),
                   "LLM calls send %.0f input tokens on average (threshold %.0f); %llu tokens "
                   "are above the threshold",
                   mean, threshold, (unsigned long long)excess);
    dp_prof_format(r->implementation, sizeof(r->implementation),
                   "Summarise or retrieve context selectively before each call instead of "
                   "passing whole documents and histories");
    return set_nodes(c, r, mark);
}

static dp_str batch_name(const dp_prof_ctx *c, int i)
{
    const dp_prof_span *ps = &c->si[i];
    return ps->is_tool && ps->tool_name.len ? ps->tool_name : c->spans[i].name;
}

static int cmp_batch(const void *a, const void *b, void *arg)
{
    const dp_prof_ctx *c = arg;
    int x = *(const int *)a, y = *(const int *)b;
    if (c->si[x].node != c->si[y].node)
        return c->si[x].node < c->si[y].node ? -1 : 1;
    dp_str nx = batch_name(c, x), ny = batch_name(c, y);
    size_t m = nx.len < ny.len ? nx.len : ny.len;
    int r = m ? memcmp(nx.ptr, ny.ptr, m) : 0;
    if (r == 0 && nx.len != ny.len)
        r = nx.len < ny.len ? -1 : 1;
    if (r == 0 && c->si[x].start_ns != c->si[y].start_ns)
        r = c->si[x].start_ns < c->si[y].start_ns ? -1 : 1;
    return r;
}

static bool same_batch(const dp_prof_ctx *c, int x, int y)
{
    return c->si[x].node == c->si[y].node && dp_str_eq(batch_name(c, x), batch_name(c, y));
}

static int batch_operations(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    int *calls = dp_arena_alloc(c->scratch, (c->n ? c->n : 1) * sizeof(int));
    if (!calls)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        const dp_prof_span *ps = &c->si[i];
        if ((ps->is_llm || ps->is_tool) && !ps->is_node_span &&
            dp_prof_ms(ps->end_ns - ps->start_ns) <= c->cfg->batch_small_ms)
            calls[k++] = (int)i;
    }
    qsort_r(calls, k, sizeof(int), cmp_batch, c);
    bool *mark = node_marks(c);
    if (!mark)
        return -1;
    double saved = 0;
    unsigned groups = 0, best_count = 0;
    int best_first = -1;
    for (size_t i = 0; i < k;) {
        size_t j = i + 1;
        while (j < k && same_batch(c, calls[i], calls[j]))
            j++;
        unsigned count = (unsigned)(j - i);
        if (count >= c->cfg->batch_min_calls && count >= 2) {
            /* busy time of the group (overlaps merged) minus its longest call:
             * what one batched call of that length would save */
            uint64_t busy = 0, longest = 0, cur_s = 0, cur_e = 0;
            for (size_t q = i; q < j; q++) {
                const dp_prof_span *ps = &c->si[calls[q]];
                uint64_t d = ps->end_ns - ps->start_ns;
                if (d > longest)
                    longest = d;
                if (q == i || ps->start_ns > cur_e) {
                    busy += cur_e - cur_s;
                    cur_s = ps->start_ns;
                    cur_e = ps->end_ns;
                } else if (ps->end_ns > cur_e) {
                    cur_e = ps->end_ns;
                }
            }
            busy += cur_e - cur_s;
            saved += dp_prof_ms(busy - longest);
            groups++;
            mark_node(mark, c->si[calls[i]].node);
            if (count > best_count) {
                best_count = count;
                best_first = calls[i];
            }
        }
        i = j;
    }
    if (!groups)
        return 0;
    dp_recommendation *r = add(p, DP_REC_BATCH_OPERATIONS);
    if (!r)
        return 0;
    dp_str name = batch_name(c, best_first);
    int node = c->si[best_first].node;
    r->savings_time_ms = saved;
    r->priority = priority_for(c, saved, 0);
    dp_prof_format(r->description, sizeof(r->description),
                   "%u group(s) of at least %u small calls of one operation; largest: %u x "
                   "'%.*s' in %s",
                   groups, c->cfg->batch_min_calls, best_count,
                   (int)(name.len > 64 ? 64 : name.len), name.ptr ? name.ptr : "",
                   node >= 0 ? p->nodes[node].id : "the run");
    dp_prof_format(r->implementation, sizeof(r->implementation),
                   "Send these requests as one batched call (one prompt with all items, or the "
                   "tool's bulk API)");
    return set_nodes(c, r, mark);
}

static int restructure_dag(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    if (p->critical_path_count < c->cfg->restructure_chain_nodes || p->critical_path_count < 2)
        return 0;
    double longest = 0;
    for (size_t i = 0; i < p->critical_path_count; i++) {
        double e = p->nodes[p->critical_path[i]].execution_ms;
        if (e > longest)
            longest = e;
    }
    double saved = p->critical_path_ms - longest;
    if (saved <= 0)
        return 0;
    dp_recommendation *r = add(p, DP_REC_RESTRUCTURE_DAG);
    if (!r)
        return 0;
    r->savings_time_ms = saved;
    r->priority = priority_for(c, saved, 0);
    if (!p->explicit_deps) {
        mark_hypothesis(r);
        dp_prof_format(r->description, sizeof(r->description),
                       "Hypothesis (dependencies inferred from timing): the critical path is a "
                       "chain of %zu nodes that ran one after another (%.1f ms); if they do not "
                       "depend on each other, up to %.1f ms could be saved",
                       p->critical_path_count, p->critical_path_ms, saved);
    } else {
        dp_prof_format(r->description, sizeof(r->description),
                       "The critical path is a chain of %zu dependent nodes (%.1f ms); at best, "
                       "breaking it up saves up to %.1f ms (all but its longest node)",
                       p->critical_path_count, p->critical_path_ms, saved);
    }
    dp_prof_format(r->implementation, sizeof(r->implementation),
                   "Remove dependencies that are not real, merge small sequential steps, or "
                   "split long steps into parallel parts");
    r->nodes = p->critical_path; /* the chain itself, in path order */
    r->node_count = p->critical_path_count;
    return 0;
}

/* Recommendations whose savings come from the same time or the same calls
 * are not additive: each lists the others (overlaps). */
static void mark_overlaps(dp_run_profile *p)
{
    const unsigned time_group = 1u << DP_REC_PARALLELIZE | 1u << DP_REC_RESTRUCTURE_DAG |
                                1u << DP_REC_BATCH_OPERATIONS | 1u << DP_REC_CACHE;
    const unsigned cost_group =
        1u << DP_REC_CACHE | 1u << DP_REC_MODEL_DOWNGRADE | 1u << DP_REC_REDUCE_CONTEXT;
    unsigned present = 0;
    for (size_t i = 0; i < p->recommendation_count; i++)
        present |= 1u << p->recommendations[i].type;
    for (size_t i = 0; i < p->recommendation_count; i++) {
        dp_recommendation *r = &p->recommendations[i];
        unsigned self = 1u << r->type, o = 0;
        if (r->savings_time_ms > 0 && (time_group & self))
            o |= time_group & present;
        if ((r->savings_cost_usd > 0 || r->savings_tokens > 0) && (cost_group & self))
            o |= cost_group & present;
        r->overlaps = o & ~self;
    }
}

int dp_prof_recommend(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    /* add() clears each entry as it hands it out */
    p->recommendations = dp_arena_alloc(&p->arena, RECOMMENDATIONS_MAX * sizeof(dp_recommendation));
    if (!p->recommendations)
        return -1;
    parallelize(c);
    if (cache(c) < 0)
        return -1;
    if (model_downgrade(c) < 0 || reduce_context(c) < 0 || batch_operations(c) < 0 ||
        restructure_dag(c) < 0)
        return -1;
    mark_overlaps(p);
    return 0;
}

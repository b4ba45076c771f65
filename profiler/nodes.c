/*
 * From spans to DAG nodes: find the run's root and DAG id, choose the node
 * spans (explicit ids, else outermost gen_ai agent/tool/chat spans, else the
 * root's children), give every span to its nearest node ancestor, then sum
 * tokens, cost, LLM and tool calls and retries per node, per model and per
 * run. Rules and their reasons: docs/metrics.md.
 */
#include "profile_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MODELS_MAX 256
#define NODE_ID_MAX 512

static int str_cmp(dp_str a, dp_str b)
{
    size_t m = a.len < b.len ? a.len : b.len;
    int r = m ? memcmp(a.ptr, b.ptr, m) : 0;
    if (r)
        return r;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

/* --- root, run times, dag id ------------------------------------------ */

static void find_root(dp_prof_ctx *c)
{
    c->root = -1;
    int earliest = -1;
    for (size_t i = 0; i < c->n; i++) {
        if (earliest < 0 || c->si[i].start_ns < c->si[earliest].start_ns)
            earliest = (int)i;
        if (c->si[i].parent >= 0)
            continue;
        if (c->root < 0 || c->si[i].start_ns < c->si[c->root].start_ns)
            c->root = (int)i;
    }
    /* parents forming a cycle leave no root: take the earliest span */
    if (c->root < 0)
        c->root = earliest;
}

static int set_dag_id(dp_prof_ctx *c)
{
    dp_str id = DP_STR_LIT("unknown");
    if (c->root >= 0) {
        const dp_span *r = &c->spans[c->root];
        c->p->has_root = true;
        memcpy(c->p->root_span_id, r->span_id, 8);
        const char *keys[] = {"dag.id", "gen_ai.workflow.name", "traceloop.workflow.name"};
        bool found = false;
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]) && !found; k++) {
            const dp_value *v = dp_span_attr(r, keys[k]);
            if (!v || v->kind == DP_VALUE_EMPTY)
                continue;
            if (v->kind == DP_VALUE_STRING && v->u.s.len > 0) {
                id = v->u.s;
                found = true;
            } else {
                c->p->ignored_values++;
            }
        }
        if (!found && r->name.len > 0)
            id = r->name;
        for (size_t a = 0; a < r->resource_attr_count; a++) {
            const dp_attr *ra = &r->resource_attrs[a];
            if (dp_str_eq_cstr(ra->key, "service.name") && ra->value.kind == DP_VALUE_STRING &&
                ra->value.u.s.len > 0) {
                size_t len = ra->value.u.s.len < NODE_ID_MAX ? ra->value.u.s.len : NODE_ID_MAX;
                c->p->service = dp_arena_strndup(&c->p->arena, ra->value.u.s.ptr, len);
                if (!c->p->service)
                    return -1;
                break;
            }
        }
    }
    if (id.len > NODE_ID_MAX)
        id.len = NODE_ID_MAX;
    c->p->dag_id = dp_arena_strndup(&c->p->arena, id.ptr, id.len);
    return c->p->dag_id ? 0 : -1;
}

/* --- ownership: nearest marked ancestor ---------------------------------- */

/* For every span, the node of the nearest span at or above it that is a
 * node span (res[] holds node indexes for node spans, -2 elsewhere on entry).
 * Walks each chain once; a parent cycle resolves to -1. */
static int resolve_owners(dp_prof_ctx *c, int *res)
{
    int *stack = dp_arena_alloc(c->scratch, (c->n ? c->n : 1) * sizeof(int));
    unsigned *stamp = dp_arena_calloc(c->scratch, c->n ? c->n : 1, sizeof(unsigned));
    if (!stack || !stamp)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        if (res[i] != -2)
            continue;
        size_t depth = 0;
        int cur = (int)i, found = -1;
        unsigned mark = (unsigned)i + 1;
        while (cur >= 0 && res[cur] == -2) {
            if (stamp[cur] == mark)
                break; /* cycle: found stays -1 */
            stamp[cur] = mark;
            stack[depth++] = cur;
            cur = c->si[cur].parent;
        }
        if (cur >= 0 && res[cur] != -2 && stamp[cur] != mark)
            found = res[cur];
        while (depth > 0)
            res[stack[--depth]] = found;
    }
    return 0;
}

/* --- node selection ---------------------------------------------------- */

typedef struct candidate {
    int span;
    dp_str key;
} candidate;

static int cmp_candidate(const void *a, const void *b, void *arg)
{
    const candidate *x = a, *y = b;
    const dp_prof_span *si = arg;
    int r = str_cmp(x->key, y->key);
    if (r)
        return r;
    if (si[x->span].start_ns != si[y->span].start_ns)
        return si[x->span].start_ns < si[y->span].start_ns ? -1 : 1;
    return x->span - y->span;
}

static dp_str fallback_key(const dp_prof_ctx *c, int i)
{
    const dp_prof_span *ps = &c->si[i];
    if (dp_str_eq_cstr(ps->op, "invoke_agent") && ps->agent_name.len)
        return ps->agent_name;
    if (dp_str_eq_cstr(ps->op, "execute_tool") && ps->tool_name.len)
        return ps->tool_name;
    if (c->spans[i].name.len)
        return c->spans[i].name;
    return DP_STR_LIT("(unnamed)");
}

/* A framework step name that is a node: LangGraph's "__start__" and
 * "__end__" (and any other "__name__") are the graph's own plumbing. */
static bool fw_node_usable(dp_str id)
{
    return id.len > 0 && !(id.len >= 4 && id.ptr[0] == '_' && id.ptr[1] == '_' &&
                           id.ptr[id.len - 1] == '_' && id.ptr[id.len - 2] == '_');
}

/* Mark the candidate node spans; returns how many (0 when none). */
static size_t choose_node_spans(dp_prof_ctx *c, candidate *out)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->si[i].node_id.len)
            out[k++] = (candidate){(int)i, c->si[i].node_id};
    }
    if (k) {
        c->p->node_source = DP_NODES_EXPLICIT;
        return k;
    }
    /* Framework steps: the outermost span of each step. The spans inside a
     * step (its model calls, tool calls, internal chains) carry the same
     * step name and belong to it. owner[] holds, per span, the nearest span
     * at or above it that names a step. */
    int *owner = dp_arena_alloc(c->scratch, (c->n ? c->n : 1) * sizeof(int));
    if (!owner)
        return (size_t)-1;
    bool any = false;
    for (size_t i = 0; i < c->n; i++) {
        owner[i] = c->si[i].fw_node.len ? (int)i : -2;
        any = any || owner[i] >= 0;
    }
    if (any && resolve_owners(c, owner) < 0)
        return (size_t)-1;
    for (size_t i = 0; any && i < c->n; i++) {
        dp_str id = c->si[i].fw_node;
        if (!fw_node_usable(id))
            continue;
        int parent = c->si[i].parent;
        int above = parent >= 0 ? owner[parent] : -1;
        if (above < 0 || !dp_str_eq(c->si[above].fw_node, id))
            out[k++] = (candidate){(int)i, id};
    }
    if (k) {
        c->p->node_source = DP_NODES_FRAMEWORK;
        return k;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->si[i].parent == c->root && (int)i != c->root)
            out[k++] = (candidate){(int)i, fallback_key(c, (int)i)};
    }
    if (k == 0 && c->root >= 0)
        out[k++] = (candidate){c->root, fallback_key(c, c->root)};
    c->p->node_source = k ? DP_NODES_ROOT_CHILDREN : DP_NODES_NONE;
    return k;
}

typedef struct node_draft {
    dp_str key;
    unsigned suffix; /* 0 = none, else "#suffix" */
    uint64_t start_ns, end_ns;
    int rep;   /* last attempt's span */
    int draft; /* its index before sorting */
} node_draft;

static int cmp_draft(const void *a, const void *b)
{
    const node_draft *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    int r = str_cmp(x->key, y->key);
    if (r)
        return r;
    return (int)x->suffix - (int)y->suffix;
}

int dp_prof_map_nodes(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    find_root(c);
    if (set_dag_id(c) < 0)
        return -1;
    if (c->n == 0)
        return 0;

    candidate *cand = dp_arena_alloc(c->scratch, c->n * sizeof(candidate));
    int *draft_of = dp_arena_alloc(c->scratch, c->n * sizeof(int));
    node_draft *drafts = dp_arena_alloc(c->scratch, c->n * sizeof(node_draft));
    int *res = dp_arena_alloc(c->scratch, c->n * sizeof(int));
    if (!cand || !draft_of || !drafts || !res)
        return -1;
    size_t k = choose_node_spans(c, cand);
    if (k == (size_t)-1)
        return -1;
    qsort_r(cand, k, sizeof(candidate), cmp_candidate, c->si);

    /* Spans sharing an id are one node (explicit ids), or, for derived ids,
     * one node retried: same parent and the earlier attempt failed. Other
     * repeats of a derived id become "id#2", "id#3", ... */
    size_t nd = 0;
    unsigned group_count = 0;
    for (size_t i = 0; i < k; i++) {
        int s = cand[i].span;
        bool same_key = i > 0 && dp_str_eq(cand[i - 1].key, cand[i].key);
        group_count = same_key ? group_count + 1 : 1;
        if (same_key) {
            node_draft *prev = &drafts[nd - 1];
            bool retry = c->spans[prev->rep].status == DP_STATUS_ERROR &&
                         c->si[prev->rep].parent == c->si[s].parent;
            if (p->node_source == DP_NODES_EXPLICIT || retry) {
                if (c->si[s].start_ns < prev->start_ns)
                    prev->start_ns = c->si[s].start_ns;
                if (c->si[s].end_ns > prev->end_ns)
                    prev->end_ns = c->si[s].end_ns;
                if (c->si[s].start_ns >= c->si[prev->rep].start_ns)
                    prev->rep = s;
                draft_of[i] = (int)(nd - 1);
                continue;
            }
        }
        drafts[nd] = (node_draft){
            cand[i].key, same_key ? group_count : 0, c->si[s].start_ns, c->si[s].end_ns, s,
            (int)nd};
        draft_of[i] = (int)nd++;
    }

    /* order nodes by start (ties by id) and remember where each draft went */
    node_draft *sorted = dp_arena_alloc(c->scratch, nd * sizeof(node_draft));
    int *pos = dp_arena_alloc(c->scratch, nd * sizeof(int));
    if (!sorted || !pos)
        return -1;
    memcpy(sorted, drafts, nd * sizeof(node_draft));
    qsort(sorted, nd, sizeof(node_draft), cmp_draft);
    for (size_t j = 0; j < nd; j++)
        pos[sorted[j].draft] = (int)j;

    p->nodes = dp_arena_calloc(&p->arena, nd ? nd : 1, sizeof(dp_node_profile));
    c->node_span = dp_arena_alloc(c->scratch, (nd ? nd : 1) * sizeof(int));
    if (!p->nodes || !c->node_span)
        return -1;
    p->node_count = nd;
    for (size_t j = 0; j < nd; j++) {
        dp_node_profile *node = &p->nodes[j];
        char idbuf[NODE_ID_MAX + 16];
        size_t klen = sorted[j].key.len > NODE_ID_MAX ? NODE_ID_MAX : sorted[j].key.len;
        int len = sorted[j].suffix
                      ? snprintf(idbuf, sizeof(idbuf), "%.*s#%u", (int)klen, sorted[j].key.ptr,
                                 sorted[j].suffix)
                      : snprintf(idbuf, sizeof(idbuf), "%.*s", (int)klen, sorted[j].key.ptr);
        dp_str name = c->spans[sorted[j].rep].name;
        if (name.len > NODE_ID_MAX)
            name.len = NODE_ID_MAX;
        node->id = dp_arena_strndup(&p->arena, idbuf, (size_t)len);
        node->name = dp_arena_strndup(&p->arena, name.ptr ? name.ptr : "", name.len);
        if (!node->id || !node->name)
            return -1;
        node->start_ms = dp_prof_ms(sorted[j].start_ns - p->start_ns);
        node->end_ms = dp_prof_ms(sorted[j].end_ns - p->start_ns);
        node->duration_ms = dp_prof_ms(sorted[j].end_ns - sorted[j].start_ns);
        node->execution_ms = node->duration_ms;
        node->parent_node = -1;
        node->cost_known = true;
        c->node_span[j] = sorted[j].rep;
    }

    for (size_t i = 0; i < c->n; i++)
        res[i] = -2;
    for (size_t i = 0; i < k; i++) {
        res[cand[i].span] = pos[draft_of[i]];
        c->si[cand[i].span].is_node_span = true;
    }
    if (resolve_owners(c, res) < 0)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        c->si[i].node = res[i];
        if (res[i] >= 0)
            p->nodes[res[i]].span_count++;
    }
    /* parent node: the owner of the first ancestor outside the node itself */
    for (size_t j = 0; j < nd; j++) {
        int a = c->si[c->node_span[j]].parent;
        for (size_t guard = 0; a >= 0 && guard <= c->n; guard++, a = c->si[a].parent) {
            if (res[a] != (int)j) {
                p->nodes[j].parent_node = res[a];
                break;
            }
        }
    }
    return 0;
}

/* --- usage: tokens, cost, calls, retries ------------------------------- */

/* The label of a span's model: dag.model; else the request model when the
 * response model is that model with a release date ("gpt-4o" answered as
 * "gpt-4o-2024-08-06" is one model); else the most specific name given. */
static dp_str span_label(const dp_prof_span *ps)
{
    dp_str resp = ps->models[DP_PROF_M_RESPONSE], req = ps->models[DP_PROF_M_REQUEST];
    if (!ps->models[DP_PROF_M_DAG].len && resp.len && req.len &&
        dp_str_eq(dp_prof_undated_model(resp), req))
        return req;
    for (size_t k = 0; k < DP_PROF_MODEL_KEYS; k++) {
        if (ps->models[k].len)
            return ps->models[k];
    }
    return DP_STR_NULL;
}

/* Resolve a call's model label and price: its own model attributes (the
 * price in models[] order, the most specific name first), else its node's,
 * else the configured default. */
static const dp_model_price *resolve_model(dp_prof_ctx *c, size_t i, dp_str *label)
{
    const dp_prof_span *ps = &c->si[i];
    const dp_prof_span *sources[2] = {ps, NULL};
    if (ps->node >= 0)
        sources[1] = &c->si[c->node_span[ps->node]];
    *label = DP_STR_NULL;
    for (size_t s = 0; s < 2; s++) {
        if (!sources[s])
            continue;
        *label = span_label(sources[s]);
        if (!label->len)
            continue;
        for (size_t k = 0; k < DP_PROF_MODEL_KEYS; k++) {
            if (!sources[s]->models[k].len)
                continue;
            const dp_model_price *pr = dp_prof_price(c, sources[s]->models[k]);
            if (pr)
                return pr;
        }
        return NULL;
    }
    if (c->cfg->default_model[0]) {
        *label = dp_str_from_cstr(c->cfg->default_model);
        return dp_prof_price(c, *label);
    }
    return NULL;
}

/* A dated label ("gpt-4o-2024-08-06") becomes its undated name when the
 * run also names that model undated: one model, one entry. Distinct labels
 * are few (at most MODELS_MAX are looked at); spans are many. */
static int merge_dated_labels(dp_prof_ctx *c)
{
    dp_str *labels = dp_arena_alloc(c->scratch, MODELS_MAX * sizeof(dp_str));
    dp_str *to = dp_arena_alloc(c->scratch, MODELS_MAX * sizeof(dp_str));
    if (!labels || !to)
        return -1;
    size_t nl = 0;
    bool dated = false;
    for (size_t i = 0; i < c->n && nl < MODELS_MAX; i++) {
        dp_str m = c->si[i].model;
        if (!m.len)
            continue;
        size_t k = 0;
        while (k < nl && !dp_str_eq(labels[k], m))
            k++;
        if (k == nl) {
            labels[nl++] = m;
            dated = dated || dp_prof_undated_model(m).len != m.len;
        }
    }
    if (!dated)
        return 0;
    size_t changes = 0;
    for (size_t k = 0; k < nl; k++) {
        dp_str base = dp_prof_undated_model(labels[k]);
        to[k] = labels[k];
        if (base.len == labels[k].len)
            continue;
        for (size_t q = 0; q < nl; q++) {
            if (dp_str_eq(labels[q], base)) {
                to[k] = labels[q];
                changes++;
                break;
            }
        }
    }
    for (size_t i = 0; changes && i < c->n; i++) {
        dp_str m = c->si[i].model;
        if (!m.len)
            continue;
        for (size_t k = 0; k < nl; k++) {
            if (dp_str_eq(labels[k], m)) {
                c->si[i].model = to[k];
                break;
            }
        }
    }
    return 0;
}

static dp_model_usage *model_entry(dp_prof_ctx *c, dp_str label)
{
    dp_run_profile *p = c->p;
    if (label.len == 0)
        label = DP_STR_LIT("unknown");
    for (size_t m = 0; m < p->model_count; m++) {
        if (dp_str_eq_cstr(label, p->models[m].model))
            return &p->models[m];
    }
    if (p->model_count == MODELS_MAX) {
        label = DP_STR_LIT("(other models)");
        for (size_t m = 0; m < p->model_count; m++) {
            if (dp_str_eq_cstr(label, p->models[m].model))
                return &p->models[m];
        }
        p->model_count--; /* the last slot becomes the overflow bucket */
    }
    dp_model_usage *e = &p->models[p->model_count];
    memset(e, 0, sizeof(*e));
    if (label.len > NODE_ID_MAX)
        label.len = NODE_ID_MAX;
    e->model = dp_arena_strndup(&p->arena, label.ptr, label.len);
    if (!e->model)
        return NULL;
    e->cost_known = true;
    p->model_count++;
    return e;
}

static void add_tokens(dp_token_counts *to, const dp_token_counts *t)
{
    to->input += t->input;
    to->output += t->output;
    to->cache_read += t->cache_read;
    to->cache_write += t->cache_write;
}

static int cmp_models(const void *a, const void *b)
{
    const dp_model_usage *x = a, *y = b;
    if (x->cost_known != y->cost_known)
        return x->cost_known ? -1 : 1;
    if (x->cost_usd != y->cost_usd)
        return x->cost_usd > y->cost_usd ? -1 : 1;
    return strcmp(x->model, y->model);
}

static int cmp_attempts(const void *a, const void *b, void *arg)
{
    const dp_prof_ctx *c = arg;
    int x = *(const int *)a, y = *(const int *)b;
    const dp_prof_span *px = &c->si[x], *py = &c->si[y];
    if (px->parent != py->parent)
        return px->parent < py->parent ? -1 : 1;
    int r = str_cmp(c->spans[x].name, c->spans[y].name);
    if (r)
        return r;
    r = str_cmp(px->node_id, py->node_id);
    if (r)
        return r;
    if (px->start_ns != py->start_ns)
        return px->start_ns < py->start_ns ? -1 : 1;
    return x - y;
}

static bool same_operation(const dp_prof_ctx *c, int x, int y)
{
    return c->si[x].parent == c->si[y].parent && dp_str_eq(c->spans[x].name, c->spans[y].name) &&
           dp_str_eq(c->si[x].node_id, c->si[y].node_id);
}

/* Retries inferred from repeated sibling attempts: every attempt of an
 * operation (a node span, a counted model call or a tool call) that ended in
 * ERROR and was followed by another attempt of the same operation. Wrapper
 * spans around a failed call (a framework's chain, a second instrumentation
 * layer) are not attempts of their own, so one failure counts once. */
static int infer_retries(dp_prof_ctx *c, unsigned *inferred, unsigned *unowned)
{
    int *order = dp_arena_alloc(c->scratch, (c->n ? c->n : 1) * sizeof(int));
    if (!order)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        const dp_prof_span *ps = &c->si[i];
        if ((ps->is_node_span || ps->is_llm || ps->is_tool) && !ps->duplicate_layer)
            order[k++] = (int)i;
    }
    qsort_r(order, k, sizeof(int), cmp_attempts, c);
    for (size_t i = 0; i + 1 < k; i++) {
        int s = order[i];
        if (c->spans[s].status != DP_STATUS_ERROR || !same_operation(c, s, order[i + 1]))
            continue;
        int node = c->si[s].node;
        if (node < 0) {
            (*unowned)++;
            continue;
        }
        inferred[node]++;
        c->p->nodes[node].failed_attempt_ms += dp_prof_ms(c->si[s].end_ns - c->si[s].start_ns);
    }
    return 0;
}

/* --- counting every model request once ------------------------------- */

/* Bits of what lies below a span (its descendants, not itself). */
enum { BELOW_CALL = 1, BELOW_USAGE = 2, BELOW_TOOL = 4 };

static dp_str request_model_key(const dp_prof_span *ps)
{
    return dp_prof_undated_model(span_label(ps));
}

/* A cache count two layers agree on: the same, or given by one only (a
 * framework's span often leaves out what the client library's counts). */
static bool same_cache_count(uint64_t a, uint64_t b)
{
    return a == b || a == 0 || b == 0;
}

/* Two spans of different instrumentation scopes that overlap in time and
 * report the same model and the same usage are one request seen twice
 * (e.g. a framework's LLM span beside the client library's). */
static bool same_request(const dp_prof_span *a, const dp_prof_span *b)
{
    if (!a->scope.len || !b->scope.len || dp_str_eq(a->scope, b->scope))
        return false;
    if (a->has_tokens != b->has_tokens || a->tokens.input != b->tokens.input ||
        a->tokens.output != b->tokens.output ||
        !same_cache_count(a->tokens.cache_read, b->tokens.cache_read) ||
        !same_cache_count(a->tokens.cache_write, b->tokens.cache_write))
        return false;
    dp_str ma = request_model_key(a), mb = request_model_key(b);
    if (ma.len && mb.len && !dp_str_eq(ma, mb))
        return false;
    return a->start_ns <= b->end_ns && b->start_ns <= a->end_ns;
}

static int cmp_start(const void *x, const void *y, void *arg)
{
    const dp_prof_span *si = arg;
    int a = *(const int *)x, b = *(const int *)y;
    if (si[a].start_ns != si[b].start_ns)
        return si[a].start_ns < si[b].start_ns ? -1 : 1;
    return a - b;
}

/* Spans compared with each call for a duplicate layer, at most. */
#define DUPLICATE_WINDOW 64

/*
 * The counting rule (docs/metrics.md, "Counting each request once"):
 *  - a model-request span with another model-request span below it wraps
 *    them (an agent, ai.generateText around its steps, a framework layer
 *    around the client library's span): it is not a call itself;
 *  - usage on a span with usage below it is an aggregate of that usage
 *    (or the same usage again): folded, not added;
 *  - of two calls that are the same request seen by two instrumentation
 *    layers side by side, the later-starting one is folded;
 *  - a tool span with a tool span below it wraps that tool call.
 * Folded spans keep their place in the tree; only their figures go.
 */
static int fold_layers(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    uint8_t *below = dp_arena_calloc(c->scratch, c->n ? c->n : 1, 1);
    int *calls = dp_arena_alloc(c->scratch, (c->n ? c->n : 1) * sizeof(int));
    if (!below || !calls)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        const dp_prof_span *ps = &c->si[i];
        uint8_t bits = (uint8_t)((ps->is_llm ? BELOW_CALL : 0) | (ps->has_usage ? BELOW_USAGE : 0) |
                                 (ps->is_tool ? BELOW_TOOL : 0));
        if (!bits)
            continue;
        /* an ancestor that has these bits already passed them all the way up */
        int a = ps->parent;
        for (size_t guard = 0; a >= 0 && guard < c->n; guard++) {
            if ((below[a] & bits) == bits)
                break;
            below[a] |= bits;
            a = c->si[a].parent;
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        dp_prof_span *ps = &c->si[i];
        /* from here on, is_llm means a call counted once */
        ps->is_llm = ps->is_llm && !(below[i] & BELOW_CALL);
        ps->usage_counted = ps->has_usage && !(below[i] & BELOW_USAGE);
        if (ps->has_usage && !ps->usage_counted)
            p->aggregate_spans++;
        if (ps->is_tool && (below[i] & BELOW_TOOL))
            ps->is_tool = false;
        if (ps->is_llm)
            calls[k++] = (int)i;
    }
    qsort_r(calls, k, sizeof(int), cmp_start, c->si);
    for (size_t x = 0; x < k; x++) {
        dp_prof_span *a = &c->si[calls[x]];
        if (a->duplicate_layer)
            continue;
        for (size_t y = x + 1; y < k && y <= x + DUPLICATE_WINDOW; y++) {
            dp_prof_span *b = &c->si[calls[y]];
            if (b->start_ns > a->end_ns)
                break;
            if (b->duplicate_layer || !same_request(a, b))
                continue;
            /* keep the one that belongs to a step, else the earlier one */
            if (a->node < 0 && b->node >= 0) {
                dp_prof_span *keep = b;
                b = a;
                a = keep;
            }
            b->duplicate_layer = true;
            b->is_llm = false;
            /* the kept call takes the cache counts only the other gave */
            if (!a->tokens.cache_read)
                a->tokens.cache_read = b->tokens.cache_read;
            if (!a->tokens.cache_write)
                a->tokens.cache_write = b->tokens.cache_write;
            /* usage already folded as an aggregate is counted there */
            if (b->usage_counted || !b->has_usage)
                p->duplicate_layer_spans++;
            b->usage_counted = false;
        }
    }
    /* successful calls with no usage of their own nor counted above them:
     * billed, but nothing says how much */
    for (size_t x = 0; x < k; x++) {
        const dp_prof_span *ps = &c->si[calls[x]];
        if (!ps->is_llm || ps->has_usage || c->spans[calls[x]].status == DP_STATUS_ERROR)
            continue;
        bool covered = false;
        int a = ps->parent;
        for (size_t guard = 0; a >= 0 && guard < c->n && !covered; guard++) {
            covered = c->si[a].usage_counted;
            a = c->si[a].parent;
        }
        if (!covered)
            p->calls_without_usage++;
    }
    /* from here on the usage fields hold only counted usage */
    for (size_t i = 0; i < c->n; i++) {
        dp_prof_span *ps = &c->si[i];
        if (!ps->usage_counted) {
            memset(&ps->tokens, 0, sizeof(ps->tokens));
            ps->has_tokens = false;
            ps->has_cost_attr = false;
            ps->has_usage = false;
        }
    }
    return 0;
}

int dp_prof_sum_usage(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    size_t *tool_fill = dp_arena_calloc(c->scratch, nn ? nn : 1, sizeof(size_t));
    unsigned *inferred = dp_arena_calloc(c->scratch, nn ? nn : 1, sizeof(unsigned));
    uint64_t *best_tokens = dp_arena_calloc(c->scratch, nn ? nn : 1, sizeof(uint64_t));
    dp_str *best_model = dp_arena_calloc(c->scratch, nn ? nn : 1, sizeof(dp_str));
    if (!tool_fill || !inferred || !best_tokens || !best_model)
        return -1;
    p->cost_complete = true;
    if (fold_layers(c) < 0)
        return -1;

    /* labels and costs first, so that dated labels merge before summing */
    size_t with_usage = 0;
    for (size_t i = 0; i < c->n; i++) {
        dp_prof_span *ps = &c->si[i];
        if (!ps->is_llm && !ps->has_usage)
            continue;
        with_usage++;
        const dp_model_price *pr = resolve_model(c, i, &ps->model);
        ps->cost_known = true;
        if (ps->has_cost_attr) {
            ps->cost = ps->cost_attr; /* the SDK's own figure wins */
            ps->cost_split.given = ps->cost;
        } else if (!ps->has_tokens) {
            ps->cost = 0; /* nothing billed is recorded on this span */
        } else if (pr) {
            ps->cost = dp_prof_call_cost(pr, &ps->tokens);
            dp_prof_call_cost_split(pr, &ps->tokens, &ps->cost_split);
        } else {
            ps->cost_known = false;
        }
    }
    if (merge_dated_labels(c) < 0)
        return -1;
    /* one entry per distinct model label: no more than the spans that name
     * one, and model_entry() fills each entry as it is added */
    p->models = dp_arena_alloc(&p->arena, (with_usage < MODELS_MAX ? with_usage + 1 : MODELS_MAX) *
                                              sizeof(dp_model_usage));
    if (!p->models)
        return -1;

    for (size_t i = 0; i < c->n; i++) {
        dp_prof_span *ps = &c->si[i];
        dp_node_profile *node = ps->node >= 0 ? &p->nodes[ps->node] : NULL;
        add_tokens(&p->tokens, &ps->tokens);
        if (node)
            add_tokens(&node->tokens, &ps->tokens);
        if (ps->is_tool) {
            p->tool_calls++;
            if (node)
                node->tool_call_count++;
        }
        if (!ps->is_llm && !ps->has_usage)
            continue;
        if (ps->is_llm)
            p->llm_calls++;
        dp_model_usage *mu = model_entry(c, ps->model);
        if (!mu)
            return -1;
        if (ps->is_llm)
            mu->calls++;
        if (ps->is_embedding)
            mu->embedding = true;
        add_tokens(&mu->tokens, &ps->tokens);
        if (ps->cost_known) {
            mu->cost_usd += ps->cost;
            dp_cost_split_add(&mu->cost_split, &ps->cost_split);
            p->cost_usd += ps->cost;
            if (ps->has_usage)
                p->cost_any_known = true;
        } else {
            mu->cost_known = false;
            p->cost_complete = false;
            p->unknown_cost_calls++;
        }
        if (node) {
            if (ps->is_llm)
                node->llm_calls++;
            if (ps->cost_known) {
                node->cost_usd += ps->cost;
                dp_cost_split_add(&node->cost_split, &ps->cost_split);
            } else {
                node->cost_known = false;
                node->unknown_cost_calls++;
            }
            uint64_t tt = dp_token_total(&ps->tokens);
            if (ps->model.len && (best_model[ps->node].len == 0 || tt > best_tokens[ps->node])) {
                best_model[ps->node] = ps->model;
                best_tokens[ps->node] = tt;
            }
        }
    }

    /* every LLM and tool call, in span order (for per-call metrics) */
    size_t ncalls = 0;
    for (size_t i = 0; i < c->n; i++)
        ncalls += c->si[i].is_llm || c->si[i].is_tool;
    if (ncalls) {
        p->calls = dp_arena_calloc(&p->arena, ncalls, sizeof(dp_call_profile));
        if (!p->calls)
            return -1;
    }
    for (size_t i = 0; i < c->n; i++) {
        const dp_prof_span *ps = &c->si[i];
        if (!ps->is_llm && !ps->is_tool)
            continue;
        dp_call_profile *call = &p->calls[p->call_count++];
        dp_str name = ps->is_tool && ps->tool_name.len ? ps->tool_name
                      : ps->op.len                     ? ps->op
                                                       : c->spans[i].name;
        if (name.len > NODE_ID_MAX)
            name.len = NODE_ID_MAX;
        call->node = ps->node;
        call->is_llm = ps->is_llm;
        call->is_tool = ps->is_tool;
        call->name = dp_arena_strndup(&p->arena, name.ptr ? name.ptr : "", name.len);
        if (ps->is_llm && ps->model.len) {
            dp_str m = ps->model;
            if (m.len > NODE_ID_MAX)
                m.len = NODE_ID_MAX;
            call->model = dp_arena_strndup(&p->arena, m.ptr, m.len);
            if (!call->model)
                return -1;
        }
        if (!call->name)
            return -1;
        call->start_ms = dp_prof_ms(ps->start_ns - p->start_ns);
        call->duration_ms = dp_prof_ms(ps->end_ns - ps->start_ns);
        call->success = c->spans[i].status != DP_STATUS_ERROR;
        call->tokens = ps->tokens;
        call->cost_known = ps->is_llm ? ps->cost_known : true;
        call->cost_usd = ps->is_llm && ps->cost_known ? ps->cost : 0;
    }

    /* tool call lists, in span order */
    for (size_t j = 0; j < nn; j++) {
        if (!p->nodes[j].tool_call_count)
            continue;
        p->nodes[j].tool_calls =
            dp_arena_calloc(&p->arena, p->nodes[j].tool_call_count, sizeof(dp_tool_call_profile));
        if (!p->nodes[j].tool_calls)
            return -1;
    }
    for (size_t i = 0; i < c->n; i++) {
        dp_prof_span *ps = &c->si[i];
        if (!ps->is_tool || ps->node < 0)
            continue;
        dp_str name = ps->tool_name.len ? ps->tool_name : c->spans[i].name;
        if (name.len > NODE_ID_MAX)
            name.len = NODE_ID_MAX;
        dp_tool_call_profile *tc =
            (dp_tool_call_profile *)&p->nodes[ps->node].tool_calls[tool_fill[ps->node]++];
        tc->name = dp_arena_strndup(&p->arena, name.ptr ? name.ptr : "", name.len);
        if (!tc->name)
            return -1;
        tc->duration_ms = dp_prof_ms(ps->end_ns - ps->start_ns);
        tc->success = c->spans[i].status != DP_STATUS_ERROR;
    }

    /* node model: the node span's own, else its busiest call's, else default */
    for (size_t j = 0; j < nn; j++) {
        const dp_prof_span *rep = &c->si[c->node_span[j]];
        memcpy(p->nodes[j].span_id, c->spans[c->node_span[j]].span_id, 8);
        dp_str m = span_label(rep);
        if (!m.len)
            m = best_model[j];
        if (!m.len && c->cfg->default_model[0] && p->nodes[j].llm_calls)
            m = dp_str_from_cstr(c->cfg->default_model);
        if (m.len) {
            if (m.len > NODE_ID_MAX)
                m.len = NODE_ID_MAX;
            p->nodes[j].model = dp_arena_strndup(&p->arena, m.ptr, m.len);
            if (!p->nodes[j].model)
                return -1;
        }
    }

    /* retries: dag.retries on a node span wins over inference */
    unsigned unowned = 0;
    if (infer_retries(c, inferred, &unowned) < 0)
        return -1;
    bool *has_attr = dp_arena_calloc(c->scratch, nn ? nn : 1, sizeof(bool));
    if (!has_attr)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        const dp_prof_span *ps = &c->si[i];
        if (!ps->is_node_span || !ps->has_retries || ps->node < 0)
            continue;
        dp_node_profile *node = &p->nodes[ps->node];
        if (!has_attr[ps->node] || ps->retries_attr > node->retries)
            node->retries = (unsigned)ps->retries_attr;
        has_attr[ps->node] = true;
    }
    p->retries = unowned;
    for (size_t j = 0; j < nn; j++) {
        if (!has_attr[j])
            p->nodes[j].retries = inferred[j];
        p->retries += p->nodes[j].retries;
    }
    qsort(p->models, p->model_count, sizeof(dp_model_usage), cmp_models);
    return 0;
}

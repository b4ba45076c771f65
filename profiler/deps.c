/*
 * The DAG edges of a run and what follows from them: explicit dependencies
 * (span links, dag.depends_on / dag.node.depends_on, graph.node.parent_id)
 * or, when a run declares none, dependencies inferred from time among
 * sibling nodes; then ready time, wait, the critical path, and the ideal
 * schedule used by the parallelize recommendation. See docs/metrics.md.
 */
#include "profile_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEP_ID_MAX 512
/* Inferred dependencies listed per node at most (the latest-ending ones);
 * the ready time only needs the latest. */
#define DEPS_INFERRED_MAX 64
/* How much a node may seem to overlap the sibling it followed and still be
 * taken to have run after it: OpenTelemetry JS SDKs take a span's start from
 * Date.now(), whole milliseconds, and its end from a sub-millisecond clock,
 * so a step started right after another is recorded up to 1 ms before that
 * one's end. */
#define DEPS_INFERRED_SLACK_MS 1.0

bool dp_prof_ran_after(const dp_node_profile *a, const dp_node_profile *b)
{
    return a->end_ms <= b->start_ms || a->end_ms - b->start_ms < DEPS_INFERRED_SLACK_MS;
}

typedef struct id_index {
    const char *id;
    size_t node;
} id_index;

static int cmp_id_index(const void *a, const void *b)
{
    return strcmp(((const id_index *)a)->id, ((const id_index *)b)->id);
}

static int find_node(const id_index *idx, size_t n, dp_str id)
{
    char buf[DEP_ID_MAX + 1];
    if (id.len == 0 || id.len > DEP_ID_MAX)
        return -1;
    memcpy(buf, id.ptr, id.len);
    buf[id.len] = '\0';
    id_index key = {buf, 0};
    const id_index *hit = bsearch(&key, idx, n, sizeof(id_index), cmp_id_index);
    return hit ? (int)hit->node : -1;
}

static dp_str trim(dp_str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

typedef struct dep_list {
    size_t *items;
    size_t count;
    size_t cap;
} dep_list;

static void add_dep(dep_list *l, size_t self, int dep)
{
    if (dep < 0 || (size_t)dep == self || l->count == l->cap)
        return;
    for (size_t i = 0; i < l->count; i++) {
        if (l->items[i] == (size_t)dep)
            return;
    }
    l->items[l->count++] = (size_t)dep;
}

/* Resolve one dependency id; unknown ids are counted as ignored values. */
static void add_dep_id(dp_prof_ctx *c, const id_index *idx, dep_list *l, size_t self, dp_str id)
{
    id = trim(id);
    if (id.len == 0)
        return;
    int d = find_node(idx, c->p->node_count, id);
    if (d < 0)
        c->p->ignored_values++;
    add_dep(l, self, d);
}

static size_t dep_bound(const dp_prof_ctx *c, size_t i)
{
    const dp_prof_span *ps = &c->si[i];
    size_t b = 1 + c->spans[i].link_count;
    const dp_value *v = ps->depends_on;
    if (v && v->kind == DP_VALUE_ARRAY)
        b += v->u.array.count;
    else if (v && v->kind == DP_VALUE_STRING) {
        for (size_t k = 0; k < v->u.s.len; k++)
            b += v->u.s.ptr[k] == ',';
        b++;
    }
    return b;
}

static void collect_explicit(dp_prof_ctx *c, const id_index *idx, size_t i, dep_list *l)
{
    const dp_prof_span *ps = &c->si[i];
    size_t self = (size_t)ps->node;
    const dp_value *v = ps->depends_on;
    if (v && v->kind == DP_VALUE_ARRAY) {
        for (size_t k = 0; k < v->u.array.count; k++) {
            const dp_value *it = &v->u.array.items[k];
            if (it->kind == DP_VALUE_STRING) {
                add_dep_id(c, idx, l, self, it->u.s);
            } else if (it->kind == DP_VALUE_INT) {
                char buf[32];
                int len = snprintf(buf, sizeof(buf), "%lld", (long long)it->u.i);
                c->p->coerced_values++;
                add_dep_id(c, idx, l, self, (dp_str){buf, (size_t)len});
            } else {
                c->p->ignored_values++;
            }
        }
    } else if (v && v->kind == DP_VALUE_STRING) {
        dp_str s = v->u.s;
        size_t start = 0;
        for (size_t k = 0; k <= s.len; k++) {
            if (k == s.len || s.ptr[k] == ',') {
                add_dep_id(c, idx, l, self, (dp_str){s.ptr + start, k - start});
                start = k + 1;
            }
        }
    } else if (v && v->kind == DP_VALUE_INT) {
        /* a single numeric node id, as in an array of them */
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%lld", (long long)v->u.i);
        c->p->coerced_values++;
        add_dep_id(c, idx, l, self, (dp_str){buf, (size_t)len});
    } else if (v) {
        c->p->ignored_values++;
    }
    if (ps->graph_parent_id.len)
        add_dep_id(c, idx, l, self, ps->graph_parent_id);
    const dp_span *s = &c->spans[i];
    for (size_t k = 0; k < s->link_count; k++) {
        if (memcmp(s->links[k].trace_id, s->trace_id, 16) != 0)
            continue; /* a link to another trace is not an edge of this DAG */
        int target = dp_prof_find_span(c, s->links[k].span_id);
        if (target >= 0)
            add_dep(l, self, c->si[target].node);
    }
}

static bool declares_deps(const dp_prof_ctx *c, size_t i)
{
    const dp_prof_span *ps = &c->si[i];
    if (ps->depends_on || ps->graph_parent_id.len)
        return true;
    const dp_span *s = &c->spans[i];
    for (size_t k = 0; k < s->link_count; k++) {
        if (memcmp(s->links[k].trace_id, s->trace_id, 16) != 0)
            continue;
        int target = dp_prof_find_span(c, s->links[k].span_id);
        if (target >= 0 && c->si[target].node >= 0 && c->si[target].node != ps->node)
            return true;
    }
    return false;
}

static int explicit_deps(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    id_index *idx = dp_arena_alloc(c->scratch, nn * sizeof(id_index));
    dep_list *lists = dp_arena_calloc(c->scratch, nn, sizeof(dep_list));
    if (!idx || !lists)
        return -1;
    for (size_t j = 0; j < nn; j++)
        idx[j] = (id_index){p->nodes[j].id, j};
    qsort(idx, nn, sizeof(id_index), cmp_id_index);
    for (size_t i = 0; i < c->n; i++) {
        if (c->si[i].is_node_span)
            lists[c->si[i].node].cap += dep_bound(c, i);
    }
    for (size_t j = 0; j < nn; j++) {
        if (lists[j].cap > nn)
            lists[j].cap = nn;
        lists[j].items =
            dp_arena_alloc(&p->arena, (lists[j].cap ? lists[j].cap : 1) * sizeof(size_t));
        if (!lists[j].items)
            return -1;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (c->si[i].is_node_span)
            collect_explicit(c, idx, i, &lists[c->si[i].node]);
    }
    for (size_t j = 0; j < nn; j++) {
        p->nodes[j].deps = lists[j].items;
        p->nodes[j].dep_count = lists[j].count;
    }
    return 0;
}

/* Within a group of siblings: by step, then by end time (the last of a
 * step's block are its latest-ending nodes). */
typedef struct step_key {
    size_t node;
    int64_t step; /* -1 when the node has no step */
    double end_ms;
} step_key;

static int cmp_step_key(const void *x, const void *y)
{
    const step_key *a = x, *b = y;
    if (a->step != b->step)
        return a->step < b->step ? -1 : 1;
    if (a->end_ms != b->end_ms)
        return a->end_ms < b->end_ms ? -1 : 1;
    return a->node < b->node ? -1 : a->node > b->node;
}

/*
 * LangGraph runs in supersteps: every node of step s starts only after all
 * nodes of step s - 1 have finished (a barrier), so those are its
 * dependencies. Nodes are matched within the same parent node (a subgraph
 * counts its own steps). Step 0 is the graph's input ("__start__"), which is
 * no node: nodes of step 1 depend on nothing. All nodes of a step share one
 * list: the latest-ending DEPS_INFERRED_MAX nodes of the step before (the
 * ready time needs only the latest), so a huge step stays linear.
 */
static int langgraph_deps(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    size_t *order = dp_prof_sibling_order(c);
    step_key *keys = dp_arena_alloc(c->scratch, (nn ? nn : 1) * sizeof(step_key));
    if (!order || !keys)
        return -1;
    for (size_t g = 0; g < nn;) {
        size_t ge = g;
        while (ge < nn && p->nodes[order[ge]].parent_node == p->nodes[order[g]].parent_node)
            ge++;
        size_t m = ge - g;
        for (size_t k = 0; k < m; k++) {
            size_t j = order[g + k];
            const dp_prof_span *r = &c->si[c->node_span[j]];
            keys[k] = (step_key){j, r->has_lg_step ? r->lg_step : -1, p->nodes[j].end_ms};
        }
        qsort(keys, m, sizeof(step_key), cmp_step_key);
        /* blocks of one step each; the previous block feeds the next when
         * their steps are consecutive */
        size_t prev_lo = 0, prev_hi = 0;
        int64_t prev_step = -2;
        for (size_t lo = 0; lo < m;) {
            size_t hi = lo;
            while (hi < m && keys[hi].step == keys[lo].step)
                hi++;
            int64_t step = keys[lo].step;
            if (step >= 1 && prev_step == step - 1) {
                size_t from =
                    prev_hi - prev_lo > DEPS_INFERRED_MAX ? prev_hi - DEPS_INFERRED_MAX : prev_lo;
                size_t count = prev_hi - from;
                size_t *items = dp_arena_alloc(&p->arena, count * sizeof(size_t));
                if (!items)
                    return -1;
                for (size_t q = 0; q < count; q++)
                    items[q] = keys[from + q].node;
                for (size_t k = lo; k < hi; k++) {
                    p->nodes[keys[k].node].deps = items;
                    p->nodes[keys[k].node].dep_count = count;
                }
            }
            prev_lo = lo;
            prev_hi = hi;
            prev_step = step;
            lo = hi;
        }
        g = ge;
    }
    return 0;
}

static int cmp_sibling(const void *x, const void *y, void *arg)
{
    const dp_node_profile *nodes = arg;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    if (nodes[a].parent_node != nodes[b].parent_node)
        return nodes[a].parent_node < nodes[b].parent_node ? -1 : 1;
    return a < b ? -1 : a > b;
}

size_t *dp_prof_sibling_order(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    size_t *order =
        dp_arena_alloc(c->scratch, (p->node_count ? p->node_count : 1) * sizeof(size_t));
    if (!order)
        return NULL;
    for (size_t j = 0; j < p->node_count; j++)
        order[j] = j;
    qsort_r(order, p->node_count, sizeof(size_t), cmp_sibling, p->nodes);
    return order;
}

/* min-heap of node indexes keyed by end time */
typedef struct end_heap {
    size_t *items;
    size_t count;
    const dp_node_profile *nodes;
} end_heap;

static bool heap_less(const end_heap *h, size_t i, size_t j)
{
    double a = h->nodes[h->items[i]].end_ms, b = h->nodes[h->items[j]].end_ms;
    return a < b || (a == b && h->items[i] < h->items[j]);
}

static void heap_swap(end_heap *h, size_t i, size_t j)
{
    size_t t = h->items[i];
    h->items[i] = h->items[j];
    h->items[j] = t;
}

static void heap_push(end_heap *h, size_t node)
{
    size_t i = h->count++;
    h->items[i] = node;
    while (i > 0 && heap_less(h, i, (i - 1) / 2)) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static size_t heap_pop(end_heap *h)
{
    size_t top = h->items[0];
    h->items[0] = h->items[--h->count];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->count && heap_less(h, l, m))
            m = l;
        if (r < h->count && heap_less(h, r, m))
            m = r;
        if (m == i)
            break;
        heap_swap(h, i, m);
        i = m;
    }
    return top;
}

/* Among siblings, b depends on every earlier-listed a that ended at or before
 * b started, or less than DEPS_INFERRED_SLACK_MS after (listing order is
 * start order, so zero-length nodes at the same instant cannot depend on
 * each other both ways). Only the direct ones are kept: a is left out when
 * another such sibling started at or after a ended (that sibling already
 * depends on a and ends no earlier, so the ready time stays), so lists stay
 * short while meaning the same chains. Siblings are swept in start order,
 * moving those that have ended into a "done" list kept ordered by end: the
 * kept ones are its tail ending after the latest start among the done. */
static int inferred_deps(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    size_t *order = dp_prof_sibling_order(c);
    size_t *done = dp_arena_alloc(c->scratch, (nn ? nn : 1) * sizeof(size_t));
    end_heap h = {dp_arena_alloc(c->scratch, (nn ? nn : 1) * sizeof(size_t)), 0, p->nodes};
    if (!order || !done || !h.items)
        return -1;
    for (size_t g = 0; g < nn;) {
        size_t ge = g;
        while (ge < nn && p->nodes[order[ge]].parent_node == p->nodes[order[g]].parent_node)
            ge++;
        size_t nd = 0;
        double max1 = -1, max2 = -1;
        size_t arg1 = 0;
        h.count = 0;
        for (size_t k = g; k < ge; k++) {
            size_t b = order[k];
            dp_node_profile *nb = &p->nodes[b];
            while (h.count && dp_prof_ran_after(&p->nodes[h.items[0]], nb)) {
                size_t a = heap_pop(&h);
                /* with the slack, a node pushed after an earlier pop can end
                 * before it: insert by end so the tail search below holds */
                size_t at = nd++;
                while (at > 0 && p->nodes[done[at - 1]].end_ms > p->nodes[a].end_ms) {
                    done[at] = done[at - 1];
                    at--;
                }
                done[at] = a;
                double st = p->nodes[a].start_ms;
                if (st > max1) {
                    max2 = max1;
                    max1 = st;
                    arg1 = a;
                } else if (st > max2) {
                    max2 = st;
                }
            }
            if (nd) {
                /* tail of done with end > max1, plus arg1 when only max2 bounds it */
                size_t lo = 0, hi = nd;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (p->nodes[done[mid]].end_ms > max1)
                        hi = mid;
                    else
                        lo = mid + 1;
                }
                size_t count = nd - lo;
                bool extra = p->nodes[arg1].end_ms <= max1 && p->nodes[arg1].end_ms > max2;
                /* keep the latest-ending ones when a node has very many */
                size_t from = count > DEPS_INFERRED_MAX ? nd - DEPS_INFERRED_MAX : lo;
                size_t m = nd - from + (extra ? 1 : 0);
                size_t *items = dp_arena_alloc(&p->arena, m * sizeof(size_t));
                if (!items)
                    return -1;
                size_t w = 0;
                if (extra)
                    items[w++] = arg1;
                for (size_t i = from; i < nd; i++)
                    items[w++] = done[i];
                nb->deps = items;
                nb->dep_count = w;
            }
            heap_push(&h, b);
        }
        g = ge;
    }
    return 0;
}

bool dp_prof_has_edge(const dp_run_profile *p, size_t b, size_t a)
{
    for (size_t i = 0; i < p->nodes[b].dep_count; i++) {
        if (p->nodes[b].deps[i] == a)
            return true;
    }
    return false;
}

static int cmp_by_end(const void *x, const void *y, void *arg)
{
    const dp_node_profile *nodes = arg;
    const dp_node_profile *a = &nodes[*(const size_t *)x], *b = &nodes[*(const size_t *)y];
    if (a->end_ms != b->end_ms)
        return a->end_ms < b->end_ms ? -1 : 1;
    if (a->start_ms != b->start_ms)
        return a->start_ms < b->start_ms ? -1 : 1;
    return *(const size_t *)x < *(const size_t *)y ? -1 : 1;
}

/* Longest chain by (wait + execution) over dependency edges, ending at the
 * node that ends last. Edges are followed in end-time order only, so a
 * dependency cycle in bad input cannot loop. */
static int critical_path(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    if (nn == 0)
        return 0;
    size_t *order = dp_arena_alloc(c->scratch, nn * sizeof(size_t));
    size_t *rank = dp_arena_alloc(c->scratch, nn * sizeof(size_t));
    double *best = dp_arena_alloc(c->scratch, nn * sizeof(double));
    int *pred = dp_arena_alloc(c->scratch, nn * sizeof(int));
    if (!order || !rank || !best || !pred)
        return -1;
    for (size_t j = 0; j < nn; j++)
        order[j] = j;
    qsort_r(order, nn, sizeof(size_t), cmp_by_end, p->nodes);
    for (size_t r = 0; r < nn; r++)
        rank[order[r]] = r;
    for (size_t r = 0; r < nn; r++) {
        size_t b = order[r];
        const dp_node_profile *nb = &p->nodes[b];
        best[b] = nb->wait_ms + nb->execution_ms;
        pred[b] = -1;
        double top = -1;
        for (size_t i = 0; i < nb->dep_count; i++) {
            size_t a = nb->deps[i];
            if (rank[a] >= r)
                continue;
            /* ties go to the later-ending dependency: it set the ready time */
            if (best[a] > top ||
                (best[a] == top && p->nodes[a].end_ms > p->nodes[pred[b]].end_ms)) {
                top = best[a];
                pred[b] = (int)a;
            }
        }
        if (pred[b] >= 0)
            best[b] += top;
    }
    size_t last = order[nn - 1];
    for (size_t j = 0; j < nn; j++) {
        if (p->nodes[j].end_ms == p->nodes[last].end_ms && best[j] > best[last])
            last = j;
    }
    size_t count = 0;
    for (int j = (int)last; j >= 0; j = pred[j])
        count++;
    p->critical_path = dp_arena_alloc(&p->arena, count * sizeof(size_t));
    if (!p->critical_path)
        return -1;
    p->critical_path_count = count;
    size_t k = count;
    for (int j = (int)last; j >= 0; j = pred[j]) {
        p->critical_path[--k] = (size_t)j;
        p->nodes[j].on_critical_path = true;
    }
    /* The path starts when its first node was ready, or when it started if
     * that was earlier: a declared dependency can end after the node that
     * depends on it began (clock skew, a wrong declaration, a cycle). */
    const dp_node_profile *first = &p->nodes[p->critical_path[0]];
    double begin = first->ready_ms < first->start_ms ? first->ready_ms : first->start_ms;
    p->critical_path_ms = p->nodes[last].end_ms - begin;
    return 0;
}

int dp_prof_link_nodes(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    for (size_t i = 0; i < c->n && !p->explicit_deps; i++) {
        if (c->si[i].is_node_span && declares_deps(c, i))
            p->explicit_deps = true;
    }
    /* declared edges first, then LangGraph's steps, then timing */
    bool steps = false;
    for (size_t j = 0; j < nn && !p->explicit_deps && !steps; j++)
        steps = p->node_source == DP_NODES_FRAMEWORK && c->si[c->node_span[j]].has_lg_step;
    if (steps) {
        p->explicit_deps = true;
        p->deps_source = DP_DEPS_LANGGRAPH_STEPS;
        if (langgraph_deps(c) < 0)
            return -1;
    } else {
        p->deps_source = p->explicit_deps ? DP_DEPS_DECLARED : DP_DEPS_INFERRED;
        if (nn && (p->explicit_deps ? explicit_deps(c) : inferred_deps(c)) < 0)
            return -1;
    }
    for (size_t j = 0; j < nn; j++) {
        dp_node_profile *n = &p->nodes[j];
        double ready = n->parent_node >= 0 ? p->nodes[n->parent_node].start_ms : 0.0;
        bool have_dep = false;
        for (size_t i = 0; i < n->dep_count; i++) {
            double e = p->nodes[n->deps[i]].end_ms;
            if (!have_dep || e > ready)
                ready = e;
            have_dep = true;
        }
        n->ready_ms = ready;
        n->wait_ms = n->start_ms > ready ? n->start_ms - ready : 0.0;
        n->execution_ms = n->duration_ms;
        p->execution_ms += n->execution_ms;
    }
    return critical_path(c);
}

double dp_prof_ideal_end(dp_prof_ctx *c, double *actual_end)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    *actual_end = 0;
    if (nn == 0)
        return 0;
    double *sim_end = dp_arena_alloc(c->scratch, nn * sizeof(double));
    if (!sim_end)
        return *actual_end;
    /* nodes are in start order: a dependency that started later is ignored */
    double t0 = -1, ideal = 0;
    for (size_t j = 0; j < nn; j++) {
        const dp_node_profile *n = &p->nodes[j];
        if (n->parent_node >= 0)
            continue;
        if (t0 < 0)
            t0 = n->start_ms;
        double start = t0;
        if (p->explicit_deps) {
            for (size_t i = 0; i < n->dep_count; i++) {
                size_t a = n->deps[i];
                if (a < j && p->nodes[a].parent_node < 0 && sim_end[a] > start)
                    start = sim_end[a];
            }
        }
        sim_end[j] = start + n->duration_ms;
        if (sim_end[j] > ideal)
            ideal = sim_end[j];
        if (n->end_ms > *actual_end)
            *actual_end = n->end_ms;
    }
    return ideal;
}

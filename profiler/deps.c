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
        lists[j].items = dp_arena_alloc(&p->arena, (lists[j].cap ? lists[j].cap : 1) * sizeof(size_t));
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

/* Among siblings, b depends on every a that ended at or before b started.
 * Only the direct ones are kept: a is left out when another such sibling
 * started after a ended (that sibling already depends on a), so the lists
 * stay short while meaning the same chains. */
static int inferred_deps(dp_prof_ctx *c)
{
    dp_run_profile *p = c->p;
    size_t nn = p->node_count;
    size_t *cand = dp_arena_alloc(c->scratch, (nn ? nn : 1) * sizeof(size_t));
    if (!cand)
        return -1;
    for (size_t b = 0; b < nn; b++) {
        dp_node_profile *nb = &p->nodes[b];
        size_t k = 0;
        for (size_t a = 0; a < nn; a++) {
            const dp_node_profile *na = &p->nodes[a];
            if (a != b && na->parent_node == nb->parent_node && na->end_ms <= nb->start_ms &&
                !(na->start_ms == nb->start_ms && na->end_ms == nb->start_ms && a > b))
                cand[k++] = a;
        }
        if (k == 0)
            continue;
        /* the two latest starts among the candidates */
        double max1 = -1, max2 = -1;
        size_t arg1 = 0;
        for (size_t i = 0; i < k; i++) {
            double s = p->nodes[cand[i]].start_ms;
            if (s > max1) {
                max2 = max1;
                max1 = s;
                arg1 = cand[i];
            } else if (s > max2) {
                max2 = s;
            }
        }
        size_t *items = dp_arena_alloc(&p->arena, k * sizeof(size_t));
        if (!items)
            return -1;
        size_t m = 0;
        for (size_t i = 0; i < k; i++) {
            double other = cand[i] == arg1 ? max2 : max1;
            if (other < p->nodes[cand[i]].end_ms || other < 0)
                items[m++] = cand[i];
        }
        nb->deps = items;
        nb->dep_count = m;
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
    const dp_node_profile *first = &p->nodes[p->critical_path[0]];
    p->critical_path_ms = p->nodes[last].end_ms - first->ready_ms;
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
    if (nn && (p->explicit_deps ? explicit_deps(c) : inferred_deps(c)) < 0)
        return -1;
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

/*
 * `dagprof diff`: the comparison itself (diff.h). Both runs arrive as JSON
 * reports, parsed here with jansson and read field by field; a report that
 * lacks a field the comparison needs, or has it with the wrong type, is
 * refused with the field's name, never guessed. The strings of the diff
 * point into the parsed reports, which the diff keeps until
 * dp_diff_destroy().
 *
 * Nodes are matched by id first, then the nodes left on both sides by name
 * (a node renamed by its id but doing the same step), each at most once, in
 * the reports' order. Figures are compared as the reports round them, so
 * "unchanged" means every compared figure prints the same.
 */
#include "diff.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reading one report: the first problem is kept, later reads do nothing. */
typedef struct report_reader {
    const char *which; /* "A" or "B" */
    char *err;
    size_t errlen;
    int failed;
} report_reader;

static void reader_fail(report_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reader_fail(report_reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = -1;
    int n = snprintf(r->err, r->errlen, "report %s: ", r->which);
    if (n < 0 || (size_t)n >= r->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static json_t *field(report_reader *r, json_t *obj, const char *where, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!v)
        reader_fail(r, "%s has no \"%s\"", where, key);
    return v;
}

static double number(report_reader *r, json_t *obj, const char *where, const char *key)
{
    json_t *v = field(r, obj, where, key);
    if (v && !json_is_number(v))
        reader_fail(r, "%s.%s is not a number", where, key);
    return v && json_is_number(v) ? json_number_value(v) : 0;
}

static uint64_t count(report_reader *r, json_t *obj, const char *where, const char *key)
{
    json_t *v = field(r, obj, where, key);
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
        reader_fail(r, "%s.%s is not a count", where, key);
    return v && json_is_integer(v) && json_integer_value(v) >= 0 ? (uint64_t)json_integer_value(v)
                                                                 : 0;
}

/* A string, or NULL for null when null is allowed. */
static const char *text(report_reader *r, json_t *obj, const char *where, const char *key,
                        bool nullable)
{
    json_t *v = field(r, obj, where, key);
    if (!v || (nullable && json_is_null(v)))
        return NULL;
    if (!json_is_string(v)) {
        reader_fail(r, "%s.%s is not a string", where, key);
        return NULL;
    }
    return json_string_value(v);
}

static bool flag(report_reader *r, json_t *obj, const char *where, const char *key)
{
    json_t *v = field(r, obj, where, key);
    if (v && !json_is_boolean(v))
        reader_fail(r, "%s.%s is not true or false", where, key);
    return v && json_is_true(v);
}

/* A cost in USD, or unknown (null). */
static double cost(report_reader *r, json_t *obj, const char *where, bool *known)
{
    json_t *v = field(r, obj, where, "cost_usd");
    *known = v && json_is_number(v);
    if (v && !json_is_number(v) && !json_is_null(v))
        reader_fail(r, "%s.cost_usd is not a number or null", where);
    return *known ? json_number_value(v) : 0;
}

static void tokens(report_reader *r, json_t *obj, const char *where, dp_diff_tokens *t)
{
    char at[64];
    json_t *v = field(r, obj, where, "tokens");
    snprintf(at, sizeof(at), "%s.tokens", where);
    t->input = count(r, v, at, "input");
    t->output = count(r, v, at, "output");
    t->cache_read = count(r, v, at, "cache_read");
    t->cache_write = count(r, v, at, "cache_write");
    t->total = count(r, v, at, "total");
}

static void read_node(report_reader *r, json_t *n, size_t index, dp_diff_node_side *s)
{
    char at[48];
    snprintf(at, sizeof(at), "nodes[%zu]", index);
    if (!json_is_object(n)) {
        reader_fail(r, "%s is not an object", at);
        return;
    }
    s->present = true;
    s->id = text(r, n, at, "id", false);
    s->name = text(r, n, at, "name", true);
    s->model = text(r, n, at, "model", true);
    s->duration_ms = number(r, n, at, "duration_ms");
    s->wait_ms = number(r, n, at, "wait_ms");
    tokens(r, n, at, &s->tokens);
    s->cost_usd = cost(r, n, at, &s->cost_known);
    s->retries = count(r, n, at, "retries");
    s->on_critical_path = flag(r, n, at, "on_critical_path");
    if (!s->name)
        s->name = s->id;
}

/* The run's totals and critical path; its nodes into *nodes (owned). */
static void read_run(report_reader *r, json_t *root, dp_diff_run *run, dp_diff_node_side **nodes)
{
    if (!json_is_object(root)) {
        reader_fail(r, "not a JSON object");
        return;
    }
    run->trace_id = text(r, root, "the report", "trace_id", false);
    run->dag_id = text(r, root, "the report", "dag_id", true);
    json_t *s = field(r, root, "the report", "summary");
    run->wall_ms = number(r, s, "summary", "wall_ms");
    run->execution_ms = number(r, s, "summary", "execution_ms");
    run->critical_path_ms = number(r, s, "summary", "critical_path_ms");
    run->parallelism = number(r, s, "summary", "parallelism");
    run->retries = count(r, s, "summary", "retries");
    tokens(r, s, "summary", &run->tokens);
    run->cost_usd = cost(r, s, "summary", &run->cost_known);

    json_t *list = field(r, root, "the report", "nodes");
    if (list && !json_is_array(list))
        reader_fail(r, "nodes is not an array");
    json_t *path = field(r, root, "the report", "critical_path");
    json_t *path_nodes = field(r, path, "critical_path", "nodes");
    if (path_nodes && !json_is_array(path_nodes))
        reader_fail(r, "critical_path.nodes is not an array");
    if (r->failed)
        return;

    run->node_count = json_array_size(list);
    *nodes = calloc(run->node_count ? run->node_count : 1, sizeof(**nodes));
    run->critical_path_count = json_array_size(path_nodes);
    run->critical_path = calloc(run->critical_path_count ? run->critical_path_count : 1,
                                sizeof(*run->critical_path));
    if (!*nodes || !run->critical_path) {
        reader_fail(r, "out of memory");
        return;
    }
    for (size_t i = 0; i < run->node_count; i++)
        read_node(r, json_array_get(list, i), i, &(*nodes)[i]);
    for (size_t i = 0; i < run->critical_path_count; i++) {
        json_t *id = json_array_get(path_nodes, i);
        if (!json_is_string(id))
            reader_fail(r, "critical_path.nodes[%zu] is not a string", i);
        else
            run->critical_path[i] = json_string_value(id);
    }
}

static bool same_text(const char *x, const char *y)
{
    return (!x && !y) || (x && y && strcmp(x, y) == 0);
}

static bool same_tokens(const dp_diff_tokens *x, const dp_diff_tokens *y)
{
    return x->input == y->input && x->output == y->output && x->cache_read == y->cache_read &&
           x->cache_write == y->cache_write && x->total == y->total;
}

static bool same_node(const dp_diff_node_side *a, const dp_diff_node_side *b)
{
    return a->duration_ms == b->duration_ms && a->wait_ms == b->wait_ms &&
           same_tokens(&a->tokens, &b->tokens) && a->cost_known == b->cost_known &&
           a->cost_usd == b->cost_usd && same_text(a->model, b->model) &&
           a->retries == b->retries && a->on_critical_path == b->on_critical_path;
}

/* Signed duration delta of a node, for the order of the table. */
static double time_delta(const dp_diff_node *n)
{
    return (n->b.present ? n->b.duration_ms : 0) - (n->a.present ? n->a.duration_ms : 0);
}

static const char *node_id(const dp_diff_node *n)
{
    return n->b.present ? n->b.id : n->a.id;
}

static int by_change(const void *x, const void *y)
{
    const dp_diff_node *p = x, *q = y;
    double dp = fabs(time_delta(p)), dq = fabs(time_delta(q));
    if (dp != dq)
        return dp > dq ? -1 : 1;
    return strcmp(node_id(p), node_id(q));
}

/* Pair A's nodes with B's: by id, then what is left by name. */
static int match_nodes(dp_run_diff *d, dp_diff_node_side *na, dp_diff_node_side *nb)
{
    size_t ca = d->a.node_count, cb = d->b.node_count;
    bool *used_a = calloc(ca ? ca : 1, sizeof(*used_a));
    int *pair = malloc((cb ? cb : 1) * sizeof(*pair)); /* B index → A index or -1 */
    d->nodes = calloc(ca + cb ? ca + cb : 1, sizeof(*d->nodes));
    if (!used_a || !pair || !d->nodes) {
        free(used_a);
        free(pair);
        return -1;
    }
    for (size_t j = 0; j < cb; j++) {
        pair[j] = -1;
        for (size_t i = 0; i < ca; i++) {
            if (!used_a[i] && strcmp(na[i].id, nb[j].id) == 0) {
                pair[j] = (int)i;
                used_a[i] = true;
                break;
            }
        }
    }
    for (size_t j = 0; j < cb; j++) {
        for (size_t i = 0; pair[j] < 0 && i < ca; i++) {
            if (!used_a[i] && strcmp(na[i].name, nb[j].name) == 0) {
                pair[j] = -2 - (int)i; /* by name */
                used_a[i] = true;
            }
        }
    }
    for (size_t j = 0; j < cb; j++) {
        dp_diff_node *n = &d->nodes[d->node_count++];
        n->b = nb[j];
        if (pair[j] == -1) {
            n->status = DP_DIFF_ADDED;
            d->added++;
            continue;
        }
        n->match = pair[j] >= 0 ? DP_DIFF_MATCH_ID : DP_DIFF_MATCH_NAME;
        n->a = na[pair[j] >= 0 ? pair[j] : -2 - pair[j]];
        n->status = same_node(&n->a, &n->b) ? DP_DIFF_UNCHANGED : DP_DIFF_CHANGED;
        if (n->status == DP_DIFF_UNCHANGED)
            d->unchanged++;
        else
            d->changed++;
    }
    for (size_t i = 0; i < ca; i++) {
        if (used_a[i])
            continue;
        dp_diff_node *n = &d->nodes[d->node_count++];
        n->a = na[i];
        n->status = DP_DIFF_REMOVED;
        d->removed++;
    }
    free(used_a);
    free(pair);

    /* the changes first, by |time delta|; then the unchanged nodes, kept
     * aside so they stay in run B's order (qsort is not stable) */
    size_t listed = d->node_count - d->unchanged;
    dp_diff_node *kept = malloc((d->unchanged ? d->unchanged : 1) * sizeof(*kept));
    if (!kept)
        return -1;
    size_t k = 0, c = 0;
    for (size_t i = 0; i < d->node_count; i++) {
        if (d->nodes[i].status == DP_DIFF_UNCHANGED)
            kept[k++] = d->nodes[i];
        else
            d->nodes[c++] = d->nodes[i];
    }
    qsort(d->nodes, listed, sizeof(*d->nodes), by_change);
    memcpy(d->nodes + listed, kept, d->unchanged * sizeof(*kept));
    free(kept);
    return 0;
}

static bool same_path(const dp_diff_run *a, const dp_diff_run *b)
{
    if (a->critical_path_count != b->critical_path_count)
        return false;
    for (size_t i = 0; i < a->critical_path_count; i++) {
        if (strcmp(a->critical_path[i], b->critical_path[i]) != 0)
            return false;
    }
    return true;
}

bool dp_diff_percent(double a, double b, double *pct)
{
    if (a == 0)
        return false;
    *pct = (b - a) / fabs(a) * 100.0;
    return true;
}

int dp_diff_compute(const char *report_a, size_t len_a, const char *report_b, size_t len_b,
                    dp_run_diff **out, char *err, size_t errlen)
{
    int result = -1;
    dp_diff_node_side *na = NULL, *nb = NULL;
    dp_run_diff *d = calloc(1, sizeof(*d));
    const char *src[2] = {report_a, report_b};
    size_t len[2] = {len_a, len_b};
    dp_diff_run *runs[2];
    dp_diff_node_side **nodes[2] = {&na, &nb};

    *out = NULL;
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    runs[0] = &d->a;
    runs[1] = &d->b;
    for (int s = 0; s < 2; s++) {
        report_reader r = {s ? "B" : "A", err, errlen, 0};
        json_error_t jerr;
        json_t *root = src[s] ? json_loadb(src[s], len[s], 0, &jerr) : NULL;
        if (!root) {
            reader_fail(&r, "not a JSON report: %s (line %d)", src[s] ? jerr.text : "no data",
                        src[s] ? jerr.line : 0);
            goto out;
        }
        d->reports_[s] = root;
        read_run(&r, root, runs[s], nodes[s]);
        if (r.failed)
            goto out;
    }
    if (match_nodes(d, na, nb) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    d->critical_path_changed = !same_path(&d->a, &d->b);
    *out = d;
    d = NULL;
    result = 0;
out:
    free(na);
    free(nb);
    dp_diff_destroy(d);
    return result;
}

void dp_diff_destroy(dp_run_diff *d)
{
    if (!d)
        return;
    free(d->a.critical_path);
    free(d->b.critical_path);
    free(d->nodes);
    for (int s = 0; s < 2; s++)
        json_decref(d->reports_[s]);
    free(d);
}

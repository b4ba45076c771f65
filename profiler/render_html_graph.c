/*
 * The HTML report's DAG (render_html_internal.h): nodes as boxes in layers
 * by dependency depth, edges from each dependency to its dependant, the
 * critical path and its own edges marked, declared edges solid and inferred
 * ones dashed. Inline SVG, every name through the escaping helper; the
 * layout needs three small arrays per run, allocated here.
 */
#include <stdint.h>
#include <stdlib.h>

#include "render_html_internal.h"

/* geometry, px */
#define BOX_W 150
#define BOX_H 28
#define COL_W 210
#define ROW_H 40
#define PAD 10
#define LABEL_CHARS 20

typedef struct end_key {
    double end_ms;
    size_t node;
} end_key;

static int by_end(const void *a, const void *b)
{
    const end_key *x = a, *y = b;
    if (x->end_ms != y->end_ms)
        return x->end_ms < y->end_ms ? -1 : 1;
    return x->node < y->node ? -1 : 1;
}

/* Layer = dependency depth; nodes are laid out in order of their end, so a
 * dependency that ends later (bad input, cycles) does not raise a layer. */
static int layout(const dp_run_profile *p, size_t *layer, size_t *row, size_t *layers, size_t *rows)
{
    size_t n = p->node_count;
    end_key *order = malloc(n * sizeof(*order));
    size_t *per_layer = calloc(n + 1, sizeof(*per_layer));
    bool *done = calloc(n, sizeof(*done));
    int rc = -1;
    if (!order || !per_layer || !done)
        goto out;
    for (size_t j = 0; j < n; j++)
        order[j] = (end_key){p->nodes[j].end_ms, j};
    qsort(order, n, sizeof(*order), by_end);
    for (size_t k = 0; k < n; k++) {
        size_t j = order[k].node, depth = 0;
        for (size_t d = 0; d < p->nodes[j].dep_count; d++) {
            size_t dep = p->nodes[j].deps[d];
            if (dep < n && done[dep] && layer[dep] + 1 > depth)
                depth = layer[dep] + 1;
        }
        layer[j] = depth;
        done[j] = true;
    }
    *layers = *rows = 0;
    for (size_t j = 0; j < n; j++) { /* rows by start within a layer */
        row[j] = per_layer[layer[j]]++;
        if (layer[j] + 1 > *layers)
            *layers = layer[j] + 1;
        if (row[j] + 1 > *rows)
            *rows = row[j] + 1;
    }
    rc = 0;
out:
    free(order);
    free(per_layer);
    free(done);
    return rc;
}

void dp_html_graph(html_out *o, const dp_run_profile *p)
{
    size_t n = p->node_count;
    if (!n)
        return;
    size_t *layer = malloc(n * sizeof(*layer)), *row = malloc(n * sizeof(*row));
    size_t *path_pos = malloc(n * sizeof(*path_pos));
    size_t layers = 0, rows = 0;
    if (!layer || !row || !path_pos || layout(p, layer, row, &layers, &rows) != 0) {
        o->err = -1;
        goto out;
    }
    for (size_t j = 0; j < n; j++)
        path_pos[j] = SIZE_MAX;
    for (size_t i = 0; i < p->critical_path_count; i++)
        if (p->critical_path[i] < n)
            path_pos[p->critical_path[i]] = i;
    const char *edge_kind = p->deps_source == DP_DEPS_INFERRED ? "inferred" : "explicit";
    html_lit(
        o,
        "<h3>DAG</h3><p class=\"legend\">Layers by dependency depth, left to right. "
        "<svg width=\"150\" height=\"10\" aria-hidden=\"true\"><line x1=\"0\" y1=\"5\" x2=\"30\" "
        "y2=\"5\" class=\"ge\"/><line x1=\"80\" y1=\"5\" x2=\"110\" y2=\"5\" class=\"ge "
        "inferred\"/></svg> declared / inferred from timing &middot; <svg width=\"30\" "
        "height=\"10\" aria-hidden=\"true\"><line x1=\"0\" y1=\"5\" x2=\"30\" y2=\"5\" "
        "class=\"ge crit\"/></svg> critical path. ");
    html_put(o, "This run's edges: <b class=\"edge-kind\">%s</b> (%s).</p>", edge_kind,
             html_deps_name(p));
    unsigned width = (unsigned)(layers * COL_W - (COL_W - BOX_W) + 2 * PAD);
    unsigned height = (unsigned)(rows * ROW_H - (ROW_H - BOX_H) + 2 * PAD);
    html_put(o,
             "<div class=\"graph\"><svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" "
             "width=\"%u\" height=\"%u\" viewBox=\"0 0 %u %u\" role=\"img\"><title>DAG of ",
             width, height, width, height);
    html_text(o, p->dag_id, "unknown");
    html_lit(o, "</title>\n");
    for (size_t j = 0; j < n; j++) {
        const dp_node_profile *t = &p->nodes[j];
        long x2 = PAD + (long)layer[j] * COL_W, y2 = PAD + (long)row[j] * ROW_H + BOX_H / 2;
        for (size_t d = 0; d < t->dep_count; d++) {
            size_t f = t->deps[d];
            if (f >= n)
                continue;
            long x1 = PAD + (long)layer[f] * COL_W + BOX_W;
            long y1 = PAD + (long)row[f] * ROW_H + BOX_H / 2;
            bool crit = path_pos[j] != SIZE_MAX && path_pos[f] != SIZE_MAX &&
                        path_pos[f] + 1 == path_pos[j];
            long mx = (x1 + x2) / 2;
            html_put(o, "<path class=\"ge %s%s\" d=\"M%ld %ldC%ld %ld %ld %ld %ld %ld\"><title>",
                     edge_kind, crit ? " crit" : "", x1, y1, mx, y1, mx, y2, x2, y2);
            html_text(o, p->nodes[f].id, "");
            html_lit(o, " &#8594; ");
            html_text(o, t->id, "");
            html_put(o, " (%s)</title></path>\n", edge_kind);
        }
    }
    for (size_t j = 0; j < n; j++) {
        const dp_node_profile *t = &p->nodes[j];
        long x = PAD + (long)layer[j] * COL_W, y = PAD + (long)row[j] * ROW_H;
        html_put(o, "<a href=\"#%s-n%zu\"><g id=\"%s-g%zu\" class=\"gn%s\" data-node=\"", o->rid, j,
                 o->rid, j, t->on_critical_path ? " crit" : "");
        html_text(o, t->id, "");
        html_lit(o, "\"><title>");
        dp_html_node_tooltip(o, t);
        html_put(o, "</title><rect x=\"%ld\" y=\"%ld\" width=\"%d\" height=\"%d\" rx=\"4\"/>", x, y,
                 BOX_W, BOX_H);
        html_put(o, "<text x=\"%ld\" y=\"%ld\">", x + 6, y + BOX_H / 2 + 4);
        html_text_cut(o, t->id, LABEL_CHARS);
        html_lit(o, "</text></g></a>\n");
    }
    html_lit(o, "</svg></div>\n");
out:
    free(layer);
    free(row);
    free(path_pos);
}

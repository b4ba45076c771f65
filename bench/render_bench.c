/*
 * render_bench: how many run reports per second the renderers write.
 *
 * Builds one realistic agent DAG run of 20 spans in memory (a root, six
 * agent nodes with declared dependencies, one chat call per node and tool
 * calls in most of them, gen_ai.* attributes as agent SDKs send them),
 * profiles it once, then renders it N times in each format (JSON, text,
 * HTML) into a reused dp_buf, as the daemon's run processor does. Prints
 * one key=value line per format. Only the rendering is timed.
 *
 * With --nodes K the run is instead a layered DAG of K agent nodes (layers
 * of 20; each node depends on the first node and its own position in the
 * layer before, and makes one chat call): the size of a large HTML report.
 *
 *   render_bench [N] [--nodes K]   (N defaults to 200000)
 *   render_bench --print           (prints one report in each format instead)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "profile_types.h"
#include "render.h"

#define MAX_ATTRS 8
#define LAYER_WIDTH 20

typedef struct bench_trace {
    dp_span *spans;
    dp_attr (*attrs)[MAX_ATTRS];
    dp_value (*deps)[2];
    char (*ids)[3][16]; /* node id and dependency ids of generated nodes */
    size_t count, cap;
} bench_trace;

static void trace_init(bench_trace *t, size_t cap)
{
    memset(t, 0, sizeof(*t));
    t->cap = cap;
    t->spans = calloc(cap, sizeof(*t->spans));
    t->attrs = calloc(cap, sizeof(*t->attrs));
    t->deps = calloc(cap, sizeof(*t->deps));
    t->ids = calloc(cap, sizeof(*t->ids));
    if (!t->spans || !t->attrs || !t->deps || !t->ids)
        abort();
}

static void trace_free(bench_trace *t)
{
    free(t->spans);
    free(t->attrs);
    free(t->deps);
    free(t->ids);
}

static const uint64_t base_ns = 1700000000000000000ULL;

static void span_id(size_t index, uint8_t out[8])
{
    memset(out, 0, 8);
    for (int k = 0; k < 4; k++) /* index + 1, big-endian in the last four bytes */
        out[7 - k] = (uint8_t)((index + 1) >> (8 * k));
}

static int add_span(bench_trace *t, const char *name, int parent, double start_ms, double end_ms)
{
    if (t->count == t->cap)
        abort();
    size_t i = t->count++;
    dp_span *s = &t->spans[i];
    for (int k = 0; k < 16; k++)
        s->trace_id[k] = (uint8_t)(0x10 + k);
    span_id(i, s->span_id);
    if (parent >= 0) {
        span_id((size_t)parent, s->parent_span_id);
        s->has_parent = true;
    }
    s->name = dp_str_from_cstr(name);
    s->kind = 1;
    s->start_ns = base_ns + (uint64_t)(start_ms * 1e6);
    s->end_ns = base_ns + (uint64_t)(end_ms * 1e6);
    s->status = DP_STATUS_OK;
    s->attrs = t->attrs[i];
    return (int)i;
}

static dp_value *slot(bench_trace *t, int i, const char *key)
{
    dp_span *s = &t->spans[i];
    if (s->attr_count == MAX_ATTRS)
        abort();
    dp_attr *a = &t->attrs[i][s->attr_count++];
    a->key = dp_str_from_cstr(key);
    return &a->value;
}

static void attr_str(bench_trace *t, int i, const char *key, const char *value)
{
    dp_value *v = slot(t, i, key);
    v->kind = DP_VALUE_STRING;
    v->u.s = dp_str_from_cstr(value);
}

static void attr_int(bench_trace *t, int i, const char *key, int64_t value)
{
    dp_value *v = slot(t, i, key);
    v->kind = DP_VALUE_INT;
    v->u.i = value;
}

/* An agent node with its chat call; deps are node ids (at most two). */
static int add_node(bench_trace *t, int root, const char *id, double start, double end,
                    const char *model, int64_t in, int64_t out, const char *dep0, const char *dep1)
{
    int n = add_span(t, "invoke_agent", root, start, end);
    attr_str(t, n, "dag.node.id", id);
    attr_str(t, n, "gen_ai.operation.name", "invoke_agent");
    attr_str(t, n, "gen_ai.agent.name", id);
    size_t ndeps = (dep0 != NULL) + (dep1 != NULL);
    if (ndeps) {
        dp_value *d = t->deps[n];
        d[0].kind = DP_VALUE_STRING;
        d[0].u.s = dp_str_from_cstr(dep0);
        if (dep1) {
            d[1].kind = DP_VALUE_STRING;
            d[1].u.s = dp_str_from_cstr(dep1);
        }
        dp_value *v = slot(t, n, "dag.depends_on");
        v->kind = DP_VALUE_ARRAY;
        v->u.array.items = d;
        v->u.array.count = ndeps;
    }
    int c = add_span(t, "chat", n, start + 5, end - 40);
    attr_str(t, c, "gen_ai.operation.name", "chat");
    attr_str(t, c, "gen_ai.system", "anthropic");
    attr_str(t, c, "gen_ai.request.model", model);
    attr_str(t, c, "gen_ai.response.model", model);
    attr_int(t, c, "gen_ai.usage.input_tokens", in);
    attr_int(t, c, "gen_ai.usage.output_tokens", out);
    return n;
}

static void add_tool(bench_trace *t, int node, const char *name, double start, double end)
{
    int s = add_span(t, "execute_tool", node, start, end);
    attr_str(t, s, "gen_ai.operation.name", "execute_tool");
    attr_str(t, s, "gen_ai.tool.name", name);
}

/* 1 root + 6 nodes + 6 chats + 7 tools = 20 spans */
static void build_trace(bench_trace *t)
{
    trace_init(t, 32);
    int root = add_span(t, "research_pipeline", -1, 0, 9000);
    attr_str(t, root, "dag.id", "research-pipeline");
    int plan =
        add_node(t, root, "planner", 0, 1200, "claude-3-5-sonnet-20241022", 2400, 600, NULL, NULL);
    add_tool(t, plan, "list_sources", 1100, 1180);
    int web =
        add_node(t, root, "web_search", 1200, 4200, "gpt-4o-mini", 5200, 900, "planner", NULL);
    add_tool(t, web, "http_get", 3000, 3900);
    add_tool(t, web, "http_get", 3900, 4150);
    int docs =
        add_node(t, root, "doc_search", 1250, 3000, "gpt-4o-mini", 3100, 400, "planner", NULL);
    add_tool(t, docs, "vector_query", 2500, 2950);
    int sum = add_node(t, root, "summarize", 4200, 6500, "claude-3-5-sonnet-20241022", 9100, 1500,
                       "web_search", "doc_search");
    add_tool(t, sum, "tokenize", 6400, 6450);
    int crit = add_node(t, root, "critic", 6500, 7800, "claude-3-5-haiku-20241022", 4000, 300,
                        "summarize", NULL);
    add_tool(t, crit, "score", 7700, 7760);
    int wr = add_node(t, root, "writer", 7800, 9000, "claude-3-5-sonnet-20241022", 6000, 2200,
                      "critic", NULL);
    add_tool(t, wr, "save_report", 8900, 8990);
}

/* A root and `nodes` agent nodes of 100 ms in layers of LAYER_WIDTH, one chat call each. */
static void build_layered(bench_trace *t, size_t nodes)
{
    trace_init(t, 1 + 2 * nodes);
    size_t layers = (nodes + LAYER_WIDTH - 1) / LAYER_WIDTH;
    int root = add_span(t, "layered_pipeline", -1, 0, (double)layers * 120);
    attr_str(t, root, "dag.id", "layered-pipeline");
    for (size_t k = 0; k < nodes; k++) {
        size_t layer = k / LAYER_WIDTH, i = k % LAYER_WIDTH;
        char(*ids)[16] = t->ids[k];
        snprintf(ids[0], 16, "L%03zu-n%02zu", layer, i);
        if (layer) {
            snprintf(ids[1], 16, "L%03zu-n00", layer - 1);
            snprintf(ids[2], 16, "L%03zu-n%02zu", layer - 1, i);
        }
        double start = (double)layer * 120;
        add_node(t, root, ids[0], start, start + 100, i % 2 ? "gpt-4o-mini" : "gpt-4o", 1500, 300,
                 layer ? ids[1] : NULL, layer && i ? ids[2] : NULL);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(const char *format, const dp_run_profile *p, long n)
{
    dp_buf out;
    dp_buf_init(&out, (size_t)64 << 20);
    dp_render_options opt = {.color = false, .waterfall_width = 0};
    bool json = strcmp(format, "json") == 0, html = strcmp(format, "html") == 0;
    size_t bytes = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        dp_buf_reset(&out);
        int rc = json   ? dp_render_json(p, &out)
                 : html ? dp_render_html(p, &out)
                        : dp_render_text(p, &opt, &out);
        if (rc != 0) {
            fprintf(stderr, "render_bench: %s render failed\n", format);
            dp_buf_free(&out);
            return -1;
        }
        bytes = out.len;
    }
    double elapsed = now_s() - t0;
    printf("format=%s nodes=%zu renders=%ld elapsed_s=%.3f renders_per_s=%.0f ms_per_render=%.3f "
           "bytes_per_report=%zu spans_per_s_equivalent=%.0f\n",
           format, p->node_count, n, elapsed, (double)n / elapsed, elapsed * 1000 / (double)n,
           bytes, (double)n * (double)p->span_count / elapsed);
    dp_buf_free(&out);
    return 0;
}

/* One report of each format on stdout, to compare renderers' output. */
static int print_reports(const dp_run_profile *p)
{
    dp_buf out;
    dp_buf_init(&out, (size_t)64 << 20);
    dp_render_options opt = {.color = false, .waterfall_width = 0};
    int rc = dp_render_json(p, &out) == 0 && dp_render_text(p, &opt, &out) == 0 &&
                     dp_render_html(p, &out) == 0
                 ? 0
                 : -1;
    if (rc == 0)
        fwrite(out.data, 1, out.len, stdout);
    dp_buf_free(&out);
    return rc;
}

int main(int argc, char **argv)
{
    bool print = false;
    long n = 200000, nodes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print") == 0)
            print = true;
        else if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
            nodes = strtol(argv[++i], NULL, 10);
        else
            n = strtol(argv[i], NULL, 10);
    }
    if (n <= 0 || nodes < 0 || nodes > 100000) {
        fprintf(stderr, "usage: render_bench [N] [--nodes K] | --print\n");
        return 2;
    }
    bench_trace t;
    if (nodes)
        build_layered(&t, (size_t)nodes);
    else
        build_trace(&t);
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    dp_run_profile *p = NULL;
    if (dp_profile_build(t.spans, t.count, &cfg, &p) != 0) {
        fprintf(stderr, "render_bench: profile build failed\n");
        return 1;
    }
    int rc;
    if (print)
        rc = print_reports(p) == 0 ? 0 : 1;
    else
        rc = run("json", p, n) == 0 && run("text", p, n) == 0 && run("html", p, n) == 0 ? 0 : 1;
    dp_run_profile_destroy(p);
    trace_free(&t);
    return rc;
}

/*
 * Derived metrics: hand-built run profiles are recorded, collected and the
 * ExportMetricsServiceRequest is decoded again with protobuf-c to check
 * names, units, attributes, counts, sums and bucket counts (worked out by
 * hand below), cumulative vs delta temporality, overflow folding at a small
 * series cap, the self-telemetry's counters and gauges, dagprof's resource,
 * attribute sanitising and concurrent recording.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "derived_metrics.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest pb_request;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint pb_hist_point;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_number_point;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_key_value;

#define T0 1700000000000000000ULL /* options.start_time_ns */
#define T1 (T0 + 15000000000ULL)
#define T2 (T1 + 15000000000ULL)
#define T3 (T2 + 15000000000ULL)

#define CUMULATIVE                                                                                 \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define DELTA                                                                                      \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA

/* --- hand-built profiles ----------------------------------------------------- */

/* Profile A, dag "review":
 *   nodes  plan: 1500 ms, wait 0, 2 retries     code: 300 ms, wait 50 ms
 *   calls  c0 LLM  plan  chat gpt-4o   800 ms ok     1000 in / 200 out  $0.0045
 *          c1 LLM  code  chat mystery  100 ms ERROR     5 in /   0 out  price unknown
 *          c2 tool plan  search         10 ms ok
 *          c3 tool code  search        250 ms ERROR
 *          c4 LLM  (no node) chat gpt-4o 2000 ms ok, no tokens, known cost 0
 *   run    wall 2000 ms, critical path 1800 ms, parallelism 0.9
 *   bottlenecks  slow_node/high on plan, sequential_bottleneck/medium on the run
 *   recommendations  parallelize saves 500 ms; cache saves 300 tokens and $0.001;
 *                    model_downgrade saves nothing known */
static dp_node_profile a_nodes[2];
static dp_call_profile a_calls[5];
static dp_bottleneck a_bottlenecks[2];
static dp_recommendation a_recs[3];

static void build_a(dp_run_profile *p)
{
    memset(p, 0, sizeof(*p));
    memset(a_nodes, 0, sizeof(a_nodes));
    memset(a_calls, 0, sizeof(a_calls));
    memset(a_bottlenecks, 0, sizeof(a_bottlenecks));
    memset(a_recs, 0, sizeof(a_recs));
    p->dag_id = "review";
    a_nodes[0] = (dp_node_profile){.id = "plan", .duration_ms = 1500, .wait_ms = 0, .retries = 2};
    a_nodes[1] = (dp_node_profile){.id = "code", .duration_ms = 300, .wait_ms = 50};
    p->nodes = a_nodes;
    p->node_count = 2;
    a_calls[0] = (dp_call_profile){.node = 0,
                                   .is_llm = true,
                                   .name = "chat",
                                   .model = "gpt-4o",
                                   .duration_ms = 800,
                                   .success = true,
                                   .tokens = {.input = 1000, .output = 200},
                                   .cost_usd = 0.0045,
                                   .cost_known = true};
    a_calls[1] = (dp_call_profile){.node = 1,
                                   .is_llm = true,
                                   .name = "chat",
                                   .model = "mystery",
                                   .duration_ms = 100,
                                   .success = false,
                                   .tokens = {.input = 5, .output = 0},
                                   .cost_known = false};
    a_calls[2] = (dp_call_profile){.node = 0,
                                   .is_tool = true,
                                   .name = "search",
                                   .duration_ms = 10,
                                   .success = true,
                                   .cost_known = true};
    a_calls[3] = (dp_call_profile){.node = 1,
                                   .is_tool = true,
                                   .name = "search",
                                   .duration_ms = 250,
                                   .success = false,
                                   .cost_known = true};
    a_calls[4] = (dp_call_profile){.node = -1,
                                   .is_llm = true,
                                   .name = "chat",
                                   .model = "gpt-4o",
                                   .duration_ms = 2000,
                                   .success = true,
                                   .cost_known = true};
    p->calls = a_calls;
    p->call_count = 5;
    p->wall_ms = 2000;
    p->critical_path_ms = 1800;
    p->parallelism = 0.9;
    a_bottlenecks[0] =
        (dp_bottleneck){.type = DP_BOTTLENECK_SLOW_NODE, .node = 0, .severity = DP_SEVERITY_HIGH};
    a_bottlenecks[1] = (dp_bottleneck){
        .type = DP_BOTTLENECK_SEQUENTIAL, .node = -1, .severity = DP_SEVERITY_MEDIUM};
    p->bottlenecks = a_bottlenecks;
    p->bottleneck_count = 2;
    a_recs[0] = (dp_recommendation){
        .type = DP_REC_PARALLELIZE, .savings_time_ms = 500, .savings_cost_known = true};
    a_recs[1] = (dp_recommendation){.type = DP_REC_CACHE,
                                    .savings_tokens = 300,
                                    .savings_cost_usd = 0.001,
                                    .savings_cost_known = true};
    a_recs[2] = (dp_recommendation){.type = DP_REC_MODEL_DOWNGRADE, .savings_cost_known = false};
    p->recommendations = a_recs;
    p->recommendation_count = 3;
}

/* Profile A gives these data points:
 *   token.usage 4 (2 calls with tokens x input/output; c4 has none)
 *   operation.duration 3 (c0, c1 with error.type, c4 without dag.node.id)
 *   execute_tool.duration 2, workflow 1, node.duration 2, node.wait 2,
 *   run.duration 1, critical_path 1, parallelism 1,
 *   cost 1 (c0 only: c4's known cost is 0), cost.unknown 1, node.retries 1 (plan),
 *   bottlenecks 2, savings.time 1, savings.tokens 1, savings.cost 1 (cache)
 *   4+3+2+1+2+2+1+1+1+1+1+1+2+1+1+1 = 25 */
#define A_POINTS 25

/* Profile B, dag "review": one node plan 3000 ms with 1 retry, no calls,
 * wall 4000 ms, critical path 3000 ms, parallelism 0.75.
 * Points: workflow, node.duration, node.wait, run, critical_path,
 * parallelism, node.retries = 7. */
static dp_node_profile b_nodes[1];

static void build_b(dp_run_profile *p)
{
    memset(p, 0, sizeof(*p));
    b_nodes[0] = (dp_node_profile){.id = "plan", .duration_ms = 3000, .retries = 1};
    p->dag_id = "review";
    p->nodes = b_nodes;
    p->node_count = 1;
    p->wall_ms = 4000;
    p->critical_path_ms = 3000;
    p->parallelism = 0.75;
}

/* --- request helpers ------------------------------------------------------- */

static pb_request *collect(dp_derived_metrics *m, const dp_telemetry *self, uint64_t now,
                           long expect_points)
{
    dp_buf b;
    dp_buf_init(&b, 0);
    long n = dp_derived_metrics_collect(m, self, now, &b);
    assert_int_equal(n, expect_points);
    assert_true(b.len > 0);
    pb_request *req =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
            NULL, b.len, (const uint8_t *)b.data);
    dp_buf_free(&b);
    assert_non_null(req);
    assert_int_equal(req->n_resource_metrics, 1);
    /* the derived metrics, the self-telemetry, or both */
    assert_in_range(req->resource_metrics[0]->n_scope_metrics, 1, 2);
    return req;
}

static void request_free(pb_request *req)
{
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
        req, NULL);
}

static const pb_metric *find_metric(const pb_request *req, const char *name)
{
    const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[0];
    for (size_t j = 0; j < rm->n_scope_metrics; j++) {
        const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[j];
        for (size_t i = 0; i < sm->n_metrics; i++)
            if (strcmp(sm->metrics[i]->name, name) == 0)
                return sm->metrics[i];
    }
    return NULL;
}

/* attrs: NULL-terminated key, value pairs; a point matches when it has
 * exactly these string attributes. */
static bool attrs_match(pb_key_value **kv, size_t n, const char *const *attrs)
{
    size_t want = 0;
    while (attrs[want * 2])
        want++;
    if (want != n)
        return false;
    for (size_t i = 0; i < want; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = strcmp(kv[j]->key, attrs[i * 2]) == 0 && kv[j]->value &&
                    kv[j]->value->value_case ==
                        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE &&
                    strcmp(kv[j]->value->string_value, attrs[i * 2 + 1]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static const pb_hist_point *find_hist(const pb_metric *m, const char *const *attrs)
{
    assert_non_null(m);
    assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
    for (size_t i = 0; i < m->histogram->n_data_points; i++) {
        const pb_hist_point *p = m->histogram->data_points[i];
        if (attrs_match(p->attributes, p->n_attributes, attrs))
            return p;
    }
    fail_msg("%s: no point with the expected attributes", m->name);
    return NULL;
}

static const pb_number_point *find_sum(const pb_metric *m, const char *const *attrs)
{
    assert_non_null(m);
    assert_int_equal(m->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
    for (size_t i = 0; i < m->sum->n_data_points; i++) {
        const pb_number_point *p = m->sum->data_points[i];
        if (attrs_match(p->attributes, p->n_attributes, attrs))
            return p;
    }
    fail_msg("%s: no point with the expected attributes", m->name);
    return NULL;
}

static size_t point_count(const pb_metric *m)
{
    assert_non_null(m);
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return m->histogram->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        return m->sum->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        return m->gauge->n_data_points;
    default:
        return 0;
    }
}

#define NEAR(a, b) assert_true((a) > (b)-1e-9 && (a) < (b) + 1e-9)

/* One observation of v in bucket `index` out of n buckets. */
static void assert_single(const pb_hist_point *p, double v, size_t index, size_t nbuckets)
{
    assert_true(p->has_count && p->has_sum && p->has_min && p->has_max);
    assert_int_equal(p->count, 1);
    NEAR(p->sum, v);
    NEAR(p->min, v);
    NEAR(p->max, v);
    assert_int_equal(p->n_bucket_counts, nbuckets);
    assert_int_equal(p->n_explicit_bounds, nbuckets - 1);
    for (size_t i = 0; i < nbuckets; i++)
        assert_int_equal(p->bucket_counts[i], i == index ? 1 : 0);
}

static dp_derived_metrics *make(bool delta, size_t max_series)
{
    dp_derived_metrics_options opt;
    dp_derived_metrics_options_defaults(&opt);
    opt.temporality = delta ? DP_METRICS_DELTA : DP_METRICS_CUMULATIVE;
    if (max_series) /* else the section's default */
        opt.max_series = max_series;
    static const dp_resource_attr resource[] = {{"service.name", "agents"},
                                                {"service.instance.id", "instance-1"},
                                                {"deployment.environment", "test"}};
    opt.resource = resource;
    opt.resource_count = 3;
    opt.start_time_ns = T0;
    dp_derived_metrics *m = dp_derived_metrics_create(&opt);
    assert_non_null(m);
    return m;
}

/* --- tests ------------------------------------------------------------------- */

static void test_names_units_attributes_buckets(void **state)
{
    (void)state;
    dp_run_profile p;
    build_a(&p);
    dp_derived_metrics *m = make(false, 0);
    assert_int_equal(dp_derived_metrics_record(m, &p), 0);
    pb_request *req = collect(m, NULL, T1, A_POINTS);

    /* resource and scope */
    const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[0];
    assert_int_equal(rm->resource->n_attributes, 3);
    assert_string_equal(rm->resource->attributes[0]->key, "service.name");
    assert_string_equal(rm->resource->attributes[0]->value->string_value, "agents");
    assert_string_equal(rm->resource->attributes[1]->key, "service.instance.id");
    assert_string_equal(rm->resource->attributes[1]->value->string_value, "instance-1");
    assert_string_equal(rm->resource->attributes[2]->key, "deployment.environment");
    assert_string_equal(rm->resource->attributes[2]->value->string_value, "test");
    assert_int_equal(rm->n_scope_metrics, 1);
    assert_string_equal(rm->scope_metrics[0]->scope->name, "dagprof");
    /* 16 derived metrics, all present for profile A; no self-telemetry (NULL) */
    assert_int_equal(rm->scope_metrics[0]->n_metrics, 16);

    /* gen_ai.client.token.usage: bounds 1,4,16,64,256,1024,... (14 bounds, 15 buckets)
     *   1000 in (256,1024] -> bucket 5; 200 in (64,256] -> 4; 5 in (4,16] -> 2; 0 <= 1 -> 0 */
    const pb_metric *tu = find_metric(req, "gen_ai.client.token.usage");
    assert_non_null(tu);
    assert_string_equal(tu->unit, "{token}");
    assert_int_equal(tu->histogram->aggregation_temporality, CUMULATIVE);
    assert_int_equal(point_count(tu), 4);
    const pb_hist_point *hp =
        find_hist(tu, (const char *const[]){"gen_ai.operation.name", "chat", "gen_ai.request.model",
                                            "gpt-4o", "gen_ai.token.type", "input", "dag.id",
                                            "review", "dag.node.id", "plan", NULL});
    assert_single(hp, 1000, 5, 15);
    assert_int_equal(hp->start_time_unix_nano, T0);
    assert_int_equal(hp->time_unix_nano, T1);
    assert_true(hp->explicit_bounds[0] == 1.0 && hp->explicit_bounds[13] == 67108864.0);
    hp =
        find_hist(tu, (const char *const[]){"gen_ai.operation.name", "chat", "gen_ai.request.model",
                                            "gpt-4o", "gen_ai.token.type", "output", "dag.id",
                                            "review", "dag.node.id", "plan", NULL});
    assert_single(hp, 200, 4, 15);
    hp =
        find_hist(tu, (const char *const[]){"gen_ai.operation.name", "chat", "gen_ai.request.model",
                                            "mystery", "gen_ai.token.type", "input", "dag.id",
                                            "review", "dag.node.id", "code", NULL});
    assert_single(hp, 5, 2, 15);
    hp =
        find_hist(tu, (const char *const[]){"gen_ai.operation.name", "chat", "gen_ai.request.model",
                                            "mystery", "gen_ai.token.type", "output", "dag.id",
                                            "review", "dag.node.id", "code", NULL});
    assert_single(hp, 0, 0, 15);

    /* gen_ai.client.operation.duration: bounds 0.01,0.02,0.04,0.08,0.16,0.32,0.64,1.28,2.56,...
     *   0.8 s in (0.64,1.28] -> 7; 0.1 s in (0.08,0.16] -> 4; 2.0 s in (1.28,2.56] -> 8 */
    const pb_metric *od = find_metric(req, "gen_ai.client.operation.duration");
    assert_non_null(od);
    assert_string_equal(od->unit, "s");
    assert_int_equal(point_count(od), 3);
    assert_single(find_hist(od, (const char *const[]){"gen_ai.operation.name", "chat",
                                                      "gen_ai.request.model", "gpt-4o", "dag.id",
                                                      "review", "dag.node.id", "plan", NULL}),
                  0.8, 7, 15);
    assert_single(
        find_hist(od, (const char *const[]){"gen_ai.operation.name", "chat", "gen_ai.request.model",
                                            "mystery", "dag.id", "review", "dag.node.id", "code",
                                            "error.type", "_OTHER", NULL}),
        0.1, 4, 15);
    assert_single(
        find_hist(od, (const char *const[]){"gen_ai.operation.name", "chat", "gen_ai.request.model",
                                            "gpt-4o", "dag.id", "review", NULL}),
        2.0, 8, 15);

    /* gen_ai.execute_tool.duration: same bounds; 0.01 s is exactly the first
     * bound (upper bounds are inclusive) -> 0; 0.25 s in (0.16,0.32] -> 5 */
    const pb_metric *td = find_metric(req, "gen_ai.execute_tool.duration");
    assert_non_null(td);
    assert_string_equal(td->unit, "s");
    assert_int_equal(point_count(td), 2);
    assert_single(find_hist(td, (const char *const[]){"gen_ai.tool.name", "search", "dag.id",
                                                      "review", "dag.node.id", "plan", NULL}),
                  0.01, 0, 15);
    assert_single(
        find_hist(td, (const char *const[]){"gen_ai.tool.name", "search", "dag.id", "review",
                                            "dag.node.id", "code", "error.type", "_OTHER", NULL}),
        0.25, 5, 15);

    /* gen_ai.workflow.duration, bounds 1,5,10,30,... (11 bounds): 2 s in (1,5] -> 1 */
    const pb_metric *wf = find_metric(req, "gen_ai.workflow.duration");
    assert_non_null(wf);
    assert_string_equal(wf->unit, "s");
    assert_single(find_hist(wf, (const char *const[]){"gen_ai.workflow.name", "review", "dag.id",
                                                      "review", NULL}),
                  2.0, 1, 12);

    /* dag.node.duration, bounds 0.1,0.2,0.4,0.8,1.6,... (13 bounds):
     *   1.5 s in (0.8,1.6] -> 4; 0.3 s in (0.2,0.4] -> 2 */
    const pb_metric *nd = find_metric(req, "dag.node.duration");
    assert_non_null(nd);
    assert_string_equal(nd->unit, "s");
    assert_single(
        find_hist(nd, (const char *const[]){"dag.id", "review", "dag.node.id", "plan", NULL}), 1.5,
        4, 14);
    assert_single(
        find_hist(nd, (const char *const[]){"dag.id", "review", "dag.node.id", "code", NULL}), 0.3,
        2, 14);
    /* dag.node.wait.duration: 0 and 0.05 s are both <= 0.1 -> 0 */
    const pb_metric *nw = find_metric(req, "dag.node.wait.duration");
    assert_single(
        find_hist(nw, (const char *const[]){"dag.id", "review", "dag.node.id", "plan", NULL}), 0, 0,
        14);
    assert_single(
        find_hist(nw, (const char *const[]){"dag.id", "review", "dag.node.id", "code", NULL}), 0.05,
        0, 14);

    /* run figures: 2 s -> (1,5] -> 1; 1.8 s -> 1; parallelism 0.9 with bounds
     * 0.5,1,1.5,... (10 bounds) -> (0.5,1] -> 1 */
    const char *const run_attrs[] = {"dag.id", "review", NULL};
    assert_single(find_hist(find_metric(req, "dag.run.duration"), run_attrs), 2.0, 1, 12);
    assert_single(find_hist(find_metric(req, "dag.run.critical_path.duration"), run_attrs), 1.8, 1,
                  12);
    const pb_metric *par = find_metric(req, "dag.run.parallelism");
    assert_string_equal(par->unit, "1");
    assert_single(find_hist(par, run_attrs), 0.9, 1, 11);

    /* dag.cost: only c0's $0.0045 (c1 unknown, c4 known but 0) */
    const pb_metric *cost = find_metric(req, "dag.cost");
    assert_non_null(cost);
    assert_string_equal(cost->unit, "USD");
    assert_true(cost->sum->is_monotonic);
    assert_int_equal(cost->sum->aggregation_temporality, CUMULATIVE);
    assert_int_equal(point_count(cost), 1);
    const pb_number_point *np =
        find_sum(cost, (const char *const[]){"gen_ai.request.model", "gpt-4o", "dag.id", "review",
                                             "dag.node.id", "plan", NULL});
    assert_int_equal(np->value_case,
                     OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
    NEAR(np->as_double, 0.0045);
    assert_int_equal(np->start_time_unix_nano, T0);

    /* dag.cost.unknown: c1 only, by model and dag */
    const pb_metric *unk = find_metric(req, "dag.cost.unknown");
    assert_string_equal(unk->unit, "{call}");
    np = find_sum(
        unk, (const char *const[]){"gen_ai.request.model", "mystery", "dag.id", "review", NULL});
    assert_int_equal(np->value_case,
                     OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT);
    assert_int_equal(np->as_int, 1);

    /* dag.node.retries: plan 2; code had none (no point) */
    const pb_metric *ret = find_metric(req, "dag.node.retries");
    assert_int_equal(point_count(ret), 1);
    assert_int_equal(
        find_sum(ret, (const char *const[]){"dag.id", "review", "dag.node.id", "plan", NULL})
            ->as_int,
        2);

    /* dag.bottlenecks: one per finding; the run-wide one has no node */
    const pb_metric *bn = find_metric(req, "dag.bottlenecks");
    assert_int_equal(point_count(bn), 2);
    assert_int_equal(find_sum(bn, (const char *const[]){"dag.bottleneck.type", "slow_node",
                                                        "dag.bottleneck.severity", "high", "dag.id",
                                                        "review", "dag.node.id", "plan", NULL})
                         ->as_int,
                     1);
    assert_int_equal(
        find_sum(bn, (const char *const[]){"dag.bottleneck.type", "sequential_bottleneck",
                                           "dag.bottleneck.severity", "medium", "dag.id", "review",
                                           NULL})
            ->as_int,
        1);

    /* savings: parallelize 500 ms = 0.5 s; cache 300 tokens and $0.001;
     * model_downgrade saved nothing known: no point anywhere */
    const pb_metric *st = find_metric(req, "dag.recommendation.savings.time");
    assert_string_equal(st->unit, "s");
    assert_int_equal(point_count(st), 1);
    NEAR(find_sum(st, (const char *const[]){"dag.recommendation.type", "parallelize", "dag.id",
                                            "review", NULL})
             ->as_double,
         0.5);
    const pb_metric *stok = find_metric(req, "dag.recommendation.savings.tokens");
    assert_string_equal(stok->unit, "{token}");
    assert_int_equal(point_count(stok), 1);
    assert_int_equal(find_sum(stok, (const char *const[]){"dag.recommendation.type", "cache",
                                                          "dag.id", "review", NULL})
                         ->as_int,
                     300);
    const pb_metric *sc = find_metric(req, "dag.recommendation.savings.cost");
    assert_string_equal(sc->unit, "USD");
    assert_int_equal(point_count(sc), 1);
    NEAR(find_sum(sc, (const char *const[]){"dag.recommendation.type", "cache", "dag.id", "review",
                                            NULL})
             ->as_double,
         0.001);

    request_free(req);
    dp_derived_metrics_destroy(m);
}

/* Cumulative: A at T1, then B; the T2 collection holds A + B since T0.
 *   dag.node.duration plan: 1.5 s (bucket 4) + 3.0 s in (1.6,3.2] (bucket 5):
 *     count 2, sum 4.5, min 1.5, max 3.0
 *   dag.run.duration: 2 s + 4 s, both in (1,5]: count 2, sum 6, bucket 1 = 2
 *   dag.node.retries plan: 2 + 1 = 3
 *   points at T2: still 25 (B adds no new attribute set) */
static void test_cumulative_across_collections(void **state)
{
    (void)state;
    dp_run_profile a, b;
    build_a(&a);
    build_b(&b);
    dp_derived_metrics *m = make(false, 0);
    assert_int_equal(dp_derived_metrics_record(m, &a), 0);
    request_free(collect(m, NULL, T1, A_POINTS));
    assert_int_equal(dp_derived_metrics_record(m, &b), 0);
    pb_request *req = collect(m, NULL, T2, A_POINTS);

    const pb_hist_point *hp =
        find_hist(find_metric(req, "dag.node.duration"),
                  (const char *const[]){"dag.id", "review", "dag.node.id", "plan", NULL});
    assert_int_equal(hp->start_time_unix_nano, T0);
    assert_int_equal(hp->time_unix_nano, T2);
    assert_int_equal(hp->count, 2);
    NEAR(hp->sum, 4.5);
    NEAR(hp->min, 1.5);
    NEAR(hp->max, 3.0);
    assert_int_equal(hp->bucket_counts[4], 1);
    assert_int_equal(hp->bucket_counts[5], 1);

    hp = find_hist(find_metric(req, "dag.run.duration"),
                   (const char *const[]){"dag.id", "review", NULL});
    assert_int_equal(hp->count, 2);
    NEAR(hp->sum, 6.0);
    assert_int_equal(hp->bucket_counts[1], 2);

    const pb_number_point *np =
        find_sum(find_metric(req, "dag.node.retries"),
                 (const char *const[]){"dag.id", "review", "dag.node.id", "plan", NULL});
    assert_int_equal(np->as_int, 3);
    assert_int_equal(np->start_time_unix_nano, T0);
    request_free(req);
    dp_derived_metrics_destroy(m);
}

/* Delta: A at T1 (start T0), B at T2 (start T1): only B's 7 points, reset values.
 * A third collection with nothing new and no health writes nothing. */
static void test_delta_resets(void **state)
{
    (void)state;
    dp_run_profile a, b;
    build_a(&a);
    build_b(&b);
    dp_derived_metrics *m = make(true, 0);
    assert_int_equal(dp_derived_metrics_record(m, &a), 0);
    pb_request *req = collect(m, NULL, T1, A_POINTS);
    const pb_metric *nd = find_metric(req, "dag.node.duration");
    assert_int_equal(nd->histogram->aggregation_temporality, DELTA);
    assert_int_equal(find_metric(req, "dag.cost")->sum->aggregation_temporality, DELTA);
    assert_int_equal(nd->histogram->data_points[0]->start_time_unix_nano, T0);
    request_free(req);

    assert_int_equal(dp_derived_metrics_record(m, &b), 0);
    req = collect(m, NULL, T2, 7);
    assert_null(find_metric(req, "gen_ai.client.token.usage"));
    assert_null(find_metric(req, "dag.cost"));
    const pb_hist_point *hp =
        find_hist(find_metric(req, "dag.node.duration"),
                  (const char *const[]){"dag.id", "review", "dag.node.id", "plan", NULL});
    assert_int_equal(hp->start_time_unix_nano, T1);
    assert_int_equal(hp->time_unix_nano, T2);
    /* 3.0 s alone, bucket 5 of 14 */
    assert_single(hp, 3.0, 5, 14);
    assert_int_equal(
        find_sum(find_metric(req, "dag.node.retries"),
                 (const char *const[]){"dag.id", "review", "dag.node.id", "plan", NULL})
            ->as_int,
        1);
    request_free(req);

    dp_buf buf;
    dp_buf_init(&buf, 0);
    assert_int_equal(dp_derived_metrics_collect(m, NULL, T3, &buf), 0);
    assert_int_equal(buf.len, 0);
    dp_buf_free(&buf);
    dp_derived_metrics_destroy(m);
}

/* Cap 2 series per metric. Nodes n1..n4 take 0.1, 0.2, 0.3, 0.4 s:
 *   n1, n2 keep their own series; n3, n4 fold into the overflow series:
 *   count 2, sum 0.7, min 0.3, max 0.4, both in (0.2,0.4] -> bucket 2 = 2.
 * Recording the same run again: n1 is found (count 2), overflow count 4. */
static dp_node_profile cap_nodes[4];

static void test_overflow_series(void **state)
{
    (void)state;
    dp_run_profile p;
    memset(&p, 0, sizeof(p));
    const char *ids[] = {"n1", "n2", "n3", "n4"};
    for (int i = 0; i < 4; i++)
        cap_nodes[i] = (dp_node_profile){.id = ids[i], .duration_ms = 100.0 * (i + 1)};
    p.dag_id = "wide";
    p.nodes = cap_nodes;
    p.node_count = 4;
    p.wall_ms = 500;
    p.critical_path_ms = 400;
    p.parallelism = 2;

    dp_derived_metrics *m = make(false, 2);
    assert_int_equal(dp_derived_metrics_record(m, &p), 0);
    /* node.duration 3, node.wait 3, workflow 1, run 1, critical path 1, parallelism 1 = 10 */
    pb_request *req = collect(m, NULL, T1, 10);
    const pb_metric *nd = find_metric(req, "dag.node.duration");
    assert_int_equal(point_count(nd), 3);
    const pb_hist_point *ov = nd->histogram->data_points[2];
    assert_int_equal(ov->n_attributes, 1);
    assert_string_equal(ov->attributes[0]->key, "otel.metric.overflow");
    assert_int_equal(ov->attributes[0]->value->value_case,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE);
    assert_true(ov->attributes[0]->value->bool_value);
    assert_int_equal(ov->count, 2);
    NEAR(ov->sum, 0.7);
    NEAR(ov->min, 0.3);
    NEAR(ov->max, 0.4);
    assert_int_equal(ov->bucket_counts[2], 2);
    assert_single(find_hist(nd, (const char *const[]){"dag.id", "wide", "dag.node.id", "n1", NULL}),
                  0.1, 0, 14);
    request_free(req);

    assert_int_equal(dp_derived_metrics_record(m, &p), 0);
    req = collect(m, NULL, T2, 10);
    nd = find_metric(req, "dag.node.duration");
    assert_int_equal(point_count(nd), 3);
    assert_int_equal(
        find_hist(nd, (const char *const[]){"dag.id", "wide", "dag.node.id", "n1", NULL})->count,
        2);
    assert_int_equal(nd->histogram->data_points[2]->count, 4);
    request_free(req);
    dp_derived_metrics_destroy(m);
}

/* A self-telemetry snapshot: received spans per transport (a counter),
 * the pending runs (a gauge), busy seconds (a fractional counter), a
 * family without points. */
static void self_snapshot(dp_telemetry *t, double grpc, double http, double pending, double busy)
{
    dp_telemetry_init(t);
    dp_telemetry_family_add(t, "dagprof_receiver_received_spans", DP_TELEMETRY_COUNTER, "{span}",
                            "Spans received.");
    dp_telemetry_add(t, grpc, "transport", "grpc", NULL);
    dp_telemetry_add(t, http, "transport", "http", NULL);
    dp_telemetry_family_add(t, "dagprof_assembly_pending_runs", DP_TELEMETRY_GAUGE, "{run}",
                            "Pending runs.");
    dp_telemetry_add(t, pending, NULL);
    dp_telemetry_family_add(t, "dagprof_processor_busy_seconds", DP_TELEMETRY_COUNTER, "s",
                            "Busy time.");
    dp_telemetry_add(t, busy, "worker", "0", NULL);
    dp_telemetry_family_add(t, "dagprof_nothing", DP_TELEMETRY_COUNTER, "1", "Empty.");
}

/* The self-telemetry: its own scope after the derived metrics', counters as
 * cumulative monotonic sums with the start time, gauges as gauges without
 * one, whole numbers as integers and seconds as doubles, labels as
 * attributes, empty families left out. Delta: the change since the previous
 * collection (received 25 - 10 = 15 and 7 - 7 = 0, busy 2.5 - 1.25 = 1.25);
 * a gauge as it is (2). */
static void test_self_telemetry(void **state)
{
    (void)state;
    dp_telemetry s1, s2;
    self_snapshot(&s1, 10, 7, 5, 1.25);
    self_snapshot(&s2, 25, 7, 2, 2.5);
    const char *const grpc[] = {"transport", "grpc", NULL};
    const char *const http[] = {"transport", "http", NULL};
    const char *const worker[] = {"worker", "0", NULL};

    dp_derived_metrics *m = make(false, 0);
    dp_run_profile p;
    build_b(&p);
    assert_int_equal(dp_derived_metrics_record(m, &p), 0);
    /* profile B's 7 points, then 2 + 1 + 1 */
    pb_request *req = collect(m, &s1, T1, 7 + 4);
    const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[0];
    assert_int_equal(rm->n_scope_metrics, 2);
    assert_string_equal(rm->scope_metrics[0]->scope->name, "dagprof");
    assert_string_equal(rm->scope_metrics[1]->scope->name, "dagprof.telemetry");
    assert_int_equal(rm->scope_metrics[1]->n_metrics, 3);
    assert_null(find_metric(req, "dagprof_nothing"));
    const pb_metric *rx = find_metric(req, "dagprof_receiver_received_spans");
    assert_non_null(rx);
    assert_string_equal(rx->unit, "{span}");
    assert_string_equal(rx->description, "Spans received.");
    assert_true(rx->sum->is_monotonic);
    assert_int_equal(rx->sum->aggregation_temporality, CUMULATIVE);
    assert_int_equal(point_count(rx), 2);
    assert_int_equal(find_sum(rx, grpc)->value_case,
                     OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT);
    assert_int_equal(find_sum(rx, grpc)->as_int, 10);
    assert_int_equal(find_sum(rx, grpc)->start_time_unix_nano, T0);
    assert_int_equal(find_sum(rx, grpc)->time_unix_nano, T1);
    assert_int_equal(find_sum(rx, http)->as_int, 7);
    const pb_metric *busy = find_metric(req, "dagprof_processor_busy_seconds");
    assert_int_equal(find_sum(busy, worker)->value_case,
                     OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE);
    NEAR(find_sum(busy, worker)->as_double, 1.25);
    const pb_metric *q = find_metric(req, "dagprof_assembly_pending_runs");
    assert_int_equal(q->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
    assert_int_equal(q->gauge->n_data_points, 1);
    assert_int_equal(q->gauge->data_points[0]->as_int, 5);
    assert_int_equal(q->gauge->data_points[0]->n_attributes, 0);
    assert_false(q->gauge->data_points[0]->has_start_time_unix_nano);
    assert_int_equal(q->gauge->data_points[0]->time_unix_nano, T1);
    request_free(req);
    dp_derived_metrics_destroy(m);

    /* delta; without derived metrics only the self-telemetry's scope is sent */
    m = make(true, 0);
    request_free(collect(m, &s1, T1, 4));
    req = collect(m, &s2, T2, 4);
    rm = req->resource_metrics[0];
    assert_int_equal(rm->n_scope_metrics, 1);
    assert_string_equal(rm->scope_metrics[0]->scope->name, "dagprof.telemetry");
    rx = find_metric(req, "dagprof_receiver_received_spans");
    assert_int_equal(rx->sum->aggregation_temporality, DELTA);
    assert_int_equal(find_sum(rx, grpc)->as_int, 15);
    assert_int_equal(find_sum(rx, grpc)->start_time_unix_nano, T1);
    assert_int_equal(find_sum(rx, http)->as_int, 0);
    NEAR(find_sum(find_metric(req, "dagprof_processor_busy_seconds"), worker)->as_double, 1.25);
    assert_int_equal(
        find_metric(req, "dagprof_assembly_pending_runs")->gauge->data_points[0]->as_int, 2);
    request_free(req);
    dp_derived_metrics_destroy(m);
    dp_telemetry_free(&s1);
    dp_telemetry_free(&s2);
}

/* Attribute values become valid UTF-8 ("\xff" -> "?") and are cut at 256 bytes. */
static dp_node_profile odd_nodes[1];
static char long_dag[301];

static void test_attribute_values_sanitised(void **state)
{
    (void)state;
    memset(long_dag, 'd', 300);
    long_dag[300] = '\0';
    dp_run_profile p;
    memset(&p, 0, sizeof(p));
    odd_nodes[0] = (dp_node_profile){.id = "\xff"
                                           "bad",
                                     .duration_ms = 100};
    p.dag_id = long_dag;
    p.nodes = odd_nodes;
    p.node_count = 1;
    p.wall_ms = 100;

    char cut[257];
    memset(cut, 'd', 256);
    cut[256] = '\0';
    dp_derived_metrics *m = make(false, 0);
    assert_int_equal(dp_derived_metrics_record(m, &p), 0);
    /* node.duration, node.wait, workflow, run, critical path, parallelism = 6 */
    pb_request *req = collect(m, NULL, T1, 6);
    find_hist(find_metric(req, "dag.node.duration"),
              (const char *const[]){"dag.id", cut, "dag.node.id", "?bad", NULL});
    request_free(req);
    dp_derived_metrics_destroy(m);
}

/* Values that sanitise to the same text share one series; keys that differ
 * only past an 8-byte boundary, or in a valid multi-byte character, do not. */
static dp_node_profile same_nodes[5];

static void test_series_identity_after_sanitising(void **state)
{
    (void)state;
    dp_run_profile p;
    memset(&p, 0, sizeof(p));
    same_nodes[0] = (dp_node_profile){.id = "x\xffy", .duration_ms = 100};
    same_nodes[1] = (dp_node_profile){.id = "x\xfey", .duration_ms = 300};
    same_nodes[2] = (dp_node_profile){.id = "abcdefg", .duration_ms = 100};
    same_nodes[3] = (dp_node_profile){.id = "abcdefgh", .duration_ms = 100};
    same_nodes[4] = (dp_node_profile){.id = "caf\xc3\xa9", .duration_ms = 100};
    p.dag_id = "d";
    p.nodes = same_nodes;
    p.node_count = 5;
    p.wall_ms = 400;

    dp_derived_metrics *m = make(false, 0);
    assert_int_equal(dp_derived_metrics_record(m, &p), 0);
    /* node.duration and node.wait: 4 series each ("x?y" once), plus
     * workflow, run, critical path, parallelism: 4 x 2 + 4 = 12 points */
    pb_request *req = collect(m, NULL, T1, 12);
    const pb_metric *nd = find_metric(req, "dag.node.duration");
    assert_int_equal(nd->histogram->n_data_points, 4);
    const pb_hist_point *xy =
        find_hist(nd, (const char *const[]){"dag.id", "d", "dag.node.id", "x?y", NULL});
    assert_int_equal(xy->count, 2);
    assert_true(xy->sum > 0.399 && xy->sum < 0.401); /* 0.1 s + 0.3 s */
    assert_int_equal(
        find_hist(nd, (const char *const[]){"dag.id", "d", "dag.node.id", "abcdefg", NULL})->count,
        1);
    assert_int_equal(
        find_hist(nd, (const char *const[]){"dag.id", "d", "dag.node.id", "abcdefgh", NULL})->count,
        1);
    assert_int_equal(
        find_hist(nd, (const char *const[]){"dag.id", "d", "dag.node.id", "caf\xc3\xa9", NULL})
            ->count,
        1);
    request_free(req);
    dp_derived_metrics_destroy(m);
}

/* Two threads record profile B 200 times each while the main thread
 * collects; the final count of plan's node duration is 2 x 200 = 400. */
static void *record_many(void *arg)
{
    dp_derived_metrics *m = arg;
    dp_run_profile b;
    build_b(&b);
    for (int i = 0; i < 200; i++)
        if (dp_derived_metrics_record(m, &b) != 0)
            return (void *)1;
    return NULL;
}

static void test_concurrent_record(void **state)
{
    (void)state;
    dp_derived_metrics *m = make(false, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, record_many, m), 0);
    dp_buf buf;
    dp_buf_init(&buf, 0);
    for (int i = 0; i < 20; i++) {
        dp_buf_reset(&buf);
        assert_true(dp_derived_metrics_collect(m, NULL, T1, &buf) >= 0);
    }
    dp_buf_free(&buf);
    for (int i = 0; i < 2; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        assert_null(rc);
    }
    pb_request *req = collect(m, NULL, T2, 7);
    assert_int_equal(
        find_hist(find_metric(req, "dag.node.duration"),
                  (const char *const[]){"dag.id", "review", "dag.node.id", "plan", NULL})
            ->count,
        400);
    request_free(req);
    dp_derived_metrics_destroy(m);
}

/* 3000 distinct nodes (the hash index grows many times), recorded twice:
 * every node keeps its own series with count 2, none overflows (cap 5000).
 * Points: node.duration 3000 + node.wait 3000 + workflow, run, critical
 * path, parallelism 4 = 6004. */
#define MANY 3000
static dp_node_profile many_nodes[MANY];
static char many_ids[MANY][8];

/* A run of MANY nodes n0, n1, ... of 1 s each, dag "many". */
static void build_many(dp_run_profile *p)
{
    memset(p, 0, sizeof(*p));
    for (int i = 0; i < MANY; i++) {
        snprintf(many_ids[i], sizeof(many_ids[i]), "n%d", i);
        many_nodes[i] = (dp_node_profile){.id = many_ids[i], .duration_ms = 1000};
    }
    p->dag_id = "many";
    p->nodes = many_nodes;
    p->node_count = MANY;
    p->wall_ms = 1000;
}

static void test_many_series(void **state)
{
    (void)state;
    dp_run_profile p;
    build_many(&p);

    dp_derived_metrics *m = make(false, 5000);
    assert_int_equal(dp_derived_metrics_record(m, &p), 0);
    assert_int_equal(dp_derived_metrics_record(m, &p), 0);
    pb_request *req = collect(m, NULL, T1, 2 * MANY + 4);
    const pb_metric *nd = find_metric(req, "dag.node.duration");
    assert_int_equal(point_count(nd), MANY);
    for (size_t i = 0; i < MANY; i++) {
        const pb_hist_point *hp = nd->histogram->data_points[i];
        assert_int_equal(hp->count, 2);
        assert_int_equal(hp->n_attributes, 2);
        assert_string_equal(hp->attributes[1]->value->string_value, many_ids[i]);
    }
    request_free(req);
    dp_derived_metrics_destroy(m);
}

/* --- one collection in several requests ---------------------------------------- */

/* Every request dp_derived_metrics_collect_split() handed over, decoded. */
typedef struct split_requests {
    pb_request *req[64];
    size_t len[64];
    size_t points[64];
    size_t count;
} split_requests;

static int keep_split(void *arg, dp_buf *request, size_t points)
{
    split_requests *o = arg;
    assert_true(o->count < 64);
    o->req[o->count] =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
            NULL, request->len, (const uint8_t *)request->data);
    assert_non_null(o->req[o->count]);
    o->len[o->count] = request->len;
    o->points[o->count++] = points;
    return 0;
}

static void split_requests_free(split_requests *o)
{
    for (size_t i = 0; i < o->count; i++)
        request_free(o->req[i]);
    o->count = 0;
}

/* Bytes of a length-delimited field (number 1..15) of len bytes: tag, varint, payload. */
static size_t field_bytes(size_t len)
{
    size_t n = 1;
    for (size_t v = len; v >= 0x80; v >>= 7)
        n++;
    return 1 + n + len;
}

/* A request's one ResourceMetrics, checked to carry dagprof's resource. */
static const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *only_resource(const pb_request *r)
{
    assert_int_equal(r->n_resource_metrics, 1);
    const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = r->resource_metrics[0];
    assert_non_null(rm->resource);
    assert_int_equal(rm->resource->n_attributes, 3); /* as in a whole collection */
    assert_string_equal(rm->resource->attributes[0]->key, "service.name");
    return rm;
}

/* Eight self-telemetry counters of one point each. */
static void eight_counters(dp_telemetry *t)
{
    static const char *const names[8] = {"dagprof_a_total", "dagprof_b_total", "dagprof_c_total",
                                         "dagprof_d_total", "dagprof_e_total", "dagprof_f_total",
                                         "dagprof_g_total", "dagprof_h_total"};
    dp_telemetry_init(t);
    for (size_t i = 0; i < 8; i++) {
        dp_telemetry_family_add(t, names[i], DP_TELEMETRY_COUNTER, "1", "A counter.");
        dp_telemetry_add(t, (double)(i + 1), NULL);
    }
}

/*
 * Eight metrics of one point each (self-telemetry only, scope
 * "dagprof.telemetry"), so requests are cut between metrics. A request of
 * metrics a..b is, by the OTLP layout,
 *   field(resource field + field(scope field + sum of field(metric_i)))
 * with each part's size taken from the one-request collection (packed again
 * by protobuf-c). With the limit at the size of metrics 0..2 the first
 * request holds exactly those three; the rest follow by the same rule,
 * worked out here metric by metric.
 */
static void test_split_between_metrics(void **state)
{
    (void)state;
    dp_telemetry t;
    eight_counters(&t);
    dp_derived_metrics *m = make(false, 0);
    pb_request *whole = collect(m, &t, T1, 8);
    const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = only_resource(whole);
    assert_int_equal(rm->n_scope_metrics, 1);
    const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[0];
    assert_int_equal(sm->n_metrics, 8);
    size_t resource_field =
        field_bytes(opentelemetry__proto__resource__v1__resource__get_packed_size(rm->resource));
    size_t scope_field = field_bytes(
        opentelemetry__proto__common__v1__instrumentation_scope__get_packed_size(sm->scope));
    size_t metric_field[8];
    for (size_t i = 0; i < 8; i++)
        metric_field[i] =
            field_bytes(opentelemetry__proto__metrics__v1__metric__get_packed_size(sm->metrics[i]));
#define REQUEST_SIZE(sum) field_bytes(resource_field + field_bytes(scope_field + (sum)))
    size_t limit = REQUEST_SIZE(metric_field[0] + metric_field[1] + metric_field[2]);

    /* the expected cut: add metrics while the request stays within the limit */
    size_t want_first[8], want_size[8], want_count = 0, sum = 0;
    for (size_t i = 0; i < 8; i++) {
        if (sum && REQUEST_SIZE(sum + metric_field[i]) > limit) {
            want_size[want_count++] = REQUEST_SIZE(sum);
            sum = 0;
        }
        if (!sum)
            want_first[want_count] = i;
        sum += metric_field[i];
    }
    want_size[want_count++] = REQUEST_SIZE(sum);
#undef REQUEST_SIZE
    assert_true(want_count >= 3); /* 8 metrics, 3 per request at most */
    assert_int_equal(want_first[1], 3);

    split_requests o = {.count = 0};
    assert_int_equal(dp_derived_metrics_collect_split(m, &t, T1, limit, keep_split, &o), 8);
    assert_int_equal(o.count, want_count);
    assert_int_equal(o.len[0], limit);
    for (size_t q = 0; q < o.count; q++) {
        assert_int_equal(o.len[q], want_size[q]);
        const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *part = only_resource(o.req[q]);
        assert_int_equal(part->n_scope_metrics, 1);
        const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *ps = part->scope_metrics[0];
        assert_string_equal(ps->scope->name, "dagprof.telemetry");
        size_t end = q + 1 < want_count ? want_first[q + 1] : 8;
        assert_int_equal(ps->n_metrics, end - want_first[q]);
        assert_int_equal(o.points[q], end - want_first[q]);
        for (size_t i = 0; i < ps->n_metrics; i++)
            assert_string_equal(ps->metrics[i]->name, sm->metrics[want_first[q] + i]->name);
    }
    split_requests_free(&o);
    request_free(whole);
    dp_telemetry_free(&t);
    dp_derived_metrics_destroy(m);
}

/* The packed bytes of a metric's point k, for comparing points across requests. */
static size_t packed_point(const pb_metric *pm, size_t k, uint8_t *buf, size_t cap)
{
    size_t n;
    if (pm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM) {
        n = opentelemetry__proto__metrics__v1__histogram_data_point__get_packed_size(
            pm->histogram->data_points[k]);
        assert_true(n <= cap);
        opentelemetry__proto__metrics__v1__histogram_data_point__pack(pm->histogram->data_points[k],
                                                                      buf);
    } else {
        const pb_number_point *np =
            pm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM
                ? pm->sum->data_points[k]
                : pm->gauge->data_points[k];
        n = opentelemetry__proto__metrics__v1__number_data_point__get_packed_size(np);
        assert_true(n <= cap);
        opentelemetry__proto__metrics__v1__number_data_point__pack(np, buf);
    }
    return n;
}

/* Each metric of a request with the name of its scope, in order. */
typedef struct scoped_metric {
    const char *scope;
    const pb_metric *metric;
} scoped_metric;

static size_t scoped_metrics(const pb_request *r, scoped_metric *out, size_t cap)
{
    const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = only_resource(r);
    size_t n = 0;
    for (size_t k = 0; k < rm->n_scope_metrics; k++)
        for (size_t i = 0; i < rm->scope_metrics[k]->n_metrics; i++) {
            assert_true(n < cap);
            out[n++] = (scoped_metric){rm->scope_metrics[k]->scope->name,
                                       rm->scope_metrics[k]->metrics[i]};
        }
    return n;
}

/*
 * MANY node series plus the self-telemetry: a metric's points do not fit
 * one request and are cut across several. Every request is within the
 * limit, each metric under its own scope with its name, unit, description
 * and temporality, and the points in order over the requests are byte for
 * byte those of the one-request collection, each once.
 */
static void test_split_within_metric(void **state)
{
    (void)state;
    dp_run_profile p;
    build_many(&p);
    dp_telemetry t;
    eight_counters(&t);
    dp_derived_metrics *m = make(false, 5000);
    assert_int_equal(dp_derived_metrics_record(m, &p), 0);
    dp_buf b;
    dp_buf_init(&b, 0);
    long points = dp_derived_metrics_collect(m, &t, T1, &b);
    assert_true(points > 0);
    pb_request *whole =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
            NULL, b.len, (const uint8_t *)b.data);
    assert_non_null(whole);
    scoped_metric want[32], got[32];
    size_t want_count = scoped_metrics(whole, want, 32);
    assert_string_equal(want[want_count - 1].scope, "dagprof.telemetry");

    size_t limit = b.len / 5;
    split_requests o = {.count = 0};
    assert_int_equal(dp_derived_metrics_collect_split(m, &t, T1, limit, keep_split, &o), points);
    assert_true(o.count >= 5);
    size_t next_metric = 0, next_point = 0, total = 0;
    uint8_t want_point[4096], got_point[4096];
    for (size_t q = 0; q < o.count; q++) {
        assert_true(o.len[q] <= limit);
        size_t n = scoped_metrics(o.req[q], got, 32), in_request = 0;
        for (size_t i = 0; i < n; i++) {
            const pb_metric *pm = got[i].metric;
            /* a request starts where the previous one stopped: the same
             * metric (its next point) or the next one */
            if (next_point == point_count(want[next_metric].metric)) {
                next_metric++;
                next_point = 0;
            }
            assert_true(next_metric < want_count);
            const pb_metric *wm = want[next_metric].metric;
            assert_string_equal(got[i].scope, want[next_metric].scope);
            assert_string_equal(pm->name, wm->name);
            assert_string_equal(pm->unit, wm->unit);
            assert_string_equal(pm->description, wm->description);
            assert_int_equal(pm->data_case, wm->data_case);
            if (pm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM)
                assert_int_equal(pm->histogram->aggregation_temporality,
                                 wm->histogram->aggregation_temporality);
            for (size_t k = 0; k < point_count(pm); k++, next_point++) {
                size_t len = packed_point(pm, k, got_point, sizeof(got_point));
                assert_int_equal(packed_point(wm, next_point, want_point, sizeof(want_point)), len);
                assert_memory_equal(got_point, want_point, len);
                in_request++;
            }
        }
        assert_int_equal(in_request, o.points[q]);
        total += in_request;
    }
    assert_int_equal(total, (size_t)points);
    assert_int_equal(next_metric, want_count - 1);
    assert_int_equal(next_point, point_count(want[next_metric].metric));
    split_requests_free(&o);
    request_free(whole);
    dp_buf_free(&b);
    dp_telemetry_free(&t);
    dp_derived_metrics_destroy(m);
}

/* A capped output buffer too small for the request: -1, buffer untouched,
 * and (delta) nothing is lost: the next collection still has the data. */
static void test_buffer_cap_keeps_data(void **state)
{
    (void)state;
    dp_run_profile a;
    build_a(&a);
    dp_derived_metrics *m = make(true, 0);
    assert_int_equal(dp_derived_metrics_record(m, &a), 0);
    dp_buf small;
    dp_buf_init(&small, 64);
    assert_int_equal(dp_derived_metrics_collect(m, NULL, T1, &small), -1);
    assert_int_equal(small.len, 0);
    dp_buf_free(&small);
    request_free(collect(m, NULL, T1, A_POINTS));
    assert_int_equal(dp_derived_metrics_record(NULL, &a), -1);
    assert_int_equal(dp_derived_metrics_record(m, NULL), -1);
    dp_derived_metrics_destroy(m);
    dp_derived_metrics_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_units_attributes_buckets),
        cmocka_unit_test(test_cumulative_across_collections),
        cmocka_unit_test(test_delta_resets),
        cmocka_unit_test(test_overflow_series),
        cmocka_unit_test(test_self_telemetry),
        cmocka_unit_test(test_attribute_values_sanitised),
        cmocka_unit_test(test_series_identity_after_sanitising),
        cmocka_unit_test(test_concurrent_record),
        cmocka_unit_test(test_many_series),
        cmocka_unit_test(test_buffer_cap_keeps_data),
        cmocka_unit_test(test_split_between_metrics),
        cmocka_unit_test(test_split_within_metric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

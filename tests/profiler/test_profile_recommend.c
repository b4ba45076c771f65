/*
 * Recommendations: each type with its savings worked out by hand, and the
 * case where it must not be made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "profile_types.h"
#include "span_builder.h"

static sb_trace t;
static dp_profile_config cfg;

#define EPS 1e-9

static int setup(void **state)
{
    (void)state;
    dp_profile_config_defaults(&cfg);
    /* the relative rules alone (runs here last milliseconds); the absolute
     * floors have tests of their own, which set them back */
    cfg.severity_min_ms = 0;
    cfg.severity_min_usd = 0;
    sb_init(&t);
    return 0;
}

static dp_run_profile *build(void)
{
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, &cfg, &p), 0);
    return p;
}

static const dp_recommendation *find(const dp_run_profile *p, enum dp_recommendation_type type)
{
    for (size_t i = 0; i < p->recommendation_count; i++) {
        if (p->recommendations[i].type == type)
            return &p->recommendations[i];
    }
    return NULL;
}

static int add_node(const char *id, int parent, double start, double end)
{
    int s = sb_span(&t, id, parent, start, end);
    sb_str(&t, s, "dag.node.id", id);
    return s;
}

/* Declared dependencies (c on a; b declares none): no parallelize, whatever
 * the waits; waits beyond declared edges are dependency_wait findings. */
static void test_parallelize_not_with_declared_deps(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 300);
    add_node("a", root, 0, 100);
    add_node("b", root, 100, 200);
    sb_str(&t, add_node("c", root, 200, 300), "dag.depends_on", "a");
    dp_run_profile *p = build();
    assert_null(find(p, DP_REC_PARALLELIZE));
    assert_true(p->speedup_if_independent < 0);
    dp_run_profile_destroy(p);
}

/* Inferred dependencies: a 0..100, b 100..200, c 200..300, nothing declared.
 * If independent, all start at 0 and end at 100: saves 300 - 100 = 200 ms =
 * 66.7% of wall: high by share, capped at medium as a hypothesis;
 * speedup_if_independent = 300 / (300 - 200) = 3. The chain is also a
 * critical path of 3 (< 4 for restructure_dag). */
static void test_parallelize(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 300);
    add_node("a", root, 0, 100);
    add_node("b", root, 100, 200);
    add_node("c", root, 200, 300);
    dp_run_profile *p = build();
    const dp_recommendation *r = find(p, DP_REC_PARALLELIZE);
    assert_non_null(r);
    assert_float_equal(r->savings_time_ms, 200.0, EPS);
    assert_int_equal(r->priority, DP_SEVERITY_MEDIUM);
    assert_true(r->hypothesis);
    assert_int_equal(r->savings_tokens, 0);
    assert_float_equal(p->speedup_if_independent, 3.0, EPS);
    assert_int_equal(r->node_count, 0); /* advice on the whole run */
    dp_run_profile_destroy(p);

    cfg.parallelize_min_share = 0.7; /* 200 < 210 */
    p = build();
    assert_null(find(p, DP_REC_PARALLELIZE));
    assert_float_equal(p->speedup_if_independent, 3.0, EPS); /* stated all the same */
    dp_run_profile_destroy(p);
}

/* The absolute floors: the same 200 ms saving is low under the default
 * 1 s floor, and medium (capped) again when the floor is 200 ms. */
static void test_severity_floor(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 300);
    add_node("a", root, 0, 100);
    add_node("b", root, 100, 200);
    add_node("c", root, 200, 300);
    cfg.severity_min_ms = 1000;
    dp_run_profile *p = build();
    assert_int_equal(find(p, DP_REC_PARALLELIZE)->priority, DP_SEVERITY_LOW);
    dp_run_profile_destroy(p);
    cfg.severity_min_ms = 200;
    p = build();
    assert_int_equal(find(p, DP_REC_PARALLELIZE)->priority, DP_SEVERITY_MEDIUM);
    dp_run_profile_destroy(p);
}

/* Inferred chain of four 100 ms nodes: parallelize (saves 300) and
 * restructure_dag (critical path 400 - longest 100 = 300) claim the same
 * time: each lists the other, and both are hypotheses. */
static void test_overlapping_time_savings(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 400);
    add_node("a", root, 0, 100);
    add_node("b", root, 100, 200);
    add_node("c", root, 200, 300);
    add_node("d", root, 300, 400);
    dp_run_profile *p = build();
    const dp_recommendation *par = find(p, DP_REC_PARALLELIZE);
    const dp_recommendation *rs = find(p, DP_REC_RESTRUCTURE_DAG);
    assert_non_null(par);
    assert_non_null(rs);
    assert_float_equal(par->savings_time_ms, 300.0, EPS);
    assert_float_equal(rs->savings_time_ms, 300.0, EPS);
    assert_int_equal(par->overlaps, 1u << DP_REC_RESTRUCTURE_DAG);
    assert_int_equal(rs->overlaps, 1u << DP_REC_PARALLELIZE);
    assert_true(rs->hypothesis);
    assert_int_equal(rs->priority, DP_SEVERITY_MEDIUM); /* 75% of wall, capped */
    dp_run_profile_destroy(p);
}

/* A fully declared chain a -> b -> c already runs as early as it can. */
static void test_parallelize_not_when_chain_is_declared(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 300);
    add_node("a", root, 0, 100);
    sb_str(&t, add_node("b", root, 100, 200), "dag.depends_on", "a");
    sb_str(&t, add_node("c", root, 200, 300), "dag.depends_on", "b");
    dp_run_profile *p = build();
    assert_null(find(p, DP_REC_PARALLELIZE));
    dp_run_profile_destroy(p);
}

static int chat(int parent, double start, double end, const char *model, const char *input)
{
    int s = sb_span(&t, "chat", parent, start, end);
    sb_str(&t, s, "gen_ai.operation.name", "chat");
    sb_str(&t, s, "gen_ai.request.model", model);
    sb_int(&t, s, "gen_ai.usage.input_tokens", 1000);
    sb_int(&t, s, "gen_ai.usage.output_tokens", 100);
    if (input)
        sb_str(&t, s, "input.value", input);
    return s;
}

/* Three gpt-4o calls with input "hello" (200 ms each), one with "other", one on
 * gpt-4o-mini with "hello". Repeats: the 2nd and 3rd gpt-4o "hello" calls.
 * Each: (1000 * 2.5 + 100 * 10) / 1e6 = 0.0035. Savings: 400 ms, 2200 tokens, $0.007. */
static void test_cache(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 1000);
    int n = add_node("n", root, 0, 1000);
    chat(n, 0, 200, "gpt-4o", "hello");
    chat(n, 200, 400, "gpt-4o", "hello");
    chat(n, 400, 600, "gpt-4o", "hello");
    chat(n, 600, 800, "gpt-4o", "other");
    chat(n, 800, 1000, "gpt-4o-mini", "hello");
    dp_run_profile *p = build();
    const dp_recommendation *r = find(p, DP_REC_CACHE);
    assert_non_null(r);
    assert_float_equal(r->savings_time_ms, 400.0, EPS);
    assert_int_equal(r->savings_tokens, 2200);
    assert_float_equal(r->savings_cost_usd, 0.007, EPS);
    assert_true(r->savings_cost_known);
    /* the repeats are calls of node n, the only node */
    assert_int_equal(r->node_count, 1);
    assert_int_equal(r->nodes[0], 0);
    dp_run_profile_destroy(p);
}

static void test_cache_not_for_distinct_inputs(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 400);
    int n = add_node("n", root, 0, 400);
    chat(n, 0, 200, "gpt-4o", "one");
    chat(n, 200, 400, "gpt-4o", "two");
    chat(n, 200, 400, "gpt-4o", NULL); /* no input on the span: never compared */
    chat(n, 200, 400, "gpt-4o", NULL);
    dp_run_profile *p = build();
    assert_null(find(p, DP_REC_CACHE));
    dp_run_profile_destroy(p);
}

/* Only gpt-4o is used: the named cheaper sibling gpt-4o-mini is the target.
 * 1M input: gpt-4o $2.50, gpt-4o-mini $0.15 -> saves $2.35 (94% of cost: high). */
static void test_model_downgrade_sibling(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "gpt-4o", 1000000, 0);
    dp_run_profile *p = build();
    const dp_recommendation *r = find(p, DP_REC_MODEL_DOWNGRADE);
    assert_non_null(r);
    assert_float_equal(r->savings_cost_usd, 2.35, EPS);
    assert_int_equal(r->priority, DP_SEVERITY_HIGH);
    assert_non_null(strstr(r->description, "gpt-4o-mini"));
    assert_int_equal(r->node_count, 1); /* node a makes the gpt-4o call */
    assert_int_equal(r->nodes[0], 0);
    dp_run_profile_destroy(p);
}

/* gpt-4o has 100 of 1100 tokens (9% < 30%): no downgrade. */
static void test_model_downgrade_not_below_share(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "gpt-4o", 100, 0);
    sb_node(&t, sb_span(&t, "b", root, 0, 100), "b", "gpt-4o-mini", 1000, 0);
    dp_run_profile *p = build();
    assert_null(find(p, DP_REC_MODEL_DOWNGRADE));
    dp_run_profile_destroy(p);
}

/* inputs 10000 and 2000 on gpt-4o: mean 6000 > 4000 (not > 8000: medium);
 * tokens above 4000: 6000, at $2.50/1M = $0.015 */
static void test_reduce_context(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "gpt-4o", 10000, 0);
    sb_node(&t, sb_span(&t, "b", root, 0, 100), "b", "gpt-4o", 2000, 0);
    dp_run_profile *p = build();
    const dp_recommendation *r = find(p, DP_REC_REDUCE_CONTEXT);
    assert_non_null(r);
    assert_int_equal(r->savings_tokens, 6000);
    assert_float_equal(r->savings_cost_usd, 0.015, EPS);
    assert_int_equal(r->priority, DP_SEVERITY_MEDIUM);
    /* only a's call (10000) is above 4000; b's (2000) is not: nodes [a]
     * (a and b start together: a is node 0 by id) */
    assert_int_equal(r->node_count, 1);
    assert_string_equal(p->nodes[r->nodes[0]].id, "a");
    dp_run_profile_destroy(p);

    cfg.reduce_context_tokens = 6000; /* mean 6000 is not above */
    p = build();
    assert_null(find(p, DP_REC_REDUCE_CONTEXT));
    dp_run_profile_destroy(p);
}

/* reduce_context prices the tokens above the threshold at what the call's
 * input cost per token, cache and long-context tier included
 * (claude-sonnet-4-5: $3 in, $0.30 cache read; above 200000 input $6):
 *   a: 20000 input, 16000 of them cache read: input cost 4000*3 + 16000*0.30
 *      = 16800 -> 0.84 per token; 16000 above 4000 -> 16000*0.84 = 13440
 *      (at $3, 48000: more than all its input cost);
 *   b: 250000 input, above the tier: 246000 above 4000 at $6 = 1476000.
 * Saving (13440 + 1476000) / 1e6 = $1.48944; tokens 262000; mean 135000 >
 * 8000: high. */
static void test_reduce_context_cache_and_tier(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 100);
    int a = sb_span(&t, "a", root, 0, 100);
    sb_node(&t, a, "a", "claude-sonnet-4-5", 20000, 0);
    sb_int(&t, a, "gen_ai.usage.cache_read.input_tokens", 16000);
    sb_node(&t, sb_span(&t, "b", root, 0, 100), "b", "claude-sonnet-4-5", 250000, 0);
    dp_run_profile *p = build();
    const dp_recommendation *r = find(p, DP_REC_REDUCE_CONTEXT);
    assert_non_null(r);
    assert_int_equal(r->savings_tokens, 262000);
    assert_true(r->savings_cost_known);
    assert_float_equal(r->savings_cost_usd, 1.48944, EPS);
    assert_int_equal(r->priority, DP_SEVERITY_HIGH);
    dp_run_profile_destroy(p);
}

/* Five sequential 100 ms "lookup" tool calls in one node: busy 500 ms, one batched
 * call of the longest length (100) would save 400 ms. Four calls would not do. */
static void test_batch_operations(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 500);
    int n = add_node("n", root, 0, 500);
    for (int i = 0; i < 5; i++)
        sb_str(&t, sb_span(&t, "tool", n, i * 100.0, i * 100.0 + 100), "gen_ai.tool.name",
               "lookup");
    dp_run_profile *p = build();
    const dp_recommendation *r = find(p, DP_REC_BATCH_OPERATIONS);
    assert_non_null(r);
    assert_float_equal(r->savings_time_ms, 400.0, EPS);
    assert_int_equal(r->node_count, 1); /* the calls of node n */
    assert_string_equal(p->nodes[r->nodes[0]].id, "n");
    dp_run_profile_destroy(p);

    cfg.batch_min_calls = 6;
    p = build();
    assert_null(find(p, DP_REC_BATCH_OPERATIONS));
    dp_run_profile_destroy(p);
}

/* Overlapping small calls: 0..100, 50..150, 100..200, 300..400, 300..350:
 * busy = [0,200] + [300,400] = 300; minus longest 100 -> 200 ms. */
static void test_batch_operations_overlap(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 400);
    int n = add_node("n", root, 0, 400);
    const double iv[5][2] = {{0, 100}, {50, 150}, {100, 200}, {300, 400}, {300, 350}};
    for (int i = 0; i < 5; i++)
        sb_str(&t, sb_span(&t, "tool", n, iv[i][0], iv[i][1]), "gen_ai.tool.name", "lookup");
    dp_run_profile *p = build();
    const dp_recommendation *r = find(p, DP_REC_BATCH_OPERATIONS);
    assert_non_null(r);
    assert_float_equal(r->savings_time_ms, 200.0, EPS);
    dp_run_profile_destroy(p);
}

/* Declared chain a -> b -> c -> d of 100 ms each: critical path 4 nodes, 400 ms;
 * up to 400 - 100 = 300 ms. A chain of three is below the threshold of 4. */
static void test_restructure_dag(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 400);
    add_node("a", root, 0, 100);
    sb_str(&t, add_node("b", root, 100, 200), "dag.depends_on", "a");
    sb_str(&t, add_node("c", root, 200, 300), "dag.depends_on", "b");
    sb_str(&t, add_node("d", root, 300, 400), "dag.depends_on", "c");
    dp_run_profile *p = build();
    assert_int_equal(p->critical_path_count, 4);
    const dp_recommendation *r = find(p, DP_REC_RESTRUCTURE_DAG);
    assert_non_null(r);
    assert_float_equal(r->savings_time_ms, 300.0, EPS);
    assert_int_equal(r->priority, DP_SEVERITY_HIGH); /* 75% of wall */
    /* the nodes of the chain, in path order */
    assert_int_equal(r->node_count, 4);
    const char *chain[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(p->nodes[r->nodes[i]].id, chain[i]);
    dp_run_profile_destroy(p);

    cfg.restructure_chain_nodes = 5;
    p = build();
    assert_null(find(p, DP_REC_RESTRUCTURE_DAG));
    dp_run_profile_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_parallelize, setup),
        cmocka_unit_test_setup(test_parallelize_not_with_declared_deps, setup),
        cmocka_unit_test_setup(test_severity_floor, setup),
        cmocka_unit_test_setup(test_overlapping_time_savings, setup),
        cmocka_unit_test_setup(test_parallelize_not_when_chain_is_declared, setup),
        cmocka_unit_test_setup(test_cache, setup),
        cmocka_unit_test_setup(test_cache_not_for_distinct_inputs, setup),
        cmocka_unit_test_setup(test_model_downgrade_sibling, setup),
        cmocka_unit_test_setup(test_model_downgrade_not_below_share, setup),
        cmocka_unit_test_setup(test_reduce_context, setup),
        cmocka_unit_test_setup(test_reduce_context_cache_and_tier, setup),
        cmocka_unit_test_setup(test_batch_operations, setup),
        cmocka_unit_test_setup(test_batch_operations_overlap, setup),
        cmocka_unit_test_setup(test_restructure_dag, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

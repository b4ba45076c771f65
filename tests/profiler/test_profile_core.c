/*
 * Run profile core rules: run and DAG id, node selection (explicit ids,
 * gen_ai fallback, root children), inferred and explicit dependencies,
 * wait, critical path, wall, execution, parallelism and speed-up. Expected
 * values are worked out by hand in the comments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "profile_types.h"
#include "profile_lookup.h"
#include "report_figures.h"
#include "span_builder.h"

static sb_trace t;

#define EPS 1e-6

static dp_run_profile *build(const dp_profile_config *cfg)
{
    dp_profile_config defaults;
    if (!cfg) {
        dp_profile_config_defaults(&defaults);
        cfg = &defaults;
    }
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, cfg, &p), 0);
    assert_non_null(p);
    return p;
}

/*
 * The code-review DAG:
 *   root "code-review" 0..19000, dag.id code-review-dag
 *   fetch-code          0 .. 3421   haiku   in 1500 out  950
 *   analyze-complexity  3421 .. 11655 (8234)  sonnet in 5000 out 3230
 *   check-security      3421 .. 9421  (6000)  sonnet in 4200 out 2690
 *   review-performance  3500 .. 15956 (12456) sonnet in 4500 out 2950, dag.retries 1
 *   aggregate-results   15956 .. 18956 (3000) haiku  in 3040 out  390
 */
void build_code_review(sb_trace *tr);
void build_code_review(sb_trace *tr)
{
    sb_init(tr);
    int root = sb_span(tr, "code-review", -1, 0, 19000);
    sb_str(tr, root, "dag.id", "code-review-dag");
    int f = sb_span(tr, "fetch", root, 0, 3421);
    sb_node(tr, f, "fetch-code", "haiku", 1500, 950);
    int a = sb_span(tr, "analyze", root, 3421, 11655);
    sb_node(tr, a, "analyze-complexity", "sonnet", 5000, 3230);
    int c = sb_span(tr, "security", root, 3421, 9421);
    sb_node(tr, c, "check-security", "sonnet", 4200, 2690);
    int r = sb_span(tr, "perf", root, 3500, 15956);
    sb_node(tr, r, "review-performance", "sonnet", 4500, 2950);
    sb_int(tr, r, "dag.retries", 1);
    int g = sb_span(tr, "aggregate", root, 15956, 18956);
    sb_node(tr, g, "aggregate-results", "haiku", 3040, 390);
}

static void test_code_review_dag(void **state)
{
    (void)state;
    build_code_review(&t);
    dp_run_profile *p = build(NULL);

    assert_string_equal(p->dag_id, "code-review-dag");
    assert_int_equal(p->span_count, 6);
    assert_int_equal(p->node_source, DP_NODES_EXPLICIT);
    assert_false(p->explicit_deps);
    assert_int_equal(p->node_count, 5);
    /* start order, ties by id: analyze-complexity < check-security at 3421 */
    assert_string_equal(p->nodes[0].id, "fetch-code");
    assert_string_equal(p->nodes[1].id, "analyze-complexity");
    assert_string_equal(p->nodes[2].id, "check-security");
    assert_string_equal(p->nodes[3].id, "review-performance");
    assert_string_equal(p->nodes[4].id, "aggregate-results");

    /* wall = 19000 - 0; execution = 3421 + 8234 + 6000 + 12456 + 3000 = 33111 */
    assert_float_equal(p->wall_ms, 19000.0, EPS);
    assert_float_equal(p->execution_ms, 33111.0, EPS);
    /* parallelism = 33111 / 19000 */
    assert_float_equal(p->parallelism, 33111.0 / 19000.0, EPS);

    /* inferred deps: the three middle nodes depend on fetch-code (ended 3421 <= their
     * starts); aggregate depends directly on analyze, check and review; fetch-code is
     * implied through them (they started at/after it ended) so it is not listed */
    assert_true(depends(p, "analyze-complexity", "fetch-code"));
    assert_true(depends(p, "check-security", "fetch-code"));
    assert_true(depends(p, "review-performance", "fetch-code"));
    assert_int_equal(node(p, "aggregate-results")->dep_count, 3);
    assert_false(depends(p, "aggregate-results", "fetch-code"));
    assert_int_equal(node(p, "fetch-code")->dep_count, 0);

    /* wait: review-performance ready at 3421, started 3500 -> 79; others 0 */
    assert_float_equal(node(p, "review-performance")->wait_ms, 79.0, EPS);
    assert_float_equal(node(p, "analyze-complexity")->wait_ms, 0.0, EPS);
    assert_float_equal(node(p, "aggregate-results")->wait_ms, 0.0, EPS);
    assert_float_equal(node(p, "aggregate-results")->ready_ms, 15956.0, EPS);
    assert_float_equal(node(p, "review-performance")->execution_ms, 12456.0, EPS);

    /* critical path: fetch (3421) -> review (79 + 12456) -> aggregate (3000):
     * 18956 - ready(fetch)=0 = 18956; speed-up = 19000 / 18956 */
    assert_int_equal(p->critical_path_count, 3);
    assert_string_equal(p->nodes[p->critical_path[0]].id, "fetch-code");
    assert_string_equal(p->nodes[p->critical_path[1]].id, "review-performance");
    assert_string_equal(p->nodes[p->critical_path[2]].id, "aggregate-results");
    assert_float_equal(p->critical_path_ms, 18956.0, EPS);
    assert_float_equal(p->speedup, 19000.0 / 18956.0, EPS);
    assert_true(node(p, "review-performance")->on_critical_path);
    assert_false(node(p, "analyze-complexity")->on_critical_path);

    /* tokens: input 1500+5000+4200+4500+3040 = 18240; output 950+3230+2690+2950+390 = 10210 */
    assert_int_equal(p->tokens.input, 18240);
    assert_int_equal(p->tokens.output, 10210);
    assert_int_equal(dp_token_total(&p->tokens), 28450);
    assert_int_equal(dp_token_total(&node(p, "analyze-complexity")->tokens), 8230);

    /* cost (haiku alias $1/$5, sonnet alias $3/$15 per 1M):
     * fetch 1500*1 + 950*5 = 6250 -> 0.00625; aggregate 3040 + 1950 = 4990 -> 0.00499
     * analyze 15000 + 48450 -> 0.06345; check 12600 + 40350 -> 0.05295;
     * review 13500 + 44250 -> 0.05775; total 0.18539 */
    assert_float_equal(node(p, "fetch-code")->cost_usd, 0.00625, EPS);
    assert_float_equal(node(p, "review-performance")->cost_usd, 0.05775, EPS);
    assert_float_equal(p->cost_usd, 0.18539, EPS);
    assert_true(p->cost_complete);
    assert_int_equal(p->unknown_cost_calls, 0);

    /* by model from per-call tokens: sonnet 22570 tokens $0.17415, haiku 5880 $0.01124 */
    assert_int_equal(p->model_count, 2);
    assert_string_equal(p->models[0].model, "sonnet");
    assert_int_equal(p->models[0].calls, 3);
    assert_int_equal(dp_token_total(&p->models[0].tokens), 22570);
    assert_float_equal(p->models[0].cost_usd, 0.17415, EPS);
    assert_string_equal(p->models[1].model, "haiku");
    assert_int_equal(dp_token_total(&p->models[1].tokens), 5880);
    assert_float_equal(p->models[1].cost_usd, 0.01124, EPS);

    assert_int_equal(p->retries, 1);
    assert_int_equal(node(p, "review-performance")->retries, 1);
    assert_int_equal(p->llm_calls, 5);
    assert_int_equal(p->tool_calls, 0);

    /* No slow_node: mean execution 33111/5 = 6622.2, 2x = 13244.4 > 12456;
     * no high_token_usage: mean tokens 5690, 3x = 17070 > 8230; retries 1 < 2;
     * no wait > execution; no node over $0.10; no chain of 3 sequential siblings.
     * The node spans carry tokens, so each is an LLM call; those over 3000 ms are
     * slow_llm_call, impact = duration / wall 19000:
     *   review 12456 (> 10000: high) 65.557..%, analyze 8234 43.336..%,
     *   check 6000 31.578..%, fetch 3421 18.005..%; aggregate (3000) is not over. */
    assert_int_equal(p->bottleneck_count, 4);
    const char *order[] = {"review-performance", "analyze-complexity", "check-security",
                           "fetch-code"};
    const double dur[] = {12456, 8234, 6000, 3421};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(p->bottlenecks[i].type, DP_BOTTLENECK_SLOW_LLM_CALL);
        assert_string_equal(p->nodes[p->bottlenecks[i].node].id, order[i]);
        assert_float_equal(p->bottlenecks[i].impact_pct, dur[i] / 19000.0 * 100.0, EPS);
        assert_int_equal(p->bottlenecks[i].severity,
                         i == 0 ? DP_SEVERITY_HIGH : DP_SEVERITY_MEDIUM);
    }

    /* Recommendations. parallelize: no dependencies declared, so if the top-level nodes
     * were independent they would all start at 0 and end at the longest, 12456; they
     * ended at 18956: saves 6500 ms = 34.2% of wall -> high, but a hypothesis (the
     * dependencies are inferred): medium. speedup_if_independent = 19000 / (19000 - 6500).
     * model_downgrade: sonnet (3+15) is the priciest model, 22570/28450 = 79% of tokens
     * >= 30%; the cheapest Anthropic model used is haiku ($1/$5):
     *   analyze 0.06345 - (5000 + 3230*5)/1e6 = 0.06345 - 0.02115 = 0.0423
     *   check   0.05295 - (4200 + 2690*5)/1e6 = 0.05295 - 0.01765 = 0.0353
     *   review  0.05775 - (4500 + 2950*5)/1e6 = 0.05775 - 0.01925 = 0.0385
     *   saved 0.1161 = 62.6% of run cost -> high.
     * reduce_context: mean input 18240/5 = 3648 <= 4000: none. No repeated inputs, no
     * small call groups, critical path of 3 < 4 nodes: nothing else. */
    assert_int_equal(p->recommendation_count, 2);
    assert_int_equal(p->recommendations[0].type, DP_REC_PARALLELIZE);
    assert_float_equal(p->recommendations[0].savings_time_ms, 6500.0, EPS);
    assert_int_equal(p->recommendations[0].priority, DP_SEVERITY_MEDIUM);
    assert_true(p->recommendations[0].hypothesis);
    assert_float_equal(p->speedup_if_independent, 19000.0 / 12500.0, EPS);
    /* time and cost savings of different things: no overlap */
    assert_int_equal(p->recommendations[0].overlaps, 0);
    assert_int_equal(p->recommendations[1].overlaps, 0);
    assert_int_equal(p->recommendations[1].type, DP_REC_MODEL_DOWNGRADE);
    assert_float_equal(p->recommendations[1].savings_cost_usd, 0.1161, EPS);
    assert_int_equal(p->recommendations[1].priority, DP_SEVERITY_HIGH);
    /* the downgrade concerns the three sonnet nodes, in node order (fetch
     * 0, then analyze and check at 3421 by id, review at 3500) */
    assert_int_equal(p->recommendations[1].node_count, 3);
    const char *sonnet[] = {"analyze-complexity", "check-security", "review-performance"};
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(p->nodes[p->recommendations[1].nodes[i]].id, sonnet[i]);

    /* Top fixes (metrics.md section 15): model_downgrade 0.1161 / 0.18539 =
     * 62.62 % of the cost, then parallelize 6500 / 19000 = 34.21 % of the wall
     * time; no overlap, so together 6500 ms and $0.1161 exactly. Cost per
     * 1,000 runs: 0.18539 x 1000 = 185.39. */
    dp_top_fixes top;
    dp_report_top_fixes(p, &top);
    assert_int_equal(top.count, 2);
    assert_int_equal(top.rec[0], 1);
    assert_int_equal(top.rec[1], 0);
    assert_float_equal(top.share_pct[0], 0.1161 / 0.18539 * 100, 1e-6);
    assert_float_equal(top.share_pct[1], 6500.0 / 19000.0 * 100, 1e-6);
    assert_int_equal(top.share_of[0], DP_SHARE_COST);
    assert_int_equal(top.share_of[1], DP_SHARE_WALL_TIME);
    assert_false(top.overlapping);
    assert_float_equal(top.at_least.time_ms, 6500.0, EPS);
    assert_float_equal(top.at_most.time_ms, 6500.0, EPS);
    assert_float_equal(top.at_least.cost_usd, 0.1161, EPS);
    assert_float_equal(top.at_most.cost_usd, 0.1161, EPS);
    double per_1000;
    assert_true(dp_report_cost_per_1000_runs(p, &per_1000));
    assert_float_equal(per_1000, 185.39, 1e-9);
    dp_run_profile_destroy(p);
}

static void test_empty_trace(void **state)
{
    (void)state;
    sb_init(&t);
    dp_run_profile *p = build(NULL);
    assert_int_equal(p->node_count, 0);
    assert_int_equal(p->span_count, 0);
    assert_float_equal(p->wall_ms, 0.0, EPS);
    assert_float_equal(p->parallelism, 0.0, EPS);
    assert_int_equal(p->critical_path_count, 0);
    assert_string_equal(p->dag_id, "unknown");
    dp_run_profile_destroy(p);
}

static void test_single_span_is_its_own_node(void **state)
{
    (void)state;
    sb_init(&t);
    sb_span(&t, "lonely", -1, 10, 60);
    dp_run_profile *p = build(NULL);
    assert_int_equal(p->node_source, DP_NODES_ROOT_CHILDREN);
    assert_int_equal(p->node_count, 1);
    assert_string_equal(p->nodes[0].id, "lonely");
    assert_string_equal(p->dag_id, "lonely"); /* root span name fallback */
    /* run starts at the span's start: start 0, duration 50, critical path 50 */
    assert_float_equal(p->nodes[0].start_ms, 0.0, EPS);
    assert_float_equal(p->critical_path_ms, 50.0, EPS);
    assert_float_equal(p->speedup, 1.0, EPS);
    dp_run_profile_destroy(p);
}

static void test_root_children_fallback(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "workflow", -1, 0, 100);
    sb_str(&t, root, "gen_ai.workflow.name", "wf-name");
    int a = sb_span(&t, "step", root, 0, 40);
    sb_span(&t, "step", root, 50, 90); /* same name, first did not fail: a second node */
    sb_span(&t, "inner", a, 5, 10);    /* belongs to the first step */
    dp_run_profile *p = build(NULL);
    assert_string_equal(p->dag_id, "wf-name");
    assert_int_equal(p->node_source, DP_NODES_ROOT_CHILDREN);
    assert_int_equal(p->node_count, 2);
    assert_string_equal(p->nodes[0].id, "step");
    assert_string_equal(p->nodes[1].id, "step#2");
    assert_int_equal(p->nodes[0].span_count, 2);
    /* step#2 started at 50 after step ended at 40: inferred dependency, wait 10 */
    assert_true(depends(p, "step#2", "step"));
    assert_float_equal(p->nodes[1].wait_ms, 10.0, EPS);
    dp_run_profile_destroy(p);
}

/* Agent and tool spans under the root are nodes like any root child, named
 * by gen_ai.agent.name / gen_ai.tool.name. */
static void test_gen_ai_root_children_named(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 1000);
    int agent = sb_span(&t, "invoke_agent planner", root, 0, 600);
    sb_str(&t, agent, "gen_ai.operation.name", "invoke_agent");
    sb_str(&t, agent, "gen_ai.agent.name", "planner");
    int chat = sb_span(&t, "chat gpt-4o", agent, 10, 300);
    sb_str(&t, chat, "gen_ai.operation.name", "chat");
    sb_int(&t, chat, "gen_ai.usage.input_tokens", 100);
    int tool = sb_span(&t, "execute_tool search", root, 650, 900);
    sb_str(&t, tool, "gen_ai.operation.name", "execute_tool");
    sb_str(&t, tool, "gen_ai.tool.name", "search");
    dp_run_profile *p = build(NULL);
    assert_int_equal(p->node_source, DP_NODES_ROOT_CHILDREN);
    /* nested chat is not a node: it belongs to the agent */
    assert_int_equal(p->node_count, 2);
    assert_string_equal(p->nodes[0].id, "planner");
    assert_string_equal(p->nodes[1].id, "search");
    assert_int_equal(p->nodes[0].llm_calls, 1);
    assert_int_equal(p->nodes[0].tokens.input, 100);
    assert_int_equal(p->nodes[1].tool_call_count, 1);
    assert_true(depends(p, "search", "planner")); /* 600 <= 650 */
    dp_run_profile_destroy(p);
}

/* The user's own step spans are the nodes even when some model calls carry
 * gen_ai.operation.name: the calls belong to the step that made them. */
static void test_user_steps_over_model_calls(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 1000);
    int plan = sb_span(&t, "plan", root, 0, 400);
    int chat = sb_span(&t, "chat gpt-4o-mini", plan, 10, 390);
    sb_str(&t, chat, "gen_ai.operation.name", "chat");
    sb_int(&t, chat, "gen_ai.usage.input_tokens", 70);
    int fetch = sb_span(&t, "fetch", root, 400, 900);
    (void)fetch;
    dp_run_profile *p = build(NULL);
    assert_int_equal(p->node_source, DP_NODES_ROOT_CHILDREN);
    assert_int_equal(p->node_count, 2);
    assert_string_equal(p->nodes[0].id, "plan");
    assert_string_equal(p->nodes[1].id, "fetch");
    assert_int_equal(p->nodes[0].llm_calls, 1);
    assert_int_equal(p->nodes[0].tokens.input, 70);
    dp_run_profile_destroy(p);
}

/* Two parallel branches of two nodes each under one root.
 *   a1 0..100, a2 100..300 (branch A, 300 long)
 *   b1 0..50,  b2 60..110  (branch B)
 * Inferred: a2 <- {a1, b1} (both ended <= 100); b2 <- {b1} (ended 50 <= 60);
 * ready(b2) = 50, wait 10. Critical path ends at a2 (300): a1 (100) then a2 (wait 0 + 200)
 * = 300 beats b1 (50) then a2 (200) = 250. Execution 100+200+50+50 = 400, wall 300, parallelism
 * 4/3. */
static void test_parallel_branches(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 300);
    sb_str(&t, sb_span(&t, "a1", root, 0, 100), "dag.node.id", "a1");
    sb_str(&t, sb_span(&t, "a2", root, 100, 300), "dag.node.id", "a2");
    sb_str(&t, sb_span(&t, "b1", root, 0, 50), "dag.node.id", "b1");
    sb_str(&t, sb_span(&t, "b2", root, 60, 110), "dag.node.id", "b2");
    dp_run_profile *p = build(NULL);
    assert_true(depends(p, "a2", "a1"));
    assert_true(depends(p, "a2", "b1"));
    assert_true(depends(p, "b2", "b1"));
    assert_false(depends(p, "b2", "a1"));
    assert_float_equal(node(p, "b2")->wait_ms, 10.0, EPS);
    assert_float_equal(p->execution_ms, 400.0, EPS);
    assert_float_equal(p->parallelism, 400.0 / 300.0, EPS);
    assert_int_equal(p->critical_path_count, 2);
    assert_string_equal(p->nodes[p->critical_path[0]].id, "a1");
    assert_string_equal(p->nodes[p->critical_path[1]].id, "a2");
    assert_float_equal(p->critical_path_ms, 300.0, EPS);
    assert_false(node(p, "b2")->on_critical_path);
    dp_run_profile_destroy(p);
}

/* Explicit dependencies in all three forms; they replace inference.
 *   x 0..100; y 0..50 (y depends on nothing); z 120..200 depends_on "x, y" (string)
 *   w 210..260 depends on z via dag.depends_on array, u 200..230 linked to y,
 *   v 100..150 graph.node.parent_id = x.
 * z: ready = max(100, 50) = 100 -> wait 20. w: ready 200, wait 10.
 * u: ready 50, wait 150. v: ready 100, wait 0.
 * Critical path: x(100) -> z(20+80) -> w(10+50) = 260 = end(w) - ready(x). */
static void test_explicit_dependencies(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 260);
    int x = sb_span(&t, "x", root, 0, 100);
    sb_str(&t, x, "dag.node.id", "x");
    int y = sb_span(&t, "y", root, 0, 50);
    sb_str(&t, y, "dag.node.id", "y");
    int z = sb_span(&t, "z", root, 120, 200);
    sb_str(&t, z, "dag.node.id", "z");
    sb_str(&t, z, "dag.depends_on", "x, y");
    int w = sb_span(&t, "w", root, 210, 260);
    sb_str(&t, w, "dag.node.id", "w");
    const char *wdeps[] = {"z", "no-such-node"};
    sb_strs(&t, w, "dag.node.depends_on", wdeps, 2);
    int u = sb_span(&t, "u", root, 200, 230);
    sb_str(&t, u, "dag.node.id", "u");
    sb_link(&t, u, y);
    int v = sb_span(&t, "v", root, 100, 150);
    sb_str(&t, v, "graph.node.id", "v");
    sb_str(&t, v, "graph.node.parent_id", "x");
    dp_run_profile *p = build(NULL);
    assert_true(p->explicit_deps);
    assert_int_equal(node(p, "y")->dep_count, 0);
    assert_int_equal(node(p, "z")->dep_count, 2);
    assert_true(depends(p, "z", "x") && depends(p, "z", "y"));
    assert_int_equal(node(p, "w")->dep_count, 1);
    assert_true(depends(p, "u", "y"));
    assert_true(depends(p, "v", "x"));
    /* u started after x ended but declares no dependency on it: no edge */
    assert_false(depends(p, "u", "x"));
    assert_int_equal(p->ignored_values, 1); /* "no-such-node" */
    assert_float_equal(node(p, "z")->wait_ms, 20.0, EPS);
    assert_float_equal(node(p, "w")->wait_ms, 10.0, EPS);
    assert_float_equal(node(p, "u")->wait_ms, 150.0, EPS);
    assert_float_equal(node(p, "v")->wait_ms, 0.0, EPS);
    assert_int_equal(p->critical_path_count, 3);
    assert_string_equal(p->nodes[p->critical_path[0]].id, "x");
    assert_string_equal(p->nodes[p->critical_path[2]].id, "w");
    assert_float_equal(p->critical_path_ms, 260.0, EPS);
    dp_run_profile_destroy(p);
}

/* Nested nodes: child nodes depend only on siblings; a node without
 * dependencies is ready at its parent node's start. */
static void test_nested_nodes_ready_at_parent_start(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 500);
    int outer = sb_span(&t, "outer", root, 100, 500);
    sb_str(&t, outer, "dag.node.id", "outer");
    int c1 = sb_span(&t, "c1", outer, 150, 250);
    sb_str(&t, c1, "dag.node.id", "c1");
    int c2 = sb_span(&t, "c2", outer, 260, 400);
    sb_str(&t, c2, "dag.node.id", "c2");
    dp_run_profile *p = build(NULL);
    assert_int_equal(node(p, "c1")->parent_node, (int)(node(p, "outer") - p->nodes));
    /* c1: ready = outer start 100 -> wait 50; c2 <- c1: ready 250, wait 10 */
    assert_float_equal(node(p, "c1")->wait_ms, 50.0, EPS);
    assert_float_equal(node(p, "c2")->wait_ms, 10.0, EPS);
    assert_float_equal(node(p, "outer")->wait_ms, 100.0, EPS); /* run start 0 */
    assert_false(depends(p, "c1", "outer"));
    dp_run_profile_destroy(p);
}

/* Parent cycles and end-before-start never crash; the bad end is counted. */
static void test_bad_structure(void **state)
{
    (void)state;
    sb_init(&t);
    int a = sb_span(&t, "a", -1, 0, 10);
    int b = sb_span(&t, "b", a, 5, 3); /* ends before it starts */
    t.spans[a].has_parent = true;      /* a's parent is b: a cycle, no root */
    sb_span_id(b, t.spans[a].parent_span_id);
    dp_run_profile *p = build(NULL);
    assert_int_equal(p->span_count, 2);
    assert_true(p->ignored_values >= 1);
    assert_float_equal(p->wall_ms, 10.0, EPS);
    dp_run_profile_destroy(p);
}

/* 100 overlapping siblings p0..p99 (p_i runs 0 .. 10+i), then "after" at 200..300.
 * All 100 ended before "after" started and none started after another ended, so all
 * are direct dependencies; the list keeps the 64 latest-ending (p36..p99).
 * ready = end of p99 = 109, wait = 200 - 109 = 91. */
static void test_many_parallel_dependencies(void **state)
{
    (void)state;
    static char ids[100][8];
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 300);
    for (int i = 0; i < 100; i++) {
        snprintf(ids[i], sizeof(ids[i]), "p%d", i);
        sb_str(&t, sb_span(&t, ids[i], root, 0, 10 + i), "dag.node.id", ids[i]);
    }
    sb_str(&t, sb_span(&t, "after", root, 200, 300), "dag.node.id", "after");
    dp_run_profile *p = build(NULL);
    const dp_node_profile *a = node(p, "after");
    assert_int_equal(a->dep_count, 64);
    assert_true(depends(p, "after", "p99"));
    assert_true(depends(p, "after", "p36"));
    assert_false(depends(p, "after", "p35"));
    assert_float_equal(a->ready_ms, 109.0, EPS);
    assert_float_equal(a->wait_ms, 91.0, EPS);
    dp_run_profile_destroy(p);
}

/* A declared dependency that ends after its dependant started (clock skew or a
 * wrong declaration), and a dependency cycle:
 *   root 0..40; x 0..10 depends on y; y 0..20; z 30..40 depends on x.
 * x is ready at 20 (y's end) but started at 0. The path that ends last runs
 * x -> z (z's only dependency); it begins at min(ready 20, start 0) = 0 and
 * ends at z's end 40: 40 ms, not 40 - 20 = 20.
 * Cycle: p 0..10 depends on q, q 0..15 depends on p; the path ends at q (the
 * latest end, 15) and cannot be shorter than q itself: >= 15 ms. */
static void test_critical_path_skewed_dependency(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 40);
    int x = sb_span(&t, "x", root, 0, 10);
    sb_str(&t, x, "dag.node.id", "x");
    sb_str(&t, x, "dag.depends_on", "y");
    int y = sb_span(&t, "y", root, 0, 20);
    sb_str(&t, y, "dag.node.id", "y");
    int z = sb_span(&t, "z", root, 30, 40);
    sb_str(&t, z, "dag.node.id", "z");
    sb_str(&t, z, "dag.depends_on", "x");
    dp_run_profile *p = build(NULL);
    assert_float_equal(p->critical_path_ms, 40.0, EPS);
    assert_true(p->speedup <= 1.0 + EPS);
    dp_run_profile_destroy(p);

    sb_init(&t);
    root = sb_span(&t, "run", -1, 0, 15);
    int pp = sb_span(&t, "p", root, 0, 10);
    sb_str(&t, pp, "dag.node.id", "p");
    sb_str(&t, pp, "dag.depends_on", "q");
    int q = sb_span(&t, "q", root, 0, 15);
    sb_str(&t, q, "dag.node.id", "q");
    sb_str(&t, q, "dag.depends_on", "p");
    p = build(NULL);
    assert_true(p->critical_path_ms >= 15.0 - EPS);
    dp_run_profile_destroy(p);
}

/* OpenTelemetry JS SDKs take a span's start from Date.now() (whole
 * milliseconds) and its end from a sub-millisecond clock, so a step that
 * started right after another can be recorded up to 1 ms before that one's
 * end. Inference tolerates such an overlap (less than 1 ms):
 *   plan 0..10.6; draft 11..40; review 11..3070.352; check 3069..3075 (ran
 *   1.352 ms alongside review: parallel); summarize 3070..3078 (0.352 ms).
 * summarize depends on review (and draft, which no later sibling follows):
 * ready 3070.352 > start, wait 0, no dependency_wait. check depends on
 * draft only: ready 40, wait 3029. Critical path plan -> review -> summarize,
 * 3078 - 0 = 3078 ms. A strict "ended at or before" gave summarize ready 40
 * (draft) and a wait of 3030 ms. */
static void test_inferred_js_clock_overlap(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 3080);
    sb_span(&t, "plan", root, 0, 10.6);
    sb_span(&t, "draft", root, 11, 40);
    sb_span(&t, "review", root, 11, 3070.352);
    sb_span(&t, "check", root, 3069, 3075);
    sb_span(&t, "summarize", root, 3070, 3078);
    dp_run_profile *p = build(NULL);
    assert_int_equal(p->node_count, 5);
    assert_true(depends(p, "review", "plan"));
    assert_true(depends(p, "draft", "plan"));
    assert_true(depends(p, "summarize", "review"));
    assert_true(depends(p, "summarize", "draft"));
    assert_false(depends(p, "summarize", "plan"));
    assert_false(depends(p, "check", "review"));
    assert_true(depends(p, "check", "draft"));
    assert_float_equal(node(p, "summarize")->ready_ms, 3070.352, EPS);
    assert_float_equal(node(p, "summarize")->wait_ms, 0.0, EPS);
    assert_float_equal(node(p, "check")->wait_ms, 3029.0, EPS);
    assert_int_equal(p->critical_path_count, 3);
    assert_string_equal(p->nodes[p->critical_path[0]].id, "plan");
    assert_string_equal(p->nodes[p->critical_path[1]].id, "review");
    assert_string_equal(p->nodes[p->critical_path[2]].id, "summarize");
    assert_float_equal(p->critical_path_ms, 3078.0, EPS);
    for (size_t i = 0; i < p->bottleneck_count; i++) {
        bool wait_on_summarize = p->bottlenecks[i].type == DP_BOTTLENECK_DEPENDENCY_WAIT &&
                                 p->bottlenecks[i].node >= 0 &&
                                 strcmp(p->nodes[p->bottlenecks[i].node].id, "summarize") == 0;
        assert_false(wait_on_summarize);
    }
    dp_run_profile_destroy(p);
}

/* dag.depends_on given as one integer names a node id like an array of
 * integers does: node "2" (50..90) depends on node "1" (0..40); ready 40,
 * wait 50 - 40 = 10; one coerced value. */
static void test_depends_on_single_integer(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 100);
    int a = sb_span(&t, "first", root, 0, 40);
    sb_str(&t, a, "dag.node.id", "1");
    int b = sb_span(&t, "second", root, 50, 90);
    sb_str(&t, b, "dag.node.id", "2");
    sb_int(&t, b, "dag.depends_on", 1);
    dp_run_profile *p = build(NULL);
    const dp_node_profile *n2 = node(p, "2");
    assert_int_equal(n2->dep_count, 1);
    assert_string_equal(p->nodes[n2->deps[0]].id, "1");
    assert_float_equal(n2->wait_ms, 10.0, EPS);
    assert_int_equal(p->coerced_values, 1);
    assert_true(p->explicit_deps);
    dp_run_profile_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_review_dag),
        cmocka_unit_test(test_empty_trace),
        cmocka_unit_test(test_single_span_is_its_own_node),
        cmocka_unit_test(test_root_children_fallback),
        cmocka_unit_test(test_gen_ai_root_children_named),
        cmocka_unit_test(test_user_steps_over_model_calls),
        cmocka_unit_test(test_parallel_branches),
        cmocka_unit_test(test_explicit_dependencies),
        cmocka_unit_test(test_nested_nodes_ready_at_parent_start),
        cmocka_unit_test(test_bad_structure),
        cmocka_unit_test(test_many_parallel_dependencies),
        cmocka_unit_test(test_critical_path_skewed_dependency),
        cmocka_unit_test(test_depends_on_single_integer),
        cmocka_unit_test(test_inferred_js_clock_overlap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Bottleneck detection: every type triggering (with its severity and
 * impact worked out by hand) and not triggering, thresholds from the config.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "profile_types.h"
#include "span_builder.h"

static sb_trace t;

#define EPS 1e-6

static dp_profile_config cfg;

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

static size_t count_type(const dp_run_profile *p, enum dp_bottleneck_type type)
{
    size_t n = 0;
    for (size_t i = 0; i < p->bottleneck_count; i++)
        n += p->bottlenecks[i].type == type;
    return n;
}

static const dp_bottleneck *find_type(const dp_run_profile *p, enum dp_bottleneck_type type)
{
    for (size_t i = 0; i < p->bottleneck_count; i++) {
        if (p->bottlenecks[i].type == type)
            return &p->bottlenecks[i];
    }
    fail_msg("no bottleneck of type %d", (int)type);
    return NULL;
}

static const char *node_id(const dp_run_profile *p, const dp_bottleneck *b)
{
    return b->node >= 0 ? p->nodes[b->node].id : "(run)";
}

static int add_node(const char *id, int parent, double start, double end)
{
    int s = sb_span(&t, id, parent, start, end);
    sb_str(&t, s, "dag.node.id", id);
    return s;
}

/* five nodes of 100 ms and one of 2000, all starting at 0: mean = 2500/6 = 416.67;
 * 2000 > 4 x 416.67 = 1666.7 -> high; impact 2000 / wall 2000 = 100% */
static void test_slow_node(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 2000);
    const char *ids[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        add_node(ids[i], root, 0, 100);
    add_node("slow", root, 0, 2000);
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_SLOW_NODE), 1);
    const dp_bottleneck *b = find_type(p, DP_BOTTLENECK_SLOW_NODE);
    assert_string_equal(node_id(p, b), "slow");
    assert_int_equal(b->severity, DP_SEVERITY_HIGH);
    assert_float_equal(b->impact_pct, 100.0, EPS);
    dp_run_profile_destroy(p);

    /* 2000 / 416.67 = 4.8x: below a factor of 5 nothing fires */
    cfg.slow_node_factor = 5.0;
    p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_SLOW_NODE), 0);
    dp_run_profile_destroy(p);
}

/* three 100 ms nodes and one of 500: mean 200; 500 > 400 but not > 800 -> medium */
static void test_slow_node_medium(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 500);
    add_node("a", root, 0, 100);
    add_node("b", root, 0, 100);
    add_node("c", root, 0, 100);
    add_node("d", root, 0, 500);
    dp_run_profile *p = build();
    assert_int_equal(find_type(p, DP_BOTTLENECK_SLOW_NODE)->severity, DP_SEVERITY_MEDIUM);
    assert_float_equal(find_type(p, DP_BOTTLENECK_SLOW_NODE)->impact_pct, 100.0, EPS);
    dp_run_profile_destroy(p);
}

/* tokens 100, 100, 100, 1000: mean 325; 1000 > 975 (3x) but not > 1625 (5x): medium.
 * haiku: a, b, c 100 input -> $0.0001 each; d 1000 output -> $0.005;
 * impact = 0.005 / 0.0053 = 94.34% of cost. */
static void test_high_token_usage(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_node(&t, sb_span(&t, "a", root, 0, 10), "a", "haiku", 100, 0);
    sb_node(&t, sb_span(&t, "b", root, 0, 10), "b", "haiku", 100, 0);
    sb_node(&t, sb_span(&t, "c", root, 0, 10), "c", "haiku", 100, 0);
    sb_node(&t, sb_span(&t, "d", root, 0, 10), "d", "haiku", 0, 1000);
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_HIGH_TOKEN_USAGE), 1);
    const dp_bottleneck *b = find_type(p, DP_BOTTLENECK_HIGH_TOKEN_USAGE);
    assert_string_equal(node_id(p, b), "d");
    assert_int_equal(b->severity, DP_SEVERITY_MEDIUM);
    assert_float_equal(b->impact_pct, 0.005 / 0.0053 * 100.0, EPS);
    dp_run_profile_destroy(p);

    cfg.token_usage_factor = 3.1; /* 1000 / 325 = 3.08 */
    p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_HIGH_TOKEN_USAGE), 0);
    dp_run_profile_destroy(p);
}

/* Unknown cost: impact is the token share, 1000 / 1300 = 76.92% */
static void test_high_token_usage_unknown_cost(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_node(&t, sb_span(&t, "a", root, 0, 10), "a", NULL, 100, 0);
    sb_node(&t, sb_span(&t, "b", root, 0, 10), "b", NULL, 100, 0);
    sb_node(&t, sb_span(&t, "c", root, 0, 10), "c", NULL, 100, 0);
    sb_node(&t, sb_span(&t, "d", root, 0, 10), "d", NULL, 0, 1000);
    dp_run_profile *p = build();
    assert_float_equal(find_type(p, DP_BOTTLENECK_HIGH_TOKEN_USAGE)->impact_pct,
                       1000.0 / 1300.0 * 100.0, EPS);
    dp_run_profile_destroy(p);
}

/* retries 2 -> medium, 3 -> high, 1 -> none. Node a 0..300 with 2 retries:
 * time lost estimated 300 * 2/3 = 200 of wall 300 = 66.67% */
static void test_excessive_retries(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 300);
    sb_int(&t, add_node("a", root, 0, 300), "dag.retries", 2);
    sb_int(&t, add_node("b", root, 0, 300), "dag.retries", 3);
    sb_int(&t, add_node("c", root, 0, 300), "dag.retries", 1);
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_EXCESSIVE_RETRIES), 2);
    for (size_t i = 0; i < p->bottleneck_count; i++) {
        const dp_bottleneck *b = &p->bottlenecks[i];
        if (b->type != DP_BOTTLENECK_EXCESSIVE_RETRIES)
            continue;
        if (strcmp(node_id(p, b), "a") == 0) {
            assert_int_equal(b->severity, DP_SEVERITY_MEDIUM);
            assert_float_equal(b->impact_pct, 200.0 / 300.0 * 100.0, EPS);
        } else {
            assert_string_equal(node_id(p, b), "b");
            assert_int_equal(b->severity, DP_SEVERITY_HIGH);
            assert_float_equal(b->impact_pct, 225.0 / 300.0 * 100.0, EPS); /* 300 * 3/4 */
        }
    }
    dp_run_profile_destroy(p);
}

/* tool calls: 1500 ms (medium) in a; 6000 ms (high) in b; 900 ms in c (none).
 * impact = slow time / wall 10000 */
static void test_tool_latency(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 10000);
    int a = add_node("a", root, 0, 2000);
    sb_str(&t, sb_span(&t, "tool", a, 0, 1500), "gen_ai.tool.name", "search");
    int b = add_node("b", root, 0, 7000);
    sb_str(&t, sb_span(&t, "tool", b, 0, 6000), "gen_ai.tool.name", "crawl");
    int c = add_node("c", root, 0, 10000);
    sb_str(&t, sb_span(&t, "tool", c, 0, 900), "gen_ai.tool.name", "grep");
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_TOOL_LATENCY), 2);
    for (size_t i = 0; i < p->bottleneck_count; i++) {
        const dp_bottleneck *x = &p->bottlenecks[i];
        if (x->type != DP_BOTTLENECK_TOOL_LATENCY)
            continue;
        bool is_a = strcmp(node_id(p, x), "a") == 0;
        assert_int_equal(x->severity, is_a ? DP_SEVERITY_MEDIUM : DP_SEVERITY_HIGH);
        assert_float_equal(x->impact_pct, is_a ? 15.0 : 60.0, EPS);
    }
    dp_run_profile_destroy(p);
}

/* LLM calls: 3500 ms (medium), 12000 ms (high), 2999 ms (none); wall 20000 */
static void test_slow_llm_call(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 20000);
    int a = add_node("a", root, 0, 4000);
    sb_str(&t, sb_span(&t, "chat", a, 0, 3500), "gen_ai.operation.name", "chat");
    int b = add_node("b", root, 0, 13000);
    sb_str(&t, sb_span(&t, "chat", b, 0, 12000), "gen_ai.operation.name", "chat");
    int c = add_node("c", root, 0, 20000);
    sb_str(&t, sb_span(&t, "chat", c, 0, 2999), "gen_ai.operation.name", "chat");
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_SLOW_LLM_CALL), 2);
    /* sorted by impact: b (12000/20000 = 60%) before a (3500/20000 = 17.5%) */
    const dp_bottleneck *first = find_type(p, DP_BOTTLENECK_SLOW_LLM_CALL);
    assert_string_equal(node_id(p, first), "b");
    assert_int_equal(first->severity, DP_SEVERITY_HIGH);
    assert_float_equal(first->impact_pct, 60.0, EPS);
    dp_run_profile_destroy(p);
}

/* b depends on a (ended 100) but starts at 350 and runs 50: wait 250 > 2 x 50 -> high,
 * impact 250 / 400 = 62.5%. c depends on a, starts 120, runs 280: wait 20, no finding. */
static void test_dependency_wait(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 400);
    add_node("a", root, 0, 100);
    sb_str(&t, add_node("b", root, 350, 400), "dag.depends_on", "a");
    sb_str(&t, add_node("c", root, 120, 400), "dag.depends_on", "a");
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_DEPENDENCY_WAIT), 1);
    const dp_bottleneck *b = find_type(p, DP_BOTTLENECK_DEPENDENCY_WAIT);
    assert_string_equal(node_id(p, b), "b");
    assert_int_equal(b->severity, DP_SEVERITY_HIGH);
    assert_float_equal(b->impact_pct, 62.5, EPS);
    dp_run_profile_destroy(p);
}

/* a 0..100, b 100..200, c 200..300 with nothing declared: a chain of 3.
 * impact = (300 - longest 100) / wall 300 = 66.67% -> high (>= 50%), but
 * nothing says they could overlap: a hypothesis, medium at most */
static void test_sequential_inferred(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 300);
    add_node("a", root, 0, 100);
    add_node("b", root, 100, 200);
    add_node("c", root, 200, 300);
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_SEQUENTIAL), 1);
    const dp_bottleneck *b = find_type(p, DP_BOTTLENECK_SEQUENTIAL);
    assert_string_equal(node_id(p, b), "a");
    assert_int_equal(b->severity, DP_SEVERITY_MEDIUM);
    assert_true(b->hypothesis);
    assert_float_equal(b->impact_pct, 200.0 / 300.0 * 100.0, EPS);
    dp_run_profile_destroy(p);

    cfg.sequential_min_nodes = 4;
    p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_SEQUENTIAL), 0);
    dp_run_profile_destroy(p);
}

/* The same chain as recorded by an OpenTelemetry JS SDK (starts in whole
 * milliseconds, ends finer): a 0..1000.4, b 1000..2000.7, c 2000..3000; each
 * start is under 1 ms before the previous end, so they still ran one after
 * the other. A step that overlapped the previous one by 1 ms or more
 * (d 2999..3500) breaks the chain: a chain of 3, not 4. impact =
 * (1000.4 + 1000.7 + 1000 - longest 1000.7) / wall 3500 = 57.15%: high by
 * share, medium as a hypothesis. */
static void test_sequential_js_clock(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 3500);
    add_node("a", root, 0, 1000.4);
    add_node("b", root, 1000, 2000.7);
    add_node("c", root, 2000, 3000);
    add_node("d", root, 2999, 3500);
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_SEQUENTIAL), 1);
    const dp_bottleneck *b = find_type(p, DP_BOTTLENECK_SEQUENTIAL);
    assert_string_equal(node_id(p, b), "a");
    assert_int_equal(b->severity, DP_SEVERITY_MEDIUM);
    assert_float_equal(b->impact_pct, 2000.4 / 3500.0 * 100.0, EPS);
    dp_run_profile_destroy(p);
}

/* The severity steps of sequential_bottleneck come from the config.
 * a 0..100, b 100..200, c 200..300 in a run of wall 800; d 300..800 declares
 * its dependency on c, so the run's edges are declared and a, b, c ran one
 * after another with none between them (not a hypothesis):
 * impact = (300 - longest 100) / 800 = 25% (exactly: 200/800 = 0.25). */
static void test_sequential_severity_configured(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 800);
    add_node("a", root, 0, 100);
    add_node("b", root, 100, 200);
    add_node("c", root, 200, 300);
    sb_str(&t, add_node("d", root, 300, 800), "dag.depends_on", "c");

    /* defaults: 20 <= 25 < 50 -> medium */
    dp_run_profile *p = build();
    const dp_bottleneck *b = find_type(p, DP_BOTTLENECK_SEQUENTIAL);
    assert_float_equal(b->impact_pct, 25.0, EPS);
    assert_int_equal(b->severity, DP_SEVERITY_MEDIUM);
    dp_run_profile_destroy(p);

    /* high from 25%: 25 >= 25 -> high */
    cfg.sequential_high_impact_pct = 25.0;
    p = build();
    assert_int_equal(find_type(p, DP_BOTTLENECK_SEQUENTIAL)->severity, DP_SEVERITY_HIGH);
    dp_run_profile_destroy(p);

    /* medium from 30%, high from 60%: 25 < 30 -> low */
    cfg.sequential_medium_impact_pct = 30.0;
    cfg.sequential_high_impact_pct = 60.0;
    p = build();
    assert_int_equal(find_type(p, DP_BOTTLENECK_SEQUENTIAL)->severity, DP_SEVERITY_LOW);
    assert_float_equal(find_type(p, DP_BOTTLENECK_SEQUENTIAL)->impact_pct, 25.0, EPS);
    dp_run_profile_destroy(p);
}

/* The 66.67% chain of test_sequential_inferred is high by default; with the
 * high step at 70% it is medium (66.67 < 70, >= 20). */
static void test_sequential_high_step_configured(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 300);
    add_node("a", root, 0, 100);
    add_node("b", root, 100, 200);
    add_node("c", root, 200, 300);
    cfg.sequential_high_impact_pct = 70.0;
    dp_run_profile *p = build();
    assert_int_equal(find_type(p, DP_BOTTLENECK_SEQUENTIAL)->severity, DP_SEVERITY_MEDIUM);
    dp_run_profile_destroy(p);
}

/* With declared edges a -> b -> c the chain is justified: no finding. */
static void test_sequential_linked(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 300);
    add_node("a", root, 0, 100);
    sb_str(&t, add_node("b", root, 100, 200), "dag.depends_on", "a");
    sb_str(&t, add_node("c", root, 200, 300), "dag.depends_on", "b");
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_SEQUENTIAL), 0);
    dp_run_profile_destroy(p);
}

/* Explicit run where only d declares a dependency (on a):
 * a 0..100, b 100..200, c 200..400, d 400..500. No declared edge joins neighbours
 * a-b, b-c or c-d, so the chain is a, b, c, d:
 * impact (100+100+200+100 - longest 200) / wall 500 = 60% */
static void test_sequential_explicit_unlinked(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 500);
    add_node("a", root, 0, 100);
    add_node("b", root, 100, 200);
    add_node("c", root, 200, 400);
    sb_str(&t, add_node("d", root, 400, 500), "dag.depends_on", "a");
    dp_run_profile *p = build();
    assert_true(p->explicit_deps);
    assert_int_equal(count_type(p, DP_BOTTLENECK_SEQUENTIAL), 1);
    assert_float_equal(find_type(p, DP_BOTTLENECK_SEQUENTIAL)->impact_pct, 60.0, EPS);
    dp_run_profile_destroy(p);
}

/* gpt-4: 10000 input * $30 / 1M = $0.30 > $0.10 (not > $0.50): medium, impact 100% */
static void test_expensive_node(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "gpt-4", 10000, 0);
    sb_node(&t, sb_span(&t, "b", root, 0, 100), "b", "gpt-4", 0, 0);
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_EXPENSIVE_NODE), 1);
    const dp_bottleneck *b = find_type(p, DP_BOTTLENECK_EXPENSIVE_NODE);
    assert_string_equal(node_id(p, b), "a");
    assert_int_equal(b->severity, DP_SEVERITY_MEDIUM);
    assert_float_equal(b->impact_pct, 100.0, EPS);
    dp_run_profile_destroy(p);

    /* high above 2 x $0.10 = $0.20: $0.30 is above -> high; impact unchanged */
    cfg.expensive_node_high_factor = 2.0;
    p = build();
    b = find_type(p, DP_BOTTLENECK_EXPENSIVE_NODE);
    assert_int_equal(b->severity, DP_SEVERITY_HIGH);
    assert_float_equal(b->impact_pct, 100.0, EPS);
    dp_run_profile_destroy(p);

    /* high above 4 x $0.10 = $0.40: $0.30 is not -> medium again */
    cfg.expensive_node_high_factor = 4.0;
    p = build();
    assert_int_equal(find_type(p, DP_BOTTLENECK_EXPENSIVE_NODE)->severity, DP_SEVERITY_MEDIUM);
    dp_run_profile_destroy(p);

    cfg.expensive_node_usd = 0.30; /* not above */
    p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_EXPENSIVE_NODE), 0);
    dp_run_profile_destroy(p);
}

/* Budgets: cost $0.30 over $0.20 -> (0.30-0.20)/0.30 = 33.33%, medium;
 * 10000 tokens over 5000 -> 50%, medium (not > 2x); disabled budgets: nothing. */
static void test_budget_exceeded(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "gpt-4", 10000, 0);
    dp_run_profile *p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_BUDGET_EXCEEDED), 0);
    dp_run_profile_destroy(p);

    cfg.budget_usd = 0.20;
    cfg.budget_tokens = 5000;
    p = build();
    assert_int_equal(count_type(p, DP_BOTTLENECK_BUDGET_EXCEEDED), 2);
    for (size_t i = 0; i < p->bottleneck_count; i++) {
        const dp_bottleneck *b = &p->bottlenecks[i];
        if (b->type != DP_BOTTLENECK_BUDGET_EXCEEDED)
            continue;
        assert_int_equal(b->node, -1);
        assert_int_equal(b->severity, DP_SEVERITY_MEDIUM);
        assert_true(fabs(b->impact_pct - 50.0) < EPS || fabs(b->impact_pct - 100.0 / 3.0) < EPS);
    }
    dp_run_profile_destroy(p);
}

/* The same run ($0.30, 10000 tokens) against budgets of $0.20 and 5000 tokens
 * with the high step moved:
 * factor 1.4: cost 0.30 > 1.4 x 0.20 = 0.28 -> high; tokens 10000 > 7000 -> high.
 * factor 1.6: cost 0.30 > 0.32? no -> medium;    tokens 10000 > 8000 -> high.
 * Impacts stay (0.30-0.20)/0.30 = 33.33% (cost) and (10000-5000)/10000 = 50% (tokens). */
static void test_budget_severity_configured(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "gpt-4", 10000, 0);
    cfg.budget_usd = 0.20;
    cfg.budget_tokens = 5000;

    const double factors[] = {1.4, 1.6};
    const enum dp_severity cost_sev[] = {DP_SEVERITY_HIGH, DP_SEVERITY_MEDIUM};
    for (size_t f = 0; f < 2; f++) {
        cfg.budget_high_factor = factors[f];
        dp_run_profile *p = build();
        assert_int_equal(count_type(p, DP_BOTTLENECK_BUDGET_EXCEEDED), 2);
        size_t seen = 0;
        for (size_t i = 0; i < p->bottleneck_count; i++) {
            const dp_bottleneck *b = &p->bottlenecks[i];
            if (b->type != DP_BOTTLENECK_BUDGET_EXCEEDED)
                continue;
            if (fabs(b->impact_pct - 50.0) < EPS) { /* tokens */
                assert_int_equal(b->severity, DP_SEVERITY_HIGH);
                seen |= 1;
            } else { /* cost */
                assert_float_equal(b->impact_pct, 100.0 / 3.0, EPS);
                assert_int_equal(b->severity, cost_sev[f]);
                seen |= 2;
            }
        }
        assert_int_equal(seen, 3);
        dp_run_profile_destroy(p);
    }
}

/* Mixed findings come out highest impact first: tool_latency c 1300/1300 =
 * 100%, then dependency_wait b 250/1300 = 19.2%. c is also a slow node (1300 >
 * 2 x mean 1450/3), but its slow tool call takes all of its time: one finding
 * per cause, the tool call. */
static void test_sorted_by_impact(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 1300);
    add_node("a", root, 0, 100);
    sb_str(&t, add_node("b", root, 350, 400), "dag.depends_on", "a");
    int c = add_node("c", root, 0, 1300);
    sb_str(&t, sb_span(&t, "tool", c, 0, 1300), "gen_ai.tool.name", "x");
    dp_run_profile *p = build();
    assert_int_equal(p->bottleneck_count, 2);
    assert_int_equal(p->bottlenecks[0].type, DP_BOTTLENECK_TOOL_LATENCY);
    assert_int_equal(p->bottlenecks[1].type, DP_BOTTLENECK_DEPENDENCY_WAIT);
    assert_float_equal(p->bottlenecks[1].impact_pct, 250.0 / 1300.0 * 100.0, EPS);
    for (size_t i = 1; i < p->bottleneck_count; i++)
        assert_true(p->bottlenecks[i - 1].impact_pct >= p->bottlenecks[i].impact_pct);
    dp_run_profile_destroy(p);
}

/* Absolute floor: a slow node is medium by its share, low below the floor.
 * a 0..100, b 100..200 (declared after a), c 0..900: mean (100+100+900)/3 =
 * 366.7; c 900 > 2 x 366.7 = 733.3, not > 4 x: medium by share. */
static void test_severity_floor(void **state)
{
    (void)state;
    int root = sb_span(&t, "root", -1, 0, 900);
    add_node("a", root, 0, 100);
    sb_str(&t, add_node("b", root, 100, 200), "dag.depends_on", "a");
    add_node("c", root, 0, 900);
    dp_run_profile *p = build();
    assert_int_equal(find_type(p, DP_BOTTLENECK_SLOW_NODE)->severity, DP_SEVERITY_MEDIUM);
    dp_run_profile_destroy(p);
    cfg.severity_min_ms = 1000; /* 900 ms < 1 s */
    p = build();
    assert_int_equal(find_type(p, DP_BOTTLENECK_SLOW_NODE)->severity, DP_SEVERITY_LOW);
    dp_run_profile_destroy(p);
    cfg.severity_min_ms = 900; /* exactly at the floor: not below it */
    p = build();
    assert_int_equal(find_type(p, DP_BOTTLENECK_SLOW_NODE)->severity, DP_SEVERITY_MEDIUM);
    dp_run_profile_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_slow_node, setup),
        cmocka_unit_test_setup(test_severity_floor, setup),
        cmocka_unit_test_setup(test_slow_node_medium, setup),
        cmocka_unit_test_setup(test_high_token_usage, setup),
        cmocka_unit_test_setup(test_high_token_usage_unknown_cost, setup),
        cmocka_unit_test_setup(test_excessive_retries, setup),
        cmocka_unit_test_setup(test_tool_latency, setup),
        cmocka_unit_test_setup(test_slow_llm_call, setup),
        cmocka_unit_test_setup(test_dependency_wait, setup),
        cmocka_unit_test_setup(test_sequential_inferred, setup),
        cmocka_unit_test_setup(test_sequential_js_clock, setup),
        cmocka_unit_test_setup(test_sequential_severity_configured, setup),
        cmocka_unit_test_setup(test_sequential_high_step_configured, setup),
        cmocka_unit_test_setup(test_sequential_linked, setup),
        cmocka_unit_test_setup(test_sequential_explicit_unlinked, setup),
        cmocka_unit_test_setup(test_expensive_node, setup),
        cmocka_unit_test_setup(test_budget_exceeded, setup),
        cmocka_unit_test_setup(test_budget_severity_configured, setup),
        cmocka_unit_test_setup(test_sorted_by_impact, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

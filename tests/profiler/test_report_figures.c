/*
 * The figures every report form derives the same way (report_figures.h):
 * the top fixes, their ranking and combined savings, tool statistics by
 * nearest rank, and cost per 1,000 runs. Profiles are built by hand so
 * every input is known; expected values are worked out in the comments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "profile_types.h"
#include "report_figures.h"

#define EPS 1e-9
#define BIT(t) (1u << (t))

/* A run of 1000 ms costing $0.5 (all known) with 9000 input + 1000 output tokens. */
static void base(dp_run_profile *p, dp_recommendation *recs, size_t n)
{
    memset(p, 0, sizeof(*p));
    p->wall_ms = 1000;
    p->cost_usd = 0.5;
    p->cost_any_known = true;
    p->cost_complete = true;
    p->tokens = (dp_token_counts){9000, 1000, 0, 0};
    p->recommendations = recs;
    p->recommendation_count = n;
}

static dp_recommendation rec(enum dp_recommendation_type type, double ms, uint64_t tokens,
                             double usd, bool usd_known, unsigned overlaps)
{
    return (dp_recommendation){.type = type,
                               .savings_time_ms = ms,
                               .savings_tokens = tokens,
                               .savings_cost_usd = usd,
                               .savings_cost_known = usd_known,
                               .overlaps = overlaps};
}

/* The fixes in order (indexes into the recommendations) with their shares. */
static void expect_order(const dp_top_fixes *top, size_t n, const size_t *rec, const double *share)
{
    assert_int_equal(top->count, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(top->rec[i], rec[i]);
        assert_float_equal(top->share_pct[i], share[i], EPS);
    }
}

/* Combined savings: at least / at most of time (ms), tokens, cost (USD). */
typedef struct combined {
    double least_ms, most_ms;
    uint64_t least_tokens, most_tokens;
    double least_usd, most_usd;
    bool overlapping;
} combined;

static void expect_combined(const dp_top_fixes *top, combined want)
{
    assert_float_equal(top->at_least.time_ms, want.least_ms, EPS);
    assert_float_equal(top->at_most.time_ms, want.most_ms, EPS);
    assert_true(top->at_least.tokens == want.least_tokens);
    assert_true(top->at_most.tokens == want.most_tokens);
    assert_float_equal(top->at_least.cost_usd, want.least_usd, EPS);
    assert_float_equal(top->at_most.cost_usd, want.most_usd, EPS);
    assert_int_equal(top->overlapping, want.overlapping);
}

/*
 * Four recommendations as recommend.c marks them when all four are made:
 * time group {parallelize, cache, restructure_dag}, cost group {cache,
 * model_downgrade}.
 *   0 parallelize      400 ms                    share 400/1000     = 40 % (wall time)
 *   1 cache            300 ms, 2000 tok, $0.1    share max(30, 20)  = 30 % (wall time)
 *   2 model_downgrade  $0.2                      share 0.2/0.5      = 40 % (cost)
 *   3 restructure_dag  600 ms                    share 600/1000     = 60 % (wall time)
 * Ranking: restructure (60), then parallelize and model_downgrade tie at 40:
 * parallelize saves more time (400 > 0) and goes first; cache (30) is fourth
 * and left out. Combined: at most 600 + 400 = 1000 ms and $0.2; restructure
 * and parallelize overlap in time, so at least the larger, 600 ms; the cost
 * is model_downgrade's alone: $0.2 both ways. Tokens: 0.
 */
static void test_top_fixes_overlapping(void **state)
{
    (void)state;
    dp_recommendation recs[4] = {
        rec(DP_REC_PARALLELIZE, 400, 0, 0, true, BIT(DP_REC_CACHE) | BIT(DP_REC_RESTRUCTURE_DAG)),
        rec(DP_REC_CACHE, 300, 2000, 0.1, true,
            BIT(DP_REC_PARALLELIZE) | BIT(DP_REC_RESTRUCTURE_DAG) | BIT(DP_REC_MODEL_DOWNGRADE)),
        rec(DP_REC_MODEL_DOWNGRADE, 0, 0, 0.2, true, BIT(DP_REC_CACHE)),
        rec(DP_REC_RESTRUCTURE_DAG, 600, 0, 0, true, BIT(DP_REC_PARALLELIZE) | BIT(DP_REC_CACHE)),
    };
    dp_run_profile p;
    base(&p, recs, 4);
    dp_top_fixes top;
    dp_report_top_fixes(&p, &top);
    expect_order(&top, 3, (const size_t[]){3, 0, 2}, (const double[]){60, 40, 40});
    assert_int_equal(top.share_of[0], DP_SHARE_WALL_TIME);
    assert_int_equal(top.share_of[2], DP_SHARE_COST);
    expect_combined(&top, (combined){600, 1000, 0, 0, 0.2, 0.2, true});
    assert_true(top.at_most.cost_known && top.at_least.cost_known);
}

/*
 * Fixes that do not overlap add up. batch_operations (time group) and
 * model_downgrade (cost group) with reduce_context (cost group, overlapping
 * model_downgrade only):
 *   0 model_downgrade  $0.15            share 30 % (cost)
 *   1 reduce_context   3000 tok, $0.05  share 10 % (cost)
 *   2 batch_operations 250 ms           share 25 % (wall time)
 * Order: model_downgrade, batch_operations, reduce_context. Time: 250 alone.
 * Tokens: 3000 alone. Cost: model_downgrade and reduce_context overlap: at
 * most 0.15 + 0.05 = 0.2, at least the larger, 0.15. A set of two fixes in
 * different groups ({batch, downgrade}) is the best disjoint set for cost.
 */
static void test_top_fixes_partly_additive(void **state)
{
    (void)state;
    dp_recommendation recs[3] = {
        rec(DP_REC_MODEL_DOWNGRADE, 0, 0, 0.15, true, BIT(DP_REC_REDUCE_CONTEXT)),
        rec(DP_REC_REDUCE_CONTEXT, 0, 3000, 0.05, true, BIT(DP_REC_MODEL_DOWNGRADE)),
        rec(DP_REC_BATCH_OPERATIONS, 250, 0, 0, true, 0),
    };
    dp_run_profile p;
    base(&p, recs, 3);
    dp_top_fixes top;
    dp_report_top_fixes(&p, &top);
    expect_order(&top, 3, (const size_t[]){0, 2, 1}, (const double[]){30, 25, 10});
    expect_combined(&top, (combined){250, 250, 3000, 3000, 0.15, 0.2, true});

    /* without reduce_context nothing overlaps: the sums, exactly */
    recs[1] = recs[2];
    recs[0].overlaps = 0;
    p.recommendation_count = 2;
    dp_report_top_fixes(&p, &top);
    expect_order(&top, 2, (const size_t[]){0, 1}, (const double[]){30, 25});
    expect_combined(&top, (combined){250, 250, 0, 0, 0.15, 0.15, false});
}

/*
 * An unknown cost saving: the share falls back to tokens, the combined cost
 * is unknown and does not count as a range.
 *   0 cache            300 ms, 4000 tok, cost unknown ($0.05 known part)
 *                      share max(300/1000 = 30, 4000/10000 = 40) = 40 % (tokens)
 *   1 model_downgrade  $0.2   share 0.2/0.5 = 40 % (cost)
 * Tie at 40: cache saves more time (300 > 0) and goes first. Time and tokens
 * come from cache alone; the cost is unknown (cache's is), so although the
 * two overlap in cost the fixes are not "overlapping" in what is shown.
 */
static void test_top_fixes_unknown_cost(void **state)
{
    (void)state;
    dp_recommendation recs[2] = {
        rec(DP_REC_CACHE, 300, 4000, 0.05, false, BIT(DP_REC_MODEL_DOWNGRADE)),
        rec(DP_REC_MODEL_DOWNGRADE, 0, 0, 0.2, true, BIT(DP_REC_CACHE)),
    };
    dp_run_profile p;
    base(&p, recs, 2);
    enum dp_share_basis basis;
    assert_float_equal(dp_report_fix_share_pct(&p, &recs[0], &basis), 40, EPS);
    assert_int_equal(basis, DP_SHARE_TOKENS);
    dp_top_fixes top;
    dp_report_top_fixes(&p, &top);
    expect_order(&top, 2, (const size_t[]){0, 1}, (const double[]){40, 40});
    assert_false(top.at_most.cost_known);
    assert_false(top.at_least.cost_known);
    /* the cost figures are the known parts (0.05 + 0.2 at most, the larger
     * of the two overlapping at least), shown as unknown */
    expect_combined(&top, (combined){300, 300, 4000, 4000, 0.2, 0.25, false});

    /* no recommendation: no fix, nothing combined */
    p.recommendation_count = 0;
    dp_report_top_fixes(&p, &top);
    expect_order(&top, 0, NULL, NULL);
    expect_combined(&top, (combined){0, 0, 0, 0, 0, 0, false});
}

static dp_call_profile tool(const char *name, double ms, bool ok)
{
    return (dp_call_profile){
        .node = -1, .is_tool = true, .name = name, .duration_ms = ms, .success = ok};
}

/*
 * grep:   10, 30, 20, 40 (failed)  sorted 10 20 30 40; p50 rank ceil(0.5 x 4) = 2 -> 20;
 *         max 40, total 100, 1 failure
 * fetch:  7, 1, 4 (failed)         sorted 1 4 7; p50 rank ceil(1.5) = 2 -> 4; max 7, total 12
 * b-tool: 12; a-tool: 12           one call each
 * The LLM call in between is no tool call. Order by total: grep (100), then
 * the three of 12 by name: a-tool, b-tool, fetch.
 */
static void test_tool_stats(void **state)
{
    (void)state;
    dp_call_profile calls[10] = {
        tool("grep", 10, true),   tool("grep", 30, true),  tool("chat", 500, true),
        tool("grep", 20, true),   tool("grep", 40, false), tool("fetch", 7, true),
        tool("fetch", 1, true),   tool("fetch", 4, false), tool("b-tool", 12, true),
        tool("a-tool", 12, true),
    };
    calls[2].is_tool = false;
    calls[2].is_llm = true;
    dp_run_profile p;
    base(&p, NULL, 0);
    dp_arena_init(&p.arena, 0, 0);
    p.calls = calls;
    p.call_count = 10;
    assert_int_equal(dp_report_tool_stats(&p), 0);
    assert_int_equal(p.tool_stat_count, 4);
    const char *names[] = {"grep", "a-tool", "b-tool", "fetch"};
    const unsigned counts[] = {4, 1, 1, 3}, fails[] = {1, 0, 0, 1};
    const double p50[] = {20, 12, 12, 4}, max[] = {40, 12, 12, 7}, total[] = {100, 12, 12, 12};
    for (size_t i = 0; i < 4; i++) {
        const dp_tool_stat *st = &p.tool_stats[i];
        assert_string_equal(st->name, names[i]);
        assert_int_equal(st->count, counts[i]);
        assert_int_equal(st->failures, fails[i]);
        assert_float_equal(st->p50_ms, p50[i], EPS);
        assert_float_equal(st->max_ms, max[i], EPS);
        assert_float_equal(st->total_ms, total[i], EPS);
    }
    /* the calls are left in their order (the percentile sorts a copy) */
    assert_float_equal(calls[0].duration_ms, 10, EPS);
    assert_float_equal(calls[1].duration_ms, 30, EPS);

    /* no tool call: no statistics */
    p.call_count = 3;
    calls[0].is_tool = calls[1].is_tool = false;
    assert_int_equal(dp_report_tool_stats(&p), 0);
    assert_int_equal(p.tool_stat_count, 0);
    assert_null(p.tool_stats);
    dp_arena_free(&p.arena);
}

/* $0.5 x 1000 = $500; a known part of $0.002 with unknown calls -> $2 (a
 * lower bound); nothing known at all -> no figure. */
static void test_cost_per_1000_runs(void **state)
{
    (void)state;
    dp_run_profile p;
    base(&p, NULL, 0);
    double usd;
    assert_true(dp_report_cost_per_1000_runs(&p, &usd));
    assert_float_equal(usd, 500, EPS);
    p.cost_usd = 0.002;
    p.cost_complete = false;
    p.unknown_cost_calls = 1;
    assert_true(dp_report_cost_per_1000_runs(&p, &usd));
    assert_float_equal(usd, 2, EPS);
    p.cost_usd = 0;
    p.cost_any_known = false;
    assert_false(dp_report_cost_per_1000_runs(&p, &usd));
    /* no model call at all: known, and 0 */
    p.unknown_cost_calls = 0;
    p.cost_complete = true;
    assert_true(dp_report_cost_per_1000_runs(&p, &usd));
    assert_float_equal(usd, 0, EPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_fixes_overlapping),
        cmocka_unit_test(test_top_fixes_partly_additive),
        cmocka_unit_test(test_top_fixes_unknown_cost),
        cmocka_unit_test(test_tool_stats),
        cmocka_unit_test(test_cost_per_1000_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

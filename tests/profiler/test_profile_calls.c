/*
 * The per-call list and the span ids a profile keeps for exporters: every
 * LLM and tool call with its node, model, duration, status, tokens and cost;
 * each node's span id (the last attempt when retried) and the root span id.
 * Expected values worked out by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "profile_types.h"
#include "span_builder.h"

static sb_trace t;

/* root (0..1000 ms)
 *   node "n1" (10..900): chat call (20..420, gpt-4o-mini, 1000 in / 200 out)
 *                        execute_tool "search" (430..880, ERROR)
 * gpt-4o-mini: $0.15 in, $0.60 out per 1M:
 *   1000 * 0.15 + 200 * 0.60 = 150 + 120 = 270 -> 270 / 1e6 = 0.00027 USD */
static void test_calls_and_span_ids(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 1000);
    sb_str(&t, root, "dag.id", "calls-dag");
    int n1 = sb_span(&t, "step", root, 10, 900);
    sb_str(&t, n1, "dag.node.id", "n1");
    int chat = sb_span(&t, "chat gpt-4o-mini", n1, 20, 420);
    sb_str(&t, chat, "gen_ai.operation.name", "chat");
    sb_str(&t, chat, "gen_ai.request.model", "gpt-4o-mini");
    sb_int(&t, chat, "gen_ai.usage.input_tokens", 1000);
    sb_int(&t, chat, "gen_ai.usage.output_tokens", 200);
    int tool = sb_span(&t, "execute_tool search", n1, 430, 880);
    sb_str(&t, tool, "gen_ai.operation.name", "execute_tool");
    sb_str(&t, tool, "gen_ai.tool.name", "search");
    sb_status(&t, tool, DP_STATUS_ERROR);

    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, &cfg, &p), 0);

    assert_true(p->has_root);
    assert_memory_equal(p->root_span_id, t.spans[root].span_id, 8);
    assert_int_equal(p->node_count, 1);
    assert_memory_equal(p->nodes[0].span_id, t.spans[n1].span_id, 8);

    assert_int_equal(p->call_count, 2);
    const dp_call_profile *c0 = &p->calls[0];
    assert_true(c0->is_llm);
    assert_false(c0->is_tool);
    assert_int_equal(c0->node, 0);
    assert_string_equal(c0->name, "chat");
    assert_string_equal(c0->model, "gpt-4o-mini");
    assert_true(c0->duration_ms > 399.999 && c0->duration_ms < 400.001);
    assert_true(c0->success);
    assert_int_equal(c0->tokens.input, 1000);
    assert_int_equal(c0->tokens.output, 200);
    assert_true(c0->cost_known);
    assert_true(c0->cost_usd > 0.00027 - 1e-12 && c0->cost_usd < 0.00027 + 1e-12);

    const dp_call_profile *c1 = &p->calls[1];
    assert_true(c1->is_tool);
    assert_false(c1->is_llm);
    assert_string_equal(c1->name, "search");
    assert_null(c1->model);
    assert_true(c1->duration_ms > 449.999 && c1->duration_ms < 450.001);
    assert_false(c1->success);
    dp_run_profile_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calls_and_span_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

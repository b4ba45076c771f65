/*
 * Bad input never crashes the profiler: many pseudo-random traces (fixed
 * seed, so failures reproduce) with random parents, duplicate ids, cycles,
 * reversed times, and every known attribute given values of random kinds.
 * Each profile must keep its invariants and render in both formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "profile_types.h"
#include "render.h"
#include "span_builder.h"

static sb_trace t;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    /* xorshift64*: deterministic across platforms */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32) % n;
}

static const char *const keys[] = {
    "dag.node.id",
    "graph.node.id",
    "graph.node.parent_id",
    "dag.depends_on",
    "dag.node.depends_on",
    "gen_ai.operation.name",
    "gen_ai.tool.name",
    "dag.model",
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "dag.retries",
    "gen_ai.usage.cost",
    "input.value",
    "dag.id",
    "openinference.span.kind",
    "metadata",
    "ai.telemetry.functionId",
    "ai.usage.promptTokens",
    "ai.usage.tokens",
    "ai.model.id",
    "ai.toolCall.name",
    "ai.response.providerMetadata",
    "traceloop.span.kind",
    "traceloop.entity.name",
    "llm.usage.total_tokens",
    "gen_ai.prompt.0.content",
    "embedding.model_name",
};
static const char *const words[] = {
    "a",
    "b",
    "c",
    "chat",
    "execute_tool",
    "invoke_agent",
    "gpt-4o",
    "haiku",
    "a, b",
    "",
    "12",
    "-3",
    "1e400",
    "LLM",
    "TOOL",
    "x,,y",
    "embeddings",
    "EMBEDDING",
    "task",
    "tool",
    "__start__",
    "gpt-4o-2024-08-06",
    "{\"langgraph_node\":\"a\",\"langgraph_step\":1,\"langgraph_triggers\":[\"x\"]}",
    "{\"langgraph_node\":\"b\",\"langgraph_step\":2}",
    "{\"langgraph_node\":\"__end__\",\"langgraph_step\":-4,\"langgraph_triggers\":7}",
    "{\"langgraph_node\":",
    "{\"openai\":{\"cachedPromptTokens\":5}}",
    "{\"anthropic\":{\"cacheReadInputTokens\":-1,\"cacheCreationInputTokens\":3}}",
};
static const char *const arr[] = {"a", "b", "zz"};

static void random_attr(int s)
{
    const char *key = keys[rnd(sizeof(keys) / sizeof(keys[0]))];
    switch (rnd(6)) {
    case 0:
        sb_str(&t, s, key, words[rnd(sizeof(words) / sizeof(words[0]))]);
        break;
    case 1:
        sb_int(&t, s, key, (int64_t)rnd(20000) - 100);
        break;
    case 2:
        sb_double(&t, s, key, rnd(3) ? rnd(5000) / 3.0 : 1e300);
        break;
    case 3:
        sb_bool(&t, s, key, rnd(2));
        break;
    case 4:
        if (t.item_count + 3 <= SB_MAX_ARRAY_ITEMS)
            sb_strs(&t, s, key, arr, 1 + rnd(3));
        break;
    default: {
        dp_value *v = sb_slot(&t, s, key);
        v->kind = DP_VALUE_EMPTY;
        break;
    }
    }
}

static void check_invariants(const dp_run_profile *p)
{
    assert_true(p->node_count <= p->span_count);
    assert_true(p->wall_ms >= 0);
    assert_true(p->parallelism >= 0);
    assert_true(p->critical_path_count <= p->node_count);
    for (size_t i = 0; i < p->critical_path_count; i++)
        assert_true(p->critical_path[i] < p->node_count);
    for (size_t j = 0; j < p->node_count; j++) {
        const dp_node_profile *n = &p->nodes[j];
        assert_true(n->wait_ms >= 0);
        assert_true(n->duration_ms >= 0);
        assert_true(n->parent_node < (int)p->node_count);
        for (size_t d = 0; d < n->dep_count; d++)
            assert_true(n->deps[d] < p->node_count && n->deps[d] != j);
        if (j > 0)
            assert_true(p->nodes[j - 1].start_ms <= n->start_ms);
    }
    for (size_t i = 1; i < p->bottleneck_count; i++)
        assert_true(p->bottlenecks[i - 1].impact_pct >= p->bottlenecks[i].impact_pct);
}

static void test_random_traces(void **state)
{
    (void)state;
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    dp_buf out;
    dp_buf_init(&out, 8 << 20);
    for (int round = 0; round < 400; round++) {
        sb_init(&t);
        int n = 1 + (int)rnd(40);
        for (int i = 0; i < n; i++) {
            int parent = i == 0 || rnd(8) == 0 ? -1 : (int)rnd((uint32_t)i);
            double start = rnd(10000), end = rnd(10) == 0 ? start - rnd(50) : start + rnd(3000);
            int s = sb_span(&t, words[rnd(6)], parent, start, end < 0 ? 0 : end);
            t.spans[s].status = (enum dp_status)rnd(3);
            int attrs = (int)rnd(SB_MAX_ATTRS - 2);
            for (int k = 0; k < attrs; k++)
                random_attr(s);
            if (rnd(4) == 0)
                sb_link(&t, s, (int)rnd((uint32_t)n > (uint32_t)i + 1 ? (uint32_t)i + 1 : 1));
            if (rnd(20) == 0 && i > 0) /* duplicate span id */
                memcpy(t.spans[s].span_id, t.spans[rnd((uint32_t)i)].span_id, 8);
        }
        if (rnd(10) == 0 && n > 1) { /* a parent cycle through the first span */
            t.spans[0].has_parent = true;
            sb_span_id(n - 1, t.spans[0].parent_span_id);
        }
        cfg.budget_usd = rnd(2) ? 0.001 : 0;
        cfg.budget_tokens = rnd(2) ? 100 : 0;
        dp_run_profile *p = NULL;
        assert_int_equal(dp_profile_build(t.spans, t.count, &cfg, &p), 0);
        check_invariants(p);
        dp_buf_reset(&out);
        assert_int_equal(dp_render_json(p, &out), 0);
        json_t *v = json_loads(out.data, 0, NULL);
        assert_non_null(v);
        json_decref(v);
        dp_buf_reset(&out);
        assert_int_equal(dp_render_text(p, NULL, &out), 0);
        dp_run_profile_destroy(p);
    }
    dp_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_traces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The counting rule and the framework rules, on traces shaped as the real
 * instrumentations shape them (the conformance suite records real ones):
 * aggregate and duplicate-layer spans, dated model labels, LangGraph nodes
 * and supersteps, Traceloop tasks and tools, AI SDK functionIds, legacy
 * ai.* usage, embedding prices. Every expected figure is worked out in the
 * comment above its test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "profile_types.h"
#include "profile_lookup.h"
#include "span_builder.h"

#define EPS 1e-12

static sb_trace t;

static dp_run_profile *build(void)
{
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, &cfg, &p), 0);
    return p;
}

static void scope(int i, const char *name)
{
    t.spans[i].scope_name = dp_str_from_cstr(name);
}

/* AI SDK 4 (ai.* telemetry): ai.generateText "research" (functionId) sums
 * its two doGenerate steps in ai.usage.*: 150+237 = 387 in, 20+20 = 40 out.
 * Counted once, from the steps: 2 calls, 387 / 40; the outer span is an
 * aggregate. gpt-4o: (387 * 2.50 + 40 * 10) / 1e6 = (967.5 + 400) / 1e6 =
 * 0.0013675. The tool call between the steps is one tool call. */
static void test_ai_sdk_aggregate(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "research_agent", -1, 0, 300);
    int gen = sb_span(&t, "ai.generateText", root, 10, 250);
    sb_str(&t, gen, "ai.telemetry.functionId", "research");
    sb_str(&t, gen, "ai.model.id", "gpt-4o");
    sb_int(&t, gen, "ai.usage.promptTokens", 387);
    sb_int(&t, gen, "ai.usage.completionTokens", 40);
    int s1 = sb_span(&t, "ai.generateText.doGenerate", gen, 20, 100);
    sb_str(&t, s1, "ai.telemetry.functionId", "research");
    sb_str(&t, s1, "gen_ai.request.model", "gpt-4o");
    sb_int(&t, s1, "ai.usage.promptTokens", 150);
    sb_int(&t, s1, "ai.usage.completionTokens", 20);
    int tool = sb_span(&t, "ai.toolCall", gen, 100, 150);
    sb_str(&t, tool, "ai.toolCall.name", "web_search");
    int s2 = sb_span(&t, "ai.generateText.doGenerate", gen, 150, 250);
    sb_str(&t, s2, "ai.telemetry.functionId", "research");
    sb_str(&t, s2, "gen_ai.request.model", "gpt-4o");
    sb_int(&t, s2, "ai.usage.promptTokens", 237);
    sb_int(&t, s2, "ai.usage.completionTokens", 20);
    dp_run_profile *p = build();
    assert_int_equal(p->node_source, DP_NODES_FRAMEWORK);
    assert_int_equal(p->node_count, 1);
    const dp_node_profile *n = node(p, "research");
    assert_int_equal(n->llm_calls, 2);
    assert_int_equal(n->tool_call_count, 1);
    assert_string_equal(n->tool_calls[0].name, "web_search");
    assert_int_equal(p->llm_calls, 2);
    assert_int_equal(p->tokens.input, 387);
    assert_int_equal(p->tokens.output, 40);
    assert_int_equal(p->aggregate_spans, 1);
    assert_float_equal(p->cost_usd, 0.0013675, EPS);
    assert_int_equal(p->model_count, 1);
    assert_int_equal(model(p, "gpt-4o")->calls, 2);
    dp_run_profile_destroy(p);
}

/* A request seen by two instrumentation layers side by side (a framework's
 * chat span and the client library's, both under the step): one call of
 * 160 in / 20 out, gpt-4o-mini (160 * 0.15 + 20 * 0.60) / 1e6 = 36e-6. The
 * same two spans in one scope are two requests (two identical calls at once).
 * When only the client library's span counts the prompt's cached tokens (32,
 * Traceloop's attribute), it is still the same request: one call of 160 in
 * with 32 cache read, (128 * 0.15 + 32 * 0.075 + 20 * 0.60) / 1e6 = 33.6e-6. */
static void test_duplicate_layer(void **state)
{
    (void)state;
    enum { TWO_LAYERS, SAME_SCOPE, CACHE_ON_ONE };
    for (int variant = TWO_LAYERS; variant <= CACHE_ON_ONE; variant++) {
        sb_init(&t);
        int root = sb_span(&t, "run", -1, 0, 200);
        int step = sb_span(&t, "plan", root, 0, 150);
        int a = sb_span(&t, "chat gpt-4o-mini", step, 5, 140);
        int b = sb_span(&t, "chat gpt-4o-mini", step, 10, 135);
        int ids[] = {a, b};
        for (int k = 0; k < 2; k++) {
            sb_str(&t, ids[k], "gen_ai.operation.name", "chat");
            sb_str(&t, ids[k], "gen_ai.request.model", "gpt-4o-mini");
            sb_int(&t, ids[k], "gen_ai.usage.input_tokens", 160);
            sb_int(&t, ids[k], "gen_ai.usage.output_tokens", 20);
        }
        sb_str(&t, b, "gen_ai.response.model", "gpt-4o-mini-2024-07-18");
        if (variant == CACHE_ON_ONE)
            sb_int(&t, b, "gen_ai.usage.cache_read_input_tokens", 32);
        scope(a, "@traceloop/instrumentation-langchain");
        scope(b, variant == SAME_SCOPE ? "@traceloop/instrumentation-langchain"
                                       : "@traceloop/instrumentation-openai");
        dp_run_profile *p = build();
        unsigned calls = variant == SAME_SCOPE ? 2 : 1;
        assert_int_equal(p->llm_calls, calls);
        assert_int_equal(p->tokens.input, 160 * calls);
        assert_int_equal(p->tokens.cache_read, variant == CACHE_ON_ONE ? 32 : 0);
        assert_int_equal(p->duplicate_layer_spans, variant == SAME_SCOPE ? 0 : 1);
        assert_float_equal(p->cost_usd, variant == CACHE_ON_ONE ? 33.6e-6 : 36e-6 * calls, EPS);
        /* one model, one entry: the dated response is gpt-4o-mini */
        assert_int_equal(p->model_count, 1);
        assert_string_equal(p->models[0].model, "gpt-4o-mini");
        assert_int_equal(node(p, "plan")->llm_calls, calls);
        assert_int_equal(node(p, "plan")->tokens.cache_read, variant == CACHE_ON_ONE ? 32 : 0);
        dp_run_profile_destroy(p);
    }
}

/* Dated and undated names of one model in one run are one by_model entry,
 * priced by the most specific name: a call naming only the dated response
 * model and one naming only the request model: gpt-4o, 2 calls, 1000 + 1000
 * in: 2000 * 2.50 / 1e6 = 0.005. A dated model with no undated twin in the
 * run keeps its name. */
static void test_dated_models_merge(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 100);
    int a = sb_span(&t, "a", root, 0, 50);
    sb_str(&t, a, "gen_ai.response.model", "gpt-4o-2024-08-06");
    sb_int(&t, a, "gen_ai.usage.input_tokens", 1000);
    int b = sb_span(&t, "b", root, 50, 100);
    sb_str(&t, b, "gen_ai.request.model", "gpt-4o");
    sb_int(&t, b, "gen_ai.usage.input_tokens", 1000);
    int c = sb_span(&t, "c", root, 60, 90);
    sb_str(&t, c, "llm.model_name", "claude-3-5-haiku-20241022");
    sb_int(&t, c, "llm.token_count.prompt", 100);
    dp_run_profile *p = build();
    assert_int_equal(p->model_count, 2);
    assert_int_equal(model(p, "gpt-4o")->calls, 2);
    assert_float_equal(model(p, "gpt-4o")->cost_usd, 0.005, EPS);
    assert_int_equal(model(p, "claude-3-5-haiku-20241022")->calls, 1);
    dp_run_profile_destroy(p);
}

static int lg_node(int parent, const char *name, double start, double end, int step,
                   const char *trigger)
{
    /* the builder keeps pointers: each span gets its own buffer */
    static char metas[16][256];
    static size_t next;
    char *meta = metas[next++ % 16];
    snprintf(meta, sizeof(metas[0]),
             "{\"langgraph_step\":%d,\"langgraph_node\":\"%s\",\"langgraph_triggers\":[\"%s\"]}",
             step, name, trigger);
    int s = sb_span(&t, name, parent, start, end);
    sb_str(&t, s, "openinference.span.kind", "CHAIN");
    sb_str(&t, s, "metadata", meta);
    return s;
}

/* LangGraph as OpenInference records it: __start__ (step 0) is no node;
 * plan (1); research, flaky (2); flaky fails once and is retried in the same
 * step (one node, one retry); tools (3); research again (4) is research#2;
 * aggregator (5). Edges: each node on every node of the step before:
 * research <- plan, tools <- {research, flaky}, research#2 <- tools. An LLM
 * span inside a node carries the node's metadata and belongs to it. */
static void test_langgraph_nodes_and_steps(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "LangGraph", -1, 0, 1000);
    lg_node(root, "__start__", 0, 10, 0, "__start__");
    int plan = lg_node(root, "plan", 10, 200, 1, "branch:to:plan");
    int llm = sb_span(&t, "ChatOpenAI", plan, 20, 190);
    sb_str(&t, llm, "openinference.span.kind", "LLM");
    sb_str(&t, llm, "llm.model_name", "gpt-4o-mini");
    sb_int(&t, llm, "llm.token_count.prompt", 160);
    sb_int(&t, llm, "llm.token_count.completion", 20);
    sb_int(&t, llm, "llm.token_count.prompt_details.cache_read", 32);
    sb_str(&t, llm, "metadata",
           "{\"langgraph_step\":1,\"langgraph_node\":\"plan\",\"langgraph_triggers\":[]}");
    lg_node(root, "research", 210, 400, 2, "branch:to:research");
    sb_status(&t, lg_node(root, "flaky", 210, 300, 2, "branch:to:flaky"), DP_STATUS_ERROR);
    lg_node(root, "flaky", 350, 420, 2, "branch:to:flaky");
    lg_node(root, "tools", 430, 500, 3, "branch:to:tools");
    lg_node(root, "research", 510, 600, 4, "branch:to:research");
    lg_node(root, "aggregator", 610, 1000, 5, "branch:to:aggregator");
    dp_run_profile *p = build();
    assert_int_equal(p->node_source, DP_NODES_FRAMEWORK);
    assert_int_equal(p->deps_source, DP_DEPS_LANGGRAPH_STEPS);
    assert_int_equal(p->node_count, 6);
    const char *ids[] = {"plan", "research", "flaky", "tools", "research#2", "aggregator"};
    for (size_t i = 0; i < 6; i++)
        (void)node(p, ids[i]);
    assert_int_equal(node(p, "flaky")->retries, 1);
    assert_float_equal(node(p, "flaky")->duration_ms, 210.0, 1e-9); /* 210..420 */
    assert_int_equal(p->retries, 1);
    assert_true(depends(p, "research", "plan"));
    assert_true(depends(p, "tools", "research"));
    assert_true(depends(p, "tools", "flaky"));
    assert_true(depends(p, "research#2", "tools"));
    assert_true(depends(p, "aggregator", "research#2"));
    assert_int_equal(node(p, "plan")->dep_count, 0);
    assert_int_equal(node(p, "tools")->dep_count, 2);
    /* plan's call: gpt-4o-mini, (128 * 0.15 + 32 * 0.075 + 20 * 0.60) / 1e6 */
    assert_int_equal(node(p, "plan")->llm_calls, 1);
    assert_int_equal(p->tokens.cache_read, 32);
    assert_float_equal(p->cost_usd, (128 * 0.15 + 32 * 0.075 + 20 * 0.60) / 1e6, EPS);
    /* declared by the steps: no parallelize, no hypothesis */
    assert_true(p->speedup_if_independent < 0);
    for (size_t i = 0; i < p->bottleneck_count; i++)
        assert_false(p->bottlenecks[i].hypothesis);
    dp_run_profile_destroy(p);
}

/* Traceloop: the workflow span names the run; task entities are the nodes;
 * an execute_tool span that Traceloop marks as a task is a tool call of its
 * node, not a node; a tool-kind span is a tool call named by its entity. */
static void test_traceloop_tasks(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "langgraph_run.workflow", -1, 0, 500);
    sb_str(&t, root, "traceloop.span.kind", "workflow");
    sb_str(&t, root, "traceloop.workflow.name", "langgraph_run");
    int plan = sb_span(&t, "plan.task", root, 0, 100);
    sb_str(&t, plan, "traceloop.span.kind", "task");
    sb_str(&t, plan, "traceloop.entity.name", "plan");
    int tools = sb_span(&t, "tools.task", root, 100, 300);
    sb_str(&t, tools, "traceloop.span.kind", "task");
    sb_str(&t, tools, "traceloop.entity.name", "tools");
    int run_tool = sb_span(&t, "execute_tool DynamicStructuredTool", tools, 110, 150);
    sb_str(&t, run_tool, "gen_ai.operation.name", "execute_tool");
    sb_str(&t, run_tool, "traceloop.span.kind", "task");
    sb_str(&t, run_tool, "traceloop.entity.name", "DynamicStructuredTool");
    int search = sb_span(&t, "search.tool", tools, 160, 200);
    sb_str(&t, search, "traceloop.span.kind", "tool");
    sb_str(&t, search, "traceloop.entity.name", "search");
    dp_run_profile *p = build();
    assert_string_equal(p->dag_id, "langgraph_run");
    assert_int_equal(p->node_source, DP_NODES_FRAMEWORK);
    assert_int_equal(p->node_count, 2);
    const dp_node_profile *n = node(p, "tools");
    assert_int_equal(n->tool_call_count, 2);
    assert_string_equal(n->tool_calls[0].name, "DynamicStructuredTool");
    assert_string_equal(n->tool_calls[1].name, "search");
    (void)node(p, "plan");
    dp_run_profile_destroy(p);
}

/* Usage families: AI SDK 4 cached tokens only in ai.response.providerMetadata
 * (openai.cachedPromptTokens 32 of 135 in, 20 out): gpt-4o-mini
 * (103 * 0.15 + 32 * 0.075 + 20 * 0.60) / 1e6 = (15.45 + 2.4 + 12) / 1e6;
 * a total alone is billed as input (llm.usage.total_tokens 1000 on
 * text-embedding-3-small: 1000 * 0.02 / 1e6 = 20e-6); embeddings spans are
 * calls; gen_ai.prompt.N.content makes repeated prompts visible to cache. */
static void test_usage_families(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 1000);
    int a = sb_span(&t, "ai.generateText.doGenerate", root, 0, 100);
    sb_str(&t, a, "gen_ai.request.model", "gpt-4o-mini");
    sb_int(&t, a, "ai.usage.promptTokens", 135);
    sb_int(&t, a, "ai.usage.completionTokens", 20);
    sb_str(&t, a, "ai.response.providerMetadata",
           "{\"openai\":{\"reasoningTokens\":0,\"cachedPromptTokens\":32}}");
    int e = sb_span(&t, "embeddings text-embedding-3-small", root, 100, 200);
    sb_str(&t, e, "gen_ai.operation.name", "embeddings");
    sb_str(&t, e, "gen_ai.request.model", "text-embedding-3-small");
    sb_int(&t, e, "llm.usage.total_tokens", 1000);
    for (int k = 0; k < 2; k++) {
        int c = sb_span(&t, "openai.chat", root, 200 + 100 * k, 290 + 100 * k);
        sb_str(&t, c, "gen_ai.request.model", "gpt-4o-mini");
        sb_str(&t, c, "gen_ai.prompt.0.content", "Summarise the findings");
        sb_str(&t, c, "gen_ai.prompt.1.content", k ? "x" : "x");
        sb_int(&t, c, "gen_ai.usage.input_tokens", 100);
    }
    dp_run_profile *p = build();
    assert_int_equal(p->llm_calls, 4);
    assert_int_equal(p->tokens.cache_read, 32);
    assert_int_equal(p->tokens.input, 135 + 1000 + 200);
    double want =
        (103 * 0.15 + 32 * 0.075 + 20 * 0.60) / 1e6 + 1000 * 0.02 / 1e6 + 2 * 100 * 0.15 / 1e6;
    assert_float_equal(p->cost_usd, want, EPS);
    assert_true(p->cost_complete);
    assert_int_equal(model(p, "text-embedding-3-small")->calls, 1);
    bool cache = false;
    for (size_t i = 0; i < p->recommendation_count; i++)
        cache = cache || (p->recommendations[i].type == DP_REC_CACHE &&
                          p->recommendations[i].savings_tokens == 100);
    assert_true(cache);
    dp_run_profile_destroy(p);
}

/* A retried call inside a user step, with the framework's chain spans
 * beside the calls (as Traceloop parents them): the chain that failed and the
 * one after it are no attempts of their own, so one failure is one retry. */
static void test_retry_counted_once(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "research_agent", -1, 0, 500);
    int step = sb_span(&t, "flaky", root, 0, 400);
    sb_status(&t, sb_span(&t, "RunnableSequence", step, 0, 150), DP_STATUS_ERROR);
    int c1 = sb_span(&t, "chat gpt-4o-mini", step, 10, 140);
    sb_str(&t, c1, "gen_ai.operation.name", "chat");
    sb_str(&t, c1, "gen_ai.request.model", "gpt-4o-mini");
    sb_status(&t, c1, DP_STATUS_ERROR);
    sb_span(&t, "RunnableSequence", step, 200, 400);
    int c2 = sb_span(&t, "chat gpt-4o-mini", step, 210, 390);
    sb_str(&t, c2, "gen_ai.operation.name", "chat");
    sb_str(&t, c2, "gen_ai.request.model", "gpt-4o-mini");
    sb_int(&t, c2, "gen_ai.usage.input_tokens", 106);
    dp_run_profile *p = build();
    assert_int_equal(p->node_count, 1);
    assert_int_equal(p->llm_calls, 2);
    assert_int_equal(node(p, "flaky")->retries, 1);
    assert_int_equal(p->retries, 1);
    dp_run_profile_destroy(p);
}

/* A failed call and its retry with the same input are no cacheable repeat
 * (the failure gave no answer); an embedding model is no downgrade target
 * for a chat model: gpt-4o holds 1000 of the 1000 chat tokens, its cheaper
 * sibling is gpt-4o-mini (not text-embedding-3-small, used in the run):
 * 1000 * (2.50 - 0.15) / 1e6 = 0.00235 saved. */
static void test_no_cache_for_retries_no_embedding_downgrade(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 1000);
    int c1 = sb_span(&t, "chat", root, 0, 100);
    int c2 = sb_span(&t, "chat", root, 100, 200);
    int both[] = {c1, c2};
    for (int k = 0; k < 2; k++) {
        sb_str(&t, both[k], "gen_ai.operation.name", "chat");
        sb_str(&t, both[k], "gen_ai.request.model", "gpt-4o");
        sb_str(&t, both[k], "gen_ai.input.messages", "same prompt");
    }
    sb_status(&t, c1, DP_STATUS_ERROR);
    sb_int(&t, c2, "gen_ai.usage.input_tokens", 1000);
    int e = sb_span(&t, "embeddings", root, 200, 300);
    sb_str(&t, e, "gen_ai.operation.name", "embeddings");
    sb_str(&t, e, "gen_ai.request.model", "text-embedding-3-small");
    sb_int(&t, e, "gen_ai.usage.input_tokens", 5000);
    dp_run_profile *p = build();
    const dp_recommendation *down = NULL;
    for (size_t i = 0; i < p->recommendation_count; i++) {
        assert_int_not_equal(p->recommendations[i].type, DP_REC_CACHE);
        if (p->recommendations[i].type == DP_REC_MODEL_DOWNGRADE)
            down = &p->recommendations[i];
    }
    assert_non_null(down);
    assert_float_equal(down->savings_cost_usd, 0.00235, EPS);
    assert_non_null(strstr(down->description, "gpt-4o-mini"));
    assert_null(strstr(down->description, "text-embedding"));
    /* the share leaves the 5000 embedding tokens out: 1000 / 1000 */
    assert_non_null(
        strstr(down->description, "100% of the run's LLM tokens (embedding models aside)"));
    assert_true(model(p, "text-embedding-3-small")->embedding);
    assert_int_equal(p->retries, 1);
    dp_run_profile_destroy(p);
}

/* A hostile or huge LangGraph run: 2 x 5000 nodes in steps 1 and 2 under
 * one root. Every step-2 node lists the 64 latest-ending step-1 nodes (the
 * ready time needs only the latest); the build stays linear in the nodes. */
static void test_langgraph_wide_steps(void **state)
{
    (void)state;
    enum { PER_STEP = 5000, N = 1 + 2 * PER_STEP };
    dp_span *spans = calloc(N, sizeof(dp_span));
    dp_attr *attrs = calloc(N, sizeof(dp_attr));
    char(*meta)[96] = calloc(N, sizeof(*meta));
    assert_non_null(spans);
    assert_non_null(attrs);
    assert_non_null(meta);
    for (int i = 0; i < N; i++) {
        dp_span *sp = &spans[i];
        memset(sp->trace_id, 7, 16);
        sb_span_id(i, sp->span_id);
        sp->name = dp_str_from_cstr("node");
        if (i == 0) {
            sp->start_ns = sb_ns(0);
            sp->end_ns = sb_ns(100000);
            continue;
        }
        int step = i <= PER_STEP ? 1 : 2;
        sp->has_parent = true;
        sb_span_id(0, sp->parent_span_id);
        /* step 1 nodes end at 1000 + i ms: the latest are the highest ids */
        sp->start_ns = sb_ns(step == 1 ? 0 : 20000);
        sp->end_ns = sb_ns(step == 1 ? 1000 + i : 30000);
        snprintf(meta[i], sizeof(meta[i]), "{\"langgraph_node\":\"n%d\",\"langgraph_step\":%d}", i,
                 step);
        attrs[i].key = dp_str_from_cstr("metadata");
        attrs[i].value.kind = DP_VALUE_STRING;
        attrs[i].value.u.s = dp_str_from_cstr(meta[i]);
        sp->attrs = &attrs[i];
        sp->attr_count = 1;
    }
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(spans, N, &cfg, &p), 0);
    assert_int_equal(p->node_count, 2 * PER_STEP);
    assert_int_equal(p->deps_source, DP_DEPS_LANGGRAPH_STEPS);
    const dp_node_profile *last = node(p, "n10000");
    assert_int_equal(last->dep_count, 64);
    /* the latest-ending step-1 node, n5000 (ends at 6000 ms), sets the ready time */
    assert_true(depends(p, "n10000", "n5000"));
    assert_float_equal(last->ready_ms, 6000.0, 1e-6);
    assert_int_equal(node(p, "n1")->dep_count, 0);
    dp_run_profile_destroy(p);
    free(meta);
    free(attrs);
    free(spans);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ai_sdk_aggregate),
        cmocka_unit_test(test_duplicate_layer),
        cmocka_unit_test(test_dated_models_merge),
        cmocka_unit_test(test_langgraph_nodes_and_steps),
        cmocka_unit_test(test_traceloop_tasks),
        cmocka_unit_test(test_usage_families),
        cmocka_unit_test(test_retry_counted_once),
        cmocka_unit_test(test_no_cache_for_retries_no_embedding_downgrade),
        cmocka_unit_test(test_langgraph_wide_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

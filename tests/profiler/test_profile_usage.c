/*
 * Per-call usage rules: tokens (cache inside input), cost from the price
 * table, span cost attributes, unknown models, the default model, model
 * precedence, nested LLM and tool spans, retries (attribute and inferred),
 * wrong-typed and missing values. Expected values worked out by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "profile_types.h"
#include "profile_lookup.h"
#include "span_builder.h"

static sb_trace t;

#define EPS 1e-9

static dp_run_profile *build_with(const dp_profile_config *cfg)
{
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, cfg, &p), 0);
    return p;
}

static dp_run_profile *build(void)
{
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    return build_with(&cfg);
}

/* A trace of one chat call naming its model in model_key, with input
 * tokens of which read and write are cache reads and writes. */
static void cached_chat(const char *model_key, const char *model, int64_t input, int64_t read,
                        int64_t write, int64_t output)
{
    sb_init(&t);
    int s = sb_span(&t, "chat", -1, 0, 100);
    sb_str(&t, s, "gen_ai.operation.name", "chat");
    sb_str(&t, s, model_key, model);
    sb_int(&t, s, "gen_ai.usage.input_tokens", input);
    sb_int(&t, s, "gen_ai.usage.cache_read.input_tokens", read);
    sb_int(&t, s, "gen_ai.usage.cache_creation.input_tokens", write);
    sb_int(&t, s, "gen_ai.usage.output_tokens", output);
}

/* claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 cache write per 1M.
 * input 10000 of which 4000 cache read and 1000 cache write, output 2000:
 * uncached 5000*3 = 15000; 4000*0.30 = 1200; 1000*3.75 = 3750; 2000*15 = 30000;
 * sum 49950 / 1e6 = 0.04995 */
static void test_cache_tokens_inside_input(void **state)
{
    (void)state;
    cached_chat("gen_ai.response.model", "claude-sonnet-4-5-20250929", 10000, 4000, 1000, 2000);
    dp_run_profile *p = build();
    assert_float_equal(p->cost_usd, 0.04995, EPS);
    assert_int_equal(p->tokens.input, 10000);
    assert_int_equal(p->tokens.cache_read, 4000);
    assert_int_equal(p->tokens.cache_write, 1000);
    /* total = input + output: cache tokens are not added again */
    assert_int_equal(dp_token_total(&p->tokens), 12000);
    /* the same cost by what it paid for (the terms above / 1e6) */
    const dp_cost_split *sp = &p->models[0].cost_split;
    assert_float_equal(sp->input, 0.015, EPS);
    assert_float_equal(sp->cache_read, 0.0012, EPS);
    assert_float_equal(sp->cache_write, 0.00375, EPS);
    assert_float_equal(sp->output, 0.03, EPS);
    assert_float_equal(sp->given, 0, EPS);
    dp_run_profile_destroy(p);
}

/* A call above a long-context tier: its split is billed at the tier's
 * prices like its cost (metrics.md section 3's example). claude-sonnet-4-5
 * above 200000 input tokens: $6 / $22.50 / $0.60 / $7.50 per 1M. input
 * 250000 (50000 cache read, 10000 cache write), output 1000:
 * uncached 190000*6 = 1140000 -> 1.14; 50000*0.60 -> 0.03;
 * 10000*7.50 -> 0.075; 1000*22.50 -> 0.0225; sum 1.2675 = the cost. */
static void test_cost_split_above_tier(void **state)
{
    (void)state;
    cached_chat("gen_ai.request.model", "claude-sonnet-4-5", 250000, 50000, 10000, 1000);
    dp_run_profile *p = build();
    assert_float_equal(p->cost_usd, 1.2675, EPS);
    const dp_cost_split *sp = &p->models[0].cost_split;
    assert_float_equal(sp->input, 1.14, EPS);
    assert_float_equal(sp->cache_read, 0.03, EPS);
    assert_float_equal(sp->cache_write, 0.075, EPS);
    assert_float_equal(sp->output, 0.0225, EPS);
    assert_float_equal(sp->given, 0, EPS);
    dp_run_profile_destroy(p);
}

/* Model calls that report no usage add nothing to tokens or cost; the ones
 * that succeeded are counted so the report can say so:
 *   streamed  chat, status OK, no usage                  -> counted
 *   failed    chat, status ERROR, no usage (not billed)  -> not counted
 *   step      ai.generateText.doGenerate without usage below an
 *             ai.generateText with usage (the wrapper's usage is kept)
 *                                                        -> not counted
 *   priced    chat with usage                            -> not counted
 * calls_without_usage = 1; tokens 100 in + 10 in = 110. */
static void test_calls_without_usage(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 100);
    const char *chats[] = {"streamed", "failed", "priced"};
    int ids[3];
    for (int k = 0; k < 3; k++) {
        ids[k] = sb_span(&t, chats[k], root, 0, 50);
        sb_str(&t, ids[k], "gen_ai.operation.name", "chat");
        sb_str(&t, ids[k], "gen_ai.request.model", "gpt-4o-mini");
    }
    sb_status(&t, ids[1], DP_STATUS_ERROR);
    sb_int(&t, ids[2], "gen_ai.usage.input_tokens", 100);
    int gen = sb_span(&t, "ai.generateText", root, 50, 100);
    sb_str(&t, gen, "ai.model.id", "gpt-4o-mini");
    sb_int(&t, gen, "ai.usage.promptTokens", 10);
    sb_str(&t, sb_span(&t, "ai.generateText.doGenerate", gen, 55, 95), "ai.model.id",
           "gpt-4o-mini");
    dp_run_profile *p = build();
    assert_int_equal(p->llm_calls, 4);
    assert_int_equal(p->calls_without_usage, 1);
    assert_int_equal(p->tokens.input, 110);
    dp_run_profile_destroy(p);
}

/* Every token attribute family, one node each, all priced as haiku ($1 in,
 * $5 out per 1M); the first attribute present in each list wins:
 *   older  gen_ai.usage.prompt_tokens 1200 / completion_tokens 300
 *          -> (1200*1 + 300*5) / 1e6 = 2700e-6
 *   oi     llm.token_count.prompt 2000 / completion 400
 *          -> (2000*1 + 400*5) / 1e6 = 4000e-6
 *   dag    dag.tokens.input 500 / dag.tokens.output 70
 *          -> (500*1 + 70*5) / 1e6 = 850e-6
 *   both   input_tokens 100 beats prompt_tokens 9999, output_tokens 10 beats
 *          completion_tokens 8888 -> (100 + 50) / 1e6 = 150e-6
 *   mixed  prompt_tokens 40 beats dag.tokens.input 7777, completion_tokens 4
 *          beats dag.tokens.output 6666 -> (40 + 20) / 1e6 = 60e-6
 * Run: input 1200+2000+500+100+40 = 3840, output 300+400+70+10+4 = 784,
 * total 4624; cost 2700+4000+850+150+60 = 7760e-6; 5 LLM calls (token usage
 * alone makes a span one). */
static void test_token_attribute_families(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 500);
    int older = sb_span(&t, "older", root, 0, 100);
    sb_node(&t, older, "older", "haiku", -1, -1);
    sb_int(&t, older, "gen_ai.usage.prompt_tokens", 1200);
    sb_int(&t, older, "gen_ai.usage.completion_tokens", 300);
    int oi = sb_span(&t, "oi", root, 100, 200);
    sb_node(&t, oi, "oi", "haiku", -1, -1);
    sb_int(&t, oi, "llm.token_count.prompt", 2000);
    sb_int(&t, oi, "llm.token_count.completion", 400);
    int dag = sb_span(&t, "dag", root, 200, 300);
    sb_node(&t, dag, "dag", "haiku", -1, -1);
    sb_int(&t, dag, "dag.tokens.input", 500);
    sb_int(&t, dag, "dag.tokens.output", 70);
    int both = sb_span(&t, "both", root, 300, 400);
    sb_node(&t, both, "both", "haiku", 100, 10);
    sb_int(&t, both, "gen_ai.usage.prompt_tokens", 9999);
    sb_int(&t, both, "gen_ai.usage.completion_tokens", 8888);
    int mixed = sb_span(&t, "mixed", root, 400, 500);
    sb_node(&t, mixed, "mixed", "haiku", -1, -1);
    sb_int(&t, mixed, "dag.tokens.input", 7777);
    sb_int(&t, mixed, "gen_ai.usage.prompt_tokens", 40);
    sb_int(&t, mixed, "dag.tokens.output", 6666);
    sb_int(&t, mixed, "gen_ai.usage.completion_tokens", 4);
    dp_run_profile *p = build();

    static const struct {
        const char *id;
        uint64_t input, output;
        double cost;
    } want[] = {
        {"older", 1200, 300, 2700e-6}, {"oi", 2000, 400, 4000e-6}, {"dag", 500, 70, 850e-6},
        {"both", 100, 10, 150e-6},     {"mixed", 40, 4, 60e-6},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const dp_node_profile *n = node(p, want[i].id);
        assert_int_equal(n->tokens.input, want[i].input);
        assert_int_equal(n->tokens.output, want[i].output);
        assert_int_equal(n->llm_calls, 1);
        assert_true(n->cost_known);
        assert_float_equal(n->cost_usd, want[i].cost, EPS);
    }
    assert_int_equal(p->tokens.input, 3840);
    assert_int_equal(p->tokens.output, 784);
    assert_int_equal(dp_token_total(&p->tokens), 4624);
    assert_int_equal(p->llm_calls, 5);
    assert_float_equal(p->cost_usd, 7760e-6, EPS);
    assert_true(p->cost_complete);
    assert_int_equal(p->coerced_values + p->ignored_values, 0);
    dp_run_profile_destroy(p);
}

/* Usage on a node span above a call that reports its own usage is an
 * aggregate of it: node n (dag.tokens.output 50 on the node span) with a
 * child call reporting the older names prompt_tokens 80 / completion_tokens
 * 25. Counted once, from the call: n input 80, output 25, one LLM call,
 * priced as haiku through the node's model: (80*1 + 25*5) / 1e6 = 205e-6. */
static void test_older_token_names_below_a_node(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 100);
    int n = sb_span(&t, "n", root, 0, 100);
    sb_node(&t, n, "n", "haiku", -1, -1);
    sb_int(&t, n, "dag.tokens.output", 50);
    int call = sb_span(&t, "call", n, 10, 90);
    sb_int(&t, call, "gen_ai.usage.prompt_tokens", 80);
    sb_int(&t, call, "gen_ai.usage.completion_tokens", 25);
    dp_run_profile *p = build();
    const dp_node_profile *np = node(p, "n");
    assert_int_equal(np->tokens.input, 80);
    assert_int_equal(np->tokens.output, 25);
    assert_int_equal(np->llm_calls, 1);
    assert_float_equal(np->cost_usd, 205e-6, EPS);
    assert_int_equal(p->tokens.input, 80);
    assert_int_equal(p->tokens.output, 25);
    assert_int_equal(p->llm_calls, 1);
    assert_int_equal(p->aggregate_spans, 1);
    dp_run_profile_destroy(p);
}

/* The span's own cost wins; unknown models give unknown cost, never $0. */
static void test_cost_attribute_and_unknown_model(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 300);
    int a = sb_span(&t, "a", root, 0, 100);
    sb_node(&t, a, "a", "gpt-4o", 1000, 1000);
    sb_double(&t, a, "gen_ai.usage.cost", 0.5);
    int b = sb_span(&t, "b", root, 100, 200);
    sb_node(&t, b, "b", "mystery-model-9", 1000, 1000);
    int c = sb_span(&t, "c", root, 200, 300);
    /* llm.cost.total as a numeric string: coerced */
    sb_node(&t, c, "c", "mystery-model-9", 10, 10);
    sb_str(&t, c, "llm.cost.total", "0.25");
    dp_run_profile *p = build();
    assert_float_equal(node(p, "a")->cost_usd, 0.5, EPS);
    assert_true(node(p, "a")->cost_known);
    assert_false(node(p, "b")->cost_known);
    assert_int_equal(node(p, "b")->unknown_cost_calls, 1);
    assert_float_equal(node(p, "c")->cost_usd, 0.25, EPS);
    /* a cost stated on the span has no split: all of it is "given" */
    assert_float_equal(node(p, "a")->cost_split.given, 0.5, EPS);
    assert_float_equal(node(p, "a")->cost_split.input + node(p, "a")->cost_split.output, 0, EPS);
    assert_float_equal(node(p, "c")->cost_split.given, 0.25, EPS);
    assert_int_equal(p->unknown_cost_calls, 1);
    assert_false(p->cost_complete);
    assert_true(p->cost_any_known);
    assert_float_equal(p->cost_usd, 0.75, EPS); /* known part: 0.5 + 0.25 */
    const dp_model_usage *m = model(p, "mystery-model-9");
    assert_int_equal(m->calls, 2);
    assert_false(m->cost_known);
    assert_int_equal(p->coerced_values, 1);
    dp_run_profile_destroy(p);
}

/* gpt-4o-mini default: 1000 in * 0.15 + 1000 out * 0.60 = 750 / 1e6 = 0.00075 */
static void test_default_model(void **state)
{
    (void)state;
    sb_init(&t);
    int s = sb_span(&t, "call", -1, 0, 10);
    sb_int(&t, s, "gen_ai.usage.input_tokens", 1000);
    sb_int(&t, s, "gen_ai.usage.output_tokens", 1000);
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    dp_run_profile *p = build_with(&cfg);
    assert_int_equal(p->unknown_cost_calls, 1); /* no model, no default */
    assert_string_equal(p->models[0].model, "unknown");
    dp_run_profile_destroy(p);

    strcpy(cfg.default_model, "gpt-4o-mini");
    p = build_with(&cfg);
    assert_int_equal(p->unknown_cost_calls, 0);
    assert_float_equal(p->cost_usd, 0.00075, EPS);
    assert_string_equal(p->models[0].model, "gpt-4o-mini");
    assert_string_equal(p->nodes[0].model, "gpt-4o-mini");
    dp_run_profile_destroy(p);
}

/* dag.model > response > request > llm.model_name; the price falls back along
 * the same order when the first name has no price. */
static void test_model_precedence(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 40);
    int a = sb_span(&t, "a", root, 0, 10);
    sb_str(&t, a, "dag.node.id", "a");
    sb_str(&t, a, "gen_ai.request.model", "gpt-4o");
    sb_str(&t, a, "gen_ai.response.model", "gpt-4o-mini-2024-07-18");
    sb_int(&t, a, "gen_ai.usage.input_tokens", 1000000);
    int b = sb_span(&t, "b", root, 10, 20);
    sb_str(&t, b, "dag.node.id", "b");
    sb_str(&t, b, "gen_ai.response.model", "my-finetune");
    sb_str(&t, b, "gen_ai.request.model", "gpt-4o");
    sb_int(&t, b, "gen_ai.usage.input_tokens", 1000000);
    int c = sb_span(&t, "c", root, 20, 30);
    sb_str(&t, c, "dag.node.id", "c");
    sb_str(&t, c, "llm.model_name", "gemini-2.5-flash");
    sb_int(&t, c, "llm.token_count.prompt", 1000000);
    sb_int(&t, c, "llm.token_count.completion", 1000000);
    dp_run_profile *p = build();
    /* a: response model gpt-4o-mini: 1M input * $0.15 = 0.15 */
    assert_string_equal(node(p, "a")->model, "gpt-4o-mini-2024-07-18");
    assert_float_equal(node(p, "a")->cost_usd, 0.15, EPS);
    /* b: label my-finetune (unpriced), priced as the request model gpt-4o: $2.50 */
    assert_string_equal(node(p, "b")->model, "my-finetune");
    assert_float_equal(node(p, "b")->cost_usd, 2.5, EPS);
    /* c: OpenInference names: 1M in * 0.30 + 1M out * 2.50 = 2.80 */
    assert_float_equal(node(p, "c")->cost_usd, 2.8, EPS);
    dp_run_profile_destroy(p);
}

/* Nested LLM and tool spans belong to the nearest node; each request once.
 *   n1 (node, tokens 100/10, model haiku) > chat (200/20, no model) > tool grep (failed)
 *   n1 > tool "fetch_url" span without gen_ai.tool.name but execute_tool
 * n1's own usage sums the call below it: folded. n1 tokens = 200 in, 20 out,
 * one call priced as haiku ($1/$5) through the node: (200*1 + 20*5) / 1e6 = 300e-6. */
static void test_nested_llm_and_tool_spans(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 1000);
    int n1 = sb_span(&t, "n1", root, 0, 1000);
    sb_node(&t, n1, "n1", "haiku", 100, 10);
    int chat = sb_span(&t, "chat", n1, 10, 500);
    sb_str(&t, chat, "gen_ai.operation.name", "chat");
    sb_int(&t, chat, "gen_ai.usage.input_tokens", 200);
    sb_int(&t, chat, "gen_ai.usage.output_tokens", 20);
    int grep = sb_span(&t, "tool call", chat, 20, 32.5);
    sb_str(&t, grep, "gen_ai.tool.name", "grep");
    sb_status(&t, grep, DP_STATUS_ERROR);
    int fetch = sb_span(&t, "fetch_url", n1, 600, 900);
    sb_str(&t, fetch, "gen_ai.operation.name", "execute_tool");
    dp_run_profile *p = build();
    const dp_node_profile *n = node(p, "n1");
    assert_int_equal(n->tokens.input, 200);
    assert_int_equal(n->tokens.output, 20);
    assert_int_equal(p->tokens.input, 200);
    assert_int_equal(n->llm_calls, 1);
    assert_int_equal(n->span_count, 4);
    assert_float_equal(n->cost_usd, 300e-6, EPS);
    assert_int_equal(n->tool_call_count, 2);
    assert_string_equal(n->tool_calls[0].name, "grep");
    assert_float_equal(n->tool_calls[0].duration_ms, 12.5, 1e-6);
    assert_false(n->tool_calls[0].success);
    assert_string_equal(n->tool_calls[1].name, "fetch_url");
    assert_true(n->tool_calls[1].success);
    assert_int_equal(p->tool_calls, 2);
    /* the failed grep has no later attempt: not a retry */
    assert_int_equal(n->retries, 0);
    dp_run_profile_destroy(p);
}

/* Retries: a node id seen on a failed attempt then a successful one is one
 * node with one retry; nested failed sibling attempts of a model or tool call
 * count for their node; a failed plain span (a wrapper) is no attempt;
 * dag.retries overrides inference. */
static void test_retries(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 1000);
    int f1 = sb_span(&t, "fetch", root, 0, 100);
    sb_str(&t, f1, "dag.node.id", "fetch");
    sb_status(&t, f1, DP_STATUS_ERROR);
    int f2 = sb_span(&t, "fetch", root, 110, 200);
    sb_str(&t, f2, "dag.node.id", "fetch");

    int n2 = sb_span(&t, "n2", root, 200, 900);
    sb_str(&t, n2, "dag.node.id", "n2");
    int a1 = sb_span(&t, "llm", n2, 210, 300);
    int a2 = sb_span(&t, "llm", n2, 310, 400);
    int a3 = sb_span(&t, "llm", n2, 410, 500);
    sb_status(&t, a1, DP_STATUS_ERROR);
    sb_status(&t, a2, DP_STATUS_ERROR);
    /* same name, different parent: a separate operation, not a retry */
    int other = sb_span(&t, "other", n2, 500, 600);
    int a4 = sb_span(&t, "llm", other, 510, 520);
    sb_status(&t, a4, DP_STATUS_ERROR);
    int calls[] = {a1, a2, a3, a4};
    for (size_t i = 0; i < 4; i++)
        sb_str(&t, calls[i], "gen_ai.operation.name", "chat");
    /* a failed wrapper followed by another span of its name: no attempt */
    sb_status(&t, sb_span(&t, "chain", n2, 600, 650), DP_STATUS_ERROR);
    sb_span(&t, "chain", n2, 650, 700);

    int n3 = sb_span(&t, "n3", root, 900, 1000);
    sb_str(&t, n3, "dag.node.id", "n3");
    sb_int(&t, n3, "dag.retries", 0);
    int s1 = sb_span(&t, "step", n3, 900, 950);
    sb_status(&t, s1, DP_STATUS_ERROR);
    sb_str(&t, s1, "gen_ai.tool.name", "step");
    sb_str(&t, sb_span(&t, "step", n3, 950, 990), "gen_ai.tool.name", "step");

    dp_run_profile *p = build();
    assert_int_equal(p->node_count, 3);
    const dp_node_profile *f = node(p, "fetch");
    assert_int_equal(f->retries, 1);
    assert_float_equal(f->start_ms, 0.0, 1e-9);
    assert_float_equal(f->duration_ms, 200.0, 1e-9);
    assert_float_equal(f->failed_attempt_ms, 100.0, 1e-9);
    assert_int_equal(node(p, "n2")->retries, 2);
    assert_float_equal(node(p, "n2")->failed_attempt_ms, 180.0, 1e-9); /* 90 + 90 */
    assert_int_equal(node(p, "n3")->retries, 0);
    assert_int_equal(p->retries, 3);
    dp_run_profile_destroy(p);
}

/* Wrong types: "1500" -> 1500 (coerced), 200.0 -> 200 (coerced), int node id
 * 7 -> "7" (coerced), "2" retries -> 2 (coerced); "abc", -5, 2.5 and a bool
 * are ignored. */
static void test_wrong_typed_values(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 100);
    int a = sb_span(&t, "a", root, 0, 50);
    sb_int(&t, a, "dag.node.id", 7);
    sb_str(&t, a, "dag.model", "haiku");
    sb_str(&t, a, "dag.tokens.input", "1500");
    sb_double(&t, a, "gen_ai.usage.output_tokens", 200.0);
    sb_str(&t, a, "dag.retries", "2");
    int b = sb_span(&t, "b", root, 50, 100);
    sb_str(&t, b, "dag.node.id", "b");
    sb_str(&t, b, "gen_ai.usage.input_tokens", "abc");
    sb_int(&t, b, "gen_ai.usage.output_tokens", -5);
    sb_double(&t, b, "gen_ai.usage.cache_read.input_tokens", 2.5);
    sb_bool(&t, b, "dag.model", true);
    dp_run_profile *p = build();
    assert_int_equal(p->coerced_values, 4);
    assert_int_equal(p->ignored_values, 4);
    const dp_node_profile *n = node(p, "7");
    assert_int_equal(n->tokens.input, 1500);
    assert_int_equal(n->tokens.output, 200);
    assert_int_equal(n->retries, 2);
    /* haiku: 1500*1 + 200*5 = 2500 -> 0.0025 */
    assert_float_equal(n->cost_usd, 0.0025, EPS);
    assert_int_equal(dp_token_total(&node(p, "b")->tokens), 0);
    dp_run_profile_destroy(p);
}

/* Nodes with nothing but ids: no model, zero tokens, known zero cost. */
static void test_missing_attributes(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_str(&t, sb_span(&t, "a", root, 0, 100), "dag.node.id", "a");
    dp_run_profile *p = build();
    assert_string_equal(p->dag_id, "root");
    assert_null(p->nodes[0].model);
    assert_int_equal(p->nodes[0].llm_calls, 0);
    assert_true(p->nodes[0].cost_known);
    assert_float_equal(p->cost_usd, 0.0, EPS);
    assert_true(p->cost_complete);
    assert_int_equal(p->model_count, 0);
    assert_int_equal(p->coerced_values + p->ignored_values, 0);
    dp_run_profile_destroy(p);
}

/* The same span delivered twice (an export retried after a lost answer):
 * node n1 with a chat call of gpt-4o-mini, 1000 in / 200 out, sent twice.
 * Counted once: 1000 + 200 = 1200 tokens, one LLM call,
 * cost 1000 * 0.15 + 200 * 0.60 = 270 per 1M -> 0.00027 USD;
 * span_count keeps what arrived (3 + 1 duplicate = 4), duplicate_spans = 1. */
static void test_duplicate_span_counted_once(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "run", -1, 0, 1000);
    int n1 = sb_span(&t, "n1", root, 0, 900);
    sb_str(&t, n1, "dag.node.id", "n1");
    int chat = sb_span(&t, "chat", n1, 10, 500);
    sb_str(&t, chat, "gen_ai.operation.name", "chat");
    sb_str(&t, chat, "gen_ai.request.model", "gpt-4o-mini");
    sb_int(&t, chat, "gen_ai.usage.input_tokens", 1000);
    sb_int(&t, chat, "gen_ai.usage.output_tokens", 200);
    /* the copy: same span id, same everything */
    int copy = sb_span(&t, "chat", n1, 10, 500);
    t.spans[copy] = t.spans[chat];

    dp_run_profile *p = build();
    assert_int_equal(p->span_count, 4);
    assert_int_equal(p->duplicate_spans, 1);
    assert_int_equal(p->llm_calls, 1);
    assert_int_equal(p->tokens.input, 1000);
    assert_int_equal(p->tokens.output, 200);
    assert_true(p->cost_usd > 0.00027 - 1e-12 && p->cost_usd < 0.00027 + 1e-12);
    assert_int_equal(p->node_count, 1);
    dp_run_profile_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicate_span_counted_once),
        cmocka_unit_test(test_cache_tokens_inside_input),
        cmocka_unit_test(test_cost_split_above_tier),
        cmocka_unit_test(test_calls_without_usage),
        cmocka_unit_test(test_token_attribute_families),
        cmocka_unit_test(test_older_token_names_below_a_node),
        cmocka_unit_test(test_cost_attribute_and_unknown_model),
        cmocka_unit_test(test_default_model),
        cmocka_unit_test(test_model_precedence),
        cmocka_unit_test(test_nested_llm_and_tool_spans),
        cmocka_unit_test(test_retries),
        cmocka_unit_test(test_wrong_typed_values),
        cmocka_unit_test(test_missing_attributes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

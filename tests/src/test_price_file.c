/*
 * Price files in their three formats: the YAML list (see also test_config),
 * LiteLLM's JSON and genai-prices' provider list, recognised by content.
 * The fixtures in tests/data/prices are written by hand after each
 * project's documented format; every expected price is the fixture's
 * number converted by hand (LiteLLM: USD per token x 1e6 = per 1M).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "buf.h"
#include "price_file.h"
#include "prices.h"
#include "prices.h"
#include "profile_internal.h"

#define DATA DP_TEST_DATA_DIR "/prices/"
#define EPS 1e-9

static dp_price_table *load(const char *path)
{
    char err[1024] = "";
    dp_price_table *t = dp_price_table_create();
    assert_non_null(t);
    if (dp_price_file_load(t, path, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    return t;
}

static const dp_model_price *must(const dp_price_table *t, const char *model)
{
    const dp_model_price *p = dp_price_table_lookup(t, dp_str_from_cstr(model));
    if (!p)
        fail_msg("%s has no price", model);
    return p;
}

static void test_litellm(void **state)
{
    (void)state;
    dp_price_table *t = load(DATA "litellm_sample.json");
    /* sample_spec and dall-e-3 (pixels only) are skipped */
    assert_int_equal(dp_price_table_user_count(t), 5);
    /* 3e-06 / 1.5e-05 / 3e-07 / 3.75e-06 per token; above 200k 6e-06 /
     * 2.25e-05 / 6e-07 / 7.5e-06 */
    const dp_model_price *p = must(t, "claude-sonnet-4-5-20250929");
    assert_float_equal(p->input_per_mtok, 3.0, EPS);
    assert_float_equal(p->output_per_mtok, 15.0, EPS);
    assert_float_equal(p->cache_read_per_mtok, 0.30, EPS);
    assert_float_equal(p->cache_write_per_mtok, 3.75, EPS);
    assert_int_equal(p->tier_threshold, 200000);
    assert_float_equal(p->above_input_per_mtok, 6.0, EPS);
    assert_float_equal(p->above_output_per_mtok, 22.5, EPS);
    assert_float_equal(p->above_cache_read_per_mtok, 0.60, EPS);
    assert_float_equal(p->above_cache_write_per_mtok, 7.50, EPS);
    /* 300000 input, 2000 output: above 200k, all at the tier's prices:
     * (300000*6 + 2000*22.5)/1e6 = (1800000 + 45000)/1e6 = 1.845 */
    dp_token_counts big = {.input = 300000, .output = 2000};
    assert_float_equal(dp_prof_call_cost(p, &big), 1.845, EPS);
    /* _above_128k_: 1.25e-06 / 5e-06, above 2.5e-06 / 1e-05; no cache price:
     * cache at the input price, above the tier at the base cache price */
    p = must(t, "gemini/gemini-1.5-pro");
    assert_int_equal(p->tier_threshold, 128000);
    assert_float_equal(p->input_per_mtok, 1.25, EPS);
    assert_float_equal(p->above_input_per_mtok, 2.5, EPS);
    assert_float_equal(p->above_output_per_mtok, 10.0, EPS);
    assert_float_equal(p->cache_read_per_mtok, 1.25, EPS);
    assert_float_equal(p->above_cache_read_per_mtok, 1.25, EPS);
    /* the qualifier picks azure's entry; a bare name is openai's */
    assert_float_equal(must(t, "azure/gpt-4o-2024-08-06")->input_per_mtok, 2.75, EPS);
    assert_float_equal(must(t, "gpt-4o")->input_per_mtok, 2.5, EPS);
    assert_float_equal(must(t, "openai/gpt-4o")->cache_read_per_mtok, 1.25, EPS);
    assert_float_equal(must(t, "models/gemini-1.5-pro")->input_per_mtok, 1.25, EPS);
    assert_float_equal(must(t, "text-embedding-3-small")->input_per_mtok, 0.02, EPS);
    dp_price_match m;
    dp_price_table_explain(t, DP_STR_LIT("azure/gpt-4o-2024-08-06"), &m);
    assert_int_equal(m.rule, DP_PRICE_RULE_SUFFIX);
    assert_string_equal(m.matched_name, "azure/gpt-4o");
    assert_string_equal(m.provider, "azure");
    assert_string_equal(m.origin, DATA "litellm_sample.json");
    /* not in the file: the built-ins answer (Sonnet 4.5 $3 input) */
    dp_price_table_explain(t, DP_STR_LIT("claude-sonnet-4-5"), &m);
    assert_true(m.builtin);
    assert_float_equal(m.price->input_per_mtok, 3.0, EPS);
    assert_null(dp_price_table_lookup(t, DP_STR_LIT("dall-e-3")));
    dp_price_table_destroy(t);
}

static void test_genai(void **state)
{
    (void)state;
    dp_price_table *t = load(DATA "genai_sample.json");
    /* dall-e-3 (per request only) is skipped */
    assert_int_equal(dp_price_table_user_count(t), 5);
    /* gpt- names are openai's (its model_match) although copilot comes first */
    assert_float_equal(must(t, "gpt-4o")->input_per_mtok, 2.5, EPS);
    assert_float_equal(must(t, "gpt-4o-2024-11-20")->input_per_mtok, 2.5, EPS);
    assert_float_equal(must(t, "copilot/gpt-4o")->input_per_mtok, 9.0, EPS);
    /* o3: the 2025-06-10 prices (2 / 8 / 0.5); 2999's are not in force */
    const dp_model_price *p = must(t, "o3");
    assert_float_equal(p->input_per_mtok, 2.0, EPS);
    assert_float_equal(p->output_per_mtok, 8.0, EPS);
    assert_float_equal(p->cache_read_per_mtok, 0.5, EPS);
    assert_float_equal(must(t, "O3-2025-04-16")->input_per_mtok, 2.0, EPS); /* case-insensitive */
    assert_null(dp_price_table_lookup(t, DP_STR_LIT("o3-pro")));
    /* gemini: and of starts_with and a regex; tier above 200000 input tokens:
     * input 2.5, output 15, cache read untiered (0.31), cache write = input */
    p = must(t, "gemini-2.5-pro-preview-06-05");
    assert_int_equal(p->tier_threshold, 200000);
    assert_float_equal(p->input_per_mtok, 1.25, EPS);
    assert_float_equal(p->above_input_per_mtok, 2.5, EPS);
    assert_float_equal(p->above_output_per_mtok, 15.0, EPS);
    assert_float_equal(p->above_cache_read_per_mtok, 0.31, EPS);
    assert_float_equal(p->cache_write_per_mtok, 1.25, EPS);
    assert_float_equal(p->above_cache_write_per_mtok, 2.5, EPS);
    assert_null(dp_price_table_lookup(t, DP_STR_LIT("gemini-2.5-pro-tts")));
    /* the list price, not the off-peak window's */
    assert_float_equal(must(t, "deepseek-chat")->input_per_mtok, 0.27, EPS);
    dp_price_match m;
    dp_price_table_explain(t, DP_STR_LIT("o3-2025-04-16"), &m);
    assert_int_equal(m.rule, DP_PRICE_RULE_MATCHER);
    assert_string_equal(m.clause, "regex \"^o3(-\\d{4}-\\d{2}-\\d{2})?$\"");
    assert_string_equal(m.provider, "openai");
    dp_price_table_destroy(t);
}

/* Write text to a temporary file; path gets its name (64 bytes). */
static void write_tmp(char *path, const char *text)
{
    strcpy(path, "/tmp/dp_test_price_file_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Loading text fails with "<path><suffix>" and adds nothing. */
static void expect_error(const char *text, const char *suffix)
{
    char path[64], err[1024], want[1200];
    write_tmp(path, text);
    dp_price_table *t = dp_price_table_create();
    assert_int_equal(dp_price_file_load(t, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s%s", path, suffix);
    assert_string_equal(err, want);
    assert_int_equal(dp_price_table_user_count(t), 0);
    dp_price_table_destroy(t);
    unlink(path);
}

static void test_errors(void **state)
{
    (void)state;
    /* jansson's line and column of the second comma */
    expect_error("{\n  \"m\": {\n    \"input_cost_per_token\": 1e-6,,\n",
                 ":3:34: string or '}' expected near ','");
    expect_error("{\"m\": {\"input_cost_per_token\": \"cheap\"}}",
                 ": model 'm': input_cost_per_token: expected a number (USD per token)");
    expect_error("{\"m\": {\"input_cost_per_token\": 2}}",
                 ": model 'm': input_cost_per_token: 2e+06 USD per 1M tokens is out of range");
    expect_error("{\"m\": [1]}", ": model 'm': expected an object of prices");
    const char *bad_regex =
        "[{\"id\": \"p\", \"models\": [{\"id\": \"m1\", \"match\": {\"regex\": \"gpt-(4\"}, "
        "\"prices\": {\"input_mtok\": 1, \"output_mtok\": 1}}]}]";
    char path[64], err[1024];
    write_tmp(path, bad_regex);
    dp_price_table *t = dp_price_table_create();
    assert_int_equal(dp_price_file_load(t, path, err, sizeof(err)), -1);
    /* PCRE2's own message follows; the file, provider, model and regex lead */
    char want[256];
    snprintf(want, sizeof(want), "%s: provider 'p', model 'm1': bad regex 'gpt-(4': ", path);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got: %s", err);
    dp_price_table_destroy(t);
    unlink(path);
    expect_error("[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"match\": {\"like\": \"x\"}, "
                 "\"prices\": {\"input_mtok\": 1}}]}]",
                 ": provider 'p', model 'm': match: unknown rule like");
    expect_error("[{\"id\": \"p\", \"models\": [{\"id\": \"m\", \"match\": {\"equals\": \"m\"}, "
                 "\"prices\": {\"input_mtok\": \"1\"}}]}]",
                 ": provider 'p', model 'm': expected a number or {base, tiers} for input_mtok");
    expect_error("[{\"id\": \"p\", \"models\": [{\"id\": \"ok\", \"match\": {\"equals\": \"ok\"}, "
                 "\"prices\": {\"input_mtok\": 1}}, {\"id\": \"m\", \"match\": {\"or\": []}, "
                 "\"prices\": {\"input_mtok\": 1}}]}]",
                 ": provider 'p', model 'm': match: expected a non-empty list for or");
    expect_error("[{\"id\": \"p\", \"models\": 3}]", ": provider 1: expected {id, models: [...]}");
}

/* A LiteLLM entry with an empty litellm_provider has no provider (it is
 * loaded); a load that fails after adding entries (here: more providers
 * than a table holds) takes them back, leaving what was loaded before. */
static void test_litellm_providers(void **state)
{
    (void)state;
    char path[64], err[1024];
    write_tmp(path, "{\"acme-1\": {\"input_cost_per_token\": 2e-06, \"output_cost_per_token\": "
                    "8e-06, \"litellm_provider\": \"\", \"mode\": \"chat\"}}");
    dp_price_table *t = dp_price_table_create();
    assert_int_equal(dp_price_file_load(t, path, err, sizeof(err)), 0);
    assert_int_equal(dp_price_table_user_count(t), 1);
    const dp_model_price *p = dp_price_table_lookup(t, dp_str_from_cstr("acme-1"));
    assert_non_null(p);
    assert_float_equal(p->input_per_mtok, 2.0, 1e-9);
    assert_float_equal(p->output_per_mtok, 8.0, 1e-9);
    unlink(path);

    /* one provider more than a table holds, each with its own model */
    size_t n = DP_PRICE_TABLE_MAX_GROUPS + 1;
    dp_buf b;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_buf_puts(&b, "{"), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dp_buf_printf(&b,
                                       "%s\"m%zu\": {\"input_cost_per_token\": 1e-06, "
                                       "\"litellm_provider\": \"p%zu\"}",
                                       i ? "," : "", i, i),
                         0);
    assert_int_equal(dp_buf_puts(&b, "}"), 0);
    write_tmp(path, b.data);
    dp_buf_free(&b);
    assert_int_equal(dp_price_file_load(t, path, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want),
             "%s: model 'm4096': cannot add its provider 'p4096' (out of memory, or more than "
             "4096 providers)",
             path);
    assert_string_equal(err, want);
    /* the 4096 models added before the failure are gone; acme-1 stays */
    assert_int_equal(dp_price_table_user_count(t), 1);
    assert_null(dp_price_table_lookup(t, dp_str_from_cstr("m0")));
    assert_non_null(dp_price_table_lookup(t, dp_str_from_cstr("acme-1")));
    dp_price_table_destroy(t);
    unlink(path);
}

/* The YAML format's tier: above_tokens and above_* prices, each defaulting
 * to its base price. */
static void test_yaml_tier(void **state)
{
    (void)state;
    char path[64];
    write_tmp(path, "- model: acme-long\n  input: 1\n  output: 2\n  cache_read: 0.1\n"
                    "  above_tokens: 100000\n  above_input: 2\n  above_output: 3\n");
    dp_price_table *t = load(path);
    const dp_model_price *p = must(t, "acme-long");
    assert_int_equal(p->tier_threshold, 100000);
    assert_float_equal(p->above_input_per_mtok, 2.0, EPS);
    assert_float_equal(p->above_output_per_mtok, 3.0, EPS);
    assert_float_equal(p->above_cache_read_per_mtok, 0.1, EPS);
    assert_float_equal(p->above_cache_write_per_mtok, 1.0, EPS); /* cache write = input = 1 */
    /* 100001 input (1 cache read), 10 output: above, (100000*2 + 1*0.1 +
     * 10*3)/1e6 = 200030.1/1e6 */
    dp_token_counts c = {.input = 100001, .output = 10, .cache_read = 1};
    assert_float_equal(dp_prof_call_cost(p, &c), 0.2000301, EPS);
    dp_price_table_destroy(t);
    unlink(path);
    expect_error("- model: a\n  input: 1\n  output: 1\n  above_input: 2\n",
                 ":4: an above_* price needs above_tokens (the prompt size it applies above)");
    expect_error("- model: a\n  input: 1\n  output: 1\n  above_tokens: 1.5\n  above_input: 2\n",
                 ":4: above_tokens: expected a whole number of input tokens, got '1.5'");
    expect_error("- model: a\n  input: 1\n  output: 1\n  above_tokens: 1000\n",
                 ":4: above_tokens needs at least one above_* price (above_input, above_output, "
                 "above_cache_read, above_cache_write)");
}

/* A YAML list in JSON syntax is still the YAML format. */
static void test_json_yaml_list(void **state)
{
    (void)state;
    char path[64];
    write_tmp(path, "[{\"model\": \"acme-1\", \"input\": 2, \"output\": 4}]");
    dp_price_table *t = load(path);
    assert_float_equal(must(t, "acme-1-20250101")->output_per_mtok, 4.0, EPS);
    dp_price_table_destroy(t);
    unlink(path);
}

/* `dagprof prices --price-file FILE MODEL...`: entry, origin, rule and prices,
 * typed by hand from the fixture (per token x 1e6) and Anthropic's page. */
static void test_prices_command(void **state)
{
    (void)state;
    char *argv[] = {"dagprof",
                    "prices",
                    "--price-file",
                    DATA "litellm_sample.json",
                    "azure/gpt-4o-2024-08-06",
                    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    "claude-sonnet-4-5",
                    "gpt-4.5-preview"};
    FILE *out = tmpfile(), *err = tmpfile();
    assert_int_equal(dp_cli_main_to((int)(sizeof(argv) / sizeof(argv[0])), argv, out, err), 0);
    long n = ftell(out);
    char *text = calloc(1, (size_t)n + 1);
    rewind(out);
    assert_int_equal(fread(text, 1, (size_t)n, out), (size_t)n);
    assert_string_equal(
        text,
        "azure/gpt-4o-2024-08-06\n"
        "  entry: azure/gpt-4o (" DATA "litellm_sample.json, provider azure)\n"
        "  rule: name \"azure/gpt-4o\" + date/version suffix \"-2024-08-06\"\n"
        "  price: input 2.75, output 11, cache read 1.375, cache write 2.75 (USD per 1M tokens)\n"
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0\n"
        "  entry: claude-sonnet-4-5-20250929 (" DATA "litellm_sample.json, provider anthropic)\n"
        "  provider qualifier removed: \"us.anthropic.\" -> \"claude-sonnet-4-5-20250929-v1:0\"\n"
        "  rule: name \"claude-sonnet-4-5-20250929\" + date/version suffix \"-v1:0\"\n"
        "  price: input 3, output 15, cache read 0.3, cache write 3.75 (USD per 1M tokens)\n"
        "  above 200000 input tokens: input 6, output 22.5, cache read 0.6, cache write 7.5 (the "
        "whole call)\n"
        "claude-sonnet-4-5\n"
        "  entry: claude-sonnet-4-5 (built-in, prices of 2025-11)\n"
        "  rule: exact name \"claude-sonnet-4-5\"\n"
        "  price: input 3, output 15, cache read 0.3, cache write 3.75 (USD per 1M tokens)\n"
        "  above 200000 input tokens: input 6, output 22.5, cache read 0.6, cache write 7.5 (the "
        "whole call)\n"
        /* the built-in names sharing "gpt-4." (6 bytes), before gpt-4o's "gpt-4" */
        "gpt-4.5-preview\n"
        "  no price: unknown cost\n"
        "  closest entries: gpt-4.1, gpt-4.1-mini, gpt-4.1-nano\n");
    free(text);
    fclose(out);
    fclose(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_litellm),        cmocka_unit_test(test_litellm_providers),
        cmocka_unit_test(test_genai),          cmocka_unit_test(test_errors),
        cmocka_unit_test(test_yaml_tier),      cmocka_unit_test(test_json_yaml_list),
        cmocka_unit_test(test_prices_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Price table: built-in matching (exact, then the longest name + a date /
 * version suffix, after provider qualifiers; never a bare substring), user
 * entries before built-ins, globs, match rules and provider groups, the
 * long-context tier of a call's cost, bad entries, vendor families and
 * cheaper siblings. Expected prices are the vendors' list prices typed in
 * by hand (the built-in table's source is the same list, not this test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>

#include <cmocka.h>

#include "prices.h"
#include "profile_internal.h"

#define EPS 1e-12

static double input_price(const dp_price_table *t, const char *model)
{
    const dp_model_price *p = dp_price_table_lookup(t, dp_str_from_cstr(model));
    assert_non_null(p);
    return p->input_per_mtok;
}

static void test_builtin_matching(void **state)
{
    (void)state;
    /* exact (case-insensitive) */
    assert_float_equal(input_price(NULL, "GPT-4O"), 2.50, EPS);
    assert_float_equal(input_price(NULL, "gpt-4"), 30.0, EPS);
    assert_float_equal(input_price(NULL, "gpt-4.1-nano"), 0.10, EPS);
    assert_float_equal(input_price(NULL, "o3-mini"), 1.10, EPS);
    assert_float_equal(input_price(NULL, "o3"), 2.00, EPS);
    assert_float_equal(input_price(NULL, "gpt-5-mini"), 0.25, EPS);
    assert_float_equal(input_price(NULL, "claude-opus-4-5"), 5.0, EPS);
    assert_float_equal(input_price(NULL, "gemini-2.5-flash-lite"), 0.10, EPS);
    /* name + date / version suffix: the longest such name */
    assert_float_equal(input_price(NULL, "gpt-4o-mini-2024-07-18"), 0.15, EPS);
    assert_float_equal(input_price(NULL, "gpt-4o-2024-08-06"), 2.50, EPS);
    assert_float_equal(input_price(NULL, "gpt-4-0613"), 30.0, EPS);
    assert_float_equal(input_price(NULL, "gpt-4-turbo-2024-04-09"), 10.0, EPS);
    assert_float_equal(input_price(NULL, "o3-2025-04-16"), 2.00, EPS);
    assert_float_equal(input_price(NULL, "claude-3-5-haiku-20241022"), 0.80, EPS);
    assert_float_equal(input_price(NULL, "claude-3-5-sonnet-20241022-v2:0"), 3.00, EPS);
    assert_float_equal(input_price(NULL, "claude-3-5-sonnet-latest"), 3.00, EPS);
    /* claude-opus-4-1 (15 chars) + "-20250805" beats claude-opus-4 + "-1-20250805" */
    assert_float_equal(input_price(NULL, "claude-opus-4-1-20250805"), 15.0, EPS);
    assert_float_equal(input_price(NULL, "claude-opus-4-5-20251101"), 5.0, EPS);
    assert_float_equal(input_price(NULL, "gemini-1.5-pro-002"), 1.25, EPS);
    /* provider qualifiers */
    assert_float_equal(input_price(NULL, "openai/gpt-4o"), 2.50, EPS);
    assert_float_equal(input_price(NULL, "models/gemini-2.5-pro"), 1.25, EPS);
    assert_float_equal(input_price(NULL, "vertex_ai/claude-3-5-sonnet@20240620"), 3.00, EPS);
    assert_float_equal(input_price(NULL, "anthropic.claude-3-5-sonnet-20240620-v1:0"), 3.00, EPS);
    assert_float_equal(input_price(NULL, "anthropic.claude-3-haiku-20240307-v1:0"), 0.25, EPS);
    assert_float_equal(input_price(NULL, "us.anthropic.claude-3-5-haiku-20241022-v1:0"), 0.80, EPS);
    assert_float_equal(input_price(NULL, "openrouter/anthropic/claude-3.5-sonnet"), 3.00, EPS);
    /* aliases */
    assert_float_equal(input_price(NULL, "haiku"), 1.0, EPS);
    assert_float_equal(input_price(NULL, "Sonnet"), 3.0, EPS);
    assert_float_equal(input_price(NULL, "opus"), 5.0, EPS);
    /* Anthropic cache: read 0.1x, write 1.25x input */
    const dp_model_price *s = dp_price_table_lookup(NULL, DP_STR_LIT("claude-sonnet-4"));
    assert_float_equal(s->cache_read_per_mtok, 0.30, EPS);
    assert_float_equal(s->cache_write_per_mtok, 3.75, EPS);
    assert_float_equal(s->output_per_mtok, 15.0, EPS);
}

/* Names that contain a priced name but are other models: no price. */
static void test_not_a_substring(void **state)
{
    (void)state;
    const char *others[] = {
        "gpt-4.5-preview",    /* not gpt-4: ".5" is no version suffix */
        "o3-pro",             /* not o3 */
        "gpt-4o-mini-tts",    /* not gpt-4o-mini */
        "gpt-4-32k",          /* not gpt-4 */
        "gpt-4-1106-preview", /* "-preview" is no version suffix */
        "claude-opus-4-6",    /* "-6" is too short for a date */
        "my-gpt-4o",          /* the name must start with the entry's */
        "chatgpt-4o-latest",
        "gpt-4o-2024-08",
        "llama-3-70b",
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        if (dp_price_table_lookup(NULL, dp_str_from_cstr(others[i])))
            fail_msg("%s has a price", others[i]);
    }
    /* gpt-4o-mini is its own entry, never gpt-4o's */
    assert_float_equal(input_price(NULL, "gpt-4o-mini"), 0.15, EPS);
}

static void test_name_grammar(void **state)
{
    (void)state;
    const char *yes[] = {"-2024-08-06", "-20240620",      "-0613",   "@20240620", ":0",
                         "-v2",         "-20241022-v2:0", "-latest", "-001",      "-v1:0"};
    const char *no[] = {"-mini", ".5-preview", "-pro", "-1",           "-08",       "-2024-08",
                        "-v",    "-preview",   ":",    "-latest-mini", "-20240620x"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!dp_price_version_suffix(dp_str_from_cstr(yes[i])))
            fail_msg("'%s' should be a version suffix", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (dp_price_version_suffix(dp_str_from_cstr(no[i])))
            fail_msg("'%s' should not be a version suffix", no[i]);
    dp_str next, qual;
    assert_true(dp_price_strip_qualifier(DP_STR_LIT("us.anthropic.claude-x"), &next, &qual));
    assert_true(dp_str_eq(next, DP_STR_LIT("anthropic.claude-x")));
    assert_true(dp_str_eq(qual, DP_STR_LIT("us")));
    assert_true(dp_price_strip_qualifier(DP_STR_LIT("openai/gpt-4o"), &next, &qual));
    assert_true(dp_str_eq(next, DP_STR_LIT("gpt-4o")));
    assert_true(dp_str_eq(qual, DP_STR_LIT("openai")));
    assert_false(dp_price_strip_qualifier(DP_STR_LIT("gpt-4.5-preview"), &next, &qual));
    assert_false(dp_price_strip_qualifier(DP_STR_LIT("claude-3.5-sonnet"), &next, &qual));
    assert_false(dp_price_strip_qualifier(DP_STR_LIT("models/"), &next, &qual));
}

static void test_unknown(void **state)
{
    (void)state;
    assert_null(dp_price_table_lookup(NULL, DP_STR_LIT("llama-3-70b")));
    assert_null(dp_price_table_lookup(NULL, DP_STR_LIT("")));
    assert_null(dp_price_table_lookup(NULL, DP_STR_NULL));
}

static void test_user_entries_first(void **state)
{
    (void)state;
    dp_price_table *t = dp_price_table_create();
    assert_non_null(t);
    dp_model_price mine = {"gpt-4o", 1.0, 2.0, 0.5, 1.0};
    assert_int_equal(dp_price_table_set(t, &mine), 0);
    /* the user's gpt-4o is not gpt-4o-mini: that stays the built-in $0.15 */
    assert_float_equal(input_price(t, "gpt-4o-mini"), 0.15, EPS);
    /* a user name + suffix wins over every built-in */
    assert_float_equal(input_price(t, "gpt-4o-2024-08-06"), 1.0, EPS);
    assert_float_equal(input_price(t, "openai/gpt-4o"), 1.0, EPS);
    dp_model_price mini = {"gpt-4o-mini", 0.01, 0.02, 0.0, 0.01};
    assert_int_equal(dp_price_table_set(t, &mini), 0);
    assert_float_equal(input_price(t, "gpt-4o-mini"), 0.01, EPS);
    assert_float_equal(input_price(t, "gpt-4o"), 1.0, EPS);
    /* setting a pattern again replaces it (case-insensitive) */
    dp_model_price again = {"GPT-4O", 7.0, 7.0, 7.0, 7.0};
    assert_int_equal(dp_price_table_set(t, &again), 0);
    assert_float_equal(input_price(t, "gpt-4o-2024"), 7.0, EPS);
    assert_int_equal(dp_price_table_user_count(t), 2);
    /* built-ins still answer what users did not cover */
    assert_float_equal(input_price(t, "claude-3-opus"), 15.0, EPS);
    dp_price_table_destroy(t);
}

/* A test match rule: state is a prefix the name must start with. */
static const char *starts_with_rule(void *state, dp_str model)
{
    const char *prefix = state;
    size_t n = strlen(prefix);
    return model.len >= n && strncasecmp(model.ptr, prefix, n) == 0 ? "starts_with" : NULL;
}

static void test_rules_and_groups(void **state)
{
    (void)state;
    dp_price_table *t = dp_price_table_create();
    dp_price_matcher none = {NULL, NULL, NULL};
    int copilot = dp_price_table_add_group(t, "copilot", none);
    int openai =
        dp_price_table_add_group(t, "openai", (dp_price_matcher){starts_with_rule, NULL, "gpt-"});
    assert_int_equal(copilot, 0);
    assert_int_equal(openai, 1);
    const char *names[] = {"gpt-4o"};
    dp_model_price a = {"gpt-4o", 1.0, 1.0, 1.0, 1.0};
    dp_model_price b = {"gpt-4o", 2.0, 2.0, 2.0, 2.0};
    assert_int_equal(dp_price_table_add(t, &a, names, 1, none, copilot), 0);
    assert_int_equal(dp_price_table_add(t, &b, names, 1, none, openai), 0);
    /* gpt- names are openai's own: its entry wins although copilot's comes first */
    assert_float_equal(input_price(t, "gpt-4o"), 2.0, EPS);
    /* a qualifier naming a group picks that group */
    assert_float_equal(input_price(t, "copilot/gpt-4o"), 1.0, EPS);
    /* a rule-only entry: tried after names, with the clause reported */
    dp_model_price r = {"acme", 3.0, 3.0, 3.0, 3.0};
    assert_int_equal(
        dp_price_table_add(t, &r, NULL, 0, (dp_price_matcher){starts_with_rule, NULL, "acme-"}, -1),
        0);
    /* names of every form come before any rule: "copilot/gpt-4o" matches the
     * rule below as given, but its form "gpt-4o" is a name */
    dp_model_price any = {"any-copilot", 5.0, 5.0, 5.0, 5.0};
    assert_int_equal(dp_price_table_add(t, &any, NULL, 0,
                                        (dp_price_matcher){starts_with_rule, NULL, "copilot/"}, -1),
                     0);
    assert_float_equal(input_price(t, "copilot/gpt-4o"), 1.0, EPS);
    assert_float_equal(input_price(t, "copilot/other"), 5.0, EPS);
    dp_price_match m;
    dp_price_table_explain(t, DP_STR_LIT("vendor/acme-7"), &m);
    assert_non_null(m.price);
    assert_float_equal(m.price->input_per_mtok, 3.0, EPS);
    assert_int_equal(m.rule, DP_PRICE_RULE_MATCHER);
    assert_string_equal(m.clause, "starts_with");
    assert_true(dp_str_eq(m.form, DP_STR_LIT("acme-7")));
    assert_false(m.builtin);
    dp_price_table_explain(t, DP_STR_LIT("openai/gpt-4o-2024-08-06"), &m);
    assert_int_equal(m.rule, DP_PRICE_RULE_SUFFIX);
    assert_string_equal(m.provider, "openai");
    assert_string_equal(m.matched_name, "gpt-4o");
    dp_price_table_explain(t, DP_STR_LIT("claude-3-5-sonnet-20240620"), &m);
    assert_true(m.builtin);
    assert_int_equal(m.rule, DP_PRICE_RULE_SUFFIX);
    assert_string_equal(m.matched_name, "claude-3-5-sonnet");
    /* unknown: the names sharing the longest prefix are offered */
    dp_price_table_explain(t, DP_STR_LIT("gpt-4o-mini-tts"), &m);
    assert_null(m.price);
    assert_int_equal(m.rule, DP_PRICE_RULE_NONE);
    assert_true(m.near_count >= 1);
    assert_string_equal(m.near[0], "gpt-4o-mini");
    dp_price_table_destroy(t);
}

/* Long-context tier: built-in claude-sonnet-4-5 is $3 / $15 / $0.30 / $3.75
 * per 1M tokens, and $6 / $22.50 / $0.60 / $7.50 above 200k input tokens. */
static void test_tier_cost(void **state)
{
    (void)state;
    const dp_model_price *p = dp_price_table_lookup(NULL, DP_STR_LIT("claude-sonnet-4-5-20250929"));
    assert_non_null(p);
    assert_int_equal(p->tier_threshold, 200000);
    /* 200000 input (50000 cache read, 10000 cache write), 1000 output: at the
     * threshold, not above: (140000*3 + 1000*15 + 50000*0.30 + 10000*3.75)/1e6
     * = (420000 + 15000 + 15000 + 37500)/1e6 = 0.4875 */
    dp_token_counts at = {
        .input = 200000, .output = 1000, .cache_read = 50000, .cache_write = 10000};
    assert_float_equal(dp_prof_call_cost(p, &at), 0.4875, 1e-9);
    /* 250000 input: every token at the tier's price: (190000*6 + 1000*22.5 +
     * 50000*0.60 + 10000*7.50)/1e6 = (1140000 + 22500 + 30000 + 75000)/1e6 */
    dp_token_counts above = {
        .input = 250000, .output = 1000, .cache_read = 50000, .cache_write = 10000};
    assert_float_equal(dp_prof_call_cost(p, &above), 1.2675, 1e-9);
    /* gpt-4o has no tier: 300000*2.50/1e6 = 0.75 */
    const dp_model_price *o = dp_price_table_lookup(NULL, DP_STR_LIT("gpt-4o"));
    assert_int_equal(o->tier_threshold, 0);
    dp_token_counts big = {.input = 300000};
    assert_float_equal(dp_prof_call_cost(o, &big), 0.75, 1e-9);
    /* a tier with a negative price is refused */
    dp_price_table *t = dp_price_table_create();
    dp_model_price bad = {"x", 1, 1, 1, 1, 100, -1, 1, 1, 1};
    assert_int_equal(dp_price_table_set(t, &bad), -1);
    dp_price_table_destroy(t);
}

/* Answers are remembered per thread, but never across a change of the table:
 * the built-in gpt-4o price ($2.50 per million input tokens, asked for
 * first) gives way to the user's entry once it is set, and another table
 * answers for itself. */
static void test_lookup_follows_table_changes(void **state)
{
    (void)state;
    dp_price_table *t = dp_price_table_create();
    dp_price_table *u = dp_price_table_create();
    assert_float_equal(input_price(t, "gpt-4o"), 2.5, EPS);
    dp_model_price mine = {"gpt-4o", 9.0, 9.0, 0, 0};
    assert_int_equal(dp_price_table_set(t, &mine), 0);
    assert_float_equal(input_price(t, "gpt-4o"), 9.0, EPS);
    assert_float_equal(input_price(u, "gpt-4o"), 2.5, EPS);
    assert_float_equal(input_price(NULL, "gpt-4o"), 2.5, EPS);
    dp_price_table_destroy(t);
    dp_price_table_destroy(u);
}

/* Many names through the per-thread cache (more than it holds, so sets
 * overflow and ways are replaced): every answer stays the name's own.
 * gpt-4o-NNNN is gpt-4o ($2.50), gpt-4o-mini-NNNN gpt-4o-mini ($0.15). */
static void test_lookup_cache_many_names(void **state)
{
    (void)state;
    char name[64];
    for (int round = 0; round < 2; round++) {
        for (int i = 1000; i < 1600; i++) {
            snprintf(name, sizeof(name), "gpt-4o-%d", i);
            assert_float_equal(input_price(NULL, name), 2.50, EPS);
            snprintf(name, sizeof(name), "gpt-4o-mini-%d", i);
            assert_float_equal(input_price(NULL, name), 0.15, EPS);
        }
    }
}

static void test_glob(void **state)
{
    (void)state;
    dp_price_table *t = dp_price_table_create();
    dp_model_price g = {"my-*-model", 4.0, 8.0, 0, 0};
    assert_int_equal(dp_price_table_set(t, &g), 0);
    assert_float_equal(input_price(t, "My-Fine-Model"), 4.0, EPS);
    /* a glob matches the whole name */
    assert_null(dp_price_table_lookup(t, DP_STR_LIT("xmy-fine-model")));
    assert_true(dp_price_glob_match("a*b*c", DP_STR_LIT("aXXbYYc")));
    assert_false(dp_price_glob_match("a*b*c", DP_STR_LIT("aXXbYY")));
    assert_true(dp_price_glob_match("*", DP_STR_LIT("")));
    assert_true(dp_price_glob_match("**x", DP_STR_LIT("abx")));
    dp_price_table_destroy(t);
}

static void test_bad_entries(void **state)
{
    (void)state;
    dp_price_table *t = dp_price_table_create();
    dp_model_price neg = {"x", -1.0, 1.0, 0, 0};
    dp_model_price empty = {"", 1.0, 1.0, 0, 0};
    dp_model_price nul = {NULL, 1.0, 1.0, 0, 0};
    assert_int_equal(dp_price_table_set(t, &neg), -1);
    assert_int_equal(dp_price_table_set(t, &empty), -1);
    assert_int_equal(dp_price_table_set(t, &nul), -1);
    assert_int_equal(dp_price_table_set(NULL, &neg), -1);
    dp_price_table_destroy(t);
    dp_price_table_destroy(NULL);
}

static void test_vendor_and_sibling(void **state)
{
    (void)state;
    assert_string_equal(dp_price_vendor(DP_STR_LIT("claude-3-opus")), "anthropic");
    assert_string_equal(dp_price_vendor(DP_STR_LIT("sonnet")), "anthropic");
    assert_string_equal(dp_price_vendor(DP_STR_LIT("gemini-1.5-pro")), "google");
    assert_string_equal(dp_price_vendor(DP_STR_LIT("o4-mini")), "openai");
    assert_string_equal(dp_price_vendor(DP_STR_LIT("gpt-4.1")), "openai");
    assert_null(dp_price_vendor(DP_STR_LIT("llama-3")));
    const char *name = NULL;
    const dp_model_price *p =
        dp_price_table_cheaper_sibling(NULL, DP_STR_LIT("gpt-4o-2024-08-06"), &name);
    assert_non_null(p);
    assert_string_equal(name, "gpt-4o-mini");
    assert_float_equal(p->input_per_mtok, 0.15, EPS);
    assert_null(dp_price_table_cheaper_sibling(NULL, DP_STR_LIT("gpt-4o-mini"), &name));
    p = dp_price_table_cheaper_sibling(NULL, DP_STR_LIT("opus"), &name);
    assert_string_equal(name, "sonnet");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_matching),
        cmocka_unit_test(test_not_a_substring),
        cmocka_unit_test(test_name_grammar),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_user_entries_first),
        cmocka_unit_test(test_rules_and_groups),
        cmocka_unit_test(test_tier_cost),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_lookup_follows_table_changes),
        cmocka_unit_test(test_lookup_cache_many_names),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_vendor_and_sibling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

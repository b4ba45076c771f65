/*
 * Price table: built-in matching (case-insensitive substring, longest
 * pattern wins), user entries before built-ins, globs, bad entries,
 * vendor families and cheaper siblings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "prices.h"

#define EPS 1e-12

static double input_price(const dp_price_table *t, const char *model)
{
    const dp_model_price *p = dp_price_table_lookup(t, dp_str_from_cstr(model));
    assert_non_null(p);
    return p->input_per_mtok;
}

static void test_builtin_longest_match(void **state)
{
    (void)state;
    /* gpt-4o-mini (11 chars) beats gpt-4o and gpt-4 */
    assert_float_equal(input_price(NULL, "gpt-4o-mini-2024-07-18"), 0.15, EPS);
    assert_float_equal(input_price(NULL, "gpt-4o-2024-08-06"), 2.50, EPS);
    assert_float_equal(input_price(NULL, "GPT-4O"), 2.50, EPS);
    assert_float_equal(input_price(NULL, "gpt-4"), 30.0, EPS);
    assert_float_equal(input_price(NULL, "gpt-4-turbo-2024-04-09"), 10.0, EPS);
    assert_float_equal(input_price(NULL, "gpt-4.1-nano"), 0.10, EPS);
    assert_float_equal(input_price(NULL, "o3-mini"), 1.10, EPS);
    assert_float_equal(input_price(NULL, "o3"), 2.00, EPS);
    assert_float_equal(input_price(NULL, "gpt-5-mini"), 0.25, EPS);
    assert_float_equal(input_price(NULL, "claude-3-5-haiku-20241022"), 0.80, EPS);
    assert_float_equal(input_price(NULL, "claude-opus-4-1-20250805"), 15.0, EPS);
    assert_float_equal(input_price(NULL, "claude-opus-4-5"), 5.0, EPS);
    assert_float_equal(input_price(NULL, "anthropic.claude-3-haiku-20240307-v1:0"), 0.25, EPS);
    assert_float_equal(input_price(NULL, "gemini-2.5-flash-lite"), 0.10, EPS);
    assert_float_equal(input_price(NULL, "models/gemini-2.5-pro"), 1.25, EPS);
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
    /* the user's "gpt-4o" matches "gpt-4o-mini" too and user entries come first */
    assert_float_equal(input_price(t, "gpt-4o-mini"), 1.0, EPS);
    /* a longer user pattern wins among user entries */
    dp_model_price mini = {"gpt-4o-mini", 0.01, 0.02, 0.0, 0.01};
    assert_int_equal(dp_price_table_set(t, &mini), 0);
    assert_float_equal(input_price(t, "gpt-4o-mini"), 0.01, EPS);
    assert_float_equal(input_price(t, "gpt-4o"), 1.0, EPS);
    /* setting a pattern again replaces it (case-insensitive) */
    dp_model_price again = {"GPT-4O", 7.0, 7.0, 7.0, 7.0};
    assert_int_equal(dp_price_table_set(t, &again), 0);
    assert_float_equal(input_price(t, "gpt-4o-2024"), 7.0, EPS);
    /* built-ins still answer what users did not cover */
    assert_float_equal(input_price(t, "claude-3-opus"), 15.0, EPS);
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
        cmocka_unit_test(test_builtin_longest_match),        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_user_entries_first),           cmocka_unit_test(test_glob),
        cmocka_unit_test(test_lookup_follows_table_changes), cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_vendor_and_sibling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

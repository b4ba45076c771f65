/*
 * Tests of the analysis settings' sections (profiler/profile_config.c):
 * their defaults land in the right dp_profile_config fields, with the
 * values worked out by hand from the documented defaults, and the
 * thresholds section's rules hold for them and catch a high threshold set
 * below its base.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "profile_config.h"

static void test_defaults(void **state)
{
    dp_profile_config c;
    memset(&c, 0x5a, sizeof(c));
    dp_profile_config_defaults(&c);
    /* thresholds */
    assert_true(c.slow_node_factor == 2.0);
    assert_true(c.slow_node_high_factor == 4.0);
    assert_true(c.token_usage_factor == 3.0);
    assert_true(c.token_usage_high_factor == 5.0);
    assert_int_equal(c.retries_min, 2);
    assert_int_equal(c.retries_high, 3);
    assert_true(c.tool_latency_ms == 1000.0);        /* 1s */
    assert_true(c.tool_latency_high_ms == 5000.0);   /* 5s */
    assert_true(c.slow_llm_call_ms == 3000.0);       /* 3s */
    assert_true(c.slow_llm_call_high_ms == 10000.0); /* 10s */
    assert_true(c.dependency_wait_factor == 1.0);
    assert_true(c.dependency_wait_high_factor == 2.0);
    assert_int_equal(c.sequential_min_nodes, 3);
    assert_true(c.sequential_medium_impact_pct == 20.0);
    assert_true(c.sequential_high_impact_pct == 50.0);
    assert_true(c.severity_min_ms == 1000.0); /* 1s */
    assert_true(c.severity_min_usd == 0.01);
    assert_true(c.expensive_node_usd == 0.10);
    assert_true(c.expensive_node_high_factor == 5.0);
    assert_true(c.budget_high_factor == 2.0);
    /* recommendations */
    assert_true(c.model_downgrade_share == 0.30);
    assert_true(c.reduce_context_tokens == 4000.0);
    assert_int_equal(c.batch_min_calls, 5);
    assert_true(c.batch_small_ms == 500.0); /* 500ms */
    assert_int_equal(c.restructure_chain_nodes, 4);
    assert_true(c.parallelize_min_share == 0.05);
    /* budget: none */
    assert_true(c.budget_usd == 0.0);
    assert_int_equal(c.budget_tokens, 0);
    /* profile */
    assert_string_equal(c.default_model, "");
    assert_null(c.prices);
}

static void test_threshold_rules(void **state)
{
    dp_profile_config c;
    char err[256];
    const dp_config_key *high, *low;
    dp_profile_config_defaults(&c);
    assert_int_equal(
        dp_config_section_check_rules(&c, &dp_thresholds_section, err, sizeof(err), &high, &low),
        0);
    /* 12s is above tool_latency_high's default of 5s */
    const dp_config_key *k = dp_config_key_find(&dp_thresholds_section, "tool_latency", 12);
    assert_non_null(k);
    assert_int_equal(dp_config_key_set(&c, &dp_thresholds_section, k, "12s", 3, err, sizeof(err)),
                     0);
    assert_true(c.tool_latency_ms == 12000.0);
    assert_int_equal(
        dp_config_section_check_rules(&c, &dp_thresholds_section, err, sizeof(err), &high, &low),
        -1);
    assert_string_equal(err, "thresholds.tool_latency_high (5s) must not be below "
                             "thresholds.tool_latency (12s)");
    assert_ptr_equal(low, k);
}

/* The four sections' keys are distinct fields: setting one changes no other. */
static void test_sections_write_their_own_fields(void **state)
{
    const dp_config_section *sections[] = {&dp_profile_section, &dp_thresholds_section,
                                           &dp_recommendations_section, &dp_budget_section};
    char err[256];
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < sections[i]->key_count; j++) {
            const dp_config_key *k = &sections[i]->keys[j];
            dp_profile_config c, before;
            dp_profile_config_defaults(&c);
            dp_profile_config_defaults(&before);
            /* the key's maximum (a model name for the string key) */
            char value[32] = "m";
            if (k->type != DP_CFG_STRING)
                snprintf(value, sizeof(value), k->type == DP_CFG_DURATION_D ? "%.0fms" : "%.0f",
                         k->max);
            assert_int_equal(
                dp_config_key_set(&c, sections[i], k, value, strlen(value), err, sizeof(err)), 0);
            /* the bytes outside the key's field are as before */
            assert_memory_equal(&c, &before, k->offset);
            assert_memory_equal((const char *)&c + k->offset + k->size,
                                (const char *)&before + k->offset + k->size,
                                sizeof(c) - k->offset - k->size);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_threshold_rules),
        cmocka_unit_test(test_sections_write_their_own_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests of the metrics section (exporter/derived_metrics_config.c): its
 * defaults land in dp_derived_metrics_options with the values worked out by
 * hand, the temporality names map to their values, and the collector
 * refuses a series cap of 0 instead of picking one itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "derived_metrics.h"

static void test_defaults(void **state)
{
    dp_derived_metrics_options o;
    memset(&o, 0x5a, sizeof(o));
    dp_derived_metrics_options_defaults(&o);
    assert_int_equal(o.export_interval_ms, 15000); /* 15s */
    assert_int_equal(o.temporality, DP_METRICS_CUMULATIVE);
    assert_int_equal(o.max_series, 2000);
    assert_null(o.resource);
    assert_int_equal(o.resource_count, 0);
    assert_int_equal(o.start_time_ns, 0);
}

static void test_temporality_and_interval(void **state)
{
    dp_derived_metrics_options o;
    char err[256];
    dp_derived_metrics_options_defaults(&o);
    const dp_config_key *t = dp_config_key_find(&dp_derived_metrics_section, "temporality", 11);
    const dp_config_key *i = dp_config_key_find(&dp_derived_metrics_section, "export_interval", 15);
    assert_non_null(t);
    assert_non_null(i);
    assert_int_equal(
        dp_config_key_set(&o, &dp_derived_metrics_section, t, "delta", 5, err, sizeof(err)), 0);
    assert_int_equal(o.temporality, DP_METRICS_DELTA);
    assert_int_equal(
        dp_config_key_set(&o, &dp_derived_metrics_section, i, "50ms", 4, err, sizeof(err)), -1);
    assert_string_equal(err, "metrics.export_interval: '50ms' is out of range (100ms..24h)");
    assert_int_equal(
        dp_config_key_set(&o, &dp_derived_metrics_section, i, "2m", 2, err, sizeof(err)), 0);
    assert_int_equal(o.export_interval_ms, 120000); /* 2 * 60000 */
}

static void test_create_refuses_no_series(void **state)
{
    dp_derived_metrics_options o;
    dp_derived_metrics_options_defaults(&o);
    o.max_series = 0;
    assert_null(dp_derived_metrics_create(&o));
    dp_derived_metrics *m = dp_derived_metrics_create(NULL); /* the defaults */
    assert_non_null(m);
    dp_derived_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_temporality_and_interval),
        cmocka_unit_test(test_create_refuses_no_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests of the assembly section (assembly/trace_table_config.c): its
 * defaults land in dp_trace_table_options with the values worked out by
 * hand, a value from the file reaches its field, and the table refuses
 * shard counts the section's range excludes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trace_table.h"

static void test_defaults(void **state)
{
    dp_trace_table_options o;
    memset(&o, 0x5a, sizeof(o));
    dp_trace_table_options_defaults(&o);
    assert_int_equal(o.idle_timeout_ms, 2000);         /* 2s */
    assert_int_equal(o.max_age_ms, 3600000);           /* 1h = 3600 * 1000 */
    assert_int_equal(o.memory_limit_bytes, 268435456); /* 256MiB = 256 * 1048576 */
    assert_int_equal(o.shards, 64);
    assert_int_equal(o.late_window_ms, 600000); /* 10m = 600 * 1000 */
    assert_int_equal(o.max_pending_runs, 65536);
    assert_int_equal(o.late_ids_max, 0); /* not a key: the table picks */
    assert_null(o.clock);
    assert_null(o.clock_ctx);
}

static void test_value_reaches_its_field(void **state)
{
    dp_trace_table_options o;
    char err[256];
    dp_trace_table_options_defaults(&o);
    const dp_config_key *k = dp_config_key_find(&dp_trace_table_section, "memory_limit", 12);
    assert_non_null(k);
    assert_int_equal(dp_config_key_set(&o, &dp_trace_table_section, k, "3MiB", 4, err, sizeof(err)),
                     0);
    assert_int_equal(o.memory_limit_bytes, 3 * 1048576);
    assert_int_equal(o.shards, 64); /* the neighbours are untouched */
    assert_int_equal(o.max_age_ms, 3600000);
}

static void test_shards_outside_the_range_are_refused(void **state)
{
    dp_trace_table_options o;
    dp_trace_table_options_defaults(&o);
    o.shards = 0;
    assert_null(dp_trace_table_create(&o));
    o.shards = DP_TRACE_TABLE_MAX_SHARDS + 1;
    assert_null(dp_trace_table_create(&o));
    o.shards = 2;
    dp_trace_table *t = dp_trace_table_create(&o);
    assert_non_null(t);
    dp_trace_table_destroy(t);
    t = dp_trace_table_create(NULL); /* the defaults */
    assert_non_null(t);
    dp_trace_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_value_reaches_its_field),
        cmocka_unit_test(test_shards_outside_the_range_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Self-telemetry snapshots: the Prometheus text exposition (format 0.0.4)
 * compared with text written by hand from the format's rules, and the
 * look-ups the status line uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "telemetry.h"

/* A counter with labels, a gauge without, a fractional counter, a label
 * value and a help text that need escaping, an empty family. The expected
 * text follows the format by hand: HELP and TYPE name the sample name
 * (counters with "_total"), labels in the order given, whole numbers
 * without a fraction, 0.25 and 1.5 as written, backslash, quote and line
 * feed escaped in the label value, backslash and line feed in the help. */
static void test_prometheus_text(void **state)
{
    (void)state;
    dp_telemetry t;
    dp_telemetry_init(&t);
    dp_telemetry_family_add(&t, "dagprof_receiver_accepted_spans", DP_TELEMETRY_COUNTER, "{span}",
                            "Spans stored for profiling.");
    dp_telemetry_add(&t, 1200, "transport", "grpc", NULL);
    dp_telemetry_add(&t, 35, "transport", "http", NULL);
    dp_telemetry_family_add(&t, "dagprof_assembly_pending_runs", DP_TELEMETRY_GAUGE, "{run}",
                            "Finished runs waiting for a processor.");
    dp_telemetry_add(&t, 0, NULL);
    dp_telemetry_family_add(&t, "dagprof_processor_busy_seconds", DP_TELEMETRY_COUNTER, "s",
                            "Time spent profiling.");
    dp_telemetry_add(&t, 0.25, "worker", "0", NULL);
    dp_telemetry_add(&t, 1.5, "worker", "1", NULL);
    dp_telemetry_family_add(&t, "dagprof_odd", DP_TELEMETRY_GAUGE, "1",
                            "A back\\slash and a\nline feed.");
    dp_telemetry_add(&t, 7, "k", "a\"b\\c\nd", "signal", "traces", NULL);
    dp_telemetry_family_add(&t, "dagprof_nothing", DP_TELEMETRY_COUNTER, "1", "No points yet.");
    assert_false(t.failed);

    dp_buf out;
    dp_buf_init(&out, 0);
    assert_int_equal(dp_telemetry_render_prometheus(&t, &out), 0);
    const char *want =
        "# HELP dagprof_receiver_accepted_spans_total Spans stored for profiling.\n"
        "# TYPE dagprof_receiver_accepted_spans_total counter\n"
        "dagprof_receiver_accepted_spans_total{transport=\"grpc\"} 1200\n"
        "dagprof_receiver_accepted_spans_total{transport=\"http\"} 35\n"
        "# HELP dagprof_assembly_pending_runs Finished runs waiting for a processor.\n"
        "# TYPE dagprof_assembly_pending_runs gauge\n"
        "dagprof_assembly_pending_runs 0\n"
        "# HELP dagprof_processor_busy_seconds_total Time spent profiling.\n"
        "# TYPE dagprof_processor_busy_seconds_total counter\n"
        "dagprof_processor_busy_seconds_total{worker=\"0\"} 0.25\n"
        "dagprof_processor_busy_seconds_total{worker=\"1\"} 1.5\n"
        "# HELP dagprof_odd A back\\\\slash and a\\nline feed.\n"
        "# TYPE dagprof_odd gauge\n"
        "dagprof_odd{k=\"a\\\"b\\\\c\\nd\",signal=\"traces\"} 7\n"
        "# HELP dagprof_nothing_total No points yet.\n"
        "# TYPE dagprof_nothing_total counter\n";
    assert_string_equal(out.data, want);
    dp_buf_free(&out);
    dp_telemetry_free(&t);
}

/* Values: large whole numbers stay whole (2^53 - 1), a fraction that is not
 * exact in binary reads back as the same double (0.1 as 0.1), NaN and the
 * infinities as the format spells them. */
static void test_prometheus_values(void **state)
{
    (void)state;
    dp_telemetry t;
    dp_telemetry_init(&t);
    dp_telemetry_family_add(&t, "v", DP_TELEMETRY_GAUGE, "1", "h");
    dp_telemetry_add(&t, 9007199254740991.0, NULL);
    dp_telemetry_add(&t, 0.1, NULL);
    dp_telemetry_add(&t, -3, NULL);
    dp_telemetry_add(&t, 1.0 / 0.0, NULL);
    dp_telemetry_add(&t, -1.0 / 0.0, NULL);
    dp_telemetry_add(&t, 0.0 / 0.0, NULL);
    dp_buf out;
    dp_buf_init(&out, 0);
    assert_int_equal(dp_telemetry_render_prometheus(&t, &out), 0);
    assert_string_equal(out.data, "# HELP v h\n# TYPE v gauge\n"
                                  "v 9007199254740991\nv 0.1\nv -3\nv +Inf\nv -Inf\nv NaN\n");
    dp_buf_free(&out);
    dp_telemetry_free(&t);
}

/* A capped output buffer: rendering fails rather than writing half a line unnoticed. */
static void test_prometheus_cap(void **state)
{
    (void)state;
    dp_telemetry t;
    dp_telemetry_init(&t);
    dp_telemetry_family_add(&t, "dagprof_x", DP_TELEMETRY_COUNTER, "1", "X.");
    dp_telemetry_add(&t, 1, NULL);
    dp_buf out;
    dp_buf_init(&out, 16);
    assert_int_equal(dp_telemetry_render_prometheus(&t, &out), -1);
    dp_buf_free(&out);
    dp_telemetry_free(&t);
}

/* Look-ups: a family's sum over its points, one point by a label, absent
 * names and labels as 0. */
static void test_lookups(void **state)
{
    (void)state;
    dp_telemetry t;
    dp_telemetry_init(&t);
    dp_telemetry_family_add(&t, "spans", DP_TELEMETRY_COUNTER, "{span}", "S.");
    dp_telemetry_add(&t, 10, "transport", "grpc", NULL);
    dp_telemetry_add(&t, 5, "transport", "http", NULL);
    assert_non_null(dp_telemetry_find(&t, "spans"));
    assert_null(dp_telemetry_find(&t, "runs"));
    assert_true(dp_telemetry_sum(&t, "spans") == 15);
    assert_true(dp_telemetry_value(&t, "spans", "transport", "http") == 5);
    assert_true(dp_telemetry_value(&t, "spans", NULL, NULL) == 10);
    assert_true(dp_telemetry_value(&t, "spans", "transport", "udp") == 0);
    assert_true(dp_telemetry_sum(&t, "runs") == 0);
    assert_int_equal(t.family_count, 1);
    assert_int_equal(t.point_count, 2);
    dp_telemetry_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_text),
        cmocka_unit_test(test_prometheus_values),
        cmocka_unit_test(test_prometheus_cap),
        cmocka_unit_test(test_lookups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

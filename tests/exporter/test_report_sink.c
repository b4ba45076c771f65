/*
 * The ordered report sink: runs handed over in any order are written
 * ordered by start time, ties by trace id, one JSON line each; nothing is
 * written before dp_report_sink_write_ordered(), and flushing writes
 * nothing. Each run is one root span; the expected order is worked out from
 * the starts and ids below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "profile.h"
#include "profile_config.h"
#include "sink.h"

/* A run of one root span of trace id {first, 0, ..., 0}, starting at start_ms. */
static dp_run_profile *one_span_run(uint8_t first, uint64_t start_ms)
{
    dp_span s;
    dp_profile_config cfg;
    dp_run_profile *p = NULL;
    memset(&s, 0, sizeof s);
    s.trace_id[0] = first;
    s.span_id[7] = 1;
    s.name = DP_STR_LIT("run");
    s.start_ns = 1700000000000000000ull + start_ms * 1000000ull;
    s.end_ns = s.start_ns + 1000000ull;
    dp_profile_config_defaults(&cfg);
    assert_int_equal(dp_profile_build(&s, 1, &cfg, &p), 0);
    return p;
}

static void test_written_in_start_order(void **state)
{
    (void)state;
    /* handed over as: c (start 20), b (start 10, id 0x0b), a (start 10, id 0x0a), d (start 5) */
    static const struct {
        uint8_t id;
        uint64_t start_ms;
    } runs[] = {{0x0c, 20}, {0x0b, 10}, {0x0a, 10}, {0x0d, 5}};
    /* by start, then id: d (5), a (10, 0x0a < 0x0b), b (10), c (20) */
    static const char *const want[] = {"0d", "0a", "0b", "0c"};

    dp_sink *sink = dp_ordered_report_sink_create(true, NULL, 0);
    assert_non_null(sink);
    for (size_t i = 0; i < 4; i++) {
        dp_run_profile *p = one_span_run(runs[i].id, runs[i].start_ms);
        assert_int_equal(dp_sink_on_run(sink, NULL, p), 0);
        dp_run_profile_destroy(p);
    }
    assert_int_equal(dp_sink_flush(sink), 0);
    unsigned long long written, failed;
    dp_report_sink_counts(sink, &written, &failed);
    assert_int_equal(written, 4);
    assert_int_equal(failed, 0);

    FILE *out = tmpfile();
    assert_non_null(out);
    assert_int_equal(dp_report_sink_write_ordered(sink, out), 0);
    rewind(out);
    char line[65536];
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(fgets(line, sizeof line, out));
        char key[64];
        snprintf(key, sizeof key, "\"trace_id\":\"%s000000000000000000000000000000\"", want[i]);
        assert_non_null(strstr(line, key));
    }
    assert_null(fgets(line, sizeof line, out));
    fclose(out);

    /* written once: a second call has nothing left */
    out = tmpfile();
    assert_int_equal(dp_report_sink_write_ordered(sink, out), 0);
    assert_int_equal(ftell(out), 0);
    fclose(out);
    dp_sink_destroy(sink);
}

/* Reports not written are freed with the sink. */
static void test_destroy_frees_kept_reports(void **state)
{
    (void)state;
    dp_sink *sink = dp_ordered_report_sink_create(false, NULL, 0);
    assert_non_null(sink);
    dp_run_profile *p = one_span_run(1, 0);
    assert_int_equal(dp_sink_on_run(sink, NULL, p), 0);
    dp_run_profile_destroy(p);
    dp_sink_destroy(sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_written_in_start_order),
        cmocka_unit_test(test_destroy_frees_kept_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The ordered report sink: runs handed over in any order are written
 * ordered by start time, ties by trace id, one JSON line each; nothing is
 * written before dp_report_sink_write_ordered(), and flushing writes
 * nothing. Each run is one root span; the expected order is worked out from
 * the starts and ids below. Reports larger than a chunk are streamed and
 * must come out byte for byte as when written whole.
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

/* All of a stream's bytes (rewound first), NUL-terminated; *len their count. */
static char *slurp(FILE *f, size_t *len)
{
    assert_int_equal(fflush(f), 0);
    long end = ftell(f);
    assert_true(end >= 0);
    char *data = malloc((size_t)end + 1);
    assert_non_null(data);
    rewind(f);
    assert_int_equal(fread(data, 1, (size_t)end, f), (size_t)end);
    data[end] = '\0';
    *len = (size_t)end;
    return data;
}

/*
 * A report larger than a chunk is streamed in chunks; its bytes must equal
 * the report written whole. The oracle is the same sink with the default
 * 16 MiB chunk, which a three-run report of a few KiB never reaches; the
 * 64-byte chunk makes every report go out in many pieces (checked: the
 * output is more than 10 chunks long).
 */
static void check_chunked_equals_whole(bool json)
{
    dp_run_profile *p[3] = {one_span_run(0x0c, 20), one_span_run(0x0a, 10), one_span_run(0x0b, 5)};
    FILE *whole_out = tmpfile(), *chunked_out = tmpfile(), *ordered_out = tmpfile(),
         *ordered_whole_out = tmpfile();
    assert_true(whole_out && chunked_out && ordered_out && ordered_whole_out);
    dp_sink *whole = dp_report_sink_create(whole_out, json, NULL);
    dp_sink *chunked = dp_report_sink_create_chunked(chunked_out, json, NULL, 64);
    dp_sink *ordered = dp_ordered_report_sink_create(json, NULL, 64);
    dp_sink *ordered_whole = dp_ordered_report_sink_create(json, NULL, 0);
    assert_true(whole && chunked && ordered && ordered_whole);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(dp_sink_on_run(whole, NULL, p[i]), 0);
        assert_int_equal(dp_sink_on_run(chunked, NULL, p[i]), 0);
        assert_int_equal(dp_sink_on_run(ordered, NULL, p[i]), 0);
        assert_int_equal(dp_sink_on_run(ordered_whole, NULL, p[i]), 0);
    }
    assert_int_equal(dp_report_sink_write_ordered(ordered, ordered_out), 0);
    assert_int_equal(dp_report_sink_write_ordered(ordered_whole, ordered_whole_out), 0);
    unsigned long long written, failed;
    dp_report_sink_counts(chunked, &written, &failed);
    assert_int_equal(written, 3);
    assert_int_equal(failed, 0);

    size_t whole_len, chunked_len, ordered_len, ordered_whole_len;
    char *a = slurp(whole_out, &whole_len), *b = slurp(chunked_out, &chunked_len);
    char *c = slurp(ordered_out, &ordered_len), *d = slurp(ordered_whole_out, &ordered_whole_len);
    assert_true(whole_len > 10 * 64);
    assert_int_equal(chunked_len, whole_len);
    assert_memory_equal(a, b, whole_len);
    assert_int_equal(ordered_len, ordered_whole_len);
    assert_memory_equal(c, d, ordered_len);
    assert_int_equal(ordered_len, whole_len); /* the same reports, in another order */
    free(a);
    free(b);
    free(c);
    free(d);
    dp_sink_destroy(whole);
    dp_sink_destroy(chunked);
    dp_sink_destroy(ordered);
    dp_sink_destroy(ordered_whole);
    fclose(whole_out);
    fclose(chunked_out);
    fclose(ordered_out);
    fclose(ordered_whole_out);
    for (size_t i = 0; i < 3; i++)
        dp_run_profile_destroy(p[i]);
}

static void test_chunked_json_equals_whole(void **state)
{
    (void)state;
    check_chunked_equals_whole(true);
}

static void test_chunked_text_equals_whole(void **state)
{
    (void)state;
    check_chunked_equals_whole(false);
}

/* Reports kept in temporary files and never written are freed with the sink. */
static void test_destroy_frees_spilled_reports(void **state)
{
    (void)state;
    dp_sink *sink = dp_ordered_report_sink_create(false, NULL, 64);
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
        cmocka_unit_test(test_chunked_json_equals_whole),
        cmocka_unit_test(test_chunked_text_equals_whole),
        cmocka_unit_test(test_destroy_frees_spilled_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * `dagprof diff`'s operands (dp_diff_load_operand): an OTLP file profiled to
 * its run's JSON report, one run of several picked by FILE#TRACEID or the
 * --trace-a/--trace-b value (a prefix will do, in any case), and the
 * messages for a file of several runs, an unknown or ambiguous prefix, a
 * directory and an operand that is no file. Files: tests/data/report/run_a.json
 * holds two runs (traces 0a0a… "qa-dag" and 0b0b…, see test_report_cmd.c);
 * tests/data/diff/before.json one run (trace aaaa…, "review-dag", wall 1000 ms).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "diff_cmd.h"

#define DATA DP_TEST_DATA_DIR
#define TWO_RUNS DATA "/report/run_a.json"
#define ONE_RUN DATA "/diff/before.json"

static dp_config cfg;

static int setup(void **state)
{
    char err[512];
    (void)state;
    dp_config_defaults(&cfg);
    /* a run history that does not exist: operands that are no file fail there */
    snprintf(cfg.history.path, sizeof(cfg.history.path), "/nonexistent/dagprof-test/history.db");
    return dp_config_load_prices(&cfg, err, sizeof(err));
}

static int teardown(void **state)
{
    (void)state;
    dp_config_release(&cfg);
    return 0;
}

/* The operand's report, parsed; its trace id in *trace (borrowed from the tree). */
static json_t *load(const char *operand, const char *trace)
{
    char *json = NULL, err[1024] = "";
    if (dp_diff_load_operand(&cfg, operand, trace, &json, err, sizeof(err)) != 0)
        fail_msg("%s: %s", operand, err);
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    assert_non_null(root);
    free(json);
    return root;
}

static void expect_error(const char *operand, const char *trace, const char *part1,
                         const char *part2)
{
    char *json = (char *)1, err[1024] = "";
    assert_int_equal(dp_diff_load_operand(&cfg, operand, trace, &json, err, sizeof(err)), -1);
    assert_null(json);
    if (!strstr(err, part1) || (part2 && !strstr(err, part2)))
        fail_msg("message '%s' lacks '%s' / '%s'", err, part1, part2 ? part2 : "");
}

static void test_one_run_file(void **state)
{
    (void)state;
    json_t *r = load(ONE_RUN, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "trace_id")),
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_string_equal(json_string_value(json_object_get(r, "dag_id")), "review-dag");
    /* root span 0..1000 ms */
    json_t *wall = json_object_get(json_object_get(r, "summary"), "wall_ms");
    assert_true(json_number_value(wall) == 1000.0);
    json_decref(r);
}

static void test_pick_a_run(void **state)
{
    (void)state;
    /* FILE#PREFIX, any case */
    json_t *r = load(TWO_RUNS "#0A0a", NULL);
    assert_string_equal(json_string_value(json_object_get(r, "dag_id")), "qa-dag");
    json_decref(r);
    /* the flag's value, the whole id */
    r = load(TWO_RUNS, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    assert_string_equal(json_string_value(json_object_get(r, "trace_id")),
                        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    json_decref(r);
    /* both, agreeing */
    r = load(TWO_RUNS "#0b", "0b");
    json_decref(r);
}

static void test_errors(void **state)
{
    (void)state;
    /* several runs and nothing picked: both trace ids listed */
    expect_error(TWO_RUNS, NULL, "holds 2 runs; pick one with", "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a");
    expect_error(TWO_RUNS, NULL, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", NULL);
    /* a prefix of neither; 0 starts both */
    expect_error(TWO_RUNS "#ff", NULL, "holds no run whose trace id starts with 'ff'",
                 "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a");
    expect_error(TWO_RUNS, "0", "trace id prefix '0' matches 2 runs", NULL);
    expect_error(TWO_RUNS, "xyz", "'xyz' is not a trace id", NULL);
    expect_error(TWO_RUNS "#0a", "0b", "two trace ids given", NULL);
    /* neither a file nor a run of a history (history.path names no database) */
    expect_error("0a0a0a", NULL, "0a0a0a: not a file, and the run history cannot be read", NULL);
    expect_error(DATA "/nope.json#0a", NULL, "not a file, and the run history cannot be read",
                 NULL);
    expect_error(DATA "/diff", NULL, "is a directory", NULL);
    expect_error(DATA "/otlp/broken.jsonl", NULL, "broken.jsonl:", NULL);
    expect_error("", NULL, "empty", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_run_file),
        cmocka_unit_test(test_pick_a_run),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * `dagprof report`: spans of one trace spread over two files are one run,
 * runs come out in start-time order, and bad or empty files are named on
 * stderr without hiding the good ones. The input is hand-written OTLP/JSON
 * in tests/data/report/ (see the expected figures worked out below).
 *
 * run_a.json line 1: trace 0a.. (start T+5s): root "qa" (dag.id qa-dag,
 *   0..1000 ms), node "fetch" 0..400 ms, node "answer" 500..1000 ms with
 *   gpt-4o-mini, 1000 input and 200 output tokens.
 * run_a.json line 2: trace 0b..: node "only" 100..300 ms.
 * run_b.json: trace 0b.. (start T): root "batch" (dag.id batch-dag, 0..300 ms).
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
#include "report_cmd.h"

#define DIR DP_TEST_DATA_DIR "/report/"

static char *slurp(FILE *f)
{
    long n = ftell(f);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    return s;
}

typedef struct run_output {
    int status;
    char *out;
    char *err;
} run_output;

static run_output report(enum dp_output_format format, char **files, int count)
{
    dp_config cfg;
    char err[512];
    run_output r;
    dp_config_defaults(&cfg);
    cfg.output.format = format;
    cfg.output.color = 0;
    assert_int_equal(dp_config_load_prices(&cfg, err, sizeof(err)), 0);
    FILE *out = tmpfile(), *errout = tmpfile();
    assert_non_null(out);
    assert_non_null(errout);
    r.status = dp_report_run_to(&cfg, files, count, out, errout);
    r.out = slurp(out);
    r.err = slurp(errout);
    fclose(out);
    fclose(errout);
    dp_config_release(&cfg);
    return r;
}

static void free_output(run_output *r)
{
    free(r->out);
    free(r->err);
}

static double number(json_t *obj, const char *path)
{
    /* path: "a.b.c" through nested objects */
    char key[64];
    const char *p = path;
    json_t *v = obj;
    while (*p) {
        size_t n = strcspn(p, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        v = json_object_get(v, key);
        assert_non_null(v);
        p += n + (p[n] == '.');
    }
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static const char *string_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void test_json_runs_grouped_across_files_in_start_order(void **state)
{
    char *files[] = {DIR "run_a.json", DIR "run_b.json"};
    run_output r = report(DP_FORMAT_JSON, files, 2);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");

    /* two lines, one JSON object each */
    char *nl = strchr(r.out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    char *second = nl + 1;
    char *nl2 = strchr(second, '\n');
    assert_non_null(nl2);
    *nl2 = '\0';
    assert_string_equal(nl2 + 1, "");

    json_error_t jerr;
    json_t *b = json_loads(r.out, 0, &jerr);
    json_t *a = json_loads(second, 0, &jerr);
    assert_non_null(b);
    assert_non_null(a);

    /* trace 0b.. started 5 s before 0a..: it comes first although its
     * spans are in the second file and the first file has its child */
    assert_string_equal(string_at(b, "trace_id"), "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    assert_string_equal(string_at(b, "dag_id"), "batch-dag");
    assert_int_equal((int)number(b, "span_count"), 2); /* root from run_b + child from run_a */
    assert_true(number(b, "summary.wall_ms") == 300.0);
    assert_int_equal((int)number(b, "summary.node_count"), 1);
    json_t *bn = json_array_get(json_object_get(b, "nodes"), 0);
    assert_string_equal(string_at(bn, "id"), "only");
    assert_true(number(bn, "start_ms") == 100.0);
    assert_true(number(bn, "duration_ms") == 200.0); /* 300 - 100 */

    assert_string_equal(string_at(a, "trace_id"), "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a");
    assert_string_equal(string_at(a, "dag_id"), "qa-dag");
    assert_int_equal((int)number(a, "span_count"), 3);
    assert_true(number(a, "summary.wall_ms") == 1000.0);
    assert_true(number(a, "summary.execution_ms") == 900.0); /* 400 + 500 */
    assert_int_equal((int)number(a, "summary.node_count"), 2);
    assert_int_equal((int)number(a, "summary.tokens.input"), 1000);
    assert_int_equal((int)number(a, "summary.tokens.output"), 200);
    assert_int_equal((int)number(a, "summary.tokens.total"), 1200);
    /* gpt-4o-mini: 1000 x 0.15/1M + 200 x 0.60/1M = 0.00015 + 0.00012 */
    double cost = number(a, "summary.cost_usd");
    assert_true(cost > 0.00027 - 1e-9 && cost < 0.00027 + 1e-9);
    /* answer started after fetch ended under the same parent: fetch → answer,
     * and that chain spans the whole second: 1000 ms */
    json_t *cp = json_object_get(json_object_get(a, "critical_path"), "nodes");
    assert_int_equal(json_array_size(cp), 2);
    assert_string_equal(json_string_value(json_array_get(cp, 0)), "fetch");
    assert_string_equal(json_string_value(json_array_get(cp, 1)), "answer");
    assert_true(number(a, "critical_path.duration_ms") == 1000.0);

    json_decref(a);
    json_decref(b);
    free_output(&r);
}

/* The order does not depend on the order of the files. */
static void test_text_order_independent_of_file_order(void **state)
{
    char *files[] = {DIR "run_b.json", DIR "run_a.json"};
    run_output r = report(DP_FORMAT_TEXT, files, 2);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    char *batch = strstr(r.out, "batch-dag");
    char *qa = strstr(r.out, "qa-dag");
    assert_non_null(batch);
    assert_non_null(qa);
    assert_true(batch < qa);
    free_output(&r);
}

static void test_bad_and_empty_files_are_named_good_ones_reported(void **state)
{
    char *files[] = {DIR "bad.json", DIR "empty.json", DIR "run_b.json"};
    run_output r = report(DP_FORMAT_JSON, files, 3);
    assert_int_equal(r.status, 1);

    /* line 1 of bad.json is fine, line 2 is cut off: the reader hits the end
     * of the file on line 3 and keeps nothing of the file */
    const char *want1 = "dagprof report: " DIR "bad.json:3: ";
    assert_true(strncmp(r.err, want1, strlen(want1)) == 0);
    char *end1 = strchr(r.err, '\n');
    assert_non_null(end1);
    const char *tail = "(no span of this file is reported)";
    assert_true(strncmp(end1 - strlen(tail), tail, strlen(tail)) == 0);
    assert_string_equal(end1 + 1, "dagprof report: " DIR "empty.json: the file holds no spans\n");

    /* the good file is still reported: trace 0b.. with its root only */
    json_error_t jerr;
    json_t *b = json_loads(r.out, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(b);
    assert_string_equal(string_at(b, "dag_id"), "batch-dag");
    assert_int_equal((int)number(b, "span_count"), 1);
    json_decref(b);
    free_output(&r);
}

/* The same file twice: every span of it is there twice, and counts once. */
static void test_duplicate_spans_count_once(void **state)
{
    char *files[] = {DIR "run_b.json", DIR "run_b.json"};
    run_output r = report(DP_FORMAT_JSON, files, 2);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "dagprof report: 1 duplicate span (same trace id, span id and "
                               "start) counted once\n");
    json_error_t jerr;
    json_t *b = json_loads(r.out, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(b);
    assert_int_equal((int)number(b, "span_count"), 1);
    json_decref(b);
    free_output(&r);
}

static void test_no_spans_at_all(void **state)
{
    char *files[] = {DIR "empty.json"};
    run_output r = report(DP_FORMAT_TEXT, files, 1);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "dagprof report: " DIR "empty.json: the file holds no spans\n"
                               "dagprof report: no spans to profile in 1 file\n");
    free_output(&r);

    char *missing[] = {"/nonexistent/run.json"};
    r = report(DP_FORMAT_TEXT, missing, 1);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, "dagprof report: /nonexistent/run.json: No such file or directory "
                               "(no span of this file is reported)\n"
                               "dagprof report: no spans to profile in 1 file\n");
    free_output(&r);
}

/* --format html: one page, one section per run in start order (batch-dag
 * first, as in the JSON test), with the service of the resource. */
static void test_html_one_page_sections_in_start_order(void **state)
{
    (void)state;
    char *files[] = {DIR "run_a.json", DIR "run_b.json"};
    run_output r = report(DP_FORMAT_HTML, files, 2);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_true(strncmp(r.out, "<!DOCTYPE html>", 15) == 0);
    char *batch = strstr(r.out, "<section class=\"run\" id=\"r0b0b");
    char *qa = strstr(r.out, "<section class=\"run\" id=\"r0a0a");
    assert_non_null(batch);
    assert_non_null(qa);
    assert_true(batch < qa);
    assert_null(strstr(qa + 1, "<section"));
    assert_non_null(strstr(r.out, "service <span class=\"service\">report-test</span>"));
    /* qa-dag: 0..1000 ms; batch-dag: 0..300 ms */
    assert_non_null(strstr(qa, "<b>1000.0 ms</b>"));
    assert_non_null(strstr(batch, "<b>300.0 ms</b>"));
    assert_int_equal(strcmp(r.out + strlen(r.out) - 22, "</main></body></html>\n"), 0);
    free_output(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_runs_grouped_across_files_in_start_order),
        cmocka_unit_test(test_text_order_independent_of_file_order),
        cmocka_unit_test(test_bad_and_empty_files_are_named_good_ones_reported),
        cmocka_unit_test(test_duplicate_spans_count_once),
        cmocka_unit_test(test_no_spans_at_all),
        cmocka_unit_test(test_html_one_page_sections_in_start_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

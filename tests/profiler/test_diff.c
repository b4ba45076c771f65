/*
 * The comparison of two runs (profiler/diff.h) on two JSON reports written
 * by hand below, every expected delta and percentage worked out by hand in
 * the comments: node matching (by id, then name), statuses, the order of the
 * changes, the totals, the critical path, the three renderings (JSON parsed
 * back with jansson, text, HTML with markup in a name), names with control
 * characters, and reports that are not reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "diff.h"

/* A node of a JSON report; MODEL and COST are raw JSON (null or a value). */
#define NODE(ID, NAME, MODEL, DUR, WAIT, IN, OUT, CR, CW, TOTAL, COST, RETRIES, CRIT)              \
    "{\"id\":\"" ID "\",\"name\":\"" NAME "\",\"model\":" MODEL ",\"start_ms\":0,"                 \
    "\"duration_ms\":" DUR ",\"wait_ms\":" WAIT ",\"execution_ms\":" DUR ",\"depends_on\":[],"     \
    "\"on_critical_path\":" CRIT ",\"retries\":" RETRIES ",\"llm_calls\":0,"                       \
    "\"tokens\":{\"input\":" IN ",\"output\":" OUT ",\"cache_read\":" CR ",\"cache_write\":" CW    \
    ",\"total\":" TOTAL "},\"cost_usd\":" COST ",\"tool_calls\":[]}"

/*
 * Run A: wall 1000, execution 1200, critical path 900 ms (fetch -> think ->
 * sum-v1), parallelism 1.2, tokens 100 in + 10 out = 110, cost $0.5, no retries.
 *   fetch   100 ms                                   critical
 *   think   400 ms, wait 50, m1, 100/10 tokens, $0.5  critical
 *   old     300 ms
 *   sum-v1  400 ms, named "summarize"                critical
 */
#define A_FETCH                                                                                    \
    NODE("fetch", "fetch", "null", "100.0", "0.0", "0", "0", "0", "0", "0", "0.0", "0", "true")
#define A_THINK                                                                                    \
    NODE("think", "think", "\"m1\"", "400.0", "50.0", "100", "10", "0", "0", "110", "0.5", "0",    \
         "true")
#define A_OLD                                                                                      \
    NODE("old", "old", "null", "300.0", "0.0", "0", "0", "0", "0", "0", "0.0", "0", "false")
#define A_SUM                                                                                      \
    NODE("sum-v1", "summarize", "null", "400.0", "0.0", "0", "0", "0", "0", "0", "0.0", "0", "true")
static const char report_a[] =
    "{\"trace_id\":\"aaaa0000000000000000000000000001\",\"dag_id\":\"d\",\"late\":false,"
    "\"summary\":{\"wall_ms\":1000.0,\"execution_ms\":1200.0,\"critical_path_ms\":900.0,"
    "\"parallelism\":1.2,\"retries\":0,"
    "\"tokens\":{\"input\":100,\"output\":10,\"cache_read\":0,\"cache_write\":0,\"total\":110},"
    "\"cost_usd\":0.5},"
    "\"nodes\":[" A_FETCH "," A_THINK "," A_OLD "," A_SUM "],"
    "\"critical_path\":{\"duration_ms\":900.0,\"nodes\":[\"fetch\",\"think\",\"sum-v1\"]}}\n";

/*
 * Run B: wall 1500, execution 1650, critical path 1450 ms (fetch -> think),
 * parallelism 1.1, tokens 150 in + 10 out + 40 cache read + 5 cache write =
 * 205, cost unknown (null), 2 retries.
 *   fetch   as in A                                          unchanged
 *   think   700 ms, wait 0, m2, 150/10/40/5 tokens, cost null, 2 retries
 *   new     150 ms, wait 10                                  added
 *   sum-v2  400 ms, named "summarize", off the path          matched by name
 */
#define B_THINK                                                                                    \
    NODE("think", "think", "\"m2\"", "700.0", "0.0", "150", "10", "40", "5", "205", "null", "2",   \
         "true")
#define B_NEW                                                                                      \
    NODE("new", "new", "null", "150.0", "10.0", "0", "0", "0", "0", "0", "0.0", "0", "false")
#define B_SUM                                                                                      \
    NODE("sum-v2", "summarize", "null", "400.0", "0.0", "0", "0", "0", "0", "0", "0.0", "0",       \
         "false")
static const char report_b[] =
    "{\"trace_id\":\"bbbb0000000000000000000000000002\",\"dag_id\":\"d\","
    "\"summary\":{\"wall_ms\":1500.0,\"execution_ms\":1650.0,\"critical_path_ms\":1450.0,"
    "\"parallelism\":1.1,\"retries\":2,"
    "\"tokens\":{\"input\":150,\"output\":10,\"cache_read\":40,\"cache_write\":5,\"total\":205},"
    "\"cost_usd\":null},"
    "\"nodes\":[" A_FETCH "," B_THINK "," B_NEW "," B_SUM "],"
    "\"critical_path\":{\"duration_ms\":1450.0,\"nodes\":[\"fetch\",\"think\"]}}";

static dp_run_diff *compare(const char *a, const char *b)
{
    dp_run_diff *d = NULL;
    char err[256] = "";
    int rc = dp_diff_compute(a, strlen(a), b, strlen(b), &d, err, sizeof(err));
    if (rc != 0)
        fail_msg("dp_diff_compute: %s", err);
    return d;
}

static void test_matching_and_order(void **state)
{
    (void)state;
    dp_run_diff *d = compare(report_a, report_b);
    /* think and sum-v2 changed, fetch unchanged, new added, old removed */
    assert_int_equal(d->changed, 2);
    assert_int_equal(d->unchanged, 1);
    assert_int_equal(d->added, 1);
    assert_int_equal(d->removed, 1);
    assert_int_equal(d->node_count, 5);
    /* |duration delta|: old 300 (removed: -300), think 300 (+300), new 150,
     * sum-v2 0; old and think tie and go by id; the unchanged fetch last */
    const char *order[5] = {"old", "think", "new", "sum-v2", "fetch"};
    for (size_t i = 0; i < 5; i++) {
        const dp_diff_node *n = &d->nodes[i];
        assert_string_equal(n->b.present ? n->b.id : n->a.id, order[i]);
    }
    assert_int_equal(d->nodes[0].status, DP_DIFF_REMOVED);
    assert_false(d->nodes[0].b.present);
    assert_int_equal(d->nodes[1].status, DP_DIFF_CHANGED);
    assert_int_equal(d->nodes[1].match, DP_DIFF_MATCH_ID);
    assert_int_equal(d->nodes[2].status, DP_DIFF_ADDED);
    assert_false(d->nodes[2].a.present);
    /* sum-v1 and sum-v2 share the name "summarize"; only the path flag differs */
    assert_int_equal(d->nodes[3].match, DP_DIFF_MATCH_NAME);
    assert_string_equal(d->nodes[3].a.id, "sum-v1");
    assert_int_equal(d->nodes[3].status, DP_DIFF_CHANGED);
    assert_int_equal(d->nodes[4].status, DP_DIFF_UNCHANGED);
    /* fetch, think, sum-v1 against fetch, think */
    assert_true(d->critical_path_changed);
    assert_int_equal(d->a.critical_path_count, 3);
    assert_int_equal(d->b.critical_path_count, 2);
    assert_false(d->b.cost_known);
    dp_diff_destroy(d);

    /* a run against itself: every node unchanged, the same path */
    d = compare(report_a, report_a);
    assert_int_equal(d->unchanged, 4);
    assert_int_equal(d->changed + d->added + d->removed, 0);
    assert_false(d->critical_path_changed);
    dp_diff_destroy(d);
}

static json_t *member(json_t *o, const char *path)
{
    char key[64];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        o = json_object_get(o, key);
        path += n + (path[n] == '.');
    }
    if (!o)
        fail_msg("no member %s", path);
    return o;
}

static void assert_real(json_t *o, const char *path, double want)
{
    json_t *v = member(o, path);
    if (!json_is_number(v) || json_number_value(v) != want)
        fail_msg("%s: got %s, want %.8f", path, json_is_number(v) ? "another value" : "no number",
                 want);
}

static void test_json(void **state)
{
    (void)state;
    dp_run_diff *d = compare(report_a, report_b);
    dp_buf b;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_diff_render_json(d, &b), 0);
    assert_true(b.len > 0 && b.data[b.len - 1] == '\n');
    json_error_t jerr;
    json_t *root = json_loadb(b.data, b.len, 0, &jerr);
    assert_non_null(root);

    json_t *t = member(root, "totals");
    /* wall 1000 -> 1500: +500, +50 % */
    assert_real(t, "wall_ms.delta", 500.0);
    assert_real(t, "wall_ms.pct", 50.0);
    /* critical path 900 -> 1450: +550, 550/900 = 61.111… % -> 61.11 */
    assert_real(t, "critical_path_ms.delta", 550.0);
    assert_real(t, "critical_path_ms.pct", 61.11);
    /* parallelism 1.2 -> 1.1: -0.1, -0.1/1.2 = -8.333… % -> -8.33 */
    assert_real(t, "parallelism.delta", -0.1);
    assert_real(t, "parallelism.pct", -8.33);
    /* cost $0.5 -> unknown: B and the delta null */
    assert_real(t, "cost_usd.a", 0.5);
    assert_true(json_is_null(member(t, "cost_usd.b")));
    assert_true(json_is_null(member(t, "cost_usd.delta")));
    /* tokens 110 -> 205: +95, 95/110 = 86.3636… % -> 86.36; cache read 0 -> 40: no percent */
    assert_int_equal(json_integer_value(member(t, "tokens.total.delta")), 95);
    assert_real(t, "tokens.total.pct", 86.36);
    assert_int_equal(json_integer_value(member(t, "tokens.cache_read.delta")), 40);
    assert_true(json_is_null(member(t, "tokens.cache_read.pct")));
    /* retries 0 -> 2 */
    assert_int_equal(json_integer_value(member(t, "retries.delta")), 2);
    assert_true(json_is_true(member(root, "critical_path_changed")));
    assert_int_equal(json_integer_value(member(root, "counts.removed")), 1);
    assert_int_equal(json_integer_value(member(root, "b.critical_path.node_count")), 2);

    json_t *nodes = member(root, "nodes");
    assert_int_equal(json_array_size(nodes), 5);
    json_t *old = json_array_get(nodes, 0);
    assert_string_equal(json_string_value(member(old, "status")), "removed");
    /* a removed node: B null, delta minus its duration, no percent */
    assert_true(json_is_null(member(old, "duration_ms.b")));
    assert_real(old, "duration_ms.delta", -300.0);
    assert_true(json_is_null(member(old, "duration_ms.pct")));
    assert_true(json_is_null(member(old, "matched_by")));

    json_t *think = json_array_get(nodes, 1);
    assert_string_equal(json_string_value(member(think, "id")), "think");
    /* 400 -> 700: +300, +75 %; wait 50 -> 0: -50, -100 % */
    assert_real(think, "duration_ms.delta", 300.0);
    assert_real(think, "duration_ms.pct", 75.0);
    assert_real(think, "wait_ms.delta", -50.0);
    assert_real(think, "wait_ms.pct", -100.0);
    /* input 100 -> 150: +50, +50 %; cache write 0 -> 5 */
    assert_int_equal(json_integer_value(member(think, "tokens.input.delta")), 50);
    assert_real(think, "tokens.input.pct", 50.0);
    assert_int_equal(json_integer_value(member(think, "tokens.cache_write.b")), 5);
    assert_true(json_is_null(member(think, "cost_usd.delta")));
    assert_string_equal(json_string_value(member(think, "model.a")), "m1");
    assert_string_equal(json_string_value(member(think, "model.b")), "m2");
    assert_true(json_is_true(member(think, "model.changed")));
    assert_int_equal(json_integer_value(member(think, "retries.delta")), 2);
    assert_true(json_is_true(member(think, "on_critical_path.a")));

    json_t *sum = json_array_get(nodes, 3);
    assert_string_equal(json_string_value(member(sum, "matched_by")), "name");
    assert_string_equal(json_string_value(member(sum, "id_a")), "sum-v1");
    assert_string_equal(json_string_value(member(sum, "name")), "summarize");
    assert_true(json_is_true(member(sum, "on_critical_path.a")));
    assert_true(json_is_false(member(sum, "on_critical_path.b")));

    json_t *added = json_array_get(nodes, 2);
    assert_string_equal(json_string_value(member(added, "status")), "added");
    assert_real(added, "wait_ms.delta", 10.0);
    assert_true(json_is_null(member(added, "on_critical_path.a")));
    json_decref(root);
    dp_buf_free(&b);
    dp_diff_destroy(d);
}

/* The line of s that starts with `prefix`, or NULL. */
static const char *line_starting(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = s; p; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (strncmp(p, prefix, n) == 0)
            return p;
    }
    return NULL;
}

static void test_text(void **state)
{
    (void)state;
    dp_run_diff *d = compare(report_a, report_b);
    dp_buf b;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_diff_render_text(d, &b), 0);
    assert_int_equal(dp_buf_append(&b, "", 1), 0);
    const char *t = b.data;
    /* the changes in order, the unchanged fetch only counted */
    const char *old = line_starting(t, "  old "), *think = line_starting(t, "  think ");
    const char *added = line_starting(t, "  new "), *sum = line_starting(t, "  sum-v2 ");
    assert_non_null(old);
    assert_non_null(think);
    assert_non_null(added);
    assert_non_null(sum);
    assert_true(old < think && think < added && added < sum);
    assert_null(line_starting(t, "  fetch "));
    assert_non_null(strstr(t, "  1 node unchanged"));
    /* think: 400.0 -> 700.0, +300.0, +75.00%, m1 -> m2, retries 0 -> 2 */
    assert_non_null(strstr(think, "400.0"));
    assert_non_null(strstr(think, "+75.00%"));
    assert_non_null(strstr(think, "m1 -> m2"));
    assert_non_null(strstr(think, "0 -> 2"));
    assert_non_null(strstr(think, "tokens input 100 -> 150 (+50), cache read 0 -> 40 (+40)"));
    assert_non_null(strstr(sum, "matched by name; id in A: sum-v1"));
    /* totals: wall 1000.0 -> 1500.0, +500.0 ms, +50.00% */
    const char *wall = line_starting(t, "  wall time");
    assert_non_null(wall);
    assert_non_null(strstr(wall, "+500.0 ms"));
    assert_non_null(strstr(wall, "+50.00%"));
    assert_non_null(strstr(t, "  B (1450.0 ms, 2 nodes): fetch -> think\n"));
    assert_non_null(strstr(t, "Critical path (changed)"));
    dp_buf_free(&b);
    dp_diff_destroy(d);
}

/* A report of one node named `id` (raw JSON string contents). */
static char *one_node_report(const char *id, const char *dur)
{
    static const char fmt[] =
        "{\"trace_id\":\"c\",\"dag_id\":\"%s\",\"summary\":{\"wall_ms\":%s,\"execution_ms\":%s,"
        "\"critical_path_ms\":%s,\"parallelism\":1.0,\"retries\":0,\"tokens\":{\"input\":0,"
        "\"output\":0,\"cache_read\":0,\"cache_write\":0,\"total\":0},\"cost_usd\":0.0},"
        "\"nodes\":[{\"id\":\"%s\",\"name\":\"%s\",\"model\":null,\"duration_ms\":%s,"
        "\"wait_ms\":0.0,\"tokens\":{\"input\":0,\"output\":0,\"cache_read\":0,"
        "\"cache_write\":0,\"total\":0},\"cost_usd\":0.0,\"retries\":0,"
        "\"on_critical_path\":true}],\"critical_path\":{\"nodes\":[\"%s\"]}}";
    char *s = NULL;
    assert_true(asprintf(&s, fmt, id, dur, dur, dur, id, id, dur, id) > 0);
    return s;
}

static void test_names_stay_text(void **state)
{
    (void)state;
    char *a = one_node_report("<script>alert(1)</script>\\u001b[31m", "10.0");
    char *b = one_node_report("<script>alert(1)</script>\\u001b[31m", "20.0");
    dp_run_diff *d = compare(a, b);
    dp_buf out;
    dp_buf_init(&out, 0);
    assert_int_equal(dp_diff_render_html(d, &out), 0);
    assert_int_equal(dp_buf_append(&out, "", 1), 0);
    assert_null(strstr(out.data, "<script"));
    assert_null(strchr(out.data, '\x1b'));
    assert_non_null(strstr(out.data, "&lt;script&gt;alert(1)&lt;/script&gt;?[31m"));
    assert_non_null(strstr(out.data, "<!DOCTYPE html>"));
    assert_non_null(strstr(out.data, "</html>\n"));

    dp_buf_reset(&out);
    assert_int_equal(dp_diff_render_text(d, &out), 0);
    assert_int_equal(dp_buf_append(&out, "", 1), 0);
    /* the escape character never reaches a terminal */
    assert_null(strchr(out.data, '\x1b'));
    assert_non_null(strstr(out.data, "<script>alert(1)</script>?[31m"));

    /* a buffer too small for the page keeps nothing */
    dp_buf small;
    dp_buf_init(&small, 64);
    assert_int_equal(dp_diff_render_html(d, &small), -1);
    assert_int_equal(small.len, 0);
    assert_int_equal(dp_diff_render_json(d, &small), -1);
    assert_int_equal(small.len, 0);
    dp_buf_free(&small);
    dp_buf_free(&out);
    dp_diff_destroy(d);
    free(a);
    free(b);
}

static void expect_refused(const char *a, const char *b, const char *message)
{
    dp_run_diff *d = (dp_run_diff *)1;
    char err[256] = "";
    assert_int_equal(dp_diff_compute(a, a ? strlen(a) : 0, b, strlen(b), &d, err, sizeof(err)), -1);
    assert_null(d);
    if (!strstr(err, message))
        fail_msg("message '%s' lacks '%s'", err, message);
}

static void test_not_reports(void **state)
{
    (void)state;
    expect_refused("{", report_b, "report A: not a JSON report");
    expect_refused(NULL, report_b, "report A: not a JSON report");
    expect_refused(report_a, "[1,2]", "report B: not a JSON object");
    expect_refused(report_a, "{\"trace_id\":\"x\",\"dag_id\":null}",
                   "report B: the report has no \"summary\"");
    char *bad = one_node_report("n", "\"ten\"");
    expect_refused(report_a, bad, "report B: summary.wall_ms is not a number");
    free(bad);
    /* a node without its tokens */
    static const char no_tokens[] =
        "{\"trace_id\":\"c\",\"dag_id\":\"d\",\"summary\":{\"wall_ms\":1,\"execution_ms\":1,"
        "\"critical_path_ms\":1,\"parallelism\":1,\"retries\":0,\"tokens\":{\"input\":0,"
        "\"output\":0,\"cache_read\":0,\"cache_write\":0,\"total\":0},\"cost_usd\":0},"
        "\"nodes\":[{\"id\":\"n\",\"name\":\"n\",\"model\":null,\"duration_ms\":1,"
        "\"wait_ms\":0,\"cost_usd\":0,\"retries\":0,\"on_critical_path\":true}],"
        "\"critical_path\":{\"nodes\":[\"n\"]}}";
    expect_refused(no_tokens, report_b, "report A: nodes[0] has no \"tokens\"");
}

static void test_percent(void **state)
{
    (void)state;
    double pct = 0;
    assert_false(dp_diff_percent(0, 5, &pct));
    assert_true(dp_diff_percent(200, 150, &pct));
    assert_true(pct == -25.0); /* -50 / 200 */
    assert_true(dp_diff_percent(-4, -2, &pct));
    assert_true(pct == 50.0); /* +2 / |-4| */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching_and_order),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_names_stay_text),
        cmocka_unit_test(test_not_reports),
        cmocka_unit_test(test_percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

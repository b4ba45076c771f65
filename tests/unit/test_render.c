/*
 * Rendering: the JSON line is parsed back with jansson and every field is
 * checked against values worked out by hand; the text report must carry
 * each section, the critical-path marks and "unknown" for unknown costs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "profile_types.h"
#include "render.h"
#include "span_builder.h"

static sb_trace t;

#define EPS 1e-9

/*
 * root "pipeline" 0..1000 (dag.id render-dag)
 *   a 0..400    haiku   in 1000 out 200; tool grep 100..112.5 ok
 *   b 400..1000 mystery in 10 out 10 (no price)
 * b depends on a (inferred); critical path a -> b = 1000 ms; speed-up 1.
 * cost: a = (1000*1 + 200*5)/1e6 = 0.002; b unknown -> run 0.002 known, incomplete.
 */
static dp_run_profile *build_sample(void)
{
    sb_init(&t);
    int root = sb_span(&t, "pipeline", -1, 0, 1000);
    sb_str(&t, root, "dag.id", "render-dag");
    int a = sb_span(&t, "step a", root, 0, 400);
    sb_node(&t, a, "a", "haiku", 1000, 200);
    sb_str(&t, sb_span(&t, "tool", a, 100, 112.5), "gen_ai.tool.name", "grep");
    int b = sb_span(&t, "step b", root, 400, 1000);
    sb_node(&t, b, "b", "mystery", 10, 10);
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, &cfg, &p), 0);
    return p;
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_json(void **state)
{
    (void)state;
    dp_run_profile *p = build_sample();
    dp_run_profile_set_late(p, true);
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_json(p, &out), 0);
    /* one line, ending in a newline */
    assert_true(out.len > 2);
    assert_int_equal(out.data[out.len - 1], '\n');
    assert_null(memchr(out.data, '\n', out.len - 1));

    json_error_t err;
    json_t *root = json_loadb(out.data, out.len, 0, &err);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "trace_id")),
                        "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
    assert_string_equal(json_string_value(json_object_get(root, "dag_id")), "render-dag");
    assert_true(json_is_true(json_object_get(root, "late")));
    assert_int_equal(json_integer_value(json_object_get(root, "span_count")), 4);

    json_t *s = json_object_get(root, "summary");
    assert_float_equal(num(s, "wall_ms"), 1000.0, EPS);
    assert_float_equal(num(s, "execution_ms"), 1000.0, EPS);
    assert_float_equal(num(s, "critical_path_ms"), 1000.0, EPS);
    assert_float_equal(num(s, "parallelism"), 1.0, EPS);
    assert_float_equal(num(s, "speedup"), 1.0, EPS);
    assert_int_equal(json_integer_value(json_object_get(s, "node_count")), 2);
    assert_int_equal(json_integer_value(json_object_get(s, "llm_calls")), 2);
    assert_int_equal(json_integer_value(json_object_get(s, "tool_calls")), 1);
    json_t *tok = json_object_get(s, "tokens");
    assert_int_equal(json_integer_value(json_object_get(tok, "input")), 1010);
    assert_int_equal(json_integer_value(json_object_get(tok, "output")), 210);
    assert_int_equal(json_integer_value(json_object_get(tok, "total")), 1220);
    assert_float_equal(num(s, "cost_usd"), 0.002, EPS);
    assert_true(json_is_false(json_object_get(s, "cost_complete")));
    assert_int_equal(json_integer_value(json_object_get(s, "unknown_cost_calls")), 1);

    json_t *nodes = json_object_get(root, "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    json_t *a = json_array_get(nodes, 0), *b = json_array_get(nodes, 1);
    assert_string_equal(json_string_value(json_object_get(a, "id")), "a");
    assert_string_equal(json_string_value(json_object_get(a, "name")), "step a");
    assert_string_equal(json_string_value(json_object_get(a, "model")), "haiku");
    assert_float_equal(num(a, "start_ms"), 0.0, EPS);
    assert_float_equal(num(a, "duration_ms"), 400.0, EPS);
    assert_float_equal(num(a, "cost_usd"), 0.002, EPS);
    assert_true(json_is_true(json_object_get(a, "on_critical_path")));
    assert_int_equal(json_array_size(json_object_get(a, "depends_on")), 0);
    json_t *tools = json_object_get(a, "tool_calls");
    assert_int_equal(json_array_size(tools), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tools, 0), "name")),
                        "grep");
    assert_float_equal(num(json_array_get(tools, 0), "duration_ms"), 12.5, EPS);
    assert_true(json_is_true(json_object_get(json_array_get(tools, 0), "success")));

    assert_float_equal(num(b, "start_ms"), 400.0, EPS);
    assert_float_equal(num(b, "wait_ms"), 0.0, EPS);
    assert_true(json_is_null(json_object_get(b, "cost_usd")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(b, "depends_on"), 0)),
                        "a");

    json_t *cp = json_object_get(root, "critical_path");
    assert_float_equal(num(cp, "duration_ms"), 1000.0, EPS);
    assert_int_equal(json_array_size(json_object_get(cp, "nodes")), 2);

    json_t *models = json_object_get(root, "by_model");
    assert_int_equal(json_array_size(models), 2);
    json_t *m0 = json_array_get(models, 0), *m1 = json_array_get(models, 1);
    assert_string_equal(json_string_value(json_object_get(m0, "model")), "haiku");
    assert_float_equal(num(m0, "cost_usd"), 0.002, EPS);
    assert_string_equal(json_string_value(json_object_get(m1, "model")), "mystery");
    assert_true(json_is_null(json_object_get(m1, "cost_usd")));

    assert_true(json_is_array(json_object_get(root, "bottlenecks")));
    json_t *recs = json_object_get(root, "recommendations");
    assert_true(json_is_array(recs));
    for (size_t i = 0; i < json_array_size(recs); i++) {
        json_t *sv = json_object_get(json_array_get(recs, i), "savings");
        assert_true(json_is_number(json_object_get(sv, "time_ms")));
        assert_true(json_is_integer(json_object_get(sv, "tokens")));
    }
    json_decref(root);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* Bottlenecks in JSON: sorted, node id or null. Sequential chain of three
 * unlinked nodes (impact (300-100)/300) plus a run-level budget finding. */
static void test_json_bottlenecks(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 300);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "gpt-4", 10000, 0);
    sb_str(&t, sb_span(&t, "b", root, 100, 200), "dag.node.id", "b");
    sb_str(&t, sb_span(&t, "c", root, 200, 300), "dag.node.id", "c");
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    cfg.budget_usd = 0.2; /* run costs 10000 * 30 / 1e6 = 0.30: 33.3% over */
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, &cfg, &p), 0);
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_json(p, &out), 0);
    json_t *root_v = json_loads(out.data, 0, NULL);
    assert_non_null(root_v);
    json_t *bs = json_object_get(root_v, "bottlenecks");
    assert_true(json_array_size(bs) >= 2);
    double prev = 1e9;
    bool saw_null_node = false, saw_sequential = false;
    for (size_t i = 0; i < json_array_size(bs); i++) {
        json_t *b = json_array_get(bs, i);
        double impact = num(b, "impact_pct");
        assert_true(impact <= prev);
        prev = impact;
        const char *type = json_string_value(json_object_get(b, "type"));
        if (strcmp(type, "budget_exceeded") == 0) {
            assert_true(json_is_null(json_object_get(b, "node")));
            saw_null_node = true;
        }
        if (strcmp(type, "sequential_bottleneck") == 0) {
            assert_string_equal(json_string_value(json_object_get(b, "node")), "a");
            assert_float_equal(impact, 66.67, 1e-9); /* 66.666.. rounded to 2 places */
            assert_string_equal(json_string_value(json_object_get(b, "severity")), "high");
            saw_sequential = true;
        }
    }
    assert_true(saw_null_node && saw_sequential);
    json_decref(root_v);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

static void test_text(void **state)
{
    (void)state;
    dp_run_profile *p = build_sample();
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    dp_render_options opt = {.color = false, .waterfall_width = 10};
    assert_int_equal(dp_render_text(p, &opt, &out), 0);
    const char *s = out.data;
    const char *sections[] = {"render-dag",    "Summary",      "Nodes",
                              "Critical path", "Bottlenecks",  "Recommendations",
                              "Waterfall",     "Cost by node", "By model"};
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (!strstr(s, sections[i]))
            fail_msg("missing section %s", sections[i]);
    }
    /* critical path line */
    assert_non_null(strstr(s, "Critical path (1000.0 ms): a -> b"));
    /* waterfall, width 10: a covers 0..400 of 1000 -> columns 0..3 with '#';
     * b 400..1000 -> columns 4..9 */
    assert_non_null(strstr(s, "|####      |"));
    assert_non_null(strstr(s, "|    ######|"));
    /* unknown cost shown as unknown, never $0 */
    assert_non_null(strstr(s, "unknown"));
    assert_non_null(strstr(s, "$0.0020 known + unknown"));
    assert_null(strstr(s, "\033["));
    dp_buf_free(&out);

    /* colour adds ANSI codes only when asked */
    dp_buf_init(&out, 1 << 20);
    opt.color = true;
    assert_int_equal(dp_render_text(p, &opt, &out), 0);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* An output cap that is too small is an error, not a crash or a cut line. */
static void test_buffer_cap(void **state)
{
    (void)state;
    dp_run_profile *p = build_sample();
    dp_buf out;
    dp_buf_init(&out, 64);
    assert_int_equal(dp_render_json(p, &out), -1);
    assert_int_equal(dp_render_text(p, NULL, &out), -1);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* Empty profile renders without nodes. */
static void test_empty(void **state)
{
    (void)state;
    sb_init(&t);
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, 0, NULL, &p), 0);
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_json(p, &out), 0);
    json_t *v = json_loads(out.data, 0, NULL);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "nodes")), 0);
    json_decref(v);
    assert_int_equal(dp_render_text(p, NULL, &out), 0);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* Ids that are not UTF-8 still give valid JSON: the bad bytes become '?'. */
static void test_json_invalid_utf8(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 10);
    sb_str(&t, sb_span(&t, "x", root, 0, 10), "dag.node.id", "bad\xff\xfeid");
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, NULL, &p), 0);
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_json(p, &out), 0);
    json_t *v = json_loads(out.data, 0, NULL);
    assert_non_null(v);
    json_t *n = json_array_get(json_object_get(v, "nodes"), 0);
    assert_string_equal(json_string_value(json_object_get(n, "id")), "bad??id");
    json_decref(v);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),  cmocka_unit_test(test_json_bottlenecks),
        cmocka_unit_test(test_text),  cmocka_unit_test(test_buffer_cap),
        cmocka_unit_test(test_empty), cmocka_unit_test(test_json_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

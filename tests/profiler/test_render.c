/*
 * Rendering: the JSON line is parsed back with jansson and every field is
 * checked against values worked out by hand; the text report must carry
 * each section, the critical-path marks and "unknown" for unknown costs.
 */
#include <math.h>
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
    /* the header: the run starts with the root at the builder's base time,
     * 1700000000 s = 2023-11-14T22:13:20Z; the spans carry no service */
    assert_string_equal(json_string_value(json_object_get(root, "start_time")),
                        "2023-11-14T22:13:20.000Z");
    assert_true(json_integer_value(json_object_get(root, "start_unix_nano")) ==
                1700000000000000000LL);
    assert_true(json_is_null(json_object_get(root, "service")));

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
    /* the known $0.002 x 1000 (a lower bound: cost_complete is false) */
    assert_float_equal(num(s, "cost_per_1000_runs_usd"), 2.0, EPS);

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
    /* haiku's $0.002: 1000 uncached input x $1 + 200 output x $5 per 1M */
    json_t *split = json_object_get(m0, "cost_split");
    assert_float_equal(num(split, "input"), 0.001, EPS);
    assert_float_equal(num(split, "output"), 0.001, EPS);
    assert_float_equal(num(split, "cache_read"), 0.0, EPS);
    assert_float_equal(num(split, "cache_write"), 0.0, EPS);
    assert_float_equal(num(split, "given"), 0.0, EPS);
    assert_true(json_is_null(json_object_get(m1, "cost_split")));

    /* one tool name, one call of 12.5 ms */
    json_t *ts = json_object_get(root, "tool_stats");
    assert_int_equal(json_array_size(ts), 1);
    json_t *grep = json_array_get(ts, 0);
    assert_string_equal(json_string_value(json_object_get(grep, "name")), "grep");
    assert_int_equal(json_integer_value(json_object_get(grep, "calls")), 1);
    assert_float_equal(num(grep, "p50_ms"), 12.5, EPS);
    assert_float_equal(num(grep, "max_ms"), 12.5, EPS);
    assert_float_equal(num(grep, "total_ms"), 12.5, EPS);
    assert_int_equal(json_integer_value(json_object_get(grep, "failures")), 0);

    /* the one recommendation: parallelize (inferred dependencies; a and b
     * replayed from 0 end at max(400, 600) = 600 instead of 1000: 400 ms,
     * 40 % of the wall time). No downgrade (haiku has no cheaper sibling, and
     * mystery no price), no cache, no reduce_context (mean input 505), no
     * restructure (a path of 2 nodes). Alone, it is also the combination. */
    json_t *top = json_object_get(root, "top_fixes");
    json_t *fixes = json_object_get(top, "fixes");
    assert_int_equal(json_array_size(fixes), 1);
    json_t *f0 = json_array_get(fixes, 0);
    assert_string_equal(json_string_value(json_object_get(f0, "type")), "parallelize");
    assert_int_equal(json_integer_value(json_object_get(f0, "recommendation")), 0);
    assert_float_equal(num(f0, "share_pct"), 40.0, EPS);
    assert_string_equal(json_string_value(json_object_get(f0, "share_of")), "wall_time");
    assert_float_equal(num(json_object_get(f0, "savings"), "time_ms"), 400.0, EPS);
    json_t *comb = json_object_get(top, "combined_savings");
    assert_float_equal(num(json_object_get(comb, "at_least"), "time_ms"), 400.0, EPS);
    assert_float_equal(num(json_object_get(comb, "at_most"), "time_ms"), 400.0, EPS);
    assert_true(json_is_false(json_object_get(comb, "overlapping")));
    /* parallelize concerns the whole run: no node list */
    assert_int_equal(json_array_size(json_object_get(
                         json_array_get(json_object_get(root, "recommendations"), 0), "nodes")),
                     0);

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
    cfg.budget_usd = 0.2;    /* run costs 10000 * 30 / 1e6 = 0.30: 33.3% over */
    cfg.severity_min_ms = 0; /* a 300 ms run: the relative rules alone */
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
            /* high by share, but nothing was declared: a hypothesis, at most medium */
            assert_string_equal(json_string_value(json_object_get(b, "severity")), "medium");
            assert_true(json_is_true(json_object_get(b, "hypothesis")));
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
    /* the header: DAG, service (none sent) and the run's start in ISO 8601 */
    assert_non_null(
        strstr(s, "\n  DAG render-dag   service unknown   run start 2023-11-14T22:13:20.000Z\n"));
    /* $0.002 known x 1000 = $2.00, at least (b's cost is unknown) */
    assert_non_null(strstr(s, "\n  cost per 1,000 runs >= $2.00 (extrapolated from this run: its "
                              "cost x 1000)\n"));
    /* the one fix (see test_json): 400 ms of 1000 */
    assert_non_null(strstr(s, "\nTop 1 fix (largest estimated savings first)\n  1. parallelize    "
                              "   saves 400.0 ms (40.0% of the run's wall time)  (hypothesis)\n"));
    assert_null(strstr(s, "combined:")); /* one fix is no combination */
    /* tools by name instead of a line per call: grep, 1 call of 12.5 ms */
    assert_non_null(strstr(s, "\nTools\n  TOOL  CALLS     P50 ms     MAX ms   TOTAL ms FAILURES\n"
                              "  grep      1       12.5       12.5       12.5        0\n"));
    assert_null(strstr(s, "tool grep"));
    /* by model: no cache column (no model used a cache); haiku's cost split
     * without its zero parts; mystery's unknown cost has none */
    assert_non_null(strstr(s, "\n  MODEL    CALLS      INPUT     OUTPUT         COST\n"
                              "  haiku        1       1000        200      $0.0020\n"
                              "    cost: uncached input $0.0010, output $0.0010\n"
                              "  mystery      1         10         10      unknown\n"));
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
    assert_int_equal(out.len, 0); /* nothing of the failed report is left */
    assert_int_equal(dp_render_text(p, NULL, &out), -1);
    dp_buf_free(&out);

    /* what the buffer held before a failed JSON report stays as it was */
    dp_buf_init(&out, 64);
    assert_int_equal(dp_buf_puts(&out, "earlier\n"), 0);
    assert_int_equal(dp_render_json(p, &out), -1);
    assert_string_equal(out.data, "earlier\n");
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

/* Ids that are not UTF-8 still give valid JSON: each bad byte (FF and FE
 * can never start a sequence) becomes U+FFFD, EF BF BD in UTF-8. */
static void test_json_invalid_utf8(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 10);
    sb_str(&t, sb_span(&t, "x", root, 0, 10), "dag.node.id", "x");
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, NULL, &p), 0);
    /* the profile cleans names itself (test_profile_text_is_cleaned); set the
     * raw bytes afterwards to test the renderer on its own */
    p->nodes[0].id = "bad\xff\xfeid";
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_json(p, &out), 0);
    json_t *v = json_loads(out.data, 0, NULL);
    assert_non_null(v);
    json_t *n = json_array_get(json_object_get(v, "nodes"), 0);
    assert_string_equal(json_string_value(json_object_get(n, "id")),
                        "bad\xEF\xBF\xBD\xEF\xBF\xBDid");
    json_decref(v);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* Names come from the network: the profile replaces control characters and
 * bytes that are not valid UTF-8 by '?' (same length), so no report carries
 * escape sequences or line breaks it did not write. ESC ] 0 ; t BEL in the dag
 * id -> "d?]0;t?"; "a" ESC "[2J" CR LF "x" -> "a?[2J??x"; FF FE -> "??";
 * a cut E2 82 -> "??"; valid UTF-8 (caf\xC3\xA9) stays. */
static void test_profile_text_is_cleaned(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_str(&t, root, "dag.id", "d\x1b]0;t\x07");
    int a = sb_span(&t, "caf\xC3\xA9", root, 0, 40);
    sb_str(&t, a, "dag.node.id", "a\x1b[2J\r\nx");
    int b = sb_span(&t, "b", root, 50, 90);
    sb_str(&t, b, "dag.node.id", "\xff\xfe");
    sb_str(&t, b, "dag.model", "cut\xE2\x82");
    sb_int(&t, b, "gen_ai.usage.input_tokens", 5);
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, NULL, &p), 0);
    assert_string_equal(p->dag_id, "d?]0;t?");
    assert_int_equal(p->node_count, 2);
    assert_string_equal(p->nodes[0].id, "a?[2J??x");
    assert_string_equal(p->nodes[0].name, "caf\xC3\xA9");
    assert_string_equal(p->nodes[1].id, "??");
    assert_string_equal(p->nodes[1].model, "cut??");
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_text(p, NULL, &out), 0);
    for (size_t i = 0; i < out.len; i++)
        assert_true((unsigned char)out.data[i] >= 0x20 || out.data[i] == '\n');
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* Costs below a tenth of a cent keep six decimals in text, so a small run
 * does not read $0.0000: gpt-4o-mini ($0.15 in, $0.60 out per 1M),
 * 100 in / 10 out -> 100 * 0.15 + 10 * 0.60 = 21 per 1M = $0.000021. */
static void test_text_small_cost(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 100);
    int a = sb_span(&t, "a", root, 0, 90);
    sb_node(&t, a, "a", "gpt-4o-mini", 100, 10);
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, NULL, &p), 0);
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_text(p, NULL, &out), 0);
    assert_non_null(strstr(out.data, "  cost             $0.000021\n"));
    assert_null(strstr(out.data, "$0.0000 "));
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* The keys of object o, in order, are exactly keys[0..n). */
static void check_keys(json_t *o, const char *what, const char *const *keys, size_t n)
{
    if (!json_is_object(o))
        fail_msg("%s is not an object", what);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        (void)v;
        if (i >= n || strcmp(k, keys[i]) != 0)
            fail_msg("%s: key %zu is %s, expected %s", what, i, k, i < n ? keys[i] : "(none)");
        i++;
    }
    if (i != n)
        fail_msg("%s: %zu keys, expected %zu", what, i, n);
}

#define KEYS(o, what, ...)                                                                         \
    do {                                                                                           \
        static const char *const keys_[] = {__VA_ARGS__};                                          \
        check_keys(o, what, keys_, sizeof(keys_) / sizeof(keys_[0]));                              \
    } while (0)

/* The document layout scripts rely on: every object's keys in order, and
 * the JSON type of each value (reals stay reals even when whole). */
static void test_json_layout(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 300);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "gpt-4", 10000, 0);
    int b = sb_span(&t, "b", root, 100, 200);
    sb_str(&t, b, "dag.node.id", "b");
    sb_str(&t, sb_span(&t, "tool", b, 120, 150), "gen_ai.tool.name", "fetch");
    sb_str(&t, sb_span(&t, "c", root, 200, 300), "dag.node.id", "c");
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    cfg.budget_usd = 0.2;
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, &cfg, &p), 0);
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_json(p, &out), 0);
    json_t *r = json_loads(out.data, 0, NULL);
    assert_non_null(r);

    KEYS(r, "report", "trace_id", "dag_id", "service", "start_time", "start_unix_nano", "late",
         "partial", "partial_reason", "supersedes_partial", "span_count", "summary", "nodes",
         "critical_path", "by_model", "tool_stats", "bottlenecks", "recommendations", "top_fixes");
    assert_true(json_is_string(json_object_get(r, "start_time")));
    assert_true(json_is_integer(json_object_get(r, "start_unix_nano")));
    assert_true(json_is_string(json_object_get(r, "dag_id")));
    assert_true(json_is_integer(json_object_get(r, "span_count")));
    assert_true(json_is_false(json_object_get(r, "late")));
    json_t *s = json_object_get(r, "summary");
    KEYS(s, "summary", "wall_ms", "execution_ms", "critical_path_ms", "parallelism", "speedup",
         "speedup_if_independent", "node_count", "retries", "llm_calls", "tool_calls", "tokens",
         "cost_usd", "cost_complete", "unknown_cost_calls", "coerced_values", "ignored_values",
         "duplicate_spans", "dependencies", "aggregate_spans", "duplicate_layer_spans",
         "calls_without_usage", "cost_per_1000_runs_usd");
    /* $0.3 x 1000 */
    assert_true(json_is_real(json_object_get(s, "cost_per_1000_runs_usd")));
    assert_float_equal(num(s, "cost_per_1000_runs_usd"), 300.0, EPS);
    assert_true(json_is_real(json_object_get(s, "wall_ms"))); /* 300.0, not 300 */
    assert_true(json_is_real(json_object_get(s, "speedup")));
    assert_true(json_is_integer(json_object_get(s, "node_count")));
    /* 10000 input tokens of gpt-4 at $30 per million = 0.3 */
    assert_true(json_is_real(json_object_get(s, "cost_usd")));
    assert_float_equal(num(s, "cost_usd"), 0.3, EPS);
    assert_true(json_is_true(json_object_get(s, "cost_complete")));
    KEYS(json_object_get(s, "tokens"), "summary tokens", "input", "output", "cache_read",
         "cache_write", "total");

    json_t *nodes = json_object_get(r, "nodes");
    assert_int_equal(json_array_size(nodes), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *n = json_array_get(nodes, i);
        KEYS(n, "node", "id", "name", "model", "start_ms", "duration_ms", "wait_ms", "execution_ms",
             "depends_on", "on_critical_path", "retries", "llm_calls", "tokens", "cost_usd",
             "tool_calls");
        assert_true(json_is_array(json_object_get(n, "depends_on")));
        assert_true(json_is_integer(json_object_get(n, "retries")));
    }
    /* b has no model: null; its tool call */
    json_t *nb = json_array_get(nodes, 1);
    assert_true(json_is_null(json_object_get(nb, "model")));
    json_t *tc = json_array_get(json_object_get(nb, "tool_calls"), 0);
    KEYS(tc, "tool call", "name", "duration_ms", "success");
    assert_float_equal(num(tc, "duration_ms"), 30.0, EPS); /* 120 .. 150 */

    KEYS(json_object_get(r, "critical_path"), "critical_path", "duration_ms", "nodes");
    json_t *m0 = json_array_get(json_object_get(r, "by_model"), 0);
    KEYS(m0, "by_model entry", "model", "calls", "tokens", "cost_usd", "cost_split");
    assert_true(json_is_integer(json_object_get(m0, "calls")));
    KEYS(json_object_get(m0, "cost_split"), "cost_split", "input", "cache_read", "cache_write",
         "output", "given");

    json_t *ts = json_object_get(r, "tool_stats");
    assert_int_equal(json_array_size(ts), 1);
    KEYS(json_array_get(ts, 0), "tool_stats entry", "name", "calls", "p50_ms", "max_ms", "total_ms",
         "failures");
    assert_float_equal(num(json_array_get(ts, 0), "p50_ms"), 30.0, EPS);

    json_t *bs = json_object_get(r, "bottlenecks");
    assert_true(json_array_size(bs) >= 1);
    for (size_t i = 0; i < json_array_size(bs); i++) {
        json_t *x = json_array_get(bs, i);
        KEYS(x, "bottleneck", "type", "node", "severity", "impact_pct", "hypothesis", "details",
             "suggestion");
        assert_true(json_is_string(json_object_get(x, "details")));
        assert_true(json_is_string(json_object_get(x, "suggestion")));
    }
    json_t *recs = json_object_get(r, "recommendations");
    for (size_t i = 0; i < json_array_size(recs); i++) {
        json_t *x = json_array_get(recs, i);
        KEYS(x, "recommendation", "type", "priority", "savings", "hypothesis", "overlaps_with",
             "description", "implementation", "nodes");
        KEYS(json_object_get(x, "savings"), "savings", "time_ms", "tokens", "cost_usd");
        assert_true(json_is_array(json_object_get(x, "nodes")));
    }
    json_t *top = json_object_get(r, "top_fixes");
    KEYS(top, "top_fixes", "fixes", "combined_savings");
    KEYS(json_object_get(top, "combined_savings"), "combined_savings", "at_least", "at_most",
         "overlapping");
    KEYS(json_object_get(json_object_get(top, "combined_savings"), "at_least"), "at_least",
         "time_ms", "tokens", "cost_usd");
    assert_true(json_array_size(json_object_get(top, "fixes")) >= 1);
    for (size_t i = 0; i < json_array_size(json_object_get(top, "fixes")); i++)
        KEYS(json_array_get(json_object_get(top, "fixes"), i), "top fix", "recommendation", "type",
             "share_pct", "share_of", "savings");
    json_decref(r);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* Quotes, backslashes, newlines, control characters, non-ASCII and
 * truncated UTF-8 in ids, names and the dag id: the line stays one valid
 * JSON object and every string decodes to what was sent (bad UTF-8 to
 * U+FFFD). */
static void test_json_escaping(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 100);
    sb_str(&t, root, "dag.id", "dag \"quoted\"\n");
    int a = sb_span(&t, "say \"hi\"\r\n\ttab", root, 0, 40);
    sb_str(&t, a, "dag.node.id", "n\\1\x01\x1f");
    int b = sb_span(&t, "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC", root, 50, 90);
    sb_str(&t, b, "dag.node.id", "cut\xE2\x82");
    sb_str(&t, b, "dag.model", "m\"odel\x7f");
    sb_int(&t, b, "gen_ai.usage.input_tokens", 5); /* an LLM call: listed by model */
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, NULL, &p), 0);
    /* the profile cleans names itself (test_profile_text_is_cleaned); put the
     * raw values back to test the renderer's escaping on its own */
    assert_int_equal(p->node_count, 2);
    p->dag_id = "dag \"quoted\"\n";
    p->nodes[0].id = "n\\1\x01\x1f";
    p->nodes[0].name = "say \"hi\"\r\n\ttab";
    p->nodes[1].id = "cut\xE2\x82";
    p->nodes[1].model = "m\"odel\x7f";
    assert_true(p->model_count >= 1);
    p->models[0].model = "m\"odel\x7f";
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_json(p, &out), 0);
    assert_null(memchr(out.data, '\n', out.len - 1));
    /* control characters are written as \u00XX: the newline of the dag id
     * (0x0a) and 0x01 of node a's id */
    assert_non_null(strstr(out.data, "\"dag \\\"quoted\\\"\\u000a\""));
    assert_non_null(strstr(out.data, "\"n\\\\1\\u0001\\u001f\""));
    json_error_t err;
    json_t *v = json_loads(out.data, 0, &err);
    if (!v)
        fail_msg("invalid JSON: %s", err.text);
    assert_string_equal(json_string_value(json_object_get(v, "dag_id")), "dag \"quoted\"\n");
    json_t *nodes = json_object_get(v, "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    json_t *na = json_array_get(nodes, 0), *nb = json_array_get(nodes, 1);
    assert_string_equal(json_string_value(json_object_get(na, "id")), "n\\1\x01\x1f");
    assert_string_equal(json_string_value(json_object_get(na, "name")), "say \"hi\"\r\n\ttab");
    /* E2 82 is a cut 3-byte sequence: one U+FFFD for both bytes */
    assert_string_equal(json_string_value(json_object_get(nb, "id")), "cut\xEF\xBF\xBD");
    assert_string_equal(json_string_value(json_object_get(nb, "name")),
                        "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC");
    assert_string_equal(json_string_value(json_object_get(nb, "model")), "m\"odel\x7f");
    json_t *m = json_array_get(json_object_get(v, "by_model"), 0);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "model")), "m\"odel\x7f");
    json_decref(v);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* NaN and infinities anywhere in the figures are written as null, so the
 * line still parses; finite neighbours are unaffected. */
static void test_json_non_finite(void **state)
{
    (void)state;
    dp_run_profile *p = build_sample();
    p->wall_ms = NAN;
    p->parallelism = INFINITY;
    p->speedup = -INFINITY;
    p->cost_usd = NAN; /* known (a's cost) but not a number */
    p->nodes[0].duration_ms = INFINITY;
    p->nodes[1].wait_ms = -NAN;
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_json(p, &out), 0);
    /* no bare number text: ":nan", ":inf", ":-inf" (the word "inferred" is a value) */
    assert_null(strstr(out.data, ":nan"));
    assert_null(strstr(out.data, ":-nan"));
    assert_null(strstr(out.data, ":inf"));
    assert_null(strstr(out.data, ":-inf"));
    json_t *v = json_loads(out.data, 0, NULL);
    assert_non_null(v);
    json_t *s = json_object_get(v, "summary");
    assert_true(json_is_null(json_object_get(s, "wall_ms")));
    assert_true(json_is_null(json_object_get(s, "parallelism")));
    assert_true(json_is_null(json_object_get(s, "speedup")));
    assert_true(json_is_null(json_object_get(s, "cost_usd")));
    assert_float_equal(num(s, "execution_ms"), 1000.0, EPS);
    json_t *nodes = json_object_get(v, "nodes");
    assert_true(json_is_null(json_object_get(json_array_get(nodes, 0), "duration_ms")));
    assert_true(json_is_null(json_object_get(json_array_get(nodes, 1), "wait_ms")));
    assert_float_equal(num(json_array_get(nodes, 1), "duration_ms"), 600.0, EPS);
    json_decref(v);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* The start of the "By model" line of model, or NULL. */
static const char *model_line(const char *report, const char *model)
{
    const char *sec = strstr(report, "\nBy model");
    assert_non_null(sec);
    char needle[128];
    snprintf(needle, sizeof(needle), "\n  %s", model);
    const char *at = strstr(sec, needle);
    return at ? at + 1 : NULL;
}

/* "By model": the name column is as wide as the longest name (in
 * characters, not bytes), so a dated model name is never cut; past 40
 * characters a name is cut to 37 plus "...". The calls follow in a column
 * of 6 after one space. */
static void test_text_model_column(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 300);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "claude-3-5-sonnet-20241022", 100, 10);
    sb_node(&t, sb_span(&t, "b", root, 100, 200), "b", "haiku", 100, 10);
    sb_node(&t, sb_span(&t, "c", root, 200, 300), "c", "mod\xC3\xA8le", 100, 10);
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, NULL, &p), 0);
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_text(p, NULL, &out), 0);
    /* widest: claude-3-5-sonnet-20241022, 26 characters; haiku (5) gets 21
     * spaces, "modèle" (6 characters, 7 bytes) gets 20 */
    const char *l = model_line(out.data, "claude-3-5-sonnet-20241022");
    assert_non_null(l);
    assert_memory_equal(l, "  claude-3-5-sonnet-20241022      1", 35);
    l = model_line(out.data, "haiku");
    assert_non_null(l);
    assert_memory_equal(l, "  haiku                           1", 35);
    l = model_line(out.data, "mod\xC3\xA8le");
    assert_non_null(l);
    assert_memory_equal(l, "  mod\xC3\xA8le                          1", 36);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);

    /* a 48-character name: the column is capped at 40, the name cut to its
     * first 37 characters and "..." */
    sb_init(&t);
    root = sb_span(&t, "root", -1, 0, 200);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a",
            "a-very-long-model-name-from-a-custom-provider-v2", 100, 10);
    sb_node(&t, sb_span(&t, "b", root, 100, 200), "b", "haiku", 100, 10);
    assert_int_equal(dp_profile_build(t.spans, t.count, NULL, &p), 0);
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_text(p, NULL, &out), 0);
    l = model_line(out.data, "a-very");
    assert_non_null(l);
    assert_memory_equal(l, "  a-very-long-model-name-from-a-custom-...      1", 49);
    l = model_line(out.data, "haiku");
    assert_non_null(l);
    /* 5 characters + 35 spaces = 40 */
    assert_memory_equal(l, "  haiku                                         1", 49);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* The text of section `title` (from its line to the blank line after it), or NULL. */
static char *section(const char *report, const char *title)
{
    static char buf[4096];
    const char *at = strstr(report, title);
    if (!at)
        return NULL;
    const char *end = strstr(at, "\n\n");
    size_t n = end ? (size_t)(end - at) : strlen(at);
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    memcpy(buf, at, n);
    buf[n] = '\0';
    return buf;
}

/* The profile of the trace t (default configuration) and its text report in *out. */
static dp_run_profile *text_report(dp_buf *out)
{
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, NULL, &p), 0);
    dp_buf_init(out, 1 << 20);
    assert_int_equal(dp_render_text(p, NULL, out), 0);
    return p;
}

/* No lines of zeros. Run 1: a (haiku, 100 in / 10 out: 100 x 1 + 10 x 5 =
 * $0.00015) and b, a node that calls nothing: the tokens line has no cache
 * parts, b has no line in "Cost by node" (it costs $0). Run 2: one node and a
 * tool call, no model: no tokens, cost or cost-at-scale line, no "Cost by
 * node" and no "By model" section. */
static void test_text_no_zero_lines(void **state)
{
    (void)state;
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 300);
    sb_node(&t, sb_span(&t, "a", root, 0, 100), "a", "haiku", 100, 10);
    sb_str(&t, sb_span(&t, "b", root, 0, 100), "dag.node.id", "b");
    dp_buf out;
    dp_run_profile *p = text_report(&out);
    assert_non_null(strstr(out.data, "\n  tokens           110 (input 100, output 10)\n"));
    assert_non_null(strstr(out.data, "\n  cost             $0.000150\n"));
    /* $0.00015 x 1000 = $0.15 */
    assert_non_null(strstr(out.data, "\n  cost per 1,000 runs $0.1500 (extrapolated"));
    char *costs = section(out.data, "\nCost by node\n");
    assert_non_null(costs);
    assert_non_null(strstr(costs, "\n  a "));
    assert_null(strstr(costs, "\n  b "));
    dp_buf_free(&out);
    dp_run_profile_destroy(p);

    sb_init(&t);
    root = sb_span(&t, "root", -1, 0, 100);
    int n = sb_span(&t, "n", root, 0, 100);
    sb_str(&t, n, "dag.node.id", "n");
    sb_str(&t, sb_span(&t, "t", n, 10, 20), "gen_ai.tool.name", "ls");
    p = text_report(&out);
    assert_null(strstr(out.data, "  tokens "));
    assert_null(strstr(out.data, "  cost "));
    assert_null(strstr(out.data, "cost per 1,000 runs"));
    assert_null(strstr(out.data, "Cost by node"));
    assert_null(strstr(out.data, "By model"));
    assert_non_null(
        strstr(out.data, "\n  ls        1       10.0       10.0       10.0        0\n"));
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

/* The top fixes of the overlapping case of test_report_figures.c, in text:
 * restructure_dag 600 ms (60 % of 1000 ms), parallelize 400 ms (40 %),
 * model_downgrade $0.2 of $0.5 (40 %); together 600 to 1000 ms (the first
 * two overlap) and $0.2. */
static void test_text_top_fixes(void **state)
{
    (void)state;
    static dp_recommendation recs[3];
    memset(recs, 0, sizeof(recs));
    recs[0].type = DP_REC_PARALLELIZE;
    recs[0].savings_time_ms = 400;
    recs[0].overlaps = 1u << DP_REC_RESTRUCTURE_DAG;
    recs[1].type = DP_REC_MODEL_DOWNGRADE;
    recs[1].savings_cost_usd = 0.2;
    recs[2].type = DP_REC_RESTRUCTURE_DAG;
    recs[2].savings_time_ms = 600;
    recs[2].overlaps = 1u << DP_REC_PARALLELIZE;
    for (int i = 0; i < 3; i++)
        recs[i].savings_cost_known = true;
    dp_run_profile p;
    memset(&p, 0, sizeof(p));
    p.dag_id = "d";
    p.wall_ms = 1000;
    p.cost_usd = 0.5;
    p.cost_any_known = p.cost_complete = true;
    p.speedup_if_independent = -1;
    p.recommendations = recs;
    p.recommendation_count = 3;
    dp_buf out;
    dp_buf_init(&out, 1 << 20);
    assert_int_equal(dp_render_text(&p, NULL, &out), 0);
    assert_non_null(strstr(out.data,
                           "\nTop 3 fixes (largest estimated savings first)\n"
                           "  1. restructure_dag   saves 600.0 ms (60.0% of the run's wall time)\n"
                           "  2. parallelize       saves 400.0 ms (40.0% of the run's wall time)\n"
                           "  3. model_downgrade   saves $0.2000 (40.0% of the run's cost)\n"
                           "  combined: 600.0 ms to 1000.0 ms, $0.2000  (some claim the same "
                           "savings: from the best set that does not overlap up to the sum, an "
                           "upper bound)\n"));
    dp_buf_free(&out);
}

/* A run of many nodes renders whole in both formats, into a buffer that
 * starts empty (the text renderer sizes it up front and then grows it). */
static void test_many_nodes(void **state)
{
    (void)state;
    static char ids[200][8];
    sb_init(&t);
    int root = sb_span(&t, "root", -1, 0, 2000);
    for (int i = 0; i < 200; i++) {
        snprintf(ids[i], sizeof(ids[i]), "n%03d", i);
        sb_str(&t, sb_span(&t, "step", root, i * 10, i * 10 + 10), "dag.node.id", ids[i]);
    }
    dp_run_profile *p = NULL;
    assert_int_equal(dp_profile_build(t.spans, t.count, NULL, &p), 0);
    assert_int_equal(p->node_count, 200);
    dp_buf out;
    dp_buf_init(&out, 0);
    assert_int_equal(dp_render_text(p, NULL, &out), 0);
    /* the first and last nodes' waterfall rows: n000 0..10 of 2000 ms and
     * n199 1990..2000, width 50 -> one column each, first and last */
    assert_non_null(strstr(out.data, "  n000                     |#"));
    assert_non_null(strstr(out.data, "#| "));
    assert_non_null(strstr(out.data, "\n  n199 "));
    dp_buf_reset(&out);
    assert_int_equal(dp_render_json(p, &out), 0);
    json_t *v = json_loads(out.data, 0, NULL);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "nodes")), 200);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(v, "nodes"), 199), "id")),
        "n199");
    json_decref(v);
    dp_buf_free(&out);
    dp_run_profile_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_small_cost),
        cmocka_unit_test(test_profile_text_is_cleaned),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_bottlenecks),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_buffer_cap),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_json_invalid_utf8),
        cmocka_unit_test(test_json_layout),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_json_non_finite),
        cmocka_unit_test(test_text_model_column),
        cmocka_unit_test(test_many_nodes),
        cmocka_unit_test(test_text_no_zero_lines),
        cmocka_unit_test(test_text_top_fixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

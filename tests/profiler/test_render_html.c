/*
 * The HTML report: the escaping helper byte by byte, and the structure of
 * the page of a profile built by hand (no spans, so every field is known):
 * names from spans stay text, anchors come from indexes, every element the
 * page opens is closed, the critical path is marked on exactly its nodes,
 * figures are the JSON report's, dependency cycles do not stop the graph,
 * and a buffer that is too small leaves nothing behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "profile_types.h"
#include "render.h"

static char *escaped(const char *s, size_t len)
{
    static dp_buf b;
    dp_buf_free(&b);
    dp_buf_init(&b, 0);
    assert_int_equal(dp_html_escape(&b, s, len), 0);
    return b.data ? b.data : "";
}

static void test_escape(void **state)
{
    (void)state;
    assert_string_equal(escaped("plain", 5), "plain");
    assert_string_equal(escaped("<script>alert(1)</script>", 25),
                        "&lt;script&gt;alert(1)&lt;/script&gt;");
    assert_string_equal(escaped("a\"b'c&d", 7), "a&quot;b&#39;c&amp;d");
    /* an entity that is already there is escaped again: the text is shown as sent */
    assert_string_equal(escaped("&amp;", 5), "&amp;amp;");
    /* control characters become '?', UTF-8 is copied */
    assert_string_equal(escaped("x\ny\x01z\x7f", 6), "x?y?z?");
    assert_string_equal(escaped("caf\xc3\xa9 \xe2\x86\x92", 9), "caf\xc3\xa9 \xe2\x86\x92");
    /* only len bytes are read; a NUL inside them is a control character */
    assert_string_equal(escaped("ab<cd", 3), "ab&lt;");
    assert_string_equal(escaped("a\0b", 3), "a?b");
    assert_string_equal(escaped(NULL, 0), "");

    dp_buf small;
    dp_buf_init(&small, 8);
    assert_int_equal(dp_html_escape(&small, "<<<<", 4), -1); /* 16 bytes > cap 8 */
    dp_buf_free(&small);
    assert_int_equal(dp_html_escape(NULL, "x", 1), -1);
    escaped("", 0);
}

/*
 * Three nodes by hand, run start 2023-11-14 22:13:20 UTC (1700000000 s):
 *   0 `<script>alert(1)</script>`  0..400 ms, on the critical path
 *   1 `q"u'o&te`                   500..1000 ms, ready 400 (wait 100), depends on 0, critical
 *   2 `side`                       100..300 ms, depends on 1 and 1 on 2 too: a cycle
 * wall 1000, critical path 1000 ms (0 -> 1), cost 0.25 of node 1 known, node 2 unknown.
 */
static dp_node_profile nodes[3];
static size_t deps1[] = {0, 2}, deps2[] = {1};
static size_t path[] = {0, 1};
static dp_tool_call_profile tools[] = {{"grep <x>", 12.5, false}};
static dp_tool_stat tool_stats[] = {{"grep <x>", 1, 12.5, 12.5, 12.5, 1}};
static dp_call_profile calls[] = {
    {1, true, false, "chat", "gpt-<4o>", 600.0, 300.0, true, {1000, 200, 300, 0}, 0.25, true},
    {0, false, true, "grep <x>", NULL, 50.0, 12.5, false, {0}, 0, true},
    {-1, true, false, "embeddings", "e5", 0.0, 10.0, true, {5, 0, 0, 0}, 0, true},
};
static dp_bottleneck findings[1];
static dp_recommendation recs[2];
static const size_t rec_nodes[] = {1};
static dp_model_usage models[1];

static void build(dp_run_profile *p)
{
    memset(p, 0, sizeof(*p));
    memset(nodes, 0, sizeof(nodes));
    for (int i = 0; i < 16; i++)
        p->trace_id[i] = (uint8_t)(0xa0 + i);
    p->dag_id = "dag <b>&";
    p->service = "svc\"x";
    p->span_count = 5;
    p->start_ns = 1700000000ull * 1000000000ull + 123000000ull;
    p->wall_ms = 1000;
    p->execution_ms = 1100;
    p->critical_path_ms = 1000;
    p->parallelism = 1.1;
    p->speedup = 1;
    p->speedup_if_independent = -1;
    p->explicit_deps = true;
    p->deps_source = DP_DEPS_DECLARED;
    p->llm_calls = 1;
    p->tool_calls = 1;
    p->tokens = (dp_token_counts){1000, 200, 300, 0};
    p->cost_usd = 0.25;
    p->cost_any_known = true;
    p->cost_complete = false;
    p->unknown_cost_calls = 1;

    nodes[0] = (dp_node_profile){.id = "<script>alert(1)</script>",
                                 .name = "<img src=x onerror=alert(2)>",
                                 .start_ms = 0,
                                 .end_ms = 400,
                                 .duration_ms = 400,
                                 .execution_ms = 400,
                                 .parent_node = -1,
                                 .on_critical_path = true,
                                 .cost_known = true,
                                 .tool_calls = tools,
                                 .tool_call_count = 1};
    nodes[1] = (dp_node_profile){.id = "q\"u'o&te",
                                 .name = "n",
                                 .model = "gpt-<4o>",
                                 .start_ms = 500,
                                 .end_ms = 1000,
                                 .ready_ms = 400,
                                 .duration_ms = 500,
                                 .wait_ms = 100,
                                 .execution_ms = 500,
                                 .deps = deps1,
                                 .dep_count = 2,
                                 .parent_node = -1,
                                 .on_critical_path = true,
                                 .llm_calls = 1,
                                 .tokens = {1000, 200, 300, 0},
                                 .cost_usd = 0.25,
                                 .cost_known = true,
                                 .cost_split = {0.1, 0.05, 0, 0.1, 0}};
    nodes[2] = (dp_node_profile){.id = "side",
                                 .name = "side",
                                 .start_ms = 100,
                                 .end_ms = 300,
                                 .duration_ms = 200,
                                 .execution_ms = 200,
                                 .deps = deps2,
                                 .dep_count = 1,
                                 .parent_node = -1,
                                 .cost_known = false,
                                 .unknown_cost_calls = 1};
    p->nodes = nodes;
    p->node_count = 3;
    p->critical_path = path;
    p->critical_path_count = 2;
    p->calls = calls;
    p->call_count = 3;
    p->tool_stats = tool_stats; /* as dp_report_tool_stats() makes them of the one tool call */
    p->tool_stat_count = 1;
    findings[0] = (dp_bottleneck){
        .type = DP_BOTTLENECK_SLOW_NODE, .node = 1, .severity = DP_SEVERITY_HIGH, .impact_pct = 50};
    snprintf(findings[0].details, sizeof(findings[0].details), "node </td><script>x</script>");
    snprintf(findings[0].suggestion, sizeof(findings[0].suggestion), "split it");
    p->bottlenecks = findings;
    p->bottleneck_count = 1;
    recs[0] = (dp_recommendation){.type = DP_REC_CACHE,
                                  .priority = DP_SEVERITY_MEDIUM,
                                  .savings_time_ms = 250.5,
                                  .savings_tokens = 300,
                                  .savings_cost_usd = 0.125,
                                  .savings_cost_known = true};
    snprintf(recs[0].description, sizeof(recs[0].description), "cache 'it'");
    recs[0].overlaps = 1u << DP_REC_PARALLELIZE;
    recs[0].nodes = rec_nodes;
    recs[0].node_count = 1;
    recs[1] = (dp_recommendation){.type = DP_REC_PARALLELIZE,
                                  .priority = DP_SEVERITY_MEDIUM,
                                  .savings_time_ms = 400,
                                  .savings_cost_known = true,
                                  .overlaps = 1u << DP_REC_CACHE};
    p->recommendations = recs;
    p->recommendation_count = 2;
    models[0] = (dp_model_usage){.model = "gpt-<4o>",
                                 .calls = 1,
                                 .tokens = {1000, 200, 300, 0},
                                 .cost_usd = 0.25,
                                 .cost_known = true,
                                 .cost_split = {0.1, 0.05, 0, 0.1, 0}};
    p->models = models;
    p->model_count = 1;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *s = hay; (s = strstr(s, needle)) != NULL; s += strlen(needle))
        n++;
    return n;
}

/* LLM calls with no usage are said beside the tokens, as in the text report */
static void test_calls_without_usage(void **state)
{
    (void)state;
    dp_run_profile p;
    build(&p);
    p.calls_without_usage = 2;
    dp_buf b;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_render_html(&p, &b), 0);
    assert_non_null(strstr(b.data, "cache read 300</small><small>+ 2 LLM call(s) reported no "
                                   "usage: not in tokens or cost</small></div>"));
    dp_buf_free(&b);
}

static void test_page_structure(void **state)
{
    (void)state;
    dp_run_profile p;
    build(&p);
    dp_buf b;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_render_html(&p, &b), 0);
    const char *h = b.data;

    assert_true(strncmp(h, "<!DOCTYPE html>", 15) == 0);
    assert_int_equal(count(h, "</html>"), 1);
    /* no script and no external resource of any kind */
    assert_int_equal(count(h, "<script"), 0);
    assert_int_equal(count(h, "<img"), 0);
    assert_int_equal(count(h, " src=\""), 0);
    assert_non_null(strstr(h, "&lt;img src=x onerror=alert(2)&gt;")); /* the name, as text */
    assert_int_equal(count(h, "<link"), 0);
    assert_int_equal(count(h, "http://") + count(h, "https://"),
                     1); /* the SVG namespace name only */
    assert_non_null(strstr(h, "xmlns=\"http://www.w3.org/2000/svg\""));
    /* the names are text, in text and in attributes */
    assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(h, "data-node=\"q&quot;u&#39;o&amp;te\""));
    assert_non_null(strstr(h, "<title>dagprof: dag &lt;b&gt;&amp;</title>"));
    assert_non_null(strstr(h, "svc&quot;x"));
    assert_non_null(strstr(h, "node &lt;/td&gt;&lt;script&gt;x&lt;/script&gt;"));

    /* every element opened is closed */
    const char *pairs[][2] = {{"<section", "</section>"},
                              {"<table", "</table>"},
                              {"<tr", "</tr>"},
                              {"<svg", "</svg>"},
                              {"<details", "</details>"},
                              {"<g ", "</g>"},
                              {"<a ", "</a>"},
                              {"<title>", "</title>"}};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        assert_int_equal(count(h, pairs[i][0]), count(h, pairs[i][1]));
    assert_int_equal(count(h, "<section"), 1);

    /* node rows anchored by index; the two critical ones marked */
    assert_non_null(strstr(h, "id=\"ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-n2\""));
    assert_int_equal(count(h, "data-critical=\"1\""), 2);
    assert_int_equal(count(h, "data-critical=\"0\""), 1);
    assert_int_equal(count(h, "class=\"gn crit\""), 2);
    /* 3 edges: 0->1 on the path, 2->1 and 1->2 (the cycle) are not */
    assert_int_equal(count(h, "<path class=\"ge explicit crit\""), 1);
    assert_int_equal(count(h, "<path class=\"ge explicit\""), 2);
    /* the finding links to its node's row, waterfall row and graph box,
     * each of which has that anchor; the top fix to its recommendation */
    assert_non_null(strstr(h, "href=\"#ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-n1\""));
    assert_non_null(
        strstr(h, "<a href=\"#ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-n1\">q&quot;u&#39;o&amp;te</a> "
                  "<small>(<a href=\"#ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-w1\">waterfall</a>, "
                  "<a href=\"#ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-g1\">graph</a>)</small>"));
    assert_non_null(strstr(h, "id=\"ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-w1\""));
    assert_non_null(strstr(h, "id=\"ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-g1\""));
    assert_int_equal(count(h, "id=\"ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-g"), 3);
    assert_non_null(strstr(h, "href=\"#ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-b0\""));
    assert_non_null(strstr(h, "href=\"#ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-r0\""));
    /* the recommendation names its node, as a link */
    assert_non_null(
        strstr(h, "<span class=\"rec-nodes\">nodes: <a "
                  "href=\"#ra0a1a2a3a4a5a6a7a8a9aaabacadaeaf-n1\">q&quot;u&#39;o&amp;te</a>"
                  "</span>"));
    /* top fixes: cache saves $0.125 of $0.25 (50 % of the cost, more than
     * 250.5 ms of 1000), parallelize 400 ms (40 % of the wall time): cache
     * first. Together: the two overlap in time, so 400 (the larger) to
     * 250.5 + 400 = 650.5 ms; cache's 300 tokens and $0.125 alone. */
    const char *fixes = strstr(h, "<ol class=\"top-fixes\">");
    assert_non_null(fixes);
    assert_true(strstr(fixes, "-r0\"><b>cache</b>") < strstr(fixes, "-r1\"><b>parallelize</b>"));
    assert_non_null(strstr(fixes, "<span class=\"share\">(50.0% of the run's cost)</span>"));
    assert_non_null(strstr(fixes, "<span class=\"share\">(40.0% of the run's wall time)</span>"));
    assert_non_null(strstr(h, "<p class=\"combined\" data-overlapping=\"1\">Together: <b>400.0 ms "
                              "to 650.5 ms, 300 tokens, $0.125</b>"));
    /* tools by name: grep <x>, 1 call of 12.5 ms, failed */
    assert_non_null(strstr(h, "<tr data-tool=\"grep &lt;x&gt;\"><td class=\"tool-name\">grep "
                              "&lt;x&gt;</td><td class=\"n calls\">1</td><td class=\"n p50\">12.5 "
                              "ms</td><td class=\"n max\">12.5 ms</td><td class=\"n total\">12.5 "
                              "ms</td><td class=\"n failures\">1</td></tr>"));
    /* the model's cost split in figures, only its non-zero parts */
    assert_non_null(strstr(h, "<tr data-model=\"gpt-&lt;4o&gt;\">"));
    assert_non_null(strstr(h, "<small class=\"cost-split\">uncached input $0.1 &middot; cache read "
                              "$0.05 &middot; output $0.1</small>"));
    /* figures as the JSON report writes them */
    assert_non_null(strstr(h, "<b>1000.0 ms</b>")); /* wall */
    assert_non_null(strstr(h, "<b>1.1</b>"));       /* parallelism */
    /* the cards: no zero cache part; one call, one retry in the singular */
    assert_non_null(strstr(h, "1200</b><small>input 1000, output 200, cache read 300</small>"));
    assert_null(strstr(h, "reported no usage")); /* every call gave its usage */
    assert_non_null(strstr(h, "<small>1 LLM call, 1 tool call, 0 retries</small>"));
    /* cache saves all three; parallelize 400 ms only: its tokens and cost are hidden */
    assert_non_null(strstr(h,
                           "saves <span class=\"save\"><span class=\"save-ms\">250.5 "
                           "ms</span></span><span class=\"save\"><span class=\"save-tokens\">300 "
                           "tokens</span></span><span class=\"save\"><span "
                           "class=\"save-usd\">$0.125</span></span>"));
    assert_non_null(strstr(h, "saves <span class=\"save\"><span class=\"save-ms\">400.0 "
                              "ms</span></span><span class=\"save zero\"><span "
                              "class=\"save-tokens\">0 tokens</span></span><span class=\"save "
                              "zero\"><span class=\"save-usd\">$0.0</span></span>"));
    assert_non_null(strstr(h, "$0.125"));                            /* the saving's cost */
    assert_non_null(strstr(h, "<td class=\"n cost\">unknown</td>")); /* node 2 */
    /* node 1's cost by part, on the scale of the dearest node (0.25): 40 %, 20 %, 40 % */
    assert_non_null(strstr(h, "<div class=\"stack\"><span class=\"k-in\" style=\"width:40.000%\" "
                              "title=\"uncached input $0.1\"></span><span class=\"k-cr\" "
                              "style=\"width:20.000%\" title=\"cache read $0.05\"></span><span "
                              "class=\"k-out\" style=\"width:40.000%\" title=\"output "
                              "$0.1\"></span></div>"));
    /* the run start in ISO 8601 (UTC) */
    assert_non_null(strstr(h,
                           "<span class=\"run-start\"><time datetime=\"2023-11-14T22:13:20.123Z\">"
                           "2023-11-14T22:13:20.123Z</time></span>"));
    /* the wait is drawn before the node: 100 ms from 400 ms of a 1000 ms run */
    assert_non_null(strstr(h, "class=\"wait\" style=\"left:40.000%;width:10.000%\""));
    /* calls under their nodes: node 0 (tool) and node 1 (LLM) are expandable,
     * and the call outside every node has a group of its own */
    assert_int_equal(count(h, "<details class=\"wf"), 3);
    assert_int_equal(count(h, "<div class=\"row call\">"), 3);
    const char *outside = strstr(h, "(outside every node)");
    assert_non_null(outside);
    assert_non_null(strstr(outside, "llm embeddings &middot; e5"));
    assert_non_null(strstr(h, "class=\"tool fail\""));
    dp_buf_free(&b);
}

static void test_several_runs_and_failure(void **state)
{
    (void)state;
    dp_run_profile p;
    build(&p);
    dp_buf b;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_render_html_begin("report", &b), 0);
    assert_int_equal(dp_render_html_run(&p, &b), 0);
    p.trace_id[0] = 0x11;
    assert_int_equal(dp_render_html_run(&p, &b), 0);
    assert_int_equal(dp_render_html_end(&b), 0);
    assert_int_equal(count(b.data, "<section"), 2);
    /* anchors stay unique across the runs of one page */
    assert_int_equal(count(b.data, "-n0\" class=\"node"), 2);
    assert_non_null(strstr(b.data, "id=\"r11a1a2a3a4a5a6a7a8a9aaabacadaeaf-n0\""));
    dp_buf_free(&b);

    /* too small a buffer: -1 and nothing appended */
    dp_buf_init(&b, 4096);
    assert_int_equal(dp_buf_puts(&b, "kept"), 0);
    assert_int_equal(dp_render_html(&p, &b), -1);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    dp_buf_free(&b);

    /* an empty run still renders a whole page */
    dp_run_profile empty;
    memset(&empty, 0, sizeof(empty));
    empty.speedup_if_independent = -1;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_render_html(&empty, &b), 0);
    assert_non_null(strstr(b.data, "DAG <span class=\"dag-id\">unknown</span>"));
    assert_non_null(strstr(b.data, "</html>"));
    dp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_page_structure),
        cmocka_unit_test(test_calls_without_usage),
        cmocka_unit_test(test_several_runs_and_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

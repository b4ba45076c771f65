/*
 * The offline pipeline in-process: the trace file input reads files into
 * the engine (finalise_at_stop), the engine profiles every run, and the
 * ordered report sink writes the reports by start time. The files are
 * written here; every expected figure is worked out from them below.
 *
 *   T = 1700000000 s.
 *   a.json, line 1: trace 0a..: root "wf" (span a1, T+2.0 .. T+3.0 s,
 *     dag.id "wf-dag"), node "n1" (a2, parent a1, T+2.0 .. T+2.4 s).
 *   a.json, line 2: trace 0b..: root "solo" (b1, T+0 .. T+0.3 s), given
 *     twice: one copy is left out.
 *   b.pb (binary): trace 0a..: "chat gpt-4o-mini" (a3, parent a2,
 *     T+2.1 .. T+2.3 s, 1000 in / 200 out), node "n2" (a4, parent a1,
 *     T+2.5 .. T+3.0 s).
 *   missing.json: does not exist.
 *
 * So: a.json adds 4 spans, b.pb 2, missing.json fails and adds none. Trace
 * 0b.. (start T) is reported before 0a.. (start T+2 s) although its file
 * comes later in a.json and 0a.. is spread over both files. 0b..: 1 span.
 * 0a..: 4 spans, nodes n1 and n2, wall 1000 ms, execution 400 + 500 =
 * 900 ms, one call of 1000 + 200 tokens costing (gpt-4o-mini: 0.15 and
 * 0.60 USD per million) 0.00015 + 0.00012 = 0.00027 USD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "engine.h"
#include "file_input.h"
#include "otlp_file.h"
#include "sink.h"

static const char A_JSON[] =
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
    "{\"traceId\":\"0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a\",\"spanId\":\"00000000000000a1\","
    "\"name\":\"wf\",\"startTimeUnixNano\":\"1700000002000000000\",\"endTimeUnixNano\":"
    "\"1700000003000000000\",\"attributes\":[{\"key\":\"dag.id\",\"value\":{\"stringValue\":"
    "\"wf-dag\"}}]},"
    "{\"traceId\":\"0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a\",\"spanId\":\"00000000000000a2\","
    "\"parentSpanId\":\"00000000000000a1\",\"name\":\"n1\",\"startTimeUnixNano\":"
    "\"1700000002000000000\",\"endTimeUnixNano\":\"1700000002400000000\",\"attributes\":[{\"key\":"
    "\"dag.node.id\",\"value\":{\"stringValue\":\"n1\"}}]}]}]}]}\n"
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
    "{\"traceId\":\"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\",\"spanId\":\"00000000000000b1\","
    "\"name\":\"solo\",\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":"
    "\"1700000000300000000\"},"
    "{\"traceId\":\"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\",\"spanId\":\"00000000000000b1\","
    "\"name\":\"solo\",\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":"
    "\"1700000000300000000\"}]}]}]}\n";

/* b.pb: the chat a3 under n1 and the node n2, written as binary protobuf
 * (by the OTLP/JSON encoder, itself checked against protobuf-c). */
static const char B_JSON[] =
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
    "{\"traceId\":\"0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a\",\"spanId\":\"00000000000000a3\","
    "\"parentSpanId\":\"00000000000000a2\",\"name\":\"chat gpt-4o-mini\",\"startTimeUnixNano\":"
    "\"1700000002100000000\",\"endTimeUnixNano\":\"1700000002300000000\",\"attributes\":["
    "{\"key\":\"gen_ai.request.model\",\"value\":{\"stringValue\":\"gpt-4o-mini\"}},"
    "{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"1000\"}},"
    "{\"key\":\"gen_ai.usage.output_tokens\",\"value\":{\"intValue\":\"200\"}}]},"
    "{\"traceId\":\"0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a\",\"spanId\":\"00000000000000a4\","
    "\"parentSpanId\":\"00000000000000a1\",\"name\":\"n2\",\"startTimeUnixNano\":"
    "\"1700000002500000000\",\"endTimeUnixNano\":\"1700000003000000000\",\"attributes\":[{\"key\":"
    "\"dag.node.id\",\"value\":{\"stringValue\":\"n2\"}}]}]}]}]}";

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_b_pb(const char *path)
{
    dp_buf pb;
    char err[256];
    dp_buf_init(&pb, 0);
    assert_int_equal(dp_otlp_json_encode(B_JSON, strlen(B_JSON), &pb, err, sizeof err), 0);
    assert_true(pb.data[0] == 0x0a); /* binary: not taken for JSON */
    write_file(path, pb.data, pb.len);
    dp_buf_free(&pb);
}

/* What the input reported for each file. */
typedef struct file_seen {
    char path[256];
    size_t spans;
    char error[512];
} file_seen;

typedef struct files_seen {
    file_seen files[4];
    size_t count;
} files_seen;

static void on_file(void *ctx, const char *path, size_t spans, const char *error)
{
    files_seen *seen = ctx;
    assert_true(seen->count < 4);
    file_seen *f = &seen->files[seen->count++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->spans = spans;
    snprintf(f->error, sizeof f->error, "%s", error ? error : "");
}

static double number_at(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);
    if (b)
        v = json_object_get(v, b);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_files_to_ordered_reports(void **state)
{
    (void)state;
    char dir[] = "/tmp/dagprof-file-input-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a_path[256], b_path[256], missing[256];
    snprintf(a_path, sizeof a_path, "%s/a.json", dir);
    snprintf(b_path, sizeof b_path, "%s/b.pb", dir);
    snprintf(missing, sizeof missing, "%s/missing.json", dir);
    write_file(a_path, A_JSON, strlen(A_JSON));
    write_b_pb(b_path);

    dp_config cfg;
    char err[512];
    dp_config_defaults(&cfg);
    cfg.server.workers = 2;
    assert_int_equal(dp_config_load_prices(&cfg, err, sizeof err), 0);
    files_seen seen = {0};
    char *paths[] = {a_path, b_path, missing};
    dp_file_input_options in_opt = {paths, 3, on_file, &seen, 0};
    dp_engine_options opt = {.finalise_at_stop = true};
    dp_engine *e = NULL;
    assert_int_equal(dp_engine_create(&cfg, &opt, &e), 0);
    dp_sink *sink = dp_ordered_report_sink_create(true, NULL, 0);
    assert_non_null(sink);
    void *input = dp_file_input_create(&in_opt);
    assert_non_null(input);
    assert_int_equal(dp_engine_add_input(e, &dp_file_input_plugin, input), 0);
    assert_int_equal(dp_engine_add_output(e, sink), 0);
    assert_int_equal(dp_engine_start(e), 0);

    /* every file was read in start, in order */
    assert_int_equal(seen.count, 3);
    assert_string_equal(seen.files[0].path, a_path);
    assert_int_equal(seen.files[0].spans, 4);
    assert_string_equal(seen.files[0].error, "");
    assert_int_equal(seen.files[1].spans, 2);
    assert_string_equal(seen.files[1].error, "");
    assert_int_equal(seen.files[2].spans, 0);
    char want[600];
    snprintf(want, sizeof want, "%s: No such file or directory", missing);
    assert_string_equal(seen.files[2].error, want);

    dp_engine_stop(e);
    dp_engine_stats st;
    dp_engine_get_stats(e, &st);
    assert_int_equal(st.runs_processed, 2);
    assert_int_equal(st.runs_failed, 0);
    assert_int_equal(st.spans_duplicate, 1);

    FILE *out = tmpfile();
    assert_non_null(out);
    assert_int_equal(dp_report_sink_write_ordered(sink, out), 0);
    rewind(out);
    char line[1 << 16];
    json_error_t jerr;

    assert_non_null(fgets(line, sizeof line, out));
    json_t *b = json_loads(line, 0, &jerr);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "trace_id")),
                        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    assert_int_equal((int)number_at(b, "span_count", NULL), 1);
    json_decref(b);

    assert_non_null(fgets(line, sizeof line, out));
    json_t *a = json_loads(line, 0, &jerr);
    assert_non_null(a);
    assert_string_equal(json_string_value(json_object_get(a, "trace_id")),
                        "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a");
    assert_string_equal(json_string_value(json_object_get(a, "dag_id")), "wf-dag");
    assert_int_equal((int)number_at(a, "span_count", NULL), 4);
    assert_int_equal((int)number_at(a, "summary", "node_count"), 2);
    assert_true(number_at(a, "summary", "wall_ms") == 1000.0);
    assert_true(number_at(a, "summary", "execution_ms") == 900.0);
    assert_int_equal((int)number_at(a, "summary", "llm_calls"), 1);
    json_t *tokens = json_object_get(json_object_get(a, "summary"), "tokens");
    assert_int_equal((int)json_number_value(json_object_get(tokens, "input")), 1000);
    assert_int_equal((int)json_number_value(json_object_get(tokens, "output")), 200);
    double cost = number_at(a, "summary", "cost_usd");
    assert_true(cost > 0.00027 - 1e-9 && cost < 0.00027 + 1e-9);
    json_decref(a);
    assert_null(fgets(line, sizeof line, out));
    fclose(out);

    dp_engine_destroy(e);
    dp_sink_destroy(sink);
    dp_config_release(&cfg);
    unlink(a_path);
    unlink(b_path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_to_ordered_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

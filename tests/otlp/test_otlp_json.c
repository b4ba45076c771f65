/*
 * Tests for OTLP/JSON decoding and trace file reading: the JSON mapping
 * rules (hex ids, 64-bit integers as strings or numbers, enum names,
 * snake_case names, base64 bytes), error paths and line numbers, and
 * binary files including the "\n{" start that looks like JSON.
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

#include "decode.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp_file.h"

#define DATA DP_TEST_DATA_DIR "/otlp/"

typedef struct fixture {
    dp_arena arena;
    dp_span_list list;
    char err[512];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    dp_arena_init(&f->arena, 0, 64u << 20);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dp_arena_free(&f->arena);
    free(f);
    return 0;
}

static const dp_span *find_span(const dp_span_list *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (dp_str_eq_cstr(l->spans[i].name, name))
            return &l->spans[i];
    fail_msg("no span named %s", name);
    return NULL;
}

static const uint8_t TRACE_5B[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                     0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};

/* The collector file exporter's layout: one request per line, 2 + 1 + 1 spans. */
static void test_collector_file_lines(void **state)
{
    fixture *f = *state;
    int rc = dp_otlp_file_read(DATA "collector_export.jsonl", &f->arena, &f->list, f->err,
                               sizeof f->err);
    assert_int_equal(rc, 0);
    assert_int_equal(f->list.count, 4);

    const dp_span *run = find_span(&f->list, "run");
    const uint8_t run_id[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
    assert_memory_equal(run->trace_id, TRACE_5B, 16);
    assert_memory_equal(run->span_id, run_id, 8);
    assert_false(run->has_parent);
    assert_int_equal(run->kind, 1);
    assert_int_equal(run->start_ns, 1700000000000000000ull);
    assert_int_equal(run->end_ns, 1700000010000000000ull);
    assert_int_equal(run->status, DP_STATUS_UNSET);
    assert_true(dp_str_eq_cstr(dp_span_attr(run, "dag.id")->u.s, "code-review-dag"));
    assert_int_equal(run->resource_attr_count, 1);
    assert_true(dp_str_eq_cstr(run->resource_attrs[0].key, "service.name"));
    assert_true(dp_str_eq_cstr(run->resource_attrs[0].value.u.s, "agent"));

    const dp_span *plan = find_span(&f->list, "plan");
    assert_true(plan->has_parent);
    assert_memory_equal(plan->parent_span_id, run_id, 8);
    assert_int_equal(plan->kind, 3); /* "SPAN_KIND_CLIENT" */
    assert_int_equal(plan->status, DP_STATUS_OK);
    /* intValue as a decimal string and as a JSON number */
    assert_int_equal(dp_span_attr(plan, "gen_ai.usage.input_tokens")->u.i, 1200);
    assert_int_equal(dp_span_attr(plan, "gen_ai.usage.output_tokens")->u.i, 300);

    /* snake_case names, upper-case hex, times as numbers, unknown field ignored */
    const dp_span *review = find_span(&f->list, "review");
    assert_memory_equal(review->trace_id, TRACE_5B, 16);
    assert_true(review->has_parent);
    assert_int_equal(review->start_ns, 1700000003000000000ull);
    assert_int_equal(review->end_ns, 1700000009500000000ull);
    assert_int_equal(review->status, DP_STATUS_ERROR);
    assert_true(dp_str_eq_cstr(review->status_message, "tool failed"));
    const dp_value *dep = dp_span_attr(review, "dag.depends_on");
    assert_int_equal(dep->kind, DP_VALUE_ARRAY);
    assert_int_equal(dep->u.array.count, 2);
    assert_true(dp_str_eq_cstr(dep->u.array.items[0].u.s, "plan"));
    assert_true(dp_str_eq_cstr(dep->u.array.items[1].u.s, "search"));
    assert_true(dp_span_attr(review, "score")->u.d == 0.75);
    assert_int_equal(dp_span_attr(review, "cached")->kind, DP_VALUE_BOOL);
    assert_false(dp_span_attr(review, "cached")->u.b);
    /* "AQL/" = 000000 010000 001011 111111 = 0x01 0x02 0xff */
    const dp_value *raw = dp_span_attr(review, "raw");
    assert_int_equal(raw->kind, DP_VALUE_BYTES);
    assert_int_equal(raw->u.s.len, 3);
    assert_memory_equal(raw->u.s.ptr, "\x01\x02\xff", 3);
    assert_int_equal(dp_span_attr(review, "meta")->kind, DP_VALUE_KVLIST);

    const dp_span *solo = find_span(&f->list, "solo");
    assert_false(solo->has_parent); /* parentSpanId "" */
    assert_int_equal(solo->kind, 2);
    assert_int_equal(solo->start_ns, 5);
    assert_int_equal(solo->end_ns, UINT64_MAX);
    assert_int_equal(solo->link_count, 1);
    assert_memory_equal(solo->links[0].trace_id, TRACE_5B, 16);
    assert_true(dp_str_eq_cstr(solo->resource_attrs[0].value.u.s, "other"));
}

/* One pretty-printed request spanning the whole file. */
static void test_pretty_printed_file(void **state)
{
    fixture *f = *state;
    int rc = dp_otlp_file_read(DATA "pretty.json", &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, 0);
    assert_int_equal(f->list.count, 2);
    const dp_span *child = find_span(&f->list, "child");
    assert_int_equal(dp_span_attr(child, "gen_ai.usage.input_tokens")->u.i, -42);
    assert_int_equal(child->start_ns, 200);
    assert_int_equal(child->end_ns, 400);
    const uint8_t p[8] = {0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22};
    assert_memory_equal(child->parent_span_id, p, 8);
}

static void test_file_errors_name_the_line(void **state)
{
    fixture *f = *state;
    int rc =
        dp_otlp_file_read(DATA "bad_trace_id.jsonl", &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, -1);
    assert_string_equal(f->err,
                        DATA "bad_trace_id.jsonl:3: "
                             "resourceSpans[0].scopeSpans[0].spans[2].traceId: not 32 hex digits");
    assert_int_equal(f->list.count, 0); /* nothing half-read */

    rc = dp_otlp_file_read(DATA "broken.jsonl", &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, -1);
    const char *want = DATA "broken.jsonl:2: invalid JSON";
    assert_true(strncmp(f->err, want, strlen(want)) == 0);
    assert_int_equal(f->list.count, 0);

    rc = dp_otlp_file_read(DATA "no-such-file.json", &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(f->err, "no-such-file.json: No such file"));
}

/* Each bad document and the exact message it gives. */
static void test_json_error_messages(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *doc;
        const char *err;
    } cases[] = {
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"abc\",\"spanId\":"
         "\"2222222222222222\"}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].traceId: not 32 hex digits"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"zz111111111111111111111111111111\",\"spanId\":\"2222222222222222\"}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].traceId: not 32 hex digits"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"11111111111111111111111111111111\"}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].spanId: not 16 hex digits"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"00000000000000000000000000000000\",\"spanId\":\"2222222222222222\"}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].traceId: all zeros"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"11111111111111111111111111111111\",\"spanId\":\"0000000000000000\"}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].spanId: all zeros"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\",\"parentSpanId\":"
         "\"22\"}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].parentSpanId: not 16 hex digits"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\","
         "\"startTimeUnixNano\":\"-5\"}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: not an unsigned 64-bit "
         "integer"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\",\"endTimeUnixNano\":"
         "\"18446744073709551616\"}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano: not an unsigned 64-bit integer"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\",\"kind\":\"SPAN_"
         "KIND_BOGUS\"}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].kind: unknown name \"SPAN_KIND_BOGUS\""},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\",\"name\":5}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].name: want a string"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\",\"attributes\":[{"
         "\"key\":\"n\",\"value\":{\"intValue\":\"12x\"}}]}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: not a 64-bit "
         "integer"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
         "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\",\"attributes\":[{"
         "\"key\":\"b\",\"value\":{\"bytesValue\":\"A\"}}]}]}]}]}",
         "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: not base64"},
        {"{\"resourceSpans\":{}}", "resourceSpans: want an array"},
        {"[1]", "want an ExportTraceServiceRequest object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = dp_otlp_json_parse(cases[i].doc, strlen(cases[i].doc), &f->arena, &f->list, f->err,
                                    sizeof f->err);
        assert_int_equal(rc, -1);
        assert_string_equal(f->err, cases[i].err);
        assert_int_equal(f->list.count, 0);
    }
    int rc =
        dp_otlp_json_parse("{\"resourceSpans\":[", 18, &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, -1);
    assert_true(strncmp(f->err, "invalid JSON at line 1", 22) == 0);
}

/* Accepted oddities: an empty request, nulls, 64-bit extremes, enum numbers. */
static void test_json_edge_values(void **state)
{
    fixture *f = *state;
    const char *empty = "{}";
    assert_int_equal(dp_otlp_json_parse(empty, 2, &f->arena, &f->list, f->err, sizeof f->err), 0);
    assert_int_equal(f->list.count, 0);
    const char *doc =
        "{\"resourceSpans\":[{\"resource\":null,\"scopeSpans\":[{\"spans\":[{"
        "\"traceId\":\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\","
        "\"parentSpanId\":\"0000000000000000\",\"name\":null,\"kind\":5,"
        "\"attributes\":[{\"key\":\"min\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
        "{\"key\":\"max\",\"value\":{\"intValue\":\"9223372036854775807\"}},"
        "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"Infinity\"}},"
        "{\"key\":\"e\",\"value\":{}}],"
        "\"status\":{\"code\":\"STATUS_CODE_ERROR\"}}]}]}]}";
    int rc = dp_otlp_json_parse(doc, strlen(doc), &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, 0);
    assert_int_equal(f->list.count, 1);
    const dp_span *s = &f->list.spans[0];
    assert_false(s->has_parent); /* all-zero parent = root */
    assert_int_equal(s->name.len, 0);
    assert_int_equal(s->kind, 5);
    assert_int_equal(s->status, DP_STATUS_ERROR);
    assert_true(dp_span_attr(s, "min")->u.i == INT64_MIN);
    assert_true(dp_span_attr(s, "max")->u.i == INT64_MAX);
    assert_true(dp_span_attr(s, "inf")->u.d > 1e308);
    assert_int_equal(dp_span_attr(s, "e")->kind, DP_VALUE_EMPTY);
}

/* Arrays nested 100 deep are refused with a message, not a crash. */
static void test_json_deep_nesting(void **state)
{
    fixture *f = *state;
    char doc[8192];
    size_t n = 0;
    n += (size_t)snprintf(doc + n, sizeof doc - n,
                          "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                          "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\","
                          "\"attributes\":[{\"key\":\"d\",\"value\":");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "{\"arrayValue\":{\"values\":[");
    n += (size_t)snprintf(doc + n, sizeof doc - n, "{\"intValue\":1}");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "]}}");
    n += (size_t)snprintf(doc + n, sizeof doc - n, "}]}]}]}]}");
    assert_true(n < sizeof doc);
    int rc = dp_otlp_json_parse(doc, n, &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(f->err, "values nested more than 64 deep"));
}

/* A one-span binary request; name_len tunes its size. */
static size_t write_binary(char *path, size_t trace_len, size_t name_len)
{
    static uint8_t tid[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    static uint8_t sid[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    char name[200];
    Opentelemetry__Proto__Trace__V1__Span s, *sp[1] = {&s};
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss, *ssp[1] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs, *rsp[1] = {&rs};
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req;
    memset(name, 'n', name_len);
    name[name_len] = '\0';
    opentelemetry__proto__trace__v1__span__init(&s);
    s.trace_id.data = tid, s.trace_id.len = trace_len;
    s.span_id.data = sid, s.span_id.len = 8;
    s.name = name;
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.n_spans = 1, ss.spans = sp;
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs.n_scope_spans = 1, rs.scope_spans = ssp;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.n_resource_spans = 1, req.resource_spans = rsp;
    size_t len = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *buf = malloc(len);
    protobuf_c_message_pack(&req.base, buf);
    strcpy(path, "/tmp/dagprof-otlp-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
    free(buf);
    return len;
}

/* A file of blanks only holds no spans: read without error, nothing added
 * (the report command then says the file holds no spans). */
static void test_blank_file(void **state)
{
    fixture *f = *state;
    char path[64];
    strcpy(path, "/tmp/dagprof-otlp-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\n\n  \t\r\n", 7), 7);
    close(fd);
    size_t before = f->list.count;
    assert_int_equal(dp_otlp_file_read(path, &f->arena, &f->list, f->err, sizeof f->err), 0);
    assert_int_equal(f->list.count, before);
    unlink(path);
}

static void test_binary_files(void **state)
{
    fixture *f = *state;
    char path[64], want[256];

    write_binary(path, 16, 4);
    int rc = dp_otlp_file_read(path, &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, 0);
    assert_int_equal(f->list.count, 1);
    assert_true(dp_str_eq_cstr(f->list.spans[0].name, "nnnn"));
    unlink(path);

    /* The span starts after 0a L 12 L 12 L (all lengths < 128): offset 6. */
    write_binary(path, 5, 4);
    rc = dp_otlp_file_read(path, &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, -1);
    snprintf(want, sizeof want,
             "%s: offset 6: resource_spans[0].scope_spans[0].spans[0]: trace_id is 5 bytes, "
             "want 16 (1 unusable span)",
             path);
    assert_string_equal(f->err, want);
    assert_int_equal(f->list.count, 1);
    unlink(path);

    /*
     * ResourceSpans of exactly 123 bytes makes the file start "\n{":
     * span = trace_id 2+16 + span_id 2+8 + name 2+89 = 119; ScopeSpans = 2+119 = 121;
     * ResourceSpans = 2+121 = 123 = '{'. It is still read as protobuf.
     */
    size_t len = write_binary(path, 16, 89);
    assert_int_equal(len, 2 + 123);
    FILE *fp = fopen(path, "rb");
    assert_int_equal(fgetc(fp), '\n');
    assert_int_equal(fgetc(fp), '{');
    fclose(fp);
    rc = dp_otlp_file_read(path, &f->arena, &f->list, f->err, sizeof f->err);
    assert_int_equal(rc, 0);
    assert_int_equal(f->list.count, 2);
    assert_int_equal(f->list.spans[1].name.len, 89);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_collector_file_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pretty_printed_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors_name_the_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_error_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_edge_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_deep_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blank_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Reading trace files: OTLP/JSON files (the collector's one request per
 * line, pretty-printed, the JSON mapping's spellings) and binary files
 * (including the "\n{" start that looks like JSON) become one encoded
 * request each, read back here as the engine reads stored spans; errors
 * name the file and line (JSON) or byte offset (protobuf), and a file that
 * fails keeps nothing.
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
#define MAX_SPANS 16

typedef struct fixture {
    dp_arena arena;
    dp_buf bytes;
    dp_otlp_trace_batch batch;
    dp_span spans[MAX_SPANS];
    size_t count;
    char err[512];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    dp_arena_init(&f->arena, 0, 64u << 20);
    dp_buf_init(&f->bytes, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dp_buf_free(&f->bytes);
    dp_arena_free(&f->arena);
    free(f);
    return 0;
}

/* Every span of the parsed batch as the engine decodes it. */
static void decode_batch(fixture *f)
{
    f->count = 0;
    assert_true(f->batch.span_count <= MAX_SPANS);
    for (size_t i = 0; i < f->batch.span_count; i++) {
        const dp_span_ref *ref = &f->batch.spans[i];
        const dp_span_scope *scope = &f->batch.scopes[ref->scope_index];
        dp_span *s = &f->spans[f->count++];
        assert_int_equal(dp_otlp_span_decode(ref->raw,
                                             f->batch.resources[scope->resource_index].resource_raw,
                                             &f->arena, s),
                         DP_OTLP_OK);
        s->scope_name = dp_otlp_scope_name(scope->scope_raw);
    }
}

/* Read a file; on success its spans are decoded into f->spans. */
static int read_file(fixture *f, const char *path)
{
    int rc = dp_otlp_file_read(path, &f->arena, &f->bytes, &f->batch, f->err, sizeof f->err);
    f->count = 0;
    if (rc == 0)
        decode_batch(f);
    else
        assert_int_equal(f->batch.span_count, 0); /* nothing half-read */
    return rc;
}

/* Encode one JSON document, parse and decode it. */
static int read_doc(fixture *f, const char *doc)
{
    char why[256];
    dp_buf_reset(&f->bytes);
    int rc = dp_otlp_json_encode(doc, strlen(doc), &f->bytes, f->err, sizeof f->err);
    if (rc < 0)
        return rc;
    assert_int_equal(dp_otlp_trace_batch_parse((const uint8_t *)f->bytes.data, f->bytes.len,
                                               &f->arena, &f->batch, why, sizeof why),
                     DP_OTLP_OK);
    decode_batch(f);
    return 0;
}

static const dp_span *find_span(const fixture *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++)
        if (dp_str_eq_cstr(f->spans[i].name, name))
            return &f->spans[i];
    fail_msg("no span named %s", name);
    return NULL;
}

static const uint8_t TRACE_5B[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                     0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};

/* The collector file exporter's layout: one request per line, 2 + 1 + 1 spans. */
static void test_collector_file_lines(void **state)
{
    fixture *f = *state;
    assert_int_equal(read_file(f, DATA "collector_export.jsonl"), 0);
    assert_int_equal(f->count, 4);

    const dp_span *run = find_span(f, "run");
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

    const dp_span *plan = find_span(f, "plan");
    assert_true(plan->has_parent);
    assert_memory_equal(plan->parent_span_id, run_id, 8);
    assert_int_equal(plan->kind, 3); /* "SPAN_KIND_CLIENT" */
    assert_int_equal(plan->status, DP_STATUS_OK);
    /* intValue as a decimal string and as a JSON number */
    assert_int_equal(dp_span_attr(plan, "gen_ai.usage.input_tokens")->u.i, 1200);
    assert_int_equal(dp_span_attr(plan, "gen_ai.usage.output_tokens")->u.i, 300);

    /* snake_case names, upper-case hex, times as numbers, unknown field ignored */
    const dp_span *review = find_span(f, "review");
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

    const dp_span *solo = find_span(f, "solo");
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
    assert_int_equal(read_file(f, DATA "pretty.json"), 0);
    assert_int_equal(f->count, 2);
    const dp_span *child = find_span(f, "child");
    assert_int_equal(dp_span_attr(child, "gen_ai.usage.input_tokens")->u.i, -42);
    assert_int_equal(child->start_ns, 200);
    assert_int_equal(child->end_ns, 400);
    const uint8_t p[8] = {0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22};
    assert_memory_equal(child->parent_span_id, p, 8);
}

static void test_file_errors_name_the_line(void **state)
{
    fixture *f = *state;
    assert_int_equal(read_file(f, DATA "bad_trace_id.jsonl"), -1);
    assert_string_equal(f->err,
                        DATA "bad_trace_id.jsonl:3: "
                             "resourceSpans[0].scopeSpans[0].spans[2].traceId: not 32 hex digits");

    assert_int_equal(read_file(f, DATA "broken.jsonl"), -1);
    const char *want = DATA "broken.jsonl:2: invalid JSON";
    assert_true(strncmp(f->err, want, strlen(want)) == 0);

    assert_int_equal(read_file(f, DATA "no-such-file.json"), -1);
    assert_non_null(strstr(f->err, "no-such-file.json: No such file"));
}

/* Accepted oddities: an empty request, nulls, 64-bit extremes, enum numbers. */
static void test_json_edge_values(void **state)
{
    fixture *f = *state;
    assert_int_equal(read_doc(f, "{}"), 0);
    assert_int_equal(f->count, 0);
    const char *doc =
        "{\"resourceSpans\":[{\"resource\":null,\"scopeSpans\":[{\"spans\":[{"
        "\"traceId\":\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\","
        "\"parentSpanId\":\"0000000000000000\",\"name\":null,\"kind\":5,"
        "\"attributes\":[{\"key\":\"min\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
        "{\"key\":\"max\",\"value\":{\"intValue\":\"9223372036854775807\"}},"
        "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"Infinity\"}},"
        "{\"key\":\"e\",\"value\":{}}],"
        "\"status\":{\"code\":\"STATUS_CODE_ERROR\"}}]}]}]}";
    assert_int_equal(read_doc(f, doc), 0);
    assert_int_equal(f->count, 1);
    const dp_span *s = &f->spans[0];
    assert_false(s->has_parent); /* all-zero parent = root */
    assert_int_equal(s->name.len, 0);
    assert_int_equal(s->kind, 5);
    assert_int_equal(s->status, DP_STATUS_ERROR);
    assert_true(dp_span_attr(s, "min")->u.i == INT64_MIN);
    assert_true(dp_span_attr(s, "max")->u.i == INT64_MAX);
    assert_true(dp_span_attr(s, "inf")->u.d > 1e308);
    assert_int_equal(dp_span_attr(s, "e")->kind, DP_VALUE_EMPTY);
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

/* A JSON file of two requests (one per line), each span with an attribute
 * whose value would nest 101 deep (span attributes' AnyValue is message 5,
 * 48 arrays add 96): read, each span without it, both counted. */
static void test_json_file_with_too_deep_attributes(void **state)
{
    fixture *f = *state;
    char path[] = "/tmp/dp-test-deep-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *out = fdopen(fd, "w");
    assert_non_null(out);
    for (int line = 1; line <= 2; line++) {
        fprintf(out,
                "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"000000000000000%d\",\"name\":"
                "\"s%d\",\"attributes\":[{\"key\":\"keep\",\"value\":{\"stringValue\":\"y\"}},"
                "{\"key\":\"deep\",\"value\":",
                line, line);
        for (int i = 0; i < 48; i++)
            fputs("{\"arrayValue\":{\"values\":[", out);
        fputs("{\"intValue\":1}", out);
        for (int i = 0; i < 48; i++)
            fputs("]}}", out);
        fputs("}]}]}]}]}\n", out);
    }
    assert_int_equal(fclose(out), 0);
    assert_int_equal(read_file(f, path), 0);
    unlink(path);
    assert_int_equal(f->count, 2);
    assert_int_equal(f->batch.attributes_dropped, 2);
    for (int line = 1; line <= 2; line++) {
        char name[4];
        snprintf(name, sizeof name, "s%d", line);
        const dp_span *s = find_span(f, name);
        assert_non_null(s);
        assert_int_equal(s->attr_count, 1);
        assert_int_equal(s->attrs[0].key.len, 4);
        assert_memory_equal(s->attrs[0].key.ptr, "keep", 4);
    }
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
    assert_int_equal(read_file(f, path), 0);
    assert_int_equal(f->count, 0);
    unlink(path);
}

static void test_binary_files(void **state)
{
    fixture *f = *state;
    char path[64], want[256];

    write_binary(path, 16, 4);
    assert_int_equal(read_file(f, path), 0);
    assert_int_equal(f->count, 1);
    assert_true(dp_str_eq_cstr(f->spans[0].name, "nnnn"));
    unlink(path);

    /* The span starts after 0a L 12 L 12 L (all lengths < 128): offset 6. */
    write_binary(path, 5, 4);
    assert_int_equal(read_file(f, path), -1);
    snprintf(want, sizeof want,
             "%s: offset 6: resource_spans[0].scope_spans[0].spans[0]: trace_id is 5 bytes, "
             "want 16 (1 unusable span)",
             path);
    assert_string_equal(f->err, want);
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
    assert_int_equal(read_file(f, path), 0);
    assert_int_equal(f->count, 1);
    assert_int_equal(f->spans[0].name.len, 89);
    /* the request is the file's bytes as they are */
    assert_int_equal(f->bytes.len, len);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_collector_file_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pretty_printed_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors_name_the_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_edge_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blank_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_file_with_too_deep_attributes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

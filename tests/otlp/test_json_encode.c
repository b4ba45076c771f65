/*
 * The OTLP/JSON → protobuf encoder, checked against an independent reader:
 * protobuf-c's generated code unpacks what the encoder wrote, and every
 * field is compared with what the JSON says (values worked out by hand
 * below). Also: the exact bytes of a minimal request, malformed optional
 * parts left out field by field, and the error messages with JSON paths.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "decode.h"
#include "otlp_file.h"

#include "json_nesting.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest request;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_value;

#define ANY(kind) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##kind

/* Encode doc and unpack it with protobuf-c; NULL when the encoder refused it. */
static request *encode_unpack(const char *doc, char *err, size_t errlen)
{
    dp_buf pb;
    dp_buf_init(&pb, 0);
    int rc = dp_otlp_json_encode(doc, strlen(doc), &pb, err, errlen);
    request *req = NULL;
    if (rc == 0) {
        req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, pb.len, (const uint8_t *)pb.data);
        assert_non_null(req);
    } else {
        assert_int_equal(pb.len, 0); /* nothing written */
    }
    dp_buf_free(&pb);
    return req;
}

static void free_request(request *req)
{
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);
}

static const uint8_t TRACE[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                  0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static const uint8_t SPAN[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
static const uint8_t PARENT[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static void assert_bytes(ProtobufCBinaryData b, const uint8_t *want, size_t n)
{
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
}

/* Every field of the trace schema, in the JSON mapping's spellings. */
static void test_every_field(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"resourceSpans\":[{"
        " \"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":"
        "\"svc\"}}],\"droppedAttributesCount\":2,"
        "  \"entityRefs\":[{\"schemaUrl\":\"u\",\"type\":\"service\",\"idKeys\":[\"service.name\"],"
        "\"descriptionKeys\":[\"a\",\"b\"]}]},"
        " \"schemaUrl\":\"https://res\","
        " \"scopeSpans\":[{"
        "  \"scope\":{\"name\":\"lib\",\"version\":\"1.2\",\"attributes\":[{\"key\":\"sa\","
        "\"value\":{\"boolValue\":true}}],\"droppedAttributesCount\":3},"
        "  \"schemaUrl\":\"https://scope\","
        "  \"spans\":[{"
        "   \"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"eee19b7ec3c1b174\","
        "   \"traceState\":\"k=v\",\"parentSpanId\":\"0102030405060708\",\"flags\":257,"
        "   \"name\":\"plan\",\"kind\":\"SPAN_KIND_CLIENT\","
        "   \"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":1700000001000000000,"
        "   \"attributes\":["
        "    {\"key\":\"s\",\"value\":{\"stringValue\":\"\"}},"
        "    {\"key\":\"i\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
        "    {\"key\":\"d\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
        "    {\"key\":\"b\",\"value\":{\"bytesValue\":\"AQL/\"}},"
        "    {\"key\":\"a\",\"value\":{\"arrayValue\":{\"values\":[{\"intValue\":7},"
        "{\"stringValue\":\"x\"}]}}},"
        "    {\"key\":\"m\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"inner\",\"value\":"
        "{\"doubleValue\":0.5}}]}}},"
        "    {\"key\":\"e\"}],"
        "   \"droppedAttributesCount\":4,"
        "   \"events\":[{\"timeUnixNano\":\"1700000000500000000\",\"name\":\"exception\","
        "\"attributes\":[{\"key\":\"exception.type\",\"value\":{\"stringValue\":\"E\"}}],"
        "\"droppedAttributesCount\":1}],"
        "   \"droppedEventsCount\":5,"
        "   \"links\":[{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":"
        "\"0102030405060708\",\"traceState\":\"t\",\"attributes\":[{\"key\":\"l\",\"value\":"
        "{\"intValue\":1}}],\"droppedAttributesCount\":6,\"flags\":1}],"
        "   \"droppedLinksCount\":7,"
        "   \"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"boom\"}"
        "  }]"
        " }]"
        "}]}";
    char err[256];
    request *req = encode_unpack(doc, err, sizeof err);
    assert_non_null(req);
    assert_int_equal(req->n_resource_spans, 1);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[0];
    assert_string_equal(rs->schema_url, "https://res");
    assert_non_null(rs->resource);
    assert_int_equal(rs->resource->n_attributes, 1);
    assert_string_equal(rs->resource->attributes[0]->key, "service.name");
    assert_int_equal(rs->resource->attributes[0]->value->value_case, ANY(STRING_VALUE));
    assert_string_equal(rs->resource->attributes[0]->value->string_value, "svc");
    assert_int_equal(rs->resource->dropped_attributes_count, 2);
    assert_int_equal(rs->resource->n_entity_refs, 1);
    Opentelemetry__Proto__Common__V1__EntityRef *ref = rs->resource->entity_refs[0];
    assert_string_equal(ref->schema_url, "u");
    assert_string_equal(ref->type, "service");
    assert_int_equal(ref->n_id_keys, 1);
    assert_string_equal(ref->id_keys[0], "service.name");
    assert_int_equal(ref->n_description_keys, 2);
    assert_string_equal(ref->description_keys[1], "b");

    assert_int_equal(rs->n_scope_spans, 1);
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[0];
    assert_string_equal(ss->schema_url, "https://scope");
    assert_string_equal(ss->scope->name, "lib");
    assert_string_equal(ss->scope->version, "1.2");
    assert_int_equal(ss->scope->n_attributes, 1);
    assert_string_equal(ss->scope->attributes[0]->key, "sa");
    assert_int_equal(ss->scope->attributes[0]->value->value_case, ANY(BOOL_VALUE));
    assert_true(ss->scope->attributes[0]->value->bool_value);
    assert_int_equal(ss->scope->dropped_attributes_count, 3);

    assert_int_equal(ss->n_spans, 1);
    pb_span *s = ss->spans[0];
    assert_bytes(s->trace_id, TRACE, 16); /* upper-case hex */
    assert_bytes(s->span_id, SPAN, 8);
    assert_string_equal(s->trace_state, "k=v");
    assert_bytes(s->parent_span_id, PARENT, 8);
    assert_int_equal(s->flags, 257);
    assert_string_equal(s->name, "plan");
    assert_int_equal(s->kind, 3);
    assert_int_equal(s->start_time_unix_nano, 1700000000000000000ull);
    assert_int_equal(s->end_time_unix_nano, 1700000001000000000ull);
    assert_int_equal(s->dropped_attributes_count, 4);
    assert_int_equal(s->dropped_events_count, 5);
    assert_int_equal(s->dropped_links_count, 7);
    assert_non_null(s->status);
    assert_int_equal(s->status->code, 2);
    assert_string_equal(s->status->message, "boom");

    assert_int_equal(s->n_attributes, 7);
    any_value *v = s->attributes[0]->value;
    assert_string_equal(s->attributes[0]->key, "s");
    assert_int_equal(v->value_case, ANY(STRING_VALUE)); /* "" is still a string value */
    assert_string_equal(v->string_value, "");
    v = s->attributes[1]->value;
    assert_int_equal(v->value_case, ANY(INT_VALUE));
    assert_true(v->int_value == INT64_MIN);
    v = s->attributes[2]->value;
    assert_int_equal(v->value_case, ANY(DOUBLE_VALUE));
    assert_true(isinf(v->double_value) && v->double_value < 0);
    /* "AQL/" = 000000 010000 001011 111111 = 0x01 0x02 0xff */
    v = s->attributes[3]->value;
    assert_int_equal(v->value_case, ANY(BYTES_VALUE));
    assert_bytes(v->bytes_value, (const uint8_t *)"\x01\x02\xff", 3);
    v = s->attributes[4]->value;
    assert_int_equal(v->value_case, ANY(ARRAY_VALUE));
    assert_int_equal(v->array_value->n_values, 2);
    assert_int_equal(v->array_value->values[0]->value_case, ANY(INT_VALUE));
    assert_int_equal(v->array_value->values[0]->int_value, 7);
    assert_string_equal(v->array_value->values[1]->string_value, "x");
    v = s->attributes[5]->value;
    assert_int_equal(v->value_case, ANY(KVLIST_VALUE));
    assert_int_equal(v->kvlist_value->n_values, 1);
    assert_string_equal(v->kvlist_value->values[0]->key, "inner");
    assert_true(v->kvlist_value->values[0]->value->double_value == 0.5);
    assert_string_equal(s->attributes[6]->key, "e");
    assert_null(s->attributes[6]->value); /* no value: none written */

    assert_int_equal(s->n_events, 1);
    assert_int_equal(s->events[0]->time_unix_nano, 1700000000500000000ull);
    assert_string_equal(s->events[0]->name, "exception");
    assert_int_equal(s->events[0]->n_attributes, 1);
    assert_string_equal(s->events[0]->attributes[0]->value->string_value, "E");
    assert_int_equal(s->events[0]->dropped_attributes_count, 1);

    assert_int_equal(s->n_links, 1);
    assert_bytes(s->links[0]->trace_id, TRACE, 16);
    assert_bytes(s->links[0]->span_id, PARENT, 8);
    assert_string_equal(s->links[0]->trace_state, "t");
    assert_int_equal(s->links[0]->n_attributes, 1);
    assert_int_equal(s->links[0]->attributes[0]->value->int_value, 1);
    assert_int_equal(s->links[0]->dropped_attributes_count, 6);
    assert_int_equal(s->links[0]->flags, 1);
    free_request(req);
}

/*
 * The smallest span, byte for byte: proto3 defaults (kind 0, empty name,
 * time 0) are not written. Span = 0a 10 <16 id bytes> 12 08 <8> = 28 bytes;
 * ScopeSpans = 12 1c <span> = 30; ResourceSpans = 12 1e <scope spans> = 32;
 * request = 0a 20 <resource spans> = 34 bytes.
 */
static void test_minimal_bytes(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
        "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\",\"kind\":0,"
        "\"name\":\"\",\"startTimeUnixNano\":\"0\",\"parentSpanId\":\"\"}]}]}]}";
    uint8_t want[34] = {0x0a, 0x20, 0x12, 0x1e, 0x12, 0x1c, 0x0a, 0x10};
    memcpy(want + 8, TRACE, 16);
    want[24] = 0x12;
    want[25] = 0x08;
    memcpy(want + 26, SPAN, 8);
    dp_buf pb;
    char err[256];
    dp_buf_init(&pb, 0);
    assert_int_equal(dp_otlp_json_encode(doc, strlen(doc), &pb, err, sizeof err), 0);
    assert_int_equal(pb.len, sizeof want);
    assert_memory_equal(pb.data, want, sizeof want);
    dp_buf_free(&pb);
}

/* Enums as numbers (negative too), snake_case names, numbers given as
 * strings and strings as numbers where the mapping allows. */
static void test_spellings(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[{\"trace_id\":"
        "\"5b8efff798038103d269b633813fc60c\",\"span_id\":\"eee19b7ec3c1b174\","
        "\"parent_span_id\":\"0000000000000000\",\"kind\":-2,\"start_time_unix_nano\":5.0,"
        "\"end_time_unix_nano\":\"18446744073709551615\",\"status\":{\"code\":9},"
        "\"attributes\":[{\"key\":\"i\",\"value\":{\"int_value\":-42}},"
        "{\"key\":\"d\",\"value\":{\"double_value\":\"2.5\"}},"
        "{\"key\":\"u\",\"value\":{\"bytes_value\":\"-_8\"}},"
        "{\"key\":\"two\",\"value\":{\"intValue\":1,\"stringValue\":\"wins\"}}]}]}]}]}";
    char err[256];
    request *req = encode_unpack(doc, err, sizeof err);
    assert_non_null(req);
    pb_span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
    /* an all-zero parent is kept as given (readers take it as no parent) */
    static const uint8_t zero[8] = {0};
    assert_bytes(s->parent_span_id, zero, 8);
    assert_int_equal((int)s->kind, -2);
    assert_int_equal(s->start_time_unix_nano, 5);
    assert_int_equal(s->end_time_unix_nano, UINT64_MAX);
    assert_int_equal(s->status->code, 9);
    assert_int_equal(s->attributes[0]->value->int_value, -42);
    assert_true(s->attributes[1]->value->double_value == 2.5);
    /* URL-safe "-_8" = 111110 111111 111100 = 0xfb 0xff */
    assert_bytes(s->attributes[2]->value->bytes_value, (const uint8_t *)"\xfb\xff", 2);
    /* a string value comes before an int value in the mapping's order */
    assert_int_equal(s->attributes[3]->value->value_case, ANY(STRING_VALUE));
    assert_string_equal(s->attributes[3]->value->string_value, "wins");
    free_request(req);
}

/* What the profile does not read is left out field by field when malformed;
 * the span and the well-formed fields around it stay. */
static void test_malformed_optional_parts_left_out(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"resourceSpans\":[{\"resource\":{\"droppedAttributesCount\":\"x\",\"entityRefs\":5},"
        "\"schemaUrl\":7,\"scopeSpans\":[{\"scope\":{\"name\":\"lib\",\"version\":[],"
        "\"attributes\":{}},\"spans\":[{\"traceId\":\"5b8efff798038103d269b633813fc60c\","
        "\"spanId\":\"eee19b7ec3c1b174\",\"name\":\"kept\",\"traceState\":5,\"flags\":-1,"
        "\"events\":[5,{\"name\":3,\"timeUnixNano\":\"12\",\"attributes\":[7,{\"key\":\"k\","
        "\"value\":5},{\"key\":\"ok\",\"value\":{\"intValue\":1}}]}],"
        "\"attributes\":[{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[1,{\"key\":2},"
        "{\"key\":\"bad\",\"value\":{\"intValue\":\"no\"}},{\"key\":\"good\",\"value\":"
        "{\"boolValue\":false}}]}}}]}]}]}]}";
    char err[256];
    request *req = encode_unpack(doc, err, sizeof err);
    assert_non_null(req);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[0];
    assert_string_equal(rs->schema_url, "");
    assert_int_equal(rs->resource->dropped_attributes_count, 0);
    assert_int_equal(rs->resource->n_entity_refs, 0);
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[0];
    assert_string_equal(ss->scope->name, "lib");
    assert_string_equal(ss->scope->version, "");
    assert_int_equal(ss->scope->n_attributes, 0);
    pb_span *s = ss->spans[0];
    assert_string_equal(s->name, "kept");
    assert_string_equal(s->trace_state, "");
    assert_int_equal(s->flags, 0);
    /* the event that is an object stays, without its bad name */
    assert_int_equal(s->n_events, 1);
    assert_string_equal(s->events[0]->name, "");
    assert_int_equal(s->events[0]->time_unix_nano, 12);
    /* 7 is no KeyValue: left out; "k" keeps its key without the bad value */
    assert_int_equal(s->events[0]->n_attributes, 2);
    assert_string_equal(s->events[0]->attributes[0]->key, "k");
    assert_null(s->events[0]->attributes[0]->value);
    assert_int_equal(s->events[0]->attributes[1]->value->int_value, 1);
    /* in a kvlist: 1 and {"key":2} are left out, "bad" loses its value */
    Opentelemetry__Proto__Common__V1__KeyValueList *kv = s->attributes[0]->value->kvlist_value;
    assert_int_equal(kv->n_values, 2);
    assert_string_equal(kv->values[0]->key, "bad");
    assert_null(kv->values[0]->value);
    assert_string_equal(kv->values[1]->key, "good");
    assert_int_equal(kv->values[1]->value->value_case, ANY(BOOL_VALUE));
    free_request(req);
}

/* Each bad document and the exact message it gives. */
static void test_error_messages(void **state)
{
    (void)state;
#define SPAN_START                                                                                 \
    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"                               \
    "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\""
#define SPAN_END "}]}]}]}"
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
        {SPAN_START ",\"parentSpanId\":\"22\"" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].parentSpanId: not 16 hex digits"},
        {SPAN_START ",\"startTimeUnixNano\":\"-5\"" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: not an unsigned 64-bit "
         "integer"},
        {SPAN_START ",\"endTimeUnixNano\":\"18446744073709551616\"" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano: not an unsigned 64-bit integer"},
        {SPAN_START ",\"kind\":\"SPAN_KIND_BOGUS\"" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].kind: unknown name \"SPAN_KIND_BOGUS\""},
        {SPAN_START ",\"kind\":4294967296" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].kind: enum value out of range"},
        {SPAN_START ",\"name\":5" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].name: want a string"},
        {SPAN_START ",\"status\":[]" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].status: want an object"},
        {SPAN_START ",\"status\":{\"message\":1}" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].status.message: want a string"},
        {SPAN_START ",\"attributes\":[{\"key\":\"n\",\"value\":{\"intValue\":\"12x\"}}]" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: not a 64-bit "
         "integer"},
        {SPAN_START ",\"attributes\":[{\"key\":\"b\",\"value\":{\"bytesValue\":\"A\"}}]" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue: not base64"},
        {SPAN_START ",\"attributes\":[{\"key\":\"a\",\"value\":{\"arrayValue\":{\"values\":"
                    "[{\"stringValue\":1}]}}}]" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.arrayValue.values[0]."
         "stringValue: want a string"},
        {SPAN_START ",\"attributes\":[5]" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].attributes[0]: want a {key, value} object"},
        {SPAN_START ",\"links\":[{\"traceId\":\"11111111111111111111111111111111\"}]" SPAN_END,
         "resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId: not 16 hex digits"},
        {"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":"
         "{\"boolValue\":1}}]}}]}",
         "resourceSpans[0].resource.attributes[0].value.boolValue: want true or false"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":{\"name\":5},\"spans\":[]}]}]}",
         "resourceSpans[0].scopeSpans[0].name: want a string"},
        {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":{}}]}]}",
         "resourceSpans[0].scopeSpans[0].spans: want an array"},
        {"{\"resourceSpans\":[5]}", "resourceSpans[0]: want an object"},
        {"{\"resourceSpans\":{}}", "resourceSpans: want an array"},
        {"[1]", "want an ExportTraceServiceRequest object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512];
        assert_null(encode_unpack(cases[i].doc, err, sizeof err));
        assert_string_equal(err, cases[i].err);
    }
    char err[512];
    assert_null(encode_unpack("{\"resourceSpans\":[", err, sizeof err));
    assert_true(strncmp(err, "invalid JSON at line 1", 22) == 0);
#undef SPAN_START
#undef SPAN_END
}

/* How deep the innermost message of an AnyValue at depth `depth` is. */
static int any_depth(const any_value *v, int depth)
{
    int deepest = depth;
    if (v->value_case == ANY(ARRAY_VALUE)) {
        deepest = depth + 1;
        for (size_t i = 0; i < v->array_value->n_values; i++) {
            int d = any_depth(v->array_value->values[i], depth + 2);
            deepest = d > deepest ? d : deepest;
        }
    } else if (v->value_case == ANY(KVLIST_VALUE)) {
        deepest = depth + 1;
        for (size_t i = 0; i < v->kvlist_value->n_values; i++) {
            const Opentelemetry__Proto__Common__V1__KeyValue *kv = v->kvlist_value->values[i];
            int d = kv->value ? any_depth(kv->value, depth + 3) : depth + 2;
            deepest = d > deepest ? d : deepest;
        }
    }
    return deepest;
}

/*
 * Values as deep as the protobuf reader takes them, and one level more. A
 * span attribute's AnyValue is message 5 (request 0, ResourceSpans 1,
 * ScopeSpans 2, Span 3, KeyValue 4), an event's 6 (Event 4), a resource's 4
 * (Resource 2); each arrayValue adds two (ArrayValue, AnyValue), each
 * kvlistValue three (KeyValueList, KeyValue, AnyValue). An attribute whose
 * innermost message would be at 101 is left out, and its message's
 * droppedAttributesCount is the JSON's plus the left out ones; at exactly
 * 100 it is kept whole. The rest of the request is encoded.
 */
static void test_nesting_limit(void **state)
{
    (void)state;
    static char doc[32768];
    size_t n = 0;
    const size_t cap = sizeof doc;
    static const char *const empty_array = "{\"arrayValue\":{}}", *const one = "{\"intValue\":1}";
    put_text(doc, cap, &n, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    /* resource: 48 arrays around an int: 4 + 96 = 100, kept; around an
     * empty array: its ArrayValue at 101, left out */
    put_nested(doc, cap, &n, "r100", 48, false, one);
    put_text(doc, cap, &n, ",");
    put_nested(doc, cap, &n, "r101", 48, false, empty_array);
    put_text(doc, cap, &n,
             "],\"droppedAttributesCount\":7},\"scopeSpans\":[{\"spans\":[{\"traceId\":"
             "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\","
             "\"droppedAttributesCount\":\"3\",\"attributes\":[{\"key\":\"a\",\"value\":"
             "{\"stringValue\":\"x\"}},");
    /* span: 48 arrays around an int: 5 + 96 = 101, left out; 47 around an
     * empty array: AnyValue 99, its ArrayValue 100, kept */
    put_nested(doc, cap, &n, "deep", 48, false, one);
    put_text(doc, cap, &n, ",");
    put_nested(doc, cap, &n, "d100", 47, false, empty_array);
    put_text(doc, cap, &n, ",");
    /* 31 kvlists (5 + 93 = 98), then a KeyValueList (99) whose KeyValue
     * (100) holds an empty AnyValue (101): left out; without the value: kept */
    put_nested(doc, cap, &n, "kv101", 31, true,
               "{\"kvlistValue\":{\"values\":[{\"key\":\"z\",\"value\":{}}]}}");
    put_text(doc, cap, &n, ",");
    put_nested(doc, cap, &n, "kv100", 31, true, "{\"kvlistValue\":{\"values\":[{\"key\":\"z\"}]}}");
    put_text(doc, cap, &n,
             ",{\"key\":\"b\",\"value\":{\"boolValue\":true}}],\"events\":[{\"name\":\"ev\","
             "\"attributes\":[");
    /* event: 48 arrays around an int: 6 + 96 = 102, left out (a lenient part) */
    put_nested(doc, cap, &n, "e101", 48, false, one);
    put_text(doc, cap, &n, ",{\"key\":\"e\",\"value\":{\"intValue\":2}}]}]}]}]}]}");

    dp_buf pb;
    dp_otlp_json_dropped dropped;
    char err[512];
    /* resource r101; span deep, kv101; event e101 */
    encode_leaving_out(DP_SIGNAL_TRACES, doc, n, &pb, 4, "resourceSpans[0].resource.attributes[1]");
    request *req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        NULL, pb.len, (const uint8_t *)pb.data);
    assert_non_null(req);

    const Opentelemetry__Proto__Resource__V1__Resource *res = req->resource_spans[0]->resource;
    assert_int_equal(res->n_attributes, 1);
    assert_string_equal(res->attributes[0]->key, "r100");
    assert_int_equal(any_depth(res->attributes[0]->value, 4), 100);
    assert_int_equal(res->dropped_attributes_count, 8); /* 7 + 1 */

    const pb_span *s = req->resource_spans[0]->scope_spans[0]->spans[0];
    assert_int_equal(s->n_attributes, 4);
    assert_string_equal(s->attributes[0]->key, "a");
    assert_string_equal(s->attributes[1]->key, "d100");
    assert_int_equal(any_depth(s->attributes[1]->value, 5), 100);
    assert_string_equal(s->attributes[2]->key, "kv100");
    assert_int_equal(any_depth(s->attributes[2]->value, 5), 100);
    assert_string_equal(s->attributes[3]->key, "b");
    assert_int_equal(s->dropped_attributes_count, 5); /* "3" + 2 */
    assert_int_equal(s->n_events, 1);
    assert_string_equal(s->events[0]->name, "ev");
    assert_int_equal(s->events[0]->n_attributes, 1);
    assert_string_equal(s->events[0]->attributes[0]->key, "e");
    assert_int_equal(s->events[0]->dropped_attributes_count, 1);
    free_request(req);

    /* the protobuf reader takes it whole: nothing in it is too deep */
    dp_arena arena;
    dp_otlp_trace_batch batch;
    dp_arena_init(&arena, 0, 16u << 20);
    assert_int_equal(dp_otlp_trace_batch_parse((const uint8_t *)pb.data, pb.len, &arena, &batch,
                                               err, sizeof err),
                     DP_OTLP_OK);
    assert_int_equal(batch.span_count, 1);
    assert_int_equal(batch.attributes_dropped, 0);
    dp_arena_free(&arena);

    /* without the report, the same bytes */
    dp_buf plain;
    dp_buf_init(&plain, 0);
    assert_int_equal(dp_otlp_json_encode(doc, n, &plain, err, sizeof err), 0);
    assert_int_equal(plain.len, pb.len);
    assert_memory_equal(plain.data, pb.data, pb.len);
    dp_buf_free(&plain);
    dp_buf_free(&pb);

    /* a document that fails reports nothing dropped */
    assert_int_equal(encode_dropped(DP_SIGNAL_TRACES, "[1]", 3, &pb, &dropped, err, sizeof err),
                     -1);
    dp_buf_free(&pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_minimal_bytes),
        cmocka_unit_test(test_spellings),
        cmocka_unit_test(test_malformed_optional_parts_left_out),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_nesting_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

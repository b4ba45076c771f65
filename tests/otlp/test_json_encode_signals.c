/*
 * The OTLP/JSON → protobuf encoder for metrics and logs, checked against an
 * independent reader: protobuf-c's generated code unpacks what the encoder
 * wrote and every field is compared with what the JSON says (values worked
 * out by hand below). Also the exact bytes of a minimal metrics request,
 * presence (a 0 that is written, a 0 that is not), and the error messages
 * with their JSON paths: metrics and logs are checked whole.
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

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "decode.h"
#include "otlp_file.h"

#include "json_nesting.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest metrics_request;
typedef Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest logs_request;
typedef Opentelemetry__Proto__Metrics__V1__Metric metric;

#define METRIC(kind) OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_##kind
#define POINT(kind) OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_##kind
#define EXEMPLAR(kind) OPENTELEMETRY__PROTO__METRICS__V1__EXEMPLAR__VALUE_##kind
#define ANY(kind) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##kind

static const uint8_t TRACE[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                  0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static const uint8_t SPAN[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
#define TRACE_HEX "5b8efff798038103d269b633813fc60c"
#define SPAN_HEX "eee19b7ec3c1b174"

/* Encode doc as `signal`; 0 and the bytes in pb, or -1 with nothing written. */
static int encode(enum dp_signal signal, const char *doc, dp_buf *pb, char *err, size_t errlen)
{
    dp_buf_init(pb, 0);
    int rc = dp_otlp_json_encode_signal(signal, doc, strlen(doc), pb, err, errlen);
    if (rc != 0)
        assert_int_equal(pb->len, 0);
    return rc;
}

static metrics_request *encode_metrics(const char *doc)
{
    dp_buf pb;
    char err[256];
    if (encode(DP_SIGNAL_METRICS, doc, &pb, err, sizeof(err)) != 0)
        fail_msg("metrics did not encode: %s", err);
    metrics_request *r =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
            NULL, pb.len, (const uint8_t *)pb.data);
    assert_non_null(r);
    dp_buf_free(&pb);
    return r;
}

static void assert_bytes(ProtobufCBinaryData b, const uint8_t *want, size_t n)
{
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
}

/* The metrics of the one scope of the one resource of r. */
static metric **metrics_of(metrics_request *r, size_t want_count)
{
    assert_int_equal(r->n_resource_metrics, 1);
    assert_int_equal(r->resource_metrics[0]->n_scope_metrics, 1);
    assert_int_equal(r->resource_metrics[0]->scope_metrics[0]->n_metrics, want_count);
    return r->resource_metrics[0]->scope_metrics[0]->metrics;
}

static void test_metrics_every_kind(void **state)
{
    static const char doc[] =
        "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
        "\"value\":{\"stringValue\":\"svc\"}}]},\"schemaUrl\":\"https://r\","
        "\"scopeMetrics\":[{\"scope\":{\"name\":\"meter\",\"version\":\"2\"},\"metrics\":["
        /* 0: a gauge; asDouble 0 is a oneof member, written; metadata */
        "{\"name\":\"g\",\"unit\":\"ms\",\"gauge\":{\"dataPoints\":[{\"asDouble\":0,"
        "\"timeUnixNano\":\"1700000000000000001\"}]},\"metadata\":[{\"key\":\"m\",\"value\":"
        "{\"boolValue\":true}}]},"
        /* 1: a sum, enum by name, asInt as a string; an exemplar with hex ids */
        "{\"name\":\"s\",\"sum\":{\"aggregationTemporality\":\"AGGREGATION_TEMPORALITY_DELTA\","
        "\"isMonotonic\":true,\"dataPoints\":[{\"asInt\":\"-9223372036854775808\",\"flags\":1,"
        "\"exemplars\":[{\"asInt\":7,\"traceId\":\"" TRACE_HEX "\",\"spanId\":\"" SPAN_HEX "\","
        "\"filteredAttributes\":[{\"key\":\"u\",\"value\":{\"intValue\":\"1\"}}]}]}]}},"
        /* 2: a histogram in snake_case; sum 0 has presence, written */
        "{\"name\":\"h\",\"histogram\":{\"aggregation_temporality\":2,\"data_points\":[{"
        "\"count\":\"4\",\"sum\":0,\"bucket_counts\":[1,\"3\"],\"explicit_bounds\":[2.5],"
        "\"min\":-1,\"max\":\"NaN\"}]}},"
        /* 3: an exponential histogram: negative sint32s, varint buckets */
        "{\"name\":\"e\",\"exponentialHistogram\":{\"dataPoints\":[{\"scale\":-3,"
        "\"zeroCount\":2,\"zeroThreshold\":0.5,\"positive\":{\"offset\":-2,\"bucketCounts\":"
        "[\"300\",0,1]},\"negative\":{\"offset\":1}}]}},"
        /* 4: a summary; a quantile of 0 is proto3's default, not written */
        "{\"name\":\"q\",\"summary\":{\"dataPoints\":[{\"count\":2,\"sum\":3,"
        "\"quantileValues\":[{\"quantile\":0,\"value\":1.5}]}]}}"
        "]}]}]}";
    metrics_request *r = encode_metrics(doc);
    assert_string_equal(r->resource_metrics[0]->schema_url, "https://r");
    assert_string_equal(r->resource_metrics[0]->resource->attributes[0]->value->string_value,
                        "svc");
    assert_string_equal(r->resource_metrics[0]->scope_metrics[0]->scope->version, "2");
    metric **m = metrics_of(r, 5);

    assert_int_equal(m[0]->data_case, METRIC(GAUGE));
    assert_string_equal(m[0]->unit, "ms");
    assert_int_equal(m[0]->n_metadata, 1);
    assert_true(m[0]->metadata[0]->value->bool_value);
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint *np = m[0]->gauge->data_points[0];
    assert_int_equal(np->value_case, POINT(AS_DOUBLE));
    assert_true(np->as_double == 0.0);
    assert_int_equal(np->time_unix_nano, 1700000000000000001ull);
    assert_false(np->has_start_time_unix_nano); /* absent: not written */

    assert_int_equal(m[1]->data_case, METRIC(SUM));
    assert_int_equal(m[1]->sum->aggregation_temporality, 1); /* DELTA */
    assert_true(m[1]->sum->is_monotonic);
    np = m[1]->sum->data_points[0];
    assert_int_equal(np->value_case, POINT(AS_INT));
    assert_true(np->as_int == INT64_MIN);
    assert_int_equal(np->flags, 1);
    assert_int_equal(np->n_exemplars, 1);
    assert_int_equal(np->exemplars[0]->value_case, EXEMPLAR(AS_INT));
    assert_int_equal(np->exemplars[0]->as_int, 7);
    assert_bytes(np->exemplars[0]->trace_id, TRACE, 16);
    assert_bytes(np->exemplars[0]->span_id, SPAN, 8);
    assert_int_equal(np->exemplars[0]->filtered_attributes[0]->value->int_value, 1);

    assert_int_equal(m[2]->data_case, METRIC(HISTOGRAM));
    assert_int_equal(m[2]->histogram->aggregation_temporality, 2); /* CUMULATIVE */
    Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *hp = m[2]->histogram->data_points[0];
    assert_int_equal(hp->count, 4);
    assert_true(hp->has_sum && hp->sum == 0.0);
    assert_int_equal(hp->n_bucket_counts, 2);
    assert_int_equal(hp->bucket_counts[0], 1);
    assert_int_equal(hp->bucket_counts[1], 3);
    assert_int_equal(hp->n_explicit_bounds, 1);
    assert_true(hp->explicit_bounds[0] == 2.5);
    assert_true(hp->has_min && hp->min == -1.0);
    assert_true(hp->has_max && isnan(hp->max));

    assert_int_equal(m[3]->data_case, METRIC(EXPONENTIAL_HISTOGRAM));
    Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *ep =
        m[3]->exponential_histogram->data_points[0];
    assert_int_equal(ep->scale, -3);
    assert_int_equal(ep->zero_count, 2);
    assert_true(ep->zero_threshold == 0.5);
    assert_int_equal(ep->positive->offset, -2);
    assert_int_equal(ep->positive->n_bucket_counts, 3);
    assert_int_equal(ep->positive->bucket_counts[0], 300);
    assert_int_equal(ep->positive->bucket_counts[1], 0);
    assert_int_equal(ep->positive->bucket_counts[2], 1);
    assert_int_equal(ep->negative->offset, 1);
    assert_int_equal(ep->negative->n_bucket_counts, 0);
    assert_false(ep->has_sum);

    assert_int_equal(m[4]->data_case, METRIC(SUMMARY));
    Opentelemetry__Proto__Metrics__V1__SummaryDataPoint *sp = m[4]->summary->data_points[0];
    assert_int_equal(sp->count, 2);
    assert_true(sp->sum == 3.0);
    assert_int_equal(sp->n_quantile_values, 1);
    assert_false(sp->quantile_values[0]->has_quantile);
    assert_true(sp->quantile_values[0]->value == 1.5);
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
        r, NULL);
}

/*
 * Worked out by hand from metrics.proto: NumberDataPoint { as_int(6,
 * sfixed64) = -1 } is 31 ff ff ff ff ff ff ff ff (9 bytes); Gauge
 * { data_points(1) } 0a 09 + 9 = 11; Metric { name(1) "m", gauge(5) } is
 * 0a 01 6d 2a 0b + 11 = 16; ScopeMetrics { metrics(2) } 12 10 + 16 = 18;
 * ResourceMetrics { scope_metrics(2) } 12 12 + 18 = 20; the request
 * { resource_metrics(1) } 0a 14 + 20 = 22 bytes.
 */
static void test_metrics_minimal_bytes(void **state)
{
    static const uint8_t want[] = {0x0a, 0x14, 0x12, 0x12, 0x12, 0x10, 0x0a, 0x01,
                                   0x6d, 0x2a, 0x0b, 0x0a, 0x09, 0x31, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    dp_buf pb;
    char err[256];
    assert_int_equal(encode(DP_SIGNAL_METRICS,
                            "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":"
                            "\"m\",\"gauge\":{\"dataPoints\":[{\"asInt\":\"-1\"}]}}]}]}]}",
                            &pb, err, sizeof(err)),
                     0);
    assert_int_equal(pb.len, sizeof(want));
    assert_memory_equal(pb.data, want, sizeof(want));
    dp_buf_free(&pb);
}

static void test_logs_every_field(void **state)
{
    static const char doc[] =
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"svc\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"lg\"},"
        "\"logRecords\":[{\"timeUnixNano\":\"1700000000000000000\","
        "\"observedTimeUnixNano\":1700000000000000100,\"severityNumber\":\"SEVERITY_NUMBER_WARN\","
        "\"severityText\":\"WARN\",\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\","
        "\"value\":{\"doubleValue\":1.5}}]}},\"attributes\":[{\"key\":\"a\",\"value\":"
        "{\"stringValue\":\"b\"}}],\"droppedAttributesCount\":3,\"flags\":257,\"traceId\":"
        "\"" TRACE_HEX "\",\"spanId\":\"" SPAN_HEX "\",\"eventName\":\"ev\"},"
        "{\"severity_number\":17,\"body\":{\"stringValue\":\"x\"},\"traceId\":\"\"}]}]}]}";
    dp_buf pb;
    char err[256];
    assert_int_equal(encode(DP_SIGNAL_LOGS, doc, &pb, err, sizeof(err)), 0);
    logs_request *r =
        opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
            NULL, pb.len, (const uint8_t *)pb.data);
    assert_non_null(r);
    dp_buf_free(&pb);
    assert_int_equal(r->resource_logs[0]->n_scope_logs, 1);
    assert_string_equal(r->resource_logs[0]->scope_logs[0]->scope->name, "lg");
    assert_int_equal(r->resource_logs[0]->scope_logs[0]->n_log_records, 2);
    Opentelemetry__Proto__Logs__V1__LogRecord *lr =
        r->resource_logs[0]->scope_logs[0]->log_records[0];
    assert_int_equal(lr->time_unix_nano, 1700000000000000000ull);
    assert_int_equal(lr->observed_time_unix_nano, 1700000000000000100ull);
    assert_int_equal(lr->severity_number, 13); /* WARN */
    assert_string_equal(lr->severity_text, "WARN");
    assert_int_equal(lr->body->value_case, ANY(KVLIST_VALUE));
    assert_string_equal(lr->body->kvlist_value->values[0]->key, "k");
    assert_true(lr->body->kvlist_value->values[0]->value->double_value == 1.5);
    assert_string_equal(lr->attributes[0]->value->string_value, "b");
    assert_int_equal(lr->dropped_attributes_count, 3);
    assert_int_equal(lr->flags, 257);
    assert_bytes(lr->trace_id, TRACE, 16);
    assert_bytes(lr->span_id, SPAN, 8);
    assert_string_equal(lr->event_name, "ev");
    lr = r->resource_logs[0]->scope_logs[0]->log_records[1];
    assert_int_equal(lr->severity_number, 17); /* ERROR, by number and snake_case */
    assert_string_equal(lr->body->string_value, "x");
    assert_int_equal(lr->trace_id.len, 0); /* an empty id is no id */
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(r, NULL);
}

/*
 * Logs: a LogRecord (depth 3) attribute's AnyValue is message 5, a scope's
 * (InstrumentationScope 3) too; 48 arrays around an int put the innermost
 * value at 101: that attribute is left out and counted (the JSON's
 * droppedAttributesCount + 1), 47 around an empty array (100) is kept, the
 * records and the rest are encoded, and the validator finds nothing left to
 * drop. The body is no attribute: 101 deep there fails the request.
 */
static void test_logs_deep_attribute_left_out(void **state)
{
    (void)state;
    static char doc[16384];
    size_t n = 0;
    const size_t cap = sizeof doc;
    put_text(doc, cap, &n,
             "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
             "\"value\":{\"stringValue\":\"svc\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"lg\","
             "\"droppedAttributesCount\":1,\"attributes\":[");
    put_nested(doc, cap, &n, "s101", 48, false, "{\"intValue\":1}");
    put_text(doc, cap, &n,
             "]},\"logRecords\":[{\"body\":{\"stringValue\":\"b\"},\"attributes\":[{\"key\":"
             "\"keep\",\"value\":{\"stringValue\":\"yes\"}},");
    put_nested(doc, cap, &n, "deep", 48, false, "{\"intValue\":1}");
    put_text(doc, cap, &n, ",");
    put_nested(doc, cap, &n, "d100", 47, false, "{\"arrayValue\":{}}");
    put_text(doc, cap, &n, "],\"droppedAttributesCount\":2},{\"severityText\":\"second\"}]}]}]}");

    dp_buf pb;
    dp_otlp_json_dropped dropped;
    char err[256];
    encode_leaving_out(DP_SIGNAL_LOGS, doc, n, &pb, 2,
                       "resourceLogs[0].scopeLogs[0].scope.attributes[0]");
    logs_request *r =
        opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
            NULL, pb.len, (const uint8_t *)pb.data);
    assert_non_null(r);
    assert_string_equal(r->resource_logs[0]->resource->attributes[0]->key, "service.name");
    const Opentelemetry__Proto__Logs__V1__ScopeLogs *sl = r->resource_logs[0]->scope_logs[0];
    assert_string_equal(sl->scope->name, "lg");
    assert_int_equal(sl->scope->n_attributes, 0);
    assert_int_equal(sl->scope->dropped_attributes_count, 2); /* 1 + 1 */
    assert_int_equal(sl->n_log_records, 2);
    const Opentelemetry__Proto__Logs__V1__LogRecord *lr = sl->log_records[0];
    assert_string_equal(lr->body->string_value, "b");
    assert_int_equal(lr->n_attributes, 2);
    assert_string_equal(lr->attributes[0]->key, "keep");
    assert_string_equal(lr->attributes[1]->key, "d100");
    /* d100: 47 arrays, the innermost AnyValue holding an empty ArrayValue */
    const Opentelemetry__Proto__Common__V1__AnyValue *v = lr->attributes[1]->value;
    int arrays = 0;
    while (v->value_case == ANY(ARRAY_VALUE) && v->array_value->n_values == 1)
        v = v->array_value->values[0], arrays++;
    assert_int_equal(arrays, 47);
    assert_int_equal(v->value_case, ANY(ARRAY_VALUE));
    assert_int_equal(lr->dropped_attributes_count, 3); /* 2 + 1 */
    assert_string_equal(sl->log_records[1]->severity_text, "second");
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(r, NULL);

    /* the receiver's validator: nothing too deep is left, forwarded as encoded */
    dp_arena arena;
    dp_otlp_side_request side;
    dp_arena_init(&arena, 0, 16u << 20);
    assert_int_equal(
        dp_otlp_logs_validate((const uint8_t *)pb.data, pb.len, &arena, &side, err, sizeof err),
        DP_OTLP_OK);
    assert_int_equal(side.items, 2);
    assert_int_equal(side.attributes_dropped, 0);
    assert_ptr_equal(side.forward, (const uint8_t *)pb.data);
    dp_arena_free(&arena);
    dp_buf_free(&pb);

    /* LogRecord.body (AnyValue 4): 48 arrays around an empty array reach 101 */
    n = 0;
    put_text(doc, cap, &n, "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":");
    put_nested(doc, cap, &n, NULL, 48, false, "{\"arrayValue\":{}}");
    put_text(doc, cap, &n, "}]}]}]}");
    assert_int_equal(encode_dropped(DP_SIGNAL_LOGS, doc, n, &pb, &dropped, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested more than 100 messages deep"));
    assert_true(strncmp(err, "resourceLogs[0].scopeLogs[0].logRecords[0].body.", 48) == 0);
    dp_buf_free(&pb);
}

/*
 * Metrics: a Resource (depth 2) attribute's AnyValue is message 4: 48
 * arrays around an int (100) are kept, around an empty array (101) left
 * out, the resource's count 0 + 1. A data point's attribute has no count
 * to raise: too deep there fails the request with its path.
 */
static void test_metrics_deep_attribute_left_out(void **state)
{
    (void)state;
    static char doc[16384];
    size_t n = 0;
    const size_t cap = sizeof doc;
    put_text(doc, cap, &n, "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[");
    put_nested(doc, cap, &n, "r101", 48, false, "{\"arrayValue\":{}}");
    put_text(doc, cap, &n, ",");
    put_nested(doc, cap, &n, "r100", 48, false, "{\"intValue\":1}");
    put_text(doc, cap, &n,
             "]},\"scopeMetrics\":[{\"metrics\":[{\"name\":\"m\",\"gauge\":{\"dataPoints\":"
             "[{\"asInt\":\"5\"}]}}]}]}]}");
    dp_buf pb;
    dp_otlp_json_dropped dropped;
    char err[256];
    encode_leaving_out(DP_SIGNAL_METRICS, doc, n, &pb, 1,
                       "resourceMetrics[0].resource.attributes[0]");
    metrics_request *r =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
            NULL, pb.len, (const uint8_t *)pb.data);
    assert_non_null(r);
    const Opentelemetry__Proto__Resource__V1__Resource *res = r->resource_metrics[0]->resource;
    assert_int_equal(res->n_attributes, 1);
    assert_string_equal(res->attributes[0]->key, "r100");
    assert_int_equal(res->dropped_attributes_count, 1);
    metric **m = metrics_of(r, 1);
    assert_string_equal(m[0]->name, "m");
    assert_int_equal(m[0]->gauge->data_points[0]->as_int, 5);
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
        r, NULL);
    dp_buf_free(&pb);

    /* NumberDataPoint (5) attribute: KeyValue 6, AnyValue 7; 47 arrays around an int: 101 */
    n = 0;
    put_text(doc, cap, &n,
             "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"gauge\":{\"dataPoints\":"
             "[{\"asInt\":1,\"attributes\":[");
    put_nested(doc, cap, &n, "p", 47, false, "{\"intValue\":1}");
    put_text(doc, cap, &n, "]}]}}]}]}]}");
    assert_int_equal(encode_dropped(DP_SIGNAL_METRICS, doc, n, &pb, &dropped, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested more than 100 messages deep"));
    const char *at = "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]."
                     "attributes[0].value.";
    assert_true(strncmp(err, at, strlen(at)) == 0);
    dp_buf_free(&pb);
}

static void test_errors_name_the_json_path(void **state)
{
#define M(inner) "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[" inner "]}]}]}"
#define L(inner) "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[" inner "]}]}]}"
#define MP "resourceMetrics[0].scopeMetrics[0].metrics[0]"
#define LP "resourceLogs[0].scopeLogs[0].logRecords[0]"
    static const struct {
        enum dp_signal signal;
        const char *doc;
        const char *err;
    } cases[] = {
        {DP_SIGNAL_METRICS, M("{\"gauge\":{},\"sum\":{}}"),
         MP ".sum: a Metric holds one of gauge and sum"},
        {DP_SIGNAL_METRICS, M("{\"gauge\":{\"dataPoints\":[{\"asDouble\":1,\"asInt\":1}]}}"),
         MP ".gauge.dataPoints[0].asInt: asDouble and asInt are one value"},
        {DP_SIGNAL_METRICS, M("{\"sum\":{\"dataPoints\":[{\"asInt\":\"1.5\"}]}}"),
         MP ".sum.dataPoints[0].asInt: not a 64-bit integer"},
        {DP_SIGNAL_METRICS, M("{\"histogram\":{\"dataPoints\":[{\"bucketCounts\":[1,\"x\"]}]}}"),
         MP ".histogram.dataPoints[0].bucketCounts[1]: not an unsigned 64-bit integer"},
        {DP_SIGNAL_METRICS,
         M("{\"exponentialHistogram\":{\"dataPoints\":[{\"scale\":2147483648}]}}"),
         MP ".exponentialHistogram.dataPoints[0].scale: not a 32-bit integer"},
        {DP_SIGNAL_METRICS, M("{\"sum\":{\"aggregationTemporality\":\"DELTA\"}}"),
         MP ".sum.aggregationTemporality: unknown name \"DELTA\""},
        {DP_SIGNAL_METRICS,
         M("{\"sum\":{\"dataPoints\":[{\"exemplars\":[{\"spanId\":\"abcd\"}]}]}}"),
         MP ".sum.dataPoints[0].exemplars[0].spanId: not 16 hex digits"},
        {DP_SIGNAL_METRICS, M("{\"name\":5}"), MP ".name: want a string"},
        /* checked whole: a part traces leave out when malformed fails metrics */
        {DP_SIGNAL_METRICS,
         "{\"resourceMetrics\":[{\"resource\":{\"entityRefs\":[{\"idKeys\":[1]}]}}]}",
         "resourceMetrics[0].resource.entityRefs[0].idKeys[0]: want a string"},
        {DP_SIGNAL_METRICS, "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"scope\":3}]}]}",
         "resourceMetrics[0].scopeMetrics[0].scope: want an object"},
        {DP_SIGNAL_METRICS, "[]", "want an ExportMetricsServiceRequest object"},
        {DP_SIGNAL_LOGS, L("{\"severityNumber\":\"LOUD\"}"),
         LP ".severityNumber: unknown name \"LOUD\""},
        {DP_SIGNAL_LOGS, L("{\"traceId\":\"" SPAN_HEX "\"}"), LP ".traceId: not 32 hex digits"},
        {DP_SIGNAL_LOGS, L("{\"body\":\"text\"}"), LP ".body: want an AnyValue object"},
        {DP_SIGNAL_LOGS, L("{\"flags\":-1}"), LP ".flags: negative"},
        {DP_SIGNAL_LOGS, "{\"resourceLogs\":{}}", "resourceLogs: want an array"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dp_buf pb;
        char err[256];
        assert_int_equal(encode(cases[i].signal, cases[i].doc, &pb, err, sizeof(err)), -1);
        assert_string_equal(err, cases[i].err);
        dp_buf_free(&pb);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_every_kind),
        cmocka_unit_test(test_metrics_minimal_bytes),
        cmocka_unit_test(test_logs_every_field),
        cmocka_unit_test(test_logs_deep_attribute_left_out),
        cmocka_unit_test(test_metrics_deep_attribute_left_out),
        cmocka_unit_test(test_errors_name_the_json_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

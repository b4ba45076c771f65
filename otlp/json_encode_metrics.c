/*
 * OTLP/JSON → protobuf for metrics: Metric and its five kinds of data
 * (gauge, sum, histogram, exponential histogram, summary) with their data
 * points and exemplars. Every field is checked: metrics are forwarded, not
 * read, and a field left out would change what the upstream gets. The
 * layers around metrics (resource, scope) and the scalars are
 * json_encode.c's.
 *
 * Presence follows metrics.proto: a proto3 scalar is written only when it
 * is not its default (0, false, ""), except the fields with explicit
 * presence (HistogramDataPoint and ExponentialHistogramDataPoint sum, min
 * and max) and the members of a oneof (asDouble / asInt), which are written
 * whenever the JSON has them, 0 included.
 */
#include <jansson.h>
#include <string.h>

#include "json_encode_internal.h"

static const char *const temporality_names[] = {
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
};

/* --- scalars proper to metrics ------------------------------------------------------ */

/* A double field; with `presence` written whenever given, else left out when +0. */
static int put_double(encoder *c, json_t *obj, const json_path *path, const char *camel,
                      const char *snake, uint32_t number, bool presence)
{
    json_t *v = enc_member(obj, camel, snake);
    double d = 0;
    if (!v)
        return 0;
    int rc = enc_parse_double(c, v, path, camel, &d);
    if (rc)
        return enc_outcome(rc);
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    if (presence || bits)
        dp_pb_put_double(c->w, number, d);
    return 0;
}

/* A bool field, left out when false. */
static int put_bool(encoder *c, json_t *obj, const json_path *path, const char *camel,
                    const char *snake, uint32_t number)
{
    json_t *v = enc_member(obj, camel, snake);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return enc_outcome(enc_bad(c, path, camel, "want true or false"));
    if (json_is_true(v))
        dp_pb_put_bool(c->w, number, true);
    return 0;
}

/* A sint32 field (zigzag varint), left out when 0. */
static int put_sint32(encoder *c, json_t *obj, const json_path *path, const char *camel,
                      uint32_t number)
{
    json_t *v = enc_member(obj, camel, NULL);
    int64_t x = 0;
    if (!v)
        return 0;
    int rc = enc_parse_i64(c, v, path, camel, &x);
    if (!rc && (x < INT32_MIN || x > INT32_MAX))
        rc = enc_bad(c, path, camel, "not a 32-bit integer");
    if (rc)
        return enc_outcome(rc);
    if (x)
        dp_pb_put_varint(c->w, number,
                         (uint32_t)(x < 0 ? ((uint32_t)(-(x + 1)) << 1) | 1 : (uint32_t)x << 1));
    return 0;
}

enum packed_kind { PACKED_FIXED64, PACKED_DOUBLE, PACKED_VARINT };

/* 8 bytes little-endian: one element of a packed fixed64 or double field. */
static void put_raw_fixed64(dp_pb_writer *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    dp_pb_put_raw(w, b, sizeof b);
}

/* A packed repeated field from a JSON array (64-bit integers as numbers or
 * strings, doubles as numbers or the strings NaN and Infinity); left out when empty. */
static int put_packed(encoder *c, json_t *obj, const json_path *path, const char *camel,
                      const char *snake, uint32_t number, enum packed_kind kind)
{
    json_t *arr = enc_member(obj, camel, snake);
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return enc_outcome(enc_bad(c, path, camel, "want an array"));
    if (!json_array_size(arr))
        return 0;
    dp_pb_begin(c->w, number); /* the length prefix is measured like a message's */
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_path item = {path, camel, (long)i};
        uint64_t u = 0;
        double d = 0;
        int rc = kind == PACKED_DOUBLE ? enc_parse_double(c, json_array_get(arr, i), &item, "", &d)
                                       : enc_parse_u64(c, json_array_get(arr, i), &item, "", &u);
        if (rc)
            return enc_outcome(rc);
        if (kind == PACKED_DOUBLE)
            memcpy(&u, &d, sizeof u);
        if (kind != PACKED_VARINT) {
            put_raw_fixed64(c->w, u);
        } else {
            dp_pb_put_raw_varint(c->w, u);
        }
    }
    dp_pb_end(c->w);
    return 0;
}

/* The oneof value of a NumberDataPoint or an Exemplar: asDouble or asInt (sfixed64). */
static int put_number_value(encoder *c, json_t *obj, const json_path *path, uint32_t double_field,
                            uint32_t int_field)
{
    json_t *d = enc_member(obj, "asDouble", "as_double");
    json_t *i = enc_member(obj, "asInt", "as_int");
    int64_t x = 0;
    if (d && i)
        return enc_outcome(enc_bad(c, path, "asInt", "asDouble and asInt are one value"));
    if (d)
        return put_double(c, obj, path, "asDouble", "as_double", double_field, true);
    if (!i)
        return 0;
    int rc = enc_parse_i64(c, i, path, "asInt", &x);
    if (rc)
        return enc_outcome(rc);
    dp_pb_put_fixed64(c->w, int_field, (uint64_t)x);
    return 0;
}

/* --- messages ---------------------------------------------------------------------- */

/* One Exemplar. */
static int put_exemplar(encoder *c, json_t *e, const json_path *path, uint32_t number)
{
    if (!json_is_object(e))
        return enc_outcome(enc_bad(c, path, "", "want an Exemplar object"));
    dp_pb_begin(c->w, number);
    if (enc_put_fixed64(c, e, path, "timeUnixNano", "time_unix_nano", 2) < 0 ||
        put_number_value(c, e, path, 3, 6) < 0 ||
        enc_put_hex_id(c, e, path, "spanId", "span_id", 8, 4) < 0 ||
        enc_put_hex_id(c, e, path, "traceId", "trace_id", 16, 5) < 0 ||
        enc_put_key_values(c, e, path, "filteredAttributes", "filtered_attributes", 7) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* The start and time of a data point (fields 2 and 3 of every kind). */
static int put_point_times(encoder *c, json_t *p, const json_path *path)
{
    if (enc_put_fixed64(c, p, path, "startTimeUnixNano", "start_time_unix_nano", 2) < 0 ||
        enc_put_fixed64(c, p, path, "timeUnixNano", "time_unix_nano", 3) < 0)
        return -1;
    return 0;
}

/* One NumberDataPoint (gauge, sum). */
static int put_number_point(encoder *c, json_t *p, const json_path *path, uint32_t number)
{
    if (!json_is_object(p))
        return enc_outcome(enc_bad(c, path, "", "want a NumberDataPoint object"));
    dp_pb_begin(c->w, number);
    if (put_point_times(c, p, path) < 0 || put_number_value(c, p, path, 4, 6) < 0 ||
        enc_put_each(c, p, path, "exemplars", NULL, 5, put_exemplar) < 0 ||
        enc_put_key_values(c, p, path, "attributes", NULL, 7) < 0 ||
        enc_put_u32(c, p, path, "flags", NULL, 8, false) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* One HistogramDataPoint. */
static int put_histogram_point(encoder *c, json_t *p, const json_path *path, uint32_t number)
{
    if (!json_is_object(p))
        return enc_outcome(enc_bad(c, path, "", "want a HistogramDataPoint object"));
    dp_pb_begin(c->w, number);
    if (put_point_times(c, p, path) < 0 || enc_put_fixed64(c, p, path, "count", NULL, 4) < 0 ||
        put_double(c, p, path, "sum", NULL, 5, true) < 0 ||
        put_packed(c, p, path, "bucketCounts", "bucket_counts", 6, PACKED_FIXED64) < 0 ||
        put_packed(c, p, path, "explicitBounds", "explicit_bounds", 7, PACKED_DOUBLE) < 0 ||
        enc_put_each(c, p, path, "exemplars", NULL, 8, put_exemplar) < 0 ||
        enc_put_key_values(c, p, path, "attributes", NULL, 9) < 0 ||
        enc_put_u32(c, p, path, "flags", NULL, 10, false) < 0 ||
        put_double(c, p, path, "min", NULL, 11, true) < 0 ||
        put_double(c, p, path, "max", NULL, 12, true) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* ExponentialHistogramDataPoint.Buckets. */
static int put_buckets(encoder *c, json_t *b, const json_path *path)
{
    if (put_sint32(c, b, path, "offset", 1) < 0 ||
        put_packed(c, b, path, "bucketCounts", "bucket_counts", 2, PACKED_VARINT) < 0)
        return -1;
    return 0;
}

/* One ExponentialHistogramDataPoint. */
static int put_exponential_point(encoder *c, json_t *p, const json_path *path, uint32_t number)
{
    if (!json_is_object(p))
        return enc_outcome(enc_bad(c, path, "", "want an ExponentialHistogramDataPoint object"));
    dp_pb_begin(c->w, number);
    if (enc_put_key_values(c, p, path, "attributes", NULL, 1) < 0 ||
        put_point_times(c, p, path) < 0 || enc_put_fixed64(c, p, path, "count", NULL, 4) < 0 ||
        put_double(c, p, path, "sum", NULL, 5, true) < 0 ||
        put_sint32(c, p, path, "scale", 6) < 0 ||
        enc_put_fixed64(c, p, path, "zeroCount", "zero_count", 7) < 0 ||
        enc_put_message(c, p, path, "positive", NULL, 8, put_buckets) < 0 ||
        enc_put_message(c, p, path, "negative", NULL, 9, put_buckets) < 0 ||
        enc_put_u32(c, p, path, "flags", NULL, 10, false) < 0 ||
        enc_put_each(c, p, path, "exemplars", NULL, 11, put_exemplar) < 0 ||
        put_double(c, p, path, "min", NULL, 12, true) < 0 ||
        put_double(c, p, path, "max", NULL, 13, true) < 0 ||
        put_double(c, p, path, "zeroThreshold", "zero_threshold", 14, false) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* One SummaryDataPoint.ValueAtQuantile. */
static int put_quantile(encoder *c, json_t *q, const json_path *path, uint32_t number)
{
    if (!json_is_object(q))
        return enc_outcome(enc_bad(c, path, "", "want a ValueAtQuantile object"));
    dp_pb_begin(c->w, number);
    if (put_double(c, q, path, "quantile", NULL, 1, false) < 0 ||
        put_double(c, q, path, "value", NULL, 2, false) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* One SummaryDataPoint. */
static int put_summary_point(encoder *c, json_t *p, const json_path *path, uint32_t number)
{
    if (!json_is_object(p))
        return enc_outcome(enc_bad(c, path, "", "want a SummaryDataPoint object"));
    dp_pb_begin(c->w, number);
    if (put_point_times(c, p, path) < 0 || enc_put_fixed64(c, p, path, "count", NULL, 4) < 0 ||
        put_double(c, p, path, "sum", NULL, 5, false) < 0 ||
        enc_put_each(c, p, path, "quantileValues", "quantile_values", 6, put_quantile) < 0 ||
        enc_put_key_values(c, p, path, "attributes", NULL, 7) < 0 ||
        enc_put_u32(c, p, path, "flags", NULL, 8, false) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* The data points of any kind, and aggregation_temporality / is_monotonic where the kind has them.
 */
static int put_points(encoder *c, json_t *data, const json_path *path, enc_put_item_fn put_point)
{
    return enc_put_each(c, data, path, "dataPoints", "data_points", 1, put_point);
}

static int put_temporality(encoder *c, json_t *data, const json_path *path)
{
    return enc_put_enum(c, data, path, "aggregationTemporality", "aggregation_temporality",
                        temporality_names, 3, 2);
}

static int put_gauge(encoder *c, json_t *g, const json_path *path)
{
    return put_points(c, g, path, put_number_point);
}

static int put_sum(encoder *c, json_t *s, const json_path *path)
{
    if (put_points(c, s, path, put_number_point) < 0 || put_temporality(c, s, path) < 0 ||
        put_bool(c, s, path, "isMonotonic", "is_monotonic", 3) < 0)
        return -1;
    return 0;
}

static int put_histogram(encoder *c, json_t *h, const json_path *path)
{
    if (put_points(c, h, path, put_histogram_point) < 0 || put_temporality(c, h, path) < 0)
        return -1;
    return 0;
}

static int put_exponential_histogram(encoder *c, json_t *h, const json_path *path)
{
    if (put_points(c, h, path, put_exponential_point) < 0 || put_temporality(c, h, path) < 0)
        return -1;
    return 0;
}

static int put_summary(encoder *c, json_t *s, const json_path *path)
{
    return put_points(c, s, path, put_summary_point);
}

/* The oneof `data` of a Metric: one kind, by its member name. */
static const struct metric_kind {
    const char *camel, *snake;
    uint32_t number;
    enc_put_part_fn put;
} metric_kinds[] = {
    {"gauge", NULL, 5, put_gauge},
    {"sum", NULL, 7, put_sum},
    {"histogram", NULL, 9, put_histogram},
    {"exponentialHistogram", "exponential_histogram", 10, put_exponential_histogram},
    {"summary", NULL, 11, put_summary},
};

/* One Metric. */
static int put_metric(encoder *c, json_t *m, const json_path *path, uint32_t number)
{
    const struct metric_kind *kind = NULL;
    if (!json_is_object(m))
        return enc_outcome(enc_bad(c, path, "", "want a Metric object"));
    for (size_t i = 0; i < sizeof(metric_kinds) / sizeof(metric_kinds[0]); i++) {
        const struct metric_kind *k = &metric_kinds[i];
        if (!enc_member(m, k->camel, k->snake))
            continue;
        if (kind)
            return enc_outcome(enc_bad(c, path, k->camel, "a Metric holds one of %s and %s",
                                       kind->camel, k->camel));
        kind = k;
    }
    dp_pb_begin(c->w, number);
    if (enc_put_string(c, m, path, "name", NULL, 1) < 0 ||
        enc_put_string(c, m, path, "description", NULL, 2) < 0 ||
        enc_put_string(c, m, path, "unit", NULL, 3) < 0 ||
        (kind &&
         enc_put_message(c, m, path, kind->camel, kind->snake, kind->number, kind->put) < 0) ||
        enc_put_key_values(c, m, path, "metadata", NULL, 12) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

const enc_signal enc_metrics = {
    "ExportMetricsServiceRequest",
    "resourceMetrics",
    "resource_metrics",
    "scopeMetrics",
    "scope_metrics",
    "metrics",
    NULL,
    put_metric,
    true,
};

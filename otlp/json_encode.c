/*
 * OTLP/JSON → OTLP protobuf: one parsed Export*ServiceRequest (a jansson
 * tree) becomes the bytes an SDK would have sent the receiver. Trace files
 * enter the engine the way requests do (otlp_file.c reads the files,
 * src/file_input.c inserts them), and OTLP/JSON requests to the OTLP/HTTP
 * receiver take the path of protobuf ones (metrics and logs are then
 * forwarded upstream as protobuf). Written with the two-pass writer of
 * common/pb_wire.h; field numbers are those of proto/opentelemetry/proto.
 *
 * This file holds what the signals share (json_encode_internal.h): the
 * scalars, AnyValue and KeyValue, Resource and InstrumentationScope, and
 * the request's outer layers (resource → scope → items), which are the same
 * for the three signals; json_encode_traces.c, json_encode_metrics.c and
 * json_encode_logs.c encode their items (Span, Metric, LogRecord).
 *
 * The JSON mapping is OTLP's: lowerCamelCase names (the snake_case names are
 * accepted too, as protobuf JSON parsers do), trace and span ids as hex,
 * 64-bit integers as decimal strings or numbers, enums as numbers or names,
 * bytes as base64. Unknown names are ignored, as OTLP requires of receivers,
 * and JSON null counts as absent.
 *
 * Checked and lenient parts. For traces, what the profile reads (span ids,
 * name, kind, times, status, span attributes, links' ids, resource
 * attributes, the scope name) is checked: a bad value fails the whole
 * request with its JSON path,
 * "resourceSpans[0].scopeSpans[0].spans[2].traceId: not 32 hex digits".
 * What the profile does not read (events, trace state, flags, dropped
 * counts, schema URLs, the scope's version and attributes, links'
 * attributes, entity refs, the inside of kvlist values) is encoded when it
 * is well formed and left out, field by field, when it is not: a malformed
 * optional part does not cost the spans around it. Metrics and logs are
 * checked whole (they are forwarded, not read: leaving a field out would
 * change what the upstream gets).
 *
 * The bounds are the protobuf reader's: a message nested more than
 * DP_OTLP_MAX_DEPTH deep (arrays in arrays) fails with its JSON path rather
 * than with a byte offset later; but an attribute of a message that has a
 * dropped_attributes_count (resource, scope, span, event, link, log record)
 * is left out instead, as the protobuf receive path does, and counted in
 * that message's droppedAttributesCount (the JSON's value plus the left
 * out ones) and in what the encoder reports.
 *
 * The encoder runs twice (measure, then write) and allocates nothing: error
 * paths are built only on failure, from segments on the stack, and base64 is
 * decoded in chunks straight into the output.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json_encode_internal.h"
#include "otlp_file.h"

/* Longest JSON path kept in error messages: the start locates the problem. */
#define PATH_MAX_LEN 192

/* The request to encode and where its error goes (dp_pb_encode's ctx). */
typedef struct encode_job {
    json_t *root;
    const enc_signal *signal;
    char *err;
    size_t errlen;
    dp_otlp_json_dropped *dropped; /* may be NULL */
} encode_job;

/* Render a path into buf (at most cap - 1 characters, cut at the end). */
static size_t path_render(const json_path *p, char *buf, size_t cap)
{
    if (!p) {
        buf[0] = '\0';
        return 0;
    }
    size_t n = path_render(p->up, buf, cap);
    int r = p->index >= 0 ? snprintf(buf + n, cap - n, "%s%s[%ld]", n ? "." : "", p->name, p->index)
                          : snprintf(buf + n, cap - n, "%s%s", n ? "." : "", p->name);
    n += r > 0 ? (size_t)r : 0;
    return n < cap ? n : cap - 1;
}

/*
 * A value is malformed. In a checked part: write "path.field: message" to
 * err and return -1 (the encoding stops). In a lenient part: return 1 (the
 * caller leaves the field out).
 */
int enc_bad(encoder *c, const json_path *path, const char *field, const char *fmt, ...)
{
    char msg[160], where[PATH_MAX_LEN];
    va_list ap;
    if (c->lenient)
        return 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    path_render(path, where, sizeof where);
    if (!*where && !*field)
        snprintf(c->err, c->errlen, "%s", msg);
    else
        snprintf(c->err, c->errlen, "%s%s%s: %s", where, (*where && *field) ? "." : "", field, msg);
    return -1;
}

/* A member by its lowerCamelCase or snake_case name; JSON null counts as absent. */
json_t *enc_member(json_t *obj, const char *camel, const char *snake)
{
    json_t *v = json_object_get(obj, camel);
    if (!v && snake)
        v = json_object_get(obj, snake);
    return json_is_null(v) ? NULL : v;
}

/* --- scalars: parse first, emit only what parsed ---------------------------- */

/* A string member: 0 and *out (NULL when absent), or enc_bad(). */
int enc_get_string(encoder *c, json_t *obj, const json_path *path, const char *camel,
                   const char *snake, json_t **out)
{
    json_t *v = enc_member(obj, camel, snake);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return enc_bad(c, path, camel, "want a string");
    *out = v;
    return 0;
}

/* A string field, left out when absent or empty (proto3's default). */
int enc_put_string(encoder *c, json_t *obj, const json_path *path, const char *camel,
                   const char *snake, uint32_t number)
{
    json_t *v;
    int rc = enc_get_string(c, obj, path, camel, snake, &v);
    if (rc)
        return enc_outcome(rc);
    if (v && json_string_length(v))
        dp_pb_put_string(c->w, number, json_string_value(v), json_string_length(v));
    return 0;
}

/* n decimal digits (1 to max_digits) of a value at most limit; -1 when not. */
static int parse_decimal(const char *s, size_t n, size_t max_digits, uint64_t limit, uint64_t *out)
{
    uint64_t r = 0;
    if (n == 0 || n > max_digits)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || r > (limit - d) / 10)
            return -1;
        r = r * 10 + d;
    }
    *out = r;
    return 0;
}

/* Unsigned 64-bit: a JSON integer, an integral real, or a decimal string. */
int enc_parse_u64(encoder *c, json_t *v, const json_path *path, const char *field, uint64_t *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return enc_bad(c, path, field, "negative");
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d < 18446744073709551616.0) || d != floor(d))
            return enc_bad(c, path, field, "not an unsigned 64-bit integer");
        *out = (uint64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        if (parse_decimal(json_string_value(v), json_string_length(v), 20, UINT64_MAX, out) < 0)
            return enc_bad(c, path, field, "not an unsigned 64-bit integer");
        return 0;
    }
    return enc_bad(c, path, field, "want an integer or a decimal string");
}

/* A fixed64 field (times), left out when absent or 0. */
int enc_put_fixed64(encoder *c, json_t *obj, const json_path *path, const char *camel,
                    const char *snake, uint32_t number)
{
    json_t *v = enc_member(obj, camel, snake);
    uint64_t x = 0;
    if (!v)
        return 0;
    int rc = enc_parse_u64(c, v, path, camel, &x);
    if (rc)
        return enc_outcome(rc);
    if (x)
        dp_pb_put_fixed64(c->w, number, x);
    return 0;
}

/* A 32-bit unsigned field (dropped counts: varint; flags: fixed32), left out when 0. */
int enc_put_u32(encoder *c, json_t *obj, const json_path *path, const char *camel,
                const char *snake, uint32_t number, bool fixed)
{
    json_t *v = enc_member(obj, camel, snake);
    uint64_t x = 0;
    if (!v)
        return 0;
    int rc = enc_parse_u64(c, v, path, camel, &x);
    if (!rc && x > UINT32_MAX)
        rc = enc_bad(c, path, camel, "not an unsigned 32-bit integer");
    if (rc)
        return enc_outcome(rc);
    if (x && fixed)
        dp_pb_put_fixed32(c->w, number, (uint32_t)x);
    else if (x)
        dp_pb_put_varint(c->w, number, x);
    return 0;
}

/* A droppedAttributesCount plus the attributes the encoder left out, left out when 0. */
int enc_put_dropped_count(encoder *c, json_t *obj, const json_path *path, uint32_t number,
                          size_t extra)
{
    json_t *v = enc_member(obj, "droppedAttributesCount", "dropped_attributes_count");
    uint64_t x = 0;
    int rc = v ? enc_parse_u64(c, v, path, "droppedAttributesCount", &x) : 0;
    if (!rc && x > UINT32_MAX)
        rc = enc_bad(c, path, "droppedAttributesCount", "not an unsigned 32-bit integer");
    if (rc < 0)
        return -1;
    if (rc > 0)
        x = 0; /* lenient: the malformed value is left out, the left out attributes count */
    x += extra;
    if (x)
        dp_pb_put_varint(c->w, number, x > UINT32_MAX ? UINT32_MAX : x);
    return 0;
}

/* Signed 64-bit (AnyValue.intValue). */
int enc_parse_i64(encoder *c, json_t *v, const json_path *path, const char *field, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d))
            return enc_bad(c, path, field, "not a 64-bit integer");
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), sign = n && (s[0] == '-' || s[0] == '+');
        bool neg = sign && s[0] == '-';
        uint64_t r;
        if (parse_decimal(s + sign, n - sign, 19,
                          neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &r) < 0)
            return enc_bad(c, path, field, "not a 64-bit integer");
        *out = neg ? (int64_t)(0 - r) : (int64_t)r;
        return 0;
    }
    return enc_bad(c, path, field, "want an integer or a decimal string");
}

/* A double: a JSON number, "NaN", "Infinity", "-Infinity" or a numeric string. */
int enc_parse_double(encoder *c, json_t *v, const json_path *path, const char *field, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return 0;
        }
        if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
            *out = s[0] == '-' ? -INFINITY : INFINITY;
            return 0;
        }
        errno = 0;
        *out = strtod(s, &end);
        if (*s && *end == '\0' && errno == 0)
            return 0;
    }
    return enc_bad(c, path, field, "want a number");
}

/* An enum as its number or its name (names[i] is the name of value i); left out when 0. */
int enc_put_enum(encoder *c, json_t *obj, const json_path *path, const char *camel,
                 const char *snake, const char *const *names, size_t count, uint32_t number)
{
    json_t *v = enc_member(obj, camel, snake);
    int64_t x = 0;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
        if (x < INT32_MIN || x > INT32_MAX)
            return enc_outcome(enc_bad(c, path, camel, "enum value out of range"));
    } else if (json_is_string(v)) {
        size_t i = 0;
        while (i < count && strcmp(json_string_value(v), names[i]) != 0)
            i++;
        if (i == count)
            return enc_outcome(
                enc_bad(c, path, camel, "unknown name \"%.40s\"", json_string_value(v)));
        x = (int64_t)i;
    } else {
        return enc_outcome(enc_bad(c, path, camel, "want an enum number or name"));
    }
    /* negative enum values are sign-extended to 64 bits on the wire */
    if (x)
        dp_pb_put_int64(c->w, number, x);
    return 0;
}

/* An id as hex into out[nbytes]. *present is false for an absent or empty string. */
int enc_get_hex_id(encoder *c, json_t *obj, const json_path *path, const char *camel,
                   const char *snake, uint8_t *out, size_t nbytes, bool *present)
{
    json_t *v = enc_member(obj, camel, snake);
    *present = false;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return enc_bad(c, path, camel, "want a hex string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0)
        return 0;
    if (n != 2 * nbytes)
        return enc_bad(c, path, camel, "not %zu hex digits", 2 * nbytes);
    for (size_t i = 0; i < nbytes; i++) {
        int hi = dp_hex_digit(s[2 * i]), lo = dp_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return enc_bad(c, path, camel, "not %zu hex digits", 2 * nbytes);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *present = true;
    return 0;
}

int enc_put_hex_id(encoder *c, json_t *obj, const json_path *path, const char *camel,
                   const char *snake, size_t nbytes, uint32_t number)
{
    uint8_t id[16];
    bool present;
    int rc = enc_get_hex_id(c, obj, path, camel, snake, id, nbytes, &present);
    if (rc)
        return enc_outcome(rc);
    if (present)
        dp_pb_put_bytes(c->w, number, id, nbytes);
    return 0;
}

/* A required id (trace and span ids of spans and links), never all zeros
 * when `nonzero`. */
int enc_put_required_id(encoder *c, json_t *obj, const json_path *path, const char *camel,
                        const char *snake, size_t nbytes, bool nonzero, uint32_t number)
{
    uint8_t id[16];
    bool present;
    int rc = enc_get_hex_id(c, obj, path, camel, snake, id, nbytes, &present);
    if (!rc && !present)
        rc = enc_bad(c, path, camel, "not %zu hex digits", 2 * nbytes);
    if (!rc && nonzero && dp_otlp_id_is_zero(id, nbytes))
        rc = enc_bad(c, path, camel, "all zeros");
    if (rc)
        return enc_outcome(rc);
    dp_pb_put_bytes(c->w, number, id, nbytes);
    return 0;
}

static int base64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-') /* standard and URL-safe alphabets */
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Base64 (padding optional): the digits without padding in *n and the
 * decoded size in *len, or -1 when it is not base64. */
static int base64_check(const char *s, size_t *n, size_t *len)
{
    while (*n && s[*n - 1] == '=')
        (*n)--;
    if (*n % 4 == 1)
        return -1;
    for (size_t i = 0; i < *n; i++)
        if (base64_value(s[i]) < 0)
            return -1;
    *len = *n / 4 * 3 + (*n % 4 ? *n % 4 - 1 : 0);
    return 0;
}

/* A bytes field from checked base64, decoded in chunks into the output. */
static void put_base64(dp_pb_writer *w, uint32_t number, const char *s, size_t n, size_t len)
{
    uint8_t chunk[256];
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    dp_pb_put_tag(w, number, DP_PB_LEN);
    dp_pb_put_raw_varint(w, len);
    for (size_t i = 0; i < n; i++) {
        acc = acc << 6 | (uint32_t)base64_value(s[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            chunk[k++] = (uint8_t)(acc >> bits & 0xff);
            if (k == sizeof chunk) {
                dp_pb_put_raw(w, chunk, k);
                k = 0;
            }
        }
    }
    dp_pb_put_raw(w, chunk, k);
}

/* --- messages ---------------------------------------------------------------- */

/* A nested message at the writer's depth + extra would pass the reader's limit. */
bool enc_too_deep(const encoder *c, int extra)
{
    return c->w->depth + extra > DP_OTLP_MAX_DEPTH;
}

/* Encode what the profile does not read of obj: malformed fields are left
 * out, except in a strict encoding (metrics, logs), where they fail it. */
int enc_put_optional(encoder *c, enc_put_part_fn put, json_t *obj, const json_path *path)
{
    bool was = c->lenient;
    c->lenient = !c->strict;
    int rc = put(c, obj, path);
    c->lenient = was;
    return c->strict ? rc : 0;
}

/* Every item of the array member camel/snake of obj, at the paths "camel[i]". */
int enc_put_each(encoder *c, json_t *obj, const json_path *path, const char *camel,
                 const char *snake, uint32_t number, enc_put_item_fn put)
{
    json_t *arr = enc_member(obj, camel, snake);
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return enc_outcome(enc_bad(c, path, camel, "want an array"));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_path item = {path, camel, (long)i};
        if (put(c, json_array_get(arr, i), &item, number) < 0)
            return -1;
    }
    return 0;
}

static int put_key_value(encoder *c, json_t *kv, const json_path *path, uint32_t number);

/* A list of KeyValue (attributes) as repeated field `number`. */
int enc_put_key_values(encoder *c, json_t *obj, const json_path *path, const char *camel,
                       const char *snake, uint32_t number)
{
    return enc_put_each(c, obj, path, camel, snake, number, put_key_value);
}

/* KeyValueList.values (of a kvlist value, which the profile keeps opaque). */
static int put_kvlist_values(encoder *c, json_t *kvlist, const json_path *path)
{
    return enc_put_key_values(c, kvlist, path, "values", NULL, 1);
}

/* An AnyValue as field `number`: the first of its kinds present is the value. */
int enc_put_any_value(encoder *c, json_t *v, const json_path *path, uint32_t number)
{
    json_t *x;
    int rc;
    if (!json_is_object(v))
        return enc_outcome(enc_bad(c, path, "", "want an AnyValue object"));
    if (enc_too_deep(c, 1))
        return enc_outcome(
            enc_bad(c, path, "", "nested more than %d messages deep", DP_OTLP_MAX_DEPTH));
    if ((x = enc_member(v, "stringValue", "string_value"))) {
        if (!json_is_string(x))
            return enc_outcome(enc_bad(c, path, "stringValue", "want a string"));
        dp_pb_begin(c->w, number);
        dp_pb_put_string(c->w, 1, json_string_value(x), json_string_length(x));
    } else if ((x = enc_member(v, "boolValue", "bool_value"))) {
        if (!json_is_boolean(x))
            return enc_outcome(enc_bad(c, path, "boolValue", "want true or false"));
        dp_pb_begin(c->w, number);
        dp_pb_put_bool(c->w, 2, json_is_true(x));
    } else if ((x = enc_member(v, "intValue", "int_value"))) {
        int64_t i = 0;
        if ((rc = enc_parse_i64(c, x, path, "intValue", &i)))
            return enc_outcome(rc);
        dp_pb_begin(c->w, number);
        dp_pb_put_int64(c->w, 3, i);
    } else if ((x = enc_member(v, "doubleValue", "double_value"))) {
        double d = 0;
        if ((rc = enc_parse_double(c, x, path, "doubleValue", &d)))
            return enc_outcome(rc);
        dp_pb_begin(c->w, number);
        dp_pb_put_double(c->w, 4, d);
    } else if ((x = enc_member(v, "bytesValue", "bytes_value"))) {
        size_t n, len = 0;
        if (!json_is_string(x))
            return enc_outcome(enc_bad(c, path, "bytesValue", "want a base64 string"));
        n = json_string_length(x);
        if (base64_check(json_string_value(x), &n, &len) < 0)
            return enc_outcome(enc_bad(c, path, "bytesValue", "not base64"));
        dp_pb_begin(c->w, number);
        put_base64(c->w, 7, json_string_value(x), n, len);
    } else if ((x = enc_member(v, "kvlistValue", "kvlist_value"))) {
        if (!json_is_object(x))
            return enc_outcome(enc_bad(c, path, "kvlistValue", "want an object"));
        if (enc_too_deep(c, 2))
            return enc_outcome(
                enc_bad(c, path, "", "nested more than %d messages deep", DP_OTLP_MAX_DEPTH));
        json_path kpath = {path, "kvlistValue", -1};
        dp_pb_begin(c->w, number);
        dp_pb_begin(c->w, 6);
        if (enc_put_optional(c, put_kvlist_values, x, &kpath) < 0)
            return -1;
        dp_pb_end(c->w);
    } else if ((x = enc_member(v, "arrayValue", "array_value"))) {
        json_t *vals;
        if (!json_is_object(x))
            return enc_outcome(enc_bad(c, path, "arrayValue", "want an object"));
        vals = enc_member(x, "values", NULL);
        if (vals && !json_is_array(vals))
            return enc_outcome(enc_bad(c, path, "arrayValue.values", "want an array"));
        if (enc_too_deep(c, 2))
            return enc_outcome(
                enc_bad(c, path, "", "nested more than %d messages deep", DP_OTLP_MAX_DEPTH));
        dp_pb_begin(c->w, number);
        dp_pb_begin(c->w, 5);
        for (size_t i = 0; vals && i < json_array_size(vals); i++) {
            json_path item = {path, "arrayValue.values", (long)i};
            if (enc_put_any_value(c, json_array_get(vals, i), &item, 1) < 0)
                return -1;
        }
        dp_pb_end(c->w);
    } else {
        dp_pb_begin(c->w, number); /* an empty AnyValue */
    }
    dp_pb_end(c->w);
    return 0;
}

/* One KeyValue. */
static int put_key_value(encoder *c, json_t *kv, const json_path *path, uint32_t number)
{
    json_t *key = NULL, *value;
    int rc = json_is_object(kv) ? enc_get_string(c, kv, path, "key", NULL, &key)
                                : enc_bad(c, path, "", "want a {key, value} object");
    if (rc)
        return enc_outcome(rc);
    dp_pb_begin(c->w, number);
    if (key && json_string_length(key))
        dp_pb_put_string(c->w, 1, json_string_value(key), json_string_length(key));
    if ((value = enc_member(kv, "value", NULL))) {
        json_path vpath = {path, "value", -1};
        if (enc_put_any_value(c, value, &vpath, 2) < 0)
            return -1;
    }
    dp_pb_end(c->w);
    return 0;
}

/*
 * Whether the AnyValue v, written as a message at depth `depth`, keeps every
 * message in it at most DP_OTLP_MAX_DEPTH deep, as enc_put_any_value()
 * writes it (the first kind present is the value). Malformed parts count as
 * they are nested (the putter judges them), so the answer depends on the
 * JSON alone: both passes agree. Recursion stops at the limit.
 */
static bool any_value_fits(json_t *v, int depth)
{
    json_t *x, *vals;
    if (depth > DP_OTLP_MAX_DEPTH)
        return false;
    if (!json_is_object(v) || enc_member(v, "stringValue", "string_value") ||
        enc_member(v, "boolValue", "bool_value") || enc_member(v, "intValue", "int_value") ||
        enc_member(v, "doubleValue", "double_value") || enc_member(v, "bytesValue", "bytes_value"))
        return true;
    /* AnyValue → KeyValueList (depth + 1) → KeyValue (+ 2) → AnyValue (+ 3),
     * or AnyValue → ArrayValue (depth + 1) → AnyValue (+ 2) */
    bool kvlist = (x = enc_member(v, "kvlistValue", "kvlist_value")) != NULL;
    if ((!kvlist && !(x = enc_member(v, "arrayValue", "array_value"))) || !json_is_object(x))
        return true;
    if (depth + 1 > DP_OTLP_MAX_DEPTH)
        return false;
    vals = enc_member(x, "values", NULL);
    for (size_t i = 0; json_is_array(vals) && i < json_array_size(vals); i++) {
        json_t *item = json_array_get(vals, i);
        if (!kvlist) {
            if (!any_value_fits(item, depth + 2))
                return false;
            continue;
        }
        if (!json_is_object(item)) /* written as nothing */
            continue;
        if (depth + 2 > DP_OTLP_MAX_DEPTH)
            return false;
        if ((item = enc_member(item, "value", NULL)) && !any_value_fits(item, depth + 3))
            return false;
    }
    return true;
}

/* One attribute of a message with a dropped_attributes_count: left out,
 * and counted, when its value would nest too deep. */
static int put_attribute(encoder *c, json_t *kv, const json_path *path, uint32_t number)
{
    json_t *value = json_is_object(kv) ? enc_member(kv, "value", NULL) : NULL;
    /* the KeyValue would be a message at the writer's depth + 1, its value + 2 */
    if (enc_too_deep(c, 1) || (value && !any_value_fits(value, c->w->depth + 2))) {
        if (!c->attributes_dropped++ && c->first_dropped)
            path_render(path, c->first_dropped, c->first_dropped_len);
        c->dropped_here++;
        return 0;
    }
    return put_key_value(c, kv, path, number);
}

/* The attributes of a message that counts dropped ones; *dropped: how many were left out. */
int enc_put_attributes(encoder *c, json_t *obj, const json_path *path, uint32_t number,
                       size_t *dropped)
{
    c->dropped_here = 0;
    int rc = enc_put_each(c, obj, path, "attributes", NULL, number, put_attribute);
    *dropped = c->dropped_here;
    return rc;
}

/* A repeated string field; what is not a string is malformed. */
static int put_strings(encoder *c, json_t *obj, const json_path *path, const char *camel,
                       const char *snake, uint32_t number)
{
    json_t *arr = enc_member(obj, camel, snake);
    if (arr && !json_is_array(arr))
        return enc_outcome(enc_bad(c, path, camel, "want an array of strings"));
    for (size_t i = 0; arr && i < json_array_size(arr); i++) {
        json_t *s = json_array_get(arr, i);
        json_path item = {path, camel, (long)i};
        if (json_is_string(s))
            dp_pb_put_string(c->w, number, json_string_value(s), json_string_length(s));
        else if (enc_bad(c, &item, "", "want a string") < 0)
            return -1;
    }
    return 0;
}

/* The schema_url of a Resource<X> or Scope<X> (field 3 of both). */
static int put_schema_url(encoder *c, json_t *obj, const json_path *path)
{
    return enc_put_string(c, obj, path, "schemaUrl", "schema_url", 3);
}

/* One Resource.entity_refs item. */
static int put_entity_ref(encoder *c, json_t *ref, const json_path *path, uint32_t number)
{
    if (!json_is_object(ref))
        return enc_outcome(enc_bad(c, path, "", "want an object"));
    dp_pb_begin(c->w, number);
    if (enc_put_string(c, ref, path, "schemaUrl", "schema_url", 1) < 0 ||
        enc_put_string(c, ref, path, "type", NULL, 2) < 0 ||
        put_strings(c, ref, path, "idKeys", "id_keys", 3) < 0 ||
        put_strings(c, ref, path, "descriptionKeys", "description_keys", 4) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* Resource: what the profile does not read. */
static int put_resource_optional(encoder *c, json_t *res, const json_path *path)
{
    if (enc_put_dropped_count(c, res, path, 2, c->pending_dropped) < 0 ||
        enc_put_each(c, res, path, "entityRefs", "entity_refs", 3, put_entity_ref) < 0)
        return -1;
    return 0;
}

/* A nested message member as field `number`; `put` writes its fields. */
int enc_put_message(encoder *c, json_t *obj, const json_path *path, const char *camel,
                    const char *snake, uint32_t number, enc_put_part_fn put)
{
    json_t *m = enc_member(obj, camel, snake);
    json_path mpath = {path, camel, -1};
    if (!m)
        return 0;
    if (!json_is_object(m))
        return enc_outcome(enc_bad(c, &mpath, "", "want an object"));
    dp_pb_begin(c->w, number);
    if (put(c, m, &mpath) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* The scope's name, where the profile does not read it (a scope without items). */
static int put_scope_name(encoder *c, json_t *scope, const json_path *path)
{
    return enc_put_string(c, scope, path, "name", NULL, 1);
}

/* InstrumentationScope: what the profile does not read. */
static int put_scope_optional(encoder *c, json_t *scope, const json_path *path)
{
    size_t deep = 0;
    if (enc_put_string(c, scope, path, "version", NULL, 2) < 0 ||
        enc_put_attributes(c, scope, path, 3, &deep) < 0 ||
        enc_put_dropped_count(c, scope, path, 4, deep) < 0)
        return -1;
    return 0;
}

/* Scope<X>.scope: the name is checked when the scope has items. */
static int put_scope(encoder *c, json_t *scope, const json_path *path, bool check_name)
{
    int rc = 0;
    json_path spath = {path, "scope", -1};
    dp_pb_begin(c->w, 1);
    /* a bad name is reported at the Scope<X>'s path, as "...scopeSpans[0].name" */
    if (check_name)
        rc = enc_put_string(c, scope, path, "name", NULL, 1);
    else
        rc = enc_put_optional(c, put_scope_name, scope, &spath);
    if (rc < 0 || enc_put_optional(c, put_scope_optional, scope, &spath) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* One Scope<X>: its scope, its items, its schema URL. */
static int put_scope_items(encoder *c, json_t *ss, const json_path *path, uint32_t number)
{
    const enc_signal *sig = c->signal;
    if (!json_is_object(ss))
        return enc_outcome(enc_bad(c, path, "", "want an object"));
    json_t *scope = enc_member(ss, "scope", NULL);
    dp_pb_begin(c->w, number);
    /* a scope that is not an object is left out for traces (its name cannot be read) */
    if (scope && !json_is_object(scope) && c->strict)
        return enc_outcome(enc_bad(c, path, "scope", "want an object"));
    if (json_is_object(scope) &&
        put_scope(c, scope, path, enc_member(ss, sig->items_camel, sig->items_snake) != NULL) < 0)
        return -1;
    if (enc_put_each(c, ss, path, sig->items_camel, sig->items_snake, 2, sig->put_item) < 0 ||
        enc_put_optional(c, put_schema_url, ss, path) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* Resource: the attributes are checked (the profile reads them). */
static int put_resource(encoder *c, json_t *res, const json_path *path)
{
    size_t deep = 0;
    if (enc_put_attributes(c, res, path, 1, &deep) < 0)
        return -1;
    c->pending_dropped = deep; /* for the count, in the optional part */
    return enc_put_optional(c, put_resource_optional, res, path) < 0 ? -1 : 0;
}

/* One Resource<X>: its resource, its Scope<X> list, its schema URL. */
static int put_resource_items(encoder *c, json_t *rs, const json_path *path, uint32_t number)
{
    const enc_signal *sig = c->signal;
    if (!json_is_object(rs))
        return enc_outcome(enc_bad(c, path, "", "want an object"));
    dp_pb_begin(c->w, number);
    if (enc_put_message(c, rs, path, "resource", NULL, 1, put_resource) < 0 ||
        enc_put_each(c, rs, path, sig->scope_camel, sig->scope_snake, 2, put_scope_items) < 0 ||
        enc_put_optional(c, put_schema_url, rs, path) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

static void encode_request(dp_pb_writer *w, const void *ctx)
{
    const encode_job *job = ctx;
    const enc_signal *sig = job->signal;
    encoder c = {w, job->err, job->errlen, false, sig->strict, sig, 0, 0, 0, NULL, 0};
    int rc;
    if (job->dropped) {
        c.first_dropped = job->dropped->first;
        c.first_dropped_len = sizeof job->dropped->first;
    }
    if (!json_is_object(job->root))
        rc = enc_bad(&c, NULL, "", "want an %s object", sig->request_name);
    else
        rc = enc_put_each(&c, job->root, NULL, sig->resource_camel, sig->resource_snake, 1,
                          put_resource_items);
    if (rc < 0)
        dp_pb_fail(w, DP_EDECODE);
    if (job->dropped) /* each pass finds the same */
        job->dropped->attributes = c.attributes_dropped;
}

/* --- entry points ------------------------------------------------------------------- */

static const enc_signal *signal_of(enum dp_signal s)
{
    return s == DP_SIGNAL_METRICS ? &enc_metrics : s == DP_SIGNAL_LOGS ? &enc_logs : &enc_traces;
}

static int encode_tree(const enc_signal *sig, json_t *root, dp_buf *out,
                       dp_otlp_json_dropped *dropped, char *err, size_t errlen)
{
    char scratch[8];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (dropped)
        *dropped = (dp_otlp_json_dropped){0};
    encode_job job = {root, sig, err, errlen, dropped};
    int rc = dp_pb_encode(encode_request, &job, out);
    if (rc == DP_OK)
        return 0;
    if (dropped)
        *dropped = (dp_otlp_json_dropped){0};
    if (rc == DP_ENOMEM)
        snprintf(err, errlen, "out of memory");
    else if (rc != DP_EDECODE)
        snprintf(err, errlen, "cannot encode the request: %s", dp_strerror(rc));
    return -1;
}

int dp_otlp_json_encode_tree(struct json_t *root, dp_buf *out, dp_otlp_json_dropped *dropped,
                             char *err, size_t errlen)
{
    return encode_tree(&enc_traces, root, out, dropped, err, errlen);
}

int dp_otlp_json_encode_signal(enum dp_signal signal, const char *json, size_t len, dp_buf *out,
                               char *err, size_t errlen)
{
    return dp_otlp_json_encode_dropped(signal, json, len, out, NULL, err, errlen);
}

int dp_otlp_json_encode_dropped(enum dp_signal signal, const char *json, size_t len, dp_buf *out,
                                dp_otlp_json_dropped *dropped, char *err, size_t errlen)
{
    json_error_t jerr;
    char scratch[8];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (dropped)
        *dropped = (dp_otlp_json_dropped){0};
    if (!json) {
        snprintf(err, errlen, "no data");
        return -1;
    }
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return -1;
    }
    int rc = encode_tree(signal_of(signal), root, out, dropped, err, errlen);
    json_decref(root);
    return rc;
}

int dp_otlp_json_encode(const char *json, size_t len, dp_buf *out, char *err, size_t errlen)
{
    return dp_otlp_json_encode_signal(DP_SIGNAL_TRACES, json, len, out, err, errlen);
}

/*
 * OTLP/JSON ExportTraceServiceRequest → dp_span, with jansson.
 *
 * Follows the OTLP JSON mapping: lowerCamelCase names (the original
 * snake_case names are accepted too, as protobuf JSON parsers do), trace and
 * span ids as hex, 64-bit integers as decimal strings or numbers, enums as
 * integers or names, bytes as base64. Unknown names are ignored, as OTLP
 * requires of receivers. Every kept string is copied into the arena because
 * the jansson document is freed afterwards. Errors name the JSON path:
 * "resourceSpans[0].scopeSpans[0].spans[2].traceId: not 32 hex digits".
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "otlp_file.h"
#include "otlp_internal.h"

/* Longest JSON path kept in error messages. */
#define PATH_MAX_LEN 192

typedef struct json_ctx {
    dp_arena *arena;
    dp_span_list *list;
    char *err;
    size_t errlen;
} json_ctx;

static int fail(json_ctx *c, const char *path, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(json_ctx *c, const char *path, const char *field, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!*path && !*field)
        snprintf(c->err, c->errlen, "%s", msg);
    else
        snprintf(c->err, c->errlen, "%s%s%s: %s", path, (*path && *field) ? "." : "", field, msg);
    return -1;
}

/* Paths are cut at PATH_MAX_LEN on purpose: the start locates the problem. */
static void path_fmt(char *dst, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void path_fmt(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static int oom(json_ctx *c)
{
    snprintf(c->err, c->errlen, "out of memory");
    return -1;
}

/* A member by its lowerCamelCase or snake_case name; JSON null counts as absent. */
static json_t *member(json_t *obj, const char *camel, const char *snake)
{
    json_t *v = json_object_get(obj, camel);
    if (!v && snake)
        v = json_object_get(obj, snake);
    return json_is_null(v) ? NULL : v;
}

static int get_string(json_ctx *c, json_t *obj, const char *path, const char *camel,
                      const char *snake, dp_str *out)
{
    json_t *v = member(obj, camel, snake);
    *out = DP_STR_NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return fail(c, path, camel, "want a string");
    *out = dp_arena_str(c->arena, (dp_str){json_string_value(v), json_string_length(v)});
    if (!out->ptr)
        return oom(c);
    return 0;
}

/* Unsigned 64-bit: a JSON integer, an integral real, or a decimal string. */
static int get_u64(json_ctx *c, json_t *obj, const char *path, const char *camel, const char *snake,
                   uint64_t *out)
{
    json_t *v = member(obj, camel, snake);
    *out = 0;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return fail(c, path, camel, "negative");
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d < 18446744073709551616.0) || d != floor(d))
            return fail(c, path, camel, "not an unsigned 64-bit integer");
        *out = (uint64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        uint64_t r = 0;
        if (n == 0 || n > 20)
            return fail(c, path, camel, "not an unsigned 64-bit integer");
        for (size_t i = 0; i < n; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (d > 9 || r > (UINT64_MAX - d) / 10)
                return fail(c, path, camel, "not an unsigned 64-bit integer");
            r = r * 10 + d;
        }
        *out = r;
        return 0;
    }
    return fail(c, path, camel, "want an integer or a decimal string");
}

/* Signed 64-bit (AnyValue.intValue). */
static int parse_i64(json_ctx *c, json_t *v, const char *path, const char *field, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d))
            return fail(c, path, field, "not a 64-bit integer");
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v), i = 0;
        bool neg = false;
        uint64_t r = 0, limit;
        if (n && (s[0] == '-' || s[0] == '+')) {
            neg = s[0] == '-';
            i = 1;
        }
        limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        if (i == n || n - i > 19)
            return fail(c, path, field, "not a 64-bit integer");
        for (; i < n; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (d > 9 || r > (limit - d) / 10)
                return fail(c, path, field, "not a 64-bit integer");
            r = r * 10 + d;
        }
        *out = neg ? (int64_t)(0 - r) : (int64_t)r;
        return 0;
    }
    return fail(c, path, field, "want an integer or a decimal string");
}

static int parse_double(json_ctx *c, json_t *v, const char *path, const char *field, double *out)
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
    return fail(c, path, field, "want a number");
}

/* An enum as its number or its name (names[i] is the name of value i). */
static int get_enum(json_ctx *c, json_t *obj, const char *path, const char *camel,
                    const char *const *names, size_t count, int *out)
{
    json_t *v = member(obj, camel, NULL);
    *out = 0;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < INT32_MIN || i > INT32_MAX)
            return fail(c, path, camel, "enum value out of range");
        *out = (int)i;
        return 0;
    }
    if (json_is_string(v)) {
        for (size_t i = 0; i < count; i++) {
            if (strcmp(json_string_value(v), names[i]) == 0) {
                *out = (int)i;
                return 0;
            }
        }
        return fail(c, path, camel, "unknown name \"%.40s\"", json_string_value(v));
    }
    return fail(c, path, camel, "want an enum number or name");
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* An id as hex. *present is false for an absent or empty string. */
static int get_hex_id(json_ctx *c, json_t *obj, const char *path, const char *camel,
                      const char *snake, uint8_t *out, size_t nbytes, bool *present)
{
    json_t *v = member(obj, camel, snake);
    *present = false;
    memset(out, 0, nbytes);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return fail(c, path, camel, "want a hex string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0)
        return 0;
    if (n != 2 * nbytes)
        return fail(c, path, camel, "not %zu hex digits", 2 * nbytes);
    for (size_t i = 0; i < nbytes; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(c, path, camel, "not %zu hex digits", 2 * nbytes);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *present = true;
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

/* Base64 (padding optional) into the arena. */
static int decode_base64(json_ctx *c, const char *s, size_t n, const char *path, dp_str *out)
{
    while (n && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return fail(c, path, "bytesValue", "not base64");
    char *buf = dp_arena_alloc(c->arena, n / 4 * 3 + 3);
    if (!buf)
        return oom(c);
    size_t len = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = base64_value(s[i]);
        if (v < 0)
            return fail(c, path, "bytesValue", "not base64");
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[len++] = (char)(acc >> bits & 0xff);
        }
    }
    *out = (dp_str){buf, len};
    return 0;
}

static int convert_attrs(json_ctx *c, json_t *obj, const char *path, const char *camel,
                         const char *snake, const dp_attr **out, size_t *count);

static int convert_any(json_ctx *c, json_t *v, const char *path, dp_value *out, int depth)
{
    json_t *x;
    memset(out, 0, sizeof *out);
    if (!v)
        return 0;
    if (!json_is_object(v))
        return fail(c, path, "", "want an AnyValue object");
    if (depth > DP_OTLP_MAX_DEPTH)
        return fail(c, path, "", "values nested more than %d deep", DP_OTLP_MAX_DEPTH);
    if ((x = member(v, "stringValue", "string_value"))) {
        if (!json_is_string(x))
            return fail(c, path, "stringValue", "want a string");
        out->kind = DP_VALUE_STRING;
        out->u.s = dp_arena_str(c->arena, (dp_str){json_string_value(x), json_string_length(x)});
        return out->u.s.ptr ? 0 : oom(c);
    }
    if ((x = member(v, "boolValue", "bool_value"))) {
        if (!json_is_boolean(x))
            return fail(c, path, "boolValue", "want true or false");
        out->kind = DP_VALUE_BOOL;
        out->u.b = json_is_true(x);
        return 0;
    }
    if ((x = member(v, "intValue", "int_value"))) {
        out->kind = DP_VALUE_INT;
        return parse_i64(c, x, path, "intValue", &out->u.i);
    }
    if ((x = member(v, "doubleValue", "double_value"))) {
        out->kind = DP_VALUE_DOUBLE;
        return parse_double(c, x, path, "doubleValue", &out->u.d);
    }
    if ((x = member(v, "bytesValue", "bytes_value"))) {
        if (!json_is_string(x))
            return fail(c, path, "bytesValue", "want a base64 string");
        out->kind = DP_VALUE_BYTES;
        return decode_base64(c, json_string_value(x), json_string_length(x), path, &out->u.s);
    }
    if ((x = member(v, "kvlistValue", "kvlist_value"))) {
        /* opaque, like the protobuf path: the profiler reads no nested maps */
        if (!json_is_object(x))
            return fail(c, path, "kvlistValue", "want an object");
        out->kind = DP_VALUE_KVLIST;
        return 0;
    }
    if ((x = member(v, "arrayValue", "array_value"))) {
        char sub[PATH_MAX_LEN];
        json_t *vals;
        if (!json_is_object(x))
            return fail(c, path, "arrayValue", "want an object");
        out->kind = DP_VALUE_ARRAY;
        vals = member(x, "values", NULL);
        if (!vals)
            return 0;
        if (!json_is_array(vals))
            return fail(c, path, "arrayValue.values", "want an array");
        size_t n = json_array_size(vals);
        if (!n)
            return 0;
        dp_value *items = dp_arena_alloc(c->arena, n * sizeof *items);
        if (!items)
            return oom(c);
        for (size_t i = 0; i < n; i++) {
            path_fmt(sub, sizeof sub, "%s.arrayValue.values[%zu]", path, i);
            if (convert_any(c, json_array_get(vals, i), sub, &items[i], depth + 1) < 0)
                return -1;
        }
        out->u.array.items = items;
        out->u.array.count = n;
        return 0;
    }
    return 0; /* an empty AnyValue */
}

static int convert_attrs(json_ctx *c, json_t *obj, const char *path, const char *camel,
                         const char *snake, const dp_attr **out, size_t *count)
{
    json_t *arr = member(obj, camel, snake);
    char sub[PATH_MAX_LEN];
    *out = NULL;
    *count = 0;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return fail(c, path, camel, "want an array");
    size_t n = json_array_size(arr);
    if (!n)
        return 0;
    dp_attr *attrs = dp_arena_alloc(c->arena, n * sizeof *attrs);
    if (!attrs)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        json_t *kv = json_array_get(arr, i);
        path_fmt(sub, sizeof sub, "%s%s%s[%zu]", path, *path ? "." : "", camel, i);
        if (!json_is_object(kv))
            return fail(c, sub, "", "want a {key, value} object");
        if (get_string(c, kv, sub, "key", NULL, &attrs[i].key) < 0)
            return -1;
        if (!attrs[i].key.ptr)
            attrs[i].key = DP_STR_LIT("");
        char vpath[PATH_MAX_LEN];
        path_fmt(vpath, sizeof vpath, "%s.value", sub);
        if (convert_any(c, member(kv, "value", NULL), vpath, &attrs[i].value, 0) < 0)
            return -1;
    }
    *out = attrs;
    *count = n;
    return 0;
}

static const char *const span_kind_names[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};
static const char *const status_code_names[] = {
    "STATUS_CODE_UNSET",
    "STATUS_CODE_OK",
    "STATUS_CODE_ERROR",
};

static int convert_links(json_ctx *c, json_t *span, const char *path, dp_span *out)
{
    json_t *arr = member(span, "links", NULL);
    char sub[PATH_MAX_LEN];
    bool present;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return fail(c, path, "links", "want an array");
    size_t n = json_array_size(arr);
    if (!n)
        return 0;
    dp_link *links = dp_arena_alloc(c->arena, n * sizeof *links);
    if (!links)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(arr, i);
        path_fmt(sub, sizeof sub, "%s.links[%zu]", path, i);
        if (!json_is_object(l))
            return fail(c, sub, "", "want an object");
        if (get_hex_id(c, l, sub, "traceId", "trace_id", links[i].trace_id, 16, &present) < 0)
            return -1;
        if (!present)
            return fail(c, sub, "traceId", "not 32 hex digits");
        if (get_hex_id(c, l, sub, "spanId", "span_id", links[i].span_id, 8, &present) < 0)
            return -1;
        if (!present)
            return fail(c, sub, "spanId", "not 16 hex digits");
    }
    out->links = links;
    out->link_count = n;
    return 0;
}

static int convert_span(json_ctx *c, json_t *js, const char *path, const dp_attr *res_attrs,
                        size_t res_count, dp_str scope_name)
{
    dp_span s;
    bool present;
    int kind = 0, code = 0;

    memset(&s, 0, sizeof s);
    if (!json_is_object(js))
        return fail(c, path, "", "want a Span object");
    if (get_hex_id(c, js, path, "traceId", "trace_id", s.trace_id, 16, &present) < 0)
        return -1;
    if (!present)
        return fail(c, path, "traceId", "not 32 hex digits");
    if (dp_otlp_id_is_zero(s.trace_id, 16))
        return fail(c, path, "traceId", "all zeros");
    if (get_hex_id(c, js, path, "spanId", "span_id", s.span_id, 8, &present) < 0)
        return -1;
    if (!present)
        return fail(c, path, "spanId", "not 16 hex digits");
    if (dp_otlp_id_is_zero(s.span_id, 8))
        return fail(c, path, "spanId", "all zeros");
    if (get_hex_id(c, js, path, "parentSpanId", "parent_span_id", s.parent_span_id, 8, &present) <
        0)
        return -1;
    /* an all-zero parent is read as "no parent", as in the protobuf path */
    s.has_parent = present && !dp_otlp_id_is_zero(s.parent_span_id, 8);
    if (get_string(c, js, path, "name", NULL, &s.name) < 0)
        return -1;
    if (get_enum(c, js, path, "kind", span_kind_names, 6, &kind) < 0)
        return -1;
    s.kind = kind;
    if (get_u64(c, js, path, "startTimeUnixNano", "start_time_unix_nano", &s.start_ns) < 0 ||
        get_u64(c, js, path, "endTimeUnixNano", "end_time_unix_nano", &s.end_ns) < 0)
        return -1;

    json_t *status = member(js, "status", NULL);
    if (status) {
        char sub[PATH_MAX_LEN];
        path_fmt(sub, sizeof sub, "%s.status", path);
        if (!json_is_object(status))
            return fail(c, sub, "", "want an object");
        if (get_enum(c, status, sub, "code", status_code_names, 3, &code) < 0)
            return -1;
        s.status = code == 1 ? DP_STATUS_OK : code == 2 ? DP_STATUS_ERROR : DP_STATUS_UNSET;
        if (get_string(c, status, sub, "message", NULL, &s.status_message) < 0)
            return -1;
    }
    if (convert_attrs(c, js, path, "attributes", NULL, &s.attrs, &s.attr_count) < 0)
        return -1;
    if (convert_links(c, js, path, &s) < 0)
        return -1;
    s.resource_attrs = res_attrs;
    s.resource_attr_count = res_count;
    s.scope_name = scope_name;
    if (dp_otlp_span_list_push(c->list, c->arena, &s) < 0)
        return oom(c);
    return 0;
}

static int convert_request(json_ctx *c, json_t *root)
{
    char path[PATH_MAX_LEN];
    json_t *rss;

    if (!json_is_object(root))
        return fail(c, "", "", "want an ExportTraceServiceRequest object");
    rss = member(root, "resourceSpans", "resource_spans");
    if (!rss)
        return 0;
    if (!json_is_array(rss))
        return fail(c, "", "resourceSpans", "want an array");
    for (size_t i = 0; i < json_array_size(rss); i++) {
        json_t *rs = json_array_get(rss, i);
        const dp_attr *res_attrs = NULL;
        size_t res_count = 0;
        path_fmt(path, sizeof path, "resourceSpans[%zu]", i);
        if (!json_is_object(rs))
            return fail(c, path, "", "want an object");
        json_t *res = member(rs, "resource", NULL);
        if (res) {
            char rpath[PATH_MAX_LEN];
            path_fmt(rpath, sizeof rpath, "%s.resource", path);
            if (!json_is_object(res))
                return fail(c, rpath, "", "want an object");
            if (convert_attrs(c, res, rpath, "attributes", NULL, &res_attrs, &res_count) < 0)
                return -1;
        }
        json_t *sss = member(rs, "scopeSpans", "scope_spans");
        if (!sss)
            continue;
        if (!json_is_array(sss))
            return fail(c, path, "scopeSpans", "want an array");
        for (size_t j = 0; j < json_array_size(sss); j++) {
            json_t *ss = json_array_get(sss, j);
            char spath[PATH_MAX_LEN];
            path_fmt(spath, sizeof spath, "%s.scopeSpans[%zu]", path, j);
            if (!json_is_object(ss))
                return fail(c, spath, "", "want an object");
            json_t *spans = member(ss, "spans", NULL);
            if (!spans)
                continue;
            dp_str scope_name = DP_STR_NULL;
            json_t *scope = member(ss, "scope", NULL);
            if (scope && json_is_object(scope) &&
                get_string(c, scope, spath, "name", NULL, &scope_name) < 0)
                return -1;
            if (!json_is_array(spans))
                return fail(c, spath, "spans", "want an array");
            for (size_t k = 0; k < json_array_size(spans); k++) {
                char kpath[PATH_MAX_LEN];
                path_fmt(kpath, sizeof kpath, "%s.spans[%zu]", spath, k);
                if (convert_span(c, json_array_get(spans, k), kpath, res_attrs, res_count,
                                 scope_name) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

int dp_otlp_span_list_push(dp_span_list *list, dp_arena *arena, const dp_span *span)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        dp_span *spans = dp_arena_calloc(arena, cap, sizeof *spans);
        if (!spans)
            return -1;
        /* the old array stays in the arena until it is reset: doubling keeps
         * the waste below the final size */
        if (list->count)
            memcpy(spans, list->spans, list->count * sizeof *spans);
        list->spans = spans;
        list->cap = cap;
    }
    list->spans[list->count++] = *span;
    return 0;
}

int dp_otlp_json_request(struct json_t *root, dp_arena *arena, dp_span_list *list, char *err,
                         size_t errlen)
{
    char scratch[8];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    json_ctx c = {.arena = arena, .list = list, .err = err, .errlen = errlen};
    size_t before = list->count;
    err[0] = '\0';
    if (convert_request(&c, root) < 0) {
        list->count = before; /* all or nothing per request */
        return -1;
    }
    return 0;
}

int dp_otlp_json_parse(const char *json, size_t len, dp_arena *arena, dp_span_list *list, char *err,
                       size_t errlen)
{
    json_error_t jerr;
    json_t *root;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!json) {
        if (err && errlen)
            snprintf(err, errlen, "no data");
        return -1;
    }
    root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        if (err && errlen)
            snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                     jerr.text);
        return -1;
    }
    rc = dp_otlp_json_request(root, arena, list, err, errlen);
    json_decref(root);
    return rc;
}

/*
 * Differential check of the OTLP/JSON → protobuf encoder against the direct
 * OTLP/JSON → dp_span reader: for every JSON document of tests/data and of
 * the otlp_json fuzz corpus, and for thousands of random mutations of them,
 * both must accept the same documents, fail with the same message, and give
 * the same dp_span for every span (the encoder's output read back with
 * dp_otlp_trace_batch_parse and dp_otlp_span_decode, as the engine does).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "decode.h"
#include "otlp_file.h"
#include "otlp_internal.h"

static bool str_same(dp_str a, dp_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool value_same(const dp_value *a, const dp_value *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case DP_VALUE_STRING:
    case DP_VALUE_BYTES:
        return str_same(a->u.s, b->u.s);
    case DP_VALUE_BOOL:
        return a->u.b == b->u.b;
    case DP_VALUE_INT:
        return a->u.i == b->u.i;
    case DP_VALUE_DOUBLE:
        return memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0;
    case DP_VALUE_ARRAY:
        if (a->u.array.count != b->u.array.count)
            return false;
        for (size_t i = 0; i < a->u.array.count; i++)
            if (!value_same(&a->u.array.items[i], &b->u.array.items[i]))
                return false;
        return true;
    default:
        return true;
    }
}

static bool attrs_same(const dp_attr *a, size_t na, const dp_attr *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_same(a[i].key, b[i].key) || !value_same(&a[i].value, &b[i].value))
            return false;
    return true;
}

static bool span_same(const dp_span *a, const dp_span *b)
{
    if (memcmp(a->trace_id, b->trace_id, 16) || memcmp(a->span_id, b->span_id, 8) ||
        a->has_parent != b->has_parent ||
        (a->has_parent && memcmp(a->parent_span_id, b->parent_span_id, 8)) ||
        !str_same(a->name, b->name) || a->kind != b->kind || a->start_ns != b->start_ns ||
        a->end_ns != b->end_ns || a->status != b->status ||
        !str_same(a->status_message, b->status_message) || a->link_count != b->link_count ||
        !str_same(a->scope_name, b->scope_name))
        return false;
    for (size_t i = 0; i < a->link_count; i++)
        if (memcmp(&a->links[i], &b->links[i], sizeof a->links[i]))
            return false;
    return attrs_same(a->attrs, a->attr_count, b->attrs, b->attr_count) &&
           attrs_same(a->resource_attrs, a->resource_attr_count, b->resource_attrs,
                      b->resource_attr_count);
}

/* The new path: encode, then read back as the engine does. */
static int via_protobuf(const char *doc, size_t len, dp_arena *arena, dp_span_list *list, char *err,
                        size_t errlen)
{
    dp_buf pb;
    dp_otlp_trace_batch batch;
    dp_buf_init(&pb, 0);
    int rc = dp_otlp_json_encode(doc, len, &pb, err, errlen);
    if (rc < 0)
        goto out;
    char why[256];
    uint8_t *kept = dp_arena_alloc(arena, pb.len + 1);
    assert_non_null(kept);
    memcpy(kept, pb.data, pb.len);
    if (dp_otlp_trace_batch_parse(kept, pb.len, arena, &batch, why, sizeof why) != DP_OTLP_OK)
        fail_msg("encoded request does not parse: %s\n%.*s", why, (int)len, doc);
    if (batch.rejected)
        fail_msg("encoded request has rejected spans: %s", batch.reject_message);
    for (size_t i = 0; i < batch.span_count; i++) {
        const dp_span_ref *ref = &batch.spans[i];
        const dp_span_scope *scope = &batch.scopes[ref->scope_index];
        dp_span s;
        assert_int_equal(dp_otlp_span_decode(ref->raw,
                                             batch.resources[scope->resource_index].resource_raw,
                                             arena, &s),
                         DP_OTLP_OK);
        s.scope_name = dp_otlp_scope_name(scope->scope_raw);
        assert_int_equal(dp_otlp_span_list_push(list, arena, &s), 0);
    }
out:
    dp_buf_free(&pb);
    return rc;
}

static unsigned long documents, accepted, spans_compared;

static void compare(const char *doc, size_t len, const char *what)
{
    dp_arena arena;
    dp_span_list a = {0}, b = {0};
    char ea[512], eb[512];
    dp_arena_init(&arena, 0, 256u << 20);
    int ra = dp_otlp_json_parse(doc, len, &arena, &a, ea, sizeof ea);
    int rb = via_protobuf(doc, len, &arena, &b, eb, sizeof eb);
    documents++;
    if (ra != rb)
        fail_msg("%s: direct %d (%s), via protobuf %d (%s)\n%.*s", what, ra, ra ? ea : "", rb,
                 rb ? eb : "", (int)len, doc);
    if (ra < 0) {
        if (strcmp(ea, eb) != 0)
            fail_msg("%s: messages differ:\n  direct: %s\n  via protobuf: %s\n%.*s", what, ea, eb,
                     (int)len, doc);
    } else {
        accepted++;
        if (a.count != b.count)
            fail_msg("%s: %zu spans direct, %zu via protobuf", what, a.count, b.count);
        for (size_t i = 0; i < a.count; i++)
            if (!span_same(&a.spans[i], &b.spans[i]))
                fail_msg("%s: span %zu differs\n%.*s", what, i, (int)len, doc);
        spans_compared += a.count;
    }
    dp_arena_free(&arena);
}

/* --- random mutations ------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static json_t *random_value(void)
{
    static const char *const pool[] = {
        "null",
        "true",
        "false",
        "0",
        "-5",
        "1.5",
        "1e30",
        "4294967296",
        "\"\"",
        "\"abc\"",
        "\"12\"",
        "\"-12\"",
        "\"18446744073709551615\"",
        "\"AQL/\"",
        "\"A\"",
        "\"NaN\"",
        "\"SPAN_KIND_CLIENT\"",
        "\"STATUS_CODE_ERROR\"",
        "\"0000000000000000\"",
        "\"00000000000000000000000000000000\"",
        "\"5b8efff798038103d269b633813fc60c\"",
        "\"eee19b7ec3c1b174\"",
        "{}",
        "[]",
        "[1]",
        "[{}]",
        "[{\"key\":\"k\"}]",
        "[{\"key\":5,\"value\":{}}]",
        "[{\"key\":\"k\",\"value\":{\"intValue\":\"x\"}}]",
        "[{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\"}]",
        "{\"stringValue\":\"x\"}",
        "{\"intValue\":\"7\"}",
        "{\"bytesValue\":\"AQL/\"}",
        "{\"arrayValue\":{\"values\":[{\"intValue\":1},{\"boolValue\":true}]}}",
        "{\"arrayValue\":{\"values\":[5]}}",
        "{\"kvlistValue\":{\"values\":[{\"key\":\"a\",\"value\":{\"intValue\":\"zz\"}}]}}",
        "{\"kvlistValue\":{\"values\":7}}",
        "{\"name\":5,\"version\":[]}",
        "{\"code\":2,\"message\":\"m\"}",
        "{\"timeUnixNano\":\"x\",\"name\":\"e\",\"attributes\":3}",
    };
    const char *s = pool[rnd(sizeof pool / sizeof pool[0])];
    return json_loads(s, JSON_DECODE_ANY, NULL);
}

/* Every container slot of the tree, to pick one at random. */
typedef struct slot {
    json_t *parent;
    const char *key; /* object member, or NULL for an array index */
    size_t index;
} slot;

static void collect(json_t *v, slot *slots, size_t *n, size_t cap)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m)
        {
            if (*n < cap)
                slots[(*n)++] = (slot){v, key, 0};
            collect(m, slots, n, cap);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (*n < cap)
                slots[(*n)++] = (slot){v, NULL, i};
            collect(json_array_get(v, i), slots, n, cap);
        }
    }
}

static void mutate_and_compare(json_t *root, const char *what)
{
    static slot slots[200000];
    const char *env = getenv("DP_DIFFERENTIAL_ROUNDS");
    int rounds = env ? atoi(env) : 40;
    for (int round = 0; round < rounds; round++) {
        json_t *copy = json_deep_copy(root);
        int edits = 1 + (int)rnd(3);
        for (int e = 0; e < edits; e++) {
            size_t n = 0;
            collect(copy, slots, &n, sizeof slots / sizeof slots[0]);
            if (!n)
                break;
            slot s = slots[rnd((unsigned)n)];
            bool drop = rnd(5) == 0;
            if (s.key) {
                if (drop)
                    json_object_del(s.parent, s.key);
                else
                    json_object_set_new(s.parent, s.key, random_value());
            } else if (drop) {
                json_array_remove(s.parent, s.index);
            } else {
                json_array_set_new(s.parent, s.index, random_value());
            }
        }
        char *text = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_non_null(text);
        compare(text, strlen(text), what);
        free(text);
        json_decref(copy);
    }
}

/* Every JSON document of a file, as the file reader splits them. */
static void file_documents(const char *path, bool mutate)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *data = malloc((size_t)size + 1);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    data[size] = '\0';
    size_t pos = 0;
    while (pos < (size_t)size) {
        while (pos < (size_t)size && strchr(" \t\r\n", data[pos]))
            pos++;
        if (pos >= (size_t)size)
            break;
        json_error_t jerr;
        json_t *root = json_loadb(data + pos, (size_t)size - pos, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!root) {
            /* the rest as one document: both fail the same way */
            compare(data + pos, (size_t)size - pos, path);
            break;
        }
        size_t used = jerr.position;
        compare(data + pos, used, path);
        if (mutate)
            mutate_and_compare(root, path);
        json_decref(root);
        pos += used;
    }
    free(data);
}

static void dir_documents(const char *dir, bool mutate)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        file_documents(path, mutate);
    }
    closedir(d);
}

static void test_every_document_the_same(void **state)
{
    (void)state;
    dir_documents(DP_TEST_DATA_DIR "/otlp", true);
    dir_documents(DP_TEST_DATA_DIR "/report", true);
    dir_documents(DP_TEST_DATA_DIR "/conformance", true);
    dir_documents(DP_TEST_DATA_DIR "/../fuzz/corpus/otlp_json", true);
    printf("documents %lu, accepted %lu, spans compared %lu\n", documents, accepted,
           spans_compared);
    assert_true(spans_compared > 400);
}

/* Oddities the direct reader accepted, written out. */
static void test_oddities(void **state)
{
    (void)state;
    static const char *const docs[] = {
        /* malformed parts the profile does not read */
        "{\"resourceSpans\":[{\"resource\":{\"droppedAttributesCount\":\"x\",\"entityRefs\":5},"
        "\"schemaUrl\":7,\"scopeSpans\":[{\"scope\":{\"name\":\"s\",\"version\":[],"
        "\"attributes\":{}},\"schemaUrl\":[],\"spans\":[{\"traceId\":"
        "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\",\"traceState\":5,"
        "\"flags\":-1,\"droppedAttributesCount\":1e40,\"events\":[5,{\"name\":3,\"timeUnixNano\":"
        "\"-1\",\"attributes\":[7,{\"key\":\"k\",\"value\":5}]}],\"droppedEventsCount\":\"\","
        "\"links\":[{\"traceId\":\"11111111111111111111111111111111\",\"spanId\":"
        "\"2222222222222222\",\"attributes\":\"x\",\"flags\":\"y\"}],"
        "\"attributes\":[{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[1,{\"key\":2},"
        "{\"key\":\"deep\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"x\",\"value\":"
        "{\"intValue\":\"no\"}}]}}}]}}}]}]}]}]}",
        /* a scope that is not an object; scope spans without spans */
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":5},{\"scope\":{\"name\":5}},"
        "{\"scope\":\"x\",\"spans\":[{\"traceId\":\"11111111111111111111111111111111\","
        "\"spanId\":\"2222222222222222\"}]}]}]}",
        /* every AnyValue kind, enums as numbers, snake_case, values as strings */
        "{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[{\"trace_id\":"
        "\"11111111111111111111111111111111\",\"span_id\":\"2222222222222222\","
        "\"parent_span_id\":\"\",\"kind\":-3,\"start_time_unix_nano\":5.0,"
        "\"end_time_unix_nano\":\"6\",\"status\":{\"code\":9,\"message\":\"\"},\"attributes\":["
        "{\"key\":\"s\",\"value\":{\"string_value\":\"\"}},{\"key\":\"b\",\"value\":"
        "{\"bool_value\":false}},{\"key\":\"i\",\"value\":{\"int_value\":0}},{\"value\":"
        "{\"double_value\":\"-0\"}},{\"key\":\"y\",\"value\":{\"bytes_value\":\"-_8=\"}},"
        "{\"key\":\"e\"},{\"key\":\"a\",\"value\":{\"array_value\":{}}},"
        "{\"key\":\"two\",\"value\":{\"intValue\":1,\"stringValue\":\"wins\"}}]}]}]}]}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        compare(docs[i], strlen(docs[i]), "oddity");
    /* arrays nested up to what the protobuf reader takes (29 in a span attribute) */
    for (int depth = 1; depth <= 29; depth++) {
        char doc[8192];
        size_t n = 0;
        n +=
            (size_t)snprintf(doc + n, sizeof doc - n,
                             "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                             "\"11111111111111111111111111111111\",\"spanId\":\"2222222222222222\","
                             "\"attributes\":[{\"key\":\"d\",\"value\":");
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(doc + n, sizeof doc - n, "{\"arrayValue\":{\"values\":[");
        n += (size_t)snprintf(doc + n, sizeof doc - n, "{\"intValue\":1}");
        for (int i = 0; i < depth; i++)
            n += (size_t)snprintf(doc + n, sizeof doc - n, "]}}");
        n += (size_t)snprintf(doc + n, sizeof doc - n, "}]}]}]}]}");
        compare(doc, n, "nested arrays");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_document_the_same),
        cmocka_unit_test(test_oddities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

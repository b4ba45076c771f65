/*
 * Tests for run enrichment: the request written for the upstream holds every
 * span once, under its own resource and scope, byte-exact, followed by the
 * profile's attributes and events; unknown fields survive; a second pass
 * (dagprof behind dagprof) adds nothing twice; without a profile the spans
 * pass through unchanged.
 *
 * Runs come from real encoded requests (generated protobuf-c code) through
 * the decoder and the trace table, or are written by hand where the point is
 * an exact profile. A run too large for one request is cut into several
 * (sizes worked out by hand). A last test prints enrichment and decode cost
 * per span.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "decode.h"
#include "enrich.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "profile.h"
#include "profile_types.h"
#include "trace_table.h"

typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceRequest;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;

#define BASE_NS 1700000000000000000ULL
#define MS(x) (BASE_NS + (uint64_t)(x)*1000000ULL)

static const uint8_t TRACE_ID[16] = {0x5e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* Unknown fields, encoded by hand:
 * field 99, length-delimited: tag (99 << 3 | 2) = 794 = 0x9a 0x06, length 12, "keep-me-root"
 * field 98, length-delimited: tag (98 << 3 | 2) = 786 = 0x92 0x06, length 12, "keep-me-node"
 * field 77, length-delimited: tag (77 << 3 | 2) = 618 = 0xea 0x04, length 16, "keep-me-resource" */
static const uint8_t UNKNOWN_ROOT[] = "\x9a\x06\x0c"
                                      "keep-me-root";
static const uint8_t UNKNOWN_NODE[] = "\x92\x06\x0c"
                                      "keep-me-node";
static const uint8_t UNKNOWN_RESOURCE[] = "\xea\x04\x10"
                                          "keep-me-resource";

/* ---- building requests with the generated code ---------------------------- */

/* Storage for one request under construction (the generated structs point
 * into it); static because it is large. */
typedef struct fixture {
    Span spans[256];
    uint8_t span_ids[256][8];
    KeyValue kvs[256][6];
    AnyValue values[256][6];
    KeyValue *kv_ptrs[256][6];
    Span *span_ptrs[256];
    ProtobufCMessageUnknownField unknown[4];
} fixture;

static fixture fx;

static void span_id_of(int n, uint8_t out[8])
{
    memset(out, 0, 8);
    out[6] = (uint8_t)(n >> 8);
    out[7] = (uint8_t)n;
}

static Span *make_span(int n, int parent, const char *name, uint64_t start_ms, uint64_t end_ms)
{
    static uint8_t parent_ids[256][8];
    Span *s = &fx.spans[n];
    opentelemetry__proto__trace__v1__span__init(s);
    span_id_of(n, fx.span_ids[n]);
    s->trace_id.data = (uint8_t *)TRACE_ID;
    s->trace_id.len = 16;
    s->span_id.data = fx.span_ids[n];
    s->span_id.len = 8;
    if (parent >= 0) {
        span_id_of(parent, parent_ids[n]);
        s->parent_span_id.data = parent_ids[n];
        s->parent_span_id.len = 8;
    }
    s->name = (char *)name;
    s->start_time_unix_nano = MS(start_ms);
    s->end_time_unix_nano = MS(end_ms);
    s->attributes = fx.kv_ptrs[n];
    return s;
}

static AnyValue *add_kv(int n, const char *key)
{
    Span *s = &fx.spans[n];
    size_t i = s->n_attributes++;
    assert_true(i < 6);
    KeyValue *kv = &fx.kvs[n][i];
    AnyValue *v = &fx.values[n][i];
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    kv->value = v;
    fx.kv_ptrs[n][i] = kv;
    return v;
}

static void add_str(int n, const char *key, const char *value)
{
    AnyValue *v = add_kv(n, key);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)value;
}

static void add_i64(int n, const char *key, int64_t value)
{
    AnyValue *v = add_kv(n, key);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v->int_value = value;
}

static void add_f64(int n, const char *key, double value)
{
    AnyValue *v = add_kv(n, key);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    v->double_value = value;
}

static void set_unknown(ProtobufCMessage *m, ProtobufCMessageUnknownField *u, uint32_t tag,
                        const uint8_t *encoded, size_t encoded_len, size_t tag_len)
{
    /* protobuf-c keeps an unknown field's bytes after the tag, length included */
    u->tag = tag;
    u->wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    u->data = (uint8_t *)encoded + tag_len;
    u->len = encoded_len - tag_len;
    m->n_unknown_fields = 1;
    m->unknown_fields = u;
}

static uint8_t *pack_request(TraceRequest *req, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(&req->base);
    uint8_t *p = malloc(*len + 1);
    assert_non_null(p);
    assert_int_equal(protobuf_c_message_pack(&req->base, p), *len);
    return p;
}

/*
 * The main request. Two resources, three scopes:
 *   resource A (service.name=svc-a, unknown field 77)
 *     scope sdk-one: root "run" (span 1), 0..100 ms, unknown field 99
 *     scope sdk-two v2.0: node a "plan" (span 2), 10..40 ms, 1000 in / 200 out
 *                         tokens, cost $0.25 on the span, unknown field 98
 *   resource B (service.name=svc-b, schema URL), scope sdk-three (schema URL)
 *     node b "act" (span 3), 60..100 ms, depends on a
 *     tool call "search" (span 4) inside b, 65..90 ms
 */
static uint8_t *main_request(size_t *len)
{
    static KeyValue res_kv[2];
    static AnyValue res_v[2];
    static KeyValue *res_kvp[2][1];
    static Resource res[2];
    static Scope scopes[3];
    static ScopeSpans ss[3];
    static Span *ss_spans[3][2];
    static ScopeSpans *rs_ss[2][2];
    static ResourceSpans rs[2];
    static ResourceSpans *req_rs[2];
    static TraceRequest req;
    static const char *service[2] = {"svc-a", "svc-b"};

    memset(&fx, 0, sizeof(fx));
    for (int r = 0; r < 2; r++) {
        opentelemetry__proto__resource__v1__resource__init(&res[r]);
        opentelemetry__proto__common__v1__key_value__init(&res_kv[r]);
        opentelemetry__proto__common__v1__any_value__init(&res_v[r]);
        res_v[r].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        res_v[r].string_value = (char *)service[r];
        res_kv[r].key = "service.name";
        res_kv[r].value = &res_v[r];
        res_kvp[r][0] = &res_kv[r];
        res[r].n_attributes = 1;
        res[r].attributes = res_kvp[r];
    }
    set_unknown(&res[0].base, &fx.unknown[0], 77, UNKNOWN_RESOURCE, sizeof(UNKNOWN_RESOURCE) - 1,
                2);

    const char *scope_names[3] = {"sdk-one", "sdk-two", "sdk-three"};
    for (int k = 0; k < 3; k++) {
        opentelemetry__proto__common__v1__instrumentation_scope__init(&scopes[k]);
        scopes[k].name = (char *)scope_names[k];
        opentelemetry__proto__trace__v1__scope_spans__init(&ss[k]);
        ss[k].scope = &scopes[k];
        ss[k].spans = ss_spans[k];
    }
    scopes[1].version = "2.0";
    ss[2].schema_url = "https://example.com/scope-schema";

    make_span(1, -1, "run", 0, 100);
    add_str(1, "dag.id", "demo");
    set_unknown(&fx.spans[1].base, &fx.unknown[1], 99, UNKNOWN_ROOT, sizeof(UNKNOWN_ROOT) - 1, 2);
    make_span(2, 1, "plan", 10, 40);
    add_str(2, "dag.node.id", "a");
    add_i64(2, "gen_ai.usage.input_tokens", 1000);
    add_i64(2, "gen_ai.usage.output_tokens", 200);
    add_f64(2, "gen_ai.usage.cost", 0.25);
    set_unknown(&fx.spans[2].base, &fx.unknown[2], 98, UNKNOWN_NODE, sizeof(UNKNOWN_NODE) - 1, 2);
    make_span(3, 1, "act", 60, 100);
    add_str(3, "dag.node.id", "b");
    add_str(3, "dag.depends_on", "a");
    make_span(4, 3, "search", 65, 90);
    add_str(4, "gen_ai.operation.name", "execute_tool");
    add_str(4, "gen_ai.tool.name", "search");

    ss_spans[0][0] = &fx.spans[1];
    ss[0].n_spans = 1;
    ss_spans[1][0] = &fx.spans[2];
    ss[1].n_spans = 1;
    ss_spans[2][0] = &fx.spans[3];
    ss_spans[2][1] = &fx.spans[4];
    ss[2].n_spans = 2;

    for (int r = 0; r < 2; r++) {
        opentelemetry__proto__trace__v1__resource_spans__init(&rs[r]);
        rs[r].resource = &res[r];
        rs[r].scope_spans = rs_ss[r];
        req_rs[r] = &rs[r];
    }
    rs_ss[0][0] = &ss[0];
    rs_ss[0][1] = &ss[1];
    rs[0].n_scope_spans = 2;
    rs_ss[1][0] = &ss[2];
    rs[1].n_scope_spans = 1;
    rs[1].schema_url = "https://opentelemetry.io/schemas/1.21.0";

    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.n_resource_spans = 2;
    req.resource_spans = req_rs;
    return pack_request(&req, len);
}

/* ---- request → run record → profile --------------------------------------- */

typedef struct run_ctx {
    dp_trace_table *table;
    dp_run_record *run;
    dp_run_profile *profile;
} run_ctx;

static void run_from_request(const uint8_t *data, size_t len, run_ctx *rc)
{
    dp_arena arena;
    dp_otlp_trace_batch b;
    char err[256];
    dp_arena_init(&arena, 0, 0);
    assert_int_equal(dp_otlp_trace_batch_parse(data, len, &arena, &b, err, sizeof(err)),
                     DP_OTLP_OK);
    assert_int_equal(b.rejected, 0);

    dp_trace_table_options o;
    dp_trace_table_options_defaults(&o);
    rc->table = dp_trace_table_create(&o);
    assert_non_null(rc->table);
    dp_span_batch tb = dp_otlp_trace_batch_spans(&b);
    assert_int_equal(dp_trace_table_insert(rc->table, &tb), DP_TRACE_TABLE_OK);
    dp_arena_free(&arena);
    assert_int_equal(dp_trace_table_finalise_all(rc->table), 1);
    assert_int_equal(dp_trace_table_take(rc->table, 0, &rc->run), DP_TRACE_TABLE_OK);

    /* decode the stored spans for the profiler, as the daemon does */
    dp_arena_init(&arena, 0, 0);
    dp_span *decoded = calloc(rc->run->span_count, sizeof(*decoded));
    assert_non_null(decoded);
    for (size_t i = 0; i < rc->run->span_count; i++) {
        const dp_span_ref *s = &rc->run->spans[i];
        assert_int_equal(dp_otlp_span_decode(s->raw, rc->run->scopes[s->scope_index].resource_raw,
                                             &arena, &decoded[i]),
                         DP_OTLP_OK);
    }
    dp_profile_config cfg;
    dp_profile_config_defaults(&cfg);
    assert_int_equal(dp_profile_build(decoded, rc->run->span_count, &cfg, &rc->profile), 0);
    free(decoded);
    dp_arena_free(&arena);
}

static void run_ctx_free(run_ctx *rc)
{
    dp_run_profile_destroy(rc->profile);
    dp_trace_table_release(rc->table, rc->run);
    dp_trace_table_destroy(rc->table);
}

/* ---- reading the output on the wire --------------------------------------- */

static uint64_t get_varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        assert_true(*p < end);
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    fail_msg("overlong varint");
    return 0;
}

/* The payloads of the top-level length-delimited fields `field` of a message. */
static size_t len_fields(dp_str msg, uint32_t field, dp_str *out, size_t max)
{
    const uint8_t *p = (const uint8_t *)msg.ptr, *end = p + msg.len;
    size_t n = 0;
    while (p < end) {
        uint64_t tag = get_varint(&p, end);
        switch (tag & 7) {
        case 0:
            get_varint(&p, end);
            break;
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        case 2: {
            uint64_t l = get_varint(&p, end);
            assert_true(l <= (uint64_t)(end - p));
            if ((tag >> 3) == field) {
                assert_true(n < max);
                out[n++] = (dp_str){(const char *)p, (size_t)l};
            }
            p += l;
            break;
        }
        default:
            fail_msg("unexpected wire type %d", (int)(tag & 7));
        }
        assert_true(p <= end);
    }
    return n;
}

static bool contains(dp_str hay, const uint8_t *needle, size_t n)
{
    for (size_t i = 0; i + n <= hay.len; i++)
        if (memcmp(hay.ptr + i, needle, n) == 0)
            return true;
    return false;
}

/* The original span of the run that `out_span` starts with; NULL when none. */
static const dp_span_ref *original_of(const dp_run_record *run, dp_str out_span)
{
    const dp_span_ref *found = NULL;
    for (size_t i = 0; i < run->span_count; i++) {
        dp_str raw = run->spans[i].raw;
        if (out_span.len >= raw.len && memcmp(out_span.ptr, raw.ptr, raw.len) == 0) {
            /* the longest original wins; distinct spans never prefix each other here */
            if (!found || raw.len > found->raw.len)
                found = &run->spans[i];
        }
    }
    return found;
}

/* The bytes appended after the original span, decoded as a Span. */
static Span *additions_of(const dp_run_record *run, dp_str out_span, const uint8_t span_id[8])
{
    const dp_span_ref *orig = original_of(run, out_span);
    assert_non_null(orig);
    assert_memory_equal(orig->span_id, span_id, 8);
    Span *s = opentelemetry__proto__trace__v1__span__unpack(
        NULL, out_span.len - orig->raw.len, (const uint8_t *)out_span.ptr + orig->raw.len);
    assert_non_null(s);
    return s;
}

static const AnyValue *attr_in(KeyValue **kvs, size_t n, const char *key)
{
    const AnyValue *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kvs[i]->key, key) == 0) {
            assert_null(found); /* every key at most once */
            found = kvs[i]->value;
        }
    }
    return found;
}

static void want_double(KeyValue **kvs, size_t n, const char *key, double want)
{
    const AnyValue *v = attr_in(kvs, n, key);
    if (!v)
        fail_msg("missing %s", key);
    assert_int_equal(v->value_case,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE);
    assert_float_equal(v->double_value, want, 1e-9);
}

static void want_int(KeyValue **kvs, size_t n, const char *key, int64_t want)
{
    const AnyValue *v = attr_in(kvs, n, key);
    if (!v)
        fail_msg("missing %s", key);
    assert_int_equal(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE);
    assert_int_equal(v->int_value, want);
}

static void want_bool(KeyValue **kvs, size_t n, const char *key, bool want)
{
    const AnyValue *v = attr_in(kvs, n, key);
    if (!v)
        fail_msg("missing %s", key);
    assert_int_equal(v->value_case, OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE);
    assert_int_equal(!!v->bool_value, want);
}

static void want_string(KeyValue **kvs, size_t n, const char *key, const char *want)
{
    const AnyValue *v = attr_in(kvs, n, key);
    if (!v)
        fail_msg("missing %s", key);
    assert_int_equal(v->value_case,
                     OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE);
    assert_string_equal(v->string_value, want);
}

static dp_buf enrich_to_buf(const dp_run_record *run, const dp_run_profile *profile)
{
    dp_buf out;
    dp_buf_init(&out, 0);
    assert_int_equal(dp_enrich_run(run, profile, &out), 0);
    return out;
}

/* ---- (a), (b), (c): layout, byte-exact spans, values, unknown fields ------- */

static void test_layout_and_values(void **state)
{
    (void)state;
    size_t len;
    uint8_t *req_bytes = main_request(&len);
    run_ctx rc;
    run_from_request(req_bytes, len, &rc);
    assert_int_equal(rc.run->span_count, 4);
    assert_int_equal(rc.run->scope_count, 3);
    assert_int_equal(rc.profile->node_count, 2);

    dp_buf out = enrich_to_buf(rc.run, rc.profile);

    /* (a) protobuf-c sees a valid request: every span once, under its own resource and scope */
    TraceRequest *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, out.len, (const uint8_t *)out.data);
    assert_non_null(req);
    assert_int_equal(req->n_resource_spans, 2);
    int seen[5] = {0};
    for (size_t r = 0; r < req->n_resource_spans; r++) {
        const ResourceSpans *rs = req->resource_spans[r];
        assert_non_null(rs->resource);
        assert_int_equal(rs->resource->n_attributes, 1);
        const char *svc = rs->resource->attributes[0]->value->string_value;
        bool is_a = strcmp(svc, "svc-a") == 0;
        assert_true(is_a || strcmp(svc, "svc-b") == 0);
        assert_string_equal(rs->schema_url, is_a ? "" : "https://opentelemetry.io/schemas/1.21.0");
        assert_int_equal(rs->n_scope_spans, is_a ? 2 : 1);
        for (size_t k = 0; k < rs->n_scope_spans; k++) {
            const ScopeSpans *ss = rs->scope_spans[k];
            assert_non_null(ss->scope);
            for (size_t i = 0; i < ss->n_spans; i++) {
                const Span *s = ss->spans[i];
                assert_int_equal(s->span_id.len, 8);
                int n = s->span_id.data[7];
                assert_true(n >= 1 && n <= 4);
                seen[n]++;
                /* spans 1, 2 under svc-a's sdk-one and sdk-two; 3, 4 under svc-b's sdk-three */
                const char *want_scope = n == 1 ? "sdk-one" : n == 2 ? "sdk-two" : "sdk-three";
                assert_string_equal(ss->scope->name, want_scope);
                assert_true(is_a == (n <= 2));
                if (n >= 3)
                    assert_string_equal(ss->schema_url, "https://example.com/scope-schema");
                if (n == 2)
                    assert_string_equal(ss->scope->version, "2.0");
            }
        }
    }
    for (int n = 1; n <= 4; n++)
        assert_int_equal(seen[n], 1);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);

    /* (b) on the wire: each output span starts with the original bytes */
    dp_str rss[4], sss[4], spans[4];
    size_t nrs = len_fields((dp_str){out.data, out.len}, 1, rss, 4);
    assert_int_equal(nrs, 2);
    size_t total_spans = 0;
    for (size_t r = 0; r < nrs; r++) {
        dp_str res[2];
        assert_int_equal(len_fields(rss[r], 1, res, 2), 1);
        size_t nss = len_fields(rss[r], 2, sss, 4);
        for (size_t k = 0; k < nss; k++) {
            size_t nsp = len_fields(sss[k], 2, spans, 4);
            for (size_t i = 0; i < nsp; i++, total_spans++) {
                dp_str sp = spans[i];
                const dp_span_ref *orig = original_of(rc.run, sp);
                assert_non_null(orig);
                int n = orig->span_id[7];
                /* (c) unknown fields are inside the original bytes, unchanged */
                if (n == 1)
                    assert_true(contains(sp, UNKNOWN_ROOT, sizeof(UNKNOWN_ROOT) - 1));
                if (n == 2)
                    assert_true(contains(sp, UNKNOWN_NODE, sizeof(UNKNOWN_NODE) - 1));
                /* the resource keeps its unknown field: svc-a's is the one holding sdk-one/two */
                if (n <= 2)
                    assert_true(contains(res[0], UNKNOWN_RESOURCE, sizeof(UNKNOWN_RESOURCE) - 1));
                else
                    assert_false(contains(res[0], UNKNOWN_RESOURCE, sizeof(UNKNOWN_RESOURCE) - 1));

                Span *add = additions_of(rc.run, sp, orig->span_id);
                /* nothing but attributes and events was appended */
                assert_int_equal(add->span_id.len, 0);
                assert_int_equal(add->n_links, 0);
                assert_null(add->status);
                assert_int_equal(add->base.n_unknown_fields, 0);
                KeyValue **kv = add->attributes;
                size_t nkv = add->n_attributes;
                if (n == 1) {
                    /* root: wall = 100 - 0; path a -> b from a's ready (0) to b's end (100);
                     * execution 30 + 40 = 70, parallelism 70 / 100; cost $0.25 all known;
                     * tokens 1000 / 200; one finding (expensive_node on a) */
                    assert_int_equal(nkv, 8);
                    want_double(kv, nkv, "dag.run.wall_ms", 100.0);
                    want_double(kv, nkv, "dag.run.critical_path_ms", 100.0);
                    want_double(kv, nkv, "dag.run.parallelism", 0.7);
                    want_double(kv, nkv, "dag.run.cost_usd", 0.25);
                    want_bool(kv, nkv, "dag.run.cost_complete", true);
                    want_int(kv, nkv, "dag.run.tokens.input", 1000);
                    want_int(kv, nkv, "dag.run.tokens.output", 200);
                    want_int(kv, nkv, "dag.run.bottleneck_count", 1);

                    /* expensive_node: $0.25 > $0.10, not > 5 x 0.10: medium; 0.25 / 0.25 = 100 %.
                     * No parallelize: the dependency of b on a is declared. */
                    assert_int_equal(add->n_events, 1);
                    const Event *e = add->events[0];
                    assert_string_equal(e->name, "dag.bottleneck");
                    assert_int_equal(e->time_unix_nano, MS(100));
                    assert_int_equal(e->n_attributes, 6);
                    want_string(e->attributes, 6, "type", "expensive_node");
                    want_string(e->attributes, 6, "node", "a");
                    want_string(e->attributes, 6, "severity", "medium");
                    want_double(e->attributes, 6, "impact_pct", 100.0);
                    want_string(e->attributes, 6, "details", "costs $0.2500 (threshold $0.1000)");
                    want_string(e->attributes, 6, "suggestion",
                                "Use a cheaper model for this node, cache its results or cut "
                                "its context");
                } else if (n == 2) {
                    /* node a: ready = run start 0, starts at 10: wait 10; runs 10..40: 30;
                     * cost $0.25 from the span; on the path; one finding */
                    assert_int_equal(nkv, 5);
                    want_double(kv, nkv, "dag.node.wait_ms", 10.0);
                    want_double(kv, nkv, "dag.node.execution_ms", 30.0);
                    want_double(kv, nkv, "dag.node.cost_usd", 0.25);
                    want_bool(kv, nkv, "dag.node.on_critical_path", true);
                    const AnyValue *b = attr_in(kv, nkv, "dag.node.bottlenecks");
                    assert_non_null(b);
                    assert_int_equal(
                        b->value_case,
                        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE);
                    assert_int_equal(b->array_value->n_values, 1);
                    assert_string_equal(b->array_value->values[0]->string_value, "expensive_node");
                    assert_int_equal(add->n_events, 0);
                } else if (n == 3) {
                    /* node b: ready = a's end 40, starts at 60: wait 20; runs 60..100: 40;
                     * no priced call: $0 known; on the path; no finding: no list */
                    assert_int_equal(nkv, 4);
                    want_double(kv, nkv, "dag.node.wait_ms", 20.0);
                    want_double(kv, nkv, "dag.node.execution_ms", 40.0);
                    want_double(kv, nkv, "dag.node.cost_usd", 0.0);
                    want_bool(kv, nkv, "dag.node.on_critical_path", true);
                    assert_int_equal(add->n_events, 0);
                } else {
                    /* the tool call is no node: forwarded as it came */
                    assert_int_equal(sp.len, orig->raw.len);
                    assert_int_equal(nkv, 0);
                    assert_int_equal(add->n_events, 0);
                }
                opentelemetry__proto__trace__v1__span__free_unpacked(add, NULL);
            }
        }
    }
    assert_int_equal(total_spans, 4);

    dp_buf_free(&out);
    run_ctx_free(&rc);
    free(req_bytes);
}

/* ---- (d) chaining ----------------------------------------------------------- */

static size_t count_key(const Span *s, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_attributes; i++)
        n += strcmp(s->attributes[i]->key, key) == 0;
    return n;
}

static void test_chaining_adds_nothing_twice(void **state)
{
    (void)state;
    size_t len;
    uint8_t *req_bytes = main_request(&len);
    run_ctx first, second;
    run_from_request(req_bytes, len, &first);
    dp_buf once = enrich_to_buf(first.run, first.profile);

    /* a second dagprof receives the first one's output */
    run_from_request((const uint8_t *)once.data, once.len, &second);
    dp_buf twice = enrich_to_buf(second.run, second.profile);

    /* every key and event is there already: the second pass writes the same bytes */
    assert_int_equal(twice.len, once.len);
    assert_memory_equal(twice.data, once.data, once.len);

    TraceRequest *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, twice.len, (const uint8_t *)twice.data);
    assert_non_null(req);
    static const char *keys[] = {
        "dag.node.wait_ms",          "dag.node.execution_ms", "dag.node.cost_usd",
        "dag.node.on_critical_path", "dag.node.bottlenecks",  "dag.run.wall_ms",
        "dag.run.critical_path_ms",  "dag.run.parallelism",   "dag.run.cost_usd",
        "dag.run.cost_complete",     "dag.run.tokens.input",  "dag.run.tokens.output",
        "dag.run.bottleneck_count"};
    size_t root_events = 0;
    for (size_t r = 0; r < req->n_resource_spans; r++)
        for (size_t k = 0; k < req->resource_spans[r]->n_scope_spans; k++)
            for (size_t i = 0; i < req->resource_spans[r]->scope_spans[k]->n_spans; i++) {
                const Span *s = req->resource_spans[r]->scope_spans[k]->spans[i];
                for (size_t q = 0; q < sizeof(keys) / sizeof(keys[0]); q++)
                    assert_true(count_key(s, keys[q]) <= 1);
                root_events += s->n_events;
            }
    /* one bottleneck, as after the first pass */
    assert_int_equal(root_events, 1);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);
    dp_buf_free(&once);
    dp_buf_free(&twice);
    run_ctx_free(&first);
    run_ctx_free(&second);
    free(req_bytes);
}

/* ---- (e) no profile: pure pass-through --------------------------------------- */

static void test_no_profile_passes_through(void **state)
{
    (void)state;
    size_t len;
    uint8_t *req_bytes = main_request(&len);
    run_ctx rc;
    run_from_request(req_bytes, len, &rc);
    dp_buf out = enrich_to_buf(rc.run, NULL);

    dp_str rss[4], sss[4], spans[4];
    size_t count = 0;
    size_t nrs = len_fields((dp_str){out.data, out.len}, 1, rss, 4);
    assert_int_equal(nrs, 2);
    for (size_t r = 0; r < nrs; r++) {
        size_t nss = len_fields(rss[r], 2, sss, 4);
        for (size_t k = 0; k < nss; k++) {
            size_t nsp = len_fields(sss[k], 2, spans, 4);
            for (size_t i = 0; i < nsp; i++, count++) {
                const dp_span_ref *orig = original_of(rc.run, spans[i]);
                assert_non_null(orig);
                assert_int_equal(spans[i].len, orig->raw.len);
            }
        }
    }
    assert_int_equal(count, 4);

    /* nothing added, nothing lost: the same byte count as the request the
     * SDK sent, whose layout (2 resources, 3 scopes, same order) it repeats */
    assert_int_equal(out.len, len);
    assert_memory_equal(out.data, req_bytes, len);
    dp_buf_free(&out);
    run_ctx_free(&rc);
    free(req_bytes);
}

/* ---- one run in several requests ------------------------------------------ */

/* Every request dp_enrich_run_split() handed over, copied. */
typedef struct split_out {
    dp_buf req[16];
    size_t spans[16];
    size_t count;
} split_out;

static int keep_request(void *arg, dp_buf *request, size_t span_count)
{
    split_out *o = arg;
    assert_true(o->count < 16);
    dp_buf_init(&o->req[o->count], 0);
    assert_int_equal(dp_buf_append(&o->req[o->count], request->data, request->len), 0);
    o->spans[o->count++] = span_count;
    return 0;
}

static void split_out_free(split_out *o)
{
    for (size_t i = 0; i < o->count; i++)
        dp_buf_free(&o->req[i]);
    o->count = 0;
}

/*
 * A hand-made run whose sizes are worked out by hand. One resource, bytes
 * 10 05 (dropped_attributes_count 5): its ResourceSpans.resource field is
 * 1 + 1 + 2 = 4 bytes. Two scopes, 0a 02 "s0" and 0a 02 "s1" (name): each
 * ScopeSpans.scope field is 1 + 1 + 4 = 6 bytes. Five spans, each 2a 60
 * and 96 name bytes (raw 98 bytes), so each ScopeSpans.spans entry is
 * 1 + 1 + 98 = 100 bytes. Spans 0, 2, 4 are in scope s0, spans 1, 3 in s1:
 * the request writes s0's spans (0, 2, 4) and then s1's (1, 3).
 *
 * ScopeSpans of n spans: 6 + 100n bytes, as a field 1 + varint + that:
 * n=1: 106 -> 108, n=2: 206 -> 209, n=3: 306 -> 309.
 * The whole run: ResourceSpans 4 + 309 + 209 = 522 -> request 1 + 2 + 522 = 525.
 */
typedef struct hand_run {
    uint8_t raw[5][98];
    dp_span_ref spans[5];
    dp_span_scope scopes[2];
    dp_run_record run;
} hand_run;

static void hand_run_init(hand_run *h)
{
    static const char resource[] = "\x10\x05";
    static const char scope0[] = "\x0a\x02s0", scope1[] = "\x0a\x02s1";
    memset(h, 0, sizeof(*h));
    for (int i = 0; i < 2; i++) {
        h->scopes[i].resource_raw = (dp_str){resource, 2};
        h->scopes[i].scope_raw = (dp_str){i ? scope1 : scope0, 4};
    }
    for (int i = 0; i < 5; i++) {
        h->raw[i][0] = 0x2a; /* Span.name, length-delimited */
        h->raw[i][1] = 96;
        memset(h->raw[i] + 2, 'a' + i, 96);
        h->spans[i].raw = (dp_str){(const char *)h->raw[i], 98};
        h->spans[i].span_id[7] = (uint8_t)(i + 1);
        h->spans[i].scope_index = (uint32_t)(i % 2);
    }
    memcpy(h->run.trace_id, TRACE_ID, 16);
    h->run.spans = h->spans;
    h->run.span_count = 5;
    h->run.scopes = h->scopes;
    h->run.scope_count = 2;
}

/* The span names' first letters of one request, in order, checking on the
 * way that it decodes and that each ResourceSpans/ScopeSpans has its
 * resource and scope. */
static void request_letters(const dp_buf *req, char *letters, size_t max)
{
    TraceRequest *r =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, req->len, (const uint8_t *)req->data);
    assert_non_null(r);
    size_t n = 0;
    for (size_t i = 0; i < r->n_resource_spans; i++) {
        ResourceSpans *rs = r->resource_spans[i];
        assert_non_null(rs->resource);
        assert_int_equal(rs->resource->dropped_attributes_count, 5);
        for (size_t k = 0; k < rs->n_scope_spans; k++) {
            ScopeSpans *ss = rs->scope_spans[k];
            assert_non_null(ss->scope);
            for (size_t j = 0; j < ss->n_spans; j++) {
                assert_true(n + 1 < max);
                /* s0 holds spans a, c, e; s1 holds b, d */
                char letter = ss->spans[j]->name[0];
                assert_string_equal(ss->scope->name, (letter - 'a') % 2 ? "s1" : "s0");
                letters[n++] = letter;
            }
        }
    }
    letters[n] = '\0';
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(r,
                                                                                            NULL);
}

static void test_split_fits_one_request(void **state)
{
    (void)state;
    hand_run h;
    hand_run_init(&h);
    split_out o = {.count = 0};
    char letters[8];
    /* 525 bytes (see hand_run) fit a limit of 525: one request */
    assert_int_equal(dp_enrich_run_split(&h.run, NULL, 525, keep_request, &o), 0);
    assert_int_equal(o.count, 1);
    assert_int_equal(o.req[0].len, 525);
    assert_int_equal(o.spans[0], 5);
    request_letters(&o.req[0], letters, sizeof(letters));
    assert_string_equal(letters, "acebd");
    /* the same bytes as dp_enrich_run() */
    dp_buf whole = enrich_to_buf(&h.run, NULL);
    assert_int_equal(whole.len, 525);
    assert_memory_equal(whole.data, o.req[0].data, 525);
    dp_buf_free(&whole);
    split_out_free(&o);
}

/* Split the hand run (its spans marked as in `dup`, when not NULL) at
 * `limit`: the requests must be `count`, of the sizes in `len` holding the
 * spans whose letters are in `letters`. */
static void check_split(size_t limit, size_t count, const size_t *len, const char *const *letters,
                        const bool *dup)
{
    hand_run h;
    hand_run_init(&h);
    h.run.duplicate = dup;
    for (size_t i = 0; dup && i < 5; i++)
        h.run.duplicate_count += dup[i];
    split_out o = {.count = 0};
    char got[8];
    assert_int_equal(dp_enrich_run_split(&h.run, NULL, limit, keep_request, &o), 0);
    assert_int_equal(o.count, count);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(o.req[i].len, len[i]);
        request_letters(&o.req[i], got, sizeof(got));
        assert_string_equal(got, letters[i]);
        assert_int_equal(o.spans[i], strlen(letters[i]));
    }
    split_out_free(&o);
}

static void test_split_boundaries(void **state)
{
    (void)state;
    /* Limit 524 (one under the whole run). Filling in write order:
     * a: 4 + 108 = 112 -> 114; c: 4 + 209 = 213 -> 216; e: 4 + 309 = 313 -> 316;
     * b (new ScopeSpans s1): 313 + 108 = 421 -> 424; d: 313 + 209 = 522 -> 525 > 524.
     * So "aceb" in 424 bytes, then "d" alone: 4 + 108 = 112 -> 114. */
    check_split(524, 2, (const size_t[]){424, 114}, (const char *const[]){"aceb", "d"}, NULL);

    /* Limit 250: a 114, c 216, e 316 > 250 -> "ac" (216). Then e: 114;
     * s0 closes (resource part 4 + 108 = 112); b: 112 + 108 = 220 -> 223;
     * d: 112 + 209 = 321 -> 324 > 250 -> "eb" (223). Then "d" (114). */
    check_split(250, 3, (const size_t[]){216, 223, 114}, (const char *const[]){"ac", "eb", "d"},
                NULL);

    /* Limit 100, under one span's request (114): each span alone, over the limit. */
    check_split(100, 5, (const size_t[]){114, 114, 114, 114, 114},
                (const char *const[]){"a", "c", "e", "b", "d"}, NULL);
}

/*
 * The hand run with spans c and d marked as copies of spans sent already (a
 * retried request): they are left out, whole or split. s0 then holds a and
 * e (ScopeSpans 6 + 200 = 206 -> 209), s1 holds b (108): ResourceSpans
 * 4 + 209 + 108 = 321 -> request 1 + 2 + 321 = 324. At 250: a 114, e 216,
 * b 213 + 108 = 321 -> 324 > 250, so "ae" (216), then "b" (114).
 */
static void test_duplicates_are_left_out(void **state)
{
    (void)state;
    const bool dup[5] = {false, false, true, true, false};
    check_split(0, 1, (const size_t[]){324}, (const char *const[]){"aeb"}, dup);
    check_split(250, 2, (const size_t[]){216, 114}, (const char *const[]){"ae", "b"}, dup);
    /* dp_enrich_run() leaves them out the same way */
    hand_run h;
    hand_run_init(&h);
    h.run.duplicate = dup;
    h.run.duplicate_count = 2;
    dp_buf whole = enrich_to_buf(&h.run, NULL);
    char got[8];
    assert_int_equal(whole.len, 324);
    request_letters(&whole, got, sizeof(got));
    assert_string_equal(got, "aeb");
    dp_buf_free(&whole);
}

/* The emit callback stops the split: its value comes back, nothing more is handed over. */
static int refuse_second(void *arg, dp_buf *request, size_t span_count)
{
    (void)request;
    (void)span_count;
    size_t *calls = arg;
    return ++*calls == 2 ? -42 : 0;
}

static void test_split_stops_when_told(void **state)
{
    (void)state;
    hand_run h;
    hand_run_init(&h);
    size_t calls = 0;
    assert_int_equal(dp_enrich_run_split(&h.run, NULL, 100, refuse_second, &calls), -42);
    assert_int_equal(calls, 2);
}

/*
 * An enriched run (the main request and its profile) cut at every limit
 * from a third of it up: every span arrives exactly once, byte for byte as
 * in the one-request encoding (its original bytes plus what the profile
 * added), and every request is within the limit unless it holds a single
 * span (the root, with its events, may alone pass a small limit).
 */
static void test_split_enriched_run(void **state)
{
    (void)state;
    size_t len;
    uint8_t *req_bytes = main_request(&len);
    run_ctx rc;
    run_from_request(req_bytes, len, &rc);
    dp_buf whole = enrich_to_buf(rc.run, rc.profile);
    dp_str want[8];
    size_t want_count = 0;
    dp_str rss[4], sss[4], spans[8];
    size_t nrs = len_fields((dp_str){whole.data, whole.len}, 1, rss, 4);
    for (size_t r = 0; r < nrs; r++) {
        size_t nss = len_fields(rss[r], 2, sss, 4);
        for (size_t k = 0; k < nss; k++)
            want_count += len_fields(sss[k], 2, want + want_count, 8 - want_count);
    }
    assert_int_equal(want_count, rc.run->span_count);

    for (size_t limit = whole.len / 3; limit <= whole.len; limit += 7) {
        split_out o = {.count = 0};
        assert_int_equal(dp_enrich_run_split(rc.run, rc.profile, limit, keep_request, &o), 0);
        size_t seen[8] = {0}, total = 0;
        for (size_t q = 0; q < o.count; q++) {
            assert_true(o.req[q].len <= limit || o.spans[q] == 1);
            size_t in_request = 0;
            nrs = len_fields((dp_str){o.req[q].data, o.req[q].len}, 1, rss, 4);
            for (size_t r = 0; r < nrs; r++) {
                size_t nss = len_fields(rss[r], 2, sss, 4);
                for (size_t k = 0; k < nss; k++) {
                    size_t nsp = len_fields(sss[k], 2, spans, 8);
                    for (size_t i = 0; i < nsp; i++) {
                        size_t w = 0;
                        while (w < want_count && !dp_str_eq(want[w], spans[i]))
                            w++;
                        assert_true(w < want_count);
                        seen[w]++;
                        in_request++;
                    }
                }
            }
            assert_int_equal(in_request, o.spans[q]);
            total += in_request;
        }
        assert_int_equal(total, want_count);
        for (size_t w = 0; w < want_count; w++)
            assert_int_equal(seen[w], 1);
        assert_true(o.count >= (limit < whole.len ? 2u : 1u));
        split_out_free(&o);
    }
    dp_buf_free(&whole);
    run_ctx_free(&rc);
    free(req_bytes);
}

/* ---- a hand-made profile: exact events, omissions, partial chaining -------- */

static uint8_t *pack_span(Span *s, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *p = malloc(*len + 1);
    assert_non_null(p);
    assert_int_equal(protobuf_c_message_pack(&s->base, p), *len);
    return p;
}

static void test_hand_profile(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    /* the root already carries one of our events (an upstream dagprof), the
     * node one of our keys; span 3 names a scope index the run does not have */
    make_span(1, -1, "run", 0, 50);
    static Event ev;
    static Event *evp[1];
    opentelemetry__proto__trace__v1__span__event__init(&ev);
    ev.name = "dag.bottleneck";
    ev.time_unix_nano = MS(1);
    evp[0] = &ev;
    fx.spans[1].n_events = 1;
    fx.spans[1].events = evp;
    make_span(2, 1, "step", 5, 45);
    add_str(2, "dag.node.id", "n\xff");
    add_f64(2, "dag.node.wait_ms", 999.0);
    make_span(3, 1, "stray", 1, 2);

    size_t l1, l2, l3;
    uint8_t *b1 = pack_span(&fx.spans[1], &l1);
    uint8_t *b2 = pack_span(&fx.spans[2], &l2);
    uint8_t *b3 = pack_span(&fx.spans[3], &l3);
    dp_span_ref spans[3] = {
        {.raw = {(const char *)b1, l1}, .scope_index = 0, .end_ns = MS(50)},
        {.raw = {(const char *)b2, l2}, .scope_index = 0, .end_ns = MS(45), .has_parent = true},
        {.raw = {(const char *)b3, l3}, .scope_index = 7, .end_ns = MS(2), .has_parent = true},
    };
    for (int i = 0; i < 3; i++)
        span_id_of(i + 1, spans[i].span_id);
    /* resource bytes: field 1 (attributes) left empty is fine; any bytes pass through */
    static const char resource[] = "\x0a\x00";
    dp_span_scope scope = {{resource, 2}, DP_STR_NULL, DP_STR_NULL, DP_STR_NULL};
    dp_run_record run = {
        .spans = spans, .span_count = 3, .scopes = &scope, .scope_count = 1, .has_root = true};

    dp_node_profile node;
    memset(&node, 0, sizeof(node));
    node.id = "n\xff"; /* not UTF-8: written as "n?" */
    span_id_of(2, node.span_id);
    node.wait_ms = 5;
    node.execution_ms = 40;
    node.cost_known = false;
    node.on_critical_path = false;
    dp_bottleneck b[2];
    memset(b, 0, sizeof(b));
    b[0].type = DP_BOTTLENECK_SLOW_NODE;
    b[0].node = 0;
    b[0].severity = DP_SEVERITY_HIGH;
    b[0].impact_pct = 80;
    strcpy(b[0].details, "slow");
    strcpy(b[0].suggestion, "split it");
    b[1].type = DP_BOTTLENECK_BUDGET_EXCEEDED;
    b[1].node = -1;
    b[1].severity = DP_SEVERITY_LOW;
    b[1].impact_pct = 5;
    dp_recommendation rec;
    memset(&rec, 0, sizeof(rec));
    rec.type = DP_REC_CACHE;
    rec.priority = DP_SEVERITY_HIGH;
    rec.savings_time_ms = 12.5;
    rec.savings_tokens = 300;
    rec.savings_cost_known = false;
    strcpy(rec.description, "cache it");
    strcpy(rec.implementation, "use a cache");

    dp_run_profile p;
    memset(&p, 0, sizeof(p));
    p.has_root = true;
    span_id_of(1, p.root_span_id);
    p.wall_ms = 50;
    p.critical_path_ms = 45;
    p.parallelism = 0.8;
    p.cost_any_known = false;
    p.tokens.input = 7;
    p.tokens.output = 3;
    p.nodes = &node;
    p.node_count = 1;
    p.bottlenecks = b;
    p.bottleneck_count = 2;
    p.bottlenecks_omitted = 3;
    p.recommendations = &rec;
    p.recommendation_count = 1;

    dp_buf out = enrich_to_buf(&run, &p);
    TraceRequest *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, out.len, (const uint8_t *)out.data);
    assert_non_null(req);
    /* the stray span gets a ResourceSpans of its own, with no resource and no scope */
    assert_int_equal(req->n_resource_spans, 2);
    assert_non_null(req->resource_spans[0]->resource);
    assert_null(req->resource_spans[1]->resource);
    assert_int_equal(req->resource_spans[1]->n_scope_spans, 1);
    assert_null(req->resource_spans[1]->scope_spans[0]->scope);
    assert_int_equal(req->resource_spans[1]->scope_spans[0]->n_spans, 1);
    assert_int_equal(req->resource_spans[1]->scope_spans[0]->spans[0]->span_id.data[7], 3);
    const ScopeSpans *ss = req->resource_spans[0]->scope_spans[0];
    assert_int_equal(req->resource_spans[0]->n_scope_spans, 1);
    assert_null(ss->scope); /* empty scope bytes: field omitted */
    assert_int_equal(ss->n_spans, 2);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                            NULL);

    dp_str rss[2], sss[2], sp[2];
    assert_int_equal(len_fields((dp_str){out.data, out.len}, 1, rss, 2), 2);
    assert_int_equal(len_fields(rss[0], 2, sss, 2), 1);
    assert_int_equal(len_fields(sss[0], 2, sp, 2), 2);

    /* root: no cost known -> no cost keys; 2 kept + 3 omitted findings = 5;
     * no bottleneck event (one is there already), one recommendation event */
    Span *add = additions_of(&run, sp[0], spans[0].span_id);
    assert_int_equal(add->n_attributes, 6);
    want_double(add->attributes, 6, "dag.run.wall_ms", 50);
    want_double(add->attributes, 6, "dag.run.critical_path_ms", 45);
    want_double(add->attributes, 6, "dag.run.parallelism", 0.8);
    want_int(add->attributes, 6, "dag.run.tokens.input", 7);
    want_int(add->attributes, 6, "dag.run.tokens.output", 3);
    want_int(add->attributes, 6, "dag.run.bottleneck_count", 5);
    assert_int_equal(add->n_events, 1);
    const Event *e = add->events[0];
    assert_string_equal(e->name, "dag.recommendation");
    assert_int_equal(e->time_unix_nano, MS(50));
    /* savings.cost_usd omitted: unknown */
    assert_int_equal(e->n_attributes, 6);
    want_string(e->attributes, 6, "type", "cache");
    want_string(e->attributes, 6, "priority", "high");
    want_double(e->attributes, 6, "savings.time_ms", 12.5);
    want_int(e->attributes, 6, "savings.tokens", 300);
    want_string(e->attributes, 6, "description", "cache it");
    want_string(e->attributes, 6, "implementation", "use a cache");
    opentelemetry__proto__trace__v1__span__free_unpacked(add, NULL);

    /* node: wait_ms is there already; cost unknown -> omitted; one finding type */
    add = additions_of(&run, sp[1], spans[1].span_id);
    assert_int_equal(add->n_attributes, 3);
    assert_null(attr_in(add->attributes, 3, "dag.node.wait_ms"));
    assert_null(attr_in(add->attributes, 3, "dag.node.cost_usd"));
    want_double(add->attributes, 3, "dag.node.execution_ms", 40);
    want_bool(add->attributes, 3, "dag.node.on_critical_path", false);
    const AnyValue *bl = attr_in(add->attributes, 3, "dag.node.bottlenecks");
    assert_non_null(bl);
    assert_int_equal(bl->array_value->n_values, 1);
    assert_string_equal(bl->array_value->values[0]->string_value, "slow_node");
    opentelemetry__proto__trace__v1__span__free_unpacked(add, NULL);

    /* without the root's event the bottleneck events come, the run-wide one with no node */
    fx.spans[1].n_events = 0;
    free(b1);
    b1 = pack_span(&fx.spans[1], &l1);
    spans[0].raw = (dp_str){(const char *)b1, l1};
    dp_buf_reset(&out);
    assert_int_equal(dp_enrich_run(&run, &p, &out), 0);
    assert_int_equal(len_fields((dp_str){out.data, out.len}, 1, rss, 2), 2);
    assert_int_equal(len_fields(rss[0], 2, sss, 2), 1);
    assert_int_equal(len_fields(sss[0], 2, sp, 2), 2);
    add = additions_of(&run, sp[0], spans[0].span_id);
    assert_int_equal(add->n_events, 3);
    e = add->events[0];
    assert_string_equal(e->name, "dag.bottleneck");
    assert_int_equal(e->n_attributes, 6);
    want_string(e->attributes, 6, "type", "slow_node");
    want_string(e->attributes, 6, "node", "n?");
    want_string(e->attributes, 6, "severity", "high");
    want_double(e->attributes, 6, "impact_pct", 80);
    want_string(e->attributes, 6, "details", "slow");
    want_string(e->attributes, 6, "suggestion", "split it");
    e = add->events[1];
    assert_string_equal(e->name, "dag.bottleneck");
    assert_int_equal(e->n_attributes, 5);
    assert_null(attr_in(e->attributes, 5, "node"));
    want_string(e->attributes, 5, "type", "budget_exceeded");
    want_string(e->attributes, 5, "severity", "low");
    assert_string_equal(add->events[2]->name, "dag.recommendation");
    opentelemetry__proto__trace__v1__span__free_unpacked(add, NULL);

    /* over the buffer's cap: -1 and the buffer as it was */
    dp_buf small;
    dp_buf_init(&small, 16);
    assert_int_equal(dp_buf_append(&small, "x", 1), 0);
    assert_int_equal(dp_enrich_run(&run, &p, &small), -1);
    assert_int_equal(small.len, 1);
    assert_string_equal(small.data, "x");
    dp_buf_free(&small);

    dp_buf_free(&out);
    free(b1);
    free(b2);
    free(b3);
}

/* ---- cost per span: enrichment against decoding ---------------------------- */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One run of 1 root, 20 nodes and 9 LLM calls under each (1 + 20 + 180 = 201
 * spans, 21 of them enriched). Prints the cost per span; asserts only correctness. */
static void test_cost_per_span(void **state)
{
    (void)state;
    static char names[256][16];
    static ScopeSpans ss;
    static Span *ss_spans[256];
    static ScopeSpans *rs_ss[1];
    static ResourceSpans rs;
    static ResourceSpans *req_rs[1];
    static TraceRequest req;

    memset(&fx, 0, sizeof(fx));
    int n = 0;
    make_span(++n, -1, "run", 0, 10000);
    for (int node = 0; node < 20; node++) {
        int id = ++n;
        snprintf(names[id], sizeof(names[id]), "node-%d", node);
        make_span(id, 1, names[id], (uint64_t)node * 400, (uint64_t)node * 400 + 390);
        add_str(id, "dag.node.id", names[id]);
        for (int c = 0; c < 9; c++) {
            int call = ++n;
            make_span(call, id, "chat", (uint64_t)node * 400 + (uint64_t)c * 40,
                      (uint64_t)node * 400 + (uint64_t)c * 40 + 35);
            add_str(call, "gen_ai.operation.name", "chat");
            add_str(call, "gen_ai.request.model", "gpt-4o");
            add_i64(call, "gen_ai.usage.input_tokens", 500 + c);
            add_i64(call, "gen_ai.usage.output_tokens", 100 + c);
        }
    }
    for (int i = 1; i <= n; i++)
        ss_spans[i - 1] = &fx.spans[i];
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.n_spans = (size_t)n;
    ss.spans = ss_spans;
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs_ss[0] = &ss;
    rs.n_scope_spans = 1;
    rs.scope_spans = rs_ss;
    req_rs[0] = &rs;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.n_resource_spans = 1;
    req.resource_spans = req_rs;
    size_t len;
    uint8_t *bytes = pack_request(&req, &len);

    run_ctx rc;
    run_from_request(bytes, len, &rc);
    assert_int_equal(rc.run->span_count, 201);
    assert_int_equal(rc.profile->node_count, 20);

    enum { ROUNDS = 200 };
    dp_buf out;
    dp_buf_init(&out, 0);
    double t0 = now_ns();
    for (int r = 0; r < ROUNDS; r++) {
        dp_buf_reset(&out);
        assert_int_equal(dp_enrich_run(rc.run, rc.profile, &out), 0);
    }
    double enrich_ns = (now_ns() - t0) / (ROUNDS * 201.0);

    /* decoding as the daemon does it: index the request, then decode each span */
    dp_arena arena;
    dp_arena_init(&arena, 0, 0);
    static dp_span decoded[256];
    char err[128];
    t0 = now_ns();
    for (int r = 0; r < ROUNDS; r++) {
        dp_otlp_trace_batch b;
        dp_arena_reset(&arena);
        assert_int_equal(dp_otlp_trace_batch_parse(bytes, len, &arena, &b, err, sizeof(err)),
                         DP_OTLP_OK);
        for (size_t i = 0; i < b.span_count; i++)
            assert_int_equal(dp_otlp_span_decode(b.spans[i].raw, DP_STR_NULL, &arena, &decoded[i]),
                             DP_OTLP_OK);
    }
    double decode_ns = (now_ns() - t0) / (ROUNDS * 201.0);
    print_message("enrichment: %.0f ns/span, decode: %.0f ns/span (201-span run, 20 nodes)\n",
                  enrich_ns, decode_ns);

    /* the enriched output is still one valid request with all 201 spans */
    TraceRequest *back =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
            NULL, out.len, (const uint8_t *)out.data);
    assert_non_null(back);
    assert_int_equal(back->resource_spans[0]->scope_spans[0]->n_spans, 201);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(back,
                                                                                            NULL);
    dp_arena_free(&arena);
    dp_buf_free(&out);
    run_ctx_free(&rc);
    free(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_values),
        cmocka_unit_test(test_chaining_adds_nothing_twice),
        cmocka_unit_test(test_no_profile_passes_through),
        cmocka_unit_test(test_hand_profile),
        cmocka_unit_test(test_split_fits_one_request),
        cmocka_unit_test(test_split_boundaries),
        cmocka_unit_test(test_duplicates_are_left_out),
        cmocka_unit_test(test_split_stops_when_told),
        cmocka_unit_test(test_split_enriched_run),
        cmocka_unit_test(test_cost_per_span),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

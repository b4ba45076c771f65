/*
 * Tests for the OTLP protobuf decoder: request indexing, span decoding,
 * rejection of unusable spans, malformed input and metrics/logs counting.
 * Requests are built with the generated protobuf-c code, or by hand where
 * the point is bytes protobuf-c would never write (unknown fields, repeated
 * singular fields, unusual field order, deep nesting).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "otlp_internal.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceRequest;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;

/* ---- hand encoding ------------------------------------------------------ */

typedef struct bytes {
    uint8_t *p;
    size_t len;
} bytes;

static void put(bytes *b, const void *d, size_t n)
{
    b->p = realloc(b->p, b->len + n + 1);
    assert_non_null(b->p);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put_varint(bytes *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put(b, tmp, n);
}

static void put_len_field(bytes *b, uint32_t field, const void *d, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, n);
    put(b, d, n);
}

static void put_varint_field(bytes *b, uint32_t field, uint64_t v)
{
    put_varint(b, (uint64_t)field << 3 | 0);
    put_varint(b, v);
}

static bytes pack_msg(const ProtobufCMessage *m)
{
    bytes b = {NULL, 0};
    b.len = protobuf_c_message_get_packed_size(m);
    b.p = malloc(b.len + 1);
    assert_non_null(b.p);
    assert_int_equal(protobuf_c_message_pack(m, b.p), b.len);
    return b;
}

/* ---- builders with the generated code ----------------------------------- */

static uint8_t TID_A[16] = {0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static uint8_t TID_B[16] = {0xb1, 0xb2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb3};
static uint8_t ZERO16[16];

static void make_span(Span *s, const uint8_t *tid, size_t tid_len, uint8_t sid_byte, size_t sid_len,
                      const uint8_t *parent, size_t parent_len, const char *name, uint64_t start,
                      uint64_t end)
{
    static uint8_t sids[256][8];
    opentelemetry__proto__trace__v1__span__init(s);
    memset(sids[sid_byte], sid_byte, 8);
    s->trace_id.data = (uint8_t *)tid;
    s->trace_id.len = tid_len;
    s->span_id.data = sids[sid_byte];
    s->span_id.len = sid_len;
    s->parent_span_id.data = (uint8_t *)parent;
    s->parent_span_id.len = parent_len;
    s->name = (char *)name;
    s->start_time_unix_nano = start;
    s->end_time_unix_nano = end;
}

static void set_str_attr(KeyValue *kv, AnyValue *v, const char *key, const char *val)
{
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    kv->value = v;
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)val;
}

typedef struct fixture {
    dp_arena arena;
    dp_otlp_trace_batch batch;
    char err[256];
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

/* Two ResourceSpans: the first with scopes of 2 and 1 spans, the second with 1 span. */
static void test_batch_indexes_every_span(void **state)
{
    fixture *f = *state;
    Span s[4], *sp0[2] = {&s[0], &s[1]}, *sp1[1] = {&s[2]}, *sp2[1] = {&s[3]};
    ScopeSpans ss[3], *ssp0[2] = {&ss[0], &ss[1]}, *ssp1[1] = {&ss[2]};
    ResourceSpans rs[2], *rsp[2] = {&rs[0], &rs[1]};
    Resource res;
    KeyValue kv, *kvp[1] = {&kv};
    AnyValue av;
    TraceRequest req;
    uint8_t parent[8] = {1, 1, 1, 1, 1, 1, 1, 1};

    make_span(&s[0], TID_A, 16, 1, 8, NULL, 0, "root", 1000, 9000);
    make_span(&s[1], TID_A, 16, 2, 8, parent, 8, "child", 2000, 3000);
    make_span(&s[2], TID_A, 16, 3, 8, parent, 8, "other", 4000, 5000);
    make_span(&s[3], TID_B, 16, 4, 8, NULL, 0, "b-root", 10, 20);
    for (int i = 0; i < 3; i++)
        opentelemetry__proto__trace__v1__scope_spans__init(&ss[i]);
    ss[0].n_spans = 2, ss[0].spans = sp0;
    ss[1].n_spans = 1, ss[1].spans = sp1;
    ss[2].n_spans = 1, ss[2].spans = sp2;
    ss[1].schema_url = "https://example/scope";
    opentelemetry__proto__resource__v1__resource__init(&res);
    set_str_attr(&kv, &av, "service.name", "agent");
    res.n_attributes = 1, res.attributes = kvp;
    for (int i = 0; i < 2; i++)
        opentelemetry__proto__trace__v1__resource_spans__init(&rs[i]);
    rs[0].resource = &res;
    rs[0].n_scope_spans = 2, rs[0].scope_spans = ssp0;
    rs[0].schema_url = "https://example/res";
    rs[1].n_scope_spans = 1, rs[1].scope_spans = ssp1;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.n_resource_spans = 2, req.resource_spans = rsp;
    bytes b = pack_msg(&req.base);

    int rc = dp_otlp_trace_batch_parse(b.p, b.len, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    dp_otlp_trace_batch *bt = &f->batch;
    assert_int_equal(bt->resource_count, 2);
    assert_int_equal(bt->scope_count, 3);
    assert_int_equal(bt->span_count, 4);
    assert_int_equal(bt->rejected, 0);
    assert_true(dp_str_eq_cstr(bt->resources[0].schema_url, "https://example/res"));
    assert_int_equal(bt->resources[1].resource_raw.len, 0);
    assert_true(dp_str_eq_cstr(bt->scopes[1].scope_schema_url, "https://example/scope"));
    /* scope → resource: scopes 0 and 1 belong to resource 0, scope 2 to resource 1 */
    assert_int_equal(bt->scopes[0].resource_index, 0);
    assert_int_equal(bt->scopes[1].resource_index, 0);
    assert_int_equal(bt->scopes[2].resource_index, 1);
    const uint32_t want_scope[4] = {0, 0, 1, 2};
    const char *want_name[4] = {"root", "child", "other", "b-root"};
    for (int i = 0; i < 4; i++) {
        const dp_span_ref *r = &bt->spans[i];
        uint8_t sid[8];
        memset(sid, i + 1, 8);
        assert_int_equal(r->scope_index, want_scope[i]);
        assert_memory_equal(r->trace_id, i == 3 ? TID_B : TID_A, 16);
        assert_memory_equal(r->span_id, sid, 8);
        /* the raw view is exactly the span's own encoding */
        bytes one = pack_msg(&s[i].base);
        assert_int_equal(r->raw.len, one.len);
        assert_memory_equal(r->raw.ptr, one.p, one.len);
        free(one.p);

        dp_span d;
        uint32_t res_i = bt->scopes[r->scope_index].resource_index;
        rc = dp_otlp_span_decode(r->raw, bt->resources[res_i].resource_raw, &f->arena, &d);
        assert_int_equal(rc, DP_OTLP_OK);
        assert_true(dp_str_eq_cstr(d.name, want_name[i]));
        assert_memory_equal(d.span_id, sid, 8);
        assert_int_equal(d.resource_attr_count, res_i == 0 ? 1 : 0);
    }
    assert_false(bt->spans[0].has_parent);
    assert_true(bt->spans[1].has_parent);
    assert_memory_equal(bt->spans[1].parent_span_id, parent, 8);
    assert_int_equal(bt->spans[0].start_ns, 1000);
    assert_int_equal(bt->spans[0].end_ns, 9000);
    assert_int_equal(bt->spans[3].start_ns, 10);
    assert_int_equal(bt->spans[3].end_ns, 20);

    dp_span d;
    assert_int_equal(
        dp_otlp_span_decode(bt->spans[0].raw, bt->resources[0].resource_raw, &f->arena, &d),
        DP_OTLP_OK);
    assert_true(dp_str_eq_cstr(d.resource_attrs[0].key, "service.name"));
    assert_true(dp_str_eq_cstr(d.resource_attrs[0].value.u.s, "agent"));
    free(b.p);
}

/* Spans 1..5 each break one id rule; spans 0 and 6 are good. */
static void test_unusable_ids_are_rejected_with_reasons(void **state)
{
    fixture *f = *state;
    Span s[7], *sp[7];
    ScopeSpans ss, *ssp[1] = {&ss};
    ResourceSpans rs, *rsp[1] = {&rs};
    TraceRequest req;
    uint8_t parent3[3] = {1, 2, 3}, zero_parent[8] = {0};

    make_span(&s[0], TID_A, 16, 1, 8, NULL, 0, "ok", 1, 2);
    make_span(&s[1], TID_A, 5, 2, 8, NULL, 0, "short-trace", 1, 2);
    make_span(&s[2], TID_A, 16, 3, 7, NULL, 0, "short-span", 1, 2);
    make_span(&s[3], TID_A, 16, 4, 8, parent3, 3, "bad-parent", 1, 2);
    make_span(&s[4], ZERO16, 16, 5, 8, NULL, 0, "zero-trace", 1, 2);
    make_span(&s[5], TID_A, 16, 0, 8, NULL, 0, "zero-span", 1, 2);
    make_span(&s[6], TID_A, 16, 7, 8, zero_parent, 8, "zero-parent-is-root", 1, 2);
    for (int i = 0; i < 7; i++)
        sp[i] = &s[i];
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.n_spans = 7, ss.spans = sp;
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs.n_scope_spans = 1, rs.scope_spans = ssp;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.n_resource_spans = 1, req.resource_spans = rsp;
    bytes b = pack_msg(&req.base);

    int rc = dp_otlp_trace_batch_parse(b.p, b.len, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    /* 7 spans − 5 broken = 2 listed */
    assert_int_equal(f->batch.rejected, 5);
    assert_int_equal(f->batch.span_count, 2);
    assert_string_equal(f->batch.reject_message,
                        "resource_spans[0].scope_spans[0].spans[1]: trace_id is 5 bytes, want 16");
    /* the offset points at span 1's encoding */
    bytes one = pack_msg(&s[1].base);
    assert_true(f->batch.reject_offset + one.len <= b.len);
    assert_memory_equal(b.p + f->batch.reject_offset, one.p, one.len);
    free(one.p);
    assert_false(f->batch.spans[1].has_parent);

    /* each rule's message, one span at a time */
    const char *want[5] = {"trace_id is 5 bytes, want 16", "span_id is 7 bytes, want 8",
                           "parent_span_id is 3 bytes, want 0 or 8", "trace_id is all zeros",
                           "span_id is all zeros"};
    for (int i = 1; i <= 5; i++) {
        char expect[200];
        ss.n_spans = 1, ss.spans = &sp[i];
        bytes bi = pack_msg(&req.base);
        rc = dp_otlp_trace_batch_parse(bi.p, bi.len, &f->arena, &f->batch, f->err, sizeof f->err);
        assert_int_equal(rc, DP_OTLP_OK);
        assert_int_equal(f->batch.rejected, 1);
        assert_int_equal(f->batch.span_count, 0);
        snprintf(expect, sizeof expect, "resource_spans[0].scope_spans[0].spans[0]: %s",
                 want[i - 1]);
        assert_string_equal(f->batch.reject_message, expect);
        /* and dp_otlp_span_decode refuses the same bytes */
        dp_span d;
        bytes one_i = pack_msg(&s[i].base);
        assert_int_equal(
            dp_otlp_span_decode((dp_str){(char *)one_i.p, one_i.len}, DP_STR_NULL, &f->arena, &d),
            DP_OTLP_EDECODE);
        free(one_i.p);
        free(bi.p);
    }
    free(b.p);
}

static void test_garbage_and_empty(void **state)
{
    fixture *f = *state;
    const char *garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int rc = dp_otlp_trace_batch_parse((const uint8_t *)garbage, strlen(garbage), &f->arena,
                                       &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_EDECODE);
    assert_true(strncmp(f->err, "offset ", 7) == 0);

    /* an empty request is valid and has no spans */
    rc = dp_otlp_trace_batch_parse((const uint8_t *)"", 0, &f->arena, &f->batch, f->err,
                                   sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(f->batch.span_count, 0);

    /* wrong wire type for a known field: resource_spans (1) as a varint */
    const uint8_t wrong[] = {0x08, 0x01};
    rc =
        dp_otlp_trace_batch_parse(wrong, sizeof wrong, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_EDECODE);
    assert_string_equal(f->err,
                        "offset 0: ExportTraceServiceRequest.resource_spans: wire type 0, want 2");

    /* a length past the end: field 1, length 5, one byte of payload */
    const uint8_t past[] = {0x0a, 0x05, 0x00};
    rc = dp_otlp_trace_batch_parse(past, sizeof past, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_EDECODE);
    assert_string_equal(
        f->err, "offset 0: ExportTraceServiceRequest: length runs past the end of the message");

    dp_otlp_side_request n;
    rc = dp_otlp_metrics_validate((const uint8_t *)garbage, strlen(garbage), &f->arena, &n, f->err,
                                  sizeof f->err);
    assert_int_equal(rc, DP_OTLP_EDECODE);
    rc = dp_otlp_logs_validate((const uint8_t *)garbage, strlen(garbage), &f->arena, &n, f->err,
                               sizeof f->err);
    assert_int_equal(rc, DP_OTLP_EDECODE);
}

static bytes one_span_request(Span *s)
{
    Span *sp[1] = {s};
    ScopeSpans ss, *ssp[1] = {&ss};
    ResourceSpans rs, *rsp[1] = {&rs};
    TraceRequest req;
    opentelemetry__proto__trace__v1__scope_spans__init(&ss);
    ss.n_spans = 1, ss.spans = sp;
    opentelemetry__proto__trace__v1__resource_spans__init(&rs);
    rs.n_scope_spans = 1, rs.scope_spans = ssp;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__init(&req);
    req.n_resource_spans = 1, req.resource_spans = rsp;
    return pack_msg(&req.base);
}

/* Every strict prefix of a one-span request cuts into the span: never OK with a span. */
static void test_truncated_requests(void **state)
{
    fixture *f = *state;
    Span s;
    make_span(&s, TID_A, 16, 1, 8, NULL, 0, "truncate-me", 5, 6);
    bytes b = one_span_request(&s);
    for (size_t cut = 1; cut < b.len; cut++) {
        uint8_t *copy = malloc(cut); /* exact size so ASan sees overreads */
        memcpy(copy, b.p, cut);
        int rc = dp_otlp_trace_batch_parse(copy, cut, &f->arena, &f->batch, f->err, sizeof f->err);
        assert_int_equal(rc, DP_OTLP_EDECODE);
        assert_true(strncmp(f->err, "offset ", 7) == 0);
        free(copy);
        dp_arena_reset(&f->arena);
    }
    free(b.p);
}

/* Unknown fields of every wire type, at every level, are skipped. */
static void test_unknown_fields_are_accepted(void **state)
{
    fixture *f = *state;
    Span s;
    make_span(&s, TID_A, 16, 9, 8, NULL, 0, "with-unknowns", 100, 200);
    bytes span = pack_msg(&s.base);
    bytes unknown = {NULL, 0};
    put_varint_field(&unknown, 100, 12345);       /* varint */
    put_len_field(&unknown, 101, "xyz", 3);       /* length-delimited */
    put_varint(&unknown, (uint64_t)102 << 3 | 5); /* fixed32 */
    put(&unknown, "\x01\x02\x03\x04", 4);
    put_varint(&unknown, (uint64_t)103 << 3 | 1); /* fixed64 */
    put(&unknown, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    put(&span, unknown.p, unknown.len);

    bytes scope = {NULL, 0}, rs = {NULL, 0}, req = {NULL, 0};
    put(&scope, unknown.p, unknown.len);
    put_len_field(&scope, 2, span.p, span.len);
    put_len_field(&rs, 2, scope.p, scope.len);
    put(&rs, unknown.p, unknown.len);
    put(&req, unknown.p, unknown.len);
    put_len_field(&req, 1, rs.p, rs.len);

    int rc = dp_otlp_trace_batch_parse(req.p, req.len, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(f->batch.span_count, 1);
    assert_int_equal(f->batch.spans[0].raw.len, span.len);
    assert_memory_equal(f->batch.spans[0].raw.ptr, span.p, span.len);
    dp_span d;
    assert_int_equal(dp_otlp_span_decode(f->batch.spans[0].raw, DP_STR_NULL, &f->arena, &d),
                     DP_OTLP_OK);
    assert_true(dp_str_eq_cstr(d.name, "with-unknowns"));
    assert_int_equal(d.start_ns, 100);
    assert_int_equal(d.end_ns, 200);
    free(span.p), free(unknown.p), free(scope.p), free(rs.p), free(req.p);
}

static bytes resource_with(const char *key, const char *val)
{
    Resource r;
    KeyValue kv, *kvp[1] = {&kv};
    AnyValue av;
    opentelemetry__proto__resource__v1__resource__init(&r);
    set_str_attr(&kv, &av, key, val);
    r.n_attributes = 1, r.attributes = kvp;
    return pack_msg(&r.base);
}

/*
 * A ResourceSpans whose resource comes twice and after its scope_spans, and a
 * ScopeSpans whose spans surround its scope: spans still pair with their own
 * bytes, and the resource is the merge of both occurrences.
 */
static void test_repeated_resource_and_unusual_order(void **state)
{
    fixture *f = *state;
    Span s1, s2;
    make_span(&s1, TID_A, 16, 1, 8, NULL, 0, "first", 1, 2);
    make_span(&s2, TID_B, 16, 2, 8, NULL, 0, "second", 3, 4);
    bytes b1 = pack_msg(&s1.base), b2 = pack_msg(&s2.base);
    bytes r1 = resource_with("a", "1"), r2 = resource_with("b", "2");

    bytes scope = {NULL, 0}, rs = {NULL, 0}, req = {NULL, 0};
    put_len_field(&scope, 2, b1.p, b1.len);
    put_len_field(&scope, 3, "url", 3);
    put_len_field(&scope, 1, "\x0a\x01s", 3); /* InstrumentationScope{name: "s"} */
    put_len_field(&scope, 2, b2.p, b2.len);
    put_len_field(&rs, 1, r1.p, r1.len);
    put_len_field(&rs, 2, scope.p, scope.len);
    put_len_field(&rs, 1, r2.p, r2.len);
    put_len_field(&req, 1, rs.p, rs.len);

    int rc = dp_otlp_trace_batch_parse(req.p, req.len, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(f->batch.span_count, 2);
    assert_memory_equal(f->batch.spans[0].trace_id, TID_A, 16);
    assert_memory_equal(f->batch.spans[1].trace_id, TID_B, 16);
    assert_memory_equal(f->batch.spans[0].raw.ptr, b1.p, b1.len);
    assert_memory_equal(f->batch.spans[1].raw.ptr, b2.p, b2.len);
    assert_true(dp_str_eq_cstr(f->batch.scopes[0].scope_schema_url, "url"));
    assert_int_equal(f->batch.scopes[0].scope_raw.len, 3);
    /* merged resource = both encodings back to back: 2 attributes, a then b */
    assert_int_equal(f->batch.resources[0].resource_raw.len, r1.len + r2.len);
    dp_span d;
    rc = dp_otlp_span_decode(f->batch.spans[1].raw, f->batch.resources[0].resource_raw, &f->arena,
                             &d);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(d.resource_attr_count, 2);
    assert_true(dp_str_eq_cstr(d.resource_attrs[0].key, "a"));
    assert_true(dp_str_eq_cstr(d.resource_attrs[1].key, "b"));
    assert_true(dp_str_eq_cstr(d.resource_attrs[1].value.u.s, "2"));
    free(b1.p), free(b2.p), free(r1.p), free(r2.p), free(scope.p), free(rs.p), free(req.p);
}

/* Every attribute kind, links, status and kind come through span decode. */
static void test_span_decode_values(void **state)
{
    fixture *f = *state;
    Span s;
    KeyValue kv[9], *kvp[9];
    AnyValue av[9], items[3], *itemp[3] = {&items[0], &items[1], &items[2]};
    Opentelemetry__Proto__Common__V1__ArrayValue arr;
    Opentelemetry__Proto__Common__V1__KeyValueList kvl;
    Opentelemetry__Proto__Trace__V1__Status st;
    Opentelemetry__Proto__Trace__V1__Span__Link l[2], *lp[2] = {&l[0], &l[1]};
    uint8_t sid7[7] = {0};
    uint8_t bin[3] = {1, 2, 0xff};

    make_span(&s, TID_A, 16, 1, 8, NULL, 0, "llm.call", 1700000000000000000ull,
              1700000001500000000ull);
    s.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
    for (int i = 0; i < 9; i++) {
        set_str_attr(&kv[i], &av[i], "k", "v");
        kvp[i] = &kv[i];
    }
    kv[0].key = "gen_ai.request.model"; /* string "gpt-4o" */
    av[0].string_value = "gpt-4o";
    kv[1].key = "flag";
    av[1].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
    av[1].bool_value = 1;
    kv[2].key = "gen_ai.usage.input_tokens";
    av[2].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    av[2].int_value = -5;
    kv[3].key = "ratio";
    av[3].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
    av[3].double_value = 2.5;
    kv[4].key = "dag.depends_on";
    opentelemetry__proto__common__v1__array_value__init(&arr);
    for (int i = 0; i < 3; i++)
        opentelemetry__proto__common__v1__any_value__init(&items[i]);
    items[0].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    items[0].string_value = "plan";
    items[1].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    items[1].string_value = "search";
    items[2].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    items[2].int_value = 7;
    arr.n_values = 3, arr.values = itemp;
    av[4].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    av[4].array_value = &arr;
    kv[5].key = "map";
    opentelemetry__proto__common__v1__key_value_list__init(&kvl);
    kvl.n_values = 1, kvl.values = &kvp[0];
    av[5].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
    av[5].kvlist_value = &kvl;
    kv[6].key = "blob";
    av[6].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
    av[6].bytes_value.data = bin, av[6].bytes_value.len = 3;
    kv[7].key = "empty";
    av[7].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET;
    kv[8].key = "novalue";
    kv[8].value = NULL;
    s.n_attributes = 9, s.attributes = kvp;

    opentelemetry__proto__trace__v1__status__init(&st);
    st.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    st.message = "rate limited";
    s.status = &st;
    for (int i = 0; i < 2; i++)
        opentelemetry__proto__trace__v1__span__link__init(&l[i]);
    l[0].trace_id.data = TID_B, l[0].trace_id.len = 16;
    l[0].span_id.data = (uint8_t *)"\x11\x12\x13\x14\x15\x16\x17\x18", l[0].span_id.len = 8;
    l[1].trace_id.data = TID_B, l[1].trace_id.len = 16; /* unusable: 7-byte span id */
    l[1].span_id.data = sid7, l[1].span_id.len = 7;
    s.n_links = 2, s.links = lp;

    bytes b = pack_msg(&s.base);
    dp_span d;
    int rc = dp_otlp_span_decode((dp_str){(char *)b.p, b.len}, DP_STR_NULL, &f->arena, &d);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_true(dp_str_eq_cstr(d.name, "llm.call"));
    assert_int_equal(d.kind, 3);
    assert_int_equal(d.start_ns, 1700000000000000000ull);
    assert_int_equal(d.end_ns, 1700000001500000000ull);
    assert_int_equal(d.status, DP_STATUS_ERROR);
    assert_true(dp_str_eq_cstr(d.status_message, "rate limited"));
    assert_int_equal(d.attr_count, 9);
    const dp_value *v = dp_span_attr(&d, "gen_ai.request.model");
    assert_int_equal(v->kind, DP_VALUE_STRING);
    assert_true(dp_str_eq_cstr(v->u.s, "gpt-4o"));
    v = dp_span_attr(&d, "flag");
    assert_int_equal(v->kind, DP_VALUE_BOOL);
    assert_true(v->u.b);
    v = dp_span_attr(&d, "gen_ai.usage.input_tokens");
    assert_int_equal(v->kind, DP_VALUE_INT);
    assert_int_equal(v->u.i, -5);
    v = dp_span_attr(&d, "ratio");
    assert_int_equal(v->kind, DP_VALUE_DOUBLE);
    assert_true(v->u.d == 2.5);
    v = dp_span_attr(&d, "dag.depends_on");
    assert_int_equal(v->kind, DP_VALUE_ARRAY);
    assert_int_equal(v->u.array.count, 3);
    assert_true(dp_str_eq_cstr(v->u.array.items[0].u.s, "plan"));
    assert_true(dp_str_eq_cstr(v->u.array.items[1].u.s, "search"));
    assert_int_equal(v->u.array.items[2].kind, DP_VALUE_INT);
    assert_int_equal(v->u.array.items[2].u.i, 7);
    assert_int_equal(dp_span_attr(&d, "map")->kind, DP_VALUE_KVLIST);
    v = dp_span_attr(&d, "blob");
    assert_int_equal(v->kind, DP_VALUE_BYTES);
    assert_int_equal(v->u.s.len, 3);
    assert_memory_equal(v->u.s.ptr, bin, 3);
    assert_int_equal(dp_span_attr(&d, "empty")->kind, DP_VALUE_EMPTY);
    assert_int_equal(dp_span_attr(&d, "novalue")->kind, DP_VALUE_EMPTY);
    /* the link with a 7-byte span id cannot be an edge: 1 of 2 kept */
    assert_int_equal(d.link_count, 1);
    assert_memory_equal(d.links[0].trace_id, TID_B, 16);
    assert_memory_equal(d.links[0].span_id, "\x11\x12\x13\x14\x15\x16\x17\x18", 8);
    free(b.p);
}

/* A 1 MiB attribute value decodes whole; under a 256 KiB arena cap it is ENOMEM. */
static void test_huge_attribute_value(void **state)
{
    fixture *f = *state;
    const size_t big = 1u << 20;
    char *val = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        val[i] = (char)('a' + i % 26);
    val[big] = '\0';
    Span s;
    KeyValue kv, *kvp[1] = {&kv};
    AnyValue av;
    make_span(&s, TID_A, 16, 1, 8, NULL, 0, "big", 1, 2);
    set_str_attr(&kv, &av, "llm.input_messages", val);
    s.n_attributes = 1, s.attributes = kvp;
    bytes b = one_span_request(&s);

    int rc = dp_otlp_trace_batch_parse(b.p, b.len, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(f->batch.span_count, 1);
    dp_span d;
    rc = dp_otlp_span_decode(f->batch.spans[0].raw, DP_STR_NULL, &f->arena, &d);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(d.attrs[0].value.u.s.len, big);
    assert_memory_equal(d.attrs[0].value.u.s.ptr, val, big);

    /* the receive walk keeps the value as a view: a 256 KiB arena is plenty;
     * the protobuf-c reference, which copies the 1 MiB string, runs out */
    dp_arena small;
    dp_arena_init(&small, 16 * 1024, 256 * 1024);
    rc = dp_otlp_trace_batch_parse(b.p, b.len, &small, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(f->batch.span_count, 1);
    dp_arena_reset(&small);
    rc = dp_otlp_trace_batch_parse_pbc(b.p, b.len, &small, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_ENOMEM);
    dp_arena_free(&small);
    free(b.p);
    free(val);
}

/* Gauge with 2 points + sum with 1 + histogram with 1 = 4 points; 3 log records. */
static void test_metrics_and_logs_are_counted(void **state)
{
    fixture *f = *state;
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint np[3], *gp[2] = {&np[0], &np[1]},
                                                              *sp[1] = {&np[2]};
    Opentelemetry__Proto__Metrics__V1__HistogramDataPoint hp, *hpp[1] = {&hp};
    Opentelemetry__Proto__Metrics__V1__Gauge g;
    Opentelemetry__Proto__Metrics__V1__Sum sum;
    Opentelemetry__Proto__Metrics__V1__Histogram h;
    Opentelemetry__Proto__Metrics__V1__Metric m[3], *mp[3] = {&m[0], &m[1], &m[2]};
    Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm, *smp[1] = {&sm};
    Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm, *rmp[1] = {&rm};
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest mreq;
    uint64_t buckets[2] = {3, 4};
    double bounds[1] = {10.0};

    for (int i = 0; i < 3; i++) {
        opentelemetry__proto__metrics__v1__number_data_point__init(&np[i]);
        opentelemetry__proto__metrics__v1__metric__init(&m[i]);
    }
    np[0].value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
    np[0].as_double = 1.5;
    opentelemetry__proto__metrics__v1__histogram_data_point__init(&hp);
    hp.n_bucket_counts = 2, hp.bucket_counts = buckets;
    hp.n_explicit_bounds = 1, hp.explicit_bounds = bounds;
    hp.has_sum = 1, hp.sum = 7.0;
    opentelemetry__proto__metrics__v1__gauge__init(&g);
    g.n_data_points = 2, g.data_points = gp;
    opentelemetry__proto__metrics__v1__sum__init(&sum);
    sum.n_data_points = 1, sum.data_points = sp;
    opentelemetry__proto__metrics__v1__histogram__init(&h);
    h.n_data_points = 1, h.data_points = hpp;
    m[0].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE, m[0].gauge = &g;
    m[1].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM, m[1].sum = &sum;
    m[2].data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM, m[2].histogram = &h;
    opentelemetry__proto__metrics__v1__scope_metrics__init(&sm);
    sm.n_metrics = 3, sm.metrics = mp;
    opentelemetry__proto__metrics__v1__resource_metrics__init(&rm);
    rm.n_scope_metrics = 1, rm.scope_metrics = smp;
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__init(&mreq);
    mreq.n_resource_metrics = 1, mreq.resource_metrics = rmp;
    bytes mb = pack_msg(&mreq.base);
    dp_otlp_side_request n;
    int rc = dp_otlp_metrics_validate(mb.p, mb.len, &f->arena, &n, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(n.items, 4);
    /* nothing left out: forwarded as it came */
    assert_int_equal(n.attributes_dropped, 0);
    assert_ptr_equal(n.forward, mb.p);
    assert_int_equal(n.forward_len, mb.len);

    Opentelemetry__Proto__Logs__V1__LogRecord lr[3], *lrp[3] = {&lr[0], &lr[1], &lr[2]};
    Opentelemetry__Proto__Logs__V1__ScopeLogs sl, *slp[1] = {&sl};
    Opentelemetry__Proto__Logs__V1__ResourceLogs rl, *rlp[1] = {&rl};
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest lreq;
    for (int i = 0; i < 3; i++) {
        opentelemetry__proto__logs__v1__log_record__init(&lr[i]);
        lr[i].severity_text = "INFO";
    }
    opentelemetry__proto__logs__v1__scope_logs__init(&sl);
    sl.n_log_records = 3, sl.log_records = lrp;
    opentelemetry__proto__logs__v1__resource_logs__init(&rl);
    rl.n_scope_logs = 1, rl.scope_logs = slp;
    opentelemetry__proto__collector__logs__v1__export_logs_service_request__init(&lreq);
    lreq.n_resource_logs = 1, lreq.resource_logs = rlp;
    bytes lb = pack_msg(&lreq.base);
    rc = dp_otlp_logs_validate(lb.p, lb.len, &f->arena, &n, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(n.items, 3);
    assert_ptr_equal(n.forward, lb.p);
    /* truncated by one byte: refused */
    rc = dp_otlp_logs_validate(lb.p, lb.len - 1, &f->arena, &n, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_EDECODE);
    free(mb.p), free(lb.p);
}

/* A singular field given twice: the last occurrence counts (protobuf's rule),
 * for the ids and times the receive walk reads off the wire as for protobuf-c. */
static void test_receive_walk_takes_the_last_of_a_repeated_singular_field(void **state)
{
    fixture *f = *state;
    bytes span = {NULL, 0}, scope = {NULL, 0}, rs = {NULL, 0}, req = {NULL, 0};
    uint8_t sid[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    uint8_t t7a[9] = {0x39, 10, 0, 0, 0, 0, 0, 0, 0}; /* start 10 */
    uint8_t t8[9] = {0x41, 20, 0, 0, 0, 0, 0, 0, 0};  /* end 20 */
    uint8_t t7b[9] = {0x39, 0, 1, 0, 0, 0, 0, 0, 0};  /* start 256 */
    put_len_field(&span, 1, TID_A, 16);
    put_len_field(&span, 2, sid, 8);
    put(&span, t7a, sizeof t7a);
    put(&span, t8, sizeof t8);
    put_len_field(&span, 1, TID_B, 16);
    put(&span, t7b, sizeof t7b);
    put_len_field(&scope, 2, span.p, span.len);
    put_len_field(&rs, 2, scope.p, scope.len);
    put_len_field(&req, 1, rs.p, rs.len);

    for (int reference = 0; reference < 2; reference++) {
        dp_otlp_trace_batch b;
        int rc = reference ? dp_otlp_trace_batch_parse_pbc(req.p, req.len, &f->arena, &b, f->err,
                                                           sizeof f->err)
                           : dp_otlp_trace_batch_parse(req.p, req.len, &f->arena, &b, f->err,
                                                       sizeof f->err);
        assert_int_equal(rc, DP_OTLP_OK);
        assert_int_equal(b.span_count, 1);
        assert_memory_equal(b.spans[0].trace_id, TID_B, 16);
        assert_int_equal(b.spans[0].start_ns, 256);
        assert_int_equal(b.spans[0].end_ns, 20);
        assert_false(b.spans[0].has_parent);
        assert_ptr_equal(b.spans[0].raw.ptr, (const char *)req.p + req.len - span.len);
    }
    free(span.p), free(scope.p), free(rs.p), free(req.p);
}

/* A packed repeated fixed64 (HistogramDataPoint.bucket_counts, field 6) of 7
 * bytes is not whole values: refused, naming the field, by the wire check. */
static void test_packed_field_with_a_partial_value_is_refused(void **state)
{
    fixture *f = *state;
    bytes dp = {NULL, 0}, hist = {NULL, 0}, metric = {NULL, 0}, sm = {NULL, 0}, rm = {NULL, 0},
          req = {NULL, 0};
    static const uint8_t seven[7] = {1, 0, 0, 0, 0, 0, 0};
    put_len_field(&dp, 6, seven, sizeof seven);
    put_len_field(&hist, 1, dp.p, dp.len);       /* Histogram.data_points */
    put_len_field(&metric, 9, hist.p, hist.len); /* Metric.histogram */
    put_len_field(&sm, 2, metric.p, metric.len); /* ScopeMetrics.metrics */
    put_len_field(&rm, 2, sm.p, sm.len);         /* ResourceMetrics.scope_metrics */
    put_len_field(&req, 1, rm.p, rm.len);        /* request.resource_metrics */
    dp_otlp_side_request n;
    int rc = dp_otlp_metrics_validate(req.p, req.len, &f->arena, &n, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_EDECODE);
    assert_null(n.forward);
    assert_non_null(strstr(f->err, "bucket_counts"));
    assert_non_null(strstr(f->err, "partial value"));
    free(dp.p), free(hist.p), free(metric.p), free(sm.p), free(rm.p), free(req.p);
}

/* ---- direct wire decoder against the protobuf-c reference ---------------- */

static bool str_is(dp_str s, const char *want, size_t len)
{
    return s.len == len && (len == 0 || memcmp(s.ptr, want, len) == 0);
}

/* A minimal usable span, hand-encoded: trace id, span id, times 10 and 20. */
static bytes base_span(void)
{
    bytes b = {NULL, 0};
    uint8_t sid[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    uint8_t t7[9] = {0x39, 10, 0, 0, 0, 0, 0, 0, 0}; /* field 7, fixed64: 10 */
    uint8_t t8[9] = {0x41, 20, 0, 0, 0, 0, 0, 0, 0}; /* field 8, fixed64: 20 */
    put_len_field(&b, 1, TID_A, 16);
    put_len_field(&b, 2, sid, 8);
    put(&b, t7, sizeof t7);
    put(&b, t8, sizeof t8);
    return b;
}

/* Strings and bytes are views into the span's own bytes, not copies. */
static void test_wire_decode_views_point_into_the_bytes(void **state)
{
    fixture *f = *state;
    bytes b = base_span();
    put_len_field(&b, 5, "plan", 4);
    dp_span d;
    assert_int_equal(dp_otlp_span_decode((dp_str){(char *)b.p, b.len}, DP_STR_NULL, &f->arena, &d),
                     DP_OTLP_OK);
    assert_true(str_is(d.name, "plan", 4));
    assert_true(d.name.ptr >= (const char *)b.p && d.name.ptr + 4 <= (const char *)b.p + b.len);
    assert_int_equal(d.start_ns, 10);
    assert_int_equal(d.end_ns, 20);
    assert_false(d.has_parent);
    free(b.p);
}

/* Encodings protobuf-c reads in its own way: both decoders must agree, and on
 * the values worked out here. */
static void test_wire_decode_matches_reference_on_odd_encodings(void **state)
{
    fixture *f = *state;
    bytes b = base_span();
    /* name "ab\0cd": protobuf-c hands out a C string, so the name is "ab" */
    put_len_field(&b, 5, "ab\0cd", 5);
    /* attribute "x": AnyValue{string "s", int 7}: a oneof, the last field wins -> INT 7 */
    bytes any = {NULL, 0}, kv = {NULL, 0};
    put_len_field(&any, 1, "s", 1);
    put_varint_field(&any, 3, 7);
    put_len_field(&kv, 1, "x", 1);
    put_len_field(&kv, 2, any.p, any.len);
    put_len_field(&b, 9, kv.p, kv.len);
    /* attribute "m": value given twice, AnyValue{int 5} then AnyValue{} (empty):
     * merged, the empty one sets nothing -> INT 5 */
    bytes kv2 = {NULL, 0}, five = {NULL, 0};
    put_varint_field(&five, 3, 5);
    put_len_field(&kv2, 1, "m", 1);
    put_len_field(&kv2, 2, five.p, five.len);
    put_len_field(&kv2, 2, "", 0);
    put_len_field(&b, 9, kv2.p, kv2.len);
    /* Status twice: {code ERROR, message "a"} then {message "b"}: the message is "b" */
    bytes st1 = {NULL, 0}, st2 = {NULL, 0};
    put_len_field(&st1, 2, "a", 1);
    put_varint_field(&st1, 3, 2);
    put_len_field(&st2, 2, "b", 1);
    put_len_field(&b, 15, st1.p, st1.len);
    put_len_field(&b, 15, st2.p, st2.len);
    /* attribute "arr": AnyValue{array_value [a], array_value [b]}: a oneof
     * member given twice, the last one counts, as protobuf-c reads it -> [b]
     * (protobuf's C++ would merge the two); attribute "arr2": {array [a],
     * string "s", array [b]} -> [b] */
    bytes va = {NULL, 0}, vb = {NULL, 0}, arr_a = {NULL, 0}, arr_b = {NULL, 0};
    bytes any3 = {NULL, 0}, kv3 = {NULL, 0}, any4 = {NULL, 0}, kv4 = {NULL, 0};
    put_len_field(&va, 1, "a", 1);
    put_len_field(&vb, 1, "b", 1);
    put_len_field(&arr_a, 1, va.p, va.len);
    put_len_field(&arr_b, 1, vb.p, vb.len);
    put_len_field(&any3, 5, arr_a.p, arr_a.len);
    put_len_field(&any3, 5, arr_b.p, arr_b.len);
    put_len_field(&kv3, 1, "arr", 3);
    put_len_field(&kv3, 2, any3.p, any3.len);
    put_len_field(&b, 9, kv3.p, kv3.len);
    put_len_field(&any4, 5, arr_a.p, arr_a.len);
    put_len_field(&any4, 1, "s", 1);
    put_len_field(&any4, 5, arr_b.p, arr_b.len);
    put_len_field(&kv4, 1, "arr2", 4);
    put_len_field(&kv4, 2, any4.p, any4.len);
    put_len_field(&b, 9, kv4.p, kv4.len);
    /* kind as a 10-byte varint of -1 (int32 on the wire) -> -1 */
    put_varint_field(&b, 6, UINT64_MAX);

    dp_str raw = {(char *)b.p, b.len};
    dp_span d, r;
    assert_int_equal(dp_otlp_span_decode(raw, DP_STR_NULL, &f->arena, &d), DP_OTLP_OK);
    assert_int_equal(dp_otlp_span_decode_pbc(raw, DP_STR_NULL, &f->arena, &r), DP_OTLP_OK);
    assert_true(str_is(d.name, "ab", 2));
    assert_true(str_is(r.name, "ab", 2));
    assert_int_equal(d.kind, -1);
    assert_int_equal(r.kind, -1);
    assert_int_equal(d.attr_count, 4);
    assert_int_equal(r.attr_count, 4);
    const dp_span *both[2] = {&d, &r};
    for (int k = 0; k < 2; k++) {
        const dp_value *twice = &both[k]->attrs[2].value, *last = &both[k]->attrs[3].value;
        assert_int_equal(twice->kind, DP_VALUE_ARRAY);
        assert_int_equal(twice->u.array.count, 1);
        assert_true(str_is(twice->u.array.items[0].u.s, "b", 1));
        assert_int_equal(last->kind, DP_VALUE_ARRAY);
        assert_int_equal(last->u.array.count, 1);
        assert_true(str_is(last->u.array.items[0].u.s, "b", 1));
    }
    assert_int_equal(d.attrs[0].value.kind, DP_VALUE_INT);
    assert_int_equal(d.attrs[0].value.u.i, 7);
    assert_int_equal(r.attrs[0].value.u.i, 7);
    assert_int_equal(d.attrs[1].value.kind, DP_VALUE_INT);
    assert_int_equal(d.attrs[1].value.u.i, 5);
    assert_int_equal(r.attrs[1].value.u.i, 5);
    assert_true(str_is(d.status_message, "b", 1));
    assert_true(str_is(r.status_message, "b", 1));
    assert_int_equal(d.status, r.status);
    free(b.p), free(any.p), free(kv.p), free(kv2.p), free(five.p), free(st1.p), free(st2.p);
    free(va.p), free(vb.p), free(arr_a.p), free(arr_b.p);
    free(any3.p), free(kv3.p), free(any4.p), free(kv4.p);
}

/* Malformed or unusable bytes are refused by the direct decoder, never read past. */
static void test_wire_decode_refuses_bad_bytes(void **state)
{
    fixture *f = *state;
    dp_span d;
    /* Span.name (field 5) as a varint: wrong wire type */
    bytes b = base_span();
    put_varint_field(&b, 5, 1);
    assert_int_equal(dp_otlp_span_decode((dp_str){(char *)b.p, b.len}, DP_STR_NULL, &f->arena, &d),
                     DP_OTLP_EDECODE);
    free(b.p);
    /* an attribute whose length runs 1 byte past the end */
    b = base_span();
    size_t base_len = b.len;
    put_varint(&b, 9 << 3 | 2);
    put_varint(&b, 5);
    put(&b, "\x0a\x01", 2);
    /* and every cut inside that field (the base span alone is valid) */
    for (size_t cut = base_len + 1; cut < b.len; cut++)
        assert_int_not_equal(
            dp_otlp_span_decode((dp_str){(char *)b.p, cut}, DP_STR_NULL, &f->arena, &d),
            DP_OTLP_OK);
    assert_int_equal(dp_otlp_span_decode((dp_str){(char *)b.p, b.len}, DP_STR_NULL, &f->arena, &d),
                     DP_OTLP_EDECODE);
    free(b.p);
    /* a span id of 7 bytes */
    b = (bytes){NULL, 0};
    put_len_field(&b, 1, TID_A, 16);
    put_len_field(&b, 2, "\1\1\1\1\1\1\1", 7);
    assert_int_equal(dp_otlp_span_decode((dp_str){(char *)b.p, b.len}, DP_STR_NULL, &f->arena, &d),
                     DP_OTLP_EDECODE);
    free(b.p);
    /* a resource whose attribute is a varint */
    bytes res = {NULL, 0};
    put_varint_field(&res, 1, 3);
    const dp_attr *ra;
    size_t rn;
    assert_int_equal(dp_otlp_resource_decode((dp_str){(char *)res.p, res.len}, &f->arena, &ra, &rn),
                     DP_OTLP_EDECODE);
    free(res.p);
}

/* ---- groups and deep nesting -------------------------------------------- */

static void put_tag(bytes *b, uint32_t field, int wire_type)
{
    put_varint(b, (uint64_t)field << 3 | (uint64_t)wire_type);
}

/* An unknown group field 50 holding a varint, a string and a nested group
 * 51 holding a fixed32 (the kind of bytes an old proto2 sender writes). */
static void put_group(bytes *b)
{
    put_tag(b, 50, 3);
    put_varint_field(b, 1, 7);
    put_len_field(b, 2, "in-group", 8);
    put_tag(b, 51, 3);
    put_tag(b, 1, 5);
    put(b, "\x01\x02\x03\x04", 4);
    put_tag(b, 51, 4);
    put_tag(b, 50, 4);
}

/* n empty groups of field `field`, each in the one before. */
static void put_nested_groups(bytes *b, uint32_t field, int n)
{
    for (int i = 0; i < n; i++)
        put_tag(b, field, 3);
    for (int i = 0; i < n; i++)
        put_tag(b, field, 4);
}

/* Parse req as the receiver does: one span listed, nothing dropped, its
 * bytes exactly `span`. */
static void assert_span_listed_as_sent(fixture *f, const bytes *req, const bytes *span)
{
    int rc =
        dp_otlp_trace_batch_parse(req->p, req->len, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(f->batch.span_count, 1);
    assert_int_equal(f->batch.attributes_dropped, 0);
    assert_int_equal(f->batch.spans[0].raw.len, span->len);
    assert_memory_equal(f->batch.spans[0].raw.ptr, span->p, span->len);
}

/* A request of one ResourceSpans (with `resource` when not empty) of one
 * ScopeSpans holding `span`. */
static bytes request_of(const bytes *resource, const bytes *span)
{
    bytes scope = {NULL, 0}, rs = {NULL, 0}, req = {NULL, 0};
    put_len_field(&scope, 2, span->p, span->len);
    if (resource && resource->len)
        put_len_field(&rs, 1, resource->p, resource->len);
    put_len_field(&rs, 2, scope.p, scope.len);
    put_len_field(&req, 1, rs.p, rs.len);
    free(scope.p), free(rs.p);
    return req;
}

/* KeyValue{key, value} of an encoded AnyValue (freed here). */
static bytes kv_of(const char *key, bytes value)
{
    bytes kv = {NULL, 0};
    put_len_field(&kv, 1, key, strlen(key));
    put_len_field(&kv, 2, value.p, value.len);
    free(value.p);
    return kv;
}

/* KeyValue{key, value: AnyValue{string_value}}. */
static bytes string_kv(const char *key, const char *val)
{
    bytes any = {NULL, 0};
    put_len_field(&any, 1, val, strlen(val));
    return kv_of(key, any);
}

/* Groups as unknown fields of a Span, of a KeyValue inside it, of its
 * resource and of the request: skipped like any unknown field, kept in the
 * span's bytes, and the rest reads as without them. */
static void test_group_fields_are_skipped(void **state)
{
    fixture *f = *state;
    bytes span = base_span();
    put_len_field(&span, 5, "grouped", 7);
    put_group(&span);
    bytes kv = string_kv("k", "v");
    put_group(&kv);
    put_len_field(&span, 9, kv.p, kv.len);
    bytes res = string_kv("service.name", "svc"), resource = {NULL, 0};
    put_len_field(&resource, 1, res.p, res.len);
    put_group(&resource);
    bytes req = request_of(&resource, &span);
    put_group(&req);

    /* the span's bytes are listed as they came, groups and all */
    assert_span_listed_as_sent(f, &req, &span);
    assert_int_equal(f->batch.spans[0].start_ns, 10);
    assert_int_equal(f->batch.spans[0].end_ns, 20);

    /* both decoders read it (protobuf-c, which refuses groups, without them) */
    dp_str res_raw = f->batch.resources[0].resource_raw;
    dp_span d, r;
    assert_int_equal(dp_otlp_span_decode(f->batch.spans[0].raw, res_raw, &f->arena, &d),
                     DP_OTLP_OK);
    assert_int_equal(dp_otlp_span_decode_pbc(f->batch.spans[0].raw, res_raw, &f->arena, &r),
                     DP_OTLP_OK);
    for (int i = 0; i < 2; i++) {
        const dp_span *x = i ? &r : &d;
        assert_true(str_is(x->name, "grouped", 7));
        assert_int_equal(x->attr_count, 1);
        assert_true(str_is(x->attrs[0].key, "k", 1));
        assert_true(str_is(x->attrs[0].value.u.s, "v", 1));
        assert_int_equal(x->resource_attr_count, 1);
        assert_true(str_is(x->resource_attrs[0].key, "service.name", 12));
    }
    /* the reference parse agrees */
    dp_otlp_trace_batch ref;
    assert_int_equal(
        dp_otlp_trace_batch_parse_pbc(req.p, req.len, &f->arena, &ref, f->err, sizeof f->err),
        DP_OTLP_OK);
    assert_int_equal(ref.span_count, 1);
    assert_memory_equal(ref.spans[0].span_id, f->batch.spans[0].span_id, 8);
    free(span.p), free(kv.p), free(res.p), free(resource.p), free(req.p);
}

/* Groups that do not close properly are malformed, wherever they are. */
static void test_broken_groups_are_refused(void **state)
{
    fixture *f = *state;
    static const char *const want[] = {
        "end group tag does not match its start group",
        "end group tag without its start group",
        "group without its end group tag",
    };
    for (int kind = 0; kind < 3; kind++) {
        bytes span = base_span();
        if (kind == 0) { /* start 50, end 51 */
            put_tag(&span, 50, 3);
            put_varint_field(&span, 1, 1);
            put_tag(&span, 51, 4);
        } else if (kind == 1) { /* an end group alone */
            put_tag(&span, 50, 4);
        } else { /* a start group that never ends */
            put_tag(&span, 50, 3);
            put_varint_field(&span, 1, 1);
        }
        bytes req = request_of(NULL, &span);
        int rc =
            dp_otlp_trace_batch_parse(req.p, req.len, &f->arena, &f->batch, f->err, sizeof f->err);
        assert_int_equal(rc, DP_OTLP_EDECODE);
        assert_non_null(strstr(f->err, want[kind]));
        assert_non_null(strstr(f->err, "Span"));
        dp_span d;
        assert_int_equal(
            dp_otlp_span_decode((dp_str){(char *)span.p, span.len}, DP_STR_NULL, &f->arena, &d),
            DP_OTLP_EDECODE);
        free(span.p), free(req.p);
    }
}

/*
 * KeyValue{key, value} whose innermost message is at message depth `depth`
 * when the KeyValue is at depth `kv_depth` (a span's attribute: 4). The
 * value is AnyValue arrays in arrays: each adds two levels (ArrayValue,
 * AnyValue); an odd remainder ends in an empty ArrayValue, itself a level.
 */
static bytes deep_kv(const char *key, int kv_depth, int depth)
{
    int below = depth - (kv_depth + 1); /* levels under the KeyValue's AnyValue */
    bytes value = {NULL, 0};
    assert_true(below >= 0);
    if (below % 2) {
        put_len_field(&value, 5, "", 0); /* AnyValue{array_value: ArrayValue{}} */
        below--;
    } else {
        put_varint_field(&value, 3, 1); /* AnyValue{int_value: 1} */
    }
    for (; below > 0; below -= 2) {
        bytes arr = {NULL, 0}, any = {NULL, 0};
        put_len_field(&arr, 1, value.p, value.len); /* ArrayValue{values} */
        put_len_field(&any, 5, arr.p, arr.len);     /* AnyValue{array_value} */
        free(value.p), free(arr.p);
        value = any;
    }
    return kv_of(key, value);
}

/* A kvlist nested 20 deep (65 messages: the OTLP SDKs send such values)
 * and values whose innermost message is at depth 100, protobuf's default
 * limit: taken whole, nothing dropped. */
static void test_nesting_up_to_the_limit_is_accepted(void **state)
{
    fixture *f = *state;
    /* 20 x AnyValue{kvlist_value: KeyValueList{values: KeyValue{key, value}}}
     * around AnyValue{string_value "leaf"}: 4 + 1 + 3 x 20 = 65 */
    bytes value = {NULL, 0};
    put_len_field(&value, 1, "leaf", 4);
    for (int i = 0; i < 20; i++) {
        bytes kv = kv_of("k", value), list = {NULL, 0}, any = {NULL, 0};
        put_len_field(&list, 1, kv.p, kv.len);
        put_len_field(&any, 6, list.p, list.len);
        free(kv.p), free(list.p);
        value = any;
    }
    bytes kvlist = kv_of("kvlist20", value);
    bytes at100 = deep_kv("d100", 4, 100), at99 = deep_kv("d99", 4, 99);
    bytes span = base_span();
    put_len_field(&span, 9, kvlist.p, kvlist.len);
    put_len_field(&span, 9, at100.p, at100.len);
    put_len_field(&span, 9, at99.p, at99.len);
    /* a group at depth 100: span (3) + 97 groups nested */
    put_nested_groups(&span, 60, 97);
    bytes req = request_of(NULL, &span);

    assert_span_listed_as_sent(f, &req, &span);
    dp_span d;
    assert_int_equal(dp_otlp_span_decode(f->batch.spans[0].raw, DP_STR_NULL, &f->arena, &d),
                     DP_OTLP_OK);
    assert_int_equal(d.attr_count, 3);
    assert_int_equal(d.attrs[0].value.kind, DP_VALUE_KVLIST);
    assert_true(str_is(d.attrs[1].key, "d100", 4));
    assert_int_equal(d.attrs[1].value.kind, DP_VALUE_ARRAY);
    free(kvlist.p), free(at100.p), free(at99.p), free(span.p), free(req.p);
}

/* A Span's dropped_attributes_count as the last of its field 10 says. */
static uint64_t dropped_count(dp_str raw)
{
    const uint8_t *pos = (const uint8_t *)raw.ptr, *end = pos + raw.len;
    dp_pb_field fl;
    const char *why;
    uint64_t n = 0;
    while (dp_pb_next(&pos, end, &fl, &why) > 0)
        if (fl.number == 10 && fl.wire_type == DP_PB_VARINT)
            n = fl.value;
    return n;
}

/*
 * One level more (101) in a span's attribute, an event's attribute, a
 * resource attribute and an attribute holding a group: only those
 * attributes go, each counted, the spans are listed and their
 * dropped_attributes_count raised.
 */
static void test_attribute_past_the_limit_is_dropped(void **state)
{
    fixture *f = *state;
    bytes keep = string_kv("keep", "yes");
    bytes deep_span = deep_kv("deep", 4, 101);
    /* an event (Span.events, depth 4) whose attribute (depth 5) reaches 101 */
    bytes deep_event = deep_kv("deep-in-event", 5, 101), event = {NULL, 0};
    put_len_field(&event, 2, "ev", 2);
    put_len_field(&event, 3, deep_event.p, deep_event.len);
    put_len_field(&event, 3, keep.p, keep.len);
    /* an attribute whose KeyValue (depth 4) holds a group of 97: 4 + 97 = 101 */
    bytes grouped = string_kv("grouped", "g");
    put_nested_groups(&grouped, 61, 97);

    bytes span = base_span();
    put_len_field(&span, 5, "s", 1);
    put_varint_field(&span, 10, 2); /* the sender dropped 2 already */
    put_len_field(&span, 9, deep_span.p, deep_span.len);
    put_len_field(&span, 9, keep.p, keep.len);
    put_len_field(&span, 11, event.p, event.len);
    put_len_field(&span, 9, grouped.p, grouped.len);
    /* the resource (depth 2): its attribute (3) reaching 101 */
    bytes deep_res = deep_kv("deep-res", 3, 101), resource = {NULL, 0};
    put_len_field(&resource, 1, deep_res.p, deep_res.len);
    put_len_field(&resource, 1, keep.p, keep.len);
    bytes req = request_of(&resource, &span);

    int rc = dp_otlp_trace_batch_parse(req.p, req.len, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_OK);
    assert_int_equal(f->batch.span_count, 1);
    assert_int_equal(f->batch.rejected, 0);
    /* span: "deep" and "grouped"; event: "deep-in-event"; resource: "deep-res" */
    assert_int_equal(f->batch.attributes_dropped, 4);
    dp_str raw = f->batch.spans[0].raw;
    assert_true(raw.len < span.len - deep_span.len - grouped.len);
    assert_int_equal(dropped_count(raw), 4); /* 2 + "deep" + "grouped" */

    dp_span d, r;
    dp_str res_raw = f->batch.resources[0].resource_raw;
    assert_int_equal(dp_otlp_span_decode(raw, res_raw, &f->arena, &d), DP_OTLP_OK);
    assert_int_equal(dp_otlp_span_decode_pbc(raw, res_raw, &f->arena, &r), DP_OTLP_OK);
    for (int i = 0; i < 2; i++) {
        const dp_span *x = i ? &r : &d;
        assert_true(str_is(x->name, "s", 1));
        assert_int_equal(x->attr_count, 1);
        assert_true(str_is(x->attrs[0].key, "keep", 4));
        assert_int_equal(x->resource_attr_count, 1);
        assert_true(str_is(x->resource_attrs[0].key, "keep", 4));
    }
    /* the event is still there, with its other attribute and a count of 1 */
    Opentelemetry__Proto__Trace__V1__Span *u =
        opentelemetry__proto__trace__v1__span__unpack(NULL, raw.len, (const uint8_t *)raw.ptr);
    assert_non_null(u);
    assert_int_equal(u->dropped_attributes_count, 4);
    assert_int_equal(u->n_events, 1);
    assert_string_equal(u->events[0]->name, "ev");
    assert_int_equal(u->events[0]->n_attributes, 1);
    assert_string_equal(u->events[0]->attributes[0]->key, "keep");
    assert_int_equal(u->events[0]->dropped_attributes_count, 1);
    opentelemetry__proto__trace__v1__span__free_unpacked(u, NULL);
    Opentelemetry__Proto__Resource__V1__Resource *ur =
        opentelemetry__proto__resource__v1__resource__unpack(NULL, res_raw.len,
                                                             (const uint8_t *)res_raw.ptr);
    assert_non_null(ur);
    assert_int_equal(ur->n_attributes, 1);
    assert_int_equal(ur->dropped_attributes_count, 1);
    opentelemetry__proto__resource__v1__resource__free_unpacked(ur, NULL);

    /* the reference parse lists the same span bytes */
    dp_otlp_trace_batch ref;
    assert_int_equal(
        dp_otlp_trace_batch_parse_pbc(req.p, req.len, &f->arena, &ref, f->err, sizeof f->err),
        DP_OTLP_OK);
    assert_int_equal(ref.attributes_dropped, 4);
    assert_int_equal(ref.spans[0].raw.len, raw.len);
    assert_memory_equal(ref.spans[0].raw.ptr, raw.ptr, raw.len);

    /* a span's own decode (finalisation) refuses what is too deep for it */
    assert_int_equal(dp_otlp_span_decode((dp_str){(char *)deep_span.p, deep_span.len}, DP_STR_NULL,
                                         &f->arena, &d),
                     DP_OTLP_EDECODE);
    free(keep.p), free(deep_span.p), free(deep_event.p), free(event.p), free(grouped.p);
    free(span.p), free(deep_res.p), free(resource.p), free(req.p);
}

/* Too deep outside any attribute (a group of the span itself): the request
 * is malformed, as protobuf finds it. */
static void test_group_past_the_limit_outside_attributes_is_refused(void **state)
{
    fixture *f = *state;
    bytes span = base_span();
    put_nested_groups(&span, 60, 98); /* span (3) + 98 = 101 */
    bytes req = request_of(NULL, &span);
    int rc = dp_otlp_trace_batch_parse(req.p, req.len, &f->arena, &f->batch, f->err, sizeof f->err);
    assert_int_equal(rc, DP_OTLP_EDECODE);
    assert_non_null(strstr(f->err, "Span: groups nested more than 100 deep"));
    free(span.p), free(req.p);
}

/* Metrics and logs with groups are counted as without them. */
static void test_metrics_and_logs_with_groups(void **state)
{
    fixture *f = *state;
    /* LogsRequest{resource_logs: ResourceLogs{scope_logs: ScopeLogs{log_records x 2}}} */
    bytes rec = {NULL, 0}, scope = {NULL, 0}, rl = {NULL, 0}, req = {NULL, 0};
    put_varint_field(&rec, 2, 9); /* severity_number */
    put_group(&rec);
    put_len_field(&scope, 2, rec.p, rec.len);
    put_len_field(&scope, 2, rec.p, rec.len);
    put_group(&scope);
    put_len_field(&rl, 2, scope.p, scope.len);
    put_len_field(&req, 1, rl.p, rl.len);
    put_group(&req);
    dp_otlp_side_request n;
    assert_int_equal(dp_otlp_logs_validate(req.p, req.len, &f->arena, &n, f->err, sizeof f->err),
                     DP_OTLP_OK);
    assert_int_equal(n.items, 2);
    /* forwarded as they came, groups included */
    assert_ptr_equal(n.forward, req.p);
    assert_int_equal(n.forward_len, req.len);
    free(rec.p), free(scope.p), free(rl.p), free(req.p);
}

/* The payload of the first LEN field `number` of the message m (NULL ptr when none). */
static dp_str first_field(dp_str m, uint32_t number)
{
    const uint8_t *pos = (const uint8_t *)m.ptr, *end = pos + m.len;
    dp_pb_field fl;
    const char *why;
    while (dp_pb_next(&pos, end, &fl, &why) > 0)
        if (fl.number == number && fl.wire_type == DP_PB_LEN)
            return (dp_str){(const char *)fl.data, fl.len};
    return (dp_str){NULL, 0};
}

/* The keys of message m's attributes (field attrs), joined by ',' into keys;
 * returns the last value of its varint field `count` (0 when absent). */
static uint64_t attributes_of(dp_str m, uint32_t attrs, uint32_t count, char *keys, size_t cap)
{
    const uint8_t *pos = (const uint8_t *)m.ptr, *end = pos + m.len;
    dp_pb_field fl;
    const char *why;
    uint64_t n = 0;
    size_t k = 0;
    keys[0] = '\0';
    while (dp_pb_next(&pos, end, &fl, &why) > 0) {
        if (fl.number == count && fl.wire_type == DP_PB_VARINT)
            n = fl.value;
        if (fl.number != attrs || fl.wire_type != DP_PB_LEN)
            continue;
        dp_str key = first_field((dp_str){(const char *)fl.data, fl.len}, 1);
        k += (size_t)snprintf(keys + k, cap - k, "%s%.*s", k ? "," : "", (int)key.len,
                              key.ptr ? key.ptr : "");
        assert_true(k < cap);
    }
    return n;
}

/* Whether m holds the bytes of b. */
static bool holds(dp_str m, bytes b)
{
    for (size_t i = 0; i + b.len <= m.len; i++)
        if (memcmp(m.ptr + i, b.p, b.len) == 0)
            return true;
    return false;
}

/* Request → Resource<X>[0] → Scope<X>[0] → item[0] (the three signals share the shape). */
static dp_str first_item(const uint8_t *req, size_t len)
{
    dp_str r = first_field((dp_str){(const char *)req, len}, 1);
    return first_field(first_field(r, 2), 2);
}

static dp_str first_resource(const uint8_t *req, size_t len)
{
    return first_field(first_field((dp_str){(const char *)req, len}, 1), 1);
}

typedef int (*side_validate_fn)(const uint8_t *, size_t, dp_arena *, dp_otlp_side_request *, char *,
                                size_t);

/* req validated (which must work) with `items` items, `dropped` attributes left out. */
static dp_otlp_side_request validated(fixture *f, side_validate_fn validate, bytes req,
                                      size_t items, size_t dropped)
{
    dp_otlp_side_request v;
    assert_int_equal(validate(req.p, req.len, &f->arena, &v, f->err, sizeof f->err), DP_OTLP_OK);
    assert_int_equal(v.items, items);
    assert_int_equal(v.attributes_dropped, dropped);
    return v;
}

/*
 * A log record whose attribute nests 101 deep (the record is depth 3, its
 * KeyValue 4): the request is accepted, that attribute alone is left out of
 * what is forwarded, the record's dropped_attributes_count is 2 + 1, the
 * attribute exactly 100 deep and the plain one stay, and so does the
 * record's unknown group (forwarded bytes are not protobuf-c's rewrite).
 */
static void test_logs_attribute_past_the_limit_is_dropped(void **state)
{
    fixture *f = *state;
    bytes deep = deep_kv("deep", 4, 101), keep = string_kv("keep", "yes");
    bytes at100 = deep_kv("d100", 4, 100), rec = {NULL, 0}, group = {NULL, 0};
    put_len_field(&rec, 3, "INFO", 4);
    put_len_field(&rec, 6, deep.p, deep.len);
    put_len_field(&rec, 6, keep.p, keep.len);
    put_varint_field(&rec, 7, 2); /* the sender dropped 2 already */
    put_len_field(&rec, 6, at100.p, at100.len);
    put_group(&group);
    put(&rec, group.p, group.len);
    bytes req = request_of(NULL, &rec);

    char keys[64];
    dp_otlp_side_request v = validated(f, dp_otlp_logs_validate, req, 1, 1);
    assert_true(v.forward != req.p);
    /* the deep KeyValue goes with its tag and length, the count's 2 bytes come */
    assert_true(v.forward_len < req.len - deep.len);
    dp_str r = first_item(v.forward, v.forward_len);
    assert_non_null(r.ptr);
    assert_int_equal(attributes_of(r, 6, 7, keys, sizeof keys), 3);
    assert_string_equal(keys, "keep,d100");
    assert_true(str_is(first_field(r, 3), "INFO", 4));
    assert_true(holds(r, group));
    /* what is forwarded validates with nothing more to leave out */
    dp_otlp_side_request again;
    assert_int_equal(
        dp_otlp_logs_validate(v.forward, v.forward_len, &f->arena, &again, f->err, sizeof f->err),
        DP_OTLP_OK);
    assert_int_equal(again.items, 1);
    assert_int_equal(again.attributes_dropped, 0);
    assert_ptr_equal(again.forward, v.forward);

    /* the body is no attribute: 101 deep there is malformed (the record's
     * body AnyValue is depth 4, as a KeyValue's, so its value is 5 + ...) */
    bytes body_rec = {NULL, 0}, body = deep_kv("x", 3, 101);
    dp_str body_value = first_field((dp_str){(const char *)body.p, body.len}, 2);
    put_len_field(&body_rec, 5, body_value.ptr, body_value.len);
    bytes body_req = request_of(NULL, &body_rec);
    assert_int_equal(
        dp_otlp_logs_validate(body_req.p, body_req.len, &f->arena, &v, f->err, sizeof f->err),
        DP_OTLP_EDECODE);
    assert_non_null(strstr(f->err, "nested more than 100 deep"));
    assert_null(v.forward);
    free(deep.p), free(keep.p), free(at100.p), free(rec.p), free(group.p), free(req.p);
    free(body_rec.p), free(body.p), free(body_req.p);
}

/* A metrics request of one gauge whose one data point has the attribute kv (freed here). */
static bytes point_request(bytes kv)
{
    bytes point = {NULL, 0}, gauge = {NULL, 0}, metric = {NULL, 0};
    put_len_field(&point, 7, kv.p, kv.len);
    put_len_field(&gauge, 1, point.p, point.len);
    put_len_field(&metric, 5, gauge.p, gauge.len);
    bytes req = request_of(NULL, &metric);
    free(kv.p), free(point.p), free(gauge.p), free(metric.p);
    return req;
}

/*
 * A metrics request whose Resource (depth 2; its KeyValues 3) has an
 * attribute 101 deep: left out, the resource's count 0 + 1, its sibling and
 * the one exactly 100 deep kept, the metric and its data point forwarded. A
 * data point's attribute 101 deep (NumberDataPoint has no dropped count) is
 * malformed, as it is for protobuf.
 */
static void test_metrics_resource_attribute_past_the_limit_is_dropped(void **state)
{
    fixture *f = *state;
    bytes deep = deep_kv("deep-res", 3, 101), keep = string_kv("service.name", "svc");
    bytes at100 = deep_kv("r100", 3, 100), resource = {NULL, 0};
    put_len_field(&resource, 1, keep.p, keep.len);
    put_len_field(&resource, 1, deep.p, deep.len);
    put_len_field(&resource, 1, at100.p, at100.len);
    /* Metric{name "m", gauge{data_points: one empty NumberDataPoint}} */
    bytes gauge = {NULL, 0}, metric = {NULL, 0};
    put_len_field(&gauge, 1, "", 0);
    put_len_field(&metric, 1, "m", 1);
    put_len_field(&metric, 5, gauge.p, gauge.len);
    bytes req = request_of(&resource, &metric);

    char keys[64];
    dp_otlp_side_request v = validated(f, dp_otlp_metrics_validate, req, 1, 1);
    dp_str res = first_resource(v.forward, v.forward_len);
    assert_non_null(res.ptr);
    assert_int_equal(attributes_of(res, 1, 2, keys, sizeof keys), 1);
    assert_string_equal(keys, "service.name,r100");
    dp_str m = first_item(v.forward, v.forward_len);
    assert_int_equal(m.len, metric.len);
    assert_memory_equal(m.ptr, metric.p, metric.len);

    /* NumberDataPoint (depth 5) attribute (KeyValue 6) 101 deep: refused */
    bytes req2 = point_request(deep_kv("dp", 6, 101));
    assert_int_equal(
        dp_otlp_metrics_validate(req2.p, req2.len, &f->arena, &v, f->err, sizeof f->err),
        DP_OTLP_EDECODE);
    assert_non_null(strstr(f->err, "nested more than 100 deep"));
    /* exactly 100 there: taken whole */
    bytes req3 = point_request(deep_kv("dp", 6, 100));
    assert_int_equal(
        dp_otlp_metrics_validate(req3.p, req3.len, &f->arena, &v, f->err, sizeof f->err),
        DP_OTLP_OK);
    assert_int_equal(v.attributes_dropped, 0);
    assert_ptr_equal(v.forward, req3.p);
    free(deep.p), free(keep.p), free(at100.p), free(resource.p), free(gauge.p), free(metric.p);
    free(req.p), free(req2.p), free(req3.p);
}

/* A KeyValue whose value comes twice with no value set in either (one
 * holding only an unknown field): legal, an empty value. protobuf-c cannot
 * merge such occurrences itself; the decoders and the reference parse still
 * read the span. */
static void test_value_given_twice_without_a_value(void **state)
{
    fixture *f = *state;
    bytes any = {NULL, 0}, kv = {NULL, 0};
    put_varint_field(&any, 1309, 9); /* AnyValue{unknown field 1309} */
    put_len_field(&kv, 1, "k", 1);
    put_len_field(&kv, 2, any.p, any.len);
    put_len_field(&kv, 2, "", 0);
    bytes span = base_span();
    put_len_field(&span, 9, kv.p, kv.len);
    bytes req = request_of(NULL, &span);
    assert_span_listed_as_sent(f, &req, &span);
    dp_span d, r;
    dp_str raw = f->batch.spans[0].raw;
    assert_int_equal(dp_otlp_span_decode(raw, DP_STR_NULL, &f->arena, &d), DP_OTLP_OK);
    assert_int_equal(dp_otlp_span_decode_pbc(raw, DP_STR_NULL, &f->arena, &r), DP_OTLP_OK);
    assert_int_equal(d.attr_count, 1);
    assert_int_equal(r.attr_count, 1);
    assert_true(str_is(d.attrs[0].key, "k", 1));
    assert_int_equal(d.attrs[0].value.kind, DP_VALUE_EMPTY);
    assert_int_equal(r.attrs[0].value.kind, DP_VALUE_EMPTY);
    dp_otlp_trace_batch ref;
    assert_int_equal(
        dp_otlp_trace_batch_parse_pbc(req.p, req.len, &f->arena, &ref, f->err, sizeof f->err),
        DP_OTLP_OK);
    assert_int_equal(ref.span_count, 1);
    free(any.p), free(kv.p), free(span.p), free(req.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_indexes_every_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unusable_ids_are_rejected_with_reasons, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_garbage_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_fields_are_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_resource_and_unusual_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_span_decode_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_attribute_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_and_logs_are_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_receive_walk_takes_the_last_of_a_repeated_singular_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_packed_field_with_a_partial_value_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wire_decode_views_point_into_the_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wire_decode_matches_reference_on_odd_encodings, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wire_decode_refuses_bad_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_fields_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_groups_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nesting_up_to_the_limit_is_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attribute_past_the_limit_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_past_the_limit_outside_attributes_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_and_logs_with_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_attribute_past_the_limit_is_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_metrics_resource_attribute_past_the_limit_is_dropped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_given_twice_without_a_value, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

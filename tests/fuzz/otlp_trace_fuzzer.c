/*
 * Fuzz target for the OTLP protobuf decoder: parse a request as the receiver
 * does (wire walk only) and with the protobuf-c reference parse, which must
 * accept and reject the same requests and list the same spans (ids, times,
 * bytes, scopes, resources, rejected counts, attributes dropped for nesting
 * too deep). protobuf-c refuses groups and has no nesting limit, so the
 * reference unpacks each part without its groups and too deep attributes
 * (the rewrite both parses share; tests/fuzz/README.md); decode every listed span with its resource
 * (which must succeed: the batch only lists usable spans) with both the direct wire decoder and the
 * protobuf-c reference decoder, which must give identical dp_spans, and run
 * the metrics and logs validators over the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "otlp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Views are compared by content: the two decoders point into different memory. */
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
        return memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0; /* NaNs too, bit for bit */
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
        !str_same(a->status_message, b->status_message) || a->link_count != b->link_count)
        return false;
    for (size_t i = 0; i < a->link_count; i++)
        if (memcmp(&a->links[i], &b->links[i], sizeof a->links[i]))
            return false;
    return attrs_same(a->attrs, a->attr_count, b->attrs, b->attr_count) &&
           attrs_same(a->resource_attrs, a->resource_attr_count, b->resource_attrs,
                      b->resource_attr_count);
}

/* The same span bytes: the same view of the request, or (a span rewritten
 * without its too deep attributes, in each parse's own arena) the same content. */
static bool raw_same(dp_str x, dp_str y, const uint8_t *data, size_t size)
{
    const uint8_t *px = (const uint8_t *)x.ptr, *py = (const uint8_t *)y.ptr;
    bool x_in = px >= data && px < data + size, y_in = py >= data && py < data + size;
    if (x_in || y_in)
        return px == py && x.len == y.len;
    return str_same(x, y);
}

static bool batch_same(const dp_otlp_trace_batch *a, const dp_otlp_trace_batch *b,
                       const uint8_t *data, size_t size)
{
    if (a->span_count != b->span_count || a->scope_count != b->scope_count ||
        a->resource_count != b->resource_count || a->rejected != b->rejected ||
        a->attributes_dropped != b->attributes_dropped || a->reject_offset != b->reject_offset ||
        strcmp(a->reject_message, b->reject_message) != 0)
        return false;
    for (size_t i = 0; i < a->span_count; i++) {
        const dp_span_ref *x = &a->spans[i], *y = &b->spans[i];
        if (!raw_same(x->raw, y->raw, data, size) || x->scope_index != y->scope_index ||
            memcmp(x->trace_id, y->trace_id, 16) || memcmp(x->span_id, y->span_id, 8) ||
            x->has_parent != y->has_parent || memcmp(x->parent_span_id, y->parent_span_id, 8) ||
            x->start_ns != y->start_ns || x->end_ns != y->end_ns)
            return false;
    }
    for (size_t i = 0; i < a->scope_count; i++)
        if (!str_same(a->scopes[i].scope_raw, b->scopes[i].scope_raw) ||
            !str_same(a->scopes[i].scope_schema_url, b->scopes[i].scope_schema_url) ||
            !str_same(a->scopes[i].resource_raw, b->scopes[i].resource_raw) ||
            !str_same(a->scopes[i].resource_schema_url, b->scopes[i].resource_schema_url) ||
            a->scopes[i].resource_index != b->scopes[i].resource_index)
            return false;
    for (size_t i = 0; i < a->resource_count; i++)
        if (!str_same(a->resources[i].resource_raw, b->resources[i].resource_raw) ||
            !str_same(a->resources[i].schema_url, b->resources[i].schema_url))
            return false;
    return true;
}

/* The receive path's parse and the protobuf-c reference agree on everything. */
static void compare_with_reference(const uint8_t *data, size_t size)
{
    dp_arena arena, ref_arena;
    dp_otlp_trace_batch batch, ref;
    char err[256], ref_err[256];

    dp_arena_init(&arena, 0, 256u << 20);
    dp_arena_init(&ref_arena, 0, 256u << 20);
    int rc = dp_otlp_trace_batch_parse(data, size, &arena, &batch, err, sizeof err);
    int ref_rc =
        dp_otlp_trace_batch_parse_pbc(data, size, &ref_arena, &ref, ref_err, sizeof ref_err);
    if (rc != ref_rc)
        abort();
    if (rc == DP_OTLP_OK && !batch_same(&batch, &ref, data, size))
        abort();
    dp_arena_free(&arena);
    dp_arena_free(&ref_arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_arena arena;
    dp_otlp_trace_batch batch;
    char err[256];

    compare_with_reference(data, size);
    dp_arena_init(&arena, 0, 256u << 20);
    if (dp_otlp_trace_batch_parse(data, size, &arena, &batch, err, sizeof err) == DP_OTLP_OK) {
        for (size_t i = 0; i < batch.span_count; i++) {
            const dp_span_ref *ref = &batch.spans[i];
            if (ref->scope_index >= batch.scope_count)
                abort();
            uint32_t res = batch.scopes[ref->scope_index].resource_index;
            if (res >= batch.resource_count)
                abort();
            dp_str res_raw = batch.resources[res].resource_raw;
            dp_span s, ref_s;
            int rc = dp_otlp_span_decode(ref->raw, res_raw, &arena, &s);
            int ref_rc = dp_otlp_span_decode_pbc(ref->raw, res_raw, &arena, &ref_s);
            /* a listed span always decodes, to the ids the batch reported */
            if (rc == DP_OTLP_EDECODE || ref_rc == DP_OTLP_EDECODE)
                abort();
            if (rc == DP_OTLP_OK &&
                (memcmp(s.trace_id, ref->trace_id, 16) != 0 ||
                 memcmp(s.span_id, ref->span_id, 8) != 0 || s.has_parent != ref->has_parent ||
                 s.start_ns != ref->start_ns || s.end_ns != ref->end_ns))
                abort();
            /* the direct decoder and the protobuf-c reference agree field for field */
            if (rc == DP_OTLP_OK && ref_rc == DP_OTLP_OK && !span_same(&s, &ref_s))
                abort();
            /* and so does the shared resource decode the daemon uses */
            const dp_attr *ra, *rb;
            size_t na, nb;
            if (dp_otlp_resource_decode(res_raw, &arena, &ra, &na) == DP_OTLP_OK &&
                dp_otlp_resource_decode_pbc(res_raw, &arena, &rb, &nb) == DP_OTLP_OK &&
                !attrs_same(ra, na, rb, nb))
                abort();
        }
    }
    /* every counted item takes at least two bytes (its tag and length);
     * what is forwarded validates again, the same items, nothing more to drop */
    for (int logs = 0; logs < 2; logs++) {
        dp_otlp_side_request v, again;
        dp_arena_reset(&arena);
        int (*validate)(const uint8_t *, size_t, dp_arena *, dp_otlp_side_request *, char *,
                        size_t) = logs ? dp_otlp_logs_validate : dp_otlp_metrics_validate;
        if (validate(data, size, &arena, &v, err, sizeof err) != DP_OTLP_OK)
            continue;
        if (v.items > size / 2 || (!v.attributes_dropped && v.forward != data))
            abort();
        if (validate(v.forward, v.forward_len, &arena, &again, err, sizeof err) != DP_OTLP_OK ||
            again.items != v.items || again.attributes_dropped)
            abort();
    }
    dp_arena_free(&arena);
    return 0;
}

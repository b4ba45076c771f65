/*
 * One encoded Span (and its Resource) → dp_span, the profiler's model.
 *
 * Called when a run is assembled, on bytes that dp_otlp_trace_batch_parse()
 * already listed, but written to be safe on any bytes: it re-checks the wire
 * format and the ids. Everything it produces lives in the caller's arena.
 */
#include "decode.h"

#include <string.h>

#include "opentelemetry/proto/resource/v1/resource.pb-c.h"
#include "opentelemetry/proto/trace/v1/trace.pb-c.h"
#include "otlp_internal.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource;

static dp_str view(const char *s)
{
    return s ? dp_str_from_cstr(s) : DP_STR_NULL;
}

static int convert_value(const pb_any *v, dp_arena *arena, dp_value *out, int depth)
{
    memset(out, 0, sizeof *out);
    if (!v)
        return DP_OTLP_OK;
    if (depth > DP_OTLP_MAX_DEPTH)
        return DP_OTLP_EDECODE;
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        out->kind = DP_VALUE_STRING;
        out->u.s = view(v->string_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        out->kind = DP_VALUE_BOOL;
        out->u.b = v->bool_value;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        out->kind = DP_VALUE_INT;
        out->u.i = v->int_value;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        out->kind = DP_VALUE_DOUBLE;
        out->u.d = v->double_value;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        out->kind = DP_VALUE_BYTES;
        out->u.s = (dp_str){(const char *)v->bytes_value.data, v->bytes_value.len};
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
        /* opaque: the profiler reads no nested maps */
        out->kind = DP_VALUE_KVLIST;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE: {
        const Opentelemetry__Proto__Common__V1__ArrayValue *arr = v->array_value;
        size_t n = arr ? arr->n_values : 0;
        dp_value *items = NULL;
        out->kind = DP_VALUE_ARRAY;
        if (n) {
            items = dp_arena_alloc(arena, n * sizeof *items);
            if (!items)
                return DP_OTLP_ENOMEM;
            for (size_t i = 0; i < n; i++) {
                int rc = convert_value(arr->values[i], arena, &items[i], depth + 1);
                if (rc != DP_OTLP_OK)
                    return rc;
            }
        }
        out->u.array.items = items;
        out->u.array.count = n;
        break;
    }
    default:
        break; /* empty AnyValue */
    }
    return DP_OTLP_OK;
}

static int convert_attrs(pb_kv *const *kvs, size_t n, dp_arena *arena, const dp_attr **out,
                         size_t *count)
{
    dp_attr *attrs = NULL;
    *out = NULL;
    *count = 0;
    if (!n)
        return DP_OTLP_OK;
    attrs = dp_arena_alloc(arena, n * sizeof *attrs);
    if (!attrs)
        return DP_OTLP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        attrs[i].key = view(kvs[i]->key);
        int rc = convert_value(kvs[i]->value, arena, &attrs[i].value, 0);
        if (rc != DP_OTLP_OK)
            return rc;
    }
    *out = attrs;
    *count = n;
    return DP_OTLP_OK;
}

/* Check and unpack one message; NULL with *rc set on failure. */
static ProtobufCMessage *unpack_checked(const ProtobufCMessageDescriptor *desc, dp_str raw,
                                        dp_arena *arena, int *rc)
{
    static const uint8_t empty[1];
    const uint8_t *data = raw.ptr ? (const uint8_t *)raw.ptr : empty;
    char err[8];
    ProtobufCAllocator alloc;
    dp_otlp_alloc_track track = {.arena = arena};
    ProtobufCMessage *m;

    if (dp_otlp_wire_check(desc, data, raw.len, err, sizeof err) < 0) {
        *rc = DP_OTLP_EDECODE;
        return NULL;
    }
    dp_otlp_arena_allocator_tracked(&track, &alloc);
    m = protobuf_c_message_unpack(desc, &alloc, raw.len, data);
    if (!m)
        *rc = track.failed ? DP_OTLP_ENOMEM : DP_OTLP_EDECODE;
    return m;
}

int dp_otlp_resource_decode(dp_str resource_raw, dp_arena *arena, const dp_attr **attrs,
                            size_t *count)
{
    int rc = DP_OTLP_OK;
    *attrs = NULL;
    *count = 0;
    if (resource_raw.len == 0)
        return DP_OTLP_OK;
    pb_resource *r = (pb_resource *)unpack_checked(
        &opentelemetry__proto__resource__v1__resource__descriptor, resource_raw, arena, &rc);
    if (!r)
        return rc;
    return convert_attrs(r->attributes, r->n_attributes, arena, attrs, count);
}

static int convert_links(const pb_span *sp, dp_arena *arena, dp_span *out)
{
    dp_link *links;
    size_t n = 0;
    if (!sp->n_links)
        return DP_OTLP_OK;
    links = dp_arena_alloc(arena, sp->n_links * sizeof *links);
    if (!links)
        return DP_OTLP_ENOMEM;
    for (size_t i = 0; i < sp->n_links; i++) {
        const Opentelemetry__Proto__Trace__V1__Span__Link *l = sp->links[i];
        /* a link with unusable ids points nowhere; it cannot become a DAG edge */
        if (l->trace_id.len != 16 || l->span_id.len != 8)
            continue;
        memcpy(links[n].trace_id, l->trace_id.data, 16);
        memcpy(links[n].span_id, l->span_id.data, 8);
        n++;
    }
    out->links = links;
    out->link_count = n;
    return DP_OTLP_OK;
}

int dp_otlp_span_decode(dp_str span_raw, dp_str resource_raw, dp_arena *arena, dp_span *out)
{
    int rc = DP_OTLP_OK;
    pb_span *sp;

    memset(out, 0, sizeof *out);
    sp = (pb_span *)unpack_checked(&opentelemetry__proto__trace__v1__span__descriptor, span_raw,
                                   arena, &rc);
    if (!sp)
        return rc;
    if (sp->trace_id.len != 16 || sp->span_id.len != 8 ||
        (sp->parent_span_id.len != 0 && sp->parent_span_id.len != 8) ||
        dp_otlp_id_is_zero(sp->trace_id.data, 16) || dp_otlp_id_is_zero(sp->span_id.data, 8))
        return DP_OTLP_EDECODE;

    memcpy(out->trace_id, sp->trace_id.data, 16);
    memcpy(out->span_id, sp->span_id.data, 8);
    out->has_parent = sp->parent_span_id.len == 8 &&
                      !dp_otlp_id_is_zero(sp->parent_span_id.data, 8);
    if (out->has_parent)
        memcpy(out->parent_span_id, sp->parent_span_id.data, 8);
    out->name = view(sp->name);
    out->kind = (int)sp->kind;
    out->start_ns = sp->start_time_unix_nano;
    out->end_ns = sp->end_time_unix_nano;
    if (sp->status) {
        switch (sp->status->code) {
        case OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_OK:
            out->status = DP_STATUS_OK;
            break;
        case OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR:
            out->status = DP_STATUS_ERROR;
            break;
        default:
            out->status = DP_STATUS_UNSET; /* unknown codes read as unset */
            break;
        }
        out->status_message = view(sp->status->message);
    }
    rc = convert_attrs(sp->attributes, sp->n_attributes, arena, &out->attrs, &out->attr_count);
    if (rc != DP_OTLP_OK)
        return rc;
    rc = convert_links(sp, arena, out);
    if (rc != DP_OTLP_OK)
        return rc;
    return dp_otlp_resource_decode(resource_raw, arena, &out->resource_attrs,
                                   &out->resource_attr_count);
}

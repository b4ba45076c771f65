/*
 * One encoded Span (and its Resource) → dp_span, the profiler's model.
 *
 * Two decoders with the same output:
 *  - dp_otlp_span_decode() / dp_otlp_resource_decode() read the wire format
 *    directly: strings and bytes are views into the given bytes, arrays go
 *    in the caller's arena, nothing is unpacked that the profiler does not
 *    read. They run per span when a run is finalised, on bytes that
 *    protobuf-c already accepted at receive time, but stay safe on any
 *    bytes: every field they read is bounds- and wire-type-checked, nesting
 *    is bounded, ids are re-checked.
 *  - dp_otlp_span_decode_pbc() / dp_otlp_resource_decode_pbc() check and
 *    unpack with protobuf-c: the reference the fast decoders are tested
 *    against, and what they defer to for the rare encodings where
 *    protobuf-c's merge rules apply (a singular message field given twice).
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
    dp_otlp_wire_found found = {0};
    ProtobufCMessage *m;

    if (dp_otlp_wire_check(desc, data, raw.len, &found, err, sizeof err) < 0) {
        *rc = DP_OTLP_EDECODE;
        return NULL;
    }
    /* protobuf-c refuses groups and fails on some merges: it unpacks a
     * rewrite that means the same (dp_otlp_wire_for_pbc) */
    dp_str bytes = {(const char *)data, raw.len};
    *rc = dp_otlp_wire_for_pbc(desc, &found, &bytes, 0, arena);
    if (*rc != DP_OTLP_OK)
        return NULL;
    dp_otlp_arena_allocator_tracked(&track, &alloc);
    m = protobuf_c_message_unpack(desc, &alloc, bytes.len, (const uint8_t *)bytes.ptr);
    if (!m)
        *rc = track.failed ? DP_OTLP_ENOMEM : DP_OTLP_EDECODE;
    return m;
}

int dp_otlp_resource_decode_pbc(dp_str resource_raw, dp_arena *arena, const dp_attr **attrs,
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

int dp_otlp_span_decode_pbc(dp_str span_raw, dp_str resource_raw, dp_arena *arena, dp_span *out)
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
    out->has_parent =
        sp->parent_span_id.len == 8 && !dp_otlp_id_is_zero(sp->parent_span_id.data, 8);
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
    return dp_otlp_resource_decode_pbc(resource_raw, arena, &out->resource_attrs,
                                       &out->resource_attr_count);
}

/* ---- direct wire decoding ------------------------------------------------ */

/* Returned by the wire decoders when the bytes use a singular message field
 * more than once: protobuf-c merges such occurrences with rules of its own,
 * so the span is handed to the reference decoder to get exactly its result. */
#define WIRE_MERGE 1

/* A string field as protobuf-c hands it over: NUL-terminated, so the profiler
 * has always seen it up to its first NUL. */
static dp_str wire_string(const dp_pb_field *f)
{
    const char *p = (const char *)f->data;
    const char *nul;
    if (!f->len)
        return (dp_str){"", 0};
    nul = memchr(p, 0, f->len);
    return (dp_str){p, nul ? (size_t)(nul - p) : f->len};
}

/* A field this decoder does not read: legal when unknown, or known with its own wire type. */
static bool other_field_ok(const ProtobufCMessageDescriptor *desc, const dp_pb_field *f)
{
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, f->number);
    if (!fd)
        return true;
    int want = dp_otlp_wire_type_for(fd->type);
    return f->wire_type == want || (fd->label == PROTOBUF_C_LABEL_REPEATED && want != DP_PB_LEN &&
                                    f->wire_type == DP_PB_LEN);
}

static int wire_any(const uint8_t *data, size_t len, dp_arena *arena, dp_value *out, int depth);

/* ArrayValue at message depth `depth` → out->u.array. */
static int wire_array(const uint8_t *data, size_t len, dp_arena *arena, dp_value *out, int depth)
{
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why;
    size_t n = 0, i = 0;
    dp_value *items = NULL;
    int rc;

    if (depth > DP_OTLP_MAX_DEPTH)
        return DP_OTLP_EDECODE;
    while ((rc = dp_pb_next(&pos, end, &f, &why)) > 0) {
        if (f.number == 1) {
            if (f.wire_type != DP_PB_LEN)
                return DP_OTLP_EDECODE;
            n++;
        } else if (!other_field_ok(&opentelemetry__proto__common__v1__array_value__descriptor,
                                   &f)) {
            return DP_OTLP_EDECODE;
        }
    }
    if (rc < 0)
        return DP_OTLP_EDECODE;
    if (n) {
        items = dp_arena_alloc(arena, n * sizeof *items);
        if (!items)
            return DP_OTLP_ENOMEM;
        pos = data;
        while (dp_pb_next(&pos, end, &f, &why) > 0) {
            if (f.number != 1)
                continue;
            rc = wire_any(f.data, f.len, arena, &items[i++], depth + 1);
            if (rc != DP_OTLP_OK)
                return rc;
        }
    }
    out->u.array.items = items;
    out->u.array.count = n;
    return DP_OTLP_OK;
}

/* AnyValue at message depth `depth`. Its fields form a oneof: the last one given wins. */
static int wire_any(const uint8_t *data, size_t len, dp_arena *arena, dp_value *out, int depth)
{
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why;
    const uint8_t *arr = NULL;
    size_t arr_len = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (depth > DP_OTLP_MAX_DEPTH)
        return DP_OTLP_EDECODE;
    while ((rc = dp_pb_next(&pos, end, &f, &why)) > 0) {
        int want;
        switch (f.number) {
        case 1: /* string_value */
        case 5: /* array_value */
        case 6: /* kvlist_value */
        case 7: /* bytes_value */
            want = DP_PB_LEN;
            break;
        case 2: /* bool_value */
        case 3: /* int_value */
            want = DP_PB_VARINT;
            break;
        case 4: /* double_value */
            want = DP_PB_I64;
            break;
        default:
            if (!other_field_ok(&opentelemetry__proto__common__v1__any_value__descriptor, &f))
                return DP_OTLP_EDECODE;
            continue;
        }
        if (f.wire_type != want)
            return DP_OTLP_EDECODE;
        switch (f.number) {
        case 1:
            out->kind = DP_VALUE_STRING;
            out->u.s = wire_string(&f);
            break;
        case 2:
            out->kind = DP_VALUE_BOOL;
            out->u.b = f.value != 0;
            break;
        case 3:
            out->kind = DP_VALUE_INT;
            out->u.i = (int64_t)f.value;
            break;
        case 4:
            out->kind = DP_VALUE_DOUBLE;
            memcpy(&out->u.d, &f.value, sizeof out->u.d);
            break;
        case 5:
            out->kind = DP_VALUE_ARRAY;
            arr = f.data;
            arr_len = f.len;
            break;
        case 6:
            /* opaque: the profiler reads no nested maps */
            out->kind = DP_VALUE_KVLIST;
            break;
        default:
            out->kind = DP_VALUE_BYTES;
            out->u.s = (dp_str){(const char *)f.data, f.len};
            break;
        }
    }
    if (rc < 0)
        return DP_OTLP_EDECODE;
    if (out->kind == DP_VALUE_ARRAY) {
        memset(&out->u, 0, sizeof out->u);
        return wire_array(arr ? arr : data, arr_len, arena, out, depth + 1);
    }
    if (out->kind == DP_VALUE_KVLIST)
        memset(&out->u, 0, sizeof out->u);
    return DP_OTLP_OK;
}

/* KeyValue at message depth `depth`. */
static int wire_key_value(const uint8_t *data, size_t len, dp_arena *arena, dp_attr *out, int depth)
{
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why;
    const uint8_t *val = NULL;
    size_t val_len = 0, nval = 0;
    int rc;

    if (depth > DP_OTLP_MAX_DEPTH)
        return DP_OTLP_EDECODE;
    out->key = (dp_str){"", 0};
    while ((rc = dp_pb_next(&pos, end, &f, &why)) > 0) {
        if (f.number == 1 || f.number == 2) {
            if (f.wire_type != DP_PB_LEN)
                return DP_OTLP_EDECODE;
            if (f.number == 1) {
                out->key = wire_string(&f);
            } else {
                val = f.data;
                val_len = f.len;
                nval++;
            }
        } else if (!other_field_ok(&opentelemetry__proto__common__v1__key_value__descriptor, &f)) {
            return DP_OTLP_EDECODE;
        }
    }
    if (rc < 0)
        return DP_OTLP_EDECODE;
    if (nval > 1)
        return WIRE_MERGE;
    if (!nval) {
        memset(&out->value, 0, sizeof out->value);
        return DP_OTLP_OK;
    }
    return wire_any(val, val_len, arena, &out->value, depth + 1);
}

/* The `number` fields (repeated KeyValue) of a message at depth `depth`, n of them. */
static int wire_attrs(const uint8_t *data, size_t len, uint32_t number, size_t n, dp_arena *arena,
                      const dp_attr **out, size_t *count, int depth)
{
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why;
    dp_attr *attrs;
    size_t i = 0;

    *out = NULL;
    *count = 0;
    if (!n)
        return DP_OTLP_OK;
    attrs = dp_arena_alloc(arena, n * sizeof *attrs);
    if (!attrs)
        return DP_OTLP_ENOMEM;
    while (i < n && dp_pb_next(&pos, end, &f, &why) > 0) {
        if (f.number != number)
            continue;
        int rc = wire_key_value(f.data, f.len, arena, &attrs[i++], depth + 1);
        if (rc != DP_OTLP_OK)
            return rc;
    }
    *out = attrs;
    *count = n;
    return DP_OTLP_OK;
}

static int wire_resource(dp_str resource_raw, dp_arena *arena, const dp_attr **attrs, size_t *count)
{
    const uint8_t *data = (const uint8_t *)resource_raw.ptr;
    const uint8_t *pos, *end;
    dp_pb_field f;
    const char *why;
    size_t n = 0;
    int rc;

    *attrs = NULL;
    *count = 0;
    if (resource_raw.len == 0 || !data)
        return DP_OTLP_OK;
    pos = data;
    end = data + resource_raw.len;
    while ((rc = dp_pb_next(&pos, end, &f, &why)) > 0) {
        if (f.number == 1) {
            if (f.wire_type != DP_PB_LEN)
                return DP_OTLP_EDECODE;
            n++;
        } else if (!other_field_ok(&opentelemetry__proto__resource__v1__resource__descriptor, &f)) {
            return DP_OTLP_EDECODE;
        }
    }
    if (rc < 0)
        return DP_OTLP_EDECODE;
    return wire_attrs(data, resource_raw.len, 1, n, arena, attrs, count, 0);
}

int dp_otlp_resource_decode(dp_str resource_raw, dp_arena *arena, const dp_attr **attrs,
                            size_t *count)
{
    int rc = wire_resource(resource_raw, arena, attrs, count);
    if (rc == WIRE_MERGE)
        rc = dp_otlp_resource_decode_pbc(resource_raw, arena, attrs, count);
    return rc;
}

dp_str dp_otlp_scope_name(dp_str scope_raw)
{
    const uint8_t *pos = (const uint8_t *)scope_raw.ptr, *end;
    dp_pb_field f;
    const char *why;
    dp_str name = DP_STR_NULL;

    if (!pos || scope_raw.len == 0)
        return name;
    end = pos + scope_raw.len;
    /* the last occurrence of a singular field wins, as protobuf parsers do */
    while (dp_pb_next(&pos, end, &f, &why) > 0) {
        if (f.number == 1 && f.wire_type == DP_PB_LEN)
            name = (dp_str){(const char *)f.data, f.len};
    }
    return name;
}

/* Span.Link → *out; 1 when its ids are usable, 0 when not (it cannot be an edge). */
static int wire_link(const uint8_t *data, size_t len, dp_link *out)
{
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why;
    dp_pb_field tid = {0}, sid = {0};
    int rc;

    while ((rc = dp_pb_next(&pos, end, &f, &why)) > 0) {
        if (f.number == 1 || f.number == 2) {
            if (f.wire_type != DP_PB_LEN)
                return DP_OTLP_EDECODE;
            if (f.number == 1)
                tid = f;
            else
                sid = f;
        } else if (!other_field_ok(&opentelemetry__proto__trace__v1__span__link__descriptor, &f)) {
            return DP_OTLP_EDECODE;
        }
    }
    if (rc < 0)
        return DP_OTLP_EDECODE;
    if (tid.len != 16 || sid.len != 8)
        return 0;
    memcpy(out->trace_id, tid.data, 16);
    memcpy(out->span_id, sid.data, 8);
    return 1;
}

/* Span.Status → out->status and out->status_message. */
static int wire_status(const uint8_t *data, size_t len, dp_span *out)
{
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why;
    int32_t code = 0;
    int rc;

    out->status_message = (dp_str){"", 0};
    while ((rc = dp_pb_next(&pos, end, &f, &why)) > 0) {
        if (f.number == 2) {
            if (f.wire_type != DP_PB_LEN)
                return DP_OTLP_EDECODE;
            out->status_message = wire_string(&f);
        } else if (f.number == 3) {
            if (f.wire_type != DP_PB_VARINT)
                return DP_OTLP_EDECODE;
            code = (int32_t)(uint32_t)f.value; /* an enum is an int32 on the wire */
        } else if (!other_field_ok(&opentelemetry__proto__trace__v1__status__descriptor, &f)) {
            return DP_OTLP_EDECODE;
        }
    }
    if (rc < 0)
        return DP_OTLP_EDECODE;
    out->status = code == 1 ? DP_STATUS_OK : code == 2 ? DP_STATUS_ERROR : DP_STATUS_UNSET;
    return DP_OTLP_OK;
}

/* The wire type of each Span field this decoder reads (index = field number). */
static const int8_t span_wire_type[17] = {
    [1] = DP_PB_LEN,     /* trace_id */
    [2] = DP_PB_LEN,     /* span_id */
    [3] = DP_PB_LEN,     /* trace_state */
    [4] = DP_PB_LEN,     /* parent_span_id */
    [5] = DP_PB_LEN,     /* name */
    [6] = DP_PB_VARINT,  /* kind */
    [7] = DP_PB_I64,     /* start_time_unix_nano */
    [8] = DP_PB_I64,     /* end_time_unix_nano */
    [9] = DP_PB_LEN,     /* attributes */
    [10] = DP_PB_VARINT, /* dropped_attributes_count */
    [11] = DP_PB_LEN,    /* events */
    [12] = DP_PB_VARINT, /* dropped_events_count */
    [13] = DP_PB_LEN,    /* links */
    [14] = DP_PB_VARINT, /* dropped_links_count */
    [15] = DP_PB_LEN,    /* status */
    [16] = DP_PB_I32,    /* flags */
};

static int wire_span(dp_str span_raw, dp_arena *arena, dp_span *out)
{
    static const uint8_t empty[1];
    const uint8_t *data = span_raw.ptr && span_raw.len ? (const uint8_t *)span_raw.ptr : empty;
    size_t len = data == empty ? 0 : span_raw.len;
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f, tid = {0}, sid = {0}, parent = {0}, status = {0};
    const char *why;
    size_t nattrs = 0, nlinks = 0, nstatus = 0;
    dp_link *links = NULL;
    int rc;

    out->name = (dp_str){"", 0};
    while ((rc = dp_pb_next(&pos, end, &f, &why)) > 0) {
        if (f.number > 16) {
            continue; /* unknown: legal */
        }
        if (f.wire_type != span_wire_type[f.number]) {
            if (!other_field_ok(&opentelemetry__proto__trace__v1__span__descriptor, &f))
                return DP_OTLP_EDECODE;
            continue;
        }
        switch (f.number) {
        case 1:
            tid = f;
            break;
        case 2:
            sid = f;
            break;
        case 4:
            parent = f;
            break;
        case 5:
            out->name = wire_string(&f);
            break;
        case 6:
            out->kind = (int)(int32_t)(uint32_t)f.value;
            break;
        case 7:
            out->start_ns = f.value;
            break;
        case 8:
            out->end_ns = f.value;
            break;
        case 9:
            nattrs++;
            break;
        case 13:
            nlinks++;
            break;
        case 15:
            status = f;
            nstatus++;
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return DP_OTLP_EDECODE;
    if (tid.len != 16 || sid.len != 8 || (parent.len != 0 && parent.len != 8) ||
        dp_otlp_id_is_zero(tid.data, 16) || dp_otlp_id_is_zero(sid.data, 8))
        return DP_OTLP_EDECODE;
    if (nstatus > 1)
        return WIRE_MERGE;
    memcpy(out->trace_id, tid.data, 16);
    memcpy(out->span_id, sid.data, 8);
    out->has_parent = parent.len == 8 && !dp_otlp_id_is_zero(parent.data, 8);
    if (out->has_parent)
        memcpy(out->parent_span_id, parent.data, 8);
    if (nstatus) {
        rc = wire_status(status.data, status.len, out);
        if (rc != DP_OTLP_OK)
            return rc;
    }
    rc = wire_attrs(data, len, 9, nattrs, arena, &out->attrs, &out->attr_count, 0);
    if (rc != DP_OTLP_OK)
        return rc;
    if (nlinks) {
        size_t n = 0;
        links = dp_arena_alloc(arena, nlinks * sizeof *links);
        if (!links)
            return DP_OTLP_ENOMEM;
        pos = data;
        while (dp_pb_next(&pos, end, &f, &why) > 0) {
            if (f.number != 13)
                continue;
            rc = wire_link(f.data, f.len, &links[n]);
            if (rc < 0)
                return rc;
            n += (size_t)rc;
        }
        out->links = links;
        out->link_count = n;
    }
    return DP_OTLP_OK;
}

int dp_otlp_span_decode(dp_str span_raw, dp_str resource_raw, dp_arena *arena, dp_span *out)
{
    int rc;
    memset(out, 0, sizeof *out);
    rc = wire_span(span_raw, arena, out);
    if (rc == DP_OTLP_OK)
        rc = wire_resource(resource_raw, arena, &out->resource_attrs, &out->resource_attr_count);
    if (rc == WIRE_MERGE)
        return dp_otlp_span_decode_pbc(span_raw, resource_raw, arena, out);
    return rc;
}

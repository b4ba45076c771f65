/*
 * A schema-driven validity check over the shared wire reader (pb_wire.h).
 *
 * It gives byte offsets in error messages, bounds nesting depth (protobuf-c
 * has no limit) at protobuf's default recursion limit, and checks every
 * known field's wire type against the generated descriptors. Unknown fields
 * are skipped, groups (wire types 3 and 4) among them, as protobuf does; a
 * group counts one level of nesting per group it is in. It reads only; it
 * never allocates.
 *
 * An attribute (a KeyValue of a message that has a dropped_attributes_count)
 * whose value nests deeper than the limit may be reported rather than
 * refused (dp_otlp_wire_found.drop_deep); dp_otlp_wire_rewrite() then writes
 * the message without it. The rewrite also makes bytes protobuf-c can
 * unpack: without groups, which it refuses, and without the occurrences of
 * a singular message field given more than once that hold no known field
 * (protobuf-c fails to merge two such occurrences; merging one changes
 * nothing).
 *
 * The check runs on every byte the receiver takes, so the descriptors are
 * turned once into flat schemas: per message, a table indexed by field
 * number (up to DP_WIRE_FAST_FIELDS) that says whether the field is known,
 * its wire type, whether it may come packed and the schema of a nested
 * message. Field numbers beyond the table go through protobuf-c's lookup.
 */
#include "otlp_internal.h"

#include "decode.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

/* Every OTLP field number but a handful is below this. */
#define DP_WIRE_FAST_FIELDS 32
/* OTLP has about 40 message types. */
#define DP_WIRE_MAX_SCHEMAS 128

typedef struct wire_schema wire_schema;

typedef struct wire_field {
    const ProtobufCFieldDescriptor *fd; /* NULL: unknown field */
    uint8_t want;                       /* wire type */
    bool packable;                      /* repeated scalar: may come as one LEN field */
    bool attributes;                    /* its KeyValues may be dropped (and counted) */
    const wire_schema *sub;             /* nested message, else NULL */
} wire_field;

struct wire_schema {
    const ProtobufCMessageDescriptor *desc;
    uint32_t dropped_attributes; /* number of its dropped_attributes_count, else 0 */
    wire_field fields[DP_WIRE_FAST_FIELDS];
};

/* A nested message deeper than DP_OTLP_MAX_DEPTH (check_message's third outcome). */
#define WIRE_TOO_DEEP 1

static wire_schema schemas[DP_WIRE_MAX_SCHEMAS];
static size_t schema_count;
static pthread_once_t schemas_once = PTHREAD_ONCE_INIT;

int dp_otlp_wire_type_for(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return DP_PB_I32;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return DP_PB_I64;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return DP_PB_LEN;
    default:
        return DP_PB_VARINT;
    }
}

static const wire_schema *schema_find(const ProtobufCMessageDescriptor *desc)
{
    for (size_t i = 0; i < schema_count; i++)
        if (schemas[i].desc == desc)
            return &schemas[i];
    return NULL;
}

/* The number of desc's dropped_attributes_count, 0 when it has none. */
static uint32_t dropped_attributes_field(const ProtobufCMessageDescriptor *desc)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(desc, "dropped_attributes_count");
    return fd && fd->type == PROTOBUF_C_TYPE_UINT32 ? fd->id : 0;
}

/* A field of desc; sub is the schema of its message type, if it has one. */
static wire_field field_entry(const ProtobufCMessageDescriptor *desc,
                              const ProtobufCFieldDescriptor *fd, const wire_schema *sub)
{
    wire_field w;
    w.fd = fd;
    w.want = (uint8_t)dp_otlp_wire_type_for(fd->type);
    w.packable = fd->label == PROTOBUF_C_LABEL_REPEATED && w.want != DP_PB_LEN;
    w.attributes = fd->type == PROTOBUF_C_TYPE_MESSAGE && fd->label == PROTOBUF_C_LABEL_REPEATED &&
                   fd->descriptor == &opentelemetry__proto__common__v1__key_value__descriptor &&
                   dropped_attributes_field(desc) != 0;
    w.sub = sub;
    return w;
}

/* Register desc and every message type it reaches (depth-first, once each). */
static const wire_schema *schema_add(const ProtobufCMessageDescriptor *desc)
{
    const wire_schema *found = schema_find(desc);
    if (found || schema_count == DP_WIRE_MAX_SCHEMAS)
        return found;
    wire_schema *s = &schemas[schema_count++];
    s->desc = desc;
    s->dropped_attributes = dropped_attributes_field(desc);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields[i];
        if (fd->id < DP_WIRE_FAST_FIELDS)
            s->fields[fd->id] = field_entry(
                desc, fd, fd->type == PROTOBUF_C_TYPE_MESSAGE ? schema_add(fd->descriptor) : NULL);
    }
    return s;
}

static void schemas_build(void)
{
    schema_add(
        &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor);
    schema_add(
        &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor);
    schema_add(&opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor);
}

/* The field of schema s (or of desc, when s is NULL or the number is large). */
static wire_field field_of(const ProtobufCMessageDescriptor *desc, const wire_schema *s,
                           uint32_t number)
{
    if (s && number < DP_WIRE_FAST_FIELDS)
        return s->fields[number];
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, number);
    if (!fd)
        return (wire_field){0};
    /* the schemas are built: only look one up */
    return field_entry(desc, fd,
                       fd->type == PROTOBUF_C_TYPE_MESSAGE ? schema_find(fd->descriptor) : NULL);
}

/* A packed repeated scalar: its payload must be whole values of that type. */
static const char *packed_problem(int want, const uint8_t *data, size_t len)
{
    if (want == DP_PB_I32)
        return len % 4 ? "packed 32-bit values with a partial value at the end" : NULL;
    if (want == DP_PB_I64)
        return len % 8 ? "packed 64-bit values with a partial value at the end" : NULL;
    const uint8_t *pos = data, *end = data + len;
    uint64_t v;
    while (pos < end)
        if (dp_pb_read_varint(&pos, end, &v) < 0)
            return "packed varints with a truncated or overlong value";
    return NULL;
}

/*
 * 0 when valid, -1 with err written when not, WIRE_TOO_DEEP (err written)
 * when a message or group in it nests deeper than DP_OTLP_MAX_DEPTH outside
 * an attribute that found allows to drop. found (may be NULL) collects what
 * the caller may have to rewrite.
 */
static int check_message(const ProtobufCMessageDescriptor *desc, const wire_schema *schema,
                         const uint8_t *base, const uint8_t *data, size_t len, int depth,
                         dp_otlp_wire_visit_fn visit, void *ctx, dp_otlp_wire_found *found,
                         char *err, size_t errlen)
{
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why = NULL;
    uint32_t singular_seen = 0; /* singular message fields below 32 met so far */
    int rc;

    if (depth > DP_OTLP_MAX_DEPTH) {
        snprintf(err, errlen, "offset %zu: %s: messages nested more than %d deep",
                 (size_t)(data - base), desc->short_name, DP_OTLP_MAX_DEPTH);
        return WIRE_TOO_DEEP;
    }
    for (;;) {
        const uint8_t *at = pos;
        rc = dp_pb_next(&pos, end, &f, &why);
        if (rc == 0)
            return 0;
        if (rc < 0) {
            snprintf(err, errlen, "offset %zu: %s: %s", (size_t)(at - base), desc->short_name, why);
            return -1;
        }
        wire_field w = field_of(desc, schema, f.number);
        if (!w.fd) {
            /* unknown fields are legal and skipped; a group is one level per group */
            if (f.wire_type != DP_PB_SGROUP)
                continue;
            if (found)
                found->groups = true;
            if ((uint64_t)depth + f.value <= DP_OTLP_MAX_DEPTH)
                continue;
            snprintf(err, errlen, "offset %zu: %s: groups nested more than %d deep",
                     (size_t)(at - base), desc->short_name, DP_OTLP_MAX_DEPTH);
            return WIRE_TOO_DEEP;
        }
        bool packed = w.packable && f.wire_type == DP_PB_LEN;
        if (f.wire_type != w.want && !packed) {
            snprintf(err, errlen, "offset %zu: %s.%s: wire type %d, want %d", (size_t)(at - base),
                     desc->short_name, w.fd->name, f.wire_type, w.want);
            return -1;
        }
        if (packed && (why = packed_problem(w.want, f.data, f.len)) != NULL) {
            snprintf(err, errlen, "offset %zu: %s.%s: %s", (size_t)(at - base), desc->short_name,
                     w.fd->name, why);
            return -1;
        }
        if (w.fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (found && w.fd->label != PROTOBUF_C_LABEL_REPEATED && f.number < 32) {
                if (singular_seen & (1u << f.number))
                    found->merges = true;
                singular_seen |= 1u << f.number;
            }
            rc = check_message(w.fd->descriptor, w.sub, base, f.data, f.len, depth + 1, NULL, NULL,
                               found, err, errlen);
            if (rc == WIRE_TOO_DEEP && w.attributes && found && found->drop_deep) {
                found->attributes_too_deep++; /* this attribute goes, the rest stays */
                continue;
            }
            if (rc != 0)
                return rc;
        }
        if (visit)
            visit(ctx, &f);
    }
}

/* The check from the top: the schema of desc, if it is an OTLP message type. */
static int check_top(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                     const uint8_t *data, size_t len, int depth, dp_otlp_wire_visit_fn visit,
                     void *ctx, dp_otlp_wire_found *found, char *err, size_t errlen)
{
    pthread_once(&schemas_once, schemas_build);
    if (found) {
        found->attributes_too_deep = 0;
        found->groups = false;
        found->merges = false;
    }
    return check_message(desc, schema_find(desc), base, data, len, depth, visit, ctx, found, err,
                         errlen) == 0
               ? 0
               : -1;
}

int dp_otlp_wire_check_visit(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                             const uint8_t *data, size_t len, int depth,
                             dp_otlp_wire_visit_fn visit, void *ctx, dp_otlp_wire_found *found,
                             char *err, size_t errlen)
{
    return check_top(desc, base, data, len, depth, visit, ctx, found, err, errlen);
}

int dp_otlp_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                       dp_otlp_wire_found *found, char *err, size_t errlen)
{
    static const uint8_t empty[1];
    if (!data) /* no pointer arithmetic on NULL */
        data = empty, len = 0;
    return check_top(desc, data, data, len, 0, NULL, NULL, found, err, errlen);
}

/* ---- rewriting --------------------------------------------------------------- */

typedef struct rewrite_ctx {
    const ProtobufCMessageDescriptor *desc;
    const uint8_t *data;
    size_t len;
    int depth;
    bool for_pbc;
    size_t dropped; /* attributes left out (counted while measuring) */
} rewrite_ctx;

/* True when the KeyValue at f (at message depth `depth`) nests too deep. */
static bool attribute_too_deep(const wire_field *w, const dp_pb_field *f, int depth)
{
    char err[8];
    return check_message(w->fd->descriptor, w->sub, f->data, f->data, f->len, depth, NULL, NULL,
                         NULL, err, sizeof err) == WIRE_TOO_DEEP;
}

/* Whether the message at data holds no field of desc (unknown ones aside). */
static bool no_known_field(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len)
{
    const wire_schema *schema = schema_find(desc);
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why;
    while (dp_pb_next(&pos, end, &f, &why) > 0)
        if (field_of(desc, schema, f.number).fd)
            return false;
    return true;
}

/*
 * For protobuf-c: whether the occurrence at `at` of singular message field
 * f (of a message at data) is written. One that holds no known field is
 * left out when another occurrence holds one, or when a later one exists
 * (so one of them stays when all are so).
 */
static bool pbc_keeps(const wire_field *w, const dp_pb_field *f, const uint8_t *at,
                      const uint8_t *data, size_t len)
{
    /* a oneof member given again replaces the earlier one in protobuf-c
     * (no merge to fail): each occurrence is kept, so the last one counts */
    if (w->fd->label == PROTOBUF_C_LABEL_REPEATED || (w->fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
        !no_known_field(w->fd->descriptor, f->data, f->len))
        return true;
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field o;
    const char *why;
    for (;;) {
        const uint8_t *o_at = pos;
        if (dp_pb_next(&pos, end, &o, &why) <= 0)
            return true;
        if (o.number != f->number || o.wire_type != DP_PB_LEN || o_at == at)
            continue;
        if (o_at > at || !no_known_field(w->fd->descriptor, o.data, o.len))
            return false;
    }
}

/* One message (already checked) at depth `depth`, field by field. */
static void rewrite_message(dp_pb_writer *w, rewrite_ctx *c, const ProtobufCMessageDescriptor *desc,
                            const uint8_t *data, size_t len, int depth)
{
    const wire_schema *schema = schema_find(desc);
    const uint8_t *pos = data, *end = data + len;
    uint32_t dropped_field = schema ? schema->dropped_attributes : 0;
    uint64_t dropped_before = 0;
    size_t dropped_here = 0;
    dp_pb_field f;
    const char *why;

    for (;;) {
        const uint8_t *at = pos;
        if (dp_pb_next(&pos, end, &f, &why) <= 0)
            break;
        if (f.wire_type == DP_PB_SGROUP && c->for_pbc)
            continue;
        wire_field wf = field_of(desc, schema, f.number);
        if (wf.fd && f.number == dropped_field && f.wire_type == DP_PB_VARINT)
            dropped_before = (uint32_t)f.value; /* the last one given counts */
        if (!wf.fd || wf.fd->type != PROTOBUF_C_TYPE_MESSAGE) {
            dp_pb_put_raw(w, at, (size_t)(pos - at));
            continue;
        }
        if (c->for_pbc && !pbc_keeps(&wf, &f, at, data, len))
            continue;
        if (wf.attributes) {
            if (attribute_too_deep(&wf, &f, depth + 1)) {
                dropped_here++;
                continue;
            }
            if (!c->for_pbc) {
                dp_pb_put_raw(w, at, (size_t)(pos - at));
                continue;
            }
        }
        dp_pb_begin(w, f.number);
        rewrite_message(w, c, wf.fd->descriptor, f.data, f.len, depth + 1);
        dp_pb_end(w);
    }
    if (!dropped_here)
        return;
    /* appended after every earlier value: the last one counts */
    uint64_t total = dropped_before + dropped_here;
    dp_pb_put_varint(w, dropped_field, total > UINT32_MAX ? UINT32_MAX : total);
    if (dp_pb_measuring(w))
        c->dropped += dropped_here;
}

static void rewrite_top(dp_pb_writer *w, const void *arg)
{
    rewrite_ctx *c = (rewrite_ctx *)arg;
    rewrite_message(w, c, c->desc, c->data, c->len, c->depth);
}

int dp_otlp_wire_rewrite(const ProtobufCMessageDescriptor *desc, dp_str in, int depth, bool for_pbc,
                         dp_arena *arena, dp_str *out, size_t *dropped)
{
    rewrite_ctx c = {desc, (const uint8_t *)in.ptr, in.len, depth, for_pbc, 0};
    dp_buf b;
    pthread_once(&schemas_once, schemas_build);
    dp_buf_init(&b, 0);
    int rc = dp_pb_encode(rewrite_top, &c, &b);
    char *copy = rc == DP_OK ? dp_arena_alloc(arena, b.len ? b.len : 1) : NULL;
    if (copy) {
        if (b.len)
            memcpy(copy, b.data, b.len);
        *out = (dp_str){copy, b.len};
        if (dropped)
            *dropped = c.dropped;
    }
    dp_buf_free(&b);
    if (copy)
        return DP_OTLP_OK;
    return rc == DP_OK || rc == DP_ENOMEM ? DP_OTLP_ENOMEM : DP_OTLP_EDECODE;
}

int dp_otlp_wire_for_pbc(const ProtobufCMessageDescriptor *desc, const dp_otlp_wire_found *found,
                         dp_str *bytes, int depth, dp_arena *arena)
{
    if (!found->groups && !found->merges && !found->attributes_too_deep)
        return DP_OTLP_OK;
    return dp_otlp_wire_rewrite(desc, *bytes, depth, true, arena, bytes, NULL);
}

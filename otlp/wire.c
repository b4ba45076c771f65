/*
 * A schema-driven validity check over the shared wire reader (pb_wire.h).
 *
 * It gives byte offsets in error messages, bounds nesting depth (protobuf-c
 * has no limit), and checks every known field's wire type against the
 * generated descriptors. It reads only; it never allocates.
 *
 * The check runs on every byte the receiver takes, so the descriptors are
 * turned once into flat schemas: per message, a table indexed by field
 * number (up to DP_WIRE_FAST_FIELDS) that says whether the field is known,
 * its wire type, whether it may come packed and the schema of a nested
 * message. Field numbers beyond the table go through protobuf-c's lookup.
 */
#include "otlp_internal.h"

#include <pthread.h>
#include <stdio.h>

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
    const wire_schema *sub;             /* nested message, else NULL */
} wire_field;

struct wire_schema {
    const ProtobufCMessageDescriptor *desc;
    wire_field fields[DP_WIRE_FAST_FIELDS];
};

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

/* A field's entry; sub is the schema of its message type, if it has one. */
static wire_field field_entry(const ProtobufCFieldDescriptor *fd, const wire_schema *sub)
{
    wire_field w;
    w.fd = fd;
    w.want = (uint8_t)dp_otlp_wire_type_for(fd->type);
    w.packable = fd->label == PROTOBUF_C_LABEL_REPEATED && w.want != DP_PB_LEN;
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
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields[i];
        if (fd->id < DP_WIRE_FAST_FIELDS)
            s->fields[fd->id] = field_entry(
                fd, fd->type == PROTOBUF_C_TYPE_MESSAGE ? schema_add(fd->descriptor) : NULL);
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
    return field_entry(fd,
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

static int check_message(const ProtobufCMessageDescriptor *desc, const wire_schema *schema,
                         const uint8_t *base, const uint8_t *data, size_t len, int depth,
                         dp_otlp_wire_visit_fn visit, void *ctx, char *err, size_t errlen)
{
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why = NULL;
    int rc;

    if (depth > DP_OTLP_MAX_DEPTH) {
        snprintf(err, errlen, "offset %zu: %s: messages nested more than %d deep",
                 (size_t)(data - base), desc->short_name, DP_OTLP_MAX_DEPTH);
        return -1;
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
        if (!w.fd)
            continue; /* unknown fields are legal and skipped */
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
            if (check_message(w.fd->descriptor, w.sub, base, f.data, f.len, depth + 1, NULL, NULL,
                              err, errlen) < 0)
                return -1;
        }
        if (visit)
            visit(ctx, &f);
    }
}

/* The check from the top: the schema of desc, if it is an OTLP message type. */
static int check_top(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                     const uint8_t *data, size_t len, int depth, dp_otlp_wire_visit_fn visit,
                     void *ctx, char *err, size_t errlen)
{
    pthread_once(&schemas_once, schemas_build);
    return check_message(desc, schema_find(desc), base, data, len, depth, visit, ctx, err, errlen);
}

int dp_otlp_wire_check_visit(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                             const uint8_t *data, size_t len, int depth,
                             dp_otlp_wire_visit_fn visit, void *ctx, char *err, size_t errlen)
{
    return check_top(desc, base, data, len, depth, visit, ctx, err, errlen);
}

int dp_otlp_wire_check_at(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                          const uint8_t *data, size_t len, int depth, char *err, size_t errlen)
{
    return check_top(desc, base, data, len, depth, NULL, NULL, err, errlen);
}

int dp_otlp_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                       char *err, size_t errlen)
{
    static const uint8_t empty[1];
    if (!data) /* no pointer arithmetic on NULL */
        data = empty, len = 0;
    return check_top(desc, data, data, len, 0, NULL, NULL, err, errlen);
}

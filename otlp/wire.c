/*
 * A schema-driven validity check over the shared wire reader (pb_wire.h).
 *
 * It gives byte offsets in error messages, bounds nesting depth (protobuf-c
 * has no limit), and checks every known field's wire type against the
 * generated descriptors. It reads only; it never allocates.
 */
#include "otlp_internal.h"

#include <stdio.h>

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

static int check_message(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                         const uint8_t *data, size_t len, int depth, dp_otlp_wire_visit_fn visit,
                         void *ctx, char *err, size_t errlen)
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
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(desc, f.number);
        if (!fd)
            continue; /* unknown fields are legal and skipped */
        int want = dp_otlp_wire_type_for(fd->type);
        bool packed =
            fd->label == PROTOBUF_C_LABEL_REPEATED && want != DP_PB_LEN && f.wire_type == DP_PB_LEN;
        if (f.wire_type != want && !packed) {
            snprintf(err, errlen, "offset %zu: %s.%s: wire type %d, want %d", (size_t)(at - base),
                     desc->short_name, fd->name, f.wire_type, want);
            return -1;
        }
        if (packed && (why = packed_problem(want, f.data, f.len)) != NULL) {
            snprintf(err, errlen, "offset %zu: %s.%s: %s", (size_t)(at - base), desc->short_name,
                     fd->name, why);
            return -1;
        }
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (check_message(fd->descriptor, base, f.data, f.len, depth + 1, NULL, NULL, err,
                              errlen) < 0)
                return -1;
        }
        if (visit)
            visit(ctx, &f);
    }
}

int dp_otlp_wire_check_visit(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                             const uint8_t *data, size_t len, int depth,
                             dp_otlp_wire_visit_fn visit, void *ctx, char *err, size_t errlen)
{
    return check_message(desc, base, data, len, depth, visit, ctx, err, errlen);
}

int dp_otlp_wire_check_at(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                          const uint8_t *data, size_t len, int depth, char *err, size_t errlen)
{
    return check_message(desc, base, data, len, depth, NULL, NULL, err, errlen);
}

int dp_otlp_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                       char *err, size_t errlen)
{
    static const uint8_t empty[1];
    if (!data) /* no pointer arithmetic on NULL */
        data = empty, len = 0;
    return check_message(desc, data, data, len, 0, NULL, NULL, err, errlen);
}

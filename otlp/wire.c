/*
 * A small protobuf wire-format reader and a schema-driven validity check.
 *
 * Used before protobuf-c unpacks anything: it gives byte offsets in error
 * messages, bounds nesting depth (protobuf-c has no limit), and lets the
 * trace decoder find each span's encoded bytes, which protobuf-c does not
 * expose. It reads only; it never allocates.
 */
#include "otlp_internal.h"

#include <stdio.h>

static int read_varint(const uint8_t **pos, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pos;
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        /* the tenth byte may only carry the top bit of a 64-bit value */
        if (shift == 63 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pos = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

int dp_otlp_wire_next(const uint8_t **pos, const uint8_t *end, dp_otlp_wire_field *f,
                      const char **why)
{
    const uint8_t *p = *pos;
    uint64_t tag;
    if (p >= end)
        return 0;
    if (read_varint(&p, end, &tag) < 0) {
        *why = "truncated or overlong field tag";
        return -1;
    }
    if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff) {
        *why = "field number out of range";
        return -1;
    }
    f->number = (uint32_t)(tag >> 3);
    f->wire_type = (int)(tag & 7);
    f->value = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->wire_type) {
    case DP_WIRE_VARINT:
        if (read_varint(&p, end, &f->value) < 0) {
            *why = "truncated or overlong varint";
            return -1;
        }
        break;
    case DP_WIRE_I64:
        if (end - p < 8) {
            *why = "truncated 64-bit value";
            return -1;
        }
        for (int i = 7; i >= 0; i--)
            f->value = (f->value << 8) | p[i];
        p += 8;
        break;
    case DP_WIRE_I32:
        if (end - p < 4) {
            *why = "truncated 32-bit value";
            return -1;
        }
        f->value =
            (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
        p += 4;
        break;
    case DP_WIRE_LEN: {
        uint64_t n;
        if (read_varint(&p, end, &n) < 0) {
            *why = "truncated length";
            return -1;
        }
        if (n > (uint64_t)(end - p)) {
            *why = "length runs past the end of the message";
            return -1;
        }
        f->data = p;
        f->len = (size_t)n;
        p += n;
        break;
    }
    default:
        /* groups (3, 4) are not used by OTLP and protobuf-c rejects them */
        *why = "unsupported wire type";
        return -1;
    }
    *pos = p;
    return 1;
}

int dp_otlp_wire_type_for(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return DP_WIRE_I32;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return DP_WIRE_I64;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return DP_WIRE_LEN;
    default:
        return DP_WIRE_VARINT;
    }
}

static int check_message(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                         const uint8_t *data, size_t len, int depth, char *err, size_t errlen)
{
    const uint8_t *pos = data, *end = data + len;
    dp_otlp_wire_field f;
    const char *why = NULL;
    int rc;

    if (depth > DP_OTLP_MAX_DEPTH) {
        snprintf(err, errlen, "offset %zu: %s: messages nested more than %d deep",
                 (size_t)(data - base), desc->short_name, DP_OTLP_MAX_DEPTH);
        return -1;
    }
    for (;;) {
        const uint8_t *at = pos;
        rc = dp_otlp_wire_next(&pos, end, &f, &why);
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
        bool packed_ok = fd->label == PROTOBUF_C_LABEL_REPEATED && want != DP_WIRE_LEN &&
                         f.wire_type == DP_WIRE_LEN;
        if (f.wire_type != want && !packed_ok) {
            snprintf(err, errlen, "offset %zu: %s.%s: wire type %d, want %d", (size_t)(at - base),
                     desc->short_name, fd->name, f.wire_type, want);
            return -1;
        }
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (check_message(fd->descriptor, base, f.data, f.len, depth + 1, err, errlen) < 0)
                return -1;
        }
    }
}

int dp_otlp_wire_check_at(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                          const uint8_t *data, size_t len, int depth, char *err, size_t errlen)
{
    return check_message(desc, base, data, len, depth, err, errlen);
}

int dp_otlp_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                       char *err, size_t errlen)
{
    static const uint8_t empty[1];
    if (!data) /* no pointer arithmetic on NULL */
        data = empty, len = 0;
    return check_message(desc, data, data, len, 0, err, errlen);
}

/*
 * The protobuf wire codec (see pb_wire.h): field reader and two-pass writer.
 */
#include "pb_wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int dp_pb_read_varint(const uint8_t **pos, const uint8_t *end, uint64_t *out)
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

/* A field tag at *p: 0 with its number and wire type, or -1 with *why. */
static int read_tag(const uint8_t **p, const uint8_t *end, uint32_t *number, int *wire_type,
                    const char **why)
{
    const uint8_t *start = *p;
    uint64_t tag;
    /* a tag is a 32-bit varint: at most 5 bytes (protobuf-c refuses longer
     * ones, even when the extra bytes are zero) */
    if (dp_pb_read_varint(p, end, &tag) < 0 || *p - start > 5) {
        *why = "truncated or overlong field tag";
        return -1;
    }
    if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff) {
        *why = "field number out of range";
        return -1;
    }
    *number = (uint32_t)(tag >> 3);
    *wire_type = (int)(tag & 7);
    return 0;
}

/*
 * The payload of a field of wire type f->wire_type at *p, other than a
 * group: into f (value, or data and len) and *p past it. 0, or -1 with *why.
 */
static int read_payload(const uint8_t **pos, const uint8_t *end, dp_pb_field *f, const char **why)
{
    const uint8_t *p = *pos;
    switch (f->wire_type) {
    case DP_PB_VARINT:
        if (dp_pb_read_varint(&p, end, &f->value) < 0) {
            *why = "truncated or overlong varint";
            return -1;
        }
        break;
    case DP_PB_I64:
        if (end - p < 8) {
            *why = "truncated 64-bit value";
            return -1;
        }
        f->value = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                   (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
                   (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
        p += 8;
        break;
    case DP_PB_I32:
        if (end - p < 4) {
            *why = "truncated 32-bit value";
            return -1;
        }
        f->value =
            (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
        p += 4;
        break;
    case DP_PB_LEN: {
        uint64_t n;
        const uint8_t *at = p;
        /* a length is a 32-bit varint too: protobuf-c refuses one of more
         * than 5 bytes, even when the extra bytes are zero */
        if (dp_pb_read_varint(&p, end, &n) < 0 || p - at > 5) {
            *why = "truncated or overlong length";
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
    case DP_PB_EGROUP:
        *why = "end group tag without its start group";
        return -1;
    default:
        *why = "unsupported wire type";
        return -1;
    }
    *pos = p;
    return 0;
}

/*
 * The group whose start tag (field f->number) was just read, up to *p:
 * f->data and f->len get its fields, f->value how deep groups nest in it
 * (1: none inside), and *p moves past its matching end tag. Nested groups
 * are followed without recursion, their field numbers on a stack.
 */
static int read_group(const uint8_t **p, const uint8_t *end, dp_pb_field *f, const char **why)
{
    uint32_t open[DP_PB_MAX_GROUP_NESTING];
    size_t depth = 1;
    open[0] = f->number;
    f->data = *p;
    f->value = 1;
    for (;;) {
        const uint8_t *at = *p;
        dp_pb_field inner = {0};
        if (at >= end) {
            *why = "group without its end group tag";
            return -1;
        }
        if (read_tag(p, end, &inner.number, &inner.wire_type, why) < 0)
            return -1;
        if (inner.wire_type == DP_PB_SGROUP) {
            if (depth == DP_PB_MAX_GROUP_NESTING) {
                *why = "groups nested more than 100 deep";
                return -1;
            }
            open[depth++] = inner.number;
            if (depth > f->value)
                f->value = depth;
        } else if (inner.wire_type == DP_PB_EGROUP) {
            if (inner.number != open[depth - 1]) {
                *why = "end group tag does not match its start group";
                return -1;
            }
            if (--depth == 0) {
                f->len = (size_t)(at - f->data);
                return 0;
            }
        } else if (read_payload(p, end, &inner, why) < 0) {
            return -1;
        }
    }
}

int dp_pb_next_any(const uint8_t **pos, const uint8_t *end, dp_pb_field *f, const char **why)
{
    const uint8_t *p = *pos;
    if (p >= end)
        return 0;
    if (read_tag(&p, end, &f->number, &f->wire_type, why) < 0)
        return -1;
    f->value = 0;
    f->data = NULL;
    f->len = 0;
    if (f->wire_type == DP_PB_SGROUP ? read_group(&p, end, f, why) < 0
                                     : read_payload(&p, end, f, why) < 0)
        return -1;
    *pos = p;
    return 1;
}

/* Length of the valid UTF-8 sequence at s[0] (avail > 0 bytes), 0 when invalid. */
static size_t utf8_sequence(const uint8_t *s, size_t avail)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

void dp_pb_put_string(dp_pb_writer *w, uint32_t field, const char *s, size_t len)
{
    dp_pb_put_tag(w, field, DP_PB_LEN);
    dp_pb_put_raw_varint(w, len);
    dp_pb_put_raw(w, s, len);
    if (w->error || !w->out)
        return;
    /* the bytes just written, checked in place */
    uint8_t *dst = w->out + w->len - len;
    for (size_t i = 0; i < len;) {
        if (dst[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_sequence(dst + i, len - i);
        if (n == 0) {
            dst[i] = '?';
            n = 1;
        }
        i += n;
    }
}

/* Off the inline array onto the heap, then doubling. */
bool dp_pb__grow_sizes(dp_pb_writer *w)
{
    size_t ncap = w->size_cap * 2;
    size_t *n = w->sizes == w->inline_sizes ? malloc(ncap * sizeof *n)
                                            : realloc(w->sizes, ncap * sizeof *n);
    if (!n) {
        w->error = DP_ENOMEM;
        return false;
    }
    if (w->sizes == w->inline_sizes)
        memcpy(n, w->inline_sizes, w->size_count * sizeof *n);
    w->sizes = n;
    w->size_cap = ncap;
    return true;
}

void dp_pb_fail(dp_pb_writer *w, int error)
{
    if (!w->error)
        w->error = error < 0 ? error : DP_EINVAL;
}

/* The measuring pass: w ready for the writing pass when DP_OK. */
static int measure_pass(dp_pb_writer *w, dp_pb_encode_fn fn, const void *ctx)
{
    /* the arrays are written before they are read: only the scalars start at 0 */
    w->out = NULL;
    w->len = w->cap = 0;
    w->sizes = w->inline_sizes;
    w->size_count = w->next_size = 0;
    w->size_cap = DP_PB_INLINE_SIZES;
    w->depth = w->error = 0;
    fn(w, ctx);
    if (w->error || w->depth)
        return w->error ? w->error : DP_EINVAL;
    return DP_OK;
}

static void writer_release(dp_pb_writer *w)
{
    if (w->sizes != w->inline_sizes)
        free(w->sizes);
}

int dp_pb_measure(dp_pb_encode_fn fn, const void *ctx, size_t *len)
{
    dp_pb_writer w;
    int rc = measure_pass(&w, fn, ctx);
    *len = rc == DP_OK ? w.len : 0;
    writer_release(&w);
    return rc;
}

int dp_pb_encode_within(dp_pb_encode_fn fn, const void *ctx, size_t max_len, dp_buf *out,
                        size_t *len)
{
    dp_pb_writer w;
    int rc = measure_pass(&w, fn, ctx);
    size_t total = rc == DP_OK ? w.len : 0;
    if (len)
        *len = total;
    if (rc != DP_OK)
        goto out;
    if (total > max_len) {
        rc = DP_EFULL;
        goto out;
    }
    if (dp_buf_reserve_exact(out, total) < 0) {
        rc = DP_ENOMEM;
        goto out;
    }
    w.out = (uint8_t *)out->data + out->len;
    w.cap = total;
    w.len = 0;
    w.next_size = 0;
    fn(&w, ctx);
    if (w.error || w.depth || w.len != total) {
        rc = w.error ? w.error : DP_EINVAL;
        out->data[out->len] = '\0'; /* what was written past len is not kept */
        goto out;
    }
    out->len += total;
    out->data[out->len] = '\0';
out:
    writer_release(&w);
    return rc;
}

int dp_pb_encode(dp_pb_encode_fn fn, const void *ctx, dp_buf *out)
{
    return dp_pb_encode_within(fn, ctx, SIZE_MAX, out, NULL);
}

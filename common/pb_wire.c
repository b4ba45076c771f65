/*
 * The protobuf wire codec (see pb_wire.h): field reader and two-pass writer.
 */
#include "pb_wire.h"

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

int dp_pb_next_any(const uint8_t **pos, const uint8_t *end, dp_pb_field *f, const char **why)
{
    const uint8_t *p = *pos;
    uint64_t tag;
    if (p >= end)
        return 0;
    /* a tag is a 32-bit varint: at most 5 bytes (protobuf-c refuses longer
     * ones, even when the extra bytes are zero) */
    if (dp_pb_read_varint(&p, end, &tag) < 0 || p - *pos > 5) {
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
        for (int i = 7; i >= 0; i--)
            f->value = (f->value << 8) | p[i];
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
        if (dp_pb_read_varint(&p, end, &n) < 0) {
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
        *why = "unsupported wire type";
        return -1;
    }
    *pos = p;
    return 1;
}

size_t dp_pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Second pass: room for n more bytes within what the first pass measured. */
static bool room(dp_pb_writer *w, size_t n)
{
    if (n <= w->cap - w->len)
        return true;
    w->error = DP_EINVAL; /* the encoder emits more than it measured */
    return false;
}

static void put_bytes_raw(dp_pb_writer *w, const void *data, size_t n)
{
    if (w->out) {
        if (!room(w, n))
            return;
        if (n)
            memcpy(w->out + w->len, data, n);
    }
    w->len += n;
}

void dp_pb_put_raw_varint(dp_pb_writer *w, uint64_t v)
{
    if (w->error)
        return;
    if (!w->out) {
        w->len += dp_pb_varint_size(v);
        return;
    }
    if (!room(w, dp_pb_varint_size(v)))
        return;
    uint8_t *p = w->out + w->len;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    w->len = (size_t)(p - w->out);
}

void dp_pb_put_tag(dp_pb_writer *w, uint32_t field, int wire_type)
{
    dp_pb_put_raw_varint(w, (uint64_t)field << 3 | (uint64_t)wire_type);
}

void dp_pb_put_raw(dp_pb_writer *w, const void *data, size_t len)
{
    if (!w->error)
        put_bytes_raw(w, data, len);
}

void dp_pb_put_varint(dp_pb_writer *w, uint32_t field, uint64_t v)
{
    dp_pb_put_tag(w, field, DP_PB_VARINT);
    dp_pb_put_raw_varint(w, v);
}

void dp_pb_put_int64(dp_pb_writer *w, uint32_t field, int64_t v)
{
    dp_pb_put_varint(w, field, (uint64_t)v);
}

void dp_pb_put_bool(dp_pb_writer *w, uint32_t field, bool v)
{
    dp_pb_put_varint(w, field, v ? 1 : 0);
}

static void put_little_endian(dp_pb_writer *w, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    dp_pb_put_raw(w, b, (size_t)bytes);
}

void dp_pb_put_fixed64(dp_pb_writer *w, uint32_t field, uint64_t v)
{
    dp_pb_put_tag(w, field, DP_PB_I64);
    put_little_endian(w, v, 8);
}

void dp_pb_put_fixed32(dp_pb_writer *w, uint32_t field, uint32_t v)
{
    dp_pb_put_tag(w, field, DP_PB_I32);
    put_little_endian(w, v, 4);
}

void dp_pb_put_double(dp_pb_writer *w, uint32_t field, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    dp_pb_put_fixed64(w, field, v);
}

void dp_pb_put_bytes(dp_pb_writer *w, uint32_t field, const void *data, size_t len)
{
    dp_pb_put_tag(w, field, DP_PB_LEN);
    dp_pb_put_raw_varint(w, len);
    dp_pb_put_raw(w, data, len);
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

/* Room for more nested sizes: off the inline array onto the heap, then doubling. */
static int grow_sizes(dp_pb_writer *w)
{
    size_t ncap = w->size_cap * 2;
    size_t *n = w->sizes == w->inline_sizes ? malloc(ncap * sizeof *n)
                                            : realloc(w->sizes, ncap * sizeof *n);
    if (!n) {
        w->error = DP_ENOMEM;
        return -1;
    }
    if (w->sizes == w->inline_sizes)
        memcpy(n, w->inline_sizes, w->size_count * sizeof *n);
    w->sizes = n;
    w->size_cap = ncap;
    return 0;
}

void dp_pb_begin(dp_pb_writer *w, uint32_t field)
{
    if (w->error)
        return;
    if (w->depth >= DP_PB_MAX_NESTING) {
        w->error = DP_EINVAL;
        return;
    }
    dp_pb_put_tag(w, field, DP_PB_LEN);
    if (!w->out) {
        /* measuring: keep a slot for this message's size, filled at its end */
        if (w->size_count == w->size_cap && grow_sizes(w) < 0)
            return;
        w->open_index[w->depth] = w->size_count++;
        w->open_start[w->depth] = w->len;
    } else {
        if (w->next_size >= w->size_count) {
            w->error = DP_EINVAL; /* more messages than measured */
            return;
        }
        size_t size = w->sizes[w->next_size];
        w->open_index[w->depth] = w->next_size++;
        dp_pb_put_raw_varint(w, size);
        w->open_start[w->depth] = w->len;
    }
    w->depth++;
}

void dp_pb_end(dp_pb_writer *w)
{
    if (w->error)
        return;
    if (w->depth == 0) {
        w->error = DP_EINVAL;
        return;
    }
    w->depth--;
    size_t size = w->len - w->open_start[w->depth];
    if (!w->out) {
        w->sizes[w->open_index[w->depth]] = size;
        w->len += dp_pb_varint_size(size); /* the length prefix, counted in the parent */
    } else if (size != w->sizes[w->open_index[w->depth]]) {
        /* the encoder emitted something else than it measured */
        w->error = DP_EINVAL;
    }
}

int dp_pb_encode(dp_pb_encode_fn fn, const void *ctx, dp_buf *out)
{
    dp_pb_writer w;
    int rc = DP_OK;

    /* the arrays are written before they are read: only the scalars start at 0 */
    w.out = NULL;
    w.len = w.cap = 0;
    w.sizes = w.inline_sizes;
    w.size_count = w.next_size = 0;
    w.size_cap = DP_PB_INLINE_SIZES;
    w.depth = w.error = 0;
    fn(&w, ctx);
    if (w.error || w.depth) {
        rc = w.error ? w.error : DP_EINVAL;
        goto out;
    }
    size_t total = w.len;
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
    if (w.sizes != w.inline_sizes)
        free(w.sizes);
    return rc;
}

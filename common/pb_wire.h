/*
 * The protobuf wire codec every module shares: a reader of one field at a
 * time and a two-pass writer.
 *
 * Reader: dp_pb_next() reads the field at a position and advances; LEN
 * fields are views into the input. It never allocates and never reads past
 * `end`. Schema checks (which field has which wire type) are the caller's.
 *
 * Writer: an encoder is one function that emits fields in order
 * (dp_pb_put_*, and dp_pb_begin()/dp_pb_end() around a nested message).
 * dp_pb_encode() runs it twice: the first pass only measures, recording the
 * size of every nested message in the order they begin; the second writes
 * into a buffer reserved to the exact total, using those sizes for the
 * length prefixes. So an encoder writes each message once, without a size
 * function beside it, and the output is allocated once (the writer itself
 * allocates only past DP_PB_INLINE_SIZES nested messages).
 *
 * An encoder must emit the same fields in both passes (it may not depend on
 * dp_pb_measuring() for what it emits, only to skip work that does not
 * change the output).
 */
#ifndef DP_PB_WIRE_H
#define DP_PB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "dp_err.h"

/**
 * Wire types. OTLP declares no group fields, but a group (start group 3 ...
 * matching end group 4) is legal as an unknown field, as protobuf parsers
 * keep it: the reader returns it whole, as one DP_PB_SGROUP field.
 */
enum dp_pb_wire_type {
    DP_PB_VARINT = 0,
    DP_PB_I64 = 1,
    DP_PB_LEN = 2,
    DP_PB_SGROUP = 3,
    DP_PB_EGROUP = 4,
    DP_PB_I32 = 5,
};

/** Deepest nesting of groups in groups the reader follows (protobuf's
 *  default recursion limit; deeper is malformed). */
#define DP_PB_MAX_GROUP_NESTING 100

/** One field read off the wire. */
typedef struct dp_pb_field {
    uint32_t number;
    int wire_type;
    uint64_t value;      /* VARINT, I64 and I32 fields; DP_PB_SGROUP: how deep its
                            groups nest (1: no group inside it) */
    const uint8_t *data; /* LEN fields: the payload (a view into the input);
                            DP_PB_SGROUP: the group's fields, without its end tag */
    size_t len;
} dp_pb_field;

/**
 * Read the field at *pos (not past end) and advance *pos.
 * Returns 1 for a field, 0 at the end, -1 when malformed (*why says how,
 * e.g. "length runs past the end of the message"). A group is read up to
 * its matching end group tag (same field number, nested groups matched
 * too); an end group tag without its start group is malformed.
 */
DP_MUST_CHECK static inline int dp_pb_next(const uint8_t **pos, const uint8_t *end, dp_pb_field *f,
                                           const char **why);

/** dp_pb_next() for any field; dp_pb_next() itself reads the common short forms inline. */
DP_MUST_CHECK int dp_pb_next_any(const uint8_t **pos, const uint8_t *end, dp_pb_field *f,
                                 const char **why);

static inline int dp_pb_next(const uint8_t **pos, const uint8_t *end, dp_pb_field *f,
                             const char **why)
{
    const uint8_t *p = *pos;
    /* a one-byte tag (fields 1-15) with a one-byte length or varint: most
     * fields of OTLP (keys, strings, nested messages under 128 bytes, ints) */
    if (end - p >= 2 && p[0] >= 8 && p[0] < 0x80 && p[1] < 0x80) {
        int wire_type = p[0] & 7;
        if (wire_type == DP_PB_LEN && (size_t)(end - p - 2) >= p[1]) {
            f->number = p[0] >> 3;
            f->wire_type = DP_PB_LEN;
            f->value = 0;
            f->data = p + 2;
            f->len = p[1];
            *pos = p + 2 + p[1];
            return 1;
        }
        if (wire_type == DP_PB_VARINT) {
            f->number = p[0] >> 3;
            f->wire_type = DP_PB_VARINT;
            f->value = p[1];
            f->data = NULL;
            f->len = 0;
            *pos = p + 2;
            return 1;
        }
    }
    return dp_pb_next_any(pos, end, f, why);
}

/** Read one varint at *pos and advance; 0, or -1 when truncated or overlong. */
DP_MUST_CHECK int dp_pb_read_varint(const uint8_t **pos, const uint8_t *end, uint64_t *out);

/** Bytes a varint of value v takes. */
static inline size_t dp_pb_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/** Deepest dp_pb_begin() nesting a writer accepts (more than protobuf's
 *  default recursion limit of 100 messages). */
#define DP_PB_MAX_NESTING 104

/** Nested messages whose sizes a writer keeps without allocating. */
#define DP_PB_INLINE_SIZES 256

/** A writer; only dp_pb_encode() creates one. */
typedef struct dp_pb_writer {
    uint8_t *out;  /* second pass: where bytes go; NULL while measuring */
    size_t len;    /* bytes counted (first pass) or written (second) */
    size_t cap;    /* second pass: the measured total; writing more is an error */
    size_t *sizes; /* size of each nested message, in begin order */
    size_t size_count;
    size_t size_cap;
    size_t next_size; /* second pass: the next entry of sizes to use */
    int depth;
    int error; /* first error (DP_ENOMEM, DP_EINVAL); later calls do nothing */
    size_t open_index[DP_PB_MAX_NESTING];
    size_t open_start[DP_PB_MAX_NESTING];
    /* sizes live here until there are more than fit, then on the heap */
    size_t inline_sizes[DP_PB_INLINE_SIZES];
} dp_pb_writer;

/** An encoder: emits one message's fields into w. */
typedef void (*dp_pb_encode_fn)(dp_pb_writer *w, const void *ctx);

/**
 * Encode with fn (run twice, see above) and append the bytes to out.
 * Returns DP_OK; DP_ENOMEM when memory or out's cap runs out (out is left as
 * it was); DP_EINVAL when the encoder nests more than DP_PB_MAX_NESTING deep
 * or does not close what it began.
 */
DP_MUST_CHECK int dp_pb_encode(dp_pb_encode_fn fn, const void *ctx, dp_buf *out);

/**
 * dp_pb_encode() for a message that may not exceed max_len bytes: when the
 * measuring pass finds it longer, nothing is written and DP_EFULL is
 * returned. *len (when not NULL) gets the measured length on DP_OK and
 * DP_EFULL, so a caller can split what does not fit.
 */
DP_MUST_CHECK int dp_pb_encode_within(dp_pb_encode_fn fn, const void *ctx, size_t max_len,
                                      dp_buf *out, size_t *len);

/** The length fn's message would encode to (the measuring pass only).
 *  DP_OK, DP_ENOMEM or DP_EINVAL as for dp_pb_encode(). */
DP_MUST_CHECK int dp_pb_measure(dp_pb_encode_fn fn, const void *ctx, size_t *len);

/** Bytes of a length-delimited field of number 1..15 (a one-byte tag)
 *  holding `len` bytes: tag, length varint, payload. */
static inline size_t dp_pb_len_field_size(size_t len)
{
    return 1 + dp_pb_varint_size(len) + len;
}

/** True during the measuring pass. */
static inline bool dp_pb_measuring(const dp_pb_writer *w)
{
    return w->out == NULL;
}

/*
 * The per-field calls below are inline: an encoder makes dozens per message,
 * twice, on hot paths (enrichment re-encodes every span sent upstream), and
 * inlined the field numbers fold into constant tag bytes. Only growing the
 * size list past its inline array and the UTF-8 check are calls.
 * dp_pb__* are internal to the codec.
 */

/* Measuring: room for one more nested size; false (w->error set) when out of memory. */
bool dp_pb__grow_sizes(dp_pb_writer *w);

/** Raw varint (no tag), e.g. inside a packed field. */
static inline void dp_pb_put_raw_varint(dp_pb_writer *w, uint64_t v)
{
    if (w->error)
        return;
    size_t n = dp_pb_varint_size(v);
    if (w->out) {
        if (n > w->cap - w->len) {
            w->error = DP_EINVAL; /* more than the first pass measured */
            return;
        }
        uint8_t *p = w->out + w->len;
        while (v >= 0x80) {
            *p++ = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        *p = (uint8_t)v;
    }
    w->len += n;
}

static inline void dp_pb_put_tag(dp_pb_writer *w, uint32_t field, int wire_type)
{
    dp_pb_put_raw_varint(w, (uint64_t)field << 3 | (uint64_t)wire_type);
}

/** Bytes already encoded (whole fields copied from another message). */
static inline void dp_pb_put_raw(dp_pb_writer *w, const void *data, size_t len)
{
    if (w->error)
        return;
    if (w->out) {
        if (len > w->cap - w->len) {
            w->error = DP_EINVAL; /* more than the first pass measured */
            return;
        }
        if (len)
            memcpy(w->out + w->len, data, len);
    }
    w->len += len;
}

/* Fixed-width values are little-endian on the wire. */
static inline void dp_pb__put_little_endian(dp_pb_writer *w, uint64_t v, size_t bytes)
{
    uint8_t b[8];
    for (size_t i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    dp_pb_put_raw(w, b, bytes);
}

/* One field each. */
static inline void dp_pb_put_varint(dp_pb_writer *w, uint32_t field, uint64_t v)
{
    dp_pb_put_tag(w, field, DP_PB_VARINT);
    dp_pb_put_raw_varint(w, v);
}

static inline void dp_pb_put_int64(dp_pb_writer *w, uint32_t field, int64_t v)
{
    dp_pb_put_varint(w, field, (uint64_t)v);
}

static inline void dp_pb_put_bool(dp_pb_writer *w, uint32_t field, bool v)
{
    dp_pb_put_varint(w, field, v ? 1 : 0);
}

static inline void dp_pb_put_fixed64(dp_pb_writer *w, uint32_t field, uint64_t v)
{
    dp_pb_put_tag(w, field, DP_PB_I64);
    dp_pb__put_little_endian(w, v, 8);
}

static inline void dp_pb_put_fixed32(dp_pb_writer *w, uint32_t field, uint32_t v)
{
    dp_pb_put_tag(w, field, DP_PB_I32);
    dp_pb__put_little_endian(w, v, 4);
}

static inline void dp_pb_put_double(dp_pb_writer *w, uint32_t field, double d)
{
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    dp_pb_put_fixed64(w, field, v);
}

static inline void dp_pb_put_bytes(dp_pb_writer *w, uint32_t field, const void *data, size_t len)
{
    dp_pb_put_tag(w, field, DP_PB_LEN);
    dp_pb_put_raw_varint(w, len);
    dp_pb_put_raw(w, data, len);
}

/**
 * A string field. Protobuf strings must be UTF-8 (strict decoders refuse the
 * whole message otherwise), so each byte that is not part of a valid UTF-8
 * sequence (truncated, overlong, a surrogate, above U+10FFFF) is written as
 * '?'; the length stays len.
 */
void dp_pb_put_string(dp_pb_writer *w, uint32_t field, const char *s, size_t len);

/** Start a nested message as field `field`; every begin needs its end. */
static inline void dp_pb_begin(dp_pb_writer *w, uint32_t field)
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
        if (w->size_count == w->size_cap && !dp_pb__grow_sizes(w))
            return;
        w->open_index[w->depth] = w->size_count++;
    } else {
        if (w->next_size >= w->size_count) {
            w->error = DP_EINVAL; /* more messages than measured */
            return;
        }
        w->open_index[w->depth] = w->next_size;
        dp_pb_put_raw_varint(w, w->sizes[w->next_size++]);
    }
    w->open_start[w->depth] = w->len;
    w->depth++;
}

static inline void dp_pb_end(dp_pb_writer *w)
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

/**
 * Stop the encoding with `error` (a negative dp_err code, e.g. DP_EDECODE
 * when the encoder finds its own input invalid): the writer ignores every
 * later call and dp_pb_encode() returns the code, leaving its output as it
 * was. An encoder that fails must do so in the measuring pass, which runs
 * first, so nothing is ever written.
 */
void dp_pb_fail(dp_pb_writer *w, int error);

#endif

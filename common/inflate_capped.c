/*
 * Capped inflating; see inflate_capped.h. The output room handed to zlib is
 * at most cap - out->len bytes; once the cap is reached zlib gets a one-byte
 * buffer of the inflater's own, and a byte written there tells that the data
 * is over the cap, without a byte more of memory.
 */
#include "inflate_capped.h"

#include <limits.h>
#include <string.h>

#define FIRST_OUTPUT (64 * 1024)
#define GZIP_WBITS (16 + MAX_WBITS)

static dp_inflate_status fail(dp_inflater *f, dp_inflate_status st)
{
    f->status = st;
    return st;
}

dp_inflate_status dp_inflater_init(dp_inflater *f, dp_inflate_format format, size_t cap)
{
    memset(f, 0, sizeof(*f));
    f->format = format;
    f->cap = cap;
    if (inflateInit2(&f->z, format == DP_INFLATE_GZIP ? GZIP_WBITS : MAX_WBITS) != Z_OK)
        return fail(f, DP_INFLATE_NOMEM);
    f->ready = true;
    return DP_INFLATE_OK;
}

/* Room for zlib's next output in `out`, grown by doubling up to the cap
 * (and the NUL dp_buf keeps after the bytes). 0 when out of memory. */
static size_t output_room(dp_inflater *f, dp_buf *out)
{
    size_t room = out->cap > out->len ? out->cap - out->len - 1 : 0;
    if (room == 0) {
        size_t want = out->len ? out->len : FIRST_OUTPUT;
        if (want > f->cap - out->len)
            want = f->cap - out->len;
        if (dp_buf_reserve_exact(out, want) != 0)
            return 0;
        room = out->cap - out->len - 1;
    }
    if (room > f->cap - out->len)
        room = f->cap - out->len;
    if (room > UINT_MAX)
        room = UINT_MAX;
    return room;
}

dp_inflate_status dp_inflater_feed(dp_inflater *f, const void *data, size_t len, dp_buf *out)
{
    if (f->status != DP_INFLATE_OK)
        return f->status;
    if (!f->ready)
        return fail(f, DP_INFLATE_NOMEM);
    const unsigned char *in = data;
    while (len > 0) {
        if (f->ended) /* bytes after a zlib stream */
            return fail(f, DP_INFLATE_CORRUPT);
        uInt chunk = len > UINT_MAX ? UINT_MAX : (uInt)len;
        f->z.next_in = (Bytef *)in;
        f->z.avail_in = chunk;
        /* on until the input is used up and zlib holds no output back: when
         * the output room ran out, it may keep some even with no input left */
        bool held = false;
        while (f->z.avail_in > 0 || held) {
            /* at the cap zlib gets one byte of its own: output there means over it */
            unsigned char probe;
            bool full = out->len == f->cap;
            size_t room = full ? 1 : output_room(f, out);
            if (room == 0)
                return fail(f, DP_INFLATE_NOMEM);
            f->z.next_out = full ? &probe : (Bytef *)out->data + out->len;
            f->z.avail_out = (uInt)room;
            uInt in_before = f->z.avail_in;
            int zr = inflate(&f->z, Z_NO_FLUSH);
            if (full && f->z.avail_out == 0)
                return fail(f, DP_INFLATE_OVER_CAP);
            if (!full) {
                out->len += room - f->z.avail_out;
                out->data[out->len] = '\0';
            }
            if (zr == Z_STREAM_END) {
                f->member_open = false;
                f->members++;
                if (f->format == DP_INFLATE_ZLIB) {
                    f->ended = true;
                    if (f->z.avail_in > 0)
                        return fail(f, DP_INFLATE_CORRUPT);
                } else if (inflateReset(&f->z) != Z_OK) {
                    return fail(f, DP_INFLATE_CORRUPT);
                }
                held = false;
                continue;
            }
            if (zr == Z_MEM_ERROR)
                return fail(f, DP_INFLATE_NOMEM);
            /* Z_BUF_ERROR only means no progress; with input and room that is
             * bad data, without input it is the end of what this piece gives */
            bool progress = f->z.avail_in < in_before || f->z.avail_out < room;
            if (zr == Z_BUF_ERROR && !progress && f->z.avail_in == 0)
                break;
            if (zr != Z_OK && !(zr == Z_BUF_ERROR && progress))
                return fail(f, DP_INFLATE_CORRUPT);
            f->member_open = true;
            held = f->z.avail_out == 0;
        }
        in += chunk;
        len -= chunk;
    }
    return DP_INFLATE_OK;
}

dp_inflate_status dp_inflater_finish(dp_inflater *f)
{
    if (f->status != DP_INFLATE_OK)
        return f->status;
    if (!f->ready)
        return fail(f, DP_INFLATE_NOMEM);
    /* an empty input is no stream at all; gzip may end only between members */
    if (f->member_open || f->members == 0)
        return fail(f, DP_INFLATE_TRUNCATED);
    return DP_INFLATE_OK;
}

void dp_inflater_end(dp_inflater *f)
{
    if (f->ready)
        inflateEnd(&f->z);
    f->ready = false;
}

const char *dp_inflater_message(const dp_inflater *f)
{
    if (f->status == DP_INFLATE_CORRUPT && f->z.msg)
        return f->z.msg;
    switch (f->status) {
    case DP_INFLATE_OK:
        return "ok";
    case DP_INFLATE_OVER_CAP:
        return "inflates past the size limit";
    case DP_INFLATE_CORRUPT:
        return "not valid compressed data";
    case DP_INFLATE_TRUNCATED:
        return "the compressed data is truncated";
    case DP_INFLATE_NOMEM:
        break;
    }
    return "out of memory inflating";
}

/*
 * Inflating a compressed request with a cap on its output: gzip (RFC 1952,
 * one or more members one after the other, as gunzip reads them) or zlib
 * (RFC 1950, what gRPC and HTTP call "deflate"), fed in pieces as they
 * arrive. The output buffer grows by doubling but never past the cap,
 * so a small request that inflates to gigabytes costs at most that much
 * memory before it is refused with DP_INFLATE_OVER_CAP: the whole inflated
 * size is never allocated.
 */
#ifndef DP_INFLATE_CAPPED_H
#define DP_INFLATE_CAPPED_H

#include <stdbool.h>
#include <stddef.h>
#include <zlib.h>

#include "buf.h"

typedef enum dp_inflate_format {
    DP_INFLATE_GZIP, /* gzip members, one after the other */
    DP_INFLATE_ZLIB, /* one zlib stream ("deflate" in gRPC and HTTP) */
} dp_inflate_format;

typedef enum dp_inflate_status {
    DP_INFLATE_OK = 0,    /* taken; more may follow */
    DP_INFLATE_OVER_CAP,  /* the output would pass the cap */
    DP_INFLATE_CORRUPT,   /* not valid data of the format (or bytes after a zlib stream) */
    DP_INFLATE_TRUNCATED, /* dp_inflater_finish(): the stream stops before its end */
    DP_INFLATE_NOMEM,     /* out of memory */
} dp_inflate_status;

typedef struct dp_inflater {
    z_stream z;
    dp_inflate_format format;
    size_t cap;               /* most output bytes taken */
    bool ready;               /* z holds an inflate stream */
    bool member_open;         /* inside a gzip member or the zlib stream: its end not read yet */
    bool ended;               /* a zlib stream's end was read */
    unsigned members;         /* streams (gzip members) read to their end */
    dp_inflate_status status; /* the first failure; later calls return it again */
} dp_inflater;

/** Start inflating `format` into at most `cap` bytes. DP_INFLATE_NOMEM when zlib cannot start. */
dp_inflate_status dp_inflater_init(dp_inflater *f, dp_inflate_format format, size_t cap);

/**
 * Inflate `len` more input bytes, appending the output to `out` (which holds
 * what earlier calls wrote; its len never passes the cap nor its allocation
 * cap + 1 bytes (with the NUL after the bytes; a dp_buf whose max is the cap
 * will do). After a failure
 * every later call returns the same status.
 */
dp_inflate_status dp_inflater_feed(dp_inflater *f, const void *data, size_t len, dp_buf *out);

/** The input is complete: DP_INFLATE_TRUNCATED when it stops inside a stream (or is empty). */
dp_inflate_status dp_inflater_finish(dp_inflater *f);

/** Free zlib's state. Tolerates an inflater that never started, and a second call. */
void dp_inflater_end(dp_inflater *f);

/** zlib's text for the last failure, or a description of the status. */
const char *dp_inflater_message(const dp_inflater *f);

#endif

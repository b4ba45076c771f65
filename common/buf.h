/*
 * dp_buf: a growable byte buffer with a hard cap, for building output
 * (reports, JSON, encoded protobuf) before writing it in one call.
 *
 * Functions return 0 on success and -1 when memory runs out or the cap
 * (max, 0 = none) would be passed; the buffer is then left as it was.
 * The data is always NUL-terminated after a successful append.
 *
 * A buffer with a spill function (dp_buf_set_spill) streams instead: max is
 * then the size of a chunk, not a cap. When an append would pass it, the
 * bytes held so far are handed to the spill function and the buffer starts
 * again empty; one append larger than a chunk still fits. So output of any
 * size (a report of a run of 100,000 spans) is written in bounded memory.
 */
#ifndef DP_BUF_H
#define DP_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct dp_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    /* streaming (dp_buf_set_spill): NULL for a plain buffer */
    int (*spill)(void *ctx, const char *data, size_t len);
    void *spill_ctx;
    size_t spilled; /* bytes handed to spill so far */
} dp_buf;

void dp_buf_init(dp_buf *b, size_t max);
void dp_buf_free(dp_buf *b);
/**
 * Make b stream its bytes to spill (0, or non-zero to fail the append that
 * caused it) in chunks of about b->max bytes (b->max must not be 0). The
 * caller spills the rest, b->data[0..len), when done.
 */
void dp_buf_set_spill(dp_buf *b, int (*spill)(void *ctx, const char *data, size_t len), void *ctx);
void dp_buf_reset(dp_buf *b);
int dp_buf_reserve(dp_buf *b, size_t extra);
/** dp_buf_reserve() that grows to exactly what is asked rather than doubling:
 *  for output whose size is known before it is written (a measured encoding). */
int dp_buf_reserve_exact(dp_buf *b, size_t extra);
int dp_buf_append(dp_buf *b, const void *data, size_t len);
int dp_buf_puts(dp_buf *b, const char *s);
int dp_buf_printf(dp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dp_buf_vprintf(dp_buf *b, const char *fmt, va_list ap);

/**
 * Hand the bytes over: returns the data (malloc'd, NUL-terminated after
 * *len bytes; NULL when nothing was ever reserved) and leaves b empty with
 * its cap, as dp_buf_init() does. The caller frees what it got.
 */
char *dp_buf_release(dp_buf *b, size_t *len);

#endif

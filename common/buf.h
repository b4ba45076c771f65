/*
 * dp_buf: a growable byte buffer with a hard cap, for building output
 * (reports, JSON, encoded protobuf) before writing it in one call.
 *
 * Functions return 0 on success and -1 when memory runs out or the cap
 * (max, 0 = none) would be passed; the buffer is then left as it was.
 * The data is always NUL-terminated after a successful append.
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
} dp_buf;

void dp_buf_init(dp_buf *b, size_t max);
void dp_buf_free(dp_buf *b);
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

/*
 * Growable output buffer; see buf.h.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dp_buf_init(dp_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->spill = NULL;
    b->spill_ctx = NULL;
    b->spilled = 0;
}

void dp_buf_set_spill(dp_buf *b, int (*spill)(void *ctx, const char *data, size_t len), void *ctx)
{
    b->spill = spill;
    b->spill_ctx = ctx;
}

void dp_buf_free(dp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void dp_buf_reset(dp_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Bytes needed for extra more plus the NUL; 0 when past the cap or
 * overflowing. A streaming buffer first spills what it holds, and takes one
 * piece larger than a chunk on its own. */
static size_t bytes_needed(dp_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->len)
        return 0;
    if (!b->max || need <= b->max + 1)
        return need;
    if (!b->spill)
        return 0;
    if (b->len) {
        if (b->spill(b->spill_ctx, b->data, b->len) != 0)
            return 0;
        b->spilled += b->len;
        b->len = 0;
        b->data[0] = '\0';
    }
    return extra + 1 > extra ? extra + 1 : 0;
}

static int grow_to(dp_buf *b, size_t ncap)
{
    char *nd = realloc(b->data, ncap);
    if (!nd)
        return -1;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int dp_buf_reserve(dp_buf *b, size_t extra)
{
    size_t need = bytes_needed(b, extra);
    if (!need)
        return -1;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2)
            return -1;
        ncap *= 2;
    }
    return grow_to(b, ncap);
}

int dp_buf_reserve_exact(dp_buf *b, size_t extra)
{
    size_t need = bytes_needed(b, extra);
    if (!need)
        return -1;
    return need <= b->cap ? 0 : grow_to(b, need);
}

char *dp_buf_release(dp_buf *b, size_t *len)
{
    char *data = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return data;
}

int dp_buf_append(dp_buf *b, const void *data, size_t len)
{
    if (dp_buf_reserve(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int dp_buf_puts(dp_buf *b, const char *s)
{
    return dp_buf_append(b, s, strlen(s));
}

int dp_buf_vprintf(dp_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(tmp))
        return dp_buf_append(b, tmp, (size_t)n);
    if (dp_buf_reserve(b, (size_t)n) != 0)
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int dp_buf_printf(dp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dp_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

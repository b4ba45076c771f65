/*
 * The streaming JSON writer; see json_write.h for the output rules.
 *
 * Reports are rendered once per finished run on the run processors' hot
 * path, so everything here writes directly into the dp_buf: strings are
 * copied in runs of bytes that need no escaping, numbers are formatted by
 * hand from a scaled integer instead of going through printf.
 */
#include "json_write.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* 2^53: below it every integer is exact in a double */
#define EXACT_LIMIT 9007199254740992.0

static const double scale_real[DP_JSON_MAX_DECIMALS + 1] = {1e0, 1e1, 1e2, 1e3, 1e4,
                                                            1e5, 1e6, 1e7, 1e8, 1e9};
static const uint64_t scale_int[DP_JSON_MAX_DECIMALS + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

/* Append n bytes, writing in place when the buffer already has room and
 * the cap allows (the common case), else through dp_buf_append. */
static int put(dp_buf *b, const void *p, size_t n)
{
    if (b->data && b->len + n < b->cap && (!b->max || b->len + n <= b->max)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return dp_buf_append(b, p, n);
}

static int put_char(dp_buf *b, char c)
{
    return put(b, &c, 1);
}

/* Decimal digits of v into dst; returns their count (at most 20). */
static size_t format_uint(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

/*
 * Nonzero when one of the eight bytes of w is below 0x20, a '"', a '\\' or
 * above 0x7F: the bytes a JSON string cannot take as they are. Each test is
 * the exact "some byte is zero / less than n" word trick (a borrow can only
 * mark bytes above a byte that really matched, never make a match up).
 */
static inline uint64_t needs_escape8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t below_space = (w - ones * 0x20) & ~w;
    uint64_t is_quote = (quote - ones) & ~quote;
    uint64_t is_backslash = (backslash - ones) & ~backslash;
    return (below_space | is_quote | is_backslash | w) & high;
}

/* Length of the prefix of s that goes into a JSON string unchanged when it
 * is ASCII: no byte below 0x20 or above 0x7F, no '"', no '\\'. */
static inline size_t plain_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (len - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (needs_escape8(w))
            break;
        i += 8;
    }
    while (i < len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

/* Room for n more bytes and the NUL: the in-place test of put(), else the
 * buffer grows (or refuses beyond its cap). */
static inline int room_for(dp_buf *b, size_t n)
{
    if (b->data && b->len + n < b->cap && (!b->max || b->len + n <= b->max))
        return 0;
    return dp_buf_reserve(b, n);
}

/* pre, then s quoted, then post (each 0 for none), s needing no escape. */
static int put_plain_quoted(dp_buf *b, char pre, const char *s, size_t len, char post)
{
    if (room_for(b, len + 2 + (pre != 0) + (post != 0)) != 0)
        return -1;
    char *d = b->data + b->len;
    if (pre)
        *d++ = pre;
    *d++ = '"';
    memcpy(d, s, len);
    d += len;
    *d++ = '"';
    if (post)
        *d++ = post;
    *d = '\0';
    b->len = (size_t)(d - b->data);
    return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at s (2 to 4 bytes, n > 0
 * bytes available, s[0] >= 0x80), or 0 when it is ill-formed; then *bad is
 * the length of its maximal subpart (the longest prefix that could start a
 * valid sequence, at least 1), which becomes one U+FFFD.
 */
static size_t utf8_sequence(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* no overlong forms */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *bad = 1; /* a stray continuation byte, C0, C1 or F5..FF */
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (i >= n || s[i] < min || s[i] > max) {
            *bad = i;
            return 0;
        }
    }
    return need + 1;
}

int dp_json_append_string(dp_buf *out, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t start_len = out->len;
    size_t i = plain_prefix(s, len), run = 0; /* s[run..i) is copied unchanged */
    if (i == len)                             /* the common case: nothing to escape */
        return put_plain_quoted(out, 0, str, len, 0);
    /* Every input byte gives at least one output byte, so this never asks
     * for more than the result needs (and fails early when it cannot fit). */
    if (dp_buf_reserve(out, len + 2) != 0 || put_char(out, '"') != 0)
        goto fail;
    while (i < len) {
        i += plain_prefix(s + i, len - i);
        if (i == len)
            break;
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t bad = 0;
        if (c >= 0x80) {
            size_t seq = utf8_sequence(s + i, len - i, &bad);
            if (seq) {
                i += seq;
                continue;
            }
        }
        if (i > run && put(out, s + run, i - run) != 0)
            goto fail;
        if (bad) {
            if (put(out, "\xEF\xBF\xBD", 3) != 0) /* U+FFFD */
                goto fail;
            i += bad;
        } else if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            if (put(out, esc, 2) != 0)
                goto fail;
            i++;
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            if (put(out, esc, 6) != 0)
                goto fail;
            i++;
        }
        run = i;
    }
    if (i > run && put(out, s + run, i - run) != 0)
        goto fail;
    if (put_char(out, '"') != 0)
        goto fail;
    return 0;
fail:
    out->len = start_len;
    if (out->data)
        out->data[start_len] = '\0';
    return -1;
}

size_t dp_json_format_double(char dst[DP_JSON_NUMBER_MAX], double v, unsigned decimals)
{
    if (!isfinite(v)) {
        memcpy(dst, "null", 5);
        return 0;
    }
    if (decimals > DP_JSON_MAX_DECIMALS)
        decimals = DP_JSON_MAX_DECIMALS;
    double scaled = v * scale_real[decimals];
    if (scaled > -EXACT_LIMIT && scaled < EXACT_LIMIT) {
        /* Round half away from zero on the scaled value; scaled - n is exact
         * (Sterbenz), so this matches round() without needing libm. */
        int64_t n = (int64_t)scaled;
        double rest = scaled - (double)n;
        if (rest >= 0.5)
            n++;
        else if (rest <= -0.5)
            n--;
        char *p = dst;
        uint64_t m = (uint64_t)n;
        if (n < 0) {
            *p++ = '-';
            m = 0 - m;
        }
        uint64_t ip = m / scale_int[decimals], fp = m % scale_int[decimals];
        p += format_uint(p, ip);
        *p++ = '.';
        if (fp == 0) {
            *p++ = '0';
        } else {
            char frac[DP_JSON_MAX_DECIMALS];
            unsigned digits = decimals;
            while (fp % 10 == 0) { /* non-zero, so this stops */
                fp /= 10;
                digits--;
            }
            for (unsigned d = digits; d > 0; d--) {
                frac[d - 1] = (char)('0' + fp % 10);
                fp /= 10;
            }
            memcpy(p, frac, digits);
            p += digits;
        }
        *p = '\0';
        return (size_t)(p - dst);
    }
    /* Too large to scale exactly: 15 significant digits, as a real. */
    int n = snprintf(dst, DP_JSON_NUMBER_MAX, "%.15g", v);
    if (n <= 0 || n >= DP_JSON_NUMBER_MAX - 2) {
        memcpy(dst, "null", 5); /* cannot happen for a finite double */
        return 0;
    }
    size_t len = (size_t)n;
    for (size_t i = 0; i < len; i++) {
        if (dst[i] == ',')
            dst[i] = '.'; /* a locale's decimal comma */
    }
    if (!memchr(dst, '.', len) && !memchr(dst, 'e', len)) {
        memcpy(dst + len, ".0", 3);
        len += 2;
    }
    return len;
}

void dp_json_writer_init(dp_json_writer *w, dp_buf *out)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->start_len = out ? out->len : 0;
    if (!out)
        w->err = -1;
}

/* Called before every value: checks the structure and writes the comma
 * that separates it from the previous array element. */
static bool begin_value(dp_json_writer *w)
{
    if (w->err)
        return false;
    uint32_t bit = 1u << w->depth;
    if (w->depth == 0) {
        if (w->has_items & bit)
            goto misuse; /* a second top-level value */
        w->has_items |= bit;
        return true;
    }
    if (w->is_array & bit) {
        if ((w->has_items & bit) && put_char(w->out, ',') != 0)
            goto fail;
        w->has_items |= bit;
        return true;
    }
    if (!w->after_key)
        goto misuse; /* an object member without a key */
    w->after_key = false;
    return true;
misuse:
fail:
    w->err = -1;
    return false;
}

static void check(dp_json_writer *w, int rc)
{
    if (rc != 0)
        w->err = -1;
}

static void container_begin(dp_json_writer *w, bool array)
{
    if (!begin_value(w))
        return;
    if (w->depth == DP_JSON_MAX_DEPTH) {
        w->err = -1;
        return;
    }
    w->depth++;
    uint32_t bit = 1u << w->depth;
    w->has_items &= ~bit;
    if (array)
        w->is_array |= bit;
    else
        w->is_array &= ~bit;
    check(w, put_char(w->out, array ? '[' : '{'));
}

static void container_end(dp_json_writer *w, bool array)
{
    if (w->err)
        return;
    uint32_t bit = 1u << w->depth;
    if (w->depth == 0 || w->after_key || !(w->is_array & bit) != !array) {
        w->err = -1;
        return;
    }
    w->depth--;
    check(w, put_char(w->out, array ? ']' : '}'));
}

void dp_json_writer_object_begin(dp_json_writer *w)
{
    container_begin(w, false);
}

void dp_json_writer_object_end(dp_json_writer *w)
{
    container_end(w, false);
}

void dp_json_writer_array_begin(dp_json_writer *w)
{
    container_begin(w, true);
}

void dp_json_writer_array_end(dp_json_writer *w)
{
    container_end(w, true);
}

void dp_json_writer_key(dp_json_writer *w, const char *key)
{
    if (w->err)
        return;
    uint32_t bit = 1u << w->depth;
    if (w->depth == 0 || (w->is_array & bit) || w->after_key || !key) {
        w->err = -1;
        return;
    }
    bool comma = (w->has_items & bit) != 0;
    size_t len = strlen(key);
    if (plain_prefix((const unsigned char *)key, len) == len) {
        /* keys are nearly always plain: the comma, the key and the colon in one write */
        if (put_plain_quoted(w->out, comma ? ',' : 0, key, len, ':') != 0)
            goto fail;
    } else if ((comma && put_char(w->out, ',') != 0) ||
               dp_json_append_string(w->out, key, len) != 0 || put_char(w->out, ':') != 0) {
        goto fail;
    }
    w->has_items |= bit;
    w->after_key = true;
    return;
fail:
    w->err = -1;
}

void dp_json_writer_string(dp_json_writer *w, const char *s, size_t len)
{
    if (!s && len) {
        w->err = -1;
        return;
    }
    if (begin_value(w))
        check(w, dp_json_append_string(w->out, s ? s : "", len));
}

void dp_json_writer_cstring(dp_json_writer *w, const char *s)
{
    if (!s)
        dp_json_writer_null(w);
    else
        dp_json_writer_string(w, s, strlen(s));
}

void dp_json_writer_null(dp_json_writer *w)
{
    if (begin_value(w))
        check(w, put(w->out, "null", 4));
}

void dp_json_writer_bool(dp_json_writer *w, bool v)
{
    if (begin_value(w))
        check(w, v ? put(w->out, "true", 4) : put(w->out, "false", 5));
}

void dp_json_writer_uint(dp_json_writer *w, uint64_t v)
{
    char tmp[20];
    if (begin_value(w))
        check(w, put(w->out, tmp, format_uint(tmp, v)));
}

void dp_json_writer_int(dp_json_writer *w, int64_t v)
{
    char tmp[21];
    if (!begin_value(w))
        return;
    size_t n = 0;
    uint64_t m = (uint64_t)v;
    if (v < 0) {
        tmp[n++] = '-';
        m = 0 - m; /* well defined for INT64_MIN too */
    }
    n += format_uint(tmp + n, m);
    check(w, put(w->out, tmp, n));
}

void dp_json_writer_double(dp_json_writer *w, double v, unsigned decimals)
{
    char tmp[DP_JSON_NUMBER_MAX];
    if (!begin_value(w))
        return;
    size_t n = dp_json_format_double(tmp, v, decimals);
    check(w, n ? put(w->out, tmp, n) : put(w->out, "null", 4));
}

int dp_json_writer_finish(dp_json_writer *w)
{
    if (!w->err && (w->depth != 0 || w->after_key || !(w->has_items & 1u)))
        w->err = -1; /* unclosed container, dangling key or no value at all */
    if (w->err && w->out) {
        w->out->len = w->start_len;
        if (w->out->data)
            w->out->data[w->start_len] = '\0';
    }
    return w->err;
}

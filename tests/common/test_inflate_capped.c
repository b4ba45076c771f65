/*
 * The capped inflater on hand-built gzip and zlib streams: stored (type 0)
 * deflate blocks written byte by byte here, with the header and trailer
 * fields of RFC 1952 and RFC 1950 (the checksums from zlib's crc32() and
 * adler32(), which the inflater does not use to build anything). Only the
 * bomb is compressed by zlib's deflate, whose output size is then unknown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "inflate_capped.h"

typedef struct bytes {
    unsigned char data[4096];
    size_t len;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    assert_true(b->len + n <= sizeof(b->data));
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_byte(bytes *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void put_le16(bytes *b, unsigned v)
{
    put_byte(b, v & 0xff);
    put_byte(b, (v >> 8) & 0xff);
}

static void put_le32(bytes *b, uint32_t v)
{
    put_le16(b, v & 0xffff);
    put_le16(b, v >> 16);
}

static void put_be32(bytes *b, uint32_t v)
{
    put_byte(b, v >> 24);
    put_byte(b, (v >> 16) & 0xff);
    put_byte(b, (v >> 8) & 0xff);
    put_byte(b, v & 0xff);
}

/* One final stored deflate block holding `text`: BFINAL=1 BTYPE=00, LEN, NLEN. */
static void put_stored_block(bytes *b, const char *text, size_t n)
{
    put_byte(b, 0x01);
    put_le16(b, (unsigned)n);
    put_le16(b, (unsigned)(~n & 0xffff));
    put(b, text, n);
}

/* A gzip member: ID1 ID2 CM=8 FLG=0 MTIME=0 XFL=0 OS=255, the block, CRC32, ISIZE. */
static void put_gzip_member(bytes *b, const char *text)
{
    size_t n = strlen(text);
    static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    put(b, header, sizeof(header));
    put_stored_block(b, text, n);
    put_le32(b, (uint32_t)crc32(0L, (const Bytef *)text, (uInt)n));
    put_le32(b, (uint32_t)n);
}

/* A zlib stream: CMF=0x78 FLG=0x01 (0x7801 % 31 == 0), the block, Adler-32 big-endian. */
static void put_zlib_stream(bytes *b, const char *text)
{
    size_t n = strlen(text);
    put_byte(b, 0x78);
    put_byte(b, 0x01);
    put_stored_block(b, text, n);
    put_be32(b, (uint32_t)adler32(1L, (const Bytef *)text, (uInt)n));
}

/* Inflate `in` whole (or a byte at a time) with `cap`; the status of feed, else of finish. */
static dp_inflate_status run(dp_inflate_format fmt, const bytes *in, size_t cap, bool bytewise,
                             dp_buf *out)
{
    dp_inflater f;
    dp_buf_init(out, cap); /* as the OTLP/HTTP receiver's body: a buffer capped too */
    assert_int_equal(dp_inflater_init(&f, fmt, cap), DP_INFLATE_OK);
    dp_inflate_status st = DP_INFLATE_OK;
    if (bytewise) {
        for (size_t i = 0; i < in->len && st == DP_INFLATE_OK; i++)
            st = dp_inflater_feed(&f, in->data + i, 1, out);
    } else {
        st = dp_inflater_feed(&f, in->data, in->len, out);
    }
    if (st == DP_INFLATE_OK)
        st = dp_inflater_finish(&f);
    assert_true(out->len <= cap);
    /* never more than the cap and the NUL */
    assert_true(out->cap <= cap + 1);
    dp_inflater_end(&f);
    dp_inflater_end(&f);
    return st;
}

/* Output of exactly the cap is taken, in one piece or a byte at a time. */
static void test_exact_cap(void **state)
{
    (void)state;
    bytes in = {.len = 0};
    put_gzip_member(&in, "hello, world");
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        dp_buf out;
        assert_int_equal(run(DP_INFLATE_GZIP, &in, 12, bytewise, &out), DP_INFLATE_OK);
        assert_int_equal(out.len, 12);
        assert_memory_equal(out.data, "hello, world", 12);
        dp_buf_free(&out);
    }
}

/* One byte over the cap is refused, whichever way the input comes. */
static void test_cap_plus_one(void **state)
{
    (void)state;
    bytes in = {.len = 0};
    put_gzip_member(&in, "hello, world!"); /* 13 bytes */
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        dp_buf out;
        assert_int_equal(run(DP_INFLATE_GZIP, &in, 12, bytewise, &out), DP_INFLATE_OVER_CAP);
        dp_buf_free(&out);
    }
}

/* A wrong CRC, a wrong magic number and a bad block type are corrupt, not truncated. */
static void test_corrupt(void **state)
{
    (void)state;
    bytes good = {.len = 0};
    put_gzip_member(&good, "some text");
    size_t crc_at = good.len - 8;
    bytes bad = good;
    bad.data[crc_at] ^= 0x01;
    dp_buf out;
    assert_int_equal(run(DP_INFLATE_GZIP, &bad, 100, false, &out), DP_INFLATE_CORRUPT);
    dp_buf_free(&out);
    bad = good;
    bad.data[1] = 0x8c;
    assert_int_equal(run(DP_INFLATE_GZIP, &bad, 100, false, &out), DP_INFLATE_CORRUPT);
    dp_buf_free(&out);
    bad = good;
    bad.data[10] = 0x07; /* BFINAL=1, BTYPE=11: reserved */
    assert_int_equal(run(DP_INFLATE_GZIP, &bad, 100, true, &out), DP_INFLATE_CORRUPT);
    dp_buf_free(&out);
    /* the message is zlib's own */
    dp_inflater f;
    dp_buf_init(&out, 0);
    assert_int_equal(dp_inflater_init(&f, DP_INFLATE_GZIP, 100), DP_INFLATE_OK);
    bad = good;
    bad.data[crc_at] ^= 0x01;
    assert_int_equal(dp_inflater_feed(&f, bad.data, bad.len, &out), DP_INFLATE_CORRUPT);
    assert_string_equal(dp_inflater_message(&f), "incorrect data check");
    /* a failed inflater stays failed */
    assert_int_equal(dp_inflater_feed(&f, good.data, good.len, &out), DP_INFLATE_CORRUPT);
    assert_int_equal(dp_inflater_finish(&f), DP_INFLATE_CORRUPT);
    dp_inflater_end(&f);
    dp_buf_free(&out);
}

/* A stream that stops early, or no stream at all, is truncated. */
static void test_truncated(void **state)
{
    (void)state;
    bytes in = {.len = 0};
    put_gzip_member(&in, "some text");
    dp_buf out;
    for (size_t cut = 1; cut < in.len; cut++) {
        bytes part = in;
        part.len = cut;
        assert_int_equal(run(DP_INFLATE_GZIP, &part, 100, false, &out), DP_INFLATE_TRUNCATED);
        dp_buf_free(&out);
    }
    bytes empty = {.len = 0};
    assert_int_equal(run(DP_INFLATE_GZIP, &empty, 100, false, &out), DP_INFLATE_TRUNCATED);
    dp_buf_free(&out);
    assert_int_equal(run(DP_INFLATE_ZLIB, &empty, 100, false, &out), DP_INFLATE_TRUNCATED);
    dp_buf_free(&out);
}

/* Members one after the other inflate to their texts joined; the cap counts them all. */
static void test_concatenated_members(void **state)
{
    (void)state;
    bytes in = {.len = 0};
    put_gzip_member(&in, "hello, ");
    put_gzip_member(&in, "world");
    dp_buf out;
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        assert_int_equal(run(DP_INFLATE_GZIP, &in, 12, bytewise, &out), DP_INFLATE_OK);
        assert_int_equal(out.len, 12);
        assert_memory_equal(out.data, "hello, world", 12);
        dp_buf_free(&out);
        assert_int_equal(run(DP_INFLATE_GZIP, &in, 11, bytewise, &out), DP_INFLATE_OVER_CAP);
        dp_buf_free(&out);
    }
    /* the second member cut short */
    bytes part = in;
    part.len -= 3;
    assert_int_equal(run(DP_INFLATE_GZIP, &part, 100, false, &out), DP_INFLATE_TRUNCATED);
    dp_buf_free(&out);
    /* bytes after a member that start no member */
    bytes trailing = in;
    put_byte(&trailing, 0);
    put_byte(&trailing, 0);
    assert_int_equal(run(DP_INFLATE_GZIP, &trailing, 100, false, &out), DP_INFLATE_CORRUPT);
    dp_buf_free(&out);
}

/* zlib ("deflate"): one stream; bytes after it are corrupt; the cap holds as for gzip. */
static void test_zlib(void **state)
{
    (void)state;
    bytes in = {.len = 0};
    put_zlib_stream(&in, "abcdef");
    dp_buf out;
    assert_int_equal(run(DP_INFLATE_ZLIB, &in, 6, true, &out), DP_INFLATE_OK);
    assert_int_equal(out.len, 6);
    assert_memory_equal(out.data, "abcdef", 6);
    dp_buf_free(&out);
    assert_int_equal(run(DP_INFLATE_ZLIB, &in, 5, false, &out), DP_INFLATE_OVER_CAP);
    dp_buf_free(&out);
    bytes twice = in;
    put_zlib_stream(&twice, "abcdef");
    assert_int_equal(run(DP_INFLATE_ZLIB, &twice, 100, false, &out), DP_INFLATE_CORRUPT);
    dp_buf_free(&out);
    /* a gzip member is not a zlib stream, nor the reverse */
    bytes gz = {.len = 0};
    put_gzip_member(&gz, "abcdef");
    assert_int_equal(run(DP_INFLATE_ZLIB, &gz, 100, false, &out), DP_INFLATE_CORRUPT);
    dp_buf_free(&out);
    assert_int_equal(run(DP_INFLATE_GZIP, &in, 100, false, &out), DP_INFLATE_CORRUPT);
    dp_buf_free(&out);
}

/* 64 MiB of zeros, deflated by zlib to a few hundred KiB, against a 1 MiB cap:
 * refused with no more than the cap's worth of memory. */
static void test_bomb(void **state)
{
    (void)state;
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    static unsigned char zeros[1 << 16];
    size_t bomb_cap = 1u << 20;
    unsigned char *bomb = malloc(bomb_cap);
    assert_non_null(bomb);
    z.next_out = bomb;
    z.avail_out = (uInt)bomb_cap;
    for (int i = 0; i < 1024; i++) {
        z.next_in = zeros;
        z.avail_in = sizeof(zeros);
        assert_int_equal(deflate(&z, i == 1023 ? Z_FINISH : Z_NO_FLUSH),
                         i == 1023 ? Z_STREAM_END : Z_OK);
    }
    size_t bomb_len = bomb_cap - z.avail_out;
    deflateEnd(&z);

    size_t cap = 1u << 20;
    dp_inflater f;
    dp_buf out;
    dp_buf_init(&out, 0);
    assert_int_equal(dp_inflater_init(&f, DP_INFLATE_GZIP, cap), DP_INFLATE_OK);
    assert_int_equal(dp_inflater_feed(&f, bomb, bomb_len, &out), DP_INFLATE_OVER_CAP);
    assert_int_equal(out.len, cap);
    assert_true(out.cap <= cap + 1);
    assert_int_equal(dp_inflater_finish(&f), DP_INFLATE_OVER_CAP);
    dp_inflater_end(&f);
    dp_buf_free(&out);
    free(bomb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_cap),
        cmocka_unit_test(test_cap_plus_one),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_concatenated_members),
        cmocka_unit_test(test_zlib),
        cmocka_unit_test(test_bomb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

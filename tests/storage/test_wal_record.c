/*
 * The write-ahead log's record format (storage/wal_record.h): the header's
 * bytes laid out as documented, read back whole, and every damaged or cut
 * record refused. The checksum is compared with a bitwise CRC-32 written
 * here from its definition (reflected polynomial 0xEDB88320), checked first
 * against the standard check value crc32("123456789") = 0xCBF43926.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wal_record.h"

static uint32_t bitwise_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

static void test_reference_crc(void **state)
{
    (void)state;
    assert_int_equal(bitwise_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
}

/* One record of `payload` into buf; returns its length. */
static size_t put_record(uint8_t *buf, enum dp_signal signal, uint64_t seq, const char *payload)
{
    size_t n = strlen(payload);
    dp_wal_header_encode(buf, signal, seq, n, dp_wal_payload_crc((const uint8_t *)payload, n));
    memcpy(buf + DP_WAL_HEADER_BYTES, payload, n);
    return DP_WAL_HEADER_BYTES + n;
}

static void test_header_layout(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = put_record(buf, DP_SIGNAL_METRICS, 0x0102030405060708ull, "abc");
    assert_int_equal(n, 27);
    /* "DPW1" is 0x31575044 little-endian: the bytes D P W 1 */
    assert_memory_equal(buf, "DPW1", 4);
    /* length 3, signal 1 (metrics), three zero bytes, then the sequence LE */
    const uint8_t want[] = {3, 0, 0, 0, 1, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
    assert_memory_equal(buf + 8, want, sizeof(want));
    /* crc over bytes 8..23 then the payload, stored little-endian at 4 */
    uint32_t crc = bitwise_crc32(0, buf + 8, 16);
    crc = bitwise_crc32(crc, (const uint8_t *)"abc", 3);
    uint32_t stored = buf[4] | buf[5] << 8 | buf[6] << 16 | (uint32_t)buf[7] << 24;
    assert_int_equal(stored, crc);
    /* the payload's own checksum, as the appender computes it first */
    assert_int_equal(dp_wal_payload_crc((const uint8_t *)"abc", 3),
                     bitwise_crc32(0, (const uint8_t *)"abc", 3));
}

static void test_read_back(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t a = put_record(buf, DP_SIGNAL_TRACES, 1, "first request");
    size_t b = put_record(buf + a, DP_SIGNAL_LOGS, 2, "");
    dp_wal_record r;
    assert_int_equal(dp_wal_record_read(buf, a + b, &r), DP_WAL_RECORD);
    assert_int_equal(r.signal, DP_SIGNAL_TRACES);
    assert_int_equal(r.sequence, 1);
    assert_int_equal(r.payload_len, 13);
    assert_memory_equal(r.payload, "first request", 13);
    assert_int_equal(r.record_len, a);
    assert_int_equal(dp_wal_record_read(buf + a, b, &r), DP_WAL_RECORD);
    assert_int_equal(r.signal, DP_SIGNAL_LOGS);
    assert_int_equal(r.sequence, 2);
    assert_int_equal(r.payload_len, 0);
    assert_int_equal(r.record_len, 24);
    assert_int_equal(dp_wal_record_read(buf + a + b, 0, &r), DP_WAL_END);
}

/* Any one byte changed anywhere in the record: never read as a record. */
static void test_every_corrupted_byte_detected(void **state)
{
    (void)state;
    uint8_t good[64], buf[64];
    size_t n = put_record(good, DP_SIGNAL_TRACES, 42, "span bytes here");
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, good, n);
            buf[i] ^= (uint8_t)(1u << bit);
            dp_wal_record r;
            int rc = dp_wal_record_read(buf, n, &r);
            /* a changed length may claim more bytes than there are */
            if (rc != DP_WAL_CORRUPT && rc != DP_WAL_TRUNCATED)
                fail_msg("byte %zu bit %d: read as %d", i, bit, rc);
        }
    }
}

/* Every cut of a record short of its end is a truncated tail. */
static void test_every_truncation_detected(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = put_record(buf, DP_SIGNAL_TRACES, 7, "payload");
    for (size_t cut = 1; cut < n; cut++) {
        dp_wal_record r;
        assert_int_equal(dp_wal_record_read(buf, cut, &r), DP_WAL_TRUNCATED);
    }
}

static void test_bad_signal_and_reserved(void **state)
{
    (void)state;
    uint8_t buf[64];
    dp_wal_record r;
    size_t n = put_record(buf, DP_SIGNAL_TRACES, 1, "x");
    buf[12] = 3; /* no such signal */
    assert_int_equal(dp_wal_record_read(buf, n, &r), DP_WAL_CORRUPT);
    n = put_record(buf, DP_SIGNAL_TRACES, 1, "x");
    buf[14] = 1; /* reserved */
    assert_int_equal(dp_wal_record_read(buf, n, &r), DP_WAL_CORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_crc),
        cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_read_back),
        cmocka_unit_test(test_every_corrupted_byte_detected),
        cmocka_unit_test(test_every_truncation_detected),
        cmocka_unit_test(test_bad_signal_and_reserved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

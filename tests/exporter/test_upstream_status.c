/*
 * Tests of the retry rules (gRPC status codes, HTTP status codes and the
 * Retry-After header) and of the google.rpc.Status / RetryInfo and
 * partial_success decoding, on bytes and texts written by hand below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "upstream_status.h"

static void test_retryable_codes(void **state)
{
    int always[] = {DP_GRPC_CANCELLED,    DP_GRPC_DEADLINE_EXCEEDED, DP_GRPC_ABORTED,
                    DP_GRPC_OUT_OF_RANGE, DP_GRPC_UNAVAILABLE,       DP_GRPC_DATA_LOSS};
    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++) {
        assert_true(dp_upstream_status_retryable(always[i], false));
        assert_true(dp_upstream_status_retryable(always[i], true));
    }
    int never[] = {DP_GRPC_OK,        DP_GRPC_UNKNOWN,           DP_GRPC_INVALID_ARGUMENT,
                   DP_GRPC_NOT_FOUND, DP_GRPC_PERMISSION_DENIED, DP_GRPC_UNIMPLEMENTED,
                   DP_GRPC_INTERNAL,  DP_GRPC_UNAUTHENTICATED};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        assert_false(dp_upstream_status_retryable(never[i], true));
    assert_false(dp_upstream_status_retryable(DP_GRPC_RESOURCE_EXHAUSTED, false));
    assert_true(dp_upstream_status_retryable(DP_GRPC_RESOURCE_EXHAUSTED, true));
}

/* RetryInfo{retry_delay: Duration{seconds: 2, nanos: 500000000}} inside
 * Status{code: 8, message: "x", details: [Any{other}, Any{RetryInfo}]}.
 * Expected delay: 2 s + 0.5 s = 2500 ms. */
static void test_retry_info_found(void **state)
{
    const char url[] = DP_RETRY_INFO_TYPE_URL;                             /* 40 bytes */
    uint8_t duration[] = {0x08, 0x02, 0x10, 0x80, 0xCA, 0xB5, 0xEE, 0x01}; /* 500000000 varint */
    uint8_t buf[256];
    size_t n = 0;

    buf[n++] = 0x08;
    buf[n++] = 0x08; /* code = 8 */
    buf[n++] = 0x12;
    buf[n++] = 0x01;
    buf[n++] = 'x'; /* message = "x" */
    /* details[0]: Any{type_url: "t/o", value: ""} = 0a 03 't' '/' 'o' */
    buf[n++] = 0x1a;
    buf[n++] = 5;
    buf[n++] = 0x0a;
    buf[n++] = 3;
    buf[n++] = 't';
    buf[n++] = '/';
    buf[n++] = 'o';
    /* details[1]: Any{type_url(42 bytes incl. key+len), value: RetryInfo} */
    size_t retry_info_len = 2 + sizeof(duration);                /* 0a 08 <duration> = 10 */
    size_t any_len = 2 + (sizeof(url) - 1) + 2 + retry_info_len; /* 42 + 12 = 54 */
    buf[n++] = 0x1a;
    buf[n++] = (uint8_t)any_len;
    buf[n++] = 0x0a;
    buf[n++] = (uint8_t)(sizeof(url) - 1);
    memcpy(buf + n, url, sizeof(url) - 1);
    n += sizeof(url) - 1;
    buf[n++] = 0x12;
    buf[n++] = (uint8_t)retry_info_len;
    buf[n++] = 0x0a;
    buf[n++] = (uint8_t)sizeof(duration);
    memcpy(buf + n, duration, sizeof(duration));
    n += sizeof(duration);

    uint64_t delay = 0;
    assert_int_equal(dp_upstream_status_retry_delay(buf, n, &delay), 1);
    assert_int_equal(delay, 2500);

    /* Every truncation is either still well-formed without RetryInfo or malformed,
     * never read past the end (ASan checks that) and never a RetryInfo with a
     * different delay. */
    for (size_t cut = 0; cut < n; cut++) {
        uint64_t d = 0;
        int rc = dp_upstream_status_retry_delay(buf, cut, &d);
        assert_true(rc == 0 || rc == -1 || (rc == 1 && d <= 2500));
    }
}

static void test_retry_info_absent_and_malformed(void **state)
{
    uint64_t delay = 77;
    uint8_t plain[] = {0x08, 0x0e, 0x12, 0x02, 'n', 'o'}; /* code 14, message "no" */
    assert_int_equal(dp_upstream_status_retry_delay(plain, sizeof(plain), &delay), 0);
    assert_int_equal(delay, 77); /* untouched */
    assert_int_equal(dp_upstream_status_retry_delay(NULL, 0, &delay), 0);

    uint8_t overlong[] = {0x1a, 0x10, 0x0a}; /* length 16 but 1 byte left */
    assert_int_equal(dp_upstream_status_retry_delay(overlong, sizeof(overlong), &delay), -1);
    uint8_t group[] = {0x0b}; /* field 1, wire type 3 */
    assert_int_equal(dp_upstream_status_retry_delay(group, sizeof(group), &delay), -1);
    uint8_t endless[11];
    memset(endless, 0xff, sizeof(endless)); /* varint never ends */
    assert_int_equal(dp_upstream_status_retry_delay(endless, sizeof(endless), &delay), -1);
}

/* Negative durations mean "now"; 1 ns rounds up to 1 ms. */
static void test_retry_delay_rounding(void **state)
{
    const char url[] = DP_RETRY_INFO_TYPE_URL;
    uint8_t buf[128];
    uint64_t delay;

    /* Duration{nanos: 1} -> 10 01 */
    size_t n = 0;
    buf[n++] = 0x1a;
    buf[n++] = (uint8_t)(2 + 40 + 2 + 4);
    buf[n++] = 0x0a;
    buf[n++] = 40;
    memcpy(buf + n, url, 40);
    n += 40;
    buf[n++] = 0x12;
    buf[n++] = 4;
    buf[n++] = 0x0a;
    buf[n++] = 2;
    buf[n++] = 0x10;
    buf[n++] = 0x01;
    assert_int_equal(dp_upstream_status_retry_delay(buf, n, &delay), 1);
    assert_int_equal(delay, 1);

    /* Duration{seconds: -1} -> 08 ff ff ff ff ff ff ff ff ff 01 (11 bytes) */
    n = 0;
    buf[n++] = 0x1a;
    buf[n++] = (uint8_t)(2 + 40 + 2 + 13);
    buf[n++] = 0x0a;
    buf[n++] = 40;
    memcpy(buf + n, url, 40);
    n += 40;
    buf[n++] = 0x12;
    buf[n++] = 13;
    buf[n++] = 0x0a;
    buf[n++] = 11;
    buf[n++] = 0x08;
    for (int i = 0; i < 9; i++)
        buf[n++] = 0xff;
    buf[n++] = 0x01;
    assert_int_equal(dp_upstream_status_retry_delay(buf, n, &delay), 1);
    assert_int_equal(delay, 0);
}

/* ExportTraceServiceResponse{partial_success: {rejected_spans: 3,
 * error_message: "bad"}} = 0a 07 08 03 12 03 'b' 'a' 'd' */
static void test_partial_success(void **state)
{
    uint8_t resp[] = {0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'};
    int64_t rejected = -1;
    char msg[3];
    assert_int_equal(
        dp_upstream_partial_success_parse(resp, sizeof(resp), &rejected, msg, sizeof(msg)), 0);
    assert_int_equal(rejected, 3);
    assert_string_equal(msg, "ba"); /* truncated to the 3-byte buffer */

    char full[16];
    assert_int_equal(dp_upstream_partial_success_parse(NULL, 0, &rejected, full, sizeof(full)), 0);
    assert_int_equal(rejected, 0);
    assert_string_equal(full, "");
    assert_int_equal(dp_upstream_partial_success_parse(resp, 5, &rejected, full, sizeof(full)), -1);
}

/* A field with another wire type than its schema's is skipped like an
 * unknown field: partial_success {rejected as fixed64 5, then as varint 2}
 * = 0a 0b | 09 05 00 00 00 00 00 00 00 | 08 02 reads rejected 2. A tag
 * spread over 6 bytes (08 as 88 80 80 80 80 00) is malformed: protobuf
 * tags take at most 5. */
static void test_partial_success_wire_types_and_tags(void **state)
{
    uint8_t resp[] = {0x0a, 0x0b, 0x09, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x02};
    int64_t rejected = -1;
    assert_int_equal(dp_upstream_partial_success_parse(resp, sizeof(resp), &rejected, NULL, 0), 0);
    assert_int_equal(rejected, 2);

    uint8_t long_tag[] = {0x0a, 0x07, 0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x02};
    assert_int_equal(
        dp_upstream_partial_success_parse(long_tag, sizeof(long_tag), &rejected, NULL, 0), -1);
}

/* The OTLP/HTTP list: 429, 502, 503 and 504 are retried; every other 4xx
 * and 5xx is final. */
static void test_http_retryable_codes(void **state)
{
    int retried[] = {429, 502, 503, 504};
    for (size_t i = 0; i < sizeof(retried) / sizeof(retried[0]); i++)
        assert_true(dp_upstream_http_retryable(retried[i]));
    int final[] = {200, 400, 401, 403, 404, 405, 408, 413, 415, 500, 501, 505};
    for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++)
        assert_false(dp_upstream_http_retryable(final[i]));
}

/* Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example) in seconds since the
 * epoch, by hand: 1970..1993 are 24 years with 6 leap days (72, 76, 80, 84,
 * 88, 92): 8766 days; 1 Jan to 6 Nov 1994: 304 + 5 = 309 days; 9075 days x
 * 86400 = 784080000, plus 8 h 49 min 37 s = 31777 s. */
#define RFC_EXAMPLE 784111777
/* 2026-01-01T00:00:00Z: 56 years with 14 leap days (1972..2024) = 20454 days. */
#define JAN_2026 1767225600
#define DAY_MS 86400000u

static uint64_t retry_after(const char *value, time_t now)
{
    uint64_t ms = 12345;
    assert_int_equal(dp_upstream_retry_after_ms(value, now, &ms), 0);
    return ms;
}

static void test_retry_after_seconds(void **state)
{
    assert_int_equal(retry_after("120", 0), 120000);
    assert_int_equal(retry_after("0", 0), 0);
    assert_int_equal(retry_after(" 7\t", 0), 7000); /* blanks around the value */
    /* capped at 24 h, however many digits */
    assert_int_equal(retry_after("86401", 0), DAY_MS);
    assert_int_equal(retry_after("99999999999999999999999", 0), DAY_MS);
    uint64_t ms = 5;
    const char *bad[] = {"", "  ", "-1", "1.5", "+3", "3s", "abc", "1 2", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(dp_upstream_retry_after_ms(bad[i], 0, &ms), -1);
        assert_int_equal(ms, 5); /* untouched */
    }
}

/* The three HTTP-date forms of one instant, 90 s after `now`. */
static void test_retry_after_dates(void **state)
{
    time_t now = RFC_EXAMPLE - 90;
    assert_int_equal(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 90000);
    assert_int_equal(retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now), 90000);
    assert_int_equal(retry_after("Sun Nov  6 08:49:37 1994", now), 90000);
    /* a date already past means no wait */
    assert_int_equal(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE + 10), 0);
    /* far ahead: capped at 24 h */
    assert_int_equal(retry_after("Fri, 01 Jan 2100 00:00:00 GMT", now), DAY_MS);
    /* 1 Jan 2026 00:01:40 is 100 s after JAN_2026 */
    assert_int_equal(retry_after("Thu, 01 Jan 2026 00:01:40 GMT", JAN_2026), 100000);
    assert_int_equal(retry_after("Thursday, 01-Jan-26 00:01:40 GMT", JAN_2026), 100000);
    /* RFC 850's two-digit year, seen in 2026: 76 is 2076 (50 years ahead, so
     * in the future: capped), 77 would be 51 years ahead so it is 1977
     * (past: no wait) */
    assert_int_equal(retry_after("Wednesday, 01-Jan-76 00:00:00 GMT", JAN_2026), DAY_MS);
    assert_int_equal(retry_after("Saturday, 01-Jan-77 00:00:00 GMT", JAN_2026), 0);

    uint64_t ms = 5;
    const char *bad[] = {"Sun, 06 Nov 1994 08:49:37 PST",
                         "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 24:00:00 GMT",
                         "Sun, 6 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 94 08:49:37 GMT",
                         "Sun, 06-Nov 1994 08:49:37 GMT",
                         "Sun Nov  6 08:49:37 94",
                         "Sun, 06 Nov 1994 08:49:37 GMT x",
                         "06 Nov 1994 08:49:37 GMT",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(dp_upstream_retry_after_ms(bad[i], now, &ms), -1);
        assert_int_equal(ms, 5);
    }
}

/* Status{code: 3 (08 03), message: "bad span" (12 08 ...)}. */
static void test_status_message(void **state)
{
    const uint8_t status[] = {0x08, 0x03, 0x12, 0x08, 'b', 'a', 'd', ' ', 's', 'p', 'a', 'n'};
    char msg[64];
    assert_int_equal(dp_upstream_status_message(status, sizeof(status), msg, sizeof(msg)), 0);
    assert_string_equal(msg, "bad span");
    char small[4];
    assert_int_equal(dp_upstream_status_message(status, sizeof(status), small, sizeof(small)), 0);
    assert_string_equal(small, "bad"); /* cut to the buffer */
    /* only a code: no message */
    assert_int_equal(dp_upstream_status_message(status, 2, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "");
    /* a message longer than the bytes that follow: malformed */
    assert_int_equal(dp_upstream_status_message(status, sizeof(status) - 1, msg, sizeof(msg)), -1);
    assert_int_equal(dp_upstream_status_message(NULL, 0, msg, sizeof(msg)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retryable_codes),
        cmocka_unit_test(test_retry_info_found),
        cmocka_unit_test(test_retry_info_absent_and_malformed),
        cmocka_unit_test(test_retry_delay_rounding),
        cmocka_unit_test(test_partial_success),
        cmocka_unit_test(test_partial_success_wire_types_and_tags),
        cmocka_unit_test(test_http_retryable_codes),
        cmocka_unit_test(test_retry_after_seconds),
        cmocka_unit_test(test_retry_after_dates),
        cmocka_unit_test(test_status_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The shared clock, date and hex helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"

static void test_hex(void **state)
{
    (void)state;
    const uint8_t id[4] = {0x00, 0x9f, 0xa0, 0xff};
    char out[9];
    memset(out, 'x', sizeof(out));
    dp_hex(id, 4, out);
    assert_string_equal(out, "009fa0ff");
    dp_hex(id, 0, out);
    assert_string_equal(out, "");
    /* digits read back: 0..9, a..f and A..F; anything else is not one */
    assert_int_equal(dp_hex_digit('0'), 0);
    assert_int_equal(dp_hex_digit('9'), 9);
    assert_int_equal(dp_hex_digit('a'), 10);
    assert_int_equal(dp_hex_digit('F'), 15);
    assert_int_equal(dp_hex_digit('g'), -1);
    assert_int_equal(dp_hex_digit('/'), -1);
    assert_int_equal(dp_hex_digit('\0'), -1);
}

/* ISO 8601 in UTC with milliseconds: 1700000000 s is 2023-11-14 22:13:20 UTC
 * (19675 days after 1970-01-01 plus 80000 s); + 123.456789 ms shows .123
 * (cut, not rounded). 0 is the epoch; 951782400 s is 2000-02-29 00:00:00. */
static void test_utc_iso8601(void **state)
{
    (void)state;
    char out[DP_ISO8601_MAX];
    assert_string_equal(dp_utc_iso8601(1700000000123456789ull, out), "2023-11-14T22:13:20.123Z");
    assert_string_equal(dp_utc_iso8601(0, out), "1970-01-01T00:00:00.000Z");
    assert_string_equal(dp_utc_iso8601(951782400999000000ull, out), "2000-02-29T00:00:00.999Z");
}

/* Monotonic nanoseconds agree with the milliseconds read around them. */
static void test_monotonic_ns(void **state)
{
    (void)state;
    uint64_t before = dp_clock_monotonic_ms();
    uint64_t ns = dp_clock_monotonic_ns();
    uint64_t after = dp_clock_monotonic_ms();
    assert_true(ns / 1000000u >= before && ns / 1000000u <= after);
}

/* The deadline is `ms` past a monotonic reading taken before it, with
 * nanoseconds normalised below one second. */
static void test_deadline(void **state)
{
    (void)state;
    uint64_t before = dp_clock_monotonic_ms();
    struct timespec d = dp_clock_deadline(1999);
    uint64_t after = dp_clock_monotonic_ms();
    uint64_t at = (uint64_t)d.tv_sec * 1000u + (uint64_t)d.tv_nsec / 1000000u;
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    assert_true(at >= before + 1999);
    assert_true(at <= after + 1999);
}

static void test_realtime_is_unix_nanoseconds(void **state)
{
    (void)state;
    /* after 2020-01-01 (1577836800 s) and before 2100-01-01 (4102444800 s) */
    uint64_t ns = dp_clock_realtime_ns();
    assert_true(ns > 1577836800ull * 1000000000ull);
    assert_true(ns < 4102444800ull * 1000000000ull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_utc_iso8601),
        cmocka_unit_test(test_monotonic_ns),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_realtime_is_unix_nanoseconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

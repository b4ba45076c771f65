/*
 * The growable output buffer: exact reservations and handing the bytes over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

/* An exact reservation asks for the bytes and the NUL, nothing more; one
 * that already fits keeps the allocation; the cap still holds. */
static void test_reserve_exact(void **state)
{
    (void)state;
    dp_buf b;
    dp_buf_init(&b, 100);
    assert_int_equal(dp_buf_reserve_exact(&b, 10), 0);
    assert_int_equal(b.cap, 11);
    assert_int_equal(dp_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.cap, 11);
    assert_int_equal(dp_buf_reserve_exact(&b, 5), 0);
    assert_int_equal(b.cap, 16);
    char *before = b.data;
    assert_int_equal(dp_buf_reserve_exact(&b, 3), 0);
    assert_ptr_equal(b.data, before);
    /* 10 held + 91 > the cap of 100 */
    assert_int_equal(dp_buf_reserve_exact(&b, 91), -1);
    assert_int_equal(dp_buf_reserve_exact(&b, SIZE_MAX), -1);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "0123456789", 10);
    dp_buf_free(&b);
}

/* Released bytes belong to the caller; the buffer starts over, cap kept. */
static void test_release(void **state)
{
    (void)state;
    dp_buf b;
    size_t len = 99;
    dp_buf_init(&b, 64);
    assert_null(dp_buf_release(&b, &len));
    assert_int_equal(len, 0);

    assert_int_equal(dp_buf_puts(&b, "hello"), 0);
    char *data = dp_buf_release(&b, &len);
    assert_non_null(data);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 64);

    assert_int_equal(dp_buf_puts(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    assert_string_equal(data, "hello");
    free(data);
    dp_buf_free(&b);
}

/* What a streaming buffer spilled, in order. */
typedef struct spilled_bytes {
    char data[256];
    size_t len;
    size_t calls;
} spilled_bytes;

static int collect(void *ctx, const char *data, size_t len)
{
    spilled_bytes *s = ctx;
    assert_true(s->len + len <= sizeof(s->data));
    memcpy(s->data + s->len, data, len);
    s->len += len;
    s->calls++;
    return 0;
}

/* Chunks of 8 bytes: "abcde" (5) then "fghij" (5) would make 10 > 8, so
 * "abcde" is spilled first; "0123456789AB" (12) is larger than a chunk and
 * still fits once "fghij" is spilled. Spilled + held = everything, in order. */
static void test_spill(void **state)
{
    (void)state;
    spilled_bytes out = {.len = 0};
    dp_buf b;
    dp_buf_init(&b, 8);
    dp_buf_set_spill(&b, collect, &out);
    assert_int_equal(dp_buf_puts(&b, "abcde"), 0);
    assert_int_equal(out.calls, 0);
    assert_int_equal(dp_buf_puts(&b, "fghij"), 0);
    assert_int_equal(out.calls, 1);
    assert_int_equal(out.len, 5);
    assert_int_equal(b.len, 5);
    assert_int_equal(dp_buf_puts(&b, "0123456789AB"), 0);
    assert_int_equal(out.calls, 2);
    assert_int_equal(b.len, 12);
    assert_string_equal(b.data, "0123456789AB");
    assert_int_equal(b.spilled, 10);
    memcpy(out.data + out.len, b.data, b.len);
    out.len += b.len;
    assert_memory_equal(out.data, "abcdefghij0123456789AB", 22);
    assert_int_equal(out.len, 22);
    dp_buf_free(&b);
}

static int refuse(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
    return -1;
}

/* A spill that fails fails the append; a plain capped buffer still refuses. */
static void test_spill_failure(void **state)
{
    (void)state;
    dp_buf b;
    dp_buf_init(&b, 8);
    dp_buf_set_spill(&b, refuse, NULL);
    assert_int_equal(dp_buf_puts(&b, "abcde"), 0);
    assert_int_equal(dp_buf_puts(&b, "fghij"), -1);
    dp_buf_free(&b);
    dp_buf_init(&b, 8);
    assert_int_equal(dp_buf_puts(&b, "abcde"), 0);
    assert_int_equal(dp_buf_puts(&b, "fghij"), -1);
    assert_string_equal(b.data, "abcde");
    dp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_exact),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_spill),
        cmocka_unit_test(test_spill_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

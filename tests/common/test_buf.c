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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_exact),
        cmocka_unit_test(test_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

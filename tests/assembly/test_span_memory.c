/*
 * Tests for the memory of reported spans: keys found for their trace only,
 * a trace remembered twice, expiry by age and the cap on keys (oldest
 * traces forgotten first).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "span_memory.h"

static void trace(uint8_t n, uint8_t out[16])
{
    memset(out, 0, 16);
    out[0] = 0x7e;
    out[15] = n;
}

/* The key of span number n (span id n, started at n * 1000 ns). */
static uint64_t key(uint8_t n)
{
    uint8_t sid[8] = {0x5a, 0, 0, 0, 0, 0, 0, n};
    return dp_span_memory_key(sid, (uint64_t)n * 1000);
}

static void test_keys_found_for_their_trace(void **state)
{
    (void)state;
    dp_span_memory *m = dp_span_memory_create(1000, 100);
    uint8_t a[16], b[16];
    trace(1, a);
    trace(2, b);
    uint64_t sent[3] = {key(3), key(1), key(2)};
    dp_span_memory_add(m, a, sent, 3, 0);
    /* trace a again, later: one more span */
    uint64_t more[1] = {key(4)};
    dp_span_memory_add(m, a, more, 1, 10);
    assert_int_equal(dp_span_memory_keys(m), 4);

    uint64_t ask[5] = {key(1), key(5), key(4), key(2), key(3)};
    bool found[5];
    assert_int_equal(dp_span_memory_find(m, a, ask, 5, found), 4);
    assert_true(found[0] && !found[1] && found[2] && found[3] && found[4]);
    /* the same span of another trace is not a copy */
    assert_int_equal(dp_span_memory_find(m, b, ask, 5, found), 0);
    assert_false(found[0]);
    /* the same span id started at another time is another span */
    uint8_t sid[8] = {0x5a, 0, 0, 0, 0, 0, 0, 1};
    uint64_t other = dp_span_memory_key(sid, 999);
    assert_int_equal(dp_span_memory_find(m, a, &other, 1, found), 0);
    dp_span_memory_destroy(m);
}

static void test_expiry_and_cap(void **state)
{
    (void)state;
    /* kept 100 ms, at most 4 keys */
    dp_span_memory *m = dp_span_memory_create(100, 4);
    uint8_t t[4][16];
    for (int i = 0; i < 4; i++)
        trace((uint8_t)i, t[i]);
    uint64_t k0[2] = {key(1), key(2)}, k1[1] = {key(3)}, k2[2] = {key(4), key(5)};
    bool found[2];
    dp_span_memory_add(m, t[0], k0, 2, 0);  /* expires at 100 */
    dp_span_memory_add(m, t[1], k1, 1, 50); /* expires at 150 */
    assert_int_equal(dp_span_memory_keys(m), 3);
    /* 2 more keys pass the cap of 4: trace 0, the oldest, is forgotten */
    dp_span_memory_add(m, t[2], k2, 2, 60); /* expires at 160 */
    assert_int_equal(dp_span_memory_keys(m), 3);
    assert_int_equal(dp_span_memory_find(m, t[0], k0, 2, found), 0);
    assert_int_equal(dp_span_memory_find(m, t[1], k1, 1, found), 1);
    /* at 149 nothing is due; at 150 trace 1 goes, trace 2 stays until 160 */
    assert_int_equal(dp_span_memory_expire(m, 149), 0);
    assert_int_equal(dp_span_memory_expire(m, 150), 1);
    assert_int_equal(dp_span_memory_find(m, t[1], k1, 1, found), 0);
    assert_int_equal(dp_span_memory_find(m, t[2], k2, 2, found), 2);
    assert_int_equal(dp_span_memory_expire(m, 160), 1);
    assert_int_equal(dp_span_memory_keys(m), 0);
    /* a run larger than the cap keeps its first 4 keys */
    uint64_t big[6] = {key(10), key(11), key(12), key(13), key(14), key(15)};
    bool big_found[6];
    dp_span_memory_add(m, t[3], big, 6, 200);
    assert_int_equal(dp_span_memory_keys(m), 4);
    assert_int_equal(dp_span_memory_find(m, t[3], big, 6, big_found), 4);
    assert_true(big_found[3] && !big_found[4]);
    dp_span_memory_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_found_for_their_trace),
        cmocka_unit_test(test_expiry_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

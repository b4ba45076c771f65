/* Percentiles by nearest rank, checked against ranks worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "stats.h"

/* rank = ceil(p/100 x n), 1-based, of the sorted values */
static void test_nearest_rank(void **state)
{
    (void)state;
    /* the example of docs/metrics.md: 100, 150, 150, 160, 200; p50 rank
     * ceil(2.5) = 3 -> 150, p95 rank ceil(4.75) = 5 -> 200 */
    double a[] = {200, 150, 100, 160, 150};
    assert_true(dp_percentile_nearest_rank(a, 5, 50) == 150);
    assert_true(dp_percentile_nearest_rank(a, 5, 95) == 200);
    /* even count: 10 20 30 40, p50 rank ceil(2) = 2 -> 20 (no averaging) */
    double b[] = {40, 10, 30, 20};
    assert_true(dp_percentile_nearest_rank(b, 4, 50) == 20);
    /* p100 is the largest, one value is every percentile */
    assert_true(dp_percentile_nearest_rank(b, 4, 100) == 40);
    double c[] = {7.5};
    assert_true(dp_percentile_nearest_rank(c, 1, 50) == 7.5);
    assert_true(dp_percentile_nearest_rank(c, 1, 1) == 7.5);
    /* a tiny p still picks rank 1, not rank 0 */
    double d[] = {3, 1, 2};
    assert_true(dp_percentile_nearest_rank(d, 3, 0.001) == 1);
    /* nothing: 0 */
    assert_true(dp_percentile_nearest_rank(NULL, 0, 50) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nearest_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

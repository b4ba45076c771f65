/* The process memory guard's state machine, with an injected memory reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "memguard.h"

#define MIB ((size_t)1 << 20)

/* What the guard sees and does, set and counted by each test. */
typedef struct fake {
    size_t memory;    /* the next reading */
    size_t free_heap; /* what the allocator holds free */
    uint64_t now_ms;
    int sheds, trims;
} fake;

static size_t fake_read(void *ctx)
{
    return ((fake *)ctx)->memory;
}

static void fake_shed(void *ctx)
{
    ((fake *)ctx)->sheds++;
}

static void fake_trim(void *ctx)
{
    ((fake *)ctx)->trims++;
}

static size_t fake_free_heap(void *ctx)
{
    return ((fake *)ctx)->free_heap;
}

static uint64_t fake_clock(void *ctx)
{
    return ((fake *)ctx)->now_ms;
}

/* A guard of limit 1000 MiB, spike 200 MiB (soft 800 MiB), in-flight 100 MiB. */
static dp_memguard *make(fake *f)
{
    dp_memguard_options o = {1000 * MIB, 200 * MIB, 100, 100 * MIB};
    dp_memguard_hooks h = {fake_read, f, fake_shed, f, fake_trim, fake_free_heap, f, fake_clock, f};
    dp_memguard *g = dp_memguard_create(&o, &h);
    assert_non_null(g);
    return g;
}

/* NORMAL -> SOFT -> HARD -> (still HARD between the limits) -> NORMAL. */
static void test_states(void **state)
{
    (void)state;
    fake f = {.memory = 100 * MIB};
    dp_memguard *g = make(&f);
    char why[300];

    assert_int_equal(dp_memguard_check(g), DP_MEMGUARD_NORMAL);
    assert_true(dp_memguard_admit(g, why, sizeof(why)));

    /* 800 MiB is the soft limit itself (1000 - 200): at it, requests are refused */
    f.memory = 800 * MIB;
    assert_int_equal(dp_memguard_check(g), DP_MEMGUARD_SOFT);
    assert_false(dp_memguard_admit(g, why, sizeof(why)));
    assert_non_null(strstr(why, "soft limit (800 MiB of 800 MiB)"));
    assert_int_equal(f.sheds, 0); /* shedding is for the hard limit only */
    assert_int_equal(f.trims, 1); /* over the soft limit, each check trims */

    f.memory = 1000 * MIB;
    assert_int_equal(dp_memguard_check(g), DP_MEMGUARD_HARD);
    assert_int_equal(f.sheds, 1);
    assert_false(dp_memguard_admit(g, why, sizeof(why)));
    assert_non_null(strstr(why, "hard limit (1000 MiB of 1000 MiB)"));

    /* between the limits after HARD: still HARD (refuse until under soft), still shedding */
    f.memory = 900 * MIB;
    assert_int_equal(dp_memguard_check(g), DP_MEMGUARD_HARD);
    assert_int_equal(f.sheds, 2);

    /* one byte under the soft limit: requests again, and the heap trimmed once more */
    f.memory = 800 * MIB - 1;
    int trims_before = f.trims;
    assert_int_equal(dp_memguard_check(g), DP_MEMGUARD_NORMAL);
    assert_true(dp_memguard_admit(g, why, sizeof(why)));
    assert_int_equal(f.trims, trims_before + 1);

    dp_memguard_stats st;
    dp_memguard_get_stats(g, &st);
    assert_int_equal(st.soft_crossings, 1); /* NORMAL -> SOFT once */
    assert_int_equal(st.hard_crossings, 1);
    assert_int_equal(st.refused_memory, 2); /* the admits refused in SOFT and in HARD */
    assert_int_equal(st.sheds, 2);
    assert_int_equal(st.soft_limit_bytes, 800 * MIB);
    dp_memguard_destroy(g);
}

/* SOFT back to NORMAL without HARD, and an unreadable sample keeps the state. */
static void test_soft_only_and_unreadable(void **state)
{
    (void)state;
    fake f = {.memory = 850 * MIB};
    dp_memguard *g = make(&f);
    assert_int_equal(dp_memguard_check(g), DP_MEMGUARD_SOFT);
    f.memory = 0; /* cannot be read */
    assert_int_equal(dp_memguard_check(g), DP_MEMGUARD_SOFT);
    f.memory = 10 * MIB;
    assert_int_equal(dp_memguard_check(g), DP_MEMGUARD_NORMAL);
    f.memory = 900 * MIB;
    assert_int_equal(dp_memguard_check(g), DP_MEMGUARD_SOFT);
    dp_memguard_stats st;
    dp_memguard_get_stats(g, &st);
    assert_int_equal(st.soft_crossings, 2);
    assert_int_equal(st.hard_crossings, 0);
    assert_int_equal(f.sheds, 0);
    dp_memguard_destroy(g);
}

/* Under the soft limit the heap is trimmed only with 16 MiB free, once a second at most. */
static void test_idle_trim(void **state)
{
    (void)state;
    fake f = {.memory = 100 * MIB, .free_heap = 16 * MIB - 1, .now_ms = 5000};
    dp_memguard *g = make(&f);
    dp_memguard_check(g);
    assert_int_equal(f.trims, 0); /* one byte short of DP_MEMGUARD_TRIM_BYTES */
    f.free_heap = 16 * MIB;
    f.now_ms += 999; /* within the second of the last look */
    dp_memguard_check(g);
    assert_int_equal(f.trims, 0);
    f.now_ms += 1; /* a second after it */
    dp_memguard_check(g);
    assert_int_equal(f.trims, 1);
    dp_memguard_destroy(g);
}

/* The in-flight budget: 100 MiB shared; a request alone always gets its share. */
static void test_in_flight(void **state)
{
    (void)state;
    fake f = {.memory = 100 * MIB};
    dp_memguard *g = make(&f);
    char why[300];
    assert_true(dp_memguard_acquire(g, 60 * MIB, why, sizeof(why)));
    assert_true(dp_memguard_acquire(g, 40 * MIB, why, sizeof(why))); /* exactly 100 */
    assert_false(dp_memguard_acquire(g, 1, why, sizeof(why)));       /* 100 MiB + 1 byte */
    assert_non_null(strstr(why, "100 MiB of requests at once"));
    dp_memguard_release(g, 40 * MIB);
    assert_false(dp_memguard_acquire(g, 41 * MIB, why, sizeof(why))); /* 60 + 41 > 100 */
    dp_memguard_release(g, 60 * MIB);
    /* alone: 150 MiB is over the whole budget, taken all the same */
    assert_true(dp_memguard_acquire(g, 150 * MIB, why, sizeof(why)));
    assert_false(dp_memguard_acquire(g, 1, why, sizeof(why)));
    dp_memguard_release(g, 150 * MIB);
    dp_memguard_stats st;
    dp_memguard_get_stats(g, &st);
    assert_int_equal(st.in_flight_bytes, 0);
    assert_int_equal(st.refused_in_flight, 3);
    dp_memguard_destroy(g);
}

/* Derived values: spike 0 is a fifth, in-flight 0 a quarter; a NULL guard takes everything. */
static void test_defaults(void **state)
{
    (void)state;
    fake f = {.memory = 1};
    dp_memguard_options o = {1000 * MIB, 0, 100, 0};
    dp_memguard_hooks h = {fake_read, &f, NULL, NULL, fake_trim, fake_free_heap, &f, NULL, NULL};
    dp_memguard *g = dp_memguard_create(&o, &h);
    dp_memguard_stats st;
    dp_memguard_get_stats(g, &st);
    assert_int_equal(st.soft_limit_bytes, 800 * MIB); /* 1000 - 1000/5 */
    assert_int_equal(st.in_flight_limit_bytes, 250 * MIB);
    dp_memguard_destroy(g);

    /* a spike at or over the limit is taken as a fifth of it too */
    o.spike_limit_bytes = 1000 * MIB;
    g = dp_memguard_create(&o, &h);
    dp_memguard_get_stats(g, &st);
    assert_int_equal(st.soft_limit_bytes, 800 * MIB);
    dp_memguard_destroy(g);

    /* limit 0: derived from the machine, never under 256 MiB */
    assert_true(dp_memguard_derived_limit() >= 256 * MIB);

    assert_true(dp_memguard_admit(NULL, NULL, 0));
    assert_true(dp_memguard_acquire(NULL, 1, NULL, 0));
    dp_memguard_release(NULL, 1);
}

/* The default hooks: a real RSS reading and the sampling thread start and stop. */
static void test_real_reading(void **state)
{
    (void)state;
    dp_memguard_options o;
    dp_memguard_options_defaults(&o);
    assert_int_equal(o.limit_bytes, 0);
    assert_int_equal(o.check_interval_ms, 250); /* the table's "250ms" */
    o.limit_bytes = 1 << 30;
    dp_memguard *g = dp_memguard_create(&o, NULL);
    assert_int_equal(dp_memguard_start(g), 0);
    dp_memguard_stats st;
    dp_memguard_get_stats(g, &st);
    /* this test process is resident, and far from 1 GiB */
    assert_true(st.memory_bytes > 0 && st.memory_bytes < ((size_t)1 << 30));
    assert_int_equal(st.state, DP_MEMGUARD_NORMAL);
    dp_memguard_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states),    cmocka_unit_test(test_soft_only_and_unreadable),
        cmocka_unit_test(test_idle_trim), cmocka_unit_test(test_in_flight),
        cmocka_unit_test(test_defaults),  cmocka_unit_test(test_real_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests of the delivery queue: bounds in items and bytes (with the
 * empty-queue exception), batching by concatenation, limits per batch,
 * close-to-flush and drain, and requests handed over without a copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "delivery_queue.h"

/* The batch's bytes joined, as the upstream receives them (at most 64). */
static const uint8_t *joined(const dp_delivery_batch *b)
{
    static uint8_t out[64];
    assert_true(b->len <= sizeof(out));
    dp_delivery_batch_copy(b, out);
    return out;
}

static void test_bounds(void **state)
{
    dp_delivery_queue q;
    assert_int_equal(dp_delivery_queue_init(&q, 10, 100), 0);

    assert_int_equal(dp_delivery_queue_push(&q, "aaaa", 4, 6), 0);
    /* 6 + 5 = 11 items > 10 */
    assert_int_equal(dp_delivery_queue_push(&q, "bbbb", 4, 5), DP_DELIVERY_EFULL);
    /* 6 + 4 = 10 items, 8 bytes: fits exactly */
    assert_int_equal(dp_delivery_queue_push(&q, "cccc", 4, 4), 0);
    assert_int_equal(dp_delivery_queue_push(&q, "d", 1, 0), 0); /* 0 items, 9 bytes */
    assert_int_equal(dp_delivery_queue_push(&q, "", 0, 1), DP_DELIVERY_EINVAL);

    dp_delivery_depth d = dp_delivery_queue_depth(&q);
    assert_int_equal(d.queued_items, 10);
    assert_int_equal(d.queued_bytes, 9);
    assert_int_equal(d.queued_requests, 3);

    uint64_t requests = 0;
    assert_int_equal(dp_delivery_queue_drain(&q, &requests), 10);
    assert_int_equal(requests, 3);

    /* Empty queue: one request over both bounds is still taken... */
    char big[200];
    memset(big, 'x', sizeof(big));
    assert_int_equal(dp_delivery_queue_push(&q, big, sizeof(big), 50), 0);
    /* ...but nothing after it. */
    assert_int_equal(dp_delivery_queue_push(&q, "e", 1, 1), DP_DELIVERY_EFULL);
    dp_delivery_queue_destroy(&q);
}

static void test_batches_concatenate_in_order(void **state)
{
    dp_delivery_queue q;
    dp_delivery_batch b;
    assert_int_equal(dp_delivery_queue_init(&q, 0, 0), 0);
    assert_int_equal(dp_delivery_queue_push(&q, "AB", 2, 1), 0);
    assert_int_equal(dp_delivery_queue_push(&q, "CDE", 3, 2), 0);
    assert_int_equal(dp_delivery_queue_push(&q, "FG", 2, 4), 0);
    assert_int_equal(dp_delivery_queue_push(&q, "H", 1, 1), 0);

    /* max 3 items: "AB"(1) + "CDE"(2) = 3; "FG" would make 7. Queued items
     * (8) already pass the batch size, so no wait. */
    assert_int_equal(dp_delivery_queue_take(&q, &b, 3, 0, 60000), 1);
    assert_int_equal(b.len, 5);
    assert_memory_equal(joined(&b), "ABCDE", 5);
    assert_int_equal(b.items, 3);
    assert_int_equal(b.requests, 2);

    dp_delivery_depth d = dp_delivery_queue_depth(&q);
    assert_int_equal(d.inflight_items, 3);
    assert_int_equal(d.queued_items, 5);
    dp_delivery_queue_complete(&q, &b);
    d = dp_delivery_queue_depth(&q);
    assert_int_equal(d.inflight_items, 0);
    assert_int_equal(d.inflight_bytes, 0);

    /* A batch larger than the limit still takes its first request: "FG"
     * (4 items) with max 3, and the byte limit 2 stops "H". Closing means
     * no wait for the batch timer. */
    dp_delivery_queue_close(&q);
    assert_int_equal(dp_delivery_queue_push(&q, "Z", 1, 1), DP_DELIVERY_ECLOSED);
    assert_int_equal(dp_delivery_queue_take(&q, &b, 3, 2, 60000), 1);
    assert_memory_equal(joined(&b), "FG", 2);
    assert_int_equal(b.items, 4);
    dp_delivery_queue_complete(&q, &b);
    assert_int_equal(dp_delivery_queue_take(&q, &b, 3, 2, 60000), 1);
    assert_memory_equal(joined(&b), "H", 1);
    dp_delivery_queue_complete(&q, &b);
    /* Closed and empty: the consumer is told to stop. */
    assert_int_equal(dp_delivery_queue_take(&q, &b, 3, 2, 60000), 0);
    dp_delivery_queue_destroy(&q);
}

/* A batch is the queued requests themselves, in order, one entry each:
 * what the sender hands to gRPC as a slice list without joining them. */
static void test_batch_is_the_request_list(void **state)
{
    dp_delivery_queue q;
    dp_delivery_batch b;
    size_t len;
    assert_int_equal(dp_delivery_queue_init(&q, 0, 0), 0);
    assert_int_equal(dp_delivery_queue_push(&q, "one", 3, 1), 0);
    assert_int_equal(dp_delivery_queue_push(&q, "two!", 4, 1), 0);
    assert_int_equal(dp_delivery_queue_push(&q, "3", 1, 1), 0);
    dp_delivery_queue_close(&q);

    /* no limits: all three, 3 + 4 + 1 = 8 bytes, 3 items, 3 requests */
    assert_int_equal(dp_delivery_queue_take(&q, &b, 0, 0, 60000), 1);
    assert_int_equal(b.requests, 3);
    assert_int_equal(b.items, 3);
    assert_int_equal(b.len, 8);
    dp_delivery_item *it = b.first;
    assert_non_null(it);
    const uint8_t *data = dp_delivery_item_data(it, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "one", 3);
    it = dp_delivery_item_next(it);
    assert_non_null(it);
    data = dp_delivery_item_data(it, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(data, "two!", 4);
    it = dp_delivery_item_next(it);
    assert_non_null(it);
    data = dp_delivery_item_data(it, &len);
    assert_int_equal(len, 1);
    assert_memory_equal(data, "3", 1);
    assert_null(dp_delivery_item_next(it));
    assert_memory_equal(joined(&b), "onetwo!3", 8);

    /* the queue no longer holds them: closed and empty */
    dp_delivery_depth d = dp_delivery_queue_depth(&q);
    assert_int_equal(d.queued_requests, 0);
    assert_int_equal(d.inflight_bytes, 8);
    dp_delivery_queue_complete(&q, &b);
    assert_null(b.first);
    assert_int_equal(dp_delivery_queue_take(&q, &b, 0, 0, 60000), 0);
    dp_delivery_queue_destroy(&q);
}

/* In-flight bytes count against the bound until the batch completes. */
static void test_inflight_counts_against_bounds(void **state)
{
    dp_delivery_queue q;
    dp_delivery_batch b;
    assert_int_equal(dp_delivery_queue_init(&q, 0, 10), 0);
    assert_int_equal(dp_delivery_queue_push(&q, "12345678", 8, 1), 0);
    assert_int_equal(dp_delivery_queue_take(&q, &b, 1, 0, 0), 1);
    /* 8 in flight + 3 = 11 > 10 */
    assert_int_equal(dp_delivery_queue_push(&q, "abc", 3, 1), DP_DELIVERY_EFULL);
    dp_delivery_queue_complete(&q, &b);
    assert_int_equal(dp_delivery_queue_push(&q, "abc", 3, 1), 0);
    dp_delivery_queue_destroy(&q);
}

/* A request handed over is queued as it is (the batch holds the very
 * buffer) and freed by the queue when its batch completes, when it is
 * drained and when the queue is destroyed (LeakSanitizer and AddressSanitizer
 * see no leak and no double free); a refused one stays the caller's. */
static void test_owned_requests(void **state)
{
    dp_delivery_queue q;
    dp_delivery_batch b;
    size_t len;
    char *one = strdup("one"), *two = strdup("two"), *three = strdup("three");
    char *four = strdup("four");
    assert_non_null(one);
    assert_non_null(two);
    assert_non_null(three);
    assert_non_null(four);
    assert_int_equal(dp_delivery_queue_init(&q, 3, 0), 0);

    assert_int_equal(dp_delivery_queue_push_owned(&q, one, 3, 2), 0);
    /* 2 + 2 = 4 items > 3: refused, two is still ours */
    assert_int_equal(dp_delivery_queue_push_owned(&q, two, 3, 2), DP_DELIVERY_EFULL);
    assert_memory_equal(two, "two", 3);
    assert_int_equal(dp_delivery_queue_push(&q, "x", 1, 1), 0); /* a copy among them */

    assert_int_equal(dp_delivery_queue_take(&q, &b, 0, 0, 0), 1);
    assert_int_equal(b.requests, 2);
    assert_ptr_equal(dp_delivery_item_data(b.first, &len), one); /* not copied */
    assert_int_equal(len, 3);
    assert_memory_equal(joined(&b), "onex", 4);
    dp_delivery_queue_complete(&q, &b); /* frees one */

    assert_int_equal(dp_delivery_queue_push_owned(&q, two, 3, 2), 0);
    uint64_t requests = 0;
    assert_int_equal(dp_delivery_queue_drain(&q, &requests), 2); /* frees two */
    assert_int_equal(requests, 1);
    assert_int_equal(dp_delivery_queue_push_owned(&q, three, 5, 1), 0); /* destroy frees it */

    dp_delivery_queue_close(&q);
    assert_int_equal(dp_delivery_queue_push_owned(&q, four, 4, 1), DP_DELIVERY_ECLOSED);
    free(four);
    assert_int_equal(dp_delivery_queue_push_owned(&q, NULL, 4, 1), DP_DELIVERY_EINVAL);
    dp_delivery_queue_destroy(&q);
}

/* Push one request into a queue with nothing else queued and return the
 * millisecond it was pushed in (a push that straddles a tick is drained and
 * tried again), then wait on the clock, not a sleep, for the next
 * millisecond so a later push is younger. */
static uint64_t push_known(dp_delivery_queue *q, const char *data)
{
    for (int i = 0; i < 100; i++) {
        uint64_t before = dp_clock_monotonic_ms();
        assert_int_equal(dp_delivery_queue_push(q, data, strlen(data), 1), 0);
        if (dp_clock_monotonic_ms() == before) {
            while (dp_clock_monotonic_ms() == before) {
            }
            return before;
        }
        assert_int_equal(dp_delivery_queue_drain(q, NULL), 1);
    }
    fail_msg("no push fitted in one millisecond");
    return 0;
}

/* The oldest request's push time: none when empty, the head while queued,
 * a batch's first request while it is in flight (also when newer requests
 * wait behind it), the next one once that batch completes. */
static void test_oldest_request(void **state)
{
    dp_delivery_queue q;
    dp_delivery_batch first, second;
    assert_int_equal(dp_delivery_queue_init(&q, 0, 0), 0);
    assert_int_equal(dp_delivery_queue_depth(&q).oldest_enqueued_ms, 0);

    uint64_t a = push_known(&q, "a");
    assert_int_equal(dp_delivery_queue_depth(&q).oldest_enqueued_ms, a);
    assert_int_equal(dp_delivery_queue_take(&q, &first, 1, 0, 0), 1);
    uint64_t b = push_known(&q, "b");
    assert_true(b > a);
    /* a is in flight, b queued: a is the oldest */
    assert_int_equal(dp_delivery_queue_depth(&q).oldest_enqueued_ms, a);
    assert_int_equal(dp_delivery_queue_take(&q, &second, 1, 0, 0), 1);
    assert_int_equal(dp_delivery_queue_depth(&q).oldest_enqueued_ms, a);
    dp_delivery_queue_complete(&q, &first);
    assert_int_equal(dp_delivery_queue_depth(&q).oldest_enqueued_ms, b);
    dp_delivery_queue_complete(&q, &second);
    assert_int_equal(dp_delivery_queue_depth(&q).oldest_enqueued_ms, 0);
    dp_delivery_queue_destroy(&q);
}

/* What tracked requests are told: one call each, done for a settled
 * batch, not done for requests completed unsettled, drained or destroyed;
 * nothing for a refused push. */
static int told_done, told_dropped;
static void tell(void *ctx, bool done)
{
    (void)ctx;
    if (done)
        told_done++;
    else
        told_dropped++;
}

static void test_tracked_requests(void **state)
{
    (void)state;
    dp_delivery_queue q;
    dp_delivery_batch b;
    told_done = told_dropped = 0;
    assert_int_equal(dp_delivery_queue_init(&q, 2, 0), 0);
    assert_int_equal(dp_delivery_queue_push_tracked(&q, "a", NULL, 1, 1, tell, NULL), 0);
    char *owned = malloc(1);
    owned[0] = 'b';
    assert_int_equal(dp_delivery_queue_push_tracked(&q, NULL, owned, 1, 1, tell, NULL), 0);
    /* over the 2-item bound: refused, never told */
    assert_int_equal(dp_delivery_queue_push_tracked(&q, "c", NULL, 1, 1, tell, NULL),
                     DP_DELIVERY_EFULL);
    assert_int_equal(dp_delivery_queue_take(&q, &b, 1, 0, 0), 1);
    dp_delivery_batch_settle(&b, true); /* "a" delivered */
    dp_delivery_queue_complete(&q, &b);
    assert_int_equal(told_done, 1);
    assert_int_equal(told_dropped, 0);
    assert_int_equal(dp_delivery_queue_take(&q, &b, 1, 0, 0), 1);
    dp_delivery_queue_complete(&q, &b); /* "b" completed without a settle: dropped */
    assert_int_equal(told_dropped, 1);
    assert_int_equal(dp_delivery_queue_push_tracked(&q, "d", NULL, 1, 1, tell, NULL), 0);
    assert_int_equal(dp_delivery_queue_push_tracked(&q, "e", NULL, 1, 1, tell, NULL), 0);
    uint64_t requests = 0;
    assert_int_equal(dp_delivery_queue_drain(&q, &requests), 2);
    assert_int_equal(told_dropped, 3);
    assert_int_equal(dp_delivery_queue_push_tracked(&q, "f", NULL, 1, 1, tell, NULL), 0);
    dp_delivery_queue_destroy(&q);
    assert_int_equal(told_dropped, 4);
    assert_int_equal(told_done, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_batches_concatenate_in_order),
        cmocka_unit_test(test_batch_is_the_request_list),
        cmocka_unit_test(test_inflight_counts_against_bounds),
        cmocka_unit_test(test_owned_requests),
        cmocka_unit_test(test_oldest_request),
        cmocka_unit_test(test_tracked_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The bounded request FIFO of the upstream client (see delivery_queue.h).
 *
 * A copied request is one allocation (header + bytes); a request handed
 * over is a header pointing at the caller's buffer, freed with it. A batch is
 * the chain of those headers, unlinked from the queue under the lock: no
 * join into a contiguous buffer, which at the default batch size meant a
 * fresh multi-megabyte allocation, a copy and its page faults per call.
 */
#include "delivery_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

struct dp_delivery_item {
    dp_delivery_item *next;
    uint64_t items;
    size_t len;
    uint64_t enqueued_ms;     /* monotonic */
    uint8_t *bytes;           /* data (a copy), or a buffer handed over, freed with the item */
    dp_delivery_done_fn done; /* a tracked request: told how it ended, once */
    void *done_ctx;
    uint8_t data[];
};

static void free_item(dp_delivery_item *it)
{
    if (it->done) /* freed before it was settled: dropped */
        it->done(it->done_ctx, false);
    if (it->bytes != it->data)
        free(it->bytes);
    free(it);
}

static void free_items(dp_delivery_item *it)
{
    while (it) {
        dp_delivery_item *next = it->next;
        free_item(it);
        it = next;
    }
}

int dp_delivery_queue_init(dp_delivery_queue *q, uint64_t max_items, uint64_t max_bytes)
{
    pthread_condattr_t attr;

    memset(q, 0, sizeof(*q));
    q->max_items = max_items;
    q->max_bytes = max_bytes;
    if (pthread_mutex_init(&q->mu, NULL) != 0)
        return DP_DELIVERY_ENOMEM;
    /* Batch deadlines are monotonic so a clock step cannot stall them. */
    if (pthread_condattr_init(&attr) != 0)
        goto fail_mutex;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&q->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        goto fail_mutex;
    return 0;
fail_mutex:
    pthread_mutex_destroy(&q->mu);
    return DP_DELIVERY_ENOMEM;
}

void dp_delivery_queue_destroy(dp_delivery_queue *q)
{
    free_items(q->head);
    q->head = q->tail = NULL;
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
}

/* Queue `it` (its bytes, len and items set) at the tail, or refuse it; the
 * caller frees what is refused. */
static int enqueue(dp_delivery_queue *q, dp_delivery_item *it)
{
    int result;

    pthread_mutex_lock(&q->mu);
    dp_delivery_depth *d = &q->depth;
    bool empty = d->queued_requests == 0 && d->inflight_bytes == 0;
    if (q->closed) {
        result = DP_DELIVERY_ECLOSED;
    } else if (!empty &&
               ((q->max_items && d->queued_items + d->inflight_items + it->items > q->max_items) ||
                (q->max_bytes && d->queued_bytes + d->inflight_bytes + it->len > q->max_bytes))) {
        result = DP_DELIVERY_EFULL;
    } else {
        it->next = NULL;
        it->enqueued_ms = dp_clock_monotonic_ms();
        if (q->tail)
            q->tail->next = it;
        else
            q->head = it;
        q->tail = it;
        d->queued_items += it->items;
        d->queued_bytes += it->len;
        d->queued_requests++;
        result = 0;
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&q->mu);
    return result;
}

int dp_delivery_queue_push(dp_delivery_queue *q, const void *data, size_t len, uint64_t items)
{
    if (!q || !data || len == 0)
        return DP_DELIVERY_EINVAL;
    /* Copy before taking the lock: producers do not serialise on memcpy. */
    dp_delivery_item *it = malloc(sizeof(*it) + len);
    if (!it)
        return DP_DELIVERY_ENOMEM;
    it->items = items;
    it->len = len;
    it->bytes = it->data;
    it->done = NULL;
    memcpy(it->data, data, len);
    int result = enqueue(q, it);
    if (result != 0)
        free(it);
    return result;
}

int dp_delivery_queue_push_owned(dp_delivery_queue *q, void *data, size_t len, uint64_t items)
{
    if (!q || !data || len == 0)
        return DP_DELIVERY_EINVAL;
    dp_delivery_item *it = malloc(sizeof(*it));
    if (!it)
        return DP_DELIVERY_ENOMEM;
    it->items = items;
    it->len = len;
    it->bytes = data;
    it->done = NULL;
    int result = enqueue(q, it);
    if (result != 0)
        free(it); /* the header only: data stays the caller's */
    return result;
}

int dp_delivery_queue_push_tracked(dp_delivery_queue *q, const void *data, void *owned, size_t len,
                                   uint64_t items, dp_delivery_done_fn done, void *done_ctx)
{
    if (!q || !(owned ? owned : data) || len == 0)
        return DP_DELIVERY_EINVAL;
    dp_delivery_item *it = malloc(sizeof(*it) + (owned ? 0 : len));
    if (!it)
        return DP_DELIVERY_ENOMEM;
    it->items = items;
    it->len = len;
    it->bytes = owned ? owned : it->data;
    if (!owned)
        memcpy(it->data, data, len);
    it->done = done;
    it->done_ctx = done_ctx;
    int result = enqueue(q, it);
    if (result != 0)
        free(it); /* done not called on errors; owned bytes stay the caller's */
    return result;
}

void dp_delivery_batch_settle(dp_delivery_batch *batch, bool done)
{
    for (dp_delivery_item *it = batch->first; it; it = it->next) {
        if (it->done)
            it->done(it->done_ctx, done);
        it->done = NULL;
    }
}

/* Whether the consumer should form a batch now; called with the lock held. */
static bool batch_ready(dp_delivery_queue *q, uint64_t max_items, uint64_t max_bytes,
                        uint64_t deadline_ms)
{
    if (q->closed)
        return true;
    if (q->depth.queued_items >= max_items || q->depth.queued_bytes >= max_bytes)
        return true;
    return dp_clock_monotonic_ms() >= deadline_ms;
}

int dp_delivery_queue_take(dp_delivery_queue *q, dp_delivery_batch *batch, uint64_t max_items,
                           uint64_t max_bytes, uint32_t batch_timeout_ms)
{
    dp_delivery_item *first, *last, *it;
    uint64_t items = 0, bytes = 0, requests = 0;

    memset(batch, 0, sizeof(*batch));
    if (max_items == 0)
        max_items = UINT64_MAX;
    if (max_bytes == 0)
        max_bytes = UINT64_MAX;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (!q->head) {
            if (q->closed) {
                pthread_mutex_unlock(&q->mu);
                return 0;
            }
            pthread_cond_wait(&q->cond, &q->mu);
            continue;
        }
        uint64_t deadline = q->head->enqueued_ms + batch_timeout_ms;
        if (batch_ready(q, max_items, max_bytes, deadline))
            break;
        struct timespec ts = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000};
        pthread_cond_timedwait(&q->cond, &q->mu, &ts);
    }

    /* The first request always goes, even when larger than a batch. */
    first = last = q->head;
    items = first->items;
    bytes = first->len;
    requests = 1;
    for (it = first->next; it; it = it->next) {
        if (items + it->items > max_items || bytes + it->len > max_bytes)
            break;
        items += it->items;
        bytes += it->len;
        requests++;
        last = it;
    }
    q->head = last->next;
    if (!q->head)
        q->tail = NULL;
    last->next = NULL;
    q->depth.queued_items -= items;
    q->depth.queued_bytes -= bytes;
    q->depth.queued_requests -= requests;
    q->depth.inflight_items += items;
    q->depth.inflight_bytes += bytes;
    /* the batch's age is kept while it is in flight (retries can take long) */
    for (unsigned i = 0; i < DP_DELIVERY_MAX_INFLIGHT && !batch->inflight_slot; i++) {
        if (!q->inflight_since[i]) {
            q->inflight_since[i] = first->enqueued_ms + 1;
            batch->inflight_slot = i + 1;
        }
    }
    pthread_mutex_unlock(&q->mu);

    batch->first = first;
    batch->len = (size_t)bytes;
    batch->items = items;
    batch->requests = requests;
    return 1;
}

const uint8_t *dp_delivery_item_data(const dp_delivery_item *it, size_t *len)
{
    *len = it->len;
    return it->bytes;
}

dp_delivery_item *dp_delivery_item_next(const dp_delivery_item *it)
{
    return it->next;
}

void dp_delivery_batch_copy(const dp_delivery_batch *batch, void *dst)
{
    uint8_t *out = dst;
    for (const dp_delivery_item *it = batch->first; it; it = it->next) {
        memcpy(out, it->bytes, it->len);
        out += it->len;
    }
}

void dp_delivery_queue_complete(dp_delivery_queue *q, dp_delivery_batch *batch)
{
    if (!batch->first)
        return;
    pthread_mutex_lock(&q->mu);
    q->depth.inflight_items -= batch->items;
    q->depth.inflight_bytes -= batch->len;
    if (batch->inflight_slot)
        q->inflight_since[batch->inflight_slot - 1] = 0;
    pthread_mutex_unlock(&q->mu);
    free_items(batch->first);
    memset(batch, 0, sizeof(*batch));
}

void dp_delivery_queue_close(dp_delivery_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}

uint64_t dp_delivery_queue_drain(dp_delivery_queue *q, uint64_t *requests)
{
    dp_delivery_item *it;
    uint64_t items;

    pthread_mutex_lock(&q->mu);
    it = q->head;
    items = q->depth.queued_items;
    if (requests)
        *requests = q->depth.queued_requests;
    q->head = q->tail = NULL;
    q->depth.queued_items = q->depth.queued_bytes = q->depth.queued_requests = 0;
    pthread_mutex_unlock(&q->mu);
    free_items(it);
    return items;
}

dp_delivery_depth dp_delivery_queue_depth(dp_delivery_queue *q)
{
    dp_delivery_depth d;
    pthread_mutex_lock(&q->mu);
    d = q->depth;
    /* the oldest of the queue's head and the batches in flight */
    uint64_t oldest = q->head ? q->head->enqueued_ms + 1 : 0;
    for (unsigned i = 0; i < DP_DELIVERY_MAX_INFLIGHT; i++)
        if (q->inflight_since[i] && (!oldest || q->inflight_since[i] < oldest))
            oldest = q->inflight_since[i];
    pthread_mutex_unlock(&q->mu);
    d.oldest_enqueued_ms = oldest ? oldest - 1 : 0;
    return d;
}

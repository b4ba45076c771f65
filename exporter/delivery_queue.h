/*
 * dp_delivery_queue: the bounded FIFO between the code that produces encoded
 * OTLP export requests and the thread that sends them upstream.
 *
 * Producers push whole encoded Export*ServiceRequest messages: push copies
 * one (one allocation per request, never per span), so the caller's buffer is
 * free again when push returns; push_owned takes over a malloc'd buffer
 * instead of copying it. The consumer takes batches: the
 * oldest requests, sent byte for byte one after the other as one message
 * (protobuf appends repeated fields of concatenated messages, so N requests
 * become one request holding all their resource entries without decoding
 * anything). A batch is a list of the queued requests themselves, never
 * joined into a new buffer: the sender hands them to gRPC as a slice list.
 *
 * Bounds: queued plus in-flight items (spans, data points or log records)
 * and bytes. A push that would pass a bound is refused with
 * DP_DELIVERY_EFULL, except into an empty queue with nothing in flight, so
 * an oversized request can always make progress.
 *
 * Thread safety: any number of producers, one consumer.
 */
#ifndef DP_DELIVERY_QUEUE_H
#define DP_DELIVERY_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_err.h"

#define DP_DELIVERY_EINVAL DP_EINVAL   /**< bad argument */
#define DP_DELIVERY_EFULL DP_EFULL     /**< a bound would be passed: push back on the sender */
#define DP_DELIVERY_ECLOSED DP_ECLOSED /**< the queue no longer accepts requests */
#define DP_DELIVERY_ENOMEM DP_ENOMEM   /**< out of memory */

typedef struct dp_delivery_item dp_delivery_item;

/** A batch taken by the consumer; owns its requests until dp_delivery_queue_complete(). */
typedef struct dp_delivery_batch {
    dp_delivery_item *first; /**< the requests, oldest first (dp_delivery_item_next) */
    size_t len;              /**< bytes of all requests together */
    uint64_t items;          /**< spans / points / records in the batch */
    uint64_t requests;       /**< requests in the batch */
    unsigned inflight_slot;  /**< the queue's record of its age: index + 1, 0 = none */
} dp_delivery_batch;

/** The encoded bytes of one request of a batch. */
const uint8_t *dp_delivery_item_data(const dp_delivery_item *it, size_t *len);

/** The request after `it` in its batch, or NULL. */
dp_delivery_item *dp_delivery_item_next(const dp_delivery_item *it);

/** Copy the batch's requests, concatenated, into dst (batch->len bytes). */
void dp_delivery_batch_copy(const dp_delivery_batch *batch, void *dst);

/** Depth figures, for counters and tests. */
typedef struct dp_delivery_depth {
    uint64_t queued_items, queued_bytes, queued_requests;
    uint64_t inflight_items, inflight_bytes;
    /** When the oldest request queued or in flight was pushed (monotonic
     *  ms; 0 = none): its age is how far delivery lags. */
    uint64_t oldest_enqueued_ms;
} dp_delivery_depth;

/** Batches in flight at once whose age is tracked (one per sender lane). */
#define DP_DELIVERY_MAX_INFLIGHT 32

typedef struct dp_delivery_queue {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    dp_delivery_item *head, *tail;
    dp_delivery_depth depth; /* oldest_enqueued_ms is worked out when read */
    /* enqueue time + 1 of each in-flight batch's oldest request; 0 = free */
    uint64_t inflight_since[DP_DELIVERY_MAX_INFLIGHT];
    uint64_t max_items, max_bytes;
    bool closed;
} dp_delivery_queue;

/** Initialise with bounds (0 = unbounded). Returns 0 or DP_DELIVERY_ENOMEM. */
int dp_delivery_queue_init(dp_delivery_queue *q, uint64_t max_items, uint64_t max_bytes);

/** Free every queued request. No thread may use the queue any more. */
void dp_delivery_queue_destroy(dp_delivery_queue *q);

/** Copy one encoded request holding `items` items to the tail. Returns 0 or
 *  DP_DELIVERY_EFULL / ECLOSED / ENOMEM / EINVAL (len 0). */
int dp_delivery_queue_push(dp_delivery_queue *q, const void *data, size_t len, uint64_t items);

/**
 * dp_delivery_queue_push() without the copy: on 0 the queue owns `data`, a
 * malloc'd buffer, and frees it with the request (completed, drained or
 * destroyed); on an error the caller still owns it.
 */
int dp_delivery_queue_push_owned(dp_delivery_queue *q, void *data, size_t len, uint64_t items);

/**
 * Told once whether a tracked request was done with: done = delivered or
 * refused for good (it will never be sent again), false = dropped (a
 * shutdown out of time, a queue destroyed with it). The persistent queue
 * counts a request off only when it is done (storage/storage.h).
 */
typedef void (*dp_delivery_done_fn)(void *ctx, bool done);

/**
 * dp_delivery_queue_push() (owned NULL: data copied) or
 * dp_delivery_queue_push_owned() (owned: data ignored), with `done` called
 * once with `done_ctx` when the request is settled. On an error `done` is
 * never called.
 */
int dp_delivery_queue_push_tracked(dp_delivery_queue *q, const void *data, void *owned, size_t len,
                                   uint64_t items, dp_delivery_done_fn done, void *done_ctx);

/** Tell the tracked requests of a taken batch how it ended (see
 *  dp_delivery_done_fn); call before dp_delivery_queue_complete(), which
 *  tells those not told yet that they were dropped. */
void dp_delivery_batch_settle(dp_delivery_batch *batch, bool done);

/**
 * Wait for and take the next batch. Waits until the queued requests reach
 * max_items or max_bytes, the oldest has waited batch_timeout_ms, or the
 * queue is closed (closing flushes at once). Takes at least one request and
 * then more while both limits hold. The batch stays counted as in flight
 * until dp_delivery_queue_complete().
 * Takes the requests out of the queue without copying them.
 * Returns 1 with a batch, 0 when the queue is closed and empty.
 */
int dp_delivery_queue_take(dp_delivery_queue *q, dp_delivery_batch *batch, uint64_t max_items,
                           uint64_t max_bytes, uint32_t batch_timeout_ms);

/** Release a taken batch (delivered or given up): frees its requests and
 *  its share of the bounds. */
void dp_delivery_queue_complete(dp_delivery_queue *q, dp_delivery_batch *batch);

/** Stop accepting requests and wake the consumer so it flushes. */
void dp_delivery_queue_close(dp_delivery_queue *q);

/** Remove every queued request (not the in-flight batch); returns how many
 *  items they held. Used when a shutdown runs out of time. */
uint64_t dp_delivery_queue_drain(dp_delivery_queue *q, uint64_t *requests);

/** Current depth, with the time the oldest request queued or in flight was pushed. */
dp_delivery_depth dp_delivery_queue_depth(dp_delivery_queue *q);

#endif

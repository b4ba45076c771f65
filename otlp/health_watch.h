/*
 * The gRPC health service of the OTLP/gRPC receiver (receiver.c):
 * grpc.health.v1.Health's messages, and its server-streaming Watch method.
 *
 *   Check  answered by the receiver with dp_health_status() (unary)
 *   Watch  the current status at once (SERVING, or NOT_SERVING once the
 *          receiver is shutting down; SERVICE_UNKNOWN for a service dagprof
 *          does not serve, and the stream stays open as the protocol says),
 *          then a message whenever it changes; at shutdown every stream gets
 *          NOT_SERVING and ends with status OK at once, so shutdown never
 *          waits for a watching client.
 *
 * A watch is taken over from the receiver's call context that accepted the
 * call (which goes back to accepting calls at once), so any number of
 * Checks keep working next to long-lived Watches; at most
 * DP_HEALTH_MAX_WATCHES streams are open at once, more are answered
 * RESOURCE_EXHAUSTED by the receiver.
 *
 * Completions of a watch's batches arrive on the completion queue of the
 * worker that accepted it; every tag the receiver's workers see starts with
 * an enum dp_grpc_tag_kind, which tells a watch's tags from call contexts.
 */
#ifndef DP_HEALTH_WATCH_H
#define DP_HEALTH_WATCH_H

#include <grpc/grpc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_err.h"

#define DP_HEALTH_CHECK "/grpc.health.v1.Health/Check"
#define DP_HEALTH_WATCH "/grpc.health.v1.Health/Watch"

/** Watch streams open at once, at most. */
#define DP_HEALTH_MAX_WATCHES 64

/** HealthCheckResponse.ServingStatus values. */
enum dp_health_serving_status {
    DP_HEALTH_SERVING = 1,
    DP_HEALTH_NOT_SERVING = 2,
    DP_HEALTH_SERVICE_UNKNOWN = 3,
};

/** The first member of every tag the receiver's completion queues carry. */
enum dp_grpc_tag_kind {
    DP_TAG_CALL = 0,  /* a call context of receiver.c */
    DP_TAG_WATCH = 1, /* a batch of a Watch stream */
    DP_TAG_SEND = 2,  /* the answer of a call of receiver.c */
};

/**
 * Read a HealthCheckRequest { string service = 1; }: *known is whether
 * dagprof serves that service ("" is the server as a whole). 0, or -1 when
 * the message does not decode.
 */
DP_MUST_CHECK int dp_health_read_request(const uint8_t *data, size_t len, bool *known);

/** An encoded HealthCheckResponse with the status, as a new byte buffer. */
grpc_byte_buffer *dp_health_response(enum dp_health_serving_status status);

typedef struct dp_health_watches dp_health_watches;

/** NULL when out of memory. */
dp_health_watches *dp_health_watches_create(void);

/**
 * Take over a Watch call the server accepted (its request not read yet;
 * the call's reference goes to the watch). Returns 0, or DP_EFULL when
 * DP_HEALTH_MAX_WATCHES streams are open (the call stays the caller's, to
 * answer) or DP_ENOMEM.
 */
DP_MUST_CHECK int dp_health_watch_start(dp_health_watches *hw, grpc_call *call);

/** A completion whose tag's kind is DP_TAG_WATCH. */
void dp_health_watch_on_event(void *tag, bool success);

/**
 * The server stops serving: every open stream gets NOT_SERVING and ends
 * with OK, and streams that start from now on end as soon as they have
 * sent their status. Returns at once; the batches complete on the workers.
 */
void dp_health_watches_shutdown(dp_health_watches *hw);

/** True once dp_health_watches_shutdown() was called. */
bool dp_health_watches_shutting_down(dp_health_watches *hw);

/** Streams not yet over (their last batch not completed). */
size_t dp_health_watches_open(dp_health_watches *hw);

/** Free the registry; every stream must have completed (the workers have drained). */
void dp_health_watches_destroy(dp_health_watches *hw);

#endif

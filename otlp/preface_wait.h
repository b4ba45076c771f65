/*
 * Plaintext gRPC connections between their accept and the client's HTTP/2
 * connection preface.
 *
 * The gRPC core does not time a connection it is handed by descriptor
 * (grpc_server_add_channel_from_fd): a client that connects and sends
 * nothing would hold its descriptor, and a place under
 * server.max_connections, for as long as it likes. So the receiver's
 * accepting thread keeps each new plaintext connection here until its
 * connection preface has arrived, the 24 bytes of "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
 * and the whole SETTINGS frame after them (a client that stops short of
 * that frame's end would be held by the core as well), then hands it to the
 * core; one that closes first is closed, one still short of it
 * server.handshake_timeout after its accept is closed and counted. (With
 * TLS the proxy keeps the same deadline, tls_proxy.h.)
 *
 * An epoll set, edge-triggered, so a client that trickles its preface
 * wakes the thread once per arrival, not in a loop. One owner thread.
 */
#ifndef DP_PREFACE_WAIT_H
#define DP_PREFACE_WAIT_H

#include <stddef.h>
#include <stdint.h>

#include "dp_err.h"

/** Bytes of the HTTP/2 client connection preface's fixed string. */
#define DP_HTTP2_PREFACE_LEN 24
/** The string and the header of the frame after it (HTTP/2 frame headers are 9 bytes). */
#define DP_HTTP2_SETUP_HEAD_LEN (DP_HTTP2_PREFACE_LEN + 9)
/** HTTP/2's initial SETTINGS_MAX_FRAME_SIZE: a longer first frame is refused by the core at once.
 */
#define DP_HTTP2_MAX_FIRST_FRAME 16384

/**
 * The bytes of a client's whole connection preface (RFC 9113 3.4: the
 * string, then a SETTINGS frame), from its first DP_HTTP2_SETUP_HEAD_LEN
 * bytes: those and the SETTINGS frame's payload as its header gives it; those
 * alone when the frame is not SETTINGS or is longer than
 * DP_HTTP2_MAX_FIRST_FRAME (the core closes such a connection as soon as it
 * reads them).
 */
size_t dp_http2_setup_len(const unsigned char *head);

typedef struct dp_preface_slot {
    int fd;               /* -1: free */
    uint64_t deadline_ms; /* monotonic */
} dp_preface_slot;

typedef struct dp_preface_wait {
    int ep;                /* the epoll set; pollable for readiness */
    unsigned timeout_ms;   /* from the accept to the whole preface */
    dp_preface_slot *slot; /* by index; the index is the epoll event's data */
    size_t cap, count;
    size_t *free_list; /* free slot indices, count free_count */
    size_t free_count;
    uint64_t next_deadline_ms; /* the earliest deadline of a slot in use (0: none) */
} dp_preface_wait;

/** Called with a connection whose preface has arrived: it now belongs to the callee. */
typedef void (*dp_preface_ready_fn)(void *ctx, int fd);

/** An empty set. DP_OK, or DP_ENOMEM (no epoll set to be had) / DP_EINVAL (timeout 0). */
DP_MUST_CHECK int dp_preface_wait_init(dp_preface_wait *w, unsigned timeout_ms);

/** Close every connection still waiting and the set. */
void dp_preface_wait_free(dp_preface_wait *w);

/**
 * Keep fd (non-blocking, just accepted at now_ms) until its preface. DP_OK,
 * or DP_ENOMEM (memory, or the epoll set's room): then fd is not kept (the
 * caller decides).
 */
DP_MUST_CHECK int dp_preface_wait_add(dp_preface_wait *w, int fd, uint64_t now_ms);

/** The descriptor to poll for POLLIN: readable when a kept connection moved. */
int dp_preface_wait_fd(const dp_preface_wait *w);

/** Milliseconds from now_ms to the earliest deadline (0 when past), or -1 when none waits. */
int dp_preface_wait_next_ms(const dp_preface_wait *w, uint64_t now_ms);

/**
 * What moved: each connection whose preface is whole goes to ready; one
 * closed by its client is closed; then each past its deadline at now_ms is
 * closed. Returns how many were closed at their deadline.
 */
size_t dp_preface_wait_run(dp_preface_wait *w, uint64_t now_ms, dp_preface_ready_fn ready,
                           void *ctx);

#endif

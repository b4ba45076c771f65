/*
 * Plaintext gRPC connections waiting for their HTTP/2 preface; see
 * preface_wait.h.
 */
#include "preface_wait.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int dp_preface_wait_init(dp_preface_wait *w, unsigned timeout_ms)
{
    *w = (dp_preface_wait){.ep = -1, .timeout_ms = timeout_ms};
    if (!timeout_ms)
        return DP_EINVAL;
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    return w->ep >= 0 ? DP_OK : DP_ENOMEM;
}

void dp_preface_wait_free(dp_preface_wait *w)
{
    for (size_t i = 0; i < w->cap; i++)
        if (w->slot[i].fd >= 0)
            close(w->slot[i].fd);
    if (w->ep >= 0)
        close(w->ep);
    free(w->slot);
    free(w->free_list);
    *w = (dp_preface_wait){.ep = -1};
}

int dp_preface_wait_fd(const dp_preface_wait *w)
{
    return w->ep;
}

/* A free slot's index, the array grown by doubling when none is free. */
static int take_slot(dp_preface_wait *w, size_t *out)
{
    if (!w->free_count) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        dp_preface_slot *s = realloc(w->slot, cap * sizeof(*s));
        if (!s)
            return DP_ENOMEM;
        w->slot = s;
        size_t *f = realloc(w->free_list, cap * sizeof(*f));
        if (!f)
            return DP_ENOMEM;
        w->free_list = f;
        /* the new slots, lowest index taken first */
        for (size_t i = cap; i > w->cap; i--) {
            w->slot[i - 1].fd = -1;
            w->free_list[w->free_count++] = i - 1;
        }
        w->cap = cap;
    }
    *out = w->free_list[--w->free_count];
    return DP_OK;
}

/* Out of the set; the descriptor is the caller's (closed or handed on). */
static void release(dp_preface_wait *w, size_t i)
{
    epoll_ctl(w->ep, EPOLL_CTL_DEL, w->slot[i].fd, NULL);
    w->slot[i].fd = -1;
    w->free_list[w->free_count++] = i;
    w->count--;
}

int dp_preface_wait_add(dp_preface_wait *w, int fd, uint64_t now_ms)
{
    size_t i;
    if (take_slot(w, &i) != DP_OK)
        return DP_ENOMEM;
    /* edge-triggered: each arrival wakes once; one already there is
     * reported once as well */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = i};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        w->free_list[w->free_count++] = i;
        return DP_ENOMEM;
    }
    uint64_t deadline = now_ms + w->timeout_ms;
    w->slot[i] = (dp_preface_slot){fd, deadline};
    w->count++;
    if (!w->next_deadline_ms || deadline < w->next_deadline_ms)
        w->next_deadline_ms = deadline;
    return DP_OK;
}

int dp_preface_wait_next_ms(const dp_preface_wait *w, uint64_t now_ms)
{
    if (!w->count)
        return -1;
    if (w->next_deadline_ms <= now_ms)
        return 0;
    uint64_t d = w->next_deadline_ms - now_ms;
    return d > 1000000 ? 1000000 : (int)d;
}

size_t dp_http2_setup_len(const unsigned char *head)
{
    const unsigned char *frame = head + DP_HTTP2_PREFACE_LEN;
    size_t len = (size_t)frame[0] << 16 | (size_t)frame[1] << 8 | frame[2];
    if (frame[3] != 4 /* SETTINGS */ || len > DP_HTTP2_MAX_FIRST_FRAME)
        return DP_HTTP2_SETUP_HEAD_LEN;
    return DP_HTTP2_SETUP_HEAD_LEN + len;
}

/* 1: the preface is whole; 0: not yet; -1: closed by the client, or an error. */
static int preface_state(int fd)
{
    unsigned char buf[DP_HTTP2_SETUP_HEAD_LEN + DP_HTTP2_MAX_FIRST_FRAME];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK);
        if (n >= DP_HTTP2_SETUP_HEAD_LEN && (size_t)n >= dp_http2_setup_len(buf))
            return 1;
        if (n > 0)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1; /* 0: the client closed; else the connection failed */
    }
}

size_t dp_preface_wait_run(dp_preface_wait *w, uint64_t now_ms, dp_preface_ready_fn ready,
                           void *ctx)
{
    struct epoll_event ev[64];
    int n;
    while ((n = epoll_wait(w->ep, ev, 64, 0)) > 0) {
        for (int k = 0; k < n; k++) {
            size_t i = (size_t)ev[k].data.u64;
            if (i >= w->cap || w->slot[i].fd < 0)
                continue;
            int fd = w->slot[i].fd;
            int st = preface_state(fd);
            /* short of it and the client will send no more: closed */
            if (st == 0 && (ev[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                st = -1;
            if (st == 0)
                continue; /* the next arrival wakes it again */
            release(w, i);
            if (st > 0)
                ready(ctx, fd);
            else
                close(fd);
        }
        if (n < 64)
            break;
    }
    size_t expired = 0;
    if (!w->count) {
        w->next_deadline_ms = 0;
        return 0;
    }
    if (w->next_deadline_ms > now_ms)
        return 0;
    uint64_t next = 0;
    for (size_t i = 0; i < w->cap; i++) {
        if (w->slot[i].fd < 0)
            continue;
        if (w->slot[i].deadline_ms <= now_ms) {
            int fd = w->slot[i].fd;
            release(w, i);
            close(fd);
            expired++;
        } else if (!next || w->slot[i].deadline_ms < next) {
            next = w->slot[i].deadline_ms;
        }
    }
    w->next_deadline_ms = next;
    return expired;
}

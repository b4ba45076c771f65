/*
 * The OTLP/gRPC receiver's TLS proxy; see tls_proxy.h for the contract.
 *
 * Each thread waits on its epoll set, in which each connection has its TCP
 * socket (from the start) and its end of the socket pair (after the
 * handshake), both edge-triggered, for reading and writing, with the
 * connection as the data. Any event runs the connection's step, which
 * does all that can be done without blocking (handshake, then the four
 * reads and writes) until nothing moves: after that, every way forward
 * waits on a call that returned EAGAIN, so the next edge wakes it. New
 * connections come through a queue and an eventfd. Two lists give the
 * timeouts, each in deadline order as every entry's delay is the same: the
 * setups (handshake_timeout_ms from the accept to the end of the TLS
 * handshake and the client's whole HTTP/2 connection preface, its string
 * and SETTINGS frame (dp_http2_setup_len()), which the core, given the
 * connection from a descriptor, does not time itself), and the connections whose core end
 * has closed and whose last bytes and close_notify are still going to a
 * client that does not read them (CLOSE_GRACE_MS). A step ends after
 * STEP_ROUNDS rounds that moved bytes, so that one busy connection does not
 * hold up the others; it then goes on a ready list, run again after the
 * next (non-waiting) batch of events. A closed connection's memory is
 * freed after the batch and the ready list, which may still name it.
 */
#include "tls_proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "preface_wait.h" /* dp_http2_setup_len() */

#define COMPONENT "receiver"
#define BUF_SIZE (64u * 1024) /* per direction and connection */
#define CLOSE_GRACE_MS 5000u  /* the core closed: the client has this long to take the rest */
#define MAX_EVENTS 64
#define STEP_ROUNDS 64  /* rounds of one step before other connections get a turn */
#define MAX_WARNINGS 16 /* warning alerts taken during one handshake step */

typedef struct pbuf {
    char *data;
    size_t start, end; /* bytes start..end are to be written */
} pbuf;

enum conn_state { CONN_HANDSHAKE, CONN_OPEN };

typedef struct proxy_thread proxy_thread;
typedef struct conn conn;

/* A timer list: head and tail, entries in deadline order. */
typedef struct timer_list {
    conn *head, *tail;
} timer_list;

struct conn {
    proxy_thread *th;
    int tls_fd, plain_fd; /* the client's TCP socket; dagprof's end of the pair (-1 before) */
    gnutls_session_t s;
    enum conn_state state;
    uint64_t deadline_ms;       /* in a timer list: closed then */
    struct conn *tprev, *tnext; /* the timer list it is in, if any */
    timer_list *tlist;          /* which, NULL: none */
    struct conn *aprev, *anext; /* every connection of the thread */
    struct conn *dead_next;     /* closed, to be freed after the batch */
    struct conn *ready_next;    /* in the thread's ready list */
    bool dead, ready;
    pbuf up;            /* client to core */
    pbuf down;          /* core to client */
    bool client_eof;    /* nothing more comes from the client */
    bool core_shut;     /* the core was told (shutdown of the pair's write side) */
    bool core_eof;      /* nothing more comes from the core */
    bool send_again;    /* gnutls_record_send returned EAGAIN: call it again with NULL, 0 */
    bool set_up;        /* the client's whole HTTP/2 connection preface has passed */
    size_t setup_bytes; /* from the client until then */
    unsigned char setup_head[DP_HTTP2_SETUP_HEAD_LEN]; /* their first bytes */
};

struct proxy_thread {
    dp_tls_proxy *p;
    pthread_t thread;
    bool started;
    int ep, wake_fd;
    pthread_mutex_t lock; /* the queue */
    int *queue;
    size_t queued, queue_cap;
    timer_list handshakes, closing;
    conn *all;
    conn *dead;
    conn *ready; /* stopped for others' turn while they could still move: run again at once */
};

struct dp_tls_proxy {
    dp_tls_proxy_options opt;
    proxy_thread *threads;
    unsigned thread_count;
    atomic_uint next;
    atomic_bool stop;
    bool stopped; /* dp_tls_proxy_stop() done */
    _Atomic uint64_t open, done, failed, timeouts;
    _Atomic uint64_t last_fd_log_ms;
};

/* --- timers -------------------------------------------------------------------------------- */

static void timer_remove(conn *c)
{
    timer_list *l = c->tlist;
    if (!l)
        return;
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        l->head = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    else
        l->tail = c->tprev;
    c->tprev = c->tnext = NULL;
    c->tlist = NULL;
}

static void timer_add(timer_list *l, conn *c, uint64_t deadline_ms)
{
    timer_remove(c);
    c->deadline_ms = deadline_ms;
    c->tlist = l;
    c->tprev = l->tail;
    c->tnext = NULL;
    if (l->tail)
        l->tail->tnext = c;
    else
        l->head = c;
    l->tail = c;
}

/* --- connections --------------------------------------------------------------------------- */

static void conn_close(conn *c)
{
    if (c->dead)
        return;
    proxy_thread *th = c->th;
    c->dead = true;
    timer_remove(c);
    if (c->aprev)
        c->aprev->anext = c->anext;
    else
        th->all = c->anext;
    if (c->anext)
        c->anext->aprev = c->aprev;
    if (c->s)
        gnutls_deinit(c->s);
    c->s = NULL;
    close(c->tls_fd); /* leaves the epoll set with it */
    if (c->plain_fd >= 0)
        close(c->plain_fd);
    free(c->up.data);
    free(c->down.data);
    c->up.data = c->down.data = NULL;
    atomic_fetch_sub(&th->p->open, 1);
    c->dead_next = th->dead;
    th->dead = c;
}

static void free_dead(proxy_thread *th)
{
    while (th->dead) {
        conn *c = th->dead;
        th->dead = c->dead_next;
        free(c);
    }
}

static size_t pending(const pbuf *b)
{
    return b->end - b->start;
}

/* Room at the end of b, moving what is pending to the front when that makes some. */
static size_t room(pbuf *b)
{
    if (b->start == b->end)
        b->start = b->end = 0;
    else if (b->end == BUF_SIZE && b->start > 0) {
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
    return BUF_SIZE - b->end;
}

/* A buffer is only held while it has bytes or is being read into: idle connections hold none. */
static bool buffer_take(pbuf *b)
{
    if (!b->data)
        b->data = malloc(BUF_SIZE);
    return b->data != NULL;
}

static void buffer_drop_if_empty(pbuf *b)
{
    if (b->data && b->start == b->end) {
        free(b->data);
        b->data = NULL;
        b->start = b->end = 0;
    }
}

/* Not out of descriptors often: said at most every 10 s. */
static void log_no_pair(dp_tls_proxy *p, int err)
{
    uint64_t now = dp_clock_monotonic_ms(), last = atomic_load(&p->last_fd_log_ms);
    if ((last == 0 || now - last >= 10000) &&
        atomic_compare_exchange_strong(&p->last_fd_log_ms, &last, now))
        dp_log_warn(COMPONENT,
                    "a TLS gRPC connection is closed after its handshake: no socket pair for the "
                    "gRPC core (%s; raise ulimit -n)",
                    strerror(err));
}

/* The handshake is done: the socket pair, one end to the core. */
static bool open_pair(conn *c)
{
    dp_tls_proxy *p = c->th->p;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        log_no_pair(p, errno);
        return false;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(c->th->ep, EPOLL_CTL_ADD, sv[0], &ev) != 0) {
        close(sv[0]);
        close(sv[1]);
        return false;
    }
    c->plain_fd = sv[0];
    c->state = CONN_OPEN;
    atomic_fetch_add(&p->done, 1);
    p->opt.deliver(p->opt.deliver_ctx, sv[1]);
    return true;
}

/* The handshake, as far as it goes without blocking. False: the connection is closed. */
static bool handshake(conn *c)
{
    dp_tls_proxy *p = c->th->p;
    for (int warnings = 0;; warnings++) {
        int g = gnutls_handshake(c->s);
        if (g == GNUTLS_E_SUCCESS) {
            /* the handshake's deadline runs on until the HTTP/2 preface is in (pump) */
            if (open_pair(c))
                return true;
            conn_close(c);
            return false;
        }
        if (g == GNUTLS_E_AGAIN)
            return true;
        if ((g == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(g)) && warnings < MAX_WARNINGS)
            continue; /* a warning alert: go on */
        atomic_fetch_add(&p->failed, 1);
        dp_log_debug(COMPONENT, "a TLS handshake on the gRPC port failed: %s", gnutls_strerror(g));
        conn_close(c);
        return false;
    }
}

/* The core's end is closed (what it wrote may still be in the pair). */
static bool core_hung_up(const conn *c)
{
    struct pollfd p = {.fd = c->plain_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* The core has closed: the client has CLOSE_GRACE_MS from the first sign of it to take the rest. */
static void closing_starts(conn *c)
{
    if (c->tlist != &c->th->closing)
        timer_add(&c->th->closing, c, dp_clock_monotonic_ms() + CLOSE_GRACE_MS);
}

/* n more bytes from the client, before its connection preface was whole. */
static void setup_seen(conn *c, const char *data, size_t n)
{
    if (c->setup_bytes < DP_HTTP2_SETUP_HEAD_LEN) {
        size_t head = DP_HTTP2_SETUP_HEAD_LEN - c->setup_bytes;
        memcpy(c->setup_head + c->setup_bytes, data, n < head ? n : head);
    }
    c->setup_bytes += n;
    if (c->setup_bytes >= DP_HTTP2_SETUP_HEAD_LEN &&
        c->setup_bytes >= dp_http2_setup_len(c->setup_head)) {
        c->set_up = true;
        if (c->tlist == &c->th->handshakes)
            timer_remove(c); /* set up: no handshake deadline any more */
    }
}

/* Bytes both ways until nothing moves; the ends passed on; closed when both are done. */
static void pump(conn *c)
{
    for (int round = 0; round < STEP_ROUNDS; round++) {
        bool moved = false;
        if ((!c->client_eof && !buffer_take(&c->up)) || (!c->core_eof && !buffer_take(&c->down))) {
            dp_log_warn(COMPONENT, "out of memory: a TLS gRPC connection is closed");
            conn_close(c);
            return;
        }
        /* client to core */
        if (!c->client_eof && room(&c->up) > 0) {
            ssize_t n = gnutls_record_recv(c->s, c->up.data + c->up.end, BUF_SIZE - c->up.end);
            if (n > 0) {
                if (!c->set_up)
                    setup_seen(c, c->up.data + c->up.end, (size_t)n);
                c->up.end += (size_t)n;
                moved = true;
            } else if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION) {
                c->client_eof = true; /* close_notify, or TCP EOF without it */
                moved = true;
            } else if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED) {
                if (gnutls_error_is_fatal((int)n)) {
                    dp_log_debug(COMPONENT, "a TLS gRPC connection: %s", gnutls_strerror((int)n));
                    conn_close(c);
                    return;
                }
                moved = true; /* a warning alert, a renegotiation refused: go on */
            }
        }
        if (pending(&c->up) > 0 && !c->core_shut) {
            ssize_t n = send(c->plain_fd, c->up.data + c->up.start, pending(&c->up), MSG_NOSIGNAL);
            if (n > 0) {
                c->up.start += (size_t)n;
                moved = true;
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                /* the core closed its end: what the client sends goes nowhere */
                c->up.start = c->up.end = 0;
                c->client_eof = c->core_shut = true;
                moved = true;
            }
        }
        if (c->client_eof && pending(&c->up) == 0 && !c->core_shut) {
            shutdown(c->plain_fd, SHUT_WR);
            c->core_shut = true;
            moved = true;
        }
        /* core to client */
        if (!c->core_eof && room(&c->down) > 0) {
            ssize_t n = recv(c->plain_fd, c->down.data + c->down.end, BUF_SIZE - c->down.end, 0);
            if (n > 0) {
                c->down.end += (size_t)n;
                moved = true;
            } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                /* the core never half-closes: its end is closed, the client gets the rest */
                c->core_eof = true;
                closing_starts(c);
                moved = true;
            }
        }
        if (c->send_again || pending(&c->down) > 0) {
            /* after EAGAIN GnuTLS has the record encrypted: NULL, 0 sends the rest of it */
            ssize_t n = c->send_again ? gnutls_record_send(c->s, NULL, 0)
                                      : gnutls_record_send(c->s, c->down.data + c->down.start,
                                                           pending(&c->down));
            if (n > 0) {
                c->down.start += (size_t)n;
                c->send_again = false;
                moved = true;
            } else if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
                c->send_again = true;
            } else {
                dp_log_debug(COMPONENT, "a TLS gRPC connection: %s", gnutls_strerror((int)n));
                conn_close(c);
                return;
            }
        }
        if (c->core_eof && pending(&c->down) == 0 && !c->send_again) {
            /* all sent: close_notify (once, as far as it goes), then the connection is done */
            int g = gnutls_bye(c->s, GNUTLS_SHUT_WR);
            if (g == GNUTLS_E_AGAIN || g == GNUTLS_E_INTERRUPTED)
                return; /* the rest when the socket takes it */
            shutdown(c->tls_fd, SHUT_WR);
            conn_close(c);
            return;
        }
        if (!moved) {
            /* the buffer towards a client that takes nothing is full, so the core's end is not
             * read and its close would not be seen there: asked of the socket instead */
            if (!c->core_eof && room(&c->down) == 0 && c->tlist != &c->th->closing &&
                core_hung_up(c))
                closing_starts(c);
            buffer_drop_if_empty(&c->up);
            buffer_drop_if_empty(&c->down);
            return;
        }
    }
    /* still moving: the others get their turn, then this one goes on (no edge will come for
     * what is already in the sockets) */
    if (!c->ready) {
        c->ready = true;
        c->ready_next = c->th->ready;
        c->th->ready = c;
    }
}

static void step(conn *c)
{
    if (c->state == CONN_HANDSHAKE && !handshake(c))
        return;
    if (c->state == CONN_OPEN)
        pump(c);
}

static void conn_new(proxy_thread *th, int fd)
{
    dp_tls_proxy *p = th->p;
    conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        atomic_fetch_sub(&p->open, 1);
        return;
    }
    c->th = th;
    c->tls_fd = fd;
    c->plain_fd = -1;
    c->state = CONN_HANDSHAKE;
    c->anext = th->all;
    if (th->all)
        th->all->aprev = c;
    th->all = c;
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && !(flags & O_NONBLOCK))
        fcntl(fd, F_SETFL, flags | O_NONBLOCK); /* a step never waits on one connection */
    int g = dp_tls_server_session_new(p->opt.tls, fd, &c->s);
    if (g < 0) {
        dp_log_warn(COMPONENT, "cannot start a TLS session: %s", gnutls_strerror(g));
        conn_close(c);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(th->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        conn_close(c);
        return;
    }
    if (p->opt.handshake_timeout_ms)
        timer_add(&th->handshakes, c, dp_clock_monotonic_ms() + p->opt.handshake_timeout_ms);
    step(c); /* the client's hello may be in already */
}

static void take_queue(proxy_thread *th)
{
    uint64_t v;
    while (read(th->wake_fd, &v, sizeof(v)) > 0) {
    }
    pthread_mutex_lock(&th->lock);
    int *fds = th->queue;
    size_t n = th->queued;
    th->queue = NULL;
    th->queued = th->queue_cap = 0;
    pthread_mutex_unlock(&th->lock);
    for (size_t i = 0; i < n; i++)
        conn_new(th, fds[i]);
    free(fds);
}

/* Close what is past its time; the milliseconds until the next deadline (-1: none). */
static int expire(proxy_thread *th)
{
    uint64_t now = dp_clock_monotonic_ms();
    while (th->handshakes.head && th->handshakes.head->deadline_ms <= now) {
        atomic_fetch_add(&th->p->timeouts, 1);
        dp_log_debug(COMPONENT, "a TLS handshake on the gRPC port took more than "
                                "server.handshake_timeout: closed");
        conn_close(th->handshakes.head);
    }
    while (th->closing.head && th->closing.head->deadline_ms <= now)
        conn_close(th->closing.head);
    uint64_t next = UINT64_MAX;
    if (th->handshakes.head)
        next = th->handshakes.head->deadline_ms;
    if (th->closing.head && th->closing.head->deadline_ms < next)
        next = th->closing.head->deadline_ms;
    if (next == UINT64_MAX)
        return -1;
    uint64_t wait = next - now;
    return wait > 60000 ? 60000 : (int)wait + 1;
}

static void *thread_main(void *arg)
{
    proxy_thread *th = arg;
    struct epoll_event evs[MAX_EVENTS];
    while (!atomic_load(&th->p->stop)) {
        int timeout = expire(th);
        int n = epoll_wait(th->ep, evs, MAX_EVENTS, th->ready ? 0 : timeout);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c)
                take_queue(th);
            else if (!c->dead)
                step(c);
        }
        conn *ready = th->ready;
        th->ready = NULL;
        while (ready) {
            conn *c = ready;
            ready = c->ready_next;
            c->ready = false;
            if (!c->dead)
                step(c);
        }
        /* the closed ones, on the ready list of this round or not, are named nowhere now */
        free_dead(th);
    }
    return NULL;
}

/* --- lifecycle ----------------------------------------------------------------------------- */

int dp_tls_proxy_start(const dp_tls_proxy_options *o, dp_tls_proxy **out, char *err, size_t errlen)
{
    *out = NULL;
    dp_tls_proxy *p = calloc(1, sizeof(*p));
    unsigned count = o->threads ? o->threads : 1;
    if (p)
        p->threads = calloc(count, sizeof(*p->threads));
    if (!p || !p->threads) {
        free(p);
        snprintf(err, errlen, "receiver: out of memory starting the TLS proxy");
        return DP_ENOMEM;
    }
    p->opt = *o;
    p->thread_count = count;
    for (unsigned i = 0; i < count; i++) {
        proxy_thread *th = &p->threads[i];
        th->p = p;
        th->ep = th->wake_fd = -1;
        pthread_mutex_init(&th->lock, NULL);
    }
    for (unsigned i = 0; i < count; i++) {
        proxy_thread *th = &p->threads[i];
        th->ep = epoll_create1(EPOLL_CLOEXEC);
        th->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (th->ep < 0 || th->wake_fd < 0 ||
            epoll_ctl(th->ep, EPOLL_CTL_ADD, th->wake_fd, &ev) != 0) {
            snprintf(err, errlen, "receiver: cannot start the TLS proxy: %s", strerror(errno));
            dp_tls_proxy_destroy(p);
            return DP_ENOMEM;
        }
        if (pthread_create(&th->thread, NULL, thread_main, th) != 0) {
            snprintf(err, errlen, "receiver: cannot start the TLS proxy threads");
            dp_tls_proxy_destroy(p);
            return DP_ETHREAD;
        }
        th->started = true;
    }
    *out = p;
    return DP_OK;
}

int dp_tls_proxy_add(dp_tls_proxy *p, int fd)
{
    proxy_thread *th = &p->threads[atomic_fetch_add(&p->next, 1) % p->thread_count];
    atomic_fetch_add(&p->open, 1);
    pthread_mutex_lock(&th->lock);
    if (th->queued == th->queue_cap) {
        size_t cap = th->queue_cap ? 2 * th->queue_cap : 16;
        int *grown = realloc(th->queue, cap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&th->lock);
            close(fd);
            atomic_fetch_sub(&p->open, 1);
            return -1;
        }
        th->queue = grown;
        th->queue_cap = cap;
    }
    th->queue[th->queued++] = fd;
    pthread_mutex_unlock(&th->lock);
    uint64_t one = 1;
    if (write(th->wake_fd, &one, sizeof(one)) < 0) {
        /* the counter is far from full: cannot happen */
    }
    return 0;
}

uint64_t dp_tls_proxy_open(dp_tls_proxy *p)
{
    return atomic_load(&p->open);
}

void dp_tls_proxy_get_stats(dp_tls_proxy *p, dp_tls_proxy_stats *o)
{
    o->open = atomic_load(&p->open);
    o->handshakes_done = atomic_load(&p->done);
    o->handshakes_failed = atomic_load(&p->failed);
    o->handshakes_timeout = atomic_load(&p->timeouts);
}

void dp_tls_proxy_stop(dp_tls_proxy *p)
{
    if (!p || p->stopped)
        return;
    p->stopped = true;
    atomic_store(&p->stop, true);
    for (unsigned i = 0; i < p->thread_count; i++) {
        proxy_thread *th = &p->threads[i];
        uint64_t one = 1;
        if (th->started && write(th->wake_fd, &one, sizeof(one)) < 0) {
            /* cannot happen (see dp_tls_proxy_add) */
        }
    }
    for (unsigned i = 0; i < p->thread_count; i++) {
        proxy_thread *th = &p->threads[i];
        if (th->started)
            pthread_join(th->thread, NULL);
        th->started = false;
        while (th->all)
            conn_close(th->all);
        free_dead(th);
        for (size_t k = 0; k < th->queued; k++) {
            close(th->queue[k]);
            atomic_fetch_sub(&p->open, 1);
        }
        th->queued = 0;
    }
}

void dp_tls_proxy_destroy(dp_tls_proxy *p)
{
    if (!p)
        return;
    dp_tls_proxy_stop(p);
    for (unsigned i = 0; i < p->thread_count; i++) {
        proxy_thread *th = &p->threads[i];
        free(th->queue);
        if (th->ep >= 0)
            close(th->ep);
        if (th->wake_fd >= 0)
            close(th->wake_fd);
        pthread_mutex_destroy(&th->lock);
    }
    free(p->threads);
    free(p);
}

/*
 * OTLP/HTTP load generator: posts loadgen's pre-encoded trace requests (see
 * trace_template.h, fresh trace ids in every request) to POST /v1/traces as
 * application/x-protobuf over HTTP/1.1 keep-alive connections, one request
 * in flight per connection, and counts what the server accepted. The same
 * requests as bench/loadgen.c sends over gRPC, so the two rates compare.
 *
 *   http_loadgen --target 127.0.0.1:4318 [--connections 16] [--threads 2]
 *                [--spans-per-request 200] [--duration 10 | --requests N]
 *                [--templates 8] [--path /v1/traces]
 *
 * Each thread drives its connections with epoll. It prints one line of
 * key=value pairs like loadgen's:
 *   requests_ok= requests_failed= spans_ok= spans_failed= bytes_ok= elapsed_s=
 *   spans_per_s= requests_per_s= (and status_<code>= for each other status)
 * Exit status: 0 when every request got 200, 1 otherwise, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "trace_template.h"

#define RESPONSE_CAP 65536
#define MAX_STATUS 600

typedef struct options {
    const char *host;
    int port;
    const char *path;
    unsigned connections, threads, spans_per_request, templates;
    double duration_s;
    uint64_t requests;
} options;

/* One keep-alive connection with its request being written or its answer read. */
typedef struct conn {
    int fd;
    uint8_t *req; /* header + body of the request in flight */
    size_t req_len, req_cap, sent;
    size_t spans;
    char resp[RESPONSE_CAP];
    size_t got;
    int busy;
} conn;

static options g_opt;
static const dp_bench_request *g_templates;
static uint32_t g_prefix;
static atomic_uint_fast64_t g_seq;
static double g_end;
static atomic_uint_fast64_t g_ok, g_failed, g_spans_ok, g_spans_failed, g_bytes_ok;
static atomic_uint_fast64_t g_status[MAX_STATUS];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int claim(uint64_t *seq)
{
    if (g_end > 0 && now_s() >= g_end)
        return 0;
    *seq = atomic_fetch_add(&g_seq, 1);
    return g_opt.requests == 0 || *seq < g_opt.requests;
}

static int prepare(conn *c, uint64_t seq)
{
    const dp_bench_request *t = &g_templates[seq % g_opt.templates];
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/x-protobuf\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      g_opt.path, g_opt.host, g_opt.port, t->len);
    size_t need = (size_t)hl + t->len;
    if (need > c->req_cap) {
        uint8_t *p = realloc(c->req, need);
        if (!p)
            return -1;
        c->req = p;
        c->req_cap = need;
    }
    memcpy(c->req, head, (size_t)hl);
    dp_bench_request_write(c->req + hl, t, g_prefix, seq);
    c->req_len = need;
    c->sent = 0;
    c->got = 0;
    c->spans = t->spans;
    c->busy = 1;
    return 0;
}

/* A whole answer read: its status, or 0 while incomplete, -1 when malformed. */
static int parse_answer(conn *c)
{
    c->resp[c->got < RESPONSE_CAP ? c->got : RESPONSE_CAP - 1] = '\0';
    char *end = strstr(c->resp, "\r\n\r\n");
    if (!end)
        return c->got >= RESPONSE_CAP - 1 ? -1 : 0;
    int status = 0;
    if (sscanf(c->resp, "HTTP/1.1 %d", &status) != 1)
        return -1;
    size_t body = 0;
    for (char *h = strstr(c->resp, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "content-length:", 15) == 0)
            body = strtoul(h + 17, NULL, 10);
    }
    size_t total = (size_t)(end + 4 - c->resp) + body;
    return c->got >= total ? status : 0;
}

static int connect_to(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_opt.port)};
    inet_pton(AF_INET, g_opt.host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *worker_main(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    conn *cs = calloc(n, sizeof(*cs));
    int ep = epoll_create1(0);
    unsigned active = 0;
    for (unsigned i = 0; cs && i < n; i++) {
        uint64_t seq;
        cs[i].fd = connect_to();
        if (cs[i].fd < 0 || !claim(&seq) || prepare(&cs[i], seq) != 0)
            continue;
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        active++;
    }
    struct epoll_event evs[64];
    while (active > 0) {
        int k = epoll_wait(ep, evs, 64, 1000);
        for (int e = 0; e < k; e++) {
            conn *c = evs[e].data.ptr;
            if (c->sent < c->req_len) {
                ssize_t w = send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);
                if (w > 0)
                    c->sent += (size_t)w;
                else if (w < 0 && errno != EAGAIN)
                    goto broken;
                if (c->sent == c->req_len) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                continue;
            }
            ssize_t r = recv(c->fd, c->resp + c->got, RESPONSE_CAP - 1 - c->got, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN))
                goto broken;
            if (r < 0)
                continue;
            c->got += (size_t)r;
            int status = parse_answer(c);
            if (status == 0)
                continue;
            if (status == 200) {
                atomic_fetch_add(&g_ok, 1);
                atomic_fetch_add(&g_spans_ok, c->spans);
                atomic_fetch_add(&g_bytes_ok, c->req_len);
            } else {
                atomic_fetch_add(&g_failed, 1);
                atomic_fetch_add(&g_spans_failed, c->spans);
                if (status > 0 && status < MAX_STATUS)
                    atomic_fetch_add(&g_status[status], 1);
                if (status < 0)
                    goto broken;
            }
            uint64_t seq;
            if (!claim(&seq) || prepare(c, seq) != 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                active--;
                continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            continue;
        broken:
            fprintf(stderr, "http_loadgen: connection lost (%s)\n", strerror(errno));
            atomic_fetch_add(&g_failed, 1);
            atomic_fetch_add(&g_spans_failed, c->spans);
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            active--;
        }
    }
    for (unsigned i = 0; cs && i < n; i++) {
        if (cs[i].fd >= 0)
            close(cs[i].fd);
        free(cs[i].req);
    }
    free(cs);
    close(ep);
    return NULL;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.connections = 16,
                   .threads = 2,
                   .spans_per_request = 200,
                   .templates = 8,
                   .path = "/v1/traces"};
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        i++;
        if (!strcmp(a, "--target"))
            target = v;
        else if (!strcmp(a, "--connections"))
            o->connections = (unsigned)atoi(v);
        else if (!strcmp(a, "--threads"))
            o->threads = (unsigned)atoi(v);
        else if (!strcmp(a, "--spans-per-request"))
            o->spans_per_request = (unsigned)atoi(v);
        else if (!strcmp(a, "--templates"))
            o->templates = (unsigned)atoi(v);
        else if (!strcmp(a, "--duration"))
            o->duration_s = atof(v);
        else if (!strcmp(a, "--requests"))
            o->requests = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--path"))
            o->path = v;
        else
            return -1;
    }
    static char host[64];
    const char *colon = target ? strrchr(target, ':') : NULL;
    if (!colon || colon - target >= (int)sizeof(host) || !o->connections || !o->threads ||
        !o->templates || (o->duration_s <= 0 && !o->requests))
        return -1;
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    o->host = host;
    o->port = atoi(colon + 1);
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv, &g_opt) != 0) {
        fprintf(stderr, "usage: http_loadgen --target HOST:PORT [--connections 16] [--threads 2]\n"
                        "       [--spans-per-request 200] [--duration S | --requests N]\n"
                        "       [--templates 8] [--path /v1/traces]\n");
        return 2;
    }
    dp_bench_request *templates = calloc(g_opt.templates, sizeof(*templates));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    g_prefix = (uint32_t)(ts.tv_nsec ^ (ts.tv_sec << 8) ^ (uint32_t)getpid());
    uint64_t base_ns = ((uint64_t)ts.tv_sec - 3600) * 1000000000ull;
    for (unsigned i = 0; templates && i < g_opt.templates; i++)
        if (dp_bench_request_build(&templates[i], i, g_opt.spans_per_request, base_ns) != 0)
            return 1;
    g_templates = templates;
    double start = now_s();
    if (g_opt.duration_s > 0)
        g_end = start + g_opt.duration_s;
    pthread_t th[64];
    unsigned nt = g_opt.threads > 64 ? 64 : g_opt.threads;
    for (unsigned t = 0; t < nt; t++) {
        unsigned n = g_opt.connections / nt + (t < g_opt.connections % nt);
        pthread_create(&th[t], NULL, worker_main, (void *)(uintptr_t)n);
    }
    for (unsigned t = 0; t < nt; t++)
        pthread_join(th[t], NULL);
    double el = now_s() - start;
    uint64_t ok = atomic_load(&g_ok), spans = atomic_load(&g_spans_ok);
    printf("requests_ok=%" PRIu64 " requests_failed=%" PRIu64 " spans_ok=%" PRIu64
           " spans_failed=%" PRIu64 " bytes_ok=%" PRIu64 " elapsed_s=%.3f spans_per_s=%.0f"
           " requests_per_s=%.1f",
           ok, (uint64_t)atomic_load(&g_failed), spans, (uint64_t)atomic_load(&g_spans_failed),
           (uint64_t)atomic_load(&g_bytes_ok), el, (double)spans / el, (double)ok / el);
    for (int s = 0; s < MAX_STATUS; s++)
        if (atomic_load(&g_status[s]))
            printf(" status_%d=%" PRIu64, s, (uint64_t)atomic_load(&g_status[s]));
    printf("\n");
    for (unsigned i = 0; i < g_opt.templates; i++)
        dp_bench_request_release(&templates[i]);
    free(templates);
    return atomic_load(&g_failed) ? 1 : 0;
}

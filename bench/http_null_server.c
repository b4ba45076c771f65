/*
 * A do-nothing OTLP/HTTP server on each candidate HTTP library, to choose
 * the library of dagprof's OTLP/HTTP receiver by what it costs to take a
 * request body in and answer it: every POST gets 200 with an empty
 * ExportTraceServiceResponse (zero bytes) once its whole body has arrived.
 *
 *   http_null_server --lib mhd|evhttp|h2o --listen 127.0.0.1:PORT [--threads 2]
 *
 * mhd:    libmicrohttpd, its own thread pool over epoll (what dagprof uses);
 * evhttp: libevent's evhttp, one event base per thread on one shared socket;
 * h2o:    libh2o-evloop, one loop per thread, each its own SO_REUSEPORT socket.
 * Prints "listening on ADDR" on stderr when ready; runs until SIGINT/SIGTERM.
 */
#define H2O_USE_LIBUV 0
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <h2o.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_socket(const char *host, int port, int reuseport)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0) {
        perror("http_null_server: bind");
        exit(1);
    }
    return fd;
}

/* --- libmicrohttpd ------------------------------------------------------------- */

static enum MHD_Result mhd_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    static int marker;
    if (!*state) { /* headers only: the body follows in further calls */
        *state = &marker;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body: taken (a real server copies it) */
        *upload_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/x-protobuf");
    enum MHD_Result rc = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static void run_mhd(int fd, unsigned threads, sigset_t *sigs)
{
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, mhd_answer,
                         NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024, MHD_OPTION_END);
    if (!d)
        exit(1);
    fprintf(stderr, "listening on\n");
    int sig;
    sigwait(sigs, &sig);
    MHD_stop_daemon(d);
}

/* --- libevent evhttp --------------------------------------------------------------- */

static void ev_answer(struct evhttp_request *req, void *arg)
{
    evbuffer_drain(evhttp_request_get_input_buffer(req), (size_t)-1);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/x-protobuf");
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void *ev_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, ev_answer, NULL);
    evhttp_accept_socket(http, fd);
    event_base_dispatch(base);
    return NULL;
}

/* --- h2o (evloop) ------------------------------------------------------------------ */

static h2o_globalconf_t h2o_config;

typedef struct h2o_thread {
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    int fd;
} h2o_thread;

static int h2o_answer(h2o_handler_t *self, h2o_req_t *req)
{
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/x-protobuf"));
    h2o_send_inline(req, "", 0);
    return 0;
}

static void h2o_on_accept(h2o_socket_t *listener, const char *err)
{
    h2o_thread *t = listener->data;
    h2o_socket_t *sock;
    if (err)
        return;
    if ((sock = h2o_evloop_socket_accept(listener)))
        h2o_accept(&t->accept, sock);
}

static void *h2o_thread_main(void *arg)
{
    h2o_thread *t = arg;
    h2o_context_init(&t->ctx, h2o_evloop_create(), &h2o_config);
    t->accept.ctx = &t->ctx;
    t->accept.hosts = h2o_config.hosts;
    h2o_socket_t *ls = h2o_evloop_socket_create(t->ctx.loop, t->fd, H2O_SOCKET_FLAG_DONT_READ);
    ls->data = t;
    h2o_socket_read_start(ls, h2o_on_accept);
    while (h2o_evloop_run(t->ctx.loop, INT32_MAX) == 0) {
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *lib = NULL, *listen_addr = NULL;
    unsigned threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--lib"))
            lib = argv[i + 1];
        else if (!strcmp(argv[i], "--listen"))
            listen_addr = argv[i + 1];
        else if (!strcmp(argv[i], "--threads"))
            threads = (unsigned)atoi(argv[i + 1]);
    }
    const char *colon = listen_addr ? strrchr(listen_addr, ':') : NULL;
    if (!lib || !colon || threads == 0 || threads > 64) {
        fprintf(stderr, "usage: http_null_server --lib mhd|evhttp|h2o --listen HOST:PORT "
                        "[--threads 2]\n");
        return 2;
    }
    char host[64];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - listen_addr), listen_addr);
    int port = atoi(colon + 1);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    pthread_t th[64];
    if (!strcmp(lib, "mhd")) {
        run_mhd(listen_socket(host, port, 0), threads, &sigs);
        return 0;
    }
    if (!strcmp(lib, "evhttp")) {
        int fd = listen_socket(host, port, 0);
        evutil_make_socket_nonblocking(fd);
        for (unsigned i = 0; i < threads; i++)
            pthread_create(&th[i], NULL, ev_thread, (void *)(intptr_t)fd);
    } else if (!strcmp(lib, "h2o")) {
        h2o_config_init(&h2o_config);
        h2o_hostconf_t *host_conf =
            h2o_config_register_host(&h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
        h2o_pathconf_t *path = h2o_config_register_path(host_conf, "/", 0);
        h2o_create_handler(path, sizeof(h2o_handler_t))->on_req = h2o_answer;
        for (unsigned i = 0; i < threads; i++) {
            h2o_thread *t = calloc(1, sizeof(*t));
            t->fd = listen_socket(host, port, 1);
            pthread_create(&th[i], NULL, h2o_thread_main, t);
        }
    } else {
        fprintf(stderr, "http_null_server: unknown --lib %s\n", lib);
        return 2;
    }
    fprintf(stderr, "listening on\n");
    int sig;
    sigwait(&sigs, &sig);
    return 0; /* the loops have no stop call worth waiting for in a benchmark */
}

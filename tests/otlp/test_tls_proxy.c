/*
 * The OTLP/gRPC receiver's TLS proxy (otlp/tls_proxy.c) between a GnuTLS
 * client and a stand-in for the gRPC core: the test holds the plaintext end
 * the proxy delivers. The client's connection is one end of a socket pair
 * (the proxy treats it as an accepted TCP connection). Certificates are
 * made with the openssl CLI in a temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "receiver_tls.h"
#include "tls_proxy.h"

#define BIG (5u * 1024 * 1024) /* bytes echoed through the proxy: many times its buffers */

static char dir[64];

/* A shell command on the temporary directory: its exit status. */
static int in_dir(const char *command)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd %s && %s", dir, command);
    return system(cmd);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/dp_test_proxy_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    return in_dir("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
                  "s.key -out s.crt -subj /CN=proxy-test -days 1 2>/dev/null") == 0
               ? 0
               : -1;
}

static int teardown(void **state)
{
    (void)state;
    return in_dir("rm -f s.key s.crt") == 0 && rmdir(dir) == 0 ? 0 : -1;
}

/* --- the core's stand-in: the delivered plaintext ends ------------------------------------- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t delivered_cond = PTHREAD_COND_INITIALIZER;
static int delivered_fd = -1;

static void deliver(void *ctx, int fd)
{
    (void)ctx;
    pthread_mutex_lock(&lock);
    delivered_fd = fd;
    pthread_cond_signal(&delivered_cond);
    pthread_mutex_unlock(&lock);
}

/* The end delivered for the connection just made, blocking from now on; -1 after 5 s. */
static int take_delivered(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&lock);
    while (delivered_fd < 0)
        if (pthread_cond_timedwait(&delivered_cond, &lock, &until) != 0)
            break;
    int fd = delivered_fd;
    delivered_fd = -1;
    pthread_mutex_unlock(&lock);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* --- fixtures ------------------------------------------------------------------------------- */

typedef struct fixture {
    dp_tls_server *tls;
    dp_tls_proxy *proxy;
} fixture;

static void start(fixture *f, int min_version, unsigned handshake_timeout_ms)
{
    dp_tls_options o;
    char err[1024];
    memset(&o, 0, sizeof(o));
    snprintf(o.cert_file, sizeof(o.cert_file), "%s/s.crt", dir);
    snprintf(o.key_file, sizeof(o.key_file), "%s/s.key", dir);
    o.min_version = min_version;
    assert_int_equal(dp_tls_server_create(&o, &f->tls, err, sizeof(err)), DP_OK);
    dp_tls_proxy_options po = {f->tls, 2, handshake_timeout_ms, deliver, NULL};
    assert_int_equal(dp_tls_proxy_start(&po, &f->proxy, err, sizeof(err)), DP_OK);
}

static void stop(fixture *f)
{
    dp_tls_proxy_destroy(f->proxy);
    dp_tls_server_destroy(f->tls);
}

/* Wait, 5 s at most, for the proxy to have no connection open. */
static uint64_t open_after_wait(dp_tls_proxy *p)
{
    uint64_t until = dp_clock_monotonic_ms() + 5000;
    while (dp_tls_proxy_open(p) > 0 && dp_clock_monotonic_ms() < until)
        poll(NULL, 0, 5); /* polling the count with a deadline */
    return dp_tls_proxy_open(p);
}

/* A client connection: the proxy takes one end of a socket pair, the client the other. */
typedef struct client {
    int fd;
    gnutls_session_t s;
    gnutls_certificate_credentials_t creds;
} client;

/* sndbuf: SO_SNDBUF of the proxy's end (what the client's socket can hold), 0: the default. */
static void client_connect_sndbuf(dp_tls_proxy *p, client *c, const char *priorities, int sndbuf)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    if (sndbuf)
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    assert_int_equal(dp_tls_proxy_add(p, sv[0]), 0);
    c->fd = sv[1];
    assert_int_equal(gnutls_certificate_allocate_credentials(&c->creds), 0);
    assert_int_equal(gnutls_init(&c->s, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_priority_set_direct(c->s, priorities, NULL), 0);
    assert_int_equal(gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, c->creds), 0);
    gnutls_datum_t h2 = {(unsigned char *)"h2", 2};
    assert_int_equal(gnutls_alpn_set_protocols(c->s, &h2, 1, 0), 0);
    gnutls_transport_set_int(c->s, c->fd);
}

static void client_connect(dp_tls_proxy *p, client *c, const char *priorities)
{
    client_connect_sndbuf(p, c, priorities, 0);
}

static void client_free(client *c)
{
    gnutls_deinit(c->s);
    gnutls_certificate_free_credentials(c->creds);
    close(c->fd);
}

static int handshake(client *c)
{
    int g;
    do {
        g = gnutls_handshake(c->s);
    } while (g < 0 && !gnutls_error_is_fatal(g));
    return g;
}

/* A client served: its handshake done, the plaintext end delivered (returned). */
static int connect_served(dp_tls_proxy *p, client *c, const char *priorities)
{
    client_connect(p, c, priorities);
    assert_int_equal(handshake(c), 0);
    int core = take_delivered();
    assert_true(core >= 0);
    return core;
}

/* Both ends closed: the proxy lets the connection go. */
static void close_both(dp_tls_proxy *p, client *c, int core)
{
    close(core);
    client_free(c);
    assert_int_equal(open_after_wait(p), 0);
}

/* --- echo: large transfers both ways, ends of stream passed on ------------------------------ */

static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 7 + i / 251) & 0xff);
}

static void *echo_main(void *arg)
{
    int fd = *(int *)arg;
    char buf[10000];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0)
                return NULL;
            off += w;
        }
    }
    close(fd); /* as the core does: it never half-closes */
    return NULL;
}

static void *send_big_main(void *arg)
{
    client *c = arg;
    unsigned char *data = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        data[i] = pattern(i);
    for (size_t off = 0; off < BIG;) {
        ssize_t n = gnutls_record_send(c->s, data + off, BIG - off < 20000 ? BIG - off : 20000);
        if (n < 0 && gnutls_error_is_fatal((int)n))
            break;
        if (n > 0)
            off += (size_t)n;
    }
    gnutls_bye(c->s, GNUTLS_SHUT_WR); /* close_notify: the core's end must see EOF */
    free(data);
    return NULL;
}

static void test_echo_big(void **state)
{
    (void)state;
    fixture f;
    start(&f, DP_TLS_1_2, 5000);
    client c;
    int core = connect_served(f.proxy, &c, "NORMAL");
    gnutls_datum_t alpn;
    assert_int_equal(gnutls_alpn_get_selected_protocol(c.s, &alpn), 0);
    assert_int_equal(alpn.size, 2);
    assert_memory_equal(alpn.data, "h2", 2);
    assert_int_equal(gnutls_protocol_get_version(c.s), GNUTLS_TLS1_3);
    assert_int_equal(dp_tls_proxy_open(f.proxy), 1);

    pthread_t echo, sender;
    assert_int_equal(pthread_create(&echo, NULL, echo_main, &core), 0);
    assert_int_equal(pthread_create(&sender, NULL, send_big_main, &c), 0);
    size_t got = 0, wrong = 0;
    unsigned char buf[30000];
    int last = 0;
    for (;;) {
        ssize_t n = gnutls_record_recv(c.s, buf, sizeof(buf));
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++)
                wrong += buf[i] != pattern(got + (size_t)i);
            got += (size_t)n;
            continue;
        }
        if (n < 0 && !gnutls_error_is_fatal((int)n))
            continue;
        last = (int)n;
        break;
    }
    pthread_join(sender, NULL);
    pthread_join(echo, NULL);
    assert_int_equal(got, BIG);
    assert_int_equal(wrong, 0);
    /* the core's close came as a close_notify, after every byte */
    assert_int_equal(last, 0);
    client_free(&c);
    assert_int_equal(open_after_wait(f.proxy), 0);
    dp_tls_proxy_stats st;
    dp_tls_proxy_get_stats(f.proxy, &st);
    assert_int_equal(st.handshakes_done, 1);
    assert_int_equal(st.handshakes_failed, 0);
    stop(&f);
}

/* The core closes first: what it wrote arrives, then the close_notify, and the connection goes. */
static void test_core_closes_first(void **state)
{
    (void)state;
    fixture f;
    start(&f, DP_TLS_1_2, 5000);
    client c;
    int core = connect_served(f.proxy, &c, "NORMAL");
    assert_int_equal(write(core, "GOAWAY", 6), 6);
    close(core);
    char buf[64];
    size_t got = 0;
    ssize_t n;
    while ((n = gnutls_record_recv(c.s, buf + got, sizeof(buf) - got)) > 0 ||
           (n < 0 && !gnutls_error_is_fatal((int)n)))
        if (n > 0)
            got += (size_t)n;
    assert_int_equal(n, 0);
    assert_int_equal(got, 6);
    assert_memory_equal(buf, "GOAWAY", 6);
    assert_int_equal(open_after_wait(f.proxy), 0);
    client_free(&c);
    stop(&f);
}

/* The core closes while more of what it wrote waits than a client that does not read can take
 * (the proxy's buffer towards the client full, more in the pair): the connection still goes,
 * at the close grace (5 s), instead of being held with its descriptors for good. */
static void test_core_closes_to_slow_reader(void **state)
{
    (void)state;
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
    fixture f;
    start(&f, DP_TLS_1_2, 5000);
    client c;
    /* the smallest send buffer (the kernel's minimum, a few KiB): the client's socket holds
     * little of what is sent to it */
    client_connect_sndbuf(f.proxy, &c, "NORMAL", 1);
    assert_int_equal(handshake(&c), 0);
    int core = take_delivered();
    assert_true(core >= 0);
    /* set up, so that no handshake deadline closes it */
    assert_int_equal(gnutls_record_send(c.s, preface, 33), 33);
    /* the core writes until the pair is full; the client reads nothing */
    int big = 1 << 20;
    setsockopt(core, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    fcntl(core, F_SETFL, fcntl(core, F_GETFL) | O_NONBLOCK);
    static char chunk[65536];
    size_t written = 0;
    for (;;) {
        ssize_t n = write(core, chunk, sizeof(chunk));
        if (n > 0) {
            written += (size_t)n;
            continue;
        }
        assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        break;
    }
    /* the client's socket, the proxy's 64 KiB buffer and a TLS record in flight hold under
     * 128 KiB: at 256 KiB written, some is still in the pair, the buffer towards the client full */
    if (written < 256 * 1024)
        fail_msg("only %zu bytes written before the pair was full", written);
    close(core);
    /* the close grace is 5 s: closed well within 15 s */
    uint64_t until = dp_clock_monotonic_ms() + 15000;
    while (dp_tls_proxy_open(f.proxy) > 0 && dp_clock_monotonic_ms() < until)
        poll(NULL, 0, 20); /* polling the count with a deadline */
    assert_int_equal(dp_tls_proxy_open(f.proxy), 0);
    client_free(&c);
    stop(&f);
}

/* --- refusals ------------------------------------------------------------------------------- */

static void test_min_version(void **state)
{
    (void)state;
    const char *tls12 = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
    fixture f;
    /* min_version 1.2: a TLS 1.2 client is served (so the refusal below is the floor's) */
    start(&f, DP_TLS_1_2, 5000);
    client c;
    int core = connect_served(f.proxy, &c, tls12);
    assert_int_equal(gnutls_protocol_get_version(c.s), GNUTLS_TLS1_2);
    close_both(f.proxy, &c, core);
    stop(&f);

    start(&f, DP_TLS_1_3, 5000);
    client_connect(f.proxy, &c, tls12);
    assert_true(handshake(&c) < 0);
    client_free(&c);
    assert_int_equal(open_after_wait(f.proxy), 0);
    dp_tls_proxy_stats st;
    dp_tls_proxy_get_stats(f.proxy, &st);
    assert_int_equal(st.handshakes_done, 0);
    assert_int_equal(st.handshakes_failed, 1);
    /* a TLS 1.3 client still is */
    core = connect_served(f.proxy, &c, "NORMAL");
    close_both(f.proxy, &c, core);
    stop(&f);
}

/* Clients that stop mid-handshake, or never start: closed at the timeout, not before. */
static void test_handshake_timeout(void **state)
{
    (void)state;
    fixture f;
    start(&f, DP_TLS_1_2, 300);
    int silent[2], partial[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, silent), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, partial), 0);
    fcntl(silent[0], F_SETFL, fcntl(silent[0], F_GETFL) | O_NONBLOCK);
    fcntl(partial[0], F_SETFL, fcntl(partial[0], F_GETFL) | O_NONBLOCK);
    uint64_t started = dp_clock_monotonic_ms();
    assert_int_equal(dp_tls_proxy_add(f.proxy, silent[0]), 0);
    assert_int_equal(dp_tls_proxy_add(f.proxy, partial[0]), 0);
    /* the first 5 bytes of a TLS record header of a ClientHello, and no more */
    assert_int_equal(write(partial[1], "\x16\x03\x01\x02\x00", 5), 5);
    assert_int_equal(dp_tls_proxy_open(f.proxy), 2);
    int fds[2] = {silent[1], partial[1]};
    for (int i = 0; i < 2; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        assert_int_equal(poll(&p, 1, 5000), 1);
        char b;
        assert_int_equal(read(fds[i], &b, 1), 0); /* closed, nothing sent */
        uint64_t took = dp_clock_monotonic_ms() - started;
        if (took < 290 || took > 2000)
            fail_msg("closed after %llu ms, handshake_timeout 300 ms", (unsigned long long)took);
        close(fds[i]);
    }
    assert_int_equal(open_after_wait(f.proxy), 0);
    dp_tls_proxy_stats st;
    dp_tls_proxy_get_stats(f.proxy, &st);
    assert_int_equal(st.handshakes_timeout, 2);
    stop(&f);
}

/* After its TLS handshake a client must send its whole HTTP/2 connection preface (the string
 * and a SETTINGS frame) within the same deadline: one that sends nothing, or stops short of
 * the SETTINGS frame's payload, is closed at it; one that sends it all is not. */
static void test_setup_timeout(void **state)
{
    (void)state;
    /* the string, then a SETTINGS frame of one setting (MAX_CONCURRENT_STREAMS 100) */
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\6\4\0\0\0\0\0"
                                  "\0\3\0\0\0\144";
    fixture f;
    start(&f, DP_TLS_1_2, 300);
    uint64_t started = dp_clock_monotonic_ms();
    client quiet, short_of, talker;
    int quiet_core = connect_served(f.proxy, &quiet, "NORMAL");
    int short_core = connect_served(f.proxy, &short_of, "NORMAL");
    int talker_core = connect_served(f.proxy, &talker, "NORMAL");
    assert_int_equal(gnutls_record_send(short_of.s, preface, 33), 33);
    assert_int_equal(gnutls_record_send(talker.s, preface, 35), 35);
    assert_int_equal(gnutls_record_send(talker.s, preface + 35, 4), 4);
    char got[39];
    size_t n = 0;
    while (n < sizeof(got)) {
        ssize_t r = read(talker_core, got + n, sizeof(got) - n);
        assert_true(r > 0);
        n += (size_t)r;
    }
    assert_memory_equal(got, preface, 39);
    /* the quiet one and the one short of the payload: closed at the deadline (their core ends
     * see EOF after what was sent) */
    int ends[2] = {quiet_core, short_core};
    size_t sent[2] = {0, 33};
    uint64_t took = 0;
    for (int i = 0; i < 2; i++) {
        char b[64];
        size_t in = 0;
        ssize_t r;
        struct pollfd p = {.fd = ends[i], .events = POLLIN};
        while (poll(&p, 1, 5000) == 1 && (r = read(ends[i], b + in, sizeof(b) - in)) > 0)
            in += (size_t)r;
        /* the loop ends at EOF (read 0) or after 5 s without any (poll 0) */
        assert_int_equal(poll(&p, 1, 0), 1);
        assert_int_equal(read(ends[i], b, 1), 0);
        assert_int_equal(in, sent[i]);
        took = dp_clock_monotonic_ms() - started;
        if (took < 290 || took > 2000)
            fail_msg("closed after %llu ms, handshake_timeout 300 ms", (unsigned long long)took);
    }
    /* the other one is open past it: its core end has no EOF 300 ms after the deadline */
    struct pollfd p = {.fd = talker_core, .events = POLLIN};
    assert_int_equal(poll(&p, 1, (int)(took > 600 ? 0 : 600 - took)), 0);
    assert_int_equal(dp_tls_proxy_open(f.proxy), 1);
    close(quiet_core);
    close(short_core);
    client_free(&quiet);
    client_free(&short_of);
    close_both(f.proxy, &talker, talker_core);
    dp_tls_proxy_stats st;
    dp_tls_proxy_get_stats(f.proxy, &st);
    assert_int_equal(st.handshakes_timeout, 2);
    stop(&f);
}

/* Connections still open when the proxy is destroyed are closed with it. */
static void test_destroy_with_open(void **state)
{
    (void)state;
    fixture f;
    start(&f, DP_TLS_1_2, 5000);
    client c;
    int core = connect_served(f.proxy, &c, "NORMAL");
    int waiting[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, waiting), 0);
    assert_int_equal(dp_tls_proxy_add(f.proxy, waiting[0]), 0);
    assert_int_equal(dp_tls_proxy_open(f.proxy), 2);
    stop(&f);
    char b;
    assert_int_equal(read(core, &b, 1), 0);
    assert_int_equal(read(waiting[1], &b, 1), 0);
    close(core);
    close(waiting[1]);
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_big),
        cmocka_unit_test(test_core_closes_first),
        cmocka_unit_test(test_min_version),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_setup_timeout),
        cmocka_unit_test(test_destroy_with_open),
        cmocka_unit_test(test_core_closes_to_slow_reader),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The plaintext connections' wait for the HTTP/2 preface (otlp/preface_wait.h),
 * over socket pairs and an injected clock: the preface arrives in pieces, the
 * client goes away, the deadline passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "preface_wait.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

typedef struct ready_log {
    int fds[8];
    size_t count;
} ready_log;

static void on_ready(void *ctx, int fd)
{
    ready_log *l = ctx;
    assert_true(l->count < 8);
    l->fds[l->count++] = fd;
}

/* A connected pair: [0] the server's end (non-blocking), [1] the client's. */
static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK), 0);
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static void test_preface_in_pieces(void **state)
{
    (void)state;
    assert_int_equal(strlen(preface), DP_HTTP2_PREFACE_LEN);
    dp_preface_wait w;
    assert_int_equal(dp_preface_wait_init(&w, 500), DP_OK);
    ready_log log = {{0}, 0};
    int sv[2];
    pair(sv);
    assert_int_equal(dp_preface_wait_add(&w, sv[0], 1000), DP_OK);
    /* nothing yet, then 10 bytes: still waiting */
    assert_int_equal(dp_preface_wait_run(&w, 1000, on_ready, &log), 0);
    assert_int_equal(write(sv[1], preface, 10), 10);
    assert_int_equal(dp_preface_wait_run(&w, 1100, on_ready, &log), 0);
    assert_int_equal(log.count, 0);
    assert_int_equal(w.count, 1);
    /* the other 14: handed over, its bytes still unread (peeked, not taken) */
    assert_int_equal(write(sv[1], preface + 10, 14), 14);
    assert_int_equal(dp_preface_wait_run(&w, 1200, on_ready, &log), 0);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.fds[0], sv[0]);
    assert_int_equal(w.count, 0);
    assert_int_equal(dp_preface_wait_next_ms(&w, 1200), -1);
    char got[32];
    assert_int_equal(read(sv[0], got, sizeof(got)), 24);
    assert_memory_equal(got, preface, 24);
    /* handed over: no longer the set's, so freeing it leaves it open */
    dp_preface_wait_free(&w);
    assert_true(is_open(sv[0]));
    close(sv[0]);
    close(sv[1]);
}

static void test_client_goes_away(void **state)
{
    (void)state;
    dp_preface_wait w;
    assert_int_equal(dp_preface_wait_init(&w, 500), DP_OK);
    ready_log log = {{0}, 0};
    int sv[2];
    pair(sv);
    assert_int_equal(dp_preface_wait_add(&w, sv[0], 0), DP_OK);
    assert_int_equal(write(sv[1], preface, 5), 5);
    close(sv[1]);
    /* closed by its client: closed here too, not handed over, not counted as a timeout */
    assert_int_equal(dp_preface_wait_run(&w, 10, on_ready, &log), 0);
    assert_int_equal(log.count, 0);
    assert_int_equal(w.count, 0);
    assert_false(is_open(sv[0]));
    dp_preface_wait_free(&w);
}

/* Deadlines: accept time + the timeout, the earliest first; at it (not
 * before) the connection is closed and counted. */
static void test_deadlines(void **state)
{
    (void)state;
    dp_preface_wait w;
    assert_int_equal(dp_preface_wait_init(&w, 500), DP_OK);
    ready_log log = {{0}, 0};
    int a[2], b[2];
    pair(a);
    pair(b);
    assert_int_equal(dp_preface_wait_next_ms(&w, 0), -1);
    assert_int_equal(dp_preface_wait_add(&w, a[0], 1000), DP_OK); /* due at 1500 */
    assert_int_equal(dp_preface_wait_add(&w, b[0], 1200), DP_OK); /* due at 1700 */
    assert_int_equal(dp_preface_wait_next_ms(&w, 1000), 500);
    assert_int_equal(dp_preface_wait_next_ms(&w, 1499), 1);
    assert_int_equal(dp_preface_wait_run(&w, 1499, on_ready, &log), 0);
    assert_int_equal(w.count, 2);
    assert_int_equal(dp_preface_wait_run(&w, 1500, on_ready, &log), 1);
    assert_false(is_open(a[0]));
    assert_true(is_open(b[0]));
    assert_int_equal(dp_preface_wait_next_ms(&w, 1500), 200);
    /* a's client sees its close; b, not yet due, is closed when the set is freed */
    char c;
    assert_int_equal(read(a[1], &c, 1), 0);
    dp_preface_wait_free(&w);
    assert_false(is_open(b[0]));
    assert_int_equal(read(b[1], &c, 1), 0);
    assert_int_equal(log.count, 0);
    close(a[1]);
    close(b[1]);
}

/* More connections than the first allocation (64 slots): all kept, slots reused. */
static void test_many(void **state)
{
    (void)state;
    dp_preface_wait w;
    assert_int_equal(dp_preface_wait_init(&w, 100), DP_OK);
    ready_log log = {{0}, 0};
    enum { N = 100 };
    int sv[N][2];
    for (int i = 0; i < N; i++) {
        pair(sv[i]);
        assert_int_equal(dp_preface_wait_add(&w, sv[i][0], 0), DP_OK);
    }
    assert_int_equal(w.count, N);
    /* one sends its preface; the rest time out together */
    assert_int_equal(write(sv[57][1], preface, 24), 24);
    assert_int_equal(dp_preface_wait_run(&w, 50, on_ready, &log), 0);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.fds[0], sv[57][0]);
    assert_int_equal(dp_preface_wait_run(&w, 100, on_ready, &log), N - 1);
    assert_int_equal(w.count, 0);
    /* the freed slots take new connections */
    int again[2];
    pair(again);
    assert_int_equal(dp_preface_wait_add(&w, again[0], 200), DP_OK);
    assert_int_equal(w.count, 1);
    dp_preface_wait_free(&w);
    for (int i = 0; i < N; i++)
        close(sv[i][1]);
    close(sv[57][0]);
    close(again[1]);
}

static void test_bad_timeout(void **state)
{
    (void)state;
    dp_preface_wait w;
    assert_int_equal(dp_preface_wait_init(&w, 0), DP_EINVAL);
    dp_preface_wait_free(&w); /* safe on a failed init */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preface_in_pieces), cmocka_unit_test(test_client_goes_away),
        cmocka_unit_test(test_deadlines),         cmocka_unit_test(test_many),
        cmocka_unit_test(test_bad_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

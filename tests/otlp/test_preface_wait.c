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
/* frame headers: length (3 bytes), type (4: SETTINGS, 1: HEADERS), flags, stream 0 */
static const char settings_empty[] = "\0\0\0\4\0\0\0\0\0";
static const char settings_6[] = "\0\0\6\4\0\0\0\0\0";
static const char settings_one[] = "\0\3\0\0\0\144"; /* MAX_CONCURRENT_STREAMS 100 */

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
    /* the other 14 of the string, then the SETTINGS frame's header (6 bytes of payload to
     * come), then 5 of them: the core would wait for the rest, so it still waits here */
    assert_int_equal(write(sv[1], preface + 10, 14), 14);
    assert_int_equal(dp_preface_wait_run(&w, 1150, on_ready, &log), 0);
    assert_int_equal(write(sv[1], settings_6, 9), 9);
    assert_int_equal(dp_preface_wait_run(&w, 1160, on_ready, &log), 0);
    assert_int_equal(write(sv[1], settings_one, 5), 5);
    assert_int_equal(dp_preface_wait_run(&w, 1170, on_ready, &log), 0);
    assert_int_equal(log.count, 0);
    assert_int_equal(w.count, 1);
    /* its last byte: handed over, its 39 bytes still unread (peeked, not taken) */
    assert_int_equal(write(sv[1], settings_one + 5, 1), 1);
    assert_int_equal(dp_preface_wait_run(&w, 1200, on_ready, &log), 0);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.fds[0], sv[0]);
    assert_int_equal(w.count, 0);
    assert_int_equal(dp_preface_wait_next_ms(&w, 1200), -1);
    char got[64];
    assert_int_equal(read(sv[0], got, sizeof(got)), 24 + 9 + 6);
    assert_memory_equal(got, preface, 24);
    assert_memory_equal(got + 24, settings_6, 9);
    assert_memory_equal(got + 33, settings_one, 6);
    /* handed over: no longer the set's, so freeing it leaves it open */
    dp_preface_wait_free(&w);
    assert_true(is_open(sv[0]));
    close(sv[0]);
    close(sv[1]);
}

/* A connection kept in w from time 0, whose client has sent the preface's string and then
 * frame_header (9 bytes) unless NULL. */
static void kept_after(dp_preface_wait *w, int sv[2], const char *frame_header)
{
    pair(sv);
    assert_int_equal(dp_preface_wait_add(w, sv[0], 0), DP_OK);
    assert_int_equal(write(sv[1], preface, 24), 24);
    if (frame_header)
        assert_int_equal(write(sv[1], frame_header, 9), 9);
}

/* The string of the preface alone, or with a SETTINGS header short of its payload: closed at
 * the deadline and counted, as a client that sends nothing. */
static void test_short_of_settings(void **state)
{
    (void)state;
    dp_preface_wait w;
    assert_int_equal(dp_preface_wait_init(&w, 500), DP_OK);
    ready_log log = {{0}, 0};
    int a[2], b[2];
    kept_after(&w, a, NULL);
    kept_after(&w, b, settings_6);
    assert_int_equal(dp_preface_wait_run(&w, 499, on_ready, &log), 0);
    assert_int_equal(log.count, 0);
    assert_int_equal(dp_preface_wait_run(&w, 500, on_ready, &log), 2);
    assert_int_equal(log.count, 0);
    assert_false(is_open(a[0]));
    assert_false(is_open(b[0]));
    dp_preface_wait_free(&w);
    close(a[1]);
    close(b[1]);
}

/* A first frame that is not SETTINGS, or a SETTINGS frame longer than HTTP/2's initial frame
 * size: handed over once its header is in (the core refuses it at once). */
static void test_first_frame_refused_by_core(void **state)
{
    (void)state;
    dp_preface_wait w;
    assert_int_equal(dp_preface_wait_init(&w, 500), DP_OK);
    ready_log log = {{0}, 0};
    int a[2], b[2];
    kept_after(&w, a, "\0\0\6\1\4\0\0\0\1");   /* HEADERS of 6 bytes */
    kept_after(&w, b, "\0\100\1\4\0\0\0\0\0"); /* SETTINGS of 16385 */
    assert_int_equal(dp_preface_wait_run(&w, 10, on_ready, &log), 0);
    assert_int_equal(log.count, 2);
    assert_int_equal(w.count, 0);
    dp_preface_wait_free(&w);
    for (int i = 0; i < 2; i++)
        close(log.fds[i]);
    close(a[1]);
    close(b[1]);
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
    assert_int_equal(write(sv[57][1], settings_empty, 9), 9);
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
        cmocka_unit_test(test_preface_in_pieces),
        cmocka_unit_test(test_client_goes_away),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_bad_timeout),
        cmocka_unit_test(test_short_of_settings),
        cmocka_unit_test(test_first_frame_refused_by_core),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

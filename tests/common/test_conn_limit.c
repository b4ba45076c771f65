/* The open-file limit, server.max_connections' automatic value and the table of open connections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_limit.h"

/* (soft - 128) / 2, at least 16, at most 2^20 */
static void test_auto_formula(void **state)
{
    (void)state;
    assert_int_equal(dp_max_connections_auto(1024), 448);       /* 896 / 2 */
    assert_int_equal(dp_max_connections_auto(65536), 32704);    /* 65408 / 2 */
    assert_int_equal(dp_max_connections_auto(1048576), 524224); /* 1048448 / 2 */
    assert_int_equal(dp_max_connections_auto(200), 36);         /* 72 / 2 */
    assert_int_equal(dp_max_connections_auto(1025), 448);       /* 897 / 2, rounded down */
    /* at the floor: 128 + 2 x 16 = 160 and below, also under the reserve itself */
    assert_int_equal(dp_max_connections_auto(161), 16);
    assert_int_equal(dp_max_connections_auto(160), 16);
    assert_int_equal(dp_max_connections_auto(162), 17);
    assert_int_equal(dp_max_connections_auto(64), 16);
    assert_int_equal(dp_max_connections_auto(0), 16);
    /* at the ceiling: 128 + 2 x 2^20 = 2097280 */
    assert_int_equal(dp_max_connections_auto(2097280), 1048576);
    assert_int_equal(dp_max_connections_auto(2097278), 1048575);
    assert_int_equal(dp_max_connections_auto(1ull << 40), 1048576);
    assert_int_equal(dp_max_connections_auto(UINT64_MAX), 1048576);
}

/* The soft limit lowered, then raised to the hard one; a second call changes nothing. */
static void test_raise(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max <= 128) {
        skip();
        return;
    }
    struct rlimit low = {128, rl.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    uint64_t before = 0, after = 0;
    assert_int_equal(dp_fd_limit_raise(&before, &after), 0);
    assert_int_equal(before, 128);
    assert_int_equal(after, (uint64_t)rl.rlim_max);
    assert_int_equal(dp_fd_limit_soft(), (uint64_t)rl.rlim_max);
    struct rlimit now;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
    assert_int_equal(now.rlim_cur, rl.rlim_max);
    assert_int_equal(now.rlim_max, rl.rlim_max);
    assert_int_equal(dp_fd_limit_raise(&before, &after), 0);
    assert_int_equal(before, (uint64_t)rl.rlim_max);
    assert_int_equal(after, (uint64_t)rl.rlim_max);
}

static int a_socket(void)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    return sv[0];
}

static void test_table(void **state)
{
    (void)state;
    dp_conn_table t;
    dp_conn_table_init(&t);
    int a = a_socket(), b = a_socket(), c = a_socket();
    assert_int_equal(dp_conn_table_track(&t, a), 0);
    assert_int_equal(dp_conn_table_track(&t, b), 0);
    assert_int_equal(dp_conn_table_track(&t, c), 0);
    assert_int_equal(t.count, 3);
    assert_int_equal(dp_conn_table_sweep(&t), 3); /* all still open */

    /* closed: counted until the next sweep */
    close(a);
    assert_int_equal(t.count, 3);
    assert_int_equal(dp_conn_table_sweep(&t), 2);
    assert_int_equal(t.count, 2);

    /* b's number reused by another socket, c's by a file: neither is counted */
    int other = a_socket();
    assert_int_equal(dup2(other, b), b);
    int null = open("/dev/null", O_RDONLY);
    assert_true(null >= 0);
    assert_int_equal(dup2(null, c), c);
    assert_int_equal(dp_conn_table_sweep(&t), 0);

    /* a new connection on a number with a stale entry replaces it: one, not two */
    assert_int_equal(dp_conn_table_track(&t, b), 0);
    assert_int_equal(t.count, 1);
    int fresh = a_socket();
    assert_int_equal(dup2(fresh, b), b); /* b closed, a new connection on its number */
    close(fresh);
    assert_int_equal(dp_conn_table_track(&t, b), 0);
    assert_int_equal(t.count, 1);
    assert_int_equal(dp_conn_table_sweep(&t), 1);

    /* not a socket: not tracked */
    assert_int_equal(dp_conn_table_track(&t, null), -1);
    assert_int_equal(dp_conn_table_track(&t, -1), -1);
    assert_int_equal(t.count, 1);

    /* a high number grows the table */
    int high = dup2(other, 700);
    assert_int_equal(high, 700);
    assert_int_equal(dp_conn_table_track(&t, high), 0);
    assert_true(t.cap > 700);
    assert_int_equal(dp_conn_table_sweep(&t), 2);
    close(high);
    assert_int_equal(dp_conn_table_sweep(&t), 1);

    close(b);
    close(c);
    close(other);
    close(null);
    assert_int_equal(dp_conn_table_sweep(&t), 0);
    dp_conn_table_free(&t);
    assert_null(t.ino);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_formula),
        cmocka_unit_test(test_raise),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

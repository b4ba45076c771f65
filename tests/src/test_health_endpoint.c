/*
 * The HTTP health endpoint, asked over a plain loopback socket: 503 while
 * starting, 200 once ready, 503 again while draining; / and /health only,
 * GET and HEAD only. Status lines are those of HTTP/1.1 (RFC 9110).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "health_endpoint.h"
#include "http_ask.h"

static void test_states_and_routes(void **state)
{
    (void)state;
    dp_health_endpoint *h = NULL;
    char err[256], answer[2048];
    assert_int_equal(dp_health_endpoint_start("127.0.0.1:0", &h, err, sizeof(err)), DP_OK);
    int port = dp_health_endpoint_port(h);
    assert_true(port > 0);

    ask(port, "GET", "/health", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 503 "));
    assert_non_null(strstr(answer, "\"status\":\"Server not available\""));

    dp_health_endpoint_set(h, DP_HEALTH_READY);
    ask(port, "GET", "/health", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 200 "));
    assert_non_null(strstr(answer, "\"status\":\"Server available\""));
    assert_non_null(strstr(answer, "\"upSince\":\""));
    ask(port, "GET", "/", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 200 "));
    ask(port, "HEAD", "/", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 200 "));
    assert_null(strstr(answer, "Server available")); /* HEAD: no body */
    ask(port, "POST", "/health", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 405 "));
    assert_non_null(strstr(answer, "Allow: GET, HEAD"));
    ask(port, "GET", "/metrics", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 404 "));

    dp_health_endpoint_set(h, DP_HEALTH_DRAINING);
    ask(port, "GET", "/health", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 503 "));
    dp_health_endpoint_destroy(h);
}

static void test_bad_addresses(void **state)
{
    (void)state;
    dp_health_endpoint *h = NULL, *second = NULL;
    char err[256];
    assert_int_equal(dp_health_endpoint_start("13133", &h, err, sizeof(err)), DP_EINVAL);
    assert_non_null(strstr(err, "not HOST:PORT"));
    assert_null(h);
    /* a port already taken */
    assert_int_equal(dp_health_endpoint_start("127.0.0.1:0", &h, err, sizeof(err)), DP_OK);
    char taken[64];
    snprintf(taken, sizeof(taken), "127.0.0.1:%d", dp_health_endpoint_port(h));
    assert_int_equal(dp_health_endpoint_start(taken, &second, err, sizeof(err)), DP_EBIND);
    assert_non_null(strstr(err, "cannot listen"));
    assert_null(second);
    dp_health_endpoint_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states_and_routes),
        cmocka_unit_test(test_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

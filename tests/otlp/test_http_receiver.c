/*
 * The OTLP/HTTP receiver in-process: a real server on a free loopback port
 * and a plain TCP socket as the client, writing HTTP/1.1 by hand. Checks
 * the settings it refuses, a bind conflict, and that two requests on one
 * keep-alive connection are answered and their spans are in the table once
 * the receiver has shut down. (Every answer of the specification, with
 * curl, python3-protobuf and the JS SDK: tests/e2e/test_http_receiver.py.)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_receiver.h"
#include "ingest.h"
#include "trace_table.h"

/*
 * ExportTraceServiceRequest with one span: trace id 16 x 0x33, span id
 * 8 x 0x44, name "a", start 1000, end 2000 (see tests/otlp/test_ingest.c for
 * the layout): 6 bytes of envelopes around a 49-byte span.
 */
static const uint8_t one_span[] = {
    0x0a, 0x35, 0x12, 0x33, 0x12, 0x31,                               /* envelopes */
    0x0a, 0x10, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, /* trace_id */
    0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,                         /* */
    0x12, 0x08, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44, 0x44,       /* span_id */
    0x2a, 0x01, 'a',                                                  /* name */
    0x39, 0xe8, 0x03, 0,    0,    0,    0,    0,    0,                /* start 1000 */
    0x41, 0xd0, 0x07, 0,    0,    0,    0,    0,    0,                /* end 2000 */
};

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Post body on fd and read one whole answer (headers and Content-Length body); its status. */
static int post(int fd, const char *path, const void *body, size_t len, char *answer, size_t cap)
{
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-protobuf\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      path, len);
    assert_int_equal(write(fd, head, (size_t)hl), hl);
    assert_int_equal(write(fd, body, len), (ssize_t)len);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, answer + got, cap - 1 - got);
        assert_true(r > 0);
        got += (size_t)r;
        answer[got] = '\0';
        char *end = strstr(answer, "\r\n\r\n");
        const char *cl = strstr(answer, "Content-Length: ");
        if (end && cl && got >= (size_t)(end + 4 - answer) + strtoul(cl + 16, NULL, 10))
            break;
    }
    int status = 0;
    assert_int_equal(sscanf(answer, "HTTP/1.1 %d", &status), 1);
    return status;
}

static void refused_settings_and_bind_conflict(void **state)
{
    dp_trace_table *t = dp_trace_table_create(NULL);
    dp_ingest_options io = {t, NULL, NULL, NULL};
    dp_ingest *in = dp_ingest_create(&io);
    dp_http_receiver *r = NULL, *second = NULL;
    char err[256] = "";
    dp_http_receiver_options o = {"127.0.0.1:0", 1, 0, 0, in};
    assert_int_equal(dp_http_receiver_start(&o, &r, err, sizeof(err)), DP_EINVAL); /* size 0 */
    assert_null(r);
    o.max_recv_message_bytes = 1024;
    o.ingest = NULL;
    assert_int_equal(dp_http_receiver_start(&o, &r, err, sizeof(err)), DP_EINVAL);
    o.ingest = in;
    o.listen = "127.0.0.1";
    assert_int_equal(dp_http_receiver_start(&o, &r, err, sizeof(err)), DP_EINVAL);
    assert_non_null(strstr(err, "is not HOST:PORT"));

    o.listen = "127.0.0.1:0";
    assert_int_equal(dp_http_receiver_start(&o, &r, err, sizeof(err)), DP_OK);
    assert_true(dp_http_receiver_port(r) > 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", dp_http_receiver_port(r));
    o.listen = addr;
    assert_int_equal(dp_http_receiver_start(&o, &second, err, sizeof(err)), DP_EBIND);
    assert_null(second);
    assert_non_null(strstr(err, addr));
    dp_http_receiver_destroy(r);
    dp_ingest_destroy(in);
    dp_trace_table_destroy(t);
}

static void keep_alive_and_shutdown(void **state)
{
    dp_trace_table *t = dp_trace_table_create(NULL);
    dp_ingest_options io = {t, NULL, NULL, NULL};
    dp_ingest *in = dp_ingest_create(&io);
    dp_http_receiver *r = NULL;
    char err[256], answer[4096];
    dp_http_receiver_options o = {"127.0.0.1:0", 2, 64 * 1024, 0, in};
    assert_int_equal(dp_http_receiver_start(&o, &r, err, sizeof(err)), DP_OK);

    int fd = connect_to(dp_http_receiver_port(r));
    assert_int_equal(post(fd, "/v1/traces", one_span, sizeof(one_span), answer, sizeof(answer)),
                     200);
    assert_non_null(strstr(answer, "Content-Type: application/x-protobuf"));
    assert_non_null(strstr(answer, "Content-Length: 0\r\n")); /* full success: empty */
    /* the same connection again: a path that does not exist, then the span again */
    assert_int_equal(post(fd, "/v1/nope", "x", 1, answer, sizeof(answer)), 404);
    assert_int_equal(post(fd, "/v1/traces", one_span, sizeof(one_span), answer, sizeof(answer)),
                     200);
    close(fd);
    dp_http_receiver_shutdown(r);

    dp_ingest_stats st;
    dp_ingest_get_stats(in, &st);
    assert_int_equal(st.spans_accepted, 2);
    dp_trace_table_stats ts;
    dp_trace_table_get_stats(t, &ts);
    assert_int_equal(ts.spans_inserted, 2); /* both requests, each stored whole */
    dp_http_receiver_stats hs;
    dp_http_receiver_get_stats(r, &hs);
    assert_int_equal(hs.ok, 2);
    assert_int_equal(hs.not_found, 1);
    dp_http_receiver_destroy(r);
    dp_ingest_destroy(in);
    dp_trace_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refused_settings_and_bind_conflict),
        cmocka_unit_test(keep_alive_and_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The OTLP/HTTP receiver in-process: a real server on a free loopback port
 * and a plain TCP socket as the client, writing HTTP/1.1 by hand. Checks
 * the settings it refuses, a bind conflict, and that two requests on one
 * keep-alive connection are answered and their spans are in the table once
 * the receiver has shut down, and max_connections. (Every answer of the specification, with
 * curl, python3-protobuf and the JS SDK: tests/e2e/test_http_receiver.py.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

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

/* Post body on fd with extra header lines (each ending in \r\n) and read one whole answer
 * (headers and Content-Length body); its status. */
static int post_with(int fd, const char *path, const char *extra, const void *body, size_t len,
                     char *answer, size_t cap)
{
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-protobuf\r\n"
                      "%sContent-Length: %zu\r\n\r\n",
                      path, extra, len);
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

static int post(int fd, const char *path, const void *body, size_t len, char *answer, size_t cap)
{
    return post_with(fd, path, "", body, len, answer, cap);
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

/*
 * A gzip body cut short that inflates past the 64 KiB limit (found by the
 * otlp_http_body fuzz target): a deflate stream of zeros whose input runs
 * out in the middle of its data.
 */
static const uint8_t cut_gzip_over_64k[] = {0x1f,        0x8b, 0x08, 0x00, 0x00, 0x00, 0x00,
                                            0x00,        0x02, 0x03, 0xed, 0xc1, 0x31, 0x01,
                                            0x00,        0x00, 0x00, 0xc2, 0xa0, 0xf5, 0x4f,
                                            0x6d,        0x06, 0x7f, 0xa0, /* then zeros up to */
                                            [86] = 0xa4, 0x7b, 0x22, 0x00};

/* How many bytes zlib inflates from a gzip stream, up to cap + 1. */
static size_t inflated_size(const uint8_t *in, size_t len, size_t cap)
{
    uint8_t *out = malloc(cap + 1);
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)(cap + 1);
    int zr;
    while ((zr = inflate(&z, Z_NO_FLUSH)) == Z_OK && z.avail_out > 0 && z.avail_in > 0)
        ;
    size_t got = cap + 1 - z.avail_out;
    inflateEnd(&z);
    free(out);
    return got;
}

/* The status of the cut gzip body posted to a new receiver with a 64 KiB
 * limit, after a plain body of `earlier` bytes on the same connection (none
 * for 0): one connection, so both requests take the same pooled context. */
static int cut_gzip_status(size_t earlier, char *answer, size_t cap)
{
    dp_trace_table *t = dp_trace_table_create(NULL);
    dp_ingest_options io = {t, NULL, NULL, NULL};
    dp_ingest *in = dp_ingest_create(&io);
    dp_http_receiver *r = NULL;
    char err[256];
    dp_http_receiver_options o = {"127.0.0.1:0", 1, 64 * 1024, 0, in};
    assert_int_equal(dp_http_receiver_start(&o, &r, err, sizeof(err)), DP_OK);
    int fd = connect_to(dp_http_receiver_port(r));
    if (earlier) { /* not OTLP: 400 */
        uint8_t *junk = malloc(earlier);
        memset(junk, 0xff, earlier);
        assert_int_equal(post(fd, "/v1/traces", junk, earlier, answer, cap), 400);
        free(junk);
    }
    int status = post_with(fd, "/v1/traces", "Content-Encoding: gzip\r\n", cut_gzip_over_64k,
                           sizeof(cut_gzip_over_64k), answer, cap);
    close(fd);
    dp_http_receiver_destroy(r);
    dp_ingest_destroy(in);
    dp_trace_table_destroy(t);
    return status;
}

/* A gzip body is judged on what it inflates to, whatever the body buffer a
 * pooled request context kept from an earlier request: over the limit is
 * 413 even when the input runs out just as that buffer fills up. */
static void gzip_over_limit_whatever_the_pooled_buffer(void **state)
{
    const size_t limit = 64 * 1024;
    char answer[4096];
    assert_true(inflated_size(cut_gzip_over_64k, sizeof(cut_gzip_over_64k), limit) > limit);
    /* a fresh context: its buffer grows as the body inflates */
    assert_int_equal(cut_gzip_status(0, answer, sizeof(answer)), 413);
    assert_non_null(strstr(answer, "more than the limit"));
    /* 40,000 bytes before leave the buffer at 64 KiB, exactly the limit: the
     * body's input is used up as inflating fills it */
    assert_int_equal(cut_gzip_status(40000, answer, sizeof(answer)), 413);
    assert_non_null(strstr(answer, "more than the limit"));
}

/* True when the server closes fd (end of file or reset) within 5 s without sending anything. */
static bool closed_by_server(int fd)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char c;
    ssize_t n = read(fd, &c, 1);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* The receiver's count of open connections once it is `want`, or after 5 s. */
static uint64_t open_connections_after(dp_http_receiver *r, uint64_t want)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    dp_http_receiver_stats st;
    dp_http_receiver_get_stats(r, &st);
    for (int i = 0; i < 500 && st.connections_open != want; i++) {
        nanosleep(&pause, NULL); /* polling a condition, at most 5 s */
        dp_http_receiver_get_stats(r, &st);
    }
    return st.connections_open;
}

/* max_connections 2: two keep-alive connections are served, a third is closed at
 * once and counted; once one of the two closes, a new connection is served. */
static void max_connections(void **state)
{
    dp_ingest_options io = {dp_trace_table_create(NULL), NULL, NULL, NULL};
    dp_ingest *in = dp_ingest_create(&io);
    char err[256], answer[4096];
    dp_http_receiver *r = NULL;
    dp_http_receiver_options o = {.listen = "127.0.0.1:0",
                                  .threads = 2,
                                  .max_recv_message_bytes = 64 * 1024,
                                  .ingest = in,
                                  .max_connections = 2};
    assert_int_equal(dp_http_receiver_start(&o, &r, err, sizeof(err)), DP_OK);
    int port = dp_http_receiver_port(r);
    int a = connect_to(port), b = connect_to(port);
    assert_int_equal(post(a, "/v1/traces", one_span, sizeof(one_span), answer, sizeof(answer)),
                     200);
    assert_int_equal(post(b, "/v1/traces", one_span, sizeof(one_span), answer, sizeof(answer)),
                     200);
    dp_http_receiver_stats st;
    dp_http_receiver_get_stats(r, &st);
    assert_int_equal(st.connections_open, 2);
    assert_int_equal(st.connections_refused_max_connections, 0);

    int c = connect_to(port);
    assert_true(closed_by_server(c));
    close(c);
    dp_http_receiver_get_stats(r, &st);
    assert_int_equal(st.connections_refused_max_connections, 1);
    assert_int_equal(st.connections_open, 2);

    /* a closes: its place is free once the receiver has seen it close */
    close(a);
    assert_int_equal(open_connections_after(r, 1), 1);
    c = connect_to(port);
    assert_int_equal(post(c, "/v1/traces", one_span, sizeof(one_span), answer, sizeof(answer)),
                     200);
    close(b);
    close(c);
    assert_int_equal(open_connections_after(r, 0), 0);
    dp_http_receiver_get_stats(r, &st);
    assert_int_equal(st.connections_refused_max_connections, 1);
    dp_http_receiver_destroy(r);
    dp_ingest_destroy(in);
    dp_trace_table_destroy(io.table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refused_settings_and_bind_conflict),
        cmocka_unit_test(keep_alive_and_shutdown),
        cmocka_unit_test(max_connections),
        cmocka_unit_test(gzip_over_limit_whatever_the_pooled_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests of otlp/receiver_tls.c: the certificate, key and client CA files
 * are checked at start with messages that name the key and the file, a
 * reload puts new files in place and a bad one keeps what is in use, and
 * the transports' adapters are made. The certificates are made here with
 * the openssl CLI; their serials are chosen here (1111 = 0x0457, 2222 =
 * 0x08AE), so the summaries' expected text is worked out by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "receiver_tls.h"

static char dir[64];

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static const char *file(const char *name)
{
    static char paths[8][160];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
    return p;
}

/* A CA and, signed by it, a server certificate `name` with CN and serial. */
static void make_certificate(const char *ca, const char *name, const char *cn, int serial)
{
    run("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
        "%s.key -out %s.csr -subj /CN=%s 2>/dev/null && openssl x509 -req -in %s.csr -CA %s.crt "
        "-CAkey %s.key -set_serial %d -days 1 -out %s.crt 2>/dev/null",
        dir, name, name, cn, name, ca, ca, serial, name);
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/dp_test_tls_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    for (int i = 1; i <= 2; i++)
        run("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-keyout ca%d.key -out ca%d.crt -subj /CN=ca-%d -days 1 2>/dev/null",
            dir, i, i, i);
    make_certificate("ca1", "a", "unit-1", 1111);
    make_certificate("ca2", "b", "unit-2", 2222);
    run("cd %s && cat ca1.crt ca2.crt > both-cas.crt && openssl pkey -in a.key -aes256 "
        "-passout pass:x -out encrypted.key && mkdir subdir",
        dir);
    return 0;
}

static int teardown(void **state)
{
    run("rm -rf %s", dir);
    return 0;
}

static dp_tls_options options(const char *cert, const char *key, const char *ca)
{
    dp_tls_options o;
    memset(&o, 0, sizeof(o));
    snprintf(o.cert_file, sizeof(o.cert_file), "%s", cert ? file(cert) : "");
    snprintf(o.key_file, sizeof(o.key_file), "%s", key ? file(key) : "");
    snprintf(o.client_ca_file, sizeof(o.client_ca_file), "%s", ca ? file(ca) : "");
    return o;
}

static void assert_starts_with(const char *text, const char *prefix)
{
    if (strncmp(text, prefix, strlen(prefix)) != 0)
        fail_msg("'%s' does not start with '%s'", text, prefix);
}

static void assert_ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    if (n < m || strcmp(text + n - m, suffix) != 0)
        fail_msg("'%s' does not end with '%s'", text, suffix);
}

/* dp_tls_server_create() of `o` fails with a message starting with `want`. */
static void expect_error(const dp_tls_options *o, const char *want)
{
    char err[2048];
    dp_tls_server *t = (dp_tls_server *)1;
    assert_int_equal(dp_tls_server_create(o, &t, err, sizeof(err)), DP_EINVAL);
    assert_null(t);
    assert_starts_with(err, want);
}

static void test_good_files(void **state)
{
    char err[1024], summary[2600], want[512];
    dp_tls_server *t = NULL;
    dp_tls_options o = options("a.crt", "a.key", NULL);
    assert_true(dp_tls_options_enabled(&o));
    assert_int_equal(dp_tls_server_create(&o, &t, err, sizeof(err)), DP_OK);
    dp_tls_server_summary(t, summary, sizeof(summary));
    assert_starts_with(summary, "certificate CN=unit-1, serial 0457, valid until 20");
    snprintf(want, sizeof(want), "Z from %s; no client certificates", file("a.crt"));
    assert_ends_with(summary, want);
    assert_string_equal(dp_tls_server_options(t)->cert_file, file("a.crt"));
    dp_tls_server_destroy(t);

    o = options("a.crt", "a.key", "both-cas.crt");
    assert_int_equal(dp_tls_server_create(&o, &t, err, sizeof(err)), DP_OK);
    dp_tls_server_summary(t, summary, sizeof(summary));
    snprintf(want, sizeof(want), "; client certificates required (2 CA certificates from %s)",
             file("both-cas.crt"));
    assert_ends_with(summary, want);
    dp_tls_server_destroy(t);
}

static void test_bad_files(void **state)
{
    char want[1024];
    dp_tls_options o = options("a.crt", NULL, NULL);
    expect_error(&o, "server.tls.cert_file and server.tls.key_file are both needed for TLS");
    o = options(NULL, NULL, "ca1.crt");
    expect_error(&o, "server.tls.cert_file and server.tls.key_file are both needed for TLS "
                     "(server.tls.client_ca_file alone is not enough)");

    o = options("missing.crt", "a.key", NULL);
    snprintf(want, sizeof(want), "server.tls.cert_file: %s: No such file or directory",
             file("missing.crt"));
    expect_error(&o, want);
    o = options("subdir", "a.key", NULL);
    snprintf(want, sizeof(want), "server.tls.cert_file: %s: not a regular file", file("subdir"));
    expect_error(&o, want);
    o = options("a.key", "a.key", NULL);
    snprintf(want, sizeof(want), "server.tls.cert_file: %s: not a PEM certificate (",
             file("a.key"));
    expect_error(&o, want);

    o = options("a.crt", "b.key", NULL);
    snprintf(want, sizeof(want), "server.tls.key_file: %s is not the key of the certificate in %s",
             file("b.key"), file("a.crt"));
    expect_error(&o, want);
    o = options("a.crt", "a.crt", NULL);
    snprintf(want, sizeof(want), "server.tls.key_file: %s: not an unencrypted PEM private key (",
             file("a.crt"));
    expect_error(&o, want);
    o = options("a.crt", "encrypted.key", NULL);
    snprintf(want, sizeof(want), "server.tls.key_file: %s: not an unencrypted PEM private key (",
             file("encrypted.key"));
    expect_error(&o, want);

    o = options("a.crt", "a.key", "a.key");
    snprintf(want, sizeof(want), "server.tls.client_ca_file: %s: not a PEM certificate (",
             file("a.key"));
    expect_error(&o, want);
    o = options("a.crt", "a.key", "missing-ca.crt");
    snprintf(want, sizeof(want), "server.tls.client_ca_file: %s: No such file or directory",
             file("missing-ca.crt"));
    expect_error(&o, want);
}

static void test_reload(void **state)
{
    char err[1024], summary[2600];
    dp_tls_server *t = NULL;
    run("cd %s && cp a.crt live.crt && cp a.key live.key", dir);
    dp_tls_options o = options("live.crt", "live.key", NULL);
    assert_int_equal(dp_tls_server_create(&o, &t, err, sizeof(err)), DP_OK);

    run("cd %s && cp b.crt live.crt && cp b.key live.key", dir);
    assert_int_equal(dp_tls_server_reload(t, summary, sizeof(summary), err, sizeof(err)), DP_OK);
    assert_starts_with(summary, "certificate CN=unit-2, serial 08AE, valid until ");

    /* the new certificate with the old key: refused, unit-2 stays in use */
    run("cd %s && cp a.key live.key", dir);
    assert_int_equal(dp_tls_server_reload(t, summary, sizeof(summary), err, sizeof(err)),
                     DP_EINVAL);
    char want[1024];
    snprintf(want, sizeof(want), "server.tls.key_file: %s is not the key of the certificate in %s",
             file("live.key"), file("live.crt"));
    assert_string_equal(err, want);
    dp_tls_server_summary(t, summary, sizeof(summary));
    assert_starts_with(summary, "certificate CN=unit-2, serial 08AE, valid until ");
    dp_tls_server_destroy(t);
}

static void test_adapters(void **state)
{
    char err[1024];
    dp_tls_server *t = NULL;
    dp_tls_options o = options("a.crt", "a.key", "ca1.crt");
    assert_int_equal(dp_tls_server_create(&o, &t, err, sizeof(err)), DP_OK);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    gnutls_session_t s = NULL;
    assert_int_equal(dp_tls_server_session_new(t, sv[0], &s), 0);
    assert_ptr_equal(gnutls_session_get_ptr(s), t);
    assert_int_equal(gnutls_transport_get_int(s), sv[0]);
    gnutls_deinit(s);
    close(sv[0]);
    close(sv[1]);

    struct MHD_OptionItem items[4];
    assert_int_equal(dp_tls_server_mhd_options(t, items, 2), -1);
    assert_int_equal(dp_tls_server_mhd_options(t, items, 4), 3);
    assert_int_equal(items[0].option, MHD_OPTION_HTTPS_CERT_CALLBACK2);
    assert_non_null(items[0].ptr_value);
    assert_int_equal(items[1].option, MHD_OPTION_HTTPS_PRIORITIES);
    /* min_version 1.2 (the default): TLS 1.3 and 1.2, nothing older */
    assert_string_equal(items[1].ptr_value, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
    assert_int_equal(items[2].option, MHD_OPTION_END);
    dp_tls_server_destroy(t);

    o.min_version = DP_TLS_1_3;
    assert_int_equal(dp_tls_server_create(&o, &t, err, sizeof(err)), DP_OK);
    assert_int_equal(dp_tls_server_mhd_options(t, items, 4), 3);
    assert_string_equal(items[1].ptr_value, "NORMAL:-VERS-ALL:+VERS-TLS1.3");
    dp_tls_server_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_files),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_adapters),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

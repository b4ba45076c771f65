/*
 * Tests of the server section (otlp/receiver_config.c): its defaults land
 * in dp_receiver_options with the values worked out by hand, listen
 * addresses are checked where they are set, and the receiver refuses
 * settings the section's ranges exclude instead of picking values itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "receiver.h"

static int set(dp_receiver_options *o, const char *key, const char *value, char *err, size_t errlen)
{
    const dp_config_key *k = dp_config_key_find(&dp_receiver_section, key, strlen(key));
    assert_non_null(k);
    return dp_config_key_set(o, &dp_receiver_section, k, value, strlen(value), err, errlen);
}

static void test_defaults(void **state)
{
    dp_receiver_options o;
    memset(&o, 0x5a, sizeof(o));
    dp_receiver_options_defaults(&o);
    assert_string_equal(o.listen, "127.0.0.1:4317");
    assert_string_equal(o.http_listen, "127.0.0.1:4318");         /* OTLP/HTTP's port */
    assert_int_equal(o.workers, 0);                               /* one per core */
    assert_int_equal(o.max_recv_message_bytes, 16 * 1024 * 1024); /* 16MiB */
    assert_int_equal(o.max_concurrent_calls, 256);
    /* plaintext and no tokens unless files are named; TLS 1.2 and up */
    assert_string_equal(o.tls.cert_file, "");
    assert_string_equal(o.tls.key_file, "");
    assert_string_equal(o.tls.client_ca_file, "");
    assert_int_equal(o.tls.min_version, DP_TLS_1_2);
    assert_false(dp_tls_options_enabled(&o.tls));
    assert_string_equal(o.auth.bearer_tokens_file, "");
    assert_string_equal(o.auth.header, "");
    assert_string_equal(o.auth.header_values_file, "");
    assert_false(dp_auth_options_enabled(&o.auth));
    assert_null(o.ingest);
    assert_null(o.tls_server);
    assert_null(o.authenticator);
}

/* auth.header: a name both a gRPC metadata key and an HTTP field can carry */
static void test_auth_header_names(void **state)
{
    dp_receiver_options o;
    char err[256];
    dp_receiver_options_defaults(&o);
    assert_int_equal(set(&o, "auth.header", "X-Api-Key", err, sizeof(err)), 0);
    assert_string_equal(o.auth.header, "X-Api-Key");
    assert_int_equal(set(&o, "auth.header", "x_token.v2", err, sizeof(err)), 0);
    const char *bad[] = {"x api key", "x-api-key:", "grpc-timeout", "X-Key-Bin", "k\xc3\xa9y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(set(&o, "auth.header", bad[i], err, sizeof(err)), -1);
    assert_string_equal(err, "server.auth.header: 'k\xc3\xa9y' is not a header name both "
                             "receivers can read (letters, digits, '-', '_' and '.'; not grpc-*, "
                             "not *-bin)");
    assert_string_equal(o.auth.header, "x_token.v2"); /* the last good value stays */
    assert_int_equal(set(&o, "auth.header", "", err, sizeof(err)), 0);
}

static void test_listen_addresses(void **state)
{
    dp_receiver_options o;
    char err[256];
    dp_receiver_options_defaults(&o);
    assert_int_equal(set(&o, "listen", "[::1]:0", err, sizeof(err)), 0);
    assert_string_equal(o.listen, "[::1]:0");
    assert_int_equal(set(&o, "listen", "localhost:4317", err, sizeof(err)), 0);
    assert_int_equal(set(&o, "listen", "fe80::1:4317", err, sizeof(err)), -1); /* no brackets */
    assert_int_equal(set(&o, "listen", "host:", err, sizeof(err)), -1);
    assert_int_equal(set(&o, "listen", ":4317", err, sizeof(err)), -1);
    assert_int_equal(set(&o, "listen", "127.0.0.1:65536", err, sizeof(err)), -1);
    assert_string_equal(err, "server.listen: '127.0.0.1:65536' is not HOST:PORT (e.g. "
                             "127.0.0.1:4317, [::1]:4317, 0.0.0.0:4317; port 0..65535)");
    assert_string_equal(o.listen, "localhost:4317"); /* the last good value stays */
    /* the OTLP/HTTP address: checked the same way, and empty turns it off */
    assert_int_equal(set(&o, "http_listen", "", err, sizeof(err)), 0);
    assert_string_equal(o.http_listen, "");
    assert_int_equal(set(&o, "http_listen", "4318", err, sizeof(err)), -1);
    assert_string_equal(err, "server.http_listen: '4318' is not HOST:PORT (e.g. "
                             "127.0.0.1:4317, [::1]:4317, 0.0.0.0:4317; port 0..65535)");
    assert_int_equal(set(&o, "max_concurrent_calls", "0", err, sizeof(err)), -1);
    assert_string_equal(err, "server.max_concurrent_calls: '0' is out of range (1..1024)");
}

static void test_start_refuses_zero_settings(void **state)
{
    dp_receiver_options o;
    dp_receiver *r = NULL;
    char err[256];
    dp_trace_table *t = dp_trace_table_create(NULL);
    assert_non_null(t);
    dp_ingest_options io = {t, NULL, NULL, NULL};
    dp_ingest *in = dp_ingest_create(&io);
    assert_non_null(in);
    dp_receiver_options_defaults(&o);
    o.ingest = in;
    o.max_concurrent_calls = 0;
    assert_int_equal(dp_receiver_start(&o, &r, err, sizeof(err)), DP_RECEIVER_EINVAL);
    assert_null(r);
    o.max_concurrent_calls = 1;
    o.max_recv_message_bytes = 0;
    assert_int_equal(dp_receiver_start(&o, &r, err, sizeof(err)), DP_RECEIVER_EINVAL);
    o.max_recv_message_bytes = 1024;
    o.listen[0] = '\0';
    assert_int_equal(dp_receiver_start(&o, &r, err, sizeof(err)), DP_RECEIVER_EINVAL);
    assert_null(r);
    dp_ingest_destroy(in);
    dp_trace_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_auth_header_names),
        cmocka_unit_test(test_start_refuses_zero_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

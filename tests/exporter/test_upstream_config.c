/*
 * Tests of the upstream client settings: defaults, endpoint schemes, header
 * lists, and the OTEL_EXPORTER_OTLP_* environment variables with the
 * signal-specific variants winning over the generic ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "upstream_config.h"

static const char *const names[] = {"ENDPOINT",   "INSECURE", "CERTIFICATE", "CLIENT_CERTIFICATE",
                                    "CLIENT_KEY", "HEADERS",  "COMPRESSION", "TIMEOUT"};
static const char *const signals[] = {"", "TRACES_", "METRICS_", "LOGS_"};

static int clear_env(void **state)
{
    char var[96];
    for (size_t s = 0; s < sizeof(signals) / sizeof(signals[0]); s++)
        for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
            snprintf(var, sizeof(var), "OTEL_EXPORTER_OTLP_%s%s", signals[s], names[n]);
            unsetenv(var);
        }
    return 0;
}

static void test_defaults(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_init(&cfg);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        assert_null(cfg.conn[s].endpoint); /* nothing set: not exported */
        assert_false(cfg.conn[s].insecure);
        assert_int_equal(cfg.conn[s].timeout_ms, 10000);
        assert_int_equal(cfg.conn[s].compression, DP_UPSTREAM_COMPRESSION_NONE);
    }
    dp_upstream_config_free(&cfg);
}

static void test_generic_endpoint_http_means_insecure(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_init(&cfg);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        assert_string_equal(cfg.conn[s].endpoint, "collector:4317"); /* no path appended for gRPC */
        assert_true(cfg.conn[s].insecure);
    }
    dp_upstream_config_free(&cfg);
}

static void test_signal_endpoint_wins(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_init(&cfg);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://generic:1", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:2", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_string_equal(cfg.conn[DP_UPSTREAM_TRACES].endpoint, "traces:2");
    assert_true(cfg.conn[DP_UPSTREAM_TRACES].insecure);
    assert_string_equal(cfg.conn[DP_UPSTREAM_METRICS].endpoint, "generic:1");
    assert_false(cfg.conn[DP_UPSTREAM_METRICS].insecure);
    assert_string_equal(cfg.conn[DP_UPSTREAM_LOGS].endpoint, "generic:1");
    dp_upstream_config_free(&cfg);
}

static void test_insecure_applies_without_scheme_only(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_init(&cfg);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317", 1);
    setenv("OTEL_EXPORTER_OTLP_INSECURE", "true", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "FALSE", 1);
    setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "https://logs:4317", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_true(cfg.conn[DP_UPSTREAM_TRACES].insecure);   /* generic INSECURE */
    assert_false(cfg.conn[DP_UPSTREAM_METRICS].insecure); /* signal-specific wins */
    assert_false(cfg.conn[DP_UPSTREAM_LOGS].insecure);    /* https:// beats INSECURE=true */
    assert_string_equal(cfg.conn[DP_UPSTREAM_LOGS].endpoint, "logs:4317");

    setenv("OTEL_EXPORTER_OTLP_INSECURE", "yes", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    dp_upstream_config_free(&cfg);
}

static void test_headers_decoded_and_signal_specific_replaces(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_init(&cfg);
    /* "abc%3D%3D" -> "abc==", "acme%20corp" -> "acme corp", key lowercased,
     * blanks around items and the trailing comma ignored. */
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc%3D%3D, X-Tenant = acme%20corp ,", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-only=1", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);

    const dp_upstream_connection *m = &cfg.conn[DP_UPSTREAM_METRICS];
    assert_int_equal(m->header_count, 2);
    assert_string_equal(m->headers[0].key, "api-key");
    assert_string_equal(m->headers[0].value, "abc==");
    assert_string_equal(m->headers[1].key, "x-tenant");
    assert_string_equal(m->headers[1].value, "acme corp");

    const dp_upstream_connection *t = &cfg.conn[DP_UPSTREAM_TRACES];
    assert_int_equal(t->header_count, 1);
    assert_string_equal(t->headers[0].key, "x-only");
    assert_string_equal(t->headers[0].value, "1");
    dp_upstream_config_free(&cfg);
}

static void test_bad_headers_refused_and_old_kept(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_init(&cfg);
    assert_int_equal(dp_upstream_config_set_headers(&cfg, DP_UPSTREAM_LOGS, "a=1", "test"), 0);
    assert_int_equal(dp_upstream_config_set_headers(&cfg, DP_UPSTREAM_LOGS, "a=1,novalue", "test"),
                     DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(dp_upstream_config_set_headers(&cfg, DP_UPSTREAM_LOGS, "=v", "test"),
                     DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(dp_upstream_config_set_headers(&cfg, DP_UPSTREAM_LOGS, "bad key=v", "test"),
                     DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(dp_upstream_config_set_headers(&cfg, DP_UPSTREAM_LOGS, "k=a%0Ab", "test"),
                     DP_UPSTREAM_CONFIG_EINVAL); /* decoded newline */
    /* A '%' without two hex digits stays literal. */
    assert_int_equal(dp_upstream_config_set_headers(&cfg, DP_UPSTREAM_METRICS, "k=100%,j=%4", "t"),
                     0);
    assert_string_equal(cfg.conn[DP_UPSTREAM_METRICS].headers[0].value, "100%");
    assert_string_equal(cfg.conn[DP_UPSTREAM_METRICS].headers[1].value, "%4");

    assert_int_equal(cfg.conn[DP_UPSTREAM_LOGS].header_count, 1);
    assert_string_equal(cfg.conn[DP_UPSTREAM_LOGS].headers[0].value, "1");

    char many[33 * 6 + 1] = "";
    for (int i = 0; i < 33; i++)
        sprintf(many + strlen(many), "k%02d=v,", i);
    assert_int_equal(dp_upstream_config_set_headers(&cfg, DP_UPSTREAM_LOGS, many, "test"),
                     DP_UPSTREAM_CONFIG_EINVAL); /* 33 > DP_UPSTREAM_MAX_HEADERS */
    dp_upstream_config_free(&cfg);
}

static void test_compression_timeout_and_files(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_init(&cfg);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP", 1);
    setenv("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "700", 1);
    setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/etc/client.pem", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/etc/client.key", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_int_equal(cfg.conn[DP_UPSTREAM_TRACES].compression, DP_UPSTREAM_COMPRESSION_GZIP);
    assert_int_equal(cfg.conn[DP_UPSTREAM_LOGS].compression, DP_UPSTREAM_COMPRESSION_NONE);
    assert_int_equal(cfg.conn[DP_UPSTREAM_TRACES].timeout_ms, 2500);
    assert_int_equal(cfg.conn[DP_UPSTREAM_METRICS].timeout_ms, 700);
    assert_string_equal(cfg.conn[DP_UPSTREAM_LOGS].ca_file, "/etc/ca.pem");
    assert_string_equal(cfg.conn[DP_UPSTREAM_TRACES].client_cert_file, "/etc/client.pem");
    assert_string_equal(cfg.conn[DP_UPSTREAM_TRACES].client_key_file, "/etc/client.key");
    assert_null(cfg.conn[DP_UPSTREAM_METRICS].client_key_file);

    /* A deep copy survives freeing the original. */
    dp_upstream_config copy;
    assert_int_equal(dp_upstream_config_copy(&copy, &cfg), 0);
    dp_upstream_config_free(&cfg);
    assert_string_equal(copy.conn[DP_UPSTREAM_TRACES].client_key_file, "/etc/client.key");
    dp_upstream_config_free(&copy);

    dp_upstream_config_init(&cfg);
    setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    dp_upstream_config_free(&cfg);
}

static void test_set_endpoint(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_init(&cfg);
    cfg.conn[DP_UPSTREAM_TRACES].insecure = true;
    /* No scheme: the insecure flag stays as it was. */
    assert_int_equal(dp_upstream_config_set_endpoint(&cfg, DP_UPSTREAM_TRACES, "10.0.0.1:4317"), 0);
    assert_true(cfg.conn[DP_UPSTREAM_TRACES].insecure);
    assert_int_equal(dp_upstream_config_set_endpoint(&cfg, DP_UPSTREAM_TRACES, "HTTPS://h:1/"), 0);
    assert_string_equal(cfg.conn[DP_UPSTREAM_TRACES].endpoint, "h:1");
    assert_false(cfg.conn[DP_UPSTREAM_TRACES].insecure);
    assert_int_equal(
        dp_upstream_config_set_endpoint(&cfg, DP_UPSTREAM_TRACES, "http://h:1/v1/traces"),
        DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(dp_upstream_config_set_endpoint(&cfg, DP_UPSTREAM_TRACES, "http://"),
                     DP_UPSTREAM_CONFIG_EINVAL);
    assert_string_equal(cfg.conn[DP_UPSTREAM_TRACES].endpoint, "h:1"); /* unchanged */
    dp_upstream_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_generic_endpoint_http_means_insecure, clear_env),
        cmocka_unit_test_setup(test_signal_endpoint_wins, clear_env),
        cmocka_unit_test_setup(test_insecure_applies_without_scheme_only, clear_env),
        cmocka_unit_test_setup(test_headers_decoded_and_signal_specific_replaces, clear_env),
        cmocka_unit_test_setup(test_bad_headers_refused_and_old_kept, clear_env),
        cmocka_unit_test_setup(test_compression_timeout_and_files, clear_env),
        cmocka_unit_test_setup(test_set_endpoint, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

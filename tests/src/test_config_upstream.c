/*
 * Tests of the upstream as the application configures it: the upstream and
 * metrics sections of the config file (headers as a YAML mapping), the
 * --upstream flag, the precedence OTEL_EXPORTER_OTLP_* variables < config
 * file < flags (dp_config_read_environment()), and an upstream that would
 * be dagprof itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "config.h"
#include "upstream_config.h"

static const char *const env_names[] = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",         "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",          "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",      "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",      "OTEL_EXPORTER_OTLP_PROTOCOL",
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
    return 0;
}

static void write_tmp(char path[64], const char *text)
{
    snprintf(path, 64, "/tmp/dp_test_upset_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* The resolved connection of signal `s`. */
static dp_upstream_connection conn_of(const dp_config *c, dp_upstream_signal s)
{
    dp_upstream_connection conn;
    dp_upstream_config_connection(&c->upstream, s, &conn);
    return conn;
}

/* Whether signal `s` sends header `key` with `value`. */
static bool has_header(const dp_config *c, dp_upstream_signal s, const char *key, const char *value)
{
    dp_upstream_header h[DP_UPSTREAM_MAX_HEADERS];
    size_t n = 0;
    bool found = false;
    dp_upstream_connection conn = conn_of(c, s);
    assert_int_equal(dp_upstream_headers_parse(conn.headers, "test", h, &n), 0);
    for (size_t i = 0; i < n; i++)
        found = found || (strcmp(h[i].key, key) == 0 && strcmp(h[i].value, value) == 0);
    dp_upstream_headers_free(h, n);
    return found;
}

static void test_defaults_mean_no_upstream(void **state)
{
    (void)state;
    dp_config c;
    char err[256];
    dp_config_defaults(&c);
    assert_int_equal(c.output.reports, DP_REPORTS_AUTO);
    assert_int_equal(c.metrics.export_interval_ms, 15000);
    assert_int_equal(c.metrics.temporality, DP_METRICS_CUMULATIVE);
    assert_int_equal(c.metrics.max_series, 2000);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), 0);
    assert_false(dp_upstream_config_active(&c.upstream));
}

static void test_file_with_header_mapping(void **state)
{
    (void)state;
    char path[64], err[512];
    dp_config c;
    dp_config_defaults(&c);
    /* a value with the list form's reserved characters (',' '=' '%') must survive */
    write_tmp(path, "upstream:\n"
                    "  endpoint: https://collector.example:4317\n"
                    "  headers:\n"
                    "    x-api-key: s3cr=t,100%\n"
                    "    X-Team: agents\n"
                    "  compression: gzip\n"
                    "  timeout: 2s\n"
                    "  queue_max_spans: 5000\n"
                    "  shutdown_timeout: 3s\n"
                    "metrics:\n"
                    "  export_interval: 30s\n"
                    "  temporality: delta\n"
                    "  max_series_per_metric: 10\n");
    assert_int_equal(dp_config_load_file(&c, path, err, sizeof(err)), 0);
    unlink(path);
    assert_int_equal(c.metrics.export_interval_ms, 30000);
    assert_int_equal(c.metrics.temporality, DP_METRICS_DELTA);
    assert_int_equal(c.metrics.max_series, 10);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), 0);
    assert_true(dp_upstream_config_active(&c.upstream));
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        dp_upstream_connection k = conn_of(&c, s);
        assert_string_equal(k.endpoint, "collector.example:4317");
        assert_int_equal(k.transport, DP_UPSTREAM_TLS); /* https:// */
        assert_true(has_header(&c, s, "x-api-key", "s3cr=t,100%"));
        assert_true(has_header(&c, s, "x-team", "agents")); /* keys lowercased */
        assert_int_equal(k.compression, DP_UPSTREAM_COMPRESSION_GZIP);
        assert_int_equal(k.timeout_ms, 2000);
    }
    assert_int_equal(c.upstream.queue_max_items, 5000);
    assert_int_equal(c.upstream.shutdown_timeout_ms, 3000);
}

static void test_header_errors_do_not_quote_values(void **state)
{
    (void)state;
    char path[64], err[512];
    dp_config c;
    dp_config_defaults(&c);
    write_tmp(path, "upstream:\n  headers:\n    x-api-key: [not, a, scalar]\n");
    assert_int_equal(dp_config_load_file(&c, path, err, sizeof(err)), -1);
    unlink(path);
    assert_non_null(strstr(err, ":3: upstream.headers: expected a mapping of header names"));
}

/* env < file < flags, one setting at a time. */
static void test_precedence(void **state)
{
    (void)state;
    char path[64], err[512];
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env-host:1111", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "7000", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from=env", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);

    /* environment only: every value comes from it */
    dp_config c;
    dp_config_defaults(&c);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), 0);
    assert_string_equal(conn_of(&c, DP_UPSTREAM_TRACES).endpoint, "env-host:1111");
    assert_int_equal(conn_of(&c, DP_UPSTREAM_TRACES).transport, DP_UPSTREAM_PLAINTEXT); /* http */
    assert_int_equal(conn_of(&c, DP_UPSTREAM_METRICS).timeout_ms, 7000);
    assert_true(has_header(&c, DP_UPSTREAM_LOGS, "x-from", "env"));

    /* the file wins over the environment for what it sets (endpoint, timeout);
     * the flag wins over the file (endpoint); compression stays the env's */
    write_tmp(path, "upstream:\n  endpoint: http://file-host:2222\n  timeout: 3s\n");
    dp_cli cli;
    char *argv[] = {"dagprof", "--config", path, "--upstream", "http://flag-host:3333"};
    assert_int_equal(dp_cli_parse(&cli, 5, argv, err, sizeof(err)), 0);
    unlink(path);
    assert_int_equal(dp_config_read_environment(&cli.config, err, sizeof(err)), 0);
    assert_string_equal(conn_of(&cli.config, DP_UPSTREAM_TRACES).endpoint, "flag-host:3333");
    assert_int_equal(conn_of(&cli.config, DP_UPSTREAM_TRACES).timeout_ms, 3000);
    assert_int_equal(conn_of(&cli.config, DP_UPSTREAM_TRACES).compression,
                     DP_UPSTREAM_COMPRESSION_GZIP);
    assert_true(has_header(&cli.config, DP_UPSTREAM_TRACES, "x-from", "env"));
    dp_cli_release(&cli);

    /* compression set to none in a flag beats gzip from the environment */
    char *argv2[] = {"dagprof", "--set", "upstream.compression=none"};
    assert_int_equal(dp_cli_parse(&cli, 3, argv2, err, sizeof(err)), 0);
    assert_int_equal(dp_config_read_environment(&cli.config, err, sizeof(err)), 0);
    assert_int_equal(conn_of(&cli.config, DP_UPSTREAM_TRACES).compression,
                     DP_UPSTREAM_COMPRESSION_NONE);
    dp_cli_release(&cli);
}

static void test_bad_settings_are_usage_errors(void **state)
{
    (void)state;
    char err[512];
    dp_config c;
    dp_config_defaults(&c);
    /* refused where it is set, so a config file's message names its line */
    assert_int_equal(dp_config_set(&c, "upstream.headers", "no-equals-sign", err, sizeof(err)), -1);
    assert_string_equal(err, "upstream.headers: not a list of name=value pairs separated by "
                             "commas, with names of letters, digits and -_. and values "
                             "percent-encoded (value not shown)");
    assert_int_equal(dp_config_set(&c, "upstream.headers", "x-key=a%zz", err, sizeof(err)), -1);
    assert_int_equal(dp_config_set(&c, "upstream.headers", "x-key=a%20b, y=2", err, sizeof(err)),
                     0);
    assert_int_equal(dp_config_set(&c, "server.listen", "nonsense", err, sizeof(err)), -1);
    assert_string_equal(err, "server.listen: 'nonsense' is not HOST:PORT (e.g. 127.0.0.1:4317, "
                             "[::1]:4317, 0.0.0.0:4317; port 0..65535)");
    assert_int_equal(dp_config_set(&c, "server.listen", "127.0.0.1:65536", err, sizeof(err)), -1);
    assert_int_equal(dp_config_set(&c, "server.listen", "fe80::1:4317", err, sizeof(err)), -1);
    assert_int_equal(dp_config_set(&c, "server.listen", "[::1]:0", err, sizeof(err)), 0);
    assert_int_equal(dp_config_set(&c, "server.listen", "localhost:4317", err, sizeof(err)), 0);
    assert_int_equal(dp_config_set(&c, "upstream.headers", "", err, sizeof(err)), 0);
    assert_int_equal(dp_config_set(&c, "output.reports", "sometimes", err, sizeof(err)), -1);
    assert_string_equal(err, "output.reports: 'sometimes' is not one of: auto, always, never");
    assert_int_equal(dp_config_set(&c, "metrics.temporality", "gauge", err, sizeof(err)), -1);
    /* a header value never appears in a message */
    char long_value[5000];
    memset(long_value, 'k', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    assert_int_equal(dp_config_set(&c, "upstream.headers", long_value, err, sizeof(err)), -1);
    assert_null(strstr(err, "kkkk"));
}

/* An upstream that is dagprof itself would loop every span back in:
 * same port and same host, or loopback names while listening on loopback or
 * on every address, are refused; another port or another host is fine. */
static void test_upstream_loop_refused(void **state)
{
    (void)state;
    char err[512];
    dp_config c;
    dp_config_defaults(&c); /* listens on 127.0.0.1:4317 */
    assert_int_equal(
        dp_config_set(&c, "upstream.endpoint", "http://localhost:4317", err, sizeof(err)), 0);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is dagprof's own listen address 127.0.0.1:4317"));

    assert_int_equal(dp_config_set(&c, "server.listen", "0.0.0.0:4317", err, sizeof(err)), 0);
    assert_int_equal(dp_config_set(&c, "upstream.endpoint", "127.0.0.1:4317", err, sizeof(err)), 0);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), -1);

    assert_int_equal(dp_config_set(&c, "upstream.endpoint", "127.0.0.1:4318", err, sizeof(err)), 0);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), 0);

    assert_int_equal(dp_config_set(&c, "server.listen", "127.0.0.1:4317", err, sizeof(err)), 0);
    assert_int_equal(
        dp_config_set(&c, "upstream.endpoint", "collector.example:4317", err, sizeof(err)), 0);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), 0);

    /* over OTLP/HTTP the loop goes through the HTTP receiver (127.0.0.1:4318
     * by default), whatever the path */
    dp_config_defaults(&c);
    assert_int_equal(dp_config_set(&c, "upstream.protocol", "http/protobuf", err, sizeof(err)), 0);
    assert_int_equal(
        dp_config_set(&c, "upstream.endpoint", "http://localhost:4318/otlp", err, sizeof(err)), 0);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is dagprof's own listen address 127.0.0.1:4318"));
    assert_int_equal(
        dp_config_set(&c, "upstream.endpoint", "http://localhost:4317", err, sizeof(err)), 0);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), 0);
    /* the HTTP receiver turned off: nothing to loop through */
    assert_int_equal(
        dp_config_set(&c, "upstream.endpoint", "http://localhost:4318", err, sizeof(err)), 0);
    assert_int_equal(dp_config_set(&c, "server.http_listen", "", err, sizeof(err)), 0);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), 0);

    /* a signal the environment alone sends back here is refused too */
    dp_config_defaults(&c);
    setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://[::1]:4317", 1);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "the upstream endpoint [::1]:4317 is dagprof's own"));
    unsetenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
}

/* A malformed variable is a configuration error; its value is not quoted. */
static void test_bad_environment(void **state)
{
    char err[512];
    dp_config c;
    dp_config_defaults(&c);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "secret-without-equals", 1);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), -1);
    assert_string_equal(err, "bad OTEL_EXPORTER_OTLP_* environment variable (see the log above)");
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");

    /* an endpoint with a path is for OTLP/HTTP: over gRPC it is refused
     * once the variables are read */
    dp_config_defaults(&c);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317/v1", 1);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), -1);
    assert_string_equal(err, "unusable upstream endpoint (see the log above)");
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
    assert_int_equal(dp_config_read_environment(&c, err, sizeof(err)), 0);
    unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_upstream_loop_refused, clear_env),
        cmocka_unit_test_setup(test_bad_environment, clear_env),
        cmocka_unit_test_setup(test_defaults_mean_no_upstream, clear_env),
        cmocka_unit_test_setup(test_file_with_header_mapping, clear_env),
        cmocka_unit_test_setup(test_header_errors_do_not_quote_values, clear_env),
        cmocka_unit_test_setup(test_precedence, clear_env),
        cmocka_unit_test_setup(test_bad_settings_are_usage_errors, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Tests of the upstream client settings: the upstream section's defaults
 * (worked out by hand) and checks, endpoint schemes, header lists, the
 * OTEL_EXPORTER_OTLP_* environment variables with the signal-specific
 * variants winning over the generic ones, and the layers resolved for one
 * signal: keys over environment over built-in defaults.
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
#include "upstream_endpoint.h"

static const char *const names[] = {"ENDPOINT",           "INSECURE",   "CERTIFICATE",
                                    "CLIENT_CERTIFICATE", "CLIENT_KEY", "HEADERS",
                                    "COMPRESSION",        "TIMEOUT",    "PROTOCOL"};
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

/* The resolved connection of one signal. */
static dp_upstream_connection resolved(const dp_upstream_config *cfg, dp_upstream_signal s)
{
    dp_upstream_connection c;
    dp_upstream_config_connection(cfg, s, &c);
    return c;
}

/* Where signal s is sent: the URL over OTLP/HTTP, HOST:PORT over gRPC. */
static const char *url_of(const dp_upstream_config *cfg, dp_upstream_signal s, char url[1200])
{
    dp_upstream_connection c = resolved(cfg, s);
    dp_upstream_connection_url(&c, url, 1200);
    return url;
}

/* Set one upstream key as the config file or a flag would. */
static int set_key(dp_upstream_config *cfg, const char *key, const char *value)
{
    char err[512];
    const dp_config_key *k = dp_config_key_find(&dp_upstream_section, key, strlen(key));
    assert_non_null(k);
    return dp_config_key_set(cfg, &dp_upstream_section, k, value, strlen(value), err, sizeof(err));
}

static void test_defaults(void **state)
{
    dp_upstream_config cfg;
    memset(&cfg, 0x5a, sizeof(cfg));
    dp_upstream_config_defaults(&cfg);
    assert_int_equal(cfg.queue_max_items, 1000000);
    assert_int_equal(cfg.queue_max_bytes, 268435456); /* 256MiB = 256 * 1048576 */
    assert_int_equal(cfg.batch_max_items, 8192);
    assert_int_equal(cfg.batch_max_bytes, 4000000); /* 4MB = 4 * 1000000, under 4MiB = 4194304 */
    assert_int_equal(cfg.batch_timeout_ms, 200);
    assert_int_equal(cfg.retry_initial_ms, 100);
    assert_int_equal(cfg.retry_max_ms, 5000); /* 5s */
    assert_int_equal(cfg.retry_max_elapsed_ms, 0);
    assert_int_equal(cfg.shutdown_timeout_ms, 10000); /* 10s */
    assert_int_equal(cfg.concurrency, 4);
    /* no layer sets anything: every connection is unset ... */
    assert_string_equal(cfg.all.endpoint, "");
    assert_int_equal(cfg.all.transport, DP_UPSTREAM_TRANSPORT_UNSET);
    assert_int_equal(cfg.all.compression, DP_UPSTREAM_COMPRESSION_UNSET);
    assert_int_equal(cfg.all.timeout_ms, 0);
    assert_string_equal(cfg.signal[DP_UPSTREAM_LOGS].headers, "");
    /* ... so nothing is exported, over TLS, uncompressed, with a 10 s deadline */
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_false(dp_upstream_config_active(&cfg));
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        dp_upstream_connection c = resolved(&cfg, s);
        assert_string_equal(c.endpoint, "");
        assert_int_equal(c.transport, DP_UPSTREAM_TLS);
        assert_int_equal(c.timeout_ms, 10000);
        assert_int_equal(c.compression, DP_UPSTREAM_COMPRESSION_NONE);
    }
}

static void test_generic_endpoint_http_means_insecure(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_true(dp_upstream_config_active(&cfg));
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        dp_upstream_connection c = resolved(&cfg, s);
        assert_string_equal(c.endpoint, "collector:4317"); /* no path appended for gRPC */
        assert_int_equal(c.transport, DP_UPSTREAM_PLAINTEXT);
    }
}

static void test_signal_endpoint_wins(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://generic:1", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:2", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_TRACES).endpoint, "traces:2");
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_TRACES).transport, DP_UPSTREAM_PLAINTEXT);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_METRICS).endpoint, "generic:1");
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_METRICS).transport, DP_UPSTREAM_TLS);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_LOGS).endpoint, "generic:1");
}

static void test_insecure_applies_without_scheme_only(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317", 1);
    setenv("OTEL_EXPORTER_OTLP_INSECURE", "true", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "FALSE", 1);
    setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "https://logs:4317", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    /* generic INSECURE; signal-specific wins; https:// beats INSECURE=true */
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_TRACES).transport, DP_UPSTREAM_PLAINTEXT);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_METRICS).transport, DP_UPSTREAM_TLS);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_LOGS).transport, DP_UPSTREAM_TLS);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_LOGS).endpoint, "logs:4317");

    /* a bad variable is refused and what was read before stays */
    setenv("OTEL_EXPORTER_OTLP_INSECURE", "yes", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    assert_string_equal(cfg.signal[DP_UPSTREAM_LOGS].endpoint, "logs:4317");
}

/* The parsed headers of a resolved connection. */
static size_t headers_of(const dp_upstream_config *cfg, dp_upstream_signal s,
                         dp_upstream_header out[DP_UPSTREAM_MAX_HEADERS])
{
    size_t n = 0;
    dp_upstream_connection c = resolved(cfg, s);
    assert_int_equal(dp_upstream_headers_parse(c.headers, "test", out, &n), 0);
    return n;
}

static void test_headers_decoded_and_signal_specific_replaces(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_header h[DP_UPSTREAM_MAX_HEADERS];
    dp_upstream_config_defaults(&cfg);
    /* "abc%3D%3D" -> "abc==", "acme%20corp" -> "acme corp", key lowercased,
     * blanks around items and the trailing comma ignored. */
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc%3D%3D, X-Tenant = acme%20corp ,", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-only=1", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);

    assert_int_equal(headers_of(&cfg, DP_UPSTREAM_METRICS, h), 2);
    assert_string_equal(h[0].key, "api-key");
    assert_string_equal(h[0].value, "abc==");
    assert_string_equal(h[1].key, "x-tenant");
    assert_string_equal(h[1].value, "acme corp");
    dp_upstream_headers_free(h, 2);

    assert_int_equal(headers_of(&cfg, DP_UPSTREAM_TRACES, h), 1);
    assert_string_equal(h[0].key, "x-only");
    assert_string_equal(h[0].value, "1");
    dp_upstream_headers_free(h, 1);
}

static void test_bad_headers_refused(void **state)
{
    dp_upstream_header h[DP_UPSTREAM_MAX_HEADERS];
    size_t n = 99;
    assert_int_equal(dp_upstream_headers_parse("a=1,novalue", "test", h, &n),
                     DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(n, 99); /* untouched: nothing to free */
    assert_int_equal(dp_upstream_headers_parse("=v", "test", h, &n), DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(dp_upstream_headers_parse("bad key=v", "test", h, &n),
                     DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(dp_upstream_headers_parse("k=a%0Ab", "test", h, &n),
                     DP_UPSTREAM_CONFIG_EINVAL); /* decoded newline */
    /* a decoded NUL is a control character too, not the end of the text */
    assert_int_equal(dp_upstream_headers_parse("k=secret%00tail", "test", h, &n),
                     DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(dp_upstream_headers_parse("k%00x=v", "test", h, &n),
                     DP_UPSTREAM_CONFIG_EINVAL);
    /* A '%' without two hex digits stays literal. */
    assert_int_equal(dp_upstream_headers_parse("k=100%,j=%4", "t", h, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].value, "100%");
    assert_string_equal(h[1].value, "%4");
    dp_upstream_headers_free(h, n);

    char many[33 * 6 + 1] = "";
    for (int i = 0; i < 33; i++)
        sprintf(many + strlen(many), "k%02d=v,", i);
    assert_int_equal(dp_upstream_headers_parse(many, "test", h, &n),
                     DP_UPSTREAM_CONFIG_EINVAL); /* 33 > DP_UPSTREAM_MAX_HEADERS */

    /* a bad list in the environment is refused by from_env */
    dp_upstream_config cfg;
    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "novalue", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
}

static void test_compression_timeout_and_files(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP", 1);
    setenv("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "700", 1);
    setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/etc/client.pem", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/etc/client.key", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_TRACES).compression, DP_UPSTREAM_COMPRESSION_GZIP);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_LOGS).compression, DP_UPSTREAM_COMPRESSION_NONE);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_TRACES).timeout_ms, 2500);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_METRICS).timeout_ms, 700);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_LOGS).ca_file, "/etc/ca.pem");
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_TRACES).client_cert_file, "/etc/client.pem");
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_TRACES).client_key_file, "/etc/client.key");
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_METRICS).client_key_file, "");

    /* plain data: a copy by assignment is independent */
    dp_upstream_config copy = cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_string_equal(resolved(&copy, DP_UPSTREAM_TRACES).client_key_file, "/etc/client.key");

    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "brotli", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    unsetenv("OTEL_EXPORTER_OTLP_TIMEOUT");
    /* longer than the field holds */
    char path[1100];
    memset(path, 'p', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", path, 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
}

/* The keys' endpoint: its syntax is checked where it is set (a path is
 * allowed there, since the protocol may be set later); its scheme decides
 * the transport unless insecure is set explicitly. */
static void test_key_endpoint(void **state)
{
    dp_upstream_config cfg;
    char err[512];
    dp_upstream_config_defaults(&cfg);
    const dp_config_key *k = dp_config_key_find(&dp_upstream_section, "endpoint", 8);
    assert_non_null(k);
    assert_int_equal(
        dp_config_key_set(&cfg, &dp_upstream_section, k, "http://h:1/v1?x=1", 17, err, sizeof(err)),
        -1);
    assert_string_equal(err, "upstream.endpoint: 'http://h:1/v1?x=1' has a query or fragment "
                             "(only scheme, host, port and path are used)");
    assert_int_equal(set_key(&cfg, "endpoint", "http://"), -1);
    /* user information is refused by the check, whose message does not
     * quote the value (a password) */
    assert_int_equal(set_key(&cfg, "endpoint", "https://user:pw@h:1"), 0);
    assert_int_equal(dp_upstream_config_check(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(set_key(&cfg, "endpoint", "http://h:1/a b"), -1);
    assert_int_equal(set_key(&cfg, "endpoint", "http://h:1/#top"), -1);
    assert_int_equal(set_key(&cfg, "endpoint", "http://h:1/otlp"), 0);
    assert_int_equal(set_key(&cfg, "endpoint", "HTTPS://h:1/"), 0);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_TRACES).endpoint, "h:1");
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_TRACES).transport, DP_UPSTREAM_TLS);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_TRACES).protocol, DP_UPSTREAM_GRPC);
    assert_int_equal(dp_upstream_config_check(&cfg), 0);    /* a lone "/" is no path */
    assert_int_equal(set_key(&cfg, "insecure", "true"), 0); /* beats the scheme */
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_LOGS).transport, DP_UPSTREAM_PLAINTEXT);

    /* no scheme: the environment's transport stays */
    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_INSECURE", "true", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_int_equal(set_key(&cfg, "endpoint", "10.0.0.1:4317"), 0);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_METRICS).endpoint, "10.0.0.1:4317");
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_METRICS).transport, DP_UPSTREAM_PLAINTEXT);
}

/* A path is for OTLP/HTTP: over gRPC it is refused once the layers are
 * resolved, whichever layer brought it. */
static void test_grpc_endpoint_with_path_refused(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_defaults(&cfg);
    assert_int_equal(set_key(&cfg, "endpoint", "http://collector:4317/v1/traces"), 0);
    assert_int_equal(dp_upstream_config_check(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(set_key(&cfg, "protocol", "http/protobuf"), 0);
    assert_int_equal(dp_upstream_config_check(&cfg), 0);

    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4317/custom", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_int_equal(dp_upstream_config_check(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    setenv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_int_equal(dp_upstream_config_check(&cfg), 0);
    /* the variable's path went with the endpoint, not lost */
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_LOGS).path, "/custom");
}

/* The request path of each signal from a base endpoint (the key or the
 * generic variable): the base's path, trailing slashes dropped, then
 * /v1/<signal>, so exactly one slash joins them. */
static void test_http_base_endpoint_gets_signal_paths(void **state)
{
    static const struct {
        const char *endpoint, *traces, *metrics, *logs, *url;
    } cases[] = {
        {"http://collector:4318", "/v1/traces", "/v1/metrics", "/v1/logs",
         "http://collector:4318/v1/traces"},
        {"http://collector:4318/", "/v1/traces", "/v1/metrics", "/v1/logs",
         "http://collector:4318/v1/traces"},
        {"https://otlp.example.com/api/otlp", "/api/otlp/v1/traces", "/api/otlp/v1/metrics",
         "/api/otlp/v1/logs", "https://otlp.example.com/api/otlp/v1/traces"},
        {"https://otlp.example.com/api/otlp//", "/api/otlp/v1/traces", "/api/otlp/v1/metrics",
         "/api/otlp/v1/logs", "https://otlp.example.com/api/otlp/v1/traces"},
        /* no scheme: TLS, as for gRPC (insecure unset) */
        {"[::1]:4318", "/v1/traces", "/v1/metrics", "/v1/logs", "https://[::1]:4318/v1/traces"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dp_upstream_config cfg;
        char url[1200];
        dp_upstream_config_defaults(&cfg);
        assert_int_equal(set_key(&cfg, "protocol", "http/protobuf"), 0);
        assert_int_equal(set_key(&cfg, "endpoint", cases[i].endpoint), 0);
        assert_int_equal(dp_upstream_config_check(&cfg), 0);
        dp_upstream_connection c = resolved(&cfg, DP_UPSTREAM_TRACES);
        assert_int_equal(c.protocol, DP_UPSTREAM_HTTP_PROTOBUF);
        assert_string_equal(c.path, cases[i].traces);
        assert_string_equal(resolved(&cfg, DP_UPSTREAM_METRICS).path, cases[i].metrics);
        assert_string_equal(resolved(&cfg, DP_UPSTREAM_LOGS).path, cases[i].logs);
        assert_string_equal(url_of(&cfg, DP_UPSTREAM_TRACES, url), cases[i].url);
    }
}

/* OTEL_EXPORTER_OTLP_PROTOCOL and the per-signal variables: the generic
 * endpoint is a base (the signal's path appended), a signal's own endpoint
 * is used as-is ("/" when it has none). */
static void test_http_environment(void **state)
{
    dp_upstream_config cfg;
    char url[1200];
    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway:4318/base/", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces.example:443/custom/spans", 1);
    setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:9000", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_int_equal(dp_upstream_config_check(&cfg), 0);

    assert_string_equal(url_of(&cfg, DP_UPSTREAM_TRACES, url),
                        "https://traces.example:443/custom/spans");
    assert_string_equal(url_of(&cfg, DP_UPSTREAM_METRICS, url),
                        "http://gateway:4318/base/v1/metrics");
    assert_string_equal(url_of(&cfg, DP_UPSTREAM_LOGS, url), "http://logs:9000/");

    /* a signal's own protocol wins over the generic one */
    setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc", 1);
    setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4317", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_METRICS).protocol, DP_UPSTREAM_GRPC);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_METRICS).endpoint, "metrics:4317");
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_TRACES).protocol, DP_UPSTREAM_HTTP_PROTOBUF);

    /* the key's endpoint replaces every variable and is a base again */
    assert_int_equal(set_key(&cfg, "endpoint", "http://file-host:4318"), 0);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_TRACES).path, "/v1/traces");
    /* the key's protocol wins over the variables */
    assert_int_equal(set_key(&cfg, "protocol", "grpc"), 0);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_TRACES).protocol, DP_UPSTREAM_GRPC);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_TRACES).endpoint, "file-host:4318");
    assert_int_equal(set_key(&cfg, "protocol", "unset"), 0);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_TRACES).protocol, DP_UPSTREAM_HTTP_PROTOBUF);
}

/* Only grpc and http/protobuf are protocols dagprof speaks; the protocol
 * alone sends nothing anywhere (no default endpoint). */
static void test_protocol_values(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "HTTP/PROTOBUF", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_LOGS).protocol, DP_UPSTREAM_HTTP_PROTOBUF);
    assert_false(dp_upstream_config_active(&cfg));
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_TRACES).endpoint, "");

    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
    assert_int_equal(set_key(&cfg, "protocol", "http/json"), -1);
    assert_int_equal(set_key(&cfg, "protocol", "http/protobuf"), 0);
    assert_int_equal(cfg.all.protocol, DP_UPSTREAM_HTTP_PROTOBUF);

    /* a bad endpoint variable is refused without quoting it */
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:secret@h:1", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), DP_UPSTREAM_CONFIG_EINVAL);
}

/* The path rules on their own, edge cases included. */
static void test_endpoint_paths(void **state)
{
    dp_upstream_endpoint e;
    char path[32];
    assert_null(dp_upstream_endpoint_parse("https://h:1/a/b/", &e));
    assert_int_equal(e.transport, DP_UPSTREAM_TLS);
    assert_int_equal(e.host_len, 3);
    assert_memory_equal(e.host, "h:1", 3);
    assert_int_equal(e.path_len, 5);
    assert_int_equal(dp_upstream_endpoint_http_path(&e, true, DP_SIGNAL_LOGS, path, sizeof(path)),
                     0);
    assert_string_equal(path, "/a/b/"); /* as-is, trailing slash too */
    assert_int_equal(dp_upstream_endpoint_http_path(&e, false, DP_SIGNAL_LOGS, path, sizeof(path)),
                     0);
    assert_string_equal(path, "/a/b/v1/logs");
    /* "/a/b" + "/v1/metrics" = 15 characters: 16 bytes fit, 15 do not */
    assert_int_equal(dp_upstream_endpoint_http_path(&e, false, DP_SIGNAL_METRICS, path, 16), 0);
    assert_string_equal(path, "/a/b/v1/metrics");
    assert_int_equal(dp_upstream_endpoint_http_path(&e, false, DP_SIGNAL_METRICS, path, 15), -1);

    assert_null(dp_upstream_endpoint_parse("h:1", &e));
    assert_int_equal(e.transport, DP_UPSTREAM_TRANSPORT_UNSET);
    assert_int_equal(e.path_len, 0);
    assert_int_equal(dp_upstream_endpoint_http_path(&e, true, DP_SIGNAL_TRACES, path, sizeof(path)),
                     0);
    assert_string_equal(path, "/");
    assert_int_equal(
        dp_upstream_endpoint_http_path(&e, false, DP_SIGNAL_TRACES, path, sizeof(path)), 0);
    assert_string_equal(path, "/v1/traces");

    assert_non_null(dp_upstream_endpoint_parse("", &e));
    assert_non_null(dp_upstream_endpoint_parse("https:///v1/traces", &e));
    assert_non_null(dp_upstream_endpoint_parse("http://a@h:1", &e));
    assert_non_null(dp_upstream_endpoint_parse("http://h:1/x\n", &e));
    /* '@' in the path is not user information */
    assert_null(dp_upstream_endpoint_parse("http://h:1/team@acme", &e));
}

/* What the keys set applies to every signal and replaces the environment,
 * the signal-specific variables too; what they leave unset keeps it. */
static void test_keys_over_environment(void **state)
{
    dp_upstream_config cfg;
    dp_upstream_header h[DP_UPSTREAM_MAX_HEADERS];
    dp_upstream_config_defaults(&cfg);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://env-traces:1", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "7000", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from=env", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    assert_int_equal(dp_upstream_config_from_env(&cfg), 0);
    /* the key values that mean "unset" change nothing */
    assert_int_equal(set_key(&cfg, "endpoint", ""), 0);
    assert_int_equal(set_key(&cfg, "compression", "unset"), 0);
    assert_int_equal(set_key(&cfg, "timeout", "0"), 0);
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_TRACES).endpoint, "env-traces:1");
    assert_string_equal(resolved(&cfg, DP_UPSTREAM_METRICS).endpoint, ""); /* not exported */
    assert_int_equal(resolved(&cfg, DP_UPSTREAM_LOGS).timeout_ms, 7000);

    assert_int_equal(set_key(&cfg, "endpoint", "file-host:2"), 0);
    assert_int_equal(set_key(&cfg, "timeout", "3s"), 0);
    assert_int_equal(set_key(&cfg, "headers", "x-from=file,x-team=a%2Cb"), 0);
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT; s++) {
        dp_upstream_connection c = resolved(&cfg, s);
        assert_string_equal(c.endpoint, "file-host:2");
        /* no scheme in the key: the traces variable's http:// still decides */
        assert_int_equal(c.transport,
                         s == DP_UPSTREAM_TRACES ? DP_UPSTREAM_PLAINTEXT : DP_UPSTREAM_TLS);
        assert_int_equal(c.timeout_ms, 3000);
        assert_int_equal(c.compression, DP_UPSTREAM_COMPRESSION_GZIP); /* left to the env */
        assert_int_equal(headers_of(&cfg, s, h), 2);
        assert_string_equal(h[0].value, "file");
        assert_string_equal(h[1].value, "a,b");
        dp_upstream_headers_free(h, 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_generic_endpoint_http_means_insecure, clear_env),
        cmocka_unit_test_setup(test_signal_endpoint_wins, clear_env),
        cmocka_unit_test_setup(test_insecure_applies_without_scheme_only, clear_env),
        cmocka_unit_test_setup(test_headers_decoded_and_signal_specific_replaces, clear_env),
        cmocka_unit_test_setup(test_bad_headers_refused, clear_env),
        cmocka_unit_test_setup(test_compression_timeout_and_files, clear_env),
        cmocka_unit_test_setup(test_key_endpoint, clear_env),
        cmocka_unit_test_setup(test_grpc_endpoint_with_path_refused, clear_env),
        cmocka_unit_test_setup(test_http_base_endpoint_gets_signal_paths, clear_env),
        cmocka_unit_test_setup(test_http_environment, clear_env),
        cmocka_unit_test_setup(test_protocol_values, clear_env),
        cmocka_unit_test(test_endpoint_paths),
        cmocka_unit_test_setup(test_keys_over_environment, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Configuration: defaults, every value type, overrides, every error kind with
 * its exact FILE:LINE message, single keys from the command line, the price
 * file, and the generated reference and example that must match the
 * committed docs/configuration.md and examples/dagprof.yaml.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "price_doc.h"
#include "prices.h"
#include "config_table.h"
#include "price_file.h"

#define DATA DP_TEST_DATA_DIR "/config/"
#define REPO DP_TEST_DATA_DIR "/../../"

/* Write `text` to a fresh temporary file; its path goes to path (64 bytes). */
static void write_tmp(char *path, const char *text)
{
    strcpy(path, "/tmp/dp_test_config_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Load `text` as a config file over the defaults; expect the error
 * "<tmp path>:<expected_suffix>" and an unchanged config. */
static void expect_load_error(const char *text, const char *expected_suffix)
{
    char path[64], err[1024], want[1200];
    dp_config c, before;
    dp_config_defaults(&c);
    before = c;
    write_tmp(path, text);
    assert_int_equal(dp_config_load_file(&c, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:%s", path, expected_suffix);
    assert_string_equal(err, want);
    /* all-or-nothing: keys before the bad one are not applied either */
    assert_memory_equal(&c, &before, sizeof(c));
    unlink(path);
}

static char *read_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_defaults(void **state)
{
    dp_config c;
    dp_config_defaults(&c);
    assert_string_equal(c.server.listen, "127.0.0.1:4317");
    assert_string_equal(c.server.http_listen, "127.0.0.1:4318"); /* OTLP/HTTP's port */
    assert_int_equal(c.server.workers, 0);
    assert_int_equal(c.server.max_recv_message_bytes, 16 * 1024 * 1024); /* 16MiB */
    assert_int_equal(c.server.max_concurrent_calls, 256);
    assert_int_equal(c.assembly.idle_timeout_ms, 2000);         /* 2s */
    assert_int_equal(c.assembly.max_age_ms, 3600000);           /* 1h = 3600 * 1000 */
    assert_int_equal(c.assembly.memory_limit_bytes, 268435456); /* 256 * 1048576 */
    assert_int_equal(c.assembly.shards, 64);
    assert_int_equal(c.assembly.late_window_ms, 600000); /* 10m = 600 * 1000 */
    assert_int_equal(c.assembly.max_pending_runs, 65536);
    assert_int_equal(c.output.format, DP_FORMAT_TEXT);
    assert_int_equal(c.output.color, -1);
    assert_int_equal(c.output.waterfall_width, 50);
    assert_string_equal(c.profile.default_model, "");
    assert_string_equal(c.price_file, "");
    assert_string_equal(c.log_level, "info");
    assert_null(c.prices);
    assert_null(c.profile.prices);
}

/* Every default in the tables parses as its own key and lies in its range,
 * and every range fits its field. */
static void test_every_default_is_valid(void **state)
{
    dp_config c;
    char err[512];
    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < dp_config_part_count; i++) {
        const dp_config_section *s = dp_config_parts[i].section;
        void *base = dp_config_part_base(&c, &dp_config_parts[i]);
        for (size_t j = 0; j < s->key_count; j++) {
            const dp_config_key *k = &s->keys[j];
            assert_non_null(k->description);
            /* a whole-number key's range fits the field it is stored in */
            if (k->type == DP_CFG_UINT || k->type == DP_CFG_SIZE || k->type == DP_CFG_DURATION) {
                assert_true(k->size == 4 || k->size == 8);
                assert_true(k->min >= 0);
                if (k->size == 4)
                    assert_true(k->max <= 4294967295.0); /* 2^32 - 1 */
            }
            assert_int_equal(dp_config_key_set(base, s, k, k->default_value,
                                               strlen(k->default_value), err, sizeof(err)),
                             0);
        }
    }
}

static void test_every_type(void **state)
{
    dp_config c;
    char err[1024];
    dp_config_defaults(&c);
    assert_int_equal(dp_config_load_file(&c, DATA "all_types.yaml", err, sizeof(err)), 0);
    assert_string_equal(c.server.listen, "0.0.0.0:5317");
    assert_int_equal(c.server.workers, 3);
    assert_int_equal(c.server.max_recv_message_bytes, 4 * 1048576); /* 4MiB */
    assert_int_equal(c.server.max_concurrent_calls, 10);
    assert_int_equal(c.assembly.idle_timeout_ms, 1500);          /* 1.5 * 1000 */
    assert_int_equal(c.assembly.max_age_ms, 120000);             /* 2 * 60000 */
    assert_int_equal(c.assembly.memory_limit_bytes, 1000000000); /* 1GB is decimal */
    assert_int_equal(c.assembly.shards, 8);
    assert_int_equal(c.assembly.late_window_ms, 0); /* a bare 0 needs no unit */
    assert_int_equal(c.assembly.max_pending_runs, 100);
    assert_int_equal(c.output.format, DP_FORMAT_JSON);
    assert_int_equal(c.output.color, 0);
    assert_int_equal(c.output.waterfall_width, 80);
    assert_string_equal(c.profile.default_model, "gpt-4o");
    assert_true(c.profile.slow_node_factor == 2.5);
    assert_true(c.profile.slow_node_high_factor == 6.0);
    assert_true(c.profile.tool_latency_ms == 750.0);
    assert_true(c.profile.tool_latency_high_ms == 3600000.0); /* 1h */
    assert_true(c.profile.batch_small_ms == 500.0);           /* 0.5s */
    assert_true(c.profile.model_downgrade_share == 0.5);
    assert_true(c.profile.budget_usd == 1.25);
    assert_int_equal(c.profile.budget_tokens, 1000000);
    assert_string_equal(c.price_file, "prices.yaml");
    assert_string_equal(c.log_level, "debug");
}

static void test_partial_file_keeps_other_defaults(void **state)
{
    char path[64], err[512];
    dp_config c;
    dp_config_defaults(&c);
    write_tmp(path, "server:\n  workers: 2\noutput:\nthresholds:\n  retries_min: 1\n");
    assert_int_equal(dp_config_load_file(&c, path, err, sizeof(err)), 0);
    assert_int_equal(c.server.workers, 2);
    assert_int_equal(c.profile.retries_min, 1);
    assert_string_equal(c.server.listen, "127.0.0.1:4317");
    assert_int_equal(c.profile.retries_high, 3);
    assert_int_equal(c.output.format, DP_FORMAT_TEXT);
    unlink(path);

    /* an empty file (or only comments) changes nothing */
    dp_config before = c;
    write_tmp(path, "# nothing here\n");
    assert_int_equal(dp_config_load_file(&c, path, err, sizeof(err)), 0);
    assert_memory_equal(&c, &before, sizeof(c));
    unlink(path);
}

static void test_unknown_key_and_section(void **state)
{
    expect_load_error(
        "server:\n  listn: 1.2.3.4:5\n",
        "2: unknown key 'listn' in section 'server' (allowed: listen, http_listen, workers, "
        "max_recv_message_size, max_concurrent_calls, max_concurrent_streams, recv_timeout, "
        "keepalive_time, keepalive_timeout, max_connection_idle, max_connection_age, "
        "max_connection_age_grace, handshake_timeout, max_connections, shutdown_timeout, "
        "tls.cert_file, "
        "tls.key_file, "
        "tls.client_ca_file, tls.min_version, auth.bearer_tokens_file, auth.header, "
        "auth.header_values_file, http_cors_allowed_origins, "
        "http_cors_allowed_headers, http_cors_max_age, http_idle_timeout)");
    expect_load_error("output:\n  format: json\nserve:\n  listen: x\n",
                      "3: unknown section 'serve' (allowed: server, assembly, output, upstream, "
                      "metrics, profile, thresholds, recommendations, budget, pricing, log, "
                      "health, telemetry, storage, memory, history)");
}

/* A key whose name has a dot may be written nested (as the Collector's
 * files write tls:) or flat; both set the same field, once. */
static void test_nested_keys(void **state)
{
    char path[64], err[1024];
    dp_config c;
    dp_config_defaults(&c);
    write_tmp(path, "server:\n"
                    "  tls:\n"
                    "    cert_file: /etc/dagprof/server.crt\n"
                    "    key_file: /etc/dagprof/server.key\n"
                    "  auth.header: X-Api-Key\n"
                    "  auth:\n"
                    "    header_values_file: keys.txt\n");
    assert_int_equal(dp_config_load_file(&c, path, err, sizeof(err)), 0);
    assert_string_equal(c.server.tls.cert_file, "/etc/dagprof/server.crt");
    assert_string_equal(c.server.tls.key_file, "/etc/dagprof/server.key");
    assert_string_equal(c.server.tls.client_ca_file, ""); /* not set: the default */
    assert_int_equal(c.server.tls.min_version, DP_TLS_1_2);
    assert_string_equal(c.server.auth.header, "X-Api-Key");
    assert_string_equal(c.server.auth.header_values_file, "keys.txt");
    unlink(path);
    assert_int_equal(dp_config_set(&c, "server.tls.min_version", "1.3", err, sizeof(err)), 0);
    assert_int_equal(c.server.tls.min_version, DP_TLS_1_3);

    /* the key's full name in messages, the line of the nested key */
    expect_load_error("server:\n  tls:\n    cert_file: a.crt\n  tls.cert_file: b.crt\n",
                      "4: duplicate key 'tls.cert_file' in section 'server' (first set on line 3)");
    expect_load_error("server:\n  tls:\n    min_version: 1.1\n",
                      "3: server.tls.min_version: '1.1' is not one of: 1.2, 1.3");
    expect_load_error(
        "server:\n  tls:\n    cert: a.crt\n",
        "3: unknown key 'tls.cert' in section 'server' (allowed: listen, http_listen, workers, "
        "max_recv_message_size, max_concurrent_calls, max_concurrent_streams, recv_timeout, "
        "keepalive_time, keepalive_timeout, max_connection_idle, max_connection_age, "
        "max_connection_age_grace, handshake_timeout, max_connections, shutdown_timeout, "
        "tls.cert_file, "
        "tls.key_file, "
        "tls.client_ca_file, tls.min_version, auth.bearer_tokens_file, auth.header, "
        "auth.header_values_file, http_cors_allowed_origins, http_cors_allowed_headers, "
        "http_cors_max_age, http_idle_timeout)");
    /* a group is not a key of its own */
    expect_load_error(
        "server:\n  tls: on\n",
        "2: unknown key 'tls' in section 'server' (allowed: listen, http_listen, "
        "workers, max_recv_message_size, max_concurrent_calls, max_concurrent_streams, "
        "recv_timeout, keepalive_time, keepalive_timeout, max_connection_idle, max_connection_age, "
        "max_connection_age_grace, handshake_timeout, max_connections, shutdown_timeout, "
        "tls.cert_file, "
        "tls.key_file, tls.client_ca_file, tls.min_version, "
        "auth.bearer_tokens_file, auth.header, auth.header_values_file, "
        "http_cors_allowed_origins, http_cors_allowed_headers, http_cors_max_age, "
        "http_idle_timeout)");
}

static void test_duplicates(void **state)
{
    expect_load_error("assembly:\n  shards: 4\n  max_age: 5s\n  shards: 8\n",
                      "4: duplicate key 'shards' in section 'assembly' (first set on line 2)");
    expect_load_error("log:\n  level: warn\nlog:\n  level: debug\n",
                      "3: duplicate section 'log' (first on line 1)");
}

static void test_wrong_types(void **state)
{
    expect_load_error("server:\n  workers: four\n",
                      "2: server.workers: expected a whole number, got 'four'");
    expect_load_error("server:\n  workers: -1\n",
                      "2: server.workers: expected a whole number, got '-1'");
    expect_load_error("\nassembly:\n  idle_timeout: 5\n",
                      "3: assembly.idle_timeout: expected a duration such as 500ms, 2s, 1.5m or "
                      "1h, got '5'");
    expect_load_error("assembly:\n  idle_timeout: 0.5ms\n",
                      "2: assembly.idle_timeout: '0.5ms' is not a whole number of milliseconds");
    expect_load_error("assembly:\n  memory_limit: 12 parsecs\n",
                      "2: assembly.memory_limit: expected a size such as 16MiB, 512KiB or "
                      "1048576, got '12 parsecs'");
    expect_load_error("thresholds:\n  slow_node_factor: nan\n",
                      "2: thresholds.slow_node_factor: expected a number, got 'nan'");
    expect_load_error("output:\n  format: xml\n",
                      "2: output.format: 'xml' is not one of: text, json, html");
    expect_load_error("log:\n  level: verbose\n",
                      "2: log.level: 'verbose' is not one of: error, warn, info, debug");
    expect_load_error("server:\n  listen:\n    - a\n    - b\n",
                      "3: server.listen: expected a single string value, got a list");
    expect_load_error("server:\n  workers:\n",
                      "2: server.workers: expected a single integer value, "
                      "got nothing");
    expect_load_error(
        "server: 4317\n",
        "1: section 'server' must be a mapping of keys, got a value (allowed: "
        "listen, http_listen, workers, max_recv_message_size, max_concurrent_calls, "
        "max_concurrent_streams, recv_timeout, keepalive_time, keepalive_timeout, "
        "max_connection_idle, max_connection_age, max_connection_age_grace, "
        "handshake_timeout, max_connections, shutdown_timeout, tls.cert_file, tls.key_file, "
        "tls.client_ca_file, tls.min_version, auth.bearer_tokens_file, auth.header, "
        "auth.header_values_file, http_cors_allowed_origins, "
        "http_cors_allowed_headers, http_cors_max_age, http_idle_timeout)");
    expect_load_error("- server\n",
                      "1: expected a mapping of sections, got a list (allowed: server, assembly, "
                      "output, upstream, metrics, profile, thresholds, recommendations, budget, "
                      "pricing, log, health, telemetry, storage, memory, history)");
}

static void test_out_of_range(void **state)
{
    expect_load_error("server:\n  workers: 300\n",
                      "2: server.workers: '300' is out of range (0..256)");
    expect_load_error("server:\n  max_recv_message_size: 2GiB\n",
                      "2: server.max_recv_message_size: '2GiB' is out of range (1KiB..1GiB)");
    expect_load_error("assembly:\n  max_age: 25h\n",
                      "2: assembly.max_age: '25h' is out of range (1ms..24h)");
    expect_load_error("recommendations:\n  model_downgrade_share: 1.5\n",
                      "2: recommendations.model_downgrade_share: '1.5' is out of range (0..1)");
    /* 18446744073709551616 = 2^64 does not fit any integer */
    expect_load_error("budget:\n  tokens: 18446744073709551616\n",
                      "2: budget.tokens: expected a whole number, got '18446744073709551616'");
    char longname[400];
    char text[512], want[700];
    memset(longname, 'm', 200);
    longname[200] = '\0';
    snprintf(text, sizeof(text), "profile:\n  default_model: %s\n", longname);
    /* the message quotes the first 60 characters and "..." */
    snprintf(want, sizeof(want),
             "2: profile.default_model: '%.60s...' is too long (at most 127 bytes)", longname);
    expect_load_error(text, want);
}

static void test_joined_rules_and_syntax(void **state)
{
    expect_load_error("thresholds:\n  slow_node_factor: 3\n  slow_node_high_factor: 2.5\n",
                      "3: thresholds.slow_node_high_factor (2.5) must not be below "
                      "thresholds.slow_node_factor (3)");
    /* only the base given: the line of the base; the high one is at its default 5s */
    expect_load_error("thresholds:\n  tool_latency: 6s\n",
                      "2: thresholds.tool_latency_high (5s) must not be below "
                      "thresholds.tool_latency (6s)");
    /* the severity steps of sequential_bottleneck: high (default 50) below medium */
    expect_load_error("thresholds:\n  sequential_medium_impact_pct: 60\n",
                      "2: thresholds.sequential_high_impact_pct (50) must not be below "
                      "thresholds.sequential_medium_impact_pct (60)");
    /* a high-severity factor below 1 would put the high cut-off under the base one */
    expect_load_error("thresholds:\n  expensive_node_high_factor: 0.5\n",
                      "2: thresholds.expensive_node_high_factor: '0.5' is out of range (1..1000)");
    expect_load_error("thresholds:\n  budget_high_factor: 0.9\n",
                      "2: thresholds.budget_high_factor: '0.9' is out of range (1..1000)");
    expect_load_error("server:\n  listen: [1, 2\n",
                      "3: YAML syntax error: while parsing a flow sequence did not find expected "
                      "',' or ']'");
    expect_load_error("server:\n  workers: 1\n---\nserver:\n  workers: 2\n",
                      "4: only one YAML document is allowed");
}

static void test_missing_file(void **state)
{
    dp_config c;
    char err[512];
    dp_config_defaults(&c);
    assert_int_equal(dp_config_load_file(&c, "/nonexistent/dagprof.yaml", err, sizeof(err)), -1);
    assert_string_equal(err, "/nonexistent/dagprof.yaml: cannot open: No such file or directory");
}

static void test_set_single_key(void **state)
{
    dp_config c;
    char err[1024];
    dp_config_defaults(&c);
    assert_int_equal(dp_config_set(&c, "assembly.idle_timeout", "250ms", err, sizeof(err)), 0);
    assert_int_equal(c.assembly.idle_timeout_ms, 250);
    assert_int_equal(dp_config_set(&c, "output.color", "always", err, sizeof(err)), 0);
    assert_int_equal(c.output.color, 1);
    assert_int_equal(dp_config_set(&c, "server.nope", "1", err, sizeof(err)), -1);
    assert_string_equal(
        err, "unknown key 'nope' in section 'server' (allowed: listen, http_listen, workers, "
             "max_recv_message_size, max_concurrent_calls, max_concurrent_streams, recv_timeout, "
             "keepalive_time, keepalive_timeout, max_connection_idle, max_connection_age, "
             "max_connection_age_grace, handshake_timeout, max_connections, shutdown_timeout, "
             "tls.cert_file, "
             "tls.key_file, "
             "tls.client_ca_file, tls.min_version, auth.bearer_tokens_file, auth.header, "
             "auth.header_values_file, http_cors_allowed_origins, "
             "http_cors_allowed_headers, http_cors_max_age, http_idle_timeout)");
    assert_int_equal(dp_config_set(&c, "sever.listen", "x", err, sizeof(err)), -1);
    assert_string_equal(err, "unknown section 'sever' (allowed: server, assembly, output, "
                             "upstream, metrics, profile, thresholds, recommendations, budget, "
                             "pricing, log, health, telemetry, storage, memory, history)");
    assert_int_equal(dp_config_set(&c, "budget", "1", err, sizeof(err)), -1);
    assert_string_equal(err, "'budget' names a section, not a key (allowed keys: usd, tokens)");
    /* the health endpoint's address is checked like the receivers': empty turns it off */
    assert_int_equal(dp_config_set(&c, "health.listen", "13133", err, sizeof(err)), -1);
    assert_string_equal(err, "health.listen: '13133' is not HOST:PORT (e.g. 127.0.0.1:4317, "
                             "[::1]:4317, 0.0.0.0:4317; port 0..65535)");
    assert_string_equal(c.health_listen, "127.0.0.1:13133");
    assert_int_equal(dp_config_set(&c, "health.listen", "", err, sizeof(err)), 0);
    assert_string_equal(c.health_listen, "");
    /* so is the telemetry endpoint's; a status interval of 0 turns the status line off */
    assert_string_equal(c.telemetry.listen, "127.0.0.1:8888");
    assert_int_equal(c.telemetry.status_interval_ms, 10000);
    assert_int_equal(dp_config_set(&c, "telemetry.listen", "8888", err, sizeof(err)), -1);
    assert_string_equal(err, "telemetry.listen: '8888' is not HOST:PORT (e.g. 127.0.0.1:4317, "
                             "[::1]:4317, 0.0.0.0:4317; port 0..65535)");
    assert_int_equal(dp_config_set(&c, "telemetry.listen", "", err, sizeof(err)), 0);
    assert_string_equal(c.telemetry.listen, "");
    assert_int_equal(dp_config_set(&c, "telemetry.status_interval", "0", err, sizeof(err)), 0);
    assert_int_equal(c.telemetry.status_interval_ms, 0);
    /* storage.sync: always or a duration; the size limit not below a segment */
    assert_int_equal(dp_config_set(&c, "storage.sync", "always", err, sizeof(err)), 0);
    assert_string_equal(c.storage.sync, "always");
    assert_int_equal(dp_config_set(&c, "storage.sync", "often", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is neither always nor a duration"));
    assert_int_equal(dp_config_set(&c, "storage.max_size", "32MiB", err, sizeof(err)), 0);
    assert_int_equal(dp_config_validate(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "storage.max_size"));
    assert_int_equal(dp_config_set(&c, "storage.max_size", "1GiB", err, sizeof(err)), 0);
    assert_int_equal(dp_config_set(&c, "thresholds.retries_high", "1", err, sizeof(err)), 0);
    assert_int_equal(dp_config_validate(&c, err, sizeof(err)), -1);
    assert_string_equal(err, "thresholds.retries_high (1) must not be below "
                             "thresholds.retries_min (2)");
}

static void test_price_file(void **state)
{
    dp_config c;
    char err[1024];
    dp_config_defaults(&c);
    snprintf(c.price_file, sizeof(c.price_file), "%s", DATA "prices_good.yaml");
    assert_int_equal(dp_config_load_prices(&c, err, sizeof(err)), 0);
    assert_non_null(c.prices);
    assert_ptr_equal(c.profile.prices, c.prices);

    const dp_model_price *p = dp_price_table_lookup(c.prices, DP_STR_LIT("acme-large-v2"));
    assert_non_null(p);
    assert_true(p->input_per_mtok == 2.0);
    assert_true(p->output_per_mtok == 8.0);
    /* no cache prices given: both default to the input price */
    assert_true(p->cache_read_per_mtok == 2.0);
    assert_true(p->cache_write_per_mtok == 2.0);

    /* the user's gpt-4o beats the built-in one */
    p = dp_price_table_lookup(c.prices, DP_STR_LIT("gpt-4o-2024-08-06"));
    assert_non_null(p);
    assert_true(p->input_per_mtok == 1.5);
    assert_true(p->output_per_mtok == 6.0);
    assert_true(p->cache_read_per_mtok == 0.5);
    assert_true(p->cache_write_per_mtok == 1.75);
    dp_config_release(&c);
    assert_null(c.prices);

    /* without a price file: built-ins only, a made-up model has no price */
    dp_config_defaults(&c);
    assert_int_equal(dp_config_load_prices(&c, err, sizeof(err)), 0);
    assert_null(dp_price_table_lookup(c.prices, DP_STR_LIT("acme-large-v2")));
    dp_config_release(&c);
}

static void expect_price_error(const char *text, const char *expected_suffix)
{
    char path[64], err[1024], want[1200];
    dp_config c;
    dp_config_defaults(&c);
    write_tmp(path, text);
    snprintf(c.price_file, sizeof(c.price_file), "%s", path);
    assert_int_equal(dp_config_load_prices(&c, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:%s", path, expected_suffix);
    assert_string_equal(err, want);
    assert_null(c.prices);
    unlink(path);
}

static void test_price_file_errors(void **state)
{
    expect_price_error("- model: a\n  input: 1\n  output: 2\n  cached: 3\n",
                       "4: unknown key 'cached' in price entry (allowed: model, input, output, "
                       "cache_read, cache_write, above_tokens, above_input, above_output, "
                       "above_cache_read, above_cache_write)");
    expect_price_error("- model: a\n  input: 1\n\n- model: b\n  input: 1\n  output: 1\n",
                       "1: price entry lacks 'output' (model, input and output are required)");
    expect_price_error("- model: a\n  input: 1\n  output: 2\n- model: a\n  input: 1\n  output: 2\n",
                       "4: duplicate model 'a' (an earlier entry has it)");
    expect_price_error("- model: a\n  input: -1\n  output: 2\n",
                       "2: input: '-1' is out of range (0..1e+06 USD per 1M tokens)");
    expect_price_error("- model: a\n  input: cheap\n  output: 2\n",
                       "2: input: expected a price in USD per 1M tokens, got 'cheap'");
    expect_price_error("- model: a\n  input: 1\n  input: 2\n  output: 2\n",
                       "3: duplicate key 'input' in price entry (first on line 2)");
    expect_price_error("gpt-4o: 2.5\n",
                       "1: expected a list of price entries ('- model: ...'), got a mapping");
    expect_price_error("- gpt-4o\n", "1: expected a price entry (model, input, output, cache_read, "
                                     "cache_write), got a value");
}

/* docs/configuration.md and examples/dagprof.yaml are generated; they must
 * be exactly what the tables generate today. Regenerate with
 * `dagprof config-reference > docs/configuration.md` and
 * `dagprof config-example > examples/dagprof.yaml`. */
static void test_committed_reference_is_generated(void **state)
{
    dp_buf b;
    dp_buf_init(&b, 1 << 20);
    assert_int_equal(dp_config_reference_markdown(&b), 0);
    char *doc = read_whole(REPO "docs/configuration.md");
    if (strcmp(doc, b.data) != 0)
        print_error("docs/configuration.md is stale: regenerate it with "
                    "`dagprof config-reference > docs/configuration.md`\n");
    assert_string_equal(doc, b.data);
    free(doc);

    dp_buf_reset(&b);
    assert_int_equal(dp_config_example_yaml(&b), 0);
    doc = read_whole(REPO "examples/dagprof.yaml");
    if (strcmp(doc, b.data) != 0)
        print_error("examples/dagprof.yaml is stale: regenerate it with "
                    "`dagprof config-example > examples/dagprof.yaml`\n");
    assert_string_equal(doc, b.data);
    free(doc);
    dp_buf_free(&b);

    /* every key is documented */
    doc = read_whole(REPO "docs/configuration.md");
    for (size_t i = 0; i < dp_config_part_count; i++)
        for (size_t j = 0; j < dp_config_parts[i].section->key_count; j++) {
            char cell[96];
            snprintf(cell, sizeof(cell), "| `%s` |", dp_config_parts[i].section->keys[j].name);
            assert_non_null(strstr(doc, cell));
        }
    free(doc);
}

/* docs/prices.md starts with `dagprof prices`: every built-in price with the
 * month it was read, embedding models and long-context tiers included; the
 * rules and formats after the marker line are written by hand. */
static void test_committed_prices_are_generated(void **state)
{
    dp_buf b;
    dp_buf_init(&b, 1 << 20);
    assert_int_equal(dp_price_reference_markdown(&b), 0);
    char *doc = read_whole(REPO "docs/prices.md");
    char *hand = strstr(doc, "\n<!-- written by hand below -->\n");
    assert_non_null(hand);
    hand[0] = '\0'; /* the blank line before the marker is not generated */
    if (strcmp(doc, b.data) != 0)
        print_error("docs/prices.md is stale: replace the part before its marker line with "
                    "`dagprof prices`\n");
    assert_string_equal(doc, b.data);
    assert_non_null(
        strstr(doc, "| `text-embedding-3-small` | 0.02 | 0 | 0.02 | 0.02 | - | 2025-11 |"));
    /* Anthropic's page: Sonnet 4.5 prompts above 200k tokens cost $6 input,
     * $22.50 output, $0.60 cache hits, $7.50 5-minute cache writes */
    assert_non_null(strstr(doc, "| `claude-sonnet-4-5` | 3 | 15 | 0.3 | 3.75 | above 200000: 6 / "
                                "22.5 / 0.6 / 7.5 | 2025-11 |"));
    free(doc);
    dp_buf_free(&b);
    for (size_t i = 0; i < dp_price_builtin_count(); i++) {
        const char *as_of = NULL;
        assert_non_null(dp_price_builtin(i, &as_of));
        assert_non_null(as_of);
        assert_int_equal(strlen(as_of), 7); /* YYYY-MM */
    }
}

/* The example holds every key at its default: loading it changes nothing. */
static void test_example_config_is_the_defaults(void **state)
{
    dp_config c, defaults;
    char err[1024];
    dp_config_defaults(&c);
    dp_config_defaults(&defaults);
    assert_int_equal(dp_config_load_file(&c, REPO "examples/dagprof.yaml", err, sizeof(err)), 0);
    assert_memory_equal(&c, &defaults, sizeof(c));

    /* and the example price file is valid */
    snprintf(c.price_file, sizeof(c.price_file), "%s", REPO "examples/prices.yaml");
    assert_int_equal(dp_config_load_prices(&c, err, sizeof(err)), 0);
    dp_config_release(&c);
}

/*
 * ${env:NAME} in values, as the Collector expands them. Expected values:
 * the variables set here, spliced in by hand.
 */
static void test_environment_variables(void **state)
{
    char path[64], err[1024];
    dp_config c;
    setenv("DP_TEST_PORT", "5999", 1);
    setenv("DP_TEST_KEY", "s3cr=t,x", 1);
    setenv("DP_TEST_EMPTY", "", 1);
    unsetenv("DP_TEST_UNSET");
    dp_config_defaults(&c);
    write_tmp(path, "server:\n"
                    "  listen: 127.0.0.1:${env:DP_TEST_PORT}\n"   /* env provider */
                    "  http_listen: 127.0.0.1:${DP_TEST_PORT}9\n" /* braces, inline */
                    "  workers: ${env:DP_TEST_UNSET:-7}\n"        /* default */
                    "profile:\n"
                    "  default_model: a$$b${env:DP_TEST_UNSET}c$d${DP_TEST_EMPTY}\n"
                    "upstream:\n"
                    "  endpoint: ${env:DP_TEST_EMPTY:-x}\n" /* set but empty */
                    "  headers:\n"
                    "    x-key: ${env:DP_TEST_KEY}\n");
    assert_int_equal(dp_config_load_file(&c, path, err, sizeof(err)), 0);
    assert_string_equal(c.server.listen, "127.0.0.1:5999");
    assert_string_equal(c.server.http_listen, "127.0.0.1:59999");
    assert_int_equal(c.server.workers, 7);
    /* "$$" is one '$', an unset variable is empty, a lone '$' stays */
    assert_string_equal(c.profile.default_model, "a$bc$d");
    /* the default applies only when the variable is not set */
    assert_string_equal(c.upstream.all.endpoint, "");
    /* a header value from the environment is percent-encoded like any mapping value */
    assert_string_equal(c.upstream.all.headers, "x-key=s3cr%3Dt%2Cx");
    unlink(path);

    expect_load_error("server:\n  listen: ${env:1X}\n",
                      "2: server.listen: ${env:1X}: invalid environment variable name (want "
                      "[A-Za-z_][A-Za-z0-9_]*)");
    expect_load_error("\nserver:\n  listen: ${file:/etc/x}\n",
                      "3: server.listen: ${file:/etc/x}: only the env provider is supported "
                      "(${env:NAME})");
    expect_load_error("server:\n  listen: ${env:DP_TEST_PORT\n",
                      "2: server.listen: '${' without its closing '}'");
    /* the expanded value is checked like a written one */
    setenv("DP_TEST_PORT", "notaport", 1);
    expect_load_error("server:\n  workers: ${env:DP_TEST_PORT}\n",
                      "2: server.workers: expected a whole number, got 'notaport'");
    unsetenv("DP_TEST_PORT");
    unsetenv("DP_TEST_KEY");
    unsetenv("DP_TEST_EMPTY");
}

/* A list key written as a YAML list: the items joined with commas, each expanded. */
static void test_list_keys(void **state)
{
    char path[64], err[1024];
    dp_config c;
    setenv("DP_TEST_ORIGIN", "https://b.example", 1);
    dp_config_defaults(&c);
    write_tmp(path, "server:\n  http_cors_allowed_origins:\n    - https://a.example\n"
                    "    - ${env:DP_TEST_ORIGIN}\n  http_cors_allowed_headers: [X-A, X-B]\n");
    assert_int_equal(dp_config_load_file(&c, path, err, sizeof(err)), 0);
    assert_string_equal(c.server.http_cors_allowed_origins, "https://a.example,https://b.example");
    assert_string_equal(c.server.http_cors_allowed_headers, "X-A,X-B");
    unlink(path);
    unsetenv("DP_TEST_ORIGIN");
    expect_load_error("server:\n  http_cors_allowed_origins:\n    - a\n    - b,c\n",
                      "4: server.http_cors_allowed_origins: a list item may not contain ','");
    expect_load_error("server:\n  http_cors_allowed_origins:\n    - [a]\n",
                      "3: server.http_cors_allowed_origins: expected a list of values");
    /* a list where the key takes none */
    expect_load_error("server:\n  listen: [a, b]\n",
                      "2: server.listen: expected a single string value, got a list");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_default_is_valid),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_partial_file_keeps_other_defaults),
        cmocka_unit_test(test_unknown_key_and_section),
        cmocka_unit_test(test_nested_keys),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_joined_rules_and_syntax),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_set_single_key),
        cmocka_unit_test(test_price_file),
        cmocka_unit_test(test_price_file_errors),
        cmocka_unit_test(test_committed_reference_is_generated),
        cmocka_unit_test(test_committed_prices_are_generated),
        cmocka_unit_test(test_example_config_is_the_defaults),
        cmocka_unit_test(test_environment_variables),
        cmocka_unit_test(test_list_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The command line: subcommands, flags in both spellings, precedence
 * (defaults < --config FILE < flags, later flags winning), and the exact
 * message and exit status of every kind of mistake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "config_table.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])))

static void write_tmp(char *path, const char *text)
{
    strcpy(path, "/tmp/dp_test_cli_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Everything written to f, as a string (caller frees). */
static char *slurp(FILE *f)
{
    long n = ftell(f);
    assert_true(n >= 0);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    return s;
}

/* Run the whole program; expect `status` and exactly `want_err` on stderr. */
static char *run(int argc, char **argv, int status, const char *want_err)
{
    FILE *out = tmpfile(), *err = tmpfile();
    assert_non_null(out);
    assert_non_null(err);
    assert_int_equal(dp_cli_main_to(argc, argv, out, err), status);
    char *e = slurp(err);
    if (want_err)
        assert_string_equal(e, want_err);
    free(e);
    char *o = slurp(out);
    fclose(out);
    fclose(err);
    return o;
}

static void test_no_arguments_runs_the_daemon_with_defaults(void **state)
{
    char *argv[] = {"dagprof"};
    dp_cli cli;
    char err[512];
    assert_int_equal(dp_cli_parse(&cli, ARGC(argv), argv, err, sizeof(err)), 0);
    assert_int_equal(cli.command, DP_CLI_DAEMON);
    assert_null(cli.config_path);
    assert_string_equal(cli.config.server.listen, "127.0.0.1:4317");
    assert_int_equal(cli.config.output.format, DP_FORMAT_TEXT);
    assert_int_equal(cli.file_count, 0);
    dp_cli_release(&cli);
}

static void test_report_flags_and_files(void **state)
{
    char *argv[] = {"dagprof",         "report", "--format", "json", "a.json",    "--color=never",
                    "--default-model", "gpt-4o", "b.pb",     "--",   "--odd-name"};
    dp_cli cli;
    char err[512];
    assert_int_equal(dp_cli_parse(&cli, ARGC(argv), argv, err, sizeof(err)), 0);
    assert_int_equal(cli.command, DP_CLI_REPORT);
    assert_int_equal(cli.config.output.format, DP_FORMAT_JSON);
    assert_int_equal(cli.config.output.color, 0);
    assert_string_equal(cli.config.profile.default_model, "gpt-4o");
    /* files may sit between options; after "--" everything is a file */
    assert_int_equal(cli.file_count, 3);
    assert_string_equal(cli.files[0], "a.json");
    assert_string_equal(cli.files[1], "b.pb");
    assert_string_equal(cli.files[2], "--odd-name");
    dp_cli_release(&cli);
}

static void test_every_common_flag(void **state)
{
    char *argv[] = {"dagprof",
                    "--listen",
                    "0.0.0.0:9999",
                    "--http-listen",
                    "0.0.0.0:9998",
                    "--workers=7",
                    "--idle-timeout",
                    "750ms",
                    "--max-age",
                    "1m",
                    "--price-file",
                    "p.yaml",
                    "--log-level",
                    "warn",
                    "--set",
                    "budget.usd=2.5",
                    "--set=server.max_recv_message_size=1MiB"};
    dp_cli cli;
    char err[512];
    assert_int_equal(dp_cli_parse(&cli, ARGC(argv), argv, err, sizeof(err)), 0);
    assert_string_equal(cli.config.server.listen, "0.0.0.0:9999");
    assert_string_equal(cli.config.server.http_listen, "0.0.0.0:9998");
    assert_int_equal(cli.config.server.workers, 7);
    assert_int_equal(cli.config.assembly.idle_timeout_ms, 750);
    assert_int_equal(cli.config.assembly.max_age_ms, 60000); /* 1m */
    assert_string_equal(cli.config.price_file, "p.yaml");
    assert_string_equal(cli.config.log_level, "warn");
    assert_true(cli.config.profile.budget_usd == 2.5);
    assert_int_equal(cli.config.server.max_recv_message_bytes, 1048576);
    dp_cli_release(&cli);
}

/* defaults < file < flags, wherever --config stands; the last flag wins. */
static void test_precedence(void **state)
{
    char path[64];
    write_tmp(path, "server:\n  listen: 10.0.0.1:4317\n  workers: 3\n"
                    "output:\n  format: json\n  waterfall_width: 70\n");
    char *argv[] = {"dagprof",
                    "--workers",
                    "5",
                    "--format",
                    "text",
                    "--config",
                    path,
                    "--format",
                    "json",
                    "--set",
                    "output.waterfall_width=90",
                    "--set",
                    "output.waterfall_width=95"};
    dp_cli cli;
    char err[512];
    assert_int_equal(dp_cli_parse(&cli, ARGC(argv), argv, err, sizeof(err)), 0);
    assert_string_equal(cli.config_path, path);
    assert_string_equal(cli.config.server.listen, "10.0.0.1:4317"); /* file over default */
    assert_int_equal(cli.config.server.workers, 5);                 /* flag over file */
    assert_int_equal(cli.config.output.format, DP_FORMAT_JSON);     /* last flag */
    assert_int_equal(cli.config.output.waterfall_width, 95);        /* last --set */
    assert_int_equal(cli.config.assembly.shards, 64);               /* untouched default */
    dp_cli_release(&cli);
    unlink(path);
}

static void test_usage_errors_exit_2_with_one_line_and_hint(void **state)
{
    const char *hint = "Try 'dagprof --help' for more information.\n";
    char want[1024];
    struct {
        char *argv[6];
        int argc;
        const char *message;
    } cases[] = {
        {{"dagprof", "--bogus"}, 2, "unknown option '--bogus'"},
        {{"dagprof", "-x"}, 2, "unknown option '-x'"},
        {{"dagprof", "--listen"}, 2, "option '--listen' needs a value"},
        {{"dagprof", "--workers", "many"},
         3,
         "option '--workers': server.workers: expected a whole number, got 'many'"},
        {{"dagprof", "--idle-timeout", "5"},
         3,
         "option '--idle-timeout': assembly.idle_timeout: expected a duration such as 500ms, 2s, "
         "1.5m or 1h, got '5'"},
        {{"dagprof", "report", "--format=yaml", "f.json"},
         4,
         "option '--format': output.format: 'yaml' is not one of: text, json, html"},
        {{"dagprof", "--set", "nokey"}, 3, "option '--set' needs SECTION.KEY=VALUE, got 'nokey'"},
        {{"dagprof", "--set", "server.port=1"},
         3,
         "option '--set': unknown key 'port' in section 'server' (allowed: listen, http_listen, "
         "workers, "
         "max_recv_message_size, max_concurrent_calls, max_concurrent_streams, recv_timeout, "
         "keepalive_time, keepalive_timeout, max_connection_idle, max_connection_age, "
         "max_connection_age_grace, handshake_timeout, max_connections, shutdown_timeout, "
         "tls.cert_file, "
         "tls.key_file, "
         "tls.client_ca_file, tls.min_version, auth.bearer_tokens_file, auth.header, "
         "auth.header_values_file, http_cors_allowed_origins, "
         "http_cors_allowed_headers, http_cors_max_age, http_idle_timeout)"},
        {{"dagprof", "traces.json"},
         2,
         "unexpected argument 'traces.json' (to profile files use: dagprof report FILE...)"},
        {{"dagprof", "report", "--format", "json"}, 4, "report needs at least one FILE"},
        {{"dagprof", "--set", "thresholds.retries_min=5"},
         3,
         "thresholds.retries_high (3) must not be below thresholds.retries_min (5)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(want, sizeof(want), "dagprof: %s\n%s", cases[i].message, hint);
        char *out = run(cases[i].argc, cases[i].argv, 2, want);
        assert_string_equal(out, ""); /* nothing on stdout */
        free(out);
    }
}

/* A bad config file is not a command-line mistake: its FILE:LINE message,
 * exit 2, no hint. */
static void test_config_errors_exit_2_with_file_and_line(void **state)
{
    char path[64], want[1024];
    write_tmp(path, "output:\n  format: json\n  colour: never\n");
    char *argv[] = {"dagprof", "report", "--config", path, "x.json"};
    snprintf(want, sizeof(want),
             "dagprof: %s:3: unknown key 'colour' in section 'output' (allowed: format, color, "
             "waterfall_width, reports, html_dir, html_max_files)\n",
             path);
    free(run(ARGC(argv), argv, 2, want));
    unlink(path);

    char *argv2[] = {"dagprof", "report", "--config", "/nonexistent.yaml", "x.json"};
    free(run(ARGC(argv2), argv2, 2,
             "dagprof: /nonexistent.yaml: cannot open: No such file or directory\n"));

    /* the price file is read before anything runs */
    write_tmp(path, "- model: m\n  input: 1\n");
    char *argv3[] = {"dagprof", "report", "--price-file", path, "x.json"};
    snprintf(want, sizeof(want),
             "dagprof: %s:1: price entry lacks 'output' (model, input and output are required)\n",
             path);
    free(run(ARGC(argv3), argv3, 2, want));
    unlink(path);

    /* an HTML page on stdout is for `report`; the daemon writes pages to a directory */
    char *argv4[] = {"dagprof", "--format", "html"};
    free(run(ARGC(argv4), argv4, 2,
             "dagprof: output.format html is for 'dagprof report'; the daemon writes an HTML "
             "page per run with output.html_dir (--html-dir)\n"));
}

/* validate: "ok" and 0 for a good configuration, the FILE:LINE message and 2
 * otherwise; it starts nothing (the port of a good file is held here). */
static void test_validate(void **state)
{
    char path[64], want[1024];
    write_tmp(path, "server:\n  listen: 127.0.0.1:1\n  http_listen: \"\"\nlog:\n  format: json\n");
    char *argv[] = {"dagprof", "validate", "--config", path};
    char *out = run(ARGC(argv), argv, 0, "");
    assert_string_equal(out, "ok\n");
    free(out);
    /* flags after the file are checked too */
    char *argv_flag[] = {"dagprof", "validate", "--config", path, "--workers", "999"};
    out = run(ARGC(argv_flag), argv_flag, 2,
              "dagprof: option '--workers': server.workers: '999' is out of range (0..256)\n"
              "Try 'dagprof --help' for more information.\n");
    assert_string_equal(out, "");
    free(out);
    unlink(path);

    write_tmp(path, "server:\n  workers: 2\n\n  listen: nohost\n");
    char *argv_bad[] = {"dagprof", "validate", "--config", path};
    snprintf(want, sizeof(want),
             "dagprof: %s:4: server.listen: 'nohost' is not HOST:PORT (e.g. 127.0.0.1:4317, "
             "[::1]:4317, 0.0.0.0:4317; port 0..65535)\n",
             path);
    out = run(ARGC(argv_bad), argv_bad, 2, want);
    assert_string_equal(out, "");
    free(out);
    unlink(path);

    char *argv_extra[] = {"dagprof", "validate", "file.yaml"};
    free(run(ARGC(argv_extra), argv_extra, 2,
             "dagprof: unexpected argument 'file.yaml' (use: dagprof validate --config FILE)\n"
             "Try 'dagprof --help' for more information.\n"));
}

static void test_help_version_and_generated_text(void **state)
{
    char *argv[] = {"dagprof", "--help"};
    char *out = run(ARGC(argv), argv, 0, "");
    /* every flag and every key is listed */
    const char *flags[] = {"--config FILE",
                           "--listen HOST:PORT",
                           "--format text|json",
                           "--workers N",
                           "--idle-timeout DURATION",
                           "--max-age DURATION",
                           "--default-model NAME",
                           "--price-file FILE",
                           "--log-level error|warn|info|debug",
                           "--color auto|always|never",
                           "--set SECTION.KEY=VALUE",
                           "--http-listen HOST:PORT",
                           "--health-listen HOST:PORT",
                           "--storage-path PATH",
                           "--history PATH",
                           "--html-dir DIR",
                           "--version"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        assert_non_null(strstr(out, flags[i]));
    for (size_t i = 0; i < dp_config_part_count; i++)
        for (size_t j = 0; j < dp_config_parts[i].section->key_count; j++) {
            const dp_config_section *s = dp_config_parts[i].section;
            char path[96];
            snprintf(path, sizeof(path), "  %s.%s ", s->name, s->keys[j].name);
            assert_non_null(strstr(out, path));
        }
    free(out);

    /* "report --help" is help too, not a missing-file error */
    char *argv_r[] = {"dagprof", "report", "-h"};
    out = run(ARGC(argv_r), argv_r, 0, "");
    assert_true(strncmp(out, "Usage: dagprof", 14) == 0);
    free(out);

    char *argv2[] = {"dagprof", "--version"};
    out = run(ARGC(argv2), argv2, 0, "");
    assert_string_equal(out, "dagprof 0.1.0\n");
    free(out);

    dp_buf b;
    dp_buf_init(&b, 1 << 20);
    assert_int_equal(dp_config_reference_markdown(&b), 0);
    char *argv3[] = {"dagprof", "config-reference"};
    out = run(ARGC(argv3), argv3, 0, "");
    assert_string_equal(out, b.data);
    free(out);
    char *argv4[] = {"dagprof", "--help-config"};
    out = run(ARGC(argv4), argv4, 0, "");
    assert_string_equal(out, b.data);
    free(out);

    dp_buf_reset(&b);
    assert_int_equal(dp_config_example_yaml(&b), 0);
    char *argv5[] = {"dagprof", "config-example"};
    out = run(ARGC(argv5), argv5, 0, "");
    assert_string_equal(out, b.data);
    free(out);
    dp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_arguments_runs_the_daemon_with_defaults),
        cmocka_unit_test(test_report_flags_and_files),
        cmocka_unit_test(test_every_common_flag),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_usage_errors_exit_2_with_one_line_and_hint),
        cmocka_unit_test(test_config_errors_exit_2_with_file_and_line),
        cmocka_unit_test(test_help_version_and_generated_text),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

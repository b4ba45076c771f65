/*
 * The command line: subcommand, flags, precedence (defaults < --config FILE
 * < flags, flags applied in the order given), help and version, then the
 * daemon or the offline report. See cli.h.
 *
 * The flags that set a configuration key are declared with the key in its
 * section's table (dp_config_key.flag, whichever module owns the section),
 * so a flag and its YAML key parse values identically and --help cannot
 * miss one. The OTEL_EXPORTER_OTLP_* variables are read, under the upstream
 * keys, only for the daemon.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_table.h"
#include "price_doc.h"
#include "daemon.h"
#include "diff_cmd.h"
#include "grpc_log.h"
#include "log.h"
#include "report_cmd.h"
#include "runs_cmd.h"

/* A flag from argv waiting to be applied after the config file. */
typedef struct pending_set {
    const char *flag; /* as written, for messages */
    char path[96];    /* SECTION.KEY */
    const char *value;
} pending_set;

static const char usage_text[] =
    "Usage: dagprof [OPTIONS]                 receive OTLP (gRPC, HTTP), report every DAG run\n"
    "       dagprof report [OPTIONS] FILE...  profile OTLP trace files (protobuf or OTLP/JSON)\n"
    "       dagprof diff [OPTIONS] RUN_A RUN_B  what changed between two runs (OTLP files,\n"
    "                                         FILE#TRACEID to pick a run; --trace-a ID,\n"
    "                                         --trace-b ID, --output FILE, --format), or\n"
    "                                         trace ids of the run history (--history PATH)\n"
    "       dagprof validate [OPTIONS]        check the configuration (file, flags, "
    "environment),\n"
    "                                         print ok, start nothing\n"
    "       dagprof config-reference          print the configuration reference (Markdown)\n"
    "       dagprof config-example            print a config file with every key at its "
    "default\n"
    "       dagprof prices                    print the built-in model prices (Markdown)\n"
    "       dagprof prices MODEL...           show the price each model name gets, and why\n"
    "       dagprof runs [--dag ID] [--since DURATION] [--limit N] [--history PATH]\n"
    "                                         list the recent runs of the run history\n"
    "       dagprof trends --dag ID [--since DURATION] [--window N | --previous DURATION]\n"
    "                      [--threshold PCT] [--history PATH]\n"
    "                                         per-node trends of a DAG and regressions\n"
    "\n"
    "Settings come from built-in defaults, then --config FILE, then flags (later wins).\n"
    "Upstream settings: OTEL_EXPORTER_OTLP_* variables < --config FILE < flags.\n"
    "\n"
    "Options:\n"
    "  --config FILE                      YAML configuration file\n";

static const char usage_tail[] =
    "  --set SECTION.KEY=VALUE            set any configuration key (repeatable)\n"
    "  -h, --help                         print this help and exit\n"
    "  -V, --version                      print the version and exit\n"
    "\n"
    "Exit status: 0 ok; 1 a file or run failed; 2 bad command line or configuration.\n"
    "\n";

/* What a flag's value looks like, for --help. */
static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void flag_metavar(const dp_config_key *k, char *out, size_t outlen)
{
    if (k->type == DP_CFG_ENUM || k->type == DP_CFG_ENUM_STRING) {
        size_t used = 0;
        out[0] = '\0';
        for (size_t i = 0; k->enum_values[i].name && used < outlen; i++) {
            int n =
                snprintf(out + used, outlen - used, "%s%s", i ? "|" : "", k->enum_values[i].name);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        return;
    }
    const char *m = "VALUE";
    if (k->type == DP_CFG_DURATION || k->type == DP_CFG_DURATION_D)
        m = "DURATION";
    else if (k->type == DP_CFG_UINT)
        m = "N";
    else if (k->type == DP_CFG_SIZE)
        m = "SIZE";
    else if (ends_with(k->name, "listen") || strcmp(k->name, "endpoint") == 0)
        m = "HOST:PORT";
    else if (ends_with(k->name, "file"))
        m = "FILE";
    else if (ends_with(k->name, "_dir"))
        m = "DIR";
    else if (strcmp(k->name, "path") == 0)
        m = "PATH";
    else if (strcmp(k->name, "default_model") == 0)
        m = "NAME";
    snprintf(out, outlen, "%s", m);
}

int dp_cli_help(dp_buf *out)
{
    if (dp_buf_puts(out, usage_text) < 0)
        return -1;
    for (size_t i = 0; i < dp_config_part_count; i++) {
        const dp_config_section *s = dp_config_parts[i].section;
        for (size_t j = 0; j < s->key_count; j++) {
            const dp_config_key *k = &s->keys[j];
            char metavar[64], left[96];
            if (!k->flag)
                continue;
            flag_metavar(k, metavar, sizeof(metavar));
            snprintf(left, sizeof(left), "%s %s", k->flag, metavar);
            if (dp_buf_printf(out, "  %-34s %s.%s (default %s)\n", left, s->name, k->name,
                              k->default_value[0] ? k->default_value : "\"\"") < 0)
                return -1;
        }
    }
    if (dp_buf_puts(out, usage_tail) < 0)
        return -1;
    return dp_config_help_keys(out);
}

/* The key a flag sets ("--listen" → server.listen), or NULL. */
static const dp_config_key *flag_key(const char *flag, size_t len, const dp_config_section **sec)
{
    for (size_t i = 0; i < dp_config_part_count; i++) {
        const dp_config_section *s = dp_config_parts[i].section;
        for (size_t j = 0; j < s->key_count; j++) {
            const char *f = s->keys[j].flag;
            if (f && strlen(f) == len && memcmp(f, flag, len) == 0) {
                *sec = s;
                return &s->keys[j];
            }
        }
    }
    return NULL;
}

static int usage_error(dp_cli *cli, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A mistake on the command line: the message, and the --help hint. */
static int usage_error(dp_cli *cli, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    cli->usage_hint = true;
    return -1;
}

/* Take the flag's value from "--flag=value" or the next argument. */
static int flag_value(dp_cli *cli, int argc, char **argv, int *i, const char *eq,
                      const char *flag_text, const char **value, char *err, size_t errlen)
{
    if (eq) {
        *value = eq + 1;
        return 0;
    }
    if (*i + 1 >= argc)
        return usage_error(cli, err, errlen, "option '%s' needs a value", flag_text);
    *value = argv[++*i];
    return 0;
}

int dp_cli_parse(dp_cli *cli, int argc, char **argv, char *err, size_t errlen)
{
    int result = -1;
    int first = 1;
    bool only_files = false;
    pending_set *sets = NULL;
    size_t set_count = 0;
    char msg[1024];

    memset(cli, 0, sizeof(*cli));
    dp_config_defaults(&cli->config);
    cli->command = DP_CLI_DAEMON;
    if (argc > 1 && strcmp(argv[1], "report") == 0) {
        cli->command = DP_CLI_REPORT;
        first = 2;
    } else if (argc > 1 && strcmp(argv[1], "config-reference") == 0) {
        cli->command = DP_CLI_CONFIG_REFERENCE;
        first = 2;
    } else if (argc > 1 && strcmp(argv[1], "config-example") == 0) {
        cli->command = DP_CLI_CONFIG_EXAMPLE;
        first = 2;
    } else if (argc > 1 && strcmp(argv[1], "prices") == 0) {
        cli->command = DP_CLI_PRICES;
        first = 2;
    } else if (argc > 1 && strcmp(argv[1], "validate") == 0) {
        cli->command = DP_CLI_VALIDATE;
        first = 2;
    } else if (argc > 1 && strcmp(argv[1], "diff") == 0) {
        cli->command = DP_CLI_DIFF;
        first = 2;
    }

    sets = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*sets));
    cli->files = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*cli->files));
    if (!sets || !cli->files) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    bool help = false, version = false;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (only_files || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (cli->command != DP_CLI_REPORT && cli->command != DP_CLI_PRICES &&
                cli->command != DP_CLI_DIFF) {
                usage_error(cli, err, errlen, "unexpected argument '%s'%s", arg,
                            cli->command == DP_CLI_DAEMON     ? " (to profile files use: dagprof "
                                                                "report FILE...)"
                            : cli->command == DP_CLI_VALIDATE ? " (use: dagprof validate --config "
                                                                "FILE)"
                                                              : "");
                goto out;
            }
            cli->files[cli->file_count++] = argv[i];
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_files = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            help = true;
            continue;
        }
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            version = true;
            continue;
        }
        if (strcmp(arg, "--help-config") == 0) {
            cli->command = DP_CLI_CONFIG_REFERENCE;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        char flag_text[64];
        snprintf(flag_text, sizeof(flag_text), "%.*s", (int)name_len, arg);
        const char *value = NULL;

        if (strcmp(flag_text, "--config") == 0) {
            if (flag_value(cli, argc, argv, &i, eq, flag_text, &value, err, errlen) < 0)
                goto out;
            cli->config_path = value;
            continue;
        }
        if (strcmp(flag_text, "--set") == 0) {
            if (flag_value(cli, argc, argv, &i, eq, flag_text, &value, err, errlen) < 0)
                goto out;
            const char *assign = strchr(value, '=');
            if (!assign || assign == value || (size_t)(assign - value) >= sizeof(sets[0].path)) {
                usage_error(cli, err, errlen, "option '--set' needs SECTION.KEY=VALUE, got '%s'",
                            value);
                goto out;
            }
            sets[set_count].flag = "--set";
            snprintf(sets[set_count].path, sizeof(sets[0].path), "%.*s", (int)(assign - value),
                     value);
            sets[set_count].value = assign + 1;
            set_count++;
            continue;
        }
        if (cli->command == DP_CLI_DIFF &&
            (strcmp(flag_text, "--trace-a") == 0 || strcmp(flag_text, "--trace-b") == 0 ||
             strcmp(flag_text, "--output") == 0)) {
            if (flag_value(cli, argc, argv, &i, eq, flag_text, &value, err, errlen) < 0)
                goto out;
            if (strcmp(flag_text, "--output") == 0)
                cli->output_path = value;
            else if (strcmp(flag_text, "--trace-a") == 0)
                cli->trace_a = value;
            else
                cli->trace_b = value;
            continue;
        }
        const dp_config_section *s;
        const dp_config_key *k = flag_key(arg, name_len, &s);
        if (!k) {
            usage_error(cli, err, errlen, "unknown option '%s'", flag_text);
            goto out;
        }
        if (flag_value(cli, argc, argv, &i, eq, flag_text, &value, err, errlen) < 0)
            goto out;
        sets[set_count].flag = k->flag;
        snprintf(sets[set_count].path, sizeof(sets[0].path), "%s.%s", s->name, k->name);
        sets[set_count].value = value;
        set_count++;
    }
    if (help) {
        cli->command = DP_CLI_HELP;
        result = 0;
        goto out;
    }
    if (version) {
        cli->command = DP_CLI_VERSION;
        result = 0;
        goto out;
    }

    /* defaults < file < flags */
    if (cli->config_path && dp_config_load_file(&cli->config, cli->config_path, err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < set_count; i++) {
        if (dp_config_set(&cli->config, sets[i].path, sets[i].value, msg, sizeof(msg)) < 0) {
            usage_error(cli, err, errlen, "option '%s': %s", sets[i].flag, msg);
            goto out;
        }
    }
    if (dp_config_validate(&cli->config, msg, sizeof(msg)) < 0) {
        usage_error(cli, err, errlen, "%s", msg);
        goto out;
    }
    if (cli->command == DP_CLI_REPORT && cli->file_count == 0) {
        usage_error(cli, err, errlen, "report needs at least one FILE");
        goto out;
    }
    if (cli->command == DP_CLI_DIFF && cli->file_count != 2) {
        usage_error(cli, err, errlen, "diff needs two runs: dagprof diff RUN_A RUN_B (got %d)",
                    cli->file_count);
        goto out;
    }
    result = 0;
out:
    free(sets);
    return result;
}

void dp_cli_release(dp_cli *cli)
{
    if (!cli)
        return;
    free(cli->files);
    cli->files = NULL;
    cli->file_count = 0;
    dp_config_release(&cli->config);
}

static int print_generated(int (*gen)(dp_buf *), FILE *out, FILE *errout)
{
    dp_buf b;
    int status = 0;
    dp_buf_init(&b, 1 << 20);
    if (gen(&b) < 0 || fwrite(b.data, 1, b.len, out) != b.len || fflush(out) != 0) {
        fprintf(errout, "dagprof: cannot write the output\n");
        status = 1;
    }
    dp_buf_free(&b);
    return status;
}

/* `dagprof prices MODEL...` under the configured price file. */
static int print_price_explain(const dp_cli *cli, FILE *out, FILE *errout)
{
    dp_buf b;
    int status = 0;
    dp_buf_init(&b, 64u << 20);
    if (dp_price_explain_text(cli->config.prices, (const char *const *)cli->files,
                              (size_t)cli->file_count, &b) < 0 ||
        fwrite(b.data, 1, b.len, out) != b.len || fflush(out) != 0) {
        fprintf(errout, "dagprof: cannot write the output\n");
        status = 1;
    }
    dp_buf_free(&b);
    return status;
}

int dp_cli_main_to(int argc, char **argv, FILE *out, FILE *errout)
{
    int status = DP_EXIT_USAGE;
    dp_cli cli;
    char err[2048];

    /* the run history's commands take their own options */
    if (argc > 1 && strcmp(argv[1], "runs") == 0)
        return dp_runs_main(argc - 1, argv + 1, out, errout);
    if (argc > 1 && strcmp(argv[1], "trends") == 0)
        return dp_trends_main(argc - 1, argv + 1, out, errout);

    /* the config file's warnings wait for the log format it sets */
    dp_log_hold();
    if (dp_cli_parse(&cli, argc, argv, err, sizeof(err)) < 0) {
        fprintf(errout, "dagprof: %s\n", err);
        if (cli.usage_hint)
            fprintf(errout, "Try 'dagprof --help' for more information.\n");
        goto out;
    }
    switch (cli.command) {
    case DP_CLI_HELP:
        status = print_generated(dp_cli_help, out, errout);
        goto out;
    case DP_CLI_VERSION:
        fprintf(out, "dagprof %s\n", DP_VERSION);
        status = 0;
        goto out;
    case DP_CLI_CONFIG_REFERENCE:
        status = print_generated(dp_config_reference_markdown, out, errout);
        goto out;
    case DP_CLI_CONFIG_EXAMPLE:
        status = print_generated(dp_config_example_yaml, out, errout);
        goto out;
    case DP_CLI_PRICES:
        if (cli.file_count == 0) {
            status = print_generated(dp_price_reference_markdown, out, errout);
            goto out;
        }
        break;
    default:
        break;
    }

    if (dp_config_load_prices(&cli.config, err, sizeof(err)) < 0) {
        fprintf(errout, "dagprof: %s\n", err);
        goto out;
    }
    dp_log_set_level_name(cli.config.log_level);
    dp_log_set_format_name(cli.config.log_format);
    dp_log_release();
    /* Decide "auto" colour once, here, against the stream reports go to. */
    if (cli.config.output.color < 0)
        cli.config.output.color = isatty(fileno(out)) ? 1 : 0;

    /* the daemon (and validate, which checks its settings) writes HTML pages to a directory */
    if ((cli.command == DP_CLI_DAEMON || cli.command == DP_CLI_VALIDATE) &&
        cli.config.output.format == DP_FORMAT_HTML) {
        fprintf(errout, "dagprof: output.format html is for 'dagprof report'; the daemon writes "
                        "an HTML page per run with output.html_dir (--html-dir)\n");
        goto out;
    }
    if (cli.command == DP_CLI_PRICES) {
        status = print_price_explain(&cli, out, errout);
    } else if (cli.command == DP_CLI_REPORT) {
        status = dp_report_run_to(&cli.config, cli.files, cli.file_count, out, errout);
    } else if (cli.command == DP_CLI_DIFF) {
        const dp_diff_args args = {cli.files[0], cli.files[1], cli.trace_a, cli.trace_b,
                                   cli.output_path};
        status = dp_diff_run_to(&cli.config, &args, out, errout);
    } else {
        /* the environment under the upstream settings, checked before
         * anything starts: a bad one is a configuration error */
        if (dp_config_read_environment(&cli.config, err, sizeof(err)) != 0) {
            fprintf(errout, "dagprof: %s\n", err);
            goto out;
        }
        if (cli.command == DP_CLI_VALIDATE) {
            /* everything the daemon checks before it starts was checked: nothing is bound */
            fprintf(out, "ok\n");
            status = fflush(out) == 0 ? 0 : 1;
            goto out;
        }
        dp_grpc_log_route();
        status = dp_daemon_run(&cli.config);
    }
out:
    dp_log_release();
    dp_cli_release(&cli);
    return status;
}

int dp_cli_main(int argc, char **argv)
{
    return dp_cli_main_to(argc, argv, stdout, stderr);
}

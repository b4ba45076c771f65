/*
 * `dagprof diff RUN_A RUN_B` (diff_cmd.h): each operand to one run's JSON
 * report, then profiler/diff.c compares the two and renders the result.
 *
 * A file operand runs through the engine exactly as `dagprof report` does
 * (the trace file input in front, finalise_at_stop, the same span bound),
 * with a sink behind it that keeps every run's JSON report in memory; the
 * wanted run is then picked by trace id. Loading an operand is the one
 * function dp_diff_load_operand(), so another source of reports (stored
 * runs) is one more branch there.
 */
#include "diff_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "diff.h"
#include "engine.h"
#include "history.h"
#include "file_input.h"
#include "report_cmd.h"
#include "sink.h"

/* One rendered report, and the diff's output, may not exceed this. */
#define DIFF_MAX_REPORT_BYTES ((size_t)256 << 20)
/* Trace ids listed in a message about a file of several runs. */
#define LISTED_RUNS_MAX 20

/* ---- a sink that keeps each run's JSON report -------------------------------- */

typedef struct kept_run {
    char trace_id[33];
    uint64_t start_ns;
    char *json; /* NUL-terminated */
    size_t len;
} kept_run;

typedef struct json_keep_sink {
    dp_sink base;
    pthread_mutex_t lock;
    kept_run *runs;
    size_t count, cap;
    bool failed; /* a run could not be rendered or kept */
} json_keep_sink;

static int keep_on_run(dp_sink *sink, const dp_run_record *run, const dp_run_profile *p)
{
    json_keep_sink *s = (json_keep_sink *)sink;
    dp_buf b;
    int rc = -1;
    dp_buf_init(&b, DIFF_MAX_REPORT_BYTES);
    if (dp_render_json(p, &b) != 0 || dp_buf_append(&b, "", 1) != 0)
        goto out;
    pthread_mutex_lock(&s->lock);
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        kept_run *grown = realloc(s->runs, cap * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&s->lock);
            goto out;
        }
        s->runs = grown;
        s->cap = cap;
    }
    kept_run *k = &s->runs[s->count++];
    dp_hex(p->trace_id, 16, k->trace_id);
    k->start_ns = p->start_ns;
    k->json = dp_buf_release(&b, &k->len);
    k->len--; /* the NUL */
    pthread_mutex_unlock(&s->lock);
    rc = 0;
out:
    if (rc != 0) {
        pthread_mutex_lock(&s->lock);
        s->failed = true;
        pthread_mutex_unlock(&s->lock);
    }
    dp_buf_free(&b);
    return rc;
}

static void keep_destroy(dp_sink *sink)
{
    json_keep_sink *s = (json_keep_sink *)sink;
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++)
        free(s->runs[i].json);
    free(s->runs);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const dp_sink_ops keep_ops = {keep_on_run, NULL, keep_destroy};

static json_keep_sink *keep_sink_create(void)
{
    json_keep_sink *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base.ops = &keep_ops;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static int by_start(const void *x, const void *y)
{
    const kept_run *p = x, *q = y;
    if (p->start_ns != q->start_ns)
        return p->start_ns < q->start_ns ? -1 : 1;
    return strcmp(p->trace_id, q->trace_id);
}

/* ---- one file operand ---------------------------------------------------------- */

typedef struct file_outcome {
    char *err;
    size_t errlen;
    size_t spans;
    bool failed;
} file_outcome;

static void on_file(void *ctx, const char *path, size_t spans, const char *error)
{
    file_outcome *f = ctx;
    if (error) {
        snprintf(f->err, f->errlen, "%s", error);
        f->failed = true;
    }
    f->spans += spans;
}

/* "id, id, … (and N more)" of the runs kept, into err after `what`. */
static void list_runs(char *err, size_t errlen, const json_keep_sink *s)
{
    size_t used = strlen(err);
    for (size_t i = 0; i < s->count && i < LISTED_RUNS_MAX && used < errlen; i++) {
        int n = snprintf(err + used, errlen - used, "%s%s", i ? ", " : "", s->runs[i].trace_id);
        if (n < 0)
            return;
        used += (size_t)n;
    }
    if (s->count > LISTED_RUNS_MAX && used < errlen)
        snprintf(err + used, errlen - used, " (and %zu more)", s->count - LISTED_RUNS_MAX);
}

/* The run whose trace id starts with `trace` (any case); every run when NULL. */
static int pick_run(const char *path, const char *trace, json_keep_sink *s, char **json, char *err,
                    size_t errlen)
{
    size_t found = s->count, matches = 0, tlen = trace ? strlen(trace) : 0;
    if (trace && (tlen == 0 || tlen > 32)) {
        snprintf(err, errlen, "%s: '%s' is not a trace id (1 to 32 hex digits)", path, trace);
        return -1;
    }
    for (size_t i = 0; i < tlen; i++) {
        if (!isxdigit((unsigned char)trace[i])) {
            snprintf(err, errlen, "%s: '%s' is not a trace id (1 to 32 hex digits)", path, trace);
            return -1;
        }
    }
    for (size_t i = 0; i < s->count; i++) {
        if (trace && strncasecmp(s->runs[i].trace_id, trace, tlen) != 0)
            continue;
        if (matches++ == 0)
            found = i;
    }
    if (matches == 1) {
        *json = s->runs[found].json;
        s->runs[found].json = NULL; /* the caller's now */
        return 0;
    }
    if (!trace)
        snprintf(err, errlen,
                 "%s holds %zu runs; pick one with %s#TRACEID (or --trace-a / --trace-b): ", path,
                 s->count, path);
    else if (matches == 0)
        snprintf(err, errlen, "%s holds no run whose trace id starts with '%s'; its runs: ", path,
                 trace);
    else
        snprintf(err, errlen, "%s: trace id prefix '%s' matches %zu runs; its runs: ", path, trace,
                 matches);
    list_runs(err, errlen, s);
    return -1;
}

/* Profile one OTLP file as `dagprof report` would; its runs' JSON reports in `keep`. */
static int profile_file(const dp_config *cfg, const char *path, json_keep_sink *keep, char *err,
                        size_t errlen)
{
    int result = -1;
    dp_engine *engine = NULL;
    char *paths[1] = {(char *)path};
    file_outcome outcome = {err, errlen, 0, false};
    const dp_file_input_options input_opt = {paths, 1, on_file, &outcome, 0};
    const dp_engine_options engine_opt = {
        .finalise_at_stop = true,
        .max_held_bytes = DP_REPORT_MAX_SPAN_BYTES,
    };
    void *input = dp_file_input_create(&input_opt);
    if (!input || dp_engine_create(cfg, &engine_opt, &engine) != 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    if (dp_engine_add_output(engine, &keep->base) != 0 ||
        dp_engine_add_input(engine, &dp_file_input_plugin, input) != 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    input = NULL; /* the engine's now */
    if (dp_engine_start(engine) != 0) {
        snprintf(err, errlen, "%s: cannot start the run processors", path);
        goto out;
    }
    dp_engine_stop(engine);
    if (outcome.failed)
        goto out; /* err says why, naming the file */
    if (keep->failed) {
        snprintf(err, errlen, "%s: a run could not be profiled or rendered", path);
        goto out;
    }
    if (outcome.spans == 0 || keep->count == 0) {
        snprintf(err, errlen, "%s: the file holds no spans", path);
        goto out;
    }
    qsort(keep->runs, keep->count, sizeof(*keep->runs), by_start);
    result = 0;
out:
    if (input)
        dp_file_input_plugin.destroy(input);
    dp_engine_destroy(engine);
    return result;
}

static bool is_file(const char *path, bool *is_dir)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    *is_dir = S_ISDIR(st.st_mode);
    return true;
}

/* An operand that is no file: a trace id (or a unique prefix) of the run
 * history at history.path, else at its conventional place. */
static int load_stored(const dp_config *cfg, const char *operand, char **json, char *err,
                       size_t errlen)
{
    char where[1024], why[1024];
    if (cfg->history.path[0])
        snprintf(where, sizeof(where), "%s", cfg->history.path);
    else if (dp_history_default_path(where, sizeof(where)) < 0) {
        snprintf(err, errlen,
                 "%s: not a file, and no run history to look it up in (history.path unset, "
                 "neither XDG_STATE_HOME nor HOME set)",
                 operand);
        return -1;
    }
    dp_history *h = NULL;
    if (dp_history_open(where, DP_HISTORY_READ, &h, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: not a file, and the run history cannot be read: %s", operand,
                 why);
        return -1;
    }
    int rc = dp_history_load_report(h, operand, json, why, sizeof(why));
    dp_history_close(h);
    if (rc < 0) {
        snprintf(err, errlen, "%s: not a file, nor a run of the history %s: %s", operand, where,
                 why);
        return -1;
    }
    return 0;
}

int dp_diff_load_operand(const dp_config *cfg, const char *operand, const char *trace, char **json,
                         char *err, size_t errlen)
{
    int result = -1;
    char *path = NULL;
    json_keep_sink *keep = NULL;
    bool is_dir = false;

    *json = NULL;
    if (!operand || !operand[0]) {
        snprintf(err, errlen, "an empty run operand");
        return -1;
    }
    path = strdup(operand);
    if (!path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!is_file(path, &is_dir)) {
        /* FILE#TRACEID, when FILE exists */
        char *hash = strrchr(path, '#');
        if (hash) {
            *hash = '\0';
            if (!is_file(path, &is_dir)) {
                *hash = '#';
                hash = NULL;
            } else if (trace && strcasecmp(trace, hash + 1) != 0) {
                snprintf(err, errlen, "%s: two trace ids given ('%s' and --trace '%s')", operand,
                         hash + 1, trace);
                goto out;
            } else {
                trace = operand + (hash + 1 - path);
            }
        }
        if (!hash) {
            result = load_stored(cfg, operand, json, err, errlen);
            goto out;
        }
    }
    if (is_dir) {
        snprintf(err, errlen, "%s: is a directory, not an OTLP trace file", path);
        goto out;
    }
    keep = keep_sink_create();
    if (!keep) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (profile_file(cfg, path, keep, err, errlen) != 0 ||
        pick_run(path, trace, keep, json, err, errlen) != 0)
        goto out;
    result = 0;
out:
    keep_destroy(keep ? &keep->base : NULL);
    free(path);
    return result;
}

static int render(const dp_config *cfg, const dp_run_diff *d, dp_buf *b)
{
    switch (cfg->output.format) {
    case DP_FORMAT_JSON:
        return dp_diff_render_json(d, b);
    case DP_FORMAT_HTML:
        return dp_diff_render_html(d, b);
    default:
        return dp_diff_render_text(d, b);
    }
}

static int write_output(const char *path, const dp_buf *b, FILE *out, FILE *errout)
{
    FILE *f = path ? fopen(path, "w") : out;
    if (!f) {
        fprintf(errout, "dagprof diff: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    bool ok = fwrite(b->data, 1, b->len, f) == b->len && fflush(f) == 0;
    if (path && fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(errout, "dagprof diff: cannot write %s\n", path ? path : "the output");
    return ok ? 0 : -1;
}

int dp_diff_run_to(const dp_config *cfg, const dp_diff_args *args, FILE *out, FILE *errout)
{
    int status = 1;
    char *json_a = NULL, *json_b = NULL;
    dp_run_diff *d = NULL;
    dp_buf b;
    char err[4096];

    dp_buf_init(&b, DIFF_MAX_REPORT_BYTES);
    if (dp_diff_load_operand(cfg, args->run_a, args->trace_a, &json_a, err, sizeof(err)) != 0 ||
        dp_diff_load_operand(cfg, args->run_b, args->trace_b, &json_b, err, sizeof(err)) != 0) {
        fprintf(errout, "dagprof diff: %s\n", err);
        goto out;
    }
    if (dp_diff_compute(json_a, strlen(json_a), json_b, strlen(json_b), &d, err, sizeof(err)) !=
        0) {
        fprintf(errout, "dagprof diff: %s\n", err);
        goto out;
    }
    if (render(cfg, d, &b) != 0) {
        fprintf(errout, "dagprof diff: out of memory rendering the comparison\n");
        goto out;
    }
    if (write_output(args->output, &b, out, errout) != 0)
        goto out;
    status = 0;
out:
    dp_buf_free(&b);
    dp_diff_destroy(d);
    free(json_a);
    free(json_b);
    return status;
}

/*
 * `dagprof report FILE...`: the engine (engine.h) with the trace file input
 * (file_input.h) in front and the ordered report sink behind it. Runs are
 * finalised only once every file is read (finalise_at_stop), so a run
 * spread over several files is one run, and the reports come out ordered
 * by the runs' start times (ties by trace id) whatever the order of files,
 * spans or run processors.
 *
 * Messages about files go to errout as each file is read; the note about
 * spans given more than once comes after the runs are profiled, before the
 * reports are written.
 */
#include "report_cmd.h"

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "engine.h"
#include "file_input.h"
#include "history.h"
#include "html_sink.h"
#include "sink.h"

/* What the files held, as the input reads them. */
typedef struct file_totals {
    FILE *errout;
    size_t spans;
    bool failed;
} file_totals;

static void on_file(void *ctx, const char *path, size_t spans, const char *error)
{
    file_totals *t = ctx;
    if (error) {
        fprintf(t->errout, "dagprof report: %s (no span of this file is reported)\n", error);
        t->failed = true;
    } else if (spans == 0) {
        fprintf(t->errout, "dagprof report: %s: the file holds no spans\n", path);
    }
    t->spans += spans;
}

int dp_report_run_to(const dp_config *cfg, char *const *files, int count, FILE *out, FILE *errout)
{
    int status = 1;
    dp_engine *engine = NULL;
    void *input = NULL;
    file_totals totals = {errout, 0, false};
    dp_render_options opt = {
        .color = cfg->output.color == 1 || (cfg->output.color < 0 && isatty(fileno(out))),
        .waterfall_width = cfg->output.waterfall_width,
    };
    const dp_engine_options engine_opt = {
        .finalise_at_stop = true,
        .max_held_bytes = DP_REPORT_MAX_SPAN_BYTES,
    };
    const dp_file_input_options input_opt = {files, count > 0 ? (size_t)count : 0, on_file, &totals,
                                             0};

    dp_sink *sink =
        cfg->output.format == DP_FORMAT_HTML
            ? dp_ordered_html_report_sink_create(0)
            : dp_ordered_report_sink_create(cfg->output.format == DP_FORMAT_JSON, &opt, 0);
    dp_sink *pages = NULL;   /* --html-dir: a page per run besides the report */
    dp_sink *history = NULL; /* --history: every run recorded in the run history */
    if (cfg->output.html_dir[0]) {
        char err[4200];
        pages = dp_html_sink_create(cfg->output.html_dir, cfg->output.html_max_files, true, err,
                                    sizeof(err));
        if (!pages) {
            fprintf(errout, "dagprof report: %s\n", err);
            goto out;
        }
    }
    if (cfg->history.path[0]) {
        /* a history that cannot be opened is said at once, not after the retries */
        char err[1600];
        dp_history *h = NULL;
        if (dp_history_open(cfg->history.path, DP_HISTORY_WRITE, &h, err, sizeof(err)) < 0) {
            fprintf(errout, "dagprof report: %s\n", err);
            goto out;
        }
        dp_history_close(h);
        /* the files' runs arrive faster than the writer stores them: they wait for room */
        const dp_history_sink_tuning tuning = {.wait_when_full = true};
        if (!(history = dp_history_sink_create(&cfg->history, &tuning))) {
            fprintf(errout, "dagprof report: cannot start the run history\n");
            goto out;
        }
    }
    input = dp_file_input_create(&input_opt);
    if (!sink || !input || dp_engine_create(cfg, &engine_opt, &engine) != 0) {
        fprintf(errout, "dagprof report: out of memory\n");
        goto out;
    }
    if (dp_engine_add_output(engine, sink) != 0 ||
        (pages && dp_engine_add_output(engine, pages) != 0) ||
        (history && dp_engine_add_output(engine, history) != 0) ||
        dp_engine_add_input(engine, &dp_file_input_plugin, input) != 0)
        goto out;
    input = NULL; /* the engine's now */
    /* reads every file, then every run is finalised, profiled and kept */
    if (dp_engine_start(engine) != 0) {
        fprintf(errout, "dagprof report: cannot start the run processors\n");
        goto out;
    }
    dp_engine_stop(engine);

    if (totals.spans == 0) {
        fprintf(errout, "dagprof report: no spans to profile in %d file%s\n", count,
                count == 1 ? "" : "s");
        goto out;
    }
    status = totals.failed ? 1 : 0;
    dp_engine_stats st;
    dp_engine_get_stats(engine, &st);
    if (st.spans_duplicate)
        fprintf(errout,
                "dagprof report: %llu duplicate span%s (same trace id, span id and start) "
                "counted once\n",
                (unsigned long long)st.spans_duplicate, st.spans_duplicate == 1 ? "" : "s");
    /* a run that could not be profiled or rendered was logged by the engine or the sink */
    if (st.runs_failed || st.spans_undecodable)
        status = 1;
    if (history) {
        /* the engine flushed it: every run was written, or the history failed */
        dp_history_sink_counts hc;
        dp_history_sink_get_counts(history, &hc);
        if (hc.runs_written < st.runs_processed) {
            fprintf(errout,
                    "dagprof report: %llu of %llu runs not recorded in the run history %s\n",
                    (unsigned long long)(st.runs_processed - hc.runs_written),
                    (unsigned long long)st.runs_processed, cfg->history.path);
            status = 1;
        }
    }
    if (dp_report_sink_write_ordered(sink, out) != 0) {
        fprintf(errout, "dagprof report: cannot write the report\n");
        status = 1;
    }
out:
    if (input)
        dp_file_input_plugin.destroy(input);
    dp_engine_destroy(engine);
    dp_sink_destroy(sink);
    dp_sink_destroy(pages);
    dp_sink_destroy(history);
    return status;
}

int dp_report_run(const dp_config *cfg, char *const *files, int count)
{
    return dp_report_run_to(cfg, files, count, stdout, stderr);
}

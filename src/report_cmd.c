/*
 * `dagprof report FILE...`: read OTLP trace files, group all their spans by
 * trace id (a run may be spread over several files), profile every run and
 * print the reports ordered by the runs' start times (ties by trace id), so
 * the output does not depend on the order of files or spans.
 *
 * Memory: every span lives in one arena capped at DP_REPORT_MAX_SPAN_BYTES;
 * spans are sorted in place so each run is one contiguous slice handed to
 * dp_profile_build(), and only one profile exists at a time.
 */
#include "report_cmd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "clock.h"
#include "otlp_file.h"
#include "profile.h"
#include "render.h"

/* One rendered report may not exceed this (a run of many thousand nodes
 * renders to a few MiB). */
#define REPORT_MAX_BYTES ((size_t)256 << 20)

typedef struct run_slice {
    size_t first;
    size_t count;
    uint64_t start_ns; /* earliest span start of the run */
} run_slice;

static int compare_spans(const void *a, const void *b)
{
    const dp_span *x = a, *y = b;
    int c = memcmp(x->trace_id, y->trace_id, sizeof(x->trace_id));
    if (c)
        return c;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return memcmp(x->span_id, y->span_id, sizeof(x->span_id));
}

static int compare_runs(const void *a, const void *b)
{
    const run_slice *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    /* slices are in trace-id order already; keep it for equal starts */
    return x->first < y->first ? -1 : x->first > y->first;
}

/* The same span given twice (a file passed twice, or files that overlap)
 * would count twice; after sorting, copies are neighbours (same trace, start
 * and span id). Keeps the first of each and returns how many were removed. */
static size_t drop_duplicate_spans(dp_span *spans, size_t *count)
{
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++) {
        if (kept > 0 && memcmp(spans[i].trace_id, spans[kept - 1].trace_id, 16) == 0 &&
            memcmp(spans[i].span_id, spans[kept - 1].span_id, 8) == 0 &&
            spans[i].start_ns == spans[kept - 1].start_ns)
            continue;
        spans[kept++] = spans[i];
    }
    size_t removed = *count - kept;
    *count = kept;
    return removed;
}

/* Spans sorted by trace id → one slice per trace. */
static size_t split_runs(const dp_span *spans, size_t count, run_slice *runs)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (i == 0 || memcmp(spans[i].trace_id, spans[i - 1].trace_id, 16) != 0) {
            runs[n].first = i;
            runs[n].count = 0;
            runs[n].start_ns = spans[i].start_ns; /* sorted by start within a trace */
            n++;
        }
        runs[n - 1].count++;
    }
    return n;
}

static int read_files(char *const *files, int count, dp_arena *arena, dp_span_list *list,
                      FILE *errout)
{
    int status = 0;
    char err[1024];
    for (int i = 0; i < count; i++) {
        size_t before = list->count;
        if (dp_otlp_file_read(files[i], arena, list, err, sizeof(err)) < 0) {
            /* the reader keeps nothing of a file it could not read */
            fprintf(errout, "dagprof report: %s (no span of this file is reported)\n", err);
            status = 1;
        } else if (list->count == before) {
            fprintf(errout, "dagprof report: %s: the file holds no spans\n", files[i]);
        }
    }
    return status;
}

int dp_report_run_to(const dp_config *cfg, char *const *files, int count, FILE *out, FILE *errout)
{
    int status = 0;
    dp_arena arena;
    dp_span_list list = {0};
    run_slice *runs = NULL;
    dp_buf report;
    dp_render_options opt = {
        .color = cfg->output.color == 1 || (cfg->output.color < 0 && isatty(fileno(out))),
        .waterfall_width = cfg->output.waterfall_width,
    };

    dp_arena_init(&arena, 0, DP_REPORT_MAX_SPAN_BYTES);
    dp_buf_init(&report, REPORT_MAX_BYTES);

    status = read_files(files, count, &arena, &list, errout);
    if (list.count == 0) {
        fprintf(errout, "dagprof report: no spans to profile in %d file%s\n", count,
                count == 1 ? "" : "s");
        status = 1;
        goto out;
    }

    qsort(list.spans, list.count, sizeof(list.spans[0]), compare_spans);
    size_t duplicates = drop_duplicate_spans(list.spans, &list.count);
    if (duplicates)
        fprintf(errout,
                "dagprof report: %zu duplicate span%s (same trace id, span id and start) "
                "counted once\n",
                duplicates, duplicates == 1 ? "" : "s");
    runs = malloc(list.count * sizeof(*runs));
    if (!runs) {
        fprintf(errout, "dagprof report: out of memory grouping %zu spans\n", list.count);
        status = 1;
        goto out;
    }
    size_t run_count = split_runs(list.spans, list.count, runs);
    qsort(runs, run_count, sizeof(runs[0]), compare_runs);

    for (size_t r = 0; r < run_count; r++) {
        dp_run_profile *p = NULL;
        char hex[33];
        dp_hex(list.spans[runs[r].first].trace_id, 16, hex);
        if (dp_profile_build(&list.spans[runs[r].first], runs[r].count, &cfg->profile, &p) < 0) {
            fprintf(errout, "dagprof report: trace %s: out of memory profiling %zu spans\n", hex,
                    runs[r].count);
            status = 1;
            continue;
        }
        dp_buf_reset(&report);
        int rc = cfg->output.format == DP_FORMAT_JSON ? dp_render_json(p, &report)
                                                      : dp_render_text(p, &opt, &report);
        dp_run_profile_destroy(p);
        if (rc < 0) {
            fprintf(errout, "dagprof report: trace %s: the report is too large to render\n", hex);
            status = 1;
            continue;
        }
        if (fwrite(report.data, 1, report.len, out) != report.len) {
            fprintf(errout, "dagprof report: cannot write the report\n");
            status = 1;
            goto out;
        }
    }
    if (fflush(out) != 0) {
        fprintf(errout, "dagprof report: cannot write the report\n");
        status = 1;
    }
out:
    free(runs);
    dp_buf_free(&report);
    dp_arena_free(&arena);
    return status;
}

int dp_report_run(const dp_config *cfg, char *const *files, int count)
{
    return dp_report_run_to(cfg, files, count, stdout, stderr);
}

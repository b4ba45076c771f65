/*
 * The report sink: one report per finalised run on a stdio stream (stdout in
 * the daemon), as text or as one JSON line. Rendering happens in the calling
 * thread; only the write is serialised, with one fwrite per report so
 * reports from parallel run processors never interleave.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "buf.h"
#include "log.h"
#include "sink.h"

#define DP_REPORT_MAX_BYTES (16u * 1024 * 1024)

typedef struct report_sink {
    dp_sink base; /* first: a dp_sink * is a report_sink * */
    FILE *out;
    bool json;
    dp_render_options opt;
    pthread_mutex_t lock;
    atomic_ullong written, failed;
} report_sink;

static int report_on_run(dp_sink *sink, const dp_run_record *run, const dp_run_profile *profile)
{
    report_sink *s = (report_sink *)sink;
    int rc = -1;
    dp_buf b;
    dp_buf_init(&b, DP_REPORT_MAX_BYTES);
    if ((s->json ? dp_render_json(profile, &b) : dp_render_text(profile, &s->opt, &b)) != 0) {
        dp_log_error("report", "cannot render the report of a run (%zu spans): out of memory",
                     run ? run->span_count : 0);
        goto out;
    }
    pthread_mutex_lock(&s->lock);
    size_t n = b.len ? fwrite(b.data, 1, b.len, s->out) : 0;
    fflush(s->out);
    pthread_mutex_unlock(&s->lock);
    if (n != b.len) {
        dp_log_error("report", "cannot write a report: short write");
        goto out;
    }
    rc = 0;
out:
    dp_buf_free(&b);
    atomic_fetch_add(rc == 0 ? &s->written : &s->failed, 1);
    return rc;
}

static int report_flush(dp_sink *sink)
{
    report_sink *s = (report_sink *)sink;
    pthread_mutex_lock(&s->lock);
    int rc = fflush(s->out) == 0 ? 0 : -1;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void report_destroy(dp_sink *sink)
{
    report_sink *s = (report_sink *)sink;
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const dp_sink_ops report_ops = {report_on_run, report_flush, report_destroy};

dp_sink *dp_report_sink_create(FILE *out, bool json, const dp_render_options *opt)
{
    if (!out)
        return NULL;
    report_sink *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base.ops = &report_ops;
    s->out = out;
    s->json = json;
    if (opt)
        s->opt = *opt;
    pthread_mutex_init(&s->lock, NULL);
    return &s->base;
}

void dp_report_sink_counts(dp_sink *sink, unsigned long long *written, unsigned long long *failed)
{
    report_sink *s = (report_sink *)sink;
    *written = atomic_load(&s->written);
    *failed = atomic_load(&s->failed);
}

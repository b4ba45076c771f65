/*
 * The report sinks: one report per finalised run, as text or as one JSON
 * line. Rendering happens in the calling thread.
 *
 * The report sink writes each report to its stream as the run arrives (the
 * daemon's stdout): only the write is serialised, with one fwrite per report
 * so reports from parallel run processors never interleave.
 *
 * The ordered report sink keeps the rendered reports instead and writes them
 * when asked, ordered by the runs' start times (ties by trace id): the
 * output of an input that ends (`dagprof report`) then does not depend on
 * the order the run processors finished in.
 *
 * A report has no size limit. It is rendered into a buffer of one chunk
 * (16 MiB by default); a report that outgrows it is streamed chunk by chunk
 * (dp_buf_set_spill): the report sink writes the chunks to its stream,
 * holding the stream's lock from the first chunk to the last so that
 * reports still never interleave, and the ordered sink moves them to an
 * unnamed temporary file (tmpfile(3)) until the reports are written. A
 * report that fits one chunk is written as before, with one fwrite.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "profile_types.h"
#include "sink.h"

#define DP_REPORT_CHUNK_BYTES (16u * 1024 * 1024)
/* Copy size when a kept report's temporary file is written out. */
#define COPY_BYTES (64u * 1024)

/* A rendered report kept by the ordered sink: its first chunks in spill
 * (NULL when it fitted one chunk), then data. */
typedef struct kept_report {
    uint64_t start_ns;
    uint8_t trace_id[16];
    FILE *spill;
    char *data;
    size_t len;
} kept_report;

typedef struct report_sink {
    dp_sink base; /* first: a dp_sink * is a report_sink * */
    FILE *out;    /* NULL for the ordered sink */
    bool json;
    bool html; /* ordered sink only: sections of one page */
    dp_render_options opt;
    size_t chunk_bytes; /* rendered in memory before a report is streamed */
    pthread_mutex_t lock;
    atomic_ullong written, failed;
    kept_report *kept; /* the ordered sink's reports, in arrival order */
    size_t kept_count, kept_cap;
} report_sink;

/* Where the chunks of one report go while it is rendered. */
typedef struct report_chunks {
    report_sink *s;
    bool locked; /* the report sink: holds s->lock (a chunk was written) */
    FILE *spill; /* the ordered sink: the report's first chunks */
} report_chunks;

/* The report sink's spill: chunks go straight to the stream, under its lock
 * from the first chunk until the report's end (report_on_run unlocks). */
static int chunk_to_stream(void *ctx, const char *data, size_t len)
{
    report_chunks *c = ctx;
    if (!c->locked) {
        pthread_mutex_lock(&c->s->lock);
        c->locked = true;
    }
    return fwrite(data, 1, len, c->s->out) == len ? 0 : -1;
}

/* The ordered sink's spill: chunks wait in a temporary file. */
static int chunk_to_file(void *ctx, const char *data, size_t len)
{
    report_chunks *c = ctx;
    if (!c->spill && !(c->spill = tmpfile()))
        return -1;
    return fwrite(data, 1, len, c->spill) == len ? 0 : -1;
}

/* Copy a kept report's temporary file to out and close it; 0, or -1 when a
 * read or write failed. */
static int copy_spill(FILE *spill, FILE *out)
{
    char chunk[COPY_BYTES];
    int rc = fflush(spill) == 0 && fseek(spill, 0, SEEK_SET) == 0 ? 0 : -1;
    size_t n;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), spill)) > 0)
        if (fwrite(chunk, 1, n, out) != n)
            rc = -1;
    if (ferror(spill))
        rc = -1;
    fclose(spill);
    return rc;
}

/* Keep a rendered report (ordered sink); takes b's memory and the spill
 * file. 0, or -1 on out of memory (the caller still owns both). */
static int keep_report(report_sink *s, const dp_run_profile *profile, dp_buf *b, FILE *spill)
{
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (s->kept_count == s->kept_cap) {
        size_t cap = s->kept_cap ? s->kept_cap * 2 : 64;
        kept_report *k = realloc(s->kept, cap * sizeof(*k));
        if (!k) {
            rc = -1;
            goto out;
        }
        s->kept = k;
        s->kept_cap = cap;
    }
    kept_report *k = &s->kept[s->kept_count++];
    k->start_ns = profile->start_ns;
    memcpy(k->trace_id, profile->trace_id, 16);
    k->spill = spill;
    k->data = b->data;
    k->len = b->len;
    dp_buf_init(b, 0); /* the report's memory is the sink's now */
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int report_on_run(dp_sink *sink, const dp_run_record *run, const dp_run_profile *profile)
{
    report_sink *s = (report_sink *)sink;
    int rc = -1;
    report_chunks chunks = {s, false, NULL};
    dp_buf b;
    dp_buf_init(&b, s->chunk_bytes);
    dp_buf_set_spill(&b, s->out ? chunk_to_stream : chunk_to_file, &chunks);
    if ((s->html   ? dp_render_html_run(profile, &b)
         : s->json ? dp_render_json(profile, &b)
                   : dp_render_text(profile, &s->opt, &b)) != 0) {
        dp_log_error("report", "cannot render the report of a run (%zu spans): %s",
                     run ? run->span_count : 0,
                     b.spilled ? "out of memory or a write failed (the report is cut short)"
                               : "out of memory");
        goto out;
    }
    if (!s->out) {
        if (keep_report(s, profile, &b, chunks.spill) != 0) {
            dp_log_error("report", "cannot keep the report of a run: out of memory");
            goto out;
        }
        chunks.spill = NULL; /* the kept report's now */
        rc = 0;
        goto out;
    }
    if (!chunks.locked) {
        pthread_mutex_lock(&s->lock);
        chunks.locked = true;
    }
    size_t n = b.len ? fwrite(b.data, 1, b.len, s->out) : 0;
    fflush(s->out);
    if (n != b.len) {
        dp_log_error("report", "cannot write a report: short write");
        goto out;
    }
    rc = 0;
out:
    if (chunks.locked)
        pthread_mutex_unlock(&s->lock);
    if (chunks.spill)
        fclose(chunks.spill);
    dp_buf_free(&b);
    atomic_fetch_add(rc == 0 ? &s->written : &s->failed, 1);
    return rc;
}

static int report_flush(dp_sink *sink)
{
    report_sink *s = (report_sink *)sink;
    if (!s->out)
        return 0; /* the ordered sink writes in dp_report_sink_write_ordered() */
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
    for (size_t i = 0; i < s->kept_count; i++) {
        if (s->kept[i].spill)
            fclose(s->kept[i].spill);
        free(s->kept[i].data);
    }
    free(s->kept);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const dp_sink_ops report_ops = {report_on_run, report_flush, report_destroy};

static report_sink *report_sink_new(FILE *out, bool json, const dp_render_options *opt,
                                    size_t chunk_bytes)
{
    report_sink *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->base.ops = &report_ops;
    s->out = out;
    s->json = json;
    s->chunk_bytes = chunk_bytes ? chunk_bytes : DP_REPORT_CHUNK_BYTES;
    if (opt)
        s->opt = *opt;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

dp_sink *dp_report_sink_create(FILE *out, bool json, const dp_render_options *opt)
{
    return dp_report_sink_create_chunked(out, json, opt, 0);
}

dp_sink *dp_report_sink_create_chunked(FILE *out, bool json, const dp_render_options *opt,
                                       size_t chunk_bytes)
{
    if (!out)
        return NULL;
    report_sink *s = report_sink_new(out, json, opt, chunk_bytes);
    return s ? &s->base : NULL;
}

dp_sink *dp_ordered_report_sink_create(bool json, const dp_render_options *opt, size_t chunk_bytes)
{
    report_sink *s = report_sink_new(NULL, json, opt, chunk_bytes);
    return s ? &s->base : NULL;
}

dp_sink *dp_ordered_html_report_sink_create(size_t chunk_bytes)
{
    report_sink *s = report_sink_new(NULL, false, NULL, chunk_bytes);
    if (s)
        s->html = true;
    return s ? &s->base : NULL;
}

/* The head or the end of the HTML page around the ordered sink's sections. */
static int write_html_frame(FILE *out, bool end)
{
    dp_buf b;
    dp_buf_init(&b, 0);
    int rc = (end ? dp_render_html_end(&b) : dp_render_html_begin("report", &b)) == 0 &&
                     fwrite(b.data, 1, b.len, out) == b.len
                 ? 0
                 : -1;
    dp_buf_free(&b);
    return rc;
}

static int compare_kept(const void *a, const void *b)
{
    const kept_report *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return memcmp(x->trace_id, y->trace_id, 16);
}

int dp_report_sink_write_ordered(dp_sink *sink, FILE *out)
{
    report_sink *s = (report_sink *)sink;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    qsort(s->kept, s->kept_count, sizeof(*s->kept), compare_kept);
    if (s->html && write_html_frame(out, false) != 0)
        rc = -1;
    for (size_t i = 0; i < s->kept_count; i++) {
        kept_report *k = &s->kept[i];
        if (k->spill) {
            if (rc == 0 && copy_spill(k->spill, out) != 0)
                rc = -1;
            else if (rc != 0)
                fclose(k->spill);
            k->spill = NULL;
        }
        if (rc == 0 && k->len && fwrite(k->data, 1, k->len, out) != k->len)
            rc = -1;
        free(k->data);
    }
    s->kept_count = 0;
    if (s->html && rc == 0 && write_html_frame(out, true) != 0)
        rc = -1;
    pthread_mutex_unlock(&s->lock);
    if (fflush(out) != 0)
        rc = -1;
    return rc;
}

void dp_report_sink_counts(dp_sink *sink, unsigned long long *written, unsigned long long *failed)
{
    report_sink *s = (report_sink *)sink;
    *written = atomic_load(&s->written);
    *failed = atomic_load(&s->failed);
}

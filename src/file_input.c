/*
 * The trace file input (file_input.h): file → one encoded request
 * (otlp/otlp_file.c) → parsed into the span index → dp_trace_table_insert(),
 * the receiver's path from the parse on.
 *
 * One arena and one byte buffer serve every file in turn: a file's decode
 * memory is reset before the next, and what the table keeps it has copied.
 */
#include "file_input.h"

#include <stdio.h>
#include <stdlib.h>

#include "arena.h"
#include "buf.h"
#include "log.h"
#include "otlp_file.h"

#define DP_FILE_INPUT_MEMORY_MAX ((size_t)4 << 30)

typedef struct file_input {
    dp_file_input_options opt;
} file_input;

/* Read one file into the table; 0 and *spans, or -1 with the reason in err. */
static int insert_file(dp_trace_table *table, const char *path, dp_arena *arena, dp_buf *bytes,
                       size_t *spans, char *err, size_t errlen)
{
    dp_otlp_trace_batch batch;
    *spans = 0;
    if (dp_otlp_file_read(path, arena, bytes, &batch, err, errlen) < 0)
        return -1;
    if (batch.attributes_dropped)
        dp_log_warn("file_input",
                    "%s: %zu attribute(s) dropped: nested more than %d messages deep (each "
                    "counted in its message's dropped_attributes_count)",
                    path, batch.attributes_dropped, DP_OTLP_NESTING_LIMIT);
    /* the index the parse filled is the table's input, as it is */
    dp_span_batch tb = dp_otlp_trace_batch_spans(&batch);
    switch (dp_trace_table_insert(table, &tb)) {
    case DP_TRACE_TABLE_OK:
        *spans = tb.span_count;
        return 0;
    case DP_TRACE_TABLE_EFULL:
    case DP_TRACE_TABLE_ETOOBIG:
        snprintf(err, errlen,
                 "%s: more spans than can be held at once; profile fewer files together", path);
        return -1;
    case DP_TRACE_TABLE_EINVAL:
        snprintf(err, errlen, "%s: spans refer to a scope the request lacks", path);
        return -1;
    default:
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
}

static int file_input_start(void *ctx, dp_engine *engine, char *err, size_t errlen)
{
    file_input *in = ctx;
    dp_arena arena;
    dp_buf bytes;
    (void)err;
    (void)errlen;
    dp_arena_init(&arena, 0,
                  in->opt.max_file_memory ? in->opt.max_file_memory : DP_FILE_INPUT_MEMORY_MAX);
    dp_buf_init(&bytes, 0);
    for (size_t i = 0; i < in->opt.count; i++) {
        char why[1024];
        size_t spans;
        dp_arena_reset(&arena);
        int rc = insert_file(dp_engine_table(engine), in->opt.paths[i], &arena, &bytes, &spans, why,
                             sizeof why);
        if (in->opt.on_file)
            in->opt.on_file(in->opt.on_file_ctx, in->opt.paths[i], spans, rc < 0 ? why : NULL);
    }
    dp_buf_free(&bytes);
    dp_arena_free(&arena);
    /* a file that cannot be read is that file's outcome, not the input's */
    return 0;
}

static void file_input_stop(void *ctx)
{
    (void)ctx; /* every file was read in start() */
}

static void file_input_destroy(void *ctx)
{
    free(ctx);
}

const dp_input_plugin dp_file_input_plugin = {
    "trace-files",
    file_input_start,
    file_input_stop,
    file_input_destroy,
};

void *dp_file_input_create(const dp_file_input_options *opt)
{
    file_input *in = calloc(1, sizeof(*in));
    if (in)
        in->opt = *opt;
    return in;
}

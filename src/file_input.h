/*
 * The trace file input: OTLP trace files (binary protobuf or OTLP/JSON, see
 * otlp/otlp_file.h) inserted into the engine's trace table the way the
 * OTLP/gRPC receiver inserts requests: each file is parsed as one request
 * and inserted as one all-or-nothing batch, so a file that cannot be read
 * keeps none of its spans.
 *
 * An input that ends: start() reads every file before it returns, so once
 * dp_engine_start() has returned every span is in the table; stop() has
 * nothing left to do. Run the engine with finalise_at_stop, so that a trace
 * spread over several files is one run whatever the time between them.
 */
#ifndef DP_FILE_INPUT_H
#define DP_FILE_INPUT_H

#include <stddef.h>

#include "engine.h"

typedef struct dp_file_input_options {
    char *const *paths; /* the files, read in this order */
    size_t count;
    /**
     * Called after each file, in order, from the thread that calls
     * dp_engine_start(): `spans` is how many the file added; `error` is
     * NULL, or "PATH:LINE: message" / "PATH: offset N: message" / "PATH:
     * message" when nothing of the file was kept.
     */
    void (*on_file)(void *ctx, const char *path, size_t spans, const char *error);
    void *on_file_ctx;
    /** Decode memory for one file at most; 0 = 4 GiB. */
    size_t max_file_memory;
} dp_file_input_options;

/** The plugin; its ctx comes from dp_file_input_create(). */
extern const dp_input_plugin dp_file_input_plugin;

/**
 * A context for dp_engine_add_input(engine, &dp_file_input_plugin, ctx),
 * after which the engine destroys it (before that, the plugin's destroy
 * does). The options are copied; the paths must outlive the input.
 * NULL on out of memory.
 */
void *dp_file_input_create(const dp_file_input_options *opt);

#endif

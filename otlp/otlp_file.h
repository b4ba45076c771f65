/*
 * Reading OTLP trace files for `dagprof report`:
 *  - binary protobuf: one ExportTraceServiceRequest (or TracesData, the same
 *    wire shape) per file, or a stream of them each preceded by its length
 *    as a 4-byte big-endian integer is NOT supported; one message per file;
 *  - OTLP/JSON: one ExportTraceServiceRequest JSON object per line (as the
 *    OpenTelemetry Collector's file exporter writes), or one object spanning
 *    the whole file.
 * The format is detected from the first non-blank byte ('{' = JSON).
 */
#ifndef DP_OTLP_FILE_H
#define DP_OTLP_FILE_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "span.h"

/** Spans read from files; all memory in the arena given to the reader. */
typedef struct dp_span_list {
    dp_span *spans;
    size_t count;
    size_t cap;
} dp_span_list;

/**
 * Append every span of `path` to `list` (memory from `arena`).
 * Returns 0, or -1 with "PATH:LINE: message" (LINE for JSON; byte offset
 * for protobuf as "PATH: offset N: message") in err.
 */
int dp_otlp_file_read(const char *path, dp_arena *arena, dp_span_list *list, char *err,
                      size_t errlen);

/**
 * Decode one OTLP/JSON ExportTraceServiceRequest held in memory (one JSON
 * document). Returns 0, or -1 with a message in err (without file/line).
 */
int dp_otlp_json_parse(const char *json, size_t len, dp_arena *arena, dp_span_list *list, char *err,
                       size_t errlen);

/**
 * Encode one OTLP/JSON ExportTraceServiceRequest held in memory (one JSON
 * document) as protobuf, appended to `out`. Returns 0, or -1 with a message
 * in err (without file/line: "json.path: reason"), `out` left as it was.
 */
int dp_otlp_json_encode(const char *json, size_t len, dp_buf *out, char *err, size_t errlen);

#endif

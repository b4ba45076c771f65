/*
 * Reading OTLP trace files for the trace file input (src/file_input.c):
 *  - binary protobuf: one ExportTraceServiceRequest (or TracesData, the same
 *    wire shape) per file, kept as it is;
 *  - OTLP/JSON: one ExportTraceServiceRequest JSON object per line (as the
 *    OpenTelemetry Collector's file exporter writes), or any sequence of
 *    whole JSON objects (a pretty-printed request spanning the file is one
 *    such object), encoded as protobuf (json_encode.c).
 * The format is detected from the first non-blank byte ('{' = JSON).
 *
 * Either way the file becomes one encoded request, parsed as the receiver
 * parses a request (dp_otlp_trace_batch_parse), so a file's spans enter the
 * trace table as an SDK's would.
 */
#ifndef DP_OTLP_FILE_H
#define DP_OTLP_FILE_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "otlp_signal.h"
#include "decode.h"

/**
 * Read `path` as one encoded ExportTraceServiceRequest into `bytes` (reset
 * first; the caller owns it) and parse it into `batch` (arrays in `arena`,
 * views into `bytes`). The requests of a JSON file are concatenated into
 * one, which protobuf defines as the request holding all their resource
 * spans. A file is read whole or not at all: a span that cannot be used
 * fails the file. batch->attributes_dropped counts the attributes nested
 * past protobuf's limit left out, by the parse or by the JSON encoder. Returns 0, or -1 with
 * "PATH:LINE: message" (JSON) or "PATH: offset N: message" (protobuf) in err.
 */
DP_MUST_CHECK int dp_otlp_file_read(const char *path, dp_arena *arena, dp_buf *bytes,
                                    dp_otlp_trace_batch *batch, char *err, size_t errlen);

/**
 * Encode one OTLP/JSON ExportTraceServiceRequest held in memory (one JSON
 * document) as protobuf, appended to `out`. Returns 0, or -1 with a message
 * in err (without file/line: "json.path: reason"), `out` left as it was.
 */
DP_MUST_CHECK int dp_otlp_json_encode(const char *json, size_t len, dp_buf *out, char *err,
                                      size_t errlen);

/**
 * What the OTLP/JSON encoder left out of a request: attributes (of a
 * resource, scope, span, span event or link, log record) whose value would
 * nest deeper than protobuf's recursion limit of 100 messages. Each is
 * counted in its message's dropped_attributes_count (the JSON's
 * droppedAttributesCount plus the left out ones), the rest is encoded.
 */
typedef struct dp_otlp_json_dropped {
    size_t attributes;
    char first[192]; /* the JSON path of the first, e.g.
                        "resourceLogs[0].scopeLogs[0].logRecords[2].attributes[1]" */
} dp_otlp_json_dropped;

/**
 * dp_otlp_json_encode() for any signal: an OTLP/JSON ExportTraceServiceRequest,
 * ExportMetricsServiceRequest or ExportLogsServiceRequest as protobuf.
 * Metrics and logs are checked whole (a malformed value anywhere fails the
 * request with its JSON path).
 */
DP_MUST_CHECK int dp_otlp_json_encode_signal(enum dp_signal signal, const char *json, size_t len,
                                             dp_buf *out, char *err, size_t errlen);

/** dp_otlp_json_encode_signal() that says what it left out in *dropped (zeroed on failure). */
DP_MUST_CHECK int dp_otlp_json_encode_dropped(enum dp_signal signal, const char *json, size_t len,
                                              dp_buf *out, dp_otlp_json_dropped *dropped, char *err,
                                              size_t errlen);

#endif

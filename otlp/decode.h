/*
 * OTLP protobuf decoding for the receiver and the offline reader.
 *
 * Two steps, so the daemon can keep spans as the bytes they arrived as:
 *
 * 1. dp_otlp_trace_batch_parse() validates a whole ExportTraceServiceRequest
 *    (protobuf-c, allocations in the caller's arena) and lists every span as
 *    a view of its encoded bytes plus the few fields assembly needs (ids,
 *    times). Spans that decode but cannot be used (trace id not 16 bytes,
 *    span id not 8 bytes, parent id neither empty nor 8 bytes) are counted
 *    in `rejected` with a message, and not listed.
 *
 * 2. dp_otlp_span_decode() turns one span's bytes (and its resource's bytes)
 *    into a dp_span for the profiler, in the caller's arena.
 *
 * Nothing here allocates with malloc per span: all memory comes from the
 * arena passed in, which the caller resets or frees in one step.
 */
#ifndef DP_OTLP_DECODE_H
#define DP_OTLP_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "dp_err.h"
#include "span.h"
#include "span_ref.h"

enum {
    DP_OTLP_OK = 0,
    DP_OTLP_EDECODE = DP_EDECODE, /* bytes are not a valid message of that type */
    DP_OTLP_ENOMEM = DP_ENOMEM,   /* arena cap or out of memory */
};

/** Deepest message nesting a request may have (protobuf's default
 *  recursion limit; the request itself is depth 0). */
#define DP_OTLP_NESTING_LIMIT 100

/** One resource (ResourceSpans.resource) of a request, as encoded bytes. */
typedef struct dp_otlp_resource_ref {
    dp_str resource_raw; /* encoded Resource message; empty when absent */
    dp_str schema_url;   /* ResourceSpans.schema_url */
} dp_otlp_resource_ref;

/**
 * A request's index. scopes and spans are the shared span index (span_ref.h),
 * each scope with its resource filled in, so they go to the trace table as
 * they are (dp_otlp_trace_batch_spans()).
 */
typedef struct dp_otlp_trace_batch {
    dp_otlp_resource_ref *resources;
    size_t resource_count;
    dp_span_scope *scopes;
    size_t scope_count;
    dp_span_ref *spans;
    size_t span_count;
    size_t rejected;          /* spans that decoded but were unusable */
    char reject_message[256]; /* the first reason, e.g.
                                 "resource_spans[0].scope_spans[1].spans[3]: trace_id is 5 bytes,
                                 want 16" */
    size_t reject_offset;     /* byte offset of that span in the request */
    /* attributes (of spans, their events and links, resources and scopes)
     * whose value nests deeper than protobuf's recursion limit: left out of
     * the listed bytes, each counted in its message's dropped_attributes_count */
    size_t attributes_dropped;
} dp_otlp_trace_batch;

/**
 * Validate and index an encoded ExportTraceServiceRequest. Views in `out`
 * point into `data` (which must outlive them) and into `arena`.
 * Returns DP_OTLP_OK, DP_OTLP_EDECODE (with a reason in err, e.g.
 * "offset 57: Span.attributes: length runs past the end of the message") or
 * DP_OTLP_ENOMEM. Spans with all-zero trace or span ids are rejected too; an
 * all-zero parent_span_id counts as no parent. A resource or scope that occurs
 * more than once in its ResourceSpans/ScopeSpans is merged (its encodings are
 * concatenated into the arena, which protobuf defines as a merge).
 */
DP_MUST_CHECK int dp_otlp_trace_batch_parse(const uint8_t *data, size_t len, dp_arena *arena,
                                            dp_otlp_trace_batch *out, char *err, size_t errlen);

/** The batch's spans and scopes as the trace table takes them (views, no copy). */
static inline dp_span_batch dp_otlp_trace_batch_spans(const dp_otlp_trace_batch *b)
{
    dp_span_batch out = {b->scopes, b->scope_count, b->spans, b->span_count};
    return out;
}

/**
 * Decode one span (as listed by dp_otlp_trace_batch_parse) into `out`.
 * resource_raw may be empty. All views in `out` point into `arena` or into
 * the given bytes. Returns DP_OTLP_OK, DP_OTLP_EDECODE or DP_OTLP_ENOMEM.
 */
DP_MUST_CHECK int dp_otlp_span_decode(dp_str span_raw, dp_str resource_raw, dp_arena *arena,
                                      dp_span *out);

/**
 * The name of an encoded InstrumentationScope (a view into scope_raw; empty
 * when absent or when the bytes do not decode).
 */
dp_str dp_otlp_scope_name(dp_str scope_raw);

/**
 * Decode an encoded Resource's attributes once, so spans of one resource can
 * share them (set dp_span.resource_attrs after dp_otlp_span_decode() with an
 * empty resource). Views point into `arena`. Returns DP_OTLP_OK, DP_OTLP_EDECODE
 * or DP_OTLP_ENOMEM; an empty resource_raw gives no attributes.
 */
DP_MUST_CHECK int dp_otlp_resource_decode(dp_str resource_raw, dp_arena *arena,
                                          const dp_attr **attrs, size_t *count);

/**
 * A metrics or logs request as validated: what it holds and what to forward
 * (upstream and into the persistent queue).
 */
typedef struct dp_otlp_side_request {
    size_t items; /* data points, or log records */
    /* attributes (of resources, scopes, log records: the messages with a
     * dropped_attributes_count) whose value nests deeper than protobuf's
     * recursion limit: left out of `forward`, each counted in its message's
     * dropped_attributes_count */
    size_t attributes_dropped;
    /* the bytes to forward: the request as it came, or (attributes_dropped)
     * its rewrite without them, in the arena; groups and unknown fields kept */
    const uint8_t *forward;
    size_t forward_len;
} dp_otlp_side_request;

/**
 * Validate an encoded ExportMetricsServiceRequest; count its data points.
 * Too deep outside such an attribute (a data point's or an exemplar's
 * attribute, which have no dropped count) is malformed. Returns DP_OTLP_OK,
 * DP_OTLP_EDECODE (reason in err) or DP_OTLP_ENOMEM; *out zeroed on failure.
 */
DP_MUST_CHECK int dp_otlp_metrics_validate(const uint8_t *data, size_t len, dp_arena *arena,
                                           dp_otlp_side_request *out, char *err, size_t errlen);

/** Validate an encoded ExportLogsServiceRequest; count its log records (as above). */
DP_MUST_CHECK int dp_otlp_logs_validate(const uint8_t *data, size_t len, dp_arena *arena,
                                        dp_otlp_side_request *out, char *err, size_t errlen);

/** A ProtobufCAllocator-compatible adapter over an arena (free is a no-op). */
struct ProtobufCAllocator;
void dp_otlp_arena_allocator(dp_arena *arena, struct ProtobufCAllocator *out);

#endif

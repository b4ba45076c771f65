/*
 * The span index: one span as the bytes it arrived as, plus the few fields
 * assembly needs (ids, times, which resource and scope it came with).
 *
 * One type from receive to report: the receiver's wire walk fills it
 * (otlp/decode.h), the trace table takes a batch of them as they are and
 * keeps one per stored span, and a finalised run hands that same array to
 * the profiler and the enricher (assembly/trace_table.h). Views point into
 * whoever holds the bytes: the request while it is decoded, the run's
 * storage once stored.
 */
#ifndef DP_SPAN_REF_H
#define DP_SPAN_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_str.h"

/** A resource and a scope spans came with (encoded bytes, possibly empty). */
typedef struct dp_span_scope {
    dp_str resource_raw;        /* encoded Resource */
    dp_str resource_schema_url; /* ResourceSpans.schema_url */
    dp_str scope_raw;           /* encoded InstrumentationScope */
    dp_str scope_schema_url;    /* ScopeSpans.schema_url */
    uint32_t resource_index;    /* the ResourceSpans it came in, within its request */
} dp_span_scope;

/** One span. */
typedef struct dp_span_ref {
    dp_str raw; /* encoded Span message, byte-exact as received */
    uint64_t start_ns;
    uint64_t end_ns;
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8]; /* zeros when has_parent is false */
    uint32_t scope_index;      /* into the scopes of its batch or run */
    bool has_parent;
    /* The persistent queue's segment holding the span's request (low 16
     * bits of its sequence; storage/storage.h), set by the ingest when
     * storage is on; in what was padding, so a span costs no more. */
    uint16_t storage_segment;
} dp_span_ref;

/** Spans and the scopes they refer to. */
typedef struct dp_span_batch {
    const dp_span_scope *scopes;
    size_t scope_count;
    const dp_span_ref *spans;
    size_t span_count;
} dp_span_batch;

#endif

/*
 * Pre-encoded OTLP ExportTraceServiceRequest messages for the load
 * generator: realistic agent DAG traces (a root, 3 to 8 nodes, an LLM call
 * and a tool call under each, gen_ai.* attributes), encoded once with
 * protobuf-c. Sending a request only copies the bytes and rewrites the trace
 * ids in place, so the generator spends its time on the wire, not on encoding.
 */
#ifndef DP_BENCH_TRACE_TEMPLATE_H
#define DP_BENCH_TRACE_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

/** One encoded request and where its trace ids sit in the bytes. */
typedef struct dp_bench_request {
    uint8_t *bytes; /* owned: the encoded ExportTraceServiceRequest */
    size_t len;
    size_t spans;       /* spans in the request */
    size_t traces;      /* whole traces in the request */
    size_t *id_offsets; /* owned: offset of every 16-byte trace id field value */
    uint32_t *id_trace; /* owned: which trace of the request each offset belongs to */
    size_t id_count;    /* == spans */
} dp_bench_request;

/**
 * Encode whole traces until the request holds at least spans_per_request
 * spans (at least one trace). variant shifts the trace shapes so several
 * templates differ. Span times start at base_time_ns. Returns 0, or -1 on
 * out of memory or an internal inconsistency (message on stderr).
 */
int dp_bench_request_build(dp_bench_request *r, unsigned variant, unsigned spans_per_request,
                           uint64_t base_time_ns);

/**
 * Write r's bytes into dst (r->len bytes) with every trace id replaced by
 * prefix (4 bytes) | trace index in the request (4 bytes) | seq (8 bytes), so
 * each (prefix, seq) pair gives traces no other request uses.
 */
void dp_bench_request_write(uint8_t *dst, const dp_bench_request *r, uint32_t prefix, uint64_t seq);

/** Free what r owns; r may be half built. */
void dp_bench_request_release(dp_bench_request *r);

#endif

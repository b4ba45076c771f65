/*
 * Internals shared by the OTLP codecs (the protobuf decoders and the
 * OTLP/JSON encoder); not a public interface: the receiver and the trace
 * file input use decode.h and otlp_file.h.
 *
 * The wire walker exists because protobuf-c neither reports where a message
 * is malformed nor limits nesting (it recurses once per nested message, so a
 * deeply nested AnyValue could exhaust the stack). Every input is checked
 * with dp_otlp_wire_check() before protobuf-c sees it.
 */
#ifndef DP_OTLP_INTERNAL_H
#define DP_OTLP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "buf.h"
#include "pb_wire.h"
#include "span.h"

/** Deepest message nesting accepted (request → ... → nested AnyValue). */
#define DP_OTLP_MAX_DEPTH 64

/**
 * Check that data is a well-formed encoding of `desc`: every field readable,
 * known fields with their wire type, nested messages checked recursively, at
 * most DP_OTLP_MAX_DEPTH levels, packed repeated scalars made of whole
 * values. Unknown fields are skipped (they are legal).
 * On failure writes "offset N: Message.field: reason" to err and returns -1.
 */
int dp_otlp_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                       char *err, size_t errlen);

/**
 * dp_otlp_wire_check() for a message nested `depth` levels inside a larger
 * one that starts at base: offsets in err count from base, and the nesting
 * limit counts the enclosing levels.
 */
int dp_otlp_wire_check_at(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                          const uint8_t *data, size_t len, int depth, char *err, size_t errlen);

/** Called for each known field of the checked message, after that field passed. */
typedef void (*dp_otlp_wire_visit_fn)(void *ctx, const dp_pb_field *f);

/**
 * dp_otlp_wire_check_at() that also hands every known top-level field to
 * visit (in wire order, once it is checked), so a caller can read the
 * fields it needs in the same walk that validates them.
 */
int dp_otlp_wire_check_visit(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                             const uint8_t *data, size_t len, int depth,
                             dp_otlp_wire_visit_fn visit, void *ctx, char *err, size_t errlen);

/**
 * The wire type a field of protobuf type t is encoded with (packed repeated
 * scalars may also come as DP_PB_LEN).
 */
int dp_otlp_wire_type_for(ProtobufCType t);

/**
 * Reference parse: dp_otlp_trace_batch_parse() that also unpacks every
 * resource, scope and span with protobuf-c, which then judges validity and
 * gives the ids and times. Both must accept the same requests and list the
 * same spans (the trace fuzz target compares them).
 */
struct dp_otlp_trace_batch;
int dp_otlp_trace_batch_parse_pbc(const uint8_t *data, size_t len, dp_arena *arena,
                                  struct dp_otlp_trace_batch *out, char *err, size_t errlen);

/**
 * Reference decoders: like dp_otlp_span_decode() and dp_otlp_resource_decode()
 * but by checking and unpacking with protobuf-c. The fast decoders must give
 * the same dp_span for every span a request accepted by
 * dp_otlp_trace_batch_parse() lists (the trace fuzz target compares them).
 */
int dp_otlp_span_decode_pbc(dp_str span_raw, dp_str resource_raw, dp_arena *arena, dp_span *out);
int dp_otlp_resource_decode_pbc(dp_str resource_raw, dp_arena *arena, const dp_attr **attrs,
                                size_t *count);

/** Allocator state that remembers whether an allocation failed. */
typedef struct dp_otlp_alloc_track {
    dp_arena *arena;
    bool failed;
} dp_otlp_alloc_track;

/** Like dp_otlp_arena_allocator(), recording failures in track (track->arena must be set). */
void dp_otlp_arena_allocator_tracked(dp_otlp_alloc_track *track, struct ProtobufCAllocator *out);

/**
 * Encode one parsed OTLP/JSON ExportTraceServiceRequest (a jansson json_t)
 * as protobuf, appended to out (json_encode.c). Returns 0, or -1 with
 * "json.path: reason" in err and out left as it was.
 */
struct json_t;
DP_MUST_CHECK int dp_otlp_json_encode_tree(struct json_t *root, dp_buf *out, char *err,
                                           size_t errlen);

/** True when all n bytes are zero (an invalid OTLP id). */
static inline bool dp_otlp_id_is_zero(const uint8_t *id, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (id[i])
            return false;
    return true;
}

#endif

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
#include "decode.h"
#include "pb_wire.h"
#include "span.h"

/** Deepest message nesting accepted (request → ... → nested AnyValue), as
 *  protobuf's default recursion limit: the top message is depth 0, and a
 *  message or group at depth 101 is too deep. */
#define DP_OTLP_MAX_DEPTH DP_OTLP_NESTING_LIMIT

/** What a check found besides errors, for a caller that may rewrite. */
typedef struct dp_otlp_wire_found {
    /* in: an attribute (a KeyValue of a message with dropped_attributes_count)
     * that nests deeper than DP_OTLP_MAX_DEPTH is counted below rather than
     * an error */
    bool drop_deep;
    size_t attributes_too_deep; /* out: such attributes, to drop */
    bool groups;                /* out: some unknown field is a group */
    bool merges;                /* out: a singular message field is given more than once */
} dp_otlp_wire_found;

/**
 * Check that data is a well-formed encoding of `desc`: every field readable,
 * known fields with their wire type, nested messages checked recursively, at
 * most DP_OTLP_MAX_DEPTH levels, packed repeated scalars made of whole
 * values. Unknown fields are skipped (they are legal), groups among them.
 * On failure writes "offset N: Message.field: reason" to err and returns -1.
 * found may be NULL (then nothing too deep is allowed).
 */
int dp_otlp_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                       dp_otlp_wire_found *found, char *err, size_t errlen);

/** Called for each known field of the checked message, after that field passed. */
typedef void (*dp_otlp_wire_visit_fn)(void *ctx, const dp_pb_field *f);

/**
 * dp_otlp_wire_check() for a message nested `depth` levels inside a larger
 * one that starts at base (offsets in err count from base, and the nesting
 * limit counts the enclosing levels), which also hands every known
 * top-level field to visit (in wire order, once it is checked; a dropped
 * attribute is not handed over), so a caller can read the fields it needs
 * in the same walk that validates them. visit may be NULL.
 */
int dp_otlp_wire_check_visit(const ProtobufCMessageDescriptor *desc, const uint8_t *base,
                             const uint8_t *data, size_t len, int depth,
                             dp_otlp_wire_visit_fn visit, void *ctx, dp_otlp_wire_found *found,
                             char *err, size_t errlen);

/**
 * Re-encode a message of type desc at depth `depth` that passed the check
 * (with drop_deep): every attribute that nests deeper than DP_OTLP_MAX_DEPTH
 * left out, and its message's dropped_attributes_count raised by as many (a
 * field appended after the others: the last value counts); with
 * for_pbc also without any group field, and without the occurrences of a
 * singular message field given more than once that hold no known field
 * (keeping one when all are so): what protobuf-c is given, as it refuses
 * groups and fails to merge two such occurrences (merging a message without
 * known fields changes nothing). Everything else is kept, in
 * order. *out is a copy in the arena; *dropped (may be NULL) gets how many
 * attributes were left out. DP_OTLP_OK, DP_OTLP_ENOMEM or DP_OTLP_EDECODE.
 */
int dp_otlp_wire_rewrite(const ProtobufCMessageDescriptor *desc, dp_str in, int depth, bool for_pbc,
                         dp_arena *arena, dp_str *out, size_t *dropped);

/**
 * Make checked bytes fit for protobuf-c, which refuses groups, fails to
 * merge some messages given twice and has no nesting limit: when found says
 * they hold a group, a singular message given twice or a too deep
 * attribute, *bytes becomes the rewrite (dp_otlp_wire_rewrite(), for_pbc).
 */
int dp_otlp_wire_for_pbc(const ProtobufCMessageDescriptor *desc, const dp_otlp_wire_found *found,
                         dp_str *bytes, int depth, dp_arena *arena);

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
 * as protobuf, appended to out (json_encode.c); *dropped (may be NULL) says
 * which attributes nested too deep were left out. Returns 0, or -1 with
 * "json.path: reason" in err and out left as it was.
 */
struct json_t;
struct dp_otlp_json_dropped;
DP_MUST_CHECK int dp_otlp_json_encode_tree(struct json_t *root, dp_buf *out,
                                           struct dp_otlp_json_dropped *dropped, char *err,
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

/*
 * The span model the profiler works on: plain C, no protobuf or gRPC types.
 *
 * otlp/ fills these from OTLP protobuf (OTLP/JSON files are encoded as
 * protobuf first, otlp/json_encode.c). All strings and arrays
 * are views into memory owned by whoever built the span (usually a per-run
 * dp_arena); the profiler never frees or keeps them past dp_profile_build().
 */
#ifndef DP_SPAN_H
#define DP_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_str.h"

enum dp_value_kind {
    DP_VALUE_EMPTY = 0,
    DP_VALUE_STRING,
    DP_VALUE_BOOL,
    DP_VALUE_INT,
    DP_VALUE_DOUBLE,
    DP_VALUE_ARRAY,
    DP_VALUE_KVLIST, /* kept opaque: the profiler reads no nested maps */
    DP_VALUE_BYTES,
};

typedef struct dp_value {
    enum dp_value_kind kind;
    union {
        dp_str s; /* STRING and BYTES */
        bool b;
        int64_t i;
        double d;
        struct {
            const struct dp_value *items;
            size_t count;
        } array;
    } u;
} dp_value;

typedef struct dp_attr {
    dp_str key;
    dp_value value;
} dp_attr;

typedef struct dp_link {
    uint8_t trace_id[16];
    uint8_t span_id[8];
} dp_link;

enum dp_status {
    DP_STATUS_UNSET = 0,
    DP_STATUS_OK = 1,
    DP_STATUS_ERROR = 2,
};

typedef struct dp_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    bool has_parent; /* parent_span_id is set (8 non-zero-length bytes) */
    dp_str name;
    int kind; /* OTLP SpanKind number */
    uint64_t start_ns;
    uint64_t end_ns;
    enum dp_status status;
    dp_str status_message;
    const dp_attr *attrs;
    size_t attr_count;
    const dp_attr *resource_attrs;
    size_t resource_attr_count;
    dp_str scope_name; /* InstrumentationScope.name of the span's scope; empty when none */
    const dp_link *links;
    size_t link_count;
} dp_span;

/** Find an attribute by key; NULL when absent. Linear: spans carry few attributes. */
const dp_value *dp_span_attr(const dp_span *s, const char *key);

#endif

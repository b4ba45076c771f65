/*
 * The pieces of the OTLP/JSON → protobuf encoder that its per-signal parts
 * share (json_encode.c holds them; json_encode_traces.c,
 * json_encode_metrics.c and json_encode_logs.c hold what is proper to each
 * signal). Not an interface outside otlp/: callers use otlp_file.h.
 *
 * Every enc_put_* reads one member of a JSON object (by its lowerCamelCase
 * or snake_case name; JSON null counts as absent) and writes it as one
 * protobuf field with the writer of common/pb_wire.h. A malformed value
 * goes through enc_bad(): it fails the request with its JSON path (-1), or,
 * in a lenient part (trace parts the profile does not read), is left out
 * (the putter returns 0 and writes nothing). Putters return -1 to stop,
 * 0 to go on.
 */
#ifndef DP_JSON_ENCODE_INTERNAL_H
#define DP_JSON_ENCODE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp_internal.h"

/* One segment of a JSON path, e.g. "spans[2]"; a chain ends at NULL (the request). */
typedef struct json_path {
    const struct json_path *up;
    const char *name;
    long index; /* "[index]" after the name; -1 for none */
} json_path;

struct enc_signal;

typedef struct encoder {
    dp_pb_writer *w;
    char *err;
    size_t errlen;
    bool lenient; /* in a part the profile does not read: leave out what is malformed */
    bool strict;  /* every part is checked (metrics, logs): enc_put_optional() checks too */
    const struct enc_signal *signal;
    /* attributes nested too deep, left out (enc_put_attributes) */
    size_t attributes_dropped; /* in the whole request */
    size_t dropped_here;       /* in the list enc_put_attributes() is writing */
    size_t pending_dropped;    /* of a message whose count a part written later puts */
    char *first_dropped;       /* the JSON path of the first (may be NULL) */
    size_t first_dropped_len;
} encoder;

/** One item of a repeated message field, as field `number`, at `path`. */
typedef int (*enc_put_item_fn)(encoder *c, json_t *item, const json_path *path, uint32_t number);

/** A part of a message that is lenient for traces; returns -1 to stop (strict), else 0. */
typedef int (*enc_put_part_fn)(encoder *c, json_t *obj, const json_path *path);

/**
 * A signal's request: Export<X>ServiceRequest { repeated Resource<X> = 1 },
 * Resource<X> { resource = 1; repeated Scope<X> = 2; schema_url = 3 },
 * Scope<X> { scope = 1; repeated <item> = 2; schema_url = 3 }.
 */
typedef struct enc_signal {
    const char *request_name; /* "ExportTraceServiceRequest" */
    const char *resource_camel, *resource_snake;
    const char *scope_camel, *scope_snake;
    const char *items_camel, *items_snake; /* snake NULL when the same */
    enc_put_item_fn put_item;
    bool strict;
} enc_signal;

extern const enc_signal enc_traces;  /* json_encode_traces.c */
extern const enc_signal enc_metrics; /* json_encode_metrics.c */
extern const enc_signal enc_logs;    /* json_encode_logs.c */

/** A malformed value: -1 with "path.field: message" in err, or 1 in a lenient part. */
int enc_bad(encoder *c, const json_path *path, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** What a putter returns after a parser's verdict: stop (-1) or go on (0). */
static inline int enc_outcome(int rc)
{
    return rc < 0 ? -1 : 0;
}

/** A member by its lowerCamelCase or snake_case name; JSON null counts as absent. */
json_t *enc_member(json_t *obj, const char *camel, const char *snake);

/** A string member: 0 and *out (NULL when absent), or enc_bad(). */
int enc_get_string(encoder *c, json_t *obj, const json_path *path, const char *camel,
                   const char *snake, json_t **out);

/** A string field, left out when absent or empty (proto3's default). */
int enc_put_string(encoder *c, json_t *obj, const json_path *path, const char *camel,
                   const char *snake, uint32_t number);

/** Unsigned 64-bit: a JSON integer, an integral real, or a decimal string. */
int enc_parse_u64(encoder *c, json_t *v, const json_path *path, const char *field, uint64_t *out);

/** Signed 64-bit: the same, with a sign. */
int enc_parse_i64(encoder *c, json_t *v, const json_path *path, const char *field, int64_t *out);

/** A double: a JSON number, "NaN", "Infinity", "-Infinity" or a numeric string. */
int enc_parse_double(encoder *c, json_t *v, const json_path *path, const char *field, double *out);

/** A fixed64 field, left out when absent or 0. */
int enc_put_fixed64(encoder *c, json_t *obj, const json_path *path, const char *camel,
                    const char *snake, uint32_t number);

/** A 32-bit unsigned field (varint, or fixed32 when `fixed`), left out when 0. */
int enc_put_u32(encoder *c, json_t *obj, const json_path *path, const char *camel,
                const char *snake, uint32_t number, bool fixed);

/** An enum as its number or its name (names[i] names value i); left out when 0. */
int enc_put_enum(encoder *c, json_t *obj, const json_path *path, const char *camel,
                 const char *snake, const char *const *names, size_t count, uint32_t number);

/** An id as hex into out[nbytes]; *present is false for an absent or empty string. */
int enc_get_hex_id(encoder *c, json_t *obj, const json_path *path, const char *camel,
                   const char *snake, uint8_t *out, size_t nbytes, bool *present);

/** An optional id (hex), written when present. */
int enc_put_hex_id(encoder *c, json_t *obj, const json_path *path, const char *camel,
                   const char *snake, size_t nbytes, uint32_t number);

/** A required id, never all zeros when `nonzero`. */
int enc_put_required_id(encoder *c, json_t *obj, const json_path *path, const char *camel,
                        const char *snake, size_t nbytes, bool nonzero, uint32_t number);

/** A nested message at the writer's depth + extra would pass the reader's limit. */
bool enc_too_deep(const encoder *c, int extra);

/** A part lenient for traces (malformed fields left out); checked when c->strict. */
int enc_put_optional(encoder *c, enc_put_part_fn put, json_t *obj, const json_path *path);

/** Every item of the array member camel/snake of obj, at the paths "camel[i]". */
int enc_put_each(encoder *c, json_t *obj, const json_path *path, const char *camel,
                 const char *snake, uint32_t number, enc_put_item_fn put);

/** A list of KeyValue (attributes) as repeated field `number`. */
int enc_put_key_values(encoder *c, json_t *obj, const json_path *path, const char *camel,
                       const char *snake, uint32_t number);

/**
 * The attributes of a message that has a dropped_attributes_count (Resource,
 * InstrumentationScope, Span, Span.Event, Span.Link, LogRecord), as repeated
 * field `number`: an attribute whose value would nest deeper than
 * DP_OTLP_MAX_DEPTH is left out (decided before anything of it is written,
 * the same in both passes), counted in c->attributes_dropped and in
 * *dropped, which the message's enc_put_dropped_count() adds.
 */
int enc_put_attributes(encoder *c, json_t *obj, const json_path *path, uint32_t number,
                       size_t *dropped);

/**
 * A message's droppedAttributesCount as field `number`: the JSON's value
 * plus `extra` attributes left out (capped at 2^32 - 1), left out when 0.
 * Malformed in a lenient part: the JSON's value counts as 0.
 */
int enc_put_dropped_count(encoder *c, json_t *obj, const json_path *path, uint32_t number,
                          size_t extra);

/** An AnyValue as field `number`: the first of its kinds present is the value. */
int enc_put_any_value(encoder *c, json_t *v, const json_path *path, uint32_t number);

/** A nested message member `camel` of obj as field `number`, by `put`; absent: nothing. */
int enc_put_message(encoder *c, json_t *obj, const json_path *path, const char *camel,
                    const char *snake, uint32_t number, enc_put_part_fn put);

#endif

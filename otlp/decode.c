/*
 * ExportTraceServiceRequest → an index of its spans (dp_otlp_trace_batch).
 *
 * One walk in wire order, with no unpacking. The three framing levels
 * (request, ResourceSpans, ScopeSpans) are read here; every message below
 * them (each Resource, scope and Span) is checked by the schema-driven wire
 * walker (wire.c: every known field's wire type against the generated
 * descriptors, offsets in errors, bounded nesting), and a span's ids and
 * times are read in the same walk that checks it. Its listed bytes are the
 * view the walk is standing on. Nothing is allocated per span beyond its
 * index entry.
 *
 * The reference parse (dp_otlp_trace_batch_parse_pbc) takes the same walk
 * but also unpacks every part with protobuf-c, which judges what is valid
 * and gives the ids and times; the trace fuzz target checks that both
 * accept and reject the same requests and list the same spans.
 */
#include "decode.h"

#include <stdio.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp_internal.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest trace_request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans resource_spans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans scope_spans;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;

/* Index arrays start with room for this many entries and double in the arena. */
#define DP_BATCH_INITIAL 64
/* The scratch arena's first block: most spans unpack in far less. */
#define DP_BATCH_SCRATCH_BLOCK (32 * 1024)

/* A message field that may occur more than once; protobuf merges the
 * occurrences, which is the same as concatenating their encodings. */
static int merged_field(const uint8_t *data, size_t len, uint32_t number, dp_arena *arena,
                        dp_str *out)
{
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    const char *why;
    size_t count = 0, total = 0;

    *out = DP_STR_NULL;
    while (dp_pb_next(&pos, end, &f, &why) > 0) {
        if (f.number != number || f.wire_type != DP_PB_LEN)
            continue;
        if (count++ == 0)
            *out = (dp_str){(const char *)f.data, f.len};
        total += f.len;
    }
    if (count <= 1)
        return DP_OTLP_OK;
    char *buf = dp_arena_alloc(arena, total ? total : 1);
    if (!buf)
        return DP_OTLP_ENOMEM;
    size_t at = 0;
    pos = data;
    while (dp_pb_next(&pos, end, &f, &why) > 0) {
        if (f.number != number || f.wire_type != DP_PB_LEN)
            continue;
        memcpy(buf + at, f.data, f.len);
        at += f.len;
    }
    *out = (dp_str){buf, total};
    return DP_OTLP_OK;
}

/* A string field as protobuf-c hands it over (NUL-terminated): up to its first NUL. */
static dp_str string_view(const dp_pb_field *f)
{
    const char *p = (const char *)f->data;
    const char *nul;
    if (!f->len)
        return (dp_str){"", 0};
    nul = memchr(p, 0, f->len);
    return (dp_str){p, nul ? (size_t)(nul - p) : f->len};
}

/* What the index needs of one span (views into the request). */
typedef struct span_fields {
    const uint8_t *trace_id, *span_id, *parent_span_id;
    size_t trace_id_len, span_id_len, parent_span_id_len;
    uint64_t start_ns, end_ns;
} span_fields;

/* Span fields 1, 2, 4, 7 and 8; a field given twice: the last one counts,
 * as protobuf defines for singular fields. */
static void visit_span_field(void *ctx, const dp_pb_field *f)
{
    span_fields *s = ctx;
    switch (f->number) {
    case 1:
        s->trace_id = f->data, s->trace_id_len = f->len;
        break;
    case 2:
        s->span_id = f->data, s->span_id_len = f->len;
        break;
    case 4:
        s->parent_span_id = f->data, s->parent_span_id_len = f->len;
        break;
    case 7:
        s->start_ns = f->value;
        break;
    case 8:
        s->end_ns = f->value;
        break;
    default:
        break;
    }
}

static void span_fields_from_pbc(const pb_span *sp, span_fields *s)
{
    s->trace_id = sp->trace_id.data, s->trace_id_len = sp->trace_id.len;
    s->span_id = sp->span_id.data, s->span_id_len = sp->span_id.len;
    s->parent_span_id = sp->parent_span_id.data, s->parent_span_id_len = sp->parent_span_id.len;
    s->start_ns = sp->start_time_unix_nano;
    s->end_ns = sp->end_time_unix_nano;
}

/* NULL when the span's ids are usable, else why not (written to buf). */
static const char *span_id_problem(const span_fields *sp, char *buf, size_t buflen)
{
    if (sp->trace_id_len != 16)
        snprintf(buf, buflen, "trace_id is %zu bytes, want 16", sp->trace_id_len);
    else if (dp_otlp_id_is_zero(sp->trace_id, 16))
        snprintf(buf, buflen, "trace_id is all zeros");
    else if (sp->span_id_len != 8)
        snprintf(buf, buflen, "span_id is %zu bytes, want 8", sp->span_id_len);
    else if (dp_otlp_id_is_zero(sp->span_id, 8))
        snprintf(buf, buflen, "span_id is all zeros");
    else if (sp->parent_span_id_len != 0 && sp->parent_span_id_len != 8)
        snprintf(buf, buflen, "parent_span_id is %zu bytes, want 0 or 8", sp->parent_span_id_len);
    else
        return NULL;
    return buf;
}

typedef struct walk_ctx {
    const uint8_t *base;
    dp_arena *arena;  /* the caller's: the index and merged resources/scopes */
    dp_arena scratch; /* protobuf-c's unpack of one part; emptied after each */
    dp_otlp_alloc_track track;
    ProtobufCAllocator alloc;
    dp_otlp_trace_batch *out;
    bool reference; /* also unpack with protobuf-c, which judges and gives the ids */
    size_t resource_cap, scope_cap, span_cap;
    char *err;
    size_t errlen;
} walk_ctx;

/* Make room for one more element of an index array (doubling in the arena). */
static int grow(walk_ctx *c, void **items, size_t count, size_t *cap, size_t size)
{
    if (count < *cap)
        return DP_OTLP_OK;
    size_t ncap = *cap ? *cap * 2 : DP_BATCH_INITIAL;
    void *n = dp_arena_alloc(c->arena, ncap * size);
    if (!n) {
        snprintf(c->err, c->errlen, "out of memory indexing %zu spans", c->out->span_count);
        return DP_OTLP_ENOMEM;
    }
    if (count)
        memcpy(n, *items, count * size);
    *items = n;
    *cap = ncap;
    return DP_OTLP_OK;
}

/* Read the next field of a framing message, checking the wire type of a known one. */
static int next_field(walk_ctx *c, const ProtobufCMessageDescriptor *desc, const uint8_t **pos,
                      const uint8_t *end, dp_pb_field *f)
{
    const uint8_t *at = *pos;
    const char *why = NULL;
    int rc = dp_pb_next(pos, end, f, &why);
    if (rc < 0) {
        snprintf(c->err, c->errlen, "offset %zu: %s: %s", (size_t)(at - c->base), desc->short_name,
                 why);
        return -1;
    }
    if (rc == 0)
        return 0;
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, f->number);
    if (fd && f->wire_type != DP_PB_LEN) {
        /* every field of the framing messages is length-delimited */
        snprintf(c->err, c->errlen, "offset %zu: %s.%s: wire type %d, want %d",
                 (size_t)(at - c->base), desc->short_name, fd->name, f->wire_type, DP_PB_LEN);
        return -1;
    }
    return fd ? 1 : 2; /* 2: unknown field, skipped */
}

/* Check one nested part; *too_deep gets how many of its attributes nest too
 * deep (to be left out: rewrite_part). The reference parse also unpacks it
 * with protobuf-c (into the scratch arena, emptied by the caller; rewritten
 * as dp_otlp_wire_for_pbc says, as protobuf-c cannot take groups, some
 * merges or too deep attributes) and
 * returns it in *unpacked. */
static int check_part(walk_ctx *c, const ProtobufCMessageDescriptor *desc, const dp_pb_field *f,
                      int depth, dp_otlp_wire_visit_fn visit, void *ctx,
                      ProtobufCMessage **unpacked, size_t *too_deep)
{
    static const uint8_t empty[1];
    const uint8_t *data = f->len ? f->data : empty;
    dp_otlp_wire_found found = {.drop_deep = true};

    if (dp_otlp_wire_check_visit(desc, c->base, data, f->len, depth, visit, ctx, &found, c->err,
                                 c->errlen) < 0)
        return DP_OTLP_EDECODE;
    *too_deep = found.attributes_too_deep;
    if (!c->reference)
        return DP_OTLP_OK;
    dp_str bytes = {(const char *)data, f->len};
    if (dp_otlp_wire_for_pbc(desc, &found, &bytes, depth, &c->scratch) != DP_OTLP_OK) {
        snprintf(c->err, c->errlen, "out of memory decoding a %s at offset %zu", desc->short_name,
                 (size_t)(f->data - c->base));
        return DP_OTLP_ENOMEM;
    }
    *unpacked = protobuf_c_message_unpack(desc, &c->alloc, bytes.len, (const uint8_t *)bytes.ptr);
    if (*unpacked)
        return DP_OTLP_OK;
    if (c->track.failed) {
        snprintf(c->err, c->errlen, "out of memory decoding a %s at offset %zu", desc->short_name,
                 (size_t)(f->data - c->base));
        return DP_OTLP_ENOMEM;
    }
    snprintf(c->err, c->errlen, "not a valid ExportTraceServiceRequest");
    return DP_OTLP_EDECODE;
}

static void scratch_empty(walk_ctx *c)
{
    dp_arena_reset(&c->scratch);
    c->track.failed = false;
}

/* A part (at depth `depth`) without its attributes that nest too deep: a
 * copy in the caller's arena replaces *raw, and the attributes left out are
 * counted. */
static int rewrite_part(walk_ctx *c, const ProtobufCMessageDescriptor *desc, int depth, dp_str *raw)
{
    size_t dropped = 0;
    int rc = dp_otlp_wire_rewrite(desc, *raw, depth, false, c->arena, raw, &dropped);
    if (rc != DP_OTLP_OK) {
        snprintf(c->err, c->errlen, "out of memory leaving out attributes nested too deep");
        return rc == DP_OTLP_ENOMEM ? rc : DP_OTLP_EDECODE;
    }
    c->out->attributes_dropped += dropped;
    return DP_OTLP_OK;
}

static int add_span(walk_ctx *c, const dp_pb_field *f, size_t scope_index, size_t rs_index,
                    size_t ss_index, size_t k)
{
    dp_otlp_trace_batch *out = c->out;
    span_fields sp = {0};
    ProtobufCMessage *unpacked = NULL;
    size_t too_deep = 0;
    int rc = check_part(c, &opentelemetry__proto__trace__v1__span__descriptor, f, 3,
                        visit_span_field, &sp, &unpacked, &too_deep);
    if (rc != DP_OTLP_OK)
        return rc;
    if (unpacked)
        span_fields_from_pbc((const pb_span *)unpacked, &sp);
    char why_buf[96];
    const char *problem = span_id_problem(&sp, why_buf, sizeof why_buf);
    if (problem) {
        if (out->rejected++ == 0) {
            snprintf(out->reject_message, sizeof out->reject_message,
                     "resource_spans[%zu].scope_spans[%zu].spans[%zu]: %s", rs_index, ss_index, k,
                     problem);
            out->reject_offset = (size_t)(f->data - c->base);
        }
        scratch_empty(c);
        return DP_OTLP_OK;
    }
    rc = grow(c, (void **)&out->spans, out->span_count, &c->span_cap, sizeof *out->spans);
    if (rc != DP_OTLP_OK)
        return rc;
    dp_str raw = {(const char *)f->data, f->len};
    if (too_deep && (rc = rewrite_part(c, &opentelemetry__proto__trace__v1__span__descriptor, 3,
                                       &raw)) != DP_OTLP_OK)
        return rc;
    dp_span_ref *ref = &out->spans[out->span_count++];
    ref->raw = raw;
    ref->scope_index = (uint32_t)scope_index;
    memcpy(ref->trace_id, sp.trace_id, 16);
    memcpy(ref->span_id, sp.span_id, 8);
    ref->has_parent = sp.parent_span_id_len == 8 && !dp_otlp_id_is_zero(sp.parent_span_id, 8);
    if (ref->has_parent)
        memcpy(ref->parent_span_id, sp.parent_span_id, 8);
    else
        memset(ref->parent_span_id, 0, 8);
    ref->start_ns = sp.start_ns;
    ref->end_ns = sp.end_ns;
    scratch_empty(c);
    return DP_OTLP_OK;
}

static int walk_scope_spans(walk_ctx *c, const uint8_t *data, size_t len, size_t rs_index,
                            size_t ss_index)
{
    const ProtobufCMessageDescriptor *desc =
        &opentelemetry__proto__trace__v1__scope_spans__descriptor;
    dp_otlp_trace_batch *out = c->out;
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    size_t k = 0, scopes = 0, too_deep = 0;
    int rc;

    rc = grow(c, (void **)&out->scopes, out->scope_count, &c->scope_cap, sizeof *out->scopes);
    if (rc != DP_OTLP_OK)
        return rc;
    size_t scope_index = out->scope_count++;
    dp_span_scope *scope = &out->scopes[scope_index];
    memset(scope, 0, sizeof *scope);
    scope->scope_schema_url = (dp_str){"", 0};
    scope->resource_index = (uint32_t)rs_index;

    while ((rc = next_field(c, desc, &pos, end, &f)) > 0) {
        if (rc == 2)
            continue;
        if (f.number == 1) { /* scope */
            ProtobufCMessage *unpacked = NULL;
            size_t deep = 0;
            rc = check_part(c, &opentelemetry__proto__common__v1__instrumentation_scope__descriptor,
                            &f, 3, NULL, NULL, &unpacked, &deep);
            if (rc != DP_OTLP_OK)
                return rc;
            too_deep += deep;
            scratch_empty(c);
            if (scopes++ == 0)
                scope->scope_raw = (dp_str){(const char *)f.data, f.len};
        } else if (f.number == 2) {
            rc = add_span(c, &f, scope_index, rs_index, ss_index, k++);
            if (rc != DP_OTLP_OK)
                return rc;
            scope = &c->out->scopes[scope_index];
        } else if (f.number == 3) {
            scope->scope_schema_url = string_view(&f);
        }
    }
    if (rc < 0)
        return DP_OTLP_EDECODE;
    if (scopes > 1) {
        /* given more than once: protobuf merges the occurrences */
        rc = merged_field(data, len, 1, c->arena, &scope->scope_raw);
        if (rc != DP_OTLP_OK) {
            snprintf(c->err, c->errlen, "out of memory merging resources or scopes");
            return rc;
        }
    }
    if (too_deep)
        rc = rewrite_part(c, &opentelemetry__proto__common__v1__instrumentation_scope__descriptor,
                          3, &scope->scope_raw);
    return rc;
}

static int walk_resource_spans(walk_ctx *c, const uint8_t *data, size_t len, size_t rs_index)
{
    const ProtobufCMessageDescriptor *desc =
        &opentelemetry__proto__trace__v1__resource_spans__descriptor;
    dp_otlp_trace_batch *out = c->out;
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    size_t j = 0, resources = 0, too_deep = 0;
    int rc;

    rc = grow(c, (void **)&out->resources, out->resource_count, &c->resource_cap,
              sizeof *out->resources);
    if (rc != DP_OTLP_OK)
        return rc;
    size_t res_index = out->resource_count++;
    memset(&out->resources[res_index], 0, sizeof out->resources[res_index]);
    out->resources[res_index].schema_url = (dp_str){"", 0};

    while ((rc = next_field(c, desc, &pos, end, &f)) > 0) {
        if (rc == 2)
            continue;
        if (f.number == 1) { /* resource */
            ProtobufCMessage *unpacked = NULL;
            size_t deep = 0;
            rc = check_part(c, &opentelemetry__proto__resource__v1__resource__descriptor, &f, 2,
                            NULL, NULL, &unpacked, &deep);
            if (rc != DP_OTLP_OK)
                return rc;
            too_deep += deep;
            scratch_empty(c);
            if (resources++ == 0)
                out->resources[res_index].resource_raw = (dp_str){(const char *)f.data, f.len};
        } else if (f.number == 2) {
            rc = walk_scope_spans(c, f.data, f.len, rs_index, j++);
            if (rc != DP_OTLP_OK)
                return rc;
        } else if (f.number == 3) {
            out->resources[res_index].schema_url = string_view(&f);
        }
    }
    if (rc < 0)
        return DP_OTLP_EDECODE;
    if (resources > 1) {
        rc = merged_field(data, len, 1, c->arena, &out->resources[res_index].resource_raw);
        if (rc != DP_OTLP_OK) {
            snprintf(c->err, c->errlen, "out of memory merging resources or scopes");
            return rc;
        }
    }
    if (too_deep)
        rc = rewrite_part(c, &opentelemetry__proto__resource__v1__resource__descriptor, 2,
                          &out->resources[res_index].resource_raw);
    return rc;
}

static int walk_request(walk_ctx *c, const uint8_t *data, size_t len)
{
    const ProtobufCMessageDescriptor *desc =
        &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
    const uint8_t *pos = data, *end = data + len;
    dp_pb_field f;
    size_t i = 0;
    int rc;

    while ((rc = next_field(c, desc, &pos, end, &f)) > 0) {
        if (rc == 2)
            continue;
        rc = walk_resource_spans(c, f.data, f.len, i++);
        if (rc != DP_OTLP_OK)
            return rc;
    }
    return rc < 0 ? DP_OTLP_EDECODE : DP_OTLP_OK;
}

static int batch_parse(const uint8_t *data, size_t len, dp_arena *arena, dp_otlp_trace_batch *out,
                       bool reference, char *err, size_t errlen)
{
    static const uint8_t empty[1];
    char scratch[8];
    walk_ctx c;
    int rc;

    memset(out, 0, sizeof *out);
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (!data) {
        if (len) {
            snprintf(err, errlen, "no data");
            return DP_OTLP_EDECODE;
        }
        data = empty;
    }
    memset(&c, 0, sizeof c);
    c.base = data;
    c.arena = arena;
    c.out = out;
    c.err = err;
    c.errlen = errlen;
    c.reference = reference;
    /* the scratch arena is capped like the caller's: one part may not need more */
    dp_arena_init(&c.scratch, DP_BATCH_SCRATCH_BLOCK, arena->max_bytes);
    c.track.arena = &c.scratch;
    dp_otlp_arena_allocator_tracked(&c.track, &c.alloc);

    rc = walk_request(&c, data, len);
    dp_arena_free(&c.scratch);
    if (rc == DP_OTLP_OK) {
        /* each scope carries its resource, as the trace table stores them */
        for (size_t i = 0; i < out->scope_count; i++) {
            const dp_otlp_resource_ref *res = &out->resources[out->scopes[i].resource_index];
            out->scopes[i].resource_raw = res->resource_raw;
            out->scopes[i].resource_schema_url = res->schema_url;
        }
        /* never NULL, as callers index them */
        if (!out->resources)
            out->resources = dp_arena_calloc(arena, 1, sizeof *out->resources);
        if (!out->scopes)
            out->scopes = dp_arena_calloc(arena, 1, sizeof *out->scopes);
        if (!out->spans)
            out->spans = dp_arena_calloc(arena, 1, sizeof *out->spans);
        if (out->resources && out->scopes && out->spans)
            return DP_OTLP_OK;
        snprintf(err, errlen, "out of memory indexing %zu spans", out->span_count);
        rc = DP_OTLP_ENOMEM;
    }
    /* keep rejected counts meaningful only for a successful parse */
    memset(out, 0, sizeof *out);
    return rc;
}

int dp_otlp_trace_batch_parse(const uint8_t *data, size_t len, dp_arena *arena,
                              dp_otlp_trace_batch *out, char *err, size_t errlen)
{
    return batch_parse(data, len, arena, out, false, err, errlen);
}

int dp_otlp_trace_batch_parse_pbc(const uint8_t *data, size_t len, dp_arena *arena,
                                  dp_otlp_trace_batch *out, char *err, size_t errlen)
{
    return batch_parse(data, len, arena, out, true, err, errlen);
}

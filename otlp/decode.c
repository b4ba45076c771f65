/*
 * ExportTraceServiceRequest → an index of its spans (dp_otlp_trace_batch).
 *
 * The request is checked with the wire walker (offsets in errors, bounded
 * nesting), unpacked once by protobuf-c into the caller's arena, and walked
 * again at the top three levels to find each span's encoded bytes. Both
 * views see repeated fields in wire order, so the i-th walked span is the
 * i-th unpacked one; any disagreement is treated as a decode error rather
 * than risk pairing the wrong bytes with the wrong ids.
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

typedef struct walk_ctx {
    const uint8_t *base;
    dp_arena *arena;
    dp_otlp_trace_batch *out;
    const trace_request *req;
    bool mismatch;
} walk_ctx;

/* A message field that may occur more than once; protobuf merges the
 * occurrences, which is the same as concatenating their encodings. */
static int merged_field(const uint8_t *data, size_t len, uint32_t number, dp_arena *arena,
                        dp_str *out)
{
    const uint8_t *pos = data, *end = data + len;
    dp_otlp_wire_field f;
    const char *why;
    size_t count = 0, total = 0;

    *out = DP_STR_NULL;
    while (dp_otlp_wire_next(&pos, end, &f, &why) > 0) {
        if (f.number != number || f.wire_type != DP_WIRE_LEN)
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
    while (dp_otlp_wire_next(&pos, end, &f, &why) > 0) {
        if (f.number != number || f.wire_type != DP_WIRE_LEN)
            continue;
        memcpy(buf + at, f.data, f.len);
        at += f.len;
    }
    *out = (dp_str){buf, total};
    return DP_OTLP_OK;
}

static dp_str cstr_view(const char *s)
{
    return s ? dp_str_from_cstr(s) : DP_STR_NULL;
}

/* NULL when the span's ids are usable, else why not (written to buf). */
static const char *span_id_problem(const pb_span *sp, char *buf, size_t buflen)
{
    if (sp->trace_id.len != 16)
        snprintf(buf, buflen, "trace_id is %zu bytes, want 16", sp->trace_id.len);
    else if (dp_otlp_id_is_zero(sp->trace_id.data, 16))
        snprintf(buf, buflen, "trace_id is all zeros");
    else if (sp->span_id.len != 8)
        snprintf(buf, buflen, "span_id is %zu bytes, want 8", sp->span_id.len);
    else if (dp_otlp_id_is_zero(sp->span_id.data, 8))
        snprintf(buf, buflen, "span_id is all zeros");
    else if (sp->parent_span_id.len != 0 && sp->parent_span_id.len != 8)
        snprintf(buf, buflen, "parent_span_id is %zu bytes, want 0 or 8",
                 sp->parent_span_id.len);
    else
        return NULL;
    return buf;
}

static int walk_scope_spans(walk_ctx *c, const uint8_t *data, size_t len, const scope_spans *ss,
                            size_t rs_index, size_t ss_index)
{
    dp_otlp_trace_batch *out = c->out;
    size_t scope_index = out->scope_count;
    dp_otlp_scope_ref *scope = &out->scopes[out->scope_count++];
    const uint8_t *pos = data, *end = data + len;
    dp_otlp_wire_field f;
    const char *why;
    size_t k = 0;
    int rc;

    rc = merged_field(data, len, 1, c->arena, &scope->scope_raw);
    if (rc != DP_OTLP_OK)
        return rc;
    scope->schema_url = cstr_view(ss->schema_url);
    scope->resource_index = (uint32_t)rs_index;

    while (dp_otlp_wire_next(&pos, end, &f, &why) > 0) {
        if (f.number != 2 || f.wire_type != DP_WIRE_LEN)
            continue;
        if (k >= ss->n_spans) {
            c->mismatch = true;
            return DP_OTLP_EDECODE;
        }
        const pb_span *sp = ss->spans[k];
        char why_buf[96];
        const char *problem = span_id_problem(sp, why_buf, sizeof why_buf);
        if (problem) {
            if (out->rejected++ == 0) {
                snprintf(out->reject_message, sizeof out->reject_message,
                         "resource_spans[%zu].scope_spans[%zu].spans[%zu]: %s", rs_index,
                         ss_index, k, problem);
                out->reject_offset = (size_t)(f.data - c->base);
            }
            k++;
            continue;
        }
        dp_otlp_span_ref *ref = &out->spans[out->span_count++];
        ref->raw = (dp_str){(const char *)f.data, f.len};
        ref->scope_index = (uint32_t)scope_index;
        memcpy(ref->trace_id, sp->trace_id.data, 16);
        memcpy(ref->span_id, sp->span_id.data, 8);
        ref->has_parent = sp->parent_span_id.len == 8 &&
                          !dp_otlp_id_is_zero(sp->parent_span_id.data, 8);
        if (ref->has_parent)
            memcpy(ref->parent_span_id, sp->parent_span_id.data, 8);
        else
            memset(ref->parent_span_id, 0, 8);
        ref->start_ns = sp->start_time_unix_nano;
        ref->end_ns = sp->end_time_unix_nano;
        k++;
    }
    if (k != ss->n_spans) {
        c->mismatch = true;
        return DP_OTLP_EDECODE;
    }
    return DP_OTLP_OK;
}

static int walk_resource_spans(walk_ctx *c, const uint8_t *data, size_t len,
                               const resource_spans *rs, size_t rs_index)
{
    dp_otlp_resource_ref *res = &c->out->resources[c->out->resource_count++];
    const uint8_t *pos = data, *end = data + len;
    dp_otlp_wire_field f;
    const char *why;
    size_t j = 0;
    int rc;

    rc = merged_field(data, len, 1, c->arena, &res->resource_raw);
    if (rc != DP_OTLP_OK)
        return rc;
    res->schema_url = cstr_view(rs->schema_url);

    while (dp_otlp_wire_next(&pos, end, &f, &why) > 0) {
        if (f.number != 2 || f.wire_type != DP_WIRE_LEN)
            continue;
        if (j >= rs->n_scope_spans) {
            c->mismatch = true;
            return DP_OTLP_EDECODE;
        }
        rc = walk_scope_spans(c, f.data, f.len, rs->scope_spans[j], rs_index, j);
        if (rc != DP_OTLP_OK)
            return rc;
        j++;
    }
    if (j != rs->n_scope_spans) {
        c->mismatch = true;
        return DP_OTLP_EDECODE;
    }
    return DP_OTLP_OK;
}

static int walk_request(walk_ctx *c, const uint8_t *data, size_t len)
{
    const uint8_t *pos = data, *end = data + len;
    dp_otlp_wire_field f;
    const char *why;
    size_t i = 0;
    int rc;

    while (dp_otlp_wire_next(&pos, end, &f, &why) > 0) {
        if (f.number != 1 || f.wire_type != DP_WIRE_LEN)
            continue;
        if (i >= c->req->n_resource_spans) {
            c->mismatch = true;
            return DP_OTLP_EDECODE;
        }
        rc = walk_resource_spans(c, f.data, f.len, c->req->resource_spans[i], i);
        if (rc != DP_OTLP_OK)
            return rc;
        i++;
    }
    if (i != c->req->n_resource_spans) {
        c->mismatch = true;
        return DP_OTLP_EDECODE;
    }
    return DP_OTLP_OK;
}

int dp_otlp_trace_batch_parse(const uint8_t *data, size_t len, dp_arena *arena,
                              dp_otlp_trace_batch *out, char *err, size_t errlen)
{
    static const uint8_t empty[1];
    char scratch[8];
    ProtobufCAllocator alloc;
    dp_otlp_alloc_track track = {.arena = arena};
    trace_request *req;
    size_t scopes = 0, spans = 0;
    int rc = DP_OTLP_EDECODE;

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

    if (dp_otlp_wire_check(&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
                           data, len, err, errlen) < 0)
        return DP_OTLP_EDECODE;

    dp_otlp_arena_allocator_tracked(&track, &alloc);
    req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
        &alloc, len, data);
    if (!req) {
        if (track.failed) {
            snprintf(err, errlen, "out of memory decoding a %zu-byte request", len);
            return DP_OTLP_ENOMEM;
        }
        snprintf(err, errlen, "not a valid ExportTraceServiceRequest");
        return DP_OTLP_EDECODE;
    }

    /* counts are bounded by len: every element takes at least two bytes */
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const resource_spans *rs = req->resource_spans[i];
        scopes += rs->n_scope_spans;
        for (size_t j = 0; j < rs->n_scope_spans; j++)
            spans += rs->scope_spans[j]->n_spans;
    }
    out->resources = dp_arena_calloc(arena, req->n_resource_spans ? req->n_resource_spans : 1,
                                     sizeof *out->resources);
    out->scopes = dp_arena_calloc(arena, scopes ? scopes : 1, sizeof *out->scopes);
    out->spans = dp_arena_calloc(arena, spans ? spans : 1, sizeof *out->spans);
    if (!out->resources || !out->scopes || !out->spans) {
        snprintf(err, errlen, "out of memory indexing %zu spans", spans);
        rc = DP_OTLP_ENOMEM;
        goto fail;
    }

    walk_ctx c = {.base = data, .arena = arena, .out = out, .req = req};
    rc = walk_request(&c, data, len);
    if (rc == DP_OTLP_OK)
        return DP_OTLP_OK;
    if (rc == DP_OTLP_ENOMEM)
        snprintf(err, errlen, "out of memory merging resources or scopes");
    else
        snprintf(err, errlen, "request structure does not match its decoded form");
fail:
    /* keep rejected counts meaningful only for a successful parse */
    memset(out, 0, sizeof *out);
    return rc;
}

/*
 * OTLP/JSON → protobuf for traces: the Span and what it holds (events,
 * links, status). The layers around spans (resource, scope) and the
 * scalars are json_encode.c's. What the profile reads of a span is checked;
 * the rest is lenient (json_encode.c says how).
 */
#include <jansson.h>

#include "json_encode_internal.h"

/* One Span.events item. */
static int put_event(encoder *c, json_t *ev, const json_path *path, uint32_t number)
{
    size_t deep = 0;
    if (!json_is_object(ev))
        return enc_outcome(enc_bad(c, path, "", "want an object"));
    /* lenient: a malformed field is left out, the others are written */
    dp_pb_begin(c->w, number);
    enc_put_fixed64(c, ev, path, "timeUnixNano", "time_unix_nano", 1);
    enc_put_string(c, ev, path, "name", NULL, 2);
    enc_put_attributes(c, ev, path, 3, &deep);
    enc_put_dropped_count(c, ev, path, 4, deep);
    dp_pb_end(c->w);
    return 0;
}

/* Span.Link: what the profile does not read. */
static int put_link_optional(encoder *c, json_t *link, const json_path *path)
{
    size_t deep = 0;
    enc_put_string(c, link, path, "traceState", "trace_state", 3);
    enc_put_attributes(c, link, path, 4, &deep);
    enc_put_dropped_count(c, link, path, 5, deep);
    enc_put_u32(c, link, path, "flags", NULL, 6, true);
    return 0;
}

/* One Span.links item: the ids are checked. */
static int put_link(encoder *c, json_t *link, const json_path *path, uint32_t number)
{
    if (!json_is_object(link))
        return enc_outcome(enc_bad(c, path, "", "want an object"));
    dp_pb_begin(c->w, number);
    if (enc_put_required_id(c, link, path, "traceId", "trace_id", 16, false, 1) < 0 ||
        enc_put_required_id(c, link, path, "spanId", "span_id", 8, false, 2) < 0)
        return -1;
    enc_put_optional(c, put_link_optional, link, path);
    dp_pb_end(c->w);
    return 0;
}

static const char *const span_kind_names[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};
static const char *const status_code_names[] = {
    "STATUS_CODE_UNSET",
    "STATUS_CODE_OK",
    "STATUS_CODE_ERROR",
};

/* Span.status (field 15). */
static int put_status(encoder *c, json_t *span, const json_path *path)
{
    json_t *status = enc_member(span, "status", NULL);
    json_path spath = {path, "status", -1};
    if (!status)
        return 0;
    if (!json_is_object(status))
        return enc_outcome(enc_bad(c, &spath, "", "want an object"));
    dp_pb_begin(c->w, 15);
    if (enc_put_enum(c, status, &spath, "code", NULL, status_code_names, 3, 3) < 0 ||
        enc_put_string(c, status, &spath, "message", NULL, 2) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

/* Span: what the profile does not read (c->pending_dropped: the span's
 * attributes put_span() left out, added to its count before the events,
 * which have their own). */
static int put_span_optional(encoder *c, json_t *span, const json_path *path)
{
    enc_put_string(c, span, path, "traceState", "trace_state", 3);
    enc_put_dropped_count(c, span, path, 10, c->pending_dropped);
    enc_put_each(c, span, path, "events", NULL, 11, put_event);
    enc_put_u32(c, span, path, "droppedEventsCount", "dropped_events_count", 12, false);
    enc_put_u32(c, span, path, "droppedLinksCount", "dropped_links_count", 14, false);
    enc_put_u32(c, span, path, "flags", NULL, 16, true);
    return 0;
}

/*
 * One Span. The checked fields are written in the order they are checked,
 * so the first error of a span is the one named (protobuf lets fields come
 * in any order).
 */
static int put_span(encoder *c, json_t *js, const json_path *path, uint32_t number)
{
    uint8_t parent[8];
    bool present;
    size_t deep = 0;
    int rc;

    if (!json_is_object(js))
        return enc_outcome(enc_bad(c, path, "", "want a Span object"));
    dp_pb_begin(c->w, number);
    if (enc_put_required_id(c, js, path, "traceId", "trace_id", 16, true, 1) < 0 ||
        enc_put_required_id(c, js, path, "spanId", "span_id", 8, true, 2) < 0)
        return -1;
    /* an empty parent id is no parent; an all-zero one is kept as it came
     * (readers take it as no parent too) */
    if ((rc = enc_get_hex_id(c, js, path, "parentSpanId", "parent_span_id", parent, 8, &present)))
        return enc_outcome(rc);
    if (present)
        dp_pb_put_bytes(c->w, 4, parent, 8);
    if (enc_put_string(c, js, path, "name", NULL, 5) < 0 ||
        enc_put_enum(c, js, path, "kind", NULL, span_kind_names, 6, 6) < 0 ||
        enc_put_fixed64(c, js, path, "startTimeUnixNano", "start_time_unix_nano", 7) < 0 ||
        enc_put_fixed64(c, js, path, "endTimeUnixNano", "end_time_unix_nano", 8) < 0 ||
        put_status(c, js, path) < 0 || enc_put_attributes(c, js, path, 9, &deep) < 0 ||
        enc_put_each(c, js, path, "links", NULL, 13, put_link) < 0)
        return -1;
    c->pending_dropped = deep;
    enc_put_optional(c, put_span_optional, js, path);
    dp_pb_end(c->w);
    return 0;
}

const enc_signal enc_traces = {
    "ExportTraceServiceRequest",
    "resourceSpans",
    "resource_spans",
    "scopeSpans",
    "scope_spans",
    "spans",
    NULL,
    put_span,
    false,
};

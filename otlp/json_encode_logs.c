/*
 * OTLP/JSON → protobuf for logs: the LogRecord. Every field is checked
 * (logs are forwarded, not read); trace and span ids are hex, as in spans,
 * and may be absent or empty (a record outside any span). The layers around
 * records (resource, scope) and the scalars are json_encode.c's.
 */
#include <jansson.h>

#include "json_encode_internal.h"

static const char *const severity_names[] = {
    "SEVERITY_NUMBER_UNSPECIFIED", "SEVERITY_NUMBER_TRACE",  "SEVERITY_NUMBER_TRACE2",
    "SEVERITY_NUMBER_TRACE3",      "SEVERITY_NUMBER_TRACE4", "SEVERITY_NUMBER_DEBUG",
    "SEVERITY_NUMBER_DEBUG2",      "SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4",
    "SEVERITY_NUMBER_INFO",        "SEVERITY_NUMBER_INFO2",  "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4",       "SEVERITY_NUMBER_WARN",   "SEVERITY_NUMBER_WARN2",
    "SEVERITY_NUMBER_WARN3",       "SEVERITY_NUMBER_WARN4",  "SEVERITY_NUMBER_ERROR",
    "SEVERITY_NUMBER_ERROR2",      "SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4",
    "SEVERITY_NUMBER_FATAL",       "SEVERITY_NUMBER_FATAL2", "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4",
};

/* LogRecord.body, an AnyValue of any kind. */
static int put_body(encoder *c, json_t *record, const json_path *path)
{
    json_t *body = enc_member(record, "body", NULL);
    json_path bpath = {path, "body", -1};
    return body ? enc_put_any_value(c, body, &bpath, 5) : 0;
}

/* One LogRecord. */
static int put_log_record(encoder *c, json_t *r, const json_path *path, uint32_t number)
{
    size_t deep = 0;
    if (!json_is_object(r))
        return enc_outcome(enc_bad(c, path, "", "want a LogRecord object"));
    dp_pb_begin(c->w, number);
    if (enc_put_fixed64(c, r, path, "timeUnixNano", "time_unix_nano", 1) < 0 ||
        enc_put_enum(c, r, path, "severityNumber", "severity_number", severity_names,
                     sizeof(severity_names) / sizeof(severity_names[0]), 2) < 0 ||
        enc_put_string(c, r, path, "severityText", "severity_text", 3) < 0 ||
        put_body(c, r, path) < 0 || enc_put_attributes(c, r, path, 6, &deep) < 0 ||
        enc_put_dropped_count(c, r, path, 7, deep) < 0 ||
        enc_put_u32(c, r, path, "flags", NULL, 8, true) < 0 ||
        enc_put_hex_id(c, r, path, "traceId", "trace_id", 16, 9) < 0 ||
        enc_put_hex_id(c, r, path, "spanId", "span_id", 8, 10) < 0 ||
        enc_put_fixed64(c, r, path, "observedTimeUnixNano", "observed_time_unix_nano", 11) < 0 ||
        enc_put_string(c, r, path, "eventName", "event_name", 12) < 0)
        return -1;
    dp_pb_end(c->w);
    return 0;
}

const enc_signal enc_logs = {
    "ExportLogsServiceRequest",
    "resourceLogs",
    "resource_logs",
    "scopeLogs",
    "scope_logs",
    "logRecords",
    "log_records",
    put_log_record,
    true,
};

/*
 * Metrics and logs requests: checked and counted, not profiled.
 *
 * The receiver answers MetricsService/Export and LogsService/Export so SDKs
 * that send every signal work unchanged; it needs to know whether the
 * payload decodes, how many items it carries and what to forward: the
 * request as it came, or, when an attribute (of a resource, a scope or a log
 * record) nests deeper than protobuf's recursion limit, a rewrite without
 * it (as traces are stored), so an upstream with the default limit does
 * not refuse the whole request.
 */
#include "decode.h"

#include <stdio.h>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "otlp_internal.h"

/* Check and unpack a whole request; NULL with a reason on failure. out gets
 * the bytes to forward and the attributes left out of them. */
static ProtobufCMessage *unpack_request(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                        size_t len, dp_arena *arena, dp_otlp_side_request *out,
                                        int *rc, char *err, size_t errlen)
{
    static const uint8_t empty[1];
    ProtobufCAllocator alloc;
    dp_otlp_alloc_track track = {.arena = arena};
    ProtobufCMessage *m;

    *rc = DP_OTLP_EDECODE;
    if (!data) {
        if (len) {
            snprintf(err, errlen, "no data");
            return NULL;
        }
        data = empty;
    }
    /* an attribute of a message with a dropped_attributes_count that nests
     * too deep is left out, as in traces; too deep elsewhere is malformed */
    dp_otlp_wire_found found = {.drop_deep = true};
    if (dp_otlp_wire_check(desc, data, len, &found, err, errlen) < 0)
        return NULL;
    dp_str bytes = {(const char *)data, len};
    if (found.attributes_too_deep) {
        /* what is forwarded and stored: the request without them, groups
         * and the rest as they came, each dropped_attributes_count raised */
        dp_str forward;
        size_t dropped = 0;
        *rc = dp_otlp_wire_rewrite(desc, bytes, 0, false, arena, &forward, &dropped);
        if (*rc != DP_OTLP_OK) {
            snprintf(err, errlen, "out of memory leaving out attributes nested too deep");
            return NULL;
        }
        out->forward = (const uint8_t *)forward.ptr;
        out->forward_len = forward.len;
        out->attributes_dropped = dropped;
    }
    /* protobuf-c refuses groups and fails on some merges: it counts the
     * items of a rewrite that means the same (dp_otlp_wire_for_pbc) */
    *rc = dp_otlp_wire_for_pbc(desc, &found, &bytes, 0, arena);
    if (*rc != DP_OTLP_OK) {
        snprintf(err, errlen, "out of memory decoding a %zu-byte request", len);
        return NULL;
    }
    *rc = DP_OTLP_EDECODE;
    dp_otlp_arena_allocator_tracked(&track, &alloc);
    m = protobuf_c_message_unpack(desc, &alloc, bytes.len, (const uint8_t *)bytes.ptr);
    if (!m) {
        if (track.failed) {
            *rc = DP_OTLP_ENOMEM;
            snprintf(err, errlen, "out of memory decoding a %zu-byte request", len);
        } else {
            snprintf(err, errlen, "not a valid %s", desc->short_name);
        }
        return NULL;
    }
    *rc = DP_OTLP_OK;
    return m;
}

/* Start a validation: out as for a request forwarded as it came. */
static void side_start(const uint8_t *data, size_t len, dp_otlp_side_request *out, char **err,
                       size_t *errlen, char *scratch, size_t scratch_len)
{
    if (!*err || !*errlen) {
        *err = scratch;
        *errlen = scratch_len;
    }
    (*err)[0] = '\0';
    *out = (dp_otlp_side_request){.forward = data, .forward_len = len};
}

/* A failed validation: nothing to forward. */
static int side_fail(dp_otlp_side_request *out, int rc)
{
    *out = (dp_otlp_side_request){0};
    return rc;
}

static size_t metric_points(const Opentelemetry__Proto__Metrics__V1__Metric *m)
{
    switch (m->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        return m->gauge->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        return m->sum->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return m->histogram->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
        return m->exponential_histogram->n_data_points;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
        return m->summary->n_data_points;
    default:
        return 0;
    }
}

int dp_otlp_metrics_validate(const uint8_t *data, size_t len, dp_arena *arena,
                             dp_otlp_side_request *out, char *err, size_t errlen)
{
    char scratch[8];
    int rc;
    side_start(data, len, out, &err, &errlen, scratch, sizeof scratch);
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req =
        (void *)unpack_request(
            &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor,
            data, len, arena, out, &rc, err, errlen);
    if (!req)
        return side_fail(out, rc);
    for (size_t i = 0; i < req->n_resource_metrics; i++) {
        const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[i];
        for (size_t j = 0; j < rm->n_scope_metrics; j++) {
            const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[j];
            for (size_t k = 0; k < sm->n_metrics; k++)
                out->items += metric_points(sm->metrics[k]);
        }
    }
    return DP_OTLP_OK;
}

int dp_otlp_logs_validate(const uint8_t *data, size_t len, dp_arena *arena,
                          dp_otlp_side_request *out, char *err, size_t errlen)
{
    char scratch[8];
    int rc;
    side_start(data, len, out, &err, &errlen, scratch, sizeof scratch);
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *req =
        (void *)unpack_request(
            &opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor,
            data, len, arena, out, &rc, err, errlen);
    if (!req)
        return side_fail(out, rc);
    for (size_t i = 0; i < req->n_resource_logs; i++) {
        const Opentelemetry__Proto__Logs__V1__ResourceLogs *rl = req->resource_logs[i];
        for (size_t j = 0; j < rl->n_scope_logs; j++)
            out->items += rl->scope_logs[j]->n_log_records;
    }
    return DP_OTLP_OK;
}

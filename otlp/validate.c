/*
 * Metrics and logs requests: checked and counted, not profiled.
 *
 * The receiver answers MetricsService/Export and LogsService/Export so SDKs
 * that send every signal work unchanged; it needs to know whether the
 * payload decodes and how many items it carries.
 */
#include "decode.h"

#include <stdio.h>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "otlp_internal.h"

/* Check and unpack a whole request; NULL with a reason on failure. */
static ProtobufCMessage *unpack_request(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                        size_t len, dp_arena *arena, int *rc, char *err,
                                        size_t errlen)
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
    dp_otlp_wire_found found = {0};
    if (dp_otlp_wire_check(desc, data, len, &found, err, errlen) < 0)
        return NULL;
    /* protobuf-c refuses groups and fails on some merges: it counts the
     * items of a rewrite that means the same (dp_otlp_wire_for_pbc; the
     * request is forwarded as it came) */
    dp_str bytes = {(const char *)data, len};
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

int dp_otlp_metrics_validate(const uint8_t *data, size_t len, dp_arena *arena, size_t *points,
                             char *err, size_t errlen)
{
    char scratch[8];
    int rc;
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    *points = 0;
    Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req =
        (void *)unpack_request(
            &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor,
            data, len, arena, &rc, err, errlen);
    if (!req)
        return rc;
    for (size_t i = 0; i < req->n_resource_metrics; i++) {
        const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[i];
        for (size_t j = 0; j < rm->n_scope_metrics; j++) {
            const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[j];
            for (size_t k = 0; k < sm->n_metrics; k++)
                *points += metric_points(sm->metrics[k]);
        }
    }
    return DP_OTLP_OK;
}

int dp_otlp_logs_validate(const uint8_t *data, size_t len, dp_arena *arena, size_t *records,
                          char *err, size_t errlen)
{
    char scratch[8];
    int rc;
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    *records = 0;
    Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *req =
        (void *)unpack_request(
            &opentelemetry__proto__collector__logs__v1__export_logs_service_request__descriptor,
            data, len, arena, &rc, err, errlen);
    if (!req)
        return rc;
    for (size_t i = 0; i < req->n_resource_logs; i++) {
        const Opentelemetry__Proto__Logs__V1__ResourceLogs *rl = req->resource_logs[i];
        for (size_t j = 0; j < rl->n_scope_logs; j++)
            *records += rl->scope_logs[j]->n_log_records;
    }
    return DP_OTLP_OK;
}

/*
 * Retry classification of upstream answers, and the few fields of
 * google.rpc.Status -> Any -> RetryInfo -> Duration and of the export
 * response's partial_success read with the shared wire reader (pb_wire.h).
 *
 * Field numbers (googleapis google/rpc/status.proto, error_details.proto and
 * protobuf's any.proto, duration.proto):
 *   Status    { int32 code = 1; string message = 2; repeated Any details = 3; }
 *   Any       { string type_url = 1; bytes value = 2; }
 *   RetryInfo { Duration retry_delay = 1; }
 *   Duration  { int64 seconds = 1; int32 nanos = 2; }
 * Only these few fields are needed, so the bytes are walked field by field
 * rather than generating C for the googleapis schema. A field with another
 * wire type than its schema's is skipped, as an unknown field would be.
 */
#include "upstream_status.h"

#include <string.h>

#include "pb_wire.h"

#define MAX_DELAY_MS (24ull * 3600 * 1000)

bool dp_upstream_status_retryable(int code, bool has_retry_info)
{
    switch (code) {
    case DP_GRPC_CANCELLED:
    case DP_GRPC_DEADLINE_EXCEEDED:
    case DP_GRPC_ABORTED:
    case DP_GRPC_OUT_OF_RANGE:
    case DP_GRPC_UNAVAILABLE:
    case DP_GRPC_DATA_LOSS:
        return true;
    case DP_GRPC_RESOURCE_EXHAUSTED:
        return has_retry_info;
    default:
        return false;
    }
}

/* The next field of bytes[*pos..end); 1, 0 at the end, -1 when malformed. */
static int next_field(const uint8_t **pos, const uint8_t *end, dp_pb_field *f)
{
    const char *why;
    return dp_pb_next(pos, end, f, &why);
}

static int parse_duration(const uint8_t *p, size_t len, uint64_t *delay_ms)
{
    const uint8_t *end = p + len;
    dp_pb_field f;
    int64_t seconds = 0, nanos = 0;
    int rc;

    while ((rc = next_field(&p, end, &f)) == 1) {
        if (f.wire_type != DP_PB_VARINT)
            continue;
        if (f.number == 1)
            seconds = (int64_t)f.value;
        else if (f.number == 2)
            nanos = (int32_t)(uint32_t)f.value; /* int32 is sign-extended on the wire */
    }
    if (rc < 0)
        return -1;
    if (seconds < 0 || (seconds == 0 && nanos <= 0)) {
        *delay_ms = 0;
        return 0;
    }
    if ((uint64_t)seconds >= MAX_DELAY_MS / 1000) {
        *delay_ms = MAX_DELAY_MS;
        return 0;
    }
    int64_t ms = seconds * 1000 + (nanos + 999999) / 1000000;
    *delay_ms = ms < 0 ? 0 : (uint64_t)ms;
    return 0;
}

static int parse_retry_info(const uint8_t *p, size_t len, uint64_t *delay_ms)
{
    const uint8_t *end = p + len;
    dp_pb_field f;
    int rc;

    *delay_ms = 0; /* a RetryInfo without a delay: retry at the backoff's pace */
    while ((rc = next_field(&p, end, &f)) == 1) {
        if (f.number == 1 && f.wire_type == DP_PB_LEN && parse_duration(f.data, f.len, delay_ms))
            return -1;
    }
    return rc;
}

/* One Any: returns 1 with *delay_ms when it is a RetryInfo, 0 if another
 * type, -1 when malformed. */
static int parse_any(const uint8_t *p, size_t len, uint64_t *delay_ms)
{
    static const char url[] = DP_RETRY_INFO_TYPE_URL;
    const uint8_t *end = p + len;
    dp_pb_field f, value = {0};
    bool is_retry_info = false;
    int rc;

    while ((rc = next_field(&p, end, &f)) == 1) {
        if (f.wire_type != DP_PB_LEN)
            continue;
        if (f.number == 1)
            is_retry_info = f.len == sizeof(url) - 1 && memcmp(f.data, url, sizeof(url) - 1) == 0;
        else if (f.number == 2)
            value = f;
    }
    if (rc < 0)
        return -1;
    if (!is_retry_info)
        return 0;
    if (!value.data) { /* empty RetryInfo */
        *delay_ms = 0;
        return 1;
    }
    return parse_retry_info(value.data, value.len, delay_ms) == 0 ? 1 : -1;
}

int dp_upstream_status_retry_delay(const uint8_t *bytes, size_t len, uint64_t *delay_ms)
{
    dp_pb_field f;
    uint64_t d = 0;
    int found = 0, rc;

    if (!delay_ms || (!bytes && len))
        return -1;
    if (!bytes)
        return 0;
    const uint8_t *p = bytes, *end = bytes + len;
    while ((rc = next_field(&p, end, &f)) == 1) {
        if (f.number != 3 || f.wire_type != DP_PB_LEN)
            continue;
        int a = parse_any(f.data, f.len, &d);
        if (a < 0)
            return -1;
        if (a == 1 && !found) {
            found = 1;
            *delay_ms = d;
        }
    }
    if (rc < 0)
        return -1;
    return found;
}

int dp_upstream_partial_success_parse(const uint8_t *bytes, size_t len, int64_t *rejected,
                                      char *msg, size_t msg_cap)
{
    dp_pb_field f, inner;
    int rc, rc2;

    if (!rejected || (!bytes && len))
        return -1;
    *rejected = 0;
    if (msg && msg_cap)
        msg[0] = '\0';
    if (!bytes)
        return 0;
    const uint8_t *p = bytes, *end = bytes + len;
    while ((rc = next_field(&p, end, &f)) == 1) {
        if (f.number != 1 || f.wire_type != DP_PB_LEN)
            continue;
        /* A repeated occurrence of a message field merges: later values win. */
        const uint8_t *q = f.data, *q_end = f.data + f.len;
        while ((rc2 = next_field(&q, q_end, &inner)) == 1) {
            if (inner.number == 1 && inner.wire_type == DP_PB_VARINT) {
                *rejected = (int64_t)inner.value;
            } else if (inner.number == 2 && inner.wire_type == DP_PB_LEN && msg && msg_cap) {
                size_t n = inner.len < msg_cap ? inner.len : msg_cap - 1;
                memcpy(msg, inner.data, n);
                msg[n] = '\0';
            }
        }
        if (rc2 < 0)
            return -1;
    }
    return rc < 0 ? -1 : 0;
}

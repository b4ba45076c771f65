/*
 * Retry classification of upstream answers and a minimal protobuf walker for
 * google.rpc.Status -> Any -> RetryInfo -> Duration.
 *
 * Field numbers (googleapis google/rpc/status.proto, error_details.proto and
 * protobuf's any.proto, duration.proto):
 *   Status    { int32 code = 1; string message = 2; repeated Any details = 3; }
 *   Any       { string type_url = 1; bytes value = 2; }
 *   RetryInfo { Duration retry_delay = 1; }
 *   Duration  { int64 seconds = 1; int32 nanos = 2; }
 * Only these few fields are needed, so the bytes are walked by hand rather
 * than generating C for the googleapis schema.
 */
#include "upstream_status.h"

#include <string.h>

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

/* A cursor over one message's bytes. */
typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
} reader;

static int read_varint(reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Next field: its number, wire type and, for length-delimited fields, the
 * sub-range; other wire types are skipped and reported with no sub-range.
 * Returns 1 for a field, 0 at the end, -1 when malformed. */
static int next_field(reader *r, uint32_t *field, reader *sub, uint64_t *scalar)
{
    uint64_t key, len;

    if (r->p == r->end)
        return 0;
    if (read_varint(r, &key) != 0 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return -1;
    *field = (uint32_t)(key >> 3);
    sub->p = sub->end = NULL;
    *scalar = 0;
    switch (key & 7) {
    case 0:
        return read_varint(r, scalar) == 0 ? 1 : -1;
    case 1:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 1;
    case 5:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 1;
    case 2:
        if (read_varint(r, &len) != 0 || len > (uint64_t)(r->end - r->p))
            return -1;
        sub->p = r->p;
        sub->end = r->p + len;
        r->p += len;
        return 1;
    default: /* groups are not used by these messages */
        return -1;
    }
}

static int parse_duration(reader r, uint64_t *delay_ms)
{
    uint32_t field;
    reader sub;
    uint64_t v;
    int64_t seconds = 0, nanos = 0;
    int rc;

    while ((rc = next_field(&r, &field, &sub, &v)) == 1) {
        if (field == 1 && !sub.p)
            seconds = (int64_t)v;
        else if (field == 2 && !sub.p)
            nanos = (int32_t)(uint32_t)v; /* int32 is sign-extended on the wire */
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

static int parse_retry_info(reader r, uint64_t *delay_ms)
{
    uint32_t field;
    reader sub;
    uint64_t v;
    int rc;

    *delay_ms = 0; /* a RetryInfo without a delay: retry at the backoff's pace */
    while ((rc = next_field(&r, &field, &sub, &v)) == 1) {
        if (field == 1 && sub.p && parse_duration(sub, delay_ms) != 0)
            return -1;
    }
    return rc;
}

/* One Any: returns 1 with *delay_ms when it is a RetryInfo, 0 if another
 * type, -1 when malformed. */
static int parse_any(reader r, uint64_t *delay_ms)
{
    static const char url[] = DP_RETRY_INFO_TYPE_URL;
    uint32_t field;
    reader sub, value = {NULL, NULL};
    uint64_t v;
    bool is_retry_info = false;
    int rc;

    while ((rc = next_field(&r, &field, &sub, &v)) == 1) {
        if (field == 1 && sub.p)
            is_retry_info = (size_t)(sub.end - sub.p) == sizeof(url) - 1 &&
                            memcmp(sub.p, url, sizeof(url) - 1) == 0;
        else if (field == 2 && sub.p)
            value = sub;
    }
    if (rc < 0)
        return -1;
    if (!is_retry_info)
        return 0;
    if (!value.p) { /* empty RetryInfo */
        *delay_ms = 0;
        return 1;
    }
    return parse_retry_info(value, delay_ms) == 0 ? 1 : -1;
}

int dp_upstream_status_retry_delay(const uint8_t *bytes, size_t len, uint64_t *delay_ms)
{
    reader r = {bytes, bytes + len};
    uint32_t field;
    reader sub;
    uint64_t v, d = 0;
    int found = 0, rc;

    if (!delay_ms || (!bytes && len))
        return -1;
    if (!bytes)
        return 0;
    while ((rc = next_field(&r, &field, &sub, &v)) == 1) {
        if (field != 3 || !sub.p)
            continue;
        int a = parse_any(sub, &d);
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
    reader r = {bytes, bytes + len}, sub, inner;
    uint32_t field, f2;
    uint64_t v;
    int rc, rc2;

    if (!rejected || (!bytes && len))
        return -1;
    *rejected = 0;
    if (msg && msg_cap)
        msg[0] = '\0';
    if (!bytes)
        return 0;
    while ((rc = next_field(&r, &field, &sub, &v)) == 1) {
        if (field != 1 || !sub.p)
            continue;
        /* A repeated occurrence of a message field merges: later values win. */
        while ((rc2 = next_field(&sub, &f2, &inner, &v)) == 1) {
            if (f2 == 1 && !inner.p) {
                *rejected = (int64_t)v;
            } else if (f2 == 2 && inner.p && msg && msg_cap) {
                size_t n = (size_t)(inner.end - inner.p);
                if (n >= msg_cap)
                    n = msg_cap - 1;
                memcpy(msg, inner.p, n);
                msg[n] = '\0';
            }
        }
        if (rc2 < 0)
            return -1;
    }
    return rc < 0 ? -1 : 0;
}

/*
 * Retry classification of upstream answers, and the few fields of
 * google.rpc.Status -> Any -> RetryInfo -> Duration and of the export
 * response's partial_success read with the shared wire reader (pb_wire.h);
 * for OTLP/HTTP, the retryable status codes and the Retry-After header.
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

/* Locale-free character classes: header values are ASCII protocol text. */
static bool isdigit_ascii(char c)
{
    return c >= '0' && c <= '9';
}

static bool isalpha_ascii(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

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

/* ---- OTLP/HTTP ------------------------------------------------------------ */

bool dp_upstream_http_retryable(int http_status)
{
    return http_status == 429 || http_status == 502 || http_status == 503 || http_status == 504;
}

int dp_upstream_status_message(const uint8_t *bytes, size_t len, char *msg, size_t msg_cap)
{
    dp_pb_field f;
    int rc;

    if (!msg || !msg_cap || (!bytes && len))
        return -1;
    msg[0] = '\0';
    if (!bytes)
        return 0;
    const uint8_t *p = bytes, *end = bytes + len;
    while ((rc = next_field(&p, end, &f)) == 1) {
        if (f.number == 2 && f.wire_type == DP_PB_LEN) { /* a later occurrence wins */
            size_t n = f.len < msg_cap ? f.len : msg_cap - 1;
            memcpy(msg, f.data, n);
            msg[n] = '\0';
        }
    }
    return rc < 0 ? -1 : 0;
}

/* Read exactly `digits` decimal digits (or 1..max when digits is 0) at *s. */
static bool read_number(const char **s, int digits, int max_digits, int *out)
{
    int n = 0, v = 0;
    while (isdigit_ascii((*s)[n]) && n < max_digits) {
        v = v * 10 + ((*s)[n] - '0');
        n++;
    }
    if (n == 0 || (digits && n != digits) || isdigit_ascii((*s)[n]))
        return false;
    *s += n;
    *out = v;
    return true;
}

static bool skip_literal(const char **s, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n) != 0)
        return false;
    *s += n;
    return true;
}

/* A month's three-letter name (as HTTP-dates write it) at *s: 0..11, or -1. */
static int read_month(const char **s)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int m = 0; m < 12; m++) {
        if (strncmp(*s, names + 3 * m, 3) == 0) {
            *s += 3;
            return m;
        }
    }
    return -1;
}

/* "hh:mm:ss" at *s. */
static bool read_time(const char **s, int *h, int *m, int *sec)
{
    return read_number(s, 2, 2, h) && skip_literal(s, ":") && read_number(s, 2, 2, m) &&
           skip_literal(s, ":") && read_number(s, 2, 2, sec) && *h <= 23 && *m <= 59 && *sec <= 60;
}

/* Days from 1970-01-01 to year-month-day (proleptic Gregorian), without
 * the C library's time zone handling. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* An HTTP-date at s (the whole string): seconds since the epoch. */
static bool parse_http_date(const char *s, time_t now, int64_t *out)
{
    int day, month, year, h, m, sec;
    const char *p = s;

    while (isalpha_ascii(*p)) /* the day name, not checked against the date */
        p++;
    if (p - s < 3)
        return false;
    if (*p == ',') { /* IMF-fixdate or RFC 850 */
        p++;
        if (!skip_literal(&p, " ") || !read_number(&p, 2, 2, &day))
            return false;
        char sep = *p;
        if (sep != ' ' && sep != '-')
            return false;
        p++;
        if ((month = read_month(&p)) < 0 || *p++ != sep)
            return false;
        if (sep == ' ') {
            if (!read_number(&p, 4, 4, &year))
                return false;
        } else {
            /* RFC 850's two-digit year: the most recent year with those
             * digits that is not more than 50 years ahead (RFC 9110) */
            if (!read_number(&p, 2, 2, &year))
                return false;
            struct tm nowtm;
            gmtime_r(&now, &nowtm);
            int this_year = nowtm.tm_year + 1900;
            year += this_year - this_year % 100;
            if (year > this_year + 50)
                year -= 100;
        }
        if (!skip_literal(&p, " ") || !read_time(&p, &h, &m, &sec) || !skip_literal(&p, " GMT"))
            return false;
    } else { /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (!skip_literal(&p, " ") || (month = read_month(&p)) < 0 || !skip_literal(&p, " "))
            return false;
        if (*p == ' ')
            p++;
        if (!read_number(&p, 0, 2, &day) || !skip_literal(&p, " ") ||
            !read_time(&p, &h, &m, &sec) || !skip_literal(&p, " ") || !read_number(&p, 4, 4, &year))
            return false;
    }
    if (*p || day < 1 || day > 31)
        return false;
    *out = days_from_civil(year, month + 1, day) * 86400 + h * 3600 + m * 60 + sec;
    return true;
}

int dp_upstream_retry_after_ms(const char *value, time_t now, uint64_t *delay_ms)
{
    char text[128];
    if (!value || !delay_ms)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(text))
        return -1;
    memcpy(text, value, len);
    text[len] = '\0';

    if (isdigit_ascii(text[0])) { /* delay-seconds */
        uint64_t seconds = 0;
        for (const char *p = text; *p; p++) {
            if (!isdigit_ascii(*p))
                return -1;
            if (seconds < MAX_DELAY_MS / 1000)
                seconds = seconds * 10 + (uint64_t)(*p - '0');
        }
        *delay_ms = seconds >= MAX_DELAY_MS / 1000 ? MAX_DELAY_MS : seconds * 1000;
        return 0;
    }
    int64_t when;
    if (!parse_http_date(text, now, &when))
        return -1;
    int64_t delta = when - (int64_t)now;
    if (delta <= 0)
        *delay_ms = 0;
    else if ((uint64_t)delta >= MAX_DELAY_MS / 1000)
        *delay_ms = MAX_DELAY_MS;
    else
        *delay_ms = (uint64_t)delta * 1000;
    return 0;
}

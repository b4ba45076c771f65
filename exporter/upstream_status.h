/*
 * What an upstream's answer means for delivery: which gRPC status codes and
 * which HTTP status codes the OTLP specification lets a client retry, the
 * server's requested retry delay (google.rpc.RetryInfo inside the
 * google.rpc.Status carried in the "grpc-status-details-bin" trailer, or
 * an HTTP Retry-After header), and the messages of google.rpc.Status and of
 * an export response's partial_success.
 *
 * Pure functions over bytes and text, with no gRPC or libcurl types, so
 * they are unit-tested and fuzzed on their own.
 */
#ifndef DP_UPSTREAM_STATUS_H
#define DP_UPSTREAM_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** gRPC status codes used by delivery (values from the gRPC specification). */
enum dp_grpc_code {
    DP_GRPC_OK = 0,
    DP_GRPC_CANCELLED = 1,
    DP_GRPC_UNKNOWN = 2,
    DP_GRPC_INVALID_ARGUMENT = 3,
    DP_GRPC_DEADLINE_EXCEEDED = 4,
    DP_GRPC_NOT_FOUND = 5,
    DP_GRPC_PERMISSION_DENIED = 7,
    DP_GRPC_RESOURCE_EXHAUSTED = 8,
    DP_GRPC_ABORTED = 10,
    DP_GRPC_OUT_OF_RANGE = 11,
    DP_GRPC_UNIMPLEMENTED = 12,
    DP_GRPC_INTERNAL = 13,
    DP_GRPC_UNAVAILABLE = 14,
    DP_GRPC_DATA_LOSS = 15,
    DP_GRPC_UNAUTHENTICATED = 16,
};

/** Type URL of google.rpc.RetryInfo inside google.protobuf.Any. */
#define DP_RETRY_INFO_TYPE_URL "type.googleapis.com/google.rpc.RetryInfo"

/**
 * Whether an export that ended with `code` is retried: UNAVAILABLE,
 * DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, CANCELLED and DATA_LOSS always;
 * RESOURCE_EXHAUSTED only when the server sent a RetryInfo (it then means
 * "slow down", otherwise "this will never fit").
 */
bool dp_upstream_status_retryable(int code, bool has_retry_info);

/**
 * Find a google.rpc.RetryInfo in serialized google.rpc.Status bytes.
 * Returns 1 and sets *delay_ms (the retry_delay rounded up to whole
 * milliseconds, negative delays as 0, capped at 24 h) when one is present,
 * 0 when the status carries none, and -1 when the bytes are malformed.
 * Never reads outside bytes[0..len).
 */
int dp_upstream_status_retry_delay(const uint8_t *bytes, size_t len, uint64_t *delay_ms);

/**
 * Read the partial_success of an Export{Trace,Metrics,Logs}ServiceResponse
 * (all three share the layout: partial_success = 1 { int64 rejected = 1;
 * string error_message = 2; }). Sets *rejected (0 when absent) and copies
 * the message, truncated and NUL-terminated, into msg[0..msg_cap).
 * Returns 0, or -1 when the bytes are malformed.
 */
int dp_upstream_partial_success_parse(const uint8_t *bytes, size_t len, int64_t *rejected,
                                      char *msg, size_t msg_cap);

/**
 * Whether an OTLP/HTTP answer with this status is retried: 429, 502, 503
 * and 504 (the OTLP specification's list). Every other 4xx or 5xx is final.
 */
bool dp_upstream_http_retryable(int http_status);

/**
 * Parse the value of a Retry-After header (RFC 9110): delay-seconds (digits
 * only) or an HTTP-date in any of its three forms (IMF-fixdate "Sun, 06 Nov
 * 1994 08:49:37 GMT", the obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT"
 * and asctime "Sun Nov  6 08:49:37 1994"), blanks around it ignored. A date
 * is turned into a delay from `now` (seconds since the epoch); a date in
 * the past is a delay of 0. The delay is capped at 24 h. Returns 0 and sets
 * *delay_ms, or -1 when the value is neither form.
 */
int dp_upstream_retry_after_ms(const char *value, time_t now, uint64_t *delay_ms);

/**
 * Copy the message (field 2) of serialized google.rpc.Status bytes into
 * msg[0..msg_cap), truncated and NUL-terminated ("" when absent). Returns
 * 0, or -1 when the bytes are malformed. Never reads outside bytes[0..len).
 */
int dp_upstream_status_message(const uint8_t *bytes, size_t len, char *msg, size_t msg_cap);

#endif

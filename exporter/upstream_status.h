/*
 * What an upstream's answer means for delivery: which gRPC status codes the
 * OTLP specification lets a client retry, and the server's requested retry
 * delay (google.rpc.RetryInfo inside the google.rpc.Status carried in the
 * "grpc-status-details-bin" trailer).
 *
 * Pure functions over bytes, with no gRPC types, so they are unit-tested
 * and fuzzed on their own.
 */
#ifndef DP_UPSTREAM_STATUS_H
#define DP_UPSTREAM_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif

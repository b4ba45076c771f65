/*
 * Clocks and hex, the small helpers every module needs: monotonic
 * milliseconds for timeouts and ages, wall-clock nanoseconds for OTLP
 * timestamps, an absolute CLOCK_MONOTONIC deadline for timed condition
 * waits (on condition variables set to that clock), UTC dates in ISO 8601
 * and ids in hex.
 */
#ifndef DP_CLOCK_H
#define DP_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** Milliseconds on CLOCK_MONOTONIC. */
uint64_t dp_clock_monotonic_ms(void);

/** Nanoseconds on CLOCK_MONOTONIC, for busy times. */
uint64_t dp_clock_monotonic_ns(void);

/** Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
uint64_t dp_clock_realtime_ns(void);

/** CLOCK_MONOTONIC now + ms, for pthread_cond_timedwait on a monotonic condition. */
struct timespec dp_clock_deadline(uint64_t ms);

/** Bytes dp_utc_iso8601() needs: "2026-01-02T03:04:05.678Z" and the NUL. */
#define DP_ISO8601_MAX 32

/**
 * The UTC time of unix_ns in ISO 8601 with milliseconds,
 * "2026-01-02T03:04:05.678Z", into out (DP_ISO8601_MAX bytes); "unknown"
 * when the time cannot be represented. Returns out.
 */
char *dp_utc_iso8601(uint64_t unix_ns, char *out);

/** Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void dp_hex(const uint8_t *bytes, size_t n, char *out);

/** The value of one hex digit (either case), or -1 when c is not one. */
int dp_hex_digit(char c);

#endif

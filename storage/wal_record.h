/*
 * One record of the persistent queue's write-ahead log (storage.h): a
 * fixed header followed by the OTLP request's bytes as they arrived.
 *
 *   offset  size  field
 *        0     4  magic "DPW1" (0x31575044, little-endian)
 *        4     4  crc32 (zlib) of bytes 8 .. end of the payload
 *        8     4  payload length in bytes
 *       12     1  signal (enum dp_signal: 0 traces, 1 metrics, 2 logs)
 *       13     3  zero
 *       16     8  sequence number (per daemon start, increasing)
 *       24     -  payload: the encoded Export*ServiceRequest
 *
 * Every integer is little-endian. The checksum covers the length, so a
 * record whose header was torn by a crash is caught before its length is
 * trusted further than the bytes that are there.
 */
#ifndef DP_WAL_RECORD_H
#define DP_WAL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "otlp_signal.h"

#define DP_WAL_MAGIC 0x31575044u
#define DP_WAL_HEADER_BYTES 24u
/** The largest payload a record may hold (the header's length is 32 bits). */
#define DP_WAL_MAX_PAYLOAD (1024u * 1024 * 1024)

/** Outcomes of dp_wal_record_read(). */
enum dp_wal_read {
    DP_WAL_RECORD = 0,     /* a whole record with a good checksum */
    DP_WAL_END = 1,        /* no bytes left: the clean end of a segment */
    DP_WAL_TRUNCATED = -1, /* fewer bytes left than the record needs */
    DP_WAL_CORRUPT = -2,   /* wrong magic, checksum, signal or reserved bytes */
};

/** A record read back: views into the caller's bytes. */
typedef struct dp_wal_record {
    enum dp_signal signal;
    uint64_t sequence;
    const uint8_t *payload;
    size_t payload_len;
    size_t record_len; /* header + payload: where the next record starts */
} dp_wal_record;

/** The checksum of a payload alone, to pass to dp_wal_header_encode()
 *  (computed before the sequence is known, outside any lock). */
uint32_t dp_wal_payload_crc(const uint8_t *payload, size_t payload_len);

/**
 * Fill the DP_WAL_HEADER_BYTES header of a record whose payload has
 * `payload_len` bytes and dp_wal_payload_crc() `payload_crc` into `out`
 * (the payload itself is written after it by the caller, so it is never
 * copied here). payload_len must be at most DP_WAL_MAX_PAYLOAD.
 */
void dp_wal_header_encode(uint8_t out[DP_WAL_HEADER_BYTES], enum dp_signal signal,
                          uint64_t sequence, size_t payload_len, uint32_t payload_crc);

/**
 * Read the record at the start of `data` (`avail` bytes). DP_WAL_RECORD
 * and *out on success; otherwise *out is untouched.
 */
int dp_wal_record_read(const uint8_t *data, size_t avail, dp_wal_record *out);

#endif

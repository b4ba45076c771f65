/*
 * The write-ahead log's record format (wal_record.h): the header written
 * before each request and the check made when a segment is read back.
 * zlib's crc32 is the checksum: zlib is already linked for gzip bodies, and
 * it runs at several GB/s, far above what a disk takes.
 */
#include "wal_record.h"

#include <string.h>
#include <zlib.h>

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

uint32_t dp_wal_payload_crc(const uint8_t *payload, size_t payload_len)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    /* zlib takes uInt lengths: feed large payloads in pieces */
    while (payload_len) {
        uInt n = payload_len > (1u << 30) ? (1u << 30) : (uInt)payload_len;
        crc = crc32(crc, payload, n);
        payload += n;
        payload_len -= n;
    }
    return (uint32_t)crc;
}

/* crc32 of the header from its length field on, then of the payload: the
 * header's part joined to the payload's with crc32_combine, so the payload
 * is read once, before the sequence number exists. */
static uint32_t record_crc(const uint8_t *header, size_t payload_len, uint32_t payload_crc)
{
    uLong crc = crc32(crc32(0L, Z_NULL, 0), header + 8, DP_WAL_HEADER_BYTES - 8);
    return (uint32_t)crc32_combine(crc, payload_crc, (z_off_t)payload_len);
}

void dp_wal_header_encode(uint8_t out[DP_WAL_HEADER_BYTES], enum dp_signal signal,
                          uint64_t sequence, size_t payload_len, uint32_t payload_crc)
{
    memset(out, 0, DP_WAL_HEADER_BYTES);
    put32(out, DP_WAL_MAGIC);
    put32(out + 8, (uint32_t)payload_len);
    out[12] = (uint8_t)signal;
    put64(out + 16, sequence);
    put32(out + 4, record_crc(out, payload_len, payload_crc));
}

int dp_wal_record_read(const uint8_t *data, size_t avail, dp_wal_record *out)
{
    if (avail == 0)
        return DP_WAL_END;
    if (avail < DP_WAL_HEADER_BYTES)
        return avail >= 4 && get32(data) != DP_WAL_MAGIC ? DP_WAL_CORRUPT : DP_WAL_TRUNCATED;
    if (get32(data) != DP_WAL_MAGIC || data[12] > DP_SIGNAL_LOGS || data[13] || data[14] ||
        data[15])
        return DP_WAL_CORRUPT;
    uint32_t len = get32(data + 8);
    if (len > DP_WAL_MAX_PAYLOAD)
        return DP_WAL_CORRUPT;
    if (avail - DP_WAL_HEADER_BYTES < len)
        return DP_WAL_TRUNCATED;
    if (record_crc(data, len, dp_wal_payload_crc(data + DP_WAL_HEADER_BYTES, len)) !=
        get32(data + 4))
        return DP_WAL_CORRUPT;
    out->signal = (enum dp_signal)data[12];
    out->sequence = get64(data + 16);
    out->payload = data + DP_WAL_HEADER_BYTES;
    out->payload_len = len;
    out->record_len = DP_WAL_HEADER_BYTES + (size_t)len;
    return DP_WAL_RECORD;
}

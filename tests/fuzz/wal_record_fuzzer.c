/*
 * Fuzz target for the persistent queue's record reader
 * (storage/wal_record.c), in two modes chosen by the first byte:
 *  - even: the rest is a segment file as read back at start; it is walked
 *    record after record as storage.c's replay does (each record starts
 *    where the previous one ended; anything but a record ends the walk).
 *    Every record read lies inside the bytes, re-encodes to the very header
 *    it was read from, and a failed read leaves its output untouched.
 *  - odd: the rest describes records (signal, payload) and a damage (none,
 *    a cut, one flipped bit); they are written with dp_wal_header_encode()
 *    into a segment, damaged, and read back: the records before the damage
 *    come back as written, the damaged one never reads as a record (a
 *    flipped bit is caught by the checksum, a cut as truncated) unless the
 *    cut falls between records, where the walk ends cleanly.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wal_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 64

/* One record read at data[off]; checks that hold whatever the bytes. */
static int read_checked(const uint8_t *seg, size_t len, size_t off, dp_wal_record *r)
{
    dp_wal_record before;
    memset(r, 0xA5, sizeof(*r));
    before = *r;
    int rc = dp_wal_record_read(seg + off, len - off, r);
    if (rc != DP_WAL_RECORD) {
        if (memcmp(r, &before, sizeof(*r)) != 0)
            abort(); /* *out is untouched on anything but a record */
        if ((rc == DP_WAL_END) != (off == len))
            abort();
        if (rc != DP_WAL_END && rc != DP_WAL_TRUNCATED && rc != DP_WAL_CORRUPT)
            abort();
        return rc;
    }
    if (r->record_len != DP_WAL_HEADER_BYTES + r->payload_len || r->record_len > len - off ||
        r->payload != seg + off + DP_WAL_HEADER_BYTES || (unsigned)r->signal > DP_SIGNAL_LOGS)
        abort();
    uint8_t header[DP_WAL_HEADER_BYTES];
    dp_wal_header_encode(header, r->signal, r->sequence, r->payload_len,
                         dp_wal_payload_crc(r->payload, r->payload_len));
    if (memcmp(header, seg + off, DP_WAL_HEADER_BYTES) != 0)
        abort(); /* what was read is what would have been written */
    return rc;
}

/* A segment as the replay reads it: records until anything else. */
static void walk(const uint8_t *seg, size_t len)
{
    size_t off = 0;
    dp_wal_record r;
    while (read_checked(seg, len, off, &r) == DP_WAL_RECORD)
        off += r.record_len;
}

typedef struct written {
    size_t off, len; /* where the record starts, its payload's length */
    enum dp_signal signal;
    uint64_t sequence;
} written;

static void round_trip(const uint8_t *data, size_t size)
{
    if (size < 12)
        return;
    unsigned damage = data[0] % 3; /* 0 none, 1 cut, 2 flip a bit */
    size_t where = (size_t)data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16;
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq |= (uint64_t)data[4 + i] << (8 * i);
    data += 12;
    size -= 12;

    /* records: [signal % 3][length][payload bytes], the payload shorter when the input ends */
    written w[MAX_RECORDS];
    size_t n = 0, total = 0, in = 0;
    while (in + 2 <= size && n < MAX_RECORDS) {
        size_t len = data[in + 1];
        if (len > size - in - 2)
            len = size - in - 2;
        w[n] = (written){total, len, (enum dp_signal)(data[in] % 3), seq + n};
        total += DP_WAL_HEADER_BYTES + len;
        in += 2 + len;
        n++;
    }
    uint8_t *seg = malloc(total ? total : 1);
    if (!seg)
        return;
    in = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *payload = data + in + 2;
        dp_wal_header_encode(seg + w[i].off, w[i].signal, w[i].sequence, w[i].len,
                             dp_wal_payload_crc(payload, w[i].len));
        memcpy(seg + w[i].off + DP_WAL_HEADER_BYTES, payload, w[i].len);
        in += 2 + w[i].len;
    }
    size_t len = total, hit = total; /* hit: where the damage is */
    if (damage == 1 && total) {
        len = hit = where % total;
    } else if (damage == 2 && total) {
        hit = (where / 8) % total;
        seg[hit] ^= (uint8_t)(1u << (where % 8));
    }

    size_t off = 0, i = 0;
    dp_wal_record r;
    int rc;
    while ((rc = read_checked(seg, len, off, &r)) == DP_WAL_RECORD) {
        if (i >= n)
            abort(); /* more records than were written */
        bool damaged = hit >= w[i].off && hit < w[i].off + DP_WAL_HEADER_BYTES + w[i].len;
        /* one flipped bit anywhere but in the length is always caught (crc32 catches
         * every single-bit error); a flipped length makes another record of other
         * bytes, caught with the checksum's odds */
        if (damaged && !(damage == 2 && hit >= w[i].off + 8 && hit < w[i].off + 12))
            abort();
        if (!damaged &&
            (r.signal != w[i].signal || r.sequence != w[i].sequence || r.payload_len != w[i].len ||
             r.record_len != DP_WAL_HEADER_BYTES + w[i].len || off != w[i].off))
            abort();
        off += r.record_len;
        i++;
    }
    /* the walk stops at the damaged record, or at the end */
    if (damage == 0 && (rc != DP_WAL_END || i != n))
        abort();
    if (damage == 1) { /* k whole records before the cut; a cut inside the next is truncated */
        size_t k = 0;
        while (k < n && w[k].off + DP_WAL_HEADER_BYTES + w[k].len <= len)
            k++;
        bool at_boundary = k == n || w[k].off == len;
        if (i != k || rc != (at_boundary ? DP_WAL_END : DP_WAL_TRUNCATED))
            abort();
    }
    if (damage == 2 && total &&
        (rc == DP_WAL_END || i >= n || hit < w[i].off ||
         hit >= w[i].off + DP_WAL_HEADER_BYTES + w[i].len))
        abort();
    free(seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0) {
        /* a copy of exactly the segment's size, so any overread is caught */
        uint8_t *seg = malloc(size - 1 ? size - 1 : 1);
        if (!seg)
            return 0;
        memcpy(seg, data + 1, size - 1);
        walk(seg, size - 1);
        free(seg);
    } else {
        round_trip(data + 1, size - 1);
    }
    return 0;
}

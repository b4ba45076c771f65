/*
 * A small streaming JSON writer that appends straight into a dp_buf, for
 * reports written many times a second (no tree, no per-value allocation).
 *
 * Output is always valid JSON (RFC 8259):
 * - strings: '"' and '\' are escaped with a backslash, control characters
 *   (U+0000..U+001F) as \u00XX with lowercase hex, valid UTF-8 is copied as
 *   is, and each maximal ill-formed UTF-8 subsequence (Unicode's "maximal
 *   subpart" rule) is replaced by U+FFFD, so bytes from the wire never break
 *   the document;
 * - numbers written with dp_json_writer_double() are rounded half away from
 *   zero to a fixed number of decimals (0..DP_JSON_MAX_DECIMALS), printed
 *   in plain decimal notation with trailing zeros dropped but always with a
 *   fraction ("12.0", "0.125") so readers keep them as reals; values whose
 *   scaled magnitude reaches 2^53 are printed with 15 significant digits
 *   (possibly with an exponent); NaN and infinities are written as null.
 *
 * The writer checks the document's structure (keys only inside objects,
 * one value per key, matched begin/end, at most DP_JSON_MAX_DEPTH levels).
 * Errors are sticky: after the first failure (out of memory, the dp_buf's
 * cap, misuse) every call does nothing, and dp_json_writer_finish() returns
 * -1 and removes everything the writer appended, so a failed document never
 * leaves a cut line behind.
 */
#ifndef DP_JSON_WRITE_H
#define DP_JSON_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/** Deepest nesting of objects and arrays a writer accepts. */
#define DP_JSON_MAX_DEPTH 31

/** Most decimals dp_json_writer_double() and dp_json_format_double() accept. */
#define DP_JSON_MAX_DECIMALS 9

/** Room dp_json_format_double() needs, its terminating NUL included. */
#define DP_JSON_NUMBER_MAX 40

/** Writer state; fields are private, set up with dp_json_writer_init(). */
typedef struct dp_json_writer {
    dp_buf *out;
    size_t start_len;   /* out->len at init: restored on failure */
    int err;            /* 0, or -1 after the first failure */
    unsigned depth;     /* open containers */
    uint32_t is_array;  /* bit d: the container at depth d is an array */
    uint32_t has_items; /* bit d: depth d already holds a member (bit 0: the top value) */
    bool after_key;     /* an object key was written, its value is due */
} dp_json_writer;

/** Start a document appended to out (which keeps what it already holds). */
void dp_json_writer_init(dp_json_writer *w, dp_buf *out);

/** '{' as a value (a key must precede it inside an object). */
void dp_json_writer_object_begin(dp_json_writer *w);
/** '}' closing the innermost container, which must be an object with no pending key. */
void dp_json_writer_object_end(dp_json_writer *w);
/** '[' as a value. */
void dp_json_writer_array_begin(dp_json_writer *w);
/** ']' closing the innermost container, which must be an array. */
void dp_json_writer_array_end(dp_json_writer *w);

/** An object member's key (NUL-terminated, escaped like any string). */
void dp_json_writer_key(dp_json_writer *w, const char *key);

/** A string value of len bytes (any bytes: see the escaping rules above). */
void dp_json_writer_string(dp_json_writer *w, const char *s, size_t len);
/** A NUL-terminated string value; NULL writes null. */
void dp_json_writer_cstring(dp_json_writer *w, const char *s);
/** null */
void dp_json_writer_null(dp_json_writer *w);
/** true / false */
void dp_json_writer_bool(dp_json_writer *w, bool v);
/** An unsigned integer, exact. */
void dp_json_writer_uint(dp_json_writer *w, uint64_t v);
/** A signed integer, exact. */
void dp_json_writer_int(dp_json_writer *w, int64_t v);
/** A real rounded to decimals places (clamped to DP_JSON_MAX_DECIMALS); non-finite: null. */
void dp_json_writer_double(dp_json_writer *w, double v, unsigned decimals);

/**
 * End the document: returns 0 when every call succeeded and every
 * container is closed; otherwise -1, and out is back to its length at init.
 */
int dp_json_writer_finish(dp_json_writer *w);

/**
 * Append s (len bytes) as a quoted JSON string. Returns 0, or -1 (out of
 * memory or cap) with out unchanged.
 */
int dp_json_append_string(dp_buf *out, const char *s, size_t len);

/**
 * Format a finite v as described above into dst (DP_JSON_NUMBER_MAX bytes),
 * NUL-terminated. Returns the length, or 0 when v is not finite (dst then
 * holds "null").
 */
size_t dp_json_format_double(char dst[DP_JSON_NUMBER_MAX], double v, unsigned decimals);

#endif

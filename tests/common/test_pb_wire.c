/*
 * The shared protobuf wire codec. Expected bytes are the encoding examples
 * of the protobuf documentation ("Encoding"), worked out by hand: field 1 =
 * 150 is 08 96 01; field 2 = "testing" is 12 07 74 65 73 74 69 6e 67; a
 * message holding field 1 = 150 as field 3 is 1a 03 08 96 01.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pb_wire.h"

/* fn's encoding, into an empty buffer, is want: reserved exactly (the bytes
 * and the NUL a dp_buf keeps after them). */
static void assert_encodes_to(dp_pb_encode_fn fn, const uint8_t *want, size_t len)
{
    dp_buf b;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_pb_encode(fn, NULL, &b), DP_OK);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, want, len);
    assert_int_equal(b.cap, len + 1);
    dp_buf_free(&b);
}

static void encode_doc_examples(dp_pb_writer *w, const void *ctx)
{
    (void)ctx;
    dp_pb_put_varint(w, 1, 150);
    dp_pb_put_bytes(w, 2, "testing", 7);
    dp_pb_begin(w, 3);
    dp_pb_put_varint(w, 1, 150);
    dp_pb_end(w);
}

static void test_documentation_examples(void **state)
{
    (void)state;
    static const uint8_t want[] = {0x08, 0x96, 0x01, 0x12, 0x07, 0x74, 0x65, 0x73, 0x74,
                                   0x69, 0x6e, 0x67, 0x1a, 0x03, 0x08, 0x96, 0x01};
    assert_encodes_to(encode_doc_examples, want, sizeof want);
}

/* Fixed-width fields are little-endian: fixed64 1 as field 7 is
 * 39 01 00 00 00 00 00 00 00; fixed32 0x01020304 as field 16 has the
 * two-byte tag 16 << 3 | 5 = 133 = 85 01; double 1.0 is 0x3ff0000000000000;
 * int64 -1 is ten bytes ff .. ff 01. */
static void encode_fixed(dp_pb_writer *w, const void *ctx)
{
    (void)ctx;
    dp_pb_put_fixed64(w, 7, 1);
    dp_pb_put_fixed32(w, 16, 0x01020304u);
    dp_pb_put_double(w, 4, 1.0);
    dp_pb_put_int64(w, 3, -1);
    dp_pb_put_bool(w, 2, true);
}

static void test_fixed_and_negative(void **state)
{
    (void)state;
    static const uint8_t want[] = {
        0x39, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,       /* fixed64 */
        0x85, 0x01, 0x04, 0x03, 0x02, 0x01,                         /* fixed32 */
        0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f,       /* double */
        0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* int64 -1 */
        0x01, 0x10, 0x01,                                           /* bool */
    };
    assert_encodes_to(encode_fixed, want, sizeof want);
}

/* A nested message of 200 bytes needs a two-byte length (c8 01), and its
 * parent's length counts those two bytes: 1 (tag) + 2 + 200 = 203 = cb 01. */
static void encode_long_nested(dp_pb_writer *w, const void *ctx)
{
    (void)ctx;
    static const uint8_t payload[197];
    dp_pb_begin(w, 1);
    dp_pb_begin(w, 2);
    dp_pb_put_bytes(w, 5, payload, sizeof payload); /* 1 + 2 (c5 01) + 197 = 200 bytes */
    dp_pb_end(w);
    dp_pb_end(w);
    dp_pb_begin(w, 3); /* empty message: 1a 00 */
    dp_pb_end(w);
}

static void test_nested_lengths(void **state)
{
    (void)state;
    dp_buf b;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_pb_encode(encode_long_nested, NULL, &b), DP_OK);
    assert_int_equal(b.len, 3 + 3 + 200 + 2);
    const uint8_t *p = (const uint8_t *)b.data;
    assert_int_equal(p[0], 0x0a);
    assert_int_equal(p[1], 0xcb);
    assert_int_equal(p[2], 0x01);
    assert_int_equal(p[3], 0x12);
    assert_int_equal(p[4], 0xc8);
    assert_int_equal(p[5], 0x01);
    assert_int_equal(p[6], 0x2a);
    assert_int_equal(p[7], 0xc5);
    assert_int_equal(p[8], 0x01);
    assert_int_equal(p[206], 0x1a);
    assert_int_equal(p[207], 0x00);

    /* the reader walks it back */
    const uint8_t *pos = p, *end = p + b.len;
    dp_pb_field f;
    const char *why = NULL;
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 1);
    assert_int_equal(f.number, 1);
    assert_int_equal(f.wire_type, DP_PB_LEN);
    assert_int_equal(f.len, 203);
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 1);
    assert_int_equal(f.number, 3);
    assert_int_equal(f.len, 0);
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 0);
    dp_buf_free(&b);
}

/* Groups: read whole up to the matching end tag, nested ones included. */
static void test_reader_groups(void **state)
{
    (void)state;
    /* field 2 group { 1: varint 5; 3 group { 1: fixed32 } ; 4: "ab" } then field 6: varint 1 */
    static const uint8_t msg[] = {0x13, 0x08, 0x05, 0x1b, 0x0d, 1,    2,    3,   4,
                                  0x1c, 0x22, 0x02, 'a',  'b',  0x14, 0x30, 0x01};
    const uint8_t *pos = msg, *end = msg + sizeof msg;
    dp_pb_field f;
    const char *why = NULL;
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 1);
    assert_int_equal(f.number, 2);
    assert_int_equal(f.wire_type, DP_PB_SGROUP);
    assert_ptr_equal(f.data, msg + 1);
    assert_int_equal(f.len, 13);  /* bytes 1..13, before the end tag 0x14 */
    assert_int_equal(f.value, 2); /* a group in the group */
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 1);
    assert_int_equal(f.number, 6);
    assert_int_equal(f.value, 1);
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 0);

    /* an empty group: 0x0b 0x0c */
    static const uint8_t empty[] = {0x0b, 0x0c};
    pos = empty;
    assert_int_equal(dp_pb_next(&pos, empty + 2, &f, &why), 1);
    assert_int_equal(f.len, 0);
    assert_int_equal(f.value, 1);
    assert_ptr_equal(pos, empty + 2);

    /* ends that do not match, stray ends, truncated contents */
    static const uint8_t wrong_end[] = {0x0b, 0x08, 0x01, 0x14}; /* start 1, end 2 */
    pos = wrong_end;
    assert_int_equal(dp_pb_next(&pos, wrong_end + sizeof wrong_end, &f, &why), -1);
    assert_string_equal(why, "end group tag does not match its start group");
    assert_ptr_equal(pos, wrong_end);
    static const uint8_t inner_wrong[] = {0x0b, 0x13, 0x0c, 0x14}; /* 1 { 2 { end 1 ... */
    pos = inner_wrong;
    assert_int_equal(dp_pb_next(&pos, inner_wrong + sizeof inner_wrong, &f, &why), -1);
    assert_string_equal(why, "end group tag does not match its start group");
    static const uint8_t stray[] = {0x0c};
    pos = stray;
    assert_int_equal(dp_pb_next(&pos, stray + 1, &f, &why), -1);
    assert_string_equal(why, "end group tag without its start group");
    static const uint8_t cut[] = {0x0b, 0x12, 0x05, 'a'}; /* a string running past the end */
    pos = cut;
    assert_int_equal(dp_pb_next(&pos, cut + sizeof cut, &f, &why), -1);
    assert_string_equal(why, "length runs past the end of the message");

    /* 100 groups in groups are read; 101 are too deep */
    uint8_t deep[2 * (DP_PB_MAX_GROUP_NESTING + 1)];
    for (int n = DP_PB_MAX_GROUP_NESTING; n <= DP_PB_MAX_GROUP_NESTING + 1; n++) {
        for (int i = 0; i < n; i++) {
            deep[i] = 0x0b;
            deep[n + i] = 0x0c;
        }
        pos = deep;
        int rc = dp_pb_next(&pos, deep + 2 * n, &f, &why);
        if (n == DP_PB_MAX_GROUP_NESTING) {
            assert_int_equal(rc, 1);
            assert_int_equal(f.value, 100);
            assert_int_equal(f.len, 2 * n - 2);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(why, "groups nested more than 100 deep");
        }
    }
}

static void test_reader_fields_and_errors(void **state)
{
    (void)state;
    static const uint8_t msg[] = {0x08, 0x96, 0x01, 0x39, 1, 0, 0, 0,    0,    0,   0,
                                  0x80, 0x85, 0x01, 4,    3, 2, 1, 0x12, 0x02, 'h', 'i'};
    const uint8_t *pos = msg, *end = msg + sizeof msg;
    dp_pb_field f;
    const char *why = NULL;
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 1);
    assert_int_equal(f.value, 150);
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 1);
    assert_int_equal(f.number, 7);
    assert_true(f.value == 0x8000000000000001ull);
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 1);
    assert_int_equal(f.number, 16);
    assert_int_equal(f.value, 0x01020304);
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 1);
    assert_int_equal(f.len, 2);
    assert_memory_equal(f.data, "hi", 2);
    assert_int_equal(dp_pb_next(&pos, end, &f, &why), 0);

    static const uint8_t past_end[] = {0x12, 0x05, 'a'};
    pos = past_end;
    assert_int_equal(dp_pb_next(&pos, past_end + sizeof past_end, &f, &why), -1);
    assert_string_equal(why, "length runs past the end of the message");
    assert_ptr_equal(pos, past_end); /* not advanced */

    static const uint8_t group[] = {0x0b}; /* field 1, wire type 3, never ended */
    pos = group;
    assert_int_equal(dp_pb_next(&pos, group + 1, &f, &why), -1);
    assert_string_equal(why, "group without its end group tag");

    static const uint8_t field_zero[] = {0x00, 0x01};
    pos = field_zero;
    assert_int_equal(dp_pb_next(&pos, field_zero + 2, &f, &why), -1);

    /* an eleven-byte varint is overlong */
    static const uint8_t overlong[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    pos = overlong;
    assert_int_equal(dp_pb_next(&pos, overlong + sizeof overlong, &f, &why), -1);

    /* a tag of field 1, varint, padded to 6 bytes (88 80 80 80 80 00) is
     * overlong for a 32-bit tag; padded to 5 bytes it is accepted */
    static const uint8_t tag6[] = {0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01};
    pos = tag6;
    assert_int_equal(dp_pb_next(&pos, tag6 + sizeof tag6, &f, &why), -1);
    assert_string_equal(why, "truncated or overlong field tag");
    static const uint8_t tag5[] = {0x88, 0x80, 0x80, 0x80, 0x00, 0x01};
    pos = tag5;
    assert_int_equal(dp_pb_next(&pos, tag5 + sizeof tag5, &f, &why), 1);
    assert_int_equal(f.number, 1);
    assert_int_equal(f.value, 1);

    /* the same for a length: 2 padded to 6 bytes (82 80 80 80 80 00) is
     * overlong, padded to 5 bytes it is accepted */
    static const uint8_t len6[] = {0x0a, 0x82, 0x80, 0x80, 0x80, 0x80, 0x00, 'h', 'i'};
    pos = len6;
    assert_int_equal(dp_pb_next(&pos, len6 + sizeof len6, &f, &why), -1);
    assert_string_equal(why, "truncated or overlong length");
    assert_ptr_equal(pos, len6);
    static const uint8_t len5[] = {0x0a, 0x82, 0x80, 0x80, 0x80, 0x00, 'h', 'i'};
    pos = len5;
    assert_int_equal(dp_pb_next(&pos, len5 + sizeof len5, &f, &why), 1);
    assert_int_equal(f.number, 1);
    assert_int_equal(f.len, 2);
    assert_memory_equal(f.data, "hi", 2);
}

static void encode_unbalanced(dp_pb_writer *w, const void *ctx)
{
    (void)ctx;
    dp_pb_begin(w, 1);
}

static void encode_differs_between_passes(dp_pb_writer *w, const void *ctx)
{
    (void)ctx;
    dp_pb_begin(w, 1);
    dp_pb_put_varint(w, 1, dp_pb_measuring(w) ? 1 : 100000);
    dp_pb_end(w);
}

static void encode_too_deep(dp_pb_writer *w, const void *ctx)
{
    (void)ctx;
    for (int i = 0; i <= DP_PB_MAX_NESTING; i++)
        dp_pb_begin(w, 1);
    for (int i = 0; i <= DP_PB_MAX_NESTING; i++)
        dp_pb_end(w);
}

/* An encoder that finds its input invalid stops in the measuring pass. */
static void encode_gives_up(dp_pb_writer *w, const void *ctx)
{
    int *passes = (int *)ctx;
    (*passes)++;
    dp_pb_put_varint(w, 1, 150);
    dp_pb_fail(w, DP_EDECODE);
    dp_pb_fail(w, DP_ENOMEM); /* the first reason stays */
    dp_pb_put_varint(w, 1, 150);
}

/* Encoder mistakes and a full buffer are errors, and the buffer is left as it was. */
static void test_errors_leave_buffer_alone(void **state)
{
    (void)state;
    dp_buf b;
    dp_buf_init(&b, 8);
    assert_int_equal(dp_buf_append(&b, "ab", 2), 0);
    assert_int_equal(dp_pb_encode(encode_unbalanced, NULL, &b), DP_EINVAL);
    assert_int_equal(dp_pb_encode(encode_differs_between_passes, NULL, &b), DP_EINVAL);
    assert_int_equal(dp_pb_encode(encode_too_deep, NULL, &b), DP_EINVAL);
    int passes = 0;
    assert_int_equal(dp_pb_encode(encode_gives_up, &passes, &b), DP_EDECODE);
    assert_int_equal(passes, 1); /* the writing pass never runs */
    /* 17 bytes do not fit under a cap of 8 */
    assert_int_equal(dp_pb_encode(encode_doc_examples, NULL, &b), DP_ENOMEM);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab"); /* NUL-terminated as it was */
    dp_buf_free(&b);
}

/* The inline short forms of dp_pb_next() read every two-byte start exactly
 * as the general reader does (field, value, view, position, result), with
 * enough bytes after it and with none. */
static void test_inline_reader_agrees_with_general_reader(void **state)
{
    (void)state;
    uint8_t buf[2 + 130];
    memset(buf, 0, sizeof buf);
    for (unsigned b0 = 0; b0 < 256; b0++) {
        for (unsigned b1 = 0; b1 < 256; b1++) {
            for (size_t len = 2; len <= sizeof buf; len += sizeof buf - 2) {
                buf[0] = (uint8_t)b0;
                buf[1] = (uint8_t)b1;
                const uint8_t *p1 = buf, *p2 = buf;
                dp_pb_field f1, f2;
                const char *w1 = NULL, *w2 = NULL;
                int r1 = dp_pb_next(&p1, buf + len, &f1, &w1);
                int r2 = dp_pb_next_any(&p2, buf + len, &f2, &w2);
                assert_int_equal(r1, r2);
                assert_ptr_equal(p1, p2);
                if (r1 == 1) {
                    assert_int_equal(f1.number, f2.number);
                    assert_int_equal(f1.wire_type, f2.wire_type);
                    assert_true(f1.value == f2.value);
                    assert_ptr_equal(f1.data, f2.data);
                    assert_int_equal(f1.len, f2.len);
                }
            }
        }
    }
}

/* Invalid UTF-8 in a string field becomes '?', byte for byte, so the length
 * prefix (0x14 = 20) stays the input's length. Input, piece by piece:
 *   'a'                    valid             -> 'a'
 *   ff                     never valid       -> '?'
 *   c3 a9 (e-acute)        valid             -> c3 a9
 *   e2 82 'b'              cut short by 'b'  -> '?' '?' 'b'
 *   ed a0 80               a surrogate       -> '?' '?' '?'
 *   f4 90 80 80            above U+10FFFF    -> '?' '?' '?' '?'
 *   c0 af                  overlong          -> '?' '?'
 *   f0 9f 98 80 (U+1F600)  valid             -> f0 9f 98 80 */
static void encode_string(dp_pb_writer *w, const void *ctx)
{
    (void)ctx;
    static const char in[] = "a\xff\xc3\xa9\xe2\x82"
                             "b\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf\xf0\x9f\x98\x80";
    dp_pb_put_string(w, 2, in, sizeof in - 1);
}

static void test_string_made_utf8(void **state)
{
    (void)state;
    static const uint8_t want[] = {
        0x12, 0x14,                            /* field 2, 20 bytes */
        'a',  '?',  0xc3, 0xa9, '?', '?', 'b', /* a, ff, e-acute, e2 82, b */
        '?',  '?',  '?',                       /* ed a0 80 */
        '?',  '?',  '?',  '?',                 /* f4 90 80 80 */
        '?',  '?',                             /* c0 af */
        0xf0, 0x9f, 0x98, 0x80,                /* U+1F600 */
    };
    assert_encodes_to(encode_string, want, sizeof want);
}

/* More nested messages than the writer keeps inline: message i holds field
 * 1 = i mod 128, so each is 0a 02 08 <i mod 128>. */
#define MANY_MESSAGES (DP_PB_INLINE_SIZES * 3 + 5)

static void encode_many(dp_pb_writer *w, const void *ctx)
{
    (void)ctx;
    for (int i = 0; i < MANY_MESSAGES; i++) {
        dp_pb_begin(w, 1);
        dp_pb_put_varint(w, 1, (uint64_t)(i % 128));
        dp_pb_end(w);
    }
}

static void test_more_messages_than_inline(void **state)
{
    (void)state;
    static uint8_t want[4 * MANY_MESSAGES];
    for (int i = 0; i < MANY_MESSAGES; i++) {
        want[4 * i] = 0x0a;
        want[4 * i + 1] = 0x02;
        want[4 * i + 2] = 0x08;
        want[4 * i + 3] = (uint8_t)(i % 128);
    }
    assert_encodes_to(encode_many, want, sizeof want);
}

static void test_varint_size(void **state)
{
    (void)state;
    assert_int_equal(dp_pb_varint_size(0), 1);
    assert_int_equal(dp_pb_varint_size(127), 1);
    assert_int_equal(dp_pb_varint_size(128), 2);
    assert_int_equal(dp_pb_varint_size(16383), 2);
    assert_int_equal(dp_pb_varint_size(16384), 3);
    assert_int_equal(dp_pb_varint_size(UINT64_MAX), 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documentation_examples),
        cmocka_unit_test(test_fixed_and_negative),
        cmocka_unit_test(test_nested_lengths),
        cmocka_unit_test(test_reader_fields_and_errors),
        cmocka_unit_test(test_reader_groups),
        cmocka_unit_test(test_errors_leave_buffer_alone),
        cmocka_unit_test(test_inline_reader_agrees_with_general_reader),
        cmocka_unit_test(test_varint_size),
        cmocka_unit_test(test_string_made_utf8),
        cmocka_unit_test(test_more_messages_than_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

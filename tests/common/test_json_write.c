/*
 * The streaming JSON writer: exact bytes for escaping (quotes, backslash,
 * control characters, valid and invalid UTF-8) and numbers (fixed decimals,
 * rounding half away from zero, non-finite as null), structure checks and
 * the all-or-nothing rule on failure; random byte strings always parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <math.h>

#include <cmocka.h>
#include <jansson.h>

#include "json_write.h"

/* s (len bytes) as a JSON string, checked against the expected bytes */
static void check_json_string(const char *s, size_t len, const char *want)
{
    dp_buf b;
    dp_buf_init(&b, 0);
    assert_int_equal(dp_json_append_string(&b, s, len), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    /* and a JSON parser accepts it */
    json_error_t err;
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v)
        fail_msg("not valid JSON: %s (%s)", b.data, err.text);
    assert_true(json_is_string(v));
    json_decref(v);
    dp_buf_free(&b);
}

#define STR(lit, want) check_json_string(lit, sizeof(lit) - 1, want)
#define FFFD "\xEF\xBF\xBD"

static void test_escape_ascii(void **state)
{
    (void)state;
    STR("", "\"\"");
    STR("plain text 123", "\"plain text 123\"");
    /* quote and backslash get a backslash; '/' and DEL stay as they are */
    STR("a\"b\\c/d\x7f", "\"a\\\"b\\\\c/d\x7f\"");
    /* every control character as \u00XX, lowercase hex: \n = 0x0a, \t = 0x09 */
    STR("\x01\n\t\x1f", "\"\\u0001\\u000a\\u0009\\u001f\"");
    /* an embedded NUL within the given length */
    STR("a\0b", "\"a\\u0000b\"");
}

static void test_escape_utf8(void **state)
{
    (void)state;
    /* well-formed sequences of 2, 3 and 4 bytes are copied unchanged:
     * é = C3 A9, € = E2 82 AC, U+1F600 = F0 9F 98 80, U+10FFFF = F4 8F BF BF */
    STR("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF",
        "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF\"");
    /* lone bytes that can never start a sequence: one U+FFFD each */
    STR("bad\xff\xfeid", "\"bad" FFFD FFFD "id\"");
    STR("\x80x", "\"" FFFD "x\"");
    /* a sequence cut by the end of the string: its prefix is one U+FFFD */
    STR("ab\xC3", "\"ab" FFFD "\"");
    STR("\xE2\x82", "\"" FFFD "\"");
    STR("\xF0\x9F\x98", "\"" FFFD "\"");
    /* cut by an ASCII byte: the prefix is one U+FFFD, the ASCII byte stays */
    STR("\xE2\x82x\"", "\"" FFFD "x\\\"\"");
    /* overlong C0 AF: C0 never starts a sequence, AF is a stray continuation */
    STR("\xC0\xAF", "\"" FFFD FFFD "\"");
    /* overlong E0 80 80: 80 is outside E0's A0..BF, so three replacements */
    STR("\xE0\x80\x80", "\"" FFFD FFFD FFFD "\"");
    /* surrogate ED A0 80: A0 is outside ED's 80..9F */
    STR("\xED\xA0\x80", "\"" FFFD FFFD FFFD "\"");
    /* above U+10FFFF: F4 90 80 80, and F5 is never a lead byte */
    STR("\xF4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
    STR("\xF5\x80", "\"" FFFD FFFD "\"");
}

static void check_json_number(double v, unsigned decimals, const char *want)
{
    char got[DP_JSON_NUMBER_MAX];
    size_t n = dp_json_format_double(got, v, decimals);
    assert_string_equal(got, want);
    assert_int_equal(n, strcmp(want, "null") == 0 ? 0 : strlen(want));
}

static void test_numbers(void **state)
{
    (void)state;
    check_json_number(12.5, 3, "12.5");
    check_json_number(1000.0, 3, "1000.0"); /* always a fraction: stays a real */
    check_json_number(0.0, 3, "0.0");
    check_json_number(-0.0, 3, "0.0");
    check_json_number(-0.0004, 3, "0.0");   /* rounds to zero, no "-0.0" */
    check_json_number(0.1 + 0.2, 3, "0.3"); /* 0.30000000000000004 */
    check_json_number(0.002, 8, "0.002");
    check_json_number(0.05, 3, "0.05"); /* leading zeros of the fraction kept */
    check_json_number(1e-9, 9, "0.000000001");
    check_json_number(1e-10, 9, "0.0");
    check_json_number(123456.789, 3, "123456.789");
    check_json_number(-42.25, 1, "-42.3"); /* -422.5 exactly: half away from zero */
    check_json_number(0.125, 2, "0.13");   /* 12.5 exactly */
    check_json_number(-0.125, 2, "-0.13");
    check_json_number(2.5, 0, "3.0");
    check_json_number(2.4999, 0, "2.0");
    check_json_number(66.666666, 2, "66.67");
    check_json_number(1.5, 20, "1.5"); /* decimals clamped to 9 */
    /* 2^53 and beyond: 15 significant digits, as C's %.15g writes them */
    check_json_number(9007199254740992.0, 0, "9.00719925474099e+15");
    check_json_number(1e300, 3, "1e+300");
    check_json_number(-1e300, 3, "-1e+300");
    /* 2^42 + 0.5 is exact; scaled by 1000 it is 4503599627370500 < 2^53, so
     * it is still printed in full rather than with 15 digits */
    check_json_number(4503599627370.5, 3, "4503599627370.5");
    check_json_number(NAN, 3, "null");
    check_json_number(INFINITY, 3, "null");
    check_json_number(-INFINITY, 0, "null");
}

/* The writer's document, compared byte for byte. */
static void test_document(void **state)
{
    (void)state;
    dp_buf b;
    dp_buf_init(&b, 0);
    dp_json_writer w;
    dp_json_writer_init(&w, &b);
    dp_json_writer_object_begin(&w);
    dp_json_writer_key(&w, "a");
    dp_json_writer_array_begin(&w);
    dp_json_writer_uint(&w, 1);
    dp_json_writer_cstring(&w, "x");
    dp_json_writer_cstring(&w, NULL);
    dp_json_writer_bool(&w, true);
    dp_json_writer_bool(&w, false);
    dp_json_writer_double(&w, NAN, 3);
    dp_json_writer_double(&w, 2.0, 3);
    dp_json_writer_array_end(&w);
    dp_json_writer_key(&w, "b");
    dp_json_writer_object_begin(&w);
    dp_json_writer_object_end(&w);
    dp_json_writer_key(&w, "c");
    dp_json_writer_array_begin(&w);
    dp_json_writer_array_end(&w);
    dp_json_writer_key(&w, "k\"ey");
    dp_json_writer_int(&w, INT64_MIN);
    dp_json_writer_key(&w, "u");
    dp_json_writer_uint(&w, UINT64_MAX);
    dp_json_writer_key(&w, "s");
    dp_json_writer_string(&w, "ab", 1); /* only the given length */
    dp_json_writer_object_end(&w);
    assert_int_equal(dp_json_writer_finish(&w), 0);
    assert_string_equal(b.data, "{\"a\":[1,\"x\",null,true,false,null,2.0],\"b\":{},\"c\":[],"
                                "\"k\\\"ey\":-9223372036854775808,"
                                "\"u\":18446744073709551615,\"s\":\"a\"}");
    dp_buf_free(&b);
}

typedef void (*misuse_fn)(dp_json_writer *w);

static void value_without_key(dp_json_writer *w)
{
    dp_json_writer_object_begin(w);
    dp_json_writer_uint(w, 1);
    dp_json_writer_object_end(w);
}

static void key_in_array(dp_json_writer *w)
{
    dp_json_writer_array_begin(w);
    dp_json_writer_key(w, "k");
    dp_json_writer_uint(w, 1);
    dp_json_writer_array_end(w);
}

static void key_at_top(dp_json_writer *w)
{
    dp_json_writer_key(w, "k");
}

static void two_keys(dp_json_writer *w)
{
    dp_json_writer_object_begin(w);
    dp_json_writer_key(w, "a");
    dp_json_writer_key(w, "b");
    dp_json_writer_uint(w, 1);
    dp_json_writer_object_end(w);
}

static void dangling_key(dp_json_writer *w)
{
    dp_json_writer_object_begin(w);
    dp_json_writer_key(w, "a");
    dp_json_writer_object_end(w);
}

static void mismatched_end(dp_json_writer *w)
{
    dp_json_writer_array_begin(w);
    dp_json_writer_object_end(w);
}

static void extra_end(dp_json_writer *w)
{
    dp_json_writer_array_begin(w);
    dp_json_writer_array_end(w);
    dp_json_writer_array_end(w);
}

static void unclosed(dp_json_writer *w)
{
    dp_json_writer_array_begin(w);
    dp_json_writer_uint(w, 1);
}

static void two_top_values(dp_json_writer *w)
{
    dp_json_writer_uint(w, 1);
    dp_json_writer_uint(w, 2);
}

static void nothing(dp_json_writer *w)
{
    (void)w;
}

static void too_deep(dp_json_writer *w)
{
    for (int i = 0; i < DP_JSON_MAX_DEPTH + 1; i++)
        dp_json_writer_array_begin(w);
    for (int i = 0; i < DP_JSON_MAX_DEPTH + 1; i++)
        dp_json_writer_array_end(w);
}

/* Every misuse fails at finish and leaves the buffer as it was before. */
static void test_misuse(void **state)
{
    (void)state;
    const misuse_fn cases[] = {value_without_key, key_in_array,   key_at_top, two_keys,
                               dangling_key,      mismatched_end, extra_end,  unclosed,
                               two_top_values,    nothing,        too_deep};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dp_buf b;
        dp_buf_init(&b, 0);
        assert_int_equal(dp_buf_puts(&b, "before\n"), 0);
        dp_json_writer w;
        dp_json_writer_init(&w, &b);
        cases[i](&w);
        if (dp_json_writer_finish(&w) != -1)
            fail_msg("misuse case %zu was accepted: %s", i, b.data);
        assert_string_equal(b.data, "before\n");
        dp_buf_free(&b);
    }
}

/* The deepest allowed nesting works: 31 arrays, then 31 closers. */
static void test_max_depth(void **state)
{
    (void)state;
    dp_buf b;
    dp_buf_init(&b, 0);
    dp_json_writer w;
    dp_json_writer_init(&w, &b);
    for (int i = 0; i < DP_JSON_MAX_DEPTH; i++)
        dp_json_writer_array_begin(&w);
    for (int i = 0; i < DP_JSON_MAX_DEPTH; i++)
        dp_json_writer_array_end(&w);
    assert_int_equal(dp_json_writer_finish(&w), 0);
    assert_int_equal(b.len, 2 * DP_JSON_MAX_DEPTH);
    assert_int_equal(b.data[DP_JSON_MAX_DEPTH - 1], '[');
    assert_int_equal(b.data[DP_JSON_MAX_DEPTH], ']');
    dp_buf_free(&b);
}

/* A capped buffer: a document that does not fit is removed whole; one that
 * fits exactly is kept. */
static void test_cap(void **state)
{
    (void)state;
    dp_buf b;
    dp_buf_init(&b, 12);
    assert_int_equal(dp_buf_puts(&b, "pre"), 0);
    dp_json_writer w;
    dp_json_writer_init(&w, &b);
    dp_json_writer_array_begin(&w);
    dp_json_writer_cstring(&w, "0123456789"); /* "pre" + ["0123456789"]: 3 + 14 > 12 */
    dp_json_writer_array_end(&w);
    assert_int_equal(dp_json_writer_finish(&w), -1);
    assert_string_equal(b.data, "pre");

    /* "pre" + ["abcde"] = 3 + 9 = 12 bytes: exactly the cap */
    dp_json_writer_init(&w, &b);
    dp_json_writer_array_begin(&w);
    dp_json_writer_cstring(&w, "abcde");
    dp_json_writer_array_end(&w);
    assert_int_equal(dp_json_writer_finish(&w), 0);
    assert_string_equal(b.data, "pre[\"abcde\"]");

    /* a string alone: out unchanged when the escapes do not fit */
    dp_buf_reset(&b);
    assert_int_equal(dp_json_append_string(&b, "\x01\x02", 2), -1); /* 2 + 12 > 12 */
    assert_int_equal(b.len, 0);
    dp_buf_free(&b);
}

/* Random bytes (biased towards the interesting ones) always give a string
 * jansson accepts; valid UTF-8 input comes back unchanged. */
static void test_random_bytes(void **state)
{
    (void)state;
    static const unsigned char pool[] = {'a',  '"',  '\\', 0x00, 0x01, 0x1f, 0x7f, 0x80,
                                         0xbf, 0xc2, 0xc0, 0xe0, 0xed, 0xef, 0xf0, 0xf4,
                                         0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f};
    uint32_t seed = 12345;
    dp_buf b;
    dp_buf_init(&b, 0);
    for (int round = 0; round < 20000; round++) {
        unsigned char s[40];
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 16) % sizeof(s);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            uint32_t r = seed >> 16;
            s[i] = r & 1 ? pool[(r >> 1) % sizeof(pool)] : (unsigned char)(r >> 3);
        }
        dp_buf_reset(&b);
        assert_int_equal(dp_json_append_string(&b, (const char *)s, len), 0);
        json_error_t err;
        json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!v)
            fail_msg("round %d: not valid JSON: %s", round, err.text);
        /* jansson's own check: input that is valid UTF-8 must round-trip */
        json_t *checked = json_stringn((const char *)s, len);
        if (checked) {
            assert_int_equal(json_string_length(v), len);
            assert_memory_equal(json_string_value(v), s, len);
        }
        json_decref(checked);
        json_decref(v);
    }
    dp_buf_free(&b);
}

/* One byte that needs a look (or just misses needing one) at every position
 * of a 24-byte string, so that it falls in each lane of the eight-byte scan
 * and in the tail after it. The escapes are the rules of test_escape_ascii:
 * '"' and '\\' get a backslash, controls become \u00XX, a lone 0x80 is
 * ill-formed UTF-8 (one U+FFFD); ' ' (0x20), '!' (0x21), '[' (0x5b),
 * ']' (0x5d) and DEL (0x7f) stay as they are. */
static void test_escape_every_position(void **state)
{
    (void)state;
    static const struct {
        char c;
        const char *esc;
    } cases[] = {
        {'"', "\\\""},       {'\\', "\\\\"},     {'\x01', "\\u0001"}, {'\x1f', "\\u001f"},
        {'\x00', "\\u0000"}, {(char)0x80, FFFD}, {' ', " "},          {'!', "!"},
        {'[', "["},          {']', "]"},         {'\x7f', "\x7f"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        for (size_t pos = 0; pos < 24; pos++) {
            char in[24], want[64];
            memset(in, 'a', sizeof in);
            in[pos] = cases[k].c;
            size_t n = 0;
            want[n++] = '"';
            memset(want + n, 'a', pos);
            n += pos;
            memcpy(want + n, cases[k].esc, strlen(cases[k].esc));
            n += strlen(cases[k].esc);
            memset(want + n, 'a', 23 - pos);
            n += 23 - pos;
            want[n++] = '"';
            want[n] = '\0';
            check_json_string(in, sizeof in, want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_ascii),
        cmocka_unit_test(test_escape_utf8),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_max_depth),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_escape_every_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

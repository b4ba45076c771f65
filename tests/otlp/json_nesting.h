/*
 * Helpers of the OTLP/JSON encoder tests (test_json_encode.c,
 * test_json_encode_signals.c) for values nested to protobuf's limit: JSON
 * documents written piece by piece into a fixed buffer, and the encoder
 * run with its report of what it left out.
 */
#ifndef DP_TEST_JSON_NESTING_H
#define DP_TEST_JSON_NESTING_H

#include <stdbool.h>
#include <stdio.h>

#include "otlp_file.h"

/* Append text to doc (cap bytes, *n used). */
static inline void put_text(char *doc, size_t cap, size_t *n, const char *text)
{
    *n += (size_t)snprintf(doc + *n, cap - *n, "%s", text);
    assert_true(*n < cap);
}

/*
 * Append the KeyValue {"key": key, "value": ...} whose value is `levels`
 * arrayValues (each adding an ArrayValue and an AnyValue: 2 messages) or,
 * with kvlists, kvlistValues holding one KeyValue "k" (a KeyValueList, a
 * KeyValue and an AnyValue: 3), one in the other, around the AnyValue inner;
 * with key NULL that value alone.
 */
static inline void put_nested(char *doc, size_t cap, size_t *n, const char *key, int levels,
                              bool kvlists, const char *inner)
{
    const char *open = kvlists ? "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":"
                               : "{\"arrayValue\":{\"values\":[";
    if (key)
        *n += (size_t)snprintf(doc + *n, cap - *n, "{\"key\":\"%s\",\"value\":", key);
    for (int i = 0; i < levels; i++)
        put_text(doc, cap, n, open);
    put_text(doc, cap, n, inner);
    for (int i = 0; i < levels; i++)
        put_text(doc, cap, n, kvlists ? "}]}}" : "]}}");
    if (key)
        put_text(doc, cap, n, "}");
}

/* Encode doc as `signal` into pb (initialised here) with the report; on
 * failure nothing is written and nothing reported. */
static inline int encode_dropped(enum dp_signal signal, const char *doc, size_t n, dp_buf *pb,
                                 dp_otlp_json_dropped *dropped, char *err, size_t errlen)
{
    dp_buf_init(pb, 0);
    dropped->attributes = 99;
    int rc = dp_otlp_json_encode_dropped(signal, doc, n, pb, dropped, err, errlen);
    if (rc != 0) {
        assert_int_equal(pb->len, 0);
        assert_int_equal(dropped->attributes, 0);
    }
    return rc;
}

/* Encode doc as `signal` into pb, which must work, leaving out `attributes`
 * attributes, the first at the JSON path `first`. */
static inline void encode_leaving_out(enum dp_signal signal, const char *doc, size_t n, dp_buf *pb,
                                      size_t attributes, const char *first)
{
    dp_otlp_json_dropped dropped;
    char err[256];
    assert_int_equal(encode_dropped(signal, doc, n, pb, &dropped, err, sizeof err), 0);
    assert_int_equal(dropped.attributes, attributes);
    assert_string_equal(dropped.first, first);
}

#endif

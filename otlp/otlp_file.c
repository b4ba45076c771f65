/*
 * Trace files → one encoded ExportTraceServiceRequest, parsed (see
 * otlp_file.h).
 *
 * A file is binary protobuf (one ExportTraceServiceRequest) or OTLP/JSON,
 * told apart by its first non-blank byte ('{' = JSON). JSON files hold one
 * request per line, as the OpenTelemetry Collector's file exporter writes
 * them, or any sequence of whole JSON objects; each is encoded and appended
 * to the file's request. Errors say where: "PATH:LINE: ..." for JSON,
 * "PATH: offset N: ..." for protobuf.
 */
#include "otlp_file.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_read.h"
#include "otlp_internal.h"

/* Largest trace file read into memory in one piece. */
#define DP_OTLP_FILE_MAX (512u * 1024 * 1024)

/* The file's bytes become the request without a copy. */
static void swap_bufs(dp_buf *a, dp_buf *b)
{
    dp_buf t = *a;
    *a = *b;
    *b = t;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/*
 * Encode every JSON object of data into out. Returns 0; -1 with
 * "PATH:LINE: message" in err; or -2 when the very first object is not JSON
 * at all (the file may be protobuf that happens to start with "\n{").
 */
static int encode_json(const char *path, const char *data, size_t len, dp_buf *out, size_t *dropped,
                       char *err, size_t errlen)
{
    size_t pos = 0, line = 1, first;
    char why[384];

    /* a UTF-8 byte order mark may precede JSON */
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    for (first = SIZE_MAX;;) {
        while (pos < len && is_blank(data[pos])) {
            if (data[pos] == '\n')
                line++;
            pos++;
        }
        if (pos >= len)
            return 0;
        if (first == SIZE_MAX)
            first = pos;
        json_error_t jerr;
        json_t *root = json_loadb(data + pos, len - pos, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!root) {
            snprintf(err, errlen, "%s:%zu: invalid JSON (column %d): %s", path,
                     line + (jerr.line > 0 ? (size_t)jerr.line - 1 : 0), jerr.column, jerr.text);
            return pos == first ? -2 : -1;
        }
        dp_otlp_json_dropped deep;
        int rc = dp_otlp_json_encode_tree(root, out, &deep, why, sizeof why);
        json_decref(root);
        if (rc < 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, line, why);
            return -1;
        }
        *dropped += deep.attributes;
        /* jansson reports how many bytes the object took */
        size_t used = jerr.position;
        if (used == 0 || used > len - pos) {
            snprintf(err, errlen, "%s:%zu: cannot find the end of the JSON object", path, line);
            return -1;
        }
        for (size_t i = pos; i < pos + used; i++)
            if (data[i] == '\n')
                line++;
        pos += used;
    }
}

/* Parse the file's request as the receiver would; `from` says what the
 * bytes are when they are not the file's own ("" or " (its OTLP/JSON as
 * protobuf)"). */
static int parse_request(const char *path, const char *from, dp_buf *bytes, dp_arena *arena,
                         dp_otlp_trace_batch *batch, char *err, size_t errlen)
{
    char why[256];
    int rc = dp_otlp_trace_batch_parse((const uint8_t *)bytes->data, bytes->len, arena, batch, why,
                                       sizeof why);
    if (rc == DP_OTLP_ENOMEM) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (rc != DP_OTLP_OK) {
        /* wire errors already start with "offset N: " */
        snprintf(err, errlen, "%s%s: %s%s", path, from,
                 strncmp(why, "offset ", 7) == 0 ? "" : "offset 0: ", why);
        return -1;
    }
    if (batch->rejected) {
        snprintf(err, errlen, "%s%s: offset %zu: %s (%zu unusable span%s)", path, from,
                 batch->reject_offset, batch->reject_message, batch->rejected,
                 batch->rejected == 1 ? "" : "s");
        return -1;
    }
    return 0;
}

int dp_otlp_file_read(const char *path, dp_arena *arena, dp_buf *bytes, dp_otlp_trace_batch *batch,
                      char *err, size_t errlen)
{
    char scratch[8];
    dp_buf text;
    size_t i = 0;
    int rc = -1;

    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    memset(batch, 0, sizeof *batch);
    dp_buf_reset(bytes);
    dp_buf_init(&text, 0);
    if (dp_file_read(path, DP_OTLP_FILE_MAX, &text, err, errlen) < 0)
        goto out;
    /* a UTF-8 byte order mark may precede JSON */
    if (text.len >= 3 && memcmp(text.data, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < text.len && is_blank(text.data[i]))
        i++;
    if (i == text.len) {
        /* empty or only blanks: no spans either way (as protobuf it could
         * only hold unknown fields) */
        rc = 0;
        goto out;
    }
    if (text.data[i] == '{') {
        size_t dropped = 0;
        rc = encode_json(path, text.data, text.len, bytes, &dropped, err, errlen);
        if (rc == 0) {
            rc = parse_request(path, " (its OTLP/JSON as protobuf)", bytes, arena, batch, err,
                               errlen);
            /* left out by the encoder rather than by the parse: counted the same */
            batch->attributes_dropped += dropped;
            goto out;
        }
        /* Binary requests begin with 0x0a (field 1, length-delimited), which
         * is also '\n'; the next byte may happen to be '{'. When such a file
         * is not JSON at all, it may still be protobuf. */
        if (rc != -2)
            goto out;
        char perr[8];
        swap_bufs(bytes, &text);
        rc = parse_request(path, "", bytes, arena, batch, perr, sizeof perr);
        /* the JSON error explains it best */
        goto out;
    }
    /* protobuf: the file's bytes are the request */
    swap_bufs(bytes, &text);
    rc = parse_request(path, "", bytes, arena, batch, err, errlen);
out:
    if (rc < 0) {
        memset(batch, 0, sizeof *batch);
        rc = -1;
    }
    dp_buf_free(&text);
    return rc;
}

/*
 * `dagprof report FILE...`: OTLP trace files → dp_span list.
 *
 * A file is binary protobuf (one ExportTraceServiceRequest) or OTLP/JSON,
 * told apart by its first non-blank byte ('{' = JSON). JSON files hold one
 * request per line, as the OpenTelemetry Collector's file exporter writes
 * them, or any sequence of whole JSON objects (a pretty-printed request
 * spanning the file is one such object). Errors say where: "PATH:LINE: ..."
 * for JSON, "PATH: offset N: ..." for protobuf.
 */
#include "otlp_file.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "decode.h"
#include "otlp_internal.h"

/* Largest trace file read into memory in one piece. */
#define DP_OTLP_FILE_MAX (512u * 1024 * 1024)

static int read_whole_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    FILE *f = NULL;
    struct stat st;
    char *buf = NULL;
    int rc = -1;

    f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fileno(f), &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > DP_OTLP_FILE_MAX) {
        snprintf(err, errlen, "%s: %lld bytes, over the %u-byte limit for one file", path,
                 (long long)st.st_size, DP_OTLP_FILE_MAX);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (f)
        fclose(f);
    return rc;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int read_protobuf(const char *path, const uint8_t *data, size_t len, dp_arena *arena,
                         dp_span_list *list, char *err, size_t errlen)
{
    dp_otlp_trace_batch batch;
    char why[256];
    const dp_attr **res_attrs = NULL;
    size_t *res_counts = NULL;
    size_t before = list->count;
    int rc;

    rc = dp_otlp_trace_batch_parse(data, len, arena, &batch, why, sizeof why);
    if (rc != DP_OTLP_OK) {
        /* wire errors already start with "offset N: " */
        if (strncmp(why, "offset ", 7) == 0)
            snprintf(err, errlen, "%s: %s", path, why);
        else
            snprintf(err, errlen, "%s: offset 0: %s", path, why);
        return -1;
    }
    if (batch.rejected) {
        snprintf(err, errlen, "%s: offset %zu: %s (%zu unusable span%s)", path, batch.reject_offset,
                 batch.reject_message, batch.rejected, batch.rejected == 1 ? "" : "s");
        return -1;
    }
    /* resources are decoded once and shared by their spans */
    res_attrs = dp_arena_calloc(arena, batch.resource_count + 1, sizeof *res_attrs);
    res_counts = dp_arena_calloc(arena, batch.resource_count + 1, sizeof *res_counts);
    if (!res_attrs || !res_counts)
        goto nomem;
    for (size_t i = 0; i < batch.resource_count; i++) {
        rc = dp_otlp_resource_decode(batch.resources[i].resource_raw, arena, &res_attrs[i],
                                     &res_counts[i]);
        if (rc == DP_OTLP_ENOMEM)
            goto nomem;
        if (rc != DP_OTLP_OK) {
            snprintf(err, errlen, "%s: offset %zu: resource_spans[%zu].resource does not decode",
                     path, (size_t)((const uint8_t *)batch.resources[i].resource_raw.ptr - data),
                     i);
            goto fail;
        }
    }
    for (size_t i = 0; i < batch.span_count; i++) {
        const dp_span_ref *ref = &batch.spans[i];
        uint32_t res = batch.scopes[ref->scope_index].resource_index;
        dp_span s;
        rc = dp_otlp_span_decode(ref->raw, DP_STR_NULL, arena, &s);
        if (rc == DP_OTLP_ENOMEM)
            goto nomem;
        if (rc != DP_OTLP_OK) {
            snprintf(err, errlen, "%s: offset %zu: span does not decode", path,
                     (size_t)((const uint8_t *)ref->raw.ptr - data));
            goto fail;
        }
        s.resource_attrs = res_attrs[res];
        s.resource_attr_count = res_counts[res];
        s.scope_name = dp_otlp_scope_name(batch.scopes[ref->scope_index].scope_raw);
        if (dp_otlp_span_list_push(list, arena, &s) < 0)
            goto nomem;
    }
    return 0;
nomem:
    snprintf(err, errlen, "%s: out of memory", path);
fail:
    list->count = before;
    return -1;
}

static int read_json(const char *path, const char *data, size_t len, dp_arena *arena,
                     dp_span_list *list, char *err, size_t errlen)
{
    size_t pos = 0, line = 1, before = list->count, first;
    char why[384];

    /* a UTF-8 byte order mark may precede JSON */
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len && is_blank(data[pos])) {
        if (data[pos] == '\n')
            line++;
        pos++;
    }
    first = pos;

    for (;;) {
        while (pos < len && is_blank(data[pos])) {
            if (data[pos] == '\n')
                line++;
            pos++;
        }
        if (pos >= len)
            return 0;
        json_error_t jerr;
        json_t *root = json_loadb(data + pos, len - pos, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!root) {
            snprintf(err, errlen, "%s:%zu: invalid JSON (column %d): %s", path,
                     line + (jerr.line > 0 ? (size_t)jerr.line - 1 : 0), jerr.column, jerr.text);
            list->count = before;
            /* the very first object unreadable: maybe not JSON at all */
            return pos == first ? -2 : -1;
        }
        int rc = dp_otlp_json_request(root, arena, list, why, sizeof why);
        json_decref(root);
        if (rc < 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, line, why);
            goto fail;
        }
        /* jansson reports how many bytes the object took */
        size_t used = jerr.position;
        if (used == 0 || used > len - pos) {
            snprintf(err, errlen, "%s:%zu: cannot find the end of the JSON object", path, line);
            goto fail;
        }
        for (size_t i = pos; i < pos + used; i++)
            if (data[i] == '\n')
                line++;
        pos += used;
    }
fail:
    list->count = before;
    return -1;
}

/* Decoded protobuf spans are views into the bytes they were decoded from, so
 * those bytes must live as long as the spans: in the caller's arena. */
static int read_protobuf_kept(const char *path, const char *data, size_t len, dp_arena *arena,
                              dp_span_list *list, char *err, size_t errlen)
{
    uint8_t *kept = dp_arena_alloc(arena, len ? len : 1);
    if (!kept) {
        snprintf(err, errlen, "%s: out of memory (%zu bytes)", path, len);
        return -1;
    }
    memcpy(kept, data, len);
    return read_protobuf(path, kept, len, arena, list, err, errlen);
}

int dp_otlp_file_read(const char *path, dp_arena *arena, dp_span_list *list, char *err,
                      size_t errlen)
{
    char scratch[8];
    char *data = NULL;
    size_t len = 0, i = 0;
    int rc;

    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    if (read_whole_file(path, &data, &len, err, errlen) < 0)
        return -1;
    /* a UTF-8 byte order mark may precede JSON */
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < len && is_blank(data[i]))
        i++;
    if (i == len) {
        /* empty or only blanks: no spans either way (as protobuf it could
         * only hold unknown fields) */
        rc = 0;
    } else if (data[i] == '{') {
        rc = read_json(path, data, len, arena, list, err, errlen);
        /* Binary requests begin with 0x0a (field 1, length-delimited), which
         * is also '\n'; the next byte may happen to be '{'. When such a file
         * is not JSON at all, it may still be protobuf. */
        if (rc == -2) {
            char perr[8];
            rc = read_protobuf_kept(path, data, len, arena, list, perr, sizeof perr);
            if (rc < 0)
                rc = -1; /* the JSON error explains it best */
        }
    } else {
        rc = read_protobuf_kept(path, data, len, arena, list, err, errlen);
    }
    free(data);
    return rc;
}

/*
 * libyaml document loading with the file name and line in every error; see
 * yaml_util.h. The whole file is read into memory first (it is capped) so
 * the size limit holds before libyaml allocates anything.
 */
#include "yaml_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_capped(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen)
{
    int result = -1;
    unsigned char *data = NULL;
    size_t used = 0, cap = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    /* the buffer grows with what is read, up to one byte past the limit
     * (enough to tell that the file is over it), so a small file never
     * costs the limit's worth of memory */
    for (;;) {
        if (used == cap) {
            if (cap > DP_YAML_MAX_FILE_BYTES)
                break;
            size_t grown = cap ? 2 * cap : 16 * 1024;
            if (grown > (size_t)DP_YAML_MAX_FILE_BYTES + 1)
                grown = (size_t)DP_YAML_MAX_FILE_BYTES + 1;
            unsigned char *bigger = realloc(data, grown);
            if (!bigger) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            data = bigger;
            cap = grown;
        }
        size_t n = fread(data + used, 1, cap - used, f);
        used += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    if (used > DP_YAML_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: file is larger than %d bytes", path, DP_YAML_MAX_FILE_BYTES);
        goto out;
    }
    if (!data && !(data = malloc(1))) { /* an empty file: still a buffer to hand over */
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    *out = data;
    *len = used;
    data = NULL;
    result = 0;
out:
    free(data);
    if (f)
        fclose(f);
    return result;
}

static void syntax_error(const yaml_parser_t *p, const char *path, char *err, size_t errlen)
{
    const char *problem = p->problem ? p->problem : "not valid YAML";
    if (p->context)
        snprintf(err, errlen, "%s:%lu: YAML syntax error: %s %s", path,
                 (unsigned long)p->problem_mark.line + 1, p->context, problem);
    else
        snprintf(err, errlen, "%s:%lu: YAML syntax error: %s", path,
                 (unsigned long)p->problem_mark.line + 1, problem);
}

int dp_yaml_load_file(const char *path, yaml_document_t *doc, char *err, size_t errlen)
{
    int result = -1;
    unsigned char *data = NULL;
    size_t len = 0;
    yaml_parser_t parser;
    yaml_document_t extra;
    bool parser_ready = false, doc_ready = false;

    if (read_capped(path, &data, &len, err, errlen) < 0)
        goto out;
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    parser_ready = true;
    yaml_parser_set_input_string(&parser, data, len);
    if (!yaml_parser_load(&parser, doc)) {
        syntax_error(&parser, path, err, errlen);
        goto out;
    }
    doc_ready = true;
    /* A second document would be silently ignored by a one-document read;
     * say so instead. */
    if (yaml_document_get_root_node(doc)) {
        if (!yaml_parser_load(&parser, &extra)) {
            syntax_error(&parser, path, err, errlen);
            goto out;
        }
        yaml_node_t *root = yaml_document_get_root_node(&extra);
        if (root) {
            snprintf(err, errlen, "%s:%lu: only one YAML document is allowed", path,
                     dp_yaml_line(root));
            yaml_document_delete(&extra);
            goto out;
        }
        yaml_document_delete(&extra);
    }
    result = 0;
out:
    if (result < 0 && doc_ready)
        yaml_document_delete(doc);
    if (parser_ready)
        yaml_parser_delete(&parser);
    free(data);
    return result;
}

bool dp_yaml_is_null(const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return false;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    return len == 0 || (len == 1 && v[0] == '~') ||
           (len == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

const char *dp_yaml_kind_name(const yaml_node_t *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return dp_yaml_is_null(n) ? "nothing" : "a value";
    default:
        return "nothing";
    }
}

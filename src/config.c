/*
 * dagprof's configuration: one parser over every section that
 * config_table.c lists, whichever module declares it: the defaults, the
 * YAML config file, single keys set from the command line, the rules that
 * join two keys of a section, the environment under the upstream section
 * and the rule that joins the upstream with the receiver, and the price
 * table (built-ins + price file).
 *
 * The YAML file is a mapping of sections to mappings of keys to scalars:
 *     server:
 *       listen: 0.0.0.0:4317
 * A key whose name has a dot (server's tls.cert_file) may also be written
 * nested, as the Collector's files do:
 *     server:
 *       tls:
 *         cert_file: server.crt
 * Loading is all-or-nothing: it works on a copy and only replaces the
 * caller's config when the whole file was valid.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_expand.h"
#include "config_table.h"
#include "log.h"
#include "price_file.h"
#include "yaml_util.h"

/* More than the number of keys of all sections together. */
#define MAX_KEYS_SEEN 128

/* Room for a value once its ${env:NAME} references are expanded: more than
 * the longest string key (upstream.headers). */
#define EXPANDED_MAX 4224

void dp_config_defaults(dp_config *c)
{
    memset(c, 0, sizeof(*c)); /* prices: none loaded yet */
    for (size_t i = 0; i < dp_config_part_count; i++)
        dp_config_section_defaults(dp_config_part_base(c, &dp_config_parts[i]),
                                   dp_config_parts[i].section);
}

/* ---- rules joining two keys ---------------------------------------------- */

/* 0 when every section's rules hold; else -1, the message and the two keys. */
static int broken_rule(const dp_config *c, char *err, size_t errlen, const dp_config_key **high,
                       const dp_config_key **low)
{
    for (size_t i = 0; i < dp_config_part_count; i++) {
        const dp_config_part *p = &dp_config_parts[i];
        if (dp_config_section_check_rules(dp_config_part_const_base(c, p), p->section, err, errlen,
                                          high, low) < 0)
            return -1;
    }
    return 0;
}

int dp_config_validate(const dp_config *c, char *err, size_t errlen)
{
    const dp_config_key *high, *low;
    return broken_rule(c, err, errlen, &high, &low);
}

/* ---- one key from the command line ---------------------------------------- */

int dp_config_set(dp_config *c, const char *path, const char *value, char *err, size_t errlen)
{
    char allowed[768];
    const char *dot = strchr(path, '.');
    size_t section_len = dot ? (size_t)(dot - path) : strlen(path);
    const dp_config_part *p = dp_config_part_find(path, section_len);
    if (!p) {
        dp_config_section_names(allowed, sizeof(allowed));
        snprintf(err, errlen, "unknown section '%.*s' (allowed: %s)", (int)section_len, path,
                 allowed);
        return -1;
    }
    const dp_config_section *s = p->section;
    if (!dot) {
        dp_config_key_names(s, allowed, sizeof(allowed));
        snprintf(err, errlen, "'%s' names a section, not a key (allowed keys: %s)", path, allowed);
        return -1;
    }
    const dp_config_key *k = dp_config_key_find(s, dot + 1, strlen(dot + 1));
    if (!k) {
        dp_config_key_names(s, allowed, sizeof(allowed));
        snprintf(err, errlen, "unknown key '%s' in section '%s' (allowed: %s)", dot + 1, s->name,
                 allowed);
        return -1;
    }
    return dp_config_key_set(dp_config_part_base(c, p), s, k, value, strlen(value), err, errlen);
}

/* ---- the YAML file ------------------------------------------------------- */

typedef struct load_ctx {
    const char *path;
    char *err;
    size_t errlen;
    yaml_document_t *doc;
    struct {
        const dp_config_key *key;
        unsigned long line;
    } seen[MAX_KEYS_SEEN];
    size_t seen_count;
} load_ctx;

static int fail(load_ctx *x, const yaml_node_t *at, const char *msg)
{
    snprintf(x->err, x->errlen, "%s:%lu: %s", x->path, dp_yaml_line(at), msg);
    return -1;
}

static unsigned long seen_line(const load_ctx *x, const dp_config_key *k)
{
    for (size_t i = 0; i < x->seen_count; i++)
        if (x->seen[i].key == k)
            return x->seen[i].line;
    return 0;
}

/* Where an unset variable was referred to, for its warning. */
typedef struct unset_ctx {
    const load_ctx *x;
    const yaml_node_t *at;
    const dp_config_section *s;
    const dp_config_key *k;
} unset_ctx;

/* Like the Collector: a variable that is not set expands to "" with a warning. */
static void warn_unset(void *ctx, const char *name)
{
    const unset_ctx *u = ctx;
    dp_log_warn("config",
                "%s:%lu: %s.%s refers to the environment variable %s, which is not set: "
                "it expands to an empty value",
                u->x->path, dp_yaml_line(u->at), u->s->name, u->k->name, name);
}

/* Expand the ${env:NAME} references of a scalar's text (config_expand.h). */
static int expand_value(load_ctx *x, const dp_config_section *s, const dp_config_key *k,
                        const yaml_node_t *at, const unsigned char *text, size_t len, char *out,
                        size_t *outlen)
{
    char why[200], msg[320];
    unset_ctx u = {x, at, s, k};
    if (dp_config_expand_env((const char *)text, len, out, EXPANDED_MAX, outlen, warn_unset, &u,
                             why, sizeof(why)) == 0)
        return 0;
    snprintf(msg, sizeof(msg), "%s.%s: %s", s->name, k->name, why);
    return fail(x, at, msg);
}

/* The text of a mapping key; keys must be plain strings. */
static int key_text(load_ctx *x, const yaml_node_t *n, const char *what, const char **text,
                    size_t *len)
{
    char msg[128];
    if (n->type != YAML_SCALAR_NODE) {
        snprintf(msg, sizeof(msg), "expected a %s name, got %s", what, dp_yaml_kind_name(n));
        return fail(x, n, msg);
    }
    *text = (const char *)n->data.scalar.value;
    *len = n->data.scalar.length;
    return 0;
}

/* Append `text` percent-encoding what the "k=v,k2=v2" list form reserves. */
static int append_encoded(char *out, size_t cap, size_t *used, const unsigned char *text,
                          size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = text[i];
        bool plain = ch > ' ' && ch < 127 && ch != ',' && ch != '=' && ch != '%';
        if (*used + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[(*used)++] = (char)ch;
        } else {
            out[(*used)++] = '%';
            out[(*used)++] = hex[ch >> 4];
            out[(*used)++] = hex[ch & 15];
        }
    }
    out[*used] = '\0';
    return 0;
}

/*
 * A header list key (upstream.headers) may be a YAML mapping of header
 * names to values; it is turned into the "k1=v1,k2=v2" list form (values
 * percent-encoded) that flags and OTEL_EXPORTER_OTLP_HEADERS use, so all
 * three parse alike. Messages never quote a value: they are secrets.
 */
static int headers_from_mapping(load_ctx *x, const dp_config_section *s, const dp_config_key *key,
                                const yaml_node_t *map, char *out, size_t cap)
{
    char not_mapping[160], too_long[96];
    size_t used = 0;
    snprintf(not_mapping, sizeof(not_mapping),
             "%s.%s: expected a mapping of header names to values", s->name, key->name);
    snprintf(too_long, sizeof(too_long), "%s.%s: too long", s->name, key->name);
    out[0] = '\0';
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE ||
            k->data.scalar.length == 0)
            return fail(x, map, not_mapping);
        if (used) {
            if (used + 1 >= cap)
                return fail(x, map, too_long);
            out[used++] = ',';
        }
        if (append_encoded(out, cap, &used, k->data.scalar.value, k->data.scalar.length) < 0 ||
            used + 1 >= cap)
            return fail(x, map, too_long);
        out[used++] = '=';
        out[used] = '\0';
        char value[EXPANDED_MAX];
        size_t value_len;
        if (expand_value(x, s, key, v, v->data.scalar.value, v->data.scalar.length, value,
                         &value_len) < 0)
            return -1;
        if (append_encoded(out, cap, &used, (const unsigned char *)value, value_len) < 0)
            return fail(x, map, too_long);
    }
    return 0;
}

/* True when some key of `s` is named "NAME.something" (name is len bytes). */
static bool is_key_group(const dp_config_section *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->key_count; i++)
        if (strncmp(s->keys[i].name, name, len) == 0 && s->keys[i].name[len] == '.')
            return true;
    return false;
}

/* A list key (DP_CONFIG_LIST) written as a YAML list: its items joined with commas. */
static int list_from_sequence(load_ctx *x, const dp_config_section *s, const dp_config_key *key,
                              const yaml_node_t *seq, char *out, size_t cap)
{
    char msg[200];
    size_t used = 0;
    out[0] = '\0';
    for (const yaml_node_item_t *i = seq->data.sequence.items.start;
         i < seq->data.sequence.items.top; i++) {
        const yaml_node_t *v = yaml_document_get_node(x->doc, *i);
        char item[EXPANDED_MAX];
        size_t len;
        if (!v || v->type != YAML_SCALAR_NODE) {
            snprintf(msg, sizeof(msg), "%s.%s: expected a list of values", s->name, key->name);
            return fail(x, v ? v : seq, msg);
        }
        if (expand_value(x, s, key, v, v->data.scalar.value, v->data.scalar.length, item, &len) < 0)
            return -1;
        if (memchr(item, ',', len)) {
            snprintf(msg, sizeof(msg), "%s.%s: a list item may not contain ','", s->name,
                     key->name);
            return fail(x, v, msg);
        }
        if (used + len + 2 >= cap) {
            snprintf(msg, sizeof(msg), "%s.%s: too long", s->name, key->name);
            return fail(x, v, msg);
        }
        if (used)
            out[used++] = ',';
        memcpy(out + used, item, len);
        used += len;
        out[used] = '\0';
    }
    return 0;
}

static int load_key(load_ctx *x, dp_config *c, const dp_config_part *part,
                    const yaml_node_t *key_node, const yaml_node_t *value, const char *prefix)
{
    const dp_config_section *s = part->section;
    void *base = dp_config_part_base(c, part);
    char msg[4200], allowed[768], full[128];
    const char *name;
    size_t len;
    if (key_text(x, key_node, "key", &name, &len) < 0)
        return -1;
    /* a key of a group may be written nested: "tls: {cert_file: x}" is "tls.cert_file" */
    int full_len = snprintf(full, sizeof(full), "%s%.*s", prefix, (int)(len > 64 ? 64 : len), name);
    const dp_config_key *k = dp_config_key_find(s, full, (size_t)full_len);
    if (!k && value->type == YAML_MAPPING_NODE && is_key_group(s, full, (size_t)full_len)) {
        strcat(full, ".");
        for (const yaml_node_pair_t *p = value->data.mapping.pairs.start;
             p < value->data.mapping.pairs.top; p++) {
            const yaml_node_t *sub_key = yaml_document_get_node(x->doc, p->key);
            const yaml_node_t *sub_value = yaml_document_get_node(x->doc, p->value);
            if (!sub_key || !sub_value)
                return fail(x, value, "malformed YAML mapping");
            if (load_key(x, c, part, sub_key, sub_value, full) < 0)
                return -1;
        }
        return 0;
    }
    if (!k) {
        dp_config_key_names(s, allowed, sizeof(allowed));
        snprintf(msg, sizeof(msg), "unknown key '%s' in section '%s' (allowed: %s)", full, s->name,
                 allowed);
        return fail(x, key_node, msg);
    }
    unsigned long first = seen_line(x, k);
    if (first) {
        snprintf(msg, sizeof(msg), "duplicate key '%s' in section '%s' (first set on line %lu)",
                 k->name, s->name, first);
        return fail(x, key_node, msg);
    }
    bool list = value->type == YAML_SEQUENCE_NODE && (k->traits & DP_CONFIG_LIST);
    if (list || (value->type == YAML_MAPPING_NODE && (k->traits & DP_CONFIG_HEADER_LIST))) {
        /* turned into the text form the flags use, then parsed as such */
        if ((list ? list_from_sequence(x, s, k, value, msg, sizeof(msg))
                  : headers_from_mapping(x, s, k, value, msg, sizeof(msg))) < 0)
            return -1;
        if (dp_config_key_set(base, s, k, msg, strlen(msg), msg, sizeof(msg)) < 0)
            return fail(x, value, msg);
        goto seen;
    }
    if (value->type != YAML_SCALAR_NODE || (dp_yaml_is_null(value) && k->type != DP_CFG_STRING)) {
        snprintf(msg, sizeof(msg), "%s.%s: expected a single %s value, got %s", s->name, k->name,
                 dp_config_type_name(k), dp_yaml_kind_name(value));
        return fail(x, value, msg);
    }
    /* a null string is the empty string ("file:" with nothing after it) */
    char text[EXPANDED_MAX];
    size_t text_len = 0;
    text[0] = '\0';
    if (!dp_yaml_is_null(value) && expand_value(x, s, k, value, value->data.scalar.value,
                                                value->data.scalar.length, text, &text_len) < 0)
        return -1;
    if (dp_config_key_set(base, s, k, text, text_len, msg, sizeof(msg)) < 0)
        return fail(x, value, msg);
seen:
    if (x->seen_count < MAX_KEYS_SEEN) {
        x->seen[x->seen_count].key = k;
        x->seen[x->seen_count].line = dp_yaml_line(key_node);
        x->seen_count++;
    }
    return 0;
}

static int load_section(load_ctx *x, dp_config *c, const yaml_node_t *name_node,
                        const yaml_node_t *body, const yaml_node_pair_t *pairs,
                        const yaml_node_pair_t *this_pair)
{
    char msg[1024], allowed[768];
    const char *name;
    size_t len;
    if (key_text(x, name_node, "section", &name, &len) < 0)
        return -1;
    const dp_config_part *part = dp_config_part_find(name, len);
    if (!part) {
        dp_config_section_names(allowed, sizeof(allowed));
        snprintf(msg, sizeof(msg), "unknown section '%.*s' (allowed: %s)",
                 (int)(len > 64 ? 64 : len), name, allowed);
        return fail(x, name_node, msg);
    }
    for (const yaml_node_pair_t *p = pairs; p < this_pair; p++) {
        const yaml_node_t *earlier = yaml_document_get_node(x->doc, p->key);
        if (earlier && earlier->type == YAML_SCALAR_NODE && earlier->data.scalar.length == len &&
            memcmp(earlier->data.scalar.value, name, len) == 0) {
            snprintf(msg, sizeof(msg), "duplicate section '%s' (first on line %lu)",
                     part->section->name, dp_yaml_line(earlier));
            return fail(x, name_node, msg);
        }
    }
    if (dp_yaml_is_null(body))
        return 0; /* "server:" with no keys under it */
    if (body->type != YAML_MAPPING_NODE) {
        dp_config_key_names(part->section, allowed, sizeof(allowed));
        snprintf(msg, sizeof(msg), "section '%s' must be a mapping of keys, got %s (allowed: %s)",
                 part->section->name, dp_yaml_kind_name(body), allowed);
        return fail(x, body, msg);
    }
    for (const yaml_node_pair_t *p = body->data.mapping.pairs.start;
         p < body->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (!k || !v)
            return fail(x, body, "malformed YAML mapping");
        if (load_key(x, c, part, k, v, "") < 0)
            return -1;
    }
    return 0;
}

int dp_config_load_file(dp_config *c, const char *path, char *err, size_t errlen)
{
    int result = -1;
    yaml_document_t doc;
    bool doc_ready = false;
    char msg[1024], allowed[768];
    /* all-or-nothing: fill a copy, replace the caller's config on success */
    dp_config next = *c;
    load_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    x->path = path;
    x->err = err;
    x->errlen = errlen;
    x->doc = &doc;

    if (dp_yaml_load_file(path, &doc, err, errlen) < 0)
        goto out;
    doc_ready = true;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || dp_yaml_is_null(root)) {
        result = 0; /* an empty file changes nothing */
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        dp_config_section_names(allowed, sizeof(allowed));
        snprintf(msg, sizeof(msg), "expected a mapping of sections, got %s (allowed: %s)",
                 dp_yaml_kind_name(root), allowed);
        fail(x, root, msg);
        goto out;
    }
    const yaml_node_pair_t *pairs = root->data.mapping.pairs.start;
    for (const yaml_node_pair_t *p = pairs; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        if (!k || !v) {
            fail(x, root, "malformed YAML mapping");
            goto out;
        }
        if (load_section(x, &next, k, v, pairs, p) < 0)
            goto out;
    }

    const dp_config_key *high, *low;
    if (broken_rule(&next, msg, sizeof(msg), &high, &low) < 0) {
        /* point at whichever of the two keys this file set (the high one first) */
        unsigned long line = seen_line(x, high);
        if (!line)
            line = seen_line(x, low);
        snprintf(err, errlen, "%s:%lu: %s", path, line, msg);
        goto out;
    }
    *c = next;
    result = 0;
out:
    if (doc_ready)
        yaml_document_delete(&doc);
    free(x);
    return result;
}

/* ---- the environment and the upstream ------------------------------------ */

/* Split "HOST:PORT" / "[V6]:PORT" (without a scheme) into host and port. */
static bool split_address(const char *a, char *host, size_t hostcap, long *port)
{
    const char *colon = strrchr(a, ':');
    if (!colon || !colon[1])
        return false;
    const char *h = a;
    size_t hlen = (size_t)(colon - a);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= hostcap)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char *end;
    *port = strtol(colon + 1, &end, 10);
    return *end == '\0';
}

static bool is_loopback_or_any(const char *h)
{
    return strcasecmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 ||
           strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || strcmp(h, "") == 0;
}

/*
 * True when sending to `endpoint` would reach this very dagprof: the same
 * port, and the same host or a loopback address while dagprof listens on
 * loopback or on every address. Forwarded spans would come back as late
 * runs, be forwarded again, and so on.
 */
static bool loops_back(const char *endpoint, const char *listen)
{
    char eh[256], lh[256];
    long ep, lp;
    if (!split_address(endpoint, eh, sizeof(eh), &ep) ||
        !split_address(listen, lh, sizeof(lh), &lp))
        return false;
    if (ep != lp || lp == 0)
        return false;
    if (strcasecmp(eh, lh) == 0)
        return true;
    return is_loopback_or_any(eh) && is_loopback_or_any(lh);
}

int dp_config_read_environment(dp_config *c, char *err, size_t errlen)
{
    int result = 0;
    dp_upstream_connection conn;
    if (dp_upstream_config_from_env(&c->upstream) != 0) {
        snprintf(err, errlen, "bad OTEL_EXPORTER_OTLP_* environment variable (see the log above)");
        return -1;
    }
    if (dp_upstream_config_check(&c->upstream) != 0) {
        snprintf(err, errlen, "unusable upstream endpoint (see the log above)");
        return -1;
    }
    for (int s = 0; s < DP_UPSTREAM_SIGNAL_COUNT && result == 0; s++) {
        dp_upstream_config_connection(&c->upstream, (dp_upstream_signal)s, &conn);
        /* the receiver of the upstream's protocol is the one that would loop */
        const char *own =
            conn.protocol == DP_UPSTREAM_HTTP_PROTOBUF ? c->server.http_listen : c->server.listen;
        if (conn.endpoint[0] && own[0] && loops_back(conn.endpoint, own)) {
            snprintf(err, errlen,
                     "the upstream endpoint %s is dagprof's own listen address %s: everything "
                     "sent there would come back (check upstream.endpoint and "
                     "OTEL_EXPORTER_OTLP_*ENDPOINT)",
                     conn.endpoint, own);
            result = -1;
        }
    }
    memset(&conn, 0, sizeof(conn)); /* it held the header values */
    return result;
}

/* ---- prices --------------------------------------------------------------- */

int dp_config_load_prices(dp_config *c, char *err, size_t errlen)
{
    int result = -1;
    dp_price_table *t = dp_price_table_create();
    if (!t) {
        snprintf(err, errlen, "out of memory creating the price table");
        goto out;
    }
    if (c->price_file[0] && dp_price_file_load(t, c->price_file, err, errlen) < 0)
        goto out;
    if (c->prices)
        dp_price_table_destroy(c->prices);
    c->prices = t;
    c->profile.prices = t;
    t = NULL;
    result = 0;
out:
    if (t)
        dp_price_table_destroy(t);
    return result;
}

void dp_config_release(dp_config *c)
{
    if (!c)
        return;
    if (c->prices)
        dp_price_table_destroy(c->prices);
    c->prices = NULL;
    c->profile.prices = NULL;
}

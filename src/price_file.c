/*
 * Reading the user's price file into the price table; see price_file.h.
 * Entries are validated in a first pass and added in a second so a file with
 * one bad entry changes nothing.
 */
#include "price_file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config_map.h"
#include "log.h"
#include "price_file_formats.h"
#include "yaml_util.h"

#define COMPONENT "prices"

enum price_field {
    F_MODEL,
    F_INPUT,
    F_OUTPUT,
    F_CACHE_READ,
    F_CACHE_WRITE,
    F_ABOVE_TOKENS,
    F_ABOVE_INPUT,
    F_ABOVE_OUTPUT,
    F_ABOVE_CACHE_READ,
    F_ABOVE_CACHE_WRITE,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "model",        "input",       "output",       "cache_read",       "cache_write",
    "above_tokens", "above_input", "above_output", "above_cache_read", "above_cache_write"};

#define ALLOWED_KEYS                                                                               \
    "model, input, output, cache_read, cache_write, above_tokens, above_input, above_output, "     \
    "above_cache_read, above_cache_write"

/* Prices above this are surely a unit mistake (USD per token, not per 1M). */
#define MAX_USD_PER_MTOK DP_PRICE_MAX_USD_PER_MTOK

typedef struct entry_nodes {
    const yaml_node_t *at;
    const yaml_node_t *field[F_COUNT];
} entry_nodes;

static int fail(char *err, size_t errlen, const char *path, const yaml_node_t *at, const char *msg)
{
    snprintf(err, errlen, "%s:%lu: %s", path, dp_yaml_line(at), msg);
    return -1;
}

static int find_field(const yaml_node_t *k)
{
    for (int f = 0; f < F_COUNT; f++)
        if (k->data.scalar.length == strlen(field_names[f]) &&
            memcmp(k->data.scalar.value, field_names[f], k->data.scalar.length) == 0)
            return f;
    return -1;
}

/* Collect the nodes of one entry, rejecting unknown, duplicate and missing fields. */
static int read_entry_nodes(yaml_document_t *doc, const yaml_node_t *item, const char *path,
                            entry_nodes *e, char *err, size_t errlen)
{
    char msg[256];
    memset(e, 0, sizeof(*e));
    e->at = item;
    if (item->type != YAML_MAPPING_NODE) {
        snprintf(msg, sizeof(msg),
                 "expected a price entry (model, input, output, cache_read, cache_write), got %s",
                 dp_yaml_kind_name(item));
        return fail(err, errlen, path, item, msg);
    }
    for (const yaml_node_pair_t *p = item->data.mapping.pairs.start;
         p < item->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || !v)
            return fail(err, errlen, path, item, "malformed YAML mapping");
        int f = k->type == YAML_SCALAR_NODE ? find_field(k) : -1;
        if (f < 0) {
            snprintf(msg, sizeof(msg),
                     "unknown key '%.*s' in price entry (allowed: " ALLOWED_KEYS ")",
                     k->type == YAML_SCALAR_NODE
                         ? (int)(k->data.scalar.length > 64 ? 64 : k->data.scalar.length)
                         : 0,
                     k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "");
            return fail(err, errlen, path, k, msg);
        }
        if (e->field[f]) {
            snprintf(msg, sizeof(msg), "duplicate key '%s' in price entry (first on line %lu)",
                     field_names[f], dp_yaml_line(e->field[f]));
            return fail(err, errlen, path, k, msg);
        }
        if (v->type != YAML_SCALAR_NODE || dp_yaml_is_null(v)) {
            snprintf(msg, sizeof(msg), "%s: expected %s, got %s", field_names[f],
                     f == F_MODEL ? "a model name pattern" : "a price in USD per 1M tokens",
                     dp_yaml_kind_name(v));
            return fail(err, errlen, path, v, msg);
        }
        e->field[f] = v;
    }
    for (int f = F_MODEL; f <= F_OUTPUT; f++) {
        if (!e->field[f]) {
            snprintf(msg, sizeof(msg),
                     "price entry lacks '%s' (model, input and output are "
                     "required)",
                     field_names[f]);
            return fail(err, errlen, path, item, msg);
        }
    }
    return 0;
}

static int read_price(const char *path, const yaml_node_t *v, enum price_field f, double *out,
                      char *err, size_t errlen)
{
    char msg[256];
    const char *text = (const char *)v->data.scalar.value;
    size_t len = v->data.scalar.length;
    if (dp_config_parse_number(text, len, out) < 0) {
        snprintf(msg, sizeof(msg), "%s: expected a price in USD per 1M tokens, got '%.*s'",
                 field_names[f], (int)(len > 40 ? 40 : len), text);
        return fail(err, errlen, path, v, msg);
    }
    if (*out < 0 || *out > MAX_USD_PER_MTOK) {
        snprintf(msg, sizeof(msg), "%s: '%.*s' is out of range (0..%g USD per 1M tokens)",
                 field_names[f], (int)(len > 40 ? 40 : len), text, MAX_USD_PER_MTOK);
        return fail(err, errlen, path, v, msg);
    }
    return 0;
}

/* The long-context tier: above_tokens and the above_* prices, each above_*
 * price defaulting to its base price. */
static int read_tier(const char *path, const entry_nodes *e, dp_model_price *p, char *err,
                     size_t errlen)
{
    static const enum price_field above[] = {F_ABOVE_INPUT, F_ABOVE_OUTPUT, F_ABOVE_CACHE_READ,
                                             F_ABOVE_CACHE_WRITE};
    double *dst[] = {&p->above_input_per_mtok, &p->above_output_per_mtok,
                     &p->above_cache_read_per_mtok, &p->above_cache_write_per_mtok};
    const double base[] = {p->input_per_mtok, p->output_per_mtok, p->cache_read_per_mtok,
                           p->cache_write_per_mtok};
    const yaml_node_t *any = NULL;
    for (size_t i = 0; i < 4; i++)
        if (e->field[above[i]] && !any)
            any = e->field[above[i]];
    const yaml_node_t *tokens = e->field[F_ABOVE_TOKENS];
    if (!tokens && !any)
        return 0;
    if (!tokens)
        return fail(err, errlen, path, any,
                    "an above_* price needs above_tokens (the prompt size it applies above)");
    if (!any)
        return fail(err, errlen, path, tokens,
                    "above_tokens needs at least one above_* price (above_input, above_output, "
                    "above_cache_read, above_cache_write)");
    double n;
    const char *text = (const char *)tokens->data.scalar.value;
    size_t len = tokens->data.scalar.length;
    if (dp_config_parse_number(text, len, &n) < 0 || !(n >= 1) || n > 1e12 ||
        n != (double)(uint64_t)n) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "above_tokens: expected a whole number of input tokens, got '%.*s'",
                 (int)(len > 40 ? 40 : len), text);
        return fail(err, errlen, path, tokens, msg);
    }
    p->tier_threshold = (uint64_t)n;
    for (size_t i = 0; i < 4; i++) {
        *dst[i] = base[i];
        if (e->field[above[i]] &&
            read_price(path, e->field[above[i]], above[i], dst[i], err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int load_yaml(dp_price_table *t, const char *path, char *err, size_t errlen)
{
    int result = -1;
    yaml_document_t doc;
    bool doc_ready = false;
    dp_model_price *prices = NULL;
    char **patterns = NULL;
    size_t count = 0;
    char msg[256];

    if (dp_yaml_load_file(path, &doc, err, errlen) < 0)
        goto out;
    doc_ready = true;
    const yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || dp_yaml_is_null(root)) {
        result = 0; /* an empty price file adds nothing */
        goto out;
    }
    if (root->type != YAML_SEQUENCE_NODE) {
        snprintf(msg, sizeof(msg), "expected a list of price entries ('- model: ...'), got %s",
                 dp_yaml_kind_name(root));
        fail(err, errlen, path, root, msg);
        goto out;
    }
    size_t n = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
    if (n > DP_PRICE_FILE_MAX_ENTRIES) {
        snprintf(err, errlen, "%s: %zu price entries, at most %d are allowed", path, n,
                 DP_PRICE_FILE_MAX_ENTRIES);
        goto out;
    }
    prices = calloc(n ? n : 1, sizeof(*prices));
    patterns = calloc(n ? n : 1, sizeof(*patterns));
    if (!prices || !patterns) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }

    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = yaml_document_get_node(&doc, root->data.sequence.items.start[i]);
        entry_nodes e;
        if (!item) {
            fail(err, errlen, path, root, "malformed YAML list");
            goto out;
        }
        if (read_entry_nodes(&doc, item, path, &e, err, errlen) < 0)
            goto out;
        const yaml_node_t *m = e.field[F_MODEL];
        if (m->data.scalar.length == 0 || m->data.scalar.length > 127) {
            fail(err, errlen, path, m, "model: the pattern must be 1 to 127 characters long");
            goto out;
        }
        for (size_t j = 0; j < count; j++) {
            if (strlen(patterns[j]) == m->data.scalar.length &&
                memcmp(patterns[j], m->data.scalar.value, m->data.scalar.length) == 0) {
                snprintf(msg, sizeof(msg), "duplicate model '%s' (an earlier entry has it)",
                         patterns[j]);
                fail(err, errlen, path, m, msg);
                goto out;
            }
        }
        patterns[count] = strndup((const char *)m->data.scalar.value, m->data.scalar.length);
        if (!patterns[count]) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto out;
        }
        dp_model_price *p = &prices[count++];
        p->pattern = patterns[count - 1];
        if (read_price(path, e.field[F_INPUT], F_INPUT, &p->input_per_mtok, err, errlen) < 0 ||
            read_price(path, e.field[F_OUTPUT], F_OUTPUT, &p->output_per_mtok, err, errlen) < 0)
            goto out;
        /* Without a cache price, assume no cache discount: the input price. */
        p->cache_read_per_mtok = p->input_per_mtok;
        p->cache_write_per_mtok = p->input_per_mtok;
        if (e.field[F_CACHE_READ] && read_price(path, e.field[F_CACHE_READ], F_CACHE_READ,
                                                &p->cache_read_per_mtok, err, errlen) < 0)
            goto out;
        if (e.field[F_CACHE_WRITE] && read_price(path, e.field[F_CACHE_WRITE], F_CACHE_WRITE,
                                                 &p->cache_write_per_mtok, err, errlen) < 0)
            goto out;
        if (read_tier(path, &e, p, err, errlen) < 0)
            goto out;
    }

    for (size_t i = 0; i < count; i++) {
        if (dp_price_table_set(t, &prices[i]) < 0) {
            snprintf(err, errlen, "%s: cannot add the price of '%s' (out of memory)", path,
                     prices[i].pattern);
            goto out;
        }
    }
    result = 0;
out:
    if (patterns)
        for (size_t i = 0; i < count; i++)
            free(patterns[i]);
    free(patterns);
    free(prices);
    if (doc_ready)
        yaml_document_delete(&doc);
    return result;
}

/* The first byte that is not white space (or a UTF-8 byte order mark); 0
 * for an empty file, -1 when it cannot be read. */
static int first_byte(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    int c;
    while ((c = fgetc(f)) != EOF)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != 0xEF && c != 0xBB && c != 0xBF)
            break;
    fclose(f);
    return c == EOF ? 0 : c;
}

static void today_utc(char out[11])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static int load_any(dp_price_table *t, const char *path, char *err, size_t errlen);

/* A load that fails leaves the table as it was: what it added is taken back. */
int dp_price_file_load(dp_price_table *t, const char *path, char *err, size_t errlen)
{
    dp_price_table_mark before = dp_price_table_mark_now(t);
    int rc = load_any(t, path, err, errlen);
    if (rc < 0)
        dp_price_table_rollback(t, before);
    return rc;
}

static int load_any(dp_price_table *t, const char *path, char *err, size_t errlen)
{
    int c = first_byte(path);
    /* '{': LiteLLM's object keyed by model; '[': genai-prices' provider list
     * when it is one (a JSON list of '{model: ...}' entries is YAML too) */
    if (c != '{' && c != '[')
        return dp_price_table_set_origin(t, path) < 0 ? -1 : load_yaml(t, path, err, errlen);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root) {
        if (jerr.line > 0)
            snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        else
            snprintf(err, errlen, "%s: %s", path, jerr.text);
        return -1;
    }
    int result = -1;
    dp_price_file_stats stats;
    const char *format = NULL;
    if (json_is_object(root)) {
        format = "LiteLLM";
        result = dp_price_file_load_litellm(t, path, root, &stats, err, errlen);
    } else if (dp_price_file_is_genai(root)) {
        char today[11];
        today_utc(today);
        format = "genai-prices";
        result = dp_price_file_load_genai(t, path, root, today, &stats, err, errlen);
    }
    json_decref(root);
    if (!format)
        return dp_price_table_set_origin(t, path) < 0 ? -1 : load_yaml(t, path, err, errlen);
    if (result == 0) {
        if (dp_price_table_set_origin(t, path) < 0) {
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }
        dp_log_info(COMPONENT,
                    "%s (%s format): %zu prices loaded, %zu entries skipped (no token price)", path,
                    format, stats.loaded, stats.skipped);
    }
    return result;
}

/*
 * LiteLLM's model_prices_and_context_window.json as a price file: an object
 * keyed by model name, prices in USD per token (converted here to USD per
 * 1M tokens). An entry's key is its one model name; litellm_provider is its
 * provider group. Entries without a token price (images, audio seconds,
 * "sample_spec") are skipped; a long-context tier comes from the
 * "*_above_<N>k_tokens" keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "price_file.h"
#include "price_file_formats.h"

#define COMPONENT "prices"

enum litellm_field { L_INPUT, L_OUTPUT, L_CACHE_READ, L_CACHE_WRITE, L_COUNT };

static const char *const litellm_keys[L_COUNT] = {"input_cost_per_token", "output_cost_per_token",
                                                  "cache_read_input_token_cost",
                                                  "cache_creation_input_token_cost"};

typedef struct litellm_entry {
    dp_model_price price;
    const char *provider; /* view into the document, or NULL */
} litellm_entry;

/* A number (or a numeric string) of USD per token as USD per 1M tokens. */
static int per_mtok(const char *path, const char *model, const char *key, const json_t *v,
                    double *out, char *err, size_t errlen)
{
    double x;
    if (json_is_number(v)) {
        x = json_number_value(v);
    } else {
        const char *s = json_string_value(v);
        char *end = NULL;
        x = s ? strtod(s, &end) : 0;
        if (!s || end == s || *end) {
            snprintf(err, errlen, "%s: model '%.128s': %s: expected a number (USD per token)", path,
                     model, key);
            return -1;
        }
    }
    x *= 1e6;
    if (!(x >= 0) || x > DP_PRICE_MAX_USD_PER_MTOK) {
        snprintf(err, errlen, "%s: model '%.128s': %s: %g USD per 1M tokens is out of range", path,
                 model, key, x);
        return -1;
    }
    *out = x;
    return 0;
}

/* "<base>_above_<N>k_tokens" -> field and N * 1000; -1 when key is not one. */
static int tier_key(const char *key, uint64_t *threshold)
{
    for (int f = 0; f < L_COUNT; f++) {
        size_t n = strlen(litellm_keys[f]);
        if (strncmp(key, litellm_keys[f], n) != 0 || strncmp(key + n, "_above_", 7) != 0)
            continue;
        const char *d = key + n + 7;
        char *end = NULL;
        unsigned long long k = strtoull(d, &end, 10);
        if (end == d || strcmp(end, "k_tokens") != 0 || k == 0 || k > 100000000)
            return -1;
        *threshold = (uint64_t)k * 1000;
        return f;
    }
    return -1;
}

/* Read one entry; 1 = priced, 0 = skipped (reason in *why), -1 = error. */
static int read_entry(const char *path, const char *model, const json_t *obj, litellm_entry *e,
                      const char **why, char *err, size_t errlen)
{
    double base[L_COUNT], above[L_COUNT];
    bool has[L_COUNT] = {false}, has_above[L_COUNT] = {false};
    uint64_t threshold = 0;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        uint64_t th = 0;
        if (json_is_null(v))
            continue; /* a price left empty: as if absent */
        int f = tier_key(key, &th);
        if (f >= 0) {
            if (threshold && th != threshold) {
                *why = "prices above two different prompt sizes (one tier is supported)";
                return 0;
            }
            threshold = th;
            if (per_mtok(path, model, key, v, &above[f], err, errlen) < 0)
                return -1;
            has_above[f] = true;
            continue;
        }
        for (f = 0; f < L_COUNT; f++) {
            if (strcmp(key, litellm_keys[f]) == 0) {
                if (per_mtok(path, model, key, v, &base[f], err, errlen) < 0)
                    return -1;
                has[f] = true;
            }
        }
    }
    if (!has[L_INPUT] && !has[L_OUTPUT]) {
        *why = "no token price";
        return 0;
    }
    if (strlen(model) > 256) {
        *why = "name longer than 256 bytes";
        return 0;
    }
    dp_model_price *p = &e->price;
    memset(p, 0, sizeof(*p));
    p->pattern = model;
    p->input_per_mtok = has[L_INPUT] ? base[L_INPUT] : 0;
    p->output_per_mtok = has[L_OUTPUT] ? base[L_OUTPUT] : 0;
    /* without a cache price, no cache discount: the input price */
    p->cache_read_per_mtok = has[L_CACHE_READ] ? base[L_CACHE_READ] : p->input_per_mtok;
    p->cache_write_per_mtok = has[L_CACHE_WRITE] ? base[L_CACHE_WRITE] : p->input_per_mtok;
    if (threshold) {
        /* a price without its own above-threshold key keeps its base price */
        p->tier_threshold = threshold;
        p->above_input_per_mtok = has_above[L_INPUT] ? above[L_INPUT] : p->input_per_mtok;
        p->above_output_per_mtok = has_above[L_OUTPUT] ? above[L_OUTPUT] : p->output_per_mtok;
        p->above_cache_read_per_mtok =
            has_above[L_CACHE_READ] ? above[L_CACHE_READ] : p->cache_read_per_mtok;
        p->above_cache_write_per_mtok =
            has_above[L_CACHE_WRITE] ? above[L_CACHE_WRITE] : p->cache_write_per_mtok;
    }
    e->provider = json_string_value(json_object_get(obj, "litellm_provider"));
    return 1;
}

typedef struct provider_groups {
    const char **ids; /* views into the document */
    int *index;       /* the table's group index of ids[i] */
    size_t count;
} provider_groups;

/* The group index of provider, added on first sight; -1 on out of memory. */
static int provider_group(dp_price_table *t, provider_groups *pg, const char *provider)
{
    for (size_t i = 0; i < pg->count; i++)
        if (strcmp(pg->ids[i], provider) == 0)
            return pg->index[i];
    int g = dp_price_table_add_group(t, provider, (dp_price_matcher){NULL, NULL, NULL});
    if (g >= 0) {
        pg->ids[pg->count] = provider;
        pg->index[pg->count++] = g;
    }
    return g;
}

int dp_price_file_load_litellm(dp_price_table *t, const char *path, const json_t *root,
                               dp_price_file_stats *stats, char *err, size_t errlen)
{
    int result = -1;
    size_t n = json_object_size(root), count = 0;
    litellm_entry *entries = NULL;
    provider_groups groups = {NULL, NULL, 0};
    memset(stats, 0, sizeof(*stats));
    if (n > DP_PRICE_FILE_MAX_ENTRIES) {
        snprintf(err, errlen, "%s: %zu price entries, at most %d are allowed", path, n,
                 DP_PRICE_FILE_MAX_ENTRIES);
        goto out;
    }
    entries = calloc(n ? n : 1, sizeof(*entries));
    groups.ids = calloc(n ? n : 1, sizeof(*groups.ids));
    groups.index = calloc(n ? n : 1, sizeof(*groups.index));
    if (!entries || !groups.ids || !groups.index) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    const char *model;
    const json_t *v;
    json_object_foreach((json_t *)root, model, v)
    {
        const char *why = NULL;
        if (strcmp(model, "sample_spec") == 0)
            continue;
        if (!json_is_object(v)) {
            snprintf(err, errlen, "%s: model '%.128s': expected an object of prices", path, model);
            goto out;
        }
        int rc = read_entry(path, model, v, &entries[count], &why, err, errlen);
        if (rc < 0)
            goto out;
        if (rc == 0) {
            dp_log_debug(COMPONENT, "%s: model '%.128s' skipped: %s", path, model, why);
            stats->skipped++;
            continue;
        }
        count++;
    }
    for (size_t i = 0; i < count; i++) {
        const char *name = entries[i].price.pattern;
        /* an empty litellm_provider is none */
        const char *provider =
            entries[i].provider && entries[i].provider[0] ? entries[i].provider : NULL;
        int g = provider ? provider_group(t, &groups, provider) : -1;
        if (provider && g < 0) {
            snprintf(err, errlen,
                     "%s: model '%.128s': cannot add its provider '%.64s' (out of memory, or "
                     "more than %d providers)",
                     path, name, provider, DP_PRICE_TABLE_MAX_GROUPS);
            goto out;
        }
        if (dp_price_table_add(t, &entries[i].price, &name, 1, (dp_price_matcher){NULL, NULL, NULL},
                               g) < 0) {
            snprintf(err, errlen, "%s: cannot add the price of '%.128s' (out of memory)", path,
                     name);
            goto out;
        }
    }
    stats->loaded = count;
    result = 0;
out:
    free(entries);
    free(groups.ids);
    free(groups.index);
    return result;
}

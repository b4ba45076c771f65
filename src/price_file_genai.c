/*
 * pydantic genai-prices data as a price file: a JSON list of providers,
 * each {id, model_match?, models: [{id, match, prices}]}. A model's match
 * rule (MatchLogic, price_match_logic.c) becomes a table entry's names (its
 * "equals" alternatives, so dated and qualified names resolve as for any
 * name) and a match rule (the whole logic). Prices are USD per 1M tokens
 * already; a dated list of prices gives the one of the latest start date
 * not after today.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "price_file.h"
#include "price_file_formats.h"
#include "price_match_logic.h"

#define COMPONENT "prices"

/* Where an error is: "PATH: provider P, model M" (model NULL: the provider's rule). */
typedef struct where {
    const char *path, *provider, *model;
    char *err;
    size_t errlen;
} where;

static int failf(const where *w, const char *msg, const char *detail)
{
    if (w->model)
        snprintf(w->err, w->errlen, "%s: provider '%.64s', model '%.128s': %s%s", w->path,
                 w->provider, w->model, msg, detail ? detail : "");
    else
        snprintf(w->err, w->errlen, "%s: provider '%.64s': %s%s", w->path, w->provider, msg,
                 detail ? detail : "");
    return -1;
}

/* Compile a MatchLogic; NULL with the error (naming w's provider and model) in w->err. */
static dp_match_logic *compile_logic(const json_t *j, const where *w)
{
    char msg[768];
    dp_match_logic *l = dp_match_logic_compile(j, msg, sizeof(msg));
    if (!l)
        failf(w, msg, NULL);
    return l;
}

/* ---- prices ----------------------------------------------------------------- */

enum genai_field { G_INPUT, G_OUTPUT, G_CACHE_READ, G_CACHE_WRITE, G_COUNT };
static const char *const genai_keys[G_COUNT] = {"input_mtok", "output_mtok", "cache_read_mtok",
                                                "cache_write_mtok"};

/* A price: a number, or {base, tiers: [{start, price}]}. 1 = tiered. */
static int read_price(const json_t *v, const char *key, double *base, double *above,
                      uint64_t *start, const where *w, const char **skip)
{
    if (json_is_number(v)) {
        *base = json_number_value(v);
    } else if (json_is_object(v)) {
        const json_t *b = json_object_get(v, "base"), *tiers = json_object_get(v, "tiers");
        if (!json_is_number(b) || !json_is_array(tiers))
            return failf(w, "expected a number or {base, tiers} for ", key);
        *base = json_number_value(b);
        if (json_array_size(tiers) != 1) {
            *skip = "a tier list of other than one tier (one is supported)";
            return 0;
        }
        const json_t *t = json_array_get(tiers, 0);
        const json_t *s = json_object_get(t, "start"), *p = json_object_get(t, "price");
        if (!json_is_number(s) || !json_is_number(p) || !(json_number_value(s) >= 1) ||
            json_number_value(s) > 1e12)
            return failf(w, "expected tiers of {start, price} for ", key);
        *start = (uint64_t)json_number_value(s);
        *above = json_number_value(p);
    } else {
        return failf(w, "expected a number or {base, tiers} for ", key);
    }
    if (!(*base >= 0) || *base > DP_PRICE_MAX_USD_PER_MTOK ||
        (json_is_object(v) && (!(*above >= 0) || *above > DP_PRICE_MAX_USD_PER_MTOK)))
        return failf(w, "price out of range (0..1e6 USD per 1M tokens) for ", key);
    return json_is_object(v) ? 1 : 0;
}

/* A ModelPrice into p; 1 = priced, 0 = skipped (*skip says why), -1 = error. */
static int read_model_price(const json_t *mp, dp_model_price *p, const where *w, const char **skip)
{
    double base[G_COUNT] = {0}, above[G_COUNT] = {0};
    bool has[G_COUNT] = {false}, tiered[G_COUNT] = {false};
    uint64_t threshold = 0;
    if (!json_is_object(mp))
        return failf(w, "prices: expected an object of prices", NULL);
    for (int f = 0; f < G_COUNT; f++) {
        const json_t *v = json_object_get(mp, genai_keys[f]);
        if (!v || json_is_null(v))
            continue;
        uint64_t start = 0;
        int rc = read_price(v, genai_keys[f], &base[f], &above[f], &start, w, skip);
        if (rc < 0 || *skip)
            return rc < 0 ? -1 : 0;
        has[f] = true;
        if (rc == 1) {
            if (threshold && start != threshold) {
                *skip = "tiers starting at different prompt sizes";
                return 0;
            }
            threshold = start;
            tiered[f] = true;
        }
    }
    if (!has[G_INPUT] && !has[G_OUTPUT]) {
        *skip = "no token price";
        return 0;
    }
    /* without a cache price, no cache discount: the input price */
    if (!has[G_CACHE_READ]) {
        base[G_CACHE_READ] = base[G_INPUT];
        above[G_CACHE_READ] = above[G_INPUT];
        tiered[G_CACHE_READ] = tiered[G_INPUT];
    }
    if (!has[G_CACHE_WRITE]) {
        base[G_CACHE_WRITE] = base[G_INPUT];
        above[G_CACHE_WRITE] = above[G_INPUT];
        tiered[G_CACHE_WRITE] = tiered[G_INPUT];
    }
    p->input_per_mtok = base[G_INPUT];
    p->output_per_mtok = base[G_OUTPUT];
    p->cache_read_per_mtok = base[G_CACHE_READ];
    p->cache_write_per_mtok = base[G_CACHE_WRITE];
    if (threshold) {
        /* an untiered price stays its base above the threshold */
        p->tier_threshold = threshold;
        p->above_input_per_mtok = tiered[G_INPUT] ? above[G_INPUT] : base[G_INPUT];
        p->above_output_per_mtok = tiered[G_OUTPUT] ? above[G_OUTPUT] : base[G_OUTPUT];
        p->above_cache_read_per_mtok =
            tiered[G_CACHE_READ] ? above[G_CACHE_READ] : base[G_CACHE_READ];
        p->above_cache_write_per_mtok =
            tiered[G_CACHE_WRITE] ? above[G_CACHE_WRITE] : base[G_CACHE_WRITE];
    }
    return 1;
}

/* ModelPrice, or [ConditionalPrice]: the latest start_date not after today
 * (no constraint = since always); time-of-day discounts are not applied. */
static const json_t *current_prices(const json_t *prices, const char *today, const where *w,
                                    int *rc)
{
    *rc = 0;
    if (json_is_object(prices))
        return prices;
    if (!json_is_array(prices)) {
        *rc = failf(w, "prices: expected an object or a list of {constraint, prices}", NULL);
        return NULL;
    }
    const json_t *best = NULL;
    const char *best_date = NULL;
    size_t i;
    const json_t *c;
    json_array_foreach(prices, i, c)
    {
        const json_t *constraint = json_object_get(c, "constraint");
        const char *date = "";
        if (!json_is_object(c) || !json_object_get(c, "prices")) {
            *rc = failf(w, "prices: expected a list of {constraint, prices}", NULL);
            return NULL;
        }
        if (constraint && !json_is_null(constraint)) {
            const json_t *sd = json_object_get(constraint, "start_date");
            if (!sd)
                continue; /* a time-of-day window: not the list price */
            date = json_string_value(sd);
            if (!date) {
                *rc = failf(w, "prices: start_date must be a date string", NULL);
                return NULL;
            }
        }
        if (strncmp(date, today, 10) > 0)
            continue; /* not yet in force */
        if (!best || strcmp(date, best_date) >= 0) {
            best = json_object_get(c, "prices");
            best_date = date;
        }
    }
    return best;
}

/* ---- the file ------------------------------------------------------------ */

typedef struct genai_model {
    dp_model_price price;
    dp_match_logic *rule;
    const char **names;
    size_t name_count;
    size_t provider; /* index into the providers */
} genai_model;

typedef struct genai_provider {
    const char *id;
    dp_match_logic *model_rule;
} genai_provider;

bool dp_price_file_is_genai(const json_t *root)
{
    const json_t *first = json_array_get(root, 0);
    return json_is_array(root) && json_is_object(first) && json_object_get(first, "models");
}

static int count_models(const json_t *root, const char *path, size_t *total, char *err,
                        size_t errlen)
{
    size_t i;
    const json_t *p;
    *total = 0;
    json_array_foreach(root, i, p)
    {
        const char *id = json_string_value(json_object_get(p, "id"));
        if (!json_is_object(p) || !id || !json_is_array(json_object_get(p, "models"))) {
            snprintf(err, errlen, "%s: provider %zu: expected {id, models: [...]}", path, i + 1);
            return -1;
        }
        *total += json_array_size(json_object_get(p, "models"));
    }
    if (*total > DP_PRICE_FILE_MAX_ENTRIES) {
        snprintf(err, errlen, "%s: %zu models, at most %d are allowed", path, *total,
                 DP_PRICE_FILE_MAX_ENTRIES);
        return -1;
    }
    return 0;
}

/* Read one model into m; 1 = priced, 0 = skipped, -1 = error. */
static int read_model(const json_t *mj, const char *today, genai_model *m, where *w)
{
    const char *id = json_string_value(json_object_get(mj, "id"));
    const char *skip = NULL;
    if (!json_is_object(mj) || !id || !id[0] || strlen(id) > 256) {
        w->model = "?";
        return failf(w, "expected {id, match, prices} with an id of 1 to 256 bytes", NULL);
    }
    w->model = id;
    const json_t *match = json_object_get(mj, "match");
    if (!match)
        return failf(w, "no match rule", NULL);
    m->rule = compile_logic(match, w);
    if (!m->rule)
        return -1;
    int rc;
    const json_t *prices = current_prices(json_object_get(mj, "prices"), today, w, &rc);
    if (rc < 0)
        return -1;
    if (!prices) {
        skip = "no price in force today";
    } else {
        m->price.pattern = id;
        rc = read_model_price(prices, &m->price, w, &skip);
        if (rc < 0)
            return -1;
    }
    if (skip) {
        dp_log_debug(COMPONENT, "%s: provider '%.64s', model '%.128s' skipped: %s", w->path,
                     w->provider, id, skip);
        return 0;
    }
    size_t n = dp_match_logic_names(m->rule, NULL); /* count, then fill */
    m->names = calloc(n ? n : 1, sizeof(*m->names));
    if (!m->names)
        return failf(w, "out of memory", NULL);
    m->name_count = dp_match_logic_names(m->rule, m->names);
    return 1;
}

static void release_models(genai_model *models, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        dp_match_logic_free(models[i].rule);
        free(models[i].names);
    }
}

int dp_price_file_load_genai(dp_price_table *t, const char *path, const json_t *root,
                             const char *today, dp_price_file_stats *stats, char *err,
                             size_t errlen)
{
    int result = -1;
    size_t total = 0, count = 0, nprov = json_array_size(root), added_models = 0, added_prov = 0;
    genai_model *models = NULL;
    genai_provider *providers = NULL;
    memset(stats, 0, sizeof(*stats));
    if (count_models(root, path, &total, err, errlen) < 0)
        goto out;
    models = calloc(total ? total : 1, sizeof(*models));
    providers = calloc(nprov ? nprov : 1, sizeof(*providers));
    if (!models || !providers) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (size_t p = 0; p < nprov; p++) {
        const json_t *pj = json_array_get(root, p);
        where w = {path, json_string_value(json_object_get(pj, "id")), NULL, err, errlen};
        providers[p].id = w.provider;
        const json_t *mm = json_object_get(pj, "model_match");
        if (mm && !json_is_null(mm) && !(providers[p].model_rule = compile_logic(mm, &w)))
            goto out;
        size_t i;
        const json_t *mj;
        json_array_foreach(json_object_get(pj, "models"), i, mj)
        {
            int rc = read_model(mj, today, &models[count], &w);
            if (rc < 0) {
                count++; /* release what it built */
                goto out;
            }
            if (rc == 0) {
                release_models(&models[count], 1);
                memset(&models[count], 0, sizeof(models[count]));
                stats->skipped++;
                continue;
            }
            models[count++].provider = p;
        }
    }

    /* every model checked: add them; the table owns rules from here on */
    int *group = calloc(nprov ? nprov : 1, sizeof(*group));
    if (!group) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (; added_prov < nprov; added_prov++) {
        genai_provider *pv = &providers[added_prov];
        dp_price_matcher rule = {pv->model_rule ? dp_match_logic_eval : NULL, dp_match_logic_free,
                                 pv->model_rule};
        pv->model_rule = NULL;
        group[added_prov] = dp_price_table_add_group(t, pv->id, rule);
        if (group[added_prov] < 0)
            break;
    }
    for (; added_prov == nprov && added_models < count; added_models++) {
        genai_model *m = &models[added_models];
        dp_price_matcher rule = {dp_match_logic_eval, dp_match_logic_free, m->rule};
        m->rule = NULL;
        if (dp_price_table_add(t, &m->price, m->names, m->name_count, rule, group[m->provider]) < 0)
            break;
    }
    free(group);
    if (added_models < count) {
        snprintf(err, errlen, "%s: cannot add the prices (out of memory)", path);
        goto out;
    }
    stats->loaded = count;
    result = 0;
out:
    if (models) {
        release_models(models, count);
        free(models);
    }
    if (providers)
        for (size_t p = 0; p < nprov; p++)
            dp_match_logic_free(providers[p].model_rule);
    free(providers);
    return result;
}

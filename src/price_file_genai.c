/*
 * pydantic genai-prices data as a price file: a JSON list of providers,
 * each {id, model_match?, models: [{id, match, prices}]}. A model's match
 * rule (MatchLogic: equals / starts_with / ends_with / contains / regex, or
 * / and of rules) becomes a table entry's names (its "equals" alternatives,
 * so dated and qualified names resolve as for any name) and a match rule
 * (the whole logic, case-insensitive; regexes compiled with PCRE2). Prices
 * are USD per 1M tokens already; a dated list of prices gives the one of
 * the latest start date not after today.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "price_file.h"
#include "price_file_formats.h"

#define COMPONENT "prices"
#define MATCH_DEPTH_MAX 16
#define MATCH_TEXT_MAX 512

typedef enum match_kind { M_EQUALS, M_STARTS, M_ENDS, M_CONTAINS, M_REGEX, M_OR, M_AND } match_kind;

static const char *const match_keys[] = {"equals", "starts_with", "ends_with", "contains",
                                         "regex",  "or",          "and"};
#define MATCH_KINDS (sizeof(match_keys) / sizeof(match_keys[0]))

/* One MatchLogic node; a tree is one allocation per node, freed by match_free. */
typedef struct match_node {
    match_kind kind;
    char *text; /* leaves: the value */
    size_t len;
    pcre2_code *re;
    struct match_node **kids; /* or / and */
    size_t kid_count;
    char *desc; /* what `dagprof prices` shows when this node decides */
} match_node;

static void match_free(void *state)
{
    match_node *n = state;
    if (!n)
        return;
    for (size_t i = 0; i < n->kid_count; i++)
        match_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n->desc);
    if (n->re)
        pcre2_code_free(n->re);
    free(n);
}

static bool ci_equal(const char *a, const char *b, size_t n)
{
    return strncasecmp(a, b, n) == 0;
}

static const char *match_eval(void *state, dp_str model)
{
    const match_node *n = state;
    switch (n->kind) {
    case M_EQUALS:
        return model.len == n->len && ci_equal(model.ptr, n->text, n->len) ? n->desc : NULL;
    case M_STARTS:
        return model.len >= n->len && ci_equal(model.ptr, n->text, n->len) ? n->desc : NULL;
    case M_ENDS:
        return model.len >= n->len && ci_equal(model.ptr + model.len - n->len, n->text, n->len)
                   ? n->desc
                   : NULL;
    case M_CONTAINS:
        for (size_t i = 0; i + n->len <= model.len; i++)
            if (ci_equal(model.ptr + i, n->text, n->len))
                return n->desc;
        return NULL;
    case M_REGEX: {
        /* match data per call: lookups run on several threads */
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
        if (!md)
            return NULL;
        int rc = pcre2_match(n->re, (PCRE2_SPTR)model.ptr, model.len, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        return rc >= 0 ? n->desc : NULL;
    }
    case M_OR:
        for (size_t i = 0; i < n->kid_count; i++) {
            const char *d = match_eval(n->kids[i], model);
            if (d)
                return d;
        }
        return NULL;
    case M_AND:
        for (size_t i = 0; i < n->kid_count; i++)
            if (!match_eval(n->kids[i], model))
                return NULL;
        return n->desc;
    }
    return NULL;
}

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

static match_node *match_build(const json_t *j, const where *w, int depth);

static int build_leaf(match_node *n, const json_t *v, const where *w)
{
    const char *s = json_string_value(v);
    if (!s || !s[0] || strlen(s) > MATCH_TEXT_MAX)
        return failf(w, "match: expected a non-empty string for ", match_keys[n->kind]);
    n->text = strdup(s);
    n->len = strlen(s);
    size_t dlen = n->len + 32;
    n->desc = malloc(dlen);
    if (!n->text || !n->desc)
        return failf(w, "out of memory", NULL);
    snprintf(n->desc, dlen, "%s \"%s\"", match_keys[n->kind], s);
    if (n->kind != M_REGEX)
        return 0;
    int code;
    PCRE2_SIZE offset;
    n->re = pcre2_compile((PCRE2_SPTR)s, n->len, PCRE2_CASELESS, &code, &offset, NULL);
    if (!n->re) {
        char msg[160], detail[MATCH_TEXT_MAX + 256];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
        snprintf(detail, sizeof(detail), "'%s': %s at offset %zu", s, msg, (size_t)offset);
        return failf(w, "bad regex ", detail);
    }
    return 0;
}

/* "A and B and C" of an and's children, cut at 240 bytes. */
static char *join_descs(const match_node *n)
{
    char buf[256];
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n->kid_count && used < sizeof(buf); i++) {
        int k =
            snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? " and " : "", n->kids[i]->desc);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    return strdup(buf);
}

static int build_list(match_node *n, const json_t *v, const where *w, int depth)
{
    size_t count = json_array_size(v);
    if (!json_is_array(v) || count == 0)
        return failf(w, "match: expected a non-empty list for ", match_keys[n->kind]);
    n->kids = calloc(count, sizeof(*n->kids));
    if (!n->kids)
        return failf(w, "out of memory", NULL);
    for (size_t i = 0; i < count; i++) {
        n->kids[i] = match_build(json_array_get(v, i), w, depth + 1);
        if (!n->kids[i])
            return -1;
        n->kid_count++;
    }
    if (n->kind == M_OR)
        n->desc = strdup("or"); /* never shown: an or answers with its child's */
    else
        n->desc = join_descs(n);
    return n->desc ? 0 : failf(w, "out of memory", NULL);
}

static match_node *match_build(const json_t *j, const where *w, int depth)
{
    if (depth > MATCH_DEPTH_MAX) {
        failf(w, "match: rules nested too deeply", NULL);
        return NULL;
    }
    if (!json_is_object(j) || json_object_size(j) != 1) {
        failf(w, "match: expected one of equals, starts_with, ends_with, contains, regex, or, and",
              NULL);
        return NULL;
    }
    const char *key = json_object_iter_key(json_object_iter((json_t *)j));
    const json_t *v = json_object_iter_value(json_object_iter((json_t *)j));
    match_node *n = calloc(1, sizeof(*n));
    if (!n) {
        failf(w, "out of memory", NULL);
        return NULL;
    }
    size_t k = 0;
    while (k < MATCH_KINDS && strcmp(key, match_keys[k]) != 0)
        k++;
    int rc;
    if (k == MATCH_KINDS) {
        rc = failf(w, "match: unknown rule ", key);
    } else {
        n->kind = (match_kind)k;
        rc = n->kind == M_OR || n->kind == M_AND ? build_list(n, v, w, depth) : build_leaf(n, v, w);
    }
    if (rc < 0) {
        match_free(n);
        return NULL;
    }
    return n;
}

/* The "equals" names of a rule that decide alone (top level or under "or"). */
static size_t collect_names(const match_node *n, const char **names, size_t count)
{
    if (n->kind == M_EQUALS) {
        if (names)
            names[count] = n->text;
        count++;
    }
    if (n->kind == M_OR)
        for (size_t i = 0; i < n->kid_count; i++)
            count = collect_names(n->kids[i], names, count);
    return count;
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
    match_node *rule;
    const char **names;
    size_t name_count;
    size_t provider; /* index into the providers */
} genai_model;

typedef struct genai_provider {
    const char *id;
    match_node *model_rule;
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
    m->rule = match_build(match, w, 0);
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
    size_t n = collect_names(m->rule, NULL, 0); /* count, then fill */
    m->names = calloc(n ? n : 1, sizeof(*m->names));
    if (!m->names)
        return failf(w, "out of memory", NULL);
    m->name_count = collect_names(m->rule, m->names, 0);
    return 1;
}

static void release_models(genai_model *models, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        match_free(models[i].rule);
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
        if (mm && !json_is_null(mm) && !(providers[p].model_rule = match_build(mm, &w, 0)))
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
        dp_price_matcher rule = {pv->model_rule ? match_eval : NULL, match_free, pv->model_rule};
        pv->model_rule = NULL;
        group[added_prov] = dp_price_table_add_group(t, pv->id, rule);
        if (group[added_prov] < 0)
            break;
    }
    for (; added_prov == nprov && added_models < count; added_models++) {
        genai_model *m = &models[added_models];
        dp_price_matcher rule = {match_eval, match_free, m->rule};
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
            match_free(providers[p].model_rule);
    free(providers);
    return result;
}

/*
 * The model price table used to turn token counts into USD.
 *
 * Built-in list prices (USD per 1M tokens) of the vendors' common models,
 * as published on the vendors' pricing pages; each entry carries the month
 * its price was read there (`dagprof prices` lists them, docs/prices.md).
 * Cache write is the price of writing a prompt cache entry: Anthropic
 * charges 1.25x input (5-minute cache); OpenAI and Google charge plain input
 * for it, so their cache write equals input. User entries (price file) are
 * searched first, so they override or extend this list. Long-context tiers
 * (a higher price for the whole call above a prompt size) are the vendors'
 * published ones: Claude Sonnet 4 / 4.5 above 200k input tokens, Gemini 2.5
 * Pro above 200k, Gemini 1.5 above 128k.
 *
 * The table's user entries come from one price file: each has a price, any
 * number of exact model names, and optionally a '*' glob or a match rule
 * (prices.h gives the order in which they are tried).
 */
#include "prices.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A built-in entry: the price, plus a named cheaper sibling of the same
 * family for the model_downgrade recommendation (NULL = none). */
typedef struct builtin_price {
    dp_model_price price;
    const char *cheaper;
    size_t len;        /* strlen(pattern), fixed at compile time: lookups run per LLM call */
    const char *as_of; /* month the price was read on the vendor's pricing page */
} builtin_price;

#define PRICE_AS_OF "2025-11"
#define PRICE(pattern, in, out, cache_read, cache_write, cheaper)                                  \
    {                                                                                              \
        {pattern, in, out, cache_read, cache_write, 0, 0, 0, 0, 0}, cheaper, sizeof(pattern) - 1,  \
            PRICE_AS_OF                                                                            \
    }
/* the same with a long-context tier: above `above` input tokens, the a_* prices */
#define PRICE_TIER(pattern, in, out, cache_read, cache_write, cheaper, above, a_in, a_out, a_read, \
                   a_write)                                                                        \
    {                                                                                              \
        {pattern, in, out, cache_read, cache_write, above, a_in, a_out, a_read, a_write}, cheaper, \
            sizeof(pattern) - 1, PRICE_AS_OF                                                       \
    }

static const builtin_price builtin_prices[] = {
    /* OpenAI */
    PRICE("gpt-4o", 2.50, 10.00, 1.25, 2.50, "gpt-4o-mini"),
    PRICE("gpt-4o-mini", 0.15, 0.60, 0.075, 0.15, NULL),
    PRICE("gpt-4.1", 2.00, 8.00, 0.50, 2.00, "gpt-4.1-mini"),
    PRICE("gpt-4.1-mini", 0.40, 1.60, 0.10, 0.40, "gpt-4.1-nano"),
    PRICE("gpt-4.1-nano", 0.10, 0.40, 0.025, 0.10, NULL),
    PRICE("o1", 15.00, 60.00, 7.50, 15.00, "o3"),
    PRICE("o1-mini", 1.10, 4.40, 0.55, 1.10, NULL),
    PRICE("o3", 2.00, 8.00, 0.50, 2.00, "o4-mini"),
    PRICE("o3-mini", 1.10, 4.40, 0.55, 1.10, NULL),
    PRICE("o4-mini", 1.10, 4.40, 0.275, 1.10, NULL),
    PRICE("gpt-5", 1.25, 10.00, 0.125, 1.25, "gpt-5-mini"),
    PRICE("gpt-5-mini", 0.25, 2.00, 0.025, 0.25, "gpt-5-nano"),
    PRICE("gpt-5-nano", 0.05, 0.40, 0.005, 0.05, NULL),
    PRICE("gpt-3.5-turbo", 0.50, 1.50, 0.50, 0.50, NULL),
    PRICE("gpt-4-turbo", 10.00, 30.00, 10.00, 10.00, "gpt-4o"),
    PRICE("gpt-4", 30.00, 60.00, 30.00, 30.00, "gpt-4o"),
    /* OpenAI embeddings: input only */
    PRICE("text-embedding-3-small", 0.02, 0.00, 0.02, 0.02, NULL),
    PRICE("text-embedding-3-large", 0.13, 0.00, 0.13, 0.13, "text-embedding-3-small"),
    PRICE("text-embedding-ada-002", 0.10, 0.00, 0.10, 0.10, "text-embedding-3-small"),
    /* Anthropic: cache read 0.1x input, cache write 1.25x input */
    PRICE("claude-opus-4", 15.00, 75.00, 1.50, 18.75, "claude-sonnet-4"),
    PRICE("claude-opus-4-1", 15.00, 75.00, 1.50, 18.75, "claude-sonnet-4-5"),
    PRICE("claude-opus-4-5", 5.00, 25.00, 0.50, 6.25, "claude-sonnet-4-5"),
    /* Sonnet 4 / 4.5 with the 1M context window: prompts above 200k tokens
     * cost 2x input (and cache) and 1.5x output */
    PRICE_TIER("claude-sonnet-4", 3.00, 15.00, 0.30, 3.75, "claude-haiku-4-5", 200000, 6.00, 22.50,
               0.60, 7.50),
    PRICE_TIER("claude-sonnet-4-5", 3.00, 15.00, 0.30, 3.75, "claude-haiku-4-5", 200000, 6.00,
               22.50, 0.60, 7.50),
    PRICE("claude-3-7-sonnet", 3.00, 15.00, 0.30, 3.75, "claude-3-5-haiku"),
    PRICE("claude-3.7-sonnet", 3.00, 15.00, 0.30, 3.75, "claude-3-5-haiku"),
    PRICE("claude-3-5-sonnet", 3.00, 15.00, 0.30, 3.75, "claude-3-5-haiku"),
    PRICE("claude-3.5-sonnet", 3.00, 15.00, 0.30, 3.75, "claude-3-5-haiku"),
    PRICE("claude-3-sonnet", 3.00, 15.00, 0.30, 3.75, "claude-3-haiku"),
    PRICE("claude-3-5-haiku", 0.80, 4.00, 0.08, 1.00, NULL),
    PRICE("claude-3.5-haiku", 0.80, 4.00, 0.08, 1.00, NULL),
    PRICE("claude-haiku-4-5", 1.00, 5.00, 0.10, 1.25, NULL),
    PRICE("claude-3-opus", 15.00, 75.00, 1.50, 18.75, "claude-3-5-sonnet"),
    PRICE("claude-3-haiku", 0.25, 1.25, 0.03, 0.30, NULL),
    /* family aliases: the latest model of each family */
    PRICE("opus", 5.00, 25.00, 0.50, 6.25, "sonnet"),
    PRICE_TIER("sonnet", 3.00, 15.00, 0.30, 3.75, "haiku", 200000, 6.00, 22.50, 0.60, 7.50),
    PRICE("haiku", 1.00, 5.00, 0.10, 1.25, NULL),
    /* Google: 2.5 Pro above 200k prompt tokens, 1.5 above 128k, cost more */
    PRICE_TIER("gemini-2.5-pro", 1.25, 10.00, 0.31, 1.25, "gemini-2.5-flash", 200000, 2.50, 15.00,
               0.625, 2.50),
    PRICE("gemini-2.5-flash", 0.30, 2.50, 0.075, 0.30, "gemini-2.5-flash-lite"),
    PRICE("gemini-2.5-flash-lite", 0.10, 0.40, 0.025, 0.10, NULL),
    PRICE("gemini-2.0-flash", 0.10, 0.40, 0.025, 0.10, "gemini-2.0-flash-lite"),
    PRICE("gemini-2.0-flash-lite", 0.075, 0.30, 0.01875, 0.075, NULL),
    PRICE_TIER("gemini-1.5-pro", 1.25, 5.00, 0.3125, 1.25, "gemini-1.5-flash", 128000, 2.50, 10.00,
               0.625, 2.50),
    PRICE_TIER("gemini-1.5-flash", 0.075, 0.30, 0.01875, 0.075, NULL, 128000, 0.15, 0.60, 0.0375,
               0.15),
    /* Google embeddings: input only */
    PRICE("gemini-embedding-001", 0.15, 0.00, 0.15, 0.15, NULL),
};

#define BUILTIN_COUNT (sizeof(builtin_prices) / sizeof(builtin_prices[0]))
#define USER_PRICES_MAX 65536
#define USER_NAMES_MAX 262144
#define USER_GROUPS_MAX DP_PRICE_TABLE_MAX_GROUPS
#define PATTERN_MAX 256
#define FORMS_MAX 8

/* A user entry: its price (pattern owned), its rule, its provider group. */
typedef struct user_entry {
    dp_model_price price;
    dp_price_matcher rule; /* rule.match NULL = none */
    int group;             /* -1 = none */
    bool glob;             /* price.pattern is a '*' glob */
} user_entry;

/* An exact model name of a user entry. */
typedef struct name_key {
    char *name;
    size_t len;
    uint32_t entry;
} name_key;

typedef struct price_group {
    char *id;
    dp_price_matcher model_rule;
} price_group;

struct dp_price_table {
    user_entry *user;
    size_t user_count, user_cap;
    name_key *names;
    size_t name_count, name_cap;
    price_group *groups;
    size_t group_count, group_cap;
    char *origin;
    uint64_t version; /* unique to this table and its contents (lookup cache key) */
};

/* Versions are never reused, so a cached answer cannot outlive its table. */
static atomic_uint_least64_t next_version = 1;

dp_price_table *dp_price_table_create(void)
{
    dp_price_table *t = calloc(1, sizeof(dp_price_table));
    if (t)
        t->version = atomic_fetch_add(&next_version, 1);
    return t;
}

static void matcher_release(dp_price_matcher *m)
{
    if (m->destroy)
        m->destroy(m->state);
    memset(m, 0, sizeof(*m));
}

void dp_price_table_destroy(dp_price_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->user_count; i++) {
        free((char *)t->user[i].price.pattern);
        matcher_release(&t->user[i].rule);
    }
    for (size_t i = 0; i < t->name_count; i++)
        free(t->names[i].name);
    for (size_t i = 0; i < t->group_count; i++) {
        free(t->groups[i].id);
        matcher_release(&t->groups[i].model_rule);
    }
    free(t->user);
    free(t->names);
    free(t->groups);
    free(t->origin);
    free(t);
}

static bool price_valid(const dp_model_price *p)
{
    /* written as !(x >= 0) so NaN is rejected too */
    if (!p->pattern || !p->pattern[0] || strlen(p->pattern) > PATTERN_MAX)
        return false;
    if (!(p->input_per_mtok >= 0) || !(p->output_per_mtok >= 0) || !(p->cache_read_per_mtok >= 0) ||
        !(p->cache_write_per_mtok >= 0))
        return false;
    if (p->tier_threshold &&
        (!(p->above_input_per_mtok >= 0) || !(p->above_output_per_mtok >= 0) ||
         !(p->above_cache_read_per_mtok >= 0) || !(p->above_cache_write_per_mtok >= 0)))
        return false;
    return true;
}

/* Grow *arr (of *cap elements of size) to hold one more; 0 or -1. */
static int grow(void **arr, size_t *cap, size_t count, size_t size, size_t max)
{
    if (count == max)
        return -1;
    if (count < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > max)
        ncap = max;
    void *n = realloc(*arr, ncap * size);
    if (!n)
        return -1;
    *arr = n;
    *cap = ncap;
    return 0;
}

static int add_name(dp_price_table *t, const char *name, size_t entry)
{
    size_t len = strlen(name);
    if (len == 0 || len > PATTERN_MAX)
        return -1;
    if (grow((void **)&t->names, &t->name_cap, t->name_count, sizeof(name_key), USER_NAMES_MAX) < 0)
        return -1;
    char *copy = strdup(name);
    if (!copy)
        return -1;
    t->names[t->name_count++] = (name_key){copy, len, (uint32_t)entry};
    return 0;
}

int dp_price_table_set(dp_price_table *t, const dp_model_price *price)
{
    if (!t || !price || !price_valid(price))
        return -1;
    t->version = atomic_fetch_add(&next_version, 1);
    for (size_t i = 0; i < t->user_count; i++) {
        if (!t->user[i].rule.match && strcasecmp(t->user[i].price.pattern, price->pattern) == 0) {
            const char *keep = t->user[i].price.pattern;
            t->user[i].price = *price;
            t->user[i].price.pattern = keep;
            return 0;
        }
    }
    bool glob = strchr(price->pattern, '*') != NULL;
    const char *name = price->pattern;
    return dp_price_table_add(t, price, glob ? NULL : &name, glob ? 0 : 1,
                              (dp_price_matcher){NULL, NULL, NULL}, -1);
}

int dp_price_table_add(dp_price_table *t, const dp_model_price *price, const char *const *names,
                       size_t name_count, dp_price_matcher rule, int group)
{
    int result = -1;
    size_t names_before = t ? t->name_count : 0;
    char *pat = NULL;
    if (!t || !price || !price_valid(price) || (group >= 0 && (size_t)group >= t->group_count))
        goto out;
    if (grow((void **)&t->user, &t->user_cap, t->user_count, sizeof(user_entry), USER_PRICES_MAX) <
        0)
        goto out;
    pat = strdup(price->pattern);
    if (!pat)
        goto out;
    for (size_t i = 0; i < name_count; i++)
        if (add_name(t, names[i], t->user_count) < 0)
            goto out;
    t->version = atomic_fetch_add(&next_version, 1);
    user_entry *e = &t->user[t->user_count++];
    e->price = *price;
    e->price.pattern = pat;
    e->rule = rule;
    e->group = group;
    e->glob = !rule.match && name_count == 0 && strchr(pat, '*') != NULL;
    pat = NULL;
    rule.destroy = NULL; /* owned by the entry now */
    result = 0;
out:
    if (t && result < 0)
        while (t->name_count > names_before)
            free(t->names[--t->name_count].name);
    free(pat);
    if (rule.destroy)
        rule.destroy(rule.state);
    return result;
}

dp_price_table_mark dp_price_table_mark_now(const dp_price_table *t)
{
    if (!t)
        return (dp_price_table_mark){0, 0, 0};
    return (dp_price_table_mark){t->user_count, t->name_count, t->group_count};
}

void dp_price_table_rollback(dp_price_table *t, dp_price_table_mark mark)
{
    if (!t)
        return;
    while (t->user_count > mark.users) {
        user_entry *e = &t->user[--t->user_count];
        free((char *)e->price.pattern);
        matcher_release(&e->rule);
    }
    while (t->name_count > mark.names)
        free(t->names[--t->name_count].name);
    while (t->group_count > mark.groups) {
        price_group *g = &t->groups[--t->group_count];
        free(g->id);
        matcher_release(&g->model_rule);
    }
    t->version = atomic_fetch_add(&next_version, 1);
}

int dp_price_table_add_group(dp_price_table *t, const char *id, dp_price_matcher model_rule)
{
    int result = -1;
    char *copy = NULL;
    if (!t || !id || !id[0])
        goto out;
    if (grow((void **)&t->groups, &t->group_cap, t->group_count, sizeof(price_group),
             USER_GROUPS_MAX) < 0)
        goto out;
    copy = strdup(id);
    if (!copy)
        goto out;
    t->groups[t->group_count] = (price_group){copy, model_rule};
    model_rule.destroy = NULL;
    copy = NULL;
    result = (int)t->group_count++;
    t->version = atomic_fetch_add(&next_version, 1);
out:
    free(copy);
    if (model_rule.destroy)
        model_rule.destroy(model_rule.state);
    return result;
}

int dp_price_table_set_origin(dp_price_table *t, const char *origin)
{
    if (!t || !origin)
        return -1;
    char *copy = strdup(origin);
    if (!copy)
        return -1;
    free(t->origin);
    t->origin = copy;
    return 0;
}

size_t dp_price_table_user_count(const dp_price_table *t)
{
    return t ? t->user_count : 0;
}

/* ---- matching ------------------------------------------------------------ */

/* The model name, then each form with one more qualifier removed; quals[i]
 * is the qualifier removed last to reach forms[i] (empty for the name). */
static size_t name_forms(dp_str model, dp_str *forms, dp_str *quals)
{
    size_t n = 0;
    forms[n] = model;
    quals[n++] = (dp_str){model.ptr, 0};
    while (n < FORMS_MAX && dp_price_strip_qualifier(forms[n - 1], &forms[n], &quals[n]))
        n++;
    return n;
}

static bool name_equal(const char *name, size_t len, dp_str form)
{
    return len == form.len && strncasecmp(name, form.ptr, len) == 0;
}

static bool name_prefix_suffix(const char *name, size_t len, dp_str form)
{
    return len < form.len && strncasecmp(name, form.ptr, len) == 0 &&
           dp_price_version_suffix((dp_str){form.ptr + len, form.len - len});
}

/* The provider group a form points at: the removed qualifier naming a
 * group, else the first group whose model rule takes the form; -1 = none. */
static int preferred_group(const dp_price_table *t, dp_str form, dp_str qual)
{
    if (t->group_count == 0)
        return -1;
    if (qual.len)
        for (size_t g = 0; g < t->group_count; g++)
            if (name_equal(t->groups[g].id, strlen(t->groups[g].id), qual))
                return (int)g;
    for (size_t g = 0; g < t->group_count; g++) {
        const dp_price_matcher *r = &t->groups[g].model_rule;
        if (r->match && r->match(r->state, form))
            return (int)g;
    }
    return -1;
}

/* Is candidate a better than b (-1 = none yet) for this phase? In the
 * preferred group first, then longer name, then earlier. */
static bool better(const dp_price_table *t, size_t a, size_t a_len, long b, size_t b_len, int pref)
{
    if (b < 0)
        return true;
    bool a_pref = pref >= 0 && t->user[a].group == pref;
    bool b_pref = pref >= 0 && t->user[b].group == pref;
    if (a_pref != b_pref)
        return a_pref;
    return a_len > b_len;
}

/* The entry of the best name equal to the form (suffix false) or the
 * longest name + a version suffix (suffix true); -1 = none. */
static long best_name_key(const dp_price_table *t, dp_str form, int pref, bool suffix,
                          const char **name)
{
    long best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < t->name_count; i++) {
        const name_key *k = &t->names[i];
        bool hit =
            suffix ? name_prefix_suffix(k->name, k->len, form) : name_equal(k->name, k->len, form);
        if (hit && better(t, k->entry, k->len, best, best_len, pref)) {
            best = k->entry;
            best_len = k->len;
            *name = k->name;
        }
    }
    return best;
}

/* Names (patterns false) or patterns (true) of the user entries for one
 * form of the model name. */
static bool user_match_form(const dp_price_table *t, dp_str form, dp_str qual, bool patterns,
                            dp_price_match *m)
{
    int pref = preferred_group(t, form, qual);
    const char *best_name = NULL;
    long best = -1;
    if (!patterns) {
        best = best_name_key(t, form, pref, false, &best_name);
        m->rule = DP_PRICE_RULE_EXACT;
        if (best < 0) {
            best = best_name_key(t, form, pref, true, &best_name);
            m->rule = DP_PRICE_RULE_SUFFIX;
        }
        if (best < 0)
            return false;
        goto found;
    }
    size_t best_len = 0;
    /* globs, the longest */
    for (size_t i = 0; i < t->user_count; i++) {
        const user_entry *e = &t->user[i];
        size_t len = strlen(e->price.pattern);
        if (e->glob && dp_price_glob_match(e->price.pattern, form) &&
            better(t, i, len, best, best_len, pref)) {
            best = (long)i;
            best_len = len;
        }
    }
    if (best >= 0) {
        m->rule = DP_PRICE_RULE_GLOB;
        best_name = t->user[best].price.pattern;
        goto found;
    }
    /* match rules in file order, the preferred group's first */
    for (int pass = pref >= 0 ? 0 : 1; pass < 2 && best < 0; pass++) {
        for (size_t i = 0; i < t->user_count; i++) {
            const user_entry *e = &t->user[i];
            if (!e->rule.match || (pass == 0 && e->group != pref))
                continue;
            const char *clause = e->rule.match(e->rule.state, form);
            if (clause) {
                best = (long)i;
                m->clause = clause;
                break;
            }
        }
    }
    if (best < 0)
        return false;
    m->rule = DP_PRICE_RULE_MATCHER;
found:
    m->price = &t->user[best].price;
    m->matched_name = best_name;
    m->origin = t->origin;
    m->provider = t->user[best].group >= 0 ? t->groups[t->user[best].group].id : NULL;
    m->form = form;
    return true;
}

static bool builtin_match_form(dp_str form, dp_price_match *m)
{
    long best = -1;
    for (size_t i = 0; i < BUILTIN_COUNT && best < 0; i++)
        if (name_equal(builtin_prices[i].price.pattern, builtin_prices[i].len, form))
            best = (long)i;
    m->rule = DP_PRICE_RULE_EXACT;
    if (best < 0) {
        size_t best_len = 0;
        for (size_t i = 0; i < BUILTIN_COUNT; i++) {
            size_t len = builtin_prices[i].len;
            if (len > best_len && name_prefix_suffix(builtin_prices[i].price.pattern, len, form)) {
                best = (long)i;
                best_len = len;
            }
        }
        m->rule = DP_PRICE_RULE_SUFFIX;
    }
    if (best < 0) {
        m->rule = DP_PRICE_RULE_NONE;
        return false;
    }
    m->price = &builtin_prices[best].price;
    m->matched_name = builtin_prices[best].price.pattern;
    m->builtin = true;
    m->form = form;
    return true;
}

static size_t common_prefix(const char *name, dp_str form)
{
    size_t i = 0;
    while (i < form.len && name[i] &&
           tolower((unsigned char)name[i]) == tolower((unsigned char)form.ptr[i]))
        i++;
    return i;
}

/* Keep the DP_PRICE_NEAR_MAX names sharing the longest prefix (3+ bytes). */
static void near_consider(dp_price_match *m, size_t *scores, const char *name, size_t score)
{
    if (score < 3)
        return;
    for (size_t i = 0; i < m->near_count; i++)
        if (strcasecmp(m->near[i], name) == 0)
            return;
    size_t at = m->near_count;
    while (at > 0 && scores[at - 1] < score)
        at--;
    if (at >= DP_PRICE_NEAR_MAX)
        return;
    size_t last = m->near_count < DP_PRICE_NEAR_MAX ? m->near_count : DP_PRICE_NEAR_MAX - 1;
    for (size_t i = last; i > at; i--) {
        m->near[i] = m->near[i - 1];
        scores[i] = scores[i - 1];
    }
    m->near[at] = name;
    scores[at] = score;
    if (m->near_count < DP_PRICE_NEAR_MAX)
        m->near_count++;
}

static void find_near(const dp_price_table *t, const dp_str *forms, size_t nforms,
                      dp_price_match *m)
{
    size_t scores[DP_PRICE_NEAR_MAX] = {0};
    for (size_t f = 0; f < nforms; f++) {
        if (t)
            for (size_t i = 0; i < t->name_count; i++)
                near_consider(m, scores, t->names[i].name,
                              common_prefix(t->names[i].name, forms[f]));
        for (size_t i = 0; i < BUILTIN_COUNT; i++)
            near_consider(m, scores, builtin_prices[i].price.pattern,
                          common_prefix(builtin_prices[i].price.pattern, forms[f]));
    }
}

static void table_match(const dp_price_table *t, dp_str model, dp_price_match *m, bool want_near)
{
    memset(m, 0, sizeof(*m));
    if (!model.ptr || model.len == 0)
        return;
    dp_str forms[FORMS_MAX], quals[FORMS_MAX];
    size_t nforms = name_forms(model, forms, quals);
    /* every user entry before any built-in; the full name before its forms,
     * names (exact, then + suffix) of every form before any pattern */
    if (t && t->user_count) {
        for (size_t f = 0; f < nforms; f++)
            if (user_match_form(t, forms[f], quals[f], false, m))
                return;
        for (size_t f = 0; f < nforms; f++)
            if (user_match_form(t, forms[f], quals[f], true, m))
                return;
    }
    for (size_t f = 0; f < nforms; f++)
        if (builtin_match_form(forms[f], m))
            return;
    memset(m, 0, sizeof(*m));
    if (want_near)
        find_near(t, forms, nforms, m);
}

void dp_price_table_explain(const dp_price_table *t, dp_str model, dp_price_match *m)
{
    table_match(t, model, m, true);
}

static const dp_model_price *table_lookup(const dp_price_table *t, dp_str model)
{
    dp_price_match m;
    table_match(t, model, &m, false);
    return m.price;
}

/*
 * A lookup compares the model with every name and rule; runs repeat a
 * handful of models, so each thread remembers recent answers by (table
 * version, model), four per set so that a few models whose names hash
 * alike do not evict each other on every call. Names longer than a slot
 * are looked up every time.
 */
#define LOOKUP_CACHE_SETS 64
#define LOOKUP_CACHE_WAYS 4
#define LOOKUP_CACHE_NAME 96

typedef struct lookup_cache_entry {
    uint64_t version; /* 0 = empty */
    size_t len;
    char model[LOOKUP_CACHE_NAME];
    const dp_model_price *price;
} lookup_cache_entry;

static _Thread_local lookup_cache_entry lookup_cache[LOOKUP_CACHE_SETS][LOOKUP_CACHE_WAYS];
static _Thread_local unsigned lookup_cache_next; /* the way the next miss replaces */

const dp_model_price *dp_price_table_lookup(const dp_price_table *t, dp_str model)
{
    if (!model.ptr || model.len == 0)
        return NULL;
    if (model.len > LOOKUP_CACHE_NAME)
        return table_lookup(t, model);
    uint64_t version = t ? t->version : UINT64_MAX; /* UINT64_MAX: built-in prices only */
    uint64_t h = 1469598103934665603ull ^ version;
    for (size_t i = 0; i < model.len; i++)
        h = (h ^ (unsigned char)model.ptr[i]) * 1099511628211ull;
    lookup_cache_entry *set = lookup_cache[(h >> 7) % LOOKUP_CACHE_SETS];
    for (size_t w = 0; w < LOOKUP_CACHE_WAYS; w++) {
        lookup_cache_entry *e = &set[w];
        if (e->version == version && e->len == model.len &&
            memcmp(e->model, model.ptr, model.len) == 0)
            return e->price;
    }
    const dp_model_price *p = table_lookup(t, model);
    lookup_cache_entry *e = &set[lookup_cache_next++ % LOOKUP_CACHE_WAYS];
    e->version = version;
    e->len = model.len;
    memcpy(e->model, model.ptr, model.len);
    e->price = p;
    return p;
}

size_t dp_price_builtin_count(void)
{
    return BUILTIN_COUNT;
}

const dp_model_price *dp_price_builtin(size_t i, const char **as_of)
{
    if (i >= BUILTIN_COUNT)
        return NULL;
    if (as_of)
        *as_of = builtin_prices[i].as_of;
    return &builtin_prices[i].price;
}

static bool contains(dp_str text, const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= text.len; i++)
        if (strncasecmp(text.ptr + i, word, n) == 0)
            return true;
    return false;
}

const char *dp_price_vendor(dp_str model)
{
    /* the family, not a price: a word anywhere in the name is enough */
    if (contains(model, "claude") || contains(model, "opus") || contains(model, "sonnet") ||
        contains(model, "haiku"))
        return "anthropic";
    if (contains(model, "gemini"))
        return "google";
    if (contains(model, "gpt") || contains(model, "text-embedding") ||
        dp_price_glob_match("o1*", model) || dp_price_glob_match("o3*", model) ||
        dp_price_glob_match("o4*", model) || contains(model, "openai"))
        return "openai";
    return NULL;
}

const dp_model_price *dp_price_table_cheaper_sibling(const dp_price_table *t, dp_str model,
                                                     const char **name)
{
    dp_price_match m;
    table_match(NULL, model, &m, false);
    if (!m.price)
        return NULL;
    const builtin_price *b = (const builtin_price *)m.price; /* price is the first member */
    if (!b->cheaper)
        return NULL;
    if (name)
        *name = b->cheaper;
    return dp_price_table_lookup(t, dp_str_from_cstr(b->cheaper));
}

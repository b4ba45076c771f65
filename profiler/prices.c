/*
 * The model price table used to turn token counts into USD.
 *
 * Built-in list prices (USD per 1M tokens) of the vendors' common models,
 * as published on the vendors' pricing pages; each entry carries the month
 * its price was read there (`dagprof prices` lists them, docs/prices.md).
 * Cache write is the price of writing a prompt cache entry: Anthropic
 * charges 1.25x input (5-minute cache); OpenAI and Google charge plain input
 * for it, so their cache write equals input. User entries (price file) are
 * searched first, so they override or extend this list.
 */
#include "prices.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

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
        {pattern, in, out, cache_read, cache_write}, cheaper, sizeof(pattern) - 1, PRICE_AS_OF     \
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
    PRICE("claude-sonnet-4", 3.00, 15.00, 0.30, 3.75, "claude-haiku-4-5"),
    PRICE("claude-sonnet-4-5", 3.00, 15.00, 0.30, 3.75, "claude-haiku-4-5"),
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
    PRICE("sonnet", 3.00, 15.00, 0.30, 3.75, "haiku"),
    PRICE("haiku", 1.00, 5.00, 0.10, 1.25, NULL),
    /* Google (prompts up to 200k tokens) */
    PRICE("gemini-2.5-pro", 1.25, 10.00, 0.31, 1.25, "gemini-2.5-flash"),
    PRICE("gemini-2.5-flash", 0.30, 2.50, 0.075, 0.30, "gemini-2.5-flash-lite"),
    PRICE("gemini-2.5-flash-lite", 0.10, 0.40, 0.025, 0.10, NULL),
    PRICE("gemini-2.0-flash", 0.10, 0.40, 0.025, 0.10, "gemini-2.0-flash-lite"),
    PRICE("gemini-2.0-flash-lite", 0.075, 0.30, 0.01875, 0.075, NULL),
    PRICE("gemini-1.5-pro", 1.25, 5.00, 0.3125, 1.25, "gemini-1.5-flash"),
    PRICE("gemini-1.5-flash", 0.075, 0.30, 0.01875, 0.075, NULL),
    /* Google embeddings: input only */
    PRICE("gemini-embedding-001", 0.15, 0.00, 0.15, 0.15, NULL),
};

#define BUILTIN_COUNT (sizeof(builtin_prices) / sizeof(builtin_prices[0]))
#define USER_PRICES_MAX 4096
#define PATTERN_MAX 256

struct dp_price_table {
    dp_model_price *user;
    size_t user_count;
    size_t user_cap;
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

void dp_price_table_destroy(dp_price_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->user_count; i++)
        free((char *)t->user[i].pattern);
    free(t->user);
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
    return true;
}

int dp_price_table_set(dp_price_table *t, const dp_model_price *price)
{
    if (!t || !price || !price_valid(price))
        return -1;
    t->version = atomic_fetch_add(&next_version, 1);
    for (size_t i = 0; i < t->user_count; i++) {
        if (strcasecmp(t->user[i].pattern, price->pattern) == 0) {
            const char *keep = t->user[i].pattern;
            t->user[i] = *price;
            t->user[i].pattern = keep;
            return 0;
        }
    }
    if (t->user_count == USER_PRICES_MAX)
        return -1;
    if (t->user_count == t->user_cap) {
        size_t ncap = t->user_cap ? t->user_cap * 2 : 16;
        dp_model_price *n = realloc(t->user, ncap * sizeof(*n));
        if (!n)
            return -1;
        t->user = n;
        t->user_cap = ncap;
    }
    char *pat = strdup(price->pattern);
    if (!pat)
        return -1;
    t->user[t->user_count] = *price;
    t->user[t->user_count].pattern = pat;
    t->user_count++;
    return 0;
}

bool dp_price_glob_match(const char *pattern, dp_str text)
{
    /* iterative glob with one backtrack point: linear enough for short names */
    size_t p = 0, s = 0, star_p = (size_t)-1, star_s = 0;
    size_t plen = strlen(pattern);
    while (s < text.len) {
        if (p < plen && pattern[p] == '*') {
            star_p = p++;
            star_s = s;
        } else if (p < plen &&
                   tolower((unsigned char)pattern[p]) == tolower((unsigned char)text.ptr[s])) {
            p++;
            s++;
        } else if (star_p != (size_t)-1) {
            p = star_p + 1;
            s = ++star_s;
        } else {
            return false;
        }
    }
    while (p < plen && pattern[p] == '*')
        p++;
    return p == plen;
}

static bool substring_match_len(const char *pattern, size_t plen, dp_str text)
{
    if (plen == 0 || plen > text.len)
        return false;
    int first = tolower((unsigned char)pattern[0]);
    for (size_t i = 0; i + plen <= text.len; i++) {
        if (tolower((unsigned char)text.ptr[i]) == first &&
            strncasecmp(text.ptr + i, pattern, plen) == 0)
            return true;
    }
    return false;
}

static bool substring_match(const char *pattern, dp_str text)
{
    return substring_match_len(pattern, strlen(pattern), text);
}

static bool pattern_matches(const char *pattern, dp_str model)
{
    if (strchr(pattern, '*'))
        return dp_price_glob_match(pattern, model);
    return substring_match(pattern, model);
}

/* Index of the longest matching built-in pattern, or -1. */
static int builtin_lookup(dp_str model)
{
    int best = -1;
    size_t best_len = 0;
    /* built-in patterns hold no '*': plain case-insensitive substrings */
    for (size_t i = 0; i < BUILTIN_COUNT; i++) {
        size_t len = builtin_prices[i].len;
        if (len > best_len && substring_match_len(builtin_prices[i].price.pattern, len, model)) {
            best = (int)i;
            best_len = len;
        }
    }
    return best;
}

static const dp_model_price *table_lookup(const dp_price_table *t, dp_str model)
{
    if (t) {
        const dp_model_price *best = NULL;
        size_t best_len = 0;
        for (size_t i = 0; i < t->user_count; i++) {
            size_t len = strlen(t->user[i].pattern);
            if (len > best_len && pattern_matches(t->user[i].pattern, model)) {
                best = &t->user[i];
                best_len = len;
            }
        }
        if (best)
            return best;
    }
    int b = builtin_lookup(model);
    return b < 0 ? NULL : &builtin_prices[b].price;
}

/*
 * A lookup compares the model with every pattern; runs repeat a handful of
 * models, so each thread remembers recent answers by (table version, model).
 */
#define LOOKUP_CACHE_SLOTS 64
#define LOOKUP_CACHE_NAME 64

typedef struct lookup_cache_entry {
    uint64_t version; /* 0 = empty */
    size_t len;
    char model[LOOKUP_CACHE_NAME];
    const dp_model_price *price;
} lookup_cache_entry;

static _Thread_local lookup_cache_entry lookup_cache[LOOKUP_CACHE_SLOTS];

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
    lookup_cache_entry *e = &lookup_cache[h % LOOKUP_CACHE_SLOTS];
    if (e->version == version && e->len == model.len && memcmp(e->model, model.ptr, model.len) == 0)
        return e->price;
    const dp_model_price *p = table_lookup(t, model);
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

const char *dp_price_vendor(dp_str model)
{
    if (substring_match("claude", model) || substring_match("opus", model) ||
        substring_match("sonnet", model) || substring_match("haiku", model))
        return "anthropic";
    if (substring_match("gemini", model))
        return "google";
    if (substring_match("gpt", model) || substring_match("text-embedding", model) ||
        dp_price_glob_match("o1*", model) || dp_price_glob_match("o3*", model) ||
        dp_price_glob_match("o4*", model) || substring_match("openai", model))
        return "openai";
    return NULL;
}

const dp_model_price *dp_price_table_cheaper_sibling(const dp_price_table *t, dp_str model,
                                                     const char **name)
{
    int b = builtin_lookup(model);
    if (b < 0 || !builtin_prices[b].cheaper)
        return NULL;
    const char *sib = builtin_prices[b].cheaper;
    if (name)
        *name = sib;
    return dp_price_table_lookup(t, dp_str_from_cstr(sib));
}

/*
 * Model price table: USD per one million tokens.
 *
 * Built-in entries cover the common current OpenAI, Anthropic and Google
 * models plus the aliases haiku / sonnet / opus. A user's entries (from the
 * price file) are matched before the built-ins, so they override or extend.
 *
 * Matching: an entry's pattern matches a model name when the pattern is a
 * case-insensitive substring of it, or, if the pattern contains '*', by glob.
 * Among matching entries of the same origin, the longest pattern wins (so
 * "gpt-4o-mini" beats "gpt-4o").
 */
#ifndef DP_PRICES_H
#define DP_PRICES_H

#include <stdbool.h>
#include <stddef.h>

#include "dp_str.h"

typedef struct dp_model_price {
    const char *pattern;
    double input_per_mtok;
    double output_per_mtok;
    double cache_read_per_mtok;
    double cache_write_per_mtok;
} dp_model_price;

typedef struct dp_price_table dp_price_table;

/** A table holding the built-in prices; NULL on out of memory. */
dp_price_table *dp_price_table_create(void);

/** Add a user entry (copied). Returns 0, or -1 on out of memory / bad entry. */
int dp_price_table_set(dp_price_table *t, const dp_model_price *price);

/** The price for a model name, or NULL when no entry matches. */
const dp_model_price *dp_price_table_lookup(const dp_price_table *t, dp_str model);

/** Free a table and its user entries; NULL is accepted. */
void dp_price_table_destroy(dp_price_table *t);

/** Number of built-in entries. */
size_t dp_price_builtin_count(void);

/** Built-in entry i (NULL past the end); *as_of: "YYYY-MM" the price was read. */
const dp_model_price *dp_price_builtin(size_t i, const char **as_of);

/** "openai", "anthropic", "google" by the model name's family, or NULL. */
const char *dp_price_vendor(dp_str model);

/**
 * The price of a named cheaper model of the same family (e.g. gpt-4o ->
 * gpt-4o-mini, claude opus -> sonnet) for the model's built-in entry, looked
 * up in t (so user prices apply); *name receives the sibling's name.
 * NULL when the model has no built-in cheaper sibling.
 */
const dp_model_price *dp_price_table_cheaper_sibling(const dp_price_table *t, dp_str model,
                                                     const char **name);

/** Case-insensitive glob ('*' only) of a whole string; exported for tests. */
bool dp_price_glob_match(const char *pattern, dp_str text);

#endif

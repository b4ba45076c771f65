/*
 * Model price table: USD per one million tokens.
 *
 * Built-in entries cover the common current OpenAI, Anthropic and Google
 * models plus the aliases haiku / sonnet / opus. A user's entries (from the
 * price file) are matched before the built-ins, so they override or extend.
 *
 * Matching a model name (case-insensitive; docs/prices.md states the rules
 * for users, profiler/price_names.c implements the name grammar):
 *  - the forms of the name: as given, then with each provider qualifier
 *    removed in turn ("openai/gpt-4o" -> "gpt-4o", "us.anthropic.claude-x"
 *    -> "anthropic.claude-x" -> "claude-x");
 *  1. for each form in that order: an entry name equal to it (exact), else
 *     the longest entry name that is a prefix of it followed only by a
 *     date / version suffix ("gpt-4o-2024-08-06" -> "gpt-4o"; never
 *     "gpt-4o-mini" -> "gpt-4o", "o3-pro" -> "o3" or "gpt-4.5" -> "gpt-4");
 *  2. then for each form: user patterns, '*' globs (the longest wins), then
 *     the file's match rules (genai-prices) in file order.
 * All user entries are tried before any built-in (built-ins: step 1 only). Among entries of a price
 * file that group them by provider, those of the provider the name points
 * at (its qualifier, or the provider's own model rule) come first.
 * A name matching none of this has no price: its cost is unknown.
 */
#ifndef DP_PRICES_H
#define DP_PRICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp_str.h"

/**
 * One price. `tier_threshold` > 0 adds a long-context tier: a call whose
 * input tokens exceed it is billed at the above_* prices for all of its
 * tokens (Anthropic / Gemini / LiteLLM "above 200k tokens" prices).
 */
typedef struct dp_model_price {
    const char *pattern; /* the entry's name: a model name, a '*' glob, or a rule's id */
    double input_per_mtok;
    double output_per_mtok;
    double cache_read_per_mtok;
    double cache_write_per_mtok;
    uint64_t tier_threshold; /* input tokens; 0 = no tier */
    double above_input_per_mtok;
    double above_output_per_mtok;
    double above_cache_read_per_mtok;
    double above_cache_write_per_mtok;
} dp_model_price;

typedef struct dp_price_table dp_price_table;

/**
 * A match rule a price file brings (genai-prices MatchLogic). match()
 * returns a short description of the clause that matched the model name
 * ("regex ^o3", "starts_with claude-3") or NULL; it must be safe to call
 * from several threads at once. destroy() frees state (may be NULL).
 */
typedef struct dp_price_matcher {
    const char *(*match)(void *state, dp_str model);
    void (*destroy)(void *state);
    void *state;
} dp_price_matcher;

/** How a lookup found its entry. */
typedef enum dp_price_rule {
    DP_PRICE_RULE_NONE = 0, /* no entry: unknown cost */
    DP_PRICE_RULE_EXACT,    /* an entry name equal to the (qualifier-free) name */
    DP_PRICE_RULE_SUFFIX,   /* an entry name + a date/version suffix */
    DP_PRICE_RULE_GLOB,     /* a user '*' glob */
    DP_PRICE_RULE_MATCHER,  /* a price file's match rule (genai-prices) */
} dp_price_rule;

#define DP_PRICE_NEAR_MAX 3

/** A lookup's answer with its reasons (`dagprof prices MODEL`). */
typedef struct dp_price_match {
    const dp_model_price *price; /* NULL: unknown */
    dp_price_rule rule;
    bool builtin;             /* the entry is built-in (else the table's user entries) */
    const char *origin;       /* user entries: the table's origin (file path), or NULL */
    const char *provider;     /* the entry's provider group in its file, or NULL */
    const char *matched_name; /* the entry name that matched (exact / suffix) */
    const char *clause;       /* DP_PRICE_RULE_MATCHER: the clause that matched */
    dp_str form;              /* the form of the model name that matched */
    /* unknown only: entry names sharing the longest prefix with the name */
    const char *near[DP_PRICE_NEAR_MAX];
    size_t near_count;
} dp_price_match;

/** A table holding the built-in prices; NULL on out of memory. */
dp_price_table *dp_price_table_create(void);

/**
 * Add a user entry (copied): a pattern with '*' is a glob, any other a
 * model name. Setting a pattern again (case-insensitive) replaces its
 * prices. Returns 0, or -1 on out of memory / bad entry.
 */
int dp_price_table_set(dp_price_table *t, const dp_model_price *price);

/** Name the table's user entries' origin (a file path; copied). 0 or -1. */
int dp_price_table_set_origin(dp_price_table *t, const char *origin);

/**
 * Add a provider group (copied id) with an optional rule saying which model
 * names are its own (ownership of `model_rule` passes to the table, also on
 * failure). Returns the group's index, or -1.
 */
int dp_price_table_add_group(dp_price_table *t, const char *id, dp_price_matcher model_rule);

/**
 * Add a user entry with several model names and/or a match rule: price is
 * copied (price->pattern is the entry's id), names are copied, ownership of
 * `rule` passes to the table (also on failure). group: from
 * dp_price_table_add_group, or -1. Returns 0 or -1.
 */
int dp_price_table_add(dp_price_table *t, const dp_model_price *price, const char *const *names,
                       size_t name_count, dp_price_matcher rule, int group);

/** The price for a model name, or NULL when no entry matches. */
const dp_model_price *dp_price_table_lookup(const dp_price_table *t, dp_str model);

/** The price for a model name with how it was found; m->price NULL when unknown. */
void dp_price_table_explain(const dp_price_table *t, dp_str model, dp_price_match *m);

/** Number of user entries. */
size_t dp_price_table_user_count(const dp_price_table *t);

/** Provider groups a table holds at most. */
#define DP_PRICE_TABLE_MAX_GROUPS 4096

/** What a table holds at one moment: its user entries, names and groups (counts). */
typedef struct dp_price_table_mark {
    size_t users, names, groups;
} dp_price_table_mark;

/** The table as it is now, to go back to with dp_price_table_rollback(). */
dp_price_table_mark dp_price_table_mark_now(const dp_price_table *t);

/**
 * Remove every user entry, name and group added since mark (a load that
 * failed halfway leaves the table as it was before it).
 */
void dp_price_table_rollback(dp_price_table *t, dp_price_table_mark mark);

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

/**
 * True when `rest` is a date / version suffix: one or more of
 * [-@] then 3+ digits (a 4-digit run may continue as -MM-DD), "-v" digits,
 * ":" digits, "-latest". Exported for tests.
 */
bool dp_price_version_suffix(dp_str rest);

/**
 * The next form of a model name with one provider qualifier removed: the
 * text after the first '/', else after a leading "word." (letters and '-'
 * only, as Bedrock's "anthropic." and "us."). *qualifier receives the
 * removed word. Returns false when there is none. Exported for tests.
 */
bool dp_price_strip_qualifier(dp_str name, dp_str *next, dp_str *qualifier);

#endif

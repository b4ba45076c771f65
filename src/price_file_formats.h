/*
 * The JSON price file formats price_file.c recognises (price_file.h), each
 * read from a parsed jansson document into a price table:
 *   - LiteLLM's model_prices_and_context_window.json (price_file_litellm.c)
 *   - pydantic genai-prices' provider list (price_file_genai.c)
 * Both check every entry before adding any, so on error the table is
 * unchanged; errors are "PATH: message" naming the entry.
 */
#ifndef DP_PRICE_FILE_FORMATS_H
#define DP_PRICE_FILE_FORMATS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "prices.h"

/** Prices above this (USD per 1M tokens) are surely a unit mistake. */
#define DP_PRICE_MAX_USD_PER_MTOK 1e6

/** Counts of a load, for the log line that reports it. */
typedef struct dp_price_file_stats {
    size_t loaded;  /* entries added */
    size_t skipped; /* entries with no token price (or a form dagprof cannot bill) */
} dp_price_file_stats;

/** LiteLLM: root is the file's top-level object. 0 or -1 with err. */
int dp_price_file_load_litellm(dp_price_table *t, const char *path, const json_t *root,
                               dp_price_file_stats *stats, char *err, size_t errlen);

/** True when root looks like genai-prices data: a list whose first item has "models". */
bool dp_price_file_is_genai(const json_t *root);

/**
 * genai-prices: root is the provider list; `today` ("YYYY-MM-DD", UTC)
 * picks among dated prices. 0 or -1 with err.
 */
int dp_price_file_load_genai(dp_price_table *t, const char *path, const json_t *root,
                             const char *today, dp_price_file_stats *stats, char *err,
                             size_t errlen);

#endif

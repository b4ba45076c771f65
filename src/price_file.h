/*
 * The user's price file (pricing.file / --price-file), in one of three
 * formats recognised by its content (docs/prices.md):
 *  - dagprof's YAML list of
 *     - model: gpt-4o-mini      # a model name, or a glob with '*' (prices.h)
 *       input: 0.15             # USD per 1M input tokens
 *       output: 0.60            # USD per 1M output tokens
 *       cache_read: 0.075       # optional, default = input
 *       cache_write: 0.15       # optional, default = input
 *       above_tokens: 200000    # optional long-context tier, with one or more
 *       above_input: 0.30       #   of above_input / above_output /
 *                               #   above_cache_read / above_cache_write
 *  - LiteLLM's model_prices_and_context_window.json (price_file_litellm.c);
 *  - pydantic genai-prices' provider list (price_file_genai.c);
 * whose entries are added to a price table ahead of the built-ins.
 */
#ifndef DP_PRICE_FILE_H
#define DP_PRICE_FILE_H

#include <stddef.h>

#include "prices.h"

/** Most entries a price file may hold. */
#define DP_PRICE_FILE_MAX_ENTRIES 65536

/**
 * Add every entry of the price file `path` to `t` and name `path` as their
 * origin. All entries are checked before any is added, so on error `t`
 * holds no entry of the file (short of running out of memory while adding:
 * discard `t` then). Returns 0, or -1 with "PATH:LINE: message",
 * "PATH:LINE:COLUMN: message" (JSON syntax) or "PATH: message" (naming the
 * entry) in err.
 */
int dp_price_file_load(dp_price_table *t, const char *path, char *err, size_t errlen);

#endif

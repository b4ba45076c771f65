/*
 * The user's price file (pricing.file / --price-file): a YAML list of
 *     - model: gpt-4o-mini      # pattern, as in prices.h
 *       input: 0.15             # USD per 1M input tokens
 *       output: 0.60            # USD per 1M output tokens
 *       cache_read: 0.075       # optional, default = input
 *       cache_write: 0.15       # optional, default = input
 * whose entries are added to a price table ahead of the built-ins.
 */
#ifndef DP_PRICE_FILE_H
#define DP_PRICE_FILE_H

#include <stddef.h>

#include "prices.h"

/** Most entries a price file may hold. */
#define DP_PRICE_FILE_MAX_ENTRIES 65536

/**
 * Add every entry of the price file `path` to `t`. All entries are checked
 * before any is added, so on error `t` is unchanged. Returns 0, or -1 with
 * "PATH:LINE: message" (or "PATH: message") in err.
 */
int dp_price_file_load(dp_price_table *t, const char *path, char *err, size_t errlen);

#endif

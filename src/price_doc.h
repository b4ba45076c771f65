/* The built-in price table as Markdown, for `dagprof prices` and docs/prices.md;
 * `dagprof prices MODEL...`. */
#ifndef DP_PRICE_DOC_H
#define DP_PRICE_DOC_H

#include <stddef.h>

#include "buf.h"
#include "prices.h"

/** Append the table; 0, or -1 on out of memory. */
int dp_price_reference_markdown(dp_buf *out);

/**
 * For each model name, the entry it gets in t (NULL: built-ins only), the
 * rule that chose it and the prices, or "no price" with the closest
 * entries; 0, or -1 on out of memory.
 */
int dp_price_explain_text(const dp_price_table *t, const char *const *models, size_t count,
                          dp_buf *out);

#endif

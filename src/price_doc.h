/* The built-in price table as Markdown, for `dagprof prices` and docs/prices.md. */
#ifndef DP_PRICE_DOC_H
#define DP_PRICE_DOC_H

#include "buf.h"

/** Append the table; 0, or -1 on out of memory. */
int dp_price_reference_markdown(dp_buf *out);

#endif

/*
 * genai-prices MatchLogic as a price table match rule; see price_match_logic.c.
 */
#ifndef DP_PRICE_MATCH_LOGIC_H
#define DP_PRICE_MATCH_LOGIC_H

#include <stddef.h>

#include <jansson.h>

#include "dp_str.h"

typedef struct dp_match_logic dp_match_logic;

/**
 * Compile a MatchLogic JSON value (nested at most 16 deep, strings of 1 to
 * 512 bytes). NULL with a message in msg (a bad regex: the regex, PCRE2's
 * message and the offset). The caller frees it with dp_match_logic_free.
 */
dp_match_logic *dp_match_logic_compile(const json_t *logic, char *msg, size_t msglen);

/**
 * A description of the clause that matched model ("regex \"^o3\""), or
 * NULL. Safe on several threads at once (state is dp_match_logic *).
 */
const char *dp_match_logic_eval(void *logic, dp_str model);

/** Free a compiled logic (a dp_match_logic *); NULL is accepted. */
void dp_match_logic_free(void *logic);

/**
 * The "equals" names that decide alone (at the top or under "or"): stored
 * in names unless it is NULL (to count first); returns how many. The
 * strings live as long as the logic.
 */
size_t dp_match_logic_names(const dp_match_logic *logic, const char **names);

#endif

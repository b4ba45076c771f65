/*
 * Settings of the analysis: bottleneck thresholds, recommendation triggers,
 * budgets, the default model and the price table. The config file's
 * sections profile, thresholds, recommendations and budget
 * (profile_config.c) declare every key with its default; the comments below
 * repeat those defaults only to explain the fields.
 */
#ifndef DP_PROFILE_CONFIG_H
#define DP_PROFILE_CONFIG_H

#include <stdint.h>

#include "config_map.h"
#include "prices.h"

typedef struct dp_profile_config {
    /* slow_node: execution > factor x the run's mean node execution */
    double slow_node_factor;      /* 2.0 */
    double slow_node_high_factor; /* 4.0 */
    /* high_token_usage: node tokens > factor x the run's mean node tokens */
    double token_usage_factor;      /* 3.0 */
    double token_usage_high_factor; /* 5.0 */
    /* excessive_retries */
    unsigned retries_min;  /* 2 */
    unsigned retries_high; /* 3 */
    /* tool_latency: one tool call longer than this */
    double tool_latency_ms;      /* 1000 */
    double tool_latency_high_ms; /* 5000 */
    /* slow_llm_call: one LLM call longer than this */
    double slow_llm_call_ms;      /* 3000 */
    double slow_llm_call_high_ms; /* 10000 */
    /* dependency_wait: wait > factor x execution */
    double dependency_wait_factor;      /* 1.0 */
    double dependency_wait_high_factor; /* 2.0 */
    /* sequential_bottleneck: at least this many unlinked nodes in a row;
     * severity by impact (% of wall): high from the first cut-off, medium
     * from the second, else low */
    unsigned sequential_min_nodes;       /* 3 */
    double sequential_high_impact_pct;   /* 50 */
    double sequential_medium_impact_pct; /* 20 */
    /* expensive_node: node cost above this (USD); high above factor x it */
    double expensive_node_usd;         /* 0.10 */
    double expensive_node_high_factor; /* 5.0 */
    /* absolute floors: a finding or recommendation is medium or high only
     * when it is worth at least this much time or money (else low) */
    double severity_min_ms;  /* 1000 */
    double severity_min_usd; /* 0.01 */
    /* budget_exceeded: 0 disables; high above factor x the budget */
    double budget_usd;         /* 0 */
    uint64_t budget_tokens;    /* 0 */
    double budget_high_factor; /* 2.0 */

    /* recommendations */
    double model_downgrade_share;     /* 0.30: share of tokens on the priciest model */
    double reduce_context_tokens;     /* 4000: mean input tokens per LLM call */
    unsigned batch_min_calls;         /* 5: calls of one operation in one node */
    double batch_small_ms;            /* 500: a call at most this long is "small" */
    unsigned restructure_chain_nodes; /* 4: critical path at least this many nodes */
    double parallelize_min_share;     /* 0.05: parallelize only when it saves this share of wall */

    /* model used when a node names none; "" = none (cost unknown) */
    char default_model[128];
    /* not owned; NULL = built-in prices only */
    const dp_price_table *prices;
} dp_profile_config;

/** The sections of the config file that set a dp_profile_config. */
extern const dp_config_section dp_profile_section;         /* profile */
extern const dp_config_section dp_thresholds_section;      /* thresholds */
extern const dp_config_section dp_recommendations_section; /* recommendations */
extern const dp_config_section dp_budget_section;          /* budget */

/** Fill every field with its sections' defaults (prices = NULL). */
void dp_profile_config_defaults(dp_profile_config *c);

#endif

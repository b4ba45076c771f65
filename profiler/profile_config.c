/*
 * Built-in defaults of the analysis settings (documented in
 * profile_config.h and docs/metrics.md). The config file overrides them.
 */
#include "profile_config.h"

#include <string.h>

void dp_profile_config_defaults(dp_profile_config *c)
{
    memset(c, 0, sizeof(*c));
    c->slow_node_factor = 2.0;
    c->slow_node_high_factor = 4.0;
    c->token_usage_factor = 3.0;
    c->token_usage_high_factor = 5.0;
    c->retries_min = 2;
    c->retries_high = 3;
    c->tool_latency_ms = 1000.0;
    c->tool_latency_high_ms = 5000.0;
    c->slow_llm_call_ms = 3000.0;
    c->slow_llm_call_high_ms = 10000.0;
    c->dependency_wait_factor = 1.0;
    c->dependency_wait_high_factor = 2.0;
    c->sequential_min_nodes = 3;
    c->sequential_high_impact_pct = 50.0;
    c->sequential_medium_impact_pct = 20.0;
    c->expensive_node_usd = 0.10;
    c->expensive_node_high_factor = 5.0;
    c->budget_usd = 0.0;
    c->budget_tokens = 0;
    c->budget_high_factor = 2.0;
    c->model_downgrade_share = 0.30;
    c->reduce_context_tokens = 4000.0;
    c->batch_min_calls = 5;
    c->batch_small_ms = 500.0;
    c->restructure_chain_nodes = 4;
    c->parallelize_min_share = 0.05;
    c->severity_min_ms = 1000;
    c->severity_min_usd = 0.01;
    c->default_model[0] = '\0';
    c->prices = NULL;
}

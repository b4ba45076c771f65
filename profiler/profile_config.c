/*
 * The analysis settings as four sections of the config file (profile,
 * thresholds, recommendations, budget), all into dp_profile_config: their
 * keys, defaults, ranges and the rules that join two of them. The defaults
 * here are the only ones; dp_profile_config_defaults() applies them.
 */
#include "profile_config.h"

#include <stddef.h>
#include <string.h>

#define KEY(...) DP_CONFIG_KEY(dp_profile_config, __VA_ARGS__)

static const dp_config_key profile_keys[] = {
    KEY("default_model", DP_CFG_STRING, default_model, "", 0, 0, NULL, "--default-model",
        "Model assumed for LLM calls that name none. Empty = none (their cost is unknown)."),
};

static const dp_config_key threshold_keys[] = {
    KEY("slow_node_factor", DP_CFG_DOUBLE, slow_node_factor, "2.0", 1, 1000, NULL, NULL,
        "slow_node: a node's execution is above this many times the run's mean."),
    KEY("slow_node_high_factor", DP_CFG_DOUBLE, slow_node_high_factor, "4.0", 1, 1000, NULL, NULL,
        "slow_node is of high severity above this many times the mean."),
    KEY("token_usage_factor", DP_CFG_DOUBLE, token_usage_factor, "3.0", 1, 1000, NULL, NULL,
        "high_token_usage: a node's tokens are above this many times the run's mean."),
    KEY("token_usage_high_factor", DP_CFG_DOUBLE, token_usage_high_factor, "5.0", 1, 1000, NULL,
        NULL, "high_token_usage is of high severity above this many times the mean."),
    KEY("retries_min", DP_CFG_UINT, retries_min, "2", 1, 1000, NULL, NULL,
        "excessive_retries: a node retried at least this many times."),
    KEY("retries_high", DP_CFG_UINT, retries_high, "3", 1, 1000, NULL, NULL,
        "excessive_retries is of high severity from this many retries."),
    KEY("tool_latency", DP_CFG_DURATION_D, tool_latency_ms, "1s", 1, DP_CONFIG_HOUR_MS, NULL, NULL,
        "tool_latency: one tool call took longer than this."),
    KEY("tool_latency_high", DP_CFG_DURATION_D, tool_latency_high_ms, "5s", 1, DP_CONFIG_HOUR_MS,
        NULL, NULL, "tool_latency is of high severity above this."),
    KEY("slow_llm_call", DP_CFG_DURATION_D, slow_llm_call_ms, "3s", 1, DP_CONFIG_HOUR_MS, NULL,
        NULL, "slow_llm_call: one LLM call took longer than this."),
    KEY("slow_llm_call_high", DP_CFG_DURATION_D, slow_llm_call_high_ms, "10s", 1, DP_CONFIG_HOUR_MS,
        NULL, NULL, "slow_llm_call is of high severity above this."),
    KEY("dependency_wait_factor", DP_CFG_DOUBLE, dependency_wait_factor, "1.0", 0, 1000, NULL, NULL,
        "dependency_wait: a node waited for its dependencies more than this times its execution."),
    KEY("dependency_wait_high_factor", DP_CFG_DOUBLE, dependency_wait_high_factor, "2.0", 0, 1000,
        NULL, NULL, "dependency_wait is of high severity above this many times the execution."),
    KEY("sequential_min_nodes", DP_CFG_UINT, sequential_min_nodes, "3", 2, 1000, NULL, NULL,
        "sequential_bottleneck: at least this many nodes ran one after another, unlinked."),
    KEY("sequential_medium_impact_pct", DP_CFG_DOUBLE, sequential_medium_impact_pct, "20", 0, 100,
        NULL, NULL,
        "sequential_bottleneck is of medium severity (else low) from this impact, in % of the "
        "run's wall time."),
    KEY("sequential_high_impact_pct", DP_CFG_DOUBLE, sequential_high_impact_pct, "50", 0, 100, NULL,
        NULL,
        "sequential_bottleneck is of high severity from this impact, in % of the run's wall "
        "time."),
    KEY("severity_min_time", DP_CFG_DURATION_D, severity_min_ms, "1s", 0, DP_CONFIG_HOUR_MS, NULL,
        NULL,
        "A finding or recommendation about time is medium or high only when it concerns at least "
        "this long (else low), whatever its share of the run."),
    KEY("severity_min_usd", DP_CFG_DOUBLE, severity_min_usd, "0.01", 0, 1e6, NULL, NULL,
        "A finding or recommendation about cost is medium or high only when it concerns at least "
        "this many US dollars (else low), whatever its share of the run."),
    KEY("expensive_node_usd", DP_CFG_DOUBLE, expensive_node_usd, "0.10", 0, 1e6, NULL, NULL,
        "expensive_node: a node cost more than this many US dollars."),
    KEY("expensive_node_high_factor", DP_CFG_DOUBLE, expensive_node_high_factor, "5.0", 1, 1000,
        NULL, NULL, "expensive_node is of high severity above this many times expensive_node_usd."),
    KEY("budget_high_factor", DP_CFG_DOUBLE, budget_high_factor, "2.0", 1, 1000, NULL, NULL,
        "budget_exceeded is of high severity above this many times the budget (budget.usd or "
        "budget.tokens)."),
};

static const dp_config_key recommendation_keys[] = {
    KEY("model_downgrade_share", DP_CFG_DOUBLE, model_downgrade_share, "0.30", 0, 1, NULL, NULL,
        "model_downgrade: at least this share of the run's tokens went to its priciest model."),
    KEY("reduce_context_tokens", DP_CFG_DOUBLE, reduce_context_tokens, "4000", 0, 1e9, NULL, NULL,
        "reduce_context: the mean input tokens per LLM call are above this."),
    KEY("batch_min_calls", DP_CFG_UINT, batch_min_calls, "5", 2, 1000000, NULL, NULL,
        "batch_operations: at least this many small calls of one operation in a node."),
    KEY("batch_small_call", DP_CFG_DURATION_D, batch_small_ms, "500ms", 0, DP_CONFIG_HOUR_MS, NULL,
        NULL, "batch_operations: a call at most this long counts as small."),
    KEY("restructure_chain_nodes", DP_CFG_UINT, restructure_chain_nodes, "4", 2, 1000000, NULL,
        NULL, "restructure_dag: the critical path is a chain of at least this many nodes."),
    KEY("parallelize_min_share", DP_CFG_DOUBLE, parallelize_min_share, "0.05", 0, 1, NULL, NULL,
        "parallelize: only recommended when it would save at least this share of the wall time."),
};

static const dp_config_key budget_keys[] = {
    KEY("usd", DP_CFG_DOUBLE, budget_usd, "0", 0, 1e9, NULL, NULL,
        "budget_exceeded: a run cost more than this many US dollars. 0 = no cost budget."),
    KEY("tokens", DP_CFG_UINT, budget_tokens, "0", 0, 1e15, NULL, NULL,
        "budget_exceeded: a run used more tokens than this. 0 = no token budget."),
};

static const dp_config_not_below threshold_rules[] = {
    {"slow_node_high_factor", "slow_node_factor"},
    {"token_usage_high_factor", "token_usage_factor"},
    {"retries_high", "retries_min"},
    {"tool_latency_high", "tool_latency"},
    {"slow_llm_call_high", "slow_llm_call"},
    {"dependency_wait_high_factor", "dependency_wait_factor"},
    {"sequential_high_impact_pct", "sequential_medium_impact_pct"},
};

const dp_config_section dp_profile_section =
    DP_CONFIG_SECTION("profile", "How spans are read into DAG nodes.", profile_keys);
const dp_config_section dp_thresholds_section = DP_CONFIG_SECTION_RULES(
    "thresholds", "When a bottleneck is reported, and when it is of high severity.", threshold_keys,
    threshold_rules);
const dp_config_section dp_recommendations_section =
    DP_CONFIG_SECTION("recommendations", "When a recommendation is made.", recommendation_keys);
const dp_config_section dp_budget_section = DP_CONFIG_SECTION(
    "budget", "Per-run budgets; a run above one gets a budget_exceeded bottleneck.", budget_keys);

void dp_profile_config_defaults(dp_profile_config *c)
{
    memset(c, 0, sizeof(*c));
    dp_config_section_defaults(c, &dp_profile_section);
    dp_config_section_defaults(c, &dp_thresholds_section);
    dp_config_section_defaults(c, &dp_recommendations_section);
    dp_config_section_defaults(c, &dp_budget_section);
}

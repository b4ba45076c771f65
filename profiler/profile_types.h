/*
 * The fields of a run profile, for the modules that read them (rendering,
 * exporters, tests). dp_profile_build() fills everything; the profile owns
 * all the memory the fields point to (one arena, freed by
 * dp_run_profile_destroy()). Definitions of every figure: docs/metrics.md.
 *
 * Times are milliseconds; "_ms" fields named start/end/ready are relative
 * to the run's start (the earliest span start of the trace).
 */
#ifndef DP_PROFILE_TYPES_H
#define DP_PROFILE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "profile.h"

/** Token counts by kind. Cache tokens are part of input (OTel convention). */
typedef struct dp_token_counts {
    uint64_t input;
    uint64_t output;
    uint64_t cache_read;
    uint64_t cache_write;
} dp_token_counts;

/** input + output (cache tokens are already inside input). */
static inline uint64_t dp_token_total(const dp_token_counts *t)
{
    return t->input + t->output;
}

/**
 * A cost by what it paid for (USD): the uncached part of input, cache
 * reads, cache writes and output, as the price table bills them, and
 * `given`: costs a span stated itself (gen_ai.usage.cost, llm.cost.total),
 * which come without a split. The parts of a known cost sum to it.
 */
typedef struct dp_cost_split {
    double input;
    double cache_read;
    double cache_write;
    double output;
    double given;
} dp_cost_split;

/** One tool call made inside a node. */
typedef struct dp_tool_call_profile {
    const char *name;
    double duration_ms;
    bool success; /* span status is not ERROR */
} dp_tool_call_profile;

/** Per-node figures. Nodes are sorted by start time, ties by id. */
typedef struct dp_node_profile {
    const char *id;
    uint8_t span_id[8]; /* the node's span (the last attempt when retried) */
    const char *name;   /* span name of the node span (the last attempt) */
    const char *model;  /* NULL when the node names no model */
    double start_ms;
    double end_ms;
    double ready_ms;     /* latest dependency end, else parent node start / run start */
    double duration_ms;  /* end - start */
    double wait_ms;      /* max(0, start - ready) */
    double execution_ms; /* = duration_ms: the node's own time */
    const size_t *deps;  /* indexes into dp_run_profile.nodes */
    size_t dep_count;
    int parent_node; /* nearest node ancestor, -1 when top-level */
    bool on_critical_path;
    unsigned retries;
    double failed_attempt_ms; /* time spent in failed attempts (inferred retries) */
    unsigned llm_calls;
    dp_token_counts tokens;
    double cost_usd;          /* meaningful when cost_known */
    bool cost_known;          /* false when any cost-bearing call had an unknown price */
    dp_cost_split cost_split; /* of the calls whose cost is known */
    unsigned unknown_cost_calls;
    const dp_tool_call_profile *tool_calls;
    size_t tool_call_count;
    size_t span_count; /* spans that belong to this node, itself included */
} dp_node_profile;

/** One LLM or tool call of the run (a span that is an LLM call or a tool call). */
typedef struct dp_call_profile {
    int node; /* owning node, -1 when outside every node */
    bool is_llm;
    bool is_tool;
    const char
        *name; /* tool name for tools, else the operation (gen_ai.operation.name), else span name */
    const char *model; /* resolved model label for LLM calls, NULL otherwise */
    double start_ms;   /* relative to the run's start */
    double duration_ms;
    bool success; /* span status is not ERROR */
    dp_token_counts tokens;
    double cost_usd; /* meaningful when cost_known */
    bool cost_known;
} dp_call_profile;

/** The tool calls of one tool name over the run (docs/metrics.md). */
typedef struct dp_tool_stat {
    const char *name;
    unsigned count;
    double p50_ms; /* nearest rank */
    double max_ms;
    double total_ms;
    unsigned failures; /* calls whose span status is ERROR */
} dp_tool_stat;

/** Usage of one model over the run, from the actual per-call tokens. */
typedef struct dp_model_usage {
    const char *model; /* "unknown" when a call names no model and no default is set */
    unsigned calls;
    bool embedding; /* its calls are embeddings requests */
    dp_token_counts tokens;
    double cost_usd;
    bool cost_known;
    dp_cost_split cost_split; /* of the calls whose cost is known */
} dp_model_usage;

enum dp_bottleneck_type {
    DP_BOTTLENECK_SLOW_NODE = 0,
    DP_BOTTLENECK_HIGH_TOKEN_USAGE,
    DP_BOTTLENECK_EXCESSIVE_RETRIES,
    DP_BOTTLENECK_TOOL_LATENCY,
    DP_BOTTLENECK_SLOW_LLM_CALL,
    DP_BOTTLENECK_DEPENDENCY_WAIT,
    DP_BOTTLENECK_SEQUENTIAL,
    DP_BOTTLENECK_EXPENSIVE_NODE,
    DP_BOTTLENECK_BUDGET_EXCEEDED,
};

enum dp_severity {
    DP_SEVERITY_LOW = 0,
    DP_SEVERITY_MEDIUM,
    DP_SEVERITY_HIGH,
};

/** One detected bottleneck. */
typedef struct dp_bottleneck {
    enum dp_bottleneck_type type;
    int node; /* index into nodes, -1 when it concerns the whole run */
    enum dp_severity severity;
    double impact_pct;
    bool hypothesis; /* rests on dependencies inferred from timing */
    char details[256];
    char suggestion[192];
} dp_bottleneck;

enum dp_recommendation_type {
    DP_REC_PARALLELIZE = 0,
    DP_REC_CACHE,
    DP_REC_MODEL_DOWNGRADE,
    DP_REC_REDUCE_CONTEXT,
    DP_REC_BATCH_OPERATIONS,
    DP_REC_RESTRUCTURE_DAG,
};

/** One recommendation with its estimated savings. */
typedef struct dp_recommendation {
    enum dp_recommendation_type type;
    enum dp_severity priority;
    double savings_time_ms;
    uint64_t savings_tokens;
    double savings_cost_usd;
    bool savings_cost_known;
    bool hypothesis;   /* rests on dependencies inferred from timing */
    unsigned overlaps; /* bit (1 << type) per other recommendation claiming the same savings */
    char description[256];
    char implementation[256];
    /* the nodes the advice concerns, in node order (the critical path's for
     * restructure_dag; indexes into nodes);
     * none for advice on the whole run (parallelize) */
    const size_t *nodes;
    size_t node_count;
} dp_recommendation;

/** Where the nodes of a run came from (see docs/metrics.md). */
enum dp_node_source {
    DP_NODES_NONE = 0,      /* empty trace */
    DP_NODES_EXPLICIT,      /* dag.node.id / graph.node.id */
    DP_NODES_FRAMEWORK,     /* LangGraph nodes, Traceloop tasks/agents, AI SDK functionIds */
    DP_NODES_ROOT_CHILDREN, /* the root's direct children (or the root alone) */
};

/** Where the edges of a run came from (see docs/metrics.md). */
enum dp_deps_source {
    DP_DEPS_INFERRED = 0,    /* from timing among sibling nodes */
    DP_DEPS_DECLARED,        /* span links, dag.depends_on, graph.node.parent_id */
    DP_DEPS_LANGGRAPH_STEPS, /* LangGraph supersteps (langgraph_step) */
};

struct dp_run_profile {
    uint8_t trace_id[16];
    const char *dag_id;
    const char *service; /* the root span's resource service.name; NULL when absent */
    bool late;
    bool partial;               /* finalised early: more spans may come (and a whole report) */
    bool supersedes;            /* replaces an earlier partial report of this trace */
    const char *partial_reason; /* "max_age" / "memory_limit" (static), NULL when not partial */
    size_t span_count;          /* spans of the trace as received, duplicates included */
    size_t duplicate_spans;     /* copies of an already seen span id: skipped */
    /* usage not added because it repeats other spans' (docs/metrics.md) */
    unsigned aggregate_spans;       /* usage covering model requests below the span */
    unsigned duplicate_layer_spans; /* one request seen by a second instrumentation layer */
    unsigned calls_without_usage;   /* successful model calls that report no usage */
    uint64_t start_ns;              /* the run's start: earliest span start */
    bool has_root;
    uint8_t root_span_id[8]; /* the root span (see docs/metrics.md), when has_root */
    enum dp_node_source node_source;
    bool explicit_deps; /* dependencies were declared (deps_source is not INFERRED) */
    enum dp_deps_source deps_source;

    double wall_ms;          /* max end - min start over all spans */
    double execution_ms;     /* sum of node execution */
    double critical_path_ms; /* last critical node end - first critical node ready */
    double parallelism;      /* execution_ms / wall_ms (0 when wall is 0) */
    double speedup;          /* wall_ms / critical_path_ms (1 when the path is empty) */
    /* wall_ms / the end of the ideal schedule with independent top-level
     * nodes; only when dependencies are inferred (< 0 otherwise) */
    double speedup_if_independent;

    unsigned retries;
    unsigned llm_calls;
    unsigned tool_calls;
    dp_token_counts tokens;
    double cost_usd;     /* sum of the known costs */
    bool cost_any_known; /* at least one call has a known cost */
    bool cost_complete;  /* no call with unknown cost */
    unsigned unknown_cost_calls;
    unsigned coerced_values;
    unsigned ignored_values;

    dp_node_profile *nodes;
    size_t node_count;
    size_t *critical_path; /* node indexes, first to last */
    size_t critical_path_count;
    dp_model_usage *models; /* sorted by cost (unknown last), then name */
    size_t model_count;
    dp_bottleneck *bottlenecks; /* sorted by impact_pct descending */
    size_t bottleneck_count;
    size_t bottlenecks_omitted;         /* findings beyond the kept ones (lowest impact) */
    dp_recommendation *recommendations; /* in the order of their type */
    size_t recommendation_count;
    dp_call_profile *calls; /* every LLM and tool call, in span order */
    size_t call_count;
    dp_tool_stat *tool_stats; /* per tool name, by total duration descending, then name */
    size_t tool_stat_count;

    dp_arena arena; /* owns every string and array above */
};

/** "slow_node", ... as used in reports. */
const char *dp_bottleneck_type_name(enum dp_bottleneck_type t);
/** "parallelize", ... as used in reports. */
const char *dp_recommendation_type_name(enum dp_recommendation_type t);
/** "low" / "medium" / "high". */
const char *dp_severity_name(enum dp_severity s);

#endif

/*
 * Internal to the profiler: the state shared by the build steps while one
 * run profile is made (attrs.c reads attributes, nodes.c maps spans to
 * nodes and sums usage, deps.c links nodes, bottlenecks.c and recommend.c
 * judge the result; prof_helpers.c holds what several steps use and calls
 * none of them). Not for other modules. Calls go one way: profile.c ->
 * steps -> deps.c -> prof_helpers.c.
 */
#ifndef DP_PROFILE_INTERNAL_H
#define DP_PROFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "profile_types.h"

/* Model attributes of a span, in price lookup order: dag.model,
 * gen_ai.response.model, gen_ai.request.model, llm.model_name, ai.model.id,
 * embedding.model_name. */
#define DP_PROF_MODEL_KEYS 6
enum {
    DP_PROF_M_DAG = 0,
    DP_PROF_M_RESPONSE,
    DP_PROF_M_REQUEST,
    DP_PROF_M_LLM,
    DP_PROF_M_AI,
    DP_PROF_M_EMBEDDING
};

/* What one span says, read once (so each odd value is counted once). */
typedef struct dp_prof_span {
    int parent; /* index of the parent span in this trace, -1 when none */
    uint64_t start_ns;
    uint64_t end_ns; /* never before start_ns */
    dp_str node_id;  /* dag.node.id / graph.node.id (coerced), empty when none */
    dp_str graph_parent_id;
    const dp_value *depends_on;
    dp_str op;                         /* gen_ai.operation.name */
    dp_str tool_name;                  /* gen_ai.tool.name / tool.name */
    dp_str models[DP_PROF_MODEL_KEYS]; /* see DP_PROF_MODEL_KEYS (empty = absent) */
    dp_str agent_name;
    dp_str scope; /* instrumentation scope name */
    /* a step as a framework names it: langgraph_node, a Traceloop task or
     * agent entity, or ai.telemetry.functionId (empty when none) */
    dp_str fw_node;
    int64_t lg_step; /* LangGraph superstep (metadata.langgraph_step) */
    bool has_lg_step;
    dp_token_counts tokens;
    bool has_tokens;
    bool has_cost_attr;
    double cost_attr;
    bool has_retries;
    uint64_t retries_attr;
    bool has_input;
    uint8_t input_sha[32];
    bool is_llm;
    bool is_tool;
    bool is_embedding; /* an embeddings request (never a chat substitute) */
    bool has_usage;    /* tokens or a cost attribute */
    /* filled by nodes.c */
    bool usage_counted; /* its usage is added: no usage below it, not a duplicate layer */
    bool duplicate_layer;
    int node; /* owning node (nearest node ancestor, itself included), -1 */
    bool is_node_span;
    bool cost_known;
    double cost;
    dp_cost_split cost_split;
    dp_str model; /* resolved model label */
} dp_prof_span;

/* Distinct models whose price lookups a run remembers (runs use a few). */
#define DP_PROF_PRICE_MEMO 8

typedef struct dp_prof_ctx {
    const dp_span *spans;
    size_t n;
    const dp_profile_config *cfg;
    dp_run_profile *p;
    dp_arena *scratch; /* freed when the build ends */
    dp_prof_span *si;
    int root;       /* -1 for an empty trace */
    int *node_span; /* per node: its representative (last attempt) span */
    void *md;       /* EVP_MD_CTX for input hashes, created on first use */
    int *id_slots;  /* span id -> span index, open addressing */
    size_t id_mask;
    /* the latest price lookups (models are views into spans or config) */
    struct {
        dp_str model;
        const dp_model_price *price;
    } price_memo[DP_PROF_PRICE_MEMO];
    unsigned price_memo_count, price_memo_next;
} dp_prof_ctx;

#define DP_PROF_NS_PER_MS 1e6

/* attrs.c */
int dp_prof_read_spans(dp_prof_ctx *c);
/* Index of the span with this id in the trace, -1 when absent. */
int dp_prof_find_span(const dp_prof_ctx *c, const uint8_t id[8]);

/* nodes.c */
int dp_prof_map_nodes(dp_prof_ctx *c);
int dp_prof_sum_usage(dp_prof_ctx *c);
/* USD of one call: uncached input, output, cache read and write at their rates. */
double dp_prof_call_cost(const dp_model_price *pr, const dp_token_counts *t);
/** The parts of dp_prof_call_cost() by what they pay for (their sum may
 *  differ from it in the last bits only). */
void dp_prof_call_cost_split(const dp_model_price *pr, const dp_token_counts *t,
                             dp_cost_split *out);
/** USD per 1M of the call's input tokens, as its input was billed: uncached,
 *  cache read and write at their rates (the tier's when above it), over all
 *  of its input; 0 without input. */
double dp_prof_call_input_rate(const dp_model_price *pr, const dp_token_counts *t);
/** a += b, part by part. */
void dp_cost_split_add(dp_cost_split *a, const dp_cost_split *b);
/* The model name without a trailing release date ("-2024-08-06",
 * "-20241022", "@20241022"); the name itself when it has none. */
dp_str dp_prof_undated_model(dp_str model);
/* The price for a model label under the configured table; NULL when unknown. */
const dp_model_price *dp_prof_price(dp_prof_ctx *c, dp_str model);

/* deps.c */
int dp_prof_link_nodes(dp_prof_ctx *c);
/* Time the run's top-level nodes would end if only explicit dependencies
 * held them back (relative to run start, ms); *actual_end gets the real one. */
double dp_prof_ideal_end(dp_prof_ctx *c, double *actual_end);
/* Node indexes grouped by parent node, start order within a group. */
size_t *dp_prof_sibling_order(dp_prof_ctx *c);
/* Whether node b has a direct dependency edge on node a. */
bool dp_prof_has_edge(const dp_run_profile *p, size_t b, size_t a);
/* Whether b started when a had ended, within the slack inference allows
 * for start times of whole milliseconds (deps.c). */
bool dp_prof_ran_after(const dp_node_profile *a, const dp_node_profile *b);

/* bottlenecks.c */
int dp_prof_find_bottlenecks(dp_prof_ctx *c);

/* recommend.c */
int dp_prof_recommend(dp_prof_ctx *c);

/* profile.c: bounded formatting into fixed fields */
void dp_prof_format(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A span id as a 64-bit key, and its slot in an open-addressing table of
 * mask + 1 slots (a power of two). */
static inline uint64_t dp_prof_id_key(const uint8_t id[8])
{
    uint64_t k;
    memcpy(&k, id, 8);
    return k;
}

static inline size_t dp_prof_id_hash(uint64_t k, size_t mask)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & mask;
}

static inline double dp_prof_ms(uint64_t ns_from_start)
{
    return (double)ns_from_start / DP_PROF_NS_PER_MS;
}

#endif

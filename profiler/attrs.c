/*
 * First step of a profile build: read what each span says (parent, node id,
 * model, tokens, cost, retries, dependencies, tool and LLM markers) once,
 * coercing values of the wrong type where their meaning is clear and
 * counting the rest as ignored. Later steps only look at dp_prof_span.
 */
#include "profile_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#define NUMBER_TEXT_MAX 64
/* Larger counts are not plausible and would overflow the sums: ignored. */
#define COUNT_MAX 1000000000000000ULL

/* --- value readers ------------------------------------------------------ */

/* Copy a short string view into buf (NUL-terminated); false when too long. */
static bool short_cstr(dp_str s, char *buf, size_t cap)
{
    if (!s.ptr || s.len == 0 || s.len >= cap)
        return false;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    return true;
}

static bool parse_u64_text(dp_str s, uint64_t *out)
{
    char buf[NUMBER_TEXT_MAX];
    if (!short_cstr(s, buf, sizeof(buf)))
        return false;
    for (size_t i = 0; buf[i]; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return false;
    }
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

static bool parse_double_text(dp_str s, double *out)
{
    char buf[NUMBER_TEXT_MAX];
    char *end = NULL;
    if (!short_cstr(s, buf, sizeof(buf)))
        return false;
    double v = strtod(buf, &end);
    if (end == buf || *end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* A non-negative integer. Doubles with an integral value and numeric
 * strings are coerced (counted); anything else is ignored (counted). */
static bool read_count(dp_prof_ctx *c, const dp_value *v, uint64_t *out)
{
    switch (v->kind) {
    case DP_VALUE_INT:
        if (v->u.i >= 0 && (uint64_t)v->u.i <= COUNT_MAX) {
            *out = (uint64_t)v->u.i;
            return true;
        }
        break;
    case DP_VALUE_DOUBLE:
        if (isfinite(v->u.d) && v->u.d >= 0 && v->u.d <= (double)COUNT_MAX &&
            floor(v->u.d) == v->u.d) {
            *out = (uint64_t)v->u.d;
            c->p->coerced_values++;
            return true;
        }
        break;
    case DP_VALUE_STRING:
        if (parse_u64_text(v->u.s, out) && *out <= COUNT_MAX) {
            c->p->coerced_values++;
            return true;
        }
        break;
    default:
        break;
    }
    c->p->ignored_values++;
    return false;
}

/* A non-negative amount (cost). Integers are numbers already; numeric
 * strings are coerced (counted). */
static bool read_amount(dp_prof_ctx *c, const dp_value *v, double *out)
{
    double d = -1;
    bool coerced = false;
    if (v->kind == DP_VALUE_DOUBLE)
        d = v->u.d;
    else if (v->kind == DP_VALUE_INT)
        d = (double)v->u.i;
    else if (v->kind == DP_VALUE_STRING && parse_double_text(v->u.s, &d))
        coerced = true;
    /* a single call above a million dollars is a unit mistake, not a cost */
    if (isfinite(d) && d >= 0 && d <= 1e6) {
        *out = d;
        if (coerced)
            c->p->coerced_values++;
        return true;
    }
    c->p->ignored_values++;
    return false;
}

/* A text value. Integers are written in decimal (coerced, counted) because
 * node ids are sometimes numbers; other kinds are ignored (counted). */
static bool read_text(dp_prof_ctx *c, const dp_value *v, dp_str *out, bool allow_number)
{
    if (v->kind == DP_VALUE_STRING && v->u.s.len > 0) {
        *out = v->u.s;
        return true;
    }
    if (allow_number && v->kind == DP_VALUE_INT) {
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%lld", (long long)v->u.i);
        char *copy = dp_arena_strndup(c->scratch, buf, (size_t)len);
        if (copy) {
            *out = (dp_str){copy, (size_t)len};
            c->p->coerced_values++;
            return true;
        }
    }
    c->p->ignored_values++;
    return false;
}

/* Every attribute key the profiler reads. A span's attributes are scanned
 * once into a table indexed by these ids, instead of one linear search per
 * key: this runs for every span the daemon receives. */
enum known_key {
    K_NODE_ID,
    K_GRAPH_NODE_ID,
    K_GRAPH_PARENT_ID,
    K_DEPENDS_ON,
    K_NODE_DEPENDS_ON,
    K_OPERATION,
    K_TOOL_NAME,
    K_OI_TOOL_NAME,
    K_AI_TOOL_NAME,
    K_AGENT_NAME,
    K_DAG_MODEL,
    K_RESPONSE_MODEL,
    K_REQUEST_MODEL,
    K_LLM_MODEL,
    K_AI_MODEL,
    K_EMBEDDING_MODEL,
    K_IN_TOKENS,
    K_PROMPT_TOKENS,
    K_OI_PROMPT,
    K_DAG_IN,
    K_AI_IN,
    K_AI_PROMPT,
    K_AI_EMBED_TOKENS,
    K_OUT_TOKENS,
    K_COMPLETION_TOKENS,
    K_OI_COMPLETION,
    K_DAG_OUT,
    K_AI_OUT,
    K_AI_COMPLETION,
    K_CACHE_READ,
    K_OI_CACHE_READ,
    K_TL_CACHE_READ,
    K_AI_CACHE_READ,
    K_AI_CACHED_IN,
    K_CACHE_WRITE,
    K_OI_CACHE_WRITE,
    K_TL_CACHE_WRITE,
    K_AI_CACHE_WRITE,
    K_TOTAL_TOKENS,
    K_OI_TOTAL,
    K_TL_TOTAL,
    K_AI_TOTAL,
    K_RETRIES,
    K_OI_SPAN_KIND,
    K_COST,
    K_OI_COST,
    K_PROMPT,
    K_INPUT_MESSAGES,
    K_OI_INPUT_MESSAGES,
    K_INPUT_VALUE,
    K_AI_PROMPT_TEXT,
    K_AI_FUNCTION_ID,
    K_TL_KIND,
    K_TL_ENTITY,
    K_METADATA,
    K_AI_PROVIDER_META,
    K_COUNT
};

static const dp_str known_keys[K_COUNT] = {
    DP_STR_LIT("dag.node.id"),
    DP_STR_LIT("graph.node.id"),
    DP_STR_LIT("graph.node.parent_id"),
    DP_STR_LIT("dag.depends_on"),
    DP_STR_LIT("dag.node.depends_on"),
    DP_STR_LIT("gen_ai.operation.name"),
    DP_STR_LIT("gen_ai.tool.name"),
    DP_STR_LIT("tool.name"),
    DP_STR_LIT("ai.toolCall.name"),
    DP_STR_LIT("gen_ai.agent.name"),
    DP_STR_LIT("dag.model"),
    DP_STR_LIT("gen_ai.response.model"),
    DP_STR_LIT("gen_ai.request.model"),
    DP_STR_LIT("llm.model_name"),
    DP_STR_LIT("ai.model.id"),
    DP_STR_LIT("embedding.model_name"),
    DP_STR_LIT("gen_ai.usage.input_tokens"),
    DP_STR_LIT("gen_ai.usage.prompt_tokens"),
    DP_STR_LIT("llm.token_count.prompt"),
    DP_STR_LIT("dag.tokens.input"),
    DP_STR_LIT("ai.usage.inputTokens"),
    DP_STR_LIT("ai.usage.promptTokens"),
    DP_STR_LIT("ai.usage.tokens"),
    DP_STR_LIT("gen_ai.usage.output_tokens"),
    DP_STR_LIT("gen_ai.usage.completion_tokens"),
    DP_STR_LIT("llm.token_count.completion"),
    DP_STR_LIT("dag.tokens.output"),
    DP_STR_LIT("ai.usage.outputTokens"),
    DP_STR_LIT("ai.usage.completionTokens"),
    DP_STR_LIT("gen_ai.usage.cache_read.input_tokens"),
    DP_STR_LIT("llm.token_count.prompt_details.cache_read"),
    DP_STR_LIT("gen_ai.usage.cache_read_input_tokens"),
    DP_STR_LIT("ai.usage.inputTokenDetails.cacheReadTokens"),
    DP_STR_LIT("ai.usage.cachedInputTokens"),
    DP_STR_LIT("gen_ai.usage.cache_creation.input_tokens"),
    DP_STR_LIT("llm.token_count.prompt_details.cache_write"),
    DP_STR_LIT("gen_ai.usage.cache_creation_input_tokens"),
    DP_STR_LIT("ai.usage.inputTokenDetails.cacheWriteTokens"),
    DP_STR_LIT("gen_ai.usage.total_tokens"),
    DP_STR_LIT("llm.token_count.total"),
    DP_STR_LIT("llm.usage.total_tokens"),
    DP_STR_LIT("ai.usage.totalTokens"),
    DP_STR_LIT("dag.retries"),
    DP_STR_LIT("openinference.span.kind"),
    DP_STR_LIT("gen_ai.usage.cost"),
    DP_STR_LIT("llm.cost.total"),
    DP_STR_LIT("gen_ai.prompt"),
    DP_STR_LIT("gen_ai.input.messages"),
    DP_STR_LIT("llm.input_messages"),
    DP_STR_LIT("input.value"),
    DP_STR_LIT("ai.prompt.messages"),
    DP_STR_LIT("ai.telemetry.functionId"),
    DP_STR_LIT("traceloop.span.kind"),
    DP_STR_LIT("traceloop.entity.name"),
    DP_STR_LIT("metadata"),
    DP_STR_LIT("ai.response.providerMetadata"),
};

typedef struct attr_view {
    const dp_value *v[K_COUNT];
} attr_view;

/*
 * Known keys by hash: every span's every attribute is looked up, so the
 * lookup is one hash of three bytes and (mostly) one comparison. Open
 * addressing over 256 slots (about a quarter full), built once.
 */
#define KEY_SLOTS 256
_Static_assert(K_COUNT < KEY_SLOTS / 2, "known-key table stays at most half full");
static uint8_t key_slots[KEY_SLOTS]; /* key id + 1; 0 = empty */
static pthread_once_t key_slots_once = PTHREAD_ONCE_INIT;

/* Keys are at least 8 bytes (checked by the caller). */
static unsigned key_hash(dp_str key)
{
    const unsigned char *p = (const unsigned char *)key.ptr;
    return (unsigned)(key.len * 131u + p[key.len - 1] * 31u + p[key.len - 3] * 7u + p[4]) &
           (KEY_SLOTS - 1);
}

static void key_slots_build(void)
{
    for (int k = 0; k < K_COUNT; k++) {
        unsigned h = key_hash(known_keys[k]);
        while (key_slots[h])
            h = (h + 1) & (KEY_SLOTS - 1);
        key_slots[h] = (uint8_t)(k + 1);
    }
}

/* The id of a known key, or -1. */
static int key_id(dp_str key)
{
    for (unsigned h = key_hash(key); key_slots[h]; h = (h + 1) & (KEY_SLOTS - 1)) {
        int k = key_slots[h] - 1;
        if (known_keys[k].len == key.len && memcmp(known_keys[k].ptr, key.ptr, key.len) == 0)
            return k;
    }
    return -1;
}

/* Fill the view; the first occurrence of a key wins (as dp_span_attr). */
static void scan_attrs(const dp_span *s, attr_view *view)
{
    memset(view, 0, sizeof(*view));
    pthread_once(&key_slots_once, key_slots_build);
    for (size_t i = 0; i < s->attr_count; i++) {
        dp_str key = s->attrs[i].key;
        if (key.len < 8 || s->attrs[i].value.kind == DP_VALUE_EMPTY)
            continue; /* the shortest known key is 8 bytes */
        int k = key_id(key);
        if (k >= 0 && !view->v[k])
            view->v[k] = &s->attrs[i].value;
    }
}

/* The first present attribute among the ids, or NULL. */
static const dp_value *first_attr(const attr_view *view, const int *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (view->v[ids[i]])
            return view->v[ids[i]];
    }
    return NULL;
}

static bool read_count_of(dp_prof_ctx *c, const attr_view *view, const int *ids, size_t n,
                          uint64_t *out)
{
    const dp_value *v = first_attr(view, ids, n);
    return v && read_count(c, v, out);
}

static bool read_text_of(dp_prof_ctx *c, const attr_view *view, int id, dp_str *out,
                         bool allow_number)
{
    const dp_value *v = view->v[id];
    return v && read_text(c, v, out, allow_number);
}

#define COUNT_OF(keys) (sizeof(keys) / sizeof(keys[0]))

static const int input_keys[] = {K_IN_TOKENS, K_PROMPT_TOKENS, K_OI_PROMPT,      K_DAG_IN,
                                 K_AI_IN,     K_AI_PROMPT,     K_AI_EMBED_TOKENS};
static const int output_keys[] = {K_OUT_TOKENS, K_COMPLETION_TOKENS, K_OI_COMPLETION, K_DAG_OUT,
                                  K_AI_OUT,     K_AI_COMPLETION};
static const int cache_read_keys[] = {K_CACHE_READ, K_OI_CACHE_READ, K_TL_CACHE_READ,
                                      K_AI_CACHE_READ, K_AI_CACHED_IN};
static const int cache_write_keys[] = {K_CACHE_WRITE, K_OI_CACHE_WRITE, K_TL_CACHE_WRITE,
                                       K_AI_CACHE_WRITE};
static const int total_keys[] = {K_TOTAL_TOKENS, K_OI_TOTAL, K_TL_TOTAL, K_AI_TOTAL};
static const int cost_keys[] = {K_COST, K_OI_COST};
/* In the order of dp_prof_span.models[] (the price lookup order). */
static const int model_keys[DP_PROF_MODEL_KEYS] = {
    K_DAG_MODEL, K_RESPONSE_MODEL, K_REQUEST_MODEL, K_LLM_MODEL, K_AI_MODEL, K_EMBEDDING_MODEL};
static const int input_text_keys[] = {K_PROMPT, K_INPUT_MESSAGES, K_OI_INPUT_MESSAGES,
                                      K_INPUT_VALUE, K_AI_PROMPT_TEXT};

/* Whether key is "gen_ai.prompt.<digits>.content" (OpenLLMetry's prompt
 * messages, one attribute per message). */
static bool is_indexed_prompt_key(dp_str key)
{
    static const char prefix[] = "gen_ai.prompt.", suffix[] = ".content";
    size_t pl = sizeof(prefix) - 1, sl = sizeof(suffix) - 1;
    if (key.len <= pl + sl || memcmp(key.ptr, prefix, pl) != 0 ||
        memcmp(key.ptr + key.len - sl, suffix, sl) != 0)
        return false;
    for (size_t i = pl; i < key.len - sl; i++) {
        if (key.ptr[i] < '0' || key.ptr[i] > '9')
            return false;
    }
    return true;
}

static bool digest_text(EVP_MD_CTX *md, dp_str s)
{
    uint64_t l = s.len;
    return EVP_DigestUpdate(md, &l, sizeof(l)) == 1 &&
           EVP_DigestUpdate(md, s.ptr ? s.ptr : "", s.len) == 1;
}

/* SHA-256 of the call's input: the first input attribute present (a string,
 * or an array of strings with each item's length mixed in so ["ab","c"] and
 * ["a","bc"] differ), else every gen_ai.prompt.N.content in attribute order. */
static bool hash_input(dp_prof_ctx *c, const dp_span *s, const attr_view *view, uint8_t out[32])
{
    const dp_value *v = first_attr(view, input_text_keys, COUNT_OF(input_text_keys));
    size_t indexed = 0;
    if (!v) {
        for (size_t i = 0; i < s->attr_count; i++)
            indexed +=
                s->attrs[i].value.kind == DP_VALUE_STRING && is_indexed_prompt_key(s->attrs[i].key);
        if (!indexed)
            return false;
    } else if (v->kind != DP_VALUE_STRING && v->kind != DP_VALUE_ARRAY) {
        c->p->ignored_values++;
        return false;
    }
    bool ok = false;
    unsigned int len = 0;
    /* one digest context per build, reused for every call */
    if (!c->md)
        c->md = EVP_MD_CTX_new();
    EVP_MD_CTX *md = c->md;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        goto out;
    if (!v) {
        for (size_t i = 0; i < s->attr_count; i++) {
            const dp_attr *a = &s->attrs[i];
            if (a->value.kind == DP_VALUE_STRING && is_indexed_prompt_key(a->key) &&
                !digest_text(md, a->value.u.s))
                goto out;
        }
    } else if (v->kind == DP_VALUE_STRING) {
        if (EVP_DigestUpdate(md, v->u.s.ptr ? v->u.s.ptr : "", v->u.s.len) != 1)
            goto out;
    } else {
        for (size_t i = 0; i < v->u.array.count; i++) {
            const dp_value *it = &v->u.array.items[i];
            if (it->kind == DP_VALUE_STRING && !digest_text(md, it->u.s))
                goto out;
        }
    }
    ok = EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32;
out:
    return ok;
}

static bool str_in(dp_str s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (dp_str_eq_cstr(s, set[i]))
            return true;
    }
    return false;
}

/* Operations that are a model request (embeddings included: they are
 * billed per token like any other call), and those that never are. */
static const char *const llm_ops[] = {"chat", "text_completion", "generate_content", "embeddings"};
static const char *const non_llm_ops[] = {"invoke_agent", "create_agent", "execute_tool"};

/* Copy a string into the scratch arena (JSON values do not outlive their
 * parsed document). */
static dp_str scratch_str(dp_prof_ctx *c, const char *s, size_t len)
{
    char *copy = dp_arena_strndup(c->scratch, s, len);
    return copy ? (dp_str){copy, len} : DP_STR_NULL;
}

/* A JSON object held in a string attribute, parsed only when the text
 * mentions `marker` (most such attributes are not what dagprof reads); NULL
 * when absent, and NULL counted as ignored when it does not parse. The
 * caller frees it with json_decref(). */
static json_t *json_attr(dp_prof_ctx *c, const dp_value *v, const char *marker)
{
    if (v->kind != DP_VALUE_STRING || v->u.s.len < 2 || v->u.s.ptr[0] != '{' ||
        !memmem(v->u.s.ptr, v->u.s.len, marker, strlen(marker)))
        return NULL;
    json_error_t err;
    json_t *root = json_loadb(v->u.s.ptr, v->u.s.len, 0, &err);
    if (!json_is_object(root)) {
        json_decref(root);
        c->p->ignored_values++;
        return NULL;
    }
    return root;
}

/*
 * LangGraph, as recorded by OpenInference: the span attribute "metadata" is
 * a JSON object whose langgraph_node and langgraph_step name the graph node
 * a span runs in and its superstep (the step's barrier gives the edges).
 * Anything else in it is not read.
 */
static void read_langgraph(dp_prof_ctx *c, const dp_value *v, dp_prof_span *ps)
{
    json_t *root = json_attr(c, v, "langgraph_node");
    if (!root)
        return;
    json_t *node = json_object_get(root, "langgraph_node");
    if (json_is_string(node) && json_string_length(node) > 0)
        ps->fw_node = scratch_str(c, json_string_value(node), json_string_length(node));
    json_t *step = json_object_get(root, "langgraph_step");
    if (json_is_integer(step) && json_integer_value(step) >= 0) {
        ps->lg_step = json_integer_value(step);
        ps->has_lg_step = true;
    }
    json_decref(root);
}

/* A non-negative integer member of a JSON object, or of an object member. */
static bool json_count(json_t *root, const char *obj, const char *key, uint64_t *out)
{
    json_t *o = json_object_get(root, obj);
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/*
 * The AI SDK before its ai.usage.cachedInputTokens (ai 4) reports prompt
 * cache use only inside ai.response.providerMetadata, a JSON object per
 * provider: openai.cachedPromptTokens, anthropic.cacheReadInputTokens and
 * anthropic.cacheCreationInputTokens. Read when no cache attribute is given.
 */
static void read_provider_cache(dp_prof_ctx *c, const dp_value *v, dp_prof_span *ps, bool want_read,
                                bool want_write)
{
    json_t *root = json_attr(c, v, "Tokens");
    if (!root)
        return;
    uint64_t u;
    if (want_read && (json_count(root, "openai", "cachedPromptTokens", &u) ||
                      json_count(root, "anthropic", "cacheReadInputTokens", &u)))
        ps->tokens.cache_read = u;
    if (want_write && json_count(root, "anthropic", "cacheCreationInputTokens", &u))
        ps->tokens.cache_write = u;
    json_decref(root);
}

static bool str_is(const dp_value *v, const char *text)
{
    return v && v->kind == DP_VALUE_STRING && dp_str_eq_cstr(v->u.s, text);
}

static void read_one(dp_prof_ctx *c, size_t i)
{
    const dp_span *s = &c->spans[i];
    dp_prof_span *ps = &c->si[i];
    uint64_t u;
    double d;
    attr_view view_storage, *view = &view_storage;
    scan_attrs(s, view);

    ps->start_ns = s->start_ns;
    ps->end_ns = s->end_ns;
    ps->scope = s->scope_name;
    if (s->end_ns < s->start_ns) {
        /* an end before the start says nothing reliable: zero duration */
        ps->end_ns = s->start_ns;
        c->p->ignored_values++;
    }

    if (!read_text_of(c, view, K_NODE_ID, &ps->node_id, true))
        read_text_of(c, view, K_GRAPH_NODE_ID, &ps->node_id, true);
    read_text_of(c, view, K_GRAPH_PARENT_ID, &ps->graph_parent_id, true);
    ps->depends_on = view->v[K_DEPENDS_ON] ? view->v[K_DEPENDS_ON] : view->v[K_NODE_DEPENDS_ON];

    read_text_of(c, view, K_OPERATION, &ps->op, false);
    if (!read_text_of(c, view, K_TOOL_NAME, &ps->tool_name, false) &&
        !read_text_of(c, view, K_OI_TOOL_NAME, &ps->tool_name, false))
        read_text_of(c, view, K_AI_TOOL_NAME, &ps->tool_name, false);
    read_text_of(c, view, K_AGENT_NAME, &ps->agent_name, false);
    bool call_model = false;
    for (size_t k = 0; k < COUNT_OF(model_keys); k++) {
        if (read_text_of(c, view, model_keys[k], &ps->models[k], false) && k > 0)
            call_model = true;
    }

    /* the workflow's own steps, as each framework names them */
    if (view->v[K_METADATA])
        read_langgraph(c, view->v[K_METADATA], ps);
    const dp_value *tl_kind = view->v[K_TL_KIND];
    dp_str tl_entity = DP_STR_NULL;
    if (tl_kind)
        read_text_of(c, view, K_TL_ENTITY, &tl_entity, false);
    /* a tool run is a tool call, whatever span kind Traceloop gives it */
    bool tl_tool = str_is(tl_kind, "tool") || dp_str_eq_cstr(ps->op, "execute_tool");
    bool tl_step = (str_is(tl_kind, "task") || str_is(tl_kind, "agent")) && !tl_tool;
    dp_str function_id = DP_STR_NULL;
    read_text_of(c, view, K_AI_FUNCTION_ID, &function_id, false);
    /* a LangGraph node (read above) wins */
    if (!ps->fw_node.len)
        ps->fw_node = tl_step && tl_entity.len ? tl_entity : function_id;
    if (tl_kind && tl_tool && !ps->tool_name.len)
        ps->tool_name = tl_entity.len ? tl_entity : s->name;

    if (read_count_of(c, view, input_keys, COUNT_OF(input_keys), &u)) {
        ps->tokens.input = u;
        ps->has_tokens = true;
    }
    if (read_count_of(c, view, output_keys, COUNT_OF(output_keys), &u)) {
        ps->tokens.output = u;
        ps->has_tokens = true;
    }
    /* a total alone (no input or output count) is billed as input */
    if (!ps->has_tokens && read_count_of(c, view, total_keys, COUNT_OF(total_keys), &u)) {
        ps->tokens.input = u;
        ps->has_tokens = true;
    }
    if (read_count_of(c, view, cache_read_keys, COUNT_OF(cache_read_keys), &u)) {
        ps->tokens.cache_read = u;
        ps->has_tokens = true;
    }
    if (read_count_of(c, view, cache_write_keys, COUNT_OF(cache_write_keys), &u)) {
        ps->tokens.cache_write = u;
        ps->has_tokens = true;
    }
    if (ps->has_tokens && view->v[K_AI_PROVIDER_META] &&
        !first_attr(view, cache_read_keys, COUNT_OF(cache_read_keys)))
        read_provider_cache(c, view->v[K_AI_PROVIDER_META], ps, true,
                            !first_attr(view, cache_write_keys, COUNT_OF(cache_write_keys)));
    const dp_value *rv = view->v[K_RETRIES];
    if (rv && read_count(c, rv, &u)) {
        ps->has_retries = true;
        ps->retries_attr = u > 1000000 ? 1000000 : u;
    }

    const dp_value *kind = view->v[K_OI_SPAN_KIND];
    bool oi_llm = str_is(kind, "LLM") || str_is(kind, "EMBEDDING");
    bool oi_tool = str_is(kind, "TOOL");

    ps->is_tool = dp_str_eq_cstr(ps->op, "execute_tool") || ps->tool_name.len > 0 || oi_tool;
    ps->is_embedding = dp_str_eq_cstr(ps->op, "embeddings") || str_is(kind, "EMBEDDING") ||
                       ps->models[DP_PROF_M_EMBEDDING].len > 0 ||
                       view->v[K_AI_EMBED_TOKENS] != NULL;
    ps->is_llm =
        str_in(ps->op, llm_ops, COUNT_OF(llm_ops)) || ps->has_tokens || oi_llm ||
        (call_model && !str_in(ps->op, non_llm_ops, COUNT_OF(non_llm_ops)) && !ps->is_tool);

    if (ps->is_llm) {
        const dp_value *cv = first_attr(view, cost_keys, COUNT_OF(cost_keys));
        if (cv && read_amount(c, cv, &d)) {
            ps->has_cost_attr = true;
            ps->cost_attr = d;
        }
        ps->has_input = hash_input(c, s, view, ps->input_sha);
    }
    ps->has_usage = ps->has_tokens || ps->has_cost_attr;
}

/* --- span id index ------------------------------------------------------ */

/* Resolve every span's parent index through an open-addressing table. */
static int link_parents(dp_prof_ctx *c)
{
    size_t cap = 16;
    while (cap < c->n * 2)
        cap *= 2;
    int *slots = dp_arena_alloc(c->scratch, cap * sizeof(int));
    if (!slots)
        return -1;
    memset(slots, 0xff, cap * sizeof(int)); /* -1 = empty */
    size_t mask = cap - 1;
    for (size_t i = 0; i < c->n; i++) {
        uint64_t k = dp_prof_id_key(c->spans[i].span_id);
        size_t h = dp_prof_id_hash(k, mask);
        while (slots[h] >= 0 && dp_prof_id_key(c->spans[slots[h]].span_id) != k)
            h = (h + 1) & mask;
        if (slots[h] < 0)
            slots[h] = (int)i; /* a duplicate span id keeps the first span */
    }
    for (size_t i = 0; i < c->n; i++) {
        c->si[i].parent = -1;
        if (!c->spans[i].has_parent)
            continue;
        uint64_t k = dp_prof_id_key(c->spans[i].parent_span_id);
        size_t h = dp_prof_id_hash(k, mask);
        while (slots[h] >= 0) {
            if (dp_prof_id_key(c->spans[slots[h]].span_id) == k) {
                if ((size_t)slots[h] != i)
                    c->si[i].parent = slots[h];
                break;
            }
            h = (h + 1) & mask;
        }
    }
    c->id_slots = slots;
    c->id_mask = mask;
    return 0;
}

int dp_prof_read_spans(dp_prof_ctx *c)
{
    c->si = dp_arena_calloc(c->scratch, c->n ? c->n : 1, sizeof(dp_prof_span));
    if (!c->si)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        c->si[i].node = -1;
        read_one(c, i);
    }
    return link_parents(c);
}

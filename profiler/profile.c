/*
 * dp_profile_build(): the steps that turn the spans of one trace into a run
 * profile, in order: read attributes (attrs.c), map spans to nodes and sum
 * usage (nodes.c), link nodes and find the critical path (deps.c), then
 * bottlenecks (bottlenecks.c) and recommendations (recommend.c).
 *
 * All working memory lives in a scratch arena freed at the end; what the
 * profile keeps is copied into the profile's own arena, so the spans may be
 * freed as soon as the build returns.
 */
#include "profile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile_internal.h"
#include "report_figures.h"

#include <openssl/evp.h>

/* Hard caps: a pathological trace fails cleanly instead of eating memory. */
#define SCRATCH_MAX_BYTES ((size_t)512 << 20)
#define PROFILE_MAX_BYTES ((size_t)256 << 20)

/*
 * A span id seen twice in one trace is the same span delivered twice (an SDK
 * or collector retried an export whose answer it did not get). The first copy
 * is profiled; the others are counted in duplicate_spans and skipped, so their
 * tokens and cost are not counted twice. Returns the spans to profile: the
 * input itself when there is no duplicate, else a compacted copy in scratch;
 * NULL on out of memory.
 */
static const dp_span *drop_duplicates(const dp_span *spans, size_t count, dp_arena *scratch,
                                      size_t *kept)
{
    *kept = count;
    if (count < 2)
        return spans;
    size_t cap = 16;
    while (cap < count * 2)
        cap *= 2;
    size_t mask = cap - 1;
    int *slots = dp_arena_alloc(scratch, cap * sizeof(int));
    bool *dup = dp_arena_calloc(scratch, count, sizeof(bool));
    if (!slots || !dup)
        return NULL;
    memset(slots, 0xff, cap * sizeof(int));
    size_t ndup = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t k = dp_prof_id_key(spans[i].span_id);
        size_t j = dp_prof_id_hash(k, mask);
        while (slots[j] >= 0 && dp_prof_id_key(spans[slots[j]].span_id) != k)
            j = (j + 1) & mask;
        if (slots[j] >= 0) {
            dup[i] = true;
            ndup++;
        } else {
            slots[j] = (int)i;
        }
    }
    if (!ndup)
        return spans;
    dp_span *unique = dp_arena_alloc(scratch, (count - ndup) * sizeof(dp_span));
    if (!unique)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (!dup[i])
            unique[n++] = spans[i];
    }
    *kept = n;
    return unique;
}

/* Replace, in place, control characters and bytes that are not part of valid
 * UTF-8 by '?'. Names come from the network and end up on terminals, in
 * JSON and in metric attributes: a report must never carry escape
 * sequences or line breaks it did not write itself. Lengths do not change. */
static void clean_text(const char *cs)
{
    unsigned char *s = (unsigned char *)(uintptr_t)cs;
    if (!s)
        return;
    while (*s) {
        unsigned char b = *s;
        size_t n = b < 0x80             ? 1
                   : (b & 0xe0) == 0xc0 ? 2
                   : (b & 0xf0) == 0xe0 ? 3
                   : (b & 0xf8) == 0xf0 ? 4
                                        : 0;
        bool ok = n > 0;
        for (size_t k = 1; ok && k < n; k++)
            ok = (s[k] & 0xc0) == 0x80;
        if (ok && n == 2)
            ok = b >= 0xc2; /* no overlong forms */
        if (ok && n == 3) {
            unsigned cp = (b & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
            ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
        }
        if (ok && n == 4) {
            unsigned cp =
                (b & 0x07u) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6 | (s[3] & 0x3fu);
            ok = cp >= 0x10000 && cp <= 0x10ffff;
        }
        if (ok && n == 1 && (b < 0x20 || b == 0x7f))
            ok = false;
        if (!ok) {
            *s++ = '?';
            continue;
        }
        s += n;
    }
}

/* After dependencies are linked (they match node ids as sent), and before
 * any finding's text is formatted from these names. */
static void clean_profile_text(dp_run_profile *p)
{
    clean_text(p->dag_id);
    clean_text(p->service);
    for (size_t j = 0; j < p->node_count; j++) {
        dp_node_profile *n = &p->nodes[j];
        clean_text(n->id);
        clean_text(n->name);
        clean_text(n->model);
        for (size_t k = 0; k < n->tool_call_count; k++)
            clean_text(n->tool_calls[k].name);
    }
    for (size_t i = 0; i < p->call_count; i++) {
        clean_text(p->calls[i].name);
        clean_text(p->calls[i].model);
    }
    for (size_t i = 0; i < p->model_count; i++)
        clean_text(p->models[i].model);
}

int dp_profile_build(const dp_span *spans, size_t count, const dp_profile_config *cfg,
                     dp_run_profile **out)
{
    int rc = -1;
    dp_arena scratch;
    dp_profile_config defaults;
    dp_run_profile *p = NULL;
    dp_prof_ctx c;

    memset(&c, 0, sizeof(c));
    dp_arena_init(&scratch, 0, SCRATCH_MAX_BYTES);
    if (!out || (count && !spans))
        goto out;
    *out = NULL;
    if (!cfg) {
        dp_profile_config_defaults(&defaults);
        cfg = &defaults;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        goto out;
    dp_arena_init(&p->arena, 0, PROFILE_MAX_BYTES);
    p->span_count = count;
    size_t unique_count;
    spans = drop_duplicates(spans, count, &scratch, &unique_count);
    if (!spans)
        goto out;
    p->duplicate_spans = count - unique_count;
    count = unique_count;
    p->cost_complete = true;
    p->speedup = 1.0;
    p->speedup_if_independent = -1;
    if (count) {
        memcpy(p->trace_id, spans[0].trace_id, 16);
        uint64_t start = UINT64_MAX, end = 0;
        for (size_t i = 0; i < count; i++) {
            uint64_t e = spans[i].end_ns > spans[i].start_ns ? spans[i].end_ns : spans[i].start_ns;
            if (spans[i].start_ns < start)
                start = spans[i].start_ns;
            if (e > end)
                end = e;
        }
        p->start_ns = start;
        p->wall_ms = dp_prof_ms(end - start);
    }

    c.spans = spans;
    c.n = count;
    c.cfg = cfg;
    c.p = p;
    c.scratch = &scratch;
    c.root = -1;
    if (dp_prof_read_spans(&c) < 0 || dp_prof_map_nodes(&c) < 0 || dp_prof_sum_usage(&c) < 0 ||
        dp_prof_link_nodes(&c) < 0)
        goto out;
    clean_profile_text(p);
    if (dp_report_tool_stats(p) < 0)
        goto out;
    if (p->wall_ms > 0)
        p->parallelism = p->execution_ms / p->wall_ms;
    if (p->critical_path_ms > 0)
        p->speedup = p->wall_ms / p->critical_path_ms;
    if (dp_prof_find_bottlenecks(&c) < 0 || dp_prof_recommend(&c) < 0)
        goto out;

    *out = p;
    p = NULL; /* handed over */
    rc = 0;
out:
    if (c.md)
        EVP_MD_CTX_free(c.md);
    dp_run_profile_destroy(p);
    dp_arena_free(&scratch);
    return rc;
}

void dp_run_profile_destroy(dp_run_profile *p)
{
    if (!p)
        return;
    dp_arena_free(&p->arena);
    free(p);
}

const uint8_t *dp_run_profile_trace_id(const dp_run_profile *p)
{
    return p->trace_id;
}

void dp_run_profile_set_late(dp_run_profile *p, bool late)
{
    p->late = late;
}

void dp_run_profile_set_completion(dp_run_profile *p, bool partial, bool supersedes,
                                   const char *why)
{
    p->partial = partial;
    p->supersedes = supersedes;
    p->partial_reason = partial ? why : NULL;
}

const char *dp_bottleneck_type_name(enum dp_bottleneck_type t)
{
    static const char *const names[] = {
        "slow_node",       "high_token_usage", "excessive_retries",     "tool_latency",
        "slow_llm_call",   "dependency_wait",  "sequential_bottleneck", "expensive_node",
        "budget_exceeded",
    };
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

const char *dp_recommendation_type_name(enum dp_recommendation_type t)
{
    static const char *const names[] = {"parallelize",      "cache",
                                        "model_downgrade",  "reduce_context",
                                        "batch_operations", "restructure_dag"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

const char *dp_severity_name(enum dp_severity s)
{
    static const char *const names[] = {"low", "medium", "high"};
    return (unsigned)s < 3 ? names[s] : "unknown";
}

/*
 * Test helper: build arrays of dp_span with attributes, links and status
 * without an OTLP decoder. Header-only; every span of one sb_trace shares
 * a trace id, span ids are the span's index + 1, and times are given in
 * milliseconds from a fixed base.
 *
 *   static sb_trace t;           // large: keep it static or heap-allocated
 *   sb_init(&t);
 *   int root = sb_span(&t, "run", -1, 0, 100);
 *   int a = sb_span(&t, "step", root, 10, 50);
 *   sb_str(&t, a, "dag.node.id", "a");
 *   sb_int(&t, a, "gen_ai.usage.input_tokens", 1200);
 *   dp_profile_build(t.spans, t.count, &cfg, &profile);
 *
 * Keys and string values are kept as views: pass literals or strings that
 * outlive the trace.
 */
#ifndef DP_TEST_SPAN_BUILDER_H
#define DP_TEST_SPAN_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "span.h"

#define SB_MAX_SPANS 256
#define SB_MAX_ATTRS 24
#define SB_MAX_LINKS 4
#define SB_MAX_ARRAY_ITEMS 256

/* 2023-11-14T22:13:20Z in ns: a realistic epoch time, far from zero */
#define SB_BASE_NS 1700000000000000000ULL

typedef struct sb_trace {
    dp_span spans[SB_MAX_SPANS];
    dp_attr attrs[SB_MAX_SPANS][SB_MAX_ATTRS];
    dp_link links[SB_MAX_SPANS][SB_MAX_LINKS];
    dp_value items[SB_MAX_ARRAY_ITEMS];
    size_t item_count;
    size_t count;
    uint8_t trace_id[16];
} sb_trace;

static inline void sb_init(sb_trace *t)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < 16; i++)
        t->trace_id[i] = (uint8_t)(0xa0 + i);
}

static inline void sb_span_id(int index, uint8_t out[8])
{
    uint64_t v = (uint64_t)index + 1;
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static inline uint64_t sb_ns(double ms)
{
    return SB_BASE_NS + (uint64_t)(ms * 1e6 + 0.5);
}

/** Add a span; parent is an earlier index or -1. Returns its index, -1 when full. */
static inline int sb_span(sb_trace *t, const char *name, int parent, double start_ms, double end_ms)
{
    if (t->count == SB_MAX_SPANS)
        return -1;
    int i = (int)t->count++;
    dp_span *s = &t->spans[i];
    memcpy(s->trace_id, t->trace_id, 16);
    sb_span_id(i, s->span_id);
    if (parent >= 0) {
        sb_span_id(parent, s->parent_span_id);
        s->has_parent = true;
    }
    s->name = dp_str_from_cstr(name);
    s->kind = 1;
    s->start_ns = sb_ns(start_ms);
    s->end_ns = sb_ns(end_ms);
    s->attrs = t->attrs[i];
    s->links = t->links[i];
    return i;
}

static inline dp_value *sb_slot(sb_trace *t, int i, const char *key)
{
    dp_span *s = &t->spans[i];
    if (s->attr_count == SB_MAX_ATTRS)
        abort();
    dp_attr *a = &t->attrs[i][s->attr_count++];
    a->key = dp_str_from_cstr(key);
    return &a->value;
}

static inline void sb_str(sb_trace *t, int i, const char *key, const char *value)
{
    dp_value *v = sb_slot(t, i, key);
    v->kind = DP_VALUE_STRING;
    v->u.s = dp_str_from_cstr(value);
}

static inline void sb_int(sb_trace *t, int i, const char *key, int64_t value)
{
    dp_value *v = sb_slot(t, i, key);
    v->kind = DP_VALUE_INT;
    v->u.i = value;
}

static inline void sb_double(sb_trace *t, int i, const char *key, double value)
{
    dp_value *v = sb_slot(t, i, key);
    v->kind = DP_VALUE_DOUBLE;
    v->u.d = value;
}

static inline void sb_bool(sb_trace *t, int i, const char *key, bool value)
{
    dp_value *v = sb_slot(t, i, key);
    v->kind = DP_VALUE_BOOL;
    v->u.b = value;
}

/** A string-array attribute (e.g. dag.depends_on). */
static inline void sb_strs(sb_trace *t, int i, const char *key, const char *const *values, size_t n)
{
    if (t->item_count + n > SB_MAX_ARRAY_ITEMS)
        abort();
    dp_value *items = &t->items[t->item_count];
    for (size_t k = 0; k < n; k++) {
        items[k].kind = DP_VALUE_STRING;
        items[k].u.s = dp_str_from_cstr(values[k]);
    }
    t->item_count += n;
    dp_value *v = sb_slot(t, i, key);
    v->kind = DP_VALUE_ARRAY;
    v->u.array.items = items;
    v->u.array.count = n;
}

static inline void sb_status(sb_trace *t, int i, enum dp_status status)
{
    t->spans[i].status = status;
}

/** A span link from span i to span target of the same trace. */
static inline void sb_link(sb_trace *t, int i, int target)
{
    dp_span *s = &t->spans[i];
    if (s->link_count == SB_MAX_LINKS)
        abort();
    dp_link *l = &t->links[i][s->link_count++];
    memcpy(l->trace_id, t->trace_id, 16);
    sb_span_id(target, l->span_id);
}

/** Shorthand for an explicit DAG node: dag.node.id plus optional model and tokens. */
static inline void sb_node(sb_trace *t, int i, const char *id, const char *model, int64_t input,
                           int64_t output)
{
    sb_str(t, i, "dag.node.id", id);
    if (model)
        sb_str(t, i, "dag.model", model);
    if (input >= 0)
        sb_int(t, i, "gen_ai.usage.input_tokens", input);
    if (output >= 0)
        sb_int(t, i, "gen_ai.usage.output_tokens", output);
}

#endif

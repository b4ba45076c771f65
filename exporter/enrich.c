/*
 * Enrichment: a finalised run back to OTLP bytes for the upstream, with what
 * the profile found added to the node spans and the root span.
 *
 * The run's spans are kept as the bytes they arrived as. They are never
 * decoded or repacked here: the request is written by hand, field by field,
 * around the original span, resource and scope bytes. Protobuf defines
 * repeated fields as appendable, so a span's new attributes (Span field 9)
 * and events (Span field 11) are encoded and written right after its
 * original bytes; a decoder sees them as if they had been there all along.
 *
 * Two passes: the first measures every span's additions and every enclosing
 * message (protobuf needs each length before its content), the second
 * writes straight into the output buffer, reserved once. Memory per run:
 * one allocation for the per-span and per-scope plans, none per span.
 *
 * Chaining (dagprof behind dagprof): before adding to a span, its top-level
 * attributes and events are walked on the wire (no decode) and any dag.node.*
 * / dag.run.* key this module would add is skipped, as are the bottleneck and
 * recommendation events when the span already has one of that name.
 */
#include "enrich.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* OTLP field numbers (opentelemetry/proto trace, common and collector v1) */
enum {
    F_REQUEST_RESOURCE_SPANS = 1,
    F_RESOURCE_SPANS_RESOURCE = 1,
    F_RESOURCE_SPANS_SCOPE_SPANS = 2,
    F_RESOURCE_SPANS_SCHEMA_URL = 3,
    F_SCOPE_SPANS_SCOPE = 1,
    F_SCOPE_SPANS_SPANS = 2,
    F_SCOPE_SPANS_SCHEMA_URL = 3,
    F_SPAN_ATTRIBUTES = 9,
    F_SPAN_EVENTS = 11,
    F_EVENT_TIME = 1,
    F_EVENT_NAME = 2,
    F_EVENT_ATTRIBUTES = 3,
    F_KV_KEY = 1,
    F_KV_VALUE = 2,
    F_ANY_STRING = 1,
    F_ANY_BOOL = 2,
    F_ANY_INT = 3,
    F_ANY_DOUBLE = 4,
    F_ANY_ARRAY = 5,
    F_ARRAY_VALUES = 1,
};

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

/* ---- the keys and events this module adds ---------------------------------- */

enum {
    K_NODE_WAIT = 0,
    K_NODE_EXECUTION,
    K_NODE_COST,
    K_NODE_CRITICAL,
    K_NODE_BOTTLENECKS,
    K_RUN_WALL,
    K_RUN_CRITICAL_PATH,
    K_RUN_PARALLELISM,
    K_RUN_COST,
    K_RUN_COST_COMPLETE,
    K_RUN_TOKENS_INPUT,
    K_RUN_TOKENS_OUTPUT,
    K_RUN_BOTTLENECK_COUNT,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    [K_NODE_WAIT] = "dag.node.wait_ms",
    [K_NODE_EXECUTION] = "dag.node.execution_ms",
    [K_NODE_COST] = "dag.node.cost_usd",
    [K_NODE_CRITICAL] = "dag.node.on_critical_path",
    [K_NODE_BOTTLENECKS] = "dag.node.bottlenecks",
    [K_RUN_WALL] = "dag.run.wall_ms",
    [K_RUN_CRITICAL_PATH] = "dag.run.critical_path_ms",
    [K_RUN_PARALLELISM] = "dag.run.parallelism",
    [K_RUN_COST] = "dag.run.cost_usd",
    [K_RUN_COST_COMPLETE] = "dag.run.cost_complete",
    [K_RUN_TOKENS_INPUT] = "dag.run.tokens.input",
    [K_RUN_TOKENS_OUTPUT] = "dag.run.tokens.output",
    [K_RUN_BOTTLENECK_COUNT] = "dag.run.bottleneck_count",
};

#define EVENT_BOTTLENECK "dag.bottleneck"
#define EVENT_RECOMMENDATION "dag.recommendation"

/* bits of a span's "already present" mask: one per key, then the events */
#define HAS_KEY(k) (1u << (k))
#define HAS_BOTTLENECK_EVENT (1u << 16)
#define HAS_RECOMMENDATION_EVENT (1u << 17)

/* enough for every dp_bottleneck_type; a node's type set is a bit mask */
#define BOTTLENECK_TYPES_MAX 16

/* ---- a tiny protobuf writer ------------------------------------------------- */

/* Writes at p + len; with p NULL it only counts, which is how lengths are
 * measured before a length-delimited field is written. */
typedef struct pb_writer {
    uint8_t *p;
    size_t len;
} pb_writer;

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t len_field_size(uint32_t field, size_t n)
{
    return varint_size((uint64_t)field << 3 | WT_LEN) + varint_size(n) + n;
}

static void put_raw(pb_writer *w, const void *data, size_t n)
{
    if (w->p && n)
        memcpy(w->p + w->len, data, n);
    w->len += n;
}

static void put_varint(pb_writer *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put_raw(w, tmp, n);
}

static void put_tag(pb_writer *w, uint32_t field, int wire_type)
{
    put_varint(w, (uint64_t)field << 3 | (uint64_t)wire_type);
}

static void put_fixed64(pb_writer *w, uint64_t v)
{
    uint8_t tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    put_raw(w, tmp, 8);
}

static void put_double(pb_writer *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    put_fixed64(w, bits);
}

/* Length of the valid UTF-8 sequence starting at s[0], 0 when invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/*
 * A string value: protobuf string fields must be UTF-8 (strict decoders
 * refuse the whole request otherwise), and dagprof's texts may hold a
 * truncated multi-byte character or bytes copied from a non-UTF-8 name.
 * Every invalid byte becomes '?', so the length stays what was measured.
 */
static void put_text(pb_writer *w, dp_str s)
{
    if (!w->p || !s.len) {
        w->len += s.len;
        return;
    }
    unsigned char *dst = w->p + w->len;
    memcpy(dst, s.ptr, s.len);
    for (size_t i = 0; i < s.len;) {
        size_t n = utf8_sequence(dst + i, s.len - i);
        if (n == 0) {
            dst[i] = '?';
            n = 1;
        }
        i += n;
    }
    w->len += s.len;
}

static void put_text_field(pb_writer *w, uint32_t field, dp_str s)
{
    put_tag(w, field, WT_LEN);
    put_varint(w, s.len);
    put_text(w, s);
}

static void put_bytes_field(pb_writer *w, uint32_t field, dp_str s)
{
    put_tag(w, field, WT_LEN);
    put_varint(w, s.len);
    put_raw(w, s.ptr, s.len);
}

/* ---- attributes and events -------------------------------------------------- */

enum attr_kind { AV_STRING, AV_BOOL, AV_INT, AV_DOUBLE, AV_STRINGS };

/** One KeyValue to add: the key and an AnyValue of one of the kinds above. */
typedef struct attr {
    const char *key;
    enum attr_kind kind;
    union {
        dp_str s;
        bool b;
        int64_t i;
        double d;
        struct {
            const char *const *items;
            size_t count;
        } strs;
    } u;
} attr;

/* The most attributes one span or event gets (root: 8; events: 7). */
#define ATTRS_MAX 16

typedef struct attr_list {
    attr a[ATTRS_MAX];
    size_t n;
} attr_list;

static attr *attr_add(attr_list *l, const char *key, enum attr_kind kind)
{
    attr *a = &l->a[l->n++];
    a->key = key;
    a->kind = kind;
    return a;
}

static void add_double(attr_list *l, const char *key, double d)
{
    attr_add(l, key, AV_DOUBLE)->u.d = d;
}

static void add_bool(attr_list *l, const char *key, bool b)
{
    attr_add(l, key, AV_BOOL)->u.b = b;
}

static void add_int(attr_list *l, const char *key, uint64_t v)
{
    /* AnyValue.int_value is signed: clamp rather than wrap to negative */
    attr_add(l, key, AV_INT)->u.i = v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void add_string(attr_list *l, const char *key, dp_str s)
{
    attr_add(l, key, AV_STRING)->u.s = s;
}

/* Fixed-size text fields of the profile are NUL-terminated within their array. */
static dp_str text_of(const char *s, size_t cap)
{
    return (dp_str){s, strnlen(s, cap)};
}

static size_t array_body_size(const attr *a)
{
    size_t n = 0;
    for (size_t k = 0; k < a->u.strs.count; k++)
        n += len_field_size(F_ARRAY_VALUES,
                            len_field_size(F_ANY_STRING, strlen(a->u.strs.items[k])));
    return n;
}

static size_t any_value_size(const attr *a)
{
    switch (a->kind) {
    case AV_STRING:
        return len_field_size(F_ANY_STRING, a->u.s.len);
    case AV_BOOL:
        return 2;
    case AV_INT:
        return 1 + varint_size((uint64_t)a->u.i);
    case AV_DOUBLE:
        return 1 + 8;
    case AV_STRINGS:
        return len_field_size(F_ANY_ARRAY, array_body_size(a));
    }
    return 0;
}

/* A KeyValue as repeated field `field` (9 in a Span, 3 in an Event). The
 * oneof value is always written, zero and false included: its presence is
 * what says which kind the value is. */
static void put_key_value(pb_writer *w, uint32_t field, const attr *a)
{
    size_t key_len = strlen(a->key);
    size_t value_size = any_value_size(a);
    put_tag(w, field, WT_LEN);
    put_varint(w, len_field_size(F_KV_KEY, key_len) + len_field_size(F_KV_VALUE, value_size));
    put_bytes_field(w, F_KV_KEY, (dp_str){a->key, key_len});
    put_tag(w, F_KV_VALUE, WT_LEN);
    put_varint(w, value_size);
    switch (a->kind) {
    case AV_STRING:
        put_text_field(w, F_ANY_STRING, a->u.s);
        break;
    case AV_BOOL:
        put_tag(w, F_ANY_BOOL, WT_VARINT);
        put_varint(w, a->u.b ? 1 : 0);
        break;
    case AV_INT:
        put_tag(w, F_ANY_INT, WT_VARINT);
        put_varint(w, (uint64_t)a->u.i);
        break;
    case AV_DOUBLE:
        put_tag(w, F_ANY_DOUBLE, WT_I64);
        put_double(w, a->u.d);
        break;
    case AV_STRINGS:
        put_tag(w, F_ANY_ARRAY, WT_LEN);
        put_varint(w, array_body_size(a));
        for (size_t k = 0; k < a->u.strs.count; k++) {
            dp_str s = dp_str_from_cstr(a->u.strs.items[k]);
            put_tag(w, F_ARRAY_VALUES, WT_LEN);
            put_varint(w, len_field_size(F_ANY_STRING, s.len));
            put_text_field(w, F_ANY_STRING, s);
        }
        break;
    }
}

static void put_event_body(pb_writer *w, const char *name, uint64_t time_ns, const attr_list *l)
{
    put_tag(w, F_EVENT_TIME, WT_I64);
    put_fixed64(w, time_ns);
    put_bytes_field(w, F_EVENT_NAME, dp_str_from_cstr(name));
    for (size_t i = 0; i < l->n; i++)
        put_key_value(w, F_EVENT_ATTRIBUTES, &l->a[i]);
}

/* A Span.events entry: measured in a counting pass, then written. */
static void put_event(pb_writer *w, const char *name, uint64_t time_ns, const attr_list *l)
{
    pb_writer count = {NULL, 0};
    put_event_body(&count, name, time_ns, l);
    put_tag(w, F_SPAN_EVENTS, WT_LEN);
    put_varint(w, count.len);
    put_event_body(w, name, time_ns, l);
}

/* ---- reading what a span already carries ------------------------------------ */

static int read_varint(const uint8_t **pos, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pos;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pos = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* One field of a message: its number, wire type and, for length-delimited
 * fields, its payload. Returns 1 for a field, 0 at the end, -1 when the bytes
 * are not protobuf. */
static int next_field(const uint8_t **pos, const uint8_t *end, uint32_t *field, int *wire_type,
                      dp_str *payload)
{
    const uint8_t *p = *pos;
    uint64_t tag, v;
    if (p >= end)
        return 0;
    if (read_varint(&p, end, &tag) < 0 || tag >> 3 == 0)
        return -1;
    *field = (uint32_t)(tag >> 3);
    *wire_type = (int)(tag & 7);
    switch (*wire_type) {
    case WT_VARINT:
        if (read_varint(&p, end, &v) < 0)
            return -1;
        break;
    case WT_I64:
        if ((size_t)(end - p) < 8)
            return -1;
        p += 8;
        break;
    case WT_LEN:
        if (read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
            return -1;
        *payload = (dp_str){(const char *)p, (size_t)v};
        p += v;
        break;
    case WT_I32:
        if ((size_t)(end - p) < 4)
            return -1;
        p += 4;
        break;
    case WT_SGROUP:
    case WT_EGROUP:
        break; /* the caller tracks group nesting */
    default:
        return -1;
    }
    *pos = p;
    return 1;
}

/* The last top-level length-delimited field `want` of a message (protobuf:
 * the last occurrence of a singular field wins). Empty when absent. */
static int last_len_field(dp_str msg, uint32_t want, dp_str *out)
{
    const uint8_t *p = (const uint8_t *)msg.ptr, *end = p + msg.len;
    uint32_t field;
    int wire_type, depth = 0, rc;
    dp_str payload = DP_STR_NULL;
    *out = DP_STR_NULL;
    while ((rc = next_field(&p, end, &field, &wire_type, &payload)) > 0) {
        if (wire_type == WT_SGROUP)
            depth++;
        else if (wire_type == WT_EGROUP && --depth < 0)
            return -1;
        else if (depth == 0 && field == want && wire_type == WT_LEN)
            *out = payload;
    }
    return rc < 0 || depth ? -1 : 0;
}

static uint32_t known_key_bit(dp_str key)
{
    if (key.len < 8 || memcmp(key.ptr, "dag.", 4) != 0)
        return 0;
    for (int k = 0; k < K_COUNT; k++)
        if (dp_str_eq_cstr(key, key_names[k]))
            return HAS_KEY(k);
    return 0;
}

/*
 * Which of this module's keys and events the span already has (from a
 * dagprof further down the pipeline). A wire walk over the span's top-level
 * fields; only attribute keys and event names are looked at.
 */
static int scan_existing(dp_str span, uint32_t *mask)
{
    const uint8_t *p = (const uint8_t *)span.ptr, *end = p + span.len;
    uint32_t field;
    int wire_type, depth = 0, rc;
    dp_str payload = DP_STR_NULL, name;
    *mask = 0;
    while ((rc = next_field(&p, end, &field, &wire_type, &payload)) > 0) {
        if (wire_type == WT_SGROUP) {
            depth++;
            continue;
        }
        if (wire_type == WT_EGROUP) {
            if (--depth < 0)
                return -1;
            continue;
        }
        if (depth || wire_type != WT_LEN)
            continue;
        if (field == F_SPAN_ATTRIBUTES) {
            if (last_len_field(payload, F_KV_KEY, &name) < 0)
                return -1;
            *mask |= known_key_bit(name);
        } else if (field == F_SPAN_EVENTS) {
            if (last_len_field(payload, F_EVENT_NAME, &name) < 0)
                return -1;
            if (dp_str_eq_cstr(name, EVENT_BOTTLENECK))
                *mask |= HAS_BOTTLENECK_EVENT;
            else if (dp_str_eq_cstr(name, EVENT_RECOMMENDATION))
                *mask |= HAS_RECOMMENDATION_EVENT;
        }
    }
    return rc < 0 || depth ? -1 : 0;
}

/* ---- what goes on a node span and on the root span --------------------------- */

typedef struct enrich_ctx {
    const dp_run_profile *profile;
    const uint16_t *node_bottlenecks; /* per node: bit mask of bottleneck types */
} enrich_ctx;

static void node_attrs(const enrich_ctx *c, size_t node, uint32_t existing, attr_list *l,
                       const char **type_names)
{
    const dp_node_profile *n = &c->profile->nodes[node];
    if (!(existing & HAS_KEY(K_NODE_WAIT)))
        add_double(l, key_names[K_NODE_WAIT], n->wait_ms);
    if (!(existing & HAS_KEY(K_NODE_EXECUTION)))
        add_double(l, key_names[K_NODE_EXECUTION], n->execution_ms);
    if (n->cost_known && !(existing & HAS_KEY(K_NODE_COST)))
        add_double(l, key_names[K_NODE_COST], n->cost_usd);
    if (!(existing & HAS_KEY(K_NODE_CRITICAL)))
        add_bool(l, key_names[K_NODE_CRITICAL], n->on_critical_path);
    uint16_t types = c->node_bottlenecks[node];
    if (types && !(existing & HAS_KEY(K_NODE_BOTTLENECKS))) {
        size_t count = 0;
        for (int t = 0; t < BOTTLENECK_TYPES_MAX; t++)
            if (types & (1u << t))
                type_names[count++] = dp_bottleneck_type_name((enum dp_bottleneck_type)t);
        attr *a = attr_add(l, key_names[K_NODE_BOTTLENECKS], AV_STRINGS);
        a->u.strs.items = type_names;
        a->u.strs.count = count;
    }
}

static void root_attrs(const enrich_ctx *c, uint32_t existing, attr_list *l)
{
    const dp_run_profile *p = c->profile;
    if (!(existing & HAS_KEY(K_RUN_WALL)))
        add_double(l, key_names[K_RUN_WALL], p->wall_ms);
    if (!(existing & HAS_KEY(K_RUN_CRITICAL_PATH)))
        add_double(l, key_names[K_RUN_CRITICAL_PATH], p->critical_path_ms);
    if (!(existing & HAS_KEY(K_RUN_PARALLELISM)))
        add_double(l, key_names[K_RUN_PARALLELISM], p->parallelism);
    if (p->cost_any_known) {
        if (!(existing & HAS_KEY(K_RUN_COST)))
            add_double(l, key_names[K_RUN_COST], p->cost_usd);
        if (!(existing & HAS_KEY(K_RUN_COST_COMPLETE)))
            add_bool(l, key_names[K_RUN_COST_COMPLETE], p->cost_complete);
    }
    if (!(existing & HAS_KEY(K_RUN_TOKENS_INPUT)))
        add_int(l, key_names[K_RUN_TOKENS_INPUT], p->tokens.input);
    if (!(existing & HAS_KEY(K_RUN_TOKENS_OUTPUT)))
        add_int(l, key_names[K_RUN_TOKENS_OUTPUT], p->tokens.output);
    /* every finding, also those beyond the kept list (which get no event) */
    if (!(existing & HAS_KEY(K_RUN_BOTTLENECK_COUNT)))
        add_int(l, key_names[K_RUN_BOTTLENECK_COUNT],
                (uint64_t)p->bottleneck_count + (uint64_t)p->bottlenecks_omitted);
}

static void put_root_events(pb_writer *w, const enrich_ctx *c, uint32_t existing, uint64_t time_ns)
{
    const dp_run_profile *p = c->profile;
    attr_list l;
    if (!(existing & HAS_BOTTLENECK_EVENT)) {
        for (size_t i = 0; i < p->bottleneck_count; i++) {
            const dp_bottleneck *b = &p->bottlenecks[i];
            l.n = 0;
            add_string(&l, "type", dp_str_from_cstr(dp_bottleneck_type_name(b->type)));
            /* run-wide findings (node -1) name no node */
            if (b->node >= 0 && (size_t)b->node < p->node_count)
                add_string(&l, "node", dp_str_from_cstr(p->nodes[b->node].id));
            add_string(&l, "severity", dp_str_from_cstr(dp_severity_name(b->severity)));
            add_double(&l, "impact_pct", b->impact_pct);
            add_string(&l, "details", text_of(b->details, sizeof(b->details)));
            add_string(&l, "suggestion", text_of(b->suggestion, sizeof(b->suggestion)));
            put_event(w, EVENT_BOTTLENECK, time_ns, &l);
        }
    }
    if (!(existing & HAS_RECOMMENDATION_EVENT)) {
        for (size_t i = 0; i < p->recommendation_count; i++) {
            const dp_recommendation *r = &p->recommendations[i];
            l.n = 0;
            add_string(&l, "type", dp_str_from_cstr(dp_recommendation_type_name(r->type)));
            add_string(&l, "priority", dp_str_from_cstr(dp_severity_name(r->priority)));
            add_double(&l, "savings.time_ms", r->savings_time_ms);
            add_int(&l, "savings.tokens", r->savings_tokens);
            if (r->savings_cost_known)
                add_double(&l, "savings.cost_usd", r->savings_cost_usd);
            add_string(&l, "description", text_of(r->description, sizeof(r->description)));
            add_string(&l, "implementation", text_of(r->implementation, sizeof(r->implementation)));
            put_event(w, EVENT_RECOMMENDATION, time_ns, &l);
        }
    }
}

/* Everything appended after one span's bytes; node < 0 when not a node span. */
static void put_span_additions(pb_writer *w, const enrich_ctx *c, int node, bool root,
                               uint32_t existing, uint64_t end_ns)
{
    attr_list l;
    const char *type_names[BOTTLENECK_TYPES_MAX];
    l.n = 0;
    if (node >= 0)
        node_attrs(c, (size_t)node, existing, &l, type_names);
    if (root)
        root_attrs(c, existing, &l);
    for (size_t i = 0; i < l.n; i++)
        put_key_value(w, F_SPAN_ATTRIBUTES, &l.a[i]);
    if (root)
        put_root_events(w, c, existing, end_ns);
}

/* ---- the run's layout: resources, scopes, spans ------------------------------ */

/** Per span: where it goes and what it gets. */
typedef struct span_plan {
    size_t additions; /* bytes appended after the original span */
    int32_t node;     /* node index when this is a node's span, else -1 */
    uint32_t existing;
    bool root;
} span_plan;

/** Per scope record (plus one for spans naming no valid scope). */
typedef struct scope_plan {
    uint32_t same_scope;    /* first record with the same resource and scope */
    uint32_t same_resource; /* first record with the same resource */
    size_t span_count;
    size_t first;              /* into the span order */
    size_t spans_size;         /* bytes of the ScopeSpans.spans fields */
    size_t body_size;          /* ScopeSpans message */
    size_t resource_body_size; /* ResourceSpans message, on the same_resource record */
} scope_plan;

static dp_span_scope scope_at(const dp_run_record *run, size_t k)
{
    /* index scope_count: the stand-in for spans with no usable scope index */
    if (k < run->scope_count)
        return run->scopes[k];
    return (dp_span_scope){DP_STR_NULL, DP_STR_NULL, DP_STR_NULL, DP_STR_NULL};
}

static int compare_node_span(const void *a, const void *b, void *nodes)
{
    const dp_node_profile *n = nodes;
    return memcmp(n[*(const uint32_t *)a].span_id, n[*(const uint32_t *)b].span_id, 8);
}

static int find_node(const dp_run_profile *p, const uint32_t *by_span, const uint8_t span_id[8])
{
    size_t lo = 0, hi = p->node_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(p->nodes[by_span[mid]].span_id, span_id, 8);
        if (c == 0)
            return (int)by_span[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static size_t optional_field_size(uint32_t field, dp_str s)
{
    return s.len ? len_field_size(field, s.len) : 0;
}

int dp_enrich_run(const dp_run_record *run, const dp_run_profile *profile, dp_buf *out)
{
    int result = -1;
    size_t slots, nodes = 0;
    span_plan *plan = NULL;
    scope_plan *scopes = NULL;
    size_t *order = NULL;
    uint32_t *node_by_span = NULL;
    uint16_t *node_bottlenecks = NULL;
    enrich_ctx ctx = {profile, NULL};

    if (!run || !out || (run->span_count && !run->spans) || (run->scope_count && !run->scopes))
        return -1;
    if (run->scope_count >= UINT32_MAX || run->span_count > SIZE_MAX / sizeof(span_plan))
        return -1;
    slots = run->scope_count + 1;
    if (profile && profile->node_count && profile->node_count < INT32_MAX)
        nodes = profile->node_count;

    plan = calloc(run->span_count ? run->span_count : 1, sizeof(*plan));
    order = calloc(run->span_count ? run->span_count : 1, sizeof(*order));
    scopes = calloc(slots, sizeof(*scopes));
    node_by_span = calloc(nodes ? nodes : 1, sizeof(*node_by_span));
    node_bottlenecks = calloc(nodes ? nodes : 1, sizeof(*node_bottlenecks));
    if (!plan || !order || !scopes || !node_by_span || !node_bottlenecks)
        goto out;
    ctx.node_bottlenecks = node_bottlenecks;

    /* nodes by span id, for one binary search per span */
    for (size_t i = 0; i < nodes; i++)
        node_by_span[i] = (uint32_t)i;
    if (nodes)
        qsort_r(node_by_span, nodes, sizeof(*node_by_span), compare_node_span,
                (void *)profile->nodes);
    for (size_t i = 0; profile && nodes && i < profile->bottleneck_count; i++) {
        const dp_bottleneck *b = &profile->bottlenecks[i];
        if (b->node >= 0 && (size_t)b->node < nodes && (unsigned)b->type < BOTTLENECK_TYPES_MAX)
            node_bottlenecks[b->node] |= (uint16_t)(1u << b->type);
    }

    /*
     * Scope records with equal resource bytes and schema URL share one
     * ResourceSpans; equal scopes under it share one ScopeSpans. Quadratic in
     * the run's scope records, which the trace table already deduplicates
     * (a handful per run).
     */
    for (size_t k = 0; k < slots; k++) {
        dp_span_scope s = scope_at(run, k);
        scopes[k].same_scope = scopes[k].same_resource = (uint32_t)k;
        for (size_t j = 0; j < k; j++) {
            if (scopes[j].same_resource != j)
                continue;
            dp_span_scope o = scope_at(run, j);
            if (!dp_str_eq(s.resource_raw, o.resource_raw) ||
                !dp_str_eq(s.resource_schema_url, o.resource_schema_url))
                continue;
            scopes[k].same_resource = (uint32_t)j;
            break;
        }
        for (size_t j = 0; j < k; j++) {
            if (scopes[j].same_scope != j || scopes[j].same_resource != scopes[k].same_resource)
                continue;
            dp_span_scope o = scope_at(run, j);
            if (!dp_str_eq(s.scope_raw, o.scope_raw) ||
                !dp_str_eq(s.scope_schema_url, o.scope_schema_url))
                continue;
            scopes[k].same_scope = (uint32_t)j;
            break;
        }
    }

    /* what each span gets, and how many spans each ScopeSpans holds */
    for (size_t i = 0; i < run->span_count; i++) {
        const dp_span_ref *s = &run->spans[i];
        span_plan *sp = &plan[i];
        sp->node = -1;
        if (profile) {
            sp->node = nodes ? find_node(profile, node_by_span, s->span_id) : -1;
            sp->root = profile->has_root && memcmp(profile->root_span_id, s->span_id, 8) == 0;
        }
        if (sp->node >= 0 || sp->root) {
            if (scan_existing(s->raw, &sp->existing) == 0) {
                pb_writer count = {NULL, 0};
                put_span_additions(&count, &ctx, sp->node, sp->root, sp->existing, s->end_ns);
                sp->additions = count.len;
            } else {
                /* not walkable: forwarded as it is rather than made worse */
                dp_log_warn("enrich",
                            "span %zu of a run is not valid protobuf; forwarded unenriched", i);
                sp->node = -1;
                sp->root = false;
            }
        }
        size_t k = s->scope_index < run->scope_count ? s->scope_index : run->scope_count;
        scope_plan *sc = &scopes[scopes[k].same_scope];
        sc->span_count++;
        sc->spans_size += len_field_size(F_SCOPE_SPANS_SPANS, s->raw.len + sp->additions);
    }

    /* spans grouped by ScopeSpans, arrival order kept within each */
    size_t next = 0;
    for (size_t k = 0; k < slots; k++) {
        scopes[k].first = next;
        next += scopes[k].span_count;
    }
    for (size_t k = 0; k < slots; k++)
        scopes[k].span_count = 0; /* recounted while placing */
    for (size_t i = 0; i < run->span_count; i++) {
        const dp_span_ref *s = &run->spans[i];
        size_t k = s->scope_index < run->scope_count ? s->scope_index : run->scope_count;
        scope_plan *sc = &scopes[scopes[k].same_scope];
        order[sc->first + sc->span_count++] = i;
    }

    /* message sizes, inside out */
    size_t total = 0;
    for (size_t k = 0; k < slots; k++) {
        scope_plan *sc = &scopes[k];
        if (sc->same_scope != k || !sc->span_count)
            continue;
        dp_span_scope s = scope_at(run, k);
        sc->body_size = optional_field_size(F_SCOPE_SPANS_SCOPE, s.scope_raw) + sc->spans_size +
                        optional_field_size(F_SCOPE_SPANS_SCHEMA_URL, s.scope_schema_url);
        scopes[sc->same_resource].resource_body_size +=
            len_field_size(F_RESOURCE_SPANS_SCOPE_SPANS, sc->body_size);
    }
    for (size_t k = 0; k < slots; k++) {
        scope_plan *sc = &scopes[k];
        if (sc->same_resource != k || !sc->resource_body_size)
            continue;
        dp_span_scope s = scope_at(run, k);
        sc->resource_body_size +=
            optional_field_size(F_RESOURCE_SPANS_RESOURCE, s.resource_raw) +
            optional_field_size(F_RESOURCE_SPANS_SCHEMA_URL, s.resource_schema_url);
        total += len_field_size(F_REQUEST_RESOURCE_SPANS, sc->resource_body_size);
    }

    if (dp_buf_reserve(out, total) != 0)
        goto out;

    pb_writer w = {(uint8_t *)out->data + out->len, 0};
    for (size_t g = 0; g < slots; g++) {
        const scope_plan *rg = &scopes[g];
        if (rg->same_resource != g || !rg->resource_body_size)
            continue;
        dp_span_scope rs = scope_at(run, g);
        put_tag(&w, F_REQUEST_RESOURCE_SPANS, WT_LEN);
        put_varint(&w, rg->resource_body_size);
        if (rs.resource_raw.len)
            put_bytes_field(&w, F_RESOURCE_SPANS_RESOURCE, rs.resource_raw);
        for (size_t k = g; k < slots; k++) {
            const scope_plan *sc = &scopes[k];
            if (sc->same_resource != g || sc->same_scope != k || !sc->span_count)
                continue;
            dp_span_scope ss = scope_at(run, k);
            put_tag(&w, F_RESOURCE_SPANS_SCOPE_SPANS, WT_LEN);
            put_varint(&w, sc->body_size);
            if (ss.scope_raw.len)
                put_bytes_field(&w, F_SCOPE_SPANS_SCOPE, ss.scope_raw);
            for (size_t o = sc->first; o < sc->first + sc->span_count; o++) {
                const dp_span_ref *s = &run->spans[order[o]];
                const span_plan *sp = &plan[order[o]];
                put_tag(&w, F_SCOPE_SPANS_SPANS, WT_LEN);
                put_varint(&w, s->raw.len + sp->additions);
                put_raw(&w, s->raw.ptr, s->raw.len);
                if (sp->additions)
                    put_span_additions(&w, &ctx, sp->node, sp->root, sp->existing, s->end_ns);
            }
            if (ss.scope_schema_url.len)
                put_bytes_field(&w, F_SCOPE_SPANS_SCHEMA_URL, ss.scope_schema_url);
        }
        if (rs.resource_schema_url.len)
            put_bytes_field(&w, F_RESOURCE_SPANS_SCHEMA_URL, rs.resource_schema_url);
    }
    if (w.len != total) {
        /* measuring and writing disagree: a bug, never sent half-written */
        dp_log_error("enrich", "encoded %zu bytes, measured %zu; run not encoded", w.len, total);
        out->data[out->len] = '\0';
        goto out;
    }
    out->len += total;
    out->data[out->len] = '\0';
    result = 0;

out:
    free(plan);
    free(order);
    free(scopes);
    free(node_by_span);
    free(node_bottlenecks);
    return result;
}

/*
 * Enrichment: a finalised run back to OTLP bytes for the upstream, with what
 * the profile found added to the node spans and the root span.
 *
 * The run's spans are kept as the bytes they arrived as. They are never
 * decoded or repacked here: the request is written field by field with the
 * shared wire codec (common/pb_wire.h) around the original span, resource
 * and scope bytes. Protobuf defines repeated fields as appendable, so a
 * span's new attributes (Span field 9) and events (Span field 11) are
 * encoded and written right after its original bytes; a decoder sees them
 * as if they had been there all along.
 *
 * One encoder function per message; dp_pb_encode() runs them twice, to
 * measure and then to write into the output buffer, reserved once. What each
 * span gets (its node, whether it is the root, what it already carries) is
 * worked out once before, so neither pass walks a span's bytes. Memory per
 * run: the per-span and per-scope plans, none per span.
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
#include "pb_wire.h"

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

#define KEY(s)                                                                                     \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

static const dp_str key_names[K_COUNT] = {
    [K_NODE_WAIT] = KEY("dag.node.wait_ms"),
    [K_NODE_EXECUTION] = KEY("dag.node.execution_ms"),
    [K_NODE_COST] = KEY("dag.node.cost_usd"),
    [K_NODE_CRITICAL] = KEY("dag.node.on_critical_path"),
    [K_NODE_BOTTLENECKS] = KEY("dag.node.bottlenecks"),
    [K_RUN_WALL] = KEY("dag.run.wall_ms"),
    [K_RUN_CRITICAL_PATH] = KEY("dag.run.critical_path_ms"),
    [K_RUN_PARALLELISM] = KEY("dag.run.parallelism"),
    [K_RUN_COST] = KEY("dag.run.cost_usd"),
    [K_RUN_COST_COMPLETE] = KEY("dag.run.cost_complete"),
    [K_RUN_TOKENS_INPUT] = KEY("dag.run.tokens.input"),
    [K_RUN_TOKENS_OUTPUT] = KEY("dag.run.tokens.output"),
    [K_RUN_BOTTLENECK_COUNT] = KEY("dag.run.bottleneck_count"),
};

static const dp_str event_bottleneck = KEY("dag.bottleneck");
static const dp_str event_recommendation = KEY("dag.recommendation");

/* bits of a span's "already present" mask: one per key, then the events */
#define HAS_KEY(k) (1u << (k))
#define HAS_BOTTLENECK_EVENT (1u << 16)
#define HAS_RECOMMENDATION_EVENT (1u << 17)

/* enough for every dp_bottleneck_type; a node's type set is a bit mask */
#define BOTTLENECK_TYPES_MAX 16

/* ---- attributes and events -------------------------------------------------- */

enum attr_kind { AV_STRING, AV_BOOL, AV_INT, AV_DOUBLE, AV_STRINGS };

/** One KeyValue to add: the key and an AnyValue of one of the kinds above. */
typedef struct attr {
    dp_str key;
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

static attr *attr_add(attr_list *l, dp_str key, enum attr_kind kind)
{
    attr *a = &l->a[l->n++];
    a->key = key;
    a->kind = kind;
    return a;
}

static void add_double(attr_list *l, dp_str key, double d)
{
    attr_add(l, key, AV_DOUBLE)->u.d = d;
}

static void add_bool(attr_list *l, dp_str key, bool b)
{
    attr_add(l, key, AV_BOOL)->u.b = b;
}

static void add_int(attr_list *l, dp_str key, uint64_t v)
{
    /* AnyValue.int_value is signed: clamp rather than wrap to negative */
    attr_add(l, key, AV_INT)->u.i = v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void add_string(attr_list *l, dp_str key, dp_str s)
{
    attr_add(l, key, AV_STRING)->u.s = s;
}

/* Fixed-size text fields of the profile are NUL-terminated within their array. */
static dp_str text_of(const char *s, size_t cap)
{
    return (dp_str){s, strnlen(s, cap)};
}

/* ArrayValue of strings: each value an AnyValue holding string_value. */
static void encode_string_array(dp_pb_writer *w, const attr *a)
{
    for (size_t k = 0; k < a->u.strs.count; k++) {
        const char *item = a->u.strs.items[k];
        dp_pb_begin(w, F_ARRAY_VALUES);
        dp_pb_put_string(w, F_ANY_STRING, item, strlen(item));
        dp_pb_end(w);
    }
}

/* AnyValue. The oneof value is always written, zero and false included: its
 * presence is what says which kind the value is. Strings go through
 * dp_pb_put_string: dagprof's texts may hold a truncated multi-byte character
 * or bytes copied from a non-UTF-8 name, and protobuf strings must be UTF-8. */
static void encode_any_value(dp_pb_writer *w, const attr *a)
{
    switch (a->kind) {
    case AV_STRING:
        dp_pb_put_string(w, F_ANY_STRING, a->u.s.ptr, a->u.s.len);
        break;
    case AV_BOOL:
        dp_pb_put_bool(w, F_ANY_BOOL, a->u.b);
        break;
    case AV_INT:
        dp_pb_put_int64(w, F_ANY_INT, a->u.i);
        break;
    case AV_DOUBLE:
        dp_pb_put_double(w, F_ANY_DOUBLE, a->u.d);
        break;
    case AV_STRINGS:
        dp_pb_begin(w, F_ANY_ARRAY);
        encode_string_array(w, a);
        dp_pb_end(w);
        break;
    }
}

/* KeyValue. */
static void encode_key_value(dp_pb_writer *w, const attr *a)
{
    dp_pb_put_bytes(w, F_KV_KEY, a->key.ptr, a->key.len);
    dp_pb_begin(w, F_KV_VALUE);
    encode_any_value(w, a);
    dp_pb_end(w);
}

/* Every attribute of l as repeated KeyValue field `field` (9 in a Span, 3 in an Event). */
static void put_attributes(dp_pb_writer *w, uint32_t field, const attr_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        dp_pb_begin(w, field);
        encode_key_value(w, &l->a[i]);
        dp_pb_end(w);
    }
}

/* Span.Event, as a Span.events entry. */
static void put_event(dp_pb_writer *w, dp_str name, uint64_t time_ns, const attr_list *l)
{
    dp_pb_begin(w, F_SPAN_EVENTS);
    dp_pb_put_fixed64(w, F_EVENT_TIME, time_ns);
    dp_pb_put_bytes(w, F_EVENT_NAME, name.ptr, name.len);
    put_attributes(w, F_EVENT_ATTRIBUTES, l);
    dp_pb_end(w);
}

/* ---- reading what a span already carries ------------------------------------ */

/* The last top-level length-delimited field `want` of a message (protobuf:
 * the last occurrence of a singular field wins). Empty when absent. */
static int last_len_field(dp_str msg, uint32_t want, dp_str *out)
{
    const uint8_t *p = (const uint8_t *)msg.ptr, *end = p + msg.len;
    dp_pb_field f;
    const char *why;
    int rc;
    *out = DP_STR_NULL;
    while ((rc = dp_pb_next(&p, end, &f, &why)) > 0)
        if (f.number == want && f.wire_type == DP_PB_LEN)
            *out = (dp_str){(const char *)f.data, f.len};
    return rc;
}

static uint32_t known_key_bit(dp_str key)
{
    if (key.len < 8 || memcmp(key.ptr, "dag.", 4) != 0)
        return 0;
    for (int k = 0; k < K_COUNT; k++)
        if (dp_str_eq(key, key_names[k]))
            return HAS_KEY(k);
    return 0;
}

/*
 * Which of this module's keys and events the span already has (from a
 * dagprof further down the pipeline). A wire walk over the span's top-level
 * fields; only attribute keys and event names are looked at. Groups (wire
 * types 3 and 4), which the receiver takes as unknown fields, are stepped
 * over whole by dp_pb_next(); a span whose bytes do not walk makes it fail.
 */
static int scan_existing(dp_str span, uint32_t *mask)
{
    const uint8_t *p = (const uint8_t *)span.ptr, *end = p + span.len;
    dp_pb_field f;
    const char *why;
    dp_str name;
    int rc;
    *mask = 0;
    while ((rc = dp_pb_next(&p, end, &f, &why)) > 0) {
        if (f.wire_type != DP_PB_LEN)
            continue;
        dp_str payload = {(const char *)f.data, f.len};
        if (f.number == F_SPAN_ATTRIBUTES) {
            if (last_len_field(payload, F_KV_KEY, &name) < 0)
                return -1;
            *mask |= known_key_bit(name);
        } else if (f.number == F_SPAN_EVENTS) {
            if (last_len_field(payload, F_EVENT_NAME, &name) < 0)
                return -1;
            if (dp_str_eq(name, event_bottleneck))
                *mask |= HAS_BOTTLENECK_EVENT;
            else if (dp_str_eq(name, event_recommendation))
                *mask |= HAS_RECOMMENDATION_EVENT;
        }
    }
    return rc;
}

/* ---- the run's layout: resources, scopes, spans ------------------------------ */

/** Per span: what it gets, worked out before encoding. */
typedef struct span_plan {
    int32_t node; /* node index when this is a node's span, else -1 */
    uint32_t existing;
    bool root;
} span_plan;

/** Per scope record (plus one for spans naming no valid scope). */
typedef struct scope_plan {
    uint32_t same_scope;    /* first record with the same resource and scope */
    uint32_t same_resource; /* first record with the same resource */
    size_t span_count;
    size_t first;            /* into the span order */
    bool resource_has_spans; /* on the same_resource record: a ResourceSpans is written */
    /* on the same_resource record: its spans are order[resource_first..resource_end) */
    size_t resource_first, resource_end;
} scope_plan;

/** Everything the encoders read. */
typedef struct enrich_ctx {
    const dp_run_record *run;
    const dp_run_profile *profile;
    const uint16_t *node_bottlenecks; /* per node: bit mask of bottleneck types */
    const span_plan *plan;            /* per span, in arrival order */
    const scope_plan *scopes;         /* scope_count + 1 records */
    const size_t *order;              /* span indexes in the order they are written */
    size_t slots;
    size_t from, to; /* the request holds the spans at order[from..to) */
} enrich_ctx;

/* ---- what goes on a node span and on the root span --------------------------- */

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

static void put_root_events(dp_pb_writer *w, const enrich_ctx *c, uint32_t existing,
                            uint64_t time_ns)
{
    const dp_run_profile *p = c->profile;
    attr_list l;
    if (!(existing & HAS_BOTTLENECK_EVENT)) {
        for (size_t i = 0; i < p->bottleneck_count; i++) {
            const dp_bottleneck *b = &p->bottlenecks[i];
            l.n = 0;
            add_string(&l, DP_STR_LIT("type"), dp_str_from_cstr(dp_bottleneck_type_name(b->type)));
            /* run-wide findings (node -1) name no node */
            if (b->node >= 0 && (size_t)b->node < p->node_count)
                add_string(&l, DP_STR_LIT("node"), dp_str_from_cstr(p->nodes[b->node].id));
            add_string(&l, DP_STR_LIT("severity"), dp_str_from_cstr(dp_severity_name(b->severity)));
            add_double(&l, DP_STR_LIT("impact_pct"), b->impact_pct);
            add_string(&l, DP_STR_LIT("details"), text_of(b->details, sizeof(b->details)));
            add_string(&l, DP_STR_LIT("suggestion"), text_of(b->suggestion, sizeof(b->suggestion)));
            put_event(w, event_bottleneck, time_ns, &l);
        }
    }
    if (!(existing & HAS_RECOMMENDATION_EVENT)) {
        for (size_t i = 0; i < p->recommendation_count; i++) {
            const dp_recommendation *r = &p->recommendations[i];
            l.n = 0;
            add_string(&l, DP_STR_LIT("type"),
                       dp_str_from_cstr(dp_recommendation_type_name(r->type)));
            add_string(&l, DP_STR_LIT("priority"), dp_str_from_cstr(dp_severity_name(r->priority)));
            add_double(&l, DP_STR_LIT("savings.time_ms"), r->savings_time_ms);
            add_int(&l, DP_STR_LIT("savings.tokens"), r->savings_tokens);
            if (r->savings_cost_known)
                add_double(&l, DP_STR_LIT("savings.cost_usd"), r->savings_cost_usd);
            add_string(&l, DP_STR_LIT("description"),
                       text_of(r->description, sizeof(r->description)));
            add_string(&l, DP_STR_LIT("implementation"),
                       text_of(r->implementation, sizeof(r->implementation)));
            put_event(w, event_recommendation, time_ns, &l);
        }
    }
}

/* Span of a node or the root: its original bytes, then what the profile adds. */
static void encode_span(dp_pb_writer *w, const enrich_ctx *c, size_t index)
{
    const dp_span_ref *s = &c->run->spans[index];
    const span_plan *sp = &c->plan[index];
    dp_pb_put_raw(w, s->raw.ptr, s->raw.len);
    attr_list l;
    const char *type_names[BOTTLENECK_TYPES_MAX];
    l.n = 0;
    if (sp->node >= 0)
        node_attrs(c, (size_t)sp->node, sp->existing, &l, type_names);
    if (sp->root)
        root_attrs(c, sp->existing, &l);
    put_attributes(w, F_SPAN_ATTRIBUTES, &l);
    if (sp->root)
        put_root_events(w, c, sp->existing, s->end_ns);
}

/* ---- the request: ResourceSpans, ScopeSpans, spans ---------------------------- */

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

/* A length-delimited field copied as it arrived, when it is there at all. */
static void put_present(dp_pb_writer *w, uint32_t field, dp_str bytes)
{
    if (bytes.len)
        dp_pb_put_bytes(w, field, bytes.ptr, bytes.len);
}

/* The part of order[first..end) that the request holds: false when none. */
static bool clip(const enrich_ctx *c, size_t first, size_t end, size_t *lo, size_t *hi)
{
    *lo = first > c->from ? first : c->from;
    *hi = end < c->to ? end : c->to;
    return *lo < *hi;
}

/* ScopeSpans of scope record k: its spans (those in the request) in arrival order. */
static void encode_scope_spans(dp_pb_writer *w, const enrich_ctx *c, size_t k)
{
    const scope_plan *sc = &c->scopes[k];
    dp_span_scope ss = scope_at(c->run, k);
    size_t lo, hi;
    (void)clip(c, sc->first, sc->first + sc->span_count, &lo, &hi);
    put_present(w, F_SCOPE_SPANS_SCOPE, ss.scope_raw);
    for (size_t o = lo; o < hi; o++) {
        size_t i = c->order[o];
        const span_plan *sp = &c->plan[i];
        if (sp->node < 0 && !sp->root) {
            /* nothing added: the span's bytes are the whole message */
            dp_pb_put_bytes(w, F_SCOPE_SPANS_SPANS, c->run->spans[i].raw.ptr,
                            c->run->spans[i].raw.len);
            continue;
        }
        dp_pb_begin(w, F_SCOPE_SPANS_SPANS);
        encode_span(w, c, i);
        dp_pb_end(w);
    }
    put_present(w, F_SCOPE_SPANS_SCHEMA_URL, ss.scope_schema_url);
}

/* ResourceSpans of resource record g: every ScopeSpans with spans under it. */
static void encode_resource_spans(dp_pb_writer *w, const enrich_ctx *c, size_t g)
{
    dp_span_scope rs = scope_at(c->run, g);
    put_present(w, F_RESOURCE_SPANS_RESOURCE, rs.resource_raw);
    for (size_t k = g; k < c->slots; k++) {
        const scope_plan *sc = &c->scopes[k];
        size_t lo, hi;
        if (sc->same_resource != g || sc->same_scope != k ||
            !clip(c, sc->first, sc->first + sc->span_count, &lo, &hi))
            continue;
        dp_pb_begin(w, F_RESOURCE_SPANS_SCOPE_SPANS);
        encode_scope_spans(w, c, k);
        dp_pb_end(w);
    }
    put_present(w, F_RESOURCE_SPANS_SCHEMA_URL, rs.resource_schema_url);
}

/* ExportTraceServiceRequest. */
static void encode_request(dp_pb_writer *w, const void *arg)
{
    const enrich_ctx *c = arg;
    for (size_t g = 0; g < c->slots; g++) {
        const scope_plan *rg = &c->scopes[g];
        size_t lo, hi;
        if (rg->same_resource != g || !rg->resource_has_spans ||
            !clip(c, rg->resource_first, rg->resource_end, &lo, &hi))
            continue;
        dp_pb_begin(w, F_REQUEST_RESOURCE_SPANS);
        encode_resource_spans(w, c, g);
        dp_pb_end(w);
    }
}

/** What the encoders of one run read, and the memory behind it. */
typedef struct enrich_layout {
    enrich_ctx ctx;
    span_plan *plan;
    scope_plan *scopes;
    size_t *order;
    uint32_t *node_by_span;
    uint16_t *node_bottlenecks;
} enrich_layout;

static void layout_free(enrich_layout *l)
{
    free(l->plan);
    free(l->order);
    free(l->scopes);
    free(l->node_by_span);
    free(l->node_bottlenecks);
}

/* Whether span i of the run is sent: not a copy of one sent already
 * (dp_run_record.duplicate: a retried request's spans). */
static bool span_sent(const dp_run_record *run, size_t i)
{
    return !run->duplicate || !run->duplicate[i];
}

/* Work out what each span gets and the order spans are written in (grouped
 * by ResourceSpans, then ScopeSpans, arrival order within each), leaving
 * out the run's duplicates; the context covers every span sent. 0, or -1
 * on out of memory or a bad run (l is then freed). */
static int layout_build(enrich_layout *l, const dp_run_record *run, const dp_run_profile *profile)
{
    int result = -1;
    size_t slots, nodes = 0;
    span_plan *plan = NULL;
    scope_plan *scopes = NULL;
    size_t *order = NULL;
    uint32_t *node_by_span = NULL;
    uint16_t *node_bottlenecks = NULL;

    memset(l, 0, sizeof(*l));
    if (!run || (run->span_count && !run->spans) || (run->scope_count && !run->scopes))
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
    size_t sent = 0;
    for (size_t i = 0; i < run->span_count; i++) {
        const dp_span_ref *s = &run->spans[i];
        span_plan *sp = &plan[i];
        sp->node = -1;
        if (!span_sent(run, i))
            continue;
        sent++;
        if (profile) {
            sp->node = nodes ? find_node(profile, node_by_span, s->span_id) : -1;
            sp->root = profile->has_root && memcmp(profile->root_span_id, s->span_id, 8) == 0;
        }
        if ((sp->node >= 0 || sp->root) && scan_existing(s->raw, &sp->existing) != 0) {
            /* not walkable: forwarded as it is rather than made worse */
            dp_log_warn("enrich", "span %zu of a run is not valid protobuf; forwarded unenriched",
                        i);
            sp->node = -1;
            sp->root = false;
        }
        size_t k = s->scope_index < run->scope_count ? s->scope_index : run->scope_count;
        scope_plan *sc = &scopes[scopes[k].same_scope];
        sc->span_count++;
        scopes[sc->same_resource].resource_has_spans = true;
    }

    /* spans grouped by ScopeSpans, arrival order kept within each, the
     * ScopeSpans in the order the request writes them: a run split into
     * several requests is then split at positions of this order */
    size_t next = 0;
    for (size_t g = 0; g < slots; g++) {
        if (scopes[g].same_resource != g)
            continue;
        scopes[g].resource_first = next;
        for (size_t k = g; k < slots; k++)
            if (scopes[k].same_resource == g && scopes[k].same_scope == k) {
                scopes[k].first = next;
                next += scopes[k].span_count;
            }
        scopes[g].resource_end = next;
    }
    for (size_t k = 0; k < slots; k++)
        scopes[k].span_count = 0; /* recounted while placing */
    for (size_t i = 0; i < run->span_count; i++) {
        const dp_span_ref *s = &run->spans[i];
        size_t k = s->scope_index < run->scope_count ? s->scope_index : run->scope_count;
        scope_plan *sc = &scopes[scopes[k].same_scope];
        if (span_sent(run, i))
            order[sc->first + sc->span_count++] = i;
    }

    l->ctx = (enrich_ctx){run, profile, node_bottlenecks, plan, scopes, order, slots, 0, sent};
    l->plan = plan;
    l->scopes = scopes;
    l->order = order;
    l->node_by_span = node_by_span;
    l->node_bottlenecks = node_bottlenecks;
    return 0;

out:
    free(plan);
    free(order);
    free(scopes);
    free(node_by_span);
    free(node_bottlenecks);
    return result;
}

/* dp_pb_encode_within() of the request for l->ctx's range; a disagreement
 * between measuring and writing is a bug, logged, and never sent half-written. */
static int encode_range(const enrich_layout *l, size_t max_len, dp_buf *out, size_t *len)
{
    int rc = dp_pb_encode_within(encode_request, &l->ctx, max_len, out, len);
    if (rc == DP_EINVAL)
        dp_log_error("enrich", "the encoder wrote other bytes than it measured; run not encoded");
    return rc;
}

int dp_enrich_run(const dp_run_record *run, const dp_run_profile *profile, dp_buf *out)
{
    enrich_layout l;
    if (!out || layout_build(&l, run, profile) != 0)
        return -1;
    int rc = encode_range(&l, SIZE_MAX, out, NULL);
    layout_free(&l);
    return rc == DP_OK ? 0 : -1;
}

/* ---- one run in several requests ------------------------------------------- */

/* Bytes of a length-delimited field when it is written at all (put_present). */
static size_t present_size(dp_str bytes)
{
    return bytes.len ? dp_pb_len_field_size(bytes.len) : 0;
}

/* One span's message, for measuring it alone. */
typedef struct one_span {
    const enrich_ctx *c;
    size_t index;
} one_span;

static void encode_one_span(dp_pb_writer *w, const void *arg)
{
    const one_span *o = arg;
    encode_span(w, o->c, o->index);
}

/* Bytes of the ScopeSpans.spans entry of the span at order position o. */
static int span_entry_size(const enrich_ctx *c, size_t o, size_t *size)
{
    size_t i = c->order[o];
    size_t body = c->run->spans[i].raw.len;
    if (c->plan[i].node >= 0 || c->plan[i].root) {
        one_span arg = {c, i};
        if (dp_pb_measure(encode_one_span, &arg, &body) != DP_OK)
            return -1;
    }
    *size = dp_pb_len_field_size(body);
    return 0;
}

/*
 * The size of a request being filled, from its parts: the ResourceSpans
 * already closed, the open ResourceSpans' bytes without its open ScopeSpans
 * (its resource and schema URL fields, the closed ScopeSpans), and the open
 * ScopeSpans' bytes (its scope and schema URL fields, its spans).
 */
typedef struct request_size {
    size_t closed, resource, scope;
    bool in_resource, in_scope;
} request_size;

static size_t request_size_total(const request_size *r)
{
    size_t resource = r->resource + (r->in_scope ? dp_pb_len_field_size(r->scope) : 0);
    return r->closed + (r->in_resource ? dp_pb_len_field_size(resource) : 0);
}

/* Encode the spans at order[from..to) as one request and hand it to emit. */
static int emit_range(enrich_layout *l, size_t from, size_t to, size_t predicted,
                      dp_enrich_request_fn emit, void *arg)
{
    dp_buf b;
    size_t len = 0;
    dp_buf_init(&b, 0);
    l->ctx.from = from;
    l->ctx.to = to;
    int rc = encode_range(l, SIZE_MAX, &b, &len);
    if (rc == DP_OK && len != predicted) {
        dp_log_error("enrich", "a request of %zu spans measured %zu bytes, planned %zu; not sent",
                     to - from, len, predicted);
        rc = DP_EINVAL;
    }
    if (rc == DP_OK)
        rc = emit(arg, &b, to - from);
    dp_buf_free(&b);
    return rc;
}

int dp_enrich_run_split(const dp_run_record *run, const dp_run_profile *profile,
                        size_t max_request_bytes, dp_enrich_request_fn emit, void *arg)
{
    enrich_layout l;
    size_t *entry = NULL;
    size_t max = max_request_bytes ? max_request_bytes : SIZE_MAX;
    int rc = DP_ENOMEM;
    if (!emit || layout_build(&l, run, profile) != 0)
        return DP_ENOMEM;
    size_t sent = l.ctx.to; /* the spans the requests hold: no duplicate */
    if (sent == 0) {
        rc = DP_OK;
        goto out;
    }

    /* the common case: the run fits one request (measured once, written once) */
    dp_buf b;
    dp_buf_init(&b, 0);
    rc = encode_range(&l, max, &b, NULL);
    if (rc != DP_EFULL) {
        if (rc == DP_OK)
            rc = emit(arg, &b, sent);
        dp_buf_free(&b);
        goto out;
    }
    dp_buf_free(&b);

    /*
     * Too large: cut the spans, in the order they are written, into requests
     * of at most max bytes, each with the ResourceSpans and ScopeSpans
     * (resource, scope, schema URLs) its spans belong to. Sizes are added up
     * from each span's entry and the fields around it; a span that alone
     * makes a request too large goes in a request of its own.
     */
    rc = DP_ENOMEM;
    if (!(entry = malloc(sent * sizeof(*entry))))
        goto out;
    for (size_t o = 0; o < sent; o++)
        if (span_entry_size(&l.ctx, o, &entry[o]) != 0)
            goto out;
    request_size cur = {0, 0, 0, false, false};
    size_t start = 0;
    for (size_t g = 0; g < l.ctx.slots; g++) {
        const scope_plan *rg = &l.scopes[g];
        if (rg->same_resource != g || !rg->resource_has_spans)
            continue;
        dp_span_scope rs = scope_at(run, g);
        size_t resource_fields =
            present_size(rs.resource_raw) + present_size(rs.resource_schema_url);
        for (size_t k = g; k < l.ctx.slots; k++) {
            const scope_plan *sc = &l.scopes[k];
            if (sc->same_resource != g || sc->same_scope != k || !sc->span_count)
                continue;
            dp_span_scope ss = scope_at(run, k);
            size_t scope_fields = present_size(ss.scope_raw) + present_size(ss.scope_schema_url);
            for (size_t o = sc->first; o < sc->first + sc->span_count; o++) {
                request_size next = cur;
                for (int pass = 0; pass < 2; pass++) {
                    next = cur;
                    if (!next.in_resource) {
                        next.resource = resource_fields;
                        next.in_resource = true;
                    }
                    if (!next.in_scope) {
                        next.scope = scope_fields;
                        next.in_scope = true;
                    }
                    next.scope += entry[o];
                    if (o == start || request_size_total(&next) <= max)
                        break;
                    /* full: what is in goes out, this span starts the next request */
                    if ((rc = emit_range(&l, start, o, request_size_total(&cur), emit, arg)) != 0)
                        goto out;
                    cur = (request_size){0, 0, 0, false, false};
                    start = o;
                }
                cur = next;
            }
            cur.resource += dp_pb_len_field_size(cur.scope);
            cur.in_scope = false;
        }
        cur.closed += dp_pb_len_field_size(cur.resource);
        cur.in_resource = false;
    }
    rc = emit_range(&l, start, sent, request_size_total(&cur), emit, arg);
out:
    free(entry);
    layout_free(&l);
    return rc;
}

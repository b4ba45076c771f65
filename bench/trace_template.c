/*
 * Builds the load generator's pre-encoded requests (see trace_template.h).
 *
 * The message tree is built once in an arena, packed with protobuf-c, and
 * the arena freed. Each trace gets a marker trace id (a fixed 12-byte tag plus
 * the trace's index); after packing, the markers are found in the bytes and
 * their offsets recorded, so sending only rewrites those 16-byte windows.
 */
#include "trace_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue any_t;
typedef Opentelemetry__Proto__Trace__V1__Span span_t;

/* Tag no real id would start with; 12 bytes, then the trace index. */
static const uint8_t MARKER[12] = {0xd1, 0xa6, 'p', 'r', 'o', 'f', 'b', 'e', 'n', 'c', 'h', 0x7e};

#define MS 1000000ull

static const char *const MODELS[] = {"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022",
                                     "claude-3-5-haiku-20241022", "gemini-1.5-pro"};
static const char *const TOOLS[] = {"web_search", "grep", "read_file", "sql_query", "http_get"};

typedef struct builder {
    dp_arena arena;
    int failed;
} builder;

static void *b_alloc(builder *b, size_t n)
{
    void *p = dp_arena_calloc(&b->arena, 1, n);
    if (!p)
        b->failed = 1;
    return p;
}

static char *b_strf(builder *b, const char *fmt, unsigned a, unsigned c)
{
    char tmp[128];
    int n = snprintf(tmp, sizeof(tmp), fmt, a, c);
    if (n < 0)
        n = 0;
    char *s =
        dp_arena_strndup(&b->arena, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
    if (!s)
        b->failed = 1;
    return s;
}

static kv_t *kv_new(builder *b, const char *key)
{
    kv_t *kv = b_alloc(b, sizeof(*kv));
    any_t *v = b_alloc(b, sizeof(*v));
    if (!kv || !v)
        return NULL;
    opentelemetry__proto__common__v1__key_value__init(kv);
    opentelemetry__proto__common__v1__any_value__init(v);
    kv->key = (char *)key;
    kv->value = v;
    return kv;
}

static kv_t *kv_str(builder *b, const char *key, const char *val)
{
    kv_t *kv = kv_new(b, key);
    if (kv) {
        kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        kv->value->string_value = (char *)val;
    }
    return kv;
}

static kv_t *kv_int(builder *b, const char *key, int64_t val)
{
    kv_t *kv = kv_new(b, key);
    if (kv) {
        kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
        kv->value->int_value = val;
    }
    return kv;
}

static kv_t *kv_double(builder *b, const char *key, double val)
{
    kv_t *kv = kv_new(b, key);
    if (kv) {
        kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
        kv->value->double_value = val;
    }
    return kv;
}

static kv_t *kv_str_array1(builder *b, const char *key, const char *item)
{
    kv_t *kv = kv_new(b, key);
    Opentelemetry__Proto__Common__V1__ArrayValue *arr = b_alloc(b, sizeof(*arr));
    any_t **items = b_alloc(b, sizeof(*items));
    any_t *v = b_alloc(b, sizeof(*v));
    if (!kv || !arr || !items || !v)
        return NULL;
    opentelemetry__proto__common__v1__array_value__init(arr);
    opentelemetry__proto__common__v1__any_value__init(v);
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)item;
    items[0] = v;
    arr->n_values = 1;
    arr->values = items;
    kv->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
    kv->value->array_value = arr;
    return kv;
}

static span_t *span_new(builder *b, unsigned trace, unsigned index, unsigned parent,
                        const char *name, uint64_t start, uint64_t end, size_t max_attrs)
{
    span_t *s = b_alloc(b, sizeof(*s));
    uint8_t *tid = b_alloc(b, 16);
    uint8_t *sid = b_alloc(b, 8);
    uint8_t *pid = b_alloc(b, 8);
    kv_t **attrs = b_alloc(b, max_attrs * sizeof(*attrs));
    if (!s || !tid || !sid || !pid || !attrs)
        return NULL;
    opentelemetry__proto__trace__v1__span__init(s);
    memcpy(tid, MARKER, sizeof(MARKER));
    tid[12] = (uint8_t)(trace >> 24);
    tid[13] = (uint8_t)(trace >> 16);
    tid[14] = (uint8_t)(trace >> 8);
    tid[15] = (uint8_t)trace;
    /* Span ids only need to be unique within their trace. */
    sid[0] = 0x5b;
    sid[6] = (uint8_t)(index >> 8);
    sid[7] = (uint8_t)(index + 1);
    s->trace_id.data = tid;
    s->trace_id.len = 16;
    s->span_id.data = sid;
    s->span_id.len = 8;
    if (parent != (unsigned)-1) {
        pid[0] = 0x5b;
        pid[6] = (uint8_t)(parent >> 8);
        pid[7] = (uint8_t)(parent + 1);
        s->parent_span_id.data = pid;
        s->parent_span_id.len = 8;
    }
    s->name = (char *)name;
    s->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
    s->start_time_unix_nano = start;
    s->end_time_unix_nano = end;
    s->attributes = attrs;
    return s;
}

static void add_attr(span_t *s, kv_t *kv)
{
    if (kv)
        s->attributes[s->n_attributes++] = kv;
}

/*
 * One trace: a root, n nodes one after another (node i depends on node
 * i-1), and under each node one chat and one tool call. 1 + 3n spans.
 */
static unsigned build_trace(builder *b, span_t **out, unsigned trace, unsigned variant, uint64_t t0)
{
    unsigned n = 3 + (trace + variant) % 6;
    unsigned count = 0;
    uint64_t node_len = 1000 * MS;
    span_t *root = span_new(b, trace, 0, (unsigned)-1, "agent-run", t0, t0 + n * node_len, 8);
    if (!root)
        return 0;
    add_attr(root, kv_str(b, "dag.id", b_strf(b, "bench-dag-%u-%u", variant, trace % 7)));
    add_attr(root, kv_str(b, "gen_ai.workflow.name", "bench-workflow"));
    add_attr(root, kv_str(b, "gen_ai.operation.name", "invoke_workflow"));
    add_attr(root, kv_str(b, "gen_ai.agent.name", "planner"));
    add_attr(root, kv_str(b, "session.id", b_strf(b, "session-%u-%u", variant, trace)));
    add_attr(root, kv_int(b, "dag.node_count", n));
    out[count++] = root;

    for (unsigned i = 0; i < n; i++) {
        const char *model = MODELS[(trace + i) % 5];
        uint64_t ns = t0 + i * node_len;
        unsigned node_index = count;
        span_t *node = span_new(b, trace, node_index, 0, b_strf(b, "node-%u", i, 0), ns,
                                ns + node_len - 10 * MS, 10);
        if (!node)
            return 0;
        add_attr(node, kv_str(b, "dag.node.id", b_strf(b, "step-%u", i, 0)));
        add_attr(node, kv_str(b, "dag.model", model));
        add_attr(node, kv_str(b, "gen_ai.operation.name", "invoke_agent"));
        add_attr(node, kv_str(b, "gen_ai.agent.name", b_strf(b, "agent-%u", i % 3, 0)));
        add_attr(node, kv_str(b, "gen_ai.request.model", model));
        add_attr(node, kv_str(b, "gen_ai.system", i % 2 ? "anthropic" : "openai"));
        if (i > 0)
            add_attr(node, kv_str(b, "dag.depends_on", b_strf(b, "step-%u", i - 1, 0)));
        out[count++] = node;

        span_t *chat =
            span_new(b, trace, count, node_index, "chat", ns + 5 * MS, ns + 700 * MS, 10);
        if (!chat)
            return 0;
        chat->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
        add_attr(chat, kv_str(b, "gen_ai.operation.name", "chat"));
        add_attr(chat, kv_str(b, "gen_ai.system", i % 2 ? "anthropic" : "openai"));
        add_attr(chat, kv_str(b, "gen_ai.request.model", model));
        add_attr(chat, kv_str(b, "gen_ai.response.model", model));
        add_attr(chat, kv_int(b, "gen_ai.usage.input_tokens", 800 + 37 * (int64_t)i));
        add_attr(chat, kv_int(b, "gen_ai.usage.output_tokens", 120 + 11 * (int64_t)i));
        add_attr(chat, kv_double(b, "gen_ai.request.temperature", 0.2));
        add_attr(chat, kv_int(b, "gen_ai.request.max_tokens", 1024));
        add_attr(chat, kv_str_array1(b, "gen_ai.response.finish_reasons", "stop"));
        add_attr(chat, kv_str(b, "gen_ai.response.id", b_strf(b, "chatcmpl-%08u%04u", trace, i)));
        out[count++] = chat;

        const char *tool_name = TOOLS[(trace + 2 * i) % 5];
        span_t *tool =
            span_new(b, trace, count, node_index, "execute_tool", ns + 710 * MS, ns + 980 * MS, 8);
        if (!tool)
            return 0;
        add_attr(tool, kv_str(b, "gen_ai.operation.name", "execute_tool"));
        add_attr(tool, kv_str(b, "gen_ai.tool.name", tool_name));
        add_attr(tool, kv_str(b, "gen_ai.tool.type", "function"));
        add_attr(tool, kv_str(b, "gen_ai.tool.call.id", b_strf(b, "call_%u_%u", trace, i)));
        add_attr(tool, kv_str(b, "code.function", tool_name));
        add_attr(tool, kv_int(b, "tool.result.bytes", 2048 + 100 * (int64_t)i));
        out[count++] = tool;
    }
    return count;
}

int dp_bench_request_build(dp_bench_request *r, unsigned variant, unsigned spans_per_request,
                           uint64_t base_time_ns)
{
    int result = -1;
    builder b = {0};
    memset(r, 0, sizeof(*r));
    dp_arena_init(&b.arena, 0, 0);
    if (spans_per_request == 0)
        spans_per_request = 1;

    /* A trace holds at most 25 spans: room for one whole extra trace. */
    size_t cap = spans_per_request + 25;
    span_t **spans = b_alloc(&b, cap * sizeof(*spans));
    if (!spans)
        goto out;
    size_t nspans = 0;
    unsigned ntraces = 0;
    while (nspans < spans_per_request) {
        unsigned got = build_trace(&b, spans + nspans, ntraces, variant,
                                   base_time_ns + (uint64_t)ntraces * 13 * MS);
        if (got == 0 || b.failed)
            goto out;
        nspans += got;
        ntraces++;
    }

    Opentelemetry__Proto__Resource__V1__Resource res =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    kv_t *res_attrs[4] = {
        kv_str(&b, "service.name", "bench-agent"),
        kv_str(&b, "service.version", "1.0.0"),
        kv_str(&b, "telemetry.sdk.language", "c"),
        kv_str(&b, "telemetry.sdk.name", "dagprof-loadgen"),
    };
    if (b.failed)
        goto out;
    res.n_attributes = 4;
    res.attributes = res_attrs;
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "dagprof-loadgen";
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
        OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.scope = &scope;
    ss.n_spans = nspans;
    ss.spans = spans;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
        OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = &res;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;

    r->len =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
            &req);
    r->bytes = malloc(r->len);
    r->id_offsets = calloc(nspans, sizeof(*r->id_offsets));
    r->id_trace = calloc(nspans, sizeof(*r->id_trace));
    if (!r->bytes || !r->id_offsets || !r->id_trace)
        goto out;
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, r->bytes);
    r->spans = nspans;
    r->traces = ntraces;

    /* Every span carries its trace id once: find each marker occurrence. */
    const uint8_t *p = r->bytes;
    size_t left = r->len;
    while (left >= 16) {
        const uint8_t *hit = memmem(p, left, MARKER, sizeof(MARKER));
        if (!hit || (size_t)(r->bytes + r->len - hit) < 16)
            break;
        if (r->id_count == nspans) {
            fprintf(stderr, "trace_template: more trace ids than spans\n");
            goto out;
        }
        r->id_offsets[r->id_count] = (size_t)(hit - r->bytes);
        r->id_trace[r->id_count] = ((uint32_t)hit[12] << 24) | ((uint32_t)hit[13] << 16) |
                                   ((uint32_t)hit[14] << 8) | hit[15];
        r->id_count++;
        left = (size_t)(r->bytes + r->len - (hit + 16));
        p = hit + 16;
    }
    if (r->id_count != nspans) {
        fprintf(stderr, "trace_template: found %zu trace ids for %zu spans\n", r->id_count, nspans);
        goto out;
    }
    result = 0;
out:
    dp_arena_free(&b.arena);
    if (result != 0)
        dp_bench_request_release(r);
    return result;
}

void dp_bench_request_write(uint8_t *dst, const dp_bench_request *r, uint32_t prefix, uint64_t seq)
{
    memcpy(dst, r->bytes, r->len);
    for (size_t i = 0; i < r->id_count; i++) {
        uint8_t *id = dst + r->id_offsets[i];
        uint32_t t = r->id_trace[i];
        for (int k = 0; k < 4; k++)
            id[k] = (uint8_t)(prefix >> (24 - 8 * k));
        for (int k = 0; k < 4; k++)
            id[4 + k] = (uint8_t)(t >> (24 - 8 * k));
        for (int k = 0; k < 8; k++)
            id[8 + k] = (uint8_t)(seq >> (56 - 8 * k));
    }
}

void dp_bench_request_release(dp_bench_request *r)
{
    if (!r)
        return;
    free(r->bytes);
    free(r->id_offsets);
    free(r->id_trace);
    memset(r, 0, sizeof(*r));
}

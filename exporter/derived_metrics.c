/*
 * Derived metrics: folds finished run profiles into in-memory OTLP
 * aggregates (explicit-bucket histograms and sums) and encodes them, with
 * dagprof's self-telemetry, as one ExportMetricsServiceRequest per export
 * interval. Sits after the profiler in the exporter stage; the daemon hands
 * the encoded bytes to the upstream client.
 *
 * Each metric keeps its series (attribute sets) in insertion order plus an
 * open-addressing hash index over them, so a lookup costs one hash of the
 * attribute set whatever the number of series. Past the per-metric cap new
 * attribute sets fold into one overflow series (otel.metric.overflow=true).
 * One mutex guards record and collect: runs finish at a coarse rate, so the
 * lock is never hot. Metric definitions: docs/metrics.md ("Derived metrics"),
 * docs/telemetry.md (self-telemetry).
 */
#include "derived_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "clock.h"
#include "log.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest pb_request;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics pb_resource_metrics;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics pb_scope_metrics;
typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Metrics__V1__Histogram pb_histogram;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint pb_hist_point;
typedef Opentelemetry__Proto__Metrics__V1__Sum pb_sum;
typedef Opentelemetry__Proto__Metrics__V1__Gauge pb_gauge;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint pb_number_point;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_key_value;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any_value;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource;

#define DM_MAX_ATTRS 6
/* Attribute values longer than this are cut (at a UTF-8 boundary): keeps
 * one series' key bounded whatever a span carried. */
#define DM_VALUE_MAX 256
#define DM_KEY_MAX (DM_MAX_ATTRS * (64 + DM_VALUE_MAX + 2))
/* Encoding scratch for one collection; far above 20 metrics x 2001 series. */
#define DM_ENCODE_ARENA_MAX (512u << 20)
#define DM_OVERFLOW_KEY "otel.metric.overflow"
/* The semantic conventions' fallback error.type when the class is unknown:
 * a span with status ERROR says that a call failed, not why. */
#define DM_ERROR_OTHER "_OTHER"
#define DM_TEMPORALITY_DELTA                                                                       \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA
#define DM_TEMPORALITY_CUMULATIVE                                                                  \
    OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE

enum dm_kind { DM_HISTOGRAM, DM_SUM_DOUBLE, DM_SUM_INT };

/* Advised boundaries of the GenAI semantic conventions. */
static const double token_bounds[] = {1,     4,     16,     64,      256,     1024,     4096,
                                      16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};
static const double operation_bounds[] = {0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                          1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
static const double workflow_bounds[] = {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200};
/* gen_ai.invoke_agent.duration's boundaries: a DAG node is usually one agent step. */
static const double agent_bounds[] = {0.1,  0.2,  0.4,  0.8,   1.6,   3.2,  6.4,
                                      12.8, 25.6, 51.2, 102.4, 204.8, 409.6};
/* Parallelism = node execution / wall time: 1 is sequential, below 1 has gaps. */
static const double parallelism_bounds[] = {0.5, 1, 1.5, 2, 3, 4, 6, 8, 16, 32};

#define BOUNDS(a) a, sizeof(a) / sizeof(a[0])

typedef struct dm_desc {
    const char *name;
    const char *unit;
    const char *description;
    enum dm_kind kind;
    const double *bounds;
    size_t bound_count;
} dm_desc;

enum dm_metric_id {
    M_TOKEN_USAGE,
    M_OPERATION_DURATION,
    M_TOOL_DURATION,
    M_WORKFLOW_DURATION,
    M_NODE_DURATION,
    M_NODE_WAIT,
    M_RUN_DURATION,
    M_RUN_CRITICAL_PATH,
    M_RUN_PARALLELISM,
    M_COST,
    M_COST_UNKNOWN,
    M_NODE_RETRIES,
    M_BOTTLENECKS,
    M_SAVINGS_TIME,
    M_SAVINGS_TOKENS,
    M_SAVINGS_COST,
    M_COUNT
};

static const dm_desc descs[M_COUNT] = {
    [M_TOKEN_USAGE] = {"gen_ai.client.token.usage", "{token}",
                       "Number of input and output tokens used.", DM_HISTOGRAM,
                       BOUNDS(token_bounds)},
    [M_OPERATION_DURATION] = {"gen_ai.client.operation.duration", "s", "GenAI operation duration.",
                              DM_HISTOGRAM, BOUNDS(operation_bounds)},
    [M_TOOL_DURATION] = {"gen_ai.execute_tool.duration", "s",
                         "The duration of a single tool execution.", DM_HISTOGRAM,
                         BOUNDS(operation_bounds)},
    [M_WORKFLOW_DURATION] = {"gen_ai.workflow.duration", "s",
                             "GenAI workflow duration (one DAG run).", DM_HISTOGRAM,
                             BOUNDS(workflow_bounds)},
    [M_NODE_DURATION] = {"dag.node.duration", "s", "Execution time of a DAG node.", DM_HISTOGRAM,
                         BOUNDS(agent_bounds)},
    [M_NODE_WAIT] = {"dag.node.wait.duration", "s",
                     "Time a DAG node waited between being ready and starting.", DM_HISTOGRAM,
                     BOUNDS(agent_bounds)},
    [M_RUN_DURATION] = {"dag.run.duration", "s", "Wall-clock time of a DAG run.", DM_HISTOGRAM,
                        BOUNDS(workflow_bounds)},
    [M_RUN_CRITICAL_PATH] = {"dag.run.critical_path.duration", "s",
                             "Length of a DAG run's critical path.", DM_HISTOGRAM,
                             BOUNDS(workflow_bounds)},
    [M_RUN_PARALLELISM] = {"dag.run.parallelism", "1",
                           "Sum of node execution time divided by the run's wall-clock time.",
                           DM_HISTOGRAM, BOUNDS(parallelism_bounds)},
    [M_COST] = {"dag.cost", "USD", "Cost of LLM calls with a known price.", DM_SUM_DOUBLE, NULL, 0},
    [M_COST_UNKNOWN] = {"dag.cost.unknown", "{call}", "LLM calls whose model has no known price.",
                        DM_SUM_INT, NULL, 0},
    [M_NODE_RETRIES] = {"dag.node.retries", "{retry}", "Retries of DAG nodes.", DM_SUM_INT, NULL,
                        0},
    [M_BOTTLENECKS] = {"dag.bottlenecks", "{bottleneck}", "Bottlenecks detected in DAG runs.",
                       DM_SUM_INT, NULL, 0},
    [M_SAVINGS_TIME] = {"dag.recommendation.savings.time", "s",
                        "Estimated wall-clock time recommendations would save.", DM_SUM_DOUBLE,
                        NULL, 0},
    [M_SAVINGS_TOKENS] = {"dag.recommendation.savings.tokens", "{token}",
                          "Estimated tokens recommendations would save.", DM_SUM_INT, NULL, 0},
    [M_SAVINGS_COST] = {"dag.recommendation.savings.cost", "USD",
                        "Estimated cost recommendations would save (known prices only).",
                        DM_SUM_DOUBLE, NULL, 0},
};

typedef struct dm_attr {
    const char *key;   /* static string */
    const char *value; /* NULL: attribute left out */
} dm_attr;

/* One attribute set and its aggregate. Allocated in one block: the struct,
 * the bucket counts, then the canonical key "k\0v\0k\0v\0" that the
 * attribute values point into. */
typedef struct dm_series {
    /* What a lookup and an update touch comes first, in one cache line:
     * the attributes are only read when collecting. */
    uint64_t hash;
    size_t key_len;
    const char *key;
    uint64_t count;
    double sum;
    double min;
    double max;
    int64_t int_value;
    uint64_t *buckets;
    size_t attr_count;
    dm_attr attrs[DM_MAX_ATTRS];
    bool overflow;
} dm_series;

typedef struct dm_metric {
    dm_series **series; /* insertion order */
    size_t count;
    size_t cap;
    uint32_t *slots; /* hash index: series index + 1, 0 = empty */
    size_t slot_cap; /* power of two, at least twice count */
    dm_series *overflow;
    uint64_t folded; /* observations that went to the overflow series */
} dm_metric;

struct dp_derived_metrics {
    pthread_mutex_t lock;
    bool delta;
    size_t max_series;
    dp_resource_attr *resource; /* keys and values in resource_text */
    size_t resource_count;
    char *resource_text;
    uint64_t start_ns; /* cumulative start, or the previous delta collection */
    dm_metric metrics[M_COUNT];
    double *self_prev; /* delta: the self-telemetry's values at the previous collection */
    size_t self_prev_count;
};

/* --- attribute keys ---------------------------------------------------------- */

/* Hash of a canonical key, eight bytes per step: every run looks up tens
 * of series, so a byte-at-a-time hash was a visible share of the CPU. */
static uint64_t key_hash(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    uint64_t t = 0;
    memcpy(&t, p + i, n - i);
    h = (h ^ t) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return h;
}

/* Length of the valid UTF-8 sequence starting at s (n bytes left), 0 when
 * invalid. OTLP strings must be UTF-8; span attributes need not be. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, surrogate or past U+10FFFF */
    return len;
}

/* Copy src as valid UTF-8 (invalid bytes become '?'), at most max bytes,
 * never cutting a character. Returns the bytes written. */
static size_t copy_utf8(char *dst, size_t max, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0, o = 0;
    /* Most values are short ASCII: copy that prefix in the same pass that
     * finds its end, and only measure the rest when there is one. */
    while (i < max && s[i] != 0 && s[i] < 0x80) {
        dst[i] = (char)s[i];
        i++;
    }
    if (s[i] == 0)
        return i;
    size_t n = i + strlen(src + i);
    o = i;
    while (i < n) {
        size_t len = utf8_seq(s + i, n - i);
        size_t out_len = len ? len : 1;
        if (o + out_len > max)
            break;
        if (len)
            memcpy(dst + o, s + i, len);
        else
            dst[o] = '?';
        o += out_len;
        i += len ? len : 1;
    }
    return o;
}

/* Build the canonical key of an attribute set into buf. */
static size_t build_key(char *buf, const dm_attr *attrs, size_t n, size_t *kept)
{
    size_t o = 0;
    *kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!attrs[i].value)
            continue;
        size_t kl = strlen(attrs[i].key);
        memcpy(buf + o, attrs[i].key, kl + 1);
        o += kl + 1;
        o += copy_utf8(buf + o, DM_VALUE_MAX, attrs[i].value);
        buf[o++] = '\0';
        (*kept)++;
    }
    return o;
}

/* --- series table ---------------------------------------------------------- */

static dm_series *series_new(const dm_desc *d, const char *key, size_t key_len, uint64_t hash,
                             const dm_attr *attrs, size_t n)
{
    size_t nb = d->kind == DM_HISTOGRAM ? d->bound_count + 1 : 0;
    dm_series *s = calloc(1, sizeof(*s) + nb * sizeof(uint64_t) + key_len + 1);
    if (!s)
        return NULL;
    s->buckets = (uint64_t *)(s + 1);
    char *k = (char *)(s->buckets + nb);
    memcpy(k, key, key_len);
    s->key = k;
    s->key_len = key_len;
    s->hash = hash;
    /* attribute values point into the key copy: key\0value\0 pairs */
    const char *p = k;
    for (size_t i = 0; i < n; i++) {
        if (!attrs[i].value)
            continue;
        s->attrs[s->attr_count].key = attrs[i].key;
        p += strlen(p) + 1;
        s->attrs[s->attr_count].value = p;
        p += strlen(p) + 1;
        s->attr_count++;
    }
    return s;
}

static int index_grow(dm_metric *m)
{
    size_t cap = m->slot_cap ? m->slot_cap * 2 : 16;
    uint32_t *slots = calloc(cap, sizeof(uint32_t));
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->count; i++) {
        size_t j = (size_t)m->series[i]->hash & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)(i + 1);
    }
    free(m->slots);
    m->slots = slots;
    m->slot_cap = cap;
    return 0;
}

/* The series of an attribute set: found, created, or the overflow series
 * once the metric holds max_series. NULL on out of memory. */
static dm_series *series_get(dp_derived_metrics *dm, enum dm_metric_id id, const dm_attr *attrs,
                             size_t n)
{
    dm_metric *m = &dm->metrics[id];
    char key[DM_KEY_MAX];
    size_t kept;
    size_t key_len = build_key(key, attrs, n, &kept);
    uint64_t hash = key_hash(key, key_len);

    if (m->slot_cap) {
        for (size_t j = (size_t)hash & (m->slot_cap - 1); m->slots[j];
             j = (j + 1) & (m->slot_cap - 1)) {
            dm_series *s = m->series[m->slots[j] - 1];
            if (s->hash == hash && s->key_len == key_len && memcmp(s->key, key, key_len) == 0)
                return s;
        }
    }
    if (m->count >= dm->max_series) {
        if (!m->overflow) {
            m->overflow = series_new(&descs[id], "", 0, 0, NULL, 0);
            if (!m->overflow)
                return NULL;
            m->overflow->overflow = true;
            dp_log_warn("metrics",
                        "%s: more than %zu series, folding new ones into the overflow series",
                        descs[id].name, dm->max_series);
        }
        m->folded++;
        return m->overflow;
    }
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        dm_series **arr = realloc(m->series, cap * sizeof(*arr));
        if (!arr)
            return NULL;
        m->series = arr;
        m->cap = cap;
    }
    if ((m->count + 1) * 2 > m->slot_cap && index_grow(m) < 0)
        return NULL;
    dm_series *s = series_new(&descs[id], key, key_len, hash, attrs, n);
    if (!s)
        return NULL;
    m->series[m->count++] = s;
    size_t j = (size_t)hash & (m->slot_cap - 1);
    while (m->slots[j])
        j = (j + 1) & (m->slot_cap - 1);
    m->slots[j] = (uint32_t)m->count;
    return s;
}

static void metric_clear(dm_metric *m)
{
    for (size_t i = 0; i < m->count; i++)
        free(m->series[i]);
    free(m->overflow);
    m->overflow = NULL;
    m->count = 0;
    m->folded = 0;
    if (m->slots)
        memset(m->slots, 0, m->slot_cap * sizeof(uint32_t));
}

/* --- recording ------------------------------------------------------------- */

/* Histogram observation. Non-finite values are dropped (they would poison
 * sum/min/max); negative durations, which clock skew can give, count as 0. */
static int observe(dp_derived_metrics *dm, enum dm_metric_id id, const dm_attr *attrs, size_t n,
                   double v)
{
    if (!isfinite(v)) {
        dp_log_debug("metrics", "%s: non-finite value ignored", descs[id].name);
        return 0;
    }
    if (v < 0)
        v = 0;
    dm_series *s = series_get(dm, id, attrs, n);
    if (!s)
        return -1;
    const dm_desc *d = &descs[id];
    size_t b = 0;
    while (b < d->bound_count && v > d->bounds[b])
        b++; /* buckets are (bounds[b-1], bounds[b]]: upper bound inclusive */
    s->buckets[b]++;
    if (s->count == 0 || v < s->min)
        s->min = v;
    if (s->count == 0 || v > s->max)
        s->max = v;
    s->count++;
    s->sum += v;
    return 0;
}

static int add_double(dp_derived_metrics *dm, enum dm_metric_id id, const dm_attr *attrs, size_t n,
                      double v)
{
    if (!isfinite(v) || v <= 0)
        return 0; /* monotonic sums only grow; a zero adds no information */
    dm_series *s = series_get(dm, id, attrs, n);
    if (!s)
        return -1;
    s->sum += v;
    return 0;
}

static int add_int(dp_derived_metrics *dm, enum dm_metric_id id, const dm_attr *attrs, size_t n,
                   uint64_t v)
{
    if (v == 0)
        return 0;
    dm_series *s = series_get(dm, id, attrs, n);
    if (!s)
        return -1;
    s->int_value += v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
    return 0;
}

#define NATTR(a) (sizeof(a) / sizeof(a[0]))

static int record_call(dp_derived_metrics *dm, const dp_run_profile *p, const dp_call_profile *c)
{
    const char *dag = p->dag_id ? p->dag_id : "unknown";
    const char *node =
        c->node >= 0 && (size_t)c->node < p->node_count ? p->nodes[c->node].id : NULL;
    const char *err = c->success ? NULL : DM_ERROR_OTHER;
    int rc = 0;

    if (c->is_llm) {
        dm_attr tok[] = {{"gen_ai.operation.name", c->name},
                         {"gen_ai.request.model", c->model},
                         {"gen_ai.token.type", "input"},
                         {"dag.id", dag},
                         {"dag.node.id", node}};
        /* A call with no token counts at all reported no usage: the
         * conventions say not to invent it. */
        if (c->tokens.input + c->tokens.output > 0) {
            rc |= observe(dm, M_TOKEN_USAGE, tok, NATTR(tok), (double)c->tokens.input);
            tok[2].value = "output";
            rc |= observe(dm, M_TOKEN_USAGE, tok, NATTR(tok), (double)c->tokens.output);
        }
        dm_attr op[] = {{"gen_ai.operation.name", c->name},
                        {"gen_ai.request.model", c->model},
                        {"dag.id", dag},
                        {"dag.node.id", node},
                        {"error.type", err}};
        rc |= observe(dm, M_OPERATION_DURATION, op, NATTR(op), c->duration_ms / 1000.0);
        dm_attr cost[] = {
            {"gen_ai.request.model", c->model}, {"dag.id", dag}, {"dag.node.id", node}};
        if (c->cost_known)
            rc |= add_double(dm, M_COST, cost, NATTR(cost), c->cost_usd);
        else
            rc |= add_int(dm, M_COST_UNKNOWN, cost, 2, 1); /* model, dag.id */
    }
    if (c->is_tool) {
        dm_attr tool[] = {{"gen_ai.tool.name", c->name},
                          {"dag.id", dag},
                          {"dag.node.id", node},
                          {"error.type", err}};
        rc |= observe(dm, M_TOOL_DURATION, tool, NATTR(tool), c->duration_ms / 1000.0);
    }
    return rc;
}

static int record_profile(dp_derived_metrics *dm, const dp_run_profile *p)
{
    const char *dag = p->dag_id ? p->dag_id : "unknown";
    int rc = 0;

    for (size_t i = 0; i < p->call_count; i++)
        rc |= record_call(dm, p, &p->calls[i]);

    for (size_t i = 0; i < p->node_count; i++) {
        const dp_node_profile *n = &p->nodes[i];
        dm_attr a[] = {{"dag.id", dag}, {"dag.node.id", n->id}};
        rc |= observe(dm, M_NODE_DURATION, a, NATTR(a), n->duration_ms / 1000.0);
        rc |= observe(dm, M_NODE_WAIT, a, NATTR(a), n->wait_ms / 1000.0);
        rc |= add_int(dm, M_NODE_RETRIES, a, NATTR(a), n->retries);
    }

    dm_attr wf[] = {{"gen_ai.workflow.name", dag}, {"dag.id", dag}};
    rc |= observe(dm, M_WORKFLOW_DURATION, wf, NATTR(wf), p->wall_ms / 1000.0);
    dm_attr run[] = {{"dag.id", dag}};
    rc |= observe(dm, M_RUN_DURATION, run, 1, p->wall_ms / 1000.0);
    rc |= observe(dm, M_RUN_CRITICAL_PATH, run, 1, p->critical_path_ms / 1000.0);
    rc |= observe(dm, M_RUN_PARALLELISM, run, 1, p->parallelism);

    for (size_t i = 0; i < p->bottleneck_count; i++) {
        const dp_bottleneck *b = &p->bottlenecks[i];
        const char *node =
            b->node >= 0 && (size_t)b->node < p->node_count ? p->nodes[b->node].id : NULL;
        dm_attr a[] = {{"dag.bottleneck.type", dp_bottleneck_type_name(b->type)},
                       {"dag.bottleneck.severity", dp_severity_name(b->severity)},
                       {"dag.id", dag},
                       {"dag.node.id", node}};
        rc |= add_int(dm, M_BOTTLENECKS, a, NATTR(a), 1);
    }

    for (size_t i = 0; i < p->recommendation_count; i++) {
        const dp_recommendation *r = &p->recommendations[i];
        dm_attr a[] = {{"dag.recommendation.type", dp_recommendation_type_name(r->type)},
                       {"dag.id", dag}};
        rc |= add_double(dm, M_SAVINGS_TIME, a, NATTR(a), r->savings_time_ms / 1000.0);
        rc |= add_int(dm, M_SAVINGS_TOKENS, a, NATTR(a), r->savings_tokens);
        if (r->savings_cost_known)
            rc |= add_double(dm, M_SAVINGS_COST, a, NATTR(a), r->savings_cost_usd);
    }
    return rc ? -1 : 0;
}

/* --- public: lifecycle and recording ---------------------------------------- */

/* Own a copy of the resource's attributes (service.name "dagprof" when none). */
static int copy_resource(dp_derived_metrics *dm, const dp_derived_metrics_options *opt)
{
    static const dp_resource_attr fallback = {"service.name", "dagprof"};
    const dp_resource_attr *attrs = opt->resource_count ? opt->resource : &fallback;
    size_t n = opt->resource_count ? opt->resource_count : 1;
    size_t text = 0;
    for (size_t i = 0; i < n; i++)
        text += strlen(attrs[i].key) + strlen(attrs[i].value) + 2;
    dm->resource = calloc(n, sizeof(*dm->resource));
    dm->resource_text = malloc(text);
    if (!dm->resource || !dm->resource_text)
        return -1;
    char *p = dm->resource_text;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(attrs[i].key) + 1, vl = strlen(attrs[i].value) + 1;
        dm->resource[i].key = memcpy(p, attrs[i].key, kl);
        dm->resource[i].value = memcpy(p + kl, attrs[i].value, vl);
        p += kl + vl;
    }
    dm->resource_count = n;
    return 0;
}

dp_derived_metrics *dp_derived_metrics_create(const dp_derived_metrics_options *opt)
{
    dp_derived_metrics_options defaults;
    if (!opt) {
        dp_derived_metrics_options_defaults(&defaults);
        opt = &defaults;
    }
    if (opt->max_series == 0)
        return NULL;
    dp_derived_metrics *dm = calloc(1, sizeof(*dm));
    if (!dm)
        return NULL;
    if (pthread_mutex_init(&dm->lock, NULL) != 0) {
        free(dm);
        return NULL;
    }
    dm->delta = opt->temporality == DP_METRICS_DELTA;
    dm->max_series = opt->max_series;
    if (dm->max_series > UINT32_MAX / 4)
        dm->max_series = UINT32_MAX / 4; /* the hash index stores 32-bit positions */
    dm->start_ns = opt->start_time_ns ? opt->start_time_ns : dp_clock_realtime_ns();
    if (copy_resource(dm, opt) < 0) {
        dp_derived_metrics_destroy(dm);
        return NULL;
    }
    return dm;
}

int dp_derived_metrics_record(dp_derived_metrics *m, const dp_run_profile *profile)
{
    if (!m || !profile)
        return -1;
    pthread_mutex_lock(&m->lock);
    int rc = record_profile(m, profile);
    pthread_mutex_unlock(&m->lock);
    if (rc < 0)
        dp_log_error("metrics", "out of memory: run %s only partly counted in derived metrics",
                     profile->dag_id ? profile->dag_id : "unknown");
    return rc;
}

void dp_derived_metrics_destroy(dp_derived_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < M_COUNT; i++) {
        metric_clear(&m->metrics[i]);
        free(m->metrics[i].series);
        free(m->metrics[i].slots);
    }
    free(m->resource);
    free(m->resource_text);
    free(m->self_prev);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* --- encoding ---------------------------------------------------------------- */

typedef struct dm_encoder {
    dp_arena arena;
    uint64_t start_ns;
    uint64_t now_ns;
    bool delta;
} dm_encoder;

static pb_key_value *kv_string(dm_encoder *e, const char *key, const char *value)
{
    pb_key_value *kv = dp_arena_alloc(&e->arena, sizeof(*kv));
    pb_any_value *v = dp_arena_alloc(&e->arena, sizeof(*v));
    if (!kv || !v)
        return NULL;
    *kv = (pb_key_value)OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    *v = (pb_any_value)OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v->string_value = (char *)value;
    kv->key = (char *)key;
    kv->value = v;
    return kv;
}

static int point_attrs(dm_encoder *e, const dm_series *s, size_t *n_out, pb_key_value ***out)
{
    size_t n = s->overflow ? 1 : s->attr_count;
    *n_out = n;
    *out = NULL;
    if (n == 0)
        return 0;
    pb_key_value **arr = dp_arena_alloc(&e->arena, n * sizeof(*arr));
    if (!arr)
        return -1;
    if (s->overflow) {
        arr[0] = kv_string(e, DM_OVERFLOW_KEY, "");
        if (!arr[0])
            return -1;
        arr[0]->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
        arr[0]->value->bool_value = 1;
    } else {
        for (size_t i = 0; i < n; i++)
            if (!(arr[i] = kv_string(e, s->attrs[i].key, s->attrs[i].value)))
                return -1;
    }
    *out = arr;
    return 0;
}

static pb_hist_point *hist_point(dm_encoder *e, const dm_desc *d, const dm_series *s)
{
    pb_hist_point *hp = dp_arena_alloc(&e->arena, sizeof(*hp));
    if (!hp)
        return NULL;
    *hp = (pb_hist_point)OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__INIT;
    if (point_attrs(e, s, &hp->n_attributes, &hp->attributes) < 0)
        return NULL;
    hp->has_start_time_unix_nano = hp->has_time_unix_nano = 1;
    hp->start_time_unix_nano = e->start_ns;
    hp->time_unix_nano = e->now_ns;
    hp->has_count = hp->has_sum = 1;
    hp->count = s->count;
    hp->sum = s->sum;
    if (s->count) {
        hp->has_min = hp->has_max = 1;
        hp->min = s->min;
        hp->max = s->max;
    }
    hp->n_bucket_counts = d->bound_count + 1;
    hp->bucket_counts = s->buckets;
    hp->n_explicit_bounds = d->bound_count;
    hp->explicit_bounds = (double *)d->bounds;
    return hp;
}

static pb_number_point *number_point(dm_encoder *e, const dm_series *s, bool is_int, int64_t iv,
                                     double dv, bool with_start)
{
    pb_number_point *np = dp_arena_alloc(&e->arena, sizeof(*np));
    if (!np)
        return NULL;
    *np = (pb_number_point)OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT;
    if (s && point_attrs(e, s, &np->n_attributes, &np->attributes) < 0)
        return NULL;
    np->has_start_time_unix_nano = with_start;
    np->start_time_unix_nano = with_start ? e->start_ns : 0;
    np->has_time_unix_nano = 1;
    np->time_unix_nano = e->now_ns;
    if (is_int) {
        np->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
        np->as_int = iv;
    } else {
        np->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
        np->as_double = dv;
    }
    return np;
}

static pb_metric *metric_new(dm_encoder *e, const char *name, const char *unit, const char *desc)
{
    pb_metric *pm = dp_arena_alloc(&e->arena, sizeof(*pm));
    if (!pm)
        return NULL;
    *pm = (pb_metric)OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
    pm->name = (char *)name;
    pm->unit = (char *)unit;
    pm->description = (char *)desc;
    return pm;
}

static pb_sum *sum_new(dm_encoder *e, pb_metric *pm, size_t points)
{
    pb_sum *sum = dp_arena_alloc(&e->arena, sizeof(*sum));
    void *arr = dp_arena_alloc(&e->arena, points * sizeof(pb_number_point *));
    if (!sum || !arr)
        return NULL;
    *sum = (pb_sum)OPENTELEMETRY__PROTO__METRICS__V1__SUM__INIT;
    sum->data_points = arr;
    sum->has_aggregation_temporality = sum->has_is_monotonic = 1;
    sum->aggregation_temporality = e->delta ? DM_TEMPORALITY_DELTA : DM_TEMPORALITY_CUMULATIVE;
    sum->is_monotonic = 1;
    pm->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
    pm->sum = sum;
    return sum;
}

/* One aggregated metric as an OTLP Metric, its series then the overflow. */
static pb_metric *encode_metric(dm_encoder *e, enum dm_metric_id id, const dm_metric *m)
{
    const dm_desc *d = &descs[id];
    size_t points = m->count + (m->overflow ? 1 : 0);
    pb_metric *pm = metric_new(e, d->name, d->unit, d->description);
    if (!pm)
        return NULL;
    if (d->kind == DM_HISTOGRAM) {
        pb_histogram *h = dp_arena_alloc(&e->arena, sizeof(*h));
        void *arr = dp_arena_alloc(&e->arena, points * sizeof(pb_hist_point *));
        if (!h || !arr)
            return NULL;
        *h = (pb_histogram)OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM__INIT;
        h->data_points = arr;
        h->has_aggregation_temporality = 1;
        h->aggregation_temporality = e->delta ? DM_TEMPORALITY_DELTA : DM_TEMPORALITY_CUMULATIVE;
        for (size_t i = 0; i < points; i++) {
            const dm_series *s = i < m->count ? m->series[i] : m->overflow;
            if (!(h->data_points[h->n_data_points++] = hist_point(e, d, s)))
                return NULL;
        }
        pm->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
        pm->histogram = h;
        return pm;
    }
    pb_sum *sum = sum_new(e, pm, points);
    if (!sum)
        return NULL;
    for (size_t i = 0; i < points; i++) {
        const dm_series *s = i < m->count ? m->series[i] : m->overflow;
        pb_number_point *np = number_point(e, s, d->kind == DM_SUM_INT, s->int_value, s->sum, true);
        if (!np)
            return NULL;
        sum->data_points[sum->n_data_points++] = np;
    }
    return pm;
}

/* A self-telemetry point's labels as OTLP attributes. */
static int self_attributes(dm_encoder *e, const dp_telemetry_point *p, pb_number_point *np)
{
    if (!p->label_count)
        return 0;
    np->attributes = dp_arena_alloc(&e->arena, p->label_count * sizeof(pb_key_value *));
    if (!np->attributes)
        return -1;
    for (size_t i = 0; i < p->label_count; i++)
        if (!(np->attributes[np->n_attributes++] =
                  kv_string(e, p->labels[i].key, p->labels[i].value)))
            return -1;
    return 0;
}

/* One self-telemetry family: counters as monotonic sums (delta: the change
 * since the previous collection, prev[] by point), gauges as gauges.
 * *index counts the snapshot's points across families. */
static pb_metric *encode_self(dm_encoder *e, const dp_telemetry_family *f, const double *prev,
                              size_t *index)
{
    bool counter = f->kind == DP_TELEMETRY_COUNTER;
    pb_metric *pm = metric_new(e, f->name, f->unit, f->help);
    if (!pm)
        return NULL;
    pb_number_point **arr;
    size_t *n;
    if (counter) {
        pb_sum *sum = sum_new(e, pm, f->point_count);
        if (!sum)
            return NULL;
        arr = sum->data_points;
        n = &sum->n_data_points;
    } else {
        pb_gauge *g = dp_arena_alloc(&e->arena, sizeof(*g));
        arr = dp_arena_alloc(&e->arena, f->point_count * sizeof(*arr));
        if (!g || !arr)
            return NULL;
        *g = (pb_gauge)OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
        g->data_points = arr;
        pm->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
        pm->gauge = g;
        n = &g->n_data_points;
    }
    for (const dp_telemetry_point *p = f->first; p; p = p->next, (*index)++) {
        double v = p->value;
        if (counter && e->delta && prev)
            v = v >= prev[*index] ? v - prev[*index] : v; /* went back: restarted from 0 */
        int64_t iv = v >= (double)INT64_MAX ? INT64_MAX : (int64_t)v;
        pb_number_point *np = number_point(e, NULL, !f->fractional, iv, v, counter);
        if (!np || self_attributes(e, p, np) < 0)
            return NULL;
        arr[(*n)++] = np;
    }
    return pm;
}

/* Remember the self-telemetry's values for the next delta. */
static void keep_self_values(dp_derived_metrics *m, const dp_telemetry *self)
{
    if (m->self_prev_count != self->point_count) {
        double *prev =
            realloc(m->self_prev, (self->point_count ? self->point_count : 1) * sizeof(*prev));
        if (!prev)
            return; /* the next delta sends totals once */
        m->self_prev = prev;
        m->self_prev_count = self->point_count;
    }
    size_t i = 0;
    for (const dp_telemetry_family *f = self->first; f; f = f->next)
        for (const dp_telemetry_point *p = f->first; p; p = p->next)
            m->self_prev[i++] = p->value;
}

/* The resource: dagprof's identity. */
static int encode_resource(dm_encoder *e, const dp_derived_metrics *m, pb_resource *resource)
{
    *resource = (pb_resource)OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    resource->attributes = dp_arena_alloc(&e->arena, m->resource_count * sizeof(pb_key_value *));
    if (!resource->attributes)
        return -1;
    for (size_t i = 0; i < m->resource_count; i++)
        if (!(resource->attributes[resource->n_attributes++] =
                  kv_string(e, m->resource[i].key, m->resource[i].value)))
            return -1;
    return 0;
}

/* ---- one collection in requests of bounded size --------------------------- */

/* Bytes of a length-delimited field of number 1..15 holding len bytes. */
static size_t len_field(size_t len)
{
    size_t n = 1;
    for (size_t v = len; v >= 0x80; v >>= 7)
        n++;
    return 1 + n + len;
}

/* A metric's data points: the array inside its oneof message and its count. */
typedef struct metric_points {
    void **points;
    size_t *count;
} metric_points;

static metric_points points_of(pb_metric *pm)
{
    switch (pm->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        return (metric_points){(void **)pm->histogram->data_points, &pm->histogram->n_data_points};
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        return (metric_points){(void **)pm->sum->data_points, &pm->sum->n_data_points};
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        return (metric_points){(void **)pm->gauge->data_points, &pm->gauge->n_data_points};
    default:
        return (metric_points){NULL, NULL};
    }
}

static size_t point_size(const pb_metric *pm, const void *point)
{
    if (pm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM)
        return opentelemetry__proto__metrics__v1__histogram_data_point__get_packed_size(point);
    return opentelemetry__proto__metrics__v1__number_data_point__get_packed_size(point);
}

/* The sizes of a metric without its data (base) and of its data message
 * without points (data_base). */
static void metric_sizes(pb_metric *pm, size_t *base, size_t *data_base)
{
    metric_points mp = points_of(pm);
    size_t n = mp.count ? *mp.count : 0;
    if (mp.count)
        *mp.count = 0;
    switch (pm->data_case) {
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
        *data_base = opentelemetry__proto__metrics__v1__histogram__get_packed_size(pm->histogram);
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
        *data_base = opentelemetry__proto__metrics__v1__sum__get_packed_size(pm->sum);
        break;
    case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
        *data_base = opentelemetry__proto__metrics__v1__gauge__get_packed_size(pm->gauge);
        break;
    default:
        *data_base = 0;
        break;
    }
    if (mp.count)
        *mp.count = n;
    int data_case = pm->data_case;
    pm->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA__NOT_SET;
    *base = opentelemetry__proto__metrics__v1__metric__get_packed_size(pm);
    pm->data_case = data_case;
}

/* One metric's share of a request: points [first, first + count). */
typedef struct metric_part {
    size_t metric, first, count;
} metric_part;

/* The requests of one collection, encoded while the aggregates are locked. */
typedef struct request_list {
    dp_buf *req;
    size_t *points;
    size_t count, cap;
} request_list;

static void request_list_free(request_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        dp_buf_free(&l->req[i]);
    free(l->req);
    free(l->points);
}

/* The envelope every request of a collection shares: the resource, and the
 * scope of each metric (the derived metrics under "dagprof", the
 * self-telemetry after them under "dagprof.telemetry"). */
typedef struct request_frame {
    pb_resource *resource;
    pb_scope *scopes;                      /* 2 */
    pb_metric **metrics;                   /* in request order */
    size_t first_self;                     /* metrics[first_self..] are in the second scope */
    size_t resource_field, scope_field[2]; /* their bytes as fields */
} request_frame;

static size_t scope_of(const request_frame *f, size_t metric)
{
    return metric >= f->first_self ? 1 : 0;
}

/* A copy of metric `orig` with points [first, first + count). */
static pb_metric *metric_share(dm_encoder *e, const pb_metric *orig, size_t first, size_t count)
{
    pb_metric *pm = dp_arena_alloc(&e->arena, sizeof(*pm));
    if (!pm)
        return NULL;
    *pm = *orig;
    void *data = NULL;
    size_t data_size = pm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM
                           ? sizeof(pb_histogram)
                       : pm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM
                           ? sizeof(pb_sum)
                           : sizeof(pb_gauge);
    if (!(data = dp_arena_alloc(&e->arena, data_size)))
        return NULL;
    if (pm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM) {
        memcpy(data, orig->histogram, data_size);
        pm->histogram = data;
        pm->histogram->data_points += first;
    } else if (pm->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM) {
        memcpy(data, orig->sum, data_size);
        pm->sum = data;
        pm->sum->data_points += first;
    } else {
        memcpy(data, orig->gauge, data_size);
        pm->gauge = data;
        pm->gauge->data_points += first;
    }
    *points_of(pm).count = count;
    return pm;
}

/* Encode the parts as one request and add it to the list; `predicted` is its
 * size as the split worked it out (0 = not checked). 0, or -1. */
static int encode_parts(dm_encoder *e, const request_frame *f, const metric_part *parts,
                        size_t part_count, size_t predicted, request_list *out)
{
    pb_metric **metrics = dp_arena_alloc(&e->arena, part_count * sizeof(*metrics));
    if (!metrics)
        return -1;
    size_t points = 0, in_scope[2] = {0, 0};
    for (size_t i = 0; i < part_count; i++) {
        const metric_part *mp = &parts[i];
        if (!(metrics[i] = metric_share(e, f->metrics[mp->metric], mp->first, mp->count)))
            return -1;
        points += mp->count;
        in_scope[scope_of(f, mp->metric)]++;
    }
    pb_scope_metrics sm[2] = {OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT,
                              OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT};
    pb_scope_metrics *smp[2];
    size_t nsm = 0;
    for (size_t k = 0, first = 0; k < 2; first += in_scope[k], k++) {
        if (!in_scope[k])
            continue;
        sm[k].scope = &f->scopes[k];
        sm[k].n_metrics = in_scope[k];
        sm[k].metrics = metrics + first;
        smp[nsm++] = &sm[k];
    }
    pb_resource_metrics rm = OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
    rm.resource = f->resource;
    rm.n_scope_metrics = nsm;
    rm.scope_metrics = smp;
    pb_resource_metrics *rmp = &rm;
    pb_request req =
        OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
    req.n_resource_metrics = 1;
    req.resource_metrics = &rmp;
    size_t size =
        opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(
            &req);
    if (predicted && size != predicted) {
        dp_log_error("metrics", "a request of %zu data points packs to %zu bytes, planned %zu",
                     points, size, predicted);
        return -1;
    }
    if (out->count == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 4;
        dp_buf *req_list = realloc(out->req, cap * sizeof(*req_list));
        if (req_list)
            out->req = req_list;
        size_t *point_list = realloc(out->points, cap * sizeof(*point_list));
        if (point_list)
            out->points = point_list;
        if (!req_list || !point_list)
            return -1;
        out->cap = cap;
    }
    dp_buf *b = &out->req[out->count];
    dp_buf_init(b, 0);
    /* packed straight into the buffer, reserved to the exact size: a
     * request built to be handed to the upstream queue as it is */
    if (dp_buf_reserve_exact(b, size) != 0) {
        dp_buf_free(b);
        return -1;
    }
    opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(
        &req, (uint8_t *)b->data);
    b->len = size;
    b->data[size] = '\0';
    out->points[out->count++] = points;
    return 0;
}

/* The size of a request being filled, from its parts: the ScopeMetrics
 * already closed; the open one's scope field and closed metrics; the open
 * metric (its fields without data, and its data message). */
typedef struct metrics_fill {
    size_t closed_scopes, scope_body, metric_base, data;
    size_t scope; /* of the open ScopeMetrics */
    bool in_scope, in_metric;
} metrics_fill;

static size_t metrics_fill_total(const request_frame *f, const metrics_fill *r)
{
    size_t open_metric = r->in_metric ? len_field(r->metric_base + len_field(r->data)) : 0;
    size_t open_scope = r->in_scope ? len_field(r->scope_body + open_metric) : 0;
    return len_field(f->resource_field + r->closed_scopes + open_scope);
}

static void close_metric(metrics_fill *r)
{
    if (r->in_metric)
        r->scope_body += len_field(r->metric_base + len_field(r->data));
    r->in_metric = false;
}

static void close_scope(metrics_fill *r)
{
    close_metric(r);
    if (r->in_scope)
        r->closed_scopes += len_field(r->scope_body);
    r->in_scope = false;
}

/*
 * Cut the metrics into requests of at most max bytes, in order, a metric's
 * points over several requests when they do not fit one (each with a copy
 * of the metric: name, unit, description, temporality); a single point
 * larger than max goes alone. Sizes are added up from each point's and
 * metric's packed size and the fields around them.
 */
static int split_metrics(dm_encoder *e, const request_frame *f, size_t metric_count, size_t max,
                         request_list *out)
{
    metric_part *parts = dp_arena_alloc(&e->arena, (metric_count + 1) * sizeof(*parts));
    if (!parts)
        return -1;
    size_t part_count = 0, in_request = 0;
    metrics_fill cur = {0};
    for (size_t i = 0; i < metric_count; i++) {
        pb_metric *pm = f->metrics[i];
        metric_points mp = points_of(pm);
        size_t base, data_base, scope = scope_of(f, i);
        metric_sizes(pm, &base, &data_base);
        if (cur.in_scope && cur.scope != scope)
            close_scope(&cur);
        for (size_t j = 0; mp.count && j < *mp.count; j++) {
            size_t entry = len_field(point_size(pm, mp.points[j]));
            metrics_fill next = cur;
            for (int pass = 0; pass < 2; pass++) {
                next = cur;
                if (!next.in_scope) {
                    next.scope = scope;
                    next.scope_body = f->scope_field[scope];
                    next.in_scope = true;
                }
                if (!next.in_metric) {
                    next.metric_base = base;
                    next.data = data_base;
                    next.in_metric = true;
                }
                next.data += entry;
                if (in_request == 0 || metrics_fill_total(f, &next) <= max)
                    break;
                /* full: what is in goes out, this point starts the next request */
                if (encode_parts(e, f, parts, part_count, metrics_fill_total(f, &cur), out) != 0)
                    return -1;
                cur = (metrics_fill){0};
                part_count = 0;
                in_request = 0;
            }
            if (!cur.in_metric)
                parts[part_count++] = (metric_part){i, j, 0};
            parts[part_count - 1].count++;
            cur = next;
            in_request++;
        }
        close_metric(&cur);
    }
    if (in_request && encode_parts(e, f, parts, part_count, metrics_fill_total(f, &cur), out) != 0)
        return -1;
    return 0;
}

/* Collect into requests and hand them to emit: after unlocking, or (emit_locked)
 * before the delta reset, so a request emit refuses leaves the aggregates as they were. */
static long collect_requests(dp_derived_metrics *m, const dp_telemetry *self, uint64_t now_ns,
                             size_t max_request_bytes, dp_metrics_request_fn emit, void *arg,
                             bool emit_locked)
{
    if (!m || !emit)
        return -1;
    long result = -1;
    bool encode_failed = false;
    request_list list = {NULL, NULL, 0, 0};
    dm_encoder e = {.now_ns = now_ns, .delta = false};
    dp_arena_init(&e.arena, 0, DM_ENCODE_ARENA_MAX);

    pthread_mutex_lock(&m->lock);
    e.start_ns = m->start_ns;
    e.delta = m->delta;

    size_t points = 0, metric_count = 0, self_count = 0;
    for (size_t i = 0; i < M_COUNT; i++) {
        size_t n = m->metrics[i].count + (m->metrics[i].overflow ? 1 : 0);
        points += n;
        metric_count += n ? 1 : 0;
    }
    for (const dp_telemetry_family *f = self ? self->first : NULL; f; f = f->next) {
        points += f->point_count;
        self_count += f->point_count ? 1 : 0;
    }
    if (points == 0) {
        result = 0;
        goto unlock;
    }

    encode_failed = true; /* until the requests are encoded */
    pb_metric **metrics = dp_arena_alloc(&e.arena, (metric_count + self_count) * sizeof(*metrics));
    if (!metrics)
        goto unlock;
    size_t nm = 0;
    for (size_t i = 0; i < M_COUNT; i++) {
        if (m->metrics[i].count == 0 && !m->metrics[i].overflow)
            continue;
        if (!(metrics[nm++] = encode_metric(&e, (enum dm_metric_id)i, &m->metrics[i])))
            goto unlock;
    }
    /* delta needs the previous values of the same points */
    const double *prev = self && m->self_prev_count == self->point_count ? m->self_prev : NULL;
    size_t index = 0;
    for (const dp_telemetry_family *f = self ? self->first : NULL; f; f = f->next) {
        if (!f->point_count)
            continue;
        if (!(metrics[nm++] = encode_self(&e, f, prev, &index)))
            goto unlock;
    }

    pb_resource resource;
    if (encode_resource(&e, m, &resource) < 0)
        goto unlock;
    pb_scope scopes[2] = {OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT,
                          OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT};
    scopes[0].name = "dagprof";
    scopes[1].name = "dagprof.telemetry";
    request_frame frame = {&resource, scopes, metrics, metric_count, 0, {0, 0}};
    frame.resource_field =
        len_field(opentelemetry__proto__resource__v1__resource__get_packed_size(&resource));
    for (size_t k = 0; k < 2; k++)
        frame.scope_field[k] = len_field(
            opentelemetry__proto__common__v1__instrumentation_scope__get_packed_size(&scopes[k]));
    int rc;
    if (max_request_bytes) {
        rc = split_metrics(&e, &frame, nm, max_request_bytes, &list);
    } else {
        /* no limit: one request with every metric whole */
        metric_part *parts = dp_arena_alloc(&e.arena, nm * sizeof(*parts));
        rc = parts ? 0 : -1;
        for (size_t i = 0; parts && i < nm; i++)
            parts[i] = (metric_part){i, 0, *points_of(metrics[i]).count};
        if (rc == 0)
            rc = encode_parts(&e, &frame, parts, nm, 0, &list);
    }
    if (rc != 0)
        goto unlock;
    encode_failed = false;
    for (size_t i = 0; emit_locked && i < list.count; i++)
        if (emit(arg, &list.req[i], list.points[i]) != 0)
            goto unlock; /* refused: the aggregates stay as they are */

    if (m->delta) {
        for (size_t i = 0; i < M_COUNT; i++)
            metric_clear(&m->metrics[i]);
        m->start_ns = now_ns;
        if (self)
            keep_self_values(m, self);
    }
    result = (long)points;
unlock:
    pthread_mutex_unlock(&m->lock);
    /* handed over once the aggregates are free again: emit may wait for the queue */
    for (size_t i = 0; !emit_locked && result > 0 && i < list.count; i++)
        if (emit(arg, &list.req[i], list.points[i]) != 0)
            result = -1;
    if (encode_failed)
        dp_log_error("metrics", "could not encode derived metrics (out of memory)");
    request_list_free(&list);
    dp_arena_free(&e.arena);
    return result;
}

long dp_derived_metrics_collect_split(dp_derived_metrics *m, const dp_telemetry *self,
                                      uint64_t now_ns, size_t max_request_bytes,
                                      dp_metrics_request_fn emit, void *arg)
{
    return collect_requests(m, self, now_ns, max_request_bytes, emit, arg, false);
}

/* dp_metrics_request_fn of dp_derived_metrics_collect(): the one request into out. */
static int append_request(void *arg, dp_buf *request, size_t points)
{
    (void)points;
    return dp_buf_append(arg, request->data, request->len);
}

long dp_derived_metrics_collect(dp_derived_metrics *m, const dp_telemetry *self, uint64_t now_ns,
                                dp_buf *out)
{
    if (!out)
        return -1;
    return collect_requests(m, self, now_ns, 0, append_request, out, true);
}

/*
 * Trace assembly: buffers encoded spans per trace until the run is
 * finalised, then queues it for run processing. See trace_table.h for the
 * rules; this note covers the layout.
 *
 * Shards: trace id hash -> shard; each shard has a mutex, a chained hash of
 * trace entries, an age list (creation order: oldest first, for max_age and
 * the memory limit) and an activity list (least recently touched first, for
 * the idle rule), and a ring of recently finalised trace ids (late spans).
 *
 * Storage: a trace entry owns a chain of chunks and an index. A span's
 * encoded bytes, and each resource/scope blob (the four byte strings of a
 * dp_span_scope, stored once per trace), are appended to the tail chunk,
 * 8-byte aligned; the span's dp_span_ref (the batch's, with its view moved
 * to the stored bytes and its scope index to the trace's) goes into the
 * index array, which grows to what the batch holds for the trace (then by
 * half) and is handed over whole at finalisation. Chunks grow with
 * the trace (a new chunk is half the bytes already held, 1-64 KiB, or
 * what the rest of the batch stores for the trace if that is more; a
 * trace's first chunk is exactly what its first batch stores), so a
 * trace sent whole takes one exactly sized chunk, the slack of one sent in
 * pieces stays a fraction of the stored bytes, and there is no malloc per
 * span.
 *
 * A batch is inserted under the locks of every shard it touches, taken in
 * ascending order (no deadlock). Each touched entry records a mark first;
 * if anything fails, every touched entry is rolled back to its mark, so a
 * batch is kept whole or not at all.
 */
#include "trace_table.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define DP_TT_CHUNK_MIN 1024
#define DP_TT_CHUNK_MAX (64 * 1024)
#define DP_TT_LOOKAHEAD 256
#define DP_TT_MAX_SCOPES 0x3fffffffu

typedef struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
} chunk;

typedef struct trace_entry {
    uint8_t trace_id[16];
    uint64_t hash;
    struct trace_entry *hash_next;
    struct trace_entry *age_prev, *age_next;
    struct trace_entry *act_prev, *act_next;
    chunk *head, *tail;
    size_t chunk_bytes; /* sum of chunk sizes, for the growth rule */
    dp_span_ref *index; /* one per stored span; views into the chunks */
    size_t index_cap;
    dp_span_scope *scopes;
    uint64_t *scope_hashes;
    uint32_t scope_count, scope_cap;
    size_t span_count;
    size_t encoded_bytes;
    size_t stored_bytes;
    uint64_t first_ms, last_ms;
    bool has_root, late;
    bool in_act;        /* on the activity list (rootless idle traces leave it) */
    uint8_t due_reason; /* set when collected */
    /* the current batch's rollback mark */
    bool in_txn, created_in_txn;
    struct trace_entry *txn_next;
    chunk *mark_tail;
    size_t mark_used, mark_spans, mark_encoded, mark_stored, mark_chunk_bytes;
    uint32_t mark_scopes;
    bool mark_root;
} trace_entry;

typedef struct late_slot {
    uint8_t trace_id[16];
    uint64_t expire_ms;
    int32_t next; /* bucket chain */
} late_slot;

typedef struct shard {
    pthread_mutex_t lock;
    trace_entry **buckets;
    size_t bucket_count; /* power of two */
    size_t count;
    trace_entry *age_head, *age_tail;
    trace_entry *act_head, *act_tail;
    late_slot *late; /* ring */
    int32_t *late_buckets;
    size_t late_cap, late_bucket_mask, late_start, late_len;
} shard;

typedef struct run_internal {
    dp_run_record pub;
    struct run_internal *next; /* pending queue */
    chunk *chunks;
    dp_span_scope *scopes;
    uint64_t *scope_hashes;
    dp_span_ref *index;
} run_internal;

struct dp_trace_table {
    dp_trace_table_options opt;
    shard *shards;
    unsigned shard_count;
    size_t hard_limit;

    pthread_mutex_t pending_lock;
    pthread_cond_t pending_cond;
    run_internal *pending_head, *pending_tail;
    bool closed;
    pthread_mutex_t evict_lock;

    _Atomic size_t buffered_runs, pending_runs, buffered_bytes, pending_bytes;
    _Atomic size_t buffered_encoded, buffered_spans;
    _Atomic uint64_t spans_inserted, batches_refused, runs_started, runs_finalised, runs_late;
    _Atomic uint64_t by_reason[4];
};

static uint64_t monotonic_ms(void *ctx)
{
    (void)ctx;
    return dp_clock_monotonic_ms();
}

static uint64_t now_ms(dp_trace_table *t)
{
    return t->opt.clock(t->opt.clock_ctx);
}

static uint64_t trace_hash(const uint8_t id[16])
{
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    /* splitmix64 finaliser: trace ids are usually random, but not always */
    uint64_t z = a ^ (b * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t bytes_hash(uint64_t h, dp_str s)
{
    /* FNV-1a over the bytes, seeded with the length so "" and absent agree */
    h ^= s.len;
    h *= 0x100000001b3ull;
    for (size_t i = 0; i < s.len; i++) {
        h ^= (unsigned char)s.ptr[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t scope_hash(const dp_span_scope *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = bytes_hash(h, s->resource_raw);
    h = bytes_hash(h, s->resource_schema_url);
    h = bytes_hash(h, s->scope_raw);
    return bytes_hash(h, s->scope_schema_url);
}

static unsigned shard_of(const dp_trace_table *t, uint64_t h)
{
    return (unsigned)((h >> 32) % t->shard_count);
}

/* --- lists ---------------------------------------------------------------- */

static void age_append(shard *s, trace_entry *e)
{
    e->age_next = NULL;
    e->age_prev = s->age_tail;
    if (s->age_tail)
        s->age_tail->age_next = e;
    else
        s->age_head = e;
    s->age_tail = e;
}

static void age_unlink(shard *s, trace_entry *e)
{
    if (e->age_prev)
        e->age_prev->age_next = e->age_next;
    else
        s->age_head = e->age_next;
    if (e->age_next)
        e->age_next->age_prev = e->age_prev;
    else
        s->age_tail = e->age_prev;
    e->age_prev = e->age_next = NULL;
}

static void act_append(shard *s, trace_entry *e)
{
    e->in_act = true;
    e->act_next = NULL;
    e->act_prev = s->act_tail;
    if (s->act_tail)
        s->act_tail->act_next = e;
    else
        s->act_head = e;
    s->act_tail = e;
}

static void act_unlink(shard *s, trace_entry *e)
{
    if (!e->in_act)
        return;
    e->in_act = false;
    if (e->act_prev)
        e->act_prev->act_next = e->act_next;
    else
        s->act_head = e->act_next;
    if (e->act_next)
        e->act_next->act_prev = e->act_prev;
    else
        s->act_tail = e->act_prev;
    e->act_prev = e->act_next = NULL;
}

/* --- shard hash ------------------------------------------------------------ */

static trace_entry *shard_find(shard *s, const uint8_t id[16], uint64_t h)
{
    for (trace_entry *e = s->buckets[h & (s->bucket_count - 1)]; e; e = e->hash_next)
        if (e->hash == h && memcmp(e->trace_id, id, 16) == 0)
            return e;
    return NULL;
}

static void shard_grow(shard *s)
{
    size_t n = s->bucket_count * 2;
    trace_entry **nb = calloc(n, sizeof(*nb));
    if (!nb)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < s->bucket_count; i++) {
        trace_entry *e = s->buckets[i];
        while (e) {
            trace_entry *next = e->hash_next;
            size_t b = e->hash & (n - 1);
            e->hash_next = nb[b];
            nb[b] = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = nb;
    s->bucket_count = n;
}

static void shard_link(shard *s, trace_entry *e)
{
    if (s->count >= s->bucket_count)
        shard_grow(s);
    size_t b = e->hash & (s->bucket_count - 1);
    e->hash_next = s->buckets[b];
    s->buckets[b] = e;
    s->count++;
}

static void shard_unlink(shard *s, trace_entry *e)
{
    trace_entry **pp = &s->buckets[e->hash & (s->bucket_count - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = e->hash_next;
    s->count--;
    age_unlink(s, e);
    act_unlink(s, e);
}

/* --- late trace ids ---------------------------------------------------------- */

static void late_drop_oldest(shard *s)
{
    int32_t idx = (int32_t)s->late_start;
    late_slot *slot = &s->late[idx];
    uint64_t h = trace_hash(slot->trace_id);
    int32_t *pp = &s->late_buckets[h & s->late_bucket_mask];
    while (*pp >= 0 && *pp != idx)
        pp = &s->late[*pp].next;
    if (*pp == idx)
        *pp = slot->next;
    s->late_start = (s->late_start + 1) % s->late_cap;
    s->late_len--;
}

static void late_expire(shard *s, uint64_t now)
{
    while (s->late_len && s->late[s->late_start].expire_ms <= now)
        late_drop_oldest(s);
}

static bool late_contains(shard *s, const uint8_t id[16], uint64_t h, uint64_t now)
{
    if (!s->late_cap)
        return false;
    late_expire(s, now);
    for (int32_t i = s->late_buckets[h & s->late_bucket_mask]; i >= 0; i = s->late[i].next)
        if (memcmp(s->late[i].trace_id, id, 16) == 0)
            return true;
    return false;
}

static void late_add(shard *s, const uint8_t id[16], uint64_t h, uint64_t expire)
{
    if (!s->late_cap)
        return;
    if (s->late_len == s->late_cap)
        late_drop_oldest(s); /* bounded: the oldest id is forgotten early */
    size_t idx = (s->late_start + s->late_len) % s->late_cap;
    late_slot *slot = &s->late[idx];
    memcpy(slot->trace_id, id, 16);
    slot->expire_ms = expire;
    int32_t *head = &s->late_buckets[h & s->late_bucket_mask];
    slot->next = *head;
    *head = (int32_t)idx;
    s->late_len++;
}

/* --- create / destroy ------------------------------------------------------ */

static void chunks_free(chunk *c)
{
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* A run's memory: its chunks, index and scopes, and the run. */
static void run_free(run_internal *r)
{
    chunks_free(r->chunks);
    free(r->index);
    free(r->scopes);
    free(r->scope_hashes);
    free(r);
}

static void entry_free(trace_entry *e)
{
    chunks_free(e->head);
    free(e->index);
    free(e->scopes);
    free(e->scope_hashes);
    free(e);
}

dp_trace_table *dp_trace_table_create(const dp_trace_table_options *opt)
{
    if (opt && (opt->shards == 0 || opt->shards > DP_TRACE_TABLE_MAX_SHARDS))
        return NULL;
    dp_trace_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (opt)
        t->opt = *opt;
    else
        dp_trace_table_options_defaults(&t->opt);
    if (!t->opt.clock)
        t->opt.clock = monotonic_ms;
    if (!t->opt.late_ids_max)
        t->opt.late_ids_max = 65536;
    t->shard_count = t->opt.shards;
    t->hard_limit = t->opt.max_held_bytes       ? t->opt.max_held_bytes
                    : t->opt.memory_limit_bytes ? 2 * t->opt.memory_limit_bytes
                                                : 0;
    pthread_mutex_init(&t->pending_lock, NULL);
    pthread_mutex_init(&t->evict_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->pending_cond, &ca);
    pthread_condattr_destroy(&ca);

    t->shards = calloc(t->shard_count, sizeof(shard));
    if (!t->shards)
        goto fail;
    size_t late_per_shard = 0;
    if (t->opt.late_window_ms) {
        late_per_shard = t->opt.late_ids_max / t->shard_count;
        if (late_per_shard < 16)
            late_per_shard = 16;
    }
    for (unsigned i = 0; i < t->shard_count; i++) {
        shard *s = &t->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->bucket_count = 64;
        s->buckets = calloc(s->bucket_count, sizeof(*s->buckets));
        if (!s->buckets)
            goto fail;
        if (late_per_shard) {
            size_t nb = 16;
            while (nb < late_per_shard)
                nb *= 2;
            s->late = calloc(late_per_shard, sizeof(*s->late));
            s->late_buckets = malloc(nb * sizeof(*s->late_buckets));
            if (!s->late || !s->late_buckets)
                goto fail;
            memset(s->late_buckets, 0xff, nb * sizeof(*s->late_buckets)); /* -1: empty */
            s->late_cap = late_per_shard;
            s->late_bucket_mask = nb - 1;
        }
    }
    return t;
fail:
    dp_trace_table_destroy(t);
    return NULL;
}

void dp_trace_table_destroy(dp_trace_table *t)
{
    if (!t)
        return;
    if (t->shards) {
        for (unsigned i = 0; i < t->shard_count; i++) {
            shard *s = &t->shards[i];
            trace_entry *e = s->age_head;
            while (e) {
                trace_entry *next = e->age_next;
                entry_free(e);
                e = next;
            }
            free(s->buckets);
            free(s->late);
            free(s->late_buckets);
            pthread_mutex_destroy(&s->lock);
        }
        free(t->shards);
    }
    run_internal *r = t->pending_head;
    while (r) {
        run_internal *next = r->next;
        run_free(r);
        r = next;
    }
    pthread_mutex_destroy(&t->pending_lock);
    pthread_mutex_destroy(&t->evict_lock);
    pthread_cond_destroy(&t->pending_cond);
    free(t);
}

/* --- storage ------------------------------------------------------------------ */

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/*
 * Room for `need` bytes at the tail of e's chunk chain; NULL on out of memory.
 * A new chunk is at least `hint` bytes: what the rest of the current batch
 * will store for this trace, so a trace that arrives whole (the usual case)
 * fills one exactly sized chunk instead of a chain with slack at every end.
 */
static unsigned char *entry_reserve(dp_trace_table *t, trace_entry *e, size_t need, size_t hint)
{
    chunk *c = e->tail;
    if (c && c->size - c->used >= need) {
        unsigned char *p = c->data + c->used;
        c->used += need;
        return p;
    }
    size_t size = e->chunk_bytes / 2;
    if (size < DP_TT_CHUNK_MIN)
        size = DP_TT_CHUNK_MIN;
    if (size > DP_TT_CHUNK_MAX)
        size = DP_TT_CHUNK_MAX;
    if (hint && !c)
        size = hint; /* a first chunk for what is known to come: exact */
    else if (size < hint)
        size = hint;
    if (size < need)
        size = need;
    chunk *nc = malloc(sizeof(*nc) + size);
    if (!nc)
        return NULL;
    nc->next = NULL;
    nc->size = size;
    nc->used = need;
    if (c)
        c->next = nc;
    else
        e->head = nc;
    e->tail = nc;
    e->chunk_bytes += size;
    e->stored_bytes += sizeof(*nc) + size;
    (void)t;
    return nc->data;
}

static dp_str store_bytes(unsigned char **p, dp_str s)
{
    dp_str out = {(const char *)*p, s.len};
    if (s.len)
        memcpy(*p, s.ptr, s.len);
    *p += s.len;
    return out;
}

/* Index of the batch scope `bs` (hash h) among e's stored scopes; -1 when not stored. */
static int64_t entry_scope_find(const trace_entry *e, const dp_span_scope *bs, uint64_t h)
{
    for (uint32_t i = 0; i < e->scope_count; i++) {
        const dp_span_scope *r = &e->scopes[i];
        if (e->scope_hashes[i] == h && dp_str_eq(r->resource_raw, bs->resource_raw) &&
            dp_str_eq(r->scope_raw, bs->scope_raw) &&
            dp_str_eq(r->resource_schema_url, bs->resource_schema_url) &&
            dp_str_eq(r->scope_schema_url, bs->scope_schema_url))
            return i;
    }
    return -1;
}

static size_t scope_blob_len(const dp_span_scope *bs)
{
    return bs->resource_raw.len + bs->resource_schema_url.len + bs->scope_raw.len +
           bs->scope_schema_url.len;
}

/* Store the batch scope `bs` (hash h, not yet stored) in e; its index, or -1 on failure. */
static int64_t entry_scope_store(dp_trace_table *t, trace_entry *e, const dp_span_scope *bs,
                                 uint64_t h, size_t hint)
{
    if (e->scope_count >= DP_TT_MAX_SCOPES)
        return -1;
    if (e->scope_count == e->scope_cap) {
        /* most traces have one resource and scope: start with room for exactly one */
        uint32_t ncap = e->scope_cap ? e->scope_cap * 2 : 1;
        dp_span_scope *ns = realloc(e->scopes, ncap * sizeof(*ns));
        if (!ns)
            return -1;
        e->scopes = ns;
        uint64_t *nh = realloc(e->scope_hashes, ncap * sizeof(*nh));
        if (!nh)
            return -1;
        e->scope_hashes = nh;
        e->stored_bytes += (ncap - e->scope_cap) * (sizeof(*ns) + sizeof(*nh));
        e->scope_cap = ncap;
    }
    size_t blob = scope_blob_len(bs);
    if (blob > UINT32_MAX)
        return -1;
    unsigned char *p = entry_reserve(t, e, align8(blob), hint);
    if (!p)
        return -1;
    dp_span_scope *r = &e->scopes[e->scope_count];
    r->resource_raw = store_bytes(&p, bs->resource_raw);
    r->resource_schema_url = store_bytes(&p, bs->resource_schema_url);
    r->scope_raw = store_bytes(&p, bs->scope_raw);
    r->scope_schema_url = store_bytes(&p, bs->scope_schema_url);
    e->scope_hashes[e->scope_count] = h;
    return e->scope_count++;
}

static void entry_mark(trace_entry *e, trace_entry **txn, bool created)
{
    e->in_txn = true;
    e->created_in_txn = created;
    e->mark_tail = e->tail;
    e->mark_used = e->tail ? e->tail->used : 0;
    e->mark_spans = e->span_count;
    e->mark_encoded = e->encoded_bytes;
    e->mark_stored = e->stored_bytes;
    e->mark_chunk_bytes = e->chunk_bytes;
    e->mark_scopes = e->scope_count;
    e->mark_root = e->has_root;
    e->txn_next = *txn;
    *txn = e;
}

static void entry_rollback(trace_entry *e)
{
    chunk *extra;
    if (e->mark_tail) {
        extra = e->mark_tail->next;
        e->mark_tail->next = NULL;
        e->mark_tail->used = e->mark_used;
    } else {
        extra = e->head;
        e->head = NULL;
    }
    chunks_free(extra);
    e->tail = e->mark_tail;
    e->span_count = e->mark_spans;
    e->encoded_bytes = e->mark_encoded;
    e->chunk_bytes = e->mark_chunk_bytes;
    e->scope_count = e->mark_scopes;
    e->has_root = e->mark_root;
    /* a grown scope array stays grown; account for it */
    e->stored_bytes = e->mark_stored;
    e->in_txn = false;
}

/* --- insert -------------------------------------------------------------------- */

static void shards_lock(dp_trace_table *t, const uint64_t *bitmap)
{
    for (unsigned i = 0; i < t->shard_count; i++)
        if (bitmap[i / 64] & (1ull << (i % 64)))
            pthread_mutex_lock(&t->shards[i].lock);
}

static void shards_unlock(dp_trace_table *t, const uint64_t *bitmap)
{
    for (unsigned i = t->shard_count; i-- > 0;)
        if (bitmap[i / 64] & (1ull << (i % 64)))
            pthread_mutex_unlock(&t->shards[i].lock);
}

static size_t enforce_memory_limit(dp_trace_table *t);

/*
 * Record bytes the spans of trace `id` from batch index `from` on will need,
 * looking at most DP_TT_LOOKAHEAD spans ahead (so a batch of many one-span
 * traces costs O(n) per new chunk, not O(n^2) in total beyond that bound).
 */
static size_t batch_rest_bytes(const dp_span_batch *b, size_t from, const uint8_t id[16],
                               size_t *spans)
{
    size_t total = 0;
    size_t end = b->span_count - from > DP_TT_LOOKAHEAD ? from + DP_TT_LOOKAHEAD : b->span_count;
    *spans = 0;
    for (size_t j = from; j < end; j++)
        if (memcmp(b->spans[j].trace_id, id, 16) == 0) {
            total += align8(b->spans[j].raw.len);
            (*spans)++;
        }
    return total;
}

/*
 * Room for one more index entry: exactly the `rest` spans of this trace the
 * batch is known to hold from here on when it is the first growth (a trace
 * that arrives whole is indexed without slack), else at least half as much
 * again.
 */
static int entry_index_grow(trace_entry *e, size_t rest)
{
    size_t cap = e->span_count + rest;
    if (cap < e->index_cap + e->index_cap / 2)
        cap = e->index_cap + e->index_cap / 2;
    dp_span_ref *n = realloc(e->index, cap * sizeof(*n));
    if (!n)
        return -1;
    e->index = n;
    e->stored_bytes += (cap - e->index_cap) * sizeof(*n);
    e->index_cap = cap;
    return 0;
}

int dp_trace_table_insert(dp_trace_table *t, const dp_span_batch *batch)
{
    if (!t || !batch || (batch->span_count && !batch->spans))
        return DP_TRACE_TABLE_EINVAL;
    if (batch->span_count == 0)
        return DP_TRACE_TABLE_OK;

    size_t encoded = 0;
    for (size_t i = 0; i < batch->span_count; i++) {
        const dp_span_ref *sp = &batch->spans[i];
        if (sp->scope_index >= batch->scope_count || sp->raw.len > UINT32_MAX)
            return DP_TRACE_TABLE_EINVAL;
        encoded += sp->raw.len;
    }

    /* admission before any work: refused batches leave no trace; a batch
     * over the hard limit on its own would be refused at every retry */
    if (t->hard_limit && encoded > t->hard_limit) {
        atomic_fetch_add(&t->batches_refused, 1);
        return DP_TRACE_TABLE_ETOOBIG;
    }
    if (t->opt.max_pending_runs && atomic_load(&t->pending_runs) >= t->opt.max_pending_runs)
        goto refuse;
    if (t->hard_limit &&
        atomic_load(&t->buffered_bytes) + atomic_load(&t->pending_bytes) + encoded > t->hard_limit)
        goto refuse;

    int rc = DP_TRACE_TABLE_ENOMEM;
    uint64_t *scope_hashes = malloc(batch->scope_count * sizeof(uint64_t));
    if (!scope_hashes)
        return DP_TRACE_TABLE_ENOMEM;
    for (size_t i = 0; i < batch->scope_count; i++)
        scope_hashes[i] = scope_hash(&batch->scopes[i]);

    /* spans of one trace usually come together in a request: a span of the
     * previous span's trace needs neither its hash nor a lookup again */
    uint64_t bitmap[DP_TRACE_TABLE_MAX_SHARDS / 64] = {0};
    for (size_t i = 0; i < batch->span_count; i++) {
        if (i > 0 && memcmp(batch->spans[i].trace_id, batch->spans[i - 1].trace_id, 16) == 0)
            continue;
        unsigned s = shard_of(t, trace_hash(batch->spans[i].trace_id));
        bitmap[s / 64] |= 1ull << (s % 64);
    }
    shards_lock(t, bitmap);
    uint64_t now = now_ms(t);
    trace_entry *txn = NULL, *prev = NULL;
    size_t created = 0;
    size_t i;
    for (i = 0; i < batch->span_count; i++) {
        const dp_span_ref *sp = &batch->spans[i];
        trace_entry *e = prev;
        if (!e || memcmp(e->trace_id, sp->trace_id, 16) != 0) {
            uint64_t h = trace_hash(sp->trace_id);
            shard *s = &t->shards[shard_of(t, h)];
            e = shard_find(s, sp->trace_id, h);
            if (!e) {
                e = calloc(1, sizeof(*e));
                if (!e)
                    break;
                memcpy(e->trace_id, sp->trace_id, 16);
                e->hash = h;
                e->first_ms = e->last_ms = now;
                e->stored_bytes = sizeof(*e);
                e->late = late_contains(s, sp->trace_id, h, now);
                shard_link(s, e);
                age_append(s, e);
                act_append(s, e);
                entry_mark(e, &txn, true);
                created++;
            } else if (!e->in_txn) {
                entry_mark(e, &txn, false);
            }
            prev = e;
        }
        const dp_span_scope *bs = &batch->scopes[sp->scope_index];
        uint64_t sh = scope_hashes[sp->scope_index];
        int64_t si = entry_scope_find(e, bs, sh);
        size_t span_need = align8(sp->raw.len);
        size_t blob_need = si < 0 ? align8(scope_blob_len(bs)) : 0;
        /* what the rest of the batch holds for this trace sizes a new chunk
         * and a grown index; one look ahead serves both */
        bool need_chunk = !e->tail || e->tail->size - e->tail->used < blob_need + span_need;
        bool need_index = e->span_count == e->index_cap;
        size_t hint = 0, rest_bytes = 0, rest_spans = 0;
        if (need_chunk || need_index)
            rest_bytes = batch_rest_bytes(batch, i, sp->trace_id, &rest_spans);
        if (need_chunk)
            hint = blob_need + rest_bytes;
        if (si < 0)
            si = entry_scope_store(t, e, bs, sh, hint);
        if (si < 0)
            break;
        if (need_index && entry_index_grow(e, rest_spans) < 0)
            break;
        unsigned char *p = entry_reserve(t, e, span_need, hint);
        if (!p)
            break;
        if (sp->raw.len)
            memcpy(p, sp->raw.ptr, sp->raw.len);
        dp_span_ref *ref = &e->index[e->span_count++];
        *ref = *sp;
        ref->raw = (dp_str){(const char *)p, sp->raw.len};
        ref->scope_index = (uint32_t)si;
        e->encoded_bytes += sp->raw.len;
        if (!sp->has_parent)
            e->has_root = true;
    }

    if (i < batch->span_count) {
        /* roll every touched trace back to its mark */
        while (txn) {
            trace_entry *next = txn->txn_next;
            shard *s = &t->shards[shard_of(t, txn->hash)];
            if (txn->created_in_txn) {
                shard_unlink(s, txn);
                entry_free(txn);
            } else {
                entry_rollback(txn);
            }
            txn = next;
        }
        shards_unlock(t, bitmap);
        goto out;
    }

    /* commit: touched traces become the most recently active */
    size_t stored_delta = 0, spans_delta = 0, encoded_delta = 0;
    while (txn) {
        trace_entry *next = txn->txn_next;
        shard *s = &t->shards[shard_of(t, txn->hash)];
        stored_delta += txn->stored_bytes - (txn->created_in_txn ? 0 : txn->mark_stored);
        spans_delta += txn->span_count - (txn->created_in_txn ? 0 : txn->mark_spans);
        encoded_delta += txn->encoded_bytes - (txn->created_in_txn ? 0 : txn->mark_encoded);
        txn->last_ms = now;
        act_unlink(s, txn);
        act_append(s, txn);
        txn->in_txn = false;
        txn = next;
    }
    atomic_fetch_add(&t->buffered_bytes, stored_delta);
    atomic_fetch_add(&t->buffered_spans, spans_delta);
    atomic_fetch_add(&t->buffered_encoded, encoded_delta);
    atomic_fetch_add(&t->buffered_runs, created);
    atomic_fetch_add(&t->runs_started, created);
    atomic_fetch_add(&t->spans_inserted, batch->span_count);
    shards_unlock(t, bitmap);
    rc = DP_TRACE_TABLE_OK;

    if (t->opt.memory_limit_bytes && atomic_load(&t->buffered_bytes) > t->opt.memory_limit_bytes)
        enforce_memory_limit(t);
out:
    free(scope_hashes);
    return rc;
refuse:
    atomic_fetch_add(&t->batches_refused, 1);
    return DP_TRACE_TABLE_EFULL;
}

/* --- finalisation ------------------------------------------------------------- */

/* Detach e from its shard (lock held) and remember its id for late spans. */
static void entry_detach(dp_trace_table *t, shard *s, trace_entry *e, uint64_t now)
{
    shard_unlink(s, e);
    if (t->opt.late_window_ms)
        late_add(s, e->trace_id, e->hash, now + t->opt.late_window_ms);
}

/* Turn a detached entry into a pending run (no lock held). */
static void entry_finalise(dp_trace_table *t, trace_entry *e, enum dp_run_finalise_reason why)
{
    atomic_fetch_sub(&t->buffered_bytes, e->stored_bytes);
    atomic_fetch_sub(&t->buffered_spans, e->span_count);
    atomic_fetch_sub(&t->buffered_encoded, e->encoded_bytes);
    atomic_fetch_sub(&t->buffered_runs, 1);

    /* the run takes the entry's index and chunks as they are: no copy */
    size_t run_bytes = sizeof(run_internal);
    run_internal *r = malloc(run_bytes);
    while (!r) {
        /* finalised runs are never dropped: wait for memory to come back */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        r = malloc(run_bytes);
    }
    memset(&r->pub, 0, sizeof(r->pub));
    r->next = NULL;
    memcpy(r->pub.trace_id, e->trace_id, 16);
    r->pub.late = e->late;
    r->pub.has_root = e->has_root;
    r->pub.reason = why;
    r->pub.spans = e->index;
    r->pub.span_count = e->span_count;
    r->pub.scopes = e->scopes;
    r->pub.scope_count = e->scope_count;
    r->pub.encoded_bytes = e->encoded_bytes;
    r->pub.stored_bytes = e->stored_bytes - sizeof(*e) + run_bytes;
    r->pub.first_ms = e->first_ms;
    r->pub.last_ms = e->last_ms;
    r->chunks = e->head;
    r->index = e->index;
    r->scopes = e->scopes;
    r->scope_hashes = e->scope_hashes;
    e->head = NULL;
    e->index = NULL;
    e->scopes = NULL;
    e->scope_hashes = NULL;
    entry_free(e);

    atomic_fetch_add(&t->pending_bytes, r->pub.stored_bytes);
    atomic_fetch_add(&t->runs_finalised, 1);
    atomic_fetch_add(&t->by_reason[why], 1);
    if (r->pub.late)
        atomic_fetch_add(&t->runs_late, 1);

    pthread_mutex_lock(&t->pending_lock);
    if (t->pending_tail)
        t->pending_tail->next = r;
    else
        t->pending_head = r;
    t->pending_tail = r;
    atomic_fetch_add(&t->pending_runs, 1);
    pthread_cond_signal(&t->pending_cond);
    pthread_mutex_unlock(&t->pending_lock);
}

/* Finalise the oldest runs (across shards) until buffered bytes are at most `target`. */
static size_t finalise_oldest(dp_trace_table *t, size_t target)
{
    size_t done = 0;
    /* one evicting thread is enough; the others carry on inserting */
    if (pthread_mutex_trylock(&t->evict_lock) != 0)
        return 0;
    while (atomic_load(&t->buffered_bytes) > target) {
        unsigned best = 0;
        uint64_t best_ms = UINT64_MAX;
        for (unsigned i = 0; i < t->shard_count; i++) {
            shard *s = &t->shards[i];
            pthread_mutex_lock(&s->lock);
            if (s->age_head && s->age_head->first_ms < best_ms) {
                best_ms = s->age_head->first_ms;
                best = i;
            }
            pthread_mutex_unlock(&s->lock);
        }
        if (best_ms == UINT64_MAX)
            break;
        shard *s = &t->shards[best];
        pthread_mutex_lock(&s->lock);
        trace_entry *e = s->age_head;
        if (e)
            entry_detach(t, s, e, now_ms(t));
        pthread_mutex_unlock(&s->lock);
        if (e) {
            entry_finalise(t, e, DP_RUN_MEMORY);
            done++;
        }
    }
    pthread_mutex_unlock(&t->evict_lock);
    return done;
}

/* Finalise the oldest runs (across shards) until under the memory limit. */
static size_t enforce_memory_limit(dp_trace_table *t)
{
    return finalise_oldest(t, t->opt.memory_limit_bytes);
}

size_t dp_trace_table_shed(dp_trace_table *t, size_t keep_bytes)
{
    return finalise_oldest(t, keep_bytes); /* each run goes to the pending queue, waking a taker */
}

size_t dp_trace_table_collect(dp_trace_table *t)
{
    size_t done = 0;
    for (unsigned i = 0; i < t->shard_count; i++) {
        shard *s = &t->shards[i];
        trace_entry *due = NULL;
        pthread_mutex_lock(&s->lock);
        uint64_t now = now_ms(t);
        /* max age: the age list is in creation order */
        while (s->age_head && now - s->age_head->first_ms >= t->opt.max_age_ms) {
            trace_entry *e = s->age_head;
            /* complete by the idle rule as well (the finaliser ran late):
             * it is a whole run, not one cut short by its age */
            bool idle = (e->has_root || e->late) && now - e->last_ms >= t->opt.idle_timeout_ms;
            entry_detach(t, s, e, now);
            e->txn_next = due;
            e->due_reason = idle ? DP_RUN_IDLE : DP_RUN_MAX_AGE;
            due = e;
        }
        /* idle: the activity list is least recently touched first */
        trace_entry *e = s->act_head;
        while (e && now - e->last_ms >= t->opt.idle_timeout_ms) {
            trace_entry *next = e->act_next;
            /* a late run's root was reported with the first run */
            if (e->has_root || e->late) {
                entry_detach(t, s, e, now);
                e->txn_next = due;
                e->due_reason = DP_RUN_IDLE;
                due = e;
            } else {
                /* idle without its root: only max age (or a new span, which
                 * puts it back on the list) can finalise it, so it leaves the
                 * list and does not keep the finaliser awake */
                act_unlink(s, e);
            }
            e = next;
        }
        pthread_mutex_unlock(&s->lock);
        while (due) {
            trace_entry *next = due->txn_next;
            entry_finalise(t, due, (enum dp_run_finalise_reason)due->due_reason);
            done++;
            due = next;
        }
    }
    if (t->opt.memory_limit_bytes && atomic_load(&t->buffered_bytes) > t->opt.memory_limit_bytes)
        done += enforce_memory_limit(t);
    return done;
}

size_t dp_trace_table_finalise_all(dp_trace_table *t)
{
    size_t done = 0;
    /* a thread finalising for memory (the memory guard's shed) has queued
     * every run it took off its shard before this returns: a caller that
     * closes the table next and drains it has them all */
    pthread_mutex_lock(&t->evict_lock);
    for (unsigned i = 0; i < t->shard_count; i++) {
        shard *s = &t->shards[i];
        for (;;) {
            pthread_mutex_lock(&s->lock);
            trace_entry *e = s->age_head;
            if (e)
                entry_detach(t, s, e, now_ms(t));
            pthread_mutex_unlock(&s->lock);
            if (!e)
                break;
            entry_finalise(t, e, DP_RUN_SHUTDOWN);
            done++;
        }
    }
    pthread_mutex_unlock(&t->evict_lock);
    return done;
}

uint64_t dp_trace_table_next_due_ms(dp_trace_table *t, uint64_t max_wait_ms)
{
    uint64_t wait = max_wait_ms;
    for (unsigned i = 0; i < t->shard_count; i++) {
        shard *s = &t->shards[i];
        pthread_mutex_lock(&s->lock);
        uint64_t now = now_ms(t);
        if (s->age_head) {
            uint64_t due = s->age_head->first_ms + t->opt.max_age_ms;
            uint64_t w = due > now ? due - now : 0;
            if (w < wait)
                wait = w;
        }
        /* the least recently active entry bounds the idle rule from below */
        if (s->act_head) {
            uint64_t due = s->act_head->last_ms + t->opt.idle_timeout_ms;
            uint64_t w = due > now ? due - now : 0;
            if (w < wait)
                wait = w;
        }
        pthread_mutex_unlock(&s->lock);
    }
    return wait;
}

int dp_trace_table_take(dp_trace_table *t, uint64_t wait_ms, dp_run_record **out)
{
    *out = NULL;
    pthread_mutex_lock(&t->pending_lock);
    if (!t->pending_head && !t->closed && wait_ms) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        bool forever = wait_ms == UINT64_MAX;
        if (!forever) {
            deadline.tv_sec += (time_t)(wait_ms / 1000);
            deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
            }
        }
        while (!t->pending_head && !t->closed) {
            if (forever) {
                pthread_cond_wait(&t->pending_cond, &t->pending_lock);
            } else if (pthread_cond_timedwait(&t->pending_cond, &t->pending_lock, &deadline) ==
                       ETIMEDOUT) {
                break;
            }
        }
    }
    run_internal *r = t->pending_head;
    int rc;
    if (r) {
        t->pending_head = r->next;
        if (!t->pending_head)
            t->pending_tail = NULL;
        atomic_fetch_sub(&t->pending_runs, 1);
        *out = &r->pub;
        rc = DP_TRACE_TABLE_OK;
    } else {
        rc = t->closed ? DP_TRACE_TABLE_ECLOSED : DP_TRACE_TABLE_EFULL;
    }
    pthread_mutex_unlock(&t->pending_lock);
    return rc;
}

void dp_trace_table_release(dp_trace_table *t, dp_run_record *run)
{
    if (!run)
        return;
    run_internal *r = (run_internal *)run; /* pub is the first member */
    atomic_fetch_sub(&t->pending_bytes, r->pub.stored_bytes);
    run_free(r);
}

void dp_trace_table_close(dp_trace_table *t)
{
    pthread_mutex_lock(&t->pending_lock);
    t->closed = true;
    pthread_cond_broadcast(&t->pending_cond);
    pthread_mutex_unlock(&t->pending_lock);
}

void dp_trace_table_get_stats(dp_trace_table *t, dp_trace_table_stats *o)
{
    memset(o, 0, sizeof(*o));
    o->spans_inserted = atomic_load(&t->spans_inserted);
    o->batches_refused = atomic_load(&t->batches_refused);
    o->runs_started = atomic_load(&t->runs_started);
    o->runs_finalised = atomic_load(&t->runs_finalised);
    o->runs_late = atomic_load(&t->runs_late);
    for (int i = 0; i < 4; i++)
        o->runs_by_reason[i] = atomic_load(&t->by_reason[i]);
    o->buffered_runs = atomic_load(&t->buffered_runs);
    o->pending_runs = atomic_load(&t->pending_runs);
    o->buffered_bytes = atomic_load(&t->buffered_bytes);
    o->pending_bytes = atomic_load(&t->pending_bytes);
    o->buffered_encoded_bytes = atomic_load(&t->buffered_encoded);
    o->buffered_spans = atomic_load(&t->buffered_spans);
}

/*
 * The memory of reported spans (span_memory.h): one entry per remembered
 * run, in a list oldest first (expiry and the key cap take from its head)
 * and in a chained hash table by trace id (lookups, which only late runs
 * make). A trace reported more than once has one entry each time.
 */
#include "span_memory.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Hash buckets: a power of two. */
#define BUCKETS 4096

typedef struct entry {
    uint8_t trace_id[16];
    uint64_t expire_ms;
    uint64_t *keys; /* sorted */
    size_t count;
    struct entry *newer;       /* the list, oldest first */
    struct entry *next_bucket; /* the hash chain */
} entry;

struct dp_span_memory {
    pthread_mutex_t lock;
    uint64_t keep_ms;
    size_t max_keys, keys;
    entry *oldest, *newest;
    entry *buckets[BUCKETS];
};

static uint64_t mix(uint64_t x)
{
    /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t dp_span_memory_key(const uint8_t span_id[8], uint64_t start_ns)
{
    return mix(load64(span_id) ^ mix(start_ns));
}

static size_t bucket_of(const uint8_t trace_id[16])
{
    return (size_t)(mix(load64(trace_id) ^ load64(trace_id + 8)) & (BUCKETS - 1));
}

dp_span_memory *dp_span_memory_create(uint64_t keep_ms, size_t max_keys)
{
    dp_span_memory *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->keep_ms = keep_ms;
    m->max_keys = max_keys ? max_keys : 1;
    return m;
}

/* Unlink and free the oldest entry (lock held). */
static void drop_oldest(dp_span_memory *m)
{
    entry *e = m->oldest;
    entry **link = &m->buckets[bucket_of(e->trace_id)];
    while (*link != e)
        link = &(*link)->next_bucket;
    *link = e->next_bucket;
    m->oldest = e->newer;
    if (!m->oldest)
        m->newest = NULL;
    m->keys -= e->count;
    free(e->keys);
    free(e);
}

void dp_span_memory_destroy(dp_span_memory *m)
{
    if (!m)
        return;
    while (m->oldest)
        drop_oldest(m);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int compare_keys(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void dp_span_memory_add(dp_span_memory *m, const uint8_t trace_id[16], const uint64_t *keys,
                        size_t n, uint64_t now_ms)
{
    if (!m || !n)
        return;
    if (n > m->max_keys)
        n = m->max_keys;
    entry *e = calloc(1, sizeof(*e));
    uint64_t *copy = malloc(n * sizeof(*copy));
    if (!e || !copy) {
        free(e);
        free(copy);
        return;
    }
    memcpy(copy, keys, n * sizeof(*copy));
    qsort(copy, n, sizeof(*copy), compare_keys);
    memcpy(e->trace_id, trace_id, 16);
    e->expire_ms = now_ms + m->keep_ms;
    e->keys = copy;
    e->count = n;
    pthread_mutex_lock(&m->lock);
    while (m->oldest && m->keys + n > m->max_keys)
        drop_oldest(m);
    size_t b = bucket_of(trace_id);
    e->next_bucket = m->buckets[b];
    m->buckets[b] = e;
    if (m->newest)
        m->newest->newer = e;
    else
        m->oldest = e;
    m->newest = e;
    m->keys += n;
    pthread_mutex_unlock(&m->lock);
}

static bool has_key(const entry *e, uint64_t key)
{
    size_t lo = 0, hi = e->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->keys[mid] == key)
            return true;
        if (e->keys[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

size_t dp_span_memory_find(dp_span_memory *m, const uint8_t trace_id[16], const uint64_t *keys,
                           size_t n, bool *found)
{
    size_t hits = 0;
    memset(found, 0, n * sizeof(*found));
    if (!m)
        return 0;
    pthread_mutex_lock(&m->lock);
    for (const entry *e = m->buckets[bucket_of(trace_id)]; e; e = e->next_bucket) {
        if (memcmp(e->trace_id, trace_id, 16) != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (!found[i] && has_key(e, keys[i])) {
                found[i] = true;
                hits++;
            }
    }
    pthread_mutex_unlock(&m->lock);
    return hits;
}

size_t dp_span_memory_expire(dp_span_memory *m, uint64_t now_ms)
{
    size_t n = 0;
    if (!m)
        return 0;
    pthread_mutex_lock(&m->lock);
    /* entries expire in the order they were added: the same keep_ms for all */
    while (m->oldest && m->oldest->expire_ms <= now_ms) {
        drop_oldest(m);
        n++;
    }
    pthread_mutex_unlock(&m->lock);
    return n;
}

size_t dp_span_memory_keys(dp_span_memory *m)
{
    if (!m)
        return 0;
    pthread_mutex_lock(&m->lock);
    size_t n = m->keys;
    pthread_mutex_unlock(&m->lock);
    return n;
}

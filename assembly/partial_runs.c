/*
 * The store of early-finalised runs: an array in the order kept (oldest
 * first), searched linearly. It holds only runs that outlived
 * assembly.max_age or were pushed out by assembly.memory_limit, which are
 * few by design; max_runs bounds the search.
 */
#include "partial_runs.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct kept_run {
    dp_run_record *run;
    uint64_t expire_ms;
} kept_run;

struct dp_partial_runs {
    pthread_mutex_t lock;
    dp_trace_table *table;
    uint64_t keep_ms;
    size_t max_bytes, max_runs;
    kept_run *items;
    size_t count, cap;
    size_t bytes;
};

dp_partial_runs *dp_partial_runs_create(dp_trace_table *table, uint64_t keep_ms, size_t max_bytes,
                                        size_t max_runs)
{
    dp_partial_runs *pr = calloc(1, sizeof(*pr));
    if (!pr)
        return NULL;
    pthread_mutex_init(&pr->lock, NULL);
    pr->table = table;
    pr->keep_ms = keep_ms;
    pr->max_bytes = max_bytes;
    pr->max_runs = max_runs ? max_runs : 1;
    return pr;
}

void dp_partial_runs_destroy(dp_partial_runs *pr)
{
    if (!pr)
        return;
    for (size_t i = 0; i < pr->count; i++)
        dp_trace_table_release(pr->table, pr->items[i].run);
    free(pr->items);
    pthread_mutex_destroy(&pr->lock);
    free(pr);
}

/* Remove item i (lock held), keeping the order. */
static dp_run_record *remove_at(dp_partial_runs *pr, size_t i)
{
    dp_run_record *run = pr->items[i].run;
    pr->bytes -= run->stored_bytes;
    memmove(&pr->items[i], &pr->items[i + 1], (pr->count - i - 1) * sizeof(kept_run));
    pr->count--;
    return run;
}

int dp_partial_runs_keep(dp_partial_runs *pr, dp_run_record *run, uint64_t now_ms)
{
    if (!pr || !run || run->stored_bytes > pr->max_bytes || pr->keep_ms == 0)
        return -1;
    dp_run_record *drop[8];
    size_t ndrop = 0;
    int rc = 0;
    pthread_mutex_lock(&pr->lock);
    if (pr->count == pr->cap) {
        size_t cap = pr->cap ? pr->cap * 2 : 16;
        kept_run *items = realloc(pr->items, cap * sizeof(kept_run));
        if (!items) {
            rc = -1;
            goto out;
        }
        pr->items = items;
        pr->cap = cap;
    }
    /* room: the oldest go first (released outside the lock, a few at a time) */
    while (pr->count &&
           (pr->count >= pr->max_runs || pr->bytes + run->stored_bytes > pr->max_bytes)) {
        dp_run_record *old = remove_at(pr, 0);
        if (ndrop == sizeof(drop) / sizeof(drop[0])) {
            pthread_mutex_unlock(&pr->lock);
            for (size_t i = 0; i < ndrop; i++)
                dp_trace_table_release(pr->table, drop[i]);
            ndrop = 0;
            pthread_mutex_lock(&pr->lock);
        }
        drop[ndrop++] = old;
    }
    pr->items[pr->count++] = (kept_run){run, now_ms + pr->keep_ms};
    pr->bytes += run->stored_bytes;
out:
    pthread_mutex_unlock(&pr->lock);
    for (size_t i = 0; i < ndrop; i++)
        dp_trace_table_release(pr->table, drop[i]);
    return rc;
}

size_t dp_partial_runs_take(dp_partial_runs *pr, const uint8_t trace_id[16], dp_run_record **out,
                            size_t max)
{
    size_t n = 0;
    if (!pr)
        return 0;
    pthread_mutex_lock(&pr->lock);
    for (size_t i = 0; i < pr->count && n < max;) {
        if (memcmp(pr->items[i].run->trace_id, trace_id, 16) == 0)
            out[n++] = remove_at(pr, i);
        else
            i++;
    }
    pthread_mutex_unlock(&pr->lock);
    return n;
}

size_t dp_partial_runs_expire(dp_partial_runs *pr, uint64_t now_ms)
{
    size_t n = 0;
    if (!pr)
        return 0;
    for (;;) {
        dp_run_record *run = NULL;
        pthread_mutex_lock(&pr->lock);
        if (pr->count && pr->items[0].expire_ms <= now_ms)
            run = remove_at(pr, 0);
        pthread_mutex_unlock(&pr->lock);
        if (!run)
            return n;
        dp_trace_table_release(pr->table, run);
        n++;
    }
}

size_t dp_partial_runs_count(dp_partial_runs *pr)
{
    pthread_mutex_lock(&pr->lock);
    size_t n = pr->count;
    pthread_mutex_unlock(&pr->lock);
    return n;
}

/*
 * Progress of the persistent queue (storage.h): which segments a finished
 * run's spans (or a forwarded request) came from, and how many items of
 * each, held by every output that still has work to do with them. The last
 * holder counts the items off their segments, which deletes a closed
 * segment whose count falls to zero.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "storage.h"

typedef struct progress_part {
    uint16_t segment;
    uint64_t items;
} progress_part;

struct dp_progress {
    atomic_uint holders;
    atomic_bool not_done; /* a holder could not finish: keep the items outstanding */
    dp_storage *storage;
    size_t count;
    progress_part parts[];
};

static dp_progress *progress_new(dp_storage *s, size_t cap)
{
    dp_progress *p = malloc(sizeof(*p) + cap * sizeof(progress_part));
    if (!p)
        return NULL;
    atomic_init(&p->holders, 1);
    atomic_init(&p->not_done, false);
    p->storage = s;
    p->count = 0;
    return p;
}

dp_progress *dp_storage_progress_for_run(dp_storage *s, const dp_run_record *run)
{
    if (!s || !run || run->span_count == 0)
        return NULL;
    /* a run's spans come from a few segments at most: count them per
     * segment with a linear look-up, into a list as long as the run at worst */
    progress_part small[8];
    progress_part *parts = small;
    size_t count = 0, cap = 8;
    for (size_t i = 0; i < run->span_count; i++) {
        uint16_t tag = run->spans[i].storage_segment;
        size_t j = 0;
        while (j < count && parts[j].segment != tag)
            j++;
        if (j < count) {
            parts[j].items++;
            continue;
        }
        if (count == cap) {
            progress_part *grown = malloc(run->span_count * sizeof(*grown));
            if (!grown)
                goto fail;
            for (size_t k = 0; k < count; k++)
                grown[k] = parts[k];
            parts = grown;
            cap = run->span_count;
        }
        parts[count++] = (progress_part){tag, 1};
    }
    dp_progress *p = progress_new(s, count);
    if (!p)
        goto fail;
    for (size_t k = 0; k < count; k++)
        p->parts[k] = parts[k];
    p->count = count;
    if (parts != small)
        free(parts);
    return p;
fail:
    if (parts != small)
        free(parts);
    return NULL;
}

dp_progress *dp_storage_progress_for_items(dp_storage *s, uint16_t segment, uint64_t items)
{
    if (!s)
        return NULL;
    dp_progress *p = progress_new(s, 1);
    if (p) {
        p->parts[0] = (progress_part){segment, items};
        p->count = 1;
    }
    return p;
}

dp_progress *dp_progress_hold(dp_progress *p)
{
    if (p)
        atomic_fetch_add(&p->holders, 1);
    return p;
}

void dp_progress_release(dp_progress *p, bool done)
{
    if (!p)
        return;
    if (!done)
        atomic_store(&p->not_done, true);
    if (atomic_fetch_sub(&p->holders, 1) != 1)
        return;
    if (!atomic_load(&p->not_done))
        for (size_t i = 0; i < p->count; i++)
            dp_storage_unpin(p->storage, p->parts[i].segment, p->parts[i].items);
    free(p);
}

void dp_progress_settle(void *p, bool done)
{
    dp_progress_release(p, done);
}

/*
 * Bump allocator; see arena.h for the contract.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct dp_arena_block {
    dp_arena_block *next;
    size_t size;
    size_t used;
    /* data follows, 16-byte aligned */
    _Alignas(16) unsigned char data[];
};

void dp_arena_init(dp_arena *a, size_t block_size, size_t max_bytes)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : 64 * 1024;
    a->used_bytes = 0;
    a->max_bytes = max_bytes;
}

void dp_arena_free(dp_arena *a)
{
    dp_arena_block *b = a->head;
    while (b) {
        dp_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

void dp_arena_reset(dp_arena *a)
{
    dp_arena_block *b = a->head;
    if (!b)
        return;
    /* keep the oldest block: it has the default size */
    while (b->next) {
        dp_arena_block *next = b->next;
        a->used_bytes -= sizeof(*b) + b->size;
        free(b);
        b = next;
    }
    b->used = 0;
    a->head = b;
}

void *dp_arena_alloc(dp_arena *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size)
        return NULL;
    dp_arena_block *b = a->head;
    if (b && b->size - b->used >= need) {
        void *p = b->data + b->used;
        b->used += need;
        return p;
    }
    size_t bsize = need > a->block_size ? need : a->block_size;
    if (a->max_bytes && a->used_bytes + sizeof(*b) + bsize > a->max_bytes)
        return NULL;
    dp_arena_block *nb = malloc(sizeof(*nb) + bsize);
    if (!nb)
        return NULL;
    nb->size = bsize;
    nb->used = need;
    a->used_bytes += sizeof(*nb) + bsize;
    if (b && need > a->block_size) {
        /* a large one-off block goes behind the current one so the current
         * block's free space is not abandoned */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        a->head = nb;
    }
    return nb->data;
}

void *dp_arena_calloc(dp_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = dp_arena_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

char *dp_arena_strndup(dp_arena *a, const char *s, size_t len)
{
    char *p = dp_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

dp_str dp_arena_str(dp_arena *a, dp_str s)
{
    char *p = dp_arena_strndup(a, s.ptr, s.len);
    return p ? (dp_str){p, s.len} : DP_STR_NULL;
}

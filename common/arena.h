/*
 * dp_arena: a bump allocator freed in one step.
 *
 * Used per request (decode) and per run (profile) so that the hot path does
 * not call malloc per span. Blocks are chained; dp_arena_reset() keeps the
 * first block for reuse. Every arena has a hard cap (max_bytes): an
 * allocation past it fails (returns NULL) instead of growing without bound.
 *
 * dp_arena_alloc() may fail and returns NULL; callers check it.
 * Memory is 16-byte aligned and is NOT zeroed (use dp_arena_calloc()).
 */
#ifndef DP_ARENA_H
#define DP_ARENA_H

#include <stddef.h>

#include "dp_str.h"

typedef struct dp_arena_block dp_arena_block;

typedef struct dp_arena {
    dp_arena_block *head; /* current block */
    size_t block_size;    /* default size of new blocks */
    size_t used_bytes;    /* bytes held in all blocks */
    size_t max_bytes;     /* cap; 0 = unlimited */
} dp_arena;

/** Initialise an arena. block_size 0 selects 64 KiB. max_bytes 0 = no cap. */
void dp_arena_init(dp_arena *a, size_t block_size, size_t max_bytes);

/** Free all blocks. The arena can be initialised again afterwards. */
void dp_arena_free(dp_arena *a);

/** Forget all allocations but keep the first block for reuse. */
void dp_arena_reset(dp_arena *a);

/** Allocate size bytes (16-byte aligned). NULL when out of memory or over the cap. */
void *dp_arena_alloc(dp_arena *a, size_t size);

/** Allocate n*size zeroed bytes; NULL on overflow, out of memory or over the cap. */
void *dp_arena_calloc(dp_arena *a, size_t n, size_t size);

/** Copy len bytes into the arena and NUL-terminate; NULL on failure. */
char *dp_arena_strndup(dp_arena *a, const char *s, size_t len);

/** Copy a view into the arena (NUL-terminated); returns DP_STR_NULL on failure. */
dp_str dp_arena_str(dp_arena *a, dp_str s);

#endif

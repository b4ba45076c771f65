/*
 * protobuf-c allocations from a dp_arena.
 *
 * protobuf-c allocates every sub-message, string and repeated-field array
 * separately; pointing it at the per-request arena turns those into bump
 * allocations that are released together when the caller resets the arena.
 * free() is a no-op for the same reason.
 */
#include "decode.h"
#include "otlp_internal.h"

#include <protobuf-c/protobuf-c.h>

static void *arena_alloc(void *allocator_data, size_t size)
{
    return dp_arena_alloc(allocator_data, size);
}

static void arena_free(void *allocator_data, void *pointer)
{
    /* released with the whole arena */
    (void)allocator_data;
    (void)pointer;
}

void dp_otlp_arena_allocator(dp_arena *arena, struct ProtobufCAllocator *out)
{
    out->alloc = arena_alloc;
    out->free = arena_free;
    out->allocator_data = arena;
}

static void *tracked_alloc(void *allocator_data, size_t size)
{
    dp_otlp_alloc_track *t = allocator_data;
    void *p = dp_arena_alloc(t->arena, size);
    if (!p)
        t->failed = true;
    return p;
}

void dp_otlp_arena_allocator_tracked(dp_otlp_alloc_track *track, struct ProtobufCAllocator *out)
{
    track->failed = false;
    out->alloc = tracked_alloc;
    out->free = arena_free;
    out->allocator_data = track;
}

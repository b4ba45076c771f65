/*
 * The replay of the persistent queue at start (storage_input.h).
 */
#include "storage_input.h"

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

#include "arena.h"
#include "log.h"

#define COMPONENT "storage"

typedef struct storage_input {
    dp_storage *storage;
    dp_ingest *ingest;
    dp_arena arena;
    uint64_t spans_before, invalid;
} storage_input;

/* SIGTERM or SIGINT waiting for the daemon's sigwait(): the daemon blocks
 * both in every thread, so a replay running before it waits sees them here. */
static bool shutdown_pending(void)
{
    sigset_t pending;
    if (sigpending(&pending) != 0)
        return false;
    return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

/* One record back in: DP_STORAGE_REPLAY_AGAIN = the table or the queue is
 * full, offer it again; DP_STORAGE_REPLAY_STOP = asked to shut down. */
static int replay_record(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                         uint16_t segment)
{
    storage_input *in = ctx;
    if (shutdown_pending())
        return DP_STORAGE_REPLAY_STOP;
    dp_ingest_result r;
    dp_ingest_replay(in->ingest, signal, data, len, segment, &in->arena, &r);
    dp_arena_reset(&in->arena);
    if (r.status == DP_INGEST_UNAVAILABLE)
        return DP_STORAGE_REPLAY_AGAIN;
    if (r.status != DP_INGEST_OK) {
        /* it was valid when it was written: only a changed limit gets here */
        in->invalid++;
        dp_log_warn(COMPONENT, "a replayed %s request is not taken: %s",
                    signal == DP_SIGNAL_TRACES    ? "trace"
                    : signal == DP_SIGNAL_METRICS ? "metrics"
                                                  : "logs",
                    r.message);
    }
    return 0;
}

static int storage_input_start(void *ctx, dp_engine *engine, char *err, size_t errlen)
{
    storage_input *in = ctx;
    dp_ingest_stats before, after;
    dp_storage_replay_stats st;
    dp_ingest_get_stats(in->ingest, &before);
    int rc = dp_storage_replay(in->storage, replay_record, in, &st);
    dp_ingest_get_stats(in->ingest, &after);
    if (st.segments)
        dp_log_info(COMPONENT,
                    "replayed %" PRIu64 " record(s) (%" PRIu64 " span(s), %" PRIu64
                    " metric point(s), %" PRIu64 " log record(s)) from %" PRIu64
                    " segment file(s); %" PRIu64 " corrupted or truncated end(s) skipped",
                    st.records, after.spans_accepted - before.spans_accepted,
                    after.metric_points - before.metric_points,
                    after.log_records - before.log_records, st.segments, st.corrupted_tails);
    if (st.stopped)
        dp_log_warn(COMPONENT,
                    "replay stopped by a shutdown signal after %" PRIu64
                    " record(s); the segment it was in and every later one are kept whole for "
                    "the next start (records already replayed from them will be replayed again)",
                    st.records);
    /* an unreadable segment stays on disk for the next start: not fatal */
    (void)rc;
    (void)engine;
    (void)err;
    (void)errlen;
    return 0;
}

static void storage_input_stop(void *ctx)
{
    (void)ctx;
}

static void storage_input_destroy(void *ctx)
{
    storage_input *in = ctx;
    if (!in)
        return;
    dp_arena_free(&in->arena);
    free(in);
}

const dp_input_plugin dp_storage_input_plugin = {
    "storage-replay",
    storage_input_start,
    storage_input_stop,
    storage_input_destroy,
};

void *dp_storage_input_create(dp_storage *storage, dp_ingest *ingest, size_t max_request_bytes)
{
    storage_input *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->storage = storage;
    in->ingest = ingest;
    /* the receivers' decode cap: four times the request, plus room */
    dp_arena_init(&in->arena, 64 * 1024, 4 * max_request_bytes + (1u << 20));
    return in;
}

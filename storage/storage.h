/*
 * dp_storage: the persistent queue. With `storage.path` set, every request
 * a receiver accepts is appended to a write-ahead log in that directory
 * before the receiver answers OK, and stays there until everything in it is
 * done: each span reported (no upstream) or delivered upstream, each
 * forwarded metrics or logs request delivered. A daemon killed with
 * SIGKILL, or a machine that crashed, reads the log back at its next start
 * (dp_storage_replay()), so nothing it acknowledged is lost. See
 * docs/storage.md.
 *
 * The log is a sequence of segment files `wal-<sequence>.log` of records
 * (wal_record.h). One segment is active (appended to); it is closed when
 * the next record would take it past storage.segment_size. Each segment
 * counts its outstanding items (spans, or one per metrics/logs request):
 * the count grows when a request is appended and falls when its items are
 * done (dp_progress). A closed segment with nothing outstanding is deleted.
 *
 * Every span remembers its segment in dp_span_ref.storage_segment (the low
 * 16 bits of the segment's sequence); at most 65535 segments are alive at
 * once, which storage.max_size / storage.segment_size keeps far away.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef DP_STORAGE_H
#define DP_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_map.h"
#include "dp_err.h"
#include "otlp_signal.h"
#include "trace_table.h"

/** The storage section of the config file (storage_config.c). */
typedef struct dp_storage_options {
    char path[1024];             /* "" = no persistent queue */
    char sync[32];               /* "always", or a duration such as "100ms" */
    uint64_t max_size_bytes;     /* segments on disk at most; beyond, requests get UNAVAILABLE */
    uint64_t segment_size_bytes; /* a segment is closed once it would pass this */
} dp_storage_options;

extern const dp_config_section dp_storage_section;

/** Fill o with the storage section's defaults. */
void dp_storage_options_defaults(dp_storage_options *o);

/**
 * The sync policy of a `storage.sync` value: 0 for "always", the interval in
 * milliseconds otherwise; -1 when the text is neither.
 */
int64_t dp_storage_sync_interval_ms(const char *sync);

typedef struct dp_storage dp_storage;

/**
 * Open (creating it if needed, its name then synced in its parent) the
 * directory opt->path and list the segments a previous run left, to be
 * replayed. 0 and *out, or -1 with the
 * reason in err (an unusable directory, a bad sync value).
 */
DP_MUST_CHECK int dp_storage_open(const dp_storage_options *opt, dp_storage **out, char *err,
                                  size_t errlen);

/**
 * Close: sync and close the active segment, delete every segment with
 * nothing outstanding, free. What is still outstanding stays on disk for
 * the next start. NULL is accepted.
 */
void dp_storage_close(dp_storage *s);

/**
 * Append one request holding `items` items (spans, or 1 for metrics and
 * logs) and count them outstanding in the active segment. On 0, *segment
 * is the segment's 16-bit tag (for dp_span_ref.storage_segment) and
 * *sequence the record's number for dp_storage_wait_durable().
 * DP_EFULL when storage.max_size would be passed or the disk is full (the
 * receiver answers UNAVAILABLE; nothing was kept), DP_EINVAL for a request
 * that can never fit (over storage.max_size or DP_WAL_MAX_PAYLOAD),
 * DP_ECLOSED on any other write error (logged).
 */
DP_MUST_CHECK int dp_storage_append(dp_storage *s, enum dp_signal signal, const uint8_t *data,
                                    size_t len, uint64_t items, uint16_t *segment,
                                    uint64_t *sequence);

/**
 * Return once the record `sequence` is on stable storage as the sync
 * policy wants it: with "always", after an fdatasync that covers it (calls
 * waiting together share one fdatasync: group commit); with an interval,
 * at once (the background sync covers it within the interval). 0, or
 * DP_ECLOSED when the sync failed (logged).
 */
DP_MUST_CHECK int dp_storage_wait_durable(dp_storage *s, uint64_t sequence);

/** Count `items` more outstanding in `segment` (replay). */
void dp_storage_pin(dp_storage *s, uint16_t segment, uint64_t items);

/** `items` of `segment` are done (or were never kept): count them off. */
void dp_storage_unpin(dp_storage *s, uint16_t segment, uint64_t items);

/**
 * Called by dp_storage_replay() for each valid record, in log order, with
 * the record's segment tag. Return 0 when the record was taken (or can
 * never be: invalid), DP_STORAGE_REPLAY_AGAIN to be called again with it a
 * little later (the table or the queue is full for now), or
 * DP_STORAGE_REPLAY_STOP to end the replay there (shutting down): that
 * record's segment and every later one stay on disk, whole, for the next
 * start. The callback counts what it keeps with dp_storage_pin() (ingest.c
 * does).
 */
enum { DP_STORAGE_REPLAY_AGAIN = 1, DP_STORAGE_REPLAY_STOP = 2 };
typedef int (*dp_storage_replay_fn)(void *ctx, enum dp_signal signal, const uint8_t *data,
                                    size_t len, uint16_t segment);

/** What a replay found. */
typedef struct dp_storage_replay_stats {
    uint64_t segments;        /* segment files read */
    uint64_t records;         /* valid records handed to the callback */
    uint64_t bytes;           /* their payload bytes */
    uint64_t corrupted_tails; /* segments whose end was corrupted or truncated */
    uint64_t skipped_bytes;   /* bytes of those ends */
    uint64_t retries;         /* callbacks answered "again later" */
    bool stopped;             /* the callback ended the replay early */
} dp_storage_replay_stats;

/**
 * Read every segment the previous run left, oldest first; check each
 * record and hand the valid ones to fn. A corrupted or truncated record
 * ends its segment: the rest of that file is skipped, counted and named in
 * one warning. Call once, before any dp_storage_append(). 0, or -1 when a
 * segment could not be opened or read (logged; that segment is not
 * replayed and stays on disk, whole, for the next start).
 */
int dp_storage_replay(dp_storage *s, dp_storage_replay_fn fn, void *ctx,
                      dp_storage_replay_stats *out);

/** A snapshot of the queue on disk. */
typedef struct dp_storage_stats {
    uint64_t segments;     /* files alive */
    uint64_t bytes;        /* their bytes */
    uint64_t outstanding;  /* items not yet done */
    uint64_t refused_full; /* appends refused: max_size or a full disk */
    uint64_t syncs;        /* fdatasync calls */
    uint64_t records;      /* records appended since the start */
    /* the replay at start (all 0 before it or without one) */
    uint64_t replayed_records; /* valid records handed back to the ingest */
    uint64_t corrupted_tails;  /* segment ends found corrupted or truncated, skipped */
    uint64_t skipped_bytes;    /* their bytes */
} dp_storage_stats;

void dp_storage_get_stats(dp_storage *s, dp_storage_stats *out);

/*
 * Progress: the items of one run, or of one forwarded request, in the
 * segments they came from. The engine makes one per finished run
 * (dp_storage_progress_for_run) and releases it once every output has the
 * run; an output that finishes later (the upstream, when the request is
 * delivered) holds it until then. The last release counts the items off
 * their segments, unless some holder said they were not done: then they stay
 * outstanding and are replayed at the next start.
 */
typedef struct dp_progress dp_progress;

/** The segments of a run's spans; NULL without storage, without spans or
 *  out of memory (then the spans stay outstanding: replayed, not lost). */
dp_progress *dp_storage_progress_for_run(dp_storage *s, const dp_run_record *run);

/** `items` of one segment (a forwarded metrics or logs request). */
dp_progress *dp_storage_progress_for_items(dp_storage *s, uint16_t segment, uint64_t items);

/** One more holder; returns p (NULL is accepted). */
dp_progress *dp_progress_hold(dp_progress *p);

/** A holder is finished: done = its part happened (reported, delivered or
 *  refused for good), false = not (dropped at shutdown). NULL is accepted. */
void dp_progress_release(dp_progress *p, bool done);

/** dp_progress_release() with a void * (a completion callback's shape). */
void dp_progress_settle(void *p, bool done);

#endif

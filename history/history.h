/*
 * The run history: every reported run kept in an SQLite database, so that
 * `dagprof runs`, `dagprof trends` and `dagprof diff` can look back over
 * runs long after their reports scrolled by.
 *
 * Two halves:
 *   the store (history.c): open (WAL mode, busy timeout, schema migrations
 *       applied in order under PRAGMA user_version), insert one run with its
 *       nodes and findings, retention by age and by size, and the read API
 *       of the commands (list runs, list node figures, load a run's JSON
 *       report by trace id or unique prefix);
 *   the sink (history_sink.c): a dp_sink that renders each run's JSON
 *       report and copies its figures in the run processor, then hands them
 *       to one writer thread through a bounded queue. The writer batches
 *       inserts in transactions. A full queue drops the run (counted,
 *       logged); a database that cannot be opened or written is counted,
 *       logged once per failure streak and tried again later, and the
 *       processors never wait for it.
 *
 * The schema (tables runs, nodes, findings) is described in docs/reports.md.
 * One connection (dp_history) is used by one thread at a time.
 */
#ifndef DP_HISTORY_H
#define DP_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_map.h"
#include "profile.h"
#include "telemetry.h"

/** The schema version this build writes (PRAGMA user_version). */
#define DP_HISTORY_SCHEMA_VERSION 2

/** The history section of the config file (history_config.c). */
typedef struct dp_history_options {
    char path[1024];         /* the database file; "" = no history (the daemon's default) */
    uint64_t max_age_ms;     /* runs recorded longer ago are deleted; 0 = no limit */
    uint64_t max_size_bytes; /* pages in use above this: the oldest runs are deleted */
    unsigned queue_runs;     /* runs waiting for the writer; beyond it runs are dropped */
} dp_history_options;

extern const dp_config_section dp_history_section;

/** Every key at its default. */
void dp_history_options_defaults(dp_history_options *o);

/**
 * The conventional place of the history when no path is given:
 * $XDG_STATE_HOME/dagprof/history.db, else ~/.local/state/dagprof/history.db.
 * Returns 0, or -1 when neither variable is set or the path does not fit.
 */
int dp_history_default_path(char *out, size_t outlen);

/* --- the store ------------------------------------------------------------------------------ */

typedef struct dp_history dp_history;

/** How dp_history_open() opens the database. */
enum dp_history_mode {
    DP_HISTORY_WRITE = 0, /* create the file (not its directory) when missing */
    DP_HISTORY_READ = 1,  /* the file must exist; still migrated when older */
};

/**
 * Open (or create) the database at `path`: WAL journal, a busy timeout of
 * 5 s, foreign keys off (children are deleted explicitly), the schema
 * migrated to DP_HISTORY_SCHEMA_VERSION. Returns 0 and *out, or -1 with the
 * reason in err (cannot open, not an SQLite database, made by a newer
 * dagprof, out of memory).
 */
int dp_history_open(const char *path, enum dp_history_mode mode, dp_history **out, char *err,
                    size_t errlen);

/** Close; NULL is accepted. */
void dp_history_close(dp_history *h);

/** BEGIN IMMEDIATE / COMMIT / ROLLBACK around several inserts. 0 or -1 (reason in err). */
int dp_history_begin(dp_history *h, char *err, size_t errlen);
int dp_history_commit(dp_history *h, char *err, size_t errlen);
void dp_history_rollback(dp_history *h);

/**
 * Store one run: its figures (a row of runs), a row per node, a row per
 * bottleneck and recommendation, and `json` (its JSON report, len bytes,
 * without the final newline). A report that is not late replaces the rows
 * of its trace id that are not late: the partial report it supersedes, or
 * the same run recorded before. Returns 0, or -1
 * with the reason in err. Outside a transaction it is one of its own.
 */
int dp_history_insert(dp_history *h, const dp_run_profile *p, const char *json, size_t len,
                      char *err, size_t errlen);

/**
 * Retention: delete the runs recorded before `now_ns - max_age_ms`
 * (max_age_ms 0: none), then, while the pages in use exceed max_size_bytes
 * (0: no limit), the runs that started first; freed pages are given back to
 * the file system. *deleted (may be NULL) gets the number of runs deleted.
 * Returns 0, or -1 with the reason in err.
 */
int dp_history_apply_retention(dp_history *h, uint64_t now_ns, uint64_t max_age_ms,
                               uint64_t max_size_bytes, uint64_t *deleted, char *err,
                               size_t errlen);

/** Bytes of the pages in use (page_count - freelist_count) x page_size; 0 on error. */
uint64_t dp_history_used_bytes(dp_history *h);

/** Which runs a listing returns. */
typedef struct dp_history_filter {
    const char *dag_id; /* NULL = every DAG */
    uint64_t since_ns;  /* runs that started at or after; 0 = no bound */
    uint64_t until_ns;  /* runs that started before; 0 = no bound */
    size_t limit;       /* newest first, at most this many; 0 = all */
    bool whole_only;    /* leave out partial and late reports */
    bool oldest_first;  /* order by start time ascending instead */
} dp_history_filter;

/** One stored run as the listings return it. Strings are owned by the list. */
typedef struct dp_history_run {
    int64_t row_id;
    char trace_id[33]; /* lowercase hex */
    char *dag_id;
    char *service; /* NULL when the run named none */
    uint64_t start_ns;
    double wall_ms;
    double critical_path_ms;
    double parallelism;
    uint64_t input_tokens, output_tokens, cache_read_tokens, cache_write_tokens;
    double cost_usd;
    bool cost_complete;
    unsigned node_count;
    bool partial;
    bool late;
} dp_history_run;

/** One node of one stored run, with the bottlenecks found on it. */
typedef struct dp_history_node {
    int64_t run_row_id;
    uint64_t run_start_ns;
    char *node_id;
    char *model; /* NULL when none */
    double duration_ms, wait_ms, execution_ms;
    uint64_t input_tokens, output_tokens;
    double cost_usd;
    bool cost_known;
    unsigned retries;
    bool on_critical_path;
    unsigned llm_calls, tool_calls;
    unsigned bottlenecks; /* bottleneck findings on this node */
} dp_history_node;

/** Runs that pass the filter, newest first (or oldest first). 0 and the array (free with
 *  dp_history_runs_free), or -1 with the reason in err. */
int dp_history_list_runs(dp_history *h, const dp_history_filter *f, dp_history_run **runs,
                         size_t *count, char *err, size_t errlen);
void dp_history_runs_free(dp_history_run *runs, size_t count);

/** The nodes of the runs that pass the filter (limit ignored), ordered by run start, then node.
 *  0 and the array (free with dp_history_nodes_free), or -1 with the reason in err. */
int dp_history_list_nodes(dp_history *h, const dp_history_filter *f, dp_history_node **nodes,
                          size_t *count, char *err, size_t errlen);
void dp_history_nodes_free(dp_history_node *nodes, size_t count);

/**
 * The JSON report of the run whose trace id is `trace_id_or_prefix` (full
 * hex or a unique prefix of at least 4 hex digits, any case). When a trace
 * has several rows (late spans reported apart), the whole report is taken,
 * the latest stored one first. Returns 0 and *json (malloc'ed, NUL-ended,
 * the caller frees it), or -1 with the reason in err: not hex, too short,
 * no such run, a prefix shared by several traces (some are named), a
 * database error.
 */
int dp_history_load_report(dp_history *h, const char *trace_id_or_prefix, char **json, char *err,
                           size_t errlen);

/* --- the sink ------------------------------------------------------------------------------- */

struct dp_sink;

/** Settings of the history sink beyond the options (tests shorten the retry). */
typedef struct dp_history_sink_tuning {
    unsigned retry_ms;      /* first wait after a failure, doubled up to 30 s; 0 = 1 s */
    unsigned batch_runs;    /* runs per transaction at most; 0 = 256 */
    unsigned flush_wait_ms; /* flush waits this long for the queue to empty; 0 = 10 s */
    bool wait_when_full;    /* a run that finds the queue full waits for room while the writer
                             * is not failing (dagprof report: every run of its files recorded);
                             * false: it is dropped (the daemon's processors never wait) */
} dp_history_sink_tuning;

/**
 * Create the sink and start its writer thread (which opens the database;
 * when it cannot, it counts, logs and retries). `tuning` may be NULL.
 * Returns the sink, or NULL on out of memory or when the thread cannot
 * start (logged).
 */
struct dp_sink *dp_history_sink_create(const dp_history_options *opt,
                                       const dp_history_sink_tuning *tuning);

/** Counters of the history sink. */
typedef struct dp_history_sink_counts {
    uint64_t runs_written;
    uint64_t runs_dropped_full;   /* the queue was full */
    uint64_t runs_dropped_failed; /* could not be rendered, or still unwritten at shutdown */
    uint64_t write_failures;      /* failed attempts to open or write the database */
    uint64_t runs_deleted;        /* by retention */
    uint64_t queued;              /* runs waiting now */
} dp_history_sink_counts;

/** Snapshot of the sink's counters; any thread. */
void dp_history_sink_get_counts(struct dp_sink *sink, dp_history_sink_counts *out);

/** A dp_telemetry_gather_fn (ctx is the sink): the dagprof_history_* figures. */
void dp_history_sink_gather(void *ctx, dp_telemetry *out);

#endif

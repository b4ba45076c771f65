/*
 * The history store (history.h): one SQLite connection, the schema and its
 * migrations, inserts of runs, retention and the read API of the commands.
 *
 * Migrations are a table of SQL scripts applied in order in one
 * transaction: a database at version v gets scripts v+1..current, then
 * PRAGMA user_version = current. A database made by a newer dagprof is
 * refused rather than guessed at. Children (nodes, findings) are deleted
 * explicitly with their run, so no foreign-key enforcement is needed.
 */
#include "history.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "clock.h"
#include "profile_types.h"

#define BUSY_TIMEOUT_MS 5000
#define PREFIX_MIN 4

/* Version 1: runs and their nodes. */
static const char migration_1[] = "CREATE TABLE runs ("
                                  " id INTEGER PRIMARY KEY,"
                                  " trace_id TEXT NOT NULL,"
                                  " dag_id TEXT NOT NULL,"
                                  " service TEXT,"
                                  " start_ns INTEGER NOT NULL,"
                                  " wall_ms REAL NOT NULL,"
                                  " critical_path_ms REAL NOT NULL,"
                                  " parallelism REAL NOT NULL,"
                                  " input_tokens INTEGER NOT NULL,"
                                  " output_tokens INTEGER NOT NULL,"
                                  " cache_read_tokens INTEGER NOT NULL,"
                                  " cache_write_tokens INTEGER NOT NULL,"
                                  " cost_usd REAL NOT NULL,"
                                  " cost_complete INTEGER NOT NULL,"
                                  " node_count INTEGER NOT NULL,"
                                  " partial INTEGER NOT NULL,"
                                  " report_json TEXT NOT NULL);"
                                  "CREATE INDEX runs_trace ON runs(trace_id);"
                                  "CREATE INDEX runs_start ON runs(start_ns);"
                                  "CREATE TABLE nodes ("
                                  " run_id INTEGER NOT NULL,"
                                  " idx INTEGER NOT NULL,"
                                  " node_id TEXT NOT NULL,"
                                  " name TEXT,"
                                  " model TEXT,"
                                  " duration_ms REAL NOT NULL,"
                                  " wait_ms REAL NOT NULL,"
                                  " execution_ms REAL NOT NULL,"
                                  " input_tokens INTEGER NOT NULL,"
                                  " output_tokens INTEGER NOT NULL,"
                                  " cache_read_tokens INTEGER NOT NULL,"
                                  " cache_write_tokens INTEGER NOT NULL,"
                                  " cost_usd REAL NOT NULL,"
                                  " cost_known INTEGER NOT NULL,"
                                  " retries INTEGER NOT NULL,"
                                  " on_critical_path INTEGER NOT NULL,"
                                  " llm_calls INTEGER NOT NULL,"
                                  " tool_calls INTEGER NOT NULL,"
                                  " PRIMARY KEY (run_id, idx));";

/* Version 2: late reports told apart, when a run was recorded (retention by age; older rows
 * take their start), the findings, listings by DAG. */
static const char migration_2[] = "ALTER TABLE runs ADD COLUMN late INTEGER NOT NULL DEFAULT 0;"
                                  "ALTER TABLE runs ADD COLUMN recorded_ns INTEGER NOT NULL "
                                  "DEFAULT 0;"
                                  "UPDATE runs SET recorded_ns = start_ns;"
                                  "CREATE INDEX runs_recorded ON runs(recorded_ns);"
                                  "CREATE INDEX runs_dag_start ON runs(dag_id, start_ns);"
                                  "CREATE TABLE findings ("
                                  " run_id INTEGER NOT NULL,"
                                  " kind TEXT NOT NULL," /* bottleneck | recommendation */
                                  " type TEXT NOT NULL,"
                                  " node_id TEXT,"
                                  " severity TEXT NOT NULL,"
                                  " impact_pct REAL,"
                                  " savings_time_ms REAL,"
                                  " savings_tokens INTEGER,"
                                  " savings_cost_usd REAL);"
                                  "CREATE INDEX findings_run ON findings(run_id);";

static const char *const migrations[DP_HISTORY_SCHEMA_VERSION] = {migration_1, migration_2};

struct dp_history {
    sqlite3 *db;
    sqlite3_stmt *insert_run, *insert_node, *insert_finding;
};

static void set_err(char *err, size_t errlen, sqlite3 *db, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(dp_history *h, const char *sql, const char *what, char *err, size_t errlen)
{
    if (sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        set_err(err, errlen, h->db, what);
        return -1;
    }
    return 0;
}

/* The integer a one-value query returns; -1 on error. */
static int64_t query_int(dp_history *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* A schema version at least this build's: 0 when it is this build's, else
 * -1 with the reason (a newer dagprof made it). */
static int schema_current(int64_t version, char *err, size_t errlen)
{
    if (version == DP_HISTORY_SCHEMA_VERSION)
        return 0;
    snprintf(err, errlen,
             "the history has schema version %" PRId64
             ", made by a newer dagprof (this one knows up to %d)",
             version, DP_HISTORY_SCHEMA_VERSION);
    return -1;
}

static int migrate(dp_history *h, char *err, size_t errlen)
{
    int64_t version = query_int(h, "PRAGMA user_version");
    if (version < 0) {
        set_err(err, errlen, h->db, "cannot read the schema version");
        return -1;
    }
    if (version >= DP_HISTORY_SCHEMA_VERSION)
        return schema_current(version, err, errlen);
    if (exec(h, "BEGIN IMMEDIATE", "cannot migrate the schema", err, errlen) < 0)
        return -1;
    /* another process (this dagprof or a newer one) may have migrated it
     * meanwhile: then it is left as that process made it */
    version = query_int(h, "PRAGMA user_version");
    if (version >= DP_HISTORY_SCHEMA_VERSION) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        return schema_current(version, err, errlen);
    }
    for (int64_t v = version; v >= 0 && v < DP_HISTORY_SCHEMA_VERSION; v++) {
        if (exec(h, migrations[v], "cannot migrate the schema", err, errlen) < 0) {
            sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    char set[64];
    snprintf(set, sizeof(set), "PRAGMA user_version = %d", DP_HISTORY_SCHEMA_VERSION);
    if (version < 0 || exec(h, set, "cannot migrate the schema", err, errlen) < 0 ||
        exec(h, "COMMIT", "cannot migrate the schema", err, errlen) < 0) {
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/*
 * A WAL database is read through its PATH-shm file, which the first reader creates when no
 * connection has it open. A reader that may not create it (the daemon's history read by
 * another user while the daemon is stopped: SQLITE_READONLY_DIRECTORY and the like, or
 * SQLITE_CANTOPEN) reads
 * the file as it is instead (immutable=1: no -shm, no locks), which is what it holds when
 * nobody has it open. Returns 0 with h->db replaced, or -1 (h->db kept) when the error was
 * another one or the reopening failed.
 */
static int reopen_unshared(dp_history *h, const char *path)
{
    int code = sqlite3_extended_errcode(h->db);
    if ((code & 0xff) != SQLITE_READONLY && (code & 0xff) != SQLITE_CANTOPEN)
        return -1;
    char uri[4096];
    size_t n = (size_t)snprintf(uri, sizeof(uri), "file:");
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || strchr("/._-~", *c);
        if (n + 4 >= sizeof(uri))
            return -1;
        n += (size_t)snprintf(uri + n, sizeof(uri) - n, plain ? "%c" : "%%%02X", *c);
    }
    if (n + sizeof("?immutable=1") > sizeof(uri))
        return -1;
    snprintf(uri + n, sizeof(uri) - n, "?immutable=1");
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_close(h->db);
    h->db = db;
    sqlite3_busy_timeout(h->db, BUSY_TIMEOUT_MS);
    return 0;
}

int dp_history_open(const char *path, enum dp_history_mode mode, dp_history **out, char *err,
                    size_t errlen)
{
    int result = -1;
    dp_history *h = calloc(1, sizeof(*h));
    *out = NULL;
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int flags = SQLITE_OPEN_READWRITE | (mode == DP_HISTORY_WRITE ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &h->db, flags, NULL);
    if (rc == SQLITE_CANTOPEN && mode == DP_HISTORY_READ) {
        sqlite3_close(h->db);
        h->db = NULL;
        rc = sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READONLY, NULL);
    }
    if (rc != SQLITE_OK) {
        if (mode == DP_HISTORY_READ && rc == SQLITE_CANTOPEN)
            snprintf(err, errlen, "%s: no run history there (%s)", path,
                     h->db ? sqlite3_errmsg(h->db) : "cannot open");
        else
            snprintf(err, errlen, "%s: cannot open the run history: %s", path,
                     h->db ? sqlite3_errmsg(h->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(h->db, BUSY_TIMEOUT_MS);
    char why[512];
    /* user_version fails on a file that is not a database; WAL lets readers read while the
     * daemon writes */
    int64_t version = query_int(h, "PRAGMA user_version");
    if (version < 0 && mode == DP_HISTORY_READ && reopen_unshared(h, path) == 0)
        version = query_int(h, "PRAGMA user_version");
    if (version < 0) {
        int code = sqlite3_errcode(h->db);
        if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
            snprintf(err, errlen,
                     "%s: the run history is locked by another process (waited %d s): %s", path,
                     BUSY_TIMEOUT_MS / 1000, sqlite3_errmsg(h->db));
        else
            snprintf(err, errlen, "%s: not a run history: %s", path, sqlite3_errmsg(h->db));
        goto out;
    }
    /* version 0 is a new file; with tables it is another program's database, which is left
     * as it is (no WAL mode, no tables of ours) */
    int64_t tables = version == 0 ? query_int(h, "SELECT count(*) FROM sqlite_master") : 0;
    if (tables != 0) {
        snprintf(err, errlen,
                 "%s: not a run history: an SQLite database with tables of another program "
                 "(schema version 0)",
                 path);
        goto out;
    }
    if (!sqlite3_db_readonly(h->db, "main")) {
        /* a new file: freed pages go back to the file system; only possible before the
         * first page is written (WAL mode writes it) */
        if (version == 0 && exec(h, "PRAGMA auto_vacuum = INCREMENTAL", "cannot set auto_vacuum",
                                 why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s: %s", path, why);
            goto out;
        }
        if (exec(h, "PRAGMA journal_mode = WAL", "cannot use WAL", why, sizeof(why)) < 0 ||
            exec(h, "PRAGMA synchronous = NORMAL", "cannot set synchronous", why, sizeof(why)) <
                0) {
            snprintf(err, errlen, "%s: %s", path, why);
            goto out;
        }
    }
    if (migrate(h, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto out;
    }
    *out = h;
    h = NULL;
    result = 0;
out:
    dp_history_close(h);
    return result;
}

void dp_history_close(dp_history *h)
{
    if (!h)
        return;
    sqlite3_finalize(h->insert_run);
    sqlite3_finalize(h->insert_node);
    sqlite3_finalize(h->insert_finding);
    sqlite3_close(h->db);
    free(h);
}

int dp_history_begin(dp_history *h, char *err, size_t errlen)
{
    return exec(h, "BEGIN IMMEDIATE", "cannot begin a transaction", err, errlen);
}

int dp_history_commit(dp_history *h, char *err, size_t errlen)
{
    return exec(h, "COMMIT", "cannot commit", err, errlen);
}

void dp_history_rollback(dp_history *h)
{
    if (h && !sqlite3_get_autocommit(h->db))
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
}

/* --- inserts -------------------------------------------------------------------------------- */

static int prepare(dp_history *h, sqlite3_stmt **st, const char *sql)
{
    if (*st) {
        sqlite3_reset(*st);
        sqlite3_clear_bindings(*st);
        return 0;
    }
    return sqlite3_prepare_v3(h->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
               ? 0
               : -1;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int64_t as_int(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Delete runs chosen by `where` (an SQL condition on runs) with their children. */
static int delete_runs(dp_history *h, const char *where, sqlite3_int64 arg, bool text_arg,
                       const char *text, char *err, size_t errlen)
{
    static const char *const tables[] = {"nodes", "findings"};
    char sql[512];
    for (size_t i = 0; i <= 2; i++) {
        if (i < 2)
            snprintf(sql, sizeof(sql),
                     "DELETE FROM %s WHERE run_id IN (SELECT id FROM runs WHERE %s)", tables[i],
                     where);
        else
            snprintf(sql, sizeof(sql), "DELETE FROM runs WHERE %s", where);
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(h->db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
            if (text_arg)
                sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
            else
                sqlite3_bind_int64(st, 1, arg);
            rc = sqlite3_step(st);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            set_err(err, errlen, h->db, "cannot delete runs");
            return -1;
        }
    }
    return 0;
}

static int insert_findings(dp_history *h, sqlite3_int64 run, const dp_run_profile *p)
{
    const char *sql = "INSERT INTO findings (run_id, kind, type, node_id, severity, impact_pct, "
                      "savings_time_ms, savings_tokens, savings_cost_usd) "
                      "VALUES (?,?,?,?,?,?,?,?,?)";
    for (size_t i = 0; i < p->bottleneck_count + p->recommendation_count; i++) {
        if (prepare(h, &h->insert_finding, sql) < 0)
            return -1;
        sqlite3_stmt *st = h->insert_finding;
        sqlite3_bind_int64(st, 1, run);
        if (i < p->bottleneck_count) {
            const dp_bottleneck *b = &p->bottlenecks[i];
            bind_text(st, 2, "bottleneck");
            bind_text(st, 3, dp_bottleneck_type_name(b->type));
            bind_text(st, 4,
                      b->node >= 0 && (size_t)b->node < p->node_count ? p->nodes[b->node].id
                                                                      : NULL);
            bind_text(st, 5, dp_severity_name(b->severity));
            sqlite3_bind_double(st, 6, b->impact_pct);
        } else {
            const dp_recommendation *r = &p->recommendations[i - p->bottleneck_count];
            bind_text(st, 2, "recommendation");
            bind_text(st, 3, dp_recommendation_type_name(r->type));
            bind_text(st, 5, dp_severity_name(r->priority));
            sqlite3_bind_double(st, 7, r->savings_time_ms);
            sqlite3_bind_int64(st, 8, as_int(r->savings_tokens));
            if (r->savings_cost_known)
                sqlite3_bind_double(st, 9, r->savings_cost_usd);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            return -1;
    }
    return 0;
}

static int insert_nodes(dp_history *h, sqlite3_int64 run, const dp_run_profile *p)
{
    const char *sql = "INSERT INTO nodes (run_id, idx, node_id, name, model, duration_ms, "
                      "wait_ms, execution_ms, input_tokens, output_tokens, cache_read_tokens, "
                      "cache_write_tokens, cost_usd, cost_known, retries, on_critical_path, "
                      "llm_calls, tool_calls) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    for (size_t i = 0; i < p->node_count; i++) {
        const dp_node_profile *n = &p->nodes[i];
        if (prepare(h, &h->insert_node, sql) < 0)
            return -1;
        sqlite3_stmt *st = h->insert_node;
        sqlite3_bind_int64(st, 1, run);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        bind_text(st, 3, n->id ? n->id : "");
        bind_text(st, 4, n->name);
        bind_text(st, 5, n->model);
        sqlite3_bind_double(st, 6, n->duration_ms);
        sqlite3_bind_double(st, 7, n->wait_ms);
        sqlite3_bind_double(st, 8, n->execution_ms);
        sqlite3_bind_int64(st, 9, as_int(n->tokens.input));
        sqlite3_bind_int64(st, 10, as_int(n->tokens.output));
        sqlite3_bind_int64(st, 11, as_int(n->tokens.cache_read));
        sqlite3_bind_int64(st, 12, as_int(n->tokens.cache_write));
        sqlite3_bind_double(st, 13, n->cost_usd);
        sqlite3_bind_int(st, 14, n->cost_known);
        sqlite3_bind_int64(st, 15, n->retries);
        sqlite3_bind_int(st, 16, n->on_critical_path);
        sqlite3_bind_int64(st, 17, n->llm_calls);
        sqlite3_bind_int64(st, 18, (sqlite3_int64)n->tool_call_count);
        if (sqlite3_step(st) != SQLITE_DONE)
            return -1;
    }
    return 0;
}

int dp_history_insert(dp_history *h, const dp_run_profile *p, const char *json, size_t len,
                      char *err, size_t errlen)
{
    bool own_tx = sqlite3_get_autocommit(h->db) != 0;
    char trace[33];
    dp_hex(p->trace_id, 16, trace);
    if (own_tx && dp_history_begin(h, err, errlen) < 0)
        return -1;
    /* a run's report replaces what is stored of its trace but late rows: the partial report
     * it supersedes, or the same run recorded before (a trace file profiled again, runs
     * replayed from the persistent queue), which would otherwise count twice */
    if ((p->supersedes || !p->late) &&
        delete_runs(h, "trace_id = ?1 AND late = 0", 0, true, trace, err, errlen) < 0)
        goto fail;
    const char *sql = "INSERT INTO runs (trace_id, dag_id, service, start_ns, wall_ms, "
                      "critical_path_ms, parallelism, input_tokens, output_tokens, "
                      "cache_read_tokens, cache_write_tokens, cost_usd, cost_complete, "
                      "node_count, partial, report_json, late, recorded_ns) "
                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (prepare(h, &h->insert_run, sql) < 0) {
        set_err(err, errlen, h->db, "cannot store the run");
        goto fail;
    }
    sqlite3_stmt *st = h->insert_run;
    bind_text(st, 1, trace);
    bind_text(st, 2, p->dag_id ? p->dag_id : "");
    bind_text(st, 3, p->service);
    sqlite3_bind_int64(st, 4, as_int(p->start_ns));
    sqlite3_bind_double(st, 5, p->wall_ms);
    sqlite3_bind_double(st, 6, p->critical_path_ms);
    sqlite3_bind_double(st, 7, p->parallelism);
    sqlite3_bind_int64(st, 8, as_int(p->tokens.input));
    sqlite3_bind_int64(st, 9, as_int(p->tokens.output));
    sqlite3_bind_int64(st, 10, as_int(p->tokens.cache_read));
    sqlite3_bind_int64(st, 11, as_int(p->tokens.cache_write));
    sqlite3_bind_double(st, 12, p->cost_usd);
    sqlite3_bind_int(st, 13, p->cost_complete);
    sqlite3_bind_int64(st, 14, (sqlite3_int64)p->node_count);
    sqlite3_bind_int(st, 15, p->partial);
    while (len > 0 && json[len - 1] == '\n')
        len--;
    sqlite3_bind_text(st, 16, json, (int)len, SQLITE_STATIC);
    sqlite3_bind_int(st, 17, p->late);
    sqlite3_bind_int64(st, 18, as_int(dp_clock_realtime_ns()));
    if (len > INT32_MAX || sqlite3_step(st) != SQLITE_DONE) {
        set_err(err, errlen, h->db, "cannot store the run");
        goto fail;
    }
    sqlite3_int64 run = sqlite3_last_insert_rowid(h->db);
    if (insert_nodes(h, run, p) < 0 || insert_findings(h, run, p) < 0) {
        set_err(err, errlen, h->db, "cannot store the run's nodes and findings");
        goto fail;
    }
    if (own_tx && dp_history_commit(h, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    if (own_tx)
        dp_history_rollback(h);
    return -1;
}

/* --- retention ------------------------------------------------------------------------------ */

uint64_t dp_history_used_bytes(dp_history *h)
{
    int64_t pages = query_int(h, "PRAGMA page_count");
    int64_t free_pages = query_int(h, "PRAGMA freelist_count");
    int64_t size = query_int(h, "PRAGMA page_size");
    if (pages < 0 || free_pages < 0 || size < 0 || free_pages > pages)
        return 0;
    return (uint64_t)(pages - free_pages) * (uint64_t)size;
}

int dp_history_apply_retention(dp_history *h, uint64_t now_ns, uint64_t max_age_ms,
                               uint64_t max_size_bytes, uint64_t *deleted, char *err, size_t errlen)
{
    int64_t before = query_int(h, "SELECT count(*) FROM runs");
    if (before < 0) {
        set_err(err, errlen, h->db, "cannot count runs");
        return -1;
    }
    if (max_age_ms && now_ns > max_age_ms * 1000000u) {
        if (dp_history_begin(h, err, errlen) < 0)
            return -1;
        if (delete_runs(h, "recorded_ns < ?1", as_int(now_ns - max_age_ms * 1000000u), false, NULL,
                        err, errlen) < 0 ||
            dp_history_commit(h, err, errlen) < 0) {
            dp_history_rollback(h);
            return -1;
        }
    }
    /* by size: the runs that started first, as many at a time as the excess needs at the
     * average size of a run, until the pages in use fit */
    while (max_size_bytes) {
        uint64_t used = dp_history_used_bytes(h);
        int64_t runs = query_int(h, "SELECT count(*) FROM runs");
        if (used <= max_size_bytes || runs <= 0)
            break;
        uint64_t per_run = used / (uint64_t)runs;
        int64_t n = per_run ? (int64_t)((used - max_size_bytes + per_run - 1) / per_run) : 1;
        if (n < 1)
            n = 1;
        if (dp_history_begin(h, err, errlen) < 0)
            return -1;
        if (delete_runs(h, "id IN (SELECT id FROM runs ORDER BY start_ns, id LIMIT ?1)", n, false,
                        NULL, err, errlen) < 0 ||
            dp_history_commit(h, err, errlen) < 0) {
            dp_history_rollback(h);
            return -1;
        }
    }
    int64_t after = query_int(h, "SELECT count(*) FROM runs");
    if (after < before)
        exec(h, "PRAGMA incremental_vacuum", "cannot vacuum", NULL, 0);
    if (deleted)
        *deleted = after >= 0 && after < before ? (uint64_t)(before - after) : 0;
    return 0;
}

/* --- reading -------------------------------------------------------------------------------- */

static char *column_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? strdup((const char *)s) : NULL;
}

/* "WHERE ..." of a filter into sql, its values bound by bind_filter(). */
static void filter_sql(const dp_history_filter *f, char *sql, size_t len, const char *run_table)
{
    int n = snprintf(sql, len, " WHERE 1");
    if (f->dag_id)
        n += snprintf(sql + n, len - (size_t)n, " AND %s.dag_id = :dag", run_table);
    if (f->since_ns)
        n += snprintf(sql + n, len - (size_t)n, " AND %s.start_ns >= :since", run_table);
    if (f->until_ns)
        n += snprintf(sql + n, len - (size_t)n, " AND %s.start_ns < :until", run_table);
    if (f->whole_only)
        snprintf(sql + n, len - (size_t)n, " AND %s.partial = 0 AND %s.late = 0", run_table,
                 run_table);
}

static void bind_filter(sqlite3_stmt *st, const dp_history_filter *f)
{
    if (f->dag_id)
        sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":dag"), f->dag_id, -1,
                          SQLITE_STATIC);
    if (f->since_ns)
        sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":since"), as_int(f->since_ns));
    if (f->until_ns)
        sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":until"), as_int(f->until_ns));
    if (f->limit)
        sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, ":limit"), as_int(f->limit));
}

/* How one listing turns a row into an element. */
typedef struct row_reader {
    size_t size;                                  /* of an element */
    int (*fill)(sqlite3_stmt *st, void *element); /* -1: out of memory (element freeable) */
    void (*free_list)(void *list, size_t count);
} row_reader;

/* Run a prepared listing and gather its rows. 0 and the list, or -1 with the reason in err. */
static int read_rows(dp_history *h, sqlite3_stmt *st, const row_reader *r, void **out,
                     size_t *count, const char *what, char *err, size_t errlen)
{
    char *list = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char *grown = realloc(list, ncap * r->size);
            if (!grown)
                break;
            list = grown;
            cap = ncap;
        }
        memset(list + n * r->size, 0, r->size);
        if (r->fill(st, list + n++ * r->size) < 0)
            break;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_ROW)
            snprintf(err, errlen, "out of memory");
        else
            set_err(err, errlen, h->db, what);
        r->free_list(list, n);
        *out = NULL;
        *count = 0;
        return -1;
    }
    *out = list;
    *count = n;
    return 0;
}

static int fill_run(sqlite3_stmt *st, void *element)
{
    dp_history_run *r = element;
    r->row_id = sqlite3_column_int64(st, 0);
    snprintf(r->trace_id, sizeof(r->trace_id), "%s", (const char *)sqlite3_column_text(st, 1));
    r->dag_id = column_strdup(st, 2);
    r->service = column_strdup(st, 3);
    r->start_ns = (uint64_t)sqlite3_column_int64(st, 4);
    r->wall_ms = sqlite3_column_double(st, 5);
    r->critical_path_ms = sqlite3_column_double(st, 6);
    r->parallelism = sqlite3_column_double(st, 7);
    r->input_tokens = (uint64_t)sqlite3_column_int64(st, 8);
    r->output_tokens = (uint64_t)sqlite3_column_int64(st, 9);
    r->cache_read_tokens = (uint64_t)sqlite3_column_int64(st, 10);
    r->cache_write_tokens = (uint64_t)sqlite3_column_int64(st, 11);
    r->cost_usd = sqlite3_column_double(st, 12);
    r->cost_complete = sqlite3_column_int(st, 13) != 0;
    r->node_count = (unsigned)sqlite3_column_int64(st, 14);
    r->partial = sqlite3_column_int(st, 15) != 0;
    r->late = sqlite3_column_int(st, 16) != 0;
    return r->dag_id && (r->service || sqlite3_column_type(st, 3) == SQLITE_NULL) ? 0 : -1;
}

static void free_runs(void *list, size_t count)
{
    dp_history_runs_free(list, count);
}

int dp_history_list_runs(dp_history *h, const dp_history_filter *f, dp_history_run **runs,
                         size_t *count, char *err, size_t errlen)
{
    static const row_reader reader = {sizeof(dp_history_run), fill_run, free_runs};
    char where[400], sql[1200];
    sqlite3_stmt *st = NULL;
    filter_sql(f, where, sizeof(where), "runs");
    snprintf(sql, sizeof(sql),
             "SELECT id, trace_id, dag_id, service, start_ns, wall_ms, critical_path_ms, "
             "parallelism, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
             "cost_usd, cost_complete, node_count, partial, late FROM runs%s "
             "ORDER BY start_ns %s, id %s%s",
             where, f->oldest_first ? "ASC" : "DESC", f->oldest_first ? "ASC" : "DESC",
             f->limit ? " LIMIT :limit" : "");
    *runs = NULL;
    *count = 0;
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
        set_err(err, errlen, h->db, "cannot list runs");
        return -1;
    }
    bind_filter(st, f);
    return read_rows(h, st, &reader, (void **)runs, count, "cannot list runs", err, errlen);
}

void dp_history_runs_free(dp_history_run *runs, size_t count)
{
    for (size_t i = 0; runs && i < count; i++) {
        free(runs[i].dag_id);
        free(runs[i].service);
    }
    free(runs);
}

static int fill_node(sqlite3_stmt *st, void *element)
{
    dp_history_node *x = element;
    x->run_row_id = sqlite3_column_int64(st, 0);
    x->run_start_ns = (uint64_t)sqlite3_column_int64(st, 1);
    x->node_id = column_strdup(st, 2);
    x->model = column_strdup(st, 3);
    x->duration_ms = sqlite3_column_double(st, 4);
    x->wait_ms = sqlite3_column_double(st, 5);
    x->execution_ms = sqlite3_column_double(st, 6);
    x->input_tokens = (uint64_t)sqlite3_column_int64(st, 7);
    x->output_tokens = (uint64_t)sqlite3_column_int64(st, 8);
    x->cost_usd = sqlite3_column_double(st, 9);
    x->cost_known = sqlite3_column_int(st, 10) != 0;
    x->retries = (unsigned)sqlite3_column_int64(st, 11);
    x->on_critical_path = sqlite3_column_int(st, 12) != 0;
    x->llm_calls = (unsigned)sqlite3_column_int64(st, 13);
    x->tool_calls = (unsigned)sqlite3_column_int64(st, 14);
    x->bottlenecks = (unsigned)sqlite3_column_int64(st, 15);
    return x->node_id && (x->model || sqlite3_column_type(st, 3) == SQLITE_NULL) ? 0 : -1;
}

static void free_nodes(void *list, size_t count)
{
    dp_history_nodes_free(list, count);
}

int dp_history_list_nodes(dp_history *h, const dp_history_filter *f, dp_history_node **nodes,
                          size_t *count, char *err, size_t errlen)
{
    static const row_reader reader = {sizeof(dp_history_node), fill_node, free_nodes};
    char where[400], sql[1600];
    sqlite3_stmt *st = NULL;
    filter_sql(f, where, sizeof(where), "r");
    snprintf(sql, sizeof(sql),
             "SELECT n.run_id, r.start_ns, n.node_id, n.model, n.duration_ms, n.wait_ms, "
             "n.execution_ms, n.input_tokens, n.output_tokens, n.cost_usd, n.cost_known, "
             "n.retries, n.on_critical_path, n.llm_calls, n.tool_calls, "
             "(SELECT count(*) FROM findings x WHERE x.run_id = n.run_id AND "
             "x.kind = 'bottleneck' AND x.node_id = n.node_id) "
             "FROM nodes n JOIN runs r ON r.id = n.run_id%s ORDER BY r.start_ns, r.id, n.idx",
             where);
    *nodes = NULL;
    *count = 0;
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
        set_err(err, errlen, h->db, "cannot list nodes");
        return -1;
    }
    dp_history_filter no_limit = *f;
    no_limit.limit = 0;
    bind_filter(st, &no_limit);
    return read_rows(h, st, &reader, (void **)nodes, count, "cannot list nodes", err, errlen);
}

void dp_history_nodes_free(dp_history_node *nodes, size_t count)
{
    for (size_t i = 0; nodes && i < count; i++) {
        free(nodes[i].node_id);
        free(nodes[i].model);
    }
    free(nodes);
}

int dp_history_load_report(dp_history *h, const char *trace_id_or_prefix, char **json, char *err,
                           size_t errlen)
{
    int result = -1;
    sqlite3_stmt *st = NULL;
    char prefix[33], upper[34];
    size_t len = strlen(trace_id_or_prefix);
    *json = NULL;
    if (len < PREFIX_MIN || len > 32) {
        snprintf(err, errlen, "'%.40s' is not a trace id: give 4 to 32 hex digits",
                 trace_id_or_prefix);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        int d = dp_hex_digit(trace_id_or_prefix[i]);
        if (d < 0) {
            snprintf(err, errlen, "'%.40s' is not a trace id: give 4 to 32 hex digits",
                     trace_id_or_prefix);
            return -1;
        }
        prefix[i] = "0123456789abcdef"[d];
    }
    prefix[len] = '\0';
    /* every lowercase hex id that starts with the prefix sorts below prefix + '~' */
    snprintf(upper, sizeof(upper), "%s~", prefix);
    if (sqlite3_prepare_v2(h->db,
                           "SELECT DISTINCT trace_id FROM runs WHERE trace_id >= ?1 AND "
                           "trace_id < ?2 ORDER BY trace_id LIMIT 3",
                           -1, &st, NULL) != SQLITE_OK) {
        set_err(err, errlen, h->db, "cannot look up the run");
        goto out;
    }
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, upper, -1, SQLITE_STATIC);
    char found[3][33];
    int matches = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && matches < 3)
        snprintf(found[matches++], 33, "%s", (const char *)sqlite3_column_text(st, 0));
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        set_err(err, errlen, h->db, "cannot look up the run");
        goto out;
    }
    if (matches == 0) {
        snprintf(err, errlen, "no run with trace id %s%s in the history", prefix,
                 len < 32 ? "..." : "");
        goto out;
    }
    if (matches > 1) {
        snprintf(err, errlen, "trace id prefix %s is ambiguous: %s, %s%s", prefix, found[0],
                 found[1], matches > 2 ? " and more" : "");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT report_json FROM runs WHERE trace_id = ?1 "
                           "ORDER BY late ASC, id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        set_err(err, errlen, h->db, "cannot read the run");
        goto out;
    }
    sqlite3_bind_text(st, 1, found[0], -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        set_err(err, errlen, h->db, "cannot read the run");
        goto out;
    }
    const unsigned char *text = sqlite3_column_text(st, 0);
    int bytes = sqlite3_column_bytes(st, 0);
    *json = malloc((size_t)bytes + 1);
    if (!*json) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (bytes)
        memcpy(*json, text, (size_t)bytes);
    (*json)[bytes] = '\0';
    result = 0;
out:
    sqlite3_finalize(st);
    return result;
}

/*
 * The run history on real files in a temporary directory: a run stored and
 * read back (checked through SQLite's own API as the independent reader),
 * lookups by trace id and prefix, a whole report replacing its partial one,
 * retention by age and by size (oldest first), the migration of a
 * version-1 database made here by hand, a database from a newer dagprof
 * refused, another program's database refused and left alone, a locked one
 * said to be locked, one read by a user who may not
 * write its directory, a reader checking every run is whole while the sink
 * writes, and the sink's behaviour when the database cannot be opened
 * (counted, retried, written once it can be; a full queue drops and counts,
 * or makes the run wait for room in dagprof report's mode).
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "clock.h"
#include "history.h"
#include "profile_types.h"
#include "sink.h"

static char dir[64];
static char db_path[256];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/dp_history_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(db_path, sizeof(db_path), "%s/history.db", dir);
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char child[512];
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
        struct stat st;
        if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(child);
        else
            unlink(child);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

/* Hand-made profile pieces: two nodes, a bottleneck on the second, a recommendation. */
typedef struct sample_run {
    dp_run_profile p;
    dp_node_profile nodes[2];
    dp_bottleneck bottleneck;
    dp_recommendation rec;
    dp_tool_call_profile tools[3];
} sample_run;

/* Trace id bytes all `id`; start at `start_s` Unix seconds. Figures chosen by hand. */
static void sample(sample_run *s, uint8_t id, uint64_t start_s, const char *dag)
{
    memset(s, 0, sizeof(*s));
    dp_run_profile *p = &s->p;
    memset(p->trace_id, id, 16);
    p->dag_id = dag;
    p->service = "svc";
    p->start_ns = start_s * 1000000000ull;
    p->wall_ms = 1500.5;
    p->critical_path_ms = 1200.25;
    p->parallelism = 1.5;
    p->tokens = (dp_token_counts){1000, 200, 300, 40};
    p->cost_usd = 0.0125;
    p->cost_any_known = true;
    p->cost_complete = true;
    p->speedup = 1;
    p->speedup_if_independent = -1;
    s->nodes[0] = (dp_node_profile){.id = "plan",
                                    .name = "plan step",
                                    .model = "gpt-4o",
                                    .end_ms = 400,
                                    .duration_ms = 400,
                                    .execution_ms = 400,
                                    .parent_node = -1,
                                    .on_critical_path = true,
                                    .llm_calls = 1,
                                    .tokens = {600, 100, 0, 0},
                                    .cost_usd = 0.0075,
                                    .cost_known = true};
    s->nodes[1] = (dp_node_profile){.id = "search",
                                    .name = "search step",
                                    .start_ms = 500,
                                    .end_ms = 1500,
                                    .ready_ms = 400,
                                    .duration_ms = 1000,
                                    .wait_ms = 100,
                                    .execution_ms = 1000,
                                    .parent_node = -1,
                                    .retries = 2,
                                    .tool_call_count = 3,
                                    .cost_known = true};
    for (int i = 0; i < 3; i++)
        s->tools[i] = (dp_tool_call_profile){"web", 300, true};
    s->nodes[1].tool_calls = s->tools;
    p->nodes = s->nodes;
    p->node_count = 2;
    s->bottleneck = (dp_bottleneck){.type = DP_BOTTLENECK_SLOW_NODE,
                                    .node = 1,
                                    .severity = DP_SEVERITY_HIGH,
                                    .impact_pct = 66.5};
    p->bottlenecks = &s->bottleneck;
    p->bottleneck_count = 1;
    s->rec = (dp_recommendation){.type = DP_REC_CACHE,
                                 .priority = DP_SEVERITY_MEDIUM,
                                 .savings_time_ms = 250,
                                 .savings_tokens = 500,
                                 .savings_cost_usd = 0.002,
                                 .savings_cost_known = true};
    p->recommendations = &s->rec;
    p->recommendation_count = 1;
}

static dp_history *open_db(void)
{
    dp_history *h = NULL;
    char err[512];
    assert_int_equal(dp_history_open(db_path, DP_HISTORY_WRITE, &h, err, sizeof(err)), 0);
    return h;
}

static void insert(dp_history *h, const dp_run_profile *p, const char *json)
{
    char err[512];
    int rc = dp_history_insert(h, p, json, strlen(json), err, sizeof(err));
    if (rc != 0)
        fail_msg("insert: %s", err);
}

/* One integer from SQL through SQLite directly (the independent reader). */
static long long sql_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void test_store_and_read_back(void **state)
{
    (void)state;
    make_dir();
    dp_history *h = open_db();
    sample_run s;
    sample(&s, 0xab, 1700000000, "qa");
    insert(h, &s.p, "{\"report\":1}\n");

    /* the rows as SQLite holds them */
    assert_int_equal(sql_int("PRAGMA user_version"), DP_HISTORY_SCHEMA_VERSION);
    assert_int_equal(sql_int("SELECT count(*) FROM runs WHERE trace_id = "
                             "'abababababababababababababababab' AND dag_id = 'qa' AND "
                             "service = 'svc' AND start_ns = 1700000000000000000 AND "
                             "wall_ms = 1500.5 AND critical_path_ms = 1200.25 AND "
                             "parallelism = 1.5 AND input_tokens = 1000 AND output_tokens = "
                             "200 AND cache_read_tokens = 300 AND cache_write_tokens = 40 AND "
                             "cost_usd = 0.0125 AND cost_complete = 1 AND node_count = 2 AND "
                             "partial = 0 AND late = 0 AND report_json = '{\"report\":1}'"),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM nodes WHERE idx = 1 AND node_id = 'search' "
                             "AND name = 'search step' AND model IS NULL AND duration_ms = 1000 "
                             "AND wait_ms = 100 AND retries = 2 AND tool_calls = 3 AND "
                             "on_critical_path = 0"),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM nodes WHERE idx = 0 AND node_id = 'plan' AND "
                             "model = 'gpt-4o' AND input_tokens = 600 AND output_tokens = 100 "
                             "AND cost_usd = 0.0075 AND on_critical_path = 1 AND llm_calls = 1"),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM findings WHERE kind = 'bottleneck' AND type "
                             "= 'slow_node' AND node_id = 'search' AND severity = 'high' AND "
                             "impact_pct = 66.5"),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM findings WHERE kind = 'recommendation' AND "
                             "type = 'cache' AND severity = 'medium' AND savings_time_ms = 250 "
                             "AND savings_tokens = 500 AND savings_cost_usd = 0.002"),
                     1);
    assert_int_equal(sql_int("PRAGMA journal_mode = WAL") >= 0, 1);

    /* the read API */
    dp_history_filter f = {0};
    dp_history_run *runs;
    size_t n;
    char err[512];
    assert_int_equal(dp_history_list_runs(h, &f, &runs, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(runs[0].trace_id, "abababababababababababababababab");
    assert_string_equal(runs[0].dag_id, "qa");
    assert_string_equal(runs[0].service, "svc");
    assert_true(runs[0].wall_ms == 1500.5 && runs[0].cost_usd == 0.0125);
    assert_int_equal(runs[0].node_count, 2);
    dp_history_runs_free(runs, n);
    dp_history_node *nodes;
    assert_int_equal(dp_history_list_nodes(h, &f, &nodes, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(nodes[0].node_id, "plan");
    assert_int_equal(nodes[0].bottlenecks, 0);
    assert_string_equal(nodes[1].node_id, "search");
    assert_int_equal(nodes[1].bottlenecks, 1);
    assert_true(nodes[1].wait_ms == 100);
    dp_history_nodes_free(nodes, n);

    /* a filter on another DAG finds nothing */
    f.dag_id = "other";
    assert_int_equal(dp_history_list_runs(h, &f, &runs, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    dp_history_runs_free(runs, n);

    dp_history_close(h);
    remove_tree(dir);
}

static void test_load_report(void **state)
{
    (void)state;
    make_dir();
    dp_history *h = open_db();
    sample_run s;
    sample(&s, 0xab, 1700000000, "qa");
    insert(h, &s.p, "{\"run\":\"ab\"}");
    sample(&s, 0xac, 1700000001, "qa");
    insert(h, &s.p, "{\"run\":\"ac\"}");
    char *json = NULL, err[512];
    assert_int_equal(
        dp_history_load_report(h, "abababababababababababababababab", &json, err, sizeof(err)), 0);
    assert_string_equal(json, "{\"run\":\"ab\"}");
    free(json);
    /* a unique prefix, in capitals */
    assert_int_equal(dp_history_load_report(h, "ACAC", &json, err, sizeof(err)), 0);
    assert_string_equal(json, "{\"run\":\"ac\"}");
    free(json);
    /* "aba" is too short; "a" prefixes both; none starts with "ffff"; "xyzw" is not hex */
    assert_int_equal(dp_history_load_report(h, "aba", &json, err, sizeof(err)), -1);
    assert_null(json);
    assert_int_equal(dp_history_load_report(h, "abab", &json, err, sizeof(err)), 0);
    free(json);
    sample(&s, 0xaa, 1700000002, "qa");
    s.p.trace_id[15] = 0xab; /* aaaa...ab */
    insert(h, &s.p, "{}");
    sample(&s, 0xaa, 1700000003, "qa");
    insert(h, &s.p, "{}");
    assert_int_equal(dp_history_load_report(h, "aaaa", &json, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ambiguous"));
    assert_non_null(strstr(err, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_int_equal(dp_history_load_report(h, "ffff", &json, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no run"));
    assert_int_equal(dp_history_load_report(h, "xyzw", &json, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a trace id"));
    dp_history_close(h);
    remove_tree(dir);
}

static void test_whole_report_replaces_partial(void **state)
{
    (void)state;
    make_dir();
    dp_history *h = open_db();
    sample_run s;
    sample(&s, 0x11, 1700000000, "qa");
    s.p.partial = true;
    insert(h, &s.p, "{\"partial\":true}");
    s.p.partial = false;
    s.p.supersedes = true;
    s.p.wall_ms = 2000;
    insert(h, &s.p, "{\"partial\":false}");
    assert_int_equal(sql_int("SELECT count(*) FROM runs"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM runs WHERE partial = 0 AND wall_ms = 2000"), 1);
    /* the partial run's nodes and findings went with it */
    assert_int_equal(sql_int("SELECT count(*) FROM nodes"), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM findings"), 2);
    /* late spans reported apart are a row of their own; the report loaded is the whole one */
    s.p.supersedes = false;
    s.p.late = true;
    insert(h, &s.p, "{\"late\":true}");
    assert_int_equal(sql_int("SELECT count(*) FROM runs"), 2);
    char *json, err[512];
    assert_int_equal(dp_history_load_report(h, "1111", &json, err, sizeof(err)), 0);
    assert_string_equal(json, "{\"partial\":false}");
    free(json);
    /* the same run recorded again (a trace file profiled twice with --history, runs replayed
     * from the persistent queue): its row is replaced, so it counts once in the listings and
     * trends; its late row stays */
    s.p.late = false;
    s.p.wall_ms = 2500;
    insert(h, &s.p, "{\"again\":true}");
    assert_int_equal(sql_int("SELECT count(*) FROM runs"), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM runs WHERE late = 0 AND wall_ms = 2500"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM runs WHERE late = 1"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM nodes"), 4); /* 2 of each row */
    dp_history_filter f;
    memset(&f, 0, sizeof(f));
    f.whole_only = true;
    dp_history_run *runs = NULL;
    size_t n = 0;
    assert_int_equal(dp_history_list_runs(h, &f, &runs, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    dp_history_runs_free(runs, n);
    dp_history_close(h);
    remove_tree(dir);
}

static void test_retention_by_age(void **state)
{
    (void)state;
    make_dir();
    dp_history *h = open_db();
    const uint64_t now_s = 1800000000, day_s = 86400;
    sample_run s;
    /* started 3 days, 2 days, 25 hours and 1 hour before now */
    const uint64_t ago[] = {3 * day_s, 2 * day_s, 25 * 3600, 3600};
    for (int i = 0; i < 4; i++) {
        sample(&s, (uint8_t)(0x10 + i), now_s - ago[i], "qa");
        insert(h, &s.p, "{}");
    }
    /* they were recorded as they started (a daemon records a run when it ends) */
    sql_exec("UPDATE runs SET recorded_ns = start_ns");
    uint64_t deleted = 0;
    char err[512];
    /* max age 1 day: only the run of an hour ago is younger */
    assert_int_equal(dp_history_apply_retention(h, now_s * 1000000000ull, 24 * 3600000ull, 0,
                                                &deleted, err, sizeof(err)),
                     0);
    assert_int_equal(deleted, 3);
    assert_int_equal(sql_int("SELECT count(*) FROM runs"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM runs WHERE trace_id LIKE '13%'"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM nodes"), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM findings"), 2);
    /* 0 = no age limit */
    assert_int_equal(
        dp_history_apply_retention(h, now_s * 1000000000ull * 2, 0, 0, &deleted, err, sizeof(err)),
        0);
    assert_int_equal(deleted, 0);
    dp_history_close(h);
    remove_tree(dir);
}

static void test_retention_by_size(void **state)
{
    (void)state;
    make_dir();
    dp_history *h = open_db();
    /* 60 runs with a 20,000-byte report each: about 1.2 MB of pages */
    static char json[20003];
    memset(json, 'x', sizeof(json) - 1);
    json[0] = '"';
    json[sizeof(json) - 2] = '"';
    json[sizeof(json) - 1] = '\0';
    sample_run s;
    for (int i = 0; i < 60; i++) {
        /* start times out of insertion order: retention goes by start, not by row */
        sample(&s, (uint8_t)i, 1700000000 + (uint64_t)((i * 37) % 60), "qa");
        insert(h, &s.p, json);
    }
    const uint64_t limit = 256 * 1024;
    assert_true(dp_history_used_bytes(h) > 1000000);
    uint64_t deleted = 0;
    char err[512];
    assert_int_equal(dp_history_apply_retention(h, 1700000100ull * 1000000000ull, 0, limit,
                                                &deleted, err, sizeof(err)),
                     0);
    assert_true(dp_history_used_bytes(h) <= limit);
    long long left = sql_int("SELECT count(*) FROM runs");
    assert_true(left > 0 && left < 60);
    assert_int_equal((long long)deleted, 60 - left);
    /* the ones kept are the latest to start: starts 1700000000 + (60-left) .. +59 */
    assert_int_equal(sql_int("SELECT min(start_ns) FROM runs"),
                     (1700000000ll + (60 - left)) * 1000000000ll);
    /* each run holds its 20,003-byte report, so 262,144 bytes hold at most 13 runs; with its
     * row, two nodes and two findings a run takes well under 30,000 bytes, so at least
     * 262,144 / 30,000 = 8 (rounded down) fit and must be kept */
    assert_true(left <= 13 && left >= 8);
    /* freed pages went back to the file system (incremental vacuum) */
    assert_int_equal(sql_int("PRAGMA freelist_count"), 0);
    dp_history_close(h);
    remove_tree(dir);
}

/* Version 1 as it was first released: runs (without late) and nodes, no findings. */
static const char v1_schema[] =
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, trace_id TEXT NOT NULL, dag_id TEXT NOT NULL, "
    "service TEXT, start_ns INTEGER NOT NULL, wall_ms REAL NOT NULL, critical_path_ms REAL NOT "
    "NULL, parallelism REAL NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT "
    "NULL, cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL, cost_usd REAL "
    "NOT NULL, cost_complete INTEGER NOT NULL, node_count INTEGER NOT NULL, partial INTEGER NOT "
    "NULL, report_json TEXT NOT NULL);"
    "CREATE INDEX runs_trace ON runs(trace_id);"
    "CREATE INDEX runs_start ON runs(start_ns);"
    "CREATE TABLE nodes (run_id INTEGER NOT NULL, idx INTEGER NOT NULL, node_id TEXT NOT NULL, "
    "name TEXT, model TEXT, duration_ms REAL NOT NULL, wait_ms REAL NOT NULL, execution_ms REAL "
    "NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens "
    "INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, cost_known "
    "INTEGER NOT NULL, retries INTEGER NOT NULL, on_critical_path INTEGER NOT NULL, llm_calls "
    "INTEGER NOT NULL, tool_calls INTEGER NOT NULL, PRIMARY KEY (run_id, idx));"
    "INSERT INTO runs VALUES (1, 'cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd', 'old-dag', NULL, "
    "1700000000000000000, 10, 10, 1, 1, 2, 0, 0, 0.5, 1, 1, 0, '{\"old\":1}');"
    "INSERT INTO nodes VALUES (1, 0, 'only', NULL, NULL, 10, 0, 10, 1, 2, 0, 0, 0.5, 1, 0, 1, "
    "1, 0);"
    "PRAGMA user_version = 1;";

static void test_migration_from_version_1(void **state)
{
    (void)state;
    make_dir();
    sql_exec(v1_schema);
    dp_history *h = open_db();
    assert_int_equal(sql_int("PRAGMA user_version"), 2);
    /* the old row is kept, now with late = 0, and the new table is there */
    assert_int_equal(sql_int("SELECT count(*) FROM runs WHERE dag_id = 'old-dag' AND late = 0 AND "
                             "recorded_ns = start_ns"),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM findings"), 0);
    char *json, err[512];
    assert_int_equal(dp_history_load_report(h, "cdcd", &json, err, sizeof(err)), 0);
    assert_string_equal(json, "{\"old\":1}");
    free(json);
    dp_history_filter f = {.dag_id = "old-dag"};
    dp_history_node *nodes;
    size_t n;
    assert_int_equal(dp_history_list_nodes(h, &f, &nodes, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_string_equal(nodes[0].node_id, "only");
    assert_int_equal(nodes[0].bottlenecks, 0);
    dp_history_nodes_free(nodes, n);
    /* and new runs go in beside it */
    sample_run s;
    sample(&s, 0x22, 1700000001, "new-dag");
    insert(h, &s.p, "{}");
    assert_int_equal(sql_int("SELECT count(*) FROM findings"), 2);
    dp_history_close(h);
    remove_tree(dir);
}

static void test_refused_databases(void **state)
{
    (void)state;
    make_dir();
    dp_history *h = NULL;
    char err[512];
    /* made by a newer dagprof */
    sql_exec("CREATE TABLE runs (id INTEGER); PRAGMA user_version = 99;");
    assert_int_equal(dp_history_open(db_path, DP_HISTORY_WRITE, &h, err, sizeof(err)), -1);
    assert_null(h);
    assert_non_null(strstr(err, "newer dagprof"));
    unlink(db_path);
    /* not a database */
    FILE *f = fopen(db_path, "w");
    assert_non_null(f);
    fputs("this is not an SQLite database, just text that is long enough to have a header\n", f);
    fclose(f);
    assert_int_equal(dp_history_open(db_path, DP_HISTORY_WRITE, &h, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a run history"));
    unlink(db_path);
    /* another program's SQLite database (tables of its own, user_version 0) is refused and
     * left as it was: no tables of ours added, its journal mode kept */
    sql_exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
             "INSERT INTO notes (body) VALUES ('keep me');");
    for (int mode = DP_HISTORY_WRITE; mode <= DP_HISTORY_READ; mode++) {
        assert_int_equal(dp_history_open(db_path, (enum dp_history_mode)mode, &h, err, sizeof(err)),
                         -1);
        assert_null(h);
        assert_non_null(strstr(err, "not a run history"));
    }
    assert_int_equal(sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'runs'"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM notes"), 1);
    assert_int_equal(sql_int("PRAGMA user_version"), 0);
    /* still in its rollback journal mode: a WAL database says 2 in byte 18 of its header */
    FILE *db = fopen(db_path, "rb");
    unsigned char header[20];
    assert_non_null(db);
    assert_int_equal(fread(header, 1, sizeof(header), db), sizeof(header));
    fclose(db);
    assert_int_equal(header[18], 1);
    unlink(db_path);
    /* reading needs the file */
    assert_int_equal(dp_history_open(db_path, DP_HISTORY_READ, &h, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no run history there"));
    assert_int_equal(access(db_path, F_OK), -1);
    /* a run history held locked by another connection (after the 5 s busy timeout) is said
     * to be locked, not to be something else than a run history */
    assert_int_equal(dp_history_open(db_path, DP_HISTORY_WRITE, &h, err, sizeof(err)), 0);
    dp_history_close(h);
    h = NULL;
    sqlite3 *holder = NULL;
    assert_int_equal(sqlite3_open(db_path, &holder), SQLITE_OK);
    assert_int_equal(sqlite3_exec(holder,
                                  "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; "
                                  "SELECT count(*) FROM runs;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(dp_history_open(db_path, DP_HISTORY_READ, &h, err, sizeof(err)), -1);
    assert_null(h);
    assert_non_null(strstr(err, "locked by another process"));
    assert_null(strstr(err, "not a run history"));
    sqlite3_close(holder);
    assert_int_equal(dp_history_open(db_path, DP_HISTORY_READ, &h, err, sizeof(err)), 0);
    dp_history_close(h);
    remove_tree(dir);
}

/* In a child that may not write the directory of the database (run as nobody when the test
 * runs as root, else with the directory made read-only): the run history is read, not refused.
 * The child's exit status: 0 read with its one run, 1 refused (message on stderr), 2 no
 * such child could be set up. */
static int read_as_reader_without_write_access(void)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 ? setgid(65534) != 0 || setuid(65534) != 0 : chmod(dir, 0555) != 0)
            _exit(2);
        dp_history *h = NULL;
        char err[512];
        dp_history_run *runs = NULL;
        size_t n = 0;
        dp_history_filter f;
        memset(&f, 0, sizeof(f));
        if (dp_history_open(db_path, DP_HISTORY_READ, &h, err, sizeof(err)) < 0 ||
            dp_history_list_runs(h, &f, &runs, &n, err, sizeof(err)) < 0) {
            fprintf(stderr, "reader without write access: %s\n", err);
            _exit(1);
        }
        int ok = n == 1 && runs[0].trace_id[0] == '3' && runs[0].trace_id[1] == '3';
        dp_history_runs_free(runs, n);
        dp_history_close(h);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    chmod(dir, 0755);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* A run history in WAL mode with nobody writing it has no -wal and -shm files; a reader that
 * may not create them (the daemon's database read by another user) still reads it. */
static void test_reader_without_write_access(void **state)
{
    (void)state;
    make_dir();
    assert_int_equal(chmod(dir, 0755), 0);
    dp_history *h = open_db();
    sample_run s;
    sample(&s, 0x33, 1796000000, "dag-a");
    insert(h, &s.p, "{}");
    dp_history_close(h);
    assert_int_equal(access(db_path, F_OK), 0);
    char shm[300];
    snprintf(shm, sizeof(shm), "%s-shm", db_path);
    assert_int_equal(access(shm, F_OK), -1); /* the last connection removed it */
    assert_int_equal(chmod(db_path, 0644), 0);
    assert_int_equal(read_as_reader_without_write_access(), 0);
    remove_tree(dir);
}

/* Poll `counts` until cond holds, 10 s at most. */
#define WAIT_FOR(sink, c, cond)                                                                    \
    do {                                                                                           \
        uint64_t until_ = dp_clock_monotonic_ms() + 10000;                                         \
        for (;;) {                                                                                 \
            dp_history_sink_get_counts(sink, &c);                                                  \
            if (cond)                                                                              \
                break;                                                                             \
            assert_true(dp_clock_monotonic_ms() < until_);                                         \
            struct timespec ts_ = {0, 2000000};                                                    \
            nanosleep(&ts_, NULL);                                                                 \
        }                                                                                          \
    } while (0)

typedef struct reader_state {
    int runs_expected;
    int checks;
    int inconsistent;
    int errors;
} reader_state;

/* Every run a reader sees has all of its nodes: each run is one transaction. */
static void *reader_main(void *arg)
{
    reader_state *r = arg;
    uint64_t until = dp_clock_monotonic_ms() + 20000;
    while (dp_clock_monotonic_ms() < until) {
        sqlite3 *db;
        sqlite3_stmt *st;
        if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
            sqlite3_close(db); /* not created yet */
            continue;
        }
        sqlite3_busy_timeout(db, 5000);
        long long runs = -1;
        if (sqlite3_prepare_v2(db,
                               "SELECT count(*), sum((SELECT count(*) FROM nodes n WHERE n.run_id "
                               "= r.id) != r.node_count) FROM runs r",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            runs = sqlite3_column_int64(st, 0);
            r->inconsistent += sqlite3_column_int(st, 1);
            r->checks++;
        } else if (sqlite3_errcode(db) != SQLITE_ERROR) {
            r->errors++; /* SQLITE_ERROR: no table yet */
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (runs == r->runs_expected)
            break;
    }
    return NULL;
}

static void test_reader_while_sink_writes(void **state)
{
    (void)state;
    make_dir();
    dp_history_options opt;
    dp_history_options_defaults(&opt);
    snprintf(opt.path, sizeof(opt.path), "%s", db_path);
    opt.max_age_ms = 0;
    dp_history_sink_tuning tune = {.batch_runs = 7};
    dp_sink *sink = dp_history_sink_create(&opt, &tune);
    assert_non_null(sink);
    reader_state r = {.runs_expected = 300};
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, reader_main, &r), 0);
    sample_run s;
    for (int i = 0; i < 300; i++) {
        sample(&s, (uint8_t)i, 1700000000 + (uint64_t)i, "qa");
        s.p.trace_id[0] = (uint8_t)(i >> 8);
        assert_int_equal(dp_sink_on_run(sink, NULL, &s.p), 0);
    }
    assert_int_equal(dp_sink_flush(sink), 0);
    pthread_join(reader, NULL);
    dp_history_sink_counts c;
    dp_history_sink_get_counts(sink, &c);
    assert_int_equal(c.runs_written, 300);
    assert_int_equal(c.write_failures, 0);
    assert_int_equal(c.runs_dropped_full, 0);
    dp_sink_destroy(sink);
    assert_true(r.checks > 0);
    assert_int_equal(r.inconsistent, 0);
    assert_int_equal(r.errors, 0);
    assert_int_equal(sql_int("SELECT count(*) FROM runs"), 300);
    assert_int_equal(sql_int("SELECT count(*) FROM nodes"), 600);
    /* the stored report is the profile's JSON report without its final newline */
    assert_int_equal(sql_int("SELECT count(*) FROM runs WHERE report_json LIKE '{%}' AND "
                             "json_extract(report_json, '$.trace_id') = trace_id"),
                     300);
    remove_tree(dir);
}

static void test_unavailable_database(void **state)
{
    (void)state;
    make_dir();
    /* the database's directory is a regular file: opening fails until it is a directory */
    char parent[128];
    snprintf(parent, sizeof(parent), "%s/sub", dir);
    FILE *f = fopen(parent, "w");
    assert_non_null(f);
    fclose(f);
    dp_history_options opt;
    dp_history_options_defaults(&opt);
    snprintf(opt.path, sizeof(opt.path), "%s/history.db", parent);
    opt.max_age_ms = 0;
    opt.queue_runs = 2;
    dp_history_sink_tuning tune = {.retry_ms = 20, .flush_wait_ms = 50};
    dp_sink *sink = dp_history_sink_create(&opt, &tune);
    assert_non_null(sink);
    sample_run s;
    /* 5 runs into a queue of 2 that cannot drain: 2 wait, 3 are dropped */
    for (int i = 0; i < 5; i++) {
        sample(&s, (uint8_t)(0x40 + i), 1700000000 + (uint64_t)i, "qa");
        assert_int_equal(dp_sink_on_run(sink, NULL, &s.p), 0);
    }
    dp_history_sink_counts c;
    WAIT_FOR(sink, c, c.write_failures >= 2); /* tried, and tried again */
    assert_int_equal(c.runs_dropped_full, 3);
    assert_int_equal(c.runs_written, 0);
    assert_int_equal(c.queued, 2);
    assert_int_equal(dp_sink_flush(sink), -1); /* still not written */
    /* the directory appears: the waiting runs are written at the next attempt */
    assert_int_equal(unlink(parent), 0);
    assert_int_equal(mkdir(parent, 0755), 0);
    WAIT_FOR(sink, c, c.runs_written == 2);
    assert_int_equal(c.queued, 0);
    dp_sink_destroy(sink);
    snprintf(db_path, sizeof(db_path), "%s/history.db", parent);
    assert_int_equal(sql_int("SELECT count(*) FROM runs"), 2);
    /* the first two runs, 0x40 and 0x41, were the ones queued */
    assert_int_equal(sql_int("SELECT count(*) FROM runs WHERE trace_id LIKE '40%' OR trace_id "
                             "LIKE '41%'"),
                     2);
    remove_tree(dir);
}

/* wait_when_full (dagprof report): runs wait for room instead of being dropped, all of them
 * written; while the database fails they are dropped rather than wait for ever. */
static void test_wait_when_full(void **state)
{
    (void)state;
    make_dir();
    dp_history_options opt;
    dp_history_options_defaults(&opt);
    snprintf(opt.path, sizeof(opt.path), "%s", db_path);
    opt.max_age_ms = 0;
    opt.queue_runs = 1;
    dp_history_sink_tuning tune = {.retry_ms = 20, .batch_runs = 1, .wait_when_full = true};
    dp_sink *sink = dp_history_sink_create(&opt, &tune);
    assert_non_null(sink);
    sample_run s;
    for (int i = 0; i < 60; i++) {
        sample(&s, (uint8_t)(0x60 + i), 1700000000 + (uint64_t)i, "qa");
        assert_int_equal(dp_sink_on_run(sink, NULL, &s.p), 0);
    }
    assert_int_equal(dp_sink_flush(sink), 0);
    dp_history_sink_counts c;
    dp_history_sink_get_counts(sink, &c);
    assert_int_equal(c.runs_written, 60);
    assert_int_equal(c.runs_dropped_full, 0);
    dp_sink_destroy(sink);
    assert_int_equal(sql_int("SELECT count(*) FROM runs"), 60);
    assert_int_equal(sql_int("SELECT count(*) FROM nodes"), 120);

    /* a database that cannot be opened: the queue holds 2, the 3 others are dropped once the
     * writer has failed (those that came before wait for that) */
    snprintf(opt.path, sizeof(opt.path), "%s/missing/history.db", dir);
    opt.queue_runs = 2;
    sink = dp_history_sink_create(&opt, &tune);
    assert_non_null(sink);
    for (int i = 0; i < 5; i++) {
        sample(&s, (uint8_t)(0xa0 + i), 1700000000 + (uint64_t)i, "qa");
        assert_int_equal(dp_sink_on_run(sink, NULL, &s.p), 0);
    }
    dp_history_sink_get_counts(sink, &c);
    assert_true(c.write_failures >= 1);
    assert_int_equal(c.runs_dropped_full, 3);
    assert_int_equal(c.queued, 2);
    dp_sink_destroy(sink);
    remove_tree(dir);
}

static void test_unwritten_at_shutdown_counted(void **state)
{
    (void)state;
    make_dir();
    dp_history_options opt;
    dp_history_options_defaults(&opt);
    snprintf(opt.path, sizeof(opt.path), "%s/missing/history.db", dir);
    dp_history_sink_tuning tune = {.retry_ms = 10, .flush_wait_ms = 20};
    dp_sink *sink = dp_history_sink_create(&opt, &tune);
    assert_non_null(sink);
    sample_run s;
    sample(&s, 0x50, 1700000000, "qa");
    assert_int_equal(dp_sink_on_run(sink, NULL, &s.p), 0);
    dp_history_sink_counts c;
    WAIT_FOR(sink, c, c.write_failures >= 1);
    /* the telemetry figures come from the same counters */
    dp_telemetry t;
    dp_telemetry_init(&t);
    dp_history_sink_gather(sink, &t);
    assert_true(dp_telemetry_sum(&t, "dagprof_history_write_failures") >= 1);
    assert_true(dp_telemetry_sum(&t, "dagprof_history_queue_runs") == 1);
    dp_telemetry_free(&t);
    dp_sink_destroy(sink);
    remove_tree(dir);
}

static void test_default_path(void **state)
{
    (void)state;
    char path[256];
    setenv("XDG_STATE_HOME", "/var/state", 1);
    assert_int_equal(dp_history_default_path(path, sizeof(path)), 0);
    assert_string_equal(path, "/var/state/dagprof/history.db");
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", "/home/u", 1);
    assert_int_equal(dp_history_default_path(path, sizeof(path)), 0);
    assert_string_equal(path, "/home/u/.local/state/dagprof/history.db");
    /* a relative XDG_STATE_HOME is ignored, as the specification says */
    setenv("XDG_STATE_HOME", "rel", 1);
    assert_int_equal(dp_history_default_path(path, sizeof(path)), 0);
    assert_string_equal(path, "/home/u/.local/state/dagprof/history.db");
    unsetenv("XDG_STATE_HOME");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_and_read_back),
        cmocka_unit_test(test_load_report),
        cmocka_unit_test(test_whole_report_replaces_partial),
        cmocka_unit_test(test_retention_by_age),
        cmocka_unit_test(test_retention_by_size),
        cmocka_unit_test(test_migration_from_version_1),
        cmocka_unit_test(test_refused_databases),
        cmocka_unit_test(test_reader_while_sink_writes),
        cmocka_unit_test(test_reader_without_write_access),
        cmocka_unit_test(test_unavailable_database),
        cmocka_unit_test(test_unwritten_at_shutdown_counted),
        cmocka_unit_test(test_wait_when_full),
        cmocka_unit_test(test_default_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

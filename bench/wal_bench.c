/*
 * wal_bench: what it costs to make a request durable before answering it,
 * for the persistent queue's choice of storage (bench/README.md,
 * "Persistent queue"). Each mode appends --records records of --size bytes
 * (a loadgen request of ~200 spans is ~67 KB) from --threads threads, as
 * receiver threads would, and prints one key=value line:
 *
 *   wal-always    dagprof's log (storage/): writev, then an fdatasync that
 *                 concurrent appends share (group commit)
 *   wal-interval  the same, fdatasync every 100 ms in the background
 *   lmdb-always   LMDB: one write transaction per record, committed with
 *                 its sync (LMDB serialises writers, so no sharing)
 *   lmdb-nosync   LMDB with MDB_NOSYNC, mdb_env_sync every 100 ms
 *
 *   wal_bench --dir DIR --mode MODE [--records N] [--size BYTES] [--threads T]
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef DP_BENCH_LMDB
#include <lmdb.h>
#endif

#include "storage.h"

typedef struct bench {
    const char *dir, *mode;
    long records, size;
    int threads;
    dp_storage *storage;
#ifdef DP_BENCH_LMDB
    MDB_env *env;
    MDB_dbi dbi;
    volatile int stop_sync;
#endif
    uint8_t *payload;
    _Atomic long next_key;
    _Atomic long failed;
} bench;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *wal_worker(void *arg)
{
    bench *b = arg;
    for (;;) {
        long k = b->next_key++;
        if (k >= b->records)
            break;
        uint16_t seg;
        uint64_t seq;
        if (dp_storage_append(b->storage, DP_SIGNAL_TRACES, b->payload, (size_t)b->size, 1, &seg,
                              &seq) != 0 ||
            dp_storage_wait_durable(b->storage, seq) != 0)
            b->failed++;
    }
    return NULL;
}

#ifdef DP_BENCH_LMDB
static void *lmdb_worker(void *arg)
{
    bench *b = arg;
    for (;;) {
        long k = b->next_key++;
        if (k >= b->records)
            break;
        MDB_txn *txn;
        /* big-endian: keys in append order as LMDB compares them (memcmp) */
        uint8_t key[8];
        for (int i = 0; i < 8; i++)
            key[i] = (uint8_t)((uint64_t)k >> (56 - 8 * i));
        MDB_val kv = {sizeof(key), key}, dv = {(size_t)b->size, b->payload};
        if (mdb_txn_begin(b->env, NULL, 0, &txn) != 0) {
            b->failed++;
            continue;
        }
        /* keys from several threads may come out of order: no MDB_APPEND */
        if (mdb_put(txn, b->dbi, &kv, &dv, 0) != 0) {
            mdb_txn_abort(txn);
            b->failed++;
        } else if (mdb_txn_commit(txn) != 0) {
            b->failed++;
        }
    }
    return NULL;
}

static void *lmdb_syncer(void *arg)
{
    bench *b = arg;
    while (!b->stop_sync) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        mdb_env_sync(b->env, 1);
    }
    return NULL;
}

static int lmdb_open(bench *b, unsigned flags)
{
    MDB_txn *txn;
    if (mdb_env_create(&b->env) != 0 || mdb_env_set_mapsize(b->env, (size_t)4 << 30) != 0 ||
        mdb_env_open(b->env, b->dir, flags, 0600) != 0 || mdb_txn_begin(b->env, NULL, 0, &txn) ||
        mdb_dbi_open(txn, NULL, 0, &b->dbi) != 0 || mdb_txn_commit(txn) != 0)
        return -1;
    return 0;
}
#endif

int main(int argc, char **argv)
{
    bench b = {.records = 2000, .size = 67000, .threads = 4};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dir"))
            b.dir = argv[i + 1];
        else if (!strcmp(argv[i], "--mode"))
            b.mode = argv[i + 1];
        else if (!strcmp(argv[i], "--records"))
            b.records = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--size"))
            b.size = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            b.threads = atoi(argv[i + 1]);
    }
    if (!b.dir || !b.mode || b.threads < 1 || b.threads > 64 || b.size < 1) {
        fprintf(stderr, "usage: wal_bench --dir DIR --mode wal-always|wal-interval|lmdb-always|"
                        "lmdb-nosync [--records N] [--size BYTES] [--threads T]\n");
        return 2;
    }
    b.payload = malloc((size_t)b.size);
    for (long i = 0; i < b.size; i++)
        b.payload[i] = (uint8_t)(i * 131 + 7);
    void *(*worker)(void *) = NULL;
    uint64_t syncs = 0;
    pthread_t syncer;
    bool lmdb = strncmp(b.mode, "lmdb", 4) == 0;
    if (!lmdb) {
        dp_storage_options o;
        dp_storage_options_defaults(&o);
        snprintf(o.path, sizeof(o.path), "%s", b.dir);
        snprintf(o.sync, sizeof(o.sync), "%s", strcmp(b.mode, "wal-always") ? "100ms" : "always");
        o.max_size_bytes = (uint64_t)64 << 30;
        char err[512];
        if (dp_storage_open(&o, &b.storage, err, sizeof(err)) != 0) {
            fprintf(stderr, "wal_bench: %s\n", err);
            return 1;
        }
        worker = wal_worker;
    } else {
#ifdef DP_BENCH_LMDB
        mkdir(b.dir, 0700);
        bool nosync = strcmp(b.mode, "lmdb-nosync") == 0;
        if (lmdb_open(&b, nosync ? MDB_NOSYNC : 0) != 0) {
            fprintf(stderr, "wal_bench: cannot open LMDB in %s\n", b.dir);
            return 1;
        }
        worker = lmdb_worker;
        if (nosync)
            pthread_create(&syncer, NULL, lmdb_syncer, &b);
#else
        fprintf(stderr, "wal_bench: built without LMDB (liblmdb-dev)\n");
        return 1;
#endif
    }
    pthread_t t[64];
    double start = now_s();
    for (int i = 0; i < b.threads; i++)
        pthread_create(&t[i], NULL, worker, &b);
    for (int i = 0; i < b.threads; i++)
        pthread_join(t[i], NULL);
    double elapsed = now_s() - start;
    if (b.storage) {
        dp_storage_stats st;
        dp_storage_get_stats(b.storage, &st);
        syncs = st.syncs;
        dp_storage_close(b.storage);
    }
#ifdef DP_BENCH_LMDB
    if (b.env) {
        if (!strcmp(b.mode, "lmdb-nosync")) {
            b.stop_sync = 1;
            pthread_join(syncer, NULL);
        }
        mdb_env_close(b.env);
    }
#endif
    printf("mode=%s threads=%d records=%ld size=%ld failed=%ld elapsed_s=%.3f records_per_s=%.0f "
           "mb_per_s=%.1f syncs=%llu\n",
           b.mode, b.threads, b.records, b.size, (long)b.failed, elapsed, b.records / elapsed,
           b.records * (double)b.size / elapsed / 1e6, (unsigned long long)syncs);
    free(b.payload);
    return b.failed ? 1 : 0;
}

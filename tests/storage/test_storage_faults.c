/*
 * The persistent queue (storage/storage.h) when the system calls under it
 * fail: a read error while a segment is replayed, a failed fsync of the
 * directory after a new segment is created, a torn record that cannot be
 * cut off again, and segments rolled over while a sync step is using the
 * active segment's file. The calls are intercepted with the linker's
 * --wrap (tests/CMakeLists.txt): each wrapper fails only while its test
 * arms it and passes every other call to the real function.
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "storage.h"
#include "storage_fixture.h"

/* ---- the wrapped calls ------------------------------------------------ */

ssize_t __real_read(int fd, void *buf, size_t count);
ssize_t __real_writev(int fd, const struct iovec *iov, int iovcnt);
int __real_ftruncate(int fd, off_t length);
int __real_fsync(int fd);
int __real_fdatasync(int fd);

static struct {
    int read_fail;     /* reads of a replay: 1 = the next one fails with EIO */
    int fsync_fail;    /* 1 = the next fsync fails with EIO */
    ino_t fsynced[16]; /* the inodes fsync was called on, in order */
    int fsync_count;
    int writev_torn; /* 1 = the next writev writes only its first 10 bytes, the one after fails */
    int ftruncate_fail; /* 1 = every ftruncate fails with EIO */
    /* the rollover test: the next fdatasync first appends these records */
    dp_storage *roll_storage;
    int roll_records;
    bool roll_same_file; /* the fd synced is still the file it was when the sync began */
} faults;

ssize_t __wrap_read(int fd, void *buf, size_t count)
{
    if (faults.read_fail) {
        faults.read_fail = 0;
        errno = EIO;
        return -1;
    }
    return __real_read(fd, buf, count);
}

ssize_t __wrap_writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (faults.writev_torn == 1) {
        faults.writev_torn = 2;
        struct iovec part = {iov[0].iov_base, iov[0].iov_len < 10 ? iov[0].iov_len : 10};
        return __real_writev(fd, &part, 1);
    }
    if (faults.writev_torn == 2) {
        faults.writev_torn = 0;
        errno = EIO;
        return -1;
    }
    return __real_writev(fd, iov, iovcnt);
}

int __wrap_ftruncate(int fd, off_t length)
{
    if (faults.ftruncate_fail) {
        errno = EIO;
        return -1;
    }
    return __real_ftruncate(fd, length);
}

int __wrap_fsync(int fd)
{
    struct stat st;
    if (faults.fsync_count < 16 && fstat(fd, &st) == 0)
        faults.fsynced[faults.fsync_count++] = st.st_ino;
    if (faults.fsync_fail) {
        faults.fsync_fail = 0;
        errno = EIO;
        return -1;
    }
    return __real_fsync(fd);
}

int __wrap_fdatasync(int fd)
{
    dp_storage *s = faults.roll_storage;
    if (s) {
        /* a sync step is running (the storage's lock is free): roll the
         * active segment over meanwhile, as appends from other threads do */
        faults.roll_storage = NULL;
        struct stat before, after;
        int ok_before = fstat(fd, &before);
        char payload[80];
        memset(payload, 'r', sizeof(payload));
        for (int i = 0; i < faults.roll_records; i++) {
            uint16_t seg;
            uint64_t seq;
            assert_int_equal(dp_storage_append(s, DP_SIGNAL_METRICS, (const uint8_t *)payload,
                                               sizeof(payload), 1, &seg, &seq),
                             0);
        }
        faults.roll_same_file = ok_before == 0 && fstat(fd, &after) == 0 &&
                                before.st_ino == after.st_ino && before.st_dev == after.st_dev;
    }
    return __real_fdatasync(fd);
}

/* ---- fixture ------------------------------------------------------------ */

/* setup() of storage_fixture.h, with every wrapper disarmed */
static int setup_faults(void **state)
{
    memset(&faults, 0, sizeof(faults));
    return setup(state);
}

static int teardown_faults(void **state)
{
    memset(&faults, 0, sizeof(faults));
    return teardown(state);
}

/* Records left by a previous run, each one outstanding item. */
static void leave_records(const dp_storage_options *opt, const char *const *texts, int n)
{
    dp_storage *s = open_ok(opt);
    for (int i = 0; i < n; i++)
        append_ok(s, DP_SIGNAL_LOGS, texts[i], strlen(texts[i]), 1);
    dp_storage_close(s);
}

/* ---- tests ---------------------------------------------------------------- */

/* A segment whose read fails is not taken for an empty one: it stays on
 * disk, whole, and the next start replays every record in it. */
static void test_read_error_keeps_segment(void **state)
{
    fixture *f = *state;
    const char *texts[] = {"first", "second"};
    leave_records(&f->opt, texts, 2);

    dp_storage *s = open_ok(&f->opt);
    seen got;
    memset(&got, 0, sizeof(got));
    dp_storage_replay_stats st;
    faults.read_fail = 1;
    assert_int_equal(dp_storage_replay(s, collect, &got, &st), -1);
    assert_int_equal(got.count, 0);
    dp_storage_close(s);

    s = open_ok(&f->opt);
    memset(&got, 0, sizeof(got));
    assert_int_equal(dp_storage_replay(s, collect, &got, &st), 0);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.payload[0], "first");
    assert_string_equal(got.payload[1], "second");
    dp_storage_close(s);
}

/* The new segment's name must be durable before a record in it is
 * acknowledged: a failed fsync of the directory refuses the request, and
 * every later one, like a failed fdatasync. */
static void test_directory_fsync_failure_refuses(void **state)
{
    fixture *f = *state;
    dp_storage *s = open_ok(&f->opt);
    uint16_t seg;
    uint64_t seq;
    faults.fsync_fail = 1;
    int rc = dp_storage_append(s, DP_SIGNAL_LOGS, (const uint8_t *)"lost?", 5, 1, &seg, &seq);
    if (rc == 0)
        rc = dp_storage_wait_durable(s, seq);
    assert_int_equal(rc, DP_ECLOSED);
    /* the fsync works again, but what the kernel dropped is unknown */
    assert_int_equal(
        dp_storage_append(s, DP_SIGNAL_LOGS, (const uint8_t *)"later", 5, 1, &seg, &seq),
        DP_ECLOSED);
    dp_storage_stats stats;
    dp_storage_get_stats(s, &stats);
    assert_int_equal(stats.records, 0);
    dp_storage_close(s);
}

/* A record torn by a failed write that cannot be cut off again ends its
 * segment: the records acknowledged after it go to a new segment, so the
 * replay, which stops a segment at a torn record, still finds them. */
static void test_torn_record_not_followed(void **state)
{
    fixture *f = *state;
    dp_storage *s = open_ok(&f->opt);
    append_ok(s, DP_SIGNAL_LOGS, "before", 6, 1);
    uint16_t seg;
    uint64_t seq;
    faults.writev_torn = 1;
    faults.ftruncate_fail = 1;
    assert_int_equal(
        dp_storage_append(s, DP_SIGNAL_LOGS, (const uint8_t *)"torn record", 11, 1, &seg, &seq),
        DP_ECLOSED);
    faults.ftruncate_fail = 0;
    append_ok(s, DP_SIGNAL_LOGS, "after", 5, 1);
    dp_storage_close(s);

    s = open_ok(&f->opt);
    seen got;
    memset(&got, 0, sizeof(got));
    dp_storage_replay_stats st;
    assert_int_equal(dp_storage_replay(s, collect, &got, &st), 0);
    assert_int_equal(got.count, 2);
    assert_string_equal(got.payload[0], "before");
    assert_string_equal(got.payload[1], "after");
    /* the 10 bytes of the torn header, at the end of the first segment */
    assert_int_equal(st.corrupted_tails, 1);
    assert_int_equal(st.skipped_bytes, 10);
    dp_storage_close(s);
}

/* A storage.path that dagprof creates is made durable in its parent
 * before anything is written in it; when that fails, the storage does not
 * open. */
static void test_new_directory_synced_in_parent(void **state)
{
    fixture *f = *state;
    struct stat parent;
    assert_int_equal(stat(f->dir, &parent), 0); /* the fixture made it; q is new */
    dp_storage *s = open_ok(&f->opt);
    bool synced = false;
    for (int i = 0; i < faults.fsync_count; i++)
        synced = synced || faults.fsynced[i] == parent.st_ino;
    assert_true(synced);
    dp_storage_close(s);

    snprintf(f->opt.path, sizeof(f->opt.path), "%s/q2/", f->dir); /* a trailing slash too */
    faults.fsync_fail = 1;
    char err[512] = "";
    s = NULL;
    assert_int_equal(dp_storage_open(&f->opt, &s, err, sizeof(err)), -1);
    assert_null(s);
    assert_non_null(strstr(err, "fsync of "));
    assert_non_null(strstr(err, f->dir));
}

/* Two rollovers while a sync step runs fdatasync on the active segment
 * outside the lock: the file it syncs stays open under it (closed
 * meanwhile, its number could be another segment's, or invalid, and a
 * failed sync refuses every request until a restart). */
static void test_rollover_during_sync(void **state)
{
    fixture *f = *state;
    /* 80-byte payloads make 104-byte records: each one over 100 bytes gets
     * a segment of its own */
    f->opt.segment_size_bytes = 100;
    dp_storage *s = open_ok(&f->opt);
    char payload[80];
    memset(payload, 'p', sizeof(payload));
    uint16_t seg;
    uint64_t seq;
    assert_int_equal(dp_storage_append(s, DP_SIGNAL_METRICS, (const uint8_t *)payload,
                                       sizeof(payload), 1, &seg, &seq),
                     0);
    faults.roll_storage = s;
    faults.roll_records = 2;
    assert_int_equal(dp_storage_wait_durable(s, seq), 0);
    assert_null(faults.roll_storage); /* the rollovers did happen */
    assert_true(faults.roll_same_file);
    /* and the storage still takes requests */
    assert_int_equal(dp_storage_append(s, DP_SIGNAL_METRICS, (const uint8_t *)payload,
                                       sizeof(payload), 1, &seg, &seq),
                     0);
    assert_int_equal(dp_storage_wait_durable(s, seq), 0);
    dp_storage_stats stats;
    dp_storage_get_stats(s, &stats);
    assert_int_equal(stats.records, 4);
    assert_int_equal(stats.segments, 4);
    dp_storage_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_error_keeps_segment, setup_faults,
                                        teardown_faults),
        cmocka_unit_test_setup_teardown(test_directory_fsync_failure_refuses, setup_faults,
                                        teardown_faults),
        cmocka_unit_test_setup_teardown(test_torn_record_not_followed, setup_faults,
                                        teardown_faults),
        cmocka_unit_test_setup_teardown(test_rollover_during_sync, setup_faults, teardown_faults),
        cmocka_unit_test_setup_teardown(test_new_directory_synced_in_parent, setup_faults,
                                        teardown_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

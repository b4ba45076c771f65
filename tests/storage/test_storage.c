/*
 * The persistent queue's segments (storage/storage.h) on a real directory:
 * records replayed in order after a restart, a damaged tail skipped and
 * counted, segments deleted once closed and done (and only then), the
 * size limit answered with DP_EFULL, and run progress counting spans off
 * their segments. Sizes are worked out in each test from the record
 * layout: a record is a 24-byte header plus its payload.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "storage.h"
#include "storage_fixture.h"

/* Records outlive a close while outstanding, come back in order, and a
 * garbage tail is skipped and counted; done, the segment is deleted. */
static void test_replay_and_damaged_tail(void **state)
{
    fixture *f = *state;
    dp_storage *s = open_ok(&f->opt);
    append_ok(s, DP_SIGNAL_TRACES, "one", 3, 2);
    append_ok(s, DP_SIGNAL_METRICS, "two", 3, 1);
    append_ok(s, DP_SIGNAL_LOGS, "three", 5, 1);
    dp_storage_close(s); /* 4 items outstanding: the file stays */
    assert_int_equal(count_segments(f->opt.path), 1);

    /* a torn write at the end: 10 bytes that are not a record */
    char file[1400];
    DIR *d = opendir(f->opt.path);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "wal-", 4) == 0)
            snprintf(file, sizeof(file), "%s/%s", f->opt.path, e->d_name);
    closedir(d);
    FILE *fp = fopen(file, "ab");
    assert_non_null(fp);
    fwrite("DPW1garbag", 1, 10, fp);
    fclose(fp);

    s = open_ok(&f->opt);
    seen got;
    memset(&got, 0, sizeof(got));
    dp_storage_replay_stats st;
    assert_int_equal(dp_storage_replay(s, collect, &got, &st), 0);
    assert_int_equal(got.count, 3);
    assert_string_equal(got.payload[0], "one");
    assert_string_equal(got.payload[1], "two");
    assert_string_equal(got.payload[2], "three");
    assert_int_equal(got.signal[0], DP_SIGNAL_TRACES);
    assert_int_equal(got.signal[1], DP_SIGNAL_METRICS);
    assert_int_equal(got.signal[2], DP_SIGNAL_LOGS);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.bytes, 3 + 3 + 5);
    assert_int_equal(st.corrupted_tails, 1);
    assert_int_equal(st.skipped_bytes, 10);
    /* the callback counted nothing in: the replayed segment is done and gone */
    assert_int_equal(count_segments(f->opt.path), 0);
    dp_storage_close(s);
}

/* dp_storage_close(s), with what it logs (stderr) copied into said. */
static void close_logged(dp_storage *s, char *said, size_t cap)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
    dp_storage_close(s);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(said, 1, cap - 1, tmp);
    said[n] = 0;
    fclose(tmp);
}

/* A callback that says stop after `stop_after` records (shutting down). */
typedef struct stopper {
    int taken, stop_after;
} stopper;

static int take_then_stop(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                          uint16_t segment)
{
    (void)signal;
    (void)data;
    (void)len;
    (void)segment;
    stopper *st = ctx;
    if (st->taken == st->stop_after)
        return DP_STORAGE_REPLAY_STOP;
    st->taken++;
    return 0;
}

/* A replay stopped in the second of three segments: the first (replayed
 * whole, nothing counted in) is done and deleted; the second and third stay
 * whole, and the next start replays all their records again. */
static void test_replay_stopped(void **state)
{
    fixture *f = *state;
    f->opt.segment_size_bytes = 64 * 1024;
    dp_storage *s = open_ok(&f->opt);
    static char big[40000];
    /* 40,024-byte records in 64 KiB segments: one record per segment */
    append_ok(s, DP_SIGNAL_TRACES, big, sizeof(big), 1);
    append_ok(s, DP_SIGNAL_TRACES, big, sizeof(big), 1);
    append_ok(s, DP_SIGNAL_TRACES, big, sizeof(big), 1);
    dp_storage_close(s);
    assert_int_equal(count_segments(f->opt.path), 3);

    s = open_ok(&f->opt);
    stopper st = {0, 1};
    dp_storage_replay_stats rs;
    assert_int_equal(dp_storage_replay(s, take_then_stop, &st, &rs), 0);
    assert_true(rs.stopped);
    assert_int_equal(rs.records, 1);
    assert_int_equal(st.taken, 1);
    dp_storage_stats ss;
    dp_storage_get_stats(s, &ss);
    assert_int_equal(ss.replayed_records, 1);
    /* the closing log line names the two segments never replayed, not
     * "0 items not yet done" */
    char said[1024];
    close_logged(s, said, sizeof(said));
    assert_non_null(strstr(said, "2 segment file(s) kept in"));
    assert_non_null(strstr(said, "0 item(s) not yet done in 0, and 2 not replayed"));
    assert_int_equal(count_segments(f->opt.path), 2);

    s = open_ok(&f->opt);
    seen got;
    memset(&got, 0, sizeof(got));
    assert_int_equal(dp_storage_replay(s, collect, &got, &rs), 0);
    assert_false(rs.stopped);
    assert_int_equal(got.count, 2);
    dp_storage_close(s);
    assert_int_equal(count_segments(f->opt.path), 0);
}

/* A closed segment goes when its last item is done; the active one stays
 * until the storage closes. */
static void test_segment_deleted_when_closed_and_done(void **state)
{
    fixture *f = *state;
    f->opt.segment_size_bytes = 64 * 1024;
    dp_storage *s = open_ok(&f->opt);
    static char big[40000];
    memset(big, 'x', sizeof(big));
    /* 40024 bytes a record: the second would pass 64 KiB, so it starts segment 2 */
    uint16_t a = append_ok(s, DP_SIGNAL_TRACES, big, sizeof(big), 3);
    uint16_t b = append_ok(s, DP_SIGNAL_TRACES, big, sizeof(big), 1);
    assert_int_not_equal(a, b);
    assert_int_equal(count_segments(f->opt.path), 2);
    dp_storage_unpin(s, a, 2);
    assert_int_equal(count_segments(f->opt.path), 2); /* one item of a left */
    dp_storage_unpin(s, a, 1);
    assert_int_equal(count_segments(f->opt.path), 1);
    dp_storage_unpin(s, b, 1);
    assert_int_equal(count_segments(f->opt.path), 1); /* b is active */
    dp_storage_stats st;
    dp_storage_get_stats(s, &st);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.bytes, 40024);
    assert_int_equal(st.outstanding, 0);
    dp_storage_close(s);
    assert_int_equal(count_segments(f->opt.path), 0);
}

/* 1 MiB holds floor(1048576 / 102424) = 10 records of 100 KiB (each in a
 * segment of its own, being over the 64 KiB segment size); the 11th is
 * refused until a segment is done. */
static void test_max_size(void **state)
{
    fixture *f = *state;
    f->opt.segment_size_bytes = 64 * 1024;
    f->opt.max_size_bytes = 1024 * 1024;
    dp_storage *s = open_ok(&f->opt);
    static uint8_t payload[100 * 1024];
    uint16_t first = 0;
    for (int i = 0; i < 10; i++) {
        uint16_t seg = append_ok(s, DP_SIGNAL_TRACES, payload, sizeof(payload), 1);
        if (i == 0)
            first = seg;
    }
    uint16_t seg;
    uint64_t seq;
    assert_int_equal(
        dp_storage_append(s, DP_SIGNAL_TRACES, payload, sizeof(payload), 1, &seg, &seq), DP_EFULL);
    dp_storage_stats st;
    dp_storage_get_stats(s, &st);
    assert_int_equal(st.refused_full, 1);
    assert_int_equal(st.bytes, 10 * 102424);
    dp_storage_unpin(s, first, 1);
    assert_int_equal(
        dp_storage_append(s, DP_SIGNAL_TRACES, payload, sizeof(payload), 1, &seg, &seq), 0);
    dp_storage_close(s);
}

/* A run's spans from two segments: counted off only when the last holder
 * is done; a holder that was not done keeps them outstanding. */
static void test_progress(void **state)
{
    fixture *f = *state;
    f->opt.segment_size_bytes = 64 * 1024;
    dp_storage *s = open_ok(&f->opt);
    static char big[40000];
    uint16_t a = append_ok(s, DP_SIGNAL_TRACES, big, sizeof(big), 2);
    uint16_t b = append_ok(s, DP_SIGNAL_TRACES, big, sizeof(big), 1);
    append_ok(s, DP_SIGNAL_TRACES, big, sizeof(big), 1); /* closes b */
    assert_int_equal(count_segments(f->opt.path), 3);

    dp_span_ref spans[3];
    memset(spans, 0, sizeof(spans));
    spans[0].storage_segment = a;
    spans[1].storage_segment = b;
    spans[2].storage_segment = a;
    dp_run_record run;
    memset(&run, 0, sizeof(run));
    run.spans = spans;
    run.span_count = 3;

    dp_progress *p = dp_storage_progress_for_run(s, &run);
    assert_non_null(p);
    dp_progress_hold(p); /* an output that delivers later */
    dp_progress_release(p, true);
    assert_int_equal(count_segments(f->opt.path), 3);
    dp_progress_release(p, true); /* delivered: a (2 spans) and b (1) are done */
    assert_int_equal(count_segments(f->opt.path), 1);

    /* the same again on a fresh pair, with a holder that was not done */
    dp_storage_close(s);
    s = open_ok(&f->opt);
    seen got;
    memset(&got, 0, sizeof(got));
    got.pin = s;
    assert_int_equal(dp_storage_replay(s, collect, &got, NULL), 0);
    assert_int_equal(got.count, 1); /* the third record, still outstanding */
    dp_progress *q = dp_storage_progress_for_items(s, got.segment[0], 1);
    dp_progress_release(q, false);
    assert_int_equal(count_segments(f->opt.path), 1);
    dp_storage_close(s);
    assert_int_equal(count_segments(f->opt.path), 1);
}

static void test_sync_values(void **state)
{
    (void)state;
    assert_int_equal(dp_storage_sync_interval_ms("always"), 0);
    assert_int_equal(dp_storage_sync_interval_ms("100ms"), 100);
    assert_int_equal(dp_storage_sync_interval_ms("2s"), 2000);
    assert_int_equal(dp_storage_sync_interval_ms("0ms"), -1);
    assert_int_equal(dp_storage_sync_interval_ms("sometimes"), -1);
    assert_int_equal(dp_storage_sync_interval_ms("5m"), -1);
    assert_int_equal(dp_storage_sync_interval_ms("-1s"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_and_damaged_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_deleted_when_closed_and_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_stopped, setup, teardown),
        cmocka_unit_test(test_sync_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

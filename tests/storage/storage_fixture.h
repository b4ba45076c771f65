/*
 * What the persistent queue's tests share (test_storage.c,
 * test_storage_faults.c): a fresh directory per test with the storage
 * options pointing into it ("always" sync), opening and appending that must
 * succeed, and a replay callback that keeps what it is handed.
 */
#ifndef DP_TEST_STORAGE_FIXTURE_H
#define DP_TEST_STORAGE_FIXTURE_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "storage.h"

typedef struct fixture {
    char dir[256];
    dp_storage_options opt;
} fixture;

static inline int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/dp-storage-test-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    dp_storage_options_defaults(&f->opt);
    snprintf(f->opt.path, sizeof(f->opt.path), "%s/q", f->dir);
    snprintf(f->opt.sync, sizeof(f->opt.sync), "always");
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    fixture *f = *state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static inline int count_segments(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "wal-", 4) == 0)
            n++;
    closedir(d);
    return n;
}

static inline dp_storage *open_ok(const dp_storage_options *opt)
{
    char err[512] = "";
    dp_storage *s = NULL;
    if (dp_storage_open(opt, &s, err, sizeof(err)) != 0)
        fail_msg("open: %s", err);
    return s;
}

static inline uint16_t append_ok(dp_storage *s, enum dp_signal sig, const void *data, size_t len,
                                 uint64_t items)
{
    uint16_t seg = 0;
    uint64_t seq = 0;
    assert_int_equal(dp_storage_append(s, sig, data, len, items, &seg, &seq), 0);
    assert_int_equal(dp_storage_wait_durable(s, seq), 0);
    return seg;
}

typedef struct seen {
    dp_storage *pin; /* when set, each record's item is counted in, as ingest does */
    int count;
    char payload[8][32];
    enum dp_signal signal[8];
    uint16_t segment[8];
} seen;

static inline int collect(void *ctx, enum dp_signal signal, const uint8_t *data, size_t len,
                          uint16_t segment)
{
    seen *s = ctx;
    if (s->count < 8 && len < 32) {
        memcpy(s->payload[s->count], data, len);
        s->payload[s->count][len] = 0;
        s->signal[s->count] = signal;
        s->segment[s->count] = segment;
    }
    if (s->pin)
        dp_storage_pin(s->pin, segment, 1);
    s->count++;
    return 0;
}

#endif

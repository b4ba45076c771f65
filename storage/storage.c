/*
 * The persistent queue's write-ahead log (storage.h).
 *
 * Appends take one mutex: the record is written with one writev() into the
 * active segment (the page cache), which is all a SIGKILL needs. Durability
 * against a machine crash is the sync policy's: with "always" a caller
 * waits in dp_storage_wait_durable() for an fdatasync covering its record;
 * the first waiter runs it outside the mutex and everyone whose record it
 * covers returns with it (group commit). With an interval, a background
 * thread runs the same step every interval and nobody waits.
 *
 * Segments are kept in a table of 65536 slots indexed by the low 16 bits
 * of their sequence, so a span's 16-bit tag finds its segment in O(1).
 * Outstanding counts are signed: while a segment is replayed its items are
 * counted in as they are re-ingested and may be counted off by a finished
 * run before the replay reaches the end, so the segment is not deleted
 * until its replay is over.
 */
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "wal_record.h"

#define COMPONENT "storage"
#define SLOT_COUNT 65536u
#define SLOT_MASK 0xFFFFu
/* Replay: how long to wait before offering a record again to a full table. */
#define REPLAY_RETRY_MS 5
/* ... and after how long a wait that is said once */
#define REPLAY_WARN_MS 10000

typedef struct segment {
    uint64_t seq;        /* file wal-<seq>.log */
    int64_t outstanding; /* items not yet done */
    uint64_t bytes;      /* file size */
    bool live;           /* the file exists */
    bool closed;         /* no more appends: deletable at outstanding 0 */
    bool replaying;      /* being replayed: not deletable yet */
} segment;

struct dp_storage {
    dp_storage_options opt;
    int64_t interval_ms; /* 0 = "always" */
    int dirfd;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    segment *slots; /* SLOT_COUNT */
    uint64_t live_segments, total_bytes;
    int active_fd;  /* -1 until the first append */
    int closing_fd; /* a closed segment's file not yet synced, or -1 */
    int step_fd;    /* the active segment's file a sync step is syncing outside mu, or -1 */
    int retired_fd; /* step_fd closed meanwhile: the step closes it when done, or -1 */
    uint64_t active_seq, next_segment_seq;
    uint64_t next_record_seq, written_seq, synced_seq;
    bool syncing, sync_failed;

    pthread_t syncer;
    bool syncer_started, stopping;

    atomic_ullong refused_full, syncs, records;
    atomic_ullong replayed_records, corrupted_tails, skipped_bytes; /* the replay at start */
};

static segment *slot_of(dp_storage *s, uint64_t seq)
{
    return &s->slots[seq & SLOT_MASK];
}

static void segment_name(uint64_t seq, char *out, size_t outlen)
{
    snprintf(out, outlen, "wal-%020" PRIu64 ".log", seq);
}

int64_t dp_storage_sync_interval_ms(const char *sync)
{
    if (strcmp(sync, "always") == 0)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(sync, &end, 10);
    if (end == sync || errno || sync[0] == '-')
        return -1;
    uint64_t scale;
    if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (strcmp(end, "s") == 0)
        scale = 1000;
    else
        return -1;
    if (v == 0 || v > 3600000ull / scale)
        return -1;
    return (int64_t)(v * scale);
}

/* Delete a closed segment with nothing outstanding; mu held. */
static void maybe_delete(dp_storage *s, segment *g)
{
    if (!g->live || !g->closed || g->replaying || g->outstanding > 0)
        return;
    char name[64];
    segment_name(g->seq, name, sizeof(name));
    if (unlinkat(s->dirfd, name, 0) != 0 && errno != ENOENT)
        dp_log_warn(COMPONENT, "cannot delete %s/%s: %s", s->opt.path, name, strerror(errno));
    if (g->outstanding < 0)
        dp_log_debug(COMPONENT, "segment %s counted off %" PRId64 " more than it held", name,
                     -g->outstanding);
    g->live = false;
    s->live_segments--;
    s->total_bytes -= g->bytes;
}

/* fdatasync, counted and logged; false on failure. */
static bool sync_fd(dp_storage *s, int fd)
{
    int rc = fdatasync(fd);
    atomic_fetch_add(&s->syncs, 1);
    if (rc != 0)
        dp_log_error(COMPONENT, "fdatasync in %s failed: %s; requests are refused from now on",
                     s->opt.path, strerror(errno));
    return rc == 0;
}

/* One sync step: fdatasync what was written (the segment closed since the
 * last step, then the active one) if anything is unsynced and nobody else
 * is at it. mu held on entry and exit, released around the calls, so
 * appends go on meanwhile. Returns false when another step is running. */
static bool sync_step(dp_storage *s)
{
    if (s->syncing)
        return false;
    if (s->synced_seq >= s->written_seq && s->closing_fd < 0)
        return true;
    uint64_t target = s->written_seq;
    int closing = s->closing_fd, active = s->active_fd;
    s->closing_fd = -1;
    s->step_fd = active;
    s->syncing = true;
    pthread_mutex_unlock(&s->mu);
    bool ok = true;
    if (closing >= 0) {
        ok = sync_fd(s, closing);
        close(closing);
    }
    if (ok && active >= 0)
        ok = sync_fd(s, active);
    pthread_mutex_lock(&s->mu);
    s->syncing = false;
    s->step_fd = -1;
    if (s->retired_fd >= 0) {
        close(s->retired_fd);
        s->retired_fd = -1;
    }
    if (!ok)
        s->sync_failed = true;
    else if (target > s->synced_seq)
        s->synced_seq = target;
    pthread_cond_broadcast(&s->cond);
    return true;
}

static void *syncer_main(void *arg)
{
    dp_storage *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec deadline = dp_clock_deadline((uint64_t)s->interval_ms);
        pthread_cond_timedwait(&s->cond, &s->mu, &deadline);
        if (!s->stopping)
            sync_step(s);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Close the active segment; mu held. Its file is synced and closed by the
 * next sync step (the interval's, or the next waiter's with "always"),
 * outside the lock; only when one is still waiting for that is it done
 * here. That one may be the file a sync step in flight is syncing (it was
 * active when the step began): the step closes it when it is done, so its
 * number is not given to a new segment under it. */
static void close_active(dp_storage *s)
{
    if (s->active_fd < 0)
        return;
    if (s->closing_fd >= 0) {
        bool ok = sync_fd(s, s->closing_fd);
        if (s->closing_fd == s->step_fd)
            s->retired_fd = s->closing_fd;
        else
            close(s->closing_fd);
        if (!ok)
            s->sync_failed = true;
    }
    s->closing_fd = s->active_fd;
    s->active_fd = -1;
    segment *g = slot_of(s, s->active_seq);
    g->closed = true;
    maybe_delete(s, g);
}

/* Start a new active segment; mu held. 0, DP_EFULL (disk full or every
 * slot taken) or DP_ECLOSED. */
static int open_active(dp_storage *s)
{
    uint64_t seq = s->next_segment_seq;
    segment *g = slot_of(s, seq);
    if (g->live) {
        dp_log_warn(COMPONENT, "65535 segments alive in %s: refusing requests until some are done",
                    s->opt.path);
        return DP_EFULL;
    }
    char name[64];
    segment_name(seq, name, sizeof(name));
    int fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        if (err == ENOSPC || err == EDQUOT)
            return DP_EFULL;
        dp_log_error(COMPONENT, "cannot create %s/%s: %s", s->opt.path, name, strerror(err));
        return DP_ECLOSED;
    }
    /* the new file's name is durable before a record in it is acknowledged;
     * a failed fsync is a failed sync: nothing more is acknowledged on this
     * disk until a restart */
    if (fsync(s->dirfd) != 0) {
        dp_log_error(COMPONENT,
                     "fsync of directory %s failed: %s; requests are refused from now on",
                     s->opt.path, strerror(errno));
        close(fd);
        unlinkat(s->dirfd, name, 0);
        s->sync_failed = true;
        return DP_ECLOSED;
    }
    *g = (segment){.seq = seq, .live = true};
    s->live_segments++;
    s->next_segment_seq++;
    s->active_fd = fd;
    s->active_seq = seq;
    return 0;
}

static int write_record(dp_storage *s, const uint8_t *header, const uint8_t *data, size_t len)
{
    struct iovec iov[2] = {{(void *)header, DP_WAL_HEADER_BYTES}, {(void *)data, len}};
    size_t total = DP_WAL_HEADER_BYTES + len, done = 0;
    segment *g = slot_of(s, s->active_seq);
    while (done < total) {
        struct iovec v[2];
        int n = 0;
        size_t skip = done;
        for (int i = 0; i < 2; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            v[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
            v[n].iov_len = iov[i].iov_len - skip;
            skip = 0;
            n++;
        }
        ssize_t w = writev(s->active_fd, v, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = w < 0 ? errno : ENOSPC;
            /* take the torn record back off, so the segment stays readable;
             * when that fails the torn bytes end the segment (a replay stops
             * there): the next record goes to a new one */
            if (done && ftruncate(s->active_fd, (off_t)g->bytes) != 0) {
                dp_log_warn(COMPONENT,
                            "cannot truncate a partial record in %s: %s; starting a new segment",
                            s->opt.path, strerror(errno));
                g->bytes += done;
                s->total_bytes += done;
                close_active(s);
            }
            if (err == ENOSPC || err == EDQUOT)
                return DP_EFULL;
            dp_log_error(COMPONENT, "write to %s failed: %s", s->opt.path, strerror(err));
            return DP_ECLOSED;
        }
        done += (size_t)w;
    }
    return 0;
}

int dp_storage_append(dp_storage *s, enum dp_signal signal, const uint8_t *data, size_t len,
                      uint64_t items, uint16_t *segment_tag, uint64_t *sequence)
{
    if (len > DP_WAL_MAX_PAYLOAD)
        return DP_EINVAL;
    uint8_t header[DP_WAL_HEADER_BYTES];
    uint64_t size = DP_WAL_HEADER_BYTES + (uint64_t)len;
    int rc;
    if (size > s->opt.max_size_bytes)
        return DP_EINVAL; /* could never fit: not worth a retry */
    /* the payload's checksum outside the lock: appends serialise only on
     * the write itself */
    uint32_t crc = dp_wal_payload_crc(data, len);

    pthread_mutex_lock(&s->mu);
    if (s->sync_failed) {
        rc = DP_ECLOSED;
        goto out;
    }
    /* a record never straddles segments; one larger than a segment gets
     * one of its own */
    if (s->active_fd >= 0 && slot_of(s, s->active_seq)->bytes > 0 &&
        slot_of(s, s->active_seq)->bytes + size > s->opt.segment_size_bytes)
        close_active(s);
    if (s->total_bytes + size > s->opt.max_size_bytes) {
        rc = DP_EFULL;
        goto out;
    }
    if (s->active_fd < 0 && (rc = open_active(s)) != 0)
        goto out;
    uint64_t seq = ++s->next_record_seq;
    dp_wal_header_encode(header, signal, seq, len, crc);
    if ((rc = write_record(s, header, data, len)) != 0)
        goto out;
    segment *g = slot_of(s, s->active_seq);
    g->bytes += size;
    g->outstanding += (int64_t)items;
    s->total_bytes += size;
    s->written_seq = seq;
    *segment_tag = (uint16_t)(s->active_seq & SLOT_MASK);
    *sequence = seq;
    atomic_fetch_add(&s->records, 1);
out:
    pthread_mutex_unlock(&s->mu);
    if (rc == DP_EFULL)
        atomic_fetch_add(&s->refused_full, 1);
    return rc;
}

int dp_storage_wait_durable(dp_storage *s, uint64_t sequence)
{
    if (s->interval_ms)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    while (s->synced_seq < sequence && !s->sync_failed) {
        if (!sync_step(s))
            pthread_cond_wait(&s->cond, &s->mu);
    }
    if (s->synced_seq < sequence)
        rc = DP_ECLOSED;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void dp_storage_pin(dp_storage *s, uint16_t tag, uint64_t items)
{
    pthread_mutex_lock(&s->mu);
    s->slots[tag].outstanding += (int64_t)items;
    pthread_mutex_unlock(&s->mu);
}

void dp_storage_unpin(dp_storage *s, uint16_t tag, uint64_t items)
{
    pthread_mutex_lock(&s->mu);
    segment *g = &s->slots[tag];
    g->outstanding -= (int64_t)items;
    maybe_delete(s, g);
    pthread_mutex_unlock(&s->mu);
}

/* "wal-<digits>.log" -> its sequence; false for any other name. */
static bool parse_segment_name(const char *name, uint64_t *seq)
{
    size_t n = strlen(name);
    if (n < 9 || strncmp(name, "wal-", 4) != 0 || strcmp(name + n - 4, ".log") != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 4; i < n - 4; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *seq = v;
    return true;
}

/* Register the segments a previous run left: closed, to be replayed. */
static int list_segments(dp_storage *s, char *err, size_t errlen)
{
    int fd = dup(s->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "storage.path %s: cannot list: %s", s->opt.path, strerror(errno));
        return -1;
    }
    struct dirent *e;
    uint64_t max_seq = 0;
    while ((e = readdir(d))) {
        uint64_t seq;
        struct stat st;
        if (!parse_segment_name(e->d_name, &seq) || fstatat(s->dirfd, e->d_name, &st, 0) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        segment *g = slot_of(s, seq);
        if (g->live) {
            closedir(d);
            snprintf(err, errlen, "storage.path %s: more than 65535 segment files", s->opt.path);
            return -1;
        }
        *g = (segment){.seq = seq,
                       .bytes = (uint64_t)st.st_size,
                       .live = true,
                       .closed = true,
                       .replaying = true};
        s->live_segments++;
        s->total_bytes += (uint64_t)st.st_size;
        if (seq > max_seq)
            max_seq = seq;
    }
    closedir(d);
    s->next_segment_seq = max_seq + 1;
    return 0;
}

/* The directory `path` was just created: make its name in its parent
 * durable too, or a machine crash could take the whole queue with it (the
 * segments' names are synced in it, but not it in its parent). */
static int sync_parent(const char *path, char *err, size_t errlen)
{
    char parent[sizeof(((dp_storage_options *)0)->path)];
    snprintf(parent, sizeof(parent), "%s", path);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = 0;
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof(parent), ".");
    else if (slash == parent)
        parent[1] = 0;
    else
        *slash = 0;
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "storage.path %s: created, but fsync of %s failed: %s", path, parent,
                 strerror(e));
        return -1;
    }
    close(fd);
    return 0;
}

int dp_storage_open(const dp_storage_options *opt, dp_storage **out, char *err, size_t errlen)
{
    *out = NULL;
    int64_t interval = dp_storage_sync_interval_ms(opt->sync);
    if (interval < 0) {
        snprintf(err, errlen, "storage.sync: \"%s\" is neither always nor a duration (100ms, 1s)",
                 opt->sync);
        return -1;
    }
    if (opt->segment_size_bytes == 0 || opt->max_size_bytes < opt->segment_size_bytes) {
        snprintf(err, errlen, "storage.max_size must be at least storage.segment_size");
        return -1;
    }
    if (mkdir(opt->path, 0700) == 0) {
        if (sync_parent(opt->path, err, errlen) != 0)
            return -1;
    } else if (errno != EEXIST) {
        snprintf(err, errlen, "storage.path %s: cannot create: %s", opt->path, strerror(errno));
        return -1;
    }
    dp_storage *s = calloc(1, sizeof(*s));
    segment *slots = s ? calloc(SLOT_COUNT, sizeof(*slots)) : NULL;
    if (!slots) {
        free(s);
        snprintf(err, errlen, "out of memory opening the storage");
        return -1;
    }
    s->opt = *opt;
    s->slots = slots;
    s->interval_ms = interval;
    s->active_fd = -1;
    s->closing_fd = -1;
    s->step_fd = -1;
    s->retired_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->dirfd = open(opt->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        snprintf(err, errlen, "storage.path %s: cannot open: %s", opt->path, strerror(errno));
        goto fail;
    }
    if (list_segments(s, err, errlen) != 0)
        goto fail;
    if (interval) {
        if (pthread_create(&s->syncer, NULL, syncer_main, s) != 0) {
            snprintf(err, errlen, "cannot start the storage sync thread");
            goto fail;
        }
        s->syncer_started = true;
    }
    *out = s;
    return 0;
fail:
    dp_storage_close(s);
    return -1;
}

void dp_storage_close(dp_storage *s)
{
    if (!s)
        return;
    if (s->syncer_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->syncer, NULL);
    }
    pthread_mutex_lock(&s->mu);
    close_active(s);
    while (s->syncing)
        pthread_cond_wait(&s->cond, &s->mu);
    sync_step(s);
    /* segments not replayed (a start that failed, a replay stopped or a
     * segment that could not be read) stay as they are: their items were
     * never counted in, so they are counted apart */
    uint64_t left = 0, items = 0, unreplayed = 0;
    for (uint32_t i = 0; i < SLOT_COUNT; i++) {
        segment *g = &s->slots[i];
        if (!g->live)
            continue;
        maybe_delete(s, g);
        if (g->live) {
            left++;
            if (g->replaying)
                unreplayed++;
            else
                items += g->outstanding > 0 ? (uint64_t)g->outstanding : 0;
        }
    }
    pthread_mutex_unlock(&s->mu);
    uint64_t records = atomic_load(&s->records), syncs = atomic_load(&s->syncs);
    if (records)
        dp_log_info(COMPONENT,
                    "%" PRIu64 " record(s) appended, %" PRIu64 " fdatasync call(s), %" PRIu64
                    " request(s) refused for want of room",
                    records, syncs, (uint64_t)atomic_load(&s->refused_full));
    if (left && s->dirfd >= 0)
        dp_log_info(COMPONENT,
                    "%" PRIu64 " segment file(s) kept in %s for the next start: %" PRIu64
                    " item(s) not yet done in %" PRIu64 ", and %" PRIu64
                    " not replayed (every record in them)",
                    left, s->opt.path, items, left - unreplayed, unreplayed);
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s->slots);
    free(s);
}

/* Read a whole segment file into memory; NULL with errno on failure. */
static uint8_t *read_file(int dirfd, const char *name, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0)
        goto out;
    buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf)
        goto out;
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            /* not an end of file: what follows is unknown, and a segment
             * replayed is deleted once done, so it must not pass for one */
            free(buf);
            buf = NULL;
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *len = got;
out:;
    int saved = errno;
    close(fd);
    errno = saved;
    return buf;
}

/* Replay one segment's records. */
static int replay_segment(dp_storage *s, segment *g, dp_storage_replay_fn fn, void *ctx,
                          dp_storage_replay_stats *st)
{
    char name[64];
    size_t len = 0;
    segment_name(g->seq, name, sizeof(name));
    uint8_t *buf = read_file(s->dirfd, name, &len);
    if (!buf) {
        dp_log_error(COMPONENT, "cannot read %s/%s: %s; it is kept", s->opt.path, name,
                     strerror(errno));
        return -1;
    }
    st->segments++;
    uint16_t tag = (uint16_t)(g->seq & SLOT_MASK);
    size_t off = 0;
    for (;;) {
        dp_wal_record r;
        int rc = dp_wal_record_read(buf + off, len - off, &r);
        if (rc == DP_WAL_END)
            break;
        if (rc != DP_WAL_RECORD) {
            st->corrupted_tails++;
            st->skipped_bytes += len - off;
            dp_log_warn(COMPONENT,
                        "%s/%s: %s record at offset %zu; skipping the rest of the file (%zu "
                        "bytes)",
                        s->opt.path, name, rc == DP_WAL_TRUNCATED ? "truncated" : "corrupted", off,
                        len - off);
            break;
        }
        uint64_t waited = 0;
        int taken;
        while ((taken = fn(ctx, r.signal, r.payload, r.payload_len, tag)) != 0) {
            if (taken == DP_STORAGE_REPLAY_STOP) {
                st->stopped = true;
                free(buf);
                return 1;
            }
            /* the table or the upstream queue is full: the engine is
             * draining it, offer the record again shortly */
            st->retries++;
            struct timespec ts = {0, REPLAY_RETRY_MS * 1000000L};
            nanosleep(&ts, NULL);
            if ((waited += REPLAY_RETRY_MS) == REPLAY_WARN_MS)
                dp_log_warn(COMPONENT,
                            "%s/%s: the record at offset %zu has waited %d s for room in the "
                            "trace table or the upstream queue; still trying",
                            s->opt.path, name, off, REPLAY_WARN_MS / 1000);
        }
        st->records++;
        st->bytes += r.payload_len;
        off += r.record_len;
    }
    free(buf);
    return 0;
}

int dp_storage_replay(dp_storage *s, dp_storage_replay_fn fn, void *ctx,
                      dp_storage_replay_stats *out)
{
    dp_storage_replay_stats st;
    memset(&st, 0, sizeof(st));
    int result = 0;
    /* oldest first: sequences below next_segment_seq, in order */
    uint64_t first = s->next_segment_seq > SLOT_COUNT ? s->next_segment_seq - SLOT_COUNT : 0;
    for (uint64_t seq = first; seq < s->next_segment_seq; seq++) {
        segment *g = slot_of(s, seq);
        pthread_mutex_lock(&s->mu);
        bool mine = g->live && g->replaying && g->seq == seq;
        pthread_mutex_unlock(&s->mu);
        if (!mine)
            continue;
        int rc = replay_segment(s, g, fn, ctx, &st);
        if (rc == 1)
            break; /* stopped: this segment and the later ones stay whole (replaying keeps them) */
        if (rc != 0) {
            result = -1;
            continue; /* unreadable: left as it is (replaying keeps it) */
        }
        pthread_mutex_lock(&s->mu);
        g->replaying = false;
        maybe_delete(s, g);
        pthread_mutex_unlock(&s->mu);
    }
    atomic_store(&s->replayed_records, st.records);
    atomic_store(&s->corrupted_tails, st.corrupted_tails);
    atomic_store(&s->skipped_bytes, st.skipped_bytes);
    if (out)
        *out = st;
    return result;
}

void dp_storage_get_stats(dp_storage *s, dp_storage_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->mu);
    out->segments = s->live_segments;
    out->bytes = s->total_bytes;
    for (uint32_t i = 0; i < SLOT_COUNT && out->segments; i++)
        if (s->slots[i].live && s->slots[i].outstanding > 0)
            out->outstanding += (uint64_t)s->slots[i].outstanding;
    pthread_mutex_unlock(&s->mu);
    out->refused_full = atomic_load(&s->refused_full);
    out->syncs = atomic_load(&s->syncs);
    out->records = atomic_load(&s->records);
    out->replayed_records = atomic_load(&s->replayed_records);
    out->corrupted_tails = atomic_load(&s->corrupted_tails);
    out->skipped_bytes = atomic_load(&s->skipped_bytes);
}

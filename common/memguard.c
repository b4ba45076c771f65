/*
 * The process memory guard; see memguard.h for the contract.
 *
 * The state is one atomic the request path reads; samples, crossings, the
 * shed hook and malloc_trim happen in dp_memguard_check(), under a mutex so
 * that the sampling thread and a direct call never interleave.
 */
#include "memguard.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define COMPONENT "memory"
#define MIB (1024.0 * 1024.0)
#define MIN_DERIVED_LIMIT ((size_t)256 << 20)

struct dp_memguard {
    size_t limit, soft, in_flight_limit;
    uint64_t interval_ms;
    dp_memguard_hooks hooks;
    _Atomic int state;
    _Atomic size_t memory;
    _Atomic size_t in_flight;
    _Atomic uint64_t refused_memory, refused_in_flight, soft_crossings, hard_crossings, sheds,
        trims;
    pthread_mutex_t check_lock; /* held by dp_memguard_check(); guards what follows */
    bool idle_checked;
    uint64_t idle_checked_ms;
    /* the sampling thread */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool running, stopping;
};

/* --- reading memory ------------------------------------------------------------ */

/* Resident pages times the page size, from /proc/self/statm's second field. */
static size_t read_rss(void *ctx)
{
    (void)ctx;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    if (n != 2)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    return (size_t)resident * (size_t)(page > 0 ? page : 4096);
}

/* The first number in `path`, or 0 when absent, unreadable or "max". */
static unsigned long long read_number_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1)
        v = 0;
    fclose(f);
    return v;
}

static unsigned long long machine_memory(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kib = 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return kib * 1024;
}

size_t dp_memguard_derived_limit(void)
{
    unsigned long long total = machine_memory();
    /* cgroup v2 ("max" reads as no number), then v1 (a huge number when unlimited) */
    unsigned long long cg = read_number_file("/sys/fs/cgroup/memory.max");
    if (!cg)
        cg = read_number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    if (cg && (!total || cg < total))
        total = cg;
    unsigned long long limit = total / 5 * 4;
    if (limit < MIN_DERIVED_LIMIT)
        limit = MIN_DERIVED_LIMIT;
    if (limit > SIZE_MAX)
        limit = SIZE_MAX;
    return (size_t)limit;
}

/* --- lifecycle ---------------------------------------------------------------------- */

dp_memguard *dp_memguard_create(const dp_memguard_options *opt, const dp_memguard_hooks *hooks)
{
    dp_memguard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->limit = opt && opt->limit_bytes ? opt->limit_bytes : dp_memguard_derived_limit();
    size_t spike = opt ? opt->spike_limit_bytes : 0;
    if (!spike || spike >= g->limit)
        spike = g->limit / 5;
    g->soft = g->limit - spike;
    g->in_flight_limit =
        opt && opt->in_flight_limit_bytes ? opt->in_flight_limit_bytes : g->limit / 4;
    g->interval_ms = opt && opt->check_interval_ms ? opt->check_interval_ms : 1000;
    if (hooks)
        g->hooks = *hooks;
    if (!g->hooks.read)
        g->hooks.read = read_rss;
    pthread_mutex_init(&g->check_lock, NULL);
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    return g;
}

static void *guard_main(void *arg)
{
    dp_memguard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)(g->interval_ms / 1000);
        until.tv_nsec += (long)(g->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!g->stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&g->cond, &g->lock, &until);
        if (g->stopping)
            break;
        pthread_mutex_unlock(&g->lock);
        dp_memguard_check(g);
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int dp_memguard_start(dp_memguard *g)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&g->cond);
    pthread_cond_init(&g->cond, &attr);
    pthread_condattr_destroy(&attr);
    dp_memguard_check(g); /* a first sample before the first request */
    if (pthread_create(&g->thread, NULL, guard_main, g) != 0)
        return -1;
    g->running = true;
    return 0;
}

void dp_memguard_destroy(dp_memguard *g)
{
    if (!g)
        return;
    if (g->running) {
        pthread_mutex_lock(&g->lock);
        g->stopping = true;
        pthread_cond_signal(&g->cond);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
    }
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->check_lock);
    free(g);
}

/* --- the state machine ---------------------------------------------------------------- */

const char *dp_memguard_state_name(dp_memguard_state s)
{
    return s == DP_MEMGUARD_HARD ? "hard" : s == DP_MEMGUARD_SOFT ? "soft" : "normal";
}

/* Return freed heap to the system: glibc keeps it in its arenas otherwise. */
static void trim(dp_memguard *g)
{
    if (g->hooks.trim)
        g->hooks.trim(g->hooks.trim_ctx);
    else
        malloc_trim(0);
    atomic_fetch_add_explicit(&g->trims, 1, memory_order_relaxed);
}

static size_t free_heap(dp_memguard *g)
{
    if (g->hooks.free_heap)
        return g->hooks.free_heap(g->hooks.trim_ctx);
    struct mallinfo2 mi = mallinfo2();
    return mi.fordblks;
}

static uint64_t now_ms(dp_memguard *g)
{
    if (g->hooks.clock)
        return g->hooks.clock(g->hooks.clock_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Under the soft limit: trim when the heap holds much free memory, at most
 * once a second (counting the free heap walks every arena). */
static void trim_when_idle(dp_memguard *g)
{
    uint64_t now = now_ms(g);
    if (g->idle_checked && now - g->idle_checked_ms < 1000)
        return;
    g->idle_checked = true;
    g->idle_checked_ms = now;
    if (free_heap(g) >= DP_MEMGUARD_TRIM_BYTES)
        trim(g);
}

dp_memguard_state dp_memguard_check(dp_memguard *g)
{
    pthread_mutex_lock(&g->check_lock);
    size_t m = g->hooks.read(g->hooks.read_ctx);
    atomic_store(&g->memory, m);
    dp_memguard_state was = (dp_memguard_state)atomic_load(&g->state);
    dp_memguard_state now;
    if (m == 0)
        now = was; /* unreadable: keep what the last good sample said */
    else if (m >= g->limit)
        now = DP_MEMGUARD_HARD;
    else if (m >= g->soft)
        now = was == DP_MEMGUARD_HARD ? DP_MEMGUARD_HARD : DP_MEMGUARD_SOFT;
    else
        now = DP_MEMGUARD_NORMAL;
    atomic_store(&g->state, (int)now);

    if (now != was && was == DP_MEMGUARD_NORMAL)
        atomic_fetch_add_explicit(&g->soft_crossings, 1, memory_order_relaxed);
    if (now == DP_MEMGUARD_HARD && was != DP_MEMGUARD_HARD) {
        atomic_fetch_add_explicit(&g->hard_crossings, 1, memory_order_relaxed);
        dp_log_warn(COMPONENT,
                    "memory %.0f MiB is over memory.limit (%.0f MiB): refusing every request and "
                    "finalising the oldest runs until it is under %.0f MiB",
                    (double)m / MIB, (double)g->limit / MIB, (double)g->soft / MIB);
    } else if (now == DP_MEMGUARD_SOFT && was == DP_MEMGUARD_NORMAL) {
        dp_log_warn(COMPONENT,
                    "memory %.0f MiB is over the soft limit (%.0f MiB, memory.limit minus "
                    "memory.spike_limit): refusing new requests until it is under it",
                    (double)m / MIB, (double)g->soft / MIB);
    } else if (now == DP_MEMGUARD_NORMAL && was != DP_MEMGUARD_NORMAL) {
        dp_log_info(COMPONENT,
                    "memory %.0f MiB is under the soft limit (%.0f MiB): taking requests",
                    (double)m / MIB, (double)g->soft / MIB);
        trim(g);
    }
    if (now == DP_MEMGUARD_HARD && g->hooks.shed) {
        g->hooks.shed(g->hooks.shed_ctx);
        atomic_fetch_add_explicit(&g->sheds, 1, memory_order_relaxed);
    }
    if (now != DP_MEMGUARD_NORMAL)
        trim(g); /* the Collector's forced GC */
    else if (was == DP_MEMGUARD_NORMAL)
        trim_when_idle(g);
    pthread_mutex_unlock(&g->check_lock);
    return now;
}

bool dp_memguard_admit(dp_memguard *g, char *why, size_t whylen)
{
    if (!g)
        return true;
    int s = atomic_load_explicit(&g->state, memory_order_relaxed);
    if (s == DP_MEMGUARD_NORMAL)
        return true;
    atomic_fetch_add_explicit(&g->refused_memory, 1, memory_order_relaxed);
    if (why && whylen)
        snprintf(why, whylen,
                 "dagprof is over its memory %s limit (%zu MiB of %zu MiB); nothing of this "
                 "request was kept, retry later",
                 s == DP_MEMGUARD_HARD ? "hard" : "soft",
                 atomic_load_explicit(&g->memory, memory_order_relaxed) >> 20,
                 (s == DP_MEMGUARD_HARD ? g->limit : g->soft) >> 20);
    return false;
}

bool dp_memguard_acquire(dp_memguard *g, size_t bytes, char *why, size_t whylen)
{
    if (!g)
        return true;
    size_t held = atomic_load_explicit(&g->in_flight, memory_order_relaxed);
    for (;;) {
        /* alone, a request always gets its share: the budget bounds concurrency, not size */
        if (held && (bytes > g->in_flight_limit || held > g->in_flight_limit - bytes)) {
            atomic_fetch_add_explicit(&g->refused_in_flight, 1, memory_order_relaxed);
            if (why && whylen)
                snprintf(why, whylen,
                         "dagprof is decoding %zu MiB of requests at once, its limit "
                         "(memory.in_flight_limit %zu MiB); nothing of this request was kept, "
                         "retry later",
                         held >> 20, g->in_flight_limit >> 20);
            return false;
        }
        if (atomic_compare_exchange_weak(&g->in_flight, &held, held + bytes))
            return true;
    }
}

void dp_memguard_release(dp_memguard *g, size_t bytes)
{
    if (g)
        atomic_fetch_sub(&g->in_flight, bytes);
}

void dp_memguard_get_stats(dp_memguard *g, dp_memguard_stats *o)
{
    memset(o, 0, sizeof(*o));
    o->state = (dp_memguard_state)atomic_load(&g->state);
    o->limit_bytes = g->limit;
    o->soft_limit_bytes = g->soft;
    o->in_flight_limit_bytes = g->in_flight_limit;
    o->memory_bytes = atomic_load(&g->memory);
    o->in_flight_bytes = atomic_load(&g->in_flight);
    o->refused_memory = atomic_load(&g->refused_memory);
    o->refused_in_flight = atomic_load(&g->refused_in_flight);
    o->soft_crossings = atomic_load(&g->soft_crossings);
    o->hard_crossings = atomic_load(&g->hard_crossings);
    o->sheds = atomic_load(&g->sheds);
    o->trims = atomic_load(&g->trims);
}

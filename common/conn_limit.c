/*
 * The open-file limit and the connection count; see conn_limit.h.
 */
#include "conn_limit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

static uint64_t rlim_value(rlim_t v)
{
    return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v;
}

int dp_fd_limit_raise(uint64_t *before, uint64_t *after)
{
    struct rlimit rl;
    *before = *after = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    *before = *after = rlim_value(rl.rlim_cur);
    if (rl.rlim_cur == rl.rlim_max)
        return 0;
    struct rlimit raised = {rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0)
        return -1;
    *after = rlim_value(raised.rlim_cur);
    return 0;
}

uint64_t dp_fd_limit_soft(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    return rlim_value(rl.rlim_cur);
}

unsigned dp_max_connections_auto(uint64_t soft_limit)
{
    if (soft_limit <= DP_CONN_RESERVED_FDS + 2 * DP_CONN_AUTO_MIN)
        return DP_CONN_AUTO_MIN;
    uint64_t n = (soft_limit - DP_CONN_RESERVED_FDS) / 2;
    return n > DP_CONN_AUTO_MAX ? DP_CONN_AUTO_MAX : (unsigned)n;
}

void dp_conn_table_init(dp_conn_table *t)
{
    memset(t, 0, sizeof(*t));
}

void dp_conn_table_free(dp_conn_table *t)
{
    free(t->ino);
    memset(t, 0, sizeof(*t));
}

int dp_conn_table_track(dp_conn_table *t, int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_ino == 0)
        return -1;
    if ((size_t)fd >= t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        ino_t *grown = realloc(t->ino, cap * sizeof(*grown));
        if (!grown)
            return -1;
        memset(grown + t->cap, 0, (cap - t->cap) * sizeof(*grown));
        t->ino = grown;
        t->cap = cap;
    }
    if (t->ino[fd] == 0)
        t->count++;
    t->ino[fd] = st.st_ino;
    return 0;
}

size_t dp_conn_table_sweep(dp_conn_table *t)
{
    size_t count = 0;
    for (size_t fd = 0; fd < t->cap; fd++) {
        if (t->ino[fd] == 0)
            continue;
        struct stat st;
        if (fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_ino != t->ino[fd])
            t->ino[fd] = 0;
        else
            count++;
    }
    t->count = count;
    return count;
}

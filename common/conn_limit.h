/*
 * Connections and file descriptors: the open-file limit raised at start,
 * the automatic value of server.max_connections derived from it, and the
 * table with which the OTLP/gRPC receiver counts the connections it handed
 * to the gRPC core (which closes them on its own).
 */
#ifndef DP_CONN_LIMIT_H
#define DP_CONN_LIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** Descriptors kept out of the automatic connection limit: upstream export,
 *  storage files, logs, the endpoints, the gRPC core's own. */
#define DP_CONN_RESERVED_FDS 128u
/** The automatic limit is never below this... */
#define DP_CONN_AUTO_MIN 16u
/** ...nor above this (an unlimited open-file limit). */
#define DP_CONN_AUTO_MAX (1u << 20)

/**
 * Raise the soft RLIMIT_NOFILE to the hard limit. *before and *after get the
 * soft limit before and after (equal when nothing changed or on failure;
 * RLIM_INFINITY as UINT64_MAX). Returns 0, or -1 with errno when the limit
 * cannot be read or set.
 */
int dp_fd_limit_raise(uint64_t *before, uint64_t *after);

/** The soft RLIMIT_NOFILE now (UINT64_MAX when unlimited, 1024 when it cannot be read). */
uint64_t dp_fd_limit_soft(void);

/**
 * server.max_connections' automatic value for a soft open-file limit:
 * (soft - DP_CONN_RESERVED_FDS) / 2 for each of the two receivers, at least
 * DP_CONN_AUTO_MIN, at most DP_CONN_AUTO_MAX.
 */
unsigned dp_max_connections_auto(uint64_t soft_limit);

/**
 * Connections handed over and not yet seen closed, by descriptor: each
 * entry holds the socket's inode at the time it was tracked. A tracked fd
 * still counts as open while fstat() gives a socket of that inode; closed
 * and reused by anything else it gives another inode (socket inodes are
 * unique among open sockets) or not a socket. Not thread-safe: one owner thread.
 */
typedef struct dp_conn_table {
    ino_t *ino;   /* indexed by fd; 0: not tracked */
    size_t cap;   /* entries allocated */
    size_t count; /* tracked entries, some perhaps closed since */
} dp_conn_table;

void dp_conn_table_init(dp_conn_table *t);
void dp_conn_table_free(dp_conn_table *t);

/**
 * Track fd, a socket just accepted (any entry it had is stale and is
 * replaced). Returns 0, or -1 when fd is not a socket fstat() can read, or
 * out of memory (then fd is not tracked).
 */
int dp_conn_table_track(dp_conn_table *t, int fd);

/** Drop the entries whose descriptor is closed or reused (another inode); the count after. */
size_t dp_conn_table_sweep(dp_conn_table *t);

#endif

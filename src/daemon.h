/*
 * The dagprof daemon: wires the OTLP/gRPC receiver, the trace table, the
 * finaliser and run processing threads, and the report sink together, and
 * runs until SIGINT or SIGTERM.
 *
 * Shutdown order: stop accepting, let calls in flight finish, finalise every
 * pending run and report it, log totals. Nothing buffered is dropped.
 */
#ifndef DP_DAEMON_H
#define DP_DAEMON_H

#include "config.h"

/**
 * Run the daemon with `cfg` (not modified; must outlive the call).
 * Blocks until SIGINT/SIGTERM has been handled. SIGINT and SIGTERM are
 * blocked in the calling thread and every thread it starts.
 * SIGHUP reloads the receivers' certificates and token files.
 * Returns 0 after a clean shutdown, non-zero when startup failed (e.g. the
 * listen address cannot be bound), with the reason logged: DP_EXIT_USAGE (2)
 * when a file of server.tls or server.auth is missing or bad.
 */
int dp_daemon_run(const dp_config *cfg);

#endif

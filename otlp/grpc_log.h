/*
 * The gRPC C core's own log lines (a bind that fails, a transport error,
 * GRPC_TRACE output) through dagprof's logger (common/log.h), under the
 * component "grpc", instead of the core's raw "E1130 ..." lines on stderr.
 * The core still decides which lines it emits (GRPC_VERBOSITY, default
 * ERROR); dagprof's log.level then filters them like its own.
 */
#ifndef DP_GRPC_LOG_H
#define DP_GRPC_LOG_H

/** The log level of dagprof (enum dp_log_level) a gRPC severity (gpr_log_severity) maps to. */
int dp_grpc_log_level(int gpr_severity);

/** Route the gRPC core's log lines through dagprof's logger; call before grpc_init(). */
void dp_grpc_log_route(void);

/**
 * Called, on a gRPC thread, when a listener of the core stops accepting:
 * gRPC 1.51 gives a port up for good after one accept4() fails with an
 * error other than EAGAIN or ECONNABORTED (EMFILE: out of file descriptors),
 * and says so only in its log ("Failed accept4: REASON"). reason is that
 * line. dagprof accepts plaintext connections itself, so this concerns the
 * TLS port, which the core listens on.
 */
typedef void (*dp_grpc_listener_failed_fn)(void *ctx, const char *reason);

/** Watch the routed log lines for that (fn NULL: stop watching). Needs dp_grpc_log_route(). */
void dp_grpc_log_on_listener_failure(dp_grpc_listener_failed_fn fn, void *ctx);

#endif

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

#endif

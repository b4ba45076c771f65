/*
 * gRPC core log lines into dagprof's logger; see grpc_log.h. The core
 * calls the function on whichever thread logs; dp_log_write() keeps each
 * line whole.
 */
#include "grpc_log.h"

#include <grpc/support/log.h>
#include <string.h>

#include "log.h"

int dp_grpc_log_level(int gpr_severity)
{
    switch (gpr_severity) {
    case GPR_LOG_SEVERITY_ERROR:
        return DP_LOG_ERROR;
    case GPR_LOG_SEVERITY_INFO:
        return DP_LOG_INFO;
    default:
        return DP_LOG_DEBUG;
    }
}

static void on_grpc_log(gpr_log_func_args *args)
{
    const char *file = args->file ? args->file : "?";
    const char *slash = strrchr(file, '/');
    /* the source file and line tell a gRPC line's origin, as in the core's own format */
    dp_log_at(dp_grpc_log_level(args->severity), "grpc", "%s:%d: %s", slash ? slash + 1 : file,
              args->line, args->message ? args->message : "");
}

void dp_grpc_log_route(void)
{
    gpr_set_log_function(on_grpc_log);
}

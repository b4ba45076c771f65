/*
 * gRPC core log lines into dagprof's logger; see grpc_log.h. The core
 * calls the function on whichever thread logs; dp_log_write() keeps each
 * line whole.
 */
#include "grpc_log.h"

#include <grpc/support/log.h>
#include <stdatomic.h>
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

/* The listener-failure watch: the function and its context, set together. */
typedef struct listener_watch {
    dp_grpc_listener_failed_fn fn;
    void *ctx;
} listener_watch;
static _Atomic(listener_watch *) watch;

void dp_grpc_log_on_listener_failure(dp_grpc_listener_failed_fn fn, void *ctx)
{
    static listener_watch slot; /* one watcher: the daemon */
    if (!fn) {
        atomic_store(&watch, NULL);
        return;
    }
    slot.fn = fn;
    slot.ctx = ctx;
    atomic_store(&watch, &slot);
}

static void on_grpc_log(gpr_log_func_args *args)
{
    const char *file = args->file ? args->file : "?";
    const char *slash = strrchr(file, '/');
    /* the source file and line tell a gRPC line's origin, as in the core's own format */
    dp_log_at(dp_grpc_log_level(args->severity), "grpc", "%s:%d: %s", slash ? slash + 1 : file,
              args->line, args->message ? args->message : "");
    listener_watch *w = atomic_load(&watch);
    if (w && args->message && strncmp(args->message, "Failed accept4", 14) == 0)
        w->fn(w->ctx, args->message);
}

void dp_grpc_log_route(void)
{
    gpr_set_log_function(on_grpc_log);
}

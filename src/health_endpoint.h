/*
 * The HTTP health endpoint, like the OpenTelemetry Collector's health_check
 * extension: GET (or HEAD) `/` or `/health` answers 200 with
 * {"status":"Server available",...} once dagprof is listening and until it
 * starts to drain, 503 {"status":"Server not available",...} before and
 * after; other paths 404, other methods 405. It serves on its own address
 * (health.listen, default 127.0.0.1:13133) with one thread, so a probe
 * never waits behind OTLP traffic.
 */
#ifndef DP_HEALTH_ENDPOINT_H
#define DP_HEALTH_ENDPOINT_H

#include <stddef.h>

#include "dp_err.h"

typedef struct dp_health_endpoint dp_health_endpoint;

/** What a probe is told. */
typedef enum dp_health_state {
    DP_HEALTH_STARTING = 0, /* 503: not listening yet */
    DP_HEALTH_READY = 1,    /* 200 */
    DP_HEALTH_DRAINING = 2, /* 503: shutting down */
} dp_health_state;

/**
 * Listen on "HOST:PORT" (port 0 picks a free one) in state STARTING.
 * Returns DP_OK and *out, DP_EINVAL (not HOST:PORT) or DP_EBIND, with the
 * reason in err.
 */
DP_MUST_CHECK int dp_health_endpoint_start(const char *listen, dp_health_endpoint **out, char *err,
                                           size_t errlen);

/** Change what probes are told (any thread). */
void dp_health_endpoint_set(dp_health_endpoint *h, dp_health_state state);

/** The bound TCP port. */
int dp_health_endpoint_port(const dp_health_endpoint *h);

/** Stop serving and free; NULL is accepted. */
void dp_health_endpoint_destroy(dp_health_endpoint *h);

#endif

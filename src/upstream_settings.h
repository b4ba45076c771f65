/*
 * From dagprof's configuration to the upstream client's settings, with the
 * OTEL_EXPORTER_OTLP_* environment variables underneath: built-in defaults
 * < environment < config file < flags.
 */
#ifndef DP_UPSTREAM_SETTINGS_H
#define DP_UPSTREAM_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "upstream_config.h"

/**
 * Fill `out` (not initialised by the caller; release it with
 * dp_upstream_config_free()) from the defaults, the environment and
 * c->upstream. Returns 0, or -1 with a message in err (which never quotes a
 * header value); `out` then holds defaults.
 */
int dp_upstream_settings_build(const dp_config *c, dp_upstream_config *out, char *err,
                               size_t errlen);

/** Whether `cfg` sends traces anywhere (an endpoint is configured). */
bool dp_upstream_settings_active(const dp_upstream_config *cfg);

#endif

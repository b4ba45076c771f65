/*
 * Environment variables in config file values, as the OpenTelemetry
 * Collector expands them: `${env:NAME}` (or `${NAME}`) is replaced by the
 * variable's value, `${env:NAME:-default}` uses `default` when NAME is not
 * set, and `$$` stands for one literal `$`. Any other `$` is kept as it is
 * (`$NAME` without braces is not expanded). A variable that is not set and
 * has no default expands to the empty string; the caller is told (to log a
 * warning). NAME is [A-Za-z_][A-Za-z0-9_]*; another name, or a provider
 * other than env (`${file:...}`), is an error.
 *
 * The expanded text is taken as the key's value as it is (it is not parsed
 * as YAML again), so "${env:PORT}" in a string key stays a string.
 */
#ifndef DP_CONFIG_EXPAND_H
#define DP_CONFIG_EXPAND_H

#include <stddef.h>

#include "dp_err.h"

/** Called for each variable a value refers to that is not set and has no default. */
typedef void (*dp_config_unset_fn)(void *ctx, const char *name);

/**
 * Expand `text` (len bytes) into out (outcap bytes, NUL-terminated; *outlen
 * is the expanded length). Returns 0, or -1 with the reason in err
 * ("${env:1X}: invalid environment variable name", "the value is longer than
 * N bytes once expanded"). Never quotes a variable's value in err.
 */
DP_MUST_CHECK int dp_config_expand_env(const char *text, size_t len, char *out, size_t outcap,
                                       size_t *outlen, dp_config_unset_fn on_unset, void *ctx,
                                       char *err, size_t errlen);

#endif

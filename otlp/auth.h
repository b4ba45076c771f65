/*
 * Authentication of OTLP requests (server.auth.*), in the manner of the
 * Collector's bearertokenauth and headers-based API keys: a request is
 * taken when it carries `Authorization: Bearer TOKEN` with a TOKEN of
 * bearer_tokens_file, or the header named by `header` with a value of
 * header_values_file (either is enough when both are configured). Both
 * receivers ask dp_auth_check() with the request's headers (gRPC metadata)
 * before they read or decode its body; health checks are not asked.
 *
 * Token files hold one token a line; blank lines and lines that start with
 * '#' are left out, spaces and tabs around a token are trimmed, CRLF line
 * ends are taken. A bearer token is visible ASCII without spaces; a header
 * value is printable ASCII. A file that cannot be read, is over 1 MiB, has
 * a line over 4096 bytes or a character that cannot be sent in a header,
 * or holds no token at all is an error naming the file and the line (never
 * quoting it).
 *
 * Only the SHA-256 digest of each token is kept (the file's bytes are wiped
 * once read), and a presented token is compared with every kept digest in
 * constant time, whatever matches: the time of a check does not tell how
 * much of a token was right, nor which one. dp_auth_reload() reads the files
 * again (SIGHUP); a bad file leaves the tokens in use as they were.
 * dp_auth_check() may be called from any number of threads at once, also
 * while a reload runs.
 */
#ifndef DP_AUTH_H
#define DP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "dp_err.h"
#include "dp_str.h"

/* Longest token (or header value) a token file may hold, in bytes. */
#define DP_AUTH_TOKEN_MAX 4096

/** The server section's auth.* keys (otlp/receiver_config.c). */
typedef struct dp_auth_options {
    char bearer_tokens_file[1024]; /* "": no bearer tokens */
    char header[128];              /* name of the API-key header; "": none */
    char header_values_file[1024]; /* its accepted values; set with header */
} dp_auth_options;

typedef enum dp_auth_result {
    DP_AUTH_OK = 0,
    DP_AUTH_MISSING = 1, /* no credential of a configured kind in the request */
    DP_AUTH_DENIED = 2,  /* a credential, not an accepted one */
} dp_auth_result;

typedef struct dp_auth dp_auth;

/** True when any auth.* key is set (so dp_auth_create() is to be called). */
bool dp_auth_options_enabled(const dp_auth_options *o);

/**
 * Read the files named by `o` (copied). DP_EINVAL with a message in err
 * ("server.auth.KEY: ...") when a header is named without a values file or
 * the other way round, or a file is bad; DP_ENOMEM. Returns DP_OK and *out.
 */
DP_MUST_CHECK int dp_auth_create(const dp_auth_options *o, dp_auth **out, char *err, size_t errlen);

/**
 * Read the files again and put their tokens in place of the ones in use.
 * Returns DP_OK with what was read in `summary` (as dp_auth_summary()), or
 * an error code with the reason in err, the tokens in use unchanged.
 */
DP_MUST_CHECK int dp_auth_reload(dp_auth *a, char *summary, size_t summary_len, char *err,
                                 size_t errlen);

/** "2 bearer tokens, 1 value of x-api-key": counts, never tokens. */
void dp_auth_summary(dp_auth *a, char *out, size_t outlen);

/**
 * Check a request's credentials: `authorization` is its Authorization
 * header (or metadata) and `header_value` its value of the API-key header,
 * each {NULL, 0} when absent.
 */
dp_auth_result dp_auth_check(dp_auth *a, dp_str authorization, dp_str header_value);

/** The API-key header's name in lower case (as gRPC metadata has it), or NULL. */
const char *dp_auth_header_name(const dp_auth *a);

/** True when bearer tokens are configured (an HTTP 401 then carries WWW-Authenticate). */
bool dp_auth_takes_bearer(const dp_auth *a);

/** What to tell a client refused with `r` (no secret in it): a constant string. */
const char *dp_auth_message(const dp_auth *a, dp_auth_result r);

/** Free everything (the kept digests are wiped); NULL is accepted. */
void dp_auth_destroy(dp_auth *a);

/** Check (dp_config_check_fn) of auth.header: "" or an HTTP field name gRPC can carry. */
const char *dp_auth_header_name_problem(const char *value);

#endif

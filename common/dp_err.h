/*
 * One error vocabulary for every module: functions that can fail return 0
 * or one of these negative codes, and dp_strerror() names them. Module
 * headers give them their own names (DP_TRACE_TABLE_EFULL, DP_UPSTREAM_EFULL,
 * ...) with these values, so a code means the same wherever it comes from.
 * Setup functions that need to say more fill an error buffer as well.
 */
#ifndef DP_ERR_H
#define DP_ERR_H

enum dp_err {
    DP_OK = 0,
    DP_ENOMEM = -1,    /* out of memory (or over a size cap) */
    DP_EINVAL = -2,    /* bad argument or value */
    DP_EFULL = -3,     /* a bound is reached now: push back, the sender retries */
    DP_ECLOSED = -4,   /* closed or shutting down: no longer accepting */
    DP_EDECODE = -5,   /* bytes are not a valid message of the expected type */
    DP_EBIND = -6,     /* an address could not be bound */
    DP_ETHREAD = -7,   /* a thread could not be started */
    DP_EDISABLED = -8, /* not configured for this */
    DP_ETOOBIG = -9,   /* over a bound even alone: retrying the same cannot succeed */
};

/** On a function whose result says whether it worked: ignoring it is a warning. */
#define DP_MUST_CHECK __attribute__((warn_unused_result))

/** A short text for a code ("out of memory", ...); "unknown error" otherwise. */
const char *dp_strerror(int err);

#endif

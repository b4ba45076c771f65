/* Texts of the error codes of dp_err.h. */
#include "dp_err.h"

const char *dp_strerror(int err)
{
    switch (err) {
    case DP_OK:
        return "success";
    case DP_ENOMEM:
        return "out of memory";
    case DP_EINVAL:
        return "invalid argument";
    case DP_EFULL:
        return "full";
    case DP_ECLOSED:
        return "closed";
    case DP_EDECODE:
        return "not a valid message";
    case DP_EBIND:
        return "cannot bind the address";
    case DP_ETHREAD:
        return "cannot start a thread";
    case DP_EDISABLED:
        return "not configured";
    case DP_ETOOBIG:
        return "too big";
    default:
        return "unknown error";
    }
}

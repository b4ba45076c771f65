/*
 * A listening TCP socket on a "HOST:PORT" address ("[V6]:PORT" for IPv6),
 * for the servers that take a ready socket (the OTLP/HTTP receiver and the
 * health endpoint, both on libmicrohttpd).
 */
#ifndef DP_TCP_LISTEN_H
#define DP_TCP_LISTEN_H

#include <stddef.h>

#include "dp_err.h"

/**
 * Bind and listen (SO_REUSEADDR, close-on-exec); port 0 picks a free port.
 * Returns the socket and the bound port in *port, or DP_EINVAL (not
 * HOST:PORT) or DP_EBIND (cannot resolve or bind), with the reason in err.
 */
DP_MUST_CHECK int dp_tcp_listen(const char *address, int backlog, int *port, char *err,
                                size_t errlen);

#endif

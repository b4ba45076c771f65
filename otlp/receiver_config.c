/*
 * The server section of the config file: the OTLP receivers' settings
 * (dp_receiver_options; http_listen is the OTLP/HTTP receiver's), with
 * their defaults, ranges and descriptions, and the check of a listen
 * address. The defaults here are the only ones;
 * dp_receiver_options_defaults() applies them.
 */
#include "receiver.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define KEY(...) DP_CONFIG_KEY(dp_receiver_options, __VA_ARGS__)
#define KEY_CHECKED(...) DP_CONFIG_KEY_CHECKED(dp_receiver_options, __VA_ARGS__)

/* HOST:PORT, [IPV6]:PORT; the port a number 0..65535, the host not empty. */
static bool valid_listen_address(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || !colon[1])
        return false;
    if (a[0] == '[' && colon[-1] != ']')
        return false;
    if (a[0] != '[' && memchr(a, ':', (size_t)(colon - a)))
        return false; /* a bare IPv6 address needs brackets */
    unsigned long port = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (unsigned long)(*p - '0');
        if (port > 65535)
            return false;
    }
    return true;
}

static const char *listen_problem(const char *value)
{
    return valid_listen_address(value)
               ? NULL
               : "is not HOST:PORT (e.g. 127.0.0.1:4317, [::1]:4317, 0.0.0.0:4317; port 0..65535)";
}

/* The OTLP/HTTP receiver's address may also be empty: no such receiver. */
static const char *http_listen_problem(const char *value)
{
    return value[0] ? listen_problem(value) : NULL;
}

static const dp_config_key server_keys[] = {
    KEY_CHECKED(
        "listen", DP_CFG_STRING, listen, "127.0.0.1:4317", 0, 0, NULL, "--listen", 0,
        listen_problem,
        "Address of the OTLP/gRPC receiver, HOST:PORT. Use 0.0.0.0:4317 to accept other hosts."),
    KEY_CHECKED("http_listen", DP_CFG_STRING, http_listen, "127.0.0.1:4318", 0, 0, NULL,
                "--http-listen", 0, http_listen_problem,
                "Address of the OTLP/HTTP receiver (POST /v1/traces, /v1/metrics, /v1/logs), "
                "HOST:PORT. Empty: no OTLP/HTTP receiver."),
    KEY("workers", DP_CFG_UINT, workers, "0", 0, 256, NULL, "--workers",
        "Threads of each receiver (gRPC: each with its own completion queue; HTTP: "
        "libmicrohttpd's pool). 0 = one per CPU core."),
    KEY("max_recv_message_size", DP_CFG_SIZE, max_recv_message_bytes, "16MiB", DP_CONFIG_KIB,
        DP_CONFIG_GIB, NULL, NULL,
        "Largest accepted request (after decompression). Larger ones get RESOURCE_EXHAUSTED "
        "(gRPC) or 413 (HTTP)."),
    KEY("max_concurrent_calls", DP_CFG_UINT, max_concurrent_calls, "32", 1, 1024, NULL, NULL,
        "Trace export calls each worker handles at once. Further calls wait in the gRPC "
        "core's queue until one finishes; they are not refused."),
};

const dp_config_section dp_receiver_section =
    DP_CONFIG_SECTION("server", "The OTLP receivers: gRPC and HTTP.", server_keys);

void dp_receiver_options_defaults(dp_receiver_options *o)
{
    dp_config_section_init(o, sizeof(*o), &dp_receiver_section);
}

/*
 * Fuzz target for the upstream answer parsers: the google.rpc.Status /
 * RetryInfo walker (bytes from the grpc-status-details-bin trailer), the
 * google.rpc.Status message reader (OTLP/HTTP error bodies), the
 * partial_success reader of Export responses and the Retry-After parser
 * (the input as header text). All take bytes from the network and must
 * never read outside them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "upstream_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t delay = 0;
    int64_t rejected = 0;
    char msg[64];

    /* Copy so that a read past the end is caught by ASan on the heap copy. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    int rc = dp_upstream_status_retry_delay(copy, size, &delay);
    if (rc == 1 && delay > 24ull * 3600 * 1000)
        abort(); /* the delay is capped at 24 h */
    if (dp_upstream_partial_success_parse(copy, size, &rejected, msg, sizeof(msg)) == 0 &&
        strlen(msg) >= sizeof(msg))
        abort();
    if (dp_upstream_status_message(copy, size, msg, sizeof(msg)) == 0 && strlen(msg) >= sizeof(msg))
        abort();
    free(copy);

    /* A header value is text: the bytes up to the first NUL, at most 200. */
    char text[201];
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    if (dp_upstream_retry_after_ms(text, 1767225600, &delay) == 0 && delay > 24ull * 3600 * 1000)
        abort(); /* capped at 24 h here too */
    return 0;
}

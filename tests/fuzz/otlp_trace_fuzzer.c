/*
 * Fuzz target for the OTLP protobuf decoder: parse a request as the receiver
 * does, decode every listed span with its resource (which must succeed: the
 * batch only lists usable spans), and run the metrics and logs validators
 * over the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_arena arena;
    dp_otlp_trace_batch batch;
    char err[256];
    size_t n;

    dp_arena_init(&arena, 0, 256u << 20);
    if (dp_otlp_trace_batch_parse(data, size, &arena, &batch, err, sizeof err) == DP_OTLP_OK) {
        for (size_t i = 0; i < batch.span_count; i++) {
            const dp_otlp_span_ref *ref = &batch.spans[i];
            if (ref->scope_index >= batch.scope_count)
                abort();
            uint32_t res = batch.scopes[ref->scope_index].resource_index;
            if (res >= batch.resource_count)
                abort();
            dp_span s;
            int rc = dp_otlp_span_decode(ref->raw, batch.resources[res].resource_raw, &arena, &s);
            /* a listed span always decodes, to the ids the batch reported */
            if (rc == DP_OTLP_EDECODE)
                abort();
            if (rc == DP_OTLP_OK && (memcmp(s.trace_id, ref->trace_id, 16) != 0 ||
                                     memcmp(s.span_id, ref->span_id, 8) != 0 ||
                                     s.has_parent != ref->has_parent ||
                                     s.start_ns != ref->start_ns || s.end_ns != ref->end_ns))
                abort();
        }
    }
    dp_arena_reset(&arena);
    dp_otlp_metrics_validate(data, size, &arena, &n, err, sizeof err);
    dp_arena_reset(&arena);
    dp_otlp_logs_validate(data, size, &arena, &n, err, sizeof err);
    dp_arena_free(&arena);
    return 0;
}

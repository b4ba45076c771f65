/*
 * Fuzz target for the OTLP/JSON → protobuf encoder: any bytes either encode
 * or fail with a message and write nothing; what encodes is a request the
 * receiver's parser accepts whole (no span rejected, no all-zero id), and
 * every span in it decodes, the same with the direct decoder as with the
 * protobuf-c reference. The same input encoded as metrics and as logs
 * either fails cleanly or passes the receiver's validation of that signal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "otlp_file.h"
#include "otlp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_arena arena;
    dp_buf pb;
    dp_otlp_trace_batch batch;
    char err[256];

    dp_arena_init(&arena, 0, 256u << 20);
    dp_buf_init(&pb, 0);
    int rc = dp_otlp_json_encode((const char *)data, size, &pb, err, sizeof err);
    if (rc < 0 && (pb.len != 0 || err[0] == '\0'))
        abort();
    if (rc == 0) {
        if (dp_otlp_trace_batch_parse((const uint8_t *)pb.data, pb.len, &arena, &batch, err,
                                      sizeof err) != DP_OTLP_OK ||
            batch.rejected || batch.attributes_dropped)
            abort();
        for (size_t i = 0; i < batch.span_count; i++) {
            const dp_span_ref *ref = &batch.spans[i];
            dp_str res =
                batch.resources[batch.scopes[ref->scope_index].resource_index].resource_raw;
            dp_span s, ref_s;
            if (dp_otlp_id_is_zero(ref->trace_id, 16) || dp_otlp_id_is_zero(ref->span_id, 8))
                abort();
            if (dp_otlp_span_decode(ref->raw, res, &arena, &s) != DP_OTLP_OK ||
                dp_otlp_span_decode_pbc(ref->raw, res, &arena, &ref_s) != DP_OTLP_OK)
                abort();
            if (memcmp(s.trace_id, ref_s.trace_id, 16) || memcmp(s.span_id, ref_s.span_id, 8) ||
                s.start_ns != ref_s.start_ns || s.end_ns != ref_s.end_ns ||
                s.attr_count != ref_s.attr_count || s.link_count != ref_s.link_count)
                abort();
        }
    }
    /* the same bytes as metrics and as logs: what encodes is a request the
     * receiver's validator accepts */
    for (int signal = DP_SIGNAL_METRICS; signal <= DP_SIGNAL_LOGS; signal++) {
        dp_otlp_side_request v;
        dp_otlp_json_dropped dropped;
        dp_buf_reset(&pb);
        dp_arena_reset(&arena);
        rc = dp_otlp_json_encode_dropped((enum dp_signal)signal, (const char *)data, size, &pb,
                                         &dropped, err, sizeof err);
        if (rc < 0 && (pb.len != 0 || err[0] == '\0' || dropped.attributes))
            abort();
        /* the encoder left out every attribute nested too deep: the
         * validator finds none */
        if (rc == 0 && ((signal == DP_SIGNAL_METRICS
                             ? dp_otlp_metrics_validate((const uint8_t *)pb.data, pb.len, &arena,
                                                        &v, err, sizeof err)
                             : dp_otlp_logs_validate((const uint8_t *)pb.data, pb.len, &arena, &v,
                                                     err, sizeof err)) != DP_OTLP_OK ||
                        v.attributes_dropped))
            abort();
    }
    dp_buf_free(&pb);
    dp_arena_free(&arena);
    return 0;
}

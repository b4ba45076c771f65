/*
 * Enrichment: re-encode a finalised run as OTLP ExportTraceServiceRequest
 * bytes carrying every span exactly as it arrived plus what the profile
 * found.
 *
 * Nothing dagprof does not change is decoded and re-encoded: protobuf
 * repeated fields may be appended, so a node span's new attributes
 * (Span.attributes, field 9) and events (Span.events, field 11) are encoded
 * and appended after the span's original bytes. Resource, scope, schema
 * URLs, ids, times, original attributes, events, links, status and unknown
 * fields stay byte-exact. Attribute names: docs/metrics.md ("Enrichment").
 */
#ifndef DP_ENRICH_H
#define DP_ENRICH_H

#include <stddef.h>

#include "buf.h"
#include "profile_types.h"
#include "trace_table.h"

/**
 * Append to `out` one encoded ExportTraceServiceRequest holding every span
 * of `run`, grouped by resource and scope, enriched from `profile`
 * (profile may be NULL: then the spans pass through unchanged).
 * Returns 0, or -1 when out of memory / over the buffer's cap (out is then
 * left as it was).
 */
int dp_enrich_run(const dp_run_record *run, const dp_run_profile *profile, dp_buf *out);

#endif

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
 * of `run` but its duplicates (run->duplicate: the copies a retried request
 * brought, sent once), grouped by resource and scope, enriched from
 * `profile` (profile may be NULL: then the spans pass through unchanged).
 * Returns 0, or -1 when out of memory / over the buffer's cap (out is then
 * left as it was).
 */
int dp_enrich_run(const dp_run_record *run, const dp_run_profile *profile, dp_buf *out);

/**
 * Called with each request of dp_enrich_run_split(): `request` holds it
 * (malloc'd; the callee may take the bytes with dp_buf_release()) and
 * `span_count` its spans. Return 0 to go on, non-zero to stop.
 */
typedef int (*dp_enrich_request_fn)(void *arg, dp_buf *request, size_t span_count);

/**
 * dp_enrich_run() in as many ExportTraceServiceRequests as it takes to keep
 * each within max_request_bytes (0 = no limit), handed to emit one by one.
 * The spans are cut in the order one request would hold them; each request
 * has the ResourceSpans and ScopeSpans (resource, scope, schema URLs) of its
 * spans, so every request is valid on its own and together they hold the
 * run's spans exactly once. A span that is larger than max_request_bytes on
 * its own goes in a request of its own (over the limit). A run that fits is
 * one request, encoded as dp_enrich_run() does.
 * Returns 0 when every request was handed over, DP_ENOMEM (out of memory)
 * or DP_EINVAL (an encoder bug, logged) when one could not be encoded, or
 * what emit returned when it stopped.
 */
int dp_enrich_run_split(const dp_run_record *run, const dp_run_profile *profile,
                        size_t max_request_bytes, dp_enrich_request_fn emit, void *arg);

#endif

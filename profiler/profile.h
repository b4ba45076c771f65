/*
 * The profile of one run (one trace): nodes, dependencies, critical path,
 * tokens and cost, bottlenecks and recommendations.
 *
 * dp_profile_build() reads an array of spans of ONE trace (any order) and
 * returns a newly allocated profile that owns all its memory (it copies what
 * it keeps from the spans); dp_run_profile_destroy() frees it in one step.
 * Definitions of every figure: docs/metrics.md.
 *
 * The fields of struct dp_run_profile are in profile_types.h for the
 * modules that read them (rendering, exporters, tests); others can keep it
 * opaque and use the functions below.
 */
#ifndef DP_PROFILE_H
#define DP_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile_config.h"
#include "span.h"

typedef struct dp_run_profile dp_run_profile;

/**
 * Build the profile of one trace. spans must all share one trace id.
 * Returns 0 and *out, or -1 on out of memory (then *out is NULL).
 */
int dp_profile_build(const dp_span *spans, size_t count, const dp_profile_config *cfg,
                     dp_run_profile **out);

/** Free a profile and everything it owns; NULL is accepted. */
void dp_run_profile_destroy(dp_run_profile *p);

/** The run's trace id (16 bytes). */
const uint8_t *dp_run_profile_trace_id(const dp_run_profile *p);

/** Mark the profile as made of late spans of an already finalised run. */
void dp_run_profile_set_late(dp_run_profile *p, bool late);

/**
 * How the run was completed: `partial` when it was finalised before it was
 * done (`why`: "max_age" or "memory_limit", a static string), `supersedes`
 * when this report replaces an earlier partial report of the same trace.
 */
void dp_run_profile_set_completion(dp_run_profile *p, bool partial, bool supersedes,
                                   const char *why);

#endif

/*
 * Figures the three reports (text, JSON, HTML) derive from a run profile
 * in the same way, so the forms never disagree: the top fixes and what
 * they save together, per-tool statistics (kept in the profile), and cost
 * at scale. Definitions:
 * docs/metrics.md ("Report figures").
 */
#ifndef DP_REPORT_FIGURES_H
#define DP_REPORT_FIGURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile_types.h"

#define DP_TOP_FIXES 3

/** Savings in the three units of a recommendation. */
typedef struct dp_savings {
    double time_ms;
    uint64_t tokens;
    double cost_usd;
    bool cost_known; /* false when a fix's cost saving is unknown */
} dp_savings;

/**
 * The recommendations with the largest estimated savings, best first, and
 * their combined savings: `at_most` is the sum of the fixes' savings,
 * `at_least` per unit the largest sum over fixes that do not overlap each
 * other in that unit (each saving counted once). They are equal when no two
 * of the fixes claim the same savings.
 */
/** What a fix's share is a share of: the larger one (dp_report_fix_share_pct). */
enum dp_share_basis { DP_SHARE_WALL_TIME = 0, DP_SHARE_COST, DP_SHARE_TOKENS };

/** "wall time", "cost", "tokens". */
const char *dp_report_share_basis_name(enum dp_share_basis b);

typedef struct dp_top_fixes {
    size_t count;
    size_t rec[DP_TOP_FIXES];       /* indexes into recommendations */
    double share_pct[DP_TOP_FIXES]; /* what ranks them (docs/metrics.md) */
    enum dp_share_basis share_of[DP_TOP_FIXES];
    dp_savings at_least;
    dp_savings at_most;
    bool overlapping; /* some unit's at_least is below its at_most (cost: when known) */
} dp_top_fixes;

/**
 * A recommendation's saving as a share of the run, in percent: the larger
 * of its time saving / wall time and its cost saving / the run's known cost
 * (its token saving / the run's tokens when its cost saving is unknown).
 * *basis (may be NULL) says which; the wall time when they are equal.
 */
double dp_report_fix_share_pct(const dp_run_profile *p, const dp_recommendation *r,
                               enum dp_share_basis *basis);

/** Fill *out with the top fixes of p (count 0 without recommendations). */
void dp_report_top_fixes(const dp_run_profile *p, dp_top_fixes *out);

/**
 * Fill p->tool_stats (in p's arena) from p->calls: the statistics of every
 * tool name of the run's tool calls (inside nodes or not), by total
 * duration descending, ties by name. dp_profile_build() calls it. 0, or -1
 * on out of memory.
 */
int dp_report_tool_stats(dp_run_profile *p);

/**
 * Cost per 1,000 runs extrapolated from this run: its known cost x 1000.
 * false when no call's cost is known but some are unknown (nothing to
 * extrapolate); a run with cost_complete false gives a lower bound.
 */
bool dp_report_cost_per_1000_runs(const dp_run_profile *p, double *usd);

#endif

/*
 * Small statistics shared by the reports and the trends: percentiles by
 * nearest rank (docs/metrics.md).
 */
#ifndef DP_STATS_H
#define DP_STATS_H

#include <stddef.h>

/**
 * The p-th percentile (0 < p <= 100) of v[0..n) by nearest rank: the value
 * at rank ceil(p/100 x n) (1-based) of the values sorted ascending, the
 * smallest value with at least p % of the values at or below it. Sorts v
 * in place. 0 when n is 0.
 */
double dp_percentile_nearest_rank(double *v, size_t n, double p);

#endif

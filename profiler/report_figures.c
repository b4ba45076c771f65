/*
 * Figures every report form derives from the profile in the same way
 * (report_figures.h): the top fixes with their combined savings, the
 * statistics of each tool, and cost at scale.
 */
#include "report_figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static double pct(double part, double whole)
{
    double v = whole > 0 && part > 0 ? part / whole * 100.0 : 0;
    return isfinite(v) ? v : 0;
}

const char *dp_report_share_basis_name(enum dp_share_basis b)
{
    return b == DP_SHARE_COST ? "cost" : b == DP_SHARE_TOKENS ? "tokens" : "wall time";
}

double dp_report_fix_share_pct(const dp_run_profile *p, const dp_recommendation *r,
                               enum dp_share_basis *basis)
{
    double time = pct(r->savings_time_ms, p->wall_ms);
    double money = r->savings_cost_known
                       ? pct(r->savings_cost_usd, p->cost_usd)
                       : pct((double)r->savings_tokens, (double)dp_token_total(&p->tokens));
    if (basis)
        *basis = money > time ? (r->savings_cost_known ? DP_SHARE_COST : DP_SHARE_TOKENS)
                              : DP_SHARE_WALL_TIME;
    return time >= money ? time : money;
}

/* Whether a ranks before b: larger share, then more time, then more cost
 * saved, then the recommendations' own order. */
static bool ranks_before(const dp_run_profile *p, size_t a, size_t b)
{
    const dp_recommendation *x = &p->recommendations[a], *y = &p->recommendations[b];
    double sx = dp_report_fix_share_pct(p, x, NULL), sy = dp_report_fix_share_pct(p, y, NULL);
    if (sx != sy)
        return sx > sy;
    if (x->savings_time_ms != y->savings_time_ms)
        return x->savings_time_ms > y->savings_time_ms;
    if (x->savings_cost_usd != y->savings_cost_usd)
        return x->savings_cost_usd > y->savings_cost_usd;
    return a < b;
}

enum unit { UNIT_TIME, UNIT_TOKENS, UNIT_COST };

static double saving_in(const dp_recommendation *r, enum unit u)
{
    double v = u == UNIT_TIME     ? r->savings_time_ms
               : u == UNIT_TOKENS ? (double)r->savings_tokens
                                  : r->savings_cost_usd;
    return isfinite(v) && v > 0 ? v : 0;
}

/* Two fixes overlap in a unit when both save something in it and either
 * lists the other as claiming the same savings. */
static bool overlap_in(const dp_recommendation *a, const dp_recommendation *b, enum unit u)
{
    return saving_in(a, u) > 0 && saving_in(b, u) > 0 &&
           ((a->overlaps & (1u << b->type)) || (b->overlaps & (1u << a->type)));
}

/* The largest sum of the unit's savings over a set of fixes no two of which
 * overlap in it (every subset of at most DP_TOP_FIXES fixes is tried). */
static double best_disjoint(const dp_recommendation *const *fix, size_t n, enum unit u)
{
    double best = 0;
    for (unsigned set = 1; set < 1u << n; set++) {
        double sum = 0;
        bool ok = true;
        for (size_t i = 0; i < n && ok; i++) {
            if (!(set & 1u << i))
                continue;
            for (size_t j = i + 1; j < n && ok; j++)
                ok = !(set & 1u << j) || !overlap_in(fix[i], fix[j], u);
            sum += saving_in(fix[i], u);
        }
        if (ok && sum > best)
            best = sum;
    }
    return best;
}

void dp_report_top_fixes(const dp_run_profile *p, dp_top_fixes *out)
{
    memset(out, 0, sizeof(*out));
    out->at_least.cost_known = out->at_most.cost_known = true;
    for (size_t r = 0; r < p->recommendation_count; r++) {
        size_t at = out->count;
        while (at > 0 && ranks_before(p, r, out->rec[at - 1]))
            at--;
        if (at >= DP_TOP_FIXES)
            continue;
        size_t last = out->count < DP_TOP_FIXES ? out->count : DP_TOP_FIXES - 1;
        memmove(&out->rec[at + 1], &out->rec[at], (last - at) * sizeof(out->rec[0]));
        out->rec[at] = r;
        if (out->count < DP_TOP_FIXES)
            out->count++;
    }
    const dp_recommendation *fix[DP_TOP_FIXES];
    for (size_t i = 0; i < out->count; i++) {
        fix[i] = &p->recommendations[out->rec[i]];
        out->share_pct[i] = dp_report_fix_share_pct(p, fix[i], &out->share_of[i]);
        out->at_most.time_ms += saving_in(fix[i], UNIT_TIME);
        out->at_most.tokens += fix[i]->savings_tokens;
        out->at_most.cost_usd += saving_in(fix[i], UNIT_COST);
        if (!fix[i]->savings_cost_known)
            out->at_least.cost_known = out->at_most.cost_known = false;
    }
    out->at_least.time_ms = best_disjoint(fix, out->count, UNIT_TIME);
    out->at_least.tokens = (uint64_t)best_disjoint(fix, out->count, UNIT_TOKENS);
    out->at_least.cost_usd = best_disjoint(fix, out->count, UNIT_COST);
    /* an unknown cost is shown as unknown, not as a range */
    out->overlapping = out->at_least.time_ms < out->at_most.time_ms ||
                       out->at_least.tokens < out->at_most.tokens ||
                       (out->at_most.cost_known && out->at_least.cost_usd < out->at_most.cost_usd);
}

static int cmp_name(const void *a, const void *b, void *arg)
{
    const dp_call_profile *calls = arg;
    const char *x = calls[*(const size_t *)a].name, *y = calls[*(const size_t *)b].name;
    return strcmp(x ? x : "", y ? y : "");
}

static int cmp_stat(const void *a, const void *b)
{
    const dp_tool_stat *x = a, *y = b;
    if (x->total_ms != y->total_ms)
        return x->total_ms > y->total_ms ? -1 : 1;
    return strcmp(x->name, y->name);
}

int dp_report_tool_stats(dp_run_profile *p)
{
    p->tool_stats = NULL;
    p->tool_stat_count = 0;
    size_t n = 0;
    for (size_t i = 0; i < p->call_count; i++)
        n += p->calls[i].is_tool;
    if (!n)
        return 0;
    size_t *idx = malloc(n * sizeof(*idx));
    double *dur = malloc(n * sizeof(*dur));
    dp_tool_stat *stats = dp_arena_calloc(&p->arena, n, sizeof(*stats));
    int rc = -1;
    if (!idx || !dur || !stats)
        goto out;
    for (size_t i = 0, k = 0; i < p->call_count; i++) {
        if (p->calls[i].is_tool)
            idx[k++] = i;
    }
    qsort_r(idx, n, sizeof(*idx), cmp_name, p->calls);
    size_t groups = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        dp_tool_stat *s = &stats[groups++];
        s->name = p->calls[idx[i]].name ? p->calls[idx[i]].name : "";
        while (j < n && cmp_name(&idx[i], &idx[j], p->calls) == 0) {
            const dp_call_profile *c = &p->calls[idx[j]];
            double d = isfinite(c->duration_ms) ? c->duration_ms : 0;
            dur[j - i] = d;
            s->total_ms += d;
            if (d > s->max_ms)
                s->max_ms = d;
            s->failures += !c->success;
            j++;
        }
        s->count = (unsigned)(j - i);
        s->p50_ms = dp_percentile_nearest_rank(dur, j - i, 50);
        i = j;
    }
    qsort(stats, groups, sizeof(*stats), cmp_stat);
    p->tool_stats = stats;
    p->tool_stat_count = groups;
    rc = 0;
out:
    free(idx);
    free(dur);
    return rc;
}

bool dp_report_cost_per_1000_runs(const dp_run_profile *p, double *usd)
{
    *usd = 0;
    if (!p->cost_any_known && p->unknown_cost_calls)
        return false;
    *usd = p->cost_usd * 1000.0;
    return true;
}

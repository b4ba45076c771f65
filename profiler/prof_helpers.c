/*
 * Helpers every step of a profile build uses: bounded formatting, prices
 * and costs, model names without their release date, span lookup by id.
 * A leaf: it calls no other step, so the steps (attrs, nodes, deps,
 * bottlenecks, recommend) depend on it and on each other without a circle.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "profile_internal.h"

void dp_prof_format(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* The four prices a call pays: a prompt above the tier's threshold moves the
 * whole call to the tier. */
typedef struct call_rates {
    double in, out, read, write;
} call_rates;

static call_rates rates_for(const dp_model_price *pr, const dp_token_counts *t)
{
    bool above = pr->tier_threshold > 0 && t->input > pr->tier_threshold;
    if (above)
        return (call_rates){pr->above_input_per_mtok, pr->above_output_per_mtok,
                            pr->above_cache_read_per_mtok, pr->above_cache_write_per_mtok};
    return (call_rates){pr->input_per_mtok, pr->output_per_mtok, pr->cache_read_per_mtok,
                        pr->cache_write_per_mtok};
}

/* cache tokens are inside input: bill them at their own rate, once */
static uint64_t uncached_input(const dp_token_counts *t)
{
    uint64_t cached = t->cache_read + t->cache_write;
    return t->input > cached ? t->input - cached : 0;
}

double dp_prof_call_cost(const dp_model_price *pr, const dp_token_counts *t)
{
    call_rates r = rates_for(pr, t);
    return ((double)uncached_input(t) * r.in + (double)t->output * r.out +
            (double)t->cache_read * r.read + (double)t->cache_write * r.write) /
           1e6;
}

void dp_prof_call_cost_split(const dp_model_price *pr, const dp_token_counts *t, dp_cost_split *out)
{
    call_rates r = rates_for(pr, t);
    out->input = (double)uncached_input(t) * r.in / 1e6;
    out->cache_read = (double)t->cache_read * r.read / 1e6;
    out->cache_write = (double)t->cache_write * r.write / 1e6;
    out->output = (double)t->output * r.out / 1e6;
    out->given = 0;
}

double dp_prof_call_input_rate(const dp_model_price *pr, const dp_token_counts *t)
{
    if (t->input == 0)
        return 0;
    dp_cost_split sp;
    dp_prof_call_cost_split(pr, t, &sp);
    return (sp.input + sp.cache_read + sp.cache_write) * 1e6 / (double)t->input;
}

void dp_cost_split_add(dp_cost_split *a, const dp_cost_split *b)
{
    a->input += b->input;
    a->cache_read += b->cache_read;
    a->cache_write += b->cache_write;
    a->output += b->output;
    a->given += b->given;
}

const dp_model_price *dp_prof_price(dp_prof_ctx *c, dp_str m)
{
    if (m.len == 0)
        return NULL;
    /* runs repeat a few models: remember the latest answers */
    for (unsigned i = 0; i < c->price_memo_count; i++)
        if (dp_str_eq(c->price_memo[i].model, m))
            return c->price_memo[i].price;
    const dp_model_price *p = dp_price_table_lookup(c->cfg->prices, m);
    unsigned slot = c->price_memo_next;
    c->price_memo_next = (slot + 1) % DP_PROF_PRICE_MEMO;
    if (c->price_memo_count < DP_PROF_PRICE_MEMO)
        c->price_memo_count++;
    c->price_memo[slot].model = m;
    c->price_memo[slot].price = p;
    return p;
}

static bool all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
    }
    return true;
}

dp_str dp_prof_undated_model(dp_str m)
{
    /* -YYYY-MM-DD */
    if (m.len > 11) {
        const char *t = m.ptr + m.len - 11;
        if (t[0] == '-' && all_digits(t + 1, 4) && t[5] == '-' && all_digits(t + 6, 2) &&
            t[8] == '-' && all_digits(t + 9, 2))
            return (dp_str){m.ptr, m.len - 11};
    }
    /* -YYYYMMDD or @YYYYMMDD */
    if (m.len > 9) {
        const char *t = m.ptr + m.len - 9;
        if ((t[0] == '-' || t[0] == '@') && all_digits(t + 1, 8) && (t[1] == '1' || t[1] == '2'))
            return (dp_str){m.ptr, m.len - 9};
    }
    return m;
}

int dp_prof_find_span(const dp_prof_ctx *c, const uint8_t id[8])
{
    const int *slots = c->id_slots;
    if (!slots)
        return -1;
    uint64_t k = dp_prof_id_key(id);
    size_t h = dp_prof_id_hash(k, c->id_mask);
    while (slots[h] >= 0) {
        if (dp_prof_id_key(c->spans[slots[h]].span_id) == k)
            return slots[h];
        h = (h + 1) & c->id_mask;
    }
    return -1;
}

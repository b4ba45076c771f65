/*
 * `dagprof diff` as text and as JSON (diff.h). Both list the same figures:
 * the two runs' totals with their deltas, the critical path before and
 * after, and every node that changed, appeared or disappeared.
 *
 * Text: milliseconds to 0.1, costs to 6 decimals, percentages to 2, as an
 * aligned table whose changes come by decreasing |duration delta| and whose
 * unchanged nodes are one line that counts them. Names from the reports are
 * printed with control characters as '?', so a report never carries a
 * terminal escape it did not write.
 *
 * JSON: one object on one line, rounded as the JSON report rounds (times to
 * the microsecond, costs to 8 decimals, ratios to 3, percentages to 2);
 * schema in docs/reports.md.
 */
#include "diff.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json_write.h"

#define MS_DECIMALS 3
#define USD_DECIMALS 8
#define RATIO_DECIMALS 3
#define PCT_DECIMALS 2

/* widest node column of the text table, in code points */
#define NODE_COLUMN_MAX 40

/* ---- text ------------------------------------------------------------------ */

/* Code points of s (UTF-8), at most `limit`; *bytes gets their length. */
static size_t code_points(const char *s, size_t limit, size_t *bytes)
{
    size_t cps = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (cps == limit)
                break;
            cps++;
        }
    }
    if (bytes)
        *bytes = i;
    return cps;
}

/* A name, control characters as '?', cut and padded to `width` code points. */
static int put_name(dp_buf *out, const char *s, size_t width)
{
    size_t bytes;
    if (!s)
        s = "-";
    size_t cps = code_points(s, width, &bytes);
    bool cut = s[bytes] != '\0';
    if (cut && bytes > 0) {
        /* room for the ~ that says so */
        cps = code_points(s, width - 1, &bytes);
    }
    for (size_t i = 0; i < bytes; i++) {
        unsigned char c = (unsigned char)s[i];
        char ch = c < 0x20 || c == 0x7f ? '?' : (char)c;
        if (dp_buf_append(out, &ch, 1) < 0)
            return -1;
    }
    if (cut && dp_buf_puts(out, "~") < 0)
        return -1;
    for (size_t i = cps + (cut ? 1 : 0); i < width; i++) {
        if (dp_buf_puts(out, " ") < 0)
            return -1;
    }
    return 0;
}

/* A whole name, control characters as '?'. */
static int put_text(dp_buf *out, const char *s)
{
    return put_name(out, s, code_points(s ? s : "-", SIZE_MAX, NULL));
}

static void fmt_pct(char *buf, size_t cap, bool have_a, double a, double b)
{
    double pct;
    if (have_a && dp_diff_percent(a, b, &pct))
        snprintf(buf, cap, "%+.2f%%", pct);
    else
        snprintf(buf, cap, "-");
}

static void fmt_usd(char *buf, size_t cap, bool present, bool known, double v)
{
    if (!present)
        snprintf(buf, cap, "-");
    else if (!known)
        snprintf(buf, cap, "unknown");
    else
        snprintf(buf, cap, "$%.6f", v);
}

static void fmt_usd_delta(char *buf, size_t cap, bool known, double d)
{
    if (!known)
        snprintf(buf, cap, "unknown");
    else
        snprintf(buf, cap, "%s$%.6f", d < 0 ? "-" : "+", fabs(d));
}

/* One line of the run table: label, A, B, delta, percent. */
static int run_line(dp_buf *out, const char *label, const char *a, const char *b, const char *delta,
                    const char *pct)
{
    return dp_buf_printf(out, "  %-16s %14s %14s %14s %10s\n", label, a, b, delta, pct);
}

static int run_ms(dp_buf *out, const char *label, double a, double b)
{
    char sa[32], sb[32], sd[32], sp[32];
    snprintf(sa, sizeof(sa), "%.1f ms", a);
    snprintf(sb, sizeof(sb), "%.1f ms", b);
    snprintf(sd, sizeof(sd), "%+.1f ms", b - a);
    fmt_pct(sp, sizeof(sp), true, a, b);
    return run_line(out, label, sa, sb, sd, sp);
}

static int run_count(dp_buf *out, const char *label, uint64_t a, uint64_t b)
{
    char sa[32], sb[32], sd[32], sp[32];
    snprintf(sa, sizeof(sa), "%" PRIu64, a);
    snprintf(sb, sizeof(sb), "%" PRIu64, b);
    snprintf(sd, sizeof(sd), "%+" PRId64, (int64_t)(b - a));
    fmt_pct(sp, sizeof(sp), true, (double)a, (double)b);
    return run_line(out, label, sa, sb, sd, sp);
}

static int run_text(dp_buf *out, const dp_run_diff *d)
{
    const dp_diff_run *a = &d->a, *b = &d->b;
    char sa[32], sb[32], sd[32], sp[32];
    int rc = dp_buf_printf(out, "Run                             A              B          delta"
                                "          %%\n");
    rc |= run_ms(out, "wall time", a->wall_ms, b->wall_ms);
    rc |= run_ms(out, "critical path", a->critical_path_ms, b->critical_path_ms);
    rc |= run_ms(out, "execution (sum)", a->execution_ms, b->execution_ms);
    snprintf(sa, sizeof(sa), "%.2f", a->parallelism);
    snprintf(sb, sizeof(sb), "%.2f", b->parallelism);
    snprintf(sd, sizeof(sd), "%+.2f", b->parallelism - a->parallelism);
    fmt_pct(sp, sizeof(sp), true, a->parallelism, b->parallelism);
    rc |= run_line(out, "parallelism", sa, sb, sd, sp);
    fmt_usd(sa, sizeof(sa), true, a->cost_known, a->cost_usd);
    fmt_usd(sb, sizeof(sb), true, b->cost_known, b->cost_usd);
    fmt_usd_delta(sd, sizeof(sd), a->cost_known && b->cost_known, b->cost_usd - a->cost_usd);
    fmt_pct(sp, sizeof(sp), a->cost_known && b->cost_known, a->cost_usd, b->cost_usd);
    rc |= run_line(out, "cost", sa, sb, sd, sp);
    rc |= run_count(out, "tokens", a->tokens.total, b->tokens.total);
    rc |= run_count(out, "  input", a->tokens.input, b->tokens.input);
    rc |= run_count(out, "  output", a->tokens.output, b->tokens.output);
    rc |= run_count(out, "  cache read", a->tokens.cache_read, b->tokens.cache_read);
    rc |= run_count(out, "  cache write", a->tokens.cache_write, b->tokens.cache_write);
    rc |= run_count(out, "nodes", a->node_count, b->node_count);
    rc |= run_count(out, "retries", a->retries, b->retries);
    return rc < 0 ? -1 : 0;
}

static int path_text(dp_buf *out, const char *label, const dp_diff_run *r)
{
    int rc = dp_buf_printf(out, "  %s (%.1f ms, %zu node%s): ", label, r->critical_path_ms,
                           r->critical_path_count, r->critical_path_count == 1 ? "" : "s");
    for (size_t i = 0; i < r->critical_path_count && rc >= 0; i++) {
        if (i)
            rc = dp_buf_puts(out, " -> ");
        if (rc >= 0)
            rc = put_text(out, r->critical_path[i]);
    }
    if (rc >= 0 && r->critical_path_count == 0)
        rc = dp_buf_puts(out, "(none)");
    return rc < 0 || dp_buf_puts(out, "\n") < 0 ? -1 : 0;
}

static const char *status_name(enum dp_diff_status s)
{
    switch (s) {
    case DP_DIFF_CHANGED:
        return "changed";
    case DP_DIFF_UNCHANGED:
        return "unchanged";
    case DP_DIFF_ADDED:
        return "added";
    default:
        return "removed";
    }
}

static const char *yes_no(const dp_diff_node_side *s)
{
    return !s->present ? "-" : s->on_critical_path ? "yes" : "no";
}

/* "before -> after" details of one changed node: wait, tokens by kind and
 * cost, each on a line when it changed; the A id of a node matched by name. */
static int node_details(dp_buf *out, const dp_diff_node *n)
{
    const dp_diff_node_side *a = &n->a, *b = &n->b;
    int rc = 0;
    if (n->match == DP_DIFF_MATCH_NAME) {
        rc |= dp_buf_puts(out, "      matched by name; id in A: ");
        rc |= put_text(out, a->id);
        rc |= dp_buf_puts(out, "\n");
    }
    if (n->status != DP_DIFF_CHANGED)
        return rc < 0 ? -1 : 0;
    if (a->wait_ms != b->wait_ms)
        rc |= dp_buf_printf(out, "      wait %.1f -> %.1f ms (%+.1f ms)\n", a->wait_ms, b->wait_ms,
                            b->wait_ms - a->wait_ms);
    const struct {
        const char *name;
        uint64_t a, b;
    } kinds[] = {
        {"input", a->tokens.input, b->tokens.input},
        {"output", a->tokens.output, b->tokens.output},
        {"cache read", a->tokens.cache_read, b->tokens.cache_read},
        {"cache write", a->tokens.cache_write, b->tokens.cache_write},
    };
    const char *sep = "      tokens ";
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        if (kinds[k].a == kinds[k].b)
            continue;
        rc |=
            dp_buf_printf(out, "%s%s %" PRIu64 " -> %" PRIu64 " (%+" PRId64 ")", sep, kinds[k].name,
                          kinds[k].a, kinds[k].b, (int64_t)(kinds[k].b - kinds[k].a));
        sep = ", ";
    }
    if (sep[0] == ',')
        rc |= dp_buf_puts(out, "\n");
    if (a->cost_known != b->cost_known || a->cost_usd != b->cost_usd) {
        char sa[32], sb[32];
        fmt_usd(sa, sizeof(sa), true, a->cost_known, a->cost_usd);
        fmt_usd(sb, sizeof(sb), true, b->cost_known, b->cost_usd);
        rc |= dp_buf_printf(out, "      cost %s -> %s\n", sa, sb);
    }
    return rc < 0 ? -1 : 0;
}

/* "a -> b" of two figures, "-" for a side without the node. */
static void fmt_pair(char *buf, size_t cap, const char *a, const char *b)
{
    snprintf(buf, cap, "%s -> %s", a, b);
}

static int node_row(dp_buf *out, const dp_diff_node *n, size_t width)
{
    const dp_diff_node_side *a = &n->a, *b = &n->b;
    char da[32], db[32], dd[32], dpct[32], dw[32], dt[32], dc[32], ra[24], rb[24], rr[56], cr[16];
    double delta_ms = (b->present ? b->duration_ms : 0) - (a->present ? a->duration_ms : 0);
    snprintf(da, sizeof(da), a->present ? "%.1f" : "-", a->duration_ms);
    snprintf(db, sizeof(db), b->present ? "%.1f" : "-", b->duration_ms);
    snprintf(dd, sizeof(dd), "%+.1f", delta_ms);
    fmt_pct(dpct, sizeof(dpct), a->present && b->present, a->duration_ms, b->duration_ms);
    snprintf(dw, sizeof(dw), "%+.1f",
             (b->present ? b->wait_ms : 0) - (a->present ? a->wait_ms : 0));
    snprintf(dt, sizeof(dt), "%+" PRId64,
             (int64_t)((b->present ? b->tokens.total : 0) - (a->present ? a->tokens.total : 0)));
    bool cost_known = (!a->present || a->cost_known) && (!b->present || b->cost_known);
    fmt_usd_delta(dc, sizeof(dc), cost_known,
                  (b->present ? b->cost_usd : 0) - (a->present ? a->cost_usd : 0));
    snprintf(ra, sizeof(ra), a->present ? "%" PRIu64 : "-", a->retries);
    snprintf(rb, sizeof(rb), b->present ? "%" PRIu64 : "-", b->retries);
    fmt_pair(rr, sizeof(rr), ra, rb);
    fmt_pair(cr, sizeof(cr), yes_no(a), yes_no(b));

    int rc = dp_buf_puts(out, "  ");
    rc |= put_name(out, b->present ? b->id : a->id, width);
    rc |= dp_buf_printf(out, " %-9s %10s %10s %10s %9s %9s %9s %12s %8s %10s  ",
                        status_name(n->status), da, db, dd, dpct, dw, dt, dc, rr, cr);
    const char *ma = a->present ? (a->model ? a->model : "-") : NULL;
    const char *mb = b->present ? (b->model ? b->model : "-") : NULL;
    if (ma && mb && strcmp(ma, mb) != 0) {
        rc |= put_text(out, ma);
        rc |= dp_buf_puts(out, " -> ");
        rc |= put_text(out, mb);
    } else {
        const char *m = mb ? mb : ma;
        rc |= put_text(out, m);
    }
    rc |= dp_buf_puts(out, "\n");
    if (rc >= 0)
        rc = node_details(out, n);
    return rc < 0 ? -1 : 0;
}

static int nodes_text(dp_buf *out, const dp_run_diff *d)
{
    size_t width = 4; /* "NODE" */
    for (size_t i = 0; i < d->node_count; i++) {
        const dp_diff_node *n = &d->nodes[i];
        size_t w = code_points(n->b.present ? n->b.id : n->a.id, NODE_COLUMN_MAX, NULL);
        if (n->status != DP_DIFF_UNCHANGED && w > width)
            width = w;
    }
    int rc = dp_buf_printf(out,
                           "Nodes: %zu changed, %zu added, %zu removed, %zu unchanged "
                           "(changes by |duration delta|, largest first)\n",
                           d->changed, d->added, d->removed, d->unchanged);
    if (d->node_count > d->unchanged) {
        rc |= dp_buf_puts(out, "  ");
        rc |= put_name(out, "NODE", width);
        rc |= dp_buf_printf(out, " %-9s %10s %10s %10s %9s %9s %9s %12s %8s %10s  %s\n", "STATUS",
                            "DUR A ms", "DUR B ms", "DELTA ms", "%", "WAIT +ms", "TOKENS +",
                            "COST +", "RETRY", "CRIT", "MODEL");
    }
    for (size_t i = 0; i < d->node_count && rc >= 0; i++) {
        if (d->nodes[i].status != DP_DIFF_UNCHANGED)
            rc = node_row(out, &d->nodes[i], width);
    }
    if (d->unchanged)
        rc |= dp_buf_printf(out, "  %zu node%s unchanged (every figure above equal), not listed\n",
                            d->unchanged, d->unchanged == 1 ? "" : "s");
    return rc < 0 ? -1 : 0;
}

int dp_diff_render_text(const dp_run_diff *d, dp_buf *out)
{
    if (!d || !out)
        return -1;
    int rc = dp_buf_puts(out, "=== dagprof diff  A ");
    rc |= put_text(out, d->a.dag_id ? d->a.dag_id : "unknown");
    rc |= dp_buf_puts(out, " trace ");
    rc |= put_text(out, d->a.trace_id);
    rc |= dp_buf_puts(out, "  ->  B ");
    rc |= put_text(out, d->b.dag_id ? d->b.dag_id : "unknown");
    rc |= dp_buf_puts(out, " trace ");
    rc |= put_text(out, d->b.trace_id);
    rc |= dp_buf_puts(out, " ===\n");
    if (rc >= 0)
        rc = run_text(out, d);
    if (rc >= 0)
        rc = dp_buf_printf(out, "\nCritical path%s\n",
                           d->critical_path_changed ? " (changed)" : " (same nodes)");
    if (rc >= 0)
        rc = path_text(out, "A", &d->a);
    if (rc >= 0)
        rc = path_text(out, "B", &d->b);
    if (rc >= 0)
        rc = dp_buf_puts(out, "\n");
    if (rc >= 0)
        rc = nodes_text(out, d);
    return rc < 0 ? -1 : 0;
}

/* ---- JSON ------------------------------------------------------------------ */

/* {"a": …, "b": …, "delta": …, "pct": …} of a real figure; an absent side
 * is null and counts as 0 in the delta, which has no percentage then. */
static void change_real(dp_json_writer *w, const char *key, bool have_a, double a, bool have_b,
                        double b, unsigned decimals)
{
    double pct;
    dp_json_writer_key(w, key);
    dp_json_writer_object_begin(w);
    dp_json_writer_key(w, "a");
    if (have_a)
        dp_json_writer_double(w, a, decimals);
    else
        dp_json_writer_null(w);
    dp_json_writer_key(w, "b");
    if (have_b)
        dp_json_writer_double(w, b, decimals);
    else
        dp_json_writer_null(w);
    dp_json_writer_key(w, "delta");
    dp_json_writer_double(w, (have_b ? b : 0) - (have_a ? a : 0), decimals);
    dp_json_writer_key(w, "pct");
    if (have_a && have_b && dp_diff_percent(a, b, &pct))
        dp_json_writer_double(w, pct, PCT_DECIMALS);
    else
        dp_json_writer_null(w);
    dp_json_writer_object_end(w);
}

/* A cost: unknown on a present side makes that side and the delta null. */
static void change_usd(dp_json_writer *w, bool have_a, bool known_a, double a, bool have_b,
                       bool known_b, double b)
{
    double pct;
    dp_json_writer_key(w, "cost_usd");
    dp_json_writer_object_begin(w);
    dp_json_writer_key(w, "a");
    if (have_a && known_a)
        dp_json_writer_double(w, a, USD_DECIMALS);
    else
        dp_json_writer_null(w);
    dp_json_writer_key(w, "b");
    if (have_b && known_b)
        dp_json_writer_double(w, b, USD_DECIMALS);
    else
        dp_json_writer_null(w);
    bool known = (!have_a || known_a) && (!have_b || known_b);
    dp_json_writer_key(w, "delta");
    if (known)
        dp_json_writer_double(w, (have_b ? b : 0) - (have_a ? a : 0), USD_DECIMALS);
    else
        dp_json_writer_null(w);
    dp_json_writer_key(w, "pct");
    if (known && have_a && have_b && dp_diff_percent(a, b, &pct))
        dp_json_writer_double(w, pct, PCT_DECIMALS);
    else
        dp_json_writer_null(w);
    dp_json_writer_object_end(w);
}

static void change_count(dp_json_writer *w, const char *key, bool have_a, uint64_t a, bool have_b,
                         uint64_t b)
{
    double pct;
    dp_json_writer_key(w, key);
    dp_json_writer_object_begin(w);
    dp_json_writer_key(w, "a");
    if (have_a)
        dp_json_writer_uint(w, a);
    else
        dp_json_writer_null(w);
    dp_json_writer_key(w, "b");
    if (have_b)
        dp_json_writer_uint(w, b);
    else
        dp_json_writer_null(w);
    dp_json_writer_key(w, "delta");
    dp_json_writer_int(w, (int64_t)((have_b ? b : 0) - (have_a ? a : 0)));
    dp_json_writer_key(w, "pct");
    if (have_a && have_b && dp_diff_percent((double)a, (double)b, &pct))
        dp_json_writer_double(w, pct, PCT_DECIMALS);
    else
        dp_json_writer_null(w);
    dp_json_writer_object_end(w);
}

static void change_tokens(dp_json_writer *w, bool have_a, const dp_diff_tokens *a, bool have_b,
                          const dp_diff_tokens *b)
{
    dp_json_writer_key(w, "tokens");
    dp_json_writer_object_begin(w);
    change_count(w, "input", have_a, a->input, have_b, b->input);
    change_count(w, "output", have_a, a->output, have_b, b->output);
    change_count(w, "cache_read", have_a, a->cache_read, have_b, b->cache_read);
    change_count(w, "cache_write", have_a, a->cache_write, have_b, b->cache_write);
    change_count(w, "total", have_a, a->total, have_b, b->total);
    dp_json_writer_object_end(w);
}

static void nullable_text(dp_json_writer *w, const char *key, bool have, const char *s)
{
    dp_json_writer_key(w, key);
    if (have && s)
        dp_json_writer_cstring(w, s);
    else
        dp_json_writer_null(w);
}

static void nullable_bool(dp_json_writer *w, const char *key, bool have, bool v)
{
    dp_json_writer_key(w, key);
    if (have)
        dp_json_writer_bool(w, v);
    else
        dp_json_writer_null(w);
}

static void run_json(dp_json_writer *w, const char *key, const dp_diff_run *r)
{
    dp_json_writer_key(w, key);
    dp_json_writer_object_begin(w);
    nullable_text(w, "trace_id", true, r->trace_id);
    nullable_text(w, "dag_id", true, r->dag_id);
    dp_json_writer_key(w, "critical_path");
    dp_json_writer_object_begin(w);
    dp_json_writer_key(w, "duration_ms");
    dp_json_writer_double(w, r->critical_path_ms, MS_DECIMALS);
    dp_json_writer_key(w, "node_count");
    dp_json_writer_uint(w, r->critical_path_count);
    dp_json_writer_key(w, "nodes");
    dp_json_writer_array_begin(w);
    for (size_t i = 0; i < r->critical_path_count; i++)
        dp_json_writer_cstring(w, r->critical_path[i]);
    dp_json_writer_array_end(w);
    dp_json_writer_object_end(w);
    dp_json_writer_object_end(w);
}

static void totals_json(dp_json_writer *w, const dp_run_diff *d)
{
    const dp_diff_run *a = &d->a, *b = &d->b;
    dp_json_writer_key(w, "totals");
    dp_json_writer_object_begin(w);
    change_real(w, "wall_ms", true, a->wall_ms, true, b->wall_ms, MS_DECIMALS);
    change_real(w, "critical_path_ms", true, a->critical_path_ms, true, b->critical_path_ms,
                MS_DECIMALS);
    change_real(w, "execution_ms", true, a->execution_ms, true, b->execution_ms, MS_DECIMALS);
    change_real(w, "parallelism", true, a->parallelism, true, b->parallelism, RATIO_DECIMALS);
    change_usd(w, true, a->cost_known, a->cost_usd, true, b->cost_known, b->cost_usd);
    change_tokens(w, true, &a->tokens, true, &b->tokens);
    change_count(w, "node_count", true, a->node_count, true, b->node_count);
    change_count(w, "retries", true, a->retries, true, b->retries);
    dp_json_writer_object_end(w);
}

static void node_json(dp_json_writer *w, const dp_diff_node *n)
{
    const dp_diff_node_side *a = &n->a, *b = &n->b;
    const dp_diff_node_side *now = b->present ? b : a;
    dp_json_writer_object_begin(w);
    dp_json_writer_key(w, "id");
    dp_json_writer_cstring(w, now->id);
    dp_json_writer_key(w, "name");
    dp_json_writer_cstring(w, now->name);
    dp_json_writer_key(w, "status");
    dp_json_writer_cstring(w, status_name(n->status));
    dp_json_writer_key(w, "matched_by");
    if (n->match == DP_DIFF_MATCH_NONE)
        dp_json_writer_null(w);
    else
        dp_json_writer_cstring(w, n->match == DP_DIFF_MATCH_ID ? "id" : "name");
    nullable_text(w, "id_a", a->present, a->id);
    change_real(w, "duration_ms", a->present, a->duration_ms, b->present, b->duration_ms,
                MS_DECIMALS);
    change_real(w, "wait_ms", a->present, a->wait_ms, b->present, b->wait_ms, MS_DECIMALS);
    change_tokens(w, a->present, &a->tokens, b->present, &b->tokens);
    change_usd(w, a->present, a->cost_known, a->cost_usd, b->present, b->cost_known, b->cost_usd);
    change_count(w, "retries", a->present, a->retries, b->present, b->retries);
    dp_json_writer_key(w, "model");
    dp_json_writer_object_begin(w);
    nullable_text(w, "a", a->present, a->model);
    nullable_text(w, "b", b->present, b->model);
    dp_json_writer_key(w, "changed");
    dp_json_writer_bool(w, a->present && b->present &&
                               !((!a->model && !b->model) ||
                                 (a->model && b->model && strcmp(a->model, b->model) == 0)));
    dp_json_writer_object_end(w);
    dp_json_writer_key(w, "on_critical_path");
    dp_json_writer_object_begin(w);
    nullable_bool(w, "a", a->present, a->on_critical_path);
    nullable_bool(w, "b", b->present, b->on_critical_path);
    dp_json_writer_object_end(w);
    dp_json_writer_object_end(w);
}

int dp_diff_render_json(const dp_run_diff *d, dp_buf *out)
{
    if (!d || !out)
        return -1;
    dp_json_writer w;
    dp_json_writer_init(&w, out);
    dp_json_writer_object_begin(&w);
    run_json(&w, "a", &d->a);
    run_json(&w, "b", &d->b);
    totals_json(&w, d);
    dp_json_writer_key(&w, "critical_path_changed");
    dp_json_writer_bool(&w, d->critical_path_changed);
    dp_json_writer_key(&w, "counts");
    dp_json_writer_object_begin(&w);
    dp_json_writer_key(&w, "changed");
    dp_json_writer_uint(&w, d->changed);
    dp_json_writer_key(&w, "added");
    dp_json_writer_uint(&w, d->added);
    dp_json_writer_key(&w, "removed");
    dp_json_writer_uint(&w, d->removed);
    dp_json_writer_key(&w, "unchanged");
    dp_json_writer_uint(&w, d->unchanged);
    dp_json_writer_object_end(&w);
    dp_json_writer_key(&w, "nodes");
    dp_json_writer_array_begin(&w);
    for (size_t i = 0; i < d->node_count; i++)
        node_json(&w, &d->nodes[i]);
    dp_json_writer_array_end(&w);
    dp_json_writer_object_end(&w);
    if (!w.err && dp_buf_append(out, "\n", 1) != 0)
        w.err = -1;
    return dp_json_writer_finish(&w);
}

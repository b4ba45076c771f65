/*
 * What the parts of the HTML report share (render_html.c: the page, the
 * summary, the waterfall, the tables and findings; render_html_graph.c: the
 * DAG drawn as layers; render_html_bars.c: cost, tokens, wait against
 * execution): the output state and the small writers every part uses, so
 * each figure is written the same way everywhere (the JSON report's
 * rounding) and every text from spans through dp_html_escape().
 */
#ifndef DP_RENDER_HTML_INTERNAL_H
#define DP_RENDER_HTML_INTERNAL_H

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "json_write.h"
#include "profile_types.h"
#include "render.h"

/* the JSON report's rounding (render_json.c) */
#define MS_DECIMALS 3
#define USD_DECIMALS 8
#define RATIO_DECIMALS 3
#define PCT_DECIMALS 2

/** A page being written: errors are sticky (0, or -1 after the first failure). */
typedef struct html_out {
    dp_buf *b;
    int err;
    char rid[40]; /* anchor prefix of the run: "r" + trace id hex */
} html_out;

static inline void html_put(html_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void html_put(html_out *o, const char *fmt, ...)
{
    if (o->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (dp_buf_vprintf(o->b, fmt, ap) < 0)
        o->err = -1;
    va_end(ap);
}

/* Markup of ours, as it is. */
static inline void html_lit(html_out *o, const char *s)
{
    if (!o->err && dp_buf_puts(o->b, s) < 0)
        o->err = -1;
}

/* Untrusted text, escaped; NULL writes `none`. */
static inline void html_text(html_out *o, const char *s, const char *none)
{
    if (!s)
        s = none;
    if (!o->err && dp_html_escape(o->b, s, strlen(s)) < 0)
        o->err = -1;
}

/* At most `chars` code points of s, escaped, with "…" when cut. */
static inline void html_text_cut(html_out *o, const char *s, size_t chars)
{
    size_t i = 0, seen = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && seen++ == chars)
            break;
    }
    if (!o->err && dp_html_escape(o->b, s, i) < 0)
        o->err = -1;
    if (s[i])
        html_lit(o, "\xe2\x80\xa6");
}

/* A figure as the JSON report writes it; html_ms and html_usd add the unit. */
static inline void html_num(html_out *o, double v, unsigned decimals)
{
    char tmp[DP_JSON_NUMBER_MAX];
    dp_json_format_double(tmp, v, decimals);
    html_lit(o, tmp);
}

static inline void html_ms(html_out *o, double v)
{
    html_num(o, v, MS_DECIMALS);
    html_lit(o, " ms");
}

static inline void html_usd(html_out *o, double v, bool known)
{
    if (!known) {
        html_lit(o, "unknown");
        return;
    }
    html_lit(o, "$");
    html_num(o, v, USD_DECIMALS);
}

/* A share in thousandths of a percent, for CSS geometry (not a reported
 * figure), printed with SHARE_FMT: integers, as printf's reals are slow. */
static inline long html_share(double part, double whole)
{
    if (!(whole > 0) || !(part > 0))
        return 0;
    double v = part / whole * 100.0;
    return lround((v > 100 ? 100 : v) * 1000);
}
#define SHARE_FMT "%ld.%03ld%%"
#define SHARE_ARGS(s) (s) / 1000, (s) % 1000

static inline bool html_run_cost_known(const dp_run_profile *p)
{
    return p->cost_any_known || p->unknown_cost_calls == 0; /* as render_json.c */
}

static inline const char *html_deps_name(const dp_run_profile *p)
{
    return p->deps_source == DP_DEPS_LANGGRAPH_STEPS ? "langgraph_steps"
           : p->explicit_deps                        ? "declared"
                                                     : "inferred";
}

/* A link to node `node`'s row of the node table; "(run)" for -1. */
static inline void html_node_link(html_out *o, const dp_run_profile *p, int node)
{
    if (node < 0) {
        html_lit(o, "(run)");
        return;
    }
    html_put(o, "<a href=\"#%s-n%d\">", o->rid, node);
    html_text(o, p->nodes[node].id, "");
    html_lit(o, "</a>");
}

/** "ID: start, duration, wait, cost[, on the critical path]": a node's tooltip text. */
void dp_html_node_tooltip(html_out *o, const dp_node_profile *n);

/** The DAG of the run in layers by dependency depth (render_html_graph.c). */
void dp_html_graph(html_out *o, const dp_run_profile *p);

/** Cost and tokens by node and by model (render_html_bars.c). */
void dp_html_cost_section(html_out *o, const dp_run_profile *p);

/** Wait and execution of every node (render_html_bars.c). */
void dp_html_wait_section(html_out *o, const dp_run_profile *p);

#endif

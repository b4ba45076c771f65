/*
 * Self-telemetry snapshots and their Prometheus text (see telemetry.h).
 * A snapshot is built at a scrape, an export or a status line: a few
 * hundred points at most, so lists in an arena are plenty.
 */
#include "telemetry.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A snapshot is small: tens of families, hundreds of points. */
#define TELEMETRY_ARENA_BLOCK (16u * 1024)
#define TELEMETRY_ARENA_MAX (16u * 1024 * 1024)
#define TELEMETRY_MAX_LABELS 8

void dp_telemetry_init(dp_telemetry *t)
{
    memset(t, 0, sizeof(*t));
    dp_arena_init(&t->arena, TELEMETRY_ARENA_BLOCK, TELEMETRY_ARENA_MAX);
}

void dp_telemetry_free(dp_telemetry *t)
{
    dp_arena_free(&t->arena);
    memset(t, 0, sizeof(*t));
}

dp_telemetry_family *dp_telemetry_family_add(dp_telemetry *t, const char *name,
                                             enum dp_telemetry_kind kind, const char *unit,
                                             const char *help)
{
    dp_telemetry_family *f = dp_arena_calloc(&t->arena, 1, sizeof(*f));
    if (!f) {
        t->failed = true;
        return NULL;
    }
    f->name = name;
    f->kind = kind;
    f->unit = unit;
    f->help = help;
    f->fractional = unit && strcmp(unit, "s") == 0;
    if (t->last)
        t->last->next = f;
    else
        t->first = f;
    t->last = f;
    t->family_count++;
    return f;
}

void dp_telemetry_add_labels(dp_telemetry *t, double value, const dp_telemetry_label *labels,
                             size_t count)
{
    dp_telemetry_family *f = t->last;
    dp_telemetry_point *p = f ? dp_arena_calloc(&t->arena, 1, sizeof(*p)) : NULL;
    dp_telemetry_label *copy = count ? dp_arena_calloc(&t->arena, count, sizeof(*copy)) : NULL;
    if (!p || (count && !copy)) {
        t->failed = true;
        return;
    }
    for (size_t i = 0; i < count; i++) {
        copy[i].key = dp_arena_strndup(&t->arena, labels[i].key, strlen(labels[i].key));
        copy[i].value = dp_arena_strndup(&t->arena, labels[i].value, strlen(labels[i].value));
        if (!copy[i].key || !copy[i].value) {
            t->failed = true;
            return;
        }
    }
    p->labels = copy;
    p->label_count = count;
    p->value = value;
    if (f->last)
        f->last->next = p;
    else
        f->first = p;
    f->last = p;
    f->point_count++;
    t->point_count++;
}

void dp_telemetry_add(dp_telemetry *t, double value, ...)
{
    dp_telemetry_label labels[TELEMETRY_MAX_LABELS];
    size_t n = 0;
    va_list ap;
    va_start(ap, value);
    for (const char *key; (key = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        if (n < TELEMETRY_MAX_LABELS)
            labels[n++] = (dp_telemetry_label){key, v ? v : ""};
    }
    va_end(ap);
    dp_telemetry_add_labels(t, value, labels, n);
}

const dp_telemetry_family *dp_telemetry_find(const dp_telemetry *t, const char *name)
{
    for (const dp_telemetry_family *f = t->first; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

double dp_telemetry_sum(const dp_telemetry *t, const char *name)
{
    const dp_telemetry_family *f = dp_telemetry_find(t, name);
    double sum = 0;
    for (const dp_telemetry_point *p = f ? f->first : NULL; p; p = p->next)
        sum += p->value;
    return sum;
}

double dp_telemetry_value(const dp_telemetry *t, const char *name, const char *key,
                          const char *value)
{
    const dp_telemetry_family *f = dp_telemetry_find(t, name);
    for (const dp_telemetry_point *p = f ? f->first : NULL; p; p = p->next) {
        if (!key)
            return p->value;
        for (size_t i = 0; i < p->label_count; i++)
            if (strcmp(p->labels[i].key, key) == 0 && strcmp(p->labels[i].value, value) == 0)
                return p->value;
    }
    return 0;
}

/* --- Prometheus text format 0.0.4 -------------------------------------------------------- */

/* Help text (quote false) escapes backslash and line feed; a label value
 * (quote true) also the double quote. */
static int put_escaped(dp_buf *out, const char *s, bool quote)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        if (*s == '\\')
            rc = dp_buf_puts(out, "\\\\");
        else if (*s == '\n')
            rc = dp_buf_puts(out, "\\n");
        else if (*s == '"' && quote)
            rc = dp_buf_puts(out, "\\\"");
        else
            rc = dp_buf_append(out, s, 1);
    }
    return rc;
}

/* The shortest text that reads back as the same double (whole numbers
 * without a fraction or an exponent up to 2^53); NaN and infinities as
 * the format spells them. */
static void format_value(double v, char *out, size_t len)
{
    if (isnan(v)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, len, "%.0f", v);
        return;
    }
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(out, len, "%.*g", precision, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static int put_point(dp_buf *out, const dp_telemetry_family *f, const dp_telemetry_point *p)
{
    char value[40];
    int rc = dp_buf_printf(out, "%s%s", f->name, f->kind == DP_TELEMETRY_COUNTER ? "_total" : "");
    for (size_t i = 0; i < p->label_count && rc == 0; i++) {
        rc = dp_buf_printf(out, "%s%s=\"", i ? "," : "{", p->labels[i].key);
        if (rc == 0)
            rc = put_escaped(out, p->labels[i].value, true);
        if (rc == 0)
            rc = dp_buf_puts(out, "\"");
    }
    if (rc == 0 && p->label_count)
        rc = dp_buf_puts(out, "}");
    format_value(p->value, value, sizeof(value));
    return rc == 0 ? dp_buf_printf(out, " %s\n", value) : rc;
}

int dp_telemetry_render_prometheus(const dp_telemetry *t, dp_buf *out)
{
    for (const dp_telemetry_family *f = t->first; f; f = f->next) {
        const char *suffix = f->kind == DP_TELEMETRY_COUNTER ? "_total" : "";
        if (dp_buf_printf(out, "# HELP %s%s ", f->name, suffix) < 0 ||
            put_escaped(out, f->help, false) < 0 ||
            dp_buf_printf(out, "\n# TYPE %s%s %s\n", f->name, suffix,
                          f->kind == DP_TELEMETRY_COUNTER ? "counter" : "gauge") < 0)
            return -1;
        for (const dp_telemetry_point *p = f->first; p; p = p->next)
            if (put_point(out, f, p) < 0)
                return -1;
    }
    return 0;
}

/*
 * One configuration key at a time: its default, parsing the text a user
 * wrote, storing it in the owner's struct, formatting it back, and its range
 * for messages and documentation. Everything that reads user settings (YAML
 * file, flags, --set) goes through dp_config_key_set(), so a value means the
 * same thing wherever it is written, and the defaults in the tables are
 * parsed the same way. See config_map.h.
 */
#include "config_map.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "url_redact.h"

#define KIB DP_CONFIG_KIB
#define MIB DP_CONFIG_MIB
#define GIB DP_CONFIG_GIB
#define HOUR_MS DP_CONFIG_HOUR_MS

const dp_config_key *dp_config_key_find(const dp_config_section *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->key_count; i++) {
        const char *n = s->keys[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &s->keys[i];
    }
    return NULL;
}

const char *dp_config_type_name(const dp_config_key *k)
{
    switch (k->type) {
    case DP_CFG_STRING:
        return "string";
    case DP_CFG_UINT:
        return "integer";
    case DP_CFG_SIZE:
        return "size";
    case DP_CFG_DURATION:
    case DP_CFG_DURATION_D:
        return "duration";
    case DP_CFG_DOUBLE:
        return "number";
    case DP_CFG_ENUM:
    case DP_CFG_ENUM_STRING:
        return "enum";
    }
    return "?";
}

/* Sizes and durations are shown in the largest unit that divides them
 * exactly, so a range reads "1KiB..1GiB" rather than "1024..1073741824". */
static void format_bytes(double v, char *out, size_t outlen)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (v >= units[i].mult && fmod(v, units[i].mult) == 0) {
            snprintf(out, outlen, "%.0f%s", v / units[i].mult, units[i].unit);
            return;
        }
    }
    snprintf(out, outlen, "%.0fB", v);
}

static void format_ms(double v, char *out, size_t outlen)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"h", HOUR_MS}, {"m", 60000.0}, {"s", 1000.0}};
    if (v == 0) {
        snprintf(out, outlen, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (v >= units[i].mult && fmod(v, units[i].mult) == 0) {
            snprintf(out, outlen, "%.0f%s", v / units[i].mult, units[i].unit);
            return;
        }
    }
    snprintf(out, outlen, "%gms", v);
}

static void format_number(const dp_config_key *k, double v, char *out, size_t outlen)
{
    switch (k->type) {
    case DP_CFG_SIZE:
        format_bytes(v, out, outlen);
        break;
    case DP_CFG_DURATION:
    case DP_CFG_DURATION_D:
        format_ms(v, out, outlen);
        break;
    default:
        snprintf(out, outlen, "%.15g", v);
        break;
    }
}

int dp_config_list_append(char *out, size_t outlen, const char *name)
{
    size_t used = strlen(out);
    int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", name);
    return n < 0 || (size_t)n >= outlen - used ? -1 : 0;
}

int dp_config_key_names(const dp_config_section *s, char *out, size_t outlen)
{
    if (outlen == 0)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < s->key_count; i++)
        if (dp_config_list_append(out, outlen, s->keys[i].name) < 0)
            return -1;
    return 0;
}

void dp_config_key_range_text(const dp_config_key *k, char *out, size_t outlen)
{
    char lo[32], hi[32];
    if (outlen == 0)
        return;
    out[0] = '\0';
    switch (k->type) {
    case DP_CFG_STRING:
        break;
    case DP_CFG_ENUM:
    case DP_CFG_ENUM_STRING:
        for (size_t i = 0; k->enum_values[i].name; i++)
            if (dp_config_list_append(out, outlen, k->enum_values[i].name) < 0)
                break;
        break;
    default:
        format_number(k, k->min, lo, sizeof(lo));
        format_number(k, k->max, hi, sizeof(hi));
        snprintf(out, outlen, "%s..%s", lo, hi);
        break;
    }
}

/* A whole number of at most 20 digits, no sign, no spaces. */
static int parse_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (*s != '\0')
        return -1;
    *out = v;
    return 0;
}

/* "12", "1.5": digits with an optional fraction; sets *end past it. No
 * exponents, signs, hex or inf/nan, which strtod alone would accept; the
 * value itself comes from strtod so it is correctly rounded ("0.3" is the
 * same double as the C literal 0.3). */
static int parse_decimal(const char *s, double *out, const char **end)
{
    const char *p = s;
    char digits[64];
    if (!isdigit((unsigned char)*p))
        return -1;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((size_t)(p - s) >= sizeof(digits))
        return -1;
    memcpy(digits, s, (size_t)(p - s));
    digits[p - s] = '\0';
    *out = strtod(digits, NULL);
    *end = p;
    return 0;
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

static int parse_size(const char *s, double *out)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1},      {"b", 1},     {"byte", 1}, {"bytes", 1}, {"kib", KIB},
        {"mib", MIB}, {"gib", GIB}, {"kb", 1e3}, {"mb", 1e6},  {"gb", 1e9},
    };
    double v;
    const char *p;
    if (parse_decimal(s, &v, &p) < 0)
        return -1;
    p = skip_spaces(p);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].unit) == 0) {
            *out = floor(v * units[i].mult);
            return 0;
        }
    }
    return -1;
}

/* A duration needs its unit (a bare "2" could mean 2 ms or 2 s); only 0
 * may stand alone. */
static int parse_duration(const char *s, double *out_ms)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", HOUR_MS}, {"d", 24 * HOUR_MS}};
    double v;
    const char *p;
    if (parse_decimal(s, &v, &p) < 0)
        return -1;
    p = skip_spaces(p);
    if (*p == '\0')
        return v == 0 ? (*out_ms = 0, 0) : -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].unit) == 0) {
            *out_ms = v * units[i].mult;
            return 0;
        }
    }
    return -1;
}

static int parse_double(const char *s, double *out)
{
    double v;
    const char *p = s;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (parse_decimal(p, &v, &p) < 0)
        return -1;
    if (*p == 'e' || *p == 'E') {
        /* exponents are rare in a config but harmless: let strtod do them */
        char *end;
        v = strtod(s, &end);
        if (*end != '\0' || !isfinite(v))
            return -1;
        *out = v;
        return 0;
    }
    if (*p != '\0')
        return -1;
    *out = neg ? -v : v;
    return 0;
}

static const char *expected_text(const dp_config_key *k)
{
    switch (k->type) {
    case DP_CFG_UINT:
        return "a whole number";
    case DP_CFG_SIZE:
        return "a size such as 16MiB, 512KiB or 1048576";
    case DP_CFG_DURATION:
    case DP_CFG_DURATION_D:
        return "a duration such as 500ms, 2s, 1.5m or 1h";
    case DP_CFG_DOUBLE:
        return "a number";
    default:
        return "a value";
    }
}

static void store_uint(void *field, size_t size, uint64_t v)
{
    if (size == sizeof(uint64_t)) {
        uint64_t x = v;
        memcpy(field, &x, sizeof(x));
    } else {
        unsigned x = (unsigned)v;
        memcpy(field, &x, sizeof(x));
    }
}

int dp_config_key_set(void *base, const dp_config_section *s, const dp_config_key *k,
                      const char *value, size_t len, char *err, size_t errlen)
{
    /* A copy with a NUL, longer than the longest string key (4 KiB, the
     * upstream headers); values longer than that are wrong for every key. */
    char text[4200];
    char shown[64];
    char range[160];
    char *field = (char *)base + k->offset;
    const char *problem;
    double num = 0;

    if (len >= sizeof(text) || memchr(value, '\0', len)) {
        snprintf(err, errlen, "%s.%s: value is too long or contains a NUL byte", s->name, k->name);
        return -1;
    }
    memcpy(text, value, len);
    text[len] = '\0';
    /* what the message quotes: the user's text, shortened; secrets are
     * never quoted, nor the password of a URL (http://user:***@host) */
    char redacted[sizeof(text)];
    dp_url_redact(text, redacted, sizeof(redacted));
    snprintf(shown, sizeof(shown), "%.*s", (int)(sizeof(shown) - 1), redacted);
    if (len >= sizeof(shown))
        memcpy(shown + sizeof(shown) - 4, "...", 4);
    if (k->traits & DP_CONFIG_SECRET)
        snprintf(shown, sizeof(shown), "(value not shown)");

    switch (k->type) {
    case DP_CFG_STRING:
        if (len >= k->size) {
            snprintf(err, errlen, "%s.%s: '%s' is too long (at most %zu bytes)", s->name, k->name,
                     shown, k->size - 1);
            return -1;
        }
        if (k->check && (problem = k->check(text)) != NULL) {
            if (k->traits & DP_CONFIG_SECRET)
                snprintf(err, errlen, "%s.%s: %s %s", s->name, k->name, problem, shown);
            else
                snprintf(err, errlen, "%s.%s: '%s' %s", s->name, k->name, shown, problem);
            return -1;
        }
        memcpy(field, text, len + 1);
        return 0;
    case DP_CFG_ENUM:
    case DP_CFG_ENUM_STRING:
        for (size_t i = 0; k->enum_values[i].name; i++) {
            if (strcasecmp(text, k->enum_values[i].name) != 0)
                continue;
            if (k->type == DP_CFG_ENUM) {
                int v = k->enum_values[i].value;
                memcpy(field, &v, sizeof(v));
            } else {
                snprintf(field, k->size, "%s", k->enum_values[i].name);
            }
            return 0;
        }
        dp_config_key_range_text(k, range, sizeof(range));
        snprintf(err, errlen, "%s.%s: '%s' is not one of: %s", s->name, k->name, shown, range);
        return -1;
    case DP_CFG_UINT: {
        uint64_t u;
        if (parse_uint(text, &u) < 0)
            goto bad_type;
        num = (double)u;
        break;
    }
    case DP_CFG_SIZE:
        if (parse_size(text, &num) < 0)
            goto bad_type;
        break;
    case DP_CFG_DURATION:
    case DP_CFG_DURATION_D:
        if (parse_duration(text, &num) < 0)
            goto bad_type;
        if (k->type == DP_CFG_DURATION && num != floor(num)) {
            snprintf(err, errlen, "%s.%s: '%s' is not a whole number of milliseconds", s->name,
                     k->name, shown);
            return -1;
        }
        break;
    case DP_CFG_DOUBLE:
        if (parse_double(text, &num) < 0)
            goto bad_type;
        break;
    }

    if (num < k->min || num > k->max) {
        dp_config_key_range_text(k, range, sizeof(range));
        snprintf(err, errlen, "%s.%s: '%s' is out of range (%s)", s->name, k->name, shown, range);
        return -1;
    }
    if (k->type == DP_CFG_DOUBLE || k->type == DP_CFG_DURATION_D)
        memcpy(field, &num, sizeof(num));
    else
        store_uint(field, k->size, (uint64_t)num);
    return 0;

bad_type:
    snprintf(err, errlen, "%s.%s: expected %s, got '%s'", s->name, k->name, expected_text(k),
             shown);
    return -1;
}

double dp_config_key_number(const void *base, const dp_config_key *k)
{
    const char *field = (const char *)base + k->offset;
    switch (k->type) {
    case DP_CFG_DOUBLE:
    case DP_CFG_DURATION_D: {
        double d;
        memcpy(&d, field, sizeof(d));
        return d;
    }
    case DP_CFG_UINT:
    case DP_CFG_SIZE:
    case DP_CFG_DURATION:
        if (k->size == sizeof(uint64_t)) {
            uint64_t u;
            memcpy(&u, field, sizeof(u));
            return (double)u;
        } else {
            unsigned u;
            memcpy(&u, field, sizeof(u));
            return (double)u;
        }
    case DP_CFG_ENUM: {
        int v;
        memcpy(&v, field, sizeof(v));
        return v;
    }
    default:
        return 0;
    }
}

void dp_config_key_format(const void *base, const dp_config_key *k, char *out, size_t outlen)
{
    const char *field = (const char *)base + k->offset;
    if (outlen == 0)
        return;
    switch (k->type) {
    case DP_CFG_STRING:
    case DP_CFG_ENUM_STRING:
        snprintf(out, outlen, "%s", field);
        return;
    case DP_CFG_ENUM: {
        int v = (int)dp_config_key_number(base, k);
        for (size_t i = 0; k->enum_values[i].name; i++) {
            if (k->enum_values[i].value == v) {
                snprintf(out, outlen, "%s", k->enum_values[i].name);
                return;
            }
        }
        snprintf(out, outlen, "%d", v);
        return;
    }
    default:
        format_number(k, dp_config_key_number(base, k), out, outlen);
        return;
    }
}

int dp_config_parse_number(const char *text, size_t len, double *out)
{
    char buf[64];
    if (len >= sizeof(buf) || memchr(text, '\0', len))
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return parse_double(buf, out);
}

/* ---- whole sections ------------------------------------------------------- */

int dp_config_section_defaults(void *base, const dp_config_section *s)
{
    char err[256];
    int result = 0;
    for (size_t i = 0; i < s->key_count; i++) {
        const dp_config_key *k = &s->keys[i];
        /* the tables are tested to hold valid defaults; a failure here is a
         * programming error, so say it loudly */
        if (dp_config_key_set(base, s, k, k->default_value, strlen(k->default_value), err,
                              sizeof(err)) < 0) {
            dp_log_error("config", "bad built-in default: %s", err);
            result = -1;
        }
    }
    return result;
}

int dp_config_section_init(void *base, size_t size, const dp_config_section *s)
{
    memset(base, 0, size);
    return dp_config_section_defaults(base, s);
}

int dp_config_section_check_rules(const void *base, const dp_config_section *s, char *err,
                                  size_t errlen, const dp_config_key **high,
                                  const dp_config_key **low)
{
    for (size_t i = 0; i < s->rule_count; i++) {
        const dp_config_not_below *r = &s->rules[i];
        const dp_config_key *h = dp_config_key_find(s, r->high, strlen(r->high));
        const dp_config_key *b = dp_config_key_find(s, r->base, strlen(r->base));
        if (!h || !b || dp_config_key_number(base, h) >= dp_config_key_number(base, b))
            continue;
        char hv[48], bv[48];
        dp_config_key_format(base, h, hv, sizeof(hv));
        dp_config_key_format(base, b, bv, sizeof(bv));
        snprintf(err, errlen, "%s.%s (%s) must not be below %s.%s (%s)", s->name, h->name, hv,
                 s->name, b->name, bv);
        *high = h;
        *low = b;
        return -1;
    }
    return 0;
}

/* HOST:PORT, [IPV6]:PORT; the port a number 0..65535, the host not empty. */
static bool valid_listen_address(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (!colon || colon == a || !colon[1])
        return false;
    if (a[0] == '[' && colon[-1] != ']')
        return false;
    if (a[0] != '[' && memchr(a, ':', (size_t)(colon - a)))
        return false; /* a bare IPv6 address needs brackets */
    unsigned long port = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (unsigned long)(*p - '0');
        if (port > 65535)
            return false;
    }
    return true;
}

const char *dp_config_listen_problem(const char *value)
{
    return valid_listen_address(value)
               ? NULL
               : "is not HOST:PORT (e.g. 127.0.0.1:4317, [::1]:4317, 0.0.0.0:4317; port 0..65535)";
}

const char *dp_config_optional_listen_problem(const char *value)
{
    return value[0] ? dp_config_listen_problem(value) : NULL;
}

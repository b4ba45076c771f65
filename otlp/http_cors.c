/*
 * CORS decisions of the OTLP/HTTP receiver; see http_cors.h. The lists are
 * split once, at start; a request only compares strings.
 */
#include "http_cors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ENTRIES 64

/* Request headers a page may always send (the CORS-safelisted ones, and
 * those an OTLP exporter sets). */
static const char *const always_allowed[] = {
    "accept",       "accept-language",  "content-language",
    "content-type", "content-encoding", "x-requested-with",
};

typedef struct list {
    char *text; /* the entries, NUL-separated */
    const char *items[MAX_ENTRIES];
    size_t count;
    bool any; /* "*" was given */
} list;

struct dp_http_cors {
    list origins, headers;
    unsigned max_age_s;
};

static const char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int split(const char *text, list *out, const char *what, char *err, size_t errlen)
{
    out->text = strdup(text ? text : "");
    if (!out->text)
        return DP_ENOMEM;
    for (char *save = NULL, *tok = strtok_r(out->text, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        const char *item = trim(tok);
        if (!*item)
            continue;
        if (strcmp(item, "*") == 0) {
            out->any = true;
            continue;
        }
        const char *star = strchr(item, '*');
        if (star && strchr(star + 1, '*')) {
            snprintf(err, errlen, "%s '%.100s' has more than one '*'", what, item);
            return DP_EINVAL;
        }
        if (out->count == MAX_ENTRIES) {
            snprintf(err, errlen, "more than %d %ss", MAX_ENTRIES, what);
            return DP_EINVAL;
        }
        out->items[out->count++] = item;
    }
    return DP_OK;
}

int dp_http_cors_create(const char *origins, const char *headers, unsigned max_age_s,
                        dp_http_cors **out, char *err, size_t errlen)
{
    *out = NULL;
    dp_http_cors *c = calloc(1, sizeof(*c));
    if (!c)
        return DP_ENOMEM;
    int rc = split(origins, &c->origins, "allowed origin", err, errlen);
    if (rc == DP_OK)
        rc = split(headers, &c->headers, "allowed header", err, errlen);
    if (rc != DP_OK || (!c->origins.any && !c->origins.count)) {
        dp_http_cors_destroy(c); /* no origins: CORS is off */
        return rc;
    }
    c->max_age_s = max_age_s;
    *out = c;
    return DP_OK;
}

void dp_http_cors_destroy(dp_http_cors *c)
{
    if (!c)
        return;
    free(c->origins.text);
    free(c->headers.text);
    free(c);
}

/* `pattern` with at most one '*' standing for one or more characters; case-insensitive. */
static bool origin_matches(const char *pattern, const char *origin)
{
    const char *star = strchr(pattern, '*');
    if (!star)
        return strcasecmp(pattern, origin) == 0;
    size_t pre = (size_t)(star - pattern), post = strlen(star + 1), n = strlen(origin);
    return n > pre + post && strncasecmp(origin, pattern, pre) == 0 &&
           strcasecmp(origin + n - post, star + 1) == 0;
}

const char *dp_http_cors_allow_origin(const dp_http_cors *c, const char *origin)
{
    if (!c || !origin || !*origin)
        return NULL;
    if (c->origins.any)
        return "*";
    for (size_t i = 0; i < c->origins.count; i++)
        if (origin_matches(c->origins.items[i], origin))
            return origin;
    return NULL;
}

static bool header_allowed(const dp_http_cors *c, const char *name, size_t len)
{
    if (c->headers.any)
        return true;
    for (size_t i = 0; i < sizeof(always_allowed) / sizeof(always_allowed[0]); i++)
        if (strlen(always_allowed[i]) == len && strncasecmp(always_allowed[i], name, len) == 0)
            return true;
    for (size_t i = 0; i < c->headers.count; i++)
        if (strlen(c->headers.items[i]) == len && strncasecmp(c->headers.items[i], name, len) == 0)
            return true;
    return false;
}

bool dp_http_cors_judge_preflight(const dp_http_cors *c, const char *origin, const char *method,
                                  const char *headers, dp_http_cors_preflight *out)
{
    memset(out, 0, sizeof(*out));
    const char *allow = dp_http_cors_allow_origin(c, origin);
    if (!allow || !method || strcmp(method, "POST") != 0)
        return false;
    /* every requested header must be allowed; they are echoed back as asked */
    size_t used = 0;
    for (const char *p = headers ? headers : ""; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ", \t");
        if (!n)
            break;
        if (!header_allowed(c, p, n))
            return false;
        if (used + n + 3 >= sizeof(out->allow_headers))
            return false; /* more than any exporter asks for */
        if (used) {
            memcpy(out->allow_headers + used, ", ", 2);
            used += 2;
        }
        memcpy(out->allow_headers + used, p, n);
        used += n;
        out->allow_headers[used] = '\0';
        p += n;
    }
    out->allow_origin = allow;
    out->allow_methods = "POST";
    out->max_age_s = c->max_age_s;
    return true;
}

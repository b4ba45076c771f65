/*
 * Credentials in URLs; see url_redact.h.
 */
#include "url_redact.h"

#include <stdio.h>
#include <string.h>

/* Where the authority starts (after "scheme://", if any), its end, and the
 * '@' that ends its userinfo (NULL without one). */
static const char *authority_of(const char *url, const char **end, const char **at)
{
    const char *start = strstr(url, "://");
    start = start && (size_t)(start - url) == strcspn(url, ":/?#@") ? start + 3 : url;
    *end = start + strcspn(start, "/?#");
    *at = NULL;
    for (const char *p = start; p < *end; p++)
        if (*p == '@')
            *at = p; /* the last one: a password may hold an unescaped '@' */
    return start;
}

const char *dp_url_redact(const char *url, char *out, size_t cap)
{
    const char *end, *at;
    const char *start = authority_of(url, &end, &at);
    if (!cap)
        return out;
    if (!at) {
        snprintf(out, cap, "%s", url);
        return out;
    }
    const char *colon = memchr(start, ':', (size_t)(at - start));
    /* the scheme, the user name when a password follows it, then the rest from '@' */
    size_t keep = (size_t)((colon ? colon + 1 : start) - url);
    snprintf(out, cap, "%.*s***%s", (int)keep, url, at);
    return out;
}

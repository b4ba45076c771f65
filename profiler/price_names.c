/*
 * The grammar of model names the price table matches with (prices.h):
 * '*' globs, date / version suffixes, provider qualifiers. Pure functions
 * over {ptr,len} views; the table (prices.c) decides the order.
 */
#include <ctype.h>
#include <strings.h>

#include "prices.h"

bool dp_price_glob_match(const char *pattern, dp_str text)
{
    /* iterative glob with one backtrack point: linear enough for short names */
    size_t p = 0, s = 0, star_p = (size_t)-1, star_s = 0;
    size_t plen = strlen(pattern);
    while (s < text.len) {
        if (p < plen && pattern[p] == '*') {
            star_p = p++;
            star_s = s;
        } else if (p < plen &&
                   tolower((unsigned char)pattern[p]) == tolower((unsigned char)text.ptr[s])) {
            p++;
            s++;
        } else if (star_p != (size_t)-1) {
            p = star_p + 1;
            s = ++star_s;
        } else {
            return false;
        }
    }
    while (p < plen && pattern[p] == '*')
        p++;
    return p == plen;
}

static size_t digit_run(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* Length of one suffix segment at s, or 0 when none starts there. */
static size_t suffix_segment(const char *s, size_t n)
{
    if (n < 2)
        return 0;
    if (s[0] == '-' || s[0] == '@') {
        size_t d = digit_run(s + 1, n - 1);
        if (d >= 3) {
            size_t len = 1 + d;
            /* YYYY-MM-DD: the year may carry a month and a day */
            if (d == 4 && n >= len + 6 && s[len] == '-' && digit_run(s + len + 1, 2) == 2 &&
                s[len + 3] == '-' && digit_run(s + len + 4, n - len - 4) == 2)
                len += 6;
            return len;
        }
    }
    if (s[0] == '-' && n >= 3 && (s[1] == 'v' || s[1] == 'V')) {
        size_t d = digit_run(s + 2, n - 2);
        return d ? 2 + d : 0;
    }
    if (s[0] == ':') {
        size_t d = digit_run(s + 1, n - 1);
        return d ? 1 + d : 0;
    }
    if (n >= 7 && strncasecmp(s, "-latest", 7) == 0)
        return 7;
    return 0;
}

bool dp_price_version_suffix(dp_str rest)
{
    if (!rest.ptr || rest.len == 0)
        return false;
    size_t i = 0;
    while (i < rest.len) {
        size_t seg = suffix_segment(rest.ptr + i, rest.len - i);
        if (seg == 0)
            return false;
        i += seg;
    }
    return true;
}

bool dp_price_strip_qualifier(dp_str name, dp_str *next, dp_str *qualifier)
{
    if (!name.ptr || name.len == 0)
        return false;
    const char *slash = memchr(name.ptr, '/', name.len);
    if (slash && slash + 1 < name.ptr + name.len) {
        *qualifier = (dp_str){name.ptr, (size_t)(slash - name.ptr)};
        *next = (dp_str){slash + 1, name.len - (size_t)(slash + 1 - name.ptr)};
        return true;
    }
    /* Bedrock: "anthropic.claude-...", cross-region "us.anthropic.claude-...";
     * a word of letters and '-' only, so "gpt-4.5" and "claude-3.5" stay */
    size_t i = 0;
    while (i < name.len && (isalpha((unsigned char)name.ptr[i]) || name.ptr[i] == '-'))
        i++;
    if (i >= 2 && i + 1 < name.len && name.ptr[i] == '.') {
        *qualifier = (dp_str){name.ptr, i};
        *next = (dp_str){name.ptr + i + 1, name.len - i - 1};
        return true;
    }
    return false;
}

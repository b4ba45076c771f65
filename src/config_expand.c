/*
 * `${env:NAME}` expansion in config values; see config_expand.h. One pass
 * over the value, writing into the caller's buffer, never past its size.
 */
#include "config_expand.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest variable name taken, as the Collector's. */
#define NAME_MAX_LEN 200

static bool name_char(char ch, bool first)
{
    return ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (!first && ch >= '0' && ch <= '9');
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i], i == 0))
            return false;
    return true;
}

/* Append n bytes; false when they do not fit (with the NUL). */
static bool put(char *out, size_t outcap, size_t *used, const char *s, size_t n)
{
    if (n >= outcap - *used)
        return false;
    memcpy(out + *used, s, n);
    *used += n;
    out[*used] = '\0';
    return true;
}

/*
 * The reference `inner` (between "${" and "}", n bytes): "env:NAME",
 * "NAME", either with ":-default". Appends its value; 0, or -1 with err.
 */
static int expand_reference(const char *inner, size_t n, char *out, size_t outcap, size_t *used,
                            dp_config_unset_fn on_unset, void *ctx, char *err, size_t errlen)
{
    const char *name = inner;
    size_t name_len = n;
    const char *def = NULL;
    size_t def_len = 0;
    if (n >= 4 && memcmp(inner, "env:", 4) == 0) {
        name += 4;
        name_len -= 4;
    }
    for (size_t i = 0; i + 1 < name_len; i++) {
        if (name[i] == ':' && name[i + 1] == '-') {
            def = name + i + 2;
            def_len = name_len - i - 2;
            name_len = i;
            break;
        }
    }
    if (!valid_name(name, name_len)) {
        const char *colon = memchr(inner, ':', n);
        if (colon && name == inner && (!def || colon < def - 2))
            snprintf(err, errlen, "${%.*s}: only the env provider is supported (${env:NAME})",
                     (int)(n > 60 ? 60 : n), inner);
        else
            snprintf(err, errlen,
                     "${%.*s}: invalid environment variable name (want [A-Za-z_][A-Za-z0-9_]*)",
                     (int)(n > 60 ? 60 : n), inner);
        return -1;
    }
    char var[NAME_MAX_LEN + 1];
    memcpy(var, name, name_len);
    var[name_len] = '\0';
    const char *value = getenv(var);
    if (!value && def) {
        if (!put(out, outcap, used, def, def_len))
            goto too_long;
        return 0;
    }
    if (!value) {
        if (on_unset)
            on_unset(ctx, var);
        return 0;
    }
    if (!put(out, outcap, used, value, strlen(value)))
        goto too_long;
    return 0;
too_long:
    snprintf(err, errlen, "the value is longer than %zu bytes once ${%s} is expanded", outcap - 1,
             var);
    return -1;
}

int dp_config_expand_env(const char *text, size_t len, char *out, size_t outcap, size_t *outlen,
                         dp_config_unset_fn on_unset, void *ctx, char *err, size_t errlen)
{
    size_t used = 0;
    if (!outcap)
        return -1;
    out[0] = '\0';
    *outlen = 0;
    for (size_t i = 0; i < len;) {
        const char *dollar = memchr(text + i, '$', len - i);
        size_t plain = dollar ? (size_t)(dollar - (text + i)) : len - i;
        if (!put(out, outcap, &used, text + i, plain))
            goto too_long;
        i += plain;
        if (i == len)
            break;
        /* text[i] is '$' */
        if (i + 1 < len && text[i + 1] == '$') { /* "$$": one literal '$' */
            if (!put(out, outcap, &used, "$", 1))
                goto too_long;
            i += 2;
            continue;
        }
        if (i + 1 < len && text[i + 1] == '{') {
            const char *close = memchr(text + i + 2, '}', len - i - 2);
            if (!close) {
                snprintf(err, errlen, "'${' without its closing '}'");
                return -1;
            }
            size_t inner_len = (size_t)(close - (text + i + 2));
            if (expand_reference(text + i + 2, inner_len, out, outcap, &used, on_unset, ctx, err,
                                 errlen) < 0)
                return -1;
            i += 3 + inner_len;
            continue;
        }
        if (!put(out, outcap, &used, "$", 1)) /* a lone '$' is itself */
            goto too_long;
        i++;
    }
    *outlen = used;
    return 0;
too_long:
    snprintf(err, errlen, "the value is longer than %zu bytes", outcap - 1);
    return -1;
}

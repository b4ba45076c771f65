/*
 * dp_str: a read-only {ptr,len} view of bytes owned by someone else.
 *
 * Views are passed by value and never own memory. The bytes are not
 * necessarily NUL-terminated; use dp_str_eq_cstr() and friends.
 */
#ifndef DP_STR_H
#define DP_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct dp_str {
    const char *ptr;
    size_t len;
} dp_str;

#define DP_STR_NULL ((dp_str){NULL, 0})
#define DP_STR_LIT(s) ((dp_str){(s), sizeof(s) - 1})

static inline dp_str dp_str_from_cstr(const char *s)
{
    return (dp_str){s, s ? strlen(s) : 0};
}

static inline bool dp_str_eq(dp_str a, dp_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool dp_str_eq_cstr(dp_str a, const char *b)
{
    return dp_str_eq(a, dp_str_from_cstr(b));
}

#endif

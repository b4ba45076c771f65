/*
 * Span helpers shared by the mapping rules.
 */
#include "span.h"

const dp_value *dp_span_attr(const dp_span *s, const char *key)
{
    dp_str k = dp_str_from_cstr(key);
    for (size_t i = 0; i < s->attr_count; i++) {
        if (dp_str_eq(s->attrs[i].key, k))
            return &s->attrs[i].value;
    }
    return NULL;
}

/*
 * pydantic genai-prices' MatchLogic, compiled: {equals | starts_with |
 * ends_with | contains | regex: "text"} or {or | and: [MatchLogic]}, all
 * compared without regard to case (regexes: PCRE2, caseless). Used by the
 * genai-prices price file (price_file_genai.c) as a price table's match
 * rule (dp_price_matcher: dp_match_logic_eval / dp_match_logic_free).
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "price_match_logic.h"

#define MATCH_DEPTH_MAX 16
#define MATCH_TEXT_MAX 512

typedef enum match_kind { M_EQUALS, M_STARTS, M_ENDS, M_CONTAINS, M_REGEX, M_OR, M_AND } match_kind;

static const char *const match_keys[] = {"equals", "starts_with", "ends_with", "contains",
                                         "regex",  "or",          "and"};
#define MATCH_KINDS (sizeof(match_keys) / sizeof(match_keys[0]))

/* One MatchLogic node; a tree is one allocation per node, freed by
 * dp_match_logic_free. dp_match_logic is the root node. */
typedef struct dp_match_logic {
    match_kind kind;
    char *text; /* leaves: the value */
    size_t len;
    pcre2_code *re;
    struct dp_match_logic **kids; /* or / and */
    size_t kid_count;
    char *desc; /* what `dagprof prices` shows when this node decides */
} match_node;

void dp_match_logic_free(void *state)
{
    match_node *n = state;
    if (!n)
        return;
    for (size_t i = 0; i < n->kid_count; i++)
        dp_match_logic_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n->desc);
    if (n->re)
        pcre2_code_free(n->re);
    free(n);
}

static bool ci_equal(const char *a, const char *b, size_t n)
{
    return strncasecmp(a, b, n) == 0;
}

const char *dp_match_logic_eval(void *state, dp_str model)
{
    const match_node *n = state;
    switch (n->kind) {
    case M_EQUALS:
        return model.len == n->len && ci_equal(model.ptr, n->text, n->len) ? n->desc : NULL;
    case M_STARTS:
        return model.len >= n->len && ci_equal(model.ptr, n->text, n->len) ? n->desc : NULL;
    case M_ENDS:
        return model.len >= n->len && ci_equal(model.ptr + model.len - n->len, n->text, n->len)
                   ? n->desc
                   : NULL;
    case M_CONTAINS:
        for (size_t i = 0; i + n->len <= model.len; i++)
            if (ci_equal(model.ptr + i, n->text, n->len))
                return n->desc;
        return NULL;
    case M_REGEX: {
        /* match data per call: lookups run on several threads */
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(n->re, NULL);
        if (!md)
            return NULL;
        int rc = pcre2_match(n->re, (PCRE2_SPTR)model.ptr, model.len, 0, 0, md, NULL);
        pcre2_match_data_free(md);
        return rc >= 0 ? n->desc : NULL;
    }
    case M_OR:
        for (size_t i = 0; i < n->kid_count; i++) {
            const char *d = dp_match_logic_eval(n->kids[i], model);
            if (d)
                return d;
        }
        return NULL;
    case M_AND:
        for (size_t i = 0; i < n->kid_count; i++)
            if (!dp_match_logic_eval(n->kids[i], model))
                return NULL;
        return n->desc;
    }
    return NULL;
}

/* Where a build error goes. */
typedef struct where {
    char *msg;
    size_t msglen;
} where;

static int failf(const where *w, const char *msg, const char *detail)
{
    snprintf(w->msg, w->msglen, "%s%s", msg, detail ? detail : "");
    return -1;
}

static match_node *match_build(const json_t *j, const where *w, int depth);

static int build_leaf(match_node *n, const json_t *v, const where *w)
{
    const char *s = json_string_value(v);
    if (!s || !s[0] || strlen(s) > MATCH_TEXT_MAX)
        return failf(w, "match: expected a non-empty string for ", match_keys[n->kind]);
    n->text = strdup(s);
    n->len = strlen(s);
    size_t dlen = n->len + 32;
    n->desc = malloc(dlen);
    if (!n->text || !n->desc)
        return failf(w, "out of memory", NULL);
    snprintf(n->desc, dlen, "%s \"%s\"", match_keys[n->kind], s);
    if (n->kind != M_REGEX)
        return 0;
    int code;
    PCRE2_SIZE offset;
    n->re = pcre2_compile((PCRE2_SPTR)s, n->len, PCRE2_CASELESS, &code, &offset, NULL);
    if (!n->re) {
        char msg[160], detail[MATCH_TEXT_MAX + 256];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
        snprintf(detail, sizeof(detail), "'%s': %s at offset %zu", s, msg, (size_t)offset);
        return failf(w, "bad regex ", detail);
    }
    return 0;
}

/* "A and B and C" of an and's children, cut at 240 bytes. */
static char *join_descs(const match_node *n)
{
    char buf[256];
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n->kid_count && used < sizeof(buf); i++) {
        int k =
            snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? " and " : "", n->kids[i]->desc);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    return strdup(buf);
}

static int build_list(match_node *n, const json_t *v, const where *w, int depth)
{
    size_t count = json_array_size(v);
    if (!json_is_array(v) || count == 0)
        return failf(w, "match: expected a non-empty list for ", match_keys[n->kind]);
    n->kids = calloc(count, sizeof(*n->kids));
    if (!n->kids)
        return failf(w, "out of memory", NULL);
    for (size_t i = 0; i < count; i++) {
        n->kids[i] = match_build(json_array_get(v, i), w, depth + 1);
        if (!n->kids[i])
            return -1;
        n->kid_count++;
    }
    if (n->kind == M_OR)
        n->desc = strdup("or"); /* never shown: an or answers with its child's */
    else
        n->desc = join_descs(n);
    return n->desc ? 0 : failf(w, "out of memory", NULL);
}

static match_node *match_build(const json_t *j, const where *w, int depth)
{
    if (depth > MATCH_DEPTH_MAX) {
        failf(w, "match: rules nested too deeply", NULL);
        return NULL;
    }
    if (!json_is_object(j) || json_object_size(j) != 1) {
        failf(w, "match: expected one of equals, starts_with, ends_with, contains, regex, or, and",
              NULL);
        return NULL;
    }
    const char *key = json_object_iter_key(json_object_iter((json_t *)j));
    const json_t *v = json_object_iter_value(json_object_iter((json_t *)j));
    match_node *n = calloc(1, sizeof(*n));
    if (!n) {
        failf(w, "out of memory", NULL);
        return NULL;
    }
    size_t k = 0;
    while (k < MATCH_KINDS && strcmp(key, match_keys[k]) != 0)
        k++;
    int rc;
    if (k == MATCH_KINDS) {
        rc = failf(w, "match: unknown rule ", key);
    } else {
        n->kind = (match_kind)k;
        rc = n->kind == M_OR || n->kind == M_AND ? build_list(n, v, w, depth) : build_leaf(n, v, w);
    }
    if (rc < 0) {
        dp_match_logic_free(n);
        return NULL;
    }
    return n;
}

static size_t collect_names(const match_node *n, const char **names, size_t count)
{
    if (n->kind == M_EQUALS) {
        if (names)
            names[count] = n->text;
        count++;
    }
    if (n->kind == M_OR)
        for (size_t i = 0; i < n->kid_count; i++)
            count = collect_names(n->kids[i], names, count);
    return count;
}

size_t dp_match_logic_names(const dp_match_logic *logic, const char **names)
{
    return collect_names(logic, names, 0);
}

dp_match_logic *dp_match_logic_compile(const json_t *logic, char *msg, size_t msglen)
{
    where w = {msg, msglen};
    return match_build(logic, &w, 0);
}

/*
 * Bearer tokens and API-key header values of the OTLP receivers; see
 * auth.h for the contract.
 *
 * The tokens of one reading of the files are a token_set: the SHA-256
 * digests of the bearer tokens and of the header values. The receivers'
 * threads check requests under a read lock on the set in use; a reload
 * builds the new set without the lock and swaps it in under the write lock,
 * so a check never waits for a file to be read.
 */
#include "auth.h"

#include <ctype.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "file_read.h"

#define DIGEST_LEN 32                 /* SHA-256 */
#define TOKEN_FILE_MAX (1024u * 1024) /* largest token file read */

typedef struct digest_list {
    uint8_t (*digests)[DIGEST_LEN];
    size_t count;
} digest_list;

typedef struct token_set {
    digest_list bearer;
    digest_list header_values;
} token_set;

struct dp_auth {
    dp_auth_options opt;
    char header_lower[sizeof(((dp_auth_options *)0)->header)];
    char missing_message[256];
    pthread_rwlock_t lock;
    token_set *tokens; /* under lock */
};

/* --- the token files --------------------------------------------------------------- */

static void digest_list_free(digest_list *l)
{
    if (l->digests)
        explicit_bzero(l->digests, l->count * DIGEST_LEN);
    free(l->digests);
    l->digests = NULL;
    l->count = 0;
}

static void token_set_free(token_set *s)
{
    if (!s)
        return;
    digest_list_free(&s->bearer);
    digest_list_free(&s->header_values);
    free(s);
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* A bearer token is visible ASCII; a header value may also hold inner spaces and tabs. */
static bool token_char_ok(unsigned char ch, bool header_value)
{
    return (ch > 0x20 && ch < 0x7f) || (header_value && is_blank((char)ch));
}

/*
 * The digests of the tokens in `text` (len bytes): one a line, trimmed;
 * blank and '#' lines left out. Returns 0, or -1 with "KEY: PATH:LINE: ..."
 * in err. Messages never quote a line.
 */
static int parse_tokens(const char *key, const char *path, const char *text, size_t len,
                        bool header_value, digest_list *out, char *err, size_t errlen)
{
    int rc = -1;
    size_t lines = 1, line_no = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    out->count = 0;
    out->digests = calloc(lines, DIGEST_LEN);
    if (!out->digests) {
        snprintf(err, errlen, "server.%s: %s: out of memory", key, path);
        goto out;
    }
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl != NULL);
        line_no++;
        while (n && (is_blank(line[n - 1]) || line[n - 1] == '\r'))
            n--;
        while (n && is_blank(*line)) {
            line++;
            n--;
        }
        if (n == 0 || line[0] == '#')
            continue;
        if (n > DP_AUTH_TOKEN_MAX) {
            snprintf(err, errlen, "server.%s: %s:%zu: a token is longer than %d bytes", key, path,
                     line_no, DP_AUTH_TOKEN_MAX);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            if (!token_char_ok((unsigned char)line[i], header_value)) {
                snprintf(err, errlen,
                         "server.%s: %s:%zu: character %zu cannot be sent in a header (%s)", key,
                         path, line_no, i + 1,
                         header_value ? "printable ASCII only"
                                      : "visible ASCII only, no spaces inside a token");
                goto out;
            }
        }
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, line, n, out->digests[out->count]) < 0) {
            snprintf(err, errlen, "server.%s: %s: SHA-256 is not available", key, path);
            goto out;
        }
        out->count++;
    }
    if (out->count == 0) {
        snprintf(err, errlen,
                 "server.%s: %s holds no token (one a line; lines starting with # are comments)",
                 key, path);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        digest_list_free(out);
    return rc;
}

static int read_token_file(const char *key, const char *path, bool header_value, digest_list *out,
                           char *err, size_t errlen)
{
    char why[1200];
    dp_buf text;
    dp_buf_init(&text, 0);
    int rc = dp_file_read(path, TOKEN_FILE_MAX, &text, why, sizeof(why));
    if (rc < 0)
        snprintf(err, errlen, "server.%s: %s", key, why);
    else
        rc = parse_tokens(key, path, text.data, text.len, header_value, out, err, errlen);
    if (text.data)
        explicit_bzero(text.data, text.cap);
    dp_buf_free(&text);
    return rc < 0 ? DP_EINVAL : DP_OK;
}

/* A token_set from the files of `o`; NULL with the reason in err. */
static token_set *token_set_read(const dp_auth_options *o, char *err, size_t errlen)
{
    token_set *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "server.auth: out of memory");
        return NULL;
    }
    if ((o->bearer_tokens_file[0] &&
         read_token_file("auth.bearer_tokens_file", o->bearer_tokens_file, false, &s->bearer, err,
                         errlen) != DP_OK) ||
        (o->header_values_file[0] &&
         read_token_file("auth.header_values_file", o->header_values_file, true, &s->header_values,
                         err, errlen) != DP_OK)) {
        token_set_free(s);
        return NULL;
    }
    return s;
}

/* --- checking ----------------------------------------------------------------------- */

/*
 * True when the digest of `token` is one of l's. Every digest is compared
 * byte by byte to the end, with no branch on the bytes, so the time taken
 * depends only on the token's length and the number of digests.
 */
static bool digest_listed(const digest_list *l, dp_str token)
{
    uint8_t d[DIGEST_LEN];
    unsigned found = 0;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token.ptr ? token.ptr : "", token.len, d) < 0)
        return false;
    for (size_t i = 0; i < l->count; i++) {
        unsigned diff = 0;
        for (size_t k = 0; k < DIGEST_LEN; k++)
            diff |= (unsigned)(l->digests[i][k] ^ d[k]);
        /* 1 when diff is 0, without a branch: (diff - 1) borrows into bit 8 only then */
        found |= ((diff - 1) >> 8) & 1;
    }
    explicit_bzero(d, sizeof(d));
    return found != 0;
}

/* The token of "Bearer TOKEN" (scheme in any case, one or more spaces); false otherwise. */
static bool bearer_token(dp_str authorization, dp_str *token)
{
    static const char scheme[] = "bearer";
    size_t n = sizeof(scheme) - 1;
    if (authorization.len <= n || strncasecmp(authorization.ptr, scheme, n) != 0 ||
        !is_blank(authorization.ptr[n]))
        return false;
    const char *p = authorization.ptr + n, *end = authorization.ptr + authorization.len;
    while (p < end && is_blank(*p))
        p++;
    while (end > p && is_blank(end[-1]))
        end--;
    *token = (dp_str){p, (size_t)(end - p)};
    return token->len > 0;
}

dp_auth_result dp_auth_check(dp_auth *a, dp_str authorization, dp_str header_value)
{
    bool presented = false, accepted = false;
    dp_str token;
    pthread_rwlock_rdlock(&a->lock);
    const token_set *s = a->tokens;
    if (s->bearer.count && authorization.ptr) {
        presented = true;
        accepted = bearer_token(authorization, &token) && digest_listed(&s->bearer, token);
    }
    if (!accepted && s->header_values.count && header_value.ptr) {
        presented = true;
        /* trimmed as the file's values are */
        while (header_value.len && is_blank(header_value.ptr[header_value.len - 1]))
            header_value.len--;
        while (header_value.len && is_blank(*header_value.ptr)) {
            header_value.ptr++;
            header_value.len--;
        }
        accepted = digest_listed(&s->header_values, header_value);
    }
    pthread_rwlock_unlock(&a->lock);
    return accepted ? DP_AUTH_OK : presented ? DP_AUTH_DENIED : DP_AUTH_MISSING;
}

/* --- lifecycle ------------------------------------------------------------------------ */

bool dp_auth_options_enabled(const dp_auth_options *o)
{
    return o->bearer_tokens_file[0] || o->header[0] || o->header_values_file[0];
}

const char *dp_auth_header_name_problem(const char *value)
{
    static const char problem[] =
        "is not a header name both receivers can read (letters, digits, '-', '_' and '.'; "
        "not grpc-*, not *-bin)";
    size_t n = strlen(value);
    if (n == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)value[i]) && !strchr("-_.", value[i]))
            return problem;
    if (strncasecmp(value, "grpc-", 5) == 0 || (n > 4 && strcasecmp(value + n - 4, "-bin") == 0))
        return problem;
    return NULL;
}

int dp_auth_create(const dp_auth_options *o, dp_auth **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!o->header[0] != !o->header_values_file[0]) {
        snprintf(err, errlen,
                 "server.auth.header and server.auth.header_values_file go together: set both "
                 "or neither");
        return DP_EINVAL;
    }
    const char *problem = dp_auth_header_name_problem(o->header);
    if (problem) {
        snprintf(err, errlen, "server.auth.header %s", problem);
        return DP_EINVAL;
    }
    if (!dp_auth_options_enabled(o)) {
        snprintf(err, errlen, "server.auth: no token file is configured");
        return DP_EINVAL;
    }
    dp_auth *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "server.auth: out of memory");
        return DP_ENOMEM;
    }
    a->opt = *o;
    for (size_t i = 0; o->header[i]; i++)
        a->header_lower[i] = (char)tolower((unsigned char)o->header[i]);
    snprintf(a->missing_message, sizeof(a->missing_message),
             "authentication required: send %s%s%s%s",
             o->bearer_tokens_file[0] ? "Authorization: Bearer <token>" : "",
             o->bearer_tokens_file[0] && o->header[0] ? " or " : "",
             o->header[0] ? "the header " : "", o->header[0] ? o->header : "");
    pthread_rwlock_init(&a->lock, NULL);
    a->tokens = token_set_read(o, err, errlen);
    if (!a->tokens) {
        dp_auth_destroy(a);
        return DP_EINVAL;
    }
    *out = a;
    return DP_OK;
}

int dp_auth_reload(dp_auth *a, char *summary, size_t summary_len, char *err, size_t errlen)
{
    token_set *next = token_set_read(&a->opt, err, errlen);
    if (!next)
        return DP_EINVAL;
    pthread_rwlock_wrlock(&a->lock);
    token_set *old = a->tokens;
    a->tokens = next;
    pthread_rwlock_unlock(&a->lock);
    token_set_free(old);
    dp_auth_summary(a, summary, summary_len);
    return DP_OK;
}

void dp_auth_summary(dp_auth *a, char *out, size_t outlen)
{
    pthread_rwlock_rdlock(&a->lock);
    size_t bearer = a->tokens->bearer.count, values = a->tokens->header_values.count;
    pthread_rwlock_unlock(&a->lock);
    out[0] = '\0';
    if (bearer)
        snprintf(out, outlen, "%zu bearer token%s", bearer, bearer == 1 ? "" : "s");
    if (values) {
        size_t used = strlen(out);
        snprintf(out + used, outlen - used, "%s%zu value%s of %s", used ? ", " : "", values,
                 values == 1 ? "" : "s", a->opt.header);
    }
}

const char *dp_auth_header_name(const dp_auth *a)
{
    return a->header_lower[0] ? a->header_lower : NULL;
}

bool dp_auth_takes_bearer(const dp_auth *a)
{
    return a->opt.bearer_tokens_file[0] != '\0';
}

const char *dp_auth_message(const dp_auth *a, dp_auth_result r)
{
    switch (r) {
    case DP_AUTH_OK:
        return "";
    case DP_AUTH_MISSING:
        return a->missing_message;
    case DP_AUTH_DENIED:
        break;
    }
    return "the credentials are not accepted";
}

void dp_auth_destroy(dp_auth *a)
{
    if (!a)
        return;
    token_set_free(a->tokens);
    pthread_rwlock_destroy(&a->lock);
    free(a);
}

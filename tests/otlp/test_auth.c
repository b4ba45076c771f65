/*
 * Tests of otlp/auth.c: how token files are read (comments, blank lines,
 * spaces, CRLF, a last line without a newline, the errors with the file and
 * the line and no token quoted), what a request's credentials are judged
 * (the Bearer scheme, exact matches only: no prefix, no longer token), the
 * API-key header beside bearer tokens, reloads (a bad file keeps the tokens
 * in use), and checks running while reloads swap the tokens. Every expected
 * result follows from the file texts written here.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "buf.h"

typedef struct fixture {
    char dir[64];
    char tokens[128];
    char keys[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/dp_test_auth_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->tokens, sizeof(f->tokens), "%s/tokens", f->dir);
    snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    unlink(f->tokens);
    unlink(f->keys);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(text, 1, len, out), len);
    fclose(out);
}

static void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text));
}

static dp_auth_options bearer_options(const fixture *f)
{
    dp_auth_options o;
    memset(&o, 0, sizeof(o));
    snprintf(o.bearer_tokens_file, sizeof(o.bearer_tokens_file), "%s", f->tokens);
    return o;
}

static dp_auth_result check_bearer(dp_auth *a, const char *authorization)
{
    return dp_auth_check(a, dp_str_from_cstr(authorization), DP_STR_NULL);
}

/* dp_auth_create() fails with exactly `want` in err (want has one %s: the path). */
static void expect_create_error(const dp_auth_options *o, const char *path, const char *want)
{
    char err[2048], expected[2048];
    dp_auth *a = (dp_auth *)1;
    snprintf(expected, sizeof(expected), want, path);
    assert_int_equal(dp_auth_create(o, &a, err, sizeof(err)), DP_EINVAL);
    assert_null(a);
    assert_string_equal(err, expected);
}

static void test_token_file_lines(void **state)
{
    fixture *f = *state;
    char err[512], summary[128];
    dp_auth *a = NULL;
    /* a comment, a blank line, spaces and a CRLF around tok-1, a commented-out
     * token, and tok-3 on a last line without a newline: 3 tokens */
    write_text(f->tokens, "# tokens of the test\n\n  tok-1 \t\r\ntok-2\n#tok-old\ntok-3");
    dp_auth_options o = bearer_options(f);
    assert_true(dp_auth_options_enabled(&o));
    assert_int_equal(dp_auth_create(&o, &a, err, sizeof(err)), DP_OK);
    dp_auth_summary(a, summary, sizeof(summary));
    assert_string_equal(summary, "3 bearer tokens");
    assert_int_equal(check_bearer(a, "Bearer tok-1"), DP_AUTH_OK);
    assert_int_equal(check_bearer(a, "Bearer tok-2"), DP_AUTH_OK);
    assert_int_equal(check_bearer(a, "Bearer tok-3"), DP_AUTH_OK);
    assert_int_equal(check_bearer(a, "Bearer #tok-old"), DP_AUTH_DENIED);
    assert_int_equal(check_bearer(a, "Bearer tok-old"), DP_AUTH_DENIED);
    assert_true(dp_auth_takes_bearer(a));
    assert_null(dp_auth_header_name(a));
    dp_auth_destroy(a);
}

static void test_bearer_comparison(void **state)
{
    fixture *f = *state;
    char err[512];
    dp_auth *a = NULL;
    write_text(f->tokens, "abc.DEF-123_~+/=\n");
    dp_auth_options o = bearer_options(f);
    assert_int_equal(dp_auth_create(&o, &a, err, sizeof(err)), DP_OK);
    /* the scheme in any case, one or more spaces or tabs, trailing blanks */
    assert_int_equal(check_bearer(a, "Bearer abc.DEF-123_~+/="), DP_AUTH_OK);
    assert_int_equal(check_bearer(a, "bearer abc.DEF-123_~+/="), DP_AUTH_OK);
    assert_int_equal(check_bearer(a, "BEARER  \tabc.DEF-123_~+/=  "), DP_AUTH_OK);
    /* anything else is a credential that is not accepted */
    const char *denied[] = {
        "Bearer abc.DEF-123_~+/",    /* a prefix */
        "Bearer abc.DEF-123_~+/==",  /* one byte more */
        "Bearer abc.def-123_~+/=",   /* another case */
        "Bearer ",                   /* no token */
        "Bearer",                    /* no token, no space */
        "Bearerabc.DEF-123_~+/=",    /* no space */
        "Basic abc.DEF-123_~+/=",    /* another scheme */
        "abc.DEF-123_~+/=",          /* no scheme */
        "",                          /* an empty header */
        "Bearer abc.DEF-123_~+/= x", /* two words */
    };
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
        assert_int_equal(check_bearer(a, denied[i]), DP_AUTH_DENIED);
    /* no Authorization at all: missing, which says what to send */
    assert_int_equal(dp_auth_check(a, DP_STR_NULL, DP_STR_NULL), DP_AUTH_MISSING);
    /* an API-key header is not looked at when none is configured */
    assert_int_equal(dp_auth_check(a, DP_STR_NULL, DP_STR_LIT("abc.DEF-123_~+/=")),
                     DP_AUTH_MISSING);
    assert_string_equal(dp_auth_message(a, DP_AUTH_MISSING),
                        "authentication required: send Authorization: Bearer <token>");
    assert_string_equal(dp_auth_message(a, DP_AUTH_DENIED), "the credentials are not accepted");
    dp_auth_destroy(a);
}

/* A token matches whichever place it has among many, and only itself. */
static void test_many_tokens(void **state)
{
    fixture *f = *state;
    char err[512], name[32];
    dp_auth *a = NULL;
    dp_buf text;
    dp_buf_init(&text, 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(dp_buf_printf(&text, "token-%03d\n", i), 0);
    write_file(f->tokens, text.data, text.len);
    dp_buf_free(&text);
    dp_auth_options o = bearer_options(f);
    assert_int_equal(dp_auth_create(&o, &a, err, sizeof(err)), DP_OK);
    for (int i = 0; i < 500; i += 7) {
        snprintf(name, sizeof(name), "Bearer token-%03d", i);
        assert_int_equal(check_bearer(a, name), DP_AUTH_OK);
    }
    assert_int_equal(check_bearer(a, "Bearer token-499"), DP_AUTH_OK); /* the last */
    assert_int_equal(check_bearer(a, "Bearer token-500"), DP_AUTH_DENIED);
    assert_int_equal(check_bearer(a, "Bearer token-00"), DP_AUTH_DENIED);
    dp_auth_destroy(a);
}

static void test_api_key_header(void **state)
{
    fixture *f = *state;
    char err[512], summary[128];
    dp_auth *a = NULL;
    write_text(f->tokens, "tok-1\n");
    write_text(f->keys, "key one\nkey-2\n"); /* a header value may hold a space */
    dp_auth_options o = bearer_options(f);
    snprintf(o.header, sizeof(o.header), "X-Api-Key");
    snprintf(o.header_values_file, sizeof(o.header_values_file), "%s", f->keys);
    assert_int_equal(dp_auth_create(&o, &a, err, sizeof(err)), DP_OK);
    assert_string_equal(dp_auth_header_name(a), "x-api-key"); /* as gRPC metadata has it */
    dp_auth_summary(a, summary, sizeof(summary));
    assert_string_equal(summary, "1 bearer token, 2 values of X-Api-Key");
    dp_str none = DP_STR_NULL;
    assert_int_equal(dp_auth_check(a, none, DP_STR_LIT("key one")), DP_AUTH_OK);
    assert_int_equal(dp_auth_check(a, none, DP_STR_LIT("  key one ")), DP_AUTH_OK);
    assert_int_equal(dp_auth_check(a, none, DP_STR_LIT("key  one")), DP_AUTH_DENIED);
    assert_int_equal(dp_auth_check(a, none, DP_STR_LIT("key-2")), DP_AUTH_OK);
    assert_int_equal(dp_auth_check(a, none, DP_STR_LIT("Bearer tok-1")), DP_AUTH_DENIED);
    /* either credential is enough */
    assert_int_equal(dp_auth_check(a, DP_STR_LIT("Bearer nope"), DP_STR_LIT("key-2")), DP_AUTH_OK);
    assert_int_equal(dp_auth_check(a, DP_STR_LIT("Bearer tok-1"), DP_STR_LIT("nope")), DP_AUTH_OK);
    assert_int_equal(dp_auth_check(a, DP_STR_LIT("Bearer nope"), DP_STR_LIT("nope")),
                     DP_AUTH_DENIED);
    assert_int_equal(dp_auth_check(a, none, none), DP_AUTH_MISSING);
    assert_string_equal(
        dp_auth_message(a, DP_AUTH_MISSING),
        "authentication required: send Authorization: Bearer <token> or the header X-Api-Key");
    dp_auth_destroy(a);

    /* the API key alone */
    memset(o.bearer_tokens_file, 0, sizeof(o.bearer_tokens_file));
    assert_int_equal(dp_auth_create(&o, &a, err, sizeof(err)), DP_OK);
    assert_false(dp_auth_takes_bearer(a));
    assert_int_equal(dp_auth_check(a, DP_STR_LIT("Bearer tok-1"), none), DP_AUTH_MISSING);
    assert_string_equal(dp_auth_message(a, DP_AUTH_MISSING),
                        "authentication required: send the header X-Api-Key");
    dp_auth_destroy(a);
}

static void test_file_errors(void **state)
{
    fixture *f = *state;
    dp_auth_options o = bearer_options(f);
    /* every message is compared whole: none quotes the line it is about */
    write_text(f->tokens, "# only a comment\n\n   \n");
    expect_create_error(&o, f->tokens,
                        "server.auth.bearer_tokens_file: %s holds no token (one a line; lines "
                        "starting with # are comments)");
    write_text(f->tokens, "good\ns3c ret-value\n"); /* character 4 of line 2 is the space */
    expect_create_error(&o, f->tokens,
                        "server.auth.bearer_tokens_file: %s:2: character 4 cannot be sent in a "
                        "header (visible ASCII only, no spaces inside a token)");
    write_text(f->tokens, "s3cret-value\xc3\xa9\n"); /* UTF-8 after 12 ASCII bytes */
    expect_create_error(&o, f->tokens,
                        "server.auth.bearer_tokens_file: %s:1: character 13 cannot be sent in a "
                        "header (visible ASCII only, no spaces inside a token)");
    char *long_token = malloc(DP_AUTH_TOKEN_MAX + 2);
    memset(long_token, 'x', DP_AUTH_TOKEN_MAX + 1);
    long_token[DP_AUTH_TOKEN_MAX + 1] = '\0';
    write_text(f->tokens, long_token);
    expect_create_error(&o, f->tokens,
                        "server.auth.bearer_tokens_file: %s:1: a token is longer than 4096 bytes");
    long_token[DP_AUTH_TOKEN_MAX] = '\0'; /* exactly the limit is taken */
    write_text(f->tokens, long_token);
    dp_auth *a = NULL;
    char err[512];
    assert_int_equal(dp_auth_create(&o, &a, err, sizeof(err)), DP_OK);
    dp_auth_destroy(a);
    free(long_token);
    unlink(f->tokens);
    expect_create_error(&o, f->tokens,
                        "server.auth.bearer_tokens_file: %s: No such file or directory");

    /* header values: printable ASCII, tabs inside too, but no control characters */
    memset(&o, 0, sizeof(o));
    snprintf(o.header, sizeof(o.header), "x-api-key");
    snprintf(o.header_values_file, sizeof(o.header_values_file), "%s", f->keys);
    write_text(f->keys, "s3cret\x01value\n");
    expect_create_error(&o, f->keys,
                        "server.auth.header_values_file: %s:1: character 7 cannot be sent in a "
                        "header (printable ASCII only)");
    /* a header and its values go together */
    o.header_values_file[0] = '\0';
    expect_create_error(&o, "",
                        "server.auth.header and server.auth.header_values_file go "
                        "together: set both or neither");
    snprintf(o.header, sizeof(o.header), "bad header");
    snprintf(o.header_values_file, sizeof(o.header_values_file), "%s", f->keys);
    expect_create_error(&o, "",
                        "server.auth.header is not a header name both receivers can read "
                        "(letters, digits, '-', '_' and '.'; not grpc-*, not *-bin)");
}

static void test_reload(void **state)
{
    fixture *f = *state;
    char err[512], summary[128];
    dp_auth *a = NULL;
    write_text(f->tokens, "old-1\nold-2\n");
    dp_auth_options o = bearer_options(f);
    assert_int_equal(dp_auth_create(&o, &a, err, sizeof(err)), DP_OK);
    write_text(f->tokens, "new-1\n");
    assert_int_equal(dp_auth_reload(a, summary, sizeof(summary), err, sizeof(err)), DP_OK);
    assert_string_equal(summary, "1 bearer token");
    assert_int_equal(check_bearer(a, "Bearer new-1"), DP_AUTH_OK);
    assert_int_equal(check_bearer(a, "Bearer old-1"), DP_AUTH_DENIED);
    /* a bad file: the error, and the tokens in use stay */
    write_text(f->tokens, "\n");
    assert_int_equal(dp_auth_reload(a, summary, sizeof(summary), err, sizeof(err)), DP_EINVAL);
    char want[512];
    snprintf(want, sizeof(want),
             "server.auth.bearer_tokens_file: %s holds no token (one a line; lines starting "
             "with # are comments)",
             f->tokens);
    assert_string_equal(err, want);
    assert_int_equal(check_bearer(a, "Bearer new-1"), DP_AUTH_OK);
    dp_auth_summary(a, summary, sizeof(summary));
    assert_string_equal(summary, "1 bearer token");
    dp_auth_destroy(a);
}

typedef struct checker {
    dp_auth *auth;
    int checks;
    int not_ok;
} checker;

static void *check_loop(void *arg)
{
    checker *c = arg;
    for (int i = 0; i < c->checks; i++)
        if (check_bearer(c->auth, "Bearer stays") != DP_AUTH_OK)
            c->not_ok++;
    return NULL;
}

/* Checks running while reloads swap the tokens see one set or the other,
 * never none: "stays" is in both files, so every check takes it. */
static void test_checks_during_reloads(void **state)
{
    fixture *f = *state;
    char err[512], summary[128];
    dp_auth *a = NULL;
    write_text(f->tokens, "stays\nfirst\n");
    dp_auth_options o = bearer_options(f);
    assert_int_equal(dp_auth_create(&o, &a, err, sizeof(err)), DP_OK);
    checker c = {a, 20000, 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, check_loop, &c), 0);
    for (int i = 0; i < 200; i++) {
        write_text(f->tokens, i % 2 ? "stays\nfirst\n" : "second\nstays\n");
        assert_int_equal(dp_auth_reload(a, summary, sizeof(summary), err, sizeof(err)), DP_OK);
    }
    pthread_join(thread, NULL);
    assert_int_equal(c.not_ok, 0);
    dp_auth_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_file_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bearer_comparison, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_key_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checks_during_reloads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

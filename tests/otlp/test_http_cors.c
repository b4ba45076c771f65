/*
 * CORS decisions of the OTLP/HTTP receiver (http_cors.c): which origins
 * match (exact, case-insensitive, one '*' for one or more characters, "*"),
 * which preflights are allowed and what they are answered with. Expected
 * values are the inputs themselves, as the rules in http_cors.h say.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http_cors.h"

static dp_http_cors *make(const char *origins, const char *headers, unsigned max_age)
{
    char err[200];
    dp_http_cors *c = NULL;
    assert_int_equal(dp_http_cors_create(origins, headers, max_age, &c, err, sizeof(err)), DP_OK);
    return c;
}

static void test_off_without_origins(void **state)
{
    char err[200];
    dp_http_cors *c = (dp_http_cors *)1;
    assert_int_equal(dp_http_cors_create("", "X-A", 60, &c, err, sizeof(err)), DP_OK);
    assert_null(c);
    assert_int_equal(dp_http_cors_create(" , ", NULL, 60, &c, err, sizeof(err)), DP_OK);
    assert_null(c);
    assert_null(dp_http_cors_allow_origin(NULL, "https://a.example"));
    assert_int_equal(dp_http_cors_create("https://*.*.example", "", 0, &c, err, sizeof(err)),
                     DP_EINVAL);
    assert_string_equal(err, "allowed origin 'https://*.*.example' has more than one '*'");
}

static void test_origins(void **state)
{
    dp_http_cors *c = make(" https://app.example.com ,https://*.corp.example", "", 0);
    const char *o = "https://app.example.com";
    assert_ptr_equal(dp_http_cors_allow_origin(c, o), o); /* the origin itself */
    assert_non_null(dp_http_cors_allow_origin(c, "HTTPS://APP.EXAMPLE.COM"));
    assert_null(dp_http_cors_allow_origin(c, "https://app.example.com:8443"));
    assert_null(dp_http_cors_allow_origin(c, "http://app.example.com"));
    assert_non_null(dp_http_cors_allow_origin(c, "https://eu.corp.example"));
    assert_non_null(dp_http_cors_allow_origin(c, "https://a.b.corp.example"));
    /* the '*' stands for at least one character */
    assert_null(dp_http_cors_allow_origin(c, "https://.corp.example"));
    assert_null(dp_http_cors_allow_origin(c, "https://corp.example"));
    assert_null(dp_http_cors_allow_origin(c, "https://eu.corp.example.evil"));
    assert_null(dp_http_cors_allow_origin(c, ""));
    assert_null(dp_http_cors_allow_origin(c, NULL));
    dp_http_cors_destroy(c);

    c = make("*", "", 0);
    assert_string_equal(dp_http_cors_allow_origin(c, "https://anything.example"), "*");
    assert_null(dp_http_cors_allow_origin(c, NULL)); /* no Origin: not a CORS request */
    dp_http_cors_destroy(c);
}

static void test_preflight(void **state)
{
    dp_http_cors *c = make("https://app.example.com", "X-Tenant, x-trace", 7200);
    dp_http_cors_preflight pf;
    const char *o = "https://app.example.com";
    assert_true(dp_http_cors_judge_preflight(c, o, "POST", NULL, &pf));
    assert_string_equal(pf.allow_origin, o);
    assert_string_equal(pf.allow_methods, "POST");
    assert_string_equal(pf.allow_headers, "");
    assert_int_equal(pf.max_age_s, 7200);
    /* always-allowed and configured headers, any case, echoed as asked */
    assert_true(dp_http_cors_judge_preflight(
        c, o, "POST", "Content-Type,content-encoding , X-TENANT,x-trace", &pf));
    assert_string_equal(pf.allow_headers, "Content-Type, content-encoding, X-TENANT, x-trace");
    /* refused: another header, another method, another origin; nothing filled */
    assert_false(dp_http_cors_judge_preflight(c, o, "POST", "content-type, authorization", &pf));
    assert_null(pf.allow_origin);
    assert_false(dp_http_cors_judge_preflight(c, o, "PUT", NULL, &pf));
    assert_false(dp_http_cors_judge_preflight(c, o, NULL, NULL, &pf));
    assert_false(dp_http_cors_judge_preflight(c, "https://evil.example", "POST", NULL, &pf));
    dp_http_cors_destroy(c);

    c = make("*", "*", 0);
    assert_true(dp_http_cors_judge_preflight(c, "https://x.example", "POST", "authorization", &pf));
    assert_string_equal(pf.allow_origin, "*");
    assert_string_equal(pf.allow_headers, "authorization");
    assert_int_equal(pf.max_age_s, 0);
    dp_http_cors_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_without_origins),
        cmocka_unit_test(test_origins),
        cmocka_unit_test(test_preflight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * dagprof's own resource: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
 * as the SDK environment specification reads them, and the random
 * service.instance.id. Expected values are the variables' text decoded by
 * hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "service_identity.h"

/* 8-4-4-4-12 lower-case hex, version nibble 4, variant 8, 9, a or b. */
static void assert_uuid_v4(const char *u)
{
    assert_int_equal(strlen(u), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(u[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", u[i]));
    }
    assert_int_equal(u[14], '4');
    assert_non_null(strchr("89ab", u[19]));
}

static void test_defaults(void **state)
{
    (void)state;
    dp_service_identity a, b;
    char warn[200];
    assert_int_equal(dp_service_identity_init(&a, NULL, NULL, warn, sizeof(warn)), 0);
    assert_string_equal(warn, "");
    assert_int_equal(a.count, 2);
    assert_string_equal(a.attrs[0].key, "service.name");
    assert_string_equal(a.attrs[0].value, "dagprof");
    assert_string_equal(a.attrs[1].key, "service.instance.id");
    assert_uuid_v4(a.attrs[1].value);
    /* a second start is another instance */
    assert_int_equal(dp_service_identity_init(&b, "", "", warn, sizeof(warn)), 0);
    assert_int_equal(b.count, 2);
    assert_string_equal(b.attrs[0].value, "dagprof");
    assert_string_not_equal(a.attrs[1].value, b.attrs[1].value);
    dp_service_identity_free(&a);
    dp_service_identity_free(&b);
}

/* "deployment.environment=prod, service.name = agents ,team=a%2Cb%20c,,"
 * decodes to deployment.environment=prod, service.name=agents and
 * team="a,b c" (%2C is a comma, %20 a space); the empty entries are
 * skipped. OTEL_SERVICE_NAME, when set, wins over service.name. */
static void test_resource_attributes(void **state)
{
    (void)state;
    dp_service_identity id;
    char warn[200];
    const char *attrs = "deployment.environment=prod, service.name = agents ,team=a%2Cb%20c,,";
    assert_int_equal(dp_service_identity_init(&id, NULL, attrs, warn, sizeof(warn)), 0);
    assert_string_equal(warn, "");
    assert_int_equal(id.count, 4);
    assert_string_equal(id.attrs[0].value, "agents");
    assert_uuid_v4(id.attrs[1].value);
    assert_string_equal(id.attrs[2].key, "deployment.environment");
    assert_string_equal(id.attrs[2].value, "prod");
    assert_string_equal(id.attrs[3].key, "team");
    assert_string_equal(id.attrs[3].value, "a,b c");
    dp_service_identity_free(&id);

    assert_int_equal(dp_service_identity_init(&id, "from-env", attrs, warn, sizeof(warn)), 0);
    assert_string_equal(dp_service_identity_get(&id, "service.name"), "from-env");
    assert_string_equal(dp_service_identity_get(&id, "team"), "a,b c");
    assert_null(dp_service_identity_get(&id, "host.name"));
    dp_service_identity_free(&id);

    /* an instance id given is kept, not replaced by a random one */
    assert_int_equal(
        dp_service_identity_init(&id, NULL, "service.instance.id=pod-7", warn, sizeof(warn)), 0);
    assert_int_equal(id.count, 2);
    assert_string_equal(dp_service_identity_get(&id, "service.instance.id"), "pod-7");
    dp_service_identity_free(&id);
}

/* A bad entry makes the whole variable be ignored, with a warning naming
 * the entry: no '=', an empty key, a bad escape (%zz, a cut %4), %00. */
static void test_bad_attributes_ignored(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *warn;
    } cases[] = {
        {"a=1,broken", "entry 2 has no '='"},
        {"a=1, =2", "entry 2 has an empty or badly encoded key"},
        {"a=%zz", "the value of a (entry 1) is not percent-encoded"},
        {"service.name=x,a=%4", "the value of a (entry 2) is not percent-encoded"},
        {"a=%00", "the value of a (entry 1) is not percent-encoded"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dp_service_identity id;
        char warn[200];
        assert_int_equal(dp_service_identity_init(&id, NULL, cases[i].text, warn, sizeof(warn)), 0);
        assert_string_equal(warn, cases[i].warn);
        assert_int_equal(id.count, 2);
        assert_string_equal(id.attrs[0].value, "dagprof");
        assert_uuid_v4(id.attrs[1].value);
        dp_service_identity_free(&id);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_resource_attributes),
        cmocka_unit_test(test_bad_attributes_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

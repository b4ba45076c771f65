/*
 * Credentials in URLs: every expected string below is written out by hand
 * from the input beside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "url_redact.h"

static void test_redact(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"http://user:password@host:4317", "http://user:***@host:4317"},
        {"https://token@collector.example:443/", "https://***@collector.example:443/"},
        {"user:pw@127.0.0.1:4317", "user:***@127.0.0.1:4317"},
        /* an unescaped '@' in the password: everything up to the last '@' goes */
        {"http://u:p@ss@host:1", "http://u:***@host:1"},
        {"http://host:4317", "http://host:4317"},
        {"127.0.0.1:4317", "127.0.0.1:4317"},
        /* an '@' after the authority (in a path or query) is no userinfo */
        {"http://host:1/a@b", "http://host:1/a@b"},
        {"http://host:1?x=a@b", "http://host:1?x=a@b"},
        {"", ""},
    };
    char out[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(dp_url_redact(cases[i].in, out, sizeof(out)), cases[i].want);
    }
    /* cut to the room given, still NUL-terminated: "http://u:***@h:1" is 16 bytes */
    char small[10];
    assert_string_equal(dp_url_redact("http://u:secret@h:1", small, sizeof(small)), "http://u:");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

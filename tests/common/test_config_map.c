/*
 * Tests of the generic configuration key (common/config_map.h) on a small
 * section of its own: defaults land in the right fields, every value type
 * parses and formats back, a check function and the secret trait shape the
 * messages, and not-below rules name both keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config_map.h"

typedef struct sample {
    char name[8];
    unsigned count;
    uint64_t big;
    size_t bytes;
    uint64_t wait_ms;
    double precise_ms;
    double ratio;
    int mode;
    char level[8];
    char token[16];
    double low;
    double high;
} sample;

static const dp_config_enum_value mode_values[] = {{"off", 0}, {"on", 7}, {NULL, 0}};
static const dp_config_enum_value level_values[] = {{"quiet", 0}, {"loud", 1}, {NULL, 0}};

static const char *no_x(const char *value)
{
    return strchr(value, 'x') ? "contains an x" : NULL;
}

#define KEY(...) DP_CONFIG_KEY(sample, __VA_ARGS__)
static const dp_config_key sample_keys[] = {
    DP_CONFIG_KEY_CHECKED(sample, "name", DP_CFG_STRING, name, "abc", 0, 0, NULL, "--name", 0, no_x,
                          "A name."),
    KEY("count", DP_CFG_UINT, count, "12", 1, 100, NULL, NULL, "A count."),
    KEY("big", DP_CFG_UINT, big, "5000000000", 0, 1e12, NULL, NULL, "Past 32 bits."),
    KEY("bytes", DP_CFG_SIZE, bytes, "2KiB", 0, DP_CONFIG_GIB, NULL, NULL, "Some bytes."),
    KEY("wait", DP_CFG_DURATION, wait_ms, "1.5s", 0, DP_CONFIG_HOUR_MS, NULL, NULL, "A wait."),
    KEY("precise", DP_CFG_DURATION_D, precise_ms, "0.25ms", 0, 1000, NULL, NULL, "Fractions."),
    KEY("ratio", DP_CFG_DOUBLE, ratio, "0.3", 0, 1, NULL, NULL, "A share."),
    KEY("mode", DP_CFG_ENUM, mode, "on", 0, 0, mode_values, NULL, "A mode."),
    KEY("level", DP_CFG_ENUM_STRING, level, "loud", 0, 0, level_values, NULL, "A level."),
    DP_CONFIG_KEY_CHECKED(sample, "token", DP_CFG_STRING, token, "", 0, 0, NULL, NULL,
                          DP_CONFIG_SECRET, no_x, "A secret."),
    KEY("low", DP_CFG_DOUBLE, low, "1", 0, 10, NULL, NULL, "The base."),
    KEY("high", DP_CFG_DOUBLE, high, "2", 0, 10, NULL, NULL, "Not below low."),
};
static const dp_config_not_below sample_rules[] = {{"high", "low"}};
static const dp_config_section sample_section =
    DP_CONFIG_SECTION_RULES("sample", "For tests.", sample_keys, sample_rules);

static const dp_config_key *key(const char *name)
{
    const dp_config_key *k = dp_config_key_find(&sample_section, name, strlen(name));
    assert_non_null(k);
    return k;
}

static int set(sample *s, const char *name, const char *value, char *err, size_t errlen)
{
    return dp_config_key_set(s, &sample_section, key(name), value, strlen(value), err, errlen);
}

static void test_defaults_land_in_their_fields(void **state)
{
    sample s;
    memset(&s, 0xab, sizeof(s));
    assert_int_equal(dp_config_section_defaults(&s, &sample_section), 0);
    assert_string_equal(s.name, "abc");
    assert_int_equal(s.count, 12);
    assert_true(s.big == 5000000000ull);
    assert_int_equal(s.bytes, 2048);   /* 2 * 1024 */
    assert_int_equal(s.wait_ms, 1500); /* 1.5 * 1000 */
    assert_true(s.precise_ms == 0.25);
    assert_true(s.ratio == 0.3);
    assert_int_equal(s.mode, 7);
    assert_string_equal(s.level, "loud");
    assert_string_equal(s.token, "");
    assert_true(s.low == 1.0 && s.high == 2.0);
}

static void test_values_and_formatting(void **state)
{
    sample s;
    char err[256], text[64];
    dp_config_section_defaults(&s, &sample_section);
    assert_int_equal(set(&s, "bytes", "3MB", err, sizeof(err)), 0);
    assert_int_equal(s.bytes, 3000000); /* MB is decimal */
    assert_int_equal(set(&s, "wait", "2m", err, sizeof(err)), 0);
    assert_int_equal(s.wait_ms, 120000);
    dp_config_key_format(&s, key("wait"), text, sizeof(text));
    assert_string_equal(text, "2m");
    /* days: 0.001 d = 86.4 s = 86400 ms */
    assert_int_equal(set(&s, "wait", "0.001d", err, sizeof(err)), 0);
    assert_int_equal(s.wait_ms, 86400);
    assert_int_equal(set(&s, "bytes", "1048576", err, sizeof(err)), 0);
    dp_config_key_format(&s, key("bytes"), text, sizeof(text));
    assert_string_equal(text, "1MiB");
    dp_config_key_format(&s, key("mode"), text, sizeof(text));
    assert_string_equal(text, "on");
    assert_int_equal(set(&s, "mode", "OFF", err, sizeof(err)), 0); /* names ignore case */
    assert_int_equal(s.mode, 0);
    assert_true(dp_config_key_number(&s, key("count")) == 12.0);
}

static void test_errors_name_the_key(void **state)
{
    sample s, before;
    char err[256];
    dp_config_section_defaults(&s, &sample_section);
    before = s;
    assert_int_equal(set(&s, "count", "101", err, sizeof(err)), -1);
    assert_string_equal(err, "sample.count: '101' is out of range (1..100)");
    assert_int_equal(set(&s, "wait", "3", err, sizeof(err)), -1);
    assert_string_equal(err,
                        "sample.wait: expected a duration such as 500ms, 2s, 1.5m or 1h, got '3'");
    assert_int_equal(set(&s, "name", "toolongname", err, sizeof(err)), -1);
    assert_string_equal(err, "sample.name: 'toolongname' is too long (at most 7 bytes)");
    assert_int_equal(set(&s, "name", "xy", err, sizeof(err)), -1);
    assert_string_equal(err, "sample.name: 'xy' contains an x");
    assert_int_equal(set(&s, "level", "medium", err, sizeof(err)), -1);
    assert_string_equal(err, "sample.level: 'medium' is not one of: quiet, loud");
    /* a secret is never quoted, whatever is wrong with it */
    assert_int_equal(set(&s, "token", "xsecret", err, sizeof(err)), -1);
    assert_string_equal(err, "sample.token: contains an x (value not shown)");
    assert_int_equal(set(&s, "token", "secret-far-too-long", err, sizeof(err)), -1);
    assert_null(strstr(err, "secret-far"));
    assert_memory_equal(&s, &before, sizeof(s)); /* nothing stored on error */
}

static void test_rules_and_names(void **state)
{
    sample s;
    char err[256], names[256] = "";
    const dp_config_key *high = NULL, *low = NULL;
    dp_config_section_defaults(&s, &sample_section);
    assert_int_equal(
        dp_config_section_check_rules(&s, &sample_section, err, sizeof(err), &high, &low), 0);
    assert_int_equal(set(&s, "low", "2.5", err, sizeof(err)), 0);
    assert_int_equal(
        dp_config_section_check_rules(&s, &sample_section, err, sizeof(err), &high, &low), -1);
    assert_string_equal(err, "sample.high (2) must not be below sample.low (2.5)");
    assert_ptr_equal(high, key("high"));
    assert_ptr_equal(low, key("low"));

    assert_int_equal(dp_config_list_append(names, sizeof(names), "a"), 0);
    assert_int_equal(dp_config_list_append(names, sizeof(names), "b"), 0);
    assert_string_equal(names, "a, b");
    char small[4] = "";
    assert_int_equal(dp_config_list_append(small, sizeof(small), "abcd"), -1);
    assert_int_equal(dp_config_key_names(&sample_section, names, sizeof(names)), 0);
    assert_string_equal(names,
                        "name, count, big, bytes, wait, precise, ratio, mode, level, token, low, "
                        "high");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_land_in_their_fields),
        cmocka_unit_test(test_values_and_formatting),
        cmocka_unit_test(test_errors_name_the_key),
        cmocka_unit_test(test_rules_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

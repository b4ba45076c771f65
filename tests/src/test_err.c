/*
 * One error vocabulary: every module's names for "full", "out of memory",
 * "invalid", "closed" and "not decodable" are the same codes, and every
 * code has its own text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "delivery_queue.h"
#include "dp_err.h"
#include "receiver.h"
#include "trace_table.h"
#include "upstream.h"
#include "upstream_config.h"

static void test_families_agree(void **state)
{
    (void)state;
    assert_int_equal(DP_TRACE_TABLE_EFULL, DP_EFULL);
    assert_int_equal(DP_UPSTREAM_EFULL, DP_EFULL);
    assert_int_equal(DP_DELIVERY_EFULL, DP_EFULL);
    assert_int_equal(DP_TRACE_TABLE_ENOMEM, DP_ENOMEM);
    assert_int_equal(DP_OTLP_ENOMEM, DP_ENOMEM);
    assert_int_equal(DP_RECEIVER_ENOMEM, DP_ENOMEM);
    assert_int_equal(DP_UPSTREAM_ENOMEM, DP_ENOMEM);
    assert_int_equal(DP_DELIVERY_ENOMEM, DP_ENOMEM);
    assert_int_equal(DP_UPSTREAM_CONFIG_ENOMEM, DP_ENOMEM);
    assert_int_equal(DP_TRACE_TABLE_EINVAL, DP_EINVAL);
    assert_int_equal(DP_RECEIVER_EINVAL, DP_EINVAL);
    assert_int_equal(DP_UPSTREAM_EINVAL, DP_EINVAL);
    assert_int_equal(DP_DELIVERY_EINVAL, DP_EINVAL);
    assert_int_equal(DP_UPSTREAM_CONFIG_EINVAL, DP_EINVAL);
    assert_int_equal(DP_TRACE_TABLE_ECLOSED, DP_ECLOSED);
    assert_int_equal(DP_DELIVERY_ECLOSED, DP_ECLOSED);
    assert_int_equal(DP_UPSTREAM_ESHUTDOWN, DP_ECLOSED);
    assert_int_equal(DP_OTLP_EDECODE, DP_EDECODE);
}

static void test_texts(void **state)
{
    (void)state;
    const int codes[] = {DP_OK,      DP_ENOMEM, DP_EINVAL,  DP_EFULL,    DP_ECLOSED,
                         DP_EDECODE, DP_EBIND,  DP_ETHREAD, DP_EDISABLED};
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        assert_true(codes[i] <= 0);
        assert_string_not_equal(dp_strerror(codes[i]), "unknown error");
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(codes[i], codes[j]);
            assert_string_not_equal(dp_strerror(codes[i]), dp_strerror(codes[j]));
        }
    }
    assert_string_equal(dp_strerror(DP_EFULL), "full");
    assert_string_equal(dp_strerror(-1000), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_agree),
        cmocka_unit_test(test_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

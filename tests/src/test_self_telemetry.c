/*
 * The daemon's self-telemetry: GET /metrics over a plain loopback socket
 * (503 before the daemon's parts are attached, then the Prometheus text
 * with dagprof's resource as target_info; HEAD, 404, 405), a bad address,
 * and the status line's text from a snapshot built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "engine.h"
#include "http_ask.h"
#include "self_telemetry.h"

static void test_metrics_endpoint(void **state)
{
    (void)state;
    dp_self_telemetry_options opt = {"127.0.0.1:0", 0};
    dp_self_telemetry *t = NULL;
    char err[256], answer[32768];
    assert_int_equal(dp_self_telemetry_start(&opt, &t, err, sizeof(err)), DP_OK);
    int port = dp_self_telemetry_port(t);
    assert_true(port > 0);

    ask(port, "GET", "/metrics", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 503 "));

    dp_config cfg;
    dp_config_defaults(&cfg);
    dp_engine *engine = NULL;
    assert_int_equal(dp_engine_create(&cfg, NULL, &engine), 0);
    dp_service_identity id;
    char warn[100];
    assert_int_equal(dp_service_identity_init(&id, "svc-a", "service.instance.id=i-1,team=x%20y",
                                              warn, sizeof(warn)),
                     0);
    dp_self_telemetry_sources src;
    memset(&src, 0, sizeof(src));
    src.engine = engine;
    src.memory_limit_bytes = cfg.assembly.memory_limit_bytes;
    src.identity = &id;
    dp_self_telemetry_attach(t, &src);

    ask(port, "GET", "/metrics", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 200 "));
    assert_non_null(strstr(answer, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    /* the default memory limit, 256 MiB = 256 x 1048576 bytes */
    assert_non_null(strstr(answer, "\ndagprof_assembly_memory_limit_bytes 268435456\n"));
    assert_non_null(strstr(answer, "\n# TYPE dagprof_assembly_runs_in_progress gauge\n"
                                   "dagprof_assembly_runs_in_progress 0\n"));
    assert_non_null(strstr(answer, "\n# TYPE dagprof_processor_reported_runs_total counter\n"
                                   "dagprof_processor_reported_runs_total 0\n"));
    /* no receiver attached: the families are listed without points */
    assert_non_null(strstr(answer, "\n# TYPE dagprof_receiver_accepted_spans_total counter\n#"));
    /* no upstream: no exporter figures */
    assert_null(strstr(answer, "dagprof_exporter_"));
    /* the resource, its keys made label names */
    assert_non_null(strstr(answer,
                           "\ntarget_info{service_name=\"svc-a\",service_instance_id=\"i-1\","
                           "team=\"x y\"} 1\n"));

    ask(port, "HEAD", "/metrics", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 200 "));
    assert_null(strstr(answer, "# HELP"));
    ask(port, "POST", "/metrics", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 405 "));
    assert_non_null(strstr(answer, "Allow: GET, HEAD\r\n"));
    ask(port, "GET", "/metrics/x", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 404 "));
    ask(port, "GET", "/health", answer, sizeof(answer));
    assert_non_null(strstr(answer, "HTTP/1.1 404 "));

    dp_self_telemetry_destroy(t);
    dp_engine_destroy(engine);
    dp_service_identity_free(&id);
}

static void test_bad_address(void **state)
{
    (void)state;
    dp_self_telemetry_options opt = {"8888", 0};
    dp_self_telemetry *t = NULL;
    char err[256];
    assert_int_equal(dp_self_telemetry_start(&opt, &t, err, sizeof(err)), DP_EINVAL);
    assert_non_null(strstr(err, "telemetry endpoint: "));
    assert_non_null(strstr(err, "not HOST:PORT"));
    assert_null(t);
}

static void add(dp_telemetry *t, const char *name, enum dp_telemetry_kind kind, double a, double b)
{
    dp_telemetry_family_add(t, name, kind, "1", "h");
    dp_telemetry_add(t, a, "k", "1", NULL);
    dp_telemetry_add(t, b, "k", "2", NULL);
}

/* The status line sums each family over its labels (e.g. received 100 +
 * 20 = 120), shows bytes in binary units (3 MiB = 3145728 bytes, of 256 MiB;
 * 1536 bytes = 1.5 KiB; 1000 bytes as they are) and,
 * with an upstream, the oldest age of all signals (the larger, 2.5 s) and
 * failed = failed + rejected + dropped (1 + 2 + 0). */
static void test_status_text(void **state)
{
    (void)state;
    dp_telemetry t;
    dp_telemetry_init(&t);
    add(&t, "dagprof_receiver_received_spans", DP_TELEMETRY_COUNTER, 100, 20);
    add(&t, "dagprof_receiver_accepted_spans", DP_TELEMETRY_COUNTER, 90, 20);
    add(&t, "dagprof_receiver_refused_spans", DP_TELEMETRY_COUNTER, 6, 0);
    add(&t, "dagprof_receiver_rejected_spans", DP_TELEMETRY_COUNTER, 4, 0);
    add(&t, "dagprof_receiver_rejected_requests", DP_TELEMETRY_COUNTER, 2, 1);
    add(&t, "dagprof_assembly_runs_in_progress", DP_TELEMETRY_GAUGE, 3, 0);
    add(&t, "dagprof_assembly_pending_runs", DP_TELEMETRY_GAUGE, 1, 0);
    add(&t, "dagprof_processor_reported_runs", DP_TELEMETRY_COUNTER, 12, 0);
    add(&t, "dagprof_processor_partial_runs", DP_TELEMETRY_COUNTER, 2, 0);
    add(&t, "dagprof_processor_rereported_runs", DP_TELEMETRY_COUNTER, 1, 0);
    add(&t, "dagprof_assembly_late_runs", DP_TELEMETRY_COUNTER, 1, 0);
    add(&t, "dagprof_processor_failed_runs", DP_TELEMETRY_COUNTER, 0, 0);
    add(&t, "dagprof_assembly_buffered_bytes", DP_TELEMETRY_GAUGE, 3145728, 0);
    add(&t, "dagprof_assembly_memory_limit_bytes", DP_TELEMETRY_GAUGE, 268435456, 0);
    char line[1024];
    dp_self_telemetry_status_text(&t, line, sizeof(line));
    assert_string_equal(line, "spans received 120, accepted 110, refused 6, rejected 4; requests "
                              "with errors 3; runs in progress 3, pending 1, reported 12 (partial "
                              "2, whole again 1, late 1), failed 0; buffered 3.0 MiB of 256.0 MiB");

    dp_telemetry small;
    dp_telemetry_init(&small);
    add(&small, "dagprof_assembly_buffered_bytes", DP_TELEMETRY_GAUGE, 1000, 536);
    add(&small, "dagprof_assembly_memory_limit_bytes", DP_TELEMETRY_GAUGE, 1000, 0);
    dp_self_telemetry_status_text(&small, line, sizeof(line));
    assert_non_null(strstr(line, "; buffered 1.5 KiB of 1000 B"));
    dp_telemetry_free(&small);

    add(&t, "dagprof_exporter_queue_size", DP_TELEMETRY_GAUGE, 40, 0);
    add(&t, "dagprof_exporter_queue_oldest_age_seconds", DP_TELEMETRY_GAUGE, 0.5, 2.5);
    add(&t, "dagprof_exporter_sent_items", DP_TELEMETRY_COUNTER, 100, 7);
    add(&t, "dagprof_exporter_retries", DP_TELEMETRY_COUNTER, 3, 0);
    add(&t, "dagprof_exporter_failed_items", DP_TELEMETRY_COUNTER, 1, 0);
    add(&t, "dagprof_exporter_rejected_items", DP_TELEMETRY_COUNTER, 0, 2);
    dp_self_telemetry_status_text(&t, line, sizeof(line));
    assert_non_null(strstr(line, "of 256.0 MiB; upstream queue 40 items (oldest 2.5 s), sent 107, "
                                 "retries 3, failed 3"));
    dp_telemetry_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_bad_address),
        cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

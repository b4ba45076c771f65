/*
 * Fuzz target for the reader of JSON reports that `dagprof diff` compares
 * (profiler/diff.c): reports may come from storage, not only from
 * render_json.c. The input is compared with a fixed one-node report, both
 * ways and with itself; any input must give 0 or a clean error, never a
 * crash or a leak, and every comparison made must render in the three forms.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

static const char one_node[] =
    "{\"trace_id\":\"01\",\"dag_id\":\"d\",\"summary\":{\"wall_ms\":10,\"execution_ms\":10,"
    "\"critical_path_ms\":10,\"parallelism\":1,\"retries\":0,\"tokens\":{\"input\":1,"
    "\"output\":2,\"cache_read\":3,\"cache_write\":4,\"total\":10},\"cost_usd\":null},"
    "\"nodes\":[{\"id\":\"n\",\"name\":\"n\",\"model\":\"m\",\"duration_ms\":10,\"wait_ms\":0,"
    "\"tokens\":{\"input\":1,\"output\":2,\"cache_read\":3,\"cache_write\":4,\"total\":10},"
    "\"cost_usd\":null,\"retries\":0,\"on_critical_path\":true}],"
    "\"critical_path\":{\"nodes\":[\"n\"]}}";

static void compare(const char *a, size_t alen, const char *b, size_t blen)
{
    dp_run_diff *d = NULL;
    char err[512];
    if (dp_diff_compute(a, alen, b, blen, &d, err, sizeof(err)) != 0) {
        if (d || !err[0])
            abort(); /* a failure gives no diff and says why */
        return;
    }
    dp_buf out;
    dp_buf_init(&out, 0);
    if (dp_diff_render_text(d, &out) != 0 || dp_diff_render_json(d, &out) != 0 ||
        dp_diff_render_html(d, &out) != 0)
        abort(); /* nothing but a full buffer stops a rendering */
    dp_buf_free(&out);
    dp_diff_destroy(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    compare(one_node, strlen(one_node), in, size);
    compare(in, size, one_node, strlen(one_node));
    compare(in, size, in, size);
    return 0;
}

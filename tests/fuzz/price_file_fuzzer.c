/*
 * Fuzz target for the price file reader (src/price_file*.c): the format is
 * recognised from the content (dagprof's YAML, LiteLLM's JSON object,
 * genai-prices' provider list), so every input goes through
 * dp_price_file_load() as a file (an in-memory memfd named through
 * /proc/self/fd). A genai-prices list is also read with two fixed dates,
 * before and after any dated price, so the choice among dated prices does
 * not depend on the day the fuzzer runs.
 * Any input gives 0 or an error naming the file, never a crash or a leak;
 * a failed load adds no entry; every price a lookup finds is in 0..1e6 USD
 * per 1M tokens (the range each format checks).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_file.h"
#include "price_file.h"
#include "price_file_formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool price_ok(double v)
{
    return isfinite(v) && v >= 0 && v <= DP_PRICE_MAX_USD_PER_MTOK;
}

/* Look names up that the seeds price: what is found is in range. */
static void check_lookups(const dp_price_table *t)
{
    static const char *const names[] = {"gpt-4o",           "claude-sonnet-4-5-20250929",
                                        "openai/gpt-4o",    "o3-2025-04-16",
                                        "gemini-2.5-pro",   "llama-3.1-70b-instruct",
                                        "acme-large",       "deepseek-chat",
                                        "us.anthropic.x-1", ""};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        dp_price_match m;
        dp_price_table_explain(t, dp_str_from_cstr(names[i]), &m);
        const dp_model_price *p = m.price;
        if (!p)
            continue;
        if (!price_ok(p->input_per_mtok) || !price_ok(p->output_per_mtok) ||
            !price_ok(p->cache_read_per_mtok) || !price_ok(p->cache_write_per_mtok))
            abort();
        if (p->tier_threshold &&
            (!price_ok(p->above_input_per_mtok) || !price_ok(p->above_output_per_mtok) ||
             !price_ok(p->above_cache_read_per_mtok) || !price_ok(p->above_cache_write_per_mtok)))
            abort();
    }
}

/* A load: 0 with the entries, or -1 with a message naming the file and no entry added. */
static void check_load(dp_price_table *t, int rc, const char *err, const char *path)
{
    if (rc < 0) {
        if (strncmp(err, path, strlen(path)) != 0 && strstr(err, "out of memory") == NULL)
            abort();
        if (dp_price_table_user_count(t) != 0)
            abort();
    }
    check_lookups(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[1024];
    int fd = fuzz_file(data, size, path, sizeof(path));
    if (fd < 0)
        return 0;

    dp_price_table *t = dp_price_table_create();
    if (t) {
        err[0] = '\0';
        check_load(t, dp_price_file_load(t, path, err, sizeof(err)), err, path);
        dp_price_table_destroy(t);
    }
    close(fd);

    /* genai-prices on fixed days: before every dated price, and after them all */
    json_t *root = json_loadb((const char *)data, size, JSON_DECODE_INT_AS_REAL, NULL);
    if (root && dp_price_file_is_genai(root)) {
        static const char *const days[] = {"1970-01-01", "2999-12-31"};
        for (size_t i = 0; i < 2; i++) {
            dp_price_file_stats stats;
            if (!(t = dp_price_table_create()))
                break;
            err[0] = '\0';
            int rc =
                dp_price_file_load_genai(t, "genai.json", root, days[i], &stats, err, sizeof(err));
            if (rc == 0 && stats.loaded != dp_price_table_user_count(t))
                abort();
            check_load(t, rc, err, "genai.json");
            dp_price_table_destroy(t);
        }
    }
    json_decref(root);
    return 0;
}

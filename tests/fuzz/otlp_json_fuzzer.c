/*
 * Fuzz target for the OTLP/JSON decoder: any bytes either decode into spans
 * with usable ids or fail with a message; nothing is appended on failure.
 */
#include <stdint.h>
#include <stdlib.h>

#include "otlp_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_arena arena;
    dp_span_list list = {0};
    char err[256];

    dp_arena_init(&arena, 0, 256u << 20);
    int rc = dp_otlp_json_parse((const char *)data, size, &arena, &list, err, sizeof err);
    if (rc < 0 && (list.count != 0 || err[0] == '\0'))
        abort();
    for (size_t i = 0; i < list.count; i++) {
        int zero = 1;
        for (int k = 0; k < 16; k++)
            zero &= list.spans[i].trace_id[k] == 0;
        if (zero)
            abort(); /* an all-zero trace id must never be listed */
    }
    dp_arena_free(&arena);
    return 0;
}

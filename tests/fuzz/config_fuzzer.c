/*
 * Fuzz target for the config file reader (the price file reader has its
 * own target, price_file_fuzzer.c). It reads from a path, so the input is
 * handed over as an in-memory file (memfd) named through /proc/self/fd.
 * Any input must give 0 or a clean error, never a crash, a leak or a
 * config half-applied.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[1024];
    int fd = fuzz_file(data, size, path, sizeof(path));
    if (fd < 0)
        return 0;

    dp_config c, before;
    dp_config_defaults(&c);
    before = c;
    if (dp_config_load_file(&c, path, err, sizeof(err)) < 0 && memcmp(&c, &before, sizeof(c)) != 0)
        abort(); /* a failed load must leave the config as it was */
    close(fd);
    return 0;
}

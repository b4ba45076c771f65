/*
 * Fuzz target for the config file reader and the price file reader (YAML,
 * LiteLLM JSON, genai-prices JSON).
 * Both read from a path, so the input is handed over as an in-memory file
 * (memfd) named through /proc/self/fd. Any input must give 0 or a clean
 * error, never a crash, a leak or a config half-applied.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "price_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[1024];
    int fd = memfd_create("dagprof-config-fuzz", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

    dp_config c, before;
    dp_config_defaults(&c);
    before = c;
    if (dp_config_load_file(&c, path, err, sizeof(err)) < 0 && memcmp(&c, &before, sizeof(c)) != 0)
        abort(); /* a failed load must leave the config as it was */

    dp_price_table *t = dp_price_table_create();
    if (t) {
        dp_price_file_load(t, path, err, sizeof(err));
        dp_price_table_destroy(t);
    }
    close(fd);
    return 0;
}

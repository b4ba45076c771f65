/*
 * For fuzz targets of readers that take a path: the input as an in-memory
 * file (memfd), named through /proc/self/fd.
 */
#ifndef DP_FUZZ_FILE_H
#define DP_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

/* The file's descriptor (close it when done) with its path in path[0..cap),
 * or -1 when it cannot be made. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = memfd_create("dagprof-fuzz", 0);
    if (fd < 0)
        return -1;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return -1;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

#endif

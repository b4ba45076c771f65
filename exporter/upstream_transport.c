/*
 * Helpers both upstream transports use (see upstream_transport.h): reading
 * the PEM files of the TLS settings once at start-up, and turning what an
 * upstream says into one log-safe line.
 */
#include "upstream_transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Largest PEM file read for TLS settings. */
#define MAX_PEM_BYTES (4u * 1024 * 1024)

char *dp_upstream_read_pem(const char *path, const char *what)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL, *result = NULL;
    size_t len = 0;

    if (!f) {
        dp_log_error("upstream", "cannot open %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    data = malloc(MAX_PEM_BYTES + 1);
    if (!data)
        goto out;
    len = fread(data, 1, MAX_PEM_BYTES + 1, f);
    if (ferror(f) || len == 0 || len > MAX_PEM_BYTES) {
        dp_log_error("upstream", "cannot read %s %s (empty, unreadable or over %u bytes)", what,
                     path, MAX_PEM_BYTES);
        goto out;
    }
    data[len] = '\0';
    result = data;
    data = NULL;
out:
    if (data) { /* a failed read of a key file may still hold part of it */
        memset(data, 0, len);
        free(data);
    }
    if (f)
        fclose(f);
    return result;
}

int dp_upstream_reserve(void **array, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t grown = *cap ? *cap : 64;
    while (grown < need)
        grown *= 2;
    void *p = realloc(*array, grown * size);
    if (!p)
        return -1;
    *array = p;
    *cap = grown;
    return 0;
}

void dp_upstream_free_secret(char *secret)
{
    if (!secret)
        return;
    memset(secret, 0, strlen(secret));
    free(secret);
}

void dp_upstream_copy_text(char *dst, size_t cap, const void *src, size_t len)
{
    if (cap == 0)
        return;
    if (len >= cap)
        len = cap - 1;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
    dp_upstream_one_line(dst);
}

void dp_upstream_one_line(char *text)
{
    /* Keep log lines on one line whatever the upstream sent. */
    for (; *text; text++)
        if ((unsigned char)*text < 0x20 || *text == 0x7f)
            *text = ' ';
}

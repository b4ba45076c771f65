/*
 * A whole file into a dp_buf; see file_read.h.
 */
#include "file_read.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int dp_file_read(const char *path, size_t max, dp_buf *out, char *err, size_t errlen)
{
    FILE *f = NULL;
    struct stat st;
    int rc = -1;

    dp_buf_reset(out);
    f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fileno(f), &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s: %lld bytes, over the limit of %zu", path, (long long)st.st_size,
                 max);
        goto out;
    }
    /* one exact allocation: a secret is never left behind in a buffer that grew */
    if (dp_buf_reserve_exact(out, (size_t)st.st_size) < 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    size_t n = fread(out->data, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    out->len = n;
    out->data[n] = '\0';
    rc = 0;
out:
    if (f)
        fclose(f);
    return rc;
}

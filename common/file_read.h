/*
 * Reading a whole regular file into a dp_buf with a size cap: trace files
 * (otlp/otlp_file.c), the receivers' certificates and keys
 * (otlp/receiver_tls.c) and their token files (otlp/auth.c). Messages name
 * the file and say what is wrong with it; they never quote its content.
 */
#ifndef DP_FILE_READ_H
#define DP_FILE_READ_H

#include <stddef.h>

#include "buf.h"

/**
 * Replace out's content with the bytes of the file at `path` (NUL-terminated
 * after out->len). A file that is not regular, cannot be read or holds more
 * than `max` bytes is an error: -1 with "PATH: reason" in err and out empty.
 * Returns 0 otherwise. Secrets read this way are the caller's to wipe.
 */
int dp_file_read(const char *path, size_t max, dp_buf *out, char *err, size_t errlen);

#endif

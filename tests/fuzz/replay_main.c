/*
 * Runs a fuzz target without libFuzzer: LLVMFuzzerTestOneInput() over every
 * file of the directories (or files) named on the command line, so CTest
 * replays the seed corpus and any crash reproducer on every build.
 * An empty directory passes; a missing one is an error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs larger than this are not corpus entries. */
#define REPLAY_MAX_INPUT (64u * 1024 * 1024)

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    int rc = -1;

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
        fprintf(stderr, "replay: %s: cannot size\n", path);
        goto out;
    }
    if ((unsigned long)size > REPLAY_MAX_INPUT) {
        fprintf(stderr, "replay: %s: %ld bytes, over the limit\n", path, size);
        goto out;
    }
    /* exactly the input's size, so AddressSanitizer sees any overread */
    buf = malloc(size ? (size_t)size : 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "replay: %s: read failed\n", path);
        goto out;
    }
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

static int run_path(const char *path, size_t *count)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return run_file(path);
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        char full[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (stat(full, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        (*count)++;
        if (run_file(full) < 0)
            rc = -1;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int rc = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i], &count) < 0)
            rc = 1;
    printf("replay: %zu input%s\n", count, count == 1 ? "" : "s");
    return rc;
}

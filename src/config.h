/*
 * dagprof's whole configuration: built-in defaults, then the YAML file
 * (--config), then command-line flags. One table per section in config.c
 * declares every key (type, default, range, description); that table also
 * feeds --help and docs/configuration.md.
 */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "profile_config.h"

enum dp_output_format {
    DP_FORMAT_TEXT = 0,
    DP_FORMAT_JSON = 1,
};

typedef struct dp_server_config {
    char listen[256];               /* "127.0.0.1:4317" */
    unsigned workers;               /* 0 = number of cores */
    size_t max_recv_message_bytes;  /* 16 MiB */
    unsigned max_concurrent_calls;  /* per worker; beyond: UNAVAILABLE. 1024 */
} dp_server_config;

typedef struct dp_assembly_config {
    uint64_t idle_timeout_ms;       /* 2000: root seen and no span for this long */
    uint64_t max_age_ms;            /* 30000: finalise regardless */
    size_t memory_limit_bytes;      /* 256 MiB: buffered span bytes; oldest runs finalised first */
    unsigned shards;                /* 64 */
    uint64_t late_window_ms;        /* 60000: how long a finalised trace id is remembered */
    size_t max_pending_runs;        /* 4096: finalised runs waiting for the sink; beyond: UNAVAILABLE */
} dp_assembly_config;

typedef struct dp_output_config {
    enum dp_output_format format;   /* text */
    int color;                      /* 0 never, 1 always, -1 auto (tty) */
    unsigned waterfall_width;       /* 50 */
} dp_output_config;

typedef struct dp_config {
    dp_server_config server;
    dp_assembly_config assembly;
    dp_output_config output;
    dp_profile_config profile;
    char price_file[1024];          /* "" = built-in prices only */
    char log_level[16];             /* "info" */
    dp_price_table *prices;         /* owned: built-ins + price_file entries */
} dp_config;

/** Fill every field with its built-in default. prices stays NULL. */
void dp_config_defaults(dp_config *c);

/**
 * Read a YAML config file over the current values. On error returns -1,
 * leaves c unchanged and writes "FILE:LINE: message" into err; unknown
 * sections and keys list the allowed names: "... (allowed: listen, ...)".
 */
int dp_config_load_file(dp_config *c, const char *path, char *err, size_t errlen);

/**
 * Create c->prices: the built-in table, extended by c->price_file when set.
 * Sets c->profile.prices. Returns 0, or -1 with "FILE:LINE: message" in err.
 */
int dp_config_load_prices(dp_config *c, char *err, size_t errlen);

/**
 * Set one key from its text form, as a flag or `--set SECTION.KEY=VALUE`
 * gives it: path is "SECTION.KEY". Returns 0, or -1 with a message in err
 * (unknown section or key with the allowed names, wrong type, out of range).
 */
int dp_config_set(dp_config *c, const char *path, const char *value, char *err, size_t errlen);

/**
 * Check rules that join two keys (a "high" threshold not below its base).
 * Returns 0, or -1 with a message naming both keys in err.
 */
int dp_config_validate(const dp_config *c, char *err, size_t errlen);

/** Free what the config owns (prices). */
void dp_config_release(dp_config *c);

#endif

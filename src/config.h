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

#include "derived_metrics.h"
#include "profile_config.h"
#include "receiver.h"
#include "trace_table.h"

enum dp_output_format {
    DP_FORMAT_TEXT = 0,
    DP_FORMAT_JSON = 1,
};

/* When run reports are printed on stdout. */
enum dp_output_reports {
    DP_REPORTS_AUTO = 0, /* only when no upstream is configured */
    DP_REPORTS_ALWAYS = 1,
    DP_REPORTS_NEVER = 2,
};

typedef struct dp_output_config {
    enum dp_output_format format; /* text */
    int color;                    /* 0 never, 1 always, -1 auto (tty) */
    unsigned waterfall_width;     /* 50 */
    int reports;                  /* enum dp_output_reports; auto */
} dp_output_config;

/*
 * Where enriched spans, derived metrics and forwarded metrics/logs go.
 * Settings that an OTEL_EXPORTER_OTLP_* variable can also give start
 * "unset" (empty string, -1, 0) so that the variables apply underneath
 * the config file and the flags: env < file < flags.
 */
typedef struct dp_upstream_settings {
    char endpoint[512]; /* "" = none (or OTEL_EXPORTER_OTLP_ENDPOINT) */
    int insecure;       /* -1 unset, 0 TLS, 1 plaintext */
    char ca_file[1024]; /* "" = unset: system roots */
    char client_cert_file[1024];
    char client_key_file[1024];
    char headers[4096];                /* "k1=v1,k2=v2" (secret values: never logged) */
    int compression;                   /* -1 unset, 0 none, 1 gzip */
    uint64_t timeout_ms;               /* 0 = unset: 10 s */
    uint64_t queue_max_spans;          /* 1,000,000 */
    size_t queue_max_bytes;            /* 256 MiB */
    unsigned batch_max_spans;          /* 8192 */
    size_t batch_max_bytes;            /* 4 MiB */
    uint64_t batch_timeout_ms;         /* 200 ms */
    uint64_t retry_initial_backoff_ms; /* 100 ms */
    uint64_t retry_max_backoff_ms;     /* 5 s */
    uint64_t retry_max_elapsed_ms;     /* 0 = never give up (backpressure instead) */
    uint64_t shutdown_timeout_ms;      /* 10 s */
    unsigned concurrency;              /* 4: export calls in flight per signal */
} dp_upstream_settings;

typedef struct dp_config {
    dp_receiver_options server;      /* otlp/receiver_config.c */
    dp_trace_table_options assembly; /* assembly/trace_table_config.c */
    dp_output_config output;
    dp_upstream_settings upstream;
    dp_derived_metrics_options metrics; /* exporter/derived_metrics_config.c */
    dp_profile_config profile;
    char price_file[1024];  /* "" = built-in prices only */
    char log_level[16];     /* "info" */
    dp_price_table *prices; /* owned: built-ins + price_file entries */
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

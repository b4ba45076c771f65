/*
 * dagprof's whole configuration: built-in defaults, then the YAML file
 * (--config), then command-line flags; for the upstream, the
 * OTEL_EXPORTER_OTLP_* variables lie under the file. Each module declares
 * its section(s) of the file next to its own options struct (the receiver,
 * the trace table, the derived metrics, the upstream client, the profiler;
 * common/config_map.h), and dp_config holds those structs as they are;
 * output, pricing and log are the application's own (config_table.c, which
 * also lists every section in the order of the documentation).
 */
#ifndef DP_CONFIG_H
#define DP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "derived_metrics.h"
#include "memguard.h"
#include "history.h"
#include "profile_config.h"
#include "receiver.h"
#include "self_telemetry.h"
#include "storage.h"
#include "trace_table.h"
#include "upstream_config.h"

enum dp_output_format {
    DP_FORMAT_TEXT = 0,
    DP_FORMAT_JSON = 1,
    DP_FORMAT_HTML = 2, /* dagprof report only: one page with a section per run */
};

/* When run reports are printed on stdout. */
enum dp_output_reports {
    DP_REPORTS_AUTO = 0, /* only when no upstream is configured */
    DP_REPORTS_ALWAYS = 1,
    DP_REPORTS_NEVER = 2,
};

/* How reports are printed: the output section (config_table.c). */
typedef struct dp_output_config {
    enum dp_output_format format;
    int color; /* 0 never, 1 always, -1 auto (tty) */
    unsigned waterfall_width;
    int reports;             /* enum dp_output_reports */
    char html_dir[1024];     /* one HTML page per run + index.html here; "" = none */
    unsigned html_max_files; /* pages kept in html_dir, the oldest deleted first */
} dp_output_config;

typedef struct dp_config {
    dp_receiver_options server;         /* otlp/receiver_config.c */
    dp_trace_table_options assembly;    /* assembly/trace_table_config.c */
    dp_output_config output;            /* config_table.c */
    dp_upstream_config upstream;        /* exporter/upstream_config.c */
    dp_derived_metrics_options metrics; /* exporter/derived_metrics_config.c */
    dp_storage_options storage;         /* storage/storage_config.c */
    dp_profile_config profile;          /* profiler/profile_config.c: four sections */
    char price_file[1024];              /* pricing.file; "" = built-in prices only */
    char log_level[16];                 /* log.level */
    char log_format[16];                /* log.format: text | json */
    char health_listen[256];            /* health.listen; "" = no health endpoint */
    dp_price_table *prices;             /* owned: built-ins + price_file entries */

    dp_self_telemetry_options telemetry; /* src/self_telemetry_config.c */
    dp_memguard_options memory;          /* common/memguard_config.c */
    dp_history_options history;          /* history/history_config.c */
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

/**
 * Read the OTEL_EXPORTER_OTLP_* variables under the upstream keys
 * (dp_upstream_config_from_env()) and check the rule that joins the
 * upstream with the receiver: no signal may be sent to dagprof's own listen
 * address. Returns 0, or -1 with a message in err (which never quotes a
 * header value).
 */
int dp_config_read_environment(dp_config *c, char *err, size_t errlen);

/** Free what the config owns (prices). */
void dp_config_release(dp_config *c);

#endif

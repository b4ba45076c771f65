/*
 * The declaration of every configuration key, as data.
 *
 * One table per section (server, assembly, output, profile, thresholds,
 * recommendations, budget, pricing, log). Each key names its type, where it
 * lives in dp_config, its default (written in the same syntax a user writes
 * in the YAML file, and applied through the same parser), its range and a
 * description. The YAML loader, the command-line flags, --help,
 * `dagprof config-reference` (docs/configuration.md) and the example config
 * are all driven by these tables, so they cannot disagree.
 */
#ifndef DP_CONFIG_TABLE_H
#define DP_CONFIG_TABLE_H

#include <stddef.h>

#include "buf.h"
#include "config.h"

enum dp_config_type {
    DP_CFG_STRING,      /* char[size], NUL-terminated; longer values are an error */
    DP_CFG_UINT,        /* unsigned integer stored in `size` bytes (unsigned, uint64_t, size_t) */
    DP_CFG_SIZE,        /* bytes, stored like UINT; accepts B, KiB, MiB, GiB, KB, MB, GB */
    DP_CFG_DURATION,    /* milliseconds, stored like UINT; accepts ms, s, m, h */
    DP_CFG_DURATION_D,  /* double milliseconds; same syntax as DP_CFG_DURATION */
    DP_CFG_DOUBLE,      /* double */
    DP_CFG_ENUM,        /* int, one of enum_values */
    DP_CFG_ENUM_STRING, /* char[size] holding one of enum_values' names */
};

/** One allowed value of an enum key. */
typedef struct dp_config_enum_value {
    const char *name;
    int value;
} dp_config_enum_value;

/** One configuration key. min/max are in the key's unit (bytes, ms, plain). */
typedef struct dp_config_key {
    const char *name;
    enum dp_config_type type;
    size_t offset; /* into dp_config */
    size_t size;   /* sizeof the field (capacity for strings) */
    const char *default_value;
    double min;
    double max;
    const dp_config_enum_value *enum_values; /* NULL-name terminated */
    const char *flag;                        /* command-line flag, or NULL */
    const char *description;
} dp_config_key;

/** One section of the YAML file. */
typedef struct dp_config_section {
    const char *name;
    const char *description;
    const dp_config_key *keys;
    size_t key_count;
} dp_config_section;

/** Every section, in the order of the documentation. */
extern const dp_config_section dp_config_sections[];
extern const size_t dp_config_section_count;

/** The section called `name` (len bytes), or NULL. */
const dp_config_section *dp_config_section_find(const char *name, size_t len);

/** The key called `name` (len bytes) in `s`, or NULL. */
const dp_config_key *dp_config_key_find(const dp_config_section *s, const char *name, size_t len);

/**
 * Parse `value` (len bytes, the user's text) as key `k` and store it in `c`.
 * Returns 0, or -1 with a message in err that starts with "SECTION.KEY: ".
 * On error `c` is unchanged.
 */
int dp_config_key_set(dp_config *c, const dp_config_section *s, const dp_config_key *k,
                      const char *value, size_t len, char *err, size_t errlen);

/** Write the key's current value in `c` as a user would write it ("16MiB", "2s"). */
void dp_config_key_format(const dp_config *c, const dp_config_key *k, char *out, size_t outlen);

/** The key's current numeric value in its unit (bytes, ms, plain); 0 for strings. */
double dp_config_key_number(const dp_config *c, const dp_config_key *k);

/**
 * Parse a plain decimal number ("12", "-0.5", "1e-3"; no inf/nan/hex).
 * Returns 0, or -1 when `text` (len bytes) is not one.
 */
int dp_config_parse_number(const char *text, size_t len, double *out);

/** "string", "size", "duration", ... as shown to users. */
const char *dp_config_type_name(const dp_config_key *k);

/** The key's range or allowed values for users ("1..1024", "text, json"), "" when none. */
void dp_config_key_range_text(const dp_config_key *k, char *out, size_t outlen);

/** Append "a, b, c": the names of the keys of `s` (or of all sections when s is NULL). */
int dp_config_allowed_names(const dp_config_section *s, char *out, size_t outlen);

/** Append the Markdown configuration reference (docs/configuration.md). */
int dp_config_reference_markdown(dp_buf *out);

/** Append an example YAML file with every key at its default (examples/dagprof.yaml). */
int dp_config_example_yaml(dp_buf *out);

/** Append the "Configuration keys" part of --help. */
int dp_config_help_keys(dp_buf *out);

#endif

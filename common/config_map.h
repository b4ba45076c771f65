/*
 * Configuration keys as data, in the manner of Fluent Bit's
 * struct flb_config_map: a module declares the keys of its section(s) of
 * the config file next to its own options struct (name, type, default,
 * offsetof into that struct, range, description), and one parser in the
 * application (src/config.c) reads the YAML file, the flags and --set for
 * every section; --help, `dagprof config-reference` and
 * `dagprof config-example` are generated from the same tables.
 *
 * This file holds the table types and what works on one key: parsing a
 * value as a user writes it (defaults are written in the same syntax and
 * go through the same parser, so a module's defaults are its table's),
 * formatting a value back, and ranges for messages and documentation. It
 * knows no section and no YAML: every function takes the address of the
 * struct the section's offsets point into.
 */
#ifndef DP_CONFIG_MAP_H
#define DP_CONFIG_MAP_H

#include <stddef.h>

enum dp_config_type {
    DP_CFG_STRING,      /* char[size], NUL-terminated; longer values are an error */
    DP_CFG_UINT,        /* unsigned integer stored in `size` bytes (4 or 8) */
    DP_CFG_SIZE,        /* bytes, stored like UINT; accepts B, KiB, MiB, GiB, KB, MB, GB */
    DP_CFG_DURATION,    /* milliseconds, stored like UINT; accepts ms, s, m, h, d */
    DP_CFG_DURATION_D,  /* double milliseconds; same syntax as DP_CFG_DURATION */
    DP_CFG_DOUBLE,      /* double */
    DP_CFG_ENUM,        /* int, one of enum_values */
    DP_CFG_ENUM_STRING, /* char[size] holding one of enum_values' names */
};

/* Units of min and max in the tables. */
#define DP_CONFIG_KIB 1024.0
#define DP_CONFIG_MIB (1024.0 * 1024.0)
#define DP_CONFIG_GIB (1024.0 * 1024.0 * 1024.0)
#define DP_CONFIG_HOUR_MS 3600000.0
#define DP_CONFIG_DAY_MS (24.0 * DP_CONFIG_HOUR_MS)

/* Traits of a key (dp_config_key.traits). */
/** The value is a secret: messages never quote it. */
#define DP_CONFIG_SECRET 1u
/** A header list "k1=v1,k2=v2"; in the YAML file it may also be written
 *  as a mapping of header names to values (turned into the list form,
 *  percent-encoded). */
#define DP_CONFIG_HEADER_LIST 2u
/** A comma-separated list "a,b"; in the YAML file it may also be written as
 *  a YAML list of values (joined with commas; an item may not hold one). */
#define DP_CONFIG_LIST 4u

/** One allowed value of an enum key. */
typedef struct dp_config_enum_value {
    const char *name;
    int value;
} dp_config_enum_value;

/**
 * Returns NULL when `value` (a valid value of the key's type) is
 * acceptable, else what is wrong with it, as it follows the quoted value in
 * a message: "is not HOST:PORT (...)". For a secret key the message does not
 * quote the value, so the text should read on its own.
 */
typedef const char *(*dp_config_check_fn)(const char *value);

/** One configuration key. min/max are in the key's unit (bytes, ms, plain). */
typedef struct dp_config_key {
    const char *name;
    enum dp_config_type type;
    size_t offset; /* into the struct of the key's owner */
    size_t size;   /* sizeof the field (capacity for strings) */
    const char *default_value;
    double min;
    double max;
    const dp_config_enum_value *enum_values; /* NULL-name terminated */
    const char *flag;                        /* command-line flag, or NULL */
    const char *description;
    unsigned traits;          /* DP_CONFIG_SECRET, DP_CONFIG_HEADER_LIST */
    dp_config_check_fn check; /* NULL: any value of the type in range */
} dp_config_key;

/** A rule joining two keys of one section: `high` must not be below `base`. */
typedef struct dp_config_not_below {
    const char *high;
    const char *base;
} dp_config_not_below;

/** One section of the config file: the keys of one owner's struct. */
typedef struct dp_config_section {
    const char *name;
    const char *description;
    const dp_config_key *keys;
    size_t key_count;
    const dp_config_not_below *rules; /* may be NULL */
    size_t rule_count;
} dp_config_section;

/** A key of STRUCT's `field` (name, type, field, default, min, max, enum values, flag,
 *  description); DP_CONFIG_KEY_CHECKED also takes traits and a check function. */
#define DP_CONFIG_KEY_CHECKED(STRUCT, name, type, field, def, lo, hi, en, flag, traits, check,     \
                              desc)                                                                \
    {                                                                                              \
        name, type, offsetof(STRUCT, field), sizeof(((STRUCT *)0)->field), def, lo, hi, en, flag,  \
            desc, traits, check                                                                    \
    }
#define DP_CONFIG_KEY(STRUCT, name, type, field, def, lo, hi, en, flag, desc)                      \
    DP_CONFIG_KEY_CHECKED(STRUCT, name, type, field, def, lo, hi, en, flag, 0, NULL, desc)

/** A section of the keys in the array `keys` (and not-below rules in `rules`). */
#define DP_CONFIG_SECTION(name, desc, keys)                                                        \
    {                                                                                              \
        name, desc, keys, sizeof(keys) / sizeof(keys[0]), NULL, 0                                  \
    }
#define DP_CONFIG_SECTION_RULES(name, desc, keys, rules)                                           \
    {                                                                                              \
        name, desc, keys, sizeof(keys) / sizeof(keys[0]), rules, sizeof(rules) / sizeof(rules[0])  \
    }

/**
 * Set every key of `s` in `base` (the owner's struct) to its default.
 * Fields the section does not declare are left as they are. Returns 0, or -1
 * when a default does not parse (a mistake in the table; logged).
 */
int dp_config_section_defaults(void *base, const dp_config_section *s);

/** Zero the owner's struct (`size` bytes at `base`), then dp_config_section_defaults(). */
int dp_config_section_init(void *base, size_t size, const dp_config_section *s);

/** The key called `name` (len bytes) in `s`, or NULL. */
const dp_config_key *dp_config_key_find(const dp_config_section *s, const char *name, size_t len);

/**
 * Parse `value` (len bytes, the user's text) as key `k` of section `s` and
 * store it in `base`. Returns 0, or -1 with a message in err that starts
 * with "SECTION.KEY: ". On error `base` is unchanged.
 */
int dp_config_key_set(void *base, const dp_config_section *s, const dp_config_key *k,
                      const char *value, size_t len, char *err, size_t errlen);

/** Write the key's current value in `base` as a user would write it ("16MiB", "2s"). */
void dp_config_key_format(const void *base, const dp_config_key *k, char *out, size_t outlen);

/** The key's current numeric value in its unit (bytes, ms, plain); 0 for strings. */
double dp_config_key_number(const void *base, const dp_config_key *k);

/**
 * Check the section's not-below rules on `base`. Returns 0 when all hold;
 * else -1 with "SECTION.HIGH (v) must not be below SECTION.BASE (v)" in err
 * and the two keys of the first broken rule in *high and *low.
 */
int dp_config_section_check_rules(const void *base, const dp_config_section *s, char *err,
                                  size_t errlen, const dp_config_key **high,
                                  const dp_config_key **low);

/**
 * Parse a plain decimal number ("12", "-0.5", "1e-3"; no inf/nan/hex).
 * Returns 0, or -1 when `text` (len bytes) is not one.
 */
int dp_config_parse_number(const char *text, size_t len, double *out);

/** "string", "size", "duration", ... as shown to users. */
const char *dp_config_type_name(const dp_config_key *k);

/** The key's range or allowed values for users ("1..1024", "text, json"), "" when none. */
void dp_config_key_range_text(const dp_config_key *k, char *out, size_t outlen);

/**
 * Append `name` to the comma-separated list in `out` (NUL-terminated, ""
 * to start): "a, b" becomes "a, b, c". Returns 0, -1 when it does not fit.
 */
int dp_config_list_append(char *out, size_t outlen, const char *name);

/** Write "a, b, c": the names of the keys of `s`. Returns 0, -1 when out is too small. */
int dp_config_key_names(const dp_config_section *s, char *out, size_t outlen);

/** Checks (dp_config_check_fn) of a listen address: HOST:PORT or [IPV6]:PORT,
 *  port 0..65535; the optional form also takes "" (no such listener). */
const char *dp_config_listen_problem(const char *value);
const char *dp_config_optional_listen_problem(const char *value);

#endif

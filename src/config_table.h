/*
 * Every section of dagprof's config file, in the order of the
 * documentation, and where the struct of each section's owner lies in
 * dp_config. The sections themselves (their keys, types, defaults, ranges
 * and descriptions) are declared by their owners next to their options
 * structs (common/config_map.h); this list joins them into one file format
 * for the YAML loader, the command-line flags, --help,
 * `dagprof config-reference` (docs/configuration.md) and the example config.
 */
#ifndef DP_CONFIG_TABLE_H
#define DP_CONFIG_TABLE_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "config_map.h"

/** A section of the file and the offset of its owner's struct in dp_config. */
typedef struct dp_config_part {
    const dp_config_section *section;
    size_t offset;
} dp_config_part;

/** Every section, in the order of the documentation. */
extern const dp_config_part dp_config_parts[];
extern const size_t dp_config_part_count;

/** The part whose section is called `name` (len bytes), or NULL. */
const dp_config_part *dp_config_part_find(const char *name, size_t len);

/** The struct of the part's owner inside `c`. */
void *dp_config_part_base(dp_config *c, const dp_config_part *p);

/** The same, read-only. */
const void *dp_config_part_const_base(const dp_config *c, const dp_config_part *p);

/** Write "server, assembly, ...": the names of all sections. */
int dp_config_section_names(char *out, size_t outlen);

/** Append the Markdown configuration reference (docs/configuration.md). */
int dp_config_reference_markdown(dp_buf *out);

/** Append an example YAML file with every key at its default (examples/dagprof.yaml). */
int dp_config_example_yaml(dp_buf *out);

/** Append the "Configuration keys" part of --help. */
int dp_config_help_keys(dp_buf *out);

#endif

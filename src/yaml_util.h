/*
 * Small helpers over libyaml's document API for the two YAML files dagprof
 * reads (the config file and the price file): load one capped file into a
 * document with a FILE:LINE error on syntax problems, and classify nodes.
 */
#ifndef DP_YAML_UTIL_H
#define DP_YAML_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

/** Largest YAML file dagprof reads; a config is a few KiB. */
#define DP_YAML_MAX_FILE_BYTES (1024 * 1024)

/**
 * Load the single YAML document of `path` into *doc (the caller deletes it
 * with yaml_document_delete() after a 0 return). An empty file gives a
 * document without a root node. Returns -1 with "PATH: ..." or
 * "PATH:LINE: ..." in err when the file cannot be read, is too large, is not
 * valid YAML or holds more than one document.
 */
int dp_yaml_load_file(const char *path, yaml_document_t *doc, char *err, size_t errlen);

/** True for an empty plain scalar, "~" or "null": YAML's null. */
bool dp_yaml_is_null(const yaml_node_t *n);

/** "a mapping", "a list", "a value" or "nothing", for error messages. */
const char *dp_yaml_kind_name(const yaml_node_t *n);

/** 1-based line where the node starts. */
static inline unsigned long dp_yaml_line(const yaml_node_t *n)
{
    return (unsigned long)n->start_mark.line + 1;
}

#endif

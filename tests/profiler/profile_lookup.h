/*
 * Looking things up in a built profile, for the profiler's tests: a node by
 * id, a by_model entry by label, an edge between two nodes. A missing node
 * or model fails the running cmocka test. Include after <cmocka.h>.
 */
#ifndef DP_TEST_PROFILE_LOOKUP_H
#define DP_TEST_PROFILE_LOOKUP_H

#include <stdbool.h>
#include <string.h>

#include "profile_types.h"

static inline const dp_node_profile *node(const dp_run_profile *p, const char *id)
{
    for (size_t i = 0; i < p->node_count; i++) {
        if (strcmp(p->nodes[i].id, id) == 0)
            return &p->nodes[i];
    }
    fail_msg("no node %s", id);
    return NULL;
}

static inline const dp_model_usage *model(const dp_run_profile *p, const char *name)
{
    for (size_t i = 0; i < p->model_count; i++) {
        if (strcmp(p->models[i].model, name) == 0)
            return &p->models[i];
    }
    fail_msg("no model %s", name);
    return NULL;
}

/* Whether node b lists node a among its dependencies. */
static inline bool depends(const dp_run_profile *p, const char *b, const char *a)
{
    const dp_node_profile *nb = node(p, b);
    size_t ia = (size_t)(node(p, a) - p->nodes);
    for (size_t i = 0; i < nb->dep_count; i++) {
        if (nb->deps[i] == ia)
            return true;
    }
    return false;
}

#endif

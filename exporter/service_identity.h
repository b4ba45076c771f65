/*
 * Who dagprof is when it sends metrics of its own: the resource of its
 * derived metrics and its self-telemetry, so that N instances sending to
 * one backend give N sets of series rather than one set written N times.
 *
 *   service.name         OTEL_SERVICE_NAME, else service.name in
 *                        OTEL_RESOURCE_ATTRIBUTES, else "dagprof"
 *   service.instance.id  from OTEL_RESOURCE_ATTRIBUTES when given there,
 *                        else a random UUID (version 4) made at start
 *   every other pair of OTEL_RESOURCE_ATTRIBUTES, in the order given
 *
 * OTEL_RESOURCE_ATTRIBUTES is "key1=value1,key2=value2" with values
 * percent-encoded (the OpenTelemetry SDK environment specification); spaces
 * around keys and values are dropped, as are empty entries. A value that
 * does not parse makes the whole variable be ignored, as the specification
 * says, with a warning that names the entry but not its value.
 */
#ifndef DP_SERVICE_IDENTITY_H
#define DP_SERVICE_IDENTITY_H

#include <stddef.h>

/** One resource attribute (a string). */
typedef struct dp_resource_attr {
    const char *key;
    const char *value;
} dp_resource_attr;

typedef struct dp_service_identity {
    dp_resource_attr *attrs; /* service.name, service.instance.id, then the rest */
    size_t count;
    char *storage; /* the strings attrs point into */
} dp_service_identity;

/**
 * Build the identity from the variables' values (NULL = unset; the caller
 * passes getenv()'s). Returns 0, or -1 when out of memory. When
 * OTEL_RESOURCE_ATTRIBUTES had to be ignored, warn holds why (else "").
 */
int dp_service_identity_init(dp_service_identity *id, const char *service_name,
                             const char *resource_attributes, char *warn, size_t warnlen);

/** The value of `key`, or NULL. */
const char *dp_service_identity_get(const dp_service_identity *id, const char *key);

/** Free what init allocated; a zeroed identity is accepted. */
void dp_service_identity_free(dp_service_identity *id);

/** A random UUID, version 4 (RFC 9562), as 36 characters and a NUL. */
void dp_uuid_v4(char out[37]);

#endif

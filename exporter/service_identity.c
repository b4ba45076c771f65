/*
 * dagprof's own resource (see service_identity.h): OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES read once at start, and a random instance id.
 */
#include "service_identity.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"

#define KEY_SERVICE_NAME "service.name"
#define KEY_INSTANCE_ID "service.instance.id"

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Copy [s, e) trimmed of spaces and percent-decoded into *out (NUL added);
 * returns false on a bad escape or a NUL byte it would produce. */
static bool decode(const char *s, const char *e, char **out)
{
    while (s < e && is_space(*s))
        s++;
    while (e > s && is_space(e[-1]))
        e--;
    char *o = *out;
    for (; s < e; s++) {
        if (*s != '%') {
            *o++ = *s;
            continue;
        }
        if (e - s < 3 || dp_hex_digit(s[1]) < 0 || dp_hex_digit(s[2]) < 0)
            return false;
        char c = (char)(dp_hex_digit(s[1]) * 16 + dp_hex_digit(s[2]));
        if (c == '\0')
            return false;
        *o++ = c;
        s += 2;
    }
    *o++ = '\0';
    *out = o;
    return true;
}

/* Set key to value (both in storage): a later pair of the same key wins. */
static void put(dp_service_identity *id, const char *key, const char *value)
{
    for (size_t i = 0; i < id->count; i++) {
        if (strcmp(id->attrs[i].key, key) == 0) {
            id->attrs[i].value = value;
            return;
        }
    }
    id->attrs[id->count++] = (dp_resource_attr){key, value};
}

/* Parse OTEL_RESOURCE_ATTRIBUTES after the first two attributes; false with
 * the reason in warn when it does not parse (the caller drops what it added). */
static bool parse_attributes(dp_service_identity *id, const char *text, char **pos, char *warn,
                             size_t warnlen)
{
    size_t entry = 0;
    for (const char *s = text; *s;) {
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        entry++;
        const char *p = s;
        while (p < end && is_space(*p))
            p++;
        if (p < end) { /* an empty entry is skipped */
            const char *eq = memchr(s, '=', (size_t)(end - s));
            char *key = *pos;
            if (!eq) {
                snprintf(warn, warnlen, "entry %zu has no '='", entry);
                return false;
            }
            if (!decode(s, eq, pos) || !key[0]) {
                snprintf(warn, warnlen, "entry %zu has an empty or badly encoded key", entry);
                return false;
            }
            char *value = *pos;
            if (!decode(eq + 1, end, pos)) {
                snprintf(warn, warnlen, "the value of %.100s (entry %zu) is not percent-encoded",
                         key, entry);
                return false;
            }
            put(id, key, value);
        }
        s = *end ? end + 1 : end;
    }
    return true;
}

int dp_service_identity_init(dp_service_identity *id, const char *service_name,
                             const char *resource_attributes, char *warn, size_t warnlen)
{
    memset(id, 0, sizeof(*id));
    warn[0] = '\0';
    const char *attrs = resource_attributes ? resource_attributes : "";
    size_t name_len = service_name ? strlen(service_name) : 0;
    size_t pairs = 3; /* service.name, service.instance.id, at least one more */
    for (const char *c = attrs; *c; c++)
        pairs += *c == ',';
    /* decoded text is never longer than encoded, plus a NUL per key and value */
    size_t cap = strlen(attrs) + 2 * pairs + name_len + 1 + sizeof(KEY_SERVICE_NAME) +
                 sizeof(KEY_INSTANCE_ID) + sizeof("dagprof") + 37;
    id->attrs = calloc(pairs, sizeof(*id->attrs));
    id->storage = malloc(cap);
    if (!id->attrs || !id->storage) {
        dp_service_identity_free(id);
        return -1;
    }
    char *pos = id->storage;
    const char *fixed = pos;
    memcpy(pos, KEY_SERVICE_NAME "\0dagprof\0" KEY_INSTANCE_ID,
           sizeof(KEY_SERVICE_NAME "\0dagprof\0" KEY_INSTANCE_ID));
    pos += sizeof(KEY_SERVICE_NAME "\0dagprof\0" KEY_INSTANCE_ID);
    char *uuid = pos;
    dp_uuid_v4(uuid);
    pos += 37;
    put(id, fixed, fixed + sizeof(KEY_SERVICE_NAME));
    put(id, fixed + sizeof(KEY_SERVICE_NAME "\0dagprof"), uuid);

    char *before = pos;
    if (!parse_attributes(id, attrs, &pos, warn, warnlen)) {
        /* the whole variable is ignored: back to the first two */
        id->count = 2;
        id->attrs[0].value = fixed + sizeof(KEY_SERVICE_NAME);
        id->attrs[1].value = uuid;
        pos = before;
    }
    if (name_len) { /* OTEL_SERVICE_NAME wins over service.name in the attributes */
        memcpy(pos, service_name, name_len + 1);
        id->attrs[0].value = pos;
    }
    return 0;
}

const char *dp_service_identity_get(const dp_service_identity *id, const char *key)
{
    for (size_t i = 0; i < id->count; i++)
        if (strcmp(id->attrs[i].key, key) == 0)
            return id->attrs[i].value;
    return NULL;
}

void dp_service_identity_free(dp_service_identity *id)
{
    free(id->attrs);
    free(id->storage);
    memset(id, 0, sizeof(*id));
}

void dp_uuid_v4(char out[37])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof(b)) {
        /* no kernel randomness (never expected): time and process id, mixed */
        uint64_t x = dp_clock_realtime_ns() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof(b); i++) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            b[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
        }
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10 */
    char hex[33];
    dp_hex(b, sizeof(b), hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

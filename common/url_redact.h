/*
 * Credentials in URLs: a value such as http://user:password@host:4317
 * carries a secret in its userinfo. What quotes a configured value back to
 * the user (config_map.c's error messages) quotes it through
 * dp_url_redact(), so a password never reaches the terminal or a log.
 */
#ifndef DP_URL_REDACT_H
#define DP_URL_REDACT_H

#include <stddef.h>

/**
 * Copy `url` into out (cap bytes, NUL-terminated, cut if longer) with the
 * password of its userinfo replaced by "***": "http://user:***@host:4317".
 * A userinfo without a colon may be a token on its own and becomes "***"
 * as a whole. The scheme is optional ("user:pw@host:4317"); text
 * without an '@' before its first '/', '?' or '#' is copied as it is.
 * Returns out.
 */
const char *dp_url_redact(const char *url, char *out, size_t cap);

#endif

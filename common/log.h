/*
 * Logging to stderr. Reports go to stdout; everything else comes here.
 * A line is text ("2024-05-01T10:00:00.123Z info  [daemon] message") or,
 * with the JSON format, one object per line:
 *   {"time":"2024-05-01T10:00:00.123Z","level":"info","component":"daemon",
 *    "message":"..."}
 *
 * The macros check the level before formatting anything, so a disabled
 * debug line costs one comparison. Every line carries a component prefix:
 *   dp_log_info("receiver", "listening on %s", addr);
 * Never log secrets (header values, API keys, tokens).
 */
#ifndef DP_LOG_H
#define DP_LOG_H

enum dp_log_level {
    DP_LOG_ERROR = 0,
    DP_LOG_WARN = 1,
    DP_LOG_INFO = 2,
    DP_LOG_DEBUG = 3,
};

extern int dp_log_level_current;

/** Set the level; returns 0, or -1 for an unknown name (error|warn|info|debug). */
int dp_log_set_level_name(const char *name);

/** Set the line format; returns 0, or -1 for an unknown name (text|json). */
int dp_log_set_format_name(const char *name);

/**
 * Hold the lines logged from now on (the first DP_LOG_HELD_MAX of them)
 * until dp_log_release(), which writes them in the format and at the level
 * set by then: the config file's warnings come out as that file says.
 */
void dp_log_hold(void);

/** Write the held lines and stop holding; a no-op when nothing is held. */
void dp_log_release(void);

#define DP_LOG_HELD_MAX 32

void dp_log_write(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define dp_log_at(level, component, ...)                                                           \
    do {                                                                                           \
        int dp_log_at_level_ = (level); /* evaluated once */                                       \
        if (dp_log_at_level_ <= dp_log_level_current)                                              \
            dp_log_write(dp_log_at_level_, (component), __VA_ARGS__);                              \
    } while (0)

#define dp_log_error(component, ...) dp_log_at(DP_LOG_ERROR, component, __VA_ARGS__)
#define dp_log_warn(component, ...) dp_log_at(DP_LOG_WARN, component, __VA_ARGS__)
#define dp_log_info(component, ...) dp_log_at(DP_LOG_INFO, component, __VA_ARGS__)
#define dp_log_debug(component, ...) dp_log_at(DP_LOG_DEBUG, component, __VA_ARGS__)

#endif

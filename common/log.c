/*
 * stderr logger; see log.h. One fprintf per line keeps lines from
 * different threads whole (stdio locks the stream per call).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int dp_log_level_current = DP_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int dp_log_set_level_name(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            dp_log_level_current = i;
            return 0;
        }
    }
    return -1;
}

void dp_log_write(int level, const char *component, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            level_names[level < 0   ? 0
                        : level > 3 ? 3
                                    : level],
            component, msg);
}

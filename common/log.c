/*
 * stderr logger; see log.h. One fprintf per line keeps lines from
 * different threads whole (stdio locks the stream per call).
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "json_write.h"

int dp_log_level_current = DP_LOG_INFO;

static atomic_bool log_json; /* one JSON object per line instead of text */

/* Lines held until the format is known (dp_log_hold). */
typedef struct held_line {
    int level;
    char component[32];
    char time[64];
    char msg[1024];
} held_line;

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static bool holding;
static held_line held[DP_LOG_HELD_MAX];
static size_t held_count, held_dropped;

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

int dp_log_set_format_name(const char *name)
{
    if (strcmp(name, "text") != 0 && strcmp(name, "json") != 0)
        return -1;
    atomic_store(&log_json, strcmp(name, "json") == 0);
    return 0;
}

/* The line as one JSON object; false when it cannot be built (out of memory). */
static bool write_json_line(const char *time, const char *level, const char *component,
                            const char *msg)
{
    dp_buf line;
    dp_json_writer w;
    dp_buf_init(&line, 0);
    dp_json_writer_init(&w, &line);
    dp_json_writer_object_begin(&w);
    dp_json_writer_key(&w, "time");
    dp_json_writer_cstring(&w, time);
    dp_json_writer_key(&w, "level");
    dp_json_writer_cstring(&w, level);
    dp_json_writer_key(&w, "component");
    dp_json_writer_cstring(&w, component);
    dp_json_writer_key(&w, "message");
    dp_json_writer_cstring(&w, msg);
    dp_json_writer_object_end(&w);
    bool ok = dp_json_writer_finish(&w) == 0 && dp_buf_append(&line, "\n", 1) == 0;
    if (ok)
        fwrite(line.data, 1, line.len, stderr);
    dp_buf_free(&line);
    return ok;
}

static void emit(int level, const char *component, const char *time, const char *msg)
{
    const char *name = level_names[level < 0 ? 0 : level > 3 ? 3 : level];
    if (atomic_load(&log_json) && write_json_line(time, name, component, msg))
        return;
    fprintf(stderr, "%s %-5s [%s] %s\n", time, name, component, msg);
}

void dp_log_hold(void)
{
    pthread_mutex_lock(&held_lock);
    holding = true;
    pthread_mutex_unlock(&held_lock);
}

void dp_log_release(void)
{
    pthread_mutex_lock(&held_lock);
    for (size_t i = 0; i < held_count; i++)
        if (held[i].level <= dp_log_level_current) /* the level may have been set since */
            emit(held[i].level, held[i].component, held[i].time, held[i].msg);
    if (held_dropped)
        fprintf(stderr, "(%zu more log line(s) before the log format was set were dropped)\n",
                held_dropped);
    holding = false;
    held_count = held_dropped = 0;
    pthread_mutex_unlock(&held_lock);
}

/* Keep the line while holding; false when not holding (write it now). */
static bool hold_line(int level, const char *component, const char *time, const char *msg)
{
    bool kept = false;
    pthread_mutex_lock(&held_lock);
    if (holding) {
        kept = true;
        if (held_count < DP_LOG_HELD_MAX) {
            held_line *h = &held[held_count++];
            h->level = level;
            snprintf(h->component, sizeof(h->component), "%s", component);
            snprintf(h->time, sizeof(h->time), "%s", time);
            snprintf(h->msg, sizeof(h->msg), "%s", msg);
        } else {
            held_dropped++;
        }
    }
    pthread_mutex_unlock(&held_lock);
    return kept;
}

void dp_log_write(int level, const char *component, const char *fmt, ...)
{
    char msg[1024], time[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(time, sizeof(time), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (!hold_line(level, component, time, msg))
        emit(level, component, time, msg);
}

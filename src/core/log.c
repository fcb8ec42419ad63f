#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

static ssd_log_level cur_level = SSD_LOG_INFO;
static int with_time = 1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void ssd_log_set_level(ssd_log_level level) {
    cur_level = level;
}

ssd_log_level ssd_log_get_level(void) {
    return cur_level;
}

void ssd_log_set_timestamps(int on) {
    with_time = on;
}

int ssd_log_level_parse(const char *name) {
    static const struct {
        const char *name;
        ssd_log_level level;
    } names[] = {{"debug", SSD_LOG_DEBUG},     {"info", SSD_LOG_INFO},
                 {"warning", SSD_LOG_WARNING}, {"warn", SSD_LOG_WARNING},
                 {"error", SSD_LOG_ERROR},     {"critical", SSD_LOG_CRITICAL}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].name) == 0) return (int)names[i].level;
    return -1;
}

void ssd_log(ssd_log_level level, const char *fmt, ...) {
    if (level < cur_level) return;
    /* Warnings and errors go to stderr so that piping stdout keeps the log clean,
     * but info lines stay on stdout as the reference prints them. */
    FILE *out = level >= SSD_LOG_WARNING ? stderr : stdout;
    char stamp[32] = "";
    if (with_time) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S - ", &tm);
    }
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&lock);
    fputs(stamp, out);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    fflush(out);
    pthread_mutex_unlock(&lock);
    va_end(ap);
}

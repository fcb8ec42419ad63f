/* Logging with levels. The format follows the reference tools
 * ("%Y-%m-%d %H:%M:%S - message", on stdout) so that logs read the same. */
#ifndef SSD_CORE_LOG_H
#define SSD_CORE_LOG_H

typedef enum {
    SSD_LOG_DEBUG = 10,
    SSD_LOG_INFO = 20,
    SSD_LOG_WARNING = 30,
    SSD_LOG_ERROR = 40,
    SSD_LOG_CRITICAL = 50,
} ssd_log_level;

void ssd_log_set_level(ssd_log_level level);
ssd_log_level ssd_log_get_level(void);
/* Parses "debug", "info", "warning", "error", "critical" (any case); -1 if unknown. */
int ssd_log_level_parse(const char *name);
/* 0: no timestamp prefix (tests, plain tools); 1 (default): "date time - ". */
void ssd_log_set_timestamps(int on);

void ssd_log(ssd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ssd_debug(...)  ssd_log(SSD_LOG_DEBUG, __VA_ARGS__)
#define ssd_info(...)   ssd_log(SSD_LOG_INFO, __VA_ARGS__)
#define ssd_warn(...)   ssd_log(SSD_LOG_WARNING, __VA_ARGS__)
#define ssd_errorf(...) ssd_log(SSD_LOG_ERROR, __VA_ARGS__)

#endif

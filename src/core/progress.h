/* A progress bar on stderr when it is a terminal (rate, ETA); otherwise
 * nothing is drawn and callers log plain lines. */
#ifndef SSD_CORE_PROGRESS_H
#define SSD_CORE_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *label;
    const char *unit; /* "img", "B" */
    int64_t total, done;
    double t0, last_draw;
    bool tty;
} ssd_progress;

void ssd_progress_init(ssd_progress *p, const char *label, const char *unit, int64_t total);
/* Adds n and redraws at most ~10 times a second; `extra` is appended (e.g. "loss 3.21"). */
void ssd_progress_add(ssd_progress *p, int64_t n, const char *extra);
/* Clears the bar line. */
void ssd_progress_end(ssd_progress *p);

/* The bar's text at time `now` (no control characters), truncated to n bytes:
 * "label [#####---]  40% 40/100 12.5 img/s ETA 0:05 extra". */
void ssd_progress_format(const ssd_progress *p, double now, const char *extra, char *buf, size_t n);

/* Monotonic seconds. */
double ssd_now(void);

#endif

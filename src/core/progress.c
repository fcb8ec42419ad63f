#include "core/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24

double ssd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ssd_progress_init(ssd_progress *p, const char *label, const char *unit, int64_t total) {
    p->label = label ? label : "";
    p->unit = unit ? unit : "";
    p->total = total;
    p->done = 0;
    p->t0 = ssd_now();
    p->last_draw = 0;
    p->tty = isatty(STDERR_FILENO) == 1;
}

/* Byte counts read better scaled; other units are printed as counts. */
static void fmt_amount(char *buf, size_t n, double v, const char *unit) {
    if (strcmp(unit, "B") == 0) {
        static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        int k = 0;
        while (v >= 1024 && k < 4) {
            v /= 1024;
            k++;
        }
        snprintf(buf, n, k ? "%.1f %s" : "%.0f %s", v, names[k]);
    } else {
        snprintf(buf, n, "%.0f", v);
    }
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e8) {
        snprintf(buf, n, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void ssd_progress_format(const ssd_progress *p, double now, const char *extra, char *buf,
                         size_t n) {
    double el = now - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    char done[32], total[32], r[48], eta[32];
    fmt_amount(done, sizeof done, (double)p->done, p->unit);
    if (strcmp(p->unit, "B") == 0) {
        fmt_amount(r, sizeof r, rate, p->unit);
        strcat(r, "/s");
    } else {
        snprintf(r, sizeof r, rate < 100 ? "%.1f%s%s/s" : "%.0f%s%s/s", rate, *p->unit ? " " : "",
                 p->unit);
    }
    size_t off = 0;
    if (p->total > 0) {
        int64_t d = p->done < p->total ? p->done : p->total;
        int fill = (int)(d * BAR_WIDTH / p->total);
        char bar[BAR_WIDTH + 1];
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '-', (size_t)(BAR_WIDTH - fill));
        bar[BAR_WIDTH] = '\0';
        fmt_amount(total, sizeof total, (double)p->total, p->unit);
        if (rate > 0)
            fmt_duration(eta, sizeof eta, (double)(p->total - d) / rate);
        else
            snprintf(eta, sizeof eta, "?");
        off = (size_t)snprintf(buf, n, "%s [%s] %3d%% %s/%s %s ETA %s", p->label, bar,
                               (int)(d * 100 / p->total), done, total, r, eta);
    } else {
        char e[32];
        fmt_duration(e, sizeof e, el);
        off = (size_t)snprintf(buf, n, "%s %s %s %s", p->label, done, r, e);
    }
    if (extra && *extra && off + 1 < n) snprintf(buf + off, n - off, " %s", extra);
}

static void draw(ssd_progress *p, double now, const char *extra) {
    char line[512];
    ssd_progress_format(p, now, extra, line, sizeof line);
    /* \r and erase-to-end keep one line that is rewritten in place. */
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->last_draw = now;
}

void ssd_progress_add(ssd_progress *p, int64_t n, const char *extra) {
    p->done += n;
    if (!p->tty) return;
    double now = ssd_now();
    bool finished = p->total > 0 && p->done >= p->total;
    if (now - p->last_draw >= 0.1 || finished) draw(p, now, extra);
}

void ssd_progress_end(ssd_progress *p) {
    if (!p->tty) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* Precision-recall curves as PNG images, drawn on a small RGB canvas:
 * antialiased lines by distance to the segment, text from eval/font.h. */
#include "eval/eval.h"
#include "eval/font.h"

#include "core/mem.h"
#include "data/image.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { IMG_W = 560, IMG_H = 460, PL = 64, PR = 24, PT = 64, PB = 56 };

typedef struct {
    unsigned char r, g, b;
} rgb;

static const rgb BLACK = {0, 0, 0}, GRID = {225, 225, 225}, CURVE = {31, 119, 180},
                 ENVELOPE = {255, 127, 14}, GREY = {90, 90, 90};

static void blend(ssd_image *im, int x, int y, rgb c, double a) {
    if (x < 0 || y < 0 || x >= im->w || y >= im->h || a <= 0) return;
    if (a > 1) a = 1;
    uint8_t *p = im->px + ((size_t)y * im->w + x) * 3;
    p[0] = (uint8_t)lround(p[0] + (c.r - p[0]) * a);
    p[1] = (uint8_t)lround(p[1] + (c.g - p[1]) * a);
    p[2] = (uint8_t)lround(p[2] + (c.b - p[2]) * a);
}

/* A segment of the given width; coverage falls off over one pixel at the edge. */
static void line(ssd_image *im, double x0, double y0, double x1, double y1, double width, rgb c) {
    double r = width / 2;
    int xa = (int)floor(fmin(x0, x1) - r - 1), xb = (int)ceil(fmax(x0, x1) + r + 1);
    int ya = (int)floor(fmin(y0, y1) - r - 1), yb = (int)ceil(fmax(y0, y1) + r + 1);
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (int y = ya; y <= yb; y++)
        for (int x = xa; x <= xb; x++) {
            double px = x + 0.5, py = y + 0.5, t = 0;
            if (len2 > 0) t = fmax(0, fmin(1, ((px - x0) * dx + (py - y0) * dy) / len2));
            double ex = x0 + t * dx - px, ey = y0 + t * dy - py;
            double d = sqrt(ex * ex + ey * ey);
            blend(im, x, y, c, r + 0.5 - d);
        }
}

/* Text with its top-left corner at (x, y); vertical = rotated to read bottom to top, (x, y)
 * then being the bottom-left corner. Returns the advance in pixels. */
static int text(ssd_image *im, int x, int y, const char *s, rgb c, bool vertical) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
        int ch = *p >= 32 && *p < 127 ? *p : '?';
        const char *g = ssd_font_glyphs[ch - 32];
        for (int gy = 0; gy < SSD_FONT_H; gy++)
            for (int gx = 0; gx < SSD_FONT_W; gx++) {
                char h = g[gy * SSD_FONT_W + gx];
                int v = h >= 'a' ? h - 'a' + 10 : h - '0';
                if (!v) continue;
                int ox = n * (SSD_FONT_W - 1) + gx;
                if (vertical)
                    blend(im, x + gy, y - ox, c, v / 15.0);
                else
                    blend(im, x + ox, y + gy, c, v / 15.0);
            }
    }
    return n * (SSD_FONT_W - 1);
}

static int text_width(const char *s) {
    return (int)strlen(s) * (SSD_FONT_W - 1);
}

void ssd_eval_pr_filename(const char *class_name, char *buf, size_t n) {
    char safe[256];
    size_t o = 0;
    for (const char *p = class_name; *p && o < sizeof safe - 1; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        safe[o++] = ok ? ch : '_';
    }
    safe[o] = '\0';
    snprintf(buf, n, "pr_%s.png", safe);
}

ssd_status ssd_eval_plot_pr(const ssd_eval_class *c, bool use_2007_metric, const char *path) {
    ssd_image im = {0};
    SSD_TRY(ssd_image_alloc(&im, IMG_W, IMG_H, 3));
    memset(im.px, 255, (size_t)IMG_W * IMG_H * 3);
    const int x0 = PL, x1 = IMG_W - PR, y0 = PT, y1 = IMG_H - PB;
    const double sw = x1 - x0, sh = y1 - y0;
#define SX(r) (x0 + (r)*sw)
#define SY(p) (y1 - (p)*sh)
    /* Grid, ticks and their labels every 0.1 (labels every 0.2). */
    for (int i = 0; i <= 10; i++) {
        double v = i / 10.0;
        line(&im, SX(v), y0, SX(v), y1, 1, GRID);
        line(&im, x0, SY(v), x1, SY(v), 1, GRID);
        line(&im, SX(v), y1, SX(v), y1 + 4, 1, BLACK);
        line(&im, x0 - 4, SY(v), x0, SY(v), 1, BLACK);
        if (i % 2 == 0) {
            char l[8];
            snprintf(l, sizeof l, "%.1f", v);
            text(&im, (int)SX(v) - text_width(l) / 2, y1 + 7, l, BLACK, false);
            text(&im, x0 - 8 - text_width(l), (int)SY(v) - SSD_FONT_H / 2, l, BLACK, false);
        }
    }
    line(&im, x0, y0, x1, y0, 1, BLACK);
    line(&im, x0, y1, x1, y1, 1, BLACK);
    line(&im, x0, y0, x0, y1, 1, BLACK);
    line(&im, x1, y0, x1, y1, 1, BLACK);
    text(&im, (x0 + x1) / 2 - text_width("recall") / 2, y1 + 28, "recall", BLACK, false);
    text(&im, 8, (y0 + y1) / 2 + text_width("precision") / 2, "precision", BLACK, true);

    char title[400];
    if (c->present)
        snprintf(title, sizeof title, "%.120s: AP %.4f (%s)", c->name, c->ap,
                 use_2007_metric ? "VOC07 11-point" : "VOC area");
    else
        snprintf(title, sizeof title, "%.120s: no ground truth objects (%lld difficult)", c->name,
                 (long long)c->num_difficult);
    text(&im, IMG_W / 2 - text_width(title) / 2, 12, title, BLACK, false);

    int n = c->present ? c->curve_n : 0;
    if (n > 0) {
        /* The interpolated envelope max(precision[i:]) as steps, under the raw curve. */
        double env_next = 0;
        for (int i = n - 1; i >= 0; i--) {
            double env = fmax(env_next, c->curve_precision[i]);
            double r0 = i ? c->curve_recall[i - 1] : 0, r1 = c->curve_recall[i];
            line(&im, SX(r0), SY(env), SX(r1), SY(env), 1.5, ENVELOPE);
            if (i < n - 1) line(&im, SX(r1), SY(env), SX(r1), SY(env_next), 1.5, ENVELOPE);
            env_next = env;
        }
        double px = SX(c->curve_recall[0]), py = SY(c->curve_precision[0]);
        for (int i = 1; i < n; i++) {
            double qx = SX(c->curve_recall[i]), qy = SY(c->curve_precision[i]);
            line(&im, px, py, qx, qy, 2, CURVE);
            px = qx;
            py = qy;
        }
        if (n == 1) line(&im, px - 2, py, px + 2, py, 3, CURVE);
    }
    /* Legend and counts on a line under the title, outside the plot. */
    char counts[96];
    snprintf(counts, sizeof counts, "%lld objects, %lld detections", (long long)c->num_gt,
             (long long)c->num_det);
    int lw = 30 + text_width("precision") + 20 + 30 + text_width("interpolated") + 20 +
             text_width(counts);
    int lx = IMG_W / 2 - lw / 2, ly = 34;
    line(&im, lx, ly + 7, lx + 24, ly + 7, 2, CURVE);
    lx += 30 + text(&im, lx + 30, ly, "precision", BLACK, false) + 20;
    line(&im, lx, ly + 7, lx + 24, ly + 7, 1.5, ENVELOPE);
    lx += 30 + text(&im, lx + 30, ly, "interpolated", BLACK, false) + 20;
    text(&im, lx, ly, counts, GREY, false);
#undef SX
#undef SY
    ssd_status st = ssd_image_save_png(&im, path);
    ssd_image_free(&im);
    return st;
}

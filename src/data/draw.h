/* Drawing detections onto an RGB image, as detectnet's overlay does: a box
 * filled with the class colour at an alpha, an outline, and "label 93.4%"
 * text (FreeType, antialiased) on a filled background. Everything is clipped
 * to the image: boxes partly or fully outside, degenerate or non-finite ones
 * draw what lies inside the image or nothing, never outside it. */
#ifndef SSD_DATA_DRAW_H
#define SSD_DATA_DRAW_H

#include "core/status.h"
#include "data/image.h"

#include <stdint.h>

/* A TrueType font at one face. Not thread-safe: one per drawing thread. */
typedef struct ssd_font ssd_font;

/* Opens the font file; path NULL finds the default (ssd_font_find). */
ssd_status ssd_font_open(ssd_font **out, const char *path);
void ssd_font_close(ssd_font *f);
/* The first existing file of `candidates` (NULL-terminated; NULL: the
 * DejaVuSans.ttf locations of Debian/Ubuntu, Fedora, Arch and others, after
 * $SSD_FONT if set) into buf. The error names every place looked at and the
 * Debian package to install (fonts-dejavu-core). */
ssd_status ssd_font_find(char *buf, size_t n, const char *const *candidates);
/* Size of text rendered at px pixels: advance width, and line height
 * (ascender - descender). Invalid UTF-8 bytes count as U+FFFD. */
ssd_status ssd_font_measure(ssd_font *f, const char *text, int px, int *w, int *h);

enum {
    SSD_DRAW_BOX = 1,    /* filled box with alpha */
    SSD_DRAW_LINES = 2,  /* outline */
    SSD_DRAW_LABELS = 4, /* class label text */
    SSD_DRAW_CONF = 8,   /* confidence text ("93.4%") */
};

typedef struct {
    unsigned flags; /* SSD_DRAW_* */
    int alpha;      /* fill opacity 0..255; detectnet's 120 */
    int line_width; /* outline width in pixels, drawn inside the box (2) */
    int font_px;    /* text size in pixels; 0 = from the image size */
} ssd_draw_opts;

/* box|lines|labels|conf, alpha 120, line width 2, font size from the image. */
void ssd_draw_opts_default(ssd_draw_opts *o);

typedef struct {
    float x1, y1, x2, y2; /* corners in image pixels: the box covers [x1, x2) x [y1, y2) */
    int class_id;         /* picks the colour */
    float confidence;     /* 0..1 */
    const char *label;    /* NULL: "class <id>" */
} ssd_draw_det;

/* Colour of a class (a fixed palette, cycling after its end). */
void ssd_draw_class_color(int class_id, uint8_t rgb[3]);
/* The font size used when opts.font_px is 0. */
int ssd_draw_auto_font_px(int w, int h);

/* Draws every detection in order. font may be NULL when no text is asked for.
 * img must be 8-bit RGB (c == 3). */
ssd_status ssd_draw_detections(ssd_image *img, ssd_font *font, const ssd_draw_det *dets, int n,
                               const ssd_draw_opts *o);

/* Primitives, clipped. Integer rectangles are [x0, x1) x [y0, y1). */
void ssd_draw_fill_rect(ssd_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3],
                        int alpha);
void ssd_draw_outline(ssd_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3],
                      int width);
/* Text with its top-left corner at (x, y) (the top of the line box). */
ssd_status ssd_draw_text(ssd_image *img, ssd_font *f, int x, int y, const char *text, int px,
                         const uint8_t rgb[3]);

#endif

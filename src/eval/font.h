/* A small bitmap font for the plots (see scripts/gen_font.py). */
#ifndef SSD_EVAL_FONT_H
#define SSD_EVAL_FONT_H

#define SSD_FONT_W 8
#define SSD_FONT_H 15

/* Glyphs of ' ' .. '~': SSD_FONT_W * SSD_FONT_H hex digits each (coverage 0..f, row-major). */
extern const char *const ssd_font_glyphs[95];

#endif

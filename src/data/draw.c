#include "data/draw.h"

#include "core/fileio.h"
#include "core/mem.h"

#include <ft2build.h>
#include FT_FREETYPE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ssd_font {
    FT_Library lib;
    FT_Face face;
    int px; /* size currently set on the face */
};

static const char *const default_fonts[] = {
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",   /* Debian, Ubuntu */
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", /* Fedora */
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",            /* older Fedora, CentOS */
    "/usr/share/fonts/TTF/DejaVuSans.ttf",               /* Arch */
    "/usr/share/fonts/truetype/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    NULL,
};

ssd_status ssd_font_find(char *buf, size_t n, const char *const *candidates) {
    char looked[1024];
    size_t off = 0;
    looked[0] = 0;
    const char *env = candidates ? NULL : getenv("SSD_FONT");
    if (env && env[0]) {
        if (ssd_path_exists(env) && !ssd_path_is_dir(env)) {
            snprintf(buf, n, "%s", env);
            return SSD_OK;
        }
        off += (size_t)snprintf(looked, sizeof looked, "$SSD_FONT=%s", env);
    }
    if (!candidates) candidates = default_fonts;
    for (int i = 0; candidates[i]; i++) {
        if (ssd_path_exists(candidates[i]) && !ssd_path_is_dir(candidates[i])) {
            snprintf(buf, n, "%s", candidates[i]);
            return SSD_OK;
        }
        if (off < sizeof looked)
            off += (size_t)snprintf(looked + off, sizeof looked - off, "%s%s", off ? ", " : "",
                                    candidates[i]);
    }
    return ssd_error_set(SSD_E_IO,
                         "no TrueType font found for drawing labels (looked for %s); install "
                         "Debian's fonts-dejavu-core or set SSD_FONT to a .ttf file",
                         looked[0] ? looked : "nothing");
}

ssd_status ssd_font_open(ssd_font **out, const char *path) {
    *out = NULL;
    char found[512];
    if (!path) {
        SSD_TRY(ssd_font_find(found, sizeof found, NULL));
        path = found;
    }
    if (!ssd_path_exists(path))
        return ssd_error_set(SSD_E_IO,
                             "%s: font file not found (install Debian's fonts-dejavu-core)", path);
    ssd_font *f = ssd_calloc(1, sizeof *f);
    if (!f) return SSD_E_NOMEM;
    if (FT_Init_FreeType(&f->lib)) {
        ssd_free(f);
        return ssd_error_set(SSD_E_UNSUPPORTED, "FreeType could not be initialised");
    }
    FT_Error e = FT_New_Face(f->lib, path, 0, &f->face);
    if (e) {
        FT_Done_FreeType(f->lib);
        ssd_free(f);
        return ssd_error_set(SSD_E_FORMAT, "%s: not a font FreeType can read (error %d)", path,
                             (int)e);
    }
    *out = f;
    return SSD_OK;
}

void ssd_font_close(ssd_font *f) {
    if (!f) return;
    FT_Done_Face(f->face);
    FT_Done_FreeType(f->lib);
    ssd_free(f);
}

static ssd_status set_size(ssd_font *f, int px) {
    if (px < 1 || px > 1000) return ssd_error_set(SSD_E_INVAL, "font size %d px out of range", px);
    if (f->px == px) return SSD_OK;
    if (FT_Set_Pixel_Sizes(f->face, 0, (FT_UInt)px))
        return ssd_error_set(SSD_E_UNSUPPORTED, "the font cannot be set to %d px", px);
    f->px = px;
    return SSD_OK;
}

/* Next code point of UTF-8 text; invalid bytes give U+FFFD and advance one. */
static uint32_t next_cp(const unsigned char **s) {
    const unsigned char *p = *s;
    uint32_t c = p[0];
    int len = c < 0x80             ? 1
              : (c & 0xE0) == 0xC0 ? 2
              : (c & 0xF0) == 0xE0 ? 3
              : (c & 0xF8) == 0xF0 ? 4
                                   : 0;
    if (len <= 1) {
        *s = p + 1;
        return len ? c : 0xFFFD;
    }
    uint32_t cp = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *s = p + 1;
            return 0xFFFD;
        }
        cp = cp << 6 | (p[i] & 0x3F);
    }
    *s = p + len;
    return cp;
}

static int line_ascender(const ssd_font *f) {
    return (int)(f->face->size->metrics.ascender >> 6);
}

static int line_height(const ssd_font *f) {
    return (int)((f->face->size->metrics.ascender - f->face->size->metrics.descender) >> 6);
}

ssd_status ssd_font_measure(ssd_font *f, const char *text, int px, int *w, int *h) {
    SSD_TRY(set_size(f, px));
    int x = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s;) {
        uint32_t cp = next_cp(&s);
        if (FT_Load_Char(f->face, cp, FT_LOAD_DEFAULT)) continue;
        x += (int)(f->face->glyph->advance.x >> 6);
    }
    *w = x;
    *h = line_height(f);
    return SSD_OK;
}

static inline uint8_t blend(uint8_t dst, uint8_t src, int a) {
    return (uint8_t)((dst * (255 - a) + src * a + 127) / 255);
}

static int clampi(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

void ssd_draw_fill_rect(ssd_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3],
                        int alpha) {
    alpha = clampi(alpha, 0, 255);
    x0 = clampi(x0, 0, img->w), x1 = clampi(x1, 0, img->w);
    y0 = clampi(y0, 0, img->h), y1 = clampi(y1, 0, img->h);
    if (alpha == 0) return;
    for (int y = y0; y < y1; y++) {
        uint8_t *p = img->px + ((size_t)y * (size_t)img->w + (size_t)x0) * 3;
        for (int x = x0; x < x1; x++, p += 3)
            for (int c = 0; c < 3; c++) p[c] = blend(p[c], rgb[c], alpha);
    }
}

void ssd_draw_outline(ssd_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3],
                      int width) {
    if (x1 <= x0 || y1 <= y0 || width <= 0) return;
    /* Inside the box, so the outline never grows it; thin boxes become solid. */
    int wx = width < (x1 - x0) ? width : x1 - x0, wy = width < (y1 - y0) ? width : y1 - y0;
    ssd_draw_fill_rect(img, x0, y0, x1, y0 + wy, rgb, 255);
    ssd_draw_fill_rect(img, x0, y1 - wy, x1, y1, rgb, 255);
    ssd_draw_fill_rect(img, x0, y0 + wy, x0 + wx, y1 - wy, rgb, 255);
    ssd_draw_fill_rect(img, x1 - wx, y0 + wy, x1, y1 - wy, rgb, 255);
}

ssd_status ssd_draw_text(ssd_image *img, ssd_font *f, int x, int y, const char *text, int px,
                         const uint8_t rgb[3]) {
    SSD_TRY(set_size(f, px));
    int base = y + line_ascender(f);
    int pen = x;
    for (const unsigned char *s = (const unsigned char *)text; *s;) {
        uint32_t cp = next_cp(&s);
        if (FT_Load_Char(f->face, cp, FT_LOAD_RENDER)) continue;
        FT_GlyphSlot g = f->face->glyph;
        const FT_Bitmap *b = &g->bitmap;
        if (b->pixel_mode == FT_PIXEL_MODE_GRAY) {
            int gx = pen + g->bitmap_left, gy = base - g->bitmap_top;
            for (int r = 0; r < (int)b->rows; r++) {
                int yy = gy + r;
                if (yy < 0 || yy >= img->h) continue;
                const uint8_t *src = b->buffer + (ptrdiff_t)r * b->pitch;
                for (int c = 0; c < (int)b->width; c++) {
                    int xx = gx + c;
                    if (xx < 0 || xx >= img->w || !src[c]) continue;
                    uint8_t *p = img->px + ((size_t)yy * (size_t)img->w + (size_t)xx) * 3;
                    for (int k = 0; k < 3; k++) p[k] = blend(p[k], rgb[k], src[c]);
                }
            }
        }
        pen += (int)(g->advance.x >> 6);
    }
    return SSD_OK;
}

/* Distinct, saturated colours that stay readable under alpha; class 1 (the
 * first real class) gets green as in detectnet's overlays. */
static const uint8_t palette[][3] = {
    {255, 255, 255}, {0, 255, 127},  {255, 64, 64},   {64, 128, 255},  {255, 200, 0},
    {200, 64, 255},  {0, 220, 255},  {255, 128, 0},   {128, 255, 0},   {255, 0, 200},
    {0, 160, 120},   {160, 100, 40}, {120, 120, 255}, {255, 160, 160}, {0, 128, 255},
    {180, 180, 0},   {128, 0, 64},   {64, 200, 64},   {255, 96, 160},  {96, 64, 200},
};
#define NPALETTE ((int)(sizeof palette / sizeof palette[0]))

void ssd_draw_class_color(int class_id, uint8_t rgb[3]) {
    int i = class_id < 0 ? 0 : class_id < NPALETTE ? class_id : 1 + (class_id - 1) % (NPALETTE - 1);
    memcpy(rgb, palette[i], 3);
}

int ssd_draw_auto_font_px(int w, int h) {
    int m = w < h ? w : h;
    return clampi((int)lround(m * 0.032), 10, 64);
}

void ssd_draw_opts_default(ssd_draw_opts *o) {
    o->flags = SSD_DRAW_BOX | SSD_DRAW_LINES | SSD_DRAW_LABELS | SSD_DRAW_CONF;
    o->alpha = 120;
    o->line_width = 2;
    o->font_px = 0;
}

/* A float coordinate to a pixel edge, safe for NaN and huge values. */
static bool to_px(float v, int limit, int *out) {
    if (!isfinite(v)) return false;
    double d = floor((double)v + 0.5);
    *out = d < -1.0 ? -1 : d > limit + 1.0 ? limit + 1 : (int)d;
    return true;
}

ssd_status ssd_draw_detections(ssd_image *img, ssd_font *font, const ssd_draw_det *dets, int n,
                               const ssd_draw_opts *o) {
    if (!img || !img->px || img->c != 3 || img->w <= 0 || img->h <= 0)
        return ssd_error_set(SSD_E_INVAL, "drawing needs an 8-bit RGB image");
    bool text = o->flags & (SSD_DRAW_LABELS | SSD_DRAW_CONF);
    if (text && !font) return ssd_error_set(SSD_E_INVAL, "drawing labels needs a font");
    int px = o->font_px > 0 ? o->font_px : ssd_draw_auto_font_px(img->w, img->h);
    for (int i = 0; i < n; i++) {
        const ssd_draw_det *d = &dets[i];
        int x0, y0, x1, y1;
        if (!to_px(d->x1, img->w, &x0) || !to_px(d->y1, img->h, &y0) ||
            !to_px(d->x2, img->w, &x1) || !to_px(d->y2, img->h, &y1) || x1 <= x0 || y1 <= y0)
            continue;
        uint8_t col[3];
        ssd_draw_class_color(d->class_id, col);
        if (o->flags & SSD_DRAW_BOX) ssd_draw_fill_rect(img, x0, y0, x1, y1, col, o->alpha);
        if (o->flags & SSD_DRAW_LINES) ssd_draw_outline(img, x0, y0, x1, y1, col, o->line_width);
        if (!text) continue;
        char s[160], cls[24];
        const char *label = d->label;
        if (!label) {
            snprintf(cls, sizeof cls, "class %d", d->class_id);
            label = cls;
        }
        float conf = isfinite(d->confidence) ? d->confidence * 100.0f : 0.0f;
        if ((o->flags & SSD_DRAW_LABELS) && (o->flags & SSD_DRAW_CONF))
            snprintf(s, sizeof s, "%s %.1f%%", label, conf);
        else if (o->flags & SSD_DRAW_LABELS)
            snprintf(s, sizeof s, "%s", label);
        else
            snprintf(s, sizeof s, "%.1f%%", conf);
        int tw, th;
        SSD_TRY(ssd_font_measure(font, s, px, &tw, &th));
        int pad = px / 6 > 1 ? px / 6 : 1;
        int bw = tw + 2 * pad, bh = th + 2 * pad;
        /* Above the box where it fits, else inside its top edge; shifted left
         * to stay in the image when the box is near the right border. */
        int bx = x0 < 0 ? 0 : x0;
        if (bx + bw > img->w) bx = img->w - bw > 0 ? img->w - bw : 0;
        int by = y0 - bh >= 0 ? y0 - bh : (y0 < 0 ? 0 : y0);
        ssd_draw_fill_rect(img, bx, by, bx + bw, by + bh, col, 200);
        /* Dark text on light colours, white on dark (ITU-R BT.601 luma). */
        int luma = (299 * col[0] + 587 * col[1] + 114 * col[2]) / 1000;
        static const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
        SSD_TRY(ssd_draw_text(img, font, bx + pad, by + pad, s, px, luma > 140 ? black : white));
    }
    return SSD_OK;
}

/* PNG through libpng. Errors longjmp back through png_jmpbuf; warnings are
 * dropped. Every colour type becomes 8-bit RGB the way PIL's convert('RGB')
 * does it: palettes expanded, gray replicated, alpha discarded (not blended),
 * 16-bit reduced to its high byte. */
#include "data/image_codecs.h"

#include "core/mem.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    char msg[160];
} png_src;

static void on_error(png_structp png, png_const_charp msg) {
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void read_mem(png_structp png, png_bytep out, png_size_t n) {
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) png_error(png, "truncated PNG data");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static int is_png(const uint8_t *data, size_t len) {
    return len >= 8 && png_sig_cmp(data, 0, 8) == 0;
}

ssd_status ssd_png_decode(ssd_image *img, const uint8_t *data, size_t len, const char *name) {
    png_src src = {data, len, 0, ""};
    png_structp png = NULL;
    png_infop info = NULL;
    png_bytep *volatile rows = NULL;
    ssd_status volatile st = SSD_OK;
    memset(img, 0, sizeof *img);
    if (!is_png(data, len)) return ssd_error_set(SSD_E_FORMAT, "%s: not a PNG file", name);
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    if (png) info = png_create_info_struct(png);
    if (!png || !info) {
        st = ssd_error_set(SSD_E_NOMEM, "%s: out of memory creating the PNG decoder", name);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        if (st == SSD_OK) st = ssd_error_set(SSD_E_FORMAT, "%s: corrupt PNG: %s", name, src.msg);
        goto done;
    }
    png_set_read_fn(png, &src, read_mem);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    st = ssd_image_check_dims(w, h, name);
    if (st != SSD_OK) goto done;
    int ct = png_get_color_type(png, info);
    png_set_expand(png); /* palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha */
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3) {
        st = ssd_error_set(SSD_E_UNSUPPORTED, "%s: PNG colour type %d did not convert to RGB", name,
                           ct);
        goto done;
    }
    st = ssd_image_alloc(img, (int)w, (int)h, 3);
    if (st != SSD_OK) goto done;
    rows = ssd_malloc(sizeof *rows * h);
    if (!rows) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = img->px + (size_t)y * w * 3;
    png_read_image(png, rows);
    /* Reading the end chunks too catches files cut after the image data. */
    png_read_end(png, NULL);
done:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    ssd_free(rows);
    if (st != SSD_OK) ssd_image_free(img);
    return st;
}

ssd_status ssd_png_info(const uint8_t *data, size_t len, const char *name, int *w, int *h, int *c) {
    /* Signature, then the IHDR chunk: length, "IHDR", width, height, depth, colour type. */
    if (!is_png(data, len)) return ssd_error_set(SSD_E_FORMAT, "%s: not a PNG file", name);
    if (len < 26 || memcmp(data + 12, "IHDR", 4) != 0)
        return ssd_error_set(SSD_E_FORMAT, "%s: corrupt PNG: no IHDR chunk", name);
    long long ww = (long long)png_get_uint_32(data + 16),
              hh = (long long)png_get_uint_32(data + 20);
    SSD_TRY(ssd_image_check_dims(ww, hh, name));
    int ct = data[25];
    *w = (int)ww;
    *h = (int)hh;
    *c = ct == 0 ? 1 : ct == 4 ? 2 : ct == 6 ? 4 : 3;
    return SSD_OK;
}

typedef struct {
    uint8_t *buf;
    size_t len, cap;
    int oom;
} png_dst;

static void write_mem(png_structp png, png_bytep data, png_size_t n) {
    png_dst *d = png_get_io_ptr(png);
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap : 65536;
        while (cap < d->len + n) cap *= 2;
        uint8_t *nb = ssd_realloc(d->buf, cap);
        if (!nb) {
            d->oom = 1;
            png_error(png, "out of memory");
        }
        d->buf = nb;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, data, n);
    d->len += n;
}

static void flush_mem(png_structp png) {
    (void)png;
}

ssd_status ssd_png_encode(const ssd_image *img, uint8_t **out, size_t *len, const char *name) {
    png_src err = {NULL, 0, 0, ""};
    png_dst dst = {NULL, 0, 0, 0};
    png_structp png = NULL;
    png_infop info = NULL;
    ssd_status volatile st = SSD_OK;
    *out = NULL;
    *len = 0;
    int ct = img->c == 1   ? PNG_COLOR_TYPE_GRAY
             : img->c == 3 ? PNG_COLOR_TYPE_RGB
             : img->c == 4 ? PNG_COLOR_TYPE_RGBA
                           : -1;
    if (ct < 0)
        return ssd_error_set(SSD_E_INVAL, "%s: PNG needs 1, 3 or 4 channels, not %d", name, img->c);
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_error, on_warning);
    if (png) info = png_create_info_struct(png);
    if (!png || !info) {
        st = ssd_error_set(SSD_E_NOMEM, "%s: out of memory creating the PNG encoder", name);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        st = dst.oom ? SSD_E_NOMEM
                     : ssd_error_set(SSD_E_FORMAT, "%s: PNG encoding failed: %s", name, err.msg);
        goto done;
    }
    png_set_write_fn(png, &dst, write_mem, flush_mem);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, ct, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* Level 6 is zlib's balance; training data is read far more often than written. */
    png_set_compression_level(png, 6);
    png_write_info(png, info);
    size_t stride = (size_t)img->w * (size_t)img->c;
    for (int y = 0; y < img->h; y++) png_write_row(png, img->px + stride * (size_t)y);
    png_write_end(png, NULL);
    *out = dst.buf;
    *len = dst.len;
    dst.buf = NULL;
done:
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    ssd_free(dst.buf);
    return st;
}

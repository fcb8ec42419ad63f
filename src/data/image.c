/* Format dispatch by content, header-only size queries and atomic saving. */
#include "data/image.h"

#include "core/mem.h"
#include "data/data_io.h"
#include "data/image_codecs.h"

#include <string.h>
#include <strings.h>

ssd_status ssd_image_check_dims(long long w, long long h, const char *name) {
    if (w <= 0 || h <= 0)
        return ssd_error_set(SSD_E_FORMAT, "%s: image has no pixels (%lld x %lld)", name, w, h);
    if (w > SSD_IMAGE_MAX_SIDE || h > SSD_IMAGE_MAX_SIDE || w * h > SSD_IMAGE_MAX_PIXELS)
        return ssd_error_set(SSD_E_FORMAT,
                             "%s: image of %lld x %lld pixels is too large (limit %d per side, "
                             "%lld MP)",
                             name, w, h, SSD_IMAGE_MAX_SIDE, SSD_IMAGE_MAX_PIXELS / 1000000);
    return SSD_OK;
}

ssd_status ssd_image_alloc(ssd_image *img, int w, int h, int c) {
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0 || c <= 0)
        return ssd_error_set(SSD_E_INVAL, "image size %d x %d x %d is empty", w, h, c);
    img->px = ssd_malloc((size_t)w * (size_t)h * (size_t)c);
    if (!img->px) return SSD_E_NOMEM;
    img->w = w;
    img->h = h;
    img->c = c;
    return SSD_OK;
}

void ssd_image_free(ssd_image *img) {
    if (!img) return;
    ssd_free(img->px);
    memset(img, 0, sizeof *img);
}

typedef enum { FMT_UNKNOWN, FMT_JPEG, FMT_PNG, FMT_BMP, FMT_TIFF, FMT_GIF, FMT_WEBP } image_format;

static image_format sniff(const uint8_t *d, size_t n) {
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return FMT_JPEG;
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return FMT_PNG;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return FMT_BMP;
    if (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4))) return FMT_TIFF;
    if (n >= 4 && !memcmp(d, "GIF8", 4)) return FMT_GIF;
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return FMT_WEBP;
    return FMT_UNKNOWN;
}

static ssd_status unsupported(image_format f, size_t len, const char *name) {
    static const char *names[] = {"", "", "", "", "TIFF", "GIF", "WebP"};
    if (len == 0) return ssd_error_set(SSD_E_FORMAT, "%s: file is empty", name);
    if (f != FMT_UNKNOWN)
        return ssd_error_set(SSD_E_UNSUPPORTED,
                             "%s: %s images are not supported (use JPEG, PNG or BMP)", name,
                             names[f]);
    return ssd_error_set(SSD_E_FORMAT, "%s: not a JPEG, PNG or BMP image", name);
}

ssd_status ssd_image_load_mem(ssd_image *img, const uint8_t *data, size_t len, const char *name) {
    memset(img, 0, sizeof *img);
    image_format f = sniff(data, len);
    switch (f) {
    case FMT_JPEG:
        return ssd_jpeg_decode(img, data, len, name);
    case FMT_PNG:
        return ssd_png_decode(img, data, len, name);
    case FMT_BMP:
        return ssd_bmp_decode(img, data, len, name);
    default:
        return unsupported(f, len, name);
    }
}

ssd_status ssd_image_load(ssd_image *img, const char *path) {
    uint8_t *data = NULL;
    size_t len = 0;
    memset(img, 0, sizeof *img);
    SSD_TRY(ssd_file_read_all(path, &data, &len));
    ssd_status st = ssd_image_load_mem(img, data, len, path);
    ssd_free(data);
    return st;
}

/* JPEG headers sit behind APPn segments (EXIF thumbnails) of up to 64 KiB each,
 * so a short read usually but not always suffices; the whole file is the fallback. */
#define HEAD_BYTES 65536

static ssd_status info_mem(const uint8_t *d, size_t n, const char *path, int *w, int *h, int *c) {
    image_format f = sniff(d, n);
    switch (f) {
    case FMT_JPEG:
        return ssd_jpeg_info(d, n, path, w, h, c);
    case FMT_PNG:
        return ssd_png_info(d, n, path, w, h, c);
    case FMT_BMP:
        return ssd_bmp_info(d, n, path, w, h, c);
    default:
        return unsupported(f, n, path);
    }
}

ssd_status ssd_image_info(const char *path, int *w, int *h, int *c) {
    uint8_t *buf = ssd_malloc(HEAD_BYTES);
    if (!buf) return SSD_E_NOMEM;
    size_t n = 0;
    ssd_status st = ssd_dio_read_head(path, buf, HEAD_BYTES, &n);
    if (st == SSD_OK) st = info_mem(buf, n, path, w, h, c);
    ssd_free(buf);
    if (st == SSD_E_FORMAT && n == HEAD_BYTES) {
        uint8_t *all = NULL;
        size_t len = 0;
        SSD_TRY(ssd_file_read_all(path, &all, &len));
        st = info_mem(all, len, path, w, h, c);
        ssd_free(all);
    }
    return st;
}

ssd_status ssd_image_size(const char *path, int *w, int *h) {
    int c;
    return ssd_image_info(path, w, h, &c);
}

ssd_status ssd_image_save_jpeg(const ssd_image *img, const char *path, int quality) {
    uint8_t *buf = NULL;
    size_t len = 0;
    SSD_TRY(ssd_jpeg_encode(img, quality, &buf, &len, path));
    ssd_status st = ssd_file_write_atomic(path, buf, len);
    ssd_free(buf);
    return st;
}

ssd_status ssd_image_save_png(const ssd_image *img, const char *path) {
    uint8_t *buf = NULL;
    size_t len = 0;
    SSD_TRY(ssd_png_encode(img, &buf, &len, path));
    ssd_status st = ssd_file_write_atomic(path, buf, len);
    ssd_free(buf);
    return st;
}

ssd_status ssd_image_save(const ssd_image *img, const char *path) {
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/') && !strcasecmp(dot, ".png")) return ssd_image_save_png(img, path);
    return ssd_image_save_jpeg(img, path, 95);
}

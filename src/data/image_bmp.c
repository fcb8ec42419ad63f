/* Uncompressed 24- and 32-bit BMP (bottom-up or top-down). Other variants
 * (palettes, RLE, 16-bit, odd bitfields) are rare in datasets and refused by
 * name rather than decoded wrongly. */
#include "data/image_codecs.h"

#include <string.h>

static uint32_t u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t u16le(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

typedef struct {
    long long w, h;
    int top_down, bpp;
    uint32_t offset, compression;
} bmp_header;

#define BI_RGB       0
#define BI_BITFIELDS 3

static ssd_status parse_header(bmp_header *b, const uint8_t *d, size_t len, const char *name) {
    if (len < 2 || d[0] != 'B' || d[1] != 'M')
        return ssd_error_set(SSD_E_FORMAT, "%s: not a BMP file", name);
    if (len < 54) return ssd_error_set(SSD_E_FORMAT, "%s: truncated BMP header", name);
    uint32_t dib = u32le(d + 14);
    if (dib < 40)
        return ssd_error_set(SSD_E_UNSUPPORTED,
                             "%s: BMP with a %u-byte (OS/2) header is not supported", name, dib);
    int32_t w = (int32_t)u32le(d + 18), h = (int32_t)u32le(d + 22);
    b->offset = u32le(d + 10);
    b->bpp = u16le(d + 28);
    b->compression = u32le(d + 30);
    b->top_down = h < 0;
    b->w = w;
    b->h = h < 0 ? -(long long)h : h;
    SSD_TRY(ssd_image_check_dims(b->w, b->h, name));
    int ok =
        (b->bpp == 24 && b->compression == BI_RGB) || (b->bpp == 32 && b->compression == BI_RGB);
    if (b->bpp == 32 && b->compression == BI_BITFIELDS && len >= 66) {
        /* Masks follow the 40-byte header (or sit inside a V4/V5 header): accept the usual BGRx. */
        const uint8_t *m = d + 54;
        ok = u32le(m) == 0x00FF0000u && u32le(m + 4) == 0x0000FF00u && u32le(m + 8) == 0x000000FFu;
    }
    if (!ok)
        return ssd_error_set(SSD_E_UNSUPPORTED,
                             "%s: BMP with %d bits per pixel and compression %u is not supported "
                             "(only uncompressed 24- and 32-bit)",
                             name, b->bpp, b->compression);
    return SSD_OK;
}

ssd_status ssd_bmp_info(const uint8_t *data, size_t len, const char *name, int *w, int *h, int *c) {
    bmp_header b;
    SSD_TRY(parse_header(&b, data, len, name));
    *w = (int)b.w;
    *h = (int)b.h;
    *c = b.bpp / 8;
    return SSD_OK;
}

ssd_status ssd_bmp_decode(ssd_image *img, const uint8_t *data, size_t len, const char *name) {
    bmp_header b;
    memset(img, 0, sizeof *img);
    SSD_TRY(parse_header(&b, data, len, name));
    size_t bypp = (size_t)b.bpp / 8;
    size_t stride = ((size_t)b.w * (size_t)b.bpp + 31) / 32 * 4;
    /* The last row needs only its pixels, not its padding: some writers omit it. */
    size_t need = stride * (size_t)(b.h - 1) + (size_t)b.w * bypp;
    if (b.offset > len || len - b.offset < need)
        return ssd_error_set(SSD_E_FORMAT, "%s: truncated BMP pixel data (%zu of %zu bytes)", name,
                             b.offset > len ? 0 : len - b.offset, need);
    SSD_TRY(ssd_image_alloc(img, (int)b.w, (int)b.h, 3));
    for (long long y = 0; y < b.h; y++) {
        long long sy = b.top_down ? y : b.h - 1 - y;
        const uint8_t *s = data + b.offset + stride * (size_t)sy;
        uint8_t *o = img->px + (size_t)y * (size_t)b.w * 3;
        for (long long x = 0; x < b.w; x++, s += bypp, o += 3) {
            o[0] = s[2];
            o[1] = s[1];
            o[2] = s[0];
        }
    }
    return SSD_OK;
}

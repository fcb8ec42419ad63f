/* Decoded images: 8-bit, interleaved HWC, RGB (c == 3) unless stated. */
#ifndef SSD_DATA_IMAGE_H
#define SSD_DATA_IMAGE_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h, c;
    uint8_t *px; /* h * w * c bytes, row-major */
} ssd_image;

/* Decodes JPEG (grayscale and CMYK become RGB), PNG (palette, gray, alpha, 16-bit
 * become 8-bit RGB) or BMP, chosen by content, into RGB. Errors name the file. */
ssd_status ssd_image_load(ssd_image *img, const char *path);
ssd_status ssd_image_load_mem(ssd_image *img, const uint8_t *data, size_t len, const char *name);
/* Reads only the header: width and height. */
ssd_status ssd_image_size(const char *path, int *w, int *h);
/* Header only, plus the channel count as stored (1 gray, 2 gray+alpha, 3, 4 CMYK or RGBA). */
ssd_status ssd_image_info(const char *path, int *w, int *h, int *channels);
/* quality 1..100. */
ssd_status ssd_image_save_jpeg(const ssd_image *img, const char *path, int quality);
ssd_status ssd_image_save_png(const ssd_image *img, const char *path);
/* By extension: .png -> PNG, anything else -> JPEG quality 95. Atomic (temp + rename). */
ssd_status ssd_image_save(const ssd_image *img, const char *path);
ssd_status ssd_image_alloc(ssd_image *img, int w, int h, int c);
void ssd_image_free(ssd_image *img);

#endif

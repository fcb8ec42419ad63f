/* Per-format codecs behind image.c. Internal to src/data. Decoders produce
 * 8-bit RGB into img (allocated here); info reads only the header. */
#ifndef SSD_DATA_IMAGE_CODECS_H
#define SSD_DATA_IMAGE_CODECS_H

#include "core/status.h"
#include "data/image.h"

#include <stddef.h>
#include <stdint.h>

/* Largest accepted image: a side over 30000 px or more than 500 MP is far
 * beyond any camera frame and most likely a corrupt header; refusing it keeps
 * a bad file from asking for gigabytes. */
#define SSD_IMAGE_MAX_SIDE   30000
#define SSD_IMAGE_MAX_PIXELS 500000000LL

/* SSD_OK, or SSD_E_FORMAT naming the file when w x h is empty or too large. */
ssd_status ssd_image_check_dims(long long w, long long h, const char *name);

ssd_status ssd_jpeg_decode(ssd_image *img, const uint8_t *data, size_t len, const char *name);
ssd_status ssd_jpeg_info(const uint8_t *data, size_t len, const char *name, int *w, int *h, int *c);
/* *out is from ssd_malloc. c is 1 or 3. */
ssd_status ssd_jpeg_encode(const ssd_image *img, int quality, uint8_t **out, size_t *len,
                           const char *name);

ssd_status ssd_png_decode(ssd_image *img, const uint8_t *data, size_t len, const char *name);
ssd_status ssd_png_info(const uint8_t *data, size_t len, const char *name, int *w, int *h, int *c);
/* c is 1, 3 or 4. */
ssd_status ssd_png_encode(const ssd_image *img, uint8_t **out, size_t *len, const char *name);

ssd_status ssd_bmp_decode(ssd_image *img, const uint8_t *data, size_t len, const char *name);
ssd_status ssd_bmp_info(const uint8_t *data, size_t len, const char *name, int *w, int *h, int *c);

#endif

/* Training augmentation and the test transform of pytorch-ssd
 * (vision/ssd/data_preprocessing.py TrainAugmentation / TestTransform, from
 * amdegroot/ssd.pytorch), for one sample.
 *
 * The reference runs ten whole-image passes (float conversion, photometric
 * distortion, an expanded canvas up to 16x the image, crop, mirror, resize,
 * mean, std, transpose). Here a sample is described by ssd_augment_params
 * (every random choice, drawn once) and rendered in one pass: the geometric
 * steps between the photometric distortion and the resize only move whole
 * pixels, so each output pixel is the reference's bilinear resize of the
 * virtual expanded/cropped/mirrored image, and the photometric function is
 * evaluated only on the source pixels the resize reads. The numbers are the
 * reference's: cv2's float32 RGB<->HSV and INTER_LINEAR formulas in float32,
 * the same operation order. */
#ifndef SSD_DATA_AUGMENT_H
#define SSD_DATA_AUGMENT_H

#include "core/rng.h"
#include "core/status.h"
#include "data/image.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int size;      /* output S x S */
    float mean[3]; /* RGB; subtracted after the resize, and the Expand fill */
    float std;     /* divisor after the mean */
} ssd_transform_cfg;

/* Every random choice of one training sample. ssd_augment_identity gives the test transform. */
typedef struct {
    /* PhotometricDistort (applied only when `photometric`). */
    bool photometric;
    bool brightness;
    float brightness_delta; /* U(-32, 32), added */
    bool contrast_first;    /* contrast before the HSV round trip, else after it */
    bool contrast;
    float contrast_alpha; /* U(0.5, 1.5), multiplies R, G, B */
    bool saturation;
    float saturation_factor; /* U(0.5, 1.5), multiplies S */
    bool hue;
    float hue_delta; /* U(-18, 18) degrees, added to H and wrapped into [0, 360] */
    bool lighting;
    int perm[3]; /* output channel c takes input channel perm[c] */
    /* Expand: the image sits at (offset_x, offset_y) in a canvas_w x canvas_h canvas of the mean.
     * Without expand the canvas is the image. */
    int canvas_w, canvas_h, offset_x, offset_y;
    /* RandomSampleCrop: [crop_x0, crop_x1) x [crop_y0, crop_y1) of the canvas. When `crop` is
     * false the rect is the whole canvas and no box is dropped; when true, boxes whose centre is
     * not strictly inside are dropped even if the rect happens to be the whole canvas. */
    bool crop;
    int crop_x0, crop_y0, crop_x1, crop_y1;
    bool mirror;
    /* The test transform resizes the uint8 image (cv2 rounds to 8 bits); training resizes
     * float32. */
    bool u8_resize;
} ssd_augment_params;

/* Reusable buffers of the renderer; zero-initialise, free with ssd_augment_scratch_free. */
typedef struct {
    void *buf;
    size_t cap;
} ssd_augment_scratch;

void ssd_augment_scratch_free(ssd_augment_scratch *s);

/* The test transform for a w x h image: no photometric step, no geometry, u8 resize. */
void ssd_augment_identity(ssd_augment_params *p, int w, int h);

/* Draws the training augmentation of a w x h image whose boxes (n,4) are pixel corners. */
void ssd_augment_draw(ssd_augment_params *p, ssd_rng *rng, int w, int h, const float *boxes, int n);

/* Applies the geometry of p to boxes (n,4) pixel corners of the original image: expand offset,
 * crop (keeping boxes whose centre is inside, clipped), mirror, then ToPercentCoords. Writes the
 * kept boxes (normalised corners) and their labels; returns how many were kept (<= n).
 * out_boxes/out_labels may not alias the inputs. labels/out_labels may be NULL. */
int ssd_augment_boxes(const ssd_augment_params *p, const float *boxes, const int64_t *labels, int n,
                      float *out_boxes, int64_t *out_labels);

/* Renders img (HWC uint8 RGB, the size p was drawn for) through p into out (3,S,S) float32:
 * photometric, expand, crop, mirror, resize to S x S, (x - mean) / std, CHW. */
ssd_status ssd_augment_render(const ssd_augment_params *p, const ssd_image *img,
                              const ssd_transform_cfg *cfg, float *out, ssd_augment_scratch *s);

/* The photometric function of p on one RGB pixel (float32 steps in the reference order). */
void ssd_augment_photometric(const ssd_augment_params *p, const float in[3], float out[3]);

/* cv2.cvtColor on float32 (H in degrees [0, 360), S = (max-min)/|max|, V = max; no clamping,
 * so values outside 0..255 behave as in cv2). n pixels, interleaved; in place allowed. */
void ssd_rgb_to_hsv_f32(float *dst, const float *src, size_t n);
void ssd_hsv_to_rgb_f32(float *dst, const float *src, size_t n);

#endif

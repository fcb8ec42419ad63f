/* Shared between augment.c and augment_color.c; not part of the data layer's interface. */
#ifndef SSD_DATA_AUGMENT_INTERNAL_H
#define SSD_DATA_AUGMENT_INTERNAL_H

#include "data/augment.h"

/* Lanes of the photometric vector path. */
#define SSD_AUG_VL 4

/* PhotometricDistort of p (which must have photometric set) on planar R, G, B, in place, without
 * the final channel permutation. n is a multiple of SSD_AUG_VL (pad the planes). */
void ssd_augment_photometric_planes(const ssd_augment_params *p, float *r, float *g, float *b,
                                    int n);

#endif

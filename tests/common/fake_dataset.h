/* An in-memory detection dataset for tests: sample i is synthesised from
 * (seed, i) alone, so it is the same in every thread and every call. Images
 * are smooth colour gradients with noise and a filled rectangle under each
 * box; boxes are pixel corners (1..max_boxes per image, or none). */
#ifndef SSD_TEST_FAKE_DATASET_H
#define SSD_TEST_FAKE_DATASET_H

#include "data/dataset.h"

#include <stdint.h>

typedef struct {
    int64_t n;              /* samples */
    int min_side, max_side; /* image width and height drawn in [min_side, max_side] */
    int num_classes;        /* including BACKGROUND; labels in [1, num_classes) */
    int max_boxes;          /* 1..max_boxes boxes per image (0: every image is a negative) */
    uint64_t seed;
    const int64_t *bad; /* indices whose get() fails as a corrupt file would */
    int n_bad;
} fake_dataset_cfg;

ssd_status fake_dataset_create(ssd_dataset **out, const fake_dataset_cfg *cfg);

/* Number of get() calls so far (all threads). */
long fake_dataset_gets(const ssd_dataset *ds);

#endif

/* Open Images datasets as `ssd download open-images` (and the reference's
 * open_images_downloader.py) writes them, read with the reference
 * OpenImagesDataset's rules (vision/datasets/open_images.py):
 *
 *   root/sub-{train,validation,test}-annotations-bbox.csv
 *        one box per row; the columns used are ImageID, ClassName and XMin,
 *        YMin, XMax, YMax (normalised to 0..1, scaled by the image size)
 *   root/{split}/{ImageID}.jpg
 *
 * Images are the ImageIDs in byte order (the reference's groupby). Training
 * reads the train split, validation and evaluation the test split.
 *
 * Differences from the reference, reported through core/log.h:
 *   - the class list is BACKGROUND + the sorted union of ClassName over every
 *     sub-*.csv present, not over the one split read, so a class missing from
 *     the test split cannot shift the validation labels;
 *   - missing or unreadable images are dropped with a warning and a count;
 *   - boxes are clamped to 0..1; empty or inverted ones are dropped;
 *   - --balance-data ignores classes with no image in the split (the
 *     reference would balance every class down to 0 images then). */
#ifndef SSD_DATA_OPEN_IMAGES_H
#define SSD_DATA_OPEN_IMAGES_H

#include "data/dataset.h"

#include <stdbool.h>
#include <stdint.h>

/* The three splits in the downloader's order. */
extern const char *const ssd_oi_splits[3];

/* BACKGROUND + the sorted union of ClassName over root's sub-*.csv files.
 * Free with ssd_labels_free (data/voc.h). */
ssd_status ssd_oi_classes(const char *root, char ***names, int *count);

/* Opens split ("train", "validation" or "test") of the dataset at root.
 * balance_data down-samples as the reference's --balance-data, drawing with seed. */
ssd_status ssd_oi_open(ssd_dataset **out, const char *root, const char *split, bool balance_data,
                       uint64_t seed);

/* Opens split of each root and concatenates them (training over several
 * --data roots); all roots must have the same classes. */
ssd_status ssd_oi_concat(ssd_dataset **out, const char *const *roots, int n, const char *split,
                         bool balance_data, uint64_t seed);

typedef struct {
    int64_t rows;          /* annotation rows read */
    int64_t listed;        /* distinct ImageIDs in the CSV */
    int64_t images;        /* the dataset size */
    int64_t missing_image; /* ImageIDs dropped: no image file */
    int64_t bad_image;     /* ImageIDs dropped: the image header is unreadable */
    int64_t objects;       /* boxes kept */
    int64_t clamped;       /* boxes clamped to 0..1 */
    int64_t rejected;      /* boxes dropped: empty or inverted */
    int64_t min_image_num; /* --balance-data's per-class image count; -1 without it */
    const char *csv_path;
} ssd_oi_stats;

/* SSD_E_INVAL if ds is not from ssd_oi_open. */
ssd_status ssd_oi_stats_get(const ssd_dataset *ds, ssd_oi_stats *stats);

#endif

/* Pascal VOC datasets, with the reference VOCDataset's rules
 * (vision/datasets/voc_dataset.py) and its crashes turned into messages:
 *
 *   root/labels.txt                one class per line (blank lines ignored);
 *                                  BACKGROUND is put first unless it already is;
 *                                  the 20 VOC classes when the file is absent
 *   root/ImageSets/Main/trainval.txt   training ids; test.txt for validation and
 *                                  evaluation; either falls back to default.txt
 *   root/Annotations/<id>.xml      objects: name, bndbox (1-based: the reader
 *                                  subtracts 1 as the reference does), difficult
 *   root/JPEGImages/<id>.<ext>     first of .jpg .JPG .jpeg .JPEG .png .PNG .bmp
 *                                  .BMP .tif .TIF .tiff .TIFF that exists
 *
 * Differences from the reference, all reported through core/log.h:
 *   - images without objects are kept (negatives) instead of dropped;
 *   - boxes reaching outside the image are clamped to it; boxes with
 *     xmin >= xmax or ymin >= ymax, or wholly outside, are dropped;
 *   - a missing or malformed XML is an error naming the file (and line);
 *   - an id whose image is missing is skipped with a warning (as the reference).
 * All XML is parsed when the dataset is opened; get() only decodes the image. */
#ifndef SSD_DATA_VOC_H
#define SSD_DATA_VOC_H

#include "data/dataset.h"

#include <stdbool.h>
#include <stdint.h>

/* The 20 Pascal VOC classes, without BACKGROUND. */
extern const char *const ssd_voc_classes[20];

/* Reads a labels.txt: names trimmed, blank lines skipped, "BACKGROUND" put at
 * index 0 unless the first name already is it. A repeated name is an error.
 * *names is an array of *count strings; free with ssd_labels_free. */
ssd_status ssd_labels_load(const char *path, char ***names, int *count);
void ssd_labels_free(char **names, int count);

/* Opens the VOC dataset at root. is_test selects test.txt (validation, eval)
 * instead of trainval.txt. label_file NULL means root/labels.txt (and the VOC
 * classes when that is absent); a given label_file must exist. */
ssd_status ssd_voc_open(ssd_dataset **out, const char *root, bool is_test, const char *label_file);

/* Opens each root and concatenates them in order (training uses every --data
 * root; validation only the last, which callers open with ssd_voc_open). All
 * roots must have the same class list. */
ssd_status ssd_voc_concat(ssd_dataset **out, const char *const *roots, int n, bool is_test,
                          const char *label_file);

/* What opening found; for messages and tests. */
typedef struct {
    int64_t listed;         /* non-empty lines in the split file */
    int64_t images;         /* usable images (the dataset size) */
    int64_t negatives;      /* usable images without any object */
    int64_t objects;        /* objects kept, difficult included */
    int64_t difficult;      /* of which difficult */
    int64_t empty_lines;    /* blank lines in the split file, skipped */
    int64_t missing_image;  /* ids without an image file, skipped */
    int64_t unknown_class;  /* objects with a name not in the class list, skipped */
    int64_t clamped;        /* boxes clamped to the image */
    int64_t rejected;       /* boxes dropped: inverted, empty or wholly outside */
    const char *split_file; /* the split file that was read */
} ssd_voc_stats;

/* SSD_E_INVAL if ds is not a VOC dataset (from ssd_voc_open). */
ssd_status ssd_voc_stats_get(const ssd_dataset *ds, ssd_voc_stats *stats);

#endif

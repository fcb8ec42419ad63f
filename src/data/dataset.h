/* A detection dataset: indexed samples of (RGB image, boxes, labels, difficult
 * flags). VOC, Open Images and the concatenation of several roots all present
 * this interface to the loader and the evaluator. */
#ifndef SSD_DATA_DATASET_H
#define SSD_DATA_DATASET_H

#include "core/status.h"
#include "data/image.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int n;              /* objects */
    float *boxes;       /* (n,4) corner (x1,y1,x2,y2) in pixels, as the reference loads them */
    int64_t *labels;    /* (n) class index into the dataset's class list (0 = BACKGROUND) */
    uint8_t *difficult; /* (n) 0/1 */
} ssd_annotation;

void ssd_annotation_free(ssd_annotation *a);

typedef struct ssd_dataset ssd_dataset;

typedef struct {
    int64_t (*size)(const ssd_dataset *ds);
    /* Annotation only (no decode): evaluation and statistics use this. keep_difficult as in
     * the reference: training drops difficult objects, evaluation keeps them flagged. */
    ssd_status (*annotation)(const ssd_dataset *ds, int64_t i, bool keep_difficult,
                             ssd_annotation *out);
    /* Decodes image i (RGB) and its annotation. Thread-safe: loader workers call it concurrently.
     */
    ssd_status (*get)(const ssd_dataset *ds, int64_t i, bool keep_difficult, ssd_image *img,
                      ssd_annotation *ann);
    /* A stable id for messages and result files (VOC: the image id). */
    const char *(*image_id)(const ssd_dataset *ds, int64_t i);
    /* Path of the image file (for messages). */
    const char *(*image_path)(const ssd_dataset *ds, int64_t i);
    void (*destroy)(ssd_dataset *ds);
} ssd_dataset_ops;

struct ssd_dataset {
    const ssd_dataset_ops *ops;
    int num_classes;    /* including BACKGROUND */
    char **class_names; /* [num_classes], [0] = "BACKGROUND" */
    void *impl;
};

static inline int64_t ssd_dataset_size(const ssd_dataset *ds) {
    return ds->ops->size(ds);
}
void ssd_dataset_destroy(ssd_dataset *ds); /* NULL-safe */

/* Concatenates datasets in order (the reference's ConcatDataset). Takes
 * ownership of parts[0..n) in every case (they are destroyed on failure).
 * All parts must have the same class list; the result uses it. */
ssd_status ssd_dataset_concat(ssd_dataset **out, ssd_dataset **parts, int n);

/* Copies a's objects into out, without the difficult ones unless keep_difficult. */
ssd_status ssd_annotation_copy(ssd_annotation *out, const ssd_annotation *a, bool keep_difficult);

#endif

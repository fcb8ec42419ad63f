/* Shared by the eval/ files: the collected ground truth and detections. */
#ifndef SSD_EVAL_INTERNAL_H
#define SSD_EVAL_INTERNAL_H

#include "eval/eval.h"

typedef struct {
    int64_t image;           /* dataset index */
    int64_t gt_off, det_off; /* into the flat arrays */
    int ngt, ndet;
} acc_image;

typedef struct {
    float box[4]; /* corner, pixels */
    int label;
    bool difficult;
} acc_gt;

struct ssd_eval_acc {
    int num_classes;
    acc_image *img;
    int64_t nimg, cap_img;
    acc_gt *gt;
    int64_t ngt, cap_gt;
    ssd_detection *det;
    int64_t ndet, cap_det;
};

/* A class's detections, gathered in image order then predictor order. */
typedef struct {
    int64_t det;  /* index into acc->det */
    int64_t slot; /* index into acc->img */
} cls_det;

/* The box as the reference matches it: written +1 to its result file, read back -1 (float32). */
static inline void eval_ref_box(float out[4], const float in[4]) {
    for (int i = 0; i < 4; i++) {
        float written = in[i] + 1.0f;
        out[i] = written - 1.0f;
    }
}

/* Detections of class cls: *out (ssd_malloc), *n. */
ssd_status eval_gather_class(const ssd_eval_acc *a, int cls, cls_det **out, int64_t *n);
/* Stable sort by score, descending. */
void eval_sort_by_score(const ssd_eval_acc *a, cls_det *d, int64_t n);

/* VOC matching, AP, curve, precision / recall / F1 of one class (fills c's VOC fields). */
ssd_status eval_voc_class(const ssd_eval_acc *a, int cls, const ssd_eval_metric_params *p,
                          ssd_eval_class *c);

/* COCO evaluation of one class. prec (A=4, T=10, R=101), filled with -1 where absent. */
#define COCO_A 4
#define COCO_T 10
#define COCO_R 101
ssd_status eval_coco_class(const ssd_eval_acc *a, int cls, double *prec);

#endif

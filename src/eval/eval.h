/* Detection metrics over a test set: the VOC average precision exactly as
 * pytorch-ssd's eval_ssd.py computes it, plus COCO-style AP@[.5:.95], AP50,
 * AP75 and AP per object size (pycocotools' algorithm), precision / recall /
 * F1 at a score threshold and a precision-recall curve per class.
 *
 * The VOC algorithm (eval_ssd.py compute_average_precision_per_class and
 * vision/utils/measurements.py): per class, detections sorted by score
 * (descending, stable: ties keep image order, then the predictor's order; the
 * reference's np.argsort(-scores) leaves the order of ties to numpy); each
 * is matched to the ground truth of its image with the highest IoU (float32,
 * no +1 pixel, eps 1e-5; the first of equal IoUs); IoU > threshold (strict) on an
 * unmatched non-difficult object is a true positive, on a matched one a false
 * positive, on a difficult one neither; IoU <= threshold, or an image without
 * objects of the class, a false positive. Boxes are compared after the
 * reference's round trip through its result file ((box + 1) - 1 in float32).
 *
 * Where the reference crashes or returns NaN this code reports instead:
 *   - a class without non-difficult objects in the test set (KeyError there)
 *     is "absent": listed with AP NaN and left out of the means;
 *   - detections ranked above every true/false positive that hit difficult
 *     objects make the reference's first precisions 0/0 and its VOC07 AP NaN;
 *     here ignored detections are left out of the curve, which gives the
 *     reference's value in every case where that value is a number. */
#ifndef SSD_EVAL_EVAL_H
#define SSD_EVAL_EVAL_H

#include "box/box.h"
#include "core/status.h"
#include "data/dataset.h"

#include <stdbool.h>
#include <stdint.h>

struct ssd_model;

typedef struct {
    double iou_threshold;   /* 0.5: a true positive needs IoU > this */
    bool use_2007_metric;   /* true: VOC07 11-point AP; false: area under the envelope */
    double score_threshold; /* 0.5: where precision, recall and F1 are read */
} ssd_eval_metric_params;

void ssd_eval_metric_params_default(ssd_eval_metric_params *p);

/* COCO-style numbers: -1 where pycocotools reports -1 (no ground truth in that size range). */
typedef struct {
    double ap;                            /* AP@[.5:.95], 101-point interpolation */
    double ap50, ap75;                    /* at IoU 0.5 and 0.75 */
    double ap_small, ap_medium, ap_large; /* area < 32^2, 32^2..96^2, > 96^2 pixels */
} ssd_coco_ap;

typedef struct {
    char *name;
    int64_t num_gt;        /* non-difficult objects */
    int64_t num_difficult; /* difficult objects (neither counted nor penalised) */
    int64_t num_det;       /* detections (predictor output) */
    bool present;          /* num_gt > 0: the class counts in the means */
    double ap;             /* the chosen VOC metric (NaN when absent) */
    double ap_voc07, ap_voc_area;
    ssd_coco_ap coco;
    /* At the score threshold (detections with score >= threshold), VOC matching. */
    int64_t tp, fp;
    double precision, recall, f1;
    /* The best F1 over all score thresholds, and the threshold (lowest score kept). */
    double best_f1, best_f1_threshold;
    /* The precision-recall curve, one point per counted detection in score order. */
    int curve_n;
    double *curve_precision, *curve_recall;
} ssd_eval_class;

typedef struct {
    ssd_eval_metric_params params;
    int num_classes;         /* including BACKGROUND */
    ssd_eval_class *classes; /* [num_classes]; [0] (BACKGROUND) is empty */
    int num_present;         /* classes counted in the means */
    double map;              /* mean of the chosen AP over present classes (NaN if none) */
    double map_voc07, map_voc_area;
    ssd_coco_ap coco;       /* pycocotools' means over classes, IoUs and recall points */
    int64_t num_gt, tp, fp; /* micro totals at the score threshold, all classes */
    double precision, recall, f1;
    int64_t images;  /* images evaluated */
    int64_t skipped; /* images that failed to load and were left out */
    double seconds;  /* network + post-processing time */
    double images_per_s;
} ssd_eval_results;

void ssd_eval_results_free(ssd_eval_results *r); /* NULL-safe, idempotent */

/* --- the metrics over collected detections ----------------------------------- */

/* Ground truth and detections, image by image. */
typedef struct ssd_eval_acc ssd_eval_acc;

ssd_status ssd_eval_acc_create(ssd_eval_acc **out, int num_classes);
void ssd_eval_acc_destroy(ssd_eval_acc *a);
/* One image: its annotation with difficult objects kept, and the predictor's detections
 * (boxes in the image's pixels, grouped by class as ssd_predict returns them). `image` is
 * the dataset index, used for the result files. Images count in the order added. */
ssd_status ssd_eval_acc_add(ssd_eval_acc *a, int64_t image, const ssd_annotation *gt,
                            const ssd_detection *det, int n);
int64_t ssd_eval_acc_images(const ssd_eval_acc *a);
/* Every metric. class_names: [num_classes] (may be NULL: "class<i>"). */
ssd_status ssd_eval_acc_compute(const ssd_eval_acc *a, const char *const *class_names,
                                const ssd_eval_metric_params *p, ssd_eval_results *r);
/* eval_ssd.py's result files: dir/det_test_<class>.txt for every class >= 1, lines
 * "image_id\tscore\tx1\ty1\tx2\ty2" in image order, boxes + 1 (1-based), numbers as numpy
 * prints float32. */
ssd_status ssd_eval_acc_write_dets(const ssd_eval_acc *a, const ssd_dataset *ds, const char *dir);

/* The VOC AP of a precision/recall curve (measurements.py). */
double ssd_eval_ap_voc07(const double *precision, const double *recall, int n);
double ssd_eval_ap_area(const double *precision, const double *recall, int n);

/* --- running a model over a dataset ------------------------------------------ */

typedef struct {
    ssd_eval_metric_params metric;
    ssd_predict_params predict; /* prob 0.01, NMS IoU 0.45, 200 candidates, all kept, hard */
    int batch_size;             /* 8 */
    int workers;                /* loader threads (0: decode in the calling thread) */
    const char *eval_dir;       /* NULL: no files; else det_test_*.txt (+ curves) there */
    bool pr_curves;             /* eval_dir/pr_<class>.png */
    bool progress;              /* a progress bar on a terminal, debug lines otherwise */
} ssd_eval_params;

void ssd_eval_params_default(ssd_eval_params *p);

/* Runs the model (in batches, the loader's test transform) over every image of ds,
 * post-processes each with ssd_predict (boxes in the original image's pixels) and
 * computes the metrics. ds must have the model's classes. The model is left in the state
 * it was in (its activations are overwritten). */
ssd_status ssd_eval_run(struct ssd_model *m, const ssd_dataset *ds, const ssd_eval_params *p,
                        ssd_eval_results *r);

/* --- reporting --------------------------------------------------------------- */

/* The reference's lines through ssd_info ("Average Precision Per-class:", "    <class>: <ap>",
 * "Mean Average Precision (mAP):  <map>", prefixed by `prefix`), then the COCO-style lines
 * and precision / recall / F1 at the score threshold. */
void ssd_eval_log(const ssd_eval_results *r, const char *prefix);

/* metrics.json. `meta` is a NULL-terminated list of key, value string pairs written
 * first (net, model, dataset, ...). */
ssd_status ssd_eval_write_json(const ssd_eval_results *r, const char *path,
                               const char *const *meta);

/* A precision-recall curve of one class as a PNG: axes, grid, the curve and its
 * interpolated envelope, a title with the AP. */
ssd_status ssd_eval_plot_pr(const ssd_eval_class *c, bool use_2007_metric, const char *path);
/* The PNG file name of a class's curve ("pr_<class>.png", unsafe characters replaced). */
void ssd_eval_pr_filename(const char *class_name, char *buf, size_t n);

/* numpy's str() of a float32 (shortest round-trip digits, repr-style layout). */
char *ssd_np_float32_str(float v, char *buf, size_t n);

#endif

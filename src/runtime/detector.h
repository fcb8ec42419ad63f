/* A detector for `ssd detect`: one SSD, either an ONNX graph run by the
 * runtime (scores after softmax and boxes as normalised corners, the layout
 * of pytorch-ssd's export) or a .pth checkpoint run by the model code (the
 * softmax and the box decoding done here, as the exported graph does them),
 * behind one call that turns preprocessed images into scores and boxes; and
 * the two post-processings: the predictor's per-class NMS (what `ssd eval`
 * measures) and detectnet's merge-by-overlap clustering. */
#ifndef SSD_RUNTIME_DETECTOR_H
#define SSD_RUNTIME_DETECTOR_H

#include "box/box.h"
#include "core/status.h"
#include "data/augment.h"
#include "tensor/backend.h"

#include <stdbool.h>

typedef struct ssd_detector ssd_detector;

typedef struct {
    const char *model;       /* .onnx, or a .pth state_dict */
    const char *net;         /* .pth only: "mb1-ssd" */
    int num_classes;         /* .pth only, BACKGROUND included */
    int resolution;          /* .pth only; 0 = 300 */
    double width_mult;       /* .pth only: --mb2-width-mult; 0 = 1.0 */
    const char *input_blob;  /* ONNX tensor names; NULL: the graph's input / "scores" / "boxes" */
    const char *output_cvg;  /* scores (N,K,C) */
    const char *output_bbox; /* boxes (N,K,4) */
    const char *backend;     /* NULL: "cpu" */
    ssd_precision precision; /* the convs' arithmetic (ssd_onnx_set_precision,
                                ssd_model_set_precision); fp32 (0) */
} ssd_detector_cfg;

/* Errors name the model file, and for a missing tensor its name and the names there are. */
ssd_status ssd_detector_open(ssd_detector **out, const ssd_detector_cfg *cfg);
void ssd_detector_destroy(ssd_detector *d);

int ssd_detector_num_classes(const ssd_detector *d);
int ssd_detector_num_priors(const ssd_detector *d);
/* Input size and normalisation: the ONNX metadata's (resolution, mean, std) when present, else
 * the input's declared size and mean 127 / std 128 (the checkpoint's config for a .pth). */
const ssd_transform_cfg *ssd_detector_transform(const ssd_detector *d);
/* Batch size the graph is fixed at, or 0 when any batch runs (a .pth, a symbolic batch). */
int ssd_detector_fixed_batch(const ssd_detector *d);
/* Class names stored in the ONNX metadata (newline-separated), or NULL. */
const char *ssd_detector_meta_labels(const ssd_detector *d);

/* x: n preprocessed images (n,3,S,S). Writes scores (n,K,C) after softmax and boxes (n,K,4)
 * normalised corners. With a fixed graph batch B, n must be B (pad the batch). */
ssd_status ssd_detector_run(ssd_detector *d, const float *x, int n, float *scores, float *boxes);

typedef struct {
    float threshold;  /* minimum class score */
    bool clustering;  /* detectnet's merge instead of NMS */
    float cluster;    /* overlap that merges two boxes (detectnet's --clustering, 0.75) */
    float iou;        /* NMS IoU (0.45, the predictor's) */
    int top_k;        /* NMS: per class, <= 0 all */
    int candidates;   /* NMS candidate size (200) */
    const bool *skip; /* per class, or NULL: classes never reported (detectnet skips "void") */
} ssd_detect_post;

/* The predictor's NMS, no clustering, threshold 0.5. */
void ssd_detect_post_default(ssd_detect_post *p);

/* One image: scores (K,C), boxes (K,4) normalised corners, the original w x h. Boxes come back
 * in pixels clamped to the image: [0, w] x [0, h] after NMS (in the predictor's order: by class,
 * then score), [0, w-1] x [0, h-1] after clustering (detectnet's; then sorted by area, largest
 * first). *out is ssd_malloc'ed (NULL when *n is 0).
 *
 * NMS: per class >= 1, scores > threshold (the predictor's strict test), hard NMS.
 * Clustering (detectnet's postProcessSSD_ONNX): each prior takes its best class >= 1 among
 * scores >= threshold; a box whose intersection with an earlier box of the same class exceeds
 * `cluster` times the larger of the two areas is merged into it (union box, max score). */
ssd_status ssd_detect_postprocess(ssd_detection **out, int *n, const float *scores,
                                  const float *boxes, int k, int c, int w, int h,
                                  const ssd_detect_post *p);

#endif

/* Box math of SSD: priors, IoU, matching, encoding with variances, NMS.
 * Boxes are float[4]; "corner" form is (x1, y1, x2, y2), "center" form is
 * (cx, cy, w, h); priors and targets are normalised to [0, 1]. Semantics
 * follow pytorch-ssd's vision/utils/box_utils.py (see the reference notes). */
#ifndef SSD_BOX_BOX_H
#define SSD_BOX_BOX_H

#include "core/status.h"
#include "tensor/backend.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int feature_map_size; /* fm x fm cells */
    float shrinkage;      /* image_size / scale; pixels per cell */
    /* double: the derived sizes (e.g. 320*37/100 = 118.4) are Python floats in the reference and
     * must not be rounded to float before the prior arithmetic. */
    double min_size, max_size;
    int aspect_ratios[4];
    int n_ratios;
} ssd_prior_spec;

/* Priors in the reference order, center form, optionally clamped to [0,1].
 * *out is (K,4), allocated with ssd_malloc; *k receives K. */
ssd_status ssd_priors_generate(const ssd_prior_spec *specs, int n_specs, int image_size, bool clamp,
                               float **out, int *k);
int ssd_priors_count(const ssd_prior_spec *specs, int n_specs);

/* The mobilenetv1 config (mb1-ssd, mb1-ssd-lite, mb2-ssd-lite): the fixed table at 300, or the
 * specs derived by set_image_size(size, 20, 90) from the 6 feature-map sizes of the net. */
void ssd_priors_specs_mobilenetv1(int image_size, const int feature_maps[6], ssd_prior_spec out[6]);
/* vgg_ssd_config (8732 priors at 300) and squeezenet_ssd_config (2568): their tables at 300
 * (feature_maps unused, may be NULL), else derived from the real feature maps as above. */
void ssd_priors_specs_vgg(int image_size, const int feature_maps[6], ssd_prior_spec out[6]);
void ssd_priors_specs_squeezenet(int image_size, const int feature_maps[6], ssd_prior_spec out[6]);

void ssd_box_center_to_corner(float *dst, const float *src, int n);
void ssd_box_corner_to_center(float *dst, const float *src, int n);
/* IoU of two corner boxes, with the reference's eps (1e-5) in the denominator. */
float ssd_box_iou(const float *a, const float *b);

/* assign_priors: each prior takes its best ground truth; each ground truth's best prior is forced
 * to it (a later ground truth wins a shared prior); priors whose best IoU < iou_threshold become
 * background (label 0). Equal IoUs pick the first index, as torch's max does.
 * gt (G,4) corner; priors_corner (K,4); out_boxes (K,4) corner; out_labels (K).
 * G == 0 gives all background with zero boxes (the reference cannot take G == 0).
 * O(K*G) time, no allocation (safe in loader workers). */
void ssd_box_assign_priors(float *out_boxes, int64_t *out_labels, const float *gt,
                           const int64_t *gt_labels, int g, const float *priors_corner, int k,
                           float iou_threshold);

/* Encode corner boxes against center priors: ((c - pc)/pwh)/cv, log(wh/pwh)/sv -> (K,4). */
void ssd_box_encode(float *loc, const float *boxes_corner, const float *priors_center, int k,
                    float center_variance, float size_variance);
/* Decode locations to center-form boxes (convert with ssd_box_center_to_corner). */
void ssd_box_decode(float *boxes_center, const float *loc, const float *priors_center, int k,
                    float center_variance, float size_variance);

/* Hard NMS as box_utils.hard_nms: sort by score (descending, stable), keep at most
 * candidate_size candidates (<= 0: all), greedily keep boxes with IoU <= iou_threshold against
 * kept ones, stop after top_k (<= 0: all). Writes kept indices (into the inputs) to keep, which
 * must have room for n (it is the work space); returns count. */
int ssd_nms_hard(int *keep, const float *boxes, const float *scores, int n, float iou_threshold,
                 int top_k, int candidate_size);
/* Soft NMS as box_utils.soft_nms (gaussian, scores *= exp(-iou^2/sigma) after each pick),
 * dropping rescored boxes whose score is not > score_threshold (the input itself is not
 * filtered); stops after top_k (<= 0: all). Writes kept indices and their scores when picked;
 * keep and kept_scores must have room for n (work space); returns count. */
int ssd_nms_soft(int *keep, float *kept_scores, const float *boxes, const float *scores, int n,
                 float score_threshold, float sigma, int top_k);

typedef struct {
    float box[4]; /* corner, pixels of the original image */
    int label;    /* class index, >= 1 */
    float prob;
} ssd_detection;

typedef struct {
    float iou_threshold;  /* 0.45 */
    float prob_threshold; /* 0.01 (eval) / 0.4 (example) */
    int candidate_size;   /* 200 */
    int top_k;            /* -1: all */
    bool soft;            /* soft NMS (sigma) instead of hard */
    float sigma;          /* 0.5 */
} ssd_predict_params;

/* The predictor's post-processing for one image: scores (K,C) after softmax, boxes (K,4)
 * corner normalised. Per class >= 1: prob > prob_threshold (strict), NMS; boxes scaled to
 * width x height. top_k limits each class separately (Predictor.predict passes it to nms per
 * class and never cuts the total). Results grouped by class in increasing class order, as the
 * reference returns them, each class in NMS pick order.
 * *out allocated with ssd_malloc (may be NULL when *n == 0). */
ssd_status ssd_predict(ssd_detection **out, int *n, const float *scores, const float *boxes, int k,
                       int c, int width, int height, const ssd_predict_params *p);

/* Multibox loss over a batch, as vision/nn/multibox_loss.py: hard negative mining per image
 * (neg_pos_ratio negatives per positive, by background loss), cross-entropy summed over the
 * kept priors, smooth-L1 over positives, both divided by the number of positives in the batch.
 * An image without positives keeps no negatives either. Beyond the reference: with no positives
 * in the batch the divisor is 1, so losses and gradients are 0 instead of NaN.
 * Labels must lie in [0, C) (SSD_E_INVAL otherwise).
 * conf (N,K,C) logits, loc (N,K,4), labels (N,K), gt_loc (N,K,4).
 * dconf/dloc (same shapes) receive d(loss)/d(input) of reg+cls when non-NULL. */
ssd_status ssd_multibox_loss(double *reg_loss, double *cls_loss, float *dconf, float *dloc,
                             const float *conf, const float *loc, const int64_t *labels,
                             const float *gt_loc, int n, int k, int c, int neg_pos_ratio);

/* What ssd_multibox_loss_on keeps between calls: the targets on the device (backends with a
 * loss op), or host copies of the heads and their gradients (the others). Zero-initialise. */
typedef struct {
    ssd_tensor labels, gt_loc;
    float *conf, *loc, *dconf, *dloc;
    size_t cap; /* N*K of the host copies */
} ssd_loss_ws;
void ssd_loss_ws_free(ssd_loss_ws *ws);

/* ssd_multibox_loss on a backend's tensors: conf (N,K,C) and loc (N,K,4) as the model's heads
 * left them, the targets labels (N,K) and gt_loc (N,K,4) on the host. dconf and dloc (both NULL:
 * no gradient) become tensors of conf's backend and shapes holding the gradients. Runs on the
 * backend where it has the loss (ops->multibox_loss), so nothing but the targets and two losses
 * cross to or from a device; elsewhere on host copies. */
ssd_status ssd_multibox_loss_on(ssd_loss_ws *ws, double *reg_loss, double *cls_loss,
                                ssd_tensor *dconf, ssd_tensor *dloc, const ssd_tensor *conf,
                                const ssd_tensor *loc, const int64_t *labels, const float *gt_loc,
                                int neg_pos_ratio);

#endif

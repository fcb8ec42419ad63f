/* Offline pretrained weights for mb1-ssd from the TensorFlow Object Detection
 * API's ssd_mobilenet_v1 as TensorFlow.js ships it (face-api's
 * SSD-MobileNetV1; see data/pretrained/face-api-ssd-mobilenetv1/SOURCE.md).
 *
 * Mapping onto mb1-ssd's state_dict:
 *   MobilenetV1/Conv2d_0_pointwise        -> base_net.0.0 (3x3/2 conv), base_net.0.1 (BN)
 *   MobilenetV1/Conv2d_<i>_depthwise      -> base_net.<i>.0 (depthwise), base_net.<i>.1 (BN)
 *   MobilenetV1/Conv2d_<i>_pointwise      -> base_net.<i>.3 (1x1 conv), base_net.<i>.4 (BN)
 *   Prediction/Conv2d_<2j>_pointwise      -> extras.<j>.0 (1x1, bias)
 *   Prediction/Conv2d_<2j+1>_pointwise    -> extras.<j>.2 (3x3/2, bias)
 * Kernels go from HWIO to OIHW, depthwise [kh,kw,C,1] to [C,1,kh,kw].
 * Depthwise batch norms keep their statistics, with TensorFlow's eps (1e-3)
 * folded into the variance for PyTorch's 1e-5. The pointwise convolutions
 * carry their batch norm folded into the weights (only an offset remains):
 * that BN becomes an identity (weight 1, bias offset, mean 0, var 1 - eps),
 * or, better for fine-tuning, is calibrated on images (see below). Extra
 * layers keep the offset as their bias. Layers whose shapes differ stay as
 * the model has them and are reported; the heads are not converted.
 *
 * Numerical differences that remain against the TensorFlow graph: it clips
 * with ReLU6 where mb1-ssd has ReLU, and its SAME padding of stride-2
 * convolutions pads bottom/right only (identical to PyTorch's padding 1 when
 * the input size is odd). */
#ifndef SSD_MODELS_IMPORT_TFJS_H
#define SSD_MODELS_IMPORT_TFJS_H

#include "formats/tfjs.h"
#include "models/model.h"

#define SSD_TFJS_TF_BN_EPS 1e-3

typedef struct {
    int converted; /* model tensors written from the file */
    /* model layers left as they were because the file's shapes differ, each
     * "extras.3.0: weight [128, 256, 1, 1] in the model, [64, 256, 1, 1] from
     * Prediction/Conv2d_6_pointwise/weights" */
    char **fresh;
    int nfresh;
    /* file tensors not used (heads, pre/post-processing constants, mismatched layers) */
    char **unused;
    int nunused;
    /* the batch norms written in identity form (their conv has BN folded in) */
    char **folded;
    int nfolded;
    int calib_images; /* images the folded batch norms were calibrated on; 0 = identity form */
} ssd_tfjs_report;

void ssd_tfjs_report_free(ssd_tfjs_report *r);

/* Copies the file's backbone and extras into m (an mb1-ssd). Every tensor the
 * mapping needs must be in the file (one message lists all that are not). */
ssd_status ssd_mb1_import_tfjs(ssd_model *m, const ssd_tfjs_weights *w, ssd_tfjs_report *r);

/* Calibration of the folded batch norms (the report's `folded` list): run
 * batches through the base net in eval mode and measure each one's
 * per-channel input mean and (population) variance; then re-express the BN
 * with those as running statistics and the same eval-mode function. From the
 * identity form that is weight = sqrt(var + eps), bias = offset + mean,
 * running_mean = mean, running_var = var. In training mode the batch
 * statistics then normalise to what the folded weights expect instead of
 * throwing their scale away (exactly so on the calibration batch itself). */
typedef struct ssd_bn_calib ssd_bn_calib;
ssd_status ssd_bn_calib_create(ssd_bn_calib **out, ssd_model *m, const ssd_tfjs_report *r);
/* x: (N, 3, R, R), preprocessed as the model expects. */
ssd_status ssd_bn_calib_add(ssd_bn_calib *c, const ssd_tensor *x);
/* Writes the calibrated parameters into the model. */
ssd_status ssd_bn_calib_apply(ssd_bn_calib *c);
void ssd_bn_calib_destroy(ssd_bn_calib *c);

/* mb1-ssd's test transform: bilinear resize (OpenCV INTER_LINEAR's sampling)
 * to R x R, (px - mean) / std, HWC RGB to CHW, into out[3*R*R]. */
void ssd_preprocess_image(const uint8_t *rgb, int w, int h, int r, const float mean[3], float std,
                          float *out);

/* The whole conversion behind `ssd convert tfjs`. */
typedef struct {
    const char *manifest;
    const char *out; /* .pth: the state_dict without the heads */
    const char
        *calib_dir;      /* images (jpg, jpeg, png, bmp) for the calibration; NULL: identity form */
    int calib_max;       /* at most this many images, in sorted name order (0: 64) */
    int batch;           /* calibration batch size (0: 8) */
    uint64_t seed;       /* initialisation of the layers that are not converted */
    const char *backend; /* "cpu", "ref" */
} ssd_tfjs_convert_opts;

ssd_status ssd_tfjs_convert(const ssd_tfjs_convert_opts *o, ssd_tfjs_report *r);

#endif

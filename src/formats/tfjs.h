/* TensorFlow.js weights: a manifest (JSON) and the binary weight files it
 * names, as `tf.io` writes them.
 *
 * The manifest is either a list of groups or a model.json object holding one
 * under "weightsManifest". A group is {"paths": [files...], "weights":
 * [{"name", "shape", "dtype", "quantization"?}...]}; its files, concatenated
 * in order, hold its tensors back to back. Paths are relative to the
 * manifest's folder. Supported: dtype float32, int32 and bool; quantization
 * uint8 and uint16 (value = min + scale * q, rounded for int32) and float16.
 * The bytes must add up exactly: a short file or bytes left over is an error
 * naming the file and the tensor. */
#ifndef SSD_FORMATS_TFJS_H
#define SSD_FORMATS_TFJS_H

#include "core/status.h"
#include "tensor/tensor.h"

typedef struct {
    char *name;
    ssd_dtype dtype; /* SSD_F32 (float32), SSD_I32 (int32) or SSD_U8 (bool) */
    int ndim;
    int64_t shape[SSD_MAX_DIMS]; /* TensorFlow's order: conv kernels HWIO */
    void *data;                  /* numel values of dtype, dequantised */
    const char *quant;           /* "uint8", "uint16", "float16" or NULL (stored as dtype) */
} ssd_tfjs_tensor;

typedef struct {
    int count;
    ssd_tfjs_tensor *t; /* in manifest order */
} ssd_tfjs_weights;

ssd_status ssd_tfjs_load(ssd_tfjs_weights *w, const char *manifest_path);
void ssd_tfjs_free(ssd_tfjs_weights *w);
/* NULL if absent. */
const ssd_tfjs_tensor *ssd_tfjs_find(const ssd_tfjs_weights *w, const char *name);
int64_t ssd_tfjs_numel(const ssd_tfjs_tensor *t);

#endif

/* ONNX files: the writer for an SSD model (what onnx_export.py produces) and
 * the protobuf plumbing shared with the runtime's reader. The wire format is
 * protobuf-c code generated at build time from the installed onnx.proto.
 *
 * The exported graph is the reference's is_test graph:
 *   input  "input_0" (N,3,R,R) float, already normalised ((px - mean) / std)
 *   output "scores"  (N,K,L) softmax over the classes (class 0 = BACKGROUND)
 *   output "boxes"   (N,K,4) corner form (x1,y1,x2,y2), normalised, not clamped
 * with the priors baked in and no NMS. Batch norm stays as separate
 * BatchNormalization nodes (the initializers keep their state_dict names);
 * the runtime folds them into the convolutions. metadata_props carry labels
 * (newline-separated), net, resolution, mean (3 values), std and variances
 * (center,size), so a consumer cannot pair the file with the wrong config. */
#ifndef SSD_FORMATS_ONNX_H
#define SSD_FORMATS_ONNX_H

#include "core/status.h"
#include "models/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSD_ONNX_OPSET_MIN     11
#define SSD_ONNX_OPSET_MAX     17
#define SSD_ONNX_OPSET_DEFAULT 13

typedef struct {
    int opset;                 /* SSD_ONNX_OPSET_MIN..MAX; 0 = default */
    int batch;                 /* fixed batch dimension (>= 1); ignored with dynamic_batch */
    bool dynamic_batch;        /* batch dimension is the symbol "batch" */
    const char *const *labels; /* class names, labels[0] = BACKGROUND; may be NULL */
    int nlabels;
} ssd_onnx_export_opts;

/* Writes m (inference mode: running BN statistics) to path, atomically. */
ssd_status ssd_onnx_export(const ssd_model *m, const ssd_onnx_export_opts *o, const char *path);

/* Encodes the model into a fresh buffer (ssd_free) instead of a file. */
ssd_status ssd_onnx_export_mem(const ssd_model *m, const ssd_onnx_export_opts *o, uint8_t **data,
                               size_t *len);

/* protobuf-c allocator over core/mem.h, so fault injection reaches the decoder. */
struct ProtobufCAllocator;
struct ProtobufCAllocator *ssd_onnx_pb_allocator(void);

#endif

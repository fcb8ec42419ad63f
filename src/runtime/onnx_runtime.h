/* An inference engine for ONNX files: ours (ssd export) and those that
 * torch.onnx.export writes for the SSD nets, opsets 9 to 23 (ReduceMean-18 takes its axes as an
 * input; 19-23 only add types).
 *
 * Loading decodes the protobuf, checks every node (all unsupported operators
 * are listed in one message), evaluates Constant nodes and constant
 * subgraphs, folds BatchNormalization into the preceding Conv and fuses a
 * following Relu / Clip(0,6) into it, and uploads the weights to the backend.
 * The first run for an input shape plans the graph for it: shape inference,
 * folding of what only depends on shapes (the Shape -> Gather -> Unsqueeze ->
 * Concat chains PyTorch writes before a Reshape), and the choice of kernel
 * per node (backend ops; host kernels for the small element-wise and
 * data-movement ops). Activations are allocated by that first run and reused
 * by every later run of the same shape.
 *
 * The graph has exactly one non-constant input, a float tensor. Host kernels
 * read and write backend storage directly where the host can address it (ref,
 * cpu); on a device backend (cuda) they work on host copies, staged with get
 * and set (for mb1-ssd: the box decoding's small tensors). */
#ifndef SSD_RUNTIME_ONNX_RUNTIME_H
#define SSD_RUNTIME_ONNX_RUNTIME_H

#include "core/status.h"
#include "tensor/backend.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ssd_onnx_model ssd_onnx_model;

/* Errors name the file (the first line of the message starts with path). */
ssd_status ssd_onnx_load(ssd_onnx_model **out, const char *path, ssd_backend *be);
/* Same from memory; `name` stands for the file in messages. */
ssd_status ssd_onnx_load_mem(ssd_onnx_model **out, const uint8_t *data, size_t len,
                             const char *name, ssd_backend *be);
void ssd_onnx_destroy(ssd_onnx_model *m);

/* The input's name and declared shape; a symbolic or unknown dimension is -1. */
const char *ssd_onnx_input_name(const ssd_onnx_model *m);
int ssd_onnx_input_dims(const ssd_onnx_model *m, int64_t dims[SSD_MAX_DIMS]);

int ssd_onnx_num_outputs(const ssd_onnx_model *m);
const char *ssd_onnx_output_name(const ssd_onnx_model *m, int i);
/* Index of the output called name, or -1. */
int ssd_onnx_output_index(const ssd_onnx_model *m, const char *name);

/* metadata_props value for key, or NULL. */
const char *ssd_onnx_metadata(const ssd_onnx_model *m, const char *key);

/* The convs' arithmetic. fp32 (the default) matches ONNX Runtime to 1e-6.
 * bf16: every conv rounds its input and weights to bfloat16 and sums in
 * float32 (bias, activation, softmax and box decoding stay float32), and a
 * conv output only convs read stays bfloat16: 8 significant bits (TensorRT's
 * FP16 keeps 11), half the memory traffic and, with AVX512_BF16 or AMX, twice
 * the multiply rate. Needs a backend with bfloat16 convs (cpu on
 * such a CPU; ref emulates). tf32 / fp16 go to the backend's own setting
 * (ssd_backend_set_precision). Errors name the file and what is missing. */
ssd_status ssd_onnx_set_precision(ssd_onnx_model *m, ssd_precision p);

/* Runs the graph on x (float32; any backend layout). Plans on the first call
 * and whenever x's shape changes. */
ssd_status ssd_onnx_run(ssd_onnx_model *m, const ssd_tensor *x);
/* Output i of the last run, borrowed until the next run or destroy. */
const ssd_tensor *ssd_onnx_output(const ssd_onnx_model *m, int i);
/* Copies output i of the last run out as plain float32 (numel floats). */
ssd_status ssd_onnx_output_get(const ssd_onnx_model *m, int i, float *host);

/* For tests: stage host kernels' inputs and outputs through get / set even on
 * a host backend, as on a device one. */
void ssd_onnx_stage_host(ssd_onnx_model *m, bool on);

/* How the loaded graph was transformed (for tests and -v logs). */
typedef struct {
    int nodes;             /* nodes in the file */
    int folded;            /* evaluated at load time (constants) */
    int bn_folded;         /* BatchNormalization folded into Conv */
    int act_fused;         /* Relu/Clip fused into Conv or BatchNormalization */
    int head_permutes;     /* Transpose + Reshape pairs run as one head permute (last plan) */
    int heads_merged;      /* class + box head convs of one scale run as one conv (last plan) */
    int steps;             /* kernels executed per run (last plan) */
    int convs_bf16;        /* convs run in bfloat16 (precision bf16; last plan) */
    int convs_bf16_y;      /* of those, the ones whose output stays bfloat16 (only convs read it) */
    int shared_values;     /* values computed into pooled buffers (after the plan's first run) */
    int shared_buffers;    /* the pool's buffers */
    size_t shared_bytes;   /* the pool's bytes */
    size_t unshared_bytes; /* what those values took with storage of their own */
} ssd_onnx_stats;
void ssd_onnx_get_stats(const ssd_onnx_model *m, ssd_onnx_stats *s);

/* Per-kernel wall time, for finding where a run's time goes (bench_infer
 * --profile). Off by default; switching it on or off zeroes the sums. */
void ssd_onnx_set_profile(ssd_onnx_model *m, bool on);
typedef struct {
    const char *node; /* the node's name (the first of a fused group) */
    const char *op;   /* its ONNX operator */
    const char *kind; /* the kernel: "conv", "head", "host", ... */
    double ms;        /* wall time, summed over runs */
    double cpu_ms;    /* process CPU time (all threads), summed over runs */
    long runs;
    double macs;   /* conv: multiply-accumulates per run (0 for other kernels) */
    char geom[48]; /* conv: "CxHxW>O k3 s1", for reading the profile */
} ssd_onnx_prof;
/* Kernels of the current plan in execution order, with times since
 * ssd_onnx_set_profile; *out borrowed until the next plan or destroy. Returns
 * the count. */
int ssd_onnx_profile(const ssd_onnx_model *m, const ssd_onnx_prof **out);

#endif

/* The backend interface: one vtable of ops per backend (reference, cpu, cuda).
 *
 * Conventions shared by every op:
 * - Outputs come first, then inputs, then a params struct.
 * - Inputs may be in any layout the backend knows; outputs are written in the
 *   layout the backend prefers. An output tensor needs no preparation: the op
 *   sets its shape and dtype and (re)allocates storage only when the current
 *   storage is too small or of the wrong layout, so a layer that keeps its
 *   output tensors across steps allocates once per shape.
 * - Backward ops overwrite their outputs (they do not accumulate). Where a
 *   value feeds two consumers the caller sums the two gradients with `add`.
 * - Backward ops get the forward inputs (and saved outputs/workspaces) again;
 *   they use them for shapes and as primitive hints.
 * - Every op returns SSD_OK or a status with a message; unsupported configs
 *   return SSD_E_UNSUPPORTED (and supports() says so beforehand). */
#ifndef SSD_TENSOR_BACKEND_H
#define SSD_TENSOR_BACKEND_H

#include "tensor/tensor.h"

typedef enum {
    SSD_OP_CONV2D,
    SSD_OP_BATCHNORM,
    SSD_OP_ACT,
    SSD_OP_MAXPOOL,
    SSD_OP_ADD,
    SSD_OP_CONCAT,
    SSD_OP_SOFTMAX,
    SSD_OP_HEAD_PERMUTE,
    SSD_OP_L2NORM,
    SSD_OP_GAP,   /* global average pool (AdaptiveAvgPool2d(1)) */
    SSD_OP_SCALE, /* per-(n, c) scale, the squeeze-excite multiply */
    SSD_OP__COUNT
} ssd_op;

/* As PyTorch and pytorch-ssd's MobileNetV3 compute them: hardswish(x) =
 * x * relu6(x + 3) / 6, hardsigmoid(x) = relu6(x + 3) / 6, with autograd's
 * gradients of those expressions (relu6 passes gradient for 0 < x+3 < 6 only,
 * so d hardswish = relu6(x+3)/6 + x/6 inside, 0 at x = -3, 1 at x = 3).
 * Ops with a fused activation (conv, BN) take NONE, RELU and RELU6 only. */
typedef enum {
    SSD_ACT_NONE = 0,
    SSD_ACT_RELU,
    SSD_ACT_RELU6,
    SSD_ACT_HARDSWISH,
    SSD_ACT_HARDSIGMOID
} ssd_act;

/* The precision of an inference conv (conv2d_infer only; training is float32;
 * ssd_precision below is the backend-wide setting, this one is per conv).
 * BF16: x and w rounded to bfloat16 (to nearest even), products summed in
 * float32, bias and activation in float32; BF16_Y: y rounded to bfloat16 as
 * well, for a y that only other bfloat16 convs read (the backend may store
 * it in 16 bits). A backend that computes them natively says so for
 * ssd_backend_has(be, SSD_OP_CONV2D, SSD_BF16, params). Like TensorRT's
 * precision flags they permit rather than require: a conv whose float32
 * algorithm is faster (cpu: Winograd on large maps) may run in float32,
 * with float32's results. */
typedef enum { SSD_CONV_F32 = 0, SSD_CONV_BF16, SSD_CONV_BF16_Y } ssd_conv_prec;

typedef struct {
    int stride[2];   /* (h, w) */
    int pad[2];      /* symmetric, (h, w), as PyTorch's padding= */
    int dilation[2]; /* (h, w); 1 = none */
    int groups;      /* 1 = dense; == C_in == C_out: depthwise */
    ssd_act act; /* activation fused after the conv (forward only; backward takes dy after it) */
    ssd_conv_prec prec; /* conv2d_infer only; F32 (0) elsewhere */
} ssd_conv2d_params;

typedef struct {
    double eps;      /* 1e-5 as PyTorch */
    double momentum; /* 0.1 as PyTorch: running = (1-m)*running + m*batch (unbiased var) */
    bool training;   /* batch statistics + running update, else running statistics */
    ssd_act act;     /* activation fused after the normalisation */
    /* Training mode only: the output is recomputed from the given save_mean and
     * save_invstd (as an earlier training forward on the same x wrote them)
     * instead of from batch statistics; save_* are then inputs and the running
     * statistics are neither read nor written (they may be NULL). Given the ws
     * that forward wrote (or on a backend without one), the result is bitwise
     * the training forward's output and ws is left as bn_bwd expects it, so
     * backward gives bitwise the same gradients. Lets a graph drop BN outputs
     * after forward and rebuild them for backward. */
    bool use_saved;
} ssd_bn_params;

typedef struct {
    ssd_act kind;
} ssd_act_params;

typedef struct {
    int kernel[2], stride[2], pad[2];
    bool ceil_mode;
} ssd_pool_params;

typedef struct {
    int axis; /* axis of the logical shape; negative counts from the end */
    bool log; /* log-softmax instead of softmax */
} ssd_softmax_params;

typedef struct {
    int k; /* values per anchor: 4 for boxes, num_classes for scores */
    /* Forward only: the head reads channels [c0, c0 + c) of x, so one conv can compute a
     * scale's class and box maps together (c 0: all of x's channels, c0 must be 0). A
     * backend that cannot says so in supports(). */
    int c0, c;
} ssd_head_params;

typedef struct {
    double eps; /* added to the norm; 1e-10 in the SSD L2Norm */
} ssd_l2norm_params;

/* Arithmetic a backend may use for its float32 tensors (--precision). fp32 is exact float32
 * everywhere; tf32 lets convolutions and matrix products round their inputs to TensorFloat-32;
 * bf16 / fp16 compute in 16 bits with float32 master weights (fp16 with loss scaling). */
typedef enum { SSD_PREC_FP32 = 0, SSD_PREC_TF32, SSD_PREC_BF16, SSD_PREC_FP16 } ssd_precision;

typedef struct ssd_backend ssd_backend;

typedef struct ssd_backend_ops {
    const char *name;
    /* Storage the host cannot address (cuda): host code goes through get / set. */
    bool device_memory;

    bool (*supports)(ssd_backend *be, ssd_op op, ssd_dtype dt, const void *params);

    /* storage */
    ssd_status (*alloc)(ssd_backend *be, ssd_tensor *t, size_t bytes); /* plain storage, zeroed */
    void (*free_storage)(ssd_backend *be, ssd_tensor *t);              /* data and layout */
    ssd_status (*set)(ssd_backend *be, ssd_tensor *t, const void *host, ssd_dtype dt);
    ssd_status (*get)(ssd_backend *be, const ssd_tensor *t, void *host, ssd_dtype dt);
    ssd_status (*fill)(ssd_backend *be, ssd_tensor *t, double v);
    ssd_status (*to_plain)(ssd_backend *be, ssd_tensor *t);

    /* conv2d: x (N,C,H,W), w (O,C/groups,kh,kw), b (O) or NULL -> y (N,O,Ho,Wo) */
    ssd_status (*conv2d_fwd)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                             const ssd_tensor *w, const ssd_tensor *b, const ssd_conv2d_params *p);
    ssd_status (*conv2d_bwd_data)(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                  const ssd_tensor *x, const ssd_tensor *w,
                                  const ssd_conv2d_params *p);
    /* db may be NULL (no bias) */
    ssd_status (*conv2d_bwd_weights)(ssd_backend *be, ssd_tensor *dw, ssd_tensor *db,
                                     const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *w,
                                     const ssd_conv2d_params *p);

    /* batch norm over (N,C,H,W) per channel. In training mode writes save_mean and
     * save_invstd (C) for backward and updates running_mean/var in place; ws is a
     * backend workspace (e.g. the fused-ReLU mask), may be left unused. */
    ssd_status (*bn_fwd)(ssd_backend *be, ssd_tensor *y, ssd_tensor *save_mean,
                         ssd_tensor *save_invstd, ssd_tensor *ws, const ssd_tensor *x,
                         const ssd_tensor *gamma, const ssd_tensor *beta, ssd_tensor *running_mean,
                         ssd_tensor *running_var, const ssd_bn_params *p);
    /* dy is the gradient w.r.t. the op's output (after the fused activation, if any);
     * y is the forward output (used for the activation mask). Training-mode backward
     * (through the batch statistics); eval-mode backward when !p->training. */
    ssd_status (*bn_bwd)(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dgamma, ssd_tensor *dbeta,
                         const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *y,
                         const ssd_tensor *ws, const ssd_tensor *gamma, const ssd_tensor *save_mean,
                         const ssd_tensor *save_invstd, const ssd_tensor *running_var,
                         const ssd_bn_params *p);

    /* activation. Backward of ReLU/ReLU6 reads the forward output y (x may be
     * NULL); hardswish and hardsigmoid read the forward input x (y may be NULL). */
    ssd_status (*act_fwd)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                          const ssd_act_params *p);
    ssd_status (*act_bwd)(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                          const ssd_tensor *x, const ssd_tensor *y, const ssd_act_params *p);

    /* max pool; ws holds what backward needs (argmax indices or a backend workspace) */
    ssd_status (*maxpool_fwd)(ssd_backend *be, ssd_tensor *y, ssd_tensor *ws, const ssd_tensor *x,
                              const ssd_pool_params *p);
    ssd_status (*maxpool_bwd)(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                              const ssd_tensor *ws, const ssd_tensor *x, const ssd_pool_params *p);

    /* y = a + b (same shapes); y may alias a. Also serves to sum two gradients. */
    ssd_status (*add)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *a, const ssd_tensor *b);

    /* concat along `axis` of n inputs; backward splits dy into the n dxs */
    ssd_status (*concat_fwd)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *const *xs, int n,
                             int axis);
    ssd_status (*concat_bwd)(ssd_backend *be, ssd_tensor *const *dxs, const ssd_tensor *dy,
                             const ssd_tensor *const *xs, int n, int axis);

    /* softmax / log-softmax along an axis; backward uses the forward output y */
    ssd_status (*softmax_fwd)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                              const ssd_softmax_params *p);
    ssd_status (*softmax_bwd)(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                              const ssd_tensor *y, const ssd_softmax_params *p);

    /* SSD head reshape: x (N, A*k, H, W) -> y (N, H*W*A, k), i.e. PyTorch's
     * x.permute(0,2,3,1).contiguous().view(N, -1, k). Backward is the inverse. */
    ssd_status (*head_permute_fwd)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                   const ssd_head_params *p);
    ssd_status (*head_permute_bwd)(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                   const ssd_tensor *x, const ssd_head_params *p);

    /* y = scale[c] * x / (sqrt(sum_c x^2) + eps), the SSD conv4_3 L2Norm */
    ssd_status (*l2norm_fwd)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                             const ssd_tensor *scale, const ssd_l2norm_params *p);
    ssd_status (*l2norm_bwd)(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dscale,
                             const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *scale,
                             const ssd_l2norm_params *p);

    /* Optional (NULL where absent; callers then fall back to host code). */

    /* SGD with momentum and weight decay, in place, as PyTorch's SGD (dampening 0, not
     * Nesterov): d = g + wd*w; buf = first ? d : momentum*buf + d; w -= lr*buf. w, g and buf
     * are plain tensors of this backend with the same shape (buf is prepared when first). */
    ssd_status (*sgd_update)(ssd_backend *be, ssd_tensor *w, const ssd_tensor *g, ssd_tensor *buf,
                             double lr, double momentum, double weight_decay, bool first);
    /* Selects the arithmetic (see ssd_precision); SSD_E_UNSUPPORTED for one it lacks. */
    ssd_status (*set_precision)(ssd_backend *be, ssd_precision prec);

    void (*destroy)(ssd_backend *be);

    /* Entries added later; a backend that leaves one NULL does not support the op
     * (callers check, see ssd_backend_has). */

    /* global average pool: x (N,C,H,W) -> y (N,C,1,1), the mean over H*W;
     * backward spreads dy[n,c] / (H*W) over the plane. */
    ssd_status (*gap_fwd)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x);
    ssd_status (*gap_bwd)(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                          const ssd_tensor *x);
    /* channel scale: y = x * s with s (N,C,1,1) broadcast over H, W (x (N,C,H,W));
     * backward: dx = dy * s, ds = sum over H, W of dy * x. ds may be NULL. */
    ssd_status (*scale_fwd)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                            const ssd_tensor *s);
    ssd_status (*scale_bwd)(ssd_backend *be, ssd_tensor *dx, ssd_tensor *ds, const ssd_tensor *dy,
                            const ssd_tensor *x, const ssd_tensor *s);

    /* Optional (NULL: use conv2d_fwd). conv2d_fwd for inference only: w and b
     * are constants (prepared once per version), no backward will follow, and
     * the backend may use faster algorithms (Winograd) whose rounding differs
     * from conv2d_fwd's by about 1e-6 relative. */
    ssd_status (*conv2d_infer)(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                               const ssd_tensor *w, const ssd_tensor *b,
                               const ssd_conv2d_params *p);

    /* Optional (NULL: the box layer computes the loss on the host from copies). The multibox
     * loss of box/multibox_loss.c on this backend's tensors, so training never copies the
     * heads' outputs to the host: conf (N,K,C) logits, loc (N,K,4), labels (N,K) int64,
     * gt_loc (N,K,4) -> dconf (N,K,C) and dloc (N,K,4) written (both NULL: no gradient),
     * out[0] the regression and out[1] the classification loss. Waits for the result; a
     * label outside [0, C) is SSD_E_INVAL. */
    ssd_status (*multibox_loss)(ssd_backend *be, ssd_tensor *dconf, ssd_tensor *dloc, double out[2],
                                const ssd_tensor *conf, const ssd_tensor *loc,
                                const ssd_tensor *labels, const ssd_tensor *gt_loc,
                                int neg_pos_ratio);

    /* Optional (NULL: ssd_aligned_alloc / ssd_free, see ssd_backend_host_alloc). Host memory
     * the backend copies from fastest (cuda: page-locked, so a copy runs while the host goes
     * on); zeroed. host_free takes only this backend's host_alloc memory. */
    void *(*host_alloc)(ssd_backend *be, size_t bytes);
    void (*host_free)(ssd_backend *be, void *p);
    /* Optional (NULL: set). Queues a copy of plain host data of t's own dtype into t and
     * returns: the copy may run while earlier ops still compute (cuda: on a copy stream), and
     * ops queued after it see the data. So t must not be in use by queued ops, and `host`
     * must stay unchanged until an op that waits for the backend (get, the loss) returns. */
    ssd_status (*upload)(ssd_backend *be, ssd_tensor *t, const void *host);
} ssd_backend_ops;

struct ssd_backend {
    const ssd_backend_ops *ops;
    int threads; /* threads this backend may use */
    void *impl;  /* backend-private state (primitive cache, streams) */
};

/* Whether the backend implements `op` for dtype dt and params (params as
 * supports() takes them; NULL: any): its vtable entries are set and supports()
 * says yes. */
bool ssd_backend_has(ssd_backend *be, ssd_op op, ssd_dtype dt, const void *params);

/* Creates a backend by name: "ref", "cpu" (oneDNN), "cuda" where built. */
ssd_status ssd_backend_create(ssd_backend **out, const char *name);
void ssd_backend_destroy(ssd_backend *be);
/* Comma-separated list of backends compiled into this binary. */
const char *ssd_backend_list(void);

/* Per-backend constructors, registered in backend.c. */
ssd_status ssd_backend_ref_create(ssd_backend **out);
ssd_status ssd_backend_cpu_create(ssd_backend **out);
#ifdef SSD_HAVE_CUDA
ssd_status ssd_backend_cuda_create(ssd_backend **out);
#endif

/* The backend a command runs on: "cuda" when use_cuda and a device is present, else "cpu";
 * when CUDA was asked for but is absent, logs at `level` (an ssd_log_level) why, and that
 * `what` ("training", ...) runs on the CPU instead. */
const char *ssd_backend_choose(bool use_cuda, int level, const char *what);
/* ssd_backend_create(name), except that a "cuda" backend that cannot be made although a
 * device is counted (a busy exclusive-mode GPU, a broken cuDNN) gives the CPU backend, with
 * the reason logged at `level` as ssd_backend_choose does. */
ssd_status ssd_backend_create_or_cpu(ssd_backend **out, const char *name, int level,
                                     const char *what);

/* Number of usable CUDA devices: 0 when the CUDA backend is not built, no driver or no GPU. */
int ssd_backend_cuda_devices(void);
/* One line on the CUDA backend for `ssd info`: "not built ...", or the runtime, cuDNN and
 * device found. Returns buf. */
const char *ssd_backend_cuda_describe(char *buf, size_t n);

/* Host buffers for data on its way to `be` (batches): its host_alloc where it has one, else
 * ssd_aligned_alloc (zeroed, 64-byte aligned). Free with ssd_backend_host_free (NULL-safe). */
void *ssd_backend_host_alloc(ssd_backend *be, size_t bytes);
void ssd_backend_host_free(ssd_backend *be, void *p);
/* The same with a callback's signature (ctx: the backend), for the loader's buf_alloc. */
void *ssd_backend_host_alloc_cb(void *be, size_t bytes);
void ssd_backend_host_free_cb(void *be, void *p);
/* ssd_tensor_set from host data of t's dtype, through the backend's upload where it has one
 * (see ssd_backend_ops.upload for when `host` may be reused). */
ssd_status ssd_tensor_upload(ssd_tensor *t, const void *host);

/* "fp32", "tf32", "bf16", "fp16" -> ssd_precision; SSD_E_INVAL (with a message) otherwise. */
ssd_status ssd_precision_parse(const char *s, ssd_precision *out);
const char *ssd_precision_name(ssd_precision p);
/* Applies `prec` to `be`: fp32 is always accepted; others need the backend's set_precision. */
ssd_status ssd_backend_set_precision(ssd_backend *be, ssd_precision prec);
/* For inference at `prec`: bf16 is per conv (the caller sets ssd_conv_prec) and
 * needs bfloat16 convs on be; the others are ssd_backend_set_precision's. */
ssd_status ssd_backend_infer_precision(ssd_backend *be, ssd_precision prec);

/* Shape inference shared by all backends (PyTorch's formulas). */
int64_t ssd_conv_out_size(int64_t in, int k, int stride, int pad, int dilation);
int64_t ssd_pool_out_size(int64_t in, int k, int stride, int pad, bool ceil_mode);

/* Checks shared by the backends' ops (tensor/op_checks.c). */
/* axis counted from the end when negative; -1 when out of range */
int ssd_axis_index(int axis, int ndim);
/* t has ndim dims (unless ndim < 0), none negative, and storage for its plain shape. */
ssd_status ssd_check_plain_storage(const ssd_tensor *t, const char *op, const char *name, int ndim);
/* Valid pool params (PyTorch's limits) and the output size for a checked 4-d x. */
ssd_status ssd_pool_out_dims(const char *op, const ssd_tensor *x, const ssd_pool_params *p,
                             int64_t *ho, int64_t *wo);
/* Output shape of a concat of n checked inputs of equal rank; *ax the normalised axis. */
ssd_status ssd_concat_out_shape(const char *op, const ssd_tensor *const *xs, int n, int axis,
                                int *ax, int64_t *shape);
/* Sizes of a per-channel op (gap, scale) on a checked 4-d x: nc = N*C, hw = H*W (an empty
 * H*W plane is refused) and pooled, the (N, C, 1, 1) shape of its per-channel side. */
ssd_status ssd_chan_dims(const char *op, const ssd_tensor *x, int64_t *nc, int64_t *hw,
                         int64_t *pooled);
/* The channels [*c0, *c0 + *cc) a head permute of a checked 4-d x reads (all of them unless
 * p->c) and its (N, H*W*A, k) output shape; the backward refuses a channel range. */
ssd_status ssd_head_dims(const char *op, const ssd_tensor *x, const ssd_head_params *p,
                         bool backward, int64_t *c0, int64_t *cc, int64_t *yshape);

/* Makes output `t` have dtype/shape on `be` with plain storage of at least the
 * plain size, keeping storage when it is big enough. Backends call this for
 * outputs they write in plain layout. */
ssd_status ssd_tensor_prepare_plain(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int ndim,
                                    const int64_t *shape);

#endif

/* Layers with forward and backward over a backend, parameters named as
 * PyTorch names them.
 *
 * A layer keeps its parameters, their gradients, its output and its input
 * gradient, and whatever backward needs (the borrowed input of the last
 * forward, BN statistics, pooling workspace). Output tensors persist across
 * steps, so after the first step a layer allocates nothing. Backward
 * overwrites gradients (each parameter is used once per step). */
#ifndef SSD_NN_NN_H
#define SSD_NN_NN_H

#include "core/rng.h"
#include "tensor/backend.h"

typedef enum {
    SSD_L_CONV,
    SSD_L_BN,
    SSD_L_ACT,
    SSD_L_MAXPOOL,
    SSD_L_L2NORM,
    SSD_L_GAP /* global average pool, AdaptiveAvgPool2d(1): (N,C,H,W) -> (N,C,1,1) */
} ssd_layer_kind;

/* Parameter groups of train_ssd.py: base_net, extras (+ source_layer_add_ons), heads. */
typedef enum { SSD_GROUP_BASE = 0, SSD_GROUP_EXTRAS = 1, SSD_GROUP_HEADS = 2 } ssd_param_group;

typedef struct {
    char name[128];    /* state_dict key */
    ssd_tensor *value; /* NULL for an int64 scalar buffer (num_batches_tracked): see i64 */
    int64_t *i64;
    ssd_tensor *grad; /* NULL for buffers (running stats, num_batches_tracked) */
    ssd_param_group group;
    bool buffer;
    bool *frozen; /* the owning layer's flag */
} ssd_param;

typedef struct {
    ssd_param *p;
    int n, cap;
} ssd_param_list;

void ssd_param_list_free(ssd_param_list *l);
ssd_param *ssd_param_find(const ssd_param_list *l, const char *name);

typedef struct {
    ssd_conv2d_params p;
    int cin, cout, k;
    bool has_bias;
    ssd_tensor w, b; /* (O, C/g, k, k), (O) */
    ssd_tensor gw, gb;
    ssd_tensor *dpre; /* gradient before the fused activation: dpre_own unless planned */
    ssd_tensor dpre_own;
} ssd_conv_layer;

typedef struct {
    ssd_bn_params p;
    int c;
    ssd_tensor gamma, beta, running_mean, running_var; /* (C) */
    int64_t num_batches_tracked;                       /* a 0-d int64 in the state_dict */
    ssd_tensor ggamma, gbeta;
    ssd_tensor save_mean, save_invstd, ws;
} ssd_bn_layer;

typedef struct {
    ssd_layer_kind kind;
    char name[96]; /* prefix of its state_dict keys, e.g. "base_net.1.0" */
    ssd_backend *be;
    bool frozen;         /* no parameter gradients (freeze flags) */
    bool need_dx;        /* backward computes the input gradient */
    const ssd_tensor *x; /* input of the last forward (borrowed from the producer) */
    /* Output and input gradient point at the layer's own tensors after init; a
     * graph points them at planned shared buffers. The struct holds pointers into
     * itself, so a layer is not moved after init (the graph keeps layers on the heap). */
    ssd_tensor *y;  /* output */
    ssd_tensor *dx; /* gradient w.r.t. the input */
    ssd_tensor y_own, dx_own;
    union {
        ssd_conv_layer conv;
        ssd_bn_layer bn;
        ssd_act_params act;
        struct {
            ssd_pool_params p;
            ssd_tensor ws;
        } pool;
        struct {
            ssd_l2norm_params p;
            ssd_tensor scale, gscale;
        } l2;
    } u;
} ssd_layer;

ssd_status ssd_layer_conv_init(ssd_layer *l, ssd_backend *be, const char *name, int cin, int cout,
                               int k, int stride, int pad, int dilation, int groups, bool bias,
                               ssd_act act);
ssd_status ssd_layer_bn_init(ssd_layer *l, ssd_backend *be, const char *name, int c, ssd_act act);
void ssd_layer_act_init(ssd_layer *l, ssd_backend *be, const char *name, ssd_act act);
void ssd_layer_maxpool_init(ssd_layer *l, ssd_backend *be, const char *name, int k, int stride,
                            int pad, bool ceil_mode);
/* Global average pool; forward fails with SSD_E_UNSUPPORTED on a backend without it. */
void ssd_layer_gap_init(ssd_layer *l, ssd_backend *be, const char *name);
ssd_status ssd_layer_l2norm_init(ssd_layer *l, ssd_backend *be, const char *name, int c,
                                 double scale);
void ssd_layer_deinit(ssd_layer *l);

/* Output shape for an NCHW input shape (shape inference without running). */
void ssd_layer_out_shape(const ssd_layer *l, const int64_t in[4], int64_t out[4]);

ssd_status ssd_layer_forward(ssd_layer *l, const ssd_tensor *x, bool training);
/* dy: gradient w.r.t. l->y. Writes l->dx when need_dx, parameter gradients unless frozen. */
ssd_status ssd_layer_backward(ssd_layer *l, const ssd_tensor *dy, bool training);

/* Registers the layer's parameters and buffers under its name. */
ssd_status ssd_layer_params(ssd_layer *l, ssd_param_list *list, ssd_param_group group);

/* PyTorch's default init for the layer (kaiming-uniform(a=sqrt 5) conv weights and
 * U(+-1/sqrt(fan_in)) biases; BN weight 1, bias 0, running 0/1) from the rng. */
ssd_status ssd_layer_reset(ssd_layer *l, ssd_rng *rng);
/* nn.init.xavier_uniform_ on conv weights (biases untouched), as pytorch-ssd's _xavier_init_. */
ssd_status ssd_layer_xavier(ssd_layer *l, ssd_rng *rng);

#endif

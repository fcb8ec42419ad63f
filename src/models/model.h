/* An SSD detector built the way pytorch-ssd's vision/ssd/ssd.py composes one:
 * a base net of modules, source layers (taps) into it, extra layers, and a
 * classification and a regression header per feature map. Parameter names
 * equal pytorch-ssd's state_dict keys, in the same order. */
#ifndef SSD_MODELS_MODEL_H
#define SSD_MODELS_MODEL_H

#include "box/box.h"
#include "nn/graph.h"

#define SSD_MAX_HEADS 8

/* Prior-box configuration families of pytorch-ssd (vision/ssd/config). */
typedef enum {
    SSD_PRIORS_MOBILENETV1, /* mobilenetv1_ssd_config: specs derived from the feature maps */
    SSD_PRIORS_SQUEEZENET,  /* squeezenet_ssd_config */
    SSD_PRIORS_VGG,         /* vgg_ssd_config */
} ssd_priors_family;

typedef struct ssd_model {
    char net[32]; /* "mb1-ssd", ... */
    ssd_backend *be;
    int num_classes;  /* including BACKGROUND */
    int resolution;   /* square input size */
    float width_mult; /* --mb2-width-mult (mb2-ssd-lite), 1.0 elsewhere */

    /* The network (nn/graph.h). The builder adds base_net, the extras and, per
     * feature map h, the classification and regression headers reading from
     * the node tap[h]; model.c adds the header reshapes and the final concats. */
    ssd_graph g;
    int input; /* the input node */
    int nheads;
    int anchors[SSD_MAX_HEADS]; /* boxes per location of each feature map */
    int tap[SSD_MAX_HEADS];     /* node feeding header h (after any source_layer_add_on) */
    int cls_out[SSD_MAX_HEADS]; /* last node of classification header h: (N, A*C, H, W) */
    int reg_out[SSD_MAX_HEADS]; /* last node of regression header h: (N, A*4, H, W) */
    int conf_node, loc_node;    /* set by model.c */

    ssd_param_list params; /* in state_dict order */

    /* config (vision/ssd/config/<net>_config.py) */
    float image_mean[3], image_std; /* pixel = (v - mean[c]) / std */
    float center_variance, size_variance, iou_threshold;
    ssd_priors_family priors_family;
    int feature_maps[SSD_MAX_HEADS];
    ssd_prior_spec specs[SSD_MAX_HEADS];
    float *priors; /* (K,4) center form */
    int num_priors;

    /* outputs of the last forward, bound to the graph's final concats */
    ssd_tensor conf, loc;   /* (N,K,C) logits, (N,K,4) locations */
    ssd_tensor dconf, dloc; /* set by the caller before ssd_model_backward */
} ssd_model;

/* Known nets and whether this build implements them. */
bool ssd_net_known(const char *net);
bool ssd_net_supported(const char *net);

/* Builds the net with PyTorch-default initialisation drawn from seed (call
 * ssd_model_init_xavier for pytorch-ssd's from-scratch init). resolution 0 = 300. */
ssd_status ssd_model_create(ssd_model **out, ssd_backend *be, const char *net, int num_classes,
                            int resolution);
/* The same with --mb2-width-mult (ignored by the other nets; 1.0 = default). */
ssd_status ssd_model_create_wm(ssd_model **out, ssd_backend *be, const char *net, int num_classes,
                               int resolution, float width_mult);
void ssd_model_destroy(ssd_model *m);

/* Default init of every layer, then pytorch-ssd's SSD.init(): xavier on every conv. */
ssd_status ssd_model_init_xavier(ssd_model *m, uint64_t seed);
/* Xavier on the two headers only (after --pretrained-ssd). */
ssd_status ssd_model_init_heads_xavier(ssd_model *m, uint64_t seed);
/* Xavier on extras and headers (after --base-net). */
ssd_status ssd_model_init_non_base_xavier(ssd_model *m, uint64_t seed);

/* --freeze-base-net: base frozen; --freeze-net: base and extras frozen. */
void ssd_model_set_frozen(ssd_model *m, bool freeze_base, bool freeze_net);

/* x: (N,3,R,R). Leaves m->conf (N,K,C) logits and m->loc (N,K,4) locations. */
ssd_status ssd_model_forward(ssd_model *m, const ssd_tensor *x, bool training);
/* Uses m->dconf and m->dloc (gradients w.r.t. conf and loc). */
ssd_status ssd_model_backward(ssd_model *m);

/* Converts every parameter and buffer to dt (float64 runs the reference backend in
 * double precision for exact comparisons). */
ssd_status ssd_model_to_dtype(ssd_model *m, ssd_dtype dt);

/* The arithmetic of inference forwards (training always runs float32): fp32;
 * bf16, every conv's input and weights rounded to bfloat16 with float32 sums
 * (ssd_conv_prec BF16; needs a backend with bfloat16 convs); tf32 / fp16 go
 * to the backend (ssd_backend_set_precision). */
ssd_status ssd_model_set_precision(ssd_model *m, ssd_precision p);

/* Trainable parameter count (excluding buffers). */
int64_t ssd_model_num_params(const ssd_model *m);

typedef enum {
    SSD_LOAD_FULL,           /* --resume / inference: every key must match */
    SSD_LOAD_PRETRAINED_SSD, /* every key but the two headers */
    SSD_LOAD_BASE_NET,       /* base_net only (keys with or without "base_net." prefix) */
} ssd_load_mode;

/* Loads a .pth state_dict. All missing / unexpected / misshapen keys are
 * reported in one message naming the file. */
ssd_status ssd_model_load(ssd_model *m, const char *path, ssd_load_mode mode);
/* Writes the state_dict as a zip .pth (atomic). */
ssd_status ssd_model_save(ssd_model *m, const char *path);
/* The same without the two headers: a starting point for --pretrained-ssd / --base-net. */
ssd_status ssd_model_save_without_heads(ssd_model *m, const char *path);

/* Internal: builders of each net (models/<net>.c). A builder fills m->g (with
 * ssd_graph_set_section() before each part), m->nheads, anchors, tap, cls_out,
 * reg_out and the config fields (mean, std, variances, iou threshold, priors
 * family); it reads m->num_classes, m->resolution and m->width_mult. */
ssd_status ssd_build_mb1_ssd(ssd_model *m);
ssd_status ssd_build_mb1_ssd_lite(ssd_model *m);
ssd_status ssd_build_mb2_ssd_lite(ssd_model *m);
ssd_status ssd_build_vgg16_ssd(ssd_model *m);
ssd_status ssd_build_sq_ssd_lite(ssd_model *m);
ssd_status ssd_build_mb3_large_ssd_lite(ssd_model *m);
ssd_status ssd_build_mb3_small_ssd_lite(ssd_model *m);

/* Internal: the config of pytorch-ssd's vision/ssd/config/<family>_ssd_config.py
 * (image mean and std, center/size variances, IoU threshold, prior family). */
void ssd_model_set_config(ssd_model *m, ssd_priors_family family);

/* Layer of the graph by state_dict prefix ("base_net.1.0"), or NULL. */
ssd_layer *ssd_model_find_layer(ssd_model *m, const char *name);

#endif

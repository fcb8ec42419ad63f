/* The runtime's graph: values (constants or backend tensors) and nodes with
 * parsed attributes, in the file's topological order. */
#ifndef SSD_RUNTIME_RT_INTERNAL_H
#define SSD_RUNTIME_RT_INTERNAL_H

#include "runtime/onnx_runtime.h"

#include <stdbool.h>

#define RT_MAX_INTS 8

typedef enum {
    RT_OP_CONV,
    RT_OP_BN,
    RT_OP_RELU,
    RT_OP_CLIP,
    RT_OP_ADD,
    RT_OP_SUB,
    RT_OP_MUL,
    RT_OP_DIV,
    RT_OP_EXP,
    RT_OP_CONCAT,
    RT_OP_RESHAPE,
    RT_OP_FLATTEN,
    RT_OP_TRANSPOSE,
    RT_OP_SOFTMAX,
    RT_OP_SLICE,
    RT_OP_GATHER,
    RT_OP_SHAPE,
    RT_OP_UNSQUEEZE,
    RT_OP_SQUEEZE,
    RT_OP_CONSTANT,
    RT_OP_MAXPOOL,
    RT_OP_IDENTITY,
    RT_OP_DROPOUT,
    RT_OP_HARDSIGMOID,
    RT_OP_HARDSWISH,
    RT_OP_GLOBALAVGPOOL,
    RT_OP_REDUCEMEAN,
    RT_OP_CAST,
    RT_OP__COUNT
} rt_opcode;

/* A host array: a constant, or a host view of a runtime tensor. dt is F32 or I64. */
typedef struct {
    ssd_dtype dt;
    int ndim;
    int64_t shape[SSD_MAX_DIMS];
    void *data;
} rt_host;

typedef struct {
    char *name;
    bool is_const;   /* data in c: initializer, Constant, or folded */
    bool load_const; /* constant for every input shape (kept across plans) */
    rt_host c;       /* owned data when is_const */
    /* planned shape (also for constants) */
    ssd_dtype dt;
    int ndim;
    int64_t shape[SSD_MAX_DIMS];
    ssd_tensor t;    /* backend tensor: runtime values, or a constant uploaded for a backend op */
    bool t_uploaded; /* t holds c for this plan */
    float *stage;    /* host copy of t for host kernels on a device backend */
    size_t stage_cap;
    int producer; /* node index, -1 for inputs and initializers */
    int consumers;
    bool graph_output;
} rt_value;

typedef enum {
    K_NONE,    /* folded or dead */
    K_CONV,    /* backend conv2d (+ folded BN, fused act) */
    K_BN,      /* backend batch norm (eval, fused act) */
    K_ACT,     /* backend act */
    K_MAXPOOL, /* backend maxpool */
    K_ADD,     /* backend add, same shapes */
    K_CONCAT,  /* backend concat */
    K_SOFTMAX, /* backend softmax along one axis */
    K_HEAD,    /* backend head permute (Transpose + Reshape) */
    K_HOST,    /* host kernel */
    K_ALIAS,   /* copy of the input with another shape (Reshape, Flatten, ...) */
    K_GAP,     /* backend global average pool (GlobalAveragePool, ReduceMean over H, W) */
    K_SCALE,   /* backend channel scale: Mul of (N,C,H,W) by (N,C,1,1) */
} rt_kernel;

typedef struct {
    rt_opcode op;
    char *name;
    int nin, nout;
    int *in, *out; /* value ids; -1 = absent optional input / unused output */
    /* attributes */
    int64_t axis;
    bool has_axis;
    int64_t ints[RT_MAX_INTS]; /* Transpose perm; Unsqueeze/Squeeze axes (opset < 13) */
    int nints;
    bool has_ints;
    int64_t starts[RT_MAX_INTS], ends[RT_MAX_INTS], axes[RT_MAX_INTS]; /* Slice opset < 10 */
    int nslice;
    bool has_slice_axes;
    ssd_conv2d_params conv; /* also MaxPool's kernel via pool */
    int kernel[2];
    ssd_pool_params pool;
    double eps;
    float clip_min, clip_max; /* Clip opset < 11 attributes */
    float alpha, beta;        /* HardSigmoid */
    int scale_x;              /* K_SCALE: which input is x (the other is s) */
    bool keepdims;            /* ReduceMean (axes in ints) */
    bool noop_empty;          /* ReduceMean-18 noop_with_empty_axes */
    ssd_dtype cast_to;        /* Cast: F32 or I64 */
    int64_t shape_start, shape_end;
    bool has_shape_end;
    bool allowzero;
    /* load-time transformation */
    bool dead;         /* folded into another node */
    ssd_act act;       /* fused activation (Conv, BN); K_ACT's kind */
    float *w, *b;      /* folded conv weights (host), owned; b may be NULL */
    ssd_tensor wt, bt; /* backend copies */
    ssd_tensor bn_mean, bn_var, bn_gamma, bn_beta; /* standalone BN */
    ssd_tensor ws;                                 /* MaxPool workspace */
    /* A Conv with a sibling: the next Conv of the same input and geometry, each
     * read only by a Transpose (a scale's class and box heads). fwt/fbt are the
     * two weight sets stacked, so that one conv computes both maps into fy. */
    int sib; /* node index, -1 none */
    ssd_tensor fwt, fbt, fy;
    /* plan */
    rt_kernel k;
    int head_k;    /* K_HEAD: values per anchor */
    int head_src;  /* K_HEAD: the Transpose's input value */
    bool merged;   /* K_CONV: computes its sibling's map too, into fy */
    int head_conv; /* K_HEAD: read channels [head_c0, head_c0 + head_c) of this merged
                      conv's fy instead of head_src (-1: head_src) */
    int head_c0, head_c;
    int prof; /* index into the model's profile, -1 when not run */
} rt_node;

struct ssd_onnx_model {
    char *path;
    ssd_backend *be;
    int opset;
    rt_value *v;
    int nv, capv;
    rt_node *n;
    int nn;
    int input;                     /* value id of the graph input */
    int64_t in_dims[SSD_MAX_DIMS]; /* declared, -1 unknown */
    int in_ndim;
    int *outputs; /* value ids */
    int nout;
    char **md_key, **md_val;
    int nmd;
    /* plan */
    bool planned;
    int64_t plan_shape[SSD_MAX_DIMS];
    int plan_ndim;
    const ssd_tensor *cur_input; /* during a run */
    ssd_onnx_stats stats;
    bool bf16;  /* ssd_onnx_set_precision bf16 */
    bool stage; /* host kernels on host copies (device backends; ssd_onnx_stage_host) */
    bool profile;
    ssd_onnx_prof *prof; /* one per executed kernel of the plan */
    int nprof;
    /* activation buffers shared by values (rt_share.c), for this plan */
    bool shared;
    ssd_tensor *slots;
    int nslots;
};

/* rt_fuse.c: ReduceMean-18's axes input (a load-time constant) into its ints. */
ssd_status rt_reduce_axes_input(ssd_onnx_model *m);

/* rt_load.c */
int rt_value_find(const ssd_onnx_model *m, const char *name);
const char *rt_op_name(rt_opcode op);
/* A Transpose with perm (0, 2, 3, 1): NCHW to NHWC, how the SSD heads start. */
bool rt_is_nhwc_transpose(const rt_node *n);

/* rt_host.c: host kernels. Outputs are allocated here (ssd_malloc'd data). */
int64_t rt_numel(int ndim, const int64_t *shape);
void rt_host_free(rt_host *h);
ssd_status rt_host_alloc(rt_host *h, ssd_dtype dt, int ndim, const int64_t *shape);
/* Evaluates node n on host inputs (ins[i] NULL for an absent optional input);
 * fills outs[0..nout) (allocating them). Used for folding and host kernels. */
ssd_status rt_host_eval(const ssd_onnx_model *m, const rt_node *n, const rt_host *const *ins,
                        rt_host *outs);
/* Output shape of node n given input shapes and (where needed) constant inputs;
 * the same rules the host kernels use. */
ssd_status rt_infer_shape(const ssd_onnx_model *m, const rt_node *n, const rt_host *const *ins,
                          int *ndim, int64_t *shape);

/* rt_share.c: after a plan's first run, the values its kernels compute take
 * views of a pool of buffers (values alive at once never share one);
 * rt_unshare gives them storage of their own again (before a new plan). */
ssd_status rt_share(ssd_onnx_model *m);
void rt_unshare(ssd_onnx_model *m);

/* rt_plan.c */
ssd_status rt_plan(ssd_onnx_model *m, const ssd_tensor *x);
ssd_status rt_execute(ssd_onnx_model *m);

/* rt_fuse.c */
ssd_status rt_fold_constants(ssd_onnx_model *m);
ssd_status rt_fuse(ssd_onnx_model *m);

#endif

/* A network as a directed acyclic graph of nodes: layers (nn.h) and the joins
 * that the SSD nets need (residual add, channel concat, squeeze-excite scale,
 * the SSD head reshape). Nodes run forward in insertion order, which is a
 * topological order because a node can only name earlier nodes as inputs, and
 * backward in reverse, summing the gradients of values with several consumers.
 *
 * Memory is planned, not kept per layer: before the first step of a shape and
 * mode the graph works out, for every activation, gradient and temporary,
 * when it is written and when it is last read, and places them in one arena
 * where buffers whose lifetimes do not overlap share bytes. Activations that backward does
 * not read are dropped as soon as their last consumer has run; batch-norm
 * outputs are not kept at all in training but recomputed from the saved
 * normalisation statistics when backward reaches them, which halves what a
 * conv/BN network keeps between forward and backward.
 *
 * Builders (models/<net>.c) add nodes with the ssd_graph_* functions below.
 * Each returns the new node's id, or -1 with the error set; an input id of -1
 * makes the call return -1 too, so a builder can chain calls and check the
 * last id once (ssd_graph_status() returns the first error). */
#ifndef SSD_NN_GRAPH_H
#define SSD_NN_GRAPH_H

#include "nn/nn.h"

#define SSD_GRAPH_MAX_IN 8

typedef enum {
    SSD_NODE_INPUT,  /* the network input, bound by ssd_graph_forward */
    SSD_NODE_LAYER,  /* one ssd_layer (conv, bn, act, maxpool, l2norm, ...) */
    SSD_NODE_ADD,    /* in[0] + in[1]: residual connections */
    SSD_NODE_CONCAT, /* in[0..nin) joined along `axis` (fire modules, header outputs) */
    SSD_NODE_SCALE,  /* in[0] * in[1], in[1] (N,C,1,1) broadcast over H,W: squeeze-excite */
    SSD_NODE_HEAD,   /* (N, A*k, H, W) -> (N, H*W*A, k), the header reshape */
} ssd_node_kind;

/* Where a node's parameters go in the state_dict. pytorch-ssd's SSD module
 * registers base_net, extras, classification_headers, regression_headers and
 * source_layer_add_ons in this order; within a section the order is `rank`. */
typedef enum {
    SSD_SEC_BASE,
    SSD_SEC_EXTRAS,
    SSD_SEC_CLS,
    SSD_SEC_REG,
    SSD_SEC_ADDONS,
    SSD_SEC__COUNT
} ssd_section;

typedef struct {
    ssd_node_kind kind;
    int in[SSD_GRAPH_MAX_IN];
    int nin;
    int axis;         /* CONCAT */
    int k;            /* HEAD: values per anchor */
    ssd_layer *layer; /* LAYER: owned by the graph */
    ssd_section section;
    double rank; /* state_dict order within the section; the node id unless a builder moves it */

    /* shape of the output for the planned input shape */
    int ndim;
    int64_t shape[4];

    /* where the output lives: a view into the planned arena after forward, or
     * a tensor bound by ssd_graph_bind_output */
    ssd_tensor *y;
    bool bound; /* y is caller-owned */
} ssd_node;

typedef struct ssd_graph_plan ssd_graph_plan; /* graph.c: buffer assignment */

typedef struct {
    ssd_backend *be;
    ssd_node *nodes;
    int n, cap;
    ssd_section section; /* of the nodes added next */
    ssd_status err;      /* first builder error */
    ssd_graph_plan *plan;
    bool recompute_bn; /* training keeps conv outputs and recomputes BN outputs (default true) */
    bool keep_all;     /* every output lives to the end of forward (inspection, calibration) */
} ssd_graph;

void ssd_graph_init(ssd_graph *g, ssd_backend *be);
void ssd_graph_deinit(ssd_graph *g);
ssd_status ssd_graph_status(const ssd_graph *g);

/* ---- building ---- */
void ssd_graph_set_section(ssd_graph *g, ssd_section s);
int ssd_graph_input(ssd_graph *g);
int ssd_graph_conv(ssd_graph *g, int in, const char *name, int cin, int cout, int k, int stride,
                   int pad, int dilation, int groups, bool bias, ssd_act act);
int ssd_graph_bn(ssd_graph *g, int in, const char *name, int c, ssd_act act);
int ssd_graph_act(ssd_graph *g, int in, ssd_act act);
int ssd_graph_maxpool(ssd_graph *g, int in, int k, int stride, int pad, bool ceil_mode);
int ssd_graph_l2norm(ssd_graph *g, int in, const char *name, int c, double scale);
int ssd_graph_add(ssd_graph *g, int a, int b);
int ssd_graph_concat(ssd_graph *g, const int *in, int n, int axis);
int ssd_graph_scale(ssd_graph *g, int x, int gate);
/* AdaptiveAvgPool2d(1): (N,C,H,W) -> (N,C,1,1) */
int ssd_graph_gap(ssd_graph *g, int in);
int ssd_graph_head(ssd_graph *g, int in, int k);
/* Adds an already initialised layer (ownership passes to the graph, also on error). */
int ssd_graph_layer(ssd_graph *g, int in, ssd_layer *l);

/* The output of node id is written into t (caller-owned) rather than a planned buffer. */
void ssd_graph_bind_output(ssd_graph *g, int id, ssd_tensor *t);

/* ---- running ---- */

/* Output shape of every node for a (N,C,H,W) input; fills node.ndim/shape. */
ssd_status ssd_graph_infer_shapes(ssd_graph *g, const int64_t in_shape[4]);

/* Runs every node. Plans buffers when the input shape or the mode changed. */
ssd_status ssd_graph_forward(ssd_graph *g, const ssd_tensor *x, bool training);
/* Backward from the gradients of the given output nodes (grads[i] w.r.t. node outs[i]).
 * Parameter gradients land in each layer's gradient tensors (overwritten). */
ssd_status ssd_graph_backward(ssd_graph *g, const int *outs, const ssd_tensor *const *grads, int n);

/* Output of node id after forward (valid until the planner reuses its buffer:
 * bound outputs always, others until the next node that shares its buffer runs). */
const ssd_tensor *ssd_graph_output(const ssd_graph *g, int id);

/* Marks layers in sections whose flag is set as frozen and works out which
 * nodes need input gradients. */
void ssd_graph_set_frozen(ssd_graph *g, const bool frozen[SSD_SEC__COUNT]);

/* Node ids of the layers in state_dict order (section, then rank); *ids is
 * allocated with ssd_malloc. */
ssd_status ssd_graph_layer_order(const ssd_graph *g, int **ids, int *n);
/* Registers every layer's parameters in state_dict order (section, then rank). */
ssd_status ssd_graph_params(ssd_graph *g, ssd_param_list *list);

/* Bytes of the planned shared buffers (for logs and the memory tests). */
size_t ssd_graph_planned_bytes(const ssd_graph *g);

#endif

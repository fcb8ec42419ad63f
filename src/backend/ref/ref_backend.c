/* The reference backend's vtable. Tensors are always plain row-major in host
 * memory, float32 or float64; every op accumulates in double. */
#include "backend/ref/ref_ops.h"

#include "core/mem.h"

static bool ref_supports(ssd_backend *be, ssd_op op, ssd_dtype dt, const void *params) {
    (void)be;
    if (dt == SSD_BF16) /* inference convs, emulated */
        return op == SSD_OP_CONV2D && ref_supports(be, op, SSD_F32, params);
    if ((unsigned)op >= SSD_OP__COUNT || (dt != SSD_F32 && dt != SSD_F64)) return false;
    if (!params) return true;
    /* fused activations: ReLU and ReLU6 only */
    if (op == SSD_OP_CONV2D) {
        const ssd_conv2d_params *p = params;
        return (unsigned)p->act <= SSD_ACT_RELU6 && (unsigned)p->prec <= SSD_CONV_BF16_Y;
    }
    if (op == SSD_OP_BATCHNORM)
        return (unsigned)((const ssd_bn_params *)params)->act <= SSD_ACT_RELU6;
    if (op == SSD_OP_ACT)
        return (unsigned)((const ssd_act_params *)params)->kind <= SSD_ACT_HARDSIGMOID;
    return true;
}

static ssd_status ref_to_plain(ssd_backend *be, ssd_tensor *t) {
    (void)be;
    if (!t->layout) return SSD_OK;
    return ssd_error_set(SSD_E_INVAL, "ref: tensor has another backend's private layout");
}

static void ref_destroy(ssd_backend *be) {
    ssd_free(be);
}

static const ssd_backend_ops ref_ops = {
    .name = "ref",
    .supports = ref_supports,
    .alloc = ssd_host_alloc,
    .free_storage = ssd_host_free,
    .set = ssd_host_set,
    .get = ssd_host_get,
    .fill = ssd_host_fill,
    .to_plain = ref_to_plain,
    .conv2d_fwd = ssd_ref_conv2d_fwd,
    .conv2d_infer = ssd_ref_conv2d_infer,
    .conv2d_bwd_data = ssd_ref_conv2d_bwd_data,
    .conv2d_bwd_weights = ssd_ref_conv2d_bwd_weights,
    .bn_fwd = ssd_ref_bn_fwd,
    .bn_bwd = ssd_ref_bn_bwd,
    .act_fwd = ssd_ref_act_fwd,
    .act_bwd = ssd_ref_act_bwd,
    .maxpool_fwd = ssd_ref_maxpool_fwd,
    .maxpool_bwd = ssd_ref_maxpool_bwd,
    .add = ssd_ref_add,
    .concat_fwd = ssd_ref_concat_fwd,
    .concat_bwd = ssd_ref_concat_bwd,
    .softmax_fwd = ssd_ref_softmax_fwd,
    .softmax_bwd = ssd_ref_softmax_bwd,
    .head_permute_fwd = ssd_ref_head_permute_fwd,
    .head_permute_bwd = ssd_ref_head_permute_bwd,
    .l2norm_fwd = ssd_ref_l2norm_fwd,
    .l2norm_bwd = ssd_ref_l2norm_bwd,
    .destroy = ref_destroy,
    .gap_fwd = ssd_ref_gap_fwd,
    .gap_bwd = ssd_ref_gap_bwd,
    .scale_fwd = ssd_ref_scale_fwd,
    .scale_bwd = ssd_ref_scale_bwd,
};

ssd_status ssd_backend_ref_create(ssd_backend **out) {
    *out = NULL;
    ssd_backend *be = ssd_calloc(1, sizeof *be);
    if (!be) return ssd_error_prefix(SSD_E_NOMEM, "ref backend");
    be->ops = &ref_ops;
    be->threads = 1;
    *out = be;
    return SSD_OK;
}

/* Internals of the reference backend: argument checks shared by its ops and
 * the op entry points its vtable points at (ref_backend.c). Every op checks
 * its arguments fully before writing anything, so a call with bad arguments
 * leaves its outputs untouched.
 *
 * Beyond backend.h, the reference ops:
 * - write save_mean / save_invstd in eval-mode bn_fwd too (from the running
 *   statistics, when given), because eval-mode bn_bwd needs the mean for
 *   dgamma and bn_bwd receives no running_mean;
 * - accept NULL for bn_bwd's dx, dgamma, dbeta and l2norm_bwd's dx, dscale
 *   (frozen layers), and for bn_fwd's save_* in eval mode;
 * - ignore p->act in conv2d backward: the caller applies act_bwd with the
 *   forward output first;
 * - keep the max-pool workspace as an int64 tensor of y's shape holding
 *   PyTorch's argmax indices (offset in the H*W plane);
 * - bump `version` of every tensor they write, running statistics included. */
#ifndef SSD_BACKEND_REF_OPS_H
#define SSD_BACKEND_REF_OPS_H

#include "backend/ref/ref.h"

/* Fails unless `t` is a readable plain host tensor of dtype `dt` with `ndim`
 * dims (-1: any) whose storage covers its shape. `op` and `name` go into the message. */
ssd_status ssd_ref_check_in(const ssd_tensor *t, const char *op, const char *name, ssd_dtype dt,
                            int ndim);
/* ssd_ref_check_in plus an exact shape. */
ssd_status ssd_ref_check_shape(const ssd_tensor *t, const char *op, const char *name, ssd_dtype dt,
                               int ndim, const int64_t *shape);
/* Fails unless dt is one the reference kernels are instantiated for (f32, f64). */
ssd_status ssd_ref_check_dtype(ssd_dtype dt, const char *op);
/* Fails when an output is the same tensor (or storage) as an input the op still reads. */
ssd_status ssd_ref_check_distinct(const ssd_tensor *out, const ssd_tensor *in, const char *op,
                                  const char *out_name, const char *in_name);
/* Fails when an output pointer is NULL. */
ssd_status ssd_ref_check_out(const ssd_tensor *t, const char *op, const char *name);
/* Prepares an output in plain layout on `be` and marks it written. */
ssd_status ssd_ref_prepare_out(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int ndim,
                               const int64_t *shape);

/* Calls the f32 or f64 instantiation of a kernel (see ref_instantiate.h). */
#define REF_DISPATCH(dt, fn, ...)                                                                  \
    do {                                                                                           \
        if ((dt) == SSD_F64)                                                                       \
            fn##_f64(__VA_ARGS__);                                                                 \
        else                                                                                       \
            fn##_f32(__VA_ARGS__);                                                                 \
    } while (0)

/* The ops (signatures as in ssd_backend_ops). */
ssd_status ssd_ref_conv2d_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                              const ssd_tensor *w, const ssd_tensor *b, const ssd_conv2d_params *p);
/* conv2d_fwd, or for a bfloat16 precision its emulation (backend.h). */
ssd_status ssd_ref_conv2d_infer(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                const ssd_tensor *w, const ssd_tensor *b,
                                const ssd_conv2d_params *p);
ssd_status ssd_ref_conv2d_bwd_data(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                   const ssd_tensor *x, const ssd_tensor *w,
                                   const ssd_conv2d_params *p);
ssd_status ssd_ref_conv2d_bwd_weights(ssd_backend *be, ssd_tensor *dw, ssd_tensor *db,
                                      const ssd_tensor *dy, const ssd_tensor *x,
                                      const ssd_tensor *w, const ssd_conv2d_params *p);
ssd_status ssd_ref_bn_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *save_mean,
                          ssd_tensor *save_invstd, ssd_tensor *ws, const ssd_tensor *x,
                          const ssd_tensor *gamma, const ssd_tensor *beta, ssd_tensor *running_mean,
                          ssd_tensor *running_var, const ssd_bn_params *p);
ssd_status ssd_ref_bn_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dgamma, ssd_tensor *dbeta,
                          const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *y,
                          const ssd_tensor *ws, const ssd_tensor *gamma,
                          const ssd_tensor *save_mean, const ssd_tensor *save_invstd,
                          const ssd_tensor *running_var, const ssd_bn_params *p);
ssd_status ssd_ref_act_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                           const ssd_act_params *p);
ssd_status ssd_ref_act_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                           const ssd_tensor *x, const ssd_tensor *y, const ssd_act_params *p);
ssd_status ssd_ref_maxpool_fwd(ssd_backend *be, ssd_tensor *y, ssd_tensor *ws, const ssd_tensor *x,
                               const ssd_pool_params *p);
ssd_status ssd_ref_maxpool_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                               const ssd_tensor *ws, const ssd_tensor *x, const ssd_pool_params *p);
ssd_status ssd_ref_add(ssd_backend *be, ssd_tensor *y, const ssd_tensor *a, const ssd_tensor *b);
ssd_status ssd_ref_concat_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *const *xs, int n,
                              int axis);
ssd_status ssd_ref_concat_bwd(ssd_backend *be, ssd_tensor *const *dxs, const ssd_tensor *dy,
                              const ssd_tensor *const *xs, int n, int axis);
ssd_status ssd_ref_softmax_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                               const ssd_softmax_params *p);
ssd_status ssd_ref_softmax_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                               const ssd_tensor *y, const ssd_softmax_params *p);
ssd_status ssd_ref_head_permute_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                                    const ssd_head_params *p);
ssd_status ssd_ref_head_permute_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                                    const ssd_tensor *x, const ssd_head_params *p);
ssd_status ssd_ref_l2norm_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                              const ssd_tensor *scale, const ssd_l2norm_params *p);
ssd_status ssd_ref_l2norm_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dscale,
                              const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *scale,
                              const ssd_l2norm_params *p);
ssd_status ssd_ref_gap_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x);
ssd_status ssd_ref_gap_bwd(ssd_backend *be, ssd_tensor *dx, const ssd_tensor *dy,
                           const ssd_tensor *x);
ssd_status ssd_ref_scale_fwd(ssd_backend *be, ssd_tensor *y, const ssd_tensor *x,
                             const ssd_tensor *s);
ssd_status ssd_ref_scale_bwd(ssd_backend *be, ssd_tensor *dx, ssd_tensor *ds, const ssd_tensor *dy,
                             const ssd_tensor *x, const ssd_tensor *s);

#endif

/* Batch norm internals shared by our kernels (cpu_bn.c) and the oneDNN
 * primitive path (cpu_bn_dnnl.c). */
#ifndef SSD_BACKEND_CPU_BN_H
#define SSD_BACKEND_CPU_BN_H

#include "backend/cpu/cpu.h"

#define ALIGN64(n) (((n) + 63) & ~(size_t)63)

/* The ws tensor (u8) starts with a header saying which path wrote it, so
 * backward takes the same path and reads what forward left. */
#define CPU_BN_WS_HDR 64
enum { CPU_BN_WS_DNNL = 1, CPU_BN_WS_OWN = 2 };

/* Makes ws hold the header for (kind, C) and `payload` bytes after it. */
ssd_status cpu_bn_ws(ssd_backend *be, ssd_tensor *ws, int kind, int64_t C, size_t payload);
/* Payload bytes of a ws that `kind` wrote for C channels; 0 if it did not. */
size_t cpu_bn_ws_payload(const ssd_tensor *ws, int kind, int64_t C);
/* A plain f32 (C) vector. */
ssd_status cpu_bn_check_c(const ssd_tensor *t, int64_t c, const char *name);

/* oneDNN's primitive, for cpu_bn_fwd and cpu_bn_bwd, which checked the
 * arguments before choosing it. */
ssd_status cpu_bn_fwd_dnnl(ssd_backend *be, ssd_tensor *y, ssd_tensor *save_mean,
                           ssd_tensor *save_invstd, ssd_tensor *ws, const ssd_tensor *x,
                           const ssd_tensor *gamma, const ssd_tensor *beta,
                           ssd_tensor *running_mean, ssd_tensor *running_var,
                           const ssd_bn_params *p);
ssd_status cpu_bn_bwd_dnnl(ssd_backend *be, ssd_tensor *dx, ssd_tensor *dgamma, ssd_tensor *dbeta,
                           const ssd_tensor *dy, const ssd_tensor *x, const ssd_tensor *y,
                           const ssd_tensor *ws, const ssd_tensor *gamma,
                           const ssd_tensor *save_mean, const ssd_tensor *save_invstd,
                           const ssd_tensor *running_var, const ssd_bn_params *p);

#endif

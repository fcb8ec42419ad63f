#include "tensor/backend.h"

#include "core/log.h"
#include "core/mem.h"

#include <stdio.h>
#include <string.h>

#ifdef SSD_HAVE_CUDA
#include "backend/cuda/cuda.h"
#endif

ssd_status ssd_backend_create(ssd_backend **out, const char *name) {
    *out = NULL;
    if (strcmp(name, "ref") == 0 || strcmp(name, "reference") == 0)
        return ssd_backend_ref_create(out);
    if (strcmp(name, "cpu") == 0) return ssd_backend_cpu_create(out);
#ifdef SSD_HAVE_CUDA
    if (strcmp(name, "cuda") == 0) return ssd_backend_cuda_create(out);
#endif
    return ssd_error_set(SSD_E_UNSUPPORTED, "unknown backend '%s' (this build has: %s)", name,
                         ssd_backend_list());
}

void ssd_backend_destroy(ssd_backend *be) {
    if (be) be->ops->destroy(be);
}

void *ssd_backend_host_alloc(ssd_backend *be, size_t bytes) {
    return be && be->ops->host_alloc ? be->ops->host_alloc(be, bytes) : ssd_aligned_alloc(bytes);
}

void ssd_backend_host_free(ssd_backend *be, void *p) {
    if (!p) return;
    if (be && be->ops->host_free)
        be->ops->host_free(be, p);
    else
        ssd_free(p);
}

void *ssd_backend_host_alloc_cb(void *be, size_t bytes) {
    return ssd_backend_host_alloc(be, bytes);
}

void ssd_backend_host_free_cb(void *be, void *p) {
    ssd_backend_host_free(be, p);
}

ssd_status ssd_tensor_upload(ssd_tensor *t, const void *host) {
    if (!t->be->ops->upload) return ssd_tensor_set(t, host, t->dtype);
    ssd_status st = t->be->ops->upload(t->be, t, host);
    t->version++;
    return st;
}

const char *ssd_backend_choose(bool use_cuda, int level, const char *what) {
    if (!use_cuda) return "cpu";
    if (ssd_backend_cuda_devices() > 0) return "cuda";
    char why[256];
    ssd_log((ssd_log_level)level, "CUDA is not available (%s); %s on the CPU.",
            ssd_backend_cuda_describe(why, sizeof why), what);
    return "cpu";
}

ssd_status ssd_backend_create_or_cpu(ssd_backend **out, const char *name, int level,
                                     const char *what) {
    ssd_status st = ssd_backend_create(out, name);
    if (st == SSD_OK || strcmp(name, "cuda") != 0) return st;
    ssd_log((ssd_log_level)level, "CUDA is not usable (%s); %s on the CPU.", ssd_error_message(),
            what);
    ssd_error_clear();
    return ssd_backend_create(out, "cpu");
}

const char *ssd_backend_list(void) {
#ifdef SSD_HAVE_CUDA
    return "ref,cpu,cuda";
#else
    return "ref,cpu";
#endif
}

int ssd_backend_cuda_devices(void) {
#ifdef SSD_HAVE_CUDA
    return ssd_cuda_device_count();
#else
    return 0;
#endif
}

const char *ssd_backend_cuda_describe(char *buf, size_t n) {
#ifdef SSD_HAVE_CUDA
    return ssd_cuda_describe(buf, n);
#else
    snprintf(buf, n, "not built (no nvcc/cuDNN found at configure time, or -DSSD_CUDA=OFF)");
    return buf;
#endif
}

static const char *const prec_names[] = {"fp32", "tf32", "bf16", "fp16"};

ssd_status ssd_precision_parse(const char *s, ssd_precision *out) {
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, prec_names[i]) == 0) {
            *out = (ssd_precision)i;
            return SSD_OK;
        }
    return ssd_error_set(SSD_E_INVAL, "unknown precision '%s' (fp32, tf32, bf16 or fp16)",
                         s ? s : "");
}

const char *ssd_precision_name(ssd_precision p) {
    return (unsigned)p < 4 ? prec_names[p] : "?";
}

ssd_status ssd_backend_set_precision(ssd_backend *be, ssd_precision prec) {
    if (be->ops->set_precision) return be->ops->set_precision(be, prec);
    if (prec == SSD_PREC_FP32) return SSD_OK;
    return ssd_error_set(SSD_E_UNSUPPORTED,
                         "precision %s: the %s backend computes in fp32 only (tf32, fp16 and bf16 "
                         "training are the cuda backend's)",
                         ssd_precision_name(prec), be->ops->name);
}

ssd_status ssd_backend_infer_precision(ssd_backend *be, ssd_precision prec) {
    if (prec != SSD_PREC_BF16) return ssd_backend_set_precision(be, prec);
    if (!ssd_backend_has(be, SSD_OP_CONV2D, SSD_BF16, NULL))
        return ssd_error_set(SSD_E_UNSUPPORTED,
                             "precision bf16: the %s backend has no bfloat16 convs on this machine "
                             "(the cpu backend needs a CPU with AVX512_BF16 or AMX)",
                             be->ops->name);
    return SSD_OK;
}

int64_t ssd_conv_out_size(int64_t in, int k, int stride, int pad, int dilation) {
    return (in + 2 * pad - (int64_t)dilation * (k - 1) - 1) / stride + 1;
}

int64_t ssd_pool_out_size(int64_t in, int k, int stride, int pad, bool ceil_mode) {
    int64_t span = in + 2 * pad - k;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    /* PyTorch: the last window must start inside the input or left padding. */
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

ssd_status ssd_tensor_prepare_plain(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int ndim,
                                    const int64_t *shape) {
    size_t bytes = ssd_dtype_size(dt);
    for (int i = 0; i < ndim; i++) bytes *= (size_t)shape[i];
    if (t->be && t->be != be) ssd_tensor_deinit(t);
    if (t->view && t->cap >= bytes) {
        ssd_free(t->layout);
        t->layout = NULL;
    } else if (t->layout || t->cap < bytes) {
        ssd_tensor_deinit(t);
        t->be = be;
        t->view = false;
        SSD_TRY(be->ops->alloc(be, t, bytes));
    }
    t->be = be;
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    return SSD_OK;
}

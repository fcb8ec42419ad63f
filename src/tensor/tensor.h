/* A tensor: dtype, logical shape (NCHW order for images), and storage that
 * belongs to a backend in whatever physical layout that backend prefers.
 *
 * The logical shape is what PyTorch would report. The physical layout is the
 * backend's business: `layout == NULL` means plain row-major over the logical
 * shape; otherwise it is a backend-private description (for the oneDNN
 * backend a memory descriptor such as nChw16c). Host code never reads
 * `data` directly unless layout is plain and the backend is host-resident;
 * it uses ssd_tensor_get / ssd_tensor_set, which convert at the edge. */
#ifndef SSD_TENSOR_TENSOR_H
#define SSD_TENSOR_TENSOR_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSD_MAX_DIMS 6

typedef enum { SSD_F32 = 0, SSD_F64, SSD_F16, SSD_BF16, SSD_I64, SSD_I32, SSD_U8 } ssd_dtype;

size_t ssd_dtype_size(ssd_dtype dt);
const char *ssd_dtype_name(ssd_dtype dt);

struct ssd_backend;

typedef struct ssd_tensor {
    ssd_dtype dtype;
    int ndim;
    int64_t shape[SSD_MAX_DIMS]; /* logical shape, outermost first */
    struct ssd_backend *be;      /* owner of data/layout; never NULL once initialised */
    void *data;                  /* backend storage (host or device) */
    size_t cap;                  /* bytes allocated at data */
    void *layout;                /* NULL = plain row-major; else backend-private */
    uint64_t version;            /* bumped on every write; lets backends cache derived copies */
    /* data borrowed (an arena's), not freed by deinit; cap is fixed. Ops write
     * into it in any layout that fits in cap (the layout is the tensor's own)
     * and fall back to storage of their own when it does not fit. */
    bool view;
} ssd_tensor;

/* Sets dtype and shape on `be`; no storage yet (ops and ssd_tensor_alloc allocate). */
void ssd_tensor_init(ssd_tensor *t, struct ssd_backend *be, ssd_dtype dt, int ndim,
                     const int64_t *shape);
/* Convenience for up to 4 dims; trailing zeros are ignored: ssd_tensor_init4(t,be,F32,N,C,H,W). */
void ssd_tensor_init4(ssd_tensor *t, struct ssd_backend *be, ssd_dtype dt, int64_t d0, int64_t d1,
                      int64_t d2, int64_t d3);
/* Makes t a tensor of this backend, dtype and shape, keeping its storage when they
 * already match (else it is freed and the tensor re-initialised without storage). */
void ssd_tensor_ensure(ssd_tensor *t, struct ssd_backend *be, ssd_dtype dt, int ndim,
                       const int64_t *shape);
/* Frees storage and layout (NULL-safe, idempotent). Keeps nothing. */
void ssd_tensor_deinit(ssd_tensor *t);

/* Changes the logical shape; storage kept if large enough, layout reset to plain. */
void ssd_tensor_reshape(ssd_tensor *t, int ndim, const int64_t *shape);

int64_t ssd_tensor_numel(const ssd_tensor *t);
size_t ssd_tensor_nbytes(const ssd_tensor *t); /* numel * dtype size, plain layout */
bool ssd_tensor_same_shape(const ssd_tensor *a, const ssd_tensor *b);
/* "[2, 3, 4]" into buf; returns buf. */
const char *ssd_tensor_shape_str(const ssd_tensor *t, char *buf, size_t n);

/* Allocates plain storage for the current shape (zero-filled). */
ssd_status ssd_tensor_alloc(ssd_tensor *t);
/* Copies plain row-major host data of dtype `dt` in; converts dtype (f32/f64) and layout. */
ssd_status ssd_tensor_set(ssd_tensor *t, const void *host, ssd_dtype dt);
/* Copies the tensor out as plain row-major host data of dtype `dt`. */
ssd_status ssd_tensor_get(const ssd_tensor *t, void *host, ssd_dtype dt);
/* Sets every element to `v`. */
ssd_status ssd_tensor_fill(ssd_tensor *t, double v);
/* Makes `t` plain row-major in place (a no-op when it already is). */
ssd_status ssd_tensor_to_plain(ssd_tensor *t);

#endif

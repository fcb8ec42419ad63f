/* The reference backend: plain C, plain row-major layout, float32 and float64.
 * It is the oracle every fast backend is tested against, so it favours
 * obviously-correct loops over speed. */
#ifndef SSD_BACKEND_REF_H
#define SSD_BACKEND_REF_H

#include "tensor/backend.h"

/* Host storage helpers shared by host-resident backends. */
ssd_status ssd_host_alloc(ssd_backend *be, ssd_tensor *t, size_t bytes);
void ssd_host_free(ssd_backend *be, ssd_tensor *t);
ssd_status ssd_host_set(ssd_backend *be, ssd_tensor *t, const void *host, ssd_dtype dt);
ssd_status ssd_host_get(ssd_backend *be, const ssd_tensor *t, void *host, ssd_dtype dt);
ssd_status ssd_host_fill(ssd_backend *be, ssd_tensor *t, double v);

#endif

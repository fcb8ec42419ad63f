/* The CUDA backend (cuDNN convolutions, own kernels for everything else):
 * tensors live in device memory, plain row-major (NCHW) float32, on one
 * stream per backend. Built only where nvcc and cuDNN are found
 * (SSD_HAVE_CUDA); the rest of the program reaches it through
 * ssd_backend_create("cuda") and the helpers in tensor/backend.h. */
#ifndef SSD_BACKEND_CUDA_H
#define SSD_BACKEND_CUDA_H

#include "tensor/backend.h"

/* Usable devices; 0 when there is no driver or no GPU (never an error). */
int ssd_cuda_device_count(void);
/* Runtime, driver, cuDNN and device 0 in one line. Returns buf. */
const char *ssd_cuda_describe(char *buf, size_t n);
/* Waits for everything queued on the backend's stream; reports a kernel that failed. */
ssd_status ssd_cuda_sync(ssd_backend *be);
/* Bytes the backend's caching allocator holds (in use + cached), for tests and benchmarks. */
size_t ssd_cuda_pool_bytes(const ssd_backend *be);
/* How many times the backend called cudaMalloc so far (steady state: no change per step). */
long ssd_cuda_malloc_count(const ssd_backend *be);

#endif

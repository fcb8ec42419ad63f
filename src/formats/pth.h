/* PyTorch checkpoints: a state_dict (name -> tensor) read from and written to
 * `.pth` files that torch.load / torch.save understand.
 *
 * Read: the zip format (<archive>/data.pkl + <archive>/data/<key>, any archive
 * folder name) and the legacy pre-1.6 format (magic, protocol, sys info
 * pickles, the pickled object with persistent ids, the storage keys, then the
 * raw storages). The object may be a state_dict (OrderedDict or dict) or a
 * dict that holds one under "state_dict", "model", "net" or "model_state_dict".
 * Tensors come back contiguous (strides and storage offsets applied), in their
 * stored dtype (float32, float64, float16, bfloat16, int64, int32, uint8).
 * Write: the zip format of torch 1.13 (archive "archive"), as an OrderedDict
 * with _metadata absent, so `torch.load` returns identical tensors. */
#ifndef SSD_FORMATS_PTH_H
#define SSD_FORMATS_PTH_H

#include "core/status.h"
#include "tensor/tensor.h"

#include <stdint.h>

typedef struct {
    char *name;
    ssd_dtype dtype;
    int ndim;
    int64_t shape[SSD_MAX_DIMS];
    void *data; /* contiguous row-major, numel * dtype size bytes */
} ssd_pth_tensor;

typedef struct {
    int count, cap;
    ssd_pth_tensor *t;
} ssd_state_dict;

void ssd_state_dict_init(ssd_state_dict *sd);
void ssd_state_dict_free(ssd_state_dict *sd);
/* Appends a copy of data; fails on a duplicate name. */
ssd_status ssd_state_dict_add(ssd_state_dict *sd, const char *name, ssd_dtype dt, int ndim,
                              const int64_t *shape, const void *data);
const ssd_pth_tensor *ssd_state_dict_find(const ssd_state_dict *sd, const char *name);
int64_t ssd_pth_tensor_numel(const ssd_pth_tensor *t);

/* Errors name the file and, where it applies, the key; malformed contents give
 * SSD_E_FORMAT. *sd is initialised by the call (pass an empty or uninitialised
 * one) and is left empty on failure. Memory stays within a small multiple of
 * the file size whatever the file says. */
ssd_status ssd_pth_load(ssd_state_dict *sd, const char *path);
ssd_status ssd_pth_load_mem(ssd_state_dict *sd, const uint8_t *data, size_t len, const char *name);
/* Atomic: written to a temporary name and renamed. */
ssd_status ssd_pth_save(const ssd_state_dict *sd, const char *path);

#endif

/* Fixtures written by the tests' own Python scripts (tests/common/fixture.py):
 * a file of named tensors ("SSDT" container, little-endian):
 *   "SSDT0001" u32 count, then per tensor:
 *   u32 name_len, name, u32 dtype (0 f32, 1 f64, 4 i64), u32 ndim, i64 shape[ndim], raw data.
 * The .pth reader is exercised by the model tests; op fixtures stay in this
 * simpler container so that the op tests depend on nothing but libc. */
#ifndef SSD_TEST_FIXTURE_H
#define SSD_TEST_FIXTURE_H

#include "core/status.h"
#include "tensor/tensor.h"

#include <stdint.h>

typedef struct {
    char *name;
    ssd_dtype dtype;
    int ndim;
    int64_t shape[SSD_MAX_DIMS];
    void *data;
    int64_t numel;
} fixture_tensor;

typedef struct {
    int count;
    fixture_tensor *t;
} fixture_file;

ssd_status fixture_load(fixture_file *f, const char *path);
void fixture_free(fixture_file *f);
/* NULL if absent. */
const fixture_tensor *fixture_find(const fixture_file *f, const char *name);
/* Creates an ssd tensor on `be` holding the fixture's values (converted to dt). */
ssd_status fixture_to_tensor(ssd_tensor *t, struct ssd_backend *be, ssd_dtype dt,
                             const fixture_tensor *ft);

#endif

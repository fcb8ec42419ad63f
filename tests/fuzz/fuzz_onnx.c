/* libFuzzer target for the ONNX loader: any bytes must load or fail with a
 * message naming the file; a graph that loads with a small declared input is
 * also planned and run, twice. `make fuzz-onnx` (clang, ASan+UBSan); seeds in corpus_onnx/. */
#include "runtime/onnx_runtime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static ssd_backend *be;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    if (!be && ssd_backend_create(&be, "ref") != SSD_OK) abort();
    ssd_onnx_model *m = NULL;
    if (ssd_onnx_load_mem(&m, data, len, "fuzz.onnx", be) != SSD_OK) {
        if (strncmp(ssd_error_message(), "fuzz.onnx", 9) != 0) abort(); /* must name the file */
        return 0;
    }
    int64_t dims[SSD_MAX_DIMS];
    int nd = ssd_onnx_input_dims(m, dims);
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n = dims[d] > 0 ? n * dims[d] : 1 << 30;
    if (nd >= 1 && n <= 4096) {
        ssd_tensor x;
        ssd_tensor_init(&x, be, SSD_F32, nd, dims);
        /* twice: the second run has the values in shared buffers (rt_share.c) */
        if (ssd_tensor_alloc(&x) == SSD_OK && ssd_onnx_run(m, &x) == SSD_OK)
            (void)ssd_onnx_run(m, &x);
        ssd_tensor_deinit(&x);
    }
    ssd_onnx_destroy(m);
    return 0;
}

/* libFuzzer target for the .pth reader (make fuzz-pth). Any input must load or
 * fail with SSD_E_FORMAT; whatever loads must survive ssd_pth_save and load back
 * identical. */
#include "formats/pth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void same_or_die(const ssd_state_dict *a, const ssd_state_dict *b) {
    if (a->count != b->count) abort();
    for (int i = 0; i < a->count; i++) {
        const ssd_pth_tensor *x = &a->t[i], *y = &b->t[i];
        size_t n = (size_t)ssd_pth_tensor_numel(x) * ssd_dtype_size(x->dtype);
        if (strcmp(x->name, y->name) || x->dtype != y->dtype || x->ndim != y->ndim ||
            memcmp(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim) ||
            (n && memcmp(x->data, y->data, n)))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ssd_state_dict sd;
    ssd_status st = ssd_pth_load_mem(&sd, data, size, "fuzz.pth");
    if (st != SSD_OK && st != SSD_E_FORMAT) abort();
    if (st == SSD_OK) {
        static char path[64];
        if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_pth.%ld.pth", (long)getpid());
        ssd_state_dict back;
        if (ssd_pth_save(&sd, path) != SSD_OK || ssd_pth_load(&back, path) != SSD_OK) abort();
        same_or_die(&sd, &back);
        ssd_state_dict_free(&back);
        remove(path);
    }
    ssd_state_dict_free(&sd);
    return 0;
}

/* The ONNX runtime on small graphs that torch.onnx.export wrote at opsets 11,
 * 13 and 17, and the 17 ones rewritten to 18 and 21 (gen_onnx_ops.py): hard-swish / hard-sigmoid
 * (HardSigmoid, Mul, HardSwish, and pytorch-ssd's Add/Clip/Mul/Div spelling), squeeze-excite
 * (GlobalAveragePool, ReduceMean over H and W, broadcast Mul), fire modules
 * (Concat, ceil-mode MaxPool), VGG's dilated fc6 and pool5, the inverted
 * residual (Clip as ReLU6, Add) and 5x5 depthwise convs; and ReduceMean-18's
 * noop_with_empty_axes, by hand. Each file runs on the
 * ref and cpu backends and must match PyTorch's output to 1e-4. */
#include "fixture.h"
#include "test.h"

#include "core/threads.h"
#include "runtime/onnx_runtime.h"

#include <stdio.h>
#include <stdlib.h>

static const char *NETS[] = {"se", "hardops", "fire", "vgg", "invres"};
static const int OPSETS[] = {11, 13, 17, 18, 21}; /* 18, 21: rewritten from 17 */
/* ReduceMean-18 with an empty or absent axes input, noop_with_empty_axes 1 (identity) and 0
 * (mean over everything); opset 18 only */
static const char *RM18[] = {"rm_noop_empty", "rm_all_empty", "rm_noop_none", "rm_all_none"};

static void run_one(ssd_backend *be, const char *dir, const char *net, int opset,
                    const fixture_file *f) {
    char path[4096], what[160];
    snprintf(path, sizeof path, "%s/%s_op%d.onnx", dir, net, opset);
    snprintf(what, sizeof what, "%s %s opset %d", be->ops->name, net, opset);
    const fixture_tensor *fx = fixture_find(f, "x"), *fy = fixture_find(f, "y");
    CHECK(fx && fy);
    if (!fx || !fy) return;
    ssd_onnx_model *m = NULL;
    ssd_status st = ssd_onnx_load(&m, path, be);
    CHECK_OK(st);
    if (st != SSD_OK) {
        fprintf(stderr, "%s: %s\n", what, ssd_error_message());
        return;
    }
    ssd_tensor x;
    CHECK_OK(fixture_to_tensor(&x, be, SSD_F32, fx));
    /* twice: the second run reuses the plan */
    for (int rep = 0; rep < 2; rep++) {
        st = ssd_onnx_run(m, &x);
        CHECK_OK(st);
        if (st != SSD_OK) {
            fprintf(stderr, "%s: %s\n", what, ssd_error_message());
            break;
        }
        const ssd_tensor *y = ssd_onnx_output(m, 0);
        CHECK(y && ssd_tensor_numel(y) == fy->numel);
        if (y && ssd_tensor_numel(y) == fy->numel) test_close_tensor(what, y, fy->data, 1e-5, 1e-4);
    }
    ssd_tensor_deinit(&x);
    ssd_onnx_destroy(m);
}

/* One net's fixture (x, y) against its file at each opset. */
static void run_net(ssd_backend *be, const char *dir, const char *net, const int *opsets,
                    size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.ssdt", dir, net);
    fixture_file f;
    ssd_status st = fixture_load(&f, path);
    CHECK_OK(st);
    if (st != SSD_OK) return;
    for (size_t k = 0; k < n; k++) run_one(be, dir, net, opsets[k], &f);
    fixture_free(&f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_onnx_ops FIXTURE_DIR\n");
        return 2;
    }
    ssd_threads_set(2);
    const char *backends[2] = {"ref", "cpu"};
    for (int b = 0; b < 2; b++) {
        ssd_backend *be = NULL;
        if (ssd_backend_create(&be, backends[b]) != SSD_OK) {
            printf("note: %s backend not available\n", backends[b]);
            continue;
        }
        static const int op18[] = {18};
        for (size_t i = 0; i < sizeof NETS / sizeof NETS[0]; i++)
            run_net(be, argv[1], NETS[i], OPSETS, sizeof OPSETS / sizeof OPSETS[0]);
        for (size_t i = 0; i < sizeof RM18 / sizeof RM18[0]; i++)
            run_net(be, argv[1], RM18[i], op18, 1);
        ssd_backend_destroy(be);
    }
    return test_finish();
}

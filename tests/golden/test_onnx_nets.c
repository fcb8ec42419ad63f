/* torch.onnx.export files of every SSD net other than mb1-ssd (gen_onnx_nets.py:
 * opsets 11, 13 and 17, dynamic batch) load in our runtime and give PyTorch's
 * scores and boxes on two real frames, batch 2 and then batch 1 (re-planned),
 * twice: the second run has the values in shared buffers.
 * With `DIR --ort NET...` (test_onnx_ort.sh, DIR its fixtures' nets/): our
 * exports DIR/NET.onnx, run by ONNX Runtime (DIR/NET.onnx.<output>.f32) and
 * by our runtime, against PyTorch's outputs in DIR/nets.ssdt. */
#include "test.h"

#include "fixture.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/threads.h"
#include "runtime/onnx_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* As test_onnx: float32 convolutions summed in another order, BN folded. */
#define TOL 1e-4

static const char *dir;
static ssd_backend *be;

/* Output `name` of the last run against ref's first n values. */
static void check_output(ssd_onnx_model *m, const char *what, const char *name,
                         const fixture_tensor *ref, int64_t n) {
    int i = ssd_onnx_output_index(m, name);
    CHECK(i >= 0 && ref && ref->numel >= n);
    if (i < 0 || !ref || ref->numel < n) return;
    const ssd_tensor *y = ssd_onnx_output(m, i);
    CHECK(ssd_tensor_numel(y) == n);
    if (ssd_tensor_numel(y) != n) return;
    char w[256];
    snprintf(w, sizeof w, "%s %s", what, name);
    CHECK(test_close_tensor(w, y, ref->data, TOL, TOL));
}

static void check_net(const fixture_file *f, const char *net, const char *what, const char *path) {
    char key[128];
    ssd_onnx_model *m = NULL;
    CHECK_OK(ssd_onnx_load(&m, path, be));
    if (!m) return;
    snprintf(key, sizeof key, "scores_%s", net);
    const fixture_tensor *s = fixture_find(f, key);
    snprintf(key, sizeof key, "boxes_%s", net);
    const fixture_tensor *b = fixture_find(f, key);
    const fixture_tensor *xf = fixture_find(f, "x");
    CHECK(s && b && xf && xf->ndim == 4);
    ssd_tensor x;
    ssd_tensor_init(&x, be, SSD_F32, 0, NULL);
    if (s && b && xf && fixture_to_tensor(&x, be, SSD_F32, xf) == SSD_OK) {
        CHECK_OK(ssd_onnx_run(m, &x));
        check_output(m, what, "scores", s, s->numel);
        check_output(m, what, "boxes", b, b->numel);
        /* the first frame alone: the batch's first half of each output */
        int64_t one[4] = {1, xf->shape[1], xf->shape[2], xf->shape[3]};
        ssd_tensor x1;
        ssd_tensor_init(&x1, be, SSD_F32, 4, one);
        CHECK_OK(ssd_tensor_alloc(&x1));
        CHECK_OK(ssd_tensor_set(&x1, xf->data, SSD_F32));
        CHECK_OK(ssd_onnx_run(m, &x1));
        check_output(m, what, "scores", s, s->numel / 2);
        check_output(m, what, "boxes", b, b->numel / 2);
        /* again, now with the values in shared buffers (rt_share.c) */
        ssd_onnx_stats st;
        ssd_onnx_get_stats(m, &st);
        CHECK(be->ops->device_memory || st.shared_values > 0);
        CHECK_OK(ssd_onnx_run(m, &x1));
        check_output(m, what, "scores", s, s->numel / 2);
        check_output(m, what, "boxes", b, b->numel / 2);
        ssd_tensor_deinit(&x1);
    }
    ssd_tensor_deinit(&x);
    ssd_onnx_destroy(m);
}

/* ONNX Runtime's output `name` of DIR/NET.onnx against PyTorch's. */
static void check_ort(const fixture_file *f, const char *net, const char *name) {
    char p[1024], key[128], what[256];
    snprintf(key, sizeof key, "%s_%s", name, net);
    const fixture_tensor *ref = fixture_find(f, key);
    CHECK(ref != NULL);
    if (!ref) return;
    snprintf(p, sizeof p, "%s/%s.onnx.%s.f32", dir, net, name);
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_OK(ssd_file_read_all(p, &data, &len));
    CHECK(len == (size_t)ref->numel * sizeof(float));
    snprintf(what, sizeof what, "%s: ONNX Runtime vs PyTorch, %s", net, name);
    if (data && len == (size_t)ref->numel * sizeof(float))
        CHECK(test_close_f32(what, (const float *)data, ref->data, (long)ref->numel, TOL, TOL));
    ssd_free(data);
}

static int ort_mode(int n, char **nets) {
    fixture_file f;
    char p[1024];
    snprintf(p, sizeof p, "%s/nets.ssdt", dir);
    REQUIRE_OK(fixture_load(&f, p));
    for (int i = 0; i < n; i++) {
        char what[160];
        check_ort(&f, nets[i], "scores");
        check_ort(&f, nets[i], "boxes");
        snprintf(p, sizeof p, "%s/%s.onnx", dir, nets[i]);
        snprintf(what, sizeof what, "%s: our export in our runtime vs PyTorch,", nets[i]);
        check_net(&f, nets[i], what, p);
    }
    CHECK(n > 0);
    printf("%d exports checked against ONNX Runtime and PyTorch\n", n);
    fixture_free(&f);
    ssd_backend_destroy(be);
    return test_finish();
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_onnx_nets FIXTURE_DIR\n");
        return 2;
    }
    dir = argv[1];
    ssd_threads_set(2);
    REQUIRE_OK(test_runtime_backend(&be));
    if (argc > 2 && !strcmp(argv[2], "--ort")) return ort_mode(argc - 3, argv + 3);
    fixture_file f;
    char path[1024];
    snprintf(path, sizeof path, "%s/nets.ssdt", dir);
    REQUIRE_OK(fixture_load(&f, path));
    snprintf(path, sizeof path, "%s/nets.txt", dir);
    FILE *l = fopen(path, "r");
    CHECK(l != NULL);
    char net[64], file[256];
    int opset, n = 0;
    while (l && fscanf(l, "%63s %d %255s", net, &opset, file) == 3) {
        char what[160];
        snprintf(what, sizeof what, "%s (torch export, opset %d)", net, opset);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        check_net(&f, net, what, path);
        n++;
    }
    if (l) fclose(l);
    CHECK(n == 6);
    printf("%d torch exports checked\n", n);
    fixture_free(&f);
    ssd_backend_destroy(be);
    return test_finish();
}

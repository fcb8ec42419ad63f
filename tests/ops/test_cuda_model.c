/* The whole mb1-ssd on the cuda backend against the cpu backend: the same
 * weights and input, a training-mode forward (conf, loc, BN running
 * statistics), a backward from the same output gradients (every parameter
 * gradient), and one SGD step (every weight), in float32, TF32, bf16 and fp16; then
 * the ONNX runtime on cuda (its host kernels on staged copies) against the
 * same file on the cpu, batch 1 and 3, in float32 and with bf16 convs.
 * Skips (exit 77) when the cuda backend is not built or no GPU is present. */
#include "test.h"

#include "core/mem.h"
#include "formats/onnx.h"
#include "models/model.h"
#include "runtime/onnx_runtime.h"
#include "train/sgd.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Tolerances relative to each tensor's largest magnitude. Both sides compute
 * in float32 but sum in different orders through ~30 layers with batch norm,
 * which renormalises (and so amplifies) small differences: measured cpu vs
 * ref differences of this model are ~1e-5 relative; 1e-3 of the largest
 * value leaves room for cuDNN's algorithms without hiding a wrong op (which
 * gives O(1) errors). TF32 rounds conv inputs to 10 mantissa bits: ~3e-2. */
typedef struct {
    double fwd, grad, weight;
} tols;

static const tols fp32_tol = {1e-3, 2e-3, 1e-5};
static const tols tf32_tol = {3e-2, 6e-2, 1e-3};
/* 16-bit convs: bfloat16 keeps 3 bits fewer than TF32 (8x the rounding) and cuDNN stores
 * every conv's sum in bfloat16 too; fp16 keeps TF32's 11 bits (its weight gradients are
 * TF32's). Not yet measured on a GPU: the run prints the worst ratio of each. */
static const tols bf16_tol = {3e-1, 6e-1, 1e-2};
static const tols fp16_tol = {3e-2, 6e-2, 1e-3};

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static float *get_all(const ssd_tensor *t) {
    int64_t n = ssd_tensor_numel(t);
    float *h = ssd_malloc((size_t)(n ? n : 1) * sizeof *h);
    CHECK_OK(ssd_tensor_get(t, h, SSD_F32));
    return h;
}

/* The largest |a - b| / max|b| seen by cmp_rel since it was reset: printed per run, so the
 * tolerances can be set from measurements (gpu-check shows the "measured" lines). */
static double worst;

/* Compares with atol = rel * max|ref|. */
static void cmp_rel(const char *what, const ssd_tensor *a, const ssd_tensor *b, double rel) {
    if (!ssd_tensor_same_shape(a, b)) {
        test_failed++;
        fprintf(stderr, "FAIL %s: shapes differ\n", what);
        return;
    }
    int64_t n = ssd_tensor_numel(a);
    float *ha = get_all(a), *hb = get_all(b);
    double mx = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)hb[i]));
    for (int64_t i = 0; i < n && mx > 0; i++)
        worst = fmax(worst, fabs((double)ha[i] - (double)hb[i]) / mx);
    CHECK(test_close_f32(what, ha, hb, (long)n, rel * mx + 1e-7, rel));
    ssd_free(ha);
    ssd_free(hb);
}

static void copy_tensor(ssd_tensor *dst, const ssd_tensor *src) {
    float *h = get_all(src);
    CHECK_OK(ssd_tensor_set(dst, h, SSD_F32));
    ssd_free(h);
}

static void run(ssd_backend *cpu, ssd_backend *cu, const tols *t, const char *tag) {
    const int n = 2, classes = 21;
    ssd_model *mc = NULL, *mg = NULL;
    CHECK_OK(ssd_model_create(&mc, cpu, "mb1-ssd", classes, 300));
    CHECK_OK(ssd_model_create(&mg, cu, "mb1-ssd", classes, 300));
    if (!mc || !mg) goto done;
    CHECK(mc->params.n == mg->params.n);
    for (int i = 0; i < mc->params.n && i < mg->params.n; i++)
        if (mc->params.p[i].value) copy_tensor(mg->params.p[i].value, mc->params.p[i].value);

    int64_t xs[4] = {n, 3, 300, 300};
    ssd_tensor xc, xg;
    ssd_tensor_init(&xc, cpu, SSD_F32, 4, xs);
    ssd_tensor_init(&xg, cu, SSD_F32, 4, xs);
    float *hx = ssd_malloc((size_t)(n * 3 * 300 * 300) * sizeof *hx);
    for (int64_t i = 0; i < n * 3 * 300 * 300; i++) hx[i] = rnd();
    CHECK_OK(ssd_tensor_set(&xc, hx, SSD_F32));
    CHECK_OK(ssd_tensor_set(&xg, hx, SSD_F32));
    ssd_free(hx);

    double w_fwd, w_grad;
    worst = 0;
    CHECK_OK(ssd_model_forward(mc, &xc, true));
    CHECK_OK(ssd_model_forward(mg, &xg, true));
    char what[192];
    snprintf(what, sizeof what, "%s conf", tag);
    cmp_rel(what, &mg->conf, &mc->conf, t->fwd);
    snprintf(what, sizeof what, "%s loc", tag);
    cmp_rel(what, &mg->loc, &mc->loc, t->fwd);
    for (int i = 0; i < mc->params.n; i++)
        if (mc->params.p[i].buffer && mc->params.p[i].value) {
            snprintf(what, sizeof what, "%s %s", tag, mc->params.p[i].name);
            cmp_rel(what, mg->params.p[i].value, mc->params.p[i].value, t->fwd);
        }

    w_fwd = worst;
    worst = 0;
    /* Output gradients as the loss gives them: small, dense. */
    ssd_tensor_ensure(&mc->dconf, cpu, SSD_F32, 3, mc->conf.shape);
    ssd_tensor_ensure(&mc->dloc, cpu, SSD_F32, 3, mc->loc.shape);
    ssd_tensor_ensure(&mg->dconf, cu, SSD_F32, 3, mg->conf.shape);
    ssd_tensor_ensure(&mg->dloc, cu, SSD_F32, 3, mg->loc.shape);
    ssd_tensor *ds[2][2] = {{&mc->dconf, &mg->dconf}, {&mc->dloc, &mg->dloc}};
    for (int k = 0; k < 2; k++) {
        int64_t m = ssd_tensor_numel(ds[k][0]);
        float *h = ssd_malloc((size_t)m * sizeof *h);
        for (int64_t i = 0; i < m; i++) h[i] = rnd() * 1e-3f;
        CHECK_OK(ssd_tensor_set(ds[k][0], h, SSD_F32));
        CHECK_OK(ssd_tensor_set(ds[k][1], h, SSD_F32));
        ssd_free(h);
    }
    CHECK_OK(ssd_model_backward(mc));
    CHECK_OK(ssd_model_backward(mg));
    for (int i = 0; i < mc->params.n; i++)
        if (mc->params.p[i].grad) {
            snprintf(what, sizeof what, "%s grad %s", tag, mc->params.p[i].name);
            cmp_rel(what, mg->params.p[i].grad, mc->params.p[i].grad, t->grad);
        }

    w_grad = worst;
    worst = 0;
    ssd_sgd oc, og;
    CHECK_OK(ssd_sgd_init(&oc, &mc->params, 0.9, 5e-4));
    CHECK_OK(ssd_sgd_init(&og, &mg->params, 0.9, 5e-4));
    for (int g = 0; g < 3; g++) oc.lr[g] = og.lr[g] = 0.01;
    CHECK_OK(ssd_sgd_step(&oc));
    CHECK_OK(ssd_sgd_step(&og));
    for (int i = 0; i < mc->params.n; i++)
        if (mc->params.p[i].grad) {
            snprintf(what, sizeof what, "%s updated %s", tag, mc->params.p[i].name);
            cmp_rel(what, mg->params.p[i].value, mc->params.p[i].value, t->weight);
        }
    printf("measured %s: worst |diff| / max of forward %.1e (tolerance %.0e), gradients %.1e "
           "(%.0e), updated weights %.1e (%.0e)\n",
           tag, w_fwd, t->fwd, w_grad, t->grad, worst, t->weight);
    ssd_sgd_deinit(&oc);
    ssd_sgd_deinit(&og);
    ssd_tensor_deinit(&xc);
    ssd_tensor_deinit(&xg);
done:
    ssd_model_destroy(mc);
    ssd_model_destroy(mg);
}

/* One exported mb1-ssd (dynamic batch) run by the ONNX runtime on both backends. */
static void onnx_on_cuda(ssd_backend *cpu, ssd_backend *cu) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_cuda_model_%d.onnx", (int)getpid());
    ssd_model *m = NULL;
    CHECK_OK(ssd_model_create(&m, cpu, "mb1-ssd", 21, 300));
    if (!m) return;
    CHECK_OK(ssd_model_init_xavier(m, 7));
    ssd_onnx_export_opts eo = {13, 1, true, NULL, 0};
    CHECK_OK(ssd_onnx_export(m, &eo, path));
    ssd_model_destroy(m);
    ssd_onnx_model *oc = NULL, *og = NULL;
    CHECK_OK(ssd_onnx_load(&oc, path, cpu));
    CHECK_OK(ssd_onnx_load(&og, path, cu));
    for (int n = 1; oc && og && n <= 3; n += 2) {
        int64_t xs[4] = {n, 3, 300, 300}, nx = (int64_t)n * 3 * 300 * 300;
        float *h = ssd_malloc((size_t)nx * sizeof *h);
        for (int64_t i = 0; h && i < nx; i++) h[i] = rnd();
        ssd_tensor xc, xg;
        ssd_tensor_init(&xc, cpu, SSD_F32, 4, xs);
        ssd_tensor_init(&xg, cu, SSD_F32, 4, xs);
        CHECK_OK(ssd_tensor_alloc(&xc));
        CHECK_OK(ssd_tensor_alloc(&xg));
        CHECK_OK(ssd_tensor_set(&xc, h, SSD_F32));
        CHECK_OK(ssd_tensor_set(&xg, h, SSD_F32));
        CHECK_OK(ssd_onnx_run(oc, &xc));
        CHECK_OK(ssd_onnx_run(og, &xg));
        for (int o = 0; o < 2; o++) {
            char what[64];
            snprintf(what, sizeof what, "onnx runtime batch %d %s", n, ssd_onnx_output_name(oc, o));
            cmp_rel(what, ssd_onnx_output(og, o), ssd_onnx_output(oc, o), 1e-4);
        }
        /* bf16 convs on cuDNN against the cpu's float32: softmax scores and decoded boxes
         * within a few bfloat16 steps (the golden ONNX test bounds the cpu's bf16 alike) */
        worst = 0;
        CHECK_OK(ssd_onnx_set_precision(og, SSD_PREC_BF16));
        CHECK_OK(ssd_onnx_run(og, &xg));
        for (int o = 0; o < 2; o++) {
            char what[64];
            snprintf(what, sizeof what, "onnx bf16 batch %d %s", n, ssd_onnx_output_name(oc, o));
            cmp_rel(what, ssd_onnx_output(og, o), ssd_onnx_output(oc, o), 5e-2);
        }
        printf("measured onnx bf16 batch %d: worst |diff| / max %.1e (tolerance 5e-02)\n", n,
               worst);
        CHECK_OK(ssd_onnx_set_precision(og, SSD_PREC_FP32));
        ssd_free(h);
        ssd_tensor_deinit(&xc);
        ssd_tensor_deinit(&xg);
    }
    ssd_onnx_destroy(oc);
    ssd_onnx_destroy(og);
    unlink(path);
}

int main(void) {
    if (ssd_backend_cuda_devices() < 1) {
        char why[256];
        return test_skip(ssd_backend_cuda_describe(why, sizeof why));
    }
    ssd_backend *cpu = NULL, *cu = NULL;
    REQUIRE_OK(ssd_backend_create(&cpu, "cpu"));
    REQUIRE_OK(ssd_backend_create(&cu, "cuda"));
    run(cpu, cu, &fp32_tol, "fp32");
    CHECK_OK(ssd_backend_set_precision(cu, SSD_PREC_TF32));
    run(cpu, cu, &tf32_tol, "tf32");
    CHECK_OK(ssd_backend_set_precision(cu, SSD_PREC_BF16));
    run(cpu, cu, &bf16_tol, "bf16");
    CHECK_OK(ssd_backend_set_precision(cu, SSD_PREC_FP16));
    run(cpu, cu, &fp16_tol, "fp16");
    CHECK_OK(ssd_backend_set_precision(cu, SSD_PREC_FP32));
    onnx_on_cuda(cpu, cu);
    ssd_backend_destroy(cu);
    ssd_backend_destroy(cpu);
    return test_finish();
}

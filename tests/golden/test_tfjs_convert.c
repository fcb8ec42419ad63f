/* `ssd convert tfjs` on the real face-api SSD-MobileNetV1 files:
 * - exactly the expected tensors converted (counts, the two mismatched extras
 *   listed, key values against numpy's own de-quantisation and transposes);
 * - the converted backbone + extras on one real image against our PyTorch
 *   version of the original TensorFlow graph (gen_tfjs_convert.py);
 * - the written .pth (no heads) loads into mb1-ssd with --pretrained-ssd and
 *   --base-net modes, and in PyTorch (check_tfjs_convert.py);
 * - calibration of the folded batch norms keeps the eval-mode function and
 *   makes training mode compute it too on the calibration batch;
 * - the whole conversion with --calibrate on a folder, and its bad inputs. */
#include "fixture.h"
#include "test.h"

#include "core/fileio.h"
#include "core/mem.h"
#include "formats/pth.h"
#include "models/import_tfjs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST                                                                                   \
    SRC_DIR "/../../data/pretrained/face-api-ssd-mobilenetv1/"                                     \
            "ssd_mobilenetv1_model-weights_manifest.json"

/* Forward tolerance. Both sides are float32 with different summation orders
 * (up to 9216 terms per output) through 20 convolutions; the activations reach
 * a few hundred, so errors are relative to each map's scale: an absolute floor
 * of 1e-4 * max|ref| and 1e-3 relative. Measured worst errors are printed and
 * stay far below (about 2e-6 of the scale). A mapping mistake (a transposed kernel, a wrong eps,
 * a missing offset) moves values by whole percents of the scale. */
#define FWD_RTOL        1e-3
#define FWD_SCALED_ATOL 1e-4

static const char *dir;

static char *path(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static const fixture_tensor *need(const fixture_file *f, const char *name) {
    const fixture_tensor *t = fixture_find(f, name);
    if (!t) {
        fprintf(stderr, "fixture has no '%s'\n", name);
        test_failed++;
    }
    return t;
}

static double max_abs(const float *v, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

/* Worst |a-b| / max|b| (printed for the report). */
static double rel_to_scale(const ssd_tensor *t, const float *ref) {
    int64_t n = ssd_tensor_numel(t);
    float *a = malloc((size_t)n * sizeof *a);
    if (!a || ssd_tensor_get(t, a, SSD_F32) != SSD_OK) {
        free(a);
        return INFINITY;
    }
    double worst = 0, scale = max_abs(ref, n);
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - ref[i]));
    free(a);
    return worst / (scale > 0 ? scale : 1);
}

/* ||a - b|| / ||b|| over all elements. */
static double rms_rel(const ssd_tensor *t, const float *ref) {
    int64_t n = ssd_tensor_numel(t);
    float *a = malloc((size_t)n * sizeof *a);
    if (!a || ssd_tensor_get(t, a, SSD_F32) != SSD_OK) {
        free(a);
        return INFINITY;
    }
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    free(a);
    return sqrt(num / (den > 0 ? den : 1));
}

static void close_map(const char *what, const ssd_tensor *t, const fixture_tensor *ref) {
    if (!ref) return;
    CHECK(ssd_tensor_numel(t) == ref->numel);
    if (ssd_tensor_numel(t) != ref->numel) return;
    const float *r = ref->data;
    printf("  %-10s max|ref| %8.3f  worst error / max|ref| %.2e\n", what, max_abs(r, ref->numel),
           rel_to_scale(t, r));
    CHECK(test_close_tensor(what, t, r, FWD_SCALED_ATOL * max_abs(r, ref->numel), FWD_RTOL));
}

/* Runs the whole net keeping every activation; *y is the output of `layer`. */
static ssd_status run_to(ssd_model *m, const ssd_tensor *x, bool training, const char *layer,
                         const ssd_tensor **y) {
    m->g.keep_all = true;
    ssd_status st = ssd_model_forward(m, x, training);
    m->g.keep_all = false;
    SSD_TRY(st);
    ssd_layer *l = ssd_model_find_layer(m, layer);
    if (!l) return ssd_error_set(SSD_E_INVAL, "no layer %s", layer);
    *y = l->y;
    return SSD_OK;
}

/* Output of base_net modules 0..upto-1. */
static ssd_status run_base(ssd_model *m, const ssd_tensor *x, bool training, int upto,
                           const ssd_tensor **y) {
    char name[64];
    snprintf(name, sizeof name, upto == 1 ? "base_net.0.1" : "base_net.%d.4", upto - 1);
    return run_to(m, x, training, name, y);
}

static void check_report(const ssd_tfjs_report *r) {
    /* base_net.0: conv + BN (4); 13 x (dw conv, BN, pw conv, BN) = 130; extras 0-2: 12. */
    CHECK(r->converted == 5 + 13 * 10 + 12);
    CHECK(r->nfolded == 14 && strcmp(r->folded[0], "base_net.0.1") == 0 &&
          strcmp(r->folded[13], "base_net.13.4") == 0);
    CHECK(r->nfresh == 2);
    if (r->nfresh == 2) {
        CHECK(strcmp(r->fresh[0], "extras.3.0: weight [128, 256, 1, 1] in the model, [64, 256, 1, "
                                  "1] from Prediction/Conv2d_6_pointwise/weights") == 0);
        CHECK(strncmp(r->fresh[1],
                      "extras.3.2: weight [256, 128, 3, 3] in the model, [128, 64, 3, 3]",
                      60) == 0);
    }
    /* 151 tensors in the file; 105 used (2 + 13 * 7 + 6 * 2). */
    CHECK(r->nunused == 46);
    int heads = 0;
    for (int i = 0; i < r->nunused; i++) {
        CHECK(strncmp(r->unused[i], "MobilenetV1/", 12) != 0);
        heads += strncmp(r->unused[i], "Prediction/BoxPredictor_", 24) == 0 &&
                 strstr(r->unused[i], "Predictor/");
    }
    CHECK(heads == 24);
}

static void check_values(ssd_model *m, const fixture_file *f) {
    int checked = 0;
    for (int i = 0; i < f->count; i++) {
        if (strncmp(f->t[i].name, "key/", 4) != 0) continue;
        const char *key = f->t[i].name + 4;
        ssd_param *p = ssd_param_find(&m->params, key);
        CHECK(p != NULL);
        if (!p) continue;
        bool shape = p->value->ndim == f->t[i].ndim;
        for (int d = 0; shape && d < p->value->ndim; d++)
            shape = p->value->shape[d] == f->t[i].shape[d];
        CHECK(shape);
        /* Exact: both sides round the same double to float32. */
        if (shape) CHECK(test_close_tensor(key, p->value, f->t[i].data, 0, 0));
        checked++;
    }
    CHECK(checked == 12);
    /* The identity form of a folded BN, by hand. */
    float g[32], rv[32], rm[32];
    ssd_param *pg = ssd_param_find(&m->params, "base_net.0.1.weight");
    ssd_param *pv = ssd_param_find(&m->params, "base_net.0.1.running_var");
    ssd_param *pm = ssd_param_find(&m->params, "base_net.0.1.running_mean");
    CHECK_OK(ssd_tensor_get(pg->value, g, SSD_F32));
    CHECK_OK(ssd_tensor_get(pv->value, rv, SSD_F32));
    CHECK_OK(ssd_tensor_get(pm->value, rm, SSD_F32));
    bool ident = true;
    for (int i = 0; i < 32; i++)
        ident &= g[i] == 1.0f && rm[i] == 0.0f && rv[i] == (float)(1 - 1e-5);
    CHECK(ident);
}

/* Extras 3 keep the model's own initialisation: equal to a model that was
 * initialised the same way and not imported into. */
static void check_fresh_untouched(ssd_backend *be, ssd_model *m) {
    ssd_model *ref = NULL;
    CHECK_OK(ssd_model_create(&ref, be, "mb1-ssd", 2, 300));
    if (!ref) return;
    CHECK_OK(ssd_model_init_xavier(ref, 5));
    const char *keys[] = {"extras.3.0.weight", "extras.3.0.bias", "extras.3.2.weight",
                          "extras.3.2.bias"};
    for (int k = 0; k < 4; k++) {
        ssd_param *a = ssd_param_find(&m->params, keys[k]),
                  *b = ssd_param_find(&ref->params, keys[k]);
        int64_t n = ssd_tensor_numel(a->value);
        float *va = malloc((size_t)n * 4), *vb = malloc((size_t)n * 4);
        CHECK_OK(ssd_tensor_get(a->value, va, SSD_F32));
        CHECK_OK(ssd_tensor_get(b->value, vb, SSD_F32));
        CHECK(memcmp(va, vb, (size_t)n * 4) == 0);
        free(va);
        free(vb);
    }
    ssd_model_destroy(ref);
}

static void check_forward(ssd_backend *be, ssd_model *m, const fixture_file *f) {
    const fixture_tensor *in = need(f, "input");
    if (!in) return;
    ssd_tensor x = {0};
    CHECK_OK(fixture_to_tensor(&x, be, SSD_F32, in));
    const ssd_tensor *y;
    printf("converted net vs the TF graph with ReLU (257x257 image):\n");
    CHECK_OK(run_base(m, &x, false, 12, &y));
    close_map("f11", y, need(f, "relu/f11"));
    CHECK_OK(run_base(m, &x, false, 14, &y));
    close_map("f13", y, need(f, "relu/f13"));
    for (int j = 0; j < 3; j++) {
        char name[32];
        snprintf(name, sizeof name, "extras.%d.2", j);
        CHECK_OK(run_to(m, &x, false, name, &y));
        snprintf(name, sizeof name, "relu/e%d", j);
        close_map(name + 5, y, need(f, name));
    }
    /* For the report: how far ReLU6 (the true graph) is from mb1-ssd's ReLU. */
    printf("converted net vs the true TF graph (ReLU6), not asserted:\n");
    CHECK_OK(run_base(m, &x, false, 14, &y));
    const fixture_tensor *r6 = need(f, "relu6/f13");
    if (r6) printf("  f13        worst error / max|ref| %.2e\n", rel_to_scale(y, r6->data));
    ssd_tensor_deinit(&x);
}

/* Saved without heads; loads in the two transfer modes and not as a full model. */
static void check_save_load(ssd_backend *be, ssd_model *m) {
    CHECK_OK(ssd_model_save_without_heads(m, path("converted.pth")));
    ssd_state_dict sd;
    ssd_state_dict_init(&sd);
    CHECK_OK(ssd_pth_load(&sd, path("converted.pth")));
    int heads = 0;
    for (int i = 0; i < sd.count; i++) heads += strstr(sd.t[i].name, "headers.") != NULL;
    CHECK(heads == 0 && sd.count == m->params.n - 24);
    ssd_state_dict_free(&sd);
    ssd_model *other = NULL;
    CHECK_OK(ssd_model_create(&other, be, "mb1-ssd", 21, 300));
    if (!other) return;
    CHECK_OK(ssd_model_load(other, path("converted.pth"), SSD_LOAD_PRETRAINED_SSD));
    CHECK_OK(ssd_model_load(other, path("converted.pth"), SSD_LOAD_BASE_NET));
    CHECK(ssd_model_load(other, path("converted.pth"), SSD_LOAD_FULL) == SSD_E_FORMAT);
    const char *keys[] = {"base_net.5.3.weight", "base_net.7.1.running_var", "extras.1.2.bias"};
    for (int k = 0; k < 3; k++) {
        ssd_param *a = ssd_param_find(&m->params, keys[k]),
                  *b = ssd_param_find(&other->params, keys[k]);
        int64_t n = ssd_tensor_numel(a->value);
        float *va = malloc((size_t)n * 4), *vb = malloc((size_t)n * 4);
        CHECK_OK(ssd_tensor_get(a->value, va, SSD_F32));
        CHECK_OK(ssd_tensor_get(b->value, vb, SSD_F32));
        CHECK(memcmp(va, vb, (size_t)n * 4) == 0);
        free(va);
        free(vb);
    }
    ssd_model_destroy(other);
}

/* Calibrated on a batch, the eval function is unchanged and training mode on
 * that same batch computes it too (its batch statistics are the calibration
 * statistics); the identity form in training mode does not. */
static void check_calibration(ssd_backend *be, ssd_model *m, const ssd_tfjs_report *r,
                              const ssd_tfjs_weights *w, const fixture_file *f) {
    const fixture_tensor *cal = need(f, "calib");
    if (!cal) return;
    ssd_tensor x = {0};
    CHECK_OK(fixture_to_tensor(&x, be, SSD_F32, cal));
    const ssd_tensor *y;
    CHECK_OK(run_base(m, &x, false, 14, &y));
    int64_t n = ssd_tensor_numel(y);
    float *before = malloc((size_t)n * 4);
    CHECK_OK(ssd_tensor_get(y, before, SSD_F32));

    ssd_bn_calib *c = NULL;
    CHECK_OK(ssd_bn_calib_create(&c, m, r));
    CHECK(ssd_bn_calib_apply(c) == SSD_E_INVAL); /* nothing added yet */
    CHECK_OK(ssd_bn_calib_add(c, &x));
    CHECK_OK(ssd_bn_calib_apply(c));
    ssd_bn_calib_destroy(c);
    /* A second calibration on the same batch changes nothing (up to rounding). */
    ssd_param *pg = ssd_param_find(&m->params, "base_net.6.4.weight");
    ssd_param *pb = ssd_param_find(&m->params, "base_net.6.4.bias");
    float g1[512], b1[512];
    CHECK_OK(ssd_tensor_get(pg->value, g1, SSD_F32));
    CHECK_OK(ssd_tensor_get(pb->value, b1, SSD_F32));
    CHECK_OK(ssd_bn_calib_create(&c, m, r));
    CHECK_OK(ssd_bn_calib_add(c, &x));
    CHECK_OK(ssd_bn_calib_apply(c));
    ssd_bn_calib_destroy(c);
    CHECK(test_close_tensor("recalibrated weight", pg->value, g1, 1e-6, 1e-5));
    CHECK(test_close_tensor("recalibrated bias", pb->value, b1, 1e-5, 1e-5));

    /* Eval: the same function up to float rounding of (z - mean) / sqrt(var + eps) * gamma. */
    CHECK_OK(run_base(m, &x, false, 14, &y));
    double mx = max_abs(before, n);
    printf("calibrated, eval vs identity eval:  worst error / max|ref| %.2e\n",
           rel_to_scale(y, before));
    CHECK(test_close_tensor("calibrated eval", y, before, 1e-4 * mx, 1e-3));
    /* Train mode, each folded BN on its own input (the calibration batch): its
     * batch statistics are the calibrated ones, so it computes what eval mode
     * does, up to the backend's float statistics against our double ones. */
    int layers = 0;
    double worst = 0;
    for (int k = 0; k < r->nfolded; k++) {
        ssd_layer *l = ssd_model_find_layer(m, r->folded[k]);
        if (!l || !l->x) continue;
        int64_t ln = ssd_tensor_numel(l->y);
        float *ev = malloc((size_t)ln * 4);
        CHECK_OK(ssd_tensor_get(l->y, ev, SSD_F32));
        CHECK_OK(ssd_layer_forward(l, l->x, true));
        double lm = max_abs(ev, ln);
        worst = fmax(worst, rel_to_scale(l->y, ev));
        CHECK(test_close_tensor(l->name, l->y, ev, 1e-4 * lm, 1e-3));
        free(ev);
        layers++;
    }
    CHECK(layers == 14);
    printf("calibrated folded BNs, train vs eval on the calibration batch: worst %.2e\n", worst);
    /* The whole backbone in train mode also normalises the depthwise BNs by
     * batch statistics, which differ from TensorFlow's moving ones: reported. */
    CHECK_OK(run_base(m, &x, true, 14, &y));
    printf("calibrated, whole base net train vs eval: rms error / rms %.2e\n", rms_rel(y, before));

    /* The identity form in training mode: a different function. */
    ssd_model *m2 = NULL;
    ssd_tfjs_report r2;
    CHECK_OK(ssd_model_create(&m2, be, "mb1-ssd", 2, 300));
    if (m2 && ssd_mb1_import_tfjs(m2, w, &r2) == SSD_OK) {
        CHECK_OK(run_base(m2, &x, true, 14, &y));
        double id_err = rms_rel(y, before);
        printf("identity form, whole base net train vs eval: rms error / rms %.2e\n", id_err);
        CHECK(id_err > 0.1);
        ssd_tfjs_report_free(&r2);
    } else {
        CHECK(false);
    }
    ssd_model_destroy(m2);
    free(before);
    ssd_tensor_deinit(&x);
}

/* A file without some of the tensors: one error listing them, model untouched. */
static void check_partial(ssd_backend *be) {
    ssd_tfjs_weights w;
    ssd_model *m = NULL;
    CHECK_OK(ssd_tfjs_load(&w, path("partial.json")));
    CHECK_OK(ssd_model_create(&m, be, "mb1-ssd", 2, 300));
    if (!m || !w.count) return;
    ssd_param *p = ssd_param_find(&m->params, "base_net.0.0.weight");
    float before[16], after[16];
    float *all = malloc((size_t)ssd_tensor_numel(p->value) * 4);
    CHECK_OK(ssd_tensor_get(p->value, all, SSD_F32));
    memcpy(before, all, sizeof before);
    ssd_tfjs_report r;
    CHECK(ssd_mb1_import_tfjs(m, &w, &r) == SSD_E_FORMAT);
    CHECK(strstr(ssd_error_message(), "2 tensors are missing: "
                                      "MobilenetV1/Conv2d_5_depthwise/BatchNorm/beta, "
                                      "MobilenetV1/Conv2d_13_pointwise/weights") != NULL);
    CHECK(r.converted == 0 && r.nfresh == 0);
    CHECK_OK(ssd_tensor_get(p->value, all, SSD_F32));
    memcpy(after, all, sizeof after);
    CHECK(memcmp(before, after, sizeof before) == 0);
    free(all);
    ssd_model_destroy(m);
    ssd_tfjs_free(&w);
}

static void check_pipeline(const char *backend) {
    /* A folder with one small image (written by the fixture script) and a
     * file that is not an image: skipped with a warning. */
    ssd_tfjs_report r;
    ssd_tfjs_convert_opts o = {.manifest = MANIFEST,
                               .out = path("pipeline.pth"),
                               .calib_dir = path("calib_dir"),
                               .backend = backend};
    CHECK_OK(ssd_tfjs_convert(&o, &r));
    CHECK(r.calib_images == 1 && r.converted == 147 && r.nfresh == 2);
    ssd_tfjs_report_free(&r);
    CHECK(ssd_path_exists(path("pipeline.pth")));

    o.calib_dir = path("no_such_dir");
    CHECK(ssd_tfjs_convert(&o, &r) == SSD_E_IO && strstr(ssd_error_message(), "no_such_dir"));
    o.calib_dir = path("empty_dir");
    CHECK(ssd_tfjs_convert(&o, &r) == SSD_E_INVAL && strstr(ssd_error_message(), "no images"));
    o.calib_dir = path("bad_dir");
    CHECK(ssd_tfjs_convert(&o, &r) == SSD_E_INVAL &&
          strstr(ssd_error_message(), "none of the images could be read"));
    o.calib_dir = NULL;
    o.manifest = path("partial.json");
    CHECK(ssd_tfjs_convert(&o, &r) == SSD_E_FORMAT &&
          strstr(ssd_error_message(), "partial.json: not the SSD-MobileNetV1 layout") &&
          strstr(ssd_error_message(), "MobilenetV1/Conv2d_13_pointwise/weights"));
    o.manifest = path("missing.json");
    CHECK(ssd_tfjs_convert(&o, &r) == SSD_E_IO);
    o.manifest = MANIFEST;
    o.out = "/nonexistent/dir/x.pth";
    CHECK(ssd_tfjs_convert(&o, &r) == SSD_E_IO);
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("usage: test_tfjs_convert FIXTURE_DIR");
    dir = argv[1];
    fixture_file f;
    REQUIRE_OK(fixture_load(&f, path("tfjs.ssdt")));
    /* The cpu backend where it is built, else the reference one. */
    ssd_backend *be = NULL;
    const char *bname = "cpu";
    if (ssd_backend_create(&be, bname) != SSD_OK) {
        bname = "ref";
        REQUIRE_OK(ssd_backend_create(&be, bname));
    }
    printf("backend %s\n", bname);
    ssd_tfjs_weights w;
    REQUIRE_OK(ssd_tfjs_load(&w, MANIFEST));
    ssd_model *m = NULL;
    REQUIRE_OK(ssd_model_create(&m, be, "mb1-ssd", 2, 300));
    REQUIRE_OK(ssd_model_init_xavier(m, 5));
    ssd_tfjs_report r;
    REQUIRE_OK(ssd_mb1_import_tfjs(m, &w, &r));
    check_report(&r);
    check_values(m, &f);
    check_fresh_untouched(be, m);
    check_forward(be, m, &f);
    check_save_load(be, m);
    check_calibration(be, m, &r, &w, &f);
    ssd_tfjs_report_free(&r);
    ssd_model_destroy(m);
    ssd_tfjs_free(&w);
    check_partial(be);
    check_pipeline(bname);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/check_tfjs_convert.py %s", SRC_DIR, dir);
    CHECK(system(cmd) == 0);
    ssd_backend_destroy(be);
    fixture_free(&f);
    return test_finish();
}

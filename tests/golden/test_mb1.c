/* mb1-ssd against our own PyTorch definition (gen_mb1.py): weights loaded from
 * .pth (zip and legacy), outputs in eval and train mode, running statistics,
 * every parameter gradient, the 10-step SGD loss curve, and a checkpoint
 * written here loading in PyTorch with strict=True. */
#include "test.h"
#include "fixture.h"

#include "box/box.h"
#include "core/mem.h"
#include "core/threads.h"
#include "models/model.h"
#include "train/sgd.h"

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

/* Forward outputs pass through 41 layers of float32 convolutions whose summation order
 * differs from PyTorch's (oneDNN blocking, our reference loops): 1e-4 relative plus a
 * small absolute floor for values near zero. */
#define FWD_RTOL 1e-4
#define FWD_ATOL 1e-4

static const char *dir;

static const float *fx(const fixture_file *f, const char *name) {
    const fixture_tensor *t = fixture_find(f, name);
    if (!t) {
        fprintf(stderr, "fixture has no '%s'\n", name);
        test_failed++;
        return NULL;
    }
    return t->data;
}

static char *path(const char *name) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Our float32 gradient against PyTorch's float64 one: no further from the exact answer
 * than 3x PyTorch's own float32 gradient is (err32, measured by gen_mb1.py), plus a
 * floor of 1e-5 of the tensor's scale. See gen_mb1.py for why a direct float32-to-float32
 * comparison at 1e-3 cannot hold for the first layers of a net with training-mode BN. */
static void close_to_truth(const char *what, const ssd_tensor *t, const fixture_tensor *g64,
                           double err32, double *worst_ratio) {
    int64_t n = ssd_tensor_numel(t);
    double *got = ssd_malloc((size_t)n * sizeof *got);
    if (!got || ssd_tensor_get(t, got, SSD_F64) != SSD_OK || n != g64->numel) {
        test_failed++;
        fprintf(stderr, "FAIL %s: cannot read or size differs\n", what);
        ssd_free(got);
        return;
    }
    const double *ref = g64->data;
    double scale = 0, err = 0;
    for (int64_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(ref[i]));
        err = fmax(err, fabs(got[i] - ref[i]));
    }
    double bound = 3 * err32 + 1e-5 * scale;
    double ratio = err / (err32 + 1e-30);
    if (ratio > *worst_ratio) *worst_ratio = ratio;
    if (getenv("SSD_TEST_VERBOSE"))
        printf("%s: err %.3g (%.3g of scale), pytorch float32 err %.3g, ratio %.2f\n", what, err,
               err / scale, err32, ratio);
    if (err <= bound) {
        test_passed++;
    } else {
        test_failed++;
        fprintf(stderr, "FAIL %s: max error %.4g vs float64 exceeds %.4g (pytorch float32: %.4g)\n",
                what, err, bound, err32);
    }
    ssd_free(got);
}

static void check_forward_backward(ssd_backend *be, const fixture_file *f) {
    ssd_model *m = NULL;
    CHECK_OK(ssd_model_create(&m, be, "mb1-ssd", 3, 300));
    if (!m) return;
    CHECK(m->num_priors == 3000);
    CHECK_OK(ssd_model_load(m, path("init.pth"), SSD_LOAD_FULL));
    ssd_tensor x;
    const fixture_tensor *fxx = fixture_find(f, "x");
    CHECK_OK(fixture_to_tensor(&x, be, SSD_F32, fxx));

    CHECK_OK(ssd_model_forward(m, &x, false));
    test_close_tensor("eval conf", &m->conf, fx(f, "eval_conf"), FWD_ATOL, FWD_RTOL);
    test_close_tensor("eval loc", &m->loc, fx(f, "eval_loc"), FWD_ATOL, FWD_RTOL);

    CHECK_OK(ssd_model_forward(m, &x, true));
    test_close_tensor("train conf", &m->conf, fx(f, "conf"), FWD_ATOL, FWD_RTOL);
    test_close_tensor("train loc", &m->loc, fx(f, "loc"), FWD_ATOL, FWD_RTOL);

    CHECK_OK(fixture_to_tensor(&m->dconf, be, SSD_F32, fixture_find(f, "g_conf")));
    CHECK_OK(fixture_to_tensor(&m->dloc, be, SSD_F32, fixture_find(f, "g_loc")));
    CHECK_OK(ssd_model_backward(m));
    int compared = 0;
    double worst = 0;
    for (int i = 0; i < m->params.n; i++) {
        ssd_param *p = &m->params.p[i];
        char key[200], key2[200];
        if (p->i64) {
            CHECK(*p->i64 == 1); /* one training forward since load (file had 0) */
            continue;
        }
        if (p->buffer) {
            snprintf(key, sizeof key, "after.%s", p->name);
            const float *r = fx(f, key);
            if (r) test_close_tensor(key, p->value, r, 1e-6, FWD_RTOL);
            continue;
        }
        snprintf(key, sizeof key, "grad64.%s", p->name);
        snprintf(key2, sizeof key2, "err32.%s", p->name);
        const fixture_tensor *g64 = fixture_find(f, key), *e32 = fixture_find(f, key2);
        if (!g64 || !e32) {
            test_failed++;
            continue;
        }
        close_to_truth(p->name, p->grad, g64, ((const double *)e32->data)[0], &worst);
        compared++;
    }
    CHECK(compared == 121); /* 27 base convs + 27 BN x2 + 8 extras x2 + 12 headers x2 */
    printf("%s float32 gradients: worst error vs float64 = %.2fx PyTorch float32's\n",
           be->ops->name, worst);
    ssd_tensor_deinit(&x);
    ssd_model_destroy(m);
}

/* The whole model in float64 on the reference backend against PyTorch's float64. */
static void check_f64(ssd_backend *be) {
    fixture_file f;
    ssd_model *m = NULL;
    if (fixture_load(&f, path("mb1_f64_128.bin")) != SSD_OK) {
        test_failed++;
        return;
    }
    CHECK_OK(ssd_model_create(&m, be, "mb1-ssd", 3, 128));
    ssd_tensor x;
    memset(&x, 0, sizeof x);
    if (!m) goto done;
    CHECK_OK(ssd_model_to_dtype(m, SSD_F64));
    CHECK_OK(ssd_model_load(m, path("init.pth"), SSD_LOAD_FULL));
    CHECK_OK(fixture_to_tensor(&x, be, SSD_F64, fixture_find(&f, "x")));
    CHECK_OK(ssd_model_forward(m, &x, true));
    CHECK_OK(fixture_to_tensor(&m->dconf, be, SSD_F64, fixture_find(&f, "g_conf")));
    CHECK_OK(fixture_to_tensor(&m->dloc, be, SSD_F64, fixture_find(&f, "g_loc")));
    CHECK_OK(ssd_model_backward(m));
    const ssd_tensor *outs[2] = {&m->conf, &m->loc};
    const char *onames[2] = {"conf", "loc"};
    int compared = 0;
    for (int i = -2; i < m->params.n; i++) {
        const ssd_tensor *t;
        char key[200];
        if (i < 0) {
            t = outs[i + 2];
            snprintf(key, sizeof key, "%s", onames[i + 2]);
        } else {
            ssd_param *p = &m->params.p[i];
            if (p->buffer) continue;
            t = p->grad;
            snprintf(key, sizeof key, "grad64.%s", p->name);
        }
        const fixture_tensor *r = fixture_find(&f, key);
        int64_t n = ssd_tensor_numel(t);
        double *got = ssd_malloc((size_t)n * sizeof *got);
        if (!r || !got || r->numel != n || ssd_tensor_get(t, got, SSD_F64) != SSD_OK) {
            test_failed++;
            ssd_free(got);
            continue;
        }
        double scale = 0;
        for (int64_t k = 0; k < n; k++) scale = fmax(scale, fabs(((const double *)r->data)[k]));
        /* float64 end to end: only summation order differs, ~1e-13 of the scale. */
        test_close_f64(key, got, r->data, (long)n, 1e-9 * scale, 0);
        ssd_free(got);
        compared++;
    }
    CHECK(compared == 123);
done:
    ssd_tensor_deinit(&x);
    ssd_model_destroy(m);
    fixture_free(&f);
}

/* The legacy (pre-1.6) file holds the same weights as the zip one. */
static void check_legacy(ssd_backend *be) {
    ssd_model *a = NULL, *b = NULL;
    CHECK_OK(ssd_model_create(&a, be, "mb1-ssd", 3, 300));
    CHECK_OK(ssd_model_create(&b, be, "mb1-ssd", 3, 300));
    if (!a || !b) goto done;
    CHECK_OK(ssd_model_load(a, path("init.pth"), SSD_LOAD_FULL));
    CHECK_OK(ssd_model_load(b, path("init_legacy.pth"), SSD_LOAD_FULL));
    int same = 1;
    for (int i = 0; i < a->params.n; i++) {
        ssd_param *p = &a->params.p[i], *q = &b->params.p[i];
        if (p->i64) continue;
        int64_t n = ssd_tensor_numel(p->value);
        float *u = ssd_malloc((size_t)n * 8), *v = u ? u + n : NULL;
        if (!u) break;
        ssd_tensor_get(p->value, u, SSD_F32);
        ssd_tensor_get(q->value, v, SSD_F32);
        if (memcmp(u, v, (size_t)n * 4)) same = 0;
        ssd_free(u);
    }
    CHECK(same);
    /* a checkpoint written here, for PyTorch to read back (check_mb1_save.py) */
    CHECK_OK(ssd_model_save(a, path("roundtrip.pth")));
done:
    ssd_model_destroy(a);
    ssd_model_destroy(b);
}

/* The three loading modes and their error reports. */
static void check_load_modes(ssd_backend *be) {
    ssd_model *m4 = NULL, *m3 = NULL;
    CHECK_OK(ssd_model_create(&m4, be, "mb1-ssd", 4, 300));
    CHECK_OK(ssd_model_create(&m3, be, "mb1-ssd", 3, 300));
    if (!m4 || !m3) goto done;
    /* a 3-class checkpoint into a 4-class net: both kinds of header, all reported at once */
    ssd_status st = ssd_model_load(m4, path("init.pth"), SSD_LOAD_FULL);
    CHECK(st == SSD_E_FORMAT);
    const char *msg = ssd_error_message();
    CHECK(strstr(msg, "init.pth") != NULL);
    CHECK(strstr(msg, "classification_headers.0.weight") != NULL);
    CHECK(strstr(msg, "classification_headers.5.bias") != NULL);
    CHECK(strstr(msg, "regression_headers") == NULL);
    /* --pretrained-ssd semantics: everything but the headers */
    CHECK_OK(ssd_model_load(m4, path("init.pth"), SSD_LOAD_PRETRAINED_SSD));
    /* --base-net: a MobileNet-only file (keys "0.0.weight", ...) */
    CHECK_OK(ssd_model_load(m3, path("base_net.pth"), SSD_LOAD_BASE_NET));
    /* a base-net file is not a whole SSD */
    CHECK(ssd_model_load(m3, path("base_net.pth"), SSD_LOAD_FULL) == SSD_E_FORMAT);
    msg = ssd_error_message();
    CHECK(strstr(msg, "missing") != NULL && strstr(msg, "base_net.0.0.weight") != NULL);
    CHECK(strstr(msg, "unexpected") != NULL && strstr(msg, "'0.0.weight'") != NULL);
    /* not a checkpoint at all */
    CHECK(ssd_model_load(m3, path("mb1.bin"), SSD_LOAD_FULL) != SSD_OK);
    CHECK(strstr(ssd_error_message(), "mb1.bin") != NULL);
done:
    ssd_model_destroy(m4);
    ssd_model_destroy(m3);
}

/* Ten SGD steps with the multibox loss from init.pth. In float64 (reference backend)
 * the losses must follow PyTorch's float64 trajectory to 1e-5 relative for 8 steps (the
 * loss itself is computed from float32 copies of the outputs, see below). In float32 the
 * hard-negative mining is a discrete choice that rounding flips, so trajectories drift (PyTorch
 * float32 vs float64 by several percent); ours must stay within 3x the largest drift PyTorch's
 * float32 run shows over the 10 steps, plus 1e-4 relative. */
static void check_steps(ssd_backend *be, const char *file, ssd_dtype dt) {
    fixture_file s;
    ssd_model *m = NULL;
    ssd_sgd opt;
    memset(&opt, 0, sizeof opt);
    if (fixture_load(&s, path(file)) != SSD_OK) {
        test_failed++;
        return;
    }
    const fixture_tensor *xs = fixture_find(&s, "x"), *lab = fixture_find(&s, "labels"),
                         *gl = fixture_find(&s, "gt_loc"), *losses = fixture_find(&s, "losses"),
                         *losses64 = fixture_find(&s, "losses64"), *lrs = fixture_find(&s, "lrs");
    const fixture_tensor *res = fixture_find(&s, "resolution");
    int R = res ? (int)((const double *)res->data)[0] : 300;
    CHECK_OK(ssd_model_create(&m, be, "mb1-ssd", 3, R));
    if (!m || !xs || !lab || !gl || !losses64 || !lrs) goto done;
    if (dt != SSD_F32) CHECK_OK(ssd_model_to_dtype(m, dt));
    const fixture_tensor *pr = fixture_find(&s, "priors");
    if (pr) { /* derived specs, as set_image_size */
        CHECK(pr->numel == (int64_t)m->num_priors * 4);
        if (pr->numel == (int64_t)m->num_priors * 4)
            test_close_f32("priors", m->priors, pr->data, pr->numel, 1e-6, 0);
    }
    CHECK_OK(ssd_model_load(m, path("init.pth"), SSD_LOAD_FULL));
    CHECK_OK(ssd_sgd_init(&opt, &m->params, 0.9, 5e-4));
    for (int g = 0; g < 3; g++) opt.lr[g] = ((const double *)lrs->data)[g];
    double worst = 0, max_drift = 0;
    for (int q = 0; losses && q < losses->numel; q++)
        max_drift = fmax(max_drift, fabs(((const double *)losses->data)[q] -
                                         ((const double *)losses64->data)[q]) /
                                        fabs(((const double *)losses64->data)[q]));
    int steps = (int)xs->shape[0], n = (int)xs->shape[1], k = m->num_priors, c = m->num_classes;
    size_t per = (size_t)(n * 3 * R * R);
    float *conf = ssd_malloc((size_t)n * k * c * 4), *loc = ssd_malloc((size_t)n * k * 16);
    float *dconf = ssd_malloc((size_t)n * k * c * 4), *dloc = ssd_malloc((size_t)n * k * 16);
    ssd_tensor x;
    ssd_tensor_init4(&x, be, dt, n, 3, R, R);
    for (int st = 0; st < steps && conf && loc && dconf && dloc; st++) {
        CHECK_OK(ssd_tensor_set(&x, (const char *)xs->data + per * st * ssd_dtype_size(xs->dtype),
                                xs->dtype));
        CHECK_OK(ssd_model_forward(m, &x, true));
        CHECK_OK(ssd_tensor_get(&m->conf, conf, SSD_F32));
        CHECK_OK(ssd_tensor_get(&m->loc, loc, SSD_F32));
        double reg, cls;
        CHECK_OK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc,
                                   (const int64_t *)lab->data + (size_t)st * n * k,
                                   (const float *)gl->data + (size_t)st * n * k * 4, n, k, c, 3));
        const double *w64 = (const double *)losses64->data + 2 * st;
        double got[2] = {reg, cls};
        for (int q = 0; q < 2; q++) {
            /* Step 0 has no history: 1e-4 relative, as the forward. Later steps: no further
             * from the float64 trajectory than 3x PyTorch float32's drift, plus 1e-4. */
            double err = fabs(got[q] - w64[q]);
            /* float64: the loss reads float32 copies of the outputs and ranks negatives by
             * float32 keys (as the reference), so after ~8 steps a near-tie in the mining
             * flips and the two float64 runs part; the first 8 steps are held to 1e-5. */
            if (dt == SSD_F64 && st >= 8) continue;
            double bound = dt == SSD_F64 ? 1e-5 * fabs(w64[q])
                           : st == 0     ? 1e-4 * fabs(w64[q])
                                         : (3 * max_drift + 1e-4) * fabs(w64[q]);
            if (err / (fabs(w64[q]) + 1e-30) > worst) worst = err / (fabs(w64[q]) + 1e-30);
            if (err <= bound) {
                test_passed++;
            } else {
                test_failed++;
                fprintf(stderr, "FAIL step %d %s loss (%s): ssd %.9g, pytorch float64 %.9g\n", st,
                        q ? "classification" : "regression", ssd_dtype_name(dt), got[q], w64[q]);
            }
        }
        ssd_tensor_ensure(&m->dconf, be, dt, 3, m->conf.shape);
        ssd_tensor_ensure(&m->dloc, be, dt, 3, m->loc.shape);
        CHECK_OK(ssd_tensor_set(&m->dconf, dconf, SSD_F32));
        CHECK_OK(ssd_tensor_set(&m->dloc, dloc, SSD_F32));
        CHECK_OK(ssd_model_backward(m));
        CHECK_OK(ssd_sgd_step(&opt));
    }
    printf("10 SGD steps (%s, %s): worst relative loss difference to PyTorch float64 %.3g "
           "(PyTorch float32: %.3g)\n",
           be->ops->name, ssd_dtype_name(dt), worst, max_drift);
    if (dt == SSD_F32) CHECK_OK(ssd_model_save(m, path("after_steps_c.pth")));
    ssd_tensor_deinit(&x);
    ssd_free(conf);
    ssd_free(loc);
    ssd_free(dconf);
    ssd_free(dloc);
done:
    ssd_sgd_deinit(&opt);
    ssd_model_destroy(m);
    fixture_free(&s);
}

int main(int argc, char **argv) {
    dir = argc > 1 ? argv[1] : "fixtures/mb1";
    ssd_threads_set(0);
    fixture_file f;
    REQUIRE_OK(fixture_load(&f, path("mb1.bin")));
    const char *want = getenv("SSD_BACKENDS");
    const char *names[] = {"cpu", "ref"};
    for (int b = 0; b < 2; b++) {
        if (want && !strstr(want, names[b])) continue;
        ssd_backend *be = NULL;
        ssd_status st = ssd_backend_create(&be, names[b]);
        if (st != SSD_OK) {
            fprintf(stderr, "backend %s: %s\n", names[b], ssd_error_message());
            test_failed++;
            continue;
        }
        printf("backend %s\n", names[b]);
        if (b == 1) {
            check_f64(be);
            check_steps(be, "steps_f64_64.bin", SSD_F64);
        }
        if (b == 0) {
            check_forward_backward(be, &f);
            check_legacy(be);
            check_load_modes(be);
            check_steps(be, "steps.bin", SSD_F32);
        }
        ssd_backend_destroy(be);
    }
    fixture_free(&f);
    if (!want || strstr(want, "cpu")) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/check_mb1_save.py %s", SRC_DIR, dir);
        CHECK(system(cmd) == 0);
    }
    return test_finish();
}

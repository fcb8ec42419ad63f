/* Box math against tests/golden/gen_box.py: priors, matching, encode/decode, NMS, the
 * predictor's post-processing and the multibox loss with its gradients.
 *
 * Tolerances: priors, matching and hard NMS use only float32 + - * / sqrt and compares on both
 * sides, so they are expected bit for bit (the 1e-6 allowance on priors and boxes is the
 * project's contract, not slack that is needed); labels and kept sets are compared exactly.
 * Encoding, decoding and soft NMS go through log/exp, where torch's vectorised functions and
 * libm may differ in the last bit: 1e-6 absolute plus relative. Soft NMS scores are products
 * of up to ~90 such factors: 1e-5 relative. The loss is summed in double here and in float64
 * there: 1e-5 relative on the values, 1e-4 on gradients (stored as float32). */
#include "box/box.h"
#include "core/mem.h"
#include "fixture.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static fixture_file fx;

static const fixture_tensor *get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const fixture_tensor *get(const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const fixture_tensor *t = fixture_find(&fx, name);
    if (!t) fprintf(stderr, "fixture tensor %s missing\n", name);
    CHECK(t != NULL);
    return t;
}

static const float *f32(const fixture_tensor *t) {
    return t && t->dtype == SSD_F32 ? t->data : NULL;
}
static const int64_t *i64(const fixture_tensor *t) {
    return t && t->dtype == SSD_I64 ? t->data : NULL;
}
static const double *f64(const fixture_tensor *t) {
    return t && t->dtype == SSD_F64 ? t->data : NULL;
}

static bool same_ints(const char *what, const int *a, int na, const int64_t *b, int64_t nb) {
    bool ok = na == nb;
    for (int i = 0; ok && i < na; i++) ok = a[i] == b[i];
    if (ok) {
        test_passed++;
        return true;
    }
    test_failed++;
    fprintf(stderr, "FAIL %s: %d entries, want %lld\n", what, na, (long long)nb);
    for (int i = 0; i < na || i < nb; i++) {
        if (i < na && i < nb && a[i] == b[i]) continue;
        fprintf(stderr, "  [%d]: got %d want %lld\n", i, i < na ? a[i] : -1,
                i < nb ? (long long)b[i] : -1LL);
        break;
    }
    return false;
}

static bool same_i64(const char *what, const int64_t *a, const int64_t *b, long n) {
    for (long i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            test_failed++;
            fprintf(stderr, "FAIL %s[%ld]: got %lld want %lld\n", what, i, (long long)a[i],
                    (long long)b[i]);
            return false;
        }
    }
    test_passed++;
    return true;
}

/* The mb1 priors for a size, built from the fixture's feature maps as the model will. */
static float *mb1_priors(int size, int *k) {
    const fixture_tensor *fm = get("fm_mb1_%d", size);
    if (!i64(fm)) return NULL;
    int maps[6];
    for (int i = 0; i < 6; i++) maps[i] = (int)i64(fm)[i];
    ssd_prior_spec specs[6];
    ssd_priors_specs_mobilenetv1(size, maps, specs);
    float *p = NULL;
    CHECK_OK(ssd_priors_generate(specs, 6, size, true, &p, k));
    return p;
}

static void test_priors(void) {
    static const int sizes[] = {300, 320, 512, 640};
    char what[64];
    for (int s = 0; s < 4; s++) {
        int size = sizes[s];
        const fixture_tensor *fm = get("fm_mb1_%d", size), *sp = get("spec_mb1_%d", size);
        const fixture_tensor *want = get("priors_mb1_%d", size);
        if (!i64(fm) || !f64(sp) || !f32(want)) continue;
        int maps[6];
        for (int i = 0; i < 6; i++) maps[i] = (int)i64(fm)[i];
        ssd_prior_spec specs[6];
        ssd_priors_specs_mobilenetv1(size, maps, specs);
        double got[18];
        for (int i = 0; i < 6; i++) {
            CHECK(specs[i].feature_map_size == maps[i]);
            CHECK(specs[i].n_ratios == 2 && specs[i].aspect_ratios[0] == 2 &&
                  specs[i].aspect_ratios[1] == 3);
            got[3 * i] = specs[i].shrinkage;
            got[3 * i + 1] = specs[i].min_size;
            got[3 * i + 2] = specs[i].max_size;
        }
        snprintf(what, sizeof what, "specs %d", size);
        test_close_f64(what, got, f64(sp), 18, 0, 0);
        int k = 0;
        float *p = NULL;
        CHECK_OK(ssd_priors_generate(specs, 6, size, true, &p, &k));
        CHECK(k == want->shape[0] && k == ssd_priors_count(specs, 6));
        snprintf(what, sizeof what, "priors mb1 %d", size);
        if (p && k == want->shape[0]) test_close_f32(what, p, f32(want), 4L * k, 1e-6, 0);
        ssd_free(p);
    }
    struct {
        const char *name;
        void (*fn)(int, const int *, ssd_prior_spec *);
        bool clamp;
    } tables[] = {{"priors_vgg", ssd_priors_specs_vgg, true},
                  {"priors_squeezenet", ssd_priors_specs_squeezenet, true},
                  {"priors_mb1_300_noclamp", NULL, false}};
    for (int t = 0; t < 3; t++) {
        const fixture_tensor *want = get("%s", tables[t].name);
        if (!f32(want)) continue;
        ssd_prior_spec specs[6];
        if (tables[t].fn)
            tables[t].fn(300, NULL, specs);
        else
            ssd_priors_specs_mobilenetv1(300, NULL, specs);
        int k = 0;
        float *p = NULL;
        CHECK_OK(ssd_priors_generate(specs, 6, 300, tables[t].clamp, &p, &k));
        CHECK(k == want->shape[0]);
        if (p && k == want->shape[0]) test_close_f32(tables[t].name, p, f32(want), 4L * k, 1e-6, 0);
        ssd_free(p);
    }
}

static void test_matching(void) {
    const fixture_tensor *cnt = get("match_count");
    if (!i64(cnt)) return;
    char what[64];
    for (int c = 0; c < (int)i64(cnt)[0]; c++) {
        const fixture_tensor *sz = get("match%d_size", c), *gt = get("match%d_gt", c);
        const fixture_tensor *gl = get("match%d_gt_labels", c), *wb = get("match%d_boxes", c);
        const fixture_tensor *wl = get("match%d_labels", c), *wloc = get("match%d_loc", c);
        if (!i64(sz) || !f32(gt) || !i64(gl) || !f32(wb) || !i64(wl) || !f32(wloc)) continue;
        int k = 0;
        float *pc = mb1_priors((int)i64(sz)[0], &k);
        float *pk = ssd_malloc((size_t)k * 4 * sizeof(float));
        float *boxes = ssd_malloc((size_t)k * 4 * sizeof(float));
        float *loc = ssd_malloc((size_t)k * 4 * sizeof(float));
        int64_t *labels = ssd_malloc((size_t)k * sizeof(int64_t));
        if (pc && pk && boxes && loc && labels && k == wl->shape[0]) {
            ssd_box_center_to_corner(pk, pc, k);
            ssd_box_assign_priors(boxes, labels, f32(gt), i64(gl), (int)gt->shape[0], pk, k, 0.5f);
            snprintf(what, sizeof what, "match%d labels", c);
            same_i64(what, labels, i64(wl), k);
            snprintf(what, sizeof what, "match%d boxes", c);
            test_close_f32(what, boxes, f32(wb), 4L * k, 1e-6, 0);
            ssd_box_encode(loc, boxes, pc, k, 0.1f, 0.2f);
            snprintf(what, sizeof what, "match%d loc", c);
            test_close_f32(what, loc, f32(wloc), 4L * k, 1e-6, 1e-6);
        } else {
            CHECK(!"matching set-up");
        }
        ssd_free(pc);
        ssd_free(pk);
        ssd_free(boxes);
        ssd_free(loc);
        ssd_free(labels);
    }
}

static void test_coding(void) {
    int k = 0;
    float *pc = mb1_priors(300, &k);
    const fixture_tensor *dl = get("dec_loc"), *dc = get("dec_center"), *dk = get("dec_corner");
    const fixture_tensor *eb = get("enc_boxes"), *el = get("enc_loc");
    float *a = ssd_malloc((size_t)k * 4 * sizeof(float));
    float *b = ssd_malloc((size_t)k * 4 * sizeof(float));
    if (pc && a && b && f32(dl) && f32(dc) && f32(dk) && f32(eb) && f32(el) && k == 3000) {
        ssd_box_decode(a, f32(dl), pc, k, 0.1f, 0.2f);
        test_close_f32("decode", a, f32(dc), 4L * k, 1e-6, 1e-6);
        ssd_box_center_to_corner(b, a, k);
        test_close_f32("decode corner", b, f32(dk), 4L * k, 1e-6, 1e-6);
        ssd_box_encode(a, f32(eb), pc, k, 0.1f, 0.2f);
        test_close_f32("encode", a, f32(el), 4L * k, 1e-6, 1e-6);
        /* Round trip through the conversions. */
        ssd_box_corner_to_center(a, f32(eb), k);
        ssd_box_center_to_corner(b, a, k);
        test_close_f32("corner-center-corner", b, f32(eb), 4L * k, 1e-6, 0);
    } else {
        CHECK(!"coding set-up");
    }
    ssd_free(pc);
    ssd_free(a);
    ssd_free(b);
}

static void test_nms(void) {
    const fixture_tensor *bt = get("nms_boxes"), *st = get("nms_scores");
    if (!f32(bt) || !f32(st)) return;
    int n = (int)bt->shape[0];
    int *keep = ssd_malloc((size_t)n * sizeof(int));
    float *ks = ssd_malloc((size_t)n * sizeof(float));
    if (!keep || !ks) goto done;
    struct {
        float iou;
        int top_k, cand;
    } hard[] = {{0.45f, -1, 200}, {0.3f, 7, 50}, {0.6f, -1, 1000}};
    char what[64];
    for (int h = 0; h < 3; h++) {
        const fixture_tensor *want = get("nms_hard%d_keep", h);
        if (!i64(want)) continue;
        int m = ssd_nms_hard(keep, f32(bt), f32(st), n, hard[h].iou, hard[h].top_k, hard[h].cand);
        snprintf(what, sizeof what, "hard nms %d", h);
        same_ints(what, keep, m, i64(want), want->numel);
    }
    struct {
        float thr, sigma;
        int top_k;
    } soft[] = {{0.2f, 0.5f, -1}, {0.05f, 0.3f, 6}};
    for (int s = 0; s < 2; s++) {
        const fixture_tensor *want = get("nms_soft%d_keep", s);
        const fixture_tensor *wsc = get("nms_soft%d_scores", s);
        if (!i64(want) || !f32(wsc)) continue;
        int m =
            ssd_nms_soft(keep, ks, f32(bt), f32(st), n, soft[s].thr, soft[s].sigma, soft[s].top_k);
        snprintf(what, sizeof what, "soft nms %d", s);
        if (same_ints(what, keep, m, i64(want), want->numel)) {
            snprintf(what, sizeof what, "soft nms %d scores", s);
            test_close_f32(what, ks, f32(wsc), m, 0, 1e-5);
        }
    }
done:
    ssd_free(keep);
    ssd_free(ks);
}

static void test_predict(void) {
    const fixture_tensor *sc = get("pred_scores"), *bx = get("pred_boxes");
    if (!f32(sc) || !f32(bx)) return;
    struct {
        int w, h;
        ssd_predict_params p;
    } cases[] = {
        {640, 480, {0.45f, 0.4f, 200, -1, false, 0.5f}},
        {640, 480, {0.45f, 0.01f, 200, 10, false, 0.5f}},
        {640, 480, {0.45f, 0.5f, 200, -1, true, 0.5f}},
        {333, 517, {0.3f, 0.3f, 50, 5, false, 0.5f}},
    };
    char what[64];
    for (int c = 0; c < 4; c++) {
        const fixture_tensor *wb = get("pred%d_boxes", c), *wl = get("pred%d_labels", c);
        const fixture_tensor *wp = get("pred%d_probs", c);
        if (!f32(wb) || !i64(wl) || !f32(wp)) continue;
        ssd_detection *d = NULL;
        int n = 0;
        CHECK_OK(ssd_predict(&d, &n, f32(sc), f32(bx), (int)sc->shape[0], (int)sc->shape[1],
                             cases[c].w, cases[c].h, &cases[c].p));
        snprintf(what, sizeof what, "predict %d count", c);
        CHECK(n == wl->numel);
        if (n == wl->numel) {
            float *b = ssd_malloc((size_t)n * 4 * sizeof(float) + 1);
            float *p = ssd_malloc((size_t)n * sizeof(float) + 1);
            int64_t *l = ssd_malloc((size_t)n * sizeof(int64_t) + 1);
            if (b && p && l) {
                for (int i = 0; i < n; i++) {
                    memcpy(b + 4 * i, d[i].box, sizeof d[i].box);
                    p[i] = d[i].prob;
                    l[i] = d[i].label;
                }
                snprintf(what, sizeof what, "predict %d labels", c);
                same_i64(what, l, i64(wl), n);
                /* Pixels: float32 products of identical boxes; relative slack for soft's exp. */
                snprintf(what, sizeof what, "predict %d boxes", c);
                test_close_f32(what, b, f32(wb), 4L * n, 1e-4, 0);
                snprintf(what, sizeof what, "predict %d probs", c);
                test_close_f32(what, p, f32(wp), n, 0, cases[c].p.soft ? 1e-5 : 0);
            }
            ssd_free(b);
            ssd_free(p);
            ssd_free(l);
        }
        ssd_free(d);
    }
}

static void test_loss(void) {
    const fixture_tensor *cnt = get("loss_count");
    if (!i64(cnt)) return;
    char what[64];
    for (int c = 0; c < (int)i64(cnt)[0]; c++) {
        const fixture_tensor *conf = get("loss%d_conf", c), *loc = get("loss%d_loc", c);
        const fixture_tensor *lab = get("loss%d_labels", c), *gl = get("loss%d_gt_loc", c);
        const fixture_tensor *reg = get("loss%d_reg", c), *cls = get("loss%d_cls", c);
        const fixture_tensor *dc = get("loss%d_dconf", c), *dl = get("loss%d_dloc", c);
        const fixture_tensor *ratio = get("loss%d_ratio", c);
        if (!f32(conf) || !f32(loc) || !i64(lab) || !f32(gl) || !f64(reg) || !f64(cls) ||
            !f32(dc) || !f32(dl) || !i64(ratio))
            continue;
        int n = (int)conf->shape[0], k = (int)conf->shape[1], nc = (int)conf->shape[2];
        float *dconf = ssd_malloc((size_t)conf->numel * sizeof(float));
        float *dloc = ssd_malloc((size_t)loc->numel * sizeof(float));
        if (dconf && dloc) {
            double r = 0, l = 0, r2 = 0, l2 = 0;
            CHECK_OK(ssd_multibox_loss(&r, &l, dconf, dloc, f32(conf), f32(loc), i64(lab), f32(gl),
                                       n, k, nc, (int)i64(ratio)[0]));
            snprintf(what, sizeof what, "loss%d reg", c);
            test_close_f64(what, &r, f64(reg), 1, 1e-12, 1e-5);
            snprintf(what, sizeof what, "loss%d cls", c);
            test_close_f64(what, &l, f64(cls), 1, 1e-12, 1e-5);
            snprintf(what, sizeof what, "loss%d dconf", c);
            test_close_f32(what, dconf, f32(dc), conf->numel, 1e-8, 1e-4);
            snprintf(what, sizeof what, "loss%d dloc", c);
            test_close_f32(what, dloc, f32(dl), loc->numel, 1e-8, 1e-4);
            /* Without gradients: the same values. */
            CHECK_OK(ssd_multibox_loss(&r2, &l2, NULL, NULL, f32(conf), f32(loc), i64(lab), f32(gl),
                                       n, k, nc, (int)i64(ratio)[0]));
            CHECK(r2 == r && l2 == l);
            /* On a backend's tensors, as training calls it: bit for bit the same (the cpu
             * backend has no loss op, so this is the host path with its copies). */
            for (int be_i = 0; be_i < 2; be_i++) {
                ssd_backend *be = NULL;
                CHECK_OK(ssd_backend_create(&be, be_i ? "cpu" : "ref"));
                if (!be) continue;
                const int64_t sl[3] = {n, k, 4};
                ssd_tensor tc, tl, tdc = {0}, tdl = {0};
                ssd_tensor_init(&tc, be, SSD_F32, 3, conf->shape);
                ssd_tensor_init(&tl, be, SSD_F32, 3, sl);
                CHECK_OK(ssd_tensor_set(&tc, f32(conf), SSD_F32));
                CHECK_OK(ssd_tensor_set(&tl, f32(loc), SSD_F32));
                ssd_loss_ws ws = {0};
                float *got = ssd_malloc((size_t)(conf->numel + loc->numel) * sizeof(float));
                for (int rep = 0; rep < 2 && got; rep++) { /* the second reuses ws */
                    CHECK_OK(ssd_multibox_loss_on(&ws, &r2, &l2, &tdc, &tdl, &tc, &tl, i64(lab),
                                                  f32(gl), (int)i64(ratio)[0]));
                    CHECK(r2 == r && l2 == l);
                    CHECK_OK(ssd_tensor_get(&tdc, got, SSD_F32));
                    CHECK(memcmp(got, dconf, (size_t)conf->numel * sizeof(float)) == 0);
                    CHECK_OK(ssd_tensor_get(&tdl, got, SSD_F32));
                    CHECK(memcmp(got, dloc, (size_t)loc->numel * sizeof(float)) == 0);
                }
                CHECK(ssd_multibox_loss_on(&ws, &r2, &l2, &tdc, NULL, &tc, &tl, i64(lab), f32(gl),
                                           3) == SSD_E_INVAL);
                CHECK(ssd_multibox_loss_on(&ws, &r2, &l2, NULL, NULL, &tl, &tc, i64(lab), f32(gl),
                                           3) == SSD_E_INVAL);
                ssd_free(got);
                ssd_loss_ws_free(&ws);
                ssd_tensor_deinit(&tc);
                ssd_tensor_deinit(&tl);
                ssd_tensor_deinit(&tdc);
                ssd_tensor_deinit(&tdl);
                ssd_backend_destroy(be);
            }
        }
        ssd_free(dconf);
        ssd_free(dloc);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("no fixture directory");
    char path[1024];
    snprintf(path, sizeof path, "%s/box.ssdt", argv[1]);
    REQUIRE_OK(fixture_load(&fx, path));
    test_priors();
    test_matching();
    test_coding();
    test_nms();
    test_predict();
    test_loss();
    fixture_free(&fx);
    return test_finish();
}

/* src/eval against our Python implementation of the reference evaluation
 * (gen_ap.py / ap_ref.py): VOC07 and area AP per class, absent classes, COCO-style
 * AP per class and overall, precision/recall at a threshold, best F1, the result
 * files byte for byte, numpy's float32 str(); plus the PR curve PNG and JSON writer
 * running clean. */
#include "test.h"
#include "fixture.h"

#include "core/fileio.h"
#include "core/mem.h"
#include "eval/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Our C and Python compute the same double operations in the same order except numpy's
 * pairwise sums and means; those differ by a few ulps, far below 1e-9. */
#define TOL 1e-9

static const char *dir;

static char **read_lines(const char *name, int *n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *data;
    size_t len;
    *n = 0;
    if (ssd_file_read_all(path, &data, &len) != SSD_OK) return NULL;
    int cap = 16;
    char **out = malloc(cap * sizeof *out);
    char *save, *line = strtok_r((char *)data, "\n", &save);
    for (; line; line = strtok_r(NULL, "\n", &save)) {
        if (*n == cap) out = realloc(out, (cap *= 2) * sizeof *out);
        out[(*n)++] = strdup(line);
    }
    ssd_free(data);
    return out;
}

static void free_lines(char **l, int n) {
    for (int i = 0; i < n; i++) free(l[i]);
    free(l);
}

/* A dataset that only knows ids and class names, for the result files. */
typedef struct {
    char **ids;
    int n;
} id_ds;
static int64_t ids_size(const ssd_dataset *ds) {
    return ((id_ds *)ds->impl)->n;
}
static const char *ids_id(const ssd_dataset *ds, int64_t i) {
    return ((id_ds *)ds->impl)->ids[i];
}
static const ssd_dataset_ops ids_ops = {.size = ids_size, .image_id = ids_id};

static bool close_or_both_nan(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= TOL;
}

static const double *f64(const fixture_file *f, const char *name) {
    const fixture_tensor *t = fixture_find(f, name);
    return t ? (const double *)t->data : NULL;
}
static const int64_t *i64(const fixture_file *f, const char *name) {
    const fixture_tensor *t = fixture_find(f, name);
    return t ? (const int64_t *)t->data : NULL;
}

static bool same_file(const char *a, const char *b) {
    uint8_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool ok = ssd_file_read_all(a, &x, &nx) == SSD_OK && ssd_file_read_all(b, &y, &ny) == SSD_OK &&
              nx == ny && memcmp(x, y, nx) == 0;
    if (!ok) fprintf(stderr, "files differ: %s %s\n", a, b);
    ssd_free(x);
    ssd_free(y);
    return ok;
}

static void run_case(int ci) {
    char name[256];
    snprintf(name, sizeof name, "%s/case%d.bin", dir, ci);
    fixture_file f;
    if (fixture_load(&f, name) != SSD_OK) {
        CHECK(!"fixture");
        return;
    }
    int nimg = (int)i64(&f, "n_images")[0], ncls = (int)i64(&f, "n_classes")[0];
    const fixture_tensor *gb = fixture_find(&f, "gt_box"), *db = fixture_find(&f, "det_box");
    int ngt = (int)gb->shape[0], ndet = (int)db->shape[0];
    const int64_t *gimg = i64(&f, "gt_img"), *glab = i64(&f, "gt_label"),
                  *gdif = i64(&f, "gt_diff");
    const int64_t *dimg = i64(&f, "det_img"), *dlab = i64(&f, "det_label");
    const float *gbox = gb->data, *dbox = db->data;
    const float *dscore = fixture_find(&f, "det_score")->data;
    int nn, nids;
    snprintf(name, sizeof name, "case%d_names.txt", ci);
    char **names = read_lines(name, &nn);
    snprintf(name, sizeof name, "case%d_ids.txt", ci);
    char **ids = read_lines(name, &nids);
    CHECK(nn == ncls && nids == nimg);

    ssd_eval_acc *acc = NULL;
    CHECK_OK(ssd_eval_acc_create(&acc, ncls));
    int gi = 0, di = 0;
    for (int i = 0; i < nimg && acc; i++) {
        ssd_annotation ann = {0};
        int g0 = gi, d0 = di;
        while (gi < ngt && gimg[gi] == i) gi++;
        while (di < ndet && dimg[di] == i) di++;
        ann.n = gi - g0;
        ann.boxes = (float *)gbox + 4 * g0;
        ann.labels = (int64_t *)glab + g0;
        uint8_t diff[256];
        for (int k = 0; k < ann.n; k++) diff[k] = (uint8_t)gdif[g0 + k];
        ann.difficult = diff;
        ssd_detection det[512];
        for (int k = 0; k < di - d0; k++) {
            memcpy(det[k].box, dbox + 4 * (d0 + k), sizeof det[k].box);
            det[k].label = (int)dlab[d0 + k];
            det[k].prob = dscore[d0 + k];
        }
        CHECK_OK(ssd_eval_acc_add(acc, i, &ann, det, di - d0));
    }
    CHECK(ssd_eval_acc_images(acc) == nimg);

    const double *ap07 = f64(&f, "ap07"), *area = f64(&f, "area"), *coco = f64(&f, "coco");
    const double *coco_all = f64(&f, "coco_all"), *best_f1 = f64(&f, "best_f1");
    const double *best_t = f64(&f, "best_t");
    const int64_t *tp = i64(&f, "tp"), *fp = i64(&f, "fp"), *npos = i64(&f, "npos");
    for (int metric = 0; metric < 2; metric++) {
        ssd_eval_metric_params p;
        ssd_eval_metric_params_default(&p);
        p.use_2007_metric = metric == 0;
        ssd_eval_results r;
        CHECK_OK(ssd_eval_acc_compute(acc, (const char *const *)names, &p, &r));
        double s = 0;
        int present = 0;
        for (int c = 1; c < ncls; c++) {
            const ssd_eval_class *k = &r.classes[c];
            double want = metric == 0 ? ap07[c - 1] : area[c - 1];
            if (!close_or_both_nan(k->ap, want))
                fprintf(stderr, "case %d class %s metric %d: AP %.17g, want %.17g\n", ci, k->name,
                        metric, k->ap, want);
            CHECK(close_or_both_nan(k->ap, want));
            CHECK(close_or_both_nan(k->ap_voc07, ap07[c - 1]));
            CHECK(close_or_both_nan(k->ap_voc_area, area[c - 1]));
            CHECK(k->present == (npos[c - 1] > 0));
            CHECK(k->num_gt == npos[c - 1]);
            CHECK(!strcmp(k->name, names[c]));
            if (k->tp != tp[c - 1] || k->fp != fp[c - 1])
                fprintf(stderr, "case %d class %d: tp %lld fp %lld, want %lld %lld\n", ci, c,
                        (long long)k->tp, (long long)k->fp, (long long)tp[c - 1],
                        (long long)fp[c - 1]);
            CHECK(k->tp == tp[c - 1] && k->fp == fp[c - 1]);
            CHECK(close_or_both_nan(k->best_f1, best_f1[c - 1]));
            CHECK(close_or_both_nan(k->best_f1_threshold, best_t[c - 1]));
            const double got[6] = {k->coco.ap,       k->coco.ap50,      k->coco.ap75,
                                   k->coco.ap_small, k->coco.ap_medium, k->coco.ap_large};
            for (int j = 0; j < 6; j++) {
                if (fabs(got[j] - coco[(c - 1) * 6 + j]) > TOL)
                    fprintf(stderr, "case %d class %d coco[%d]: %.17g, want %.17g\n", ci, c, j,
                            got[j], coco[(c - 1) * 6 + j]);
                CHECK(fabs(got[j] - coco[(c - 1) * 6 + j]) <= TOL);
            }
            if (k->present) {
                s += want;
                present++;
                CHECK(k->curve_n > 0 || k->num_det == 0 || k->tp + k->fp == 0);
            }
        }
        CHECK(r.num_present == present);
        CHECK(close_or_both_nan(r.map, present ? s / present : NAN));
        const double all[6] = {r.coco.ap,       r.coco.ap50,      r.coco.ap75,
                               r.coco.ap_small, r.coco.ap_medium, r.coco.ap_large};
        for (int j = 0; j < 6; j++) {
            if (fabs(all[j] - coco_all[j]) > TOL)
                fprintf(stderr, "case %d coco_all[%d]: %.17g, want %.17g\n", ci, j, all[j],
                        coco_all[j]);
            CHECK(fabs(all[j] - coco_all[j]) <= TOL);
        }
        if (metric == 0) {
            /* The result files, byte for byte with what the reference writes. */
            id_ds impl = {ids, nimg};
            ssd_dataset ds = {
                .ops = &ids_ops, .num_classes = ncls, .class_names = names, .impl = &impl};
            char out[1024], want[1024], got[1400];
            snprintf(out, sizeof out, "%s/case%d_c", dir, ci);
            CHECK_OK(ssd_eval_acc_write_dets(acc, &ds, out));
            for (int c = 1; c < ncls; c++) {
                snprintf(want, sizeof want, "%s/case%d_det/det_test_%s.txt", dir, ci, names[c]);
                snprintf(got, sizeof got, "%s/det_test_%s.txt", out, names[c]);
                CHECK(same_file(got, want));
            }
            /* Curves and JSON: written without error for present and absent classes. */
            for (int c = 1; c < ncls; c++) {
                char png[300];
                ssd_eval_pr_filename(names[c], png, sizeof png);
                snprintf(got, sizeof got, "%s/%s", out, png);
                CHECK_OK(ssd_eval_plot_pr(&r.classes[c], true, got));
            }
            snprintf(got, sizeof got, "%s/metrics.json", out);
            const char *meta[] = {"case", "x", NULL};
            CHECK_OK(ssd_eval_write_json(&r, got, meta));
        }
        ssd_eval_results_free(&r);
        ssd_eval_results_free(&r); /* idempotent */
    }
    ssd_eval_acc_destroy(acc);
    free_lines(names, nn);
    free_lines(ids, nids);
    fixture_free(&f);
}

static void test_f32_str(void) {
    int n;
    char **l = read_lines("f32str.txt", &n);
    CHECK(n > 1000);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        unsigned bits;
        char want[64], got[64];
        if (sscanf(l[i], "%x %63s", &bits, want) != 2) continue;
        float v;
        memcpy(&v, &bits, 4);
        ssd_np_float32_str(v, got, sizeof got);
        if (strcmp(got, want)) {
            if (bad++ < 5) fprintf(stderr, "float32 %08x: '%s', numpy '%s'\n", bits, got, want);
        }
    }
    CHECK(bad == 0);
    free_lines(l, n);
}

/* The measurements.py functions on hand-made curves. */
static void test_ap_functions(void) {
    const double p[] = {1.0, 0.5, 2.0 / 3, 0.5}, r[] = {0.25, 0.25, 0.5, 0.5};
    /* envelope: 1 up to recall .25, 2/3 up to .5, then 0: area = .25 + .25 * 2/3 */
    CHECK(fabs(ssd_eval_ap_area(p, r, 4) - (0.25 + 0.25 * 2.0 / 3)) < 1e-15);
    /* 11-point: t = 0, .1, .2 -> 1; .3 .4 .5 -> 2/3 (recall .5 >= 0.30000000000000004); rest 0 */
    CHECK(fabs(ssd_eval_ap_voc07(p, r, 4) - (3 * 1.0 / 11 + 3 * (2.0 / 3) / 11)) < 1e-15);
    CHECK(ssd_eval_ap_voc07(p, r, 0) == 0 && ssd_eval_ap_area(p, r, 0) == 0);
    /* recall exactly 0.3 fails t = 3 * 0.1 = 0.30000000000000004, as in numpy. */
    const double p3[] = {1.0}, r3[] = {0.3};
    CHECK(fabs(ssd_eval_ap_voc07(p3, r3, 1) - 3.0 / 11) < 1e-15);
}

static void test_bad_input(void) {
    ssd_eval_acc *acc = NULL;
    CHECK(ssd_eval_acc_create(&acc, 0) == SSD_E_INVAL);
    CHECK_OK(ssd_eval_acc_create(&acc, 3));
    float box[4] = {0, 0, 10, 10};
    int64_t bad_label = 3;
    ssd_annotation ann = {1, box, &bad_label, NULL};
    CHECK(ssd_eval_acc_add(acc, 0, &ann, NULL, 0) == SSD_E_INVAL);
    ssd_detection d = {{0, 0, 1, 1}, 0, 0.5f};
    CHECK(ssd_eval_acc_add(acc, 0, NULL, &d, 1) == SSD_E_INVAL);
    /* Nothing at all: every class absent, means NaN / -1, no crash. */
    ssd_eval_metric_params p;
    ssd_eval_metric_params_default(&p);
    ssd_eval_results r;
    CHECK_OK(ssd_eval_acc_compute(acc, NULL, &p, &r));
    CHECK(r.num_present == 0 && isnan(r.map) && r.coco.ap == -1);
    CHECK(!strcmp(r.classes[1].name, "class1"));
    ssd_eval_results_free(&r);
    p.iou_threshold = 1.5;
    CHECK(ssd_eval_acc_compute(acc, NULL, &p, &r) == SSD_E_INVAL);
    /* Allocation failures anywhere in compute give SSD_E_NOMEM, never a crash or a leak. */
    int64_t lab = 1;
    ssd_annotation ok = {1, box, &lab, NULL};
    ssd_detection d1 = {{1, 1, 10, 10}, 1, 0.9f};
    p.iou_threshold = 0.5;
    CHECK_OK(ssd_eval_acc_add(acc, 0, &ok, &d1, 1));
    for (long k = 1; k < 200; k++) {
        ssd_alloc_fail_at(k);
        ssd_status st = ssd_eval_acc_compute(acc, NULL, &p, &r);
        ssd_alloc_fail_at(0);
        if (st == SSD_OK) {
            ssd_eval_results_free(&r);
            break;
        }
        CHECK(st == SSD_E_NOMEM);
    }
    ssd_eval_acc_destroy(acc);
    ssd_eval_acc_destroy(NULL);
    ssd_eval_results_free(NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("usage: test_ap FIXTURE_DIR");
    dir = argv[1];
    int n;
    char **l = read_lines("ncases.txt", &n);
    CHECK(n == 1);
    int ncases = n ? atoi(l[0]) : 0;
    free_lines(l, n);
    for (int i = 0; i < ncases; i++) run_case(i);
    test_f32_str();
    test_ap_functions();
    test_bad_input();
    return test_finish();
}

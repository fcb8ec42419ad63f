/* A model over a dataset: batches through the loader's test transform, the
 * predictor's post-processing per image, then the metrics. */
#include "eval/eval_internal.h"

#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/progress.h"
#include "data/loader.h"
#include "models/model.h"

#include <math.h>
#include <string.h>

void ssd_eval_params_default(ssd_eval_params *p) {
    memset(p, 0, sizeof *p);
    ssd_eval_metric_params_default(&p->metric);
    p->predict.iou_threshold = 0.45f;
    p->predict.prob_threshold = 0.01f;
    p->predict.candidate_size = 200;
    p->predict.top_k = -1;
    p->predict.soft = false;
    p->predict.sigma = 0.5f;
    p->batch_size = 8;
    p->workers = 2;
}

/* F.softmax over the last dim as PyTorch's CPU kernel does it: exp(x - max) * (1 / sum). */
static void softmax_rows(float *out, const float *in, int k, int c) {
    for (int i = 0; i < k; i++) {
        const float *x = in + (size_t)i * c;
        float *y = out + (size_t)i * c;
        float mx = x[0];
        for (int j = 1; j < c; j++) mx = x[j] > mx ? x[j] : mx;
        float sum = 0;
        for (int j = 0; j < c; j++) {
            y[j] = expf(x[j] - mx);
            sum += y[j];
        }
        float inv = 1 / sum;
        for (int j = 0; j < c; j++) y[j] *= inv;
    }
}

/* Width and height of the original image: from the file's header, else by decoding it. */
static ssd_status original_size(const ssd_dataset *ds, int64_t i, int *w, int *h) {
    const char *path = ds->ops->image_path ? ds->ops->image_path(ds, i) : NULL;
    if (path && ssd_image_size(path, w, h) == SSD_OK) return SSD_OK;
    ssd_image img = {0};
    ssd_annotation ann = {0};
    ssd_status st = ds->ops->get(ds, i, true, &img, &ann);
    if (st == SSD_OK) {
        *w = img.w;
        *h = img.h;
    }
    ssd_image_free(&img);
    ssd_annotation_free(&ann);
    return st;
}

typedef struct {
    ssd_model *m;
    const ssd_dataset *ds;
    const ssd_eval_params *p;
    ssd_eval_acc *acc;
    float *conf, *loc, *scores, *center, *boxes;
} runner;

static ssd_status one_image(runner *r, int64_t idx, const float *conf, const float *loc) {
    ssd_model *m = r->m;
    int k = m->num_priors, c = m->num_classes, w, h;
    softmax_rows(r->scores, conf, k, c);
    ssd_box_decode(r->center, loc, m->priors, k, m->center_variance, m->size_variance);
    ssd_box_center_to_corner(r->boxes, r->center, k);
    SSD_TRY(original_size(r->ds, idx, &w, &h));
    ssd_detection *det = NULL;
    int nd = 0;
    SSD_TRY(ssd_predict(&det, &nd, r->scores, r->boxes, k, c, w, h, &r->p->predict));
    ssd_annotation ann = {0};
    ssd_status st = r->ds->ops->annotation(r->ds, idx, true, &ann);
    if (st == SSD_OK) st = ssd_eval_acc_add(r->acc, idx, &ann, det, nd);
    ssd_annotation_free(&ann);
    ssd_free(det);
    return st;
}

ssd_status ssd_eval_run(ssd_model *m, const ssd_dataset *ds, const ssd_eval_params *p,
                        ssd_eval_results *res) {
    memset(res, 0, sizeof *res);
    if (ds->num_classes != m->num_classes)
        return ssd_error_set(SSD_E_INVAL,
                             "the dataset has %d classes (BACKGROUND included), the model %d",
                             ds->num_classes, m->num_classes);
    if (p->batch_size < 1) return ssd_error_set(SSD_E_INVAL, "eval: batch size %d", p->batch_size);
    runner r = {.m = m, .ds = ds, .p = p};
    ssd_loader *ld = NULL;
    ssd_tensor x = {0};
    ssd_progress prog;
    bool prog_on = false;
    int k = m->num_priors, c = m->num_classes, s = m->resolution, nb = p->batch_size;
    ssd_status st = ssd_eval_acc_create(&r.acc, c);
    if (st != SSD_OK) return st;
    r.conf = ssd_malloc((size_t)nb * k * c * sizeof(float));
    r.loc = ssd_malloc((size_t)nb * k * 4 * sizeof(float));
    r.scores = ssd_malloc((size_t)k * c * sizeof(float));
    r.center = ssd_malloc((size_t)k * 4 * sizeof(float));
    r.boxes = ssd_malloc((size_t)k * 4 * sizeof(float));
    if (!r.conf || !r.loc || !r.scores || !r.center || !r.boxes) {
        st = SSD_E_NOMEM;
        goto done;
    }
    ssd_loader_cfg lc;
    ssd_loader_cfg_default(&lc);
    lc.batch_size = nb;
    lc.workers = p->workers;
    lc.shuffle = false;
    lc.train = false;
    lc.image_size = s;
    for (int i = 0; i < 3; i++) lc.mean[i] = m->image_mean[i];
    lc.std = m->image_std;
    lc.keep_difficult = true;
    lc.target = NULL;
    lc.buf_alloc = ssd_backend_host_alloc_cb; /* page-locked on cuda: fast uploads */
    lc.buf_free = ssd_backend_host_free_cb;
    lc.buf_ctx = m->be;
    SSD_CHECK_GOTO(st, ssd_loader_create(&ld, ds, &lc), done);
    int64_t total = ssd_dataset_size(ds);
    if (p->progress) {
        ssd_progress_init(&prog, "eval", "img", total);
        prog_on = true;
    }
    double t0 = ssd_now();
    for (int64_t bi = 0;; bi++) {
        ssd_batch *b = NULL;
        SSD_CHECK_GOTO(st, ssd_loader_next(ld, &b), done);
        if (!b) break;
        if (b->n > 0) {
            int64_t shape[4] = {b->n, 3, s, s};
            ssd_tensor_ensure(&x, m->be, SSD_F32, 4, shape);
            /* the outputs' get below waits for the upload before the batch goes back */
            st = ssd_tensor_upload(&x, b->images);
            if (st == SSD_OK) st = ssd_model_forward(m, &x, false);
            if (st == SSD_OK) st = ssd_tensor_get(&m->conf, r.conf, SSD_F32);
            if (st == SSD_OK) st = ssd_tensor_get(&m->loc, r.loc, SSD_F32);
            for (int j = 0; j < b->n && st == SSD_OK; j++)
                st = one_image(&r, b->sample_idx[j], r.conf + (size_t)j * k * c,
                               r.loc + (size_t)j * k * 4);
            if (st != SSD_OK) ssd_error_prefix(st, "evaluating batch %lld", (long long)bi);
        }
        int n = b->n;
        ssd_loader_release(ld, b);
        if (st != SSD_OK) goto done;
        if (prog_on) ssd_progress_add(&prog, n, NULL);
        ssd_debug("evaluating average precision   image %lld / %lld",
                  (long long)ssd_eval_acc_images(r.acc), (long long)total);
    }
    double secs = ssd_now() - t0;
    if (prog_on) {
        ssd_progress_end(&prog);
        prog_on = false;
    }
    const char *const *names = (const char *const *)ds->class_names;
    SSD_CHECK_GOTO(st, ssd_eval_acc_compute(r.acc, names, &p->metric, res), done);
    res->seconds = secs;
    res->images_per_s = secs > 0 ? (double)res->images / secs : NAN;
    res->skipped = ssd_loader_skipped(ld);
    if (res->skipped)
        ssd_warn("eval: %lld image(s) could not be loaded and were left out (their objects too)",
                 (long long)res->skipped);
    if (p->eval_dir) {
        SSD_CHECK_GOTO(st, ssd_eval_acc_write_dets(r.acc, ds, p->eval_dir), done);
        for (int i = 1; i < c && p->pr_curves; i++) {
            char name[300];
            ssd_eval_pr_filename(res->classes[i].name, name, sizeof name);
            char *path = ssd_path_join(p->eval_dir, name);
            if (!path) {
                st = SSD_E_NOMEM;
                goto done;
            }
            st = ssd_eval_plot_pr(&res->classes[i], p->metric.use_2007_metric, path);
            ssd_free(path);
            if (st != SSD_OK) goto done;
        }
    }
done:
    if (prog_on) ssd_progress_end(&prog);
    if (st != SSD_OK) ssd_eval_results_free(res);
    ssd_loader_destroy(ld);
    ssd_tensor_deinit(&x);
    ssd_eval_acc_destroy(r.acc);
    ssd_free(r.conf);
    ssd_free(r.loc);
    ssd_free(r.scores);
    ssd_free(r.center);
    ssd_free(r.boxes);
    return st;
}

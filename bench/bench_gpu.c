/* mb1-ssd on the cuda backend: training images/s (forward, the multibox loss on the device,
 * backward and SGD, as ssd train's step) at
 * batch 32 and 128, and inference latency at batch 1 and throughput at
 * batch 64, each in fp32, tf32 and bf16 (16-bit convolutions, as PyTorch's autocast).
 * One line per row:
 *   ours <train|infer> batch=<N> prec=<P> ms=<ms per step> img_s=<images/s>
 * bench/gpu/run.sh puts PyTorch's rows (bench/gpu/torch_gpu.py) beside them.
 *   bench_gpu [--iters K] [--quick]      (exit 77 without a GPU) */
#include "box/box.h"
#include "core/mem.h"
#include "core/progress.h"
#include "models/model.h"
#include "train/sgd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In the backend's host memory (page-locked on cuda), as the training loop's batches. */
static float *host_input(ssd_backend *be, int batch) {
    size_t nx = (size_t)batch * 3 * 300 * 300;
    float *h = ssd_backend_host_alloc(be, nx * sizeof *h);
    for (size_t i = 0; h && i < nx; i++) h[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    return h;
}

/* Targets of a plausible batch: about 1 prior in 40 positive (a few matched boxes per image). */
static ssd_status host_targets(ssd_backend *be, int batch, int k, int c, int64_t **labels,
                               float **gt) {
    size_t nk = (size_t)batch * k;
    *labels = ssd_backend_host_alloc(be, nk * sizeof **labels);
    *gt = ssd_backend_host_alloc(be, nk * 4 * sizeof **gt);
    if (!*labels || !*gt) return SSD_E_NOMEM;
    for (size_t i = 0; i < nk; i++) {
        uint32_t r = (uint32_t)(i * 2654435761u);
        (*labels)[i] = (r >> 8) % 40 == 0 ? 1 + (int64_t)((r >> 16) % (uint32_t)(c - 1)) : 0;
        for (int j = 0; j < 4; j++) (*gt)[i * 4 + j] = (float)((r >> (4 * j)) % 100) / 50.0f - 1.0f;
    }
    return SSD_OK;
}

/* Forward (+ the multibox loss, backward and SGD when training, as ssd train's step) `iters`
 * times after `warm` untimed steps (the first builds cuDNN plans and fills the allocator's
 * pool). Inference copies the heads' outputs to the host, as detection does. */
static ssd_status run(ssd_backend *be, bool train, int batch, int warm, int iters, double *ms) {
    ssd_model *m = NULL;
    SSD_TRY(ssd_model_create(&m, be, "mb1-ssd", 21, 300));
    ssd_sgd opt;
    ssd_status st = ssd_sgd_init(&opt, &m->params, 0.9, 5e-4);
    opt.lr[0] = opt.lr[1] = opt.lr[2] = 1e-4;
    ssd_tensor x[2]; /* in turn, as ssd train: a batch's upload overlaps the last backward */
    ssd_tensor_init4(&x[0], be, SSD_F32, batch, 3, 300, 300);
    ssd_tensor_init4(&x[1], be, SSD_F32, batch, 3, 300, 300);
    ssd_loss_ws ws = {0};
    int64_t *labels = NULL;
    float *gt = NULL, *out = NULL;
    float *h = host_input(be, batch);
    if (st == SSD_OK && !h) st = SSD_E_NOMEM;
    if (st == SSD_OK) st = host_targets(be, batch, m->num_priors, m->num_classes, &labels, &gt);
    double t0 = ssd_now();
    for (int it = 0; it < warm + iters && st == SSD_OK; it++) {
        if (it == warm) t0 = ssd_now();
        st = ssd_tensor_upload(&x[it & 1], h); /* a new batch every step, as in training */
        if (st == SSD_OK) st = ssd_model_forward(m, &x[it & 1], train);
        if (st != SSD_OK) break;
        if (train) {
            double reg, cls; /* the loss waits for the forward pass; the next one for this step */
            st = ssd_multibox_loss_on(&ws, &reg, &cls, &m->dconf, &m->dloc, &m->conf, &m->loc,
                                      labels, gt, 3);
            if (st == SSD_OK) st = ssd_model_backward(m);
            if (st == SSD_OK) st = ssd_sgd_step(&opt);
            continue;
        }
        size_t nc = (size_t)ssd_tensor_numel(&m->conf), nl = (size_t)ssd_tensor_numel(&m->loc);
        if (!out) out = ssd_malloc((nc + nl) * sizeof *out);
        if (!out) {
            st = SSD_E_NOMEM;
            break;
        }
        st = ssd_tensor_get(&m->conf, out, SSD_F32);
        if (st == SSD_OK) st = ssd_tensor_get(&m->loc, out + nc, SSD_F32);
    }
    if (st == SSD_OK) {
        float one;
        ssd_tensor t1;
        int64_t s1 = 1;
        ssd_tensor_init(&t1, be, SSD_F32, 1, &s1);
        st = ssd_tensor_fill(&t1, 0); /* queued after the last step: its get waits for all */
        if (st == SSD_OK) st = ssd_tensor_get(&t1, &one, SSD_F32);
        ssd_tensor_deinit(&t1);
    }
    *ms = (ssd_now() - t0) * 1000 / iters;
    ssd_backend_host_free(be, h);
    ssd_free(out);
    ssd_backend_host_free(be, labels);
    ssd_backend_host_free(be, gt);
    ssd_loss_ws_free(&ws);
    ssd_tensor_deinit(&x[0]);
    ssd_tensor_deinit(&x[1]);
    ssd_sgd_deinit(&opt);
    ssd_model_destroy(m);
    return st;
}

int main(int argc, char **argv) {
    int iters = 10, c;
    bool quick = false;
    static const struct option opts[] = {
        {"iters", required_argument, 0, 'i'}, {"quick", no_argument, 0, 'q'}, {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "i:q", opts, NULL)) != -1) {
        if (c == 'i')
            iters = atoi(optarg);
        else if (c == 'q')
            quick = true;
        else
            return 2;
    }
    if (iters < 1) iters = 1;
    if (ssd_backend_cuda_devices() < 1) {
        char d[256];
        printf("bench_gpu: skipped: cuda %s\n", ssd_backend_cuda_describe(d, sizeof d));
        return 77;
    }
    static const struct {
        bool train;
        int batch;
    } rows[] = {{true, 32}, {true, 128}, {false, 1}, {false, 64}};
    static const ssd_precision precs[] = {SSD_PREC_FP32, SSD_PREC_TF32, SSD_PREC_BF16};
    int rc = 0;
    for (size_t p = 0; p < sizeof precs / sizeof *precs; p++) {
        ssd_backend *be;
        if (ssd_backend_create(&be, "cuda") != SSD_OK ||
            ssd_backend_set_precision(be, precs[p]) != SSD_OK) {
            fprintf(stderr, "bench_gpu: %s\n", ssd_error_message());
            return 1;
        }
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
            if (quick && rows[r].batch == 128) continue;
            double ms = 0;
            int it = rows[r].batch == 1 ? iters * 5 : iters;
            ssd_status st = run(be, rows[r].train, rows[r].batch, 3, it, &ms);
            if (st != SSD_OK) {
                fprintf(stderr, "bench_gpu: %s batch %d %s: %s\n",
                        rows[r].train ? "train" : "infer", rows[r].batch,
                        ssd_precision_name(precs[p]), ssd_error_message());
                rc = 1;
                continue;
            }
            printf("ours %s batch=%d prec=%s ms=%.3f img_s=%.1f\n",
                   rows[r].train ? "train" : "infer", rows[r].batch, ssd_precision_name(precs[p]),
                   ms, rows[r].batch * 1000.0 / ms);
            fflush(stdout);
        }
        ssd_backend_destroy(be);
    }
    return rc;
}

/* A net's training step (forward + backward + SGD) on the cpu backend next to
 * PyTorch's, same batch, same threads, same run:
 *   bench_model [--net NET] [--resolution R] [--batch N] [--threads T] [--iters K]
 * (default mb1-ssd at 300; PyTorch runs tests/golden's definition of the net)
 * Prints ms per step, images/s and the ratio. */
#include "core/mem.h"
#include "core/progress.h"
#include "core/threads.h"
#include "models/model.h"
#include "train/sgd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static ssd_status run(ssd_backend *be, const char *net, int res, int batch, int iters, double *ms) {
    ssd_model *m = NULL;
    SSD_TRY(ssd_model_create(&m, be, net, 21, res));
    ssd_sgd opt;
    ssd_status st = ssd_sgd_init(&opt, &m->params, 0.9, 5e-4);
    opt.lr[0] = opt.lr[1] = opt.lr[2] = 1e-4;
    ssd_tensor x;
    ssd_tensor_init4(&x, be, SSD_F32, batch, 3, res, res);
    size_t nx = (size_t)batch * 3 * res * res;
    float *h = ssd_malloc(nx * sizeof *h);
    for (size_t i = 0; h && i < nx; i++) h[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    if (st == SSD_OK) st = h ? ssd_tensor_set(&x, h, SSD_F32) : SSD_E_NOMEM;
    double t0 = 0;
    for (int it = 0; it <= iters && st == SSD_OK; it++) {
        if (it == 1) t0 = ssd_now(); /* the first step builds primitives and buffers */
        st = ssd_model_forward(m, &x, true);
        if (st != SSD_OK) break;
        /* d(mean(c^2) + mean(l^2)) as the PyTorch side: 2c/numel */
        ssd_tensor_ensure(&m->dconf, be, SSD_F32, 3, m->conf.shape);
        ssd_tensor_ensure(&m->dloc, be, SSD_F32, 3, m->loc.shape);
        size_t nc = (size_t)ssd_tensor_numel(&m->conf), nl = (size_t)ssd_tensor_numel(&m->loc);
        float *c = ssd_malloc((nc + nl) * sizeof *c);
        if (!c) {
            st = SSD_E_NOMEM;
            break;
        }
        ssd_tensor_get(&m->conf, c, SSD_F32);
        ssd_tensor_get(&m->loc, c + nc, SSD_F32);
        for (size_t i = 0; i < nc; i++) c[i] *= 2.0f / nc;
        for (size_t i = 0; i < nl; i++) c[nc + i] *= 2.0f / nl;
        ssd_tensor_set(&m->dconf, c, SSD_F32);
        ssd_tensor_set(&m->dloc, c + nc, SSD_F32);
        ssd_free(c);
        st = ssd_model_backward(m);
        if (st == SSD_OK) st = ssd_sgd_step(&opt);
    }
    *ms = (ssd_now() - t0) * 1000 / iters;
    ssd_free(h);
    ssd_tensor_deinit(&x);
    ssd_sgd_deinit(&opt);
    ssd_model_destroy(m);
    return st;
}

int main(int argc, char **argv) {
    int batch = 32, threads = 2, iters = 3, res = 300, c;
    const char *net = "mb1-ssd";
    static const struct option opts[] = {
        {"net", required_argument, 0, 'n'},   {"resolution", required_argument, 0, 'r'},
        {"batch", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
        {"iters", required_argument, 0, 'i'}, {0, 0, 0, 0}};
    while ((c = getopt_long(argc, argv, "n:r:b:t:i:", opts, NULL)) != -1) {
        if (c == 'n')
            net = optarg;
        else if (c == 'r')
            res = atoi(optarg);
        else if (c == 'b')
            batch = atoi(optarg);
        else if (c == 't')
            threads = atoi(optarg);
        else if (c == 'i')
            iters = atoi(optarg);
        else
            return 2;
    }
    ssd_threads_set(threads);
    ssd_backend *be;
    if (ssd_backend_create(&be, "cpu") != SSD_OK) {
        fprintf(stderr, "bench_model: %s\n", ssd_error_message());
        return 1;
    }
    double ms;
    ssd_status st = run(be, net, res, batch, iters, &ms);
    ssd_backend_destroy(be);
    if (st != SSD_OK) {
        fprintf(stderr, "bench_model: %s\n", ssd_error_message());
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double ours_mb = ru.ru_maxrss / 1024.0;
    char cmd[1024], line[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/model_torch.py %d %d %d %s %d", BENCH_DIR, batch,
             threads, iters, net, res);
    FILE *p = popen(cmd, "r");
    double tms = 0, tmb = 0;
    while (p && fgets(line, sizeof line, p)) {
        sscanf(line, "torch_ms_per_step %lf", &tms);
        sscanf(line, "torch_peak_rss_mb %lf", &tmb);
    }
    if (p) pclose(p);
    printf("%s training step (fwd+bwd+SGD), batch %d, %dx%d, %d threads\n", net, batch, res, res,
           threads);
    printf("  %-8s %10s %10s %10s\n", "", "ms/step", "images/s", "peak MB");
    printf("  %-8s %10.1f %10.2f %10.0f\n", "ssd", ms, batch * 1000.0 / ms, ours_mb);
    if (tms > 0) {
        printf("  %-8s %10.1f %10.2f %10.0f\n", "pytorch", tms, batch * 1000.0 / tms, tmb);
        printf("  speed-up %.2fx (images/s ssd / pytorch), memory %.2fx\n", tms / ms,
               ours_mb / tmb);
    } else {
        printf("  pytorch: not measured (is python3-torch installed?)\n");
    }
    return 0;
}

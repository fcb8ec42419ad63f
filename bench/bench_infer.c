/* Inference of an SSD net at 300x300 from one ONNX file: our runtime next to ONNX
 * Runtime (onnxruntime-node, through bench/ort_bench.js), same file, same
 * thread count, same run. Batch 1 latency and batch 8 throughput.
 *   bench_infer [--model FILE.onnx | --net NET] [--threads T] [--iters K] [--rounds R]
 *               [--backend NAME] [--npm DIR]
 * The machine may be shared, so the two runtimes alternate R times and the
 * figures are the median of the round medians and the minimum. With
 * OMP_WAIT_POLICY=passive in the environment, ONNX Runtime's threads are told
 * not to spin either (on a busy machine spinning threads steal each other's
 * cores).
 * Without --model it exports a dynamic-batch NET (default mb1-ssd; 21 classes,
 * xavier init) to a temporary file first. --npm is the folder onnxruntime-node was
 * installed into (default build/npm, where test_onnx_ort.sh installs it). */
#include "core/mem.h"
#include "core/progress.h"
#include "core/threads.h"
#include "formats/onnx.h"
#include "models/model.h"
#include "runtime/onnx_runtime.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static double minimum(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

static ssd_status bench(ssd_onnx_model *m, ssd_backend *be, int batch, int iters, double *med,
                        double *best) {
    ssd_tensor x;
    ssd_tensor_init4(&x, be, SSD_F32, batch, 3, 300, 300);
    size_t n = (size_t)batch * 3 * 300 * 300;
    float *h = ssd_malloc(n * sizeof *h);
    double *t = ssd_malloc((size_t)iters * sizeof *t);
    ssd_status st = h && t ? SSD_OK : SSD_E_NOMEM;
    for (size_t i = 0; h && i < n; i++) h[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    if (st == SSD_OK) st = ssd_tensor_alloc(&x);
    if (st == SSD_OK) st = ssd_tensor_set(&x, h, SSD_F32);
    for (int i = 0; i < 3 && st == SSD_OK; i++) st = ssd_onnx_run(m, &x); /* plan + warm-up */
    for (int i = 0; i < iters && st == SSD_OK; i++) {
        double t0 = ssd_now();
        st = ssd_onnx_run(m, &x);
        t[i] = (ssd_now() - t0) * 1000;
    }
    if (st == SSD_OK) {
        qsort(t, (size_t)iters, sizeof *t, cmp_d);
        *med = t[iters / 2];
        *best = t[0];
    }
    ssd_free(h);
    ssd_free(t);
    ssd_tensor_deinit(&x);
    return st;
}

static ssd_status make_model(const char *path, ssd_backend *be, const char *net) {
    ssd_model *m = NULL;
    SSD_TRY(ssd_model_create(&m, be, net, 21, 300));
    ssd_status st = ssd_model_init_xavier(m, 1);
    ssd_onnx_export_opts o = {13, 1, true, NULL, 0};
    if (st == SSD_OK) st = ssd_onnx_export(m, &o, path);
    ssd_model_destroy(m);
    return st;
}

/* Runs ort_bench.js; *med < 0 when it could not run. */
static void ort(const char *npm, const char *model, int batch, int threads, int iters, double *med,
                double *best) {
    char cmd[4096], line[512];
    *med = *best = -1;
    /* Same thread-wait policy on both sides: OpenMP reads OMP_WAIT_POLICY at start-up. */
    const char *wp = getenv("OMP_WAIT_POLICY");
    bool passive = wp && !strcasecmp(wp, "passive");
    snprintf(cmd, sizeof cmd,
             "ORT_NO_SPIN=%d NODE_PATH='%s/node_modules' node '%s/ort_bench.js' '%s' %d %d %d",
             passive, npm, BENCH_DIR, model, batch, threads, iters);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    while (fgets(line, sizeof line, p)) {
        const char *a = strstr(line, "median_ms="), *b = strstr(line, "min_ms=");
        if (a && b) {
            *med = atof(a + 10);
            *best = atof(b + 7);
        }
    }
    pclose(p);
}

int main(int argc, char **argv) {
    const char *model = NULL, *bname = "cpu", *npm = "build/npm", *net = "mb1-ssd";
    int threads = 2, iters = 20, rounds = 3;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'},
        {"iters", required_argument, 0, 'i'}, {"backend", required_argument, 0, 'b'},
        {"npm", required_argument, 0, 'n'},   {"rounds", required_argument, 0, 'r'},
        {"net", required_argument, 0, 'N'},   {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 't':
            threads = atoi(optarg);
            break;
        case 'i':
            iters = atoi(optarg);
            break;
        case 'b':
            bname = optarg;
            break;
        case 'n':
            npm = optarg;
            break;
        case 'r':
            rounds = atoi(optarg);
            break;
        case 'N':
            net = optarg;
            break;
        default:
            return 2;
        }
    }
    if (iters < 1 || threads < 1 || rounds < 1 || rounds > 16) return 2;
    ssd_threads_set(threads);
    ssd_backend *be = NULL;
    if (ssd_backend_create(&be, bname) != SSD_OK) {
        fprintf(stderr, "backend %s: %s; using ref\n", bname, ssd_error_message());
        bname = "ref";
        if (ssd_backend_create(&be, bname) != SSD_OK) return 1;
    }
    char tmp[256] = "";
    if (!model) {
        snprintf(tmp, sizeof tmp, "/tmp/bench_infer_%d.onnx", (int)getpid());
        if (make_model(tmp, be, net) != SSD_OK) {
            fprintf(stderr, "export: %s\n", ssd_error_message());
            return 1;
        }
        model = tmp;
    }
    ssd_onnx_model *m = NULL;
    if (ssd_onnx_load(&m, model, be) != SSD_OK) {
        fprintf(stderr, "%s\n", ssd_error_message());
        return 1;
    }
    const char *wp = getenv("OMP_WAIT_POLICY");
    printf("thread wait policy: %s\n", wp && !strcasecmp(wp, "passive")
                                           ? "passive (no spinning) "
                                             "on both sides"
                                           : "default (spinning) on both sides");
    printf("%s 300x300, %s, %d threads, %d rounds of %d timed runs each, ssd and "
           "onnxruntime alternating\n(median of the round medians; min over all runs)\n",
           tmp[0] ? net : "model", model, threads, rounds, iters);
    int batches[2] = {1, 8};
    for (int k = 0; k < 2; k++) {
        int b = batches[k];
        int it = b == 1 ? iters : (iters + 3) / 4;
        double med[16], best[16], omed[16], obest[16];
        bool have_ort = true;
        for (int r = 0; r < rounds; r++) {
            if (bench(m, be, b, it, &med[r], &best[r]) != SSD_OK) {
                fprintf(stderr, "run: %s\n", ssd_error_message());
                return 1;
            }
            ort(npm, model, b, threads, it, &omed[r], &obest[r]);
            have_ort = have_ort && omed[r] > 0;
        }
        double sm = median(med, rounds), sb = minimum(best, rounds);
        printf("batch %d  ssd (%s):    %8.2f ms  (min %.2f)  %7.1f img/s\n", b, bname, sm, sb,
               b * 1000.0 / sm);
        if (have_ort) {
            double om = median(omed, rounds), ob = minimum(obest, rounds);
            printf("batch %d  onnxruntime: %8.2f ms  (min %.2f)  %7.1f img/s   ssd/ort = %.2f "
                   "(min %.2f)\n",
                   b, om, ob, b * 1000.0 / om, sm / om, sb / ob);
        } else {
            printf("batch %d  onnxruntime: not available (install onnxruntime-node into %s)\n", b,
                   npm);
        }
    }
    ssd_onnx_destroy(m);
    ssd_backend_destroy(be);
    if (tmp[0]) unlink(tmp);
    return 0;
}

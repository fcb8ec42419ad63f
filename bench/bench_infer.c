/* Inference of an SSD net from one ONNX file (300x300 unless the file says):
 * our runtime next to ONNX Runtime (onnxruntime-node, through
 * bench/ort_bench.js), same file, same thread count, same run. Batch 1
 * latency and batch 8 throughput; a timed run of ours includes copying the
 * outputs to host arrays, as ONNX Runtime's run returns them.
 *   bench_infer [--model FILE.onnx] [--threads T] [--iters K] [--rounds R]
 *               [--backend NAME] [--npm DIR] [--ort both|nospin|spin|none]
 *               [--precision fp32|bf16|both] [--profile]
 * The machine may be shared, so the runtimes alternate R times (ours, then
 * ONNX Runtime) and the figures are medians over the rounds; ssd/ort is the
 * median of the per-round ratios (the two ran back to back, under about the
 * same load), and "min" the ratio of the fastest runs over all rounds. "cpu"
 * is the process CPU time of one run (all threads), which the other users of
 * the machine disturb much less than the wall time.
 *
 * Thread waiting. Ours runs OpenMP with the policy the ssd CLI uses (a short
 * spin at barriers, core/threads.h, set here by re-executing when the
 * environment names no policy: libgomp reads it once, at start-up); set
 * OMP_WAIT_POLICY=passive to time it sleeping at once. ONNX Runtime runs its
 * own pool twice per round: with spinning disabled and with its default
 * spinning (which, like ours, spins briefly and then yields).
 *
 * Without --model it exports a dynamic-batch mb1-ssd (21 classes, xavier
 * init) to a temporary file first. --npm is the folder onnxruntime-node was
 * installed into (default build/npm, where test_onnx_ort.sh installs it).
 * --precision both (the default) times ours in fp32 and, where the backend
 * has bfloat16 convs (AVX512_BF16 or AMX), in bf16 too (ssd_onnx_set_precision:
 * 8 significant bits, TensorRT's FP16 keeps 11); ONNX Runtime runs
 * fp32 either way, so bf16/ort compares different arithmetic.
 * --profile: instead, time each kernel of ours at batch 1 (or the file's fixed
 * batch) and list them (in the first precision asked for). A file exported
 * with a fixed batch is timed at that batch only. */
#include "core/mem.h"
#include "core/progress.h"
#include "core/threads.h"
#include "formats/onnx.h"
#include "models/model.h"
#include "runtime/onnx_runtime.h"

#include <getopt.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Process CPU seconds (all threads): with passive waiting, the work done,
 * whatever the other users of the machine take of its cores. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Median and minimum wall ms and median CPU ms of `iters` runs. */
typedef struct {
    double med, best, cpu;
} timing;

/* The images' size: the model's declared input size, else 300x300. */
static int img_h = 300, img_w = 300;

/* The bench input: batch images, a fixed pattern in [-1, 1). */
static ssd_status bench_input(ssd_tensor *x, ssd_backend *be, int batch) {
    ssd_tensor_init4(x, be, SSD_F32, batch, 3, img_h, img_w);
    size_t n = (size_t)batch * 3 * (size_t)img_h * (size_t)img_w;
    float *h = ssd_malloc(n * sizeof *h);
    if (!h) return SSD_E_NOMEM;
    for (size_t i = 0; i < n; i++) h[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    ssd_status st = ssd_tensor_alloc(x);
    if (st == SSD_OK) st = ssd_tensor_set(x, h, SSD_F32);
    ssd_free(h);
    return st;
}

/* One run and its outputs copied to the host, as ONNX Runtime's run hands
 * them back (and as detection reads them). */
static ssd_status run_fetch(ssd_onnx_model *m, const ssd_tensor *x, float *out) {
    SSD_TRY(ssd_onnx_run(m, x));
    for (int i = 0; i < ssd_onnx_num_outputs(m); i++) {
        SSD_TRY(ssd_onnx_output_get(m, i, out));
        out += ssd_tensor_numel(ssd_onnx_output(m, i));
    }
    return SSD_OK;
}

static ssd_status bench(ssd_onnx_model *m, ssd_backend *be, int batch, int iters, timing *r) {
    ssd_tensor x;
    double *t = ssd_malloc((size_t)iters * sizeof *t);
    double *c = ssd_malloc((size_t)iters * sizeof *c);
    float *out = NULL;
    ssd_status st = bench_input(&x, be, batch);
    if (st == SSD_OK && !(t && c)) st = SSD_E_NOMEM;
    if (st == SSD_OK) st = ssd_onnx_run(m, &x); /* plan, and the outputs' sizes */
    if (st == SSD_OK) {
        int64_t n = 0;
        for (int i = 0; i < ssd_onnx_num_outputs(m); i++)
            n += ssd_tensor_numel(ssd_onnx_output(m, i));
        if (!(out = ssd_malloc((size_t)n * sizeof *out))) st = SSD_E_NOMEM;
    }
    for (int i = 0; i < 2 && st == SSD_OK; i++) st = run_fetch(m, &x, out); /* warm-up */
    for (int i = 0; i < iters && st == SSD_OK; i++) {
        double c0 = cpu_now(), t0 = ssd_now();
        st = run_fetch(m, &x, out);
        t[i] = (ssd_now() - t0) * 1000;
        c[i] = (cpu_now() - c0) * 1000;
    }
    ssd_free(out);
    if (st == SSD_OK) {
        r->med = median(t, iters);
        r->best = t[0];
        r->cpu = median(c, iters);
    }
    ssd_free(t);
    ssd_free(c);
    ssd_tensor_deinit(&x);
    return st;
}

static int cmp_prof(const void *a, const void *b) {
    double x = ((const ssd_onnx_prof *)a)->cpu_ms, y = ((const ssd_onnx_prof *)b)->cpu_ms;
    return (x < y) - (x > y);
}

/* Per-kernel times of ours at one batch (1, or the file's fixed one): the
 * costliest kernels, then sums per kind. */
static int profile(ssd_onnx_model *m, ssd_backend *be, int batch, int iters) {
    timing r;
    ssd_onnx_set_profile(m, false);
    if (bench(m, be, batch, 3, &r) != SSD_OK) {
        fprintf(stderr, "%s\n", ssd_error_message());
        return 1;
    }
    ssd_onnx_set_profile(m, true);
    if (bench(m, be, batch, iters, &r) != SSD_OK) {
        fprintf(stderr, "%s\n", ssd_error_message());
        return 1;
    }
    const ssd_onnx_prof *p;
    int n = ssd_onnx_profile(m, &p);
    ssd_onnx_prof *s = ssd_malloc((size_t)(n + 1) * sizeof *s);
    if (!s) return 1;
    memcpy(s, p, (size_t)n * sizeof *s);
    double total = 0, ctotal = 0;
    long runs = n && s[0].runs ? s[0].runs : 1;
    for (int i = 0; i < n; i++) {
        total += s[i].ms;
        ctotal += s[i].cpu_ms;
    }
    printf("batch %d: %d kernels, per run %.2f ms wall, %.2f ms cpu in kernels (median run %.2f "
           "ms, cpu %.2f ms)\n  (sorted by cpu time; kind, op, node)\n",
           batch, n, total / runs, ctotal / runs, r.med, r.cpu);
    qsort(s, (size_t)n, sizeof *s, cmp_prof);
    double macs = 0;
    for (int i = 0; i < n; i++) macs += s[i].macs;
    for (int i = 0; i < n && i < 70; i++) {
        printf("  %7.3f ms wall %7.3f ms cpu %5.1f%%  %-8s %-12s %-10s", s[i].ms / runs,
               s[i].cpu_ms / runs, 100 * s[i].cpu_ms / ctotal, s[i].kind, s[i].op, s[i].node);
        if (s[i].macs > 0) /* MACs per wall second: how near the cores' peak a conv runs */
            printf(" %-22s %6.1f M MACs %6.1f GMAC/s", s[i].geom, s[i].macs * 1e-6,
                   s[i].macs / (s[i].ms / runs) * 1e-6);
        printf("\n");
    }
    printf("  convs: %.1f M MACs in all, %.1f GMAC/s over the run\n", macs * 1e-6,
           macs / (total / runs) * 1e-6);
    const char *kinds[16];
    double sum[16], csum[16];
    int cnt[16], nk = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < nk && strcmp(kinds[j], s[i].kind)) j++;
        if (j == nk && nk < 16) {
            kinds[nk] = s[i].kind;
            sum[nk] = csum[nk] = 0;
            cnt[nk++] = 0;
        }
        if (j < nk) {
            sum[j] += s[i].ms;
            csum[j] += s[i].cpu_ms;
            cnt[j]++;
        }
    }
    for (int j = 0; j < nk; j++)
        printf("  %-8s x%-3d %7.3f ms wall %7.3f ms cpu\n", kinds[j], cnt[j], sum[j] / runs,
               csum[j] / runs);
    ssd_free(s);
    ssd_onnx_set_profile(m, false);
    return 0;
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

/* Runs ort_bench.js; r->med < 0 when it could not run. */
static void ort(const char *npm, const char *model, int batch, int threads, int iters, bool spin,
                timing *r) {
    char cmd[4096], line[512];
    r->med = r->best = r->cpu = -1;
    bool passive = !spin;
    snprintf(
        cmd, sizeof cmd,
        "ORT_NO_SPIN=%d NODE_PATH='%s/node_modules' node '%s/ort_bench.js' '%s' %d %d %d %d %d",
        passive, npm, BENCH_DIR, model, batch, threads, iters, img_h, img_w);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    while (fgets(line, sizeof line, p)) {
        const char *a = strstr(line, "median_ms="), *b = strstr(line, "min_ms="),
                   *c = strstr(line, "cpu_ms=");
        if (a && b && c) {
            r->med = atof(a + 10);
            r->best = atof(b + 7);
            r->cpu = atof(c + 7);
        }
    }
    pclose(p);
}

/* Output o of the last run, copied into *buf (grown as needed); *k its numel. */
static ssd_status output_copy(ssd_onnx_model *m, int o, float **buf, int64_t *k) {
    *k = ssd_tensor_numel(ssd_onnx_output(m, o));
    float *p = ssd_realloc(*buf, (size_t)(*k ? *k : 1) * sizeof *p);
    if (!p) return SSD_E_NOMEM;
    *buf = p;
    return ssd_onnx_output_get(m, o, p);
}

/* How far bf16's outputs are from fp32's on the bench input (batch 1): the
 * largest absolute difference per output. */
static ssd_status bf16_drift(ssd_onnx_model *m, ssd_backend *be) {
    enum { MAX_OUT = 8 };
    int nout = ssd_onnx_num_outputs(m) < MAX_OUT ? ssd_onnx_num_outputs(m) : MAX_OUT;
    float *f32[MAX_OUT] = {NULL}, *b16 = NULL;
    int64_t k = 0;
    ssd_tensor x;
    ssd_status st = bench_input(&x, be, 1);
    if (st == SSD_OK) st = ssd_onnx_set_precision(m, SSD_PREC_FP32);
    if (st == SSD_OK) st = ssd_onnx_run(m, &x);
    for (int o = 0; o < nout && st == SSD_OK; o++) st = output_copy(m, o, &f32[o], &k);
    if (st == SSD_OK) st = ssd_onnx_set_precision(m, SSD_PREC_BF16);
    if (st == SSD_OK) st = ssd_onnx_run(m, &x);
    if (st == SSD_OK) printf("bf16 vs fp32 on the bench input:");
    for (int o = 0; o < nout && st == SSD_OK; o++) {
        st = output_copy(m, o, &b16, &k);
        double d = 0;
        for (int64_t i = 0; st == SSD_OK && i < k; i++)
            d = fmax(d, fabs((double)f32[o][i] - b16[i]));
        if (st == SSD_OK) printf(" %s max |diff| %.2e", ssd_onnx_output_name(m, o), d);
    }
    if (st == SSD_OK) printf("\n");
    for (int o = 0; o < nout; o++) ssd_free(f32[o]);
    ssd_free(b16);
    ssd_tensor_deinit(&x);
    return st;
}

/* Median over the rounds of ours / theirs, and the ratio of the fastest runs
 * (the fastest run of each over all rounds: the figure least disturbed by
 * other load). */
static void ratios(const timing *ours, const timing *t, int rounds, double *med, double *min) {
    double r[16], ob[16], tb[16];
    for (int i = 0; i < rounds; i++) {
        r[i] = ours[i].med / t[i].med;
        ob[i] = ours[i].best;
        tb[i] = t[i].best;
    }
    *med = median(r, rounds);
    *min = minimum(ob, rounds) / minimum(tb, rounds);
}

/* The figures of one runtime over the rounds, and its ratio to ours. */
static void report(const char *what, int batch, const timing *t, const timing *ours, int rounds) {
    double med[16], best[16], cpu[16], cratio[16];
    for (int r = 0; r < rounds; r++) {
        med[r] = t[r].med;
        best[r] = t[r].best;
        cpu[r] = t[r].cpu;
        cratio[r] = ours[r].cpu / t[r].cpu;
    }
    double m = median(med, rounds);
    printf("batch %d  %-26s %8.2f ms  (min %7.2f, cpu %7.2f)  %6.1f img/s", batch, what, m,
           minimum(best, rounds), median(cpu, rounds), batch * 1000.0 / m);
    if (t != ours) {
        double ratio, rmin;
        ratios(ours, t, rounds, &ratio, &rmin);
        printf("  ssd/ort %.2f (cpu %.2f, min %.2f)", ratio, median(cratio, rounds), rmin);
    }
    printf("\n");
}

static const char usage[] =
    "usage: bench_infer [--model FILE.onnx] [--net NET] [--threads T] [--iters K] [--rounds R]\n"
    "                   [--backend NAME] [--npm DIR] [--ort both|nospin|spin|none]\n"
    "                   [--precision fp32|bf16|both] [--profile]\n";

int main(int argc, char **argv) {
    const char *model = NULL, *bname = "cpu", *npm = "build/npm", *ort_mode = "both",
               *net = "mb1-ssd";
    const char *precision = "both";
    int threads = 2, iters = 20, rounds = 5, prof = 0;
    ssd_threads_wait_policy(argv); /* ssd's policy, as the CLI runs it */
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"threads", required_argument, 0, 't'},
        {"iters", required_argument, 0, 'i'}, {"backend", required_argument, 0, 'b'},
        {"npm", required_argument, 0, 'n'},   {"rounds", required_argument, 0, 'r'},
        {"profile", no_argument, 0, 'p'},     {"ort", required_argument, 0, 'o'},
        {"net", required_argument, 0, 'N'},   {"precision", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
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
        case 'p':
            prof = 1;
            break;
        case 'o':
            ort_mode = optarg;
            break;
        case 'N':
            net = optarg;
            break;
        case 'P':
            precision = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    bool ort_nospin = !strcmp(ort_mode, "both") || !strcmp(ort_mode, "nospin");
    bool ort_spin = !strcmp(ort_mode, "both") || !strcmp(ort_mode, "spin");
    bool ort_none = !strcmp(ort_mode, "none"); /* ours alone: an A/B of two builds */
    bool want32 = strcmp(precision, "bf16") != 0, want16 = strcmp(precision, "fp32") != 0;
    if (iters < 1 || threads < 1 || rounds < 1 || rounds > 16 ||
        !(ort_spin || ort_nospin || ort_none) ||
        (strcmp(precision, "both") && strcmp(precision, "fp32") && strcmp(precision, "bf16"))) {
        fputs(usage, stderr);
        return 2;
    }
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
    int64_t dims[SSD_MAX_DIMS];
    int fixed_batch = 0;
    if (ssd_onnx_input_dims(m, dims) == 4) {
        fixed_batch = dims[0] > 0 ? (int)dims[0] : 0;
        if (dims[2] > 0) img_h = (int)dims[2];
        if (dims[3] > 0) img_w = (int)dims[3];
    }
    if (want16 && ssd_onnx_set_precision(m, SSD_PREC_BF16) != SSD_OK) {
        printf("bf16: %s\n", ssd_error_message());
        want16 = false;
        if (!want32) return 1;
    }
    if (want32) ssd_onnx_set_precision(m, SSD_PREC_FP32);
    if (prof) {
        int rc = profile(m, be, fixed_batch > 0 ? fixed_batch : 1, iters);
        ssd_onnx_destroy(m);
        ssd_backend_destroy(be);
        if (tmp[0]) unlink(tmp);
        return rc;
    }
    const char *wp = getenv("OMP_WAIT_POLICY"), *sc = getenv("GOMP_SPINCOUNT");
    printf("%s %dx%d, %s, %d threads, %d rounds of %d timed runs (batch 8: %d)\n"
           "ssd: OpenMP OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s\n",
           tmp[0] ? net : "model", img_h, img_w, model, threads, rounds, iters, (iters + 3) / 4,
           wp ? wp : "(unset)", sc ? sc : "(unset)");
    /* a file exported without a dynamic batch runs only at its own */
    int batches[2] = {1, 8}, nb = 2;
    if (fixed_batch > 0) {
        for (int k = 0; k < 2; k++)
            if (batches[k] != fixed_batch)
                printf("batch %d  skipped: %s has a fixed batch of %d (export with "
                       "--dynamic-batch to time both)\n",
                       batches[k], model, fixed_batch);
        batches[0] = fixed_batch;
        nb = 1;
    }
    for (int k = 0; k < nb; k++) {
        int b = batches[k];
        int it = b == 1 ? iters : (iters + 3) / 4;
        timing t[16], h[16], o[16], os[16];
        bool have_ort = !ort_none;
        for (int r = 0; r < rounds; r++) {
            for (int p = 0; p < 2; p++) {
                if (!(p ? want16 : want32)) continue;
                ssd_onnx_set_precision(m, p ? SSD_PREC_BF16 : SSD_PREC_FP32); /* checked above */
                if (bench(m, be, b, it, p ? &h[r] : &t[r]) != SSD_OK) {
                    fprintf(stderr, "run: %s\n", ssd_error_message());
                    return 1;
                }
            }
            if (!want32) memcpy(&t[r], &h[r], sizeof t[r]);
            if (ort_nospin) ort(npm, model, b, threads, it, false, &o[r]);
            if (ort_spin) ort(npm, model, b, threads, it, true, &os[r]);
            have_ort = have_ort && (!ort_nospin || o[r].med > 0) && (!ort_spin || os[r].med > 0);
        }
        char what[64];
        snprintf(what, sizeof what, "ssd (%s, %s):", bname, want32 ? "fp32" : "bf16");
        report(what, b, t, t, rounds);
        if (want32 && want16) {
            snprintf(what, sizeof what, "ssd (%s, bf16):", bname);
            report(what, b, h, h, rounds);
        }
        if (ort_none) continue;
        if (!have_ort) {
            printf("batch %d  onnxruntime: not available (install onnxruntime-node into %s)\n", b,
                   npm);
            continue;
        }
        if (ort_nospin) report("onnxruntime (no spinning):", b, o, t, rounds);
        if (ort_spin) report("onnxruntime (spinning):", b, os, t, rounds);
        if (want32 && want16) { /* ONNX Runtime computes in fp32: a different arithmetic */
            double a, am, c = 0, cm = 0;
            ratios(h, ort_spin ? os : o, rounds, &a, &am);
            if (ort_spin && ort_nospin) ratios(h, o, rounds, &c, &cm);
            printf("batch %d  bf16/ort (ort in fp32): %s %.2f (min %.2f)", b,
                   ort_spin ? "spinning" : "no spinning", a, am);
            if (ort_spin && ort_nospin) printf(", no spinning %.2f (min %.2f)", c, cm);
            printf("\n");
        }
    }
    if (want32 && want16 && bf16_drift(m, be) != SSD_OK) {
        fprintf(stderr, "bf16 check: %s\n", ssd_error_message());
        return 1;
    }
    ssd_onnx_destroy(m);
    ssd_backend_destroy(be);
    if (tmp[0]) unlink(tmp);
    return 0;
}

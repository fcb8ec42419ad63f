#include "test.h"

#include "core/fileio.h"
#include "core/mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int test_passed, test_failed;

int test_finish(void) {
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

int test_skip(const char *why) {
    printf("skipped: %s\n", why);
    return 77;
}

ssd_status test_runtime_backend(ssd_backend **be) {
    const char *name = getenv("SSD_TEST_BACKEND");
    if (!name && ssd_backend_create(be, "cpu") != SSD_OK) name = "ref";
    if (name) SSD_TRY(ssd_backend_create(be, name));
    printf("backend %s\n", (*be)->ops->name);
    return SSD_OK;
}

#define DEFINE_CLOSE(NAME, T)                                                                      \
    bool NAME(const char *what, const T *a, const T *b, long n, double atol, double rtol) {        \
        double max_abs = 0, max_rel = 0;                                                           \
        long worst = -1, bad = 0;                                                                  \
        for (long i = 0; i < n; i++) {                                                             \
            double d = fabs((double)a[i] - (double)b[i]);                                          \
            double r = d / (fabs((double)b[i]) + 1e-30);                                           \
            bool ok = d <= atol + rtol * fabs((double)b[i]);                                       \
            if (isnan((double)a[i]) != isnan((double)b[i])) ok = false;                            \
            if (d > max_abs || (worst < 0 && !ok)) {                                               \
                max_abs = d;                                                                       \
                worst = i;                                                                         \
            }                                                                                      \
            if (r > max_rel && d > atol) max_rel = r;                                              \
            if (!ok) {                                                                             \
                if (bad < 5)                                                                       \
                    fprintf(stderr, "  %s[%ld]: got %.9g want %.9g\n", what, i, (double)a[i],      \
                            (double)b[i]);                                                         \
                bad++;                                                                             \
            }                                                                                      \
        }                                                                                          \
        if (bad) {                                                                                 \
            test_failed++;                                                                         \
            fprintf(stderr,                                                                        \
                    "FAIL %s: %ld/%ld mismatches, max abs %.3g, max rel %.3g, worst at %ld "       \
                    "(atol %.g rtol %.g)\n",                                                       \
                    what, bad, n, max_abs, max_rel, worst, atol, rtol);                            \
            return false;                                                                          \
        }                                                                                          \
        test_passed++;                                                                             \
        if (getenv("SSD_TEST_VERBOSE"))                                                            \
            printf("ok %s: n=%ld max abs %.3g max rel %.3g\n", what, n, max_abs, max_rel);         \
        return true;                                                                               \
    }

DEFINE_CLOSE(test_close_f32, float)
DEFINE_CLOSE(test_close_f64, double)

bool test_close_tensor(const char *what, const ssd_tensor *t, const float *ref, double atol,
                       double rtol) {
    long n = (long)ssd_tensor_numel(t);
    float *got = ssd_malloc((size_t)n * sizeof(float));
    if (!got) return false;
    ssd_status st = ssd_tensor_get(t, got, SSD_F32);
    bool ok = false;
    if (st != SSD_OK) {
        test_failed++;
        fprintf(stderr, "FAIL %s: get: %s\n", what, ssd_error_message());
    } else {
        ok = test_close_f32(what, got, ref, n, atol, rtol);
    }
    ssd_free(got);
    return ok;
}

void test_put(const char *root, const char *rel, const char *fmt, ...) {
    char path[4096], dir[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    ssd_mkdir_p(dir);
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fclose(fp);
}

/* Batch norm's output recompute (ssd_bn_params.use_saved): after a training
 * forward and backward, a use_saved forward on the same x must give bitwise
 * the same output, leave save_*, the running statistics and (on cpu) the
 * workspace's meaning alone, and a backward given the recomputed output must
 * give bitwise the same gradients. Random shapes (channels not multiples of
 * 16 included), fused none/ReLU/ReLU6, on ref f32/f64 and on cpu with plain,
 * nChw8c and nChw16c inputs, through our kernels and oneDNN's primitive. */
#include "test.h"

#include "backend/cpu/cpu.h"
#include "core/mem.h"

#include <string.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;

static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / (double)(1ull << 53);
}

static int irand(int lo, int hi) {
    return lo + (int)(urand() * (hi - lo + 1));
}

/* Sets t (shape given) to uniform values in [lo, hi), as f64 host data. */
static void set_rand(ssd_tensor *t, ssd_backend *be, ssd_dtype dt, int nd, const int64_t *shape,
                     double lo, double hi) {
    ssd_tensor_init(t, be, dt, nd, shape);
    int64_t n = ssd_tensor_numel(t);
    double *h = ssd_malloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * urand();
    CHECK_OK(ssd_tensor_set(t, h, SSD_F64));
    ssd_free(h);
}

/* The tensor's values as host bytes of its own dtype (plain order). */
static void *host(const ssd_tensor *t) {
    size_t bytes = (size_t)ssd_tensor_numel(t) * ssd_dtype_size(t->dtype);
    void *h = ssd_malloc(bytes ? bytes : 1);
    CHECK_OK(ssd_tensor_get(t, h, t->dtype));
    return h;
}

static void same_bits(const char *cfg, const char *what, const ssd_tensor *a, const void *b) {
    size_t bytes = (size_t)ssd_tensor_numel(a) * ssd_dtype_size(a->dtype);
    void *h = host(a);
    bool same = memcmp(h, b, bytes) == 0;
    if (!same) fprintf(stderr, "FAIL %s: %s differs bitwise\n", cfg, what);
    CHECK(same);
    ssd_free(h);
}

static void one(ssd_backend *be, ssd_dtype dt, int blk, bool onednn, ssd_act act, bool x_is_y) {
    const ssd_backend_ops *o = be->ops;
    int64_t n = irand(1, 3), c = irand(3, 45), h = irand(2, 9), w = irand(2, 9);
    if (n * h * w < 2) h = 2;
    int64_t xs[4] = {n, c, h, w}, cs[1] = {c};
    char cfg[160];
    snprintf(cfg, sizeof cfg, "%s %s blk%d%s act%d (%lld,%lld,%lld,%lld)%s", o->name,
             ssd_dtype_name(dt), blk, onednn ? " oneDNN" : "", (int)act, (long long)n, (long long)c,
             (long long)h, (long long)w, x_is_y ? " in place" : "");
    ssd_tensor x, g, b, rm, rv, dy, y, mean, inv, ws, dx, dg, db, dx2, dg2, db2;
    set_rand(&x, be, dt, 4, xs, -2.0, 5.0); /* spread so that ReLU6 clips at both ends */
    set_rand(&g, be, dt, 1, cs, 0.5, 3.0);
    set_rand(&b, be, dt, 1, cs, -1.0, 2.0);
    set_rand(&rm, be, dt, 1, cs, -0.5, 0.5);
    set_rand(&rv, be, dt, 1, cs, 0.5, 1.5);
    set_rand(&dy, be, dt, 4, xs, -1.0, 1.0);
    ssd_tensor *outs[] = {&y, &mean, &inv, &ws, &dx, &dg, &db, &dx2, &dg2, &db2};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        ssd_tensor_init(outs[i], be, dt, 0, NULL);
    if (blk) {
        CHECK_OK(ssd_backend_cpu_block(be, &x, blk));
        CHECK_OK(ssd_backend_cpu_block(be, &dy, blk));
    }
    ssd_backend_cpu_set_bn_onednn(be, onednn);
    ssd_bn_params p = {.eps = 1e-5, .momentum = 0.1, .training = true, .act = act};

    CHECK_OK(o->bn_fwd(be, &y, &mean, &inv, &ws, &x, &g, &b, &rm, &rv, &p));
    CHECK_OK(o->bn_bwd(be, &dx, &dg, &db, &dy, &x, &y, &ws, &g, &mean, &inv, &rv, &p));
    void *y0 = host(&y), *m0 = host(&mean), *i0 = host(&inv), *rm0 = host(&rm), *rv0 = host(&rv);
    void *dx0 = host(&dx), *dg0 = host(&dg), *db0 = host(&db);

    /* The graph's use: y dropped (garbage), rebuilt from x and the saved statistics. */
    CHECK_OK(ssd_tensor_fill(&y, 123.0));
    p.use_saved = true;
    CHECK_OK(o->bn_fwd(be, &y, &mean, &inv, &ws, &x, &g, &b, NULL, NULL, &p));
    same_bits(cfg, "recomputed y", &y, y0);
    same_bits(cfg, "save_mean", &mean, m0);
    same_bits(cfg, "save_invstd", &inv, i0);
    CHECK_OK(o->bn_fwd(be, &y, &mean, &inv, &ws, &x, &g, &b, &rm, &rv, &p));
    same_bits(cfg, "recomputed y (running stats given)", &y, y0);
    same_bits(cfg, "running_mean", &rm, rm0);
    same_bits(cfg, "running_var", &rv, rv0);
    p.use_saved = false;
    CHECK_OK(o->bn_bwd(be, &dx2, &dg2, &db2, &dy, &x, &y, &ws, &g, &mean, &inv, &rv, &p));
    same_bits(cfg, "dx", &dx2, dx0);
    same_bits(cfg, "dgamma", &dg2, dg0);
    same_bits(cfg, "dbeta", &db2, db0);

    if (x_is_y) { /* in place: y written over x (x is gone afterwards) */
        p.use_saved = true;
        CHECK_OK(o->bn_fwd(be, &x, &mean, &inv, &ws, &x, &g, &b, NULL, NULL, &p));
        same_bits(cfg, "recomputed y over x", &x, y0);
    }

    /* Missing saved statistics are an error, not a crash. */
    p.use_saved = true;
    CHECK(o->bn_fwd(be, &y, NULL, &inv, &ws, &x, &g, &b, NULL, NULL, &p) != SSD_OK);
    ssd_backend_cpu_set_bn_onednn(be, false);
    void *hs[] = {y0, m0, i0, rm0, rv0, dx0, dg0, db0};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) ssd_free(hs[i]);
    ssd_tensor *all[] = {&x, &g, &b, &rm, &rv, &dy};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) ssd_tensor_deinit(outs[i]);
}

int main(void) {
    static const ssd_act acts[3] = {SSD_ACT_NONE, SSD_ACT_RELU, SSD_ACT_RELU6};
    ssd_backend *ref = NULL, *cpu = NULL;
    REQUIRE_OK(ssd_backend_create(&ref, "ref"));
    for (int rep = 0; rep < 4; rep++)
        for (int a = 0; a < 3; a++) {
            one(ref, SSD_F32, 0, false, acts[a], rep == 0);
            one(ref, SSD_F64, 0, false, acts[a], rep == 1);
        }
    if (ssd_backend_create(&cpu, "cpu") == SSD_OK) {
        static const int blks[3] = {0, 8, 16};
        for (int rep = 0; rep < 3; rep++)
            for (int a = 0; a < 3; a++)
                for (int k = 0; k < 3; k++)
                    for (int dn = 0; dn < 2; dn++)
                        one(cpu, SSD_F32, blks[k], dn, acts[a], rep == 0);
        ssd_backend_destroy(cpu);
    } else {
        printf("note: cpu backend not available (%s)\n", ssd_error_message());
    }
    ssd_backend_destroy(ref);
    return test_finish();
}

/* Every op configuration the SSD models use, on every backend, against
 * PyTorch: argv[1] holds the fixtures of gen_ops.py (its docstring lists what
 * each file holds). For each file and each backend run the op forward,
 * compare the outputs, run backward with the fixture's upstream gradient and
 * compare every gradient (and BN's running statistics).
 *
 * Backends: "ref" in float32 and float64 (the f64 kernels are checked against
 * PyTorch here too) and "cpu" in float32. SSD_BACKENDS=ref,cpu picks a
 * subset; SSD_TEST_VERBOSE=1 prints the max errors of every comparison. */
#include "fixture.h"
#include "test.h"

#include "core/mem.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Forward outputs: the inputs are O(1) by construction (unit-variance data,
 * fan-in scaled weights), so PyTorch's float32 sums of up to ~300 products
 * carry ~1e-6 absolute error. rtol 1e-4 leaves a wide margin; atol 1e-5 is for
 * elements that cancel to near zero, where a relative bound means nothing. */
#define FWD_RTOL 1e-4
#define FWD_ATOL 1e-5
/* Backward outputs: weight gradients sum up to N*Ho*Wo ~ 700 products and
 * reach magnitudes ~30, and BN's dx subtracts two such sums, so float32
 * rounding in PyTorch (and in oneDNN) is ~1e-5 absolute. atol 1e-4 covers
 * near-zero elements at that scale; rtol 1e-3 as the brief asks. */
#define BWD_RTOL 1e-3
#define BWD_ATOL 1e-4

#define MAX_SLOTS 32

typedef struct {
    ssd_backend *be;
    ssd_dtype dt;
    const char *be_name;
    const char *cfg;
    const fixture_file *f;
    ssd_tensor slots[MAX_SLOTS];
    int used;
    bool ok; /* false once a set-up step failed: later steps are skipped */
} run;

static void fail(run *r, const char *what) {
    test_failed++;
    fprintf(stderr, "FAIL %s/%s/%s: %s: %s\n", r->be_name, ssd_dtype_name(r->dt), r->cfg, what,
            ssd_error_message());
    r->ok = false;
}

/* An empty output tensor on the run's backend. */
static ssd_tensor *out(run *r) {
    if (r->used == MAX_SLOTS) {
        fprintf(stderr, "test_ops: out of slots\n");
        abort();
    }
    ssd_tensor *t = &r->slots[r->used++];
    ssd_tensor_init(t, r->be, r->dt, 0, NULL);
    return t;
}

/* The fixture tensor `name` as an input on the run's backend. */
static ssd_tensor *in(run *r, const char *name) {
    const fixture_tensor *ft = fixture_find(r->f, name);
    ssd_tensor *t = out(r);
    if (!ft) {
        ssd_error_set(SSD_E_FORMAT, "fixture has no '%s'", name);
        fail(r, name);
        return t;
    }
    if (fixture_to_tensor(t, r->be, r->dt, ft) != SSD_OK) fail(r, name);
    return t;
}

static double par(run *r, const char *name, int i) {
    const fixture_tensor *ft = fixture_find(r->f, name);
    if (!ft || ft->dtype != SSD_F64 || ft->numel <= i) {
        ssd_error_set(SSD_E_FORMAT, "fixture param '%s'[%d] missing", name, i);
        fail(r, name);
        return 0;
    }
    return ((const double *)ft->data)[i];
}

static void step(run *r, const char *what, ssd_status st) {
    if (r->ok && st != SSD_OK) fail(r, what);
}

/* Compares output t with the fixture tensor `name` (shape, then values). */
static void expect(run *r, const ssd_tensor *t, const char *name, double atol, double rtol) {
    if (!r->ok) return;
    char what[256];
    snprintf(what, sizeof what, "%s/%s/%s: %s", r->be_name, ssd_dtype_name(r->dt), r->cfg, name);
    const fixture_tensor *ft = fixture_find(r->f, name);
    if (!ft || ft->dtype != SSD_F32) {
        test_failed++;
        fprintf(stderr, "FAIL %s: fixture has no float32 '%s'\n", what, name);
        return;
    }
    bool same = t->ndim == ft->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = t->shape[i] == ft->shape[i];
    if (!same) {
        char buf[96];
        test_failed++;
        fprintf(stderr, "FAIL %s: shape %s differs from the fixture's\n", what,
                ssd_tensor_shape_str(t, buf, sizeof buf));
        return;
    }
    test_close_tensor(what, t, ft->data, atol, rtol);
}

static ssd_act act_of(double v) {
    return v == 1   ? SSD_ACT_RELU
           : v == 2 ? SSD_ACT_RELU6
           : v == 3 ? SSD_ACT_HARDSWISH
           : v == 4 ? SSD_ACT_HARDSIGMOID
                    : SSD_ACT_NONE;
}

static void op_conv2d(run *r) {
    ssd_conv2d_params p = {
        .stride = {(int)par(r, "p.stride", 0), (int)par(r, "p.stride", 1)},
        .pad = {(int)par(r, "p.pad", 0), (int)par(r, "p.pad", 1)},
        .dilation = {(int)par(r, "p.dilation", 0), (int)par(r, "p.dilation", 1)},
        .groups = (int)par(r, "p.groups", 0),
        .act = act_of(par(r, "p.act", 0)),
    };
    bool bias = fixture_find(r->f, "b") != NULL;
    ssd_tensor *x = in(r, "x"), *w = in(r, "w"), *b = bias ? in(r, "b") : NULL;
    ssd_tensor *dy = in(r, "dy"), *y = out(r), *dz = out(r), *dx = out(r), *dw = out(r);
    ssd_tensor *db = bias ? out(r) : NULL;
    const ssd_backend_ops *o = r->be->ops;
    if (!r->ok) return;
    step(r, "conv2d_fwd", o->conv2d_fwd(r->be, y, x, w, b, &p));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    /* Conv backward takes the gradient before the fused activation. */
    if (p.act != SSD_ACT_NONE) {
        ssd_act_params ap = {p.act};
        step(r, "act_bwd", o->act_bwd(r->be, dz, dy, NULL, y, &ap));
    } else {
        dz = dy;
    }
    if (!r->ok) return;
    step(r, "conv2d_bwd_data", o->conv2d_bwd_data(r->be, dx, dz, x, w, &p));
    expect(r, dx, "dx", BWD_ATOL, BWD_RTOL);
    step(r, "conv2d_bwd_weights", o->conv2d_bwd_weights(r->be, dw, db, dz, x, w, &p));
    expect(r, dw, "dw", BWD_ATOL, BWD_RTOL);
    if (bias) expect(r, db, "db", BWD_ATOL, BWD_RTOL);
}

static void op_batchnorm(run *r) {
    ssd_bn_params p = {.eps = par(r, "p.eps", 0),
                       .momentum = par(r, "p.momentum", 0),
                       .training = par(r, "p.training", 0) != 0,
                       .act = act_of(par(r, "p.act", 0))};
    ssd_tensor *x = in(r, "x"), *gamma = in(r, "gamma"), *beta = in(r, "beta");
    ssd_tensor *rm = in(r, "running_mean"), *rv = in(r, "running_var"), *dy = in(r, "dy");
    ssd_tensor *y = out(r), *mean = out(r), *invstd = out(r), *ws = out(r);
    ssd_tensor *dx = out(r), *dgamma = out(r), *dbeta = out(r);
    const ssd_backend_ops *o = r->be->ops;
    if (!r->ok) return;
    step(r, "bn_fwd", o->bn_fwd(r->be, y, mean, invstd, ws, x, gamma, beta, rm, rv, &p));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    expect(r, rm, "running_mean_out", FWD_ATOL, FWD_RTOL);
    expect(r, rv, "running_var_out", FWD_ATOL, FWD_RTOL);
    if (!r->ok) return;
    step(r, "bn_bwd",
         o->bn_bwd(r->be, dx, dgamma, dbeta, dy, x, y, ws, gamma, mean, invstd, rv, &p));
    expect(r, dx, "dx", BWD_ATOL, BWD_RTOL);
    expect(r, dgamma, "dgamma", BWD_ATOL, BWD_RTOL);
    expect(r, dbeta, "dbeta", BWD_ATOL, BWD_RTOL);
}

static void op_act(run *r) {
    ssd_act_params p = {act_of(par(r, "p.kind", 0))};
    ssd_tensor *x = in(r, "x"), *dy = in(r, "dy"), *y = out(r), *dx = out(r);
    if (!r->ok) return;
    step(r, "act_fwd", r->be->ops->act_fwd(r->be, y, x, &p));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    step(r, "act_bwd", r->be->ops->act_bwd(r->be, dx, dy, x, y, &p));
    expect(r, dx, "dx", BWD_ATOL, BWD_RTOL);
}

static void op_gap(run *r) {
    ssd_tensor *x = in(r, "x"), *dy = in(r, "dy"), *y = out(r), *dx = out(r);
    const ssd_backend_ops *o = r->be->ops;
    if (!r->ok) return;
    if (!o->gap_fwd || !o->gap_bwd) {
        ssd_error_set(SSD_E_UNSUPPORTED, "no gap op");
        fail(r, "gap");
        return;
    }
    step(r, "gap_fwd", o->gap_fwd(r->be, y, x));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    step(r, "gap_bwd", o->gap_bwd(r->be, dx, dy, x));
    expect(r, dx, "dx", BWD_ATOL, BWD_RTOL);
}

static void op_scale(run *r) {
    ssd_tensor *x = in(r, "x"), *s = in(r, "s"), *dy = in(r, "dy");
    ssd_tensor *y = out(r), *dx = out(r), *ds = out(r), *dx2 = out(r);
    const ssd_backend_ops *o = r->be->ops;
    if (!r->ok) return;
    if (!o->scale_fwd || !o->scale_bwd) {
        ssd_error_set(SSD_E_UNSUPPORTED, "no scale op");
        fail(r, "scale");
        return;
    }
    step(r, "scale_fwd", o->scale_fwd(r->be, y, x, s));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    step(r, "scale_bwd", o->scale_bwd(r->be, dx, ds, dy, x, s));
    expect(r, dx, "dx", BWD_ATOL, BWD_RTOL);
    expect(r, ds, "ds", BWD_ATOL, BWD_RTOL);
    step(r, "scale_bwd without ds", o->scale_bwd(r->be, dx2, NULL, dy, x, s));
    expect(r, dx2, "dx", BWD_ATOL, BWD_RTOL);
    /* in place, as a graph may run it */
    step(r, "scale_fwd in place", o->scale_fwd(r->be, x, x, s));
    expect(r, x, "y", FWD_ATOL, FWD_RTOL);
}

static void op_maxpool(run *r) {
    ssd_pool_params p = {
        .kernel = {(int)par(r, "p.kernel", 0), (int)par(r, "p.kernel", 1)},
        .stride = {(int)par(r, "p.stride", 0), (int)par(r, "p.stride", 1)},
        .pad = {(int)par(r, "p.pad", 0), (int)par(r, "p.pad", 1)},
        .ceil_mode = par(r, "p.ceil_mode", 0) != 0,
    };
    ssd_tensor *x = in(r, "x"), *dy = in(r, "dy"), *y = out(r), *ws = out(r), *dx = out(r);
    if (!r->ok) return;
    step(r, "maxpool_fwd", r->be->ops->maxpool_fwd(r->be, y, ws, x, &p));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    /* The reference workspace is PyTorch's index tensor: compare it exactly
     * (it decides where ties send the gradient). Other backends keep their own. */
    const fixture_tensor *idx = fixture_find(r->f, "idx");
    if (r->ok && strcmp(r->be_name, "ref") == 0 && idx) {
        CHECK(ws->dtype == SSD_I64 && ssd_tensor_numel(ws) == idx->numel);
        if (ws->dtype == SSD_I64 && ssd_tensor_numel(ws) == idx->numel) {
            long bad = 0;
            for (int64_t i = 0; i < idx->numel; i++)
                bad += ((const int64_t *)ws->data)[i] != ((const int64_t *)idx->data)[i];
            if (bad)
                fprintf(stderr, "FAIL ref/%s: %ld argmax indices differ from PyTorch's\n", r->cfg,
                        bad);
            CHECK(bad == 0);
        }
    }
    step(r, "maxpool_bwd", r->be->ops->maxpool_bwd(r->be, dx, dy, ws, x, &p));
    expect(r, dx, "dx", BWD_ATOL, BWD_RTOL);
}

static void op_add(run *r) {
    ssd_tensor *a = in(r, "a"), *b = in(r, "b"), *y = out(r);
    if (!r->ok) return;
    step(r, "add", r->be->ops->add(r->be, y, a, b));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    /* In place, as layers use it to sum two gradients. */
    step(r, "add in place", r->be->ops->add(r->be, a, a, b));
    expect(r, a, "y", FWD_ATOL, FWD_RTOL);
}

static void op_concat(run *r) {
    int n = (int)par(r, "p.n", 0), axis = (int)par(r, "p.axis", 0);
    if (n < 1 || n > 8) {
        ssd_error_set(SSD_E_FORMAT, "bad p.n %d", n);
        fail(r, "p.n");
        return;
    }
    ssd_tensor *xs[8], *dxs[8];
    char name[16];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "x%d", i);
        xs[i] = in(r, name);
        dxs[i] = out(r);
    }
    ssd_tensor *dy = in(r, "dy"), *y = out(r);
    if (!r->ok) return;
    step(r, "concat_fwd", r->be->ops->concat_fwd(r->be, y, (const ssd_tensor *const *)xs, n, axis));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    step(r, "concat_bwd",
         r->be->ops->concat_bwd(r->be, dxs, dy, (const ssd_tensor *const *)xs, n, axis));
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "dx%d", i);
        expect(r, dxs[i], name, BWD_ATOL, BWD_RTOL);
    }
}

static void op_softmax(run *r) {
    ssd_softmax_params p = {.axis = (int)par(r, "p.axis", 0), .log = par(r, "p.log", 0) != 0};
    ssd_tensor *x = in(r, "x"), *dy = in(r, "dy"), *y = out(r), *dx = out(r);
    if (!r->ok) return;
    step(r, "softmax_fwd", r->be->ops->softmax_fwd(r->be, y, x, &p));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    step(r, "softmax_bwd", r->be->ops->softmax_bwd(r->be, dx, dy, y, &p));
    expect(r, dx, "dx", BWD_ATOL, BWD_RTOL);
}

static void op_head_permute(run *r) {
    ssd_head_params p = {.k = (int)par(r, "p.k", 0)};
    ssd_tensor *x = in(r, "x"), *dy = in(r, "dy"), *y = out(r), *dx = out(r);
    if (!r->ok) return;
    step(r, "head_permute_fwd", r->be->ops->head_permute_fwd(r->be, y, x, &p));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    step(r, "head_permute_bwd", r->be->ops->head_permute_bwd(r->be, dx, dy, x, &p));
    expect(r, dx, "dx", BWD_ATOL, BWD_RTOL);
}

static void op_l2norm(run *r) {
    ssd_l2norm_params p = {par(r, "p.eps", 0)};
    ssd_tensor *x = in(r, "x"), *scale = in(r, "scale"), *dy = in(r, "dy");
    ssd_tensor *y = out(r), *dx = out(r), *dscale = out(r);
    if (!r->ok) return;
    step(r, "l2norm_fwd", r->be->ops->l2norm_fwd(r->be, y, x, scale, &p));
    expect(r, y, "y", FWD_ATOL, FWD_RTOL);
    step(r, "l2norm_bwd", r->be->ops->l2norm_bwd(r->be, dx, dscale, dy, x, scale, &p));
    expect(r, dx, "dx", BWD_ATOL, BWD_RTOL);
    expect(r, dscale, "dscale", BWD_ATOL, BWD_RTOL);
}

static const struct {
    const char *op;
    void (*fn)(run *);
} OPS[] = {
    {"conv2d", op_conv2d},   {"batchnorm", op_batchnorm},
    {"act", op_act},         {"maxpool", op_maxpool},
    {"add", op_add},         {"concat", op_concat},
    {"softmax", op_softmax}, {"head_permute", op_head_permute},
    {"l2norm", op_l2norm},   {"gap", op_gap},
    {"scale", op_scale},
};

/* Runs one fixture file on one backend and dtype; false if its op is unknown. */
static bool run_file(ssd_backend *be, const char *be_name, ssd_dtype dt, const char *cfg,
                     const fixture_file *f) {
    size_t oplen = strcspn(cfg, "-");
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
        if (strlen(OPS[i].op) != oplen || strncmp(cfg, OPS[i].op, oplen) != 0) continue;
        run *r = ssd_calloc(1, sizeof *r);
        if (!r) return false;
        *r = (run){.be = be, .dt = dt, .be_name = be_name, .cfg = cfg, .f = f, .ok = true};
        OPS[i].fn(r);
        for (int k = 0; k < r->used; k++) ssd_tensor_deinit(&r->slots[k]);
        ssd_free(r);
        return true;
    }
    return false;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.ssdt names in dir; returns the count (-1 if unreadable). */
static int list_fixtures(const char *dir, char ***names) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".ssdt") != 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = ssd_realloc(v, (size_t)cap * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        v[n] = ssd_strdup(e->d_name);
        if (v[n]) v[n++][len - 5] = '\0';
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
    *names = v;
    return n;
}

static bool wanted(const char *name) {
    const char *list = getenv("SSD_BACKENDS");
    if (!list || !*list) return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0) return true;
        p += len + (p[len] == ',');
    }
    return false;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_ops FIXTURE_DIR\n");
        return 2;
    }
    char **names = NULL;
    int n = list_fixtures(argv[1], &names);
    CHECK(n >= 40); /* gen_ops.py writes one file per config; fewer means it broke */
    static const struct {
        const char *be;
        ssd_dtype dt;
    } RUNS[] = {{"ref", SSD_F32}, {"ref", SSD_F64}, {"cpu", SSD_F32}};
    int tested = 0;
    for (size_t k = 0; k < sizeof RUNS / sizeof RUNS[0]; k++) {
        if (!wanted(RUNS[k].be)) continue;
        ssd_backend *be = NULL;
        ssd_status st = ssd_backend_create(&be, RUNS[k].be);
        if (st == SSD_E_UNSUPPORTED) {
            printf("note: %s backend not available (%s); not tested\n", RUNS[k].be,
                   ssd_error_message());
            continue;
        }
        CHECK_OK(st);
        if (st != SSD_OK) continue;
        tested++;
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.ssdt", argv[1], names[i]);
            fixture_file f;
            ssd_status fst = fixture_load(&f, path);
            CHECK_OK(fst);
            if (fst != SSD_OK) continue;
            bool known = run_file(be, RUNS[k].be, RUNS[k].dt, names[i], &f);
            if (!known) fprintf(stderr, "%s: unknown op\n", names[i]);
            CHECK(known);
            fixture_free(&f);
        }
        ssd_backend_destroy(be);
    }
    CHECK(tested > 0);
    for (int i = 0; i < n; i++) ssd_free(names[i]);
    ssd_free(names);
    return test_finish();
}

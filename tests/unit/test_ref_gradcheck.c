/* Finite-difference gradient checks of every backward op of the reference
 * backend, in float64 on small shapes.
 *
 * For an op y = f(inputs) and a random upstream gradient r, the loss
 * L = sum(r * y) has dL/dinput = backward(dy = r). Each input element is
 * perturbed by +-H and (L+ - L-) / 2H is compared with the backward output.
 * Inputs are kept off the non-differentiable points: pre-activations at
 * least KINK_MARGIN away from 0 and 6 (checked, not assumed), max-pool inputs
 * spaced so that no window has a near tie. */
#include "test.h"

#include "core/mem.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Central differences in double: truncation ~H^2 * f''' ~ 1e-10, rounding
 * ~1e-16 * |L| / H ~ 1e-10 for |L| ~ 10. */
#define H 1e-5
/* A perturbation of H moves any pre-activation by at most ~10 * H, so a
 * margin of 1e-3 keeps every +-H evaluation on the same side of each kink. */
#define KINK_MARGIN 1e-3
/* Errors above are ~1e-9 absolute on gradients of magnitude <= ~30; 1e-6
 * absolute + 1e-6 relative is three orders above that and still far below
 * any real mistake (a wrong term changes gradients by O(0.1)). */
#define GC_ATOL 1e-6
#define GC_RTOL 1e-6

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform(double lo, double hi) {
    /* splitmix64: a fixed, platform-independent sequence */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return lo + (hi - lo) * (double)(z >> 11) / 9007199254740992.0;
}

static ssd_backend *be;

/* A float64 tensor on the ref backend filled uniformly in [lo, hi). */
static void rand_tensor(ssd_tensor *t, int ndim, const int64_t *shape, double lo, double hi) {
    ssd_tensor_init(t, be, SSD_F64, ndim, shape);
    if (ssd_tensor_alloc(t) != SSD_OK) return;
    double *p = t->data;
    for (int64_t i = 0; i < ssd_tensor_numel(t); i++) p[i] = uniform(lo, hi);
}

static void empty(ssd_tensor *t) {
    ssd_tensor_init(t, be, SSD_F64, 0, NULL);
}

/* One op under test: its inputs, parameters and forward output. */
typedef struct {
    ssd_op op;
    ssd_tensor *in[4]; /* x first; then w, b / gamma, beta / scale / more concat inputs */
    int n_in;
    ssd_tensor *rm, *rv, *mean, *invstd, *ws; /* batch norm, max pool */
    union {
        ssd_conv2d_params conv;
        ssd_bn_params bn;
        ssd_act_params act;
        ssd_pool_params pool;
        ssd_softmax_params sm;
        ssd_head_params head;
        ssd_l2norm_params l2;
        int axis;
    } p;
    ssd_tensor y;
} gcase;

static ssd_status forward(gcase *c) {
    const ssd_backend_ops *o = be->ops;
    ssd_tensor **in = c->in;
    switch (c->op) {
    case SSD_OP_CONV2D:
        return o->conv2d_fwd(be, &c->y, in[0], in[1], in[2], &c->p.conv);
    case SSD_OP_BATCHNORM:
        return o->bn_fwd(be, &c->y, c->mean, c->invstd, c->ws, in[0], in[1], in[2], c->rm, c->rv,
                         &c->p.bn);
    case SSD_OP_ACT:
        return o->act_fwd(be, &c->y, in[0], &c->p.act);
    case SSD_OP_MAXPOOL:
        return o->maxpool_fwd(be, &c->y, c->ws, in[0], &c->p.pool);
    case SSD_OP_CONCAT:
        return o->concat_fwd(be, &c->y, (const ssd_tensor *const *)in, c->n_in, c->p.axis);
    case SSD_OP_SOFTMAX:
        return o->softmax_fwd(be, &c->y, in[0], &c->p.sm);
    case SSD_OP_HEAD_PERMUTE:
        return o->head_permute_fwd(be, &c->y, in[0], &c->p.head);
    case SSD_OP_L2NORM:
        return o->l2norm_fwd(be, &c->y, in[0], in[1], &c->p.l2);
    case SSD_OP_GAP:
        return o->gap_fwd(be, &c->y, in[0]);
    case SSD_OP_SCALE:
        return o->scale_fwd(be, &c->y, in[0], in[1]);
    default:
        return ssd_error_set(SSD_E_INVAL, "no forward for op %d", (int)c->op);
    }
}

static double loss(gcase *c, const ssd_tensor *r) {
    if (forward(c) != SSD_OK) return NAN;
    const double *y = c->y.data, *w = r->data;
    double s = 0;
    for (int64_t i = 0; i < ssd_tensor_numel(&c->y); i++) s += y[i] * w[i];
    return s;
}

/* Compares grad (from backward) with central differences of L w.r.t. c->in[k]. */
static void gradcheck(const char *what, gcase *c, int k, const ssd_tensor *grad,
                      const ssd_tensor *r) {
    ssd_tensor *x = c->in[k];
    int64_t n = ssd_tensor_numel(x);
    if (!grad->data || ssd_tensor_numel(grad) != n) {
        test_failed++;
        fprintf(stderr, "FAIL %s: gradient has %lld elements, input %lld\n", what,
                (long long)ssd_tensor_numel(grad), (long long)n);
        return;
    }
    double *num = ssd_malloc((size_t)n * sizeof *num), *v = x->data;
    if (!num) return;
    for (int64_t i = 0; i < n; i++) {
        double keep = v[i];
        v[i] = keep + H;
        double lp = loss(c, r);
        v[i] = keep - H;
        double lm = loss(c, r);
        v[i] = keep;
        num[i] = (lp - lm) / (2 * H);
    }
    forward(c); /* leave y as it was for the inputs */
    test_close_f64(what, grad->data, num, (long)n, GC_ATOL, GC_RTOL);
    ssd_free(num);
}

/* Distance of the pre-activation z to the kinks of act; also checks that a
 * ReLU6 case reaches the clipped region, so that part is exercised. */
static void check_kinks(const char *what, const ssd_tensor *z, ssd_act act) {
    const double *p = z->data;
    double margin = INFINITY;
    int64_t above6 = 0, below0 = 0;
    for (int64_t i = 0; i < ssd_tensor_numel(z); i++) {
        margin = fmin(margin, fabs(p[i]));
        if (act == SSD_ACT_RELU6) margin = fmin(margin, fabs(p[i] - 6));
        above6 += p[i] > 6;
        below0 += p[i] < 0;
    }
    if (margin <= KINK_MARGIN)
        fprintf(stderr, "%s: pre-activation within %g of a kink; change the inputs\n", what,
                margin);
    CHECK(margin > KINK_MARGIN);
    CHECK(below0 > 0);
    if (act == SSD_ACT_RELU6) CHECK(above6 > 0);
}

static void deinit_case(gcase *c) {
    ssd_tensor_deinit(&c->y);
}

/* ---- conv2d ---------------------------------------------------------------- */

static void conv_case(const char *name, int64_t n, int64_t ci, int64_t h, int64_t w, int64_t co,
                      int kh, int kw, ssd_conv2d_params p, bool bias, double wscale) {
    ssd_tensor x, wt, b, r, dz, dx, dw, db, z;
    int64_t xs[4] = {n, ci, h, w}, ws[4] = {co, ci / p.groups, kh, kw}, bs[1] = {co};
    rand_tensor(&x, 4, xs, -1, 1);
    rand_tensor(&wt, 4, ws, -wscale, wscale);
    rand_tensor(&b, 1, bs, -0.5, 0.5);
    empty(&r), empty(&dz), empty(&dx), empty(&dw), empty(&db), empty(&z);
    gcase c = {.op = SSD_OP_CONV2D, .in = {&x, &wt, bias ? &b : NULL}, .n_in = 3, .p.conv = p};
    empty(&c.y);
    CHECK_OK(forward(&c));
    rand_tensor(&r, c.y.ndim, c.y.shape, -1, 1);
    const ssd_tensor *g = &r;
    if (p.act != SSD_ACT_NONE) {
        ssd_conv2d_params lin = p;
        lin.act = SSD_ACT_NONE;
        CHECK_OK(be->ops->conv2d_fwd(be, &z, &x, &wt, bias ? &b : NULL, &lin));
        check_kinks(name, &z, p.act);
        ssd_act_params ap = {p.act};
        CHECK_OK(be->ops->act_bwd(be, &dz, &r, NULL, &c.y, &ap));
        g = &dz;
    }
    CHECK_OK(be->ops->conv2d_bwd_data(be, &dx, g, &x, &wt, &p));
    CHECK_OK(be->ops->conv2d_bwd_weights(be, &dw, bias ? &db : NULL, g, &x, &wt, &p));
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    gradcheck(what, &c, 0, &dx, &r);
    snprintf(what, sizeof what, "%s dw", name);
    gradcheck(what, &c, 1, &dw, &r);
    if (bias) {
        snprintf(what, sizeof what, "%s db", name);
        gradcheck(what, &c, 2, &db, &r);
    }
    deinit_case(&c);
    ssd_tensor *all[] = {&x, &wt, &b, &r, &dz, &dx, &dw, &db, &z};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
}

static void test_conv(void) {
    ssd_conv2d_params dense = {.stride = {1, 1}, .pad = {1, 1}, .dilation = {1, 1}, .groups = 1};
    conv_case("conv dense k3 p1", 2, 3, 6, 7, 4, 3, 3, dense, true, 0.5);
    ssd_conv2d_params gsd = {.stride = {2, 2}, .pad = {2, 2}, .dilation = {2, 2}, .groups = 2};
    conv_case("conv grouped s2 p2 d2", 2, 4, 9, 8, 6, 3, 3, gsd, true, 0.5);
    ssd_conv2d_params dwp = {.stride = {2, 2}, .pad = {1, 1}, .dilation = {1, 1}, .groups = 3};
    conv_case("conv depthwise s2 p1", 2, 3, 7, 7, 3, 3, 3, dwp, false, 0.5);
    ssd_conv2d_params dw5 = {.stride = {1, 1}, .pad = {2, 2}, .dilation = {1, 1}, .groups = 3};
    conv_case("conv depthwise k5 p2", 1, 3, 6, 6, 3, 5, 5, dw5, true, 0.5);
    ssd_conv2d_params asym = {.stride = {1, 2}, .pad = {0, 1}, .dilation = {1, 1}, .groups = 1};
    conv_case("conv k3x2 s1x2 p0x1", 2, 2, 5, 6, 3, 3, 2, asym, true, 0.5);
    ssd_conv2d_params relu = {
        .stride = {1, 1}, .pad = {1, 1}, .dilation = {1, 1}, .groups = 1, .act = SSD_ACT_RELU};
    conv_case("conv k3 +relu", 2, 3, 5, 5, 4, 3, 3, relu, true, 0.5);
    ssd_conv2d_params relu6 = {
        .stride = {1, 1}, .pad = {0, 0}, .dilation = {1, 1}, .groups = 1, .act = SSD_ACT_RELU6};
    conv_case("conv 1x1 +relu6", 2, 8, 4, 4, 6, 1, 1, relu6, true, 3.0);
}

/* ---- batch norm -------------------------------------------------------------- */

static void bn_case(const char *name, bool training, ssd_act act, int ndim, const int64_t *xs) {
    int64_t c = xs[1];
    ssd_tensor x, gamma, beta, rm, rv, mean, invstd, ws, r, dx, dg, db, z;
    rand_tensor(&x, ndim, xs, -2, 3);
    rand_tensor(&gamma, 1, &c, 1.5, 3.5);
    rand_tensor(&beta, 1, &c, 0.5, 3);
    rand_tensor(&rm, 1, &c, -0.5, 0.5);
    rand_tensor(&rv, 1, &c, 0.5, 2);
    empty(&mean), empty(&invstd), empty(&ws), empty(&r), empty(&dx), empty(&dg), empty(&db);
    empty(&z);
    gcase cs = {.op = SSD_OP_BATCHNORM,
                .in = {&x, &gamma, &beta},
                .n_in = 3,
                .rm = &rm,
                .rv = &rv,
                .mean = &mean,
                .invstd = &invstd,
                .ws = &ws,
                .p.bn = {.eps = 1e-5, .momentum = 0.1, .training = training, .act = act}};
    empty(&cs.y);
    CHECK_OK(forward(&cs));
    rand_tensor(&r, cs.y.ndim, cs.y.shape, -1, 1);
    if (act != SSD_ACT_NONE) {
        ssd_bn_params lin = cs.p.bn;
        lin.act = SSD_ACT_NONE;
        CHECK_OK(be->ops->bn_fwd(be, &z, &mean, &invstd, &ws, &x, &gamma, &beta, &rm, &rv, &lin));
        check_kinks(name, &z, act);
    }
    CHECK_OK(be->ops->bn_bwd(be, &dx, &dg, &db, &r, &x, &cs.y, &ws, &gamma, &mean, &invstd, &rv,
                             &cs.p.bn));
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    gradcheck(what, &cs, 0, &dx, &r);
    snprintf(what, sizeof what, "%s dgamma", name);
    gradcheck(what, &cs, 1, &dg, &r);
    snprintf(what, sizeof what, "%s dbeta", name);
    gradcheck(what, &cs, 2, &db, &r);
    deinit_case(&cs);
    ssd_tensor *all[] = {&x, &gamma, &beta, &rm, &rv, &mean, &invstd, &ws, &r, &dx, &dg, &db, &z};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
}

static void test_bn(void) {
    int64_t s4[4] = {2, 3, 4, 5}, s2[2] = {7, 3};
    bn_case("bn train", true, SSD_ACT_NONE, 4, s4);
    bn_case("bn train +relu", true, SSD_ACT_RELU, 4, s4);
    bn_case("bn train +relu6", true, SSD_ACT_RELU6, 4, s4);
    bn_case("bn eval", false, SSD_ACT_NONE, 4, s4);
    bn_case("bn eval +relu", false, SSD_ACT_RELU, 4, s4);
    bn_case("bn eval +relu6", false, SSD_ACT_RELU6, 4, s4);
    bn_case("bn train (N,C)", true, SSD_ACT_NONE, 2, s2);
}

/* ---- single-input ops: act, max pool, softmax, head permute -------------------- */

/* Runs forward, backward through `bwd`, and the finite-difference check on x. */
static void unary_case(const char *name, gcase *c, ssd_tensor *x,
                       ssd_status (*bwd)(gcase *c, ssd_tensor *dx, const ssd_tensor *r)) {
    ssd_tensor r, dx;
    empty(&r), empty(&dx), empty(&c->y);
    c->in[0] = x;
    c->n_in = 1;
    CHECK_OK(forward(c));
    rand_tensor(&r, c->y.ndim, c->y.shape, -1, 1);
    CHECK_OK(bwd(c, &dx, &r));
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    gradcheck(what, c, 0, &dx, &r);
    deinit_case(c);
    ssd_tensor_deinit(&r);
    ssd_tensor_deinit(&dx);
}

static ssd_status act_bwd(gcase *c, ssd_tensor *dx, const ssd_tensor *r) {
    return be->ops->act_bwd(be, dx, r, c->in[0], &c->y, &c->p.act);
}
static ssd_status pool_bwd(gcase *c, ssd_tensor *dx, const ssd_tensor *r) {
    return be->ops->maxpool_bwd(be, dx, r, c->ws, c->in[0], &c->p.pool);
}
static ssd_status softmax_bwd(gcase *c, ssd_tensor *dx, const ssd_tensor *r) {
    return be->ops->softmax_bwd(be, dx, r, &c->y, &c->p.sm);
}
static ssd_status head_bwd(gcase *c, ssd_tensor *dx, const ssd_tensor *r) {
    return be->ops->head_permute_bwd(be, dx, r, c->in[0], &c->p.head);
}

static void test_act(void) {
    for (int k = SSD_ACT_RELU; k <= SSD_ACT_RELU6; k++) {
        ssd_tensor x;
        int64_t xs[3] = {3, 4, 5};
        rand_tensor(&x, 3, xs, -8, 9);
        /* Push samples off the kinks at 0 and 6. */
        double *p = x.data;
        for (int i = 0; i < 60; i++) {
            if (fabs(p[i]) < 0.05) p[i] += 0.1;
            if (fabs(p[i] - 6) < 0.05) p[i] += 0.1;
        }
        check_kinks(k == SSD_ACT_RELU ? "relu" : "relu6", &x, (ssd_act)k);
        gcase c = {.op = SSD_OP_ACT, .p.act = {(ssd_act)k}};
        unary_case(k == SSD_ACT_RELU ? "relu" : "relu6", &c, &x, act_bwd);
        ssd_tensor_deinit(&x);
    }
}

/* Hardswish and hardsigmoid have kinks at x = -3 and 3 (their gradients
 * there are checked against PyTorch's in tests/ops); samples stay off them. */
static void test_hard_acts(void) {
    static const ssd_act kinds[2] = {SSD_ACT_HARDSWISH, SSD_ACT_HARDSIGMOID};
    static const char *names[2] = {"hardswish", "hardsigmoid"};
    for (int k = 0; k < 2; k++) {
        ssd_tensor x;
        int64_t xs[3] = {3, 4, 5};
        rand_tensor(&x, 3, xs, -6, 6);
        double *p = x.data;
        for (int i = 0; i < 60; i++) {
            if (fabs(p[i] + 3) < 0.05) p[i] += 0.1;
            if (fabs(p[i] - 3) < 0.05) p[i] += 0.1;
        }
        gcase c = {.op = SSD_OP_ACT, .p.act = {kinds[k]}};
        unary_case(names[k], &c, &x, act_bwd);
        ssd_tensor_deinit(&x);
    }
}

static ssd_status gap_bwd(gcase *c, ssd_tensor *dx, const ssd_tensor *r) {
    return be->ops->gap_bwd(be, dx, r, c->in[0]);
}

static void test_gap(void) {
    ssd_tensor x;
    int64_t xs[4] = {2, 3, 4, 5};
    rand_tensor(&x, 4, xs, -1, 1);
    gcase c = {.op = SSD_OP_GAP};
    unary_case("gap", &c, &x, gap_bwd);
    ssd_tensor_deinit(&x);
}

static void test_scale(void) {
    ssd_tensor x, s, r, dx, ds;
    int64_t xs[4] = {2, 3, 4, 5}, ss[4] = {2, 3, 1, 1};
    rand_tensor(&x, 4, xs, -1, 1);
    rand_tensor(&s, 4, ss, 0, 1);
    empty(&r), empty(&dx), empty(&ds);
    gcase cs = {.op = SSD_OP_SCALE, .in = {&x, &s}, .n_in = 2};
    empty(&cs.y);
    CHECK_OK(forward(&cs));
    rand_tensor(&r, cs.y.ndim, cs.y.shape, -1, 1);
    CHECK_OK(be->ops->scale_bwd(be, &dx, &ds, &r, &x, &s));
    gradcheck("scale dx", &cs, 0, &dx, &r);
    gradcheck("scale ds", &cs, 1, &ds, &r);
    deinit_case(&cs);
    ssd_tensor *all[] = {&x, &s, &r, &dx, &ds};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
}

/* Values on a grid 0.01 apart, shuffled: no window has a near tie. */
static void distinct_tensor(ssd_tensor *t, int ndim, const int64_t *shape) {
    rand_tensor(t, ndim, shape, 0, 1);
    double *p = t->data;
    int64_t n = ssd_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) p[i] = 0.01 * (double)i - 1;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)uniform(0, (double)(i + 1));
        double tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
}

static void pool_case(const char *name, const int64_t *xs, ssd_pool_params p) {
    ssd_tensor x, ws;
    distinct_tensor(&x, 4, xs);
    empty(&ws);
    gcase c = {.op = SSD_OP_MAXPOOL, .ws = &ws, .p.pool = p};
    unary_case(name, &c, &x, pool_bwd);
    ssd_tensor_deinit(&x);
    ssd_tensor_deinit(&ws);
}

static void test_pool(void) {
    int64_t a[4] = {2, 2, 6, 7}, b[4] = {1, 3, 7, 7}, d[4] = {2, 2, 5, 5};
    pool_case("maxpool k2 s2", a, (ssd_pool_params){{2, 2}, {2, 2}, {0, 0}, false});
    pool_case("maxpool k2 s2 ceil", b, (ssd_pool_params){{2, 2}, {2, 2}, {0, 0}, true});
    pool_case("maxpool k3 s2 p1 ceil", b, (ssd_pool_params){{3, 3}, {2, 2}, {1, 1}, true});
    pool_case("maxpool k3 s1 p1", d, (ssd_pool_params){{3, 3}, {1, 1}, {1, 1}, false});
}

static void test_softmax(void) {
    int64_t s4[4] = {2, 4, 3, 2}, s3[3] = {2, 5, 6};
    for (int log = 0; log <= 1; log++) {
        ssd_tensor x;
        rand_tensor(&x, 4, s4, -3, 3);
        gcase c = {.op = SSD_OP_SOFTMAX, .p.sm = {.axis = 1, .log = log}};
        unary_case(log ? "log_softmax axis 1" : "softmax axis 1", &c, &x, softmax_bwd);
        ssd_tensor_deinit(&x);
        rand_tensor(&x, 3, s3, -3, 3);
        c = (gcase){.op = SSD_OP_SOFTMAX, .p.sm = {.axis = -1, .log = log}};
        unary_case(log ? "log_softmax axis -1" : "softmax axis -1", &c, &x, softmax_bwd);
        ssd_tensor_deinit(&x);
    }
}

static void test_head(void) {
    ssd_tensor x;
    int64_t xs[4] = {2, 6, 2, 3};
    rand_tensor(&x, 4, xs, -1, 1);
    gcase c = {.op = SSD_OP_HEAD_PERMUTE, .p.head = {3}};
    unary_case("head_permute k3", &c, &x, head_bwd);
    ssd_tensor_deinit(&x);
}

/* ---- multi-input ops: concat, l2norm ----------------------------------------- */

static void concat_case(const char *name, int ndim, const int64_t (*shapes)[4], int n, int axis) {
    ssd_tensor xs[3], dxs[3], r;
    ssd_tensor *dxp[3];
    gcase c = {.op = SSD_OP_CONCAT, .n_in = n, .p.axis = axis};
    for (int i = 0; i < n; i++) {
        rand_tensor(&xs[i], ndim, shapes[i], -1, 1);
        empty(&dxs[i]);
        c.in[i] = &xs[i];
        dxp[i] = &dxs[i];
    }
    empty(&r), empty(&c.y);
    CHECK_OK(forward(&c));
    rand_tensor(&r, c.y.ndim, c.y.shape, -1, 1);
    CHECK_OK(be->ops->concat_bwd(be, dxp, &r, (const ssd_tensor *const *)c.in, n, axis));
    for (int i = 0; i < n; i++) {
        char what[128];
        snprintf(what, sizeof what, "%s dx%d", name, i);
        gradcheck(what, &c, i, &dxs[i], &r);
    }
    for (int i = 0; i < n; i++) {
        ssd_tensor_deinit(&xs[i]);
        ssd_tensor_deinit(&dxs[i]);
    }
    deinit_case(&c);
    ssd_tensor_deinit(&r);
}

static void test_concat(void) {
    const int64_t ch[3][4] = {{2, 1, 3, 2}, {2, 3, 3, 2}, {2, 2, 3, 2}};
    concat_case("concat axis 1", 4, ch, 3, 1);
    const int64_t last[2][4] = {{2, 3, 2}, {2, 3, 4}};
    concat_case("concat axis -1", 3, last, 2, -1);
}

static void test_l2norm(void) {
    ssd_tensor x, scale, r, dx, ds;
    int64_t xs[4] = {2, 5, 3, 3}, c = 5;
    rand_tensor(&x, 4, xs, -1, 1);
    rand_tensor(&scale, 1, &c, 15, 25);
    empty(&r), empty(&dx), empty(&ds);
    gcase cs = {.op = SSD_OP_L2NORM, .in = {&x, &scale}, .n_in = 2, .p.l2 = {1e-10}};
    empty(&cs.y);
    CHECK_OK(forward(&cs));
    rand_tensor(&r, cs.y.ndim, cs.y.shape, -1, 1);
    CHECK_OK(be->ops->l2norm_bwd(be, &dx, &ds, &r, &x, &scale, &cs.p.l2));
    gradcheck("l2norm dx", &cs, 0, &dx, &r);
    gradcheck("l2norm dscale", &cs, 1, &ds, &r);
    deinit_case(&cs);
    ssd_tensor *all[] = {&x, &scale, &r, &dx, &ds};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
}

int main(void) {
    REQUIRE_OK(ssd_backend_create(&be, "ref"));
    test_conv();
    test_bn();
    test_act();
    test_pool();
    test_softmax();
    test_head();
    test_concat();
    test_l2norm();
    test_hard_acts();
    test_gap();
    test_scale();
    ssd_backend_destroy(be);
    return test_finish();
}

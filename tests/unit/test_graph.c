/* The graph executor and its planner, on the reference backend in float64:
 * - parameter gradients through fan-out (one value read by four nodes), a
 *   residual add and a concat equal central finite differences of the loss;
 * - planned shared buffers change nothing: every output and gradient is the
 *   same bit for bit with every activation kept (keep_all), and with batch-norm
 *   outputs recomputed in backward or kept;
 * - the planned buffers take less memory than keeping everything. */
#include "test.h"

#include "core/mem.h"
#include "core/rng.h"
#include "nn/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ssd_graph g;
    ssd_param_list params;
    int out1, out2;
    ssd_tensor o1, o2;
} net;

static ssd_status to_f64(ssd_tensor *t) {
    int64_t n = ssd_tensor_numel(t), shape[SSD_MAX_DIMS];
    int ndim = t->ndim;
    memcpy(shape, t->shape, sizeof shape);
    double *h = malloc((size_t)n * sizeof *h);
    ssd_status st = ssd_tensor_get(t, h, SSD_F64);
    ssd_backend *be = t->be;
    ssd_tensor_deinit(t);
    ssd_tensor_init(t, be, SSD_F64, ndim, shape);
    if (st == SSD_OK) st = ssd_tensor_alloc(t);
    if (st == SSD_OK) st = ssd_tensor_set(t, h, SSD_F64);
    free(h);
    return st;
}

static ssd_status randomise(ssd_tensor *t, ssd_rng *rng, double lo, double hi) {
    int64_t n = ssd_tensor_numel(t);
    double *h = malloc((size_t)n * sizeof *h);
    for (int64_t i = 0; i < n; i++) h[i] = ssd_rng_range(rng, lo, hi);
    ssd_status st = ssd_tensor_set(t, h, SSD_F64);
    free(h);
    return st;
}

/* input -> a: conv, BN+ReLU, read by b, c, the concat and f;
 * b (1x1 conv + ReLU) + c (3x3 conv) -> BN+ReLU6 -> concat with a -> conv e -> head;
 * a -> conv f (stride 2) -> head. */
static ssd_status build(net *n, ssd_backend *be) {
    memset(n, 0, sizeof *n);
    ssd_graph *g = &n->g;
    ssd_graph_init(g, be);
    int x = ssd_graph_input(g);
    int a = ssd_graph_conv(g, x, "a.conv", 3, 8, 3, 1, 1, 1, 1, false, SSD_ACT_NONE);
    a = ssd_graph_bn(g, a, "a.bn", 8, SSD_ACT_RELU);
    int b = ssd_graph_conv(g, a, "b", 8, 8, 1, 1, 0, 1, 1, true, SSD_ACT_RELU);
    int c = ssd_graph_conv(g, a, "c", 8, 8, 3, 1, 1, 1, 1, true, SSD_ACT_NONE);
    int d = ssd_graph_add(g, b, c);
    d = ssd_graph_bn(g, d, "d.bn", 8, SSD_ACT_RELU6);
    int cat[2] = {d, a};
    int e = ssd_graph_concat(g, cat, 2, 1);
    e = ssd_graph_conv(g, e, "e", 16, 4, 3, 2, 1, 1, 1, true, SSD_ACT_NONE);
    n->out1 = ssd_graph_head(g, e, 2);
    int f = ssd_graph_conv(g, a, "f", 8, 6, 3, 2, 1, 1, 1, true, SSD_ACT_NONE);
    n->out2 = ssd_graph_head(g, f, 3);
    SSD_TRY(ssd_graph_status(g));
    ssd_graph_bind_output(g, n->out1, &n->o1);
    ssd_graph_bind_output(g, n->out2, &n->o2);
    SSD_TRY(ssd_graph_params(g, &n->params));
    ssd_rng rng;
    ssd_rng_init(&rng, 7, 0);
    for (int i = 0; i < n->params.n; i++) {
        ssd_param *p = &n->params.p[i];
        if (!p->value) continue;
        SSD_TRY(to_f64(p->value));
        bool var = strstr(p->name, "running_var") != NULL;
        if (!p->buffer || var) SSD_TRY(randomise(p->value, &rng, var ? 0.5 : -0.5, 1.0));
    }
    bool frozen[SSD_SEC__COUNT] = {0};
    ssd_graph_set_frozen(g, frozen);
    return SSD_OK;
}

static void destroy(net *n) {
    ssd_graph_deinit(&n->g);
    ssd_param_list_free(&n->params);
    ssd_tensor_deinit(&n->o1);
    ssd_tensor_deinit(&n->o2);
}

/* L = sum(o1 * r1) + sum(o2 * r2) */
static double loss(net *n, const ssd_tensor *x, const double *r1, const double *r2) {
    if (ssd_graph_forward(&n->g, x, true) != SSD_OK) return NAN;
    int64_t n1 = ssd_tensor_numel(&n->o1), n2 = ssd_tensor_numel(&n->o2);
    double *h = malloc((size_t)(n1 > n2 ? n1 : n2) * sizeof *h), s = 0;
    ssd_tensor_get(&n->o1, h, SSD_F64);
    for (int64_t i = 0; i < n1; i++) s += h[i] * r1[i];
    ssd_tensor_get(&n->o2, h, SSD_F64);
    for (int64_t i = 0; i < n2; i++) s += h[i] * r2[i];
    free(h);
    return s;
}

/* Every output and parameter gradient of one step, as host doubles. */
typedef struct {
    double *v;
    long n;
} snapshot;

static void snap(net *n, snapshot *s) {
    long total = ssd_tensor_numel(&n->o1) + ssd_tensor_numel(&n->o2);
    for (int i = 0; i < n->params.n; i++)
        if (n->params.p[i].grad) total += ssd_tensor_numel(n->params.p[i].grad);
    s->v = malloc((size_t)total * sizeof *s->v);
    s->n = total;
    long k = 0;
    ssd_tensor_get(&n->o1, s->v + k, SSD_F64);
    k += ssd_tensor_numel(&n->o1);
    ssd_tensor_get(&n->o2, s->v + k, SSD_F64);
    k += ssd_tensor_numel(&n->o2);
    for (int i = 0; i < n->params.n; i++) {
        ssd_tensor *gr = n->params.p[i].grad;
        if (!gr) continue;
        ssd_tensor_get(gr, s->v + k, SSD_F64);
        k += ssd_tensor_numel(gr);
    }
}

static ssd_status step(net *n, const ssd_tensor *x, ssd_tensor *g1, ssd_tensor *g2) {
    SSD_TRY(ssd_graph_forward(&n->g, x, true));
    int outs[2] = {n->out1, n->out2};
    const ssd_tensor *gs[2] = {g1, g2};
    return ssd_graph_backward(&n->g, outs, gs, 2);
}

int main(void) {
    ssd_backend *be;
    REQUIRE_OK(ssd_backend_create(&be, "ref"));
    net n;
    REQUIRE_OK(build(&n, be));
    ssd_rng rng;
    ssd_rng_init(&rng, 11, 0);
    ssd_tensor x = {0}, g1 = {0}, g2 = {0};
    ssd_tensor_init4(&x, be, SSD_F64, 2, 3, 12, 12);
    REQUIRE_OK(ssd_tensor_alloc(&x));
    REQUIRE_OK(randomise(&x, &rng, -1, 1));

    REQUIRE_OK(ssd_graph_forward(&n.g, &x, true));
    ssd_tensor_init(&g1, be, SSD_F64, 3, n.o1.shape);
    ssd_tensor_init(&g2, be, SSD_F64, 3, n.o2.shape);
    REQUIRE_OK(ssd_tensor_alloc(&g1));
    REQUIRE_OK(ssd_tensor_alloc(&g2));
    REQUIRE_OK(randomise(&g1, &rng, -1, 1));
    REQUIRE_OK(randomise(&g2, &rng, -1, 1));
    int64_t n1 = ssd_tensor_numel(&g1), n2 = ssd_tensor_numel(&g2);
    double *r1 = malloc((size_t)n1 * sizeof *r1), *r2 = malloc((size_t)n2 * sizeof *r2);
    ssd_tensor_get(&g1, r1, SSD_F64);
    ssd_tensor_get(&g2, r2, SSD_F64);

    /* the planned step, then the same step keeping everything, and (where the
     * backend recomputes BN outputs) the same with BN outputs kept */
    snapshot planned, kept, stored;
    CHECK_OK(step(&n, &x, &g1, &g2));
    size_t planned_bytes = ssd_graph_planned_bytes(&n.g);
    snap(&n, &planned);
    n.g.keep_all = true;
    CHECK_OK(step(&n, &x, &g1, &g2));
    snap(&n, &kept);
    n.g.keep_all = false;
    CHECK(planned.n == kept.n && memcmp(planned.v, kept.v, (size_t)kept.n * 8) == 0);
    bool rec = n.g.recompute_bn;
    n.g.recompute_bn = !rec;
    ssd_graph_set_frozen(&n.g, (bool[SSD_SEC__COUNT]){0}); /* re-plan */
    CHECK_OK(step(&n, &x, &g1, &g2));
    snap(&n, &stored);
    n.g.recompute_bn = rec;
    CHECK(planned.n == stored.n && memcmp(planned.v, stored.v, (size_t)kept.n * 8) == 0);
    printf("planned buffers: %zu bytes\n", planned_bytes);

    /* a fresh graph per measurement: slots keep their storage across plans */
    size_t bytes[2];
    for (int keep = 0; keep < 2; keep++) {
        destroy(&n);
        REQUIRE_OK(build(&n, be));
        n.g.keep_all = keep;
        CHECK_OK(ssd_graph_forward(&n.g, &x, false));
        bytes[keep] = ssd_graph_planned_bytes(&n.g);
    }
    n.g.keep_all = false;
    printf("eval forward: %zu bytes planned, %zu keeping every activation\n", bytes[0], bytes[1]);
    CHECK(bytes[0] < bytes[1]);

    /* finite differences on a few entries of every parameter */
    CHECK_OK(step(&n, &x, &g1, &g2));
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < n.params.n; i++) {
        ssd_param *p = &n.params.p[i];
        if (!p->grad) continue;
        int64_t m = ssd_tensor_numel(p->value);
        double *v = malloc((size_t)m * sizeof *v), *gr = malloc((size_t)m * sizeof *gr);
        ssd_tensor_get(p->value, v, SSD_F64);
        ssd_tensor_get(p->grad, gr, SSD_F64);
        for (int64_t j = 0; j < m; j += 1 + m / 5) {
            double keep = v[j], h = 1e-5;
            v[j] = keep + h;
            ssd_tensor_set(p->value, v, SSD_F64);
            double lp = loss(&n, &x, r1, r2);
            v[j] = keep - h;
            ssd_tensor_set(p->value, v, SSD_F64);
            double lm = loss(&n, &x, r1, r2);
            v[j] = keep;
            ssd_tensor_set(p->value, v, SSD_F64);
            double fd = (lp - lm) / (2 * h), err = fabs(fd - gr[j]) / (fabs(fd) + 1e-3);
            if (err > worst) worst = err;
            if (err > 1e-6)
                fprintf(stderr, "%s[%lld]: backward %.9g, finite differences %.9g\n", p->name,
                        (long long)j, gr[j], fd);
            checked++;
        }
        free(v);
        free(gr);
    }
    printf("%d parameter entries, worst relative error vs finite differences %.2e\n", checked,
           worst);
    CHECK(checked > 20 && worst < 1e-6);

    free(planned.v);
    free(kept.v);
    free(stored.v);
    free(r1);
    free(r2);
    ssd_tensor_deinit(&x);
    ssd_tensor_deinit(&g1);
    ssd_tensor_deinit(&g2);
    destroy(&n);
    ssd_backend_destroy(be);
    return test_finish();
}

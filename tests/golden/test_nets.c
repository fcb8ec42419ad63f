/* Every net of gen_nets.py's nets.txt against our own PyTorch definition of it
 * (nets_torch.py): parameter names, shapes and count, the priors, eval- and
 * train-mode outputs, the multibox loss and its output gradients, running
 * statistics and every parameter gradient; then a checkpoint written here
 * loading in PyTorch with strict=True (check_nets_save.py).
 *
 * Nets whose truth is PyTorch float64 run twice: on the reference backend in
 * float64 (everything to 1e-9 of each tensor's scale: only summation order
 * differs) and on the cpu backend in float32 (forward to 1e-4 of the scale,
 * gradients no further from the float64 truth than 3x PyTorch's own float32
 * gradients are, plus 1e-5 of the scale; see gen_mb1.py for why). Nets with a
 * float32 truth (vgg16-ssd, for time) run on the cpu backend only: forward to
 * 1e-4 and gradients to 2e-3 of the scale (vgg16-ssd has a single batch norm,
 * which does not feed the base net's later layers, so float32 noise stays small). */
#include "test.h"
#include "fixture.h"

#include "box/box.h"
#include "core/mem.h"
#include "core/threads.h"
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;

typedef struct {
    char net[32];
    int res, batch;
    bool f64;
} net_case;

static char *path(const char *net, const char *suffix) {
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s%s", dir, net, suffix);
    return buf[k];
}

static const fixture_tensor *need(const fixture_file *f, const char *fmt, const char *name) {
    char key[256];
    snprintf(key, sizeof key, fmt, name);
    const fixture_tensor *t = fixture_find(f, key);
    if (!t) {
        fprintf(stderr, "fixture has no '%s'\n", key);
        test_failed++;
    }
    return t;
}

static double ref_at(const fixture_tensor *r, int64_t i) {
    switch (r->dtype) {
    case SSD_F64:
        return ((const double *)r->data)[i];
    case SSD_F32:
        return ((const float *)r->data)[i];
    default:
        return (double)((const int64_t *)r->data)[i];
    }
}

/* max |got - ref| <= tol * max |ref| (+ abs); returns the error relative to the scale. */
static double close_scaled(const char *what, const char *net, const ssd_tensor *t,
                           const fixture_tensor *r, double tol, double abs_extra) {
    if (!r) return INFINITY;
    int64_t n = ssd_tensor_numel(t);
    double *got = ssd_malloc((size_t)(n > 0 ? n : 1) * sizeof *got);
    if (!got || n != r->numel || ssd_tensor_get(t, got, SSD_F64) != SSD_OK) {
        test_failed++;
        fprintf(stderr, "FAIL %s %s: cannot read, or %lld values vs %lld\n", net, what,
                (long long)n, (long long)r->numel);
        ssd_free(got);
        return INFINITY;
    }
    double scale = 0, err = 0;
    int64_t worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = ref_at(r, i);
        scale = fmax(scale, fabs(v));
        if (fabs(got[i] - v) > err || isnan(got[i])) {
            err = isnan(got[i]) ? INFINITY : fabs(got[i] - v);
            worst = i;
        }
    }
    double bound = tol * scale + abs_extra;
    if (err <= bound) {
        test_passed++;
    } else {
        test_failed++;
        fprintf(stderr, "FAIL %s %s: max error %.4g at %lld (ours %.9g, pytorch %.9g) > %.4g\n",
                net, what, err, (long long)worst, got[worst], ref_at(r, worst), bound);
    }
    ssd_free(got);
    return err / (scale + 1e-300);
}

/* Parameter names, shapes and order equal the PyTorch state_dict's: the fixture holds a
 * grad64.<name> per parameter and after.<name> per float buffer, in state_dict order. */
static void check_names(const net_case *c, const ssd_model *m, const fixture_file *f) {
    int np = 0, nf = 0;
    for (int i = 0; i < f->count; i++) np += strncmp(f->t[i].name, "grad64.", 7) == 0;
    int k = 0;
    bool order = true;
    for (int i = 0; i < f->count; i++) {
        if (strncmp(f->t[i].name, "grad64.", 7) != 0) continue;
        while (k < m->params.n && m->params.p[k].buffer) k++;
        if (k >= m->params.n || strcmp(m->params.p[k].name, f->t[i].name + 7) != 0) {
            if (order)
                fprintf(stderr, "FAIL %s: parameter %d is '%s', pytorch has '%s'\n", c->net, nf,
                        k < m->params.n ? m->params.p[k].name : "(none)", f->t[i].name + 7);
            order = false;
        } else {
            const ssd_tensor *v = m->params.p[k].value;
            bool same = v->ndim == f->t[i].ndim;
            for (int d = 0; same && d < v->ndim; d++) same = v->shape[d] == f->t[i].shape[d];
            if (!same) {
                fprintf(stderr, "FAIL %s: shape of %s differs\n", c->net, f->t[i].name + 7);
                order = false;
            }
        }
        k++;
        nf++;
    }
    int ours = 0;
    for (int i = 0; i < m->params.n; i++) ours += !m->params.p[i].buffer;
    CHECK(order);
    CHECK(ours == np && np > 0);
}

static void run_case(ssd_backend *be, ssd_dtype dt, const net_case *c, const fixture_file *f) {
    bool exact = dt == SSD_F64;
    double fwd_tol = exact ? 1e-9 : 1e-4;
    ssd_model *m = NULL;
    ssd_tensor x;
    memset(&x, 0, sizeof x);
    float *conf = NULL, *loc = NULL, *dconf = NULL, *dloc = NULL;
    printf("%s: %s backend, %s, %dx%d, batch %d\n", c->net, be->ops->name, ssd_dtype_name(dt),
           c->res, c->res, c->batch);
    CHECK_OK(ssd_model_create(&m, be, c->net, 3, c->res));
    if (!m) return;
    if (exact) CHECK_OK(ssd_model_to_dtype(m, dt));
    CHECK_OK(ssd_model_load(m, path(c->net, ".pth"), SSD_LOAD_FULL));
    check_names(c, m, f);

    const fixture_tensor *pr = need(f, "%s", "priors");
    CHECK(pr && pr->numel == (int64_t)m->num_priors * 4);
    if (pr && pr->numel == (int64_t)m->num_priors * 4)
        test_close_f32("priors", m->priors, pr->data, pr->numel, 0, 0); /* bit for bit */

    CHECK_OK(fixture_to_tensor(&x, be, dt, need(f, "%s", "x")));
    CHECK_OK(ssd_model_forward(m, &x, false));
    close_scaled("eval conf", c->net, &m->conf, need(f, "%s", "eval_conf"), fwd_tol, 0);
    close_scaled("eval loc", c->net, &m->loc, need(f, "%s", "eval_loc"), fwd_tol, 0);
    CHECK_OK(ssd_model_forward(m, &x, true));
    close_scaled("train conf", c->net, &m->conf, need(f, "%s", "conf"), fwd_tol, 0);
    close_scaled("train loc", c->net, &m->loc, need(f, "%s", "loc"), fwd_tol, 0);

    /* the loss and its gradients w.r.t. the outputs, from our float32 copies of them */
    int n = c->batch, k = m->num_priors, nc = m->num_classes;
    const fixture_tensor *lab = need(f, "%s", "labels"), *gl = need(f, "%s", "gt_loc"),
                         *loss = need(f, "%s", "loss");
    conf = ssd_malloc((size_t)n * k * nc * 4);
    loc = ssd_malloc((size_t)n * k * 16);
    dconf = ssd_malloc((size_t)n * k * nc * 4);
    dloc = ssd_malloc((size_t)n * k * 16);
    if (conf && loc && dconf && dloc && lab && gl && loss && lab->numel == (int64_t)n * k) {
        double reg = 0, cls = 0;
        CHECK_OK(ssd_tensor_get(&m->conf, conf, SSD_F32));
        CHECK_OK(ssd_tensor_get(&m->loc, loc, SSD_F32));
        CHECK_OK(ssd_multibox_loss(&reg, &cls, dconf, dloc, conf, loc, lab->data, gl->data, n, k,
                                   nc, 3));
        const double *want = loss->data;
        if (fabs(reg - want[0]) <= 1e-5 * fabs(want[0]) &&
            fabs(cls - want[1]) <= 1e-5 * fabs(want[1])) {
            test_passed++;
        } else {
            test_failed++;
            fprintf(stderr,
                    "FAIL %s loss: regression %.9g classification %.9g, pytorch %.9g %.9g\n",
                    c->net, reg, cls, want[0], want[1]);
        }
        ssd_tensor dc, dl;
        ssd_tensor_init(&dc, be, SSD_F32, 3, m->conf.shape);
        ssd_tensor_init(&dl, be, SSD_F32, 3, m->loc.shape);
        if (ssd_tensor_alloc(&dc) == SSD_OK && ssd_tensor_alloc(&dl) == SSD_OK &&
            ssd_tensor_set(&dc, dconf, SSD_F32) == SSD_OK &&
            ssd_tensor_set(&dl, dloc, SSD_F32) == SSD_OK) {
            close_scaled("d loss / d conf", c->net, &dc, need(f, "%s", "g_conf"), 1e-5, 0);
            close_scaled("d loss / d loc", c->net, &dl, need(f, "%s", "g_loc"), 1e-5, 0);
        } else {
            test_failed++;
        }
        ssd_tensor_deinit(&dc);
        ssd_tensor_deinit(&dl);
    } else {
        test_failed++;
    }

    /* backward from PyTorch's own output gradients, so that the comparison is of the net */
    CHECK_OK(fixture_to_tensor(&m->dconf, be, dt, need(f, "%s", "g_conf")));
    CHECK_OK(fixture_to_tensor(&m->dloc, be, dt, need(f, "%s", "g_loc")));
    CHECK_OK(ssd_model_backward(m));
    double worst = 0;
    int compared = 0;
    /* Gradients that are zero in exact arithmetic (conv biases before a training
     * BN) are rounding noise on both sides: a floor relative to the largest
     * gradient of the net keeps them from being compared to their own noise. */
    double gscale = 0;
    for (int i = 0; i < m->params.n; i++) {
        char key[300];
        snprintf(key, sizeof key, "grad64.%s", m->params.p[i].name);
        const fixture_tensor *g =
            m->params.p[i].buffer || m->params.p[i].i64 ? NULL : fixture_find(f, key);
        for (int64_t q = 0; g && q < g->numel; q++) gscale = fmax(gscale, fabs(ref_at(g, q)));
    }
    for (int i = 0; i < m->params.n; i++) {
        ssd_param *p = &m->params.p[i];
        if (p->i64) {
            CHECK(*p->i64 == 1); /* one training forward since load (the file had 0) */
            continue;
        }
        if (p->buffer) {
            close_scaled(p->name, c->net, p->value, need(f, "after.%s", p->name), fwd_tol, 0);
            continue;
        }
        const fixture_tensor *g = need(f, "grad64.%s", p->name);
        if (!g) continue;
        compared++;
        if (exact) {
            close_scaled(p->name, c->net, p->grad, g, 1e-9, 1e-11 * gscale);
        } else if (c->f64) {
            const fixture_tensor *e = need(f, "err32.%s", p->name);
            double e32 = e ? ((const double *)e->data)[0] : 0, scale = 0;
            for (int64_t q = 0; q < g->numel; q++) scale = fmax(scale, fabs(ref_at(g, q)));
            double rel = close_scaled(p->name, c->net, p->grad, g, 1e-5, 4 * e32);
            double ratio = rel * scale / (e32 + 1e-30);
            if (ratio > worst) worst = ratio;
        } else {
            double rel = close_scaled(p->name, c->net, p->grad, g, 1e-4, 0);
            if (rel > worst) worst = rel;
        }
    }
    CHECK(compared > 0);
    if (!exact)
        printf("  %d gradients; worst error %.3g %s\n", compared, worst,
               c->f64 ? "x PyTorch float32's" : "of the scale vs PyTorch float32");
    if (!exact) CHECK_OK(ssd_model_save(m, path(c->net, "_c.pth")));
    ssd_free(conf);
    ssd_free(loc);
    ssd_free(dconf);
    ssd_free(dloc);
    ssd_tensor_deinit(&x);
    ssd_model_destroy(m);
}

/* Bad sizes and cross-net checkpoints give one clear error. */
static void check_errors(ssd_backend *be, const net_case *cases, int ncases) {
    ssd_model *m = NULL;
    ssd_status st = ssd_model_create(&m, be, "vgg16-ssd", 3, 128);
    CHECK(st != SSD_OK && !m);
    CHECK(strstr(ssd_error_message(), "vgg16-ssd") != NULL);
    for (int i = 0; i + 1 < ncases; i++) {
        const net_case *a = &cases[i], *b = &cases[i + 1];
        CHECK_OK(ssd_model_create(&m, be, a->net, 3, a->res));
        if (!m) continue;
        CHECK(ssd_model_load(m, path(b->net, ".pth"), SSD_LOAD_PRETRAINED_SSD) == SSD_E_FORMAT);
        const char *msg = ssd_error_message();
        char want[1024];
        snprintf(want, sizeof want, "holds %s weights, not %s ones", b->net, a->net);
        CHECK(strstr(msg, want) != NULL && strstr(msg, path(b->net, ".pth")) != NULL &&
              strchr(msg, '\n') == NULL);
        if (!strstr(msg, want)) fprintf(stderr, "message: %s\n", msg);
        ssd_model_destroy(m);
        m = NULL;
    }
}

int main(int argc, char **argv) {
    dir = argc > 1 ? argv[1] : "fixtures/nets";
    ssd_threads_set(0);
    net_case cases[16];
    int ncases = 0;
    char list[1024];
    snprintf(list, sizeof list, "%s/nets.txt", dir);
    FILE *fp = fopen(list, "r");
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", list);
        return 1;
    }
    int f64;
    while (ncases < 16 && fscanf(fp, "%31s %d %d %d", cases[ncases].net, &cases[ncases].res,
                                 &cases[ncases].batch, &f64) == 4) {
        cases[ncases].f64 = f64 != 0;
        ncases++;
    }
    fclose(fp);
    CHECK(ncases > 0);
    const char *want = getenv("SSD_NETS"); /* a subset while debugging */
    ssd_backend *cpu = NULL, *ref = NULL;
    REQUIRE_OK(ssd_backend_create(&cpu, "cpu"));
    REQUIRE_OK(ssd_backend_create(&ref, "ref"));
    for (int i = 0; i < ncases; i++) {
        const net_case *c = &cases[i];
        if (want && !strstr(want, c->net)) continue;
        CHECK(ssd_net_supported(c->net));
        fixture_file f;
        if (fixture_load(&f, path(c->net, ".bin")) != SSD_OK) {
            fprintf(stderr, "%s\n", ssd_error_message());
            test_failed++;
            continue;
        }
        if (c->f64) run_case(ref, SSD_F64, c, &f);
        run_case(cpu, SSD_F32, c, &f);
        fixture_free(&f);
    }
    if (!want) check_errors(cpu, cases, ncases);
    ssd_backend_destroy(cpu);
    ssd_backend_destroy(ref);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/check_nets_save.py %s%s%s", SRC_DIR, dir,
             want ? " " : "", want ? want : "");
    CHECK(system(cmd) == 0);
    return test_finish();
}

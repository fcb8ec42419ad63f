/* The reference backend rejects bad arguments with a status and a message
 * (never a crash or an out-of-bounds access), leaves outputs untouched when
 * it fails, reuses output storage, and survives allocation failures. */
#include "test.h"

#include "core/mem.h"

#include <string.h>

static ssd_backend *be;

static void make(ssd_tensor *t, ssd_dtype dt, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    ssd_tensor_init4(t, be, dt, d0, d1, d2, d3);
    if (ssd_tensor_alloc(t) == SSD_OK) ssd_tensor_fill(t, 0.5);
}

static void empty(ssd_tensor *t) {
    ssd_tensor_init(t, be, SSD_F32, 0, NULL);
}

/* Expects status `want` and a message naming `op`. */
#define EXPECT(want, op, expr)                                                                     \
    do {                                                                                           \
        ssd_error_clear();                                                                         \
        ssd_status got_ = (expr);                                                                  \
        if (got_ != (want))                                                                        \
            fprintf(stderr, "%s:%d: %s gave %s (%s), expected %s\n", __FILE__, __LINE__, #expr,    \
                    ssd_status_name(got_), ssd_error_message(), ssd_status_name(want));            \
        CHECK(got_ == (want));                                                                     \
        CHECK(strstr(ssd_error_message(), op) != NULL);                                            \
    } while (0)

static void test_supports(void) {
    CHECK(be->ops->supports(be, SSD_OP_CONV2D, SSD_F32, NULL));
    CHECK(be->ops->supports(be, SSD_OP_L2NORM, SSD_F64, NULL));
    CHECK(!be->ops->supports(be, SSD_OP_CONV2D, SSD_F16, NULL));
    CHECK(!be->ops->supports(be, SSD_OP__COUNT, SSD_F32, NULL));
}

static void test_conv_errors(void) {
    const ssd_backend_ops *o = be->ops;
    ssd_tensor x, w, b, bad_b, w64, y, dy, dx, xh;
    make(&x, SSD_F32, 2, 4, 5, 5);
    make(&w, SSD_F32, 6, 2, 3, 3);
    make(&b, SSD_F32, 6, 0, 0, 0);
    make(&bad_b, SSD_F32, 5, 0, 0, 0);
    make(&w64, SSD_F64, 6, 2, 3, 3);
    make(&dy, SSD_F32, 2, 6, 5, 5);
    make(&xh, SSD_F16, 2, 4, 5, 5);
    empty(&y), empty(&dx);
    ssd_conv2d_params p = {.stride = {1, 1}, .pad = {1, 1}, .dilation = {1, 1}, .groups = 2};
    CHECK_OK(o->conv2d_fwd(be, &y, &x, &w, &b, &p));
    void *data = y.data;
    uint64_t ver = y.version;
    /* Output storage is kept across calls of the same shape; each write bumps the version. */
    CHECK_OK(o->conv2d_fwd(be, &y, &x, &w, &b, &p));
    CHECK(y.data == data && y.version > ver);
    ((float *)y.data)[0] = 123.0f;

    ssd_conv2d_params g3 = p;
    g3.groups = 3;
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, &y, &x, &w, &b, &g3));
    ssd_conv2d_params dense = p;
    dense.groups = 1; /* w has 2 input channels, x 4 */
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, &y, &x, &w, &b, &dense));
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, &y, &x, &w, &bad_b, &p));
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, &y, &x, &w64, &b, &p));
    ssd_conv2d_params s0 = p;
    s0.stride[1] = 0;
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, &y, &x, &w, &b, &s0));
    ssd_conv2d_params np = p;
    np.pad[0] = 0;
    np.dilation[0] = 3; /* 7-tap span over 5 rows */
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, &y, &x, &w, &b, &np));
    EXPECT(SSD_E_UNSUPPORTED, "conv2d_fwd", o->conv2d_fwd(be, &y, &xh, &w, &b, &p));
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, NULL, &x, &w, &b, &p));
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, &x, &x, &w, &b, &p));
    /* A tensor in some backend's private layout is not read as plain. */
    int fake_layout;
    x.layout = &fake_layout;
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, &y, &x, &w, &b, &p));
    x.layout = NULL;
    /* A shape larger than the storage behind it. */
    int64_t big[4] = {2, 4, 50, 5};
    ssd_tensor_reshape(&x, 4, big);
    EXPECT(SSD_E_INVAL, "conv2d_fwd", o->conv2d_fwd(be, &y, &x, &w, &b, &p));
    int64_t back[4] = {2, 4, 5, 5};
    ssd_tensor_reshape(&x, 4, back);
    /* None of the failures touched y. */
    CHECK(((float *)y.data)[0] == 123.0f);

    ssd_tensor dy_bad;
    make(&dy_bad, SSD_F32, 2, 6, 5, 4); /* output is 5x5 */
    EXPECT(SSD_E_INVAL, "conv2d_bwd_data", o->conv2d_bwd_data(be, &dx, &dy_bad, &x, &w, &p));
    EXPECT(SSD_E_INVAL, "conv2d_bwd_weights",
           o->conv2d_bwd_weights(be, &dx, NULL, &dy_bad, &x, &w, &p));
    CHECK_OK(o->conv2d_bwd_data(be, &dx, &dy, &x, &w, &p));
    CHECK(ssd_tensor_same_shape(&dx, &x));

    ssd_tensor *all[] = {&x, &w, &b, &bad_b, &w64, &y, &dy, &dx, &xh, &dy_bad};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
}

static void test_bn_errors(void) {
    const ssd_backend_ops *o = be->ops;
    ssd_tensor x, x1, g, g_bad, bt, rm, rv, y, m, is, ws;
    make(&x, SSD_F32, 2, 3, 2, 2);
    make(&x1, SSD_F32, 1, 3, 1, 1);
    make(&g, SSD_F32, 3, 0, 0, 0);
    make(&g_bad, SSD_F32, 4, 0, 0, 0);
    make(&bt, SSD_F32, 3, 0, 0, 0);
    make(&rm, SSD_F32, 3, 0, 0, 0);
    make(&rv, SSD_F32, 3, 0, 0, 0);
    empty(&y), empty(&m), empty(&is), empty(&ws);
    ssd_bn_params p = {.eps = 1e-5, .momentum = 0.1, .training = true};
    EXPECT(SSD_E_INVAL, "bn_fwd", o->bn_fwd(be, &y, &m, &is, &ws, &x, &g_bad, &bt, &rm, &rv, &p));
    /* PyTorch refuses to train on one value per channel (its variance is 0/0). */
    EXPECT(SSD_E_INVAL, "bn_fwd", o->bn_fwd(be, &y, &m, &is, &ws, &x1, &g, &bt, &rm, &rv, &p));
    EXPECT(SSD_E_INVAL, "bn_fwd", o->bn_fwd(be, &y, NULL, &is, &ws, &x, &g, &bt, &rm, &rv, &p));
    ssd_bn_params bad = p;
    bad.act = (ssd_act)7;
    EXPECT(SSD_E_INVAL, "bn_fwd", o->bn_fwd(be, &y, &m, &is, &ws, &x, &g, &bt, &rm, &rv, &bad));
    /* Eval mode on one value is fine, and then needs no save_* outputs. */
    p.training = false;
    CHECK_OK(o->bn_fwd(be, &y, NULL, NULL, &ws, &x1, &g, &bt, &rm, &rv, &p));
    ssd_tensor *all[] = {&x, &x1, &g, &g_bad, &bt, &rm, &rv, &y, &m, &is, &ws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
}

static void test_pool_errors(void) {
    const ssd_backend_ops *o = be->ops;
    ssd_tensor x, y, ws, dx;
    make(&x, SSD_F32, 1, 2, 6, 6);
    empty(&y), empty(&ws), empty(&dx);
    ssd_pool_params p = {{2, 2}, {2, 2}, {0, 0}, false};
    ssd_pool_params big_pad = {{2, 2}, {2, 2}, {2, 2}, false};
    EXPECT(SSD_E_INVAL, "maxpool_fwd", o->maxpool_fwd(be, &y, &ws, &x, &big_pad));
    CHECK_OK(o->maxpool_fwd(be, &y, &ws, &x, &p));
    /* A corrupt workspace must not scatter outside dx. */
    ((int64_t *)ws.data)[3] = 36;
    EXPECT(SSD_E_INVAL, "maxpool_bwd", o->maxpool_bwd(be, &dx, &y, &ws, &x, &p));
    ((int64_t *)ws.data)[3] = -1;
    EXPECT(SSD_E_INVAL, "maxpool_bwd", o->maxpool_bwd(be, &dx, &y, &ws, &x, &p));
    EXPECT(SSD_E_INVAL, "maxpool_bwd", o->maxpool_bwd(be, &dx, &y, &x, &x, &p));
    ssd_tensor *all[] = {&x, &y, &ws, &dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
}

static void test_misc_errors(void) {
    const ssd_backend_ops *o = be->ops;
    ssd_tensor a, b, c, y, s_bad;
    make(&a, SSD_F32, 2, 6, 3, 3);
    make(&b, SSD_F32, 2, 6, 3, 4);
    make(&c, SSD_F64, 2, 6, 3, 3);
    make(&s_bad, SSD_F32, 5, 0, 0, 0);
    empty(&y);
    EXPECT(SSD_E_INVAL, "add", o->add(be, &y, &a, &b));
    EXPECT(SSD_E_INVAL, "add", o->add(be, &y, &a, &c));
    const ssd_tensor *xs[2] = {&a, &b};
    EXPECT(SSD_E_INVAL, "concat_fwd", o->concat_fwd(be, &y, xs, 2, 1)); /* W differs */
    CHECK_OK(o->concat_fwd(be, &y, xs, 2, 3));
    CHECK(y.ndim == 4 && y.shape[3] == 7);
    EXPECT(SSD_E_INVAL, "concat_fwd", o->concat_fwd(be, &y, xs, 2, 4));
    EXPECT(SSD_E_INVAL, "concat_fwd", o->concat_fwd(be, &y, xs, 0, 1));
    ssd_softmax_params sp = {.axis = -5};
    EXPECT(SSD_E_INVAL, "softmax_fwd", o->softmax_fwd(be, &y, &a, &sp));
    ssd_head_params hp = {.k = 4};
    EXPECT(SSD_E_INVAL, "head_permute_fwd", o->head_permute_fwd(be, &y, &a, &hp));
    hp.k = 3;
    CHECK_OK(o->head_permute_fwd(be, &y, &a, &hp));
    CHECK(y.ndim == 3 && y.shape[1] == 18 && y.shape[2] == 3);
    ssd_l2norm_params lp = {1e-10};
    EXPECT(SSD_E_INVAL, "l2norm_fwd", o->l2norm_fwd(be, &y, &a, &s_bad, &lp));
    ssd_act_params ap = {(ssd_act)9};
    EXPECT(SSD_E_INVAL, "act_fwd", o->act_fwd(be, &y, &a, &ap));
    /* Element-wise ops work in place. */
    ap.kind = SSD_ACT_RELU;
    ssd_tensor_fill(&a, -1.0);
    CHECK_OK(o->act_fwd(be, &a, &a, &ap));
    CHECK(((float *)a.data)[5] == 0.0f);
    ssd_tensor *all[] = {&a, &b, &c, &y, &s_bad};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
}

/* Fails each allocation of a conv forward + backward in turn. */
static void test_alloc_failures(void) {
    const ssd_backend_ops *o = be->ops;
    ssd_tensor x, w, dy;
    make(&x, SSD_F32, 1, 2, 4, 4);
    make(&w, SSD_F32, 3, 2, 3, 3);
    make(&dy, SSD_F32, 1, 3, 2, 2);
    ssd_conv2d_params p = {.stride = {1, 1}, .dilation = {1, 1}, .groups = 1};
    int failures = 0;
    for (long k = 1; k <= 8; k++) {
        ssd_tensor y, dx, dw, db;
        empty(&y), empty(&dx), empty(&dw), empty(&db);
        ssd_alloc_fail_at(k);
        ssd_status st = o->conv2d_fwd(be, &y, &x, &w, NULL, &p);
        if (st == SSD_OK) st = o->conv2d_bwd_data(be, &dx, &dy, &x, &w, &p);
        if (st == SSD_OK) st = o->conv2d_bwd_weights(be, &dw, &db, &dy, &x, &w, &p);
        ssd_alloc_fail_at(0);
        CHECK(st == SSD_OK || st == SSD_E_NOMEM);
        failures += st == SSD_E_NOMEM;
        ssd_tensor *all[] = {&y, &dx, &dw, &db};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ssd_tensor_deinit(all[i]);
    }
    CHECK(failures == 4); /* y, dx, dw, db: one allocation each */
    ssd_tensor_deinit(&x);
    ssd_tensor_deinit(&w);
    ssd_tensor_deinit(&dy);
}

int main(void) {
    REQUIRE_OK(ssd_backend_create(&be, "ref"));
    test_supports();
    test_conv_errors();
    test_bn_errors();
    test_pool_errors();
    test_misc_errors();
    test_alloc_failures();
    ssd_backend_destroy(be);
    return test_finish();
}

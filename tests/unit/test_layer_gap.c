/* The GAP layer and an activation layer with hardswish (whose backward needs
 * the layer's input), on ref and cpu: shapes, forward and backward values
 * against hand-computed ones, and a clear error on a backend without the op. */
#include "test.h"

#include "nn/nn.h"

#include <math.h>
#include <string.h>

static void check_backend(ssd_backend *be) {
    int64_t xs[4] = {2, 3, 2, 2}, out[4];
    float xv[24], dyv[6], got[24];
    for (int i = 0; i < 24; i++) xv[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < 6; i++) dyv[i] = (float)i + 1.0f;
    ssd_tensor x, dy;
    ssd_tensor_init(&x, be, SSD_F32, 4, xs);
    CHECK_OK(ssd_tensor_set(&x, xv, SSD_F32));
    ssd_layer l;
    ssd_layer_gap_init(&l, be, "se.pool");
    ssd_layer_out_shape(&l, xs, out);
    CHECK(out[0] == 2 && out[1] == 3 && out[2] == 1 && out[3] == 1);
    CHECK_OK(ssd_layer_forward(&l, &x, true));
    CHECK(l.y->ndim == 4 && l.y->shape[1] == 3 && l.y->shape[2] == 1 && l.y->shape[3] == 1);
    CHECK_OK(ssd_tensor_get(l.y, got, SSD_F32));
    for (int i = 0; i < 6; i++) {
        float want = (xv[4 * i] + xv[4 * i + 1] + xv[4 * i + 2] + xv[4 * i + 3]) / 4;
        CHECK(fabsf(got[i] - want) < 1e-6f);
    }
    int64_t ys[4] = {2, 3, 1, 1};
    ssd_tensor_init(&dy, be, SSD_F32, 4, ys);
    CHECK_OK(ssd_tensor_set(&dy, dyv, SSD_F32));
    CHECK_OK(ssd_layer_backward(&l, &dy, true));
    CHECK_OK(ssd_tensor_get(l.dx, got, SSD_F32));
    for (int i = 0; i < 24; i++) CHECK(fabsf(got[i] - dyv[i / 4] / 4) < 1e-6f);
    ssd_layer_deinit(&l);

    /* hardswish layer: backward from the input (x = -3..3 covers both kinks) */
    ssd_layer a;
    ssd_layer_act_init(&a, be, "hs", SSD_ACT_HARDSWISH);
    CHECK_OK(ssd_layer_forward(&a, &x, true));
    CHECK_OK(ssd_tensor_get(a.y, got, SSD_F32));
    for (int i = 0; i < 24; i++) {
        float r = fminf(fmaxf(xv[i] + 3, 0), 6);
        CHECK(fabsf(got[i] - xv[i] * r / 6) < 1e-6f);
    }
    ssd_tensor ones;
    float one[24];
    for (int i = 0; i < 24; i++) one[i] = 1;
    ssd_tensor_init(&ones, be, SSD_F32, 4, xs);
    CHECK_OK(ssd_tensor_set(&ones, one, SSD_F32));
    CHECK_OK(ssd_layer_backward(&a, &ones, true));
    CHECK_OK(ssd_tensor_get(a.dx, got, SSD_F32));
    for (int i = 0; i < 24; i++) {
        float v = xv[i], t = v + 3, r = fminf(fmaxf(t, 0), 6);
        float want = r / 6 + (t > 0 && t < 6 ? v / 6 : 0); /* -3 -> 0, 3 -> 1 */
        CHECK(fabsf(got[i] - want) < 1e-6f);
    }
    ssd_layer_deinit(&a);
    ssd_tensor_deinit(&ones);
    ssd_tensor_deinit(&x);
    ssd_tensor_deinit(&dy);
}

int main(void) {
    const char *names[2] = {"ref", "cpu"};
    for (int i = 0; i < 2; i++) {
        ssd_backend *be = NULL;
        if (ssd_backend_create(&be, names[i]) != SSD_OK) continue;
        CHECK(ssd_backend_has(be, SSD_OP_GAP, SSD_F32, NULL));
        CHECK(ssd_backend_has(be, SSD_OP_SCALE, SSD_F32, NULL));
        ssd_act_params hs = {SSD_ACT_HARDSWISH};
        CHECK(ssd_backend_has(be, SSD_OP_ACT, SSD_F32, &hs));
        /* fused into a conv: hard-swish on cpu (a oneDNN post-op), not on ref; hard-sigmoid
         * nowhere */
        ssd_conv2d_params cp = {{1, 1}, {0, 0}, {1, 1}, 1, SSD_ACT_HARDSWISH, SSD_CONV_F32};
        CHECK(ssd_backend_has(be, SSD_OP_CONV2D, SSD_F32, &cp) == (i == 1));
        cp.act = SSD_ACT_HARDSIGMOID;
        CHECK(!ssd_backend_has(be, SSD_OP_CONV2D, SSD_F32, &cp));
        check_backend(be);

        /* A backend whose vtable predates the op: an error naming it, no crash. */
        ssd_backend_ops old = *be->ops;
        old.gap_fwd = NULL;
        old.gap_bwd = NULL;
        const ssd_backend_ops *saved = be->ops;
        be->ops = &old;
        CHECK(!ssd_backend_has(be, SSD_OP_GAP, SSD_F32, NULL));
        ssd_layer l;
        ssd_tensor x;
        int64_t xs[4] = {1, 2, 2, 2};
        ssd_tensor_init(&x, be, SSD_F32, 4, xs);
        CHECK_OK(ssd_tensor_alloc(&x));
        ssd_layer_gap_init(&l, be, "se.pool");
        CHECK(ssd_layer_forward(&l, &x, true) == SSD_E_UNSUPPORTED);
        CHECK(strstr(ssd_error_message(), "se.pool") != NULL);
        ssd_layer_deinit(&l);
        ssd_tensor_deinit(&x);
        be->ops = saved;
        ssd_backend_destroy(be);
    }
    return test_finish();
}

/* Element-wise and softmax kernels for one element type (see ref_instantiate.h). */

static double SFX(relu6)(double v) {
    return v < 0 ? 0 : v > 6 ? 6 : v;
}

static void SFX(act_fwd)(void *yv, const void *xv, int64_t n, ssd_act act) {
    T *y = yv;
    const T *x = xv;
    for (int64_t i = 0; i < n; i++) {
        T v = x[i];
        if (act == SSD_ACT_HARDSWISH || act == SSD_ACT_HARDSIGMOID) {
            double r = SFX(relu6)((double)(T)((double)v + 3.0));
            y[i] = (T)(act == SSD_ACT_HARDSWISH ? (double)v * r / 6.0 : r / 6.0);
            continue;
        }
        if (act != SSD_ACT_NONE && !(v > 0)) v = isnan(v) ? v : 0;
        if (act == SSD_ACT_RELU6 && v > 6) v = 6;
        y[i] = v;
    }
}

/* ReLU / ReLU6: masks read off the output, ReLU passes where y > 0, ReLU6
 * where 0 < y < 6 (PyTorch's threshold and hardtanh backward, which agree
 * with masks read off the input because both activations are monotone).
 * Hardswish / hardsigmoid read the input: autograd through x * relu6(x+3) / 6
 * gives relu6(x+3)/6 + [0 < x+3 < 6] * x/6, through relu6(x+3)/6 gives
 * [0 < x+3 < 6] / 6. */
static void SFX(act_bwd)(void *dxv, const void *dyv, const void *xv, const void *yv, int64_t n,
                         ssd_act act) {
    T *dx = dxv;
    const T *dy = dyv, *x = xv, *y = yv;
    for (int64_t i = 0; i < n; i++) {
        if (act == SSD_ACT_HARDSWISH || act == SSD_ACT_HARDSIGMOID) {
            /* x + 3 rounded to T as PyTorch does: it decides the kinks */
            double t = (double)(T)((double)x[i] + 3.0), g = (double)dy[i] / 6.0;
            bool in = t > 0 && t < 6;
            if (act == SSD_ACT_HARDSIGMOID)
                dx[i] = (T)(in ? g : 0.0);
            else
                dx[i] = (T)(g * SFX(relu6)(t) + (in ? g * (double)x[i] : 0.0));
            continue;
        }
        bool pass = act == SSD_ACT_NONE || (y[i] > 0 && (act == SSD_ACT_RELU || y[i] < 6));
        dx[i] = pass ? dy[i] : (T)0;
    }
}

static void SFX(add)(void *yv, const void *av, const void *bv, int64_t n) {
    T *y = yv;
    const T *a = av, *b = bv;
    for (int64_t i = 0; i < n; i++) y[i] = (T)((double)a[i] + (double)b[i]);
}

/* x viewed as (outer, len, inner), normalised along len. Max-shifted, sums in
 * double. */
static void SFX(softmax_fwd)(void *yv, const void *xv, int64_t outer, int64_t len, int64_t inner,
                             bool log_out) {
    T *y = yv;
    const T *x = xv;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t in = 0; in < inner; in++) {
            const T *xr = x + o * len * inner + in;
            T *yr = y + o * len * inner + in;
            double mx = -INFINITY, s = 0;
            for (int64_t k = 0; k < len; k++)
                if ((double)xr[k * inner] > mx) mx = (double)xr[k * inner];
            for (int64_t k = 0; k < len; k++) s += exp((double)xr[k * inner] - mx);
            const double ls = log(s);
            for (int64_t k = 0; k < len; k++) {
                double z = (double)xr[k * inner] - mx;
                yr[k * inner] = (T)(log_out ? z - ls : exp(z) / s);
            }
        }
    }
}

/* softmax: dx = y * (dy - sum(dy*y)); log-softmax: dx = dy - exp(y) * sum(dy). */
static void SFX(softmax_bwd)(void *dxv, const void *dyv, const void *yv, int64_t outer, int64_t len,
                             int64_t inner, bool log_out) {
    T *dx = dxv;
    const T *dy = dyv, *y = yv;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t in = 0; in < inner; in++) {
            const int64_t base = o * len * inner + in;
            double s = 0;
            for (int64_t k = 0; k < len; k++) {
                double g = (double)dy[base + k * inner];
                s += log_out ? g : g * (double)y[base + k * inner];
            }
            for (int64_t k = 0; k < len; k++) {
                double g = (double)dy[base + k * inner], yv_ = (double)y[base + k * inner];
                dx[base + k * inner] = (T)(log_out ? g - exp(yv_) * s : yv_ * (g - s));
            }
        }
    }
}

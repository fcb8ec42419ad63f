/* Global average pool and channel scale kernels for one element type (see
 * ref_instantiate.h), over nc planes of hw values each. */

static void SFX(gap_fwd)(void *yv, const void *xv, int64_t nc, int64_t hw) {
    T *y = yv;
    const T *x = xv;
    for (int64_t i = 0; i < nc; i++) {
        double s = 0;
        for (int64_t k = 0; k < hw; k++) s += (double)x[i * hw + k];
        y[i] = (T)(s / (double)hw);
    }
}

static void SFX(gap_bwd)(void *dxv, const void *dyv, int64_t nc, int64_t hw) {
    T *dx = dxv;
    const T *dy = dyv;
    for (int64_t i = 0; i < nc; i++) {
        T g = (T)((double)dy[i] / (double)hw);
        for (int64_t k = 0; k < hw; k++) dx[i * hw + k] = g;
    }
}

static void SFX(scale_fwd)(void *yv, const void *xv, const void *sv, int64_t nc, int64_t hw) {
    T *y = yv;
    const T *x = xv, *s = sv;
    for (int64_t i = 0; i < nc; i++)
        for (int64_t k = 0; k < hw; k++) y[i * hw + k] = (T)((double)x[i * hw + k] * (double)s[i]);
}

/* ds may be NULL; dx may be dy (each element is read before it is written). */
static void SFX(scale_bwd)(void *dxv, void *dsv, const void *dyv, const void *xv, const void *sv,
                           int64_t nc, int64_t hw) {
    T *dx = dxv, *ds = dsv;
    const T *dy = dyv, *x = xv, *s = sv;
    for (int64_t i = 0; i < nc; i++) {
        double acc = 0;
        for (int64_t k = 0; k < hw; k++) {
            double g = (double)dy[i * hw + k];
            acc += g * (double)x[i * hw + k];
            if (dx) dx[i * hw + k] = (T)(g * (double)s[i]);
        }
        if (ds) ds[i] = (T)acc;
    }
}

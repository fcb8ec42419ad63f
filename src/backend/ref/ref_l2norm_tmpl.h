/* L2Norm kernels for one element type (see ref_instantiate.h): x viewed as
 * (N, C, HW), normalised across C at each (n, pixel). */

static double SFX(l2_sumsq)(const T *x, int64_t c, int64_t hw) {
    double ss = 0;
    for (int64_t ch = 0; ch < c; ch++) ss += (double)x[ch * hw] * (double)x[ch * hw];
    return ss;
}

/* y = scale[c] * x / (sqrt(sum_c x^2) + eps) */
static void SFX(l2norm_fwd)(void *yv, const void *xv, const void *sv, int64_t n, int64_t c,
                            int64_t hw, double eps) {
    T *y = yv;
    const T *x = xv, *scale = sv;
    for (int64_t i = 0; i < n; i++)
        for (int64_t q = 0; q < hw; q++) {
            const T *xp = x + i * c * hw + q;
            const double s = sqrt(SFX(l2_sumsq)(xp, c, hw)) + eps;
            for (int64_t ch = 0; ch < c; ch++)
                y[i * c * hw + ch * hw + q] = (T)((double)scale[ch] * (double)xp[ch * hw] / s);
        }
}

/* With r = |x|, s = r + eps: dx_i = scale_i dy_i / s - x_i (sum_c dy_c scale_c x_c) / (r s^2)
 * and dscale_c = sum over (n, pixel) of dy_c x_c / s. At r = 0 the norm has no
 * gradient (PyTorch gives NaN); the second term is taken as 0 there.
 * acc (C doubles) is scratch for dscale, so each norm is computed once. */
static void SFX(l2norm_bwd)(void *dxv, void *dsv, double *acc, const void *dyv, const void *xv,
                            const void *sv, int64_t n, int64_t c, int64_t hw, double eps) {
    T *dx = dxv, *dscale = dsv;
    const T *dy = dyv, *x = xv, *scale = sv;
    for (int64_t ch = 0; ch < c; ch++) acc[ch] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t q = 0; q < hw; q++) {
            const int64_t base = i * c * hw + q;
            const double r = sqrt(SFX(l2_sumsq)(x + base, c, hw)), s = r + eps;
            double dot = 0;
            for (int64_t ch = 0; ch < c; ch++) {
                const double g = (double)dy[base + ch * hw], xv_ = (double)x[base + ch * hw];
                dot += g * (double)scale[ch] * xv_;
                acc[ch] += g * xv_ / s;
            }
            if (!dx) continue;
            const double k = r > 0 ? dot / (r * s * s) : 0.0;
            for (int64_t ch = 0; ch < c; ch++)
                dx[base + ch * hw] = (T)((double)scale[ch] * (double)dy[base + ch * hw] / s -
                                         (double)x[base + ch * hw] * k);
        }
    for (int64_t ch = 0; ch < c && dscale; ch++) dscale[ch] = (T)acc[ch];
}

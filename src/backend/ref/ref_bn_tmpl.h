/* Batch-norm kernels for one element type (see ref_instantiate.h). Per
 * channel statistics are two-pass in double (mean, then squared deviations)
 * so that they stay exact enough to serve as the oracle. */

static double SFX(bn_act)(double v, ssd_act act) {
    if (act == SSD_ACT_NONE) return v;
    if (v < 0) v = 0;
    if (act == SSD_ACT_RELU6 && v > 6) v = 6;
    return v;
}

/* Whether the fused activation passes gradient at output value y: the
 * activations are monotone, so the mask read off y equals the one read off
 * their input (ReLU: y > 0; ReLU6: 0 < y < 6, as PyTorch's hardtanh backward). */
static double SFX(bn_masked)(const T *dy, const T *y, int64_t e, ssd_act act) {
    if (act == SSD_ACT_NONE) return (double)dy[e];
    bool pass = y[e] > 0 && (act == SSD_ACT_RELU || y[e] < 6);
    return pass ? (double)dy[e] : 0.0;
}

/* Training: normalises with the batch statistics, saves mean and 1/std, and
 * moves the running estimates towards the batch (unbiased variance). Eval:
 * normalises with the running estimates; save_* (when given) receive them so
 * that backward works alike in both modes. Training with use_saved reads mean
 * and 1/std from save_* and leaves everything but y alone. In training the
 * output is computed from mean and 1/std as rounded to T (what save_* hold,
 * and what PyTorch's float kernels use), so that the use_saved recompute is
 * bitwise the same. */
static void SFX(bn_fwd)(void *yv, void *meanv, void *invstdv, const void *xv, const void *gv,
                        const void *bv, void *rmv, void *rvv, int64_t n, int64_t c, int64_t hw,
                        const ssd_bn_params *p) {
    T *y = yv, *save_mean = meanv, *save_invstd = invstdv, *rm = rmv, *rv = rvv;
    const T *x = xv, *gamma = gv, *beta = bv;
    const double m = (double)(n * hw);
    const bool saved = p->training && p->use_saved;
    for (int64_t ch = 0; ch < c; ch++) {
        double mean, invstd;
        if (saved) {
            mean = (double)save_mean[ch];
            invstd = (double)save_invstd[ch];
        } else if (p->training) {
            double s = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < hw; k++) s += (double)x[(i * c + ch) * hw + k];
            mean = s / m;
            double ss = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < hw; k++) {
                    double dv = (double)x[(i * c + ch) * hw + k] - mean;
                    ss += dv * dv;
                }
            rm[ch] = (T)((1 - p->momentum) * (double)rm[ch] + p->momentum * mean);
            rv[ch] = (T)((1 - p->momentum) * (double)rv[ch] + p->momentum * ss / (m - 1));
            invstd = (double)(T)(1.0 / sqrt(ss / m + p->eps));
            mean = (double)(T)mean;
            save_mean[ch] = (T)mean;
            save_invstd[ch] = (T)invstd;
        } else {
            mean = (double)rm[ch];
            invstd = 1.0 / sqrt((double)rv[ch] + p->eps);
            if (save_mean) save_mean[ch] = (T)mean;
            if (save_invstd) save_invstd[ch] = (T)invstd;
        }
        const double g = (double)gamma[ch], bt = (double)beta[ch];
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < hw; k++) {
                int64_t e = (i * c + ch) * hw + k;
                y[e] = (T)SFX(bn_act)(g * ((double)x[e] - mean) * invstd + bt, p->act);
            }
    }
}

/* With g = dy masked by the activation and xh the normalised input:
 * dbeta = sum g, dgamma = sum g*xh; in training the batch statistics depend on
 * x, giving dx = gamma*invstd/M * (M*g - dbeta - xh*dgamma); in eval they are
 * constants and dx = gamma*invstd*g. 1/std comes from save_invstd in training
 * and from the running variance in eval (what the forward pass divided by). */
static void SFX(bn_bwd)(void *dxv, void *dgv, void *dbv, const void *dyv, const void *xv,
                        const void *yv, const void *gv, const void *meanv, const void *stdv,
                        int64_t n, int64_t c, int64_t hw, const ssd_bn_params *p) {
    T *dx = dxv, *dgamma = dgv, *dbeta = dbv;
    const T *dy = dyv, *x = xv, *y = yv, *gamma = gv, *save_mean = meanv, *stat = stdv;
    const double m = (double)(n * hw);
    for (int64_t ch = 0; ch < c; ch++) {
        const double mean = save_mean ? (double)save_mean[ch] : 0.0;
        const double is = p->training ? (double)stat[ch] : 1.0 / sqrt((double)stat[ch] + p->eps);
        double sg = 0, sgx = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < hw; k++) {
                int64_t e = (i * c + ch) * hw + k;
                double g = SFX(bn_masked)(dy, y, e, p->act);
                sg += g;
                sgx += g * ((double)x[e] - mean) * is;
            }
        if (dbeta) dbeta[ch] = (T)sg;
        if (dgamma) dgamma[ch] = (T)sgx;
        if (!dx) continue;
        const double gs = (double)gamma[ch] * is;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < hw; k++) {
                int64_t e = (i * c + ch) * hw + k;
                double g = SFX(bn_masked)(dy, y, e, p->act);
                if (p->training) {
                    double xh = ((double)x[e] - mean) * is;
                    dx[e] = (T)(gs / m * (m * g - sg - xh * sgx));
                } else {
                    dx[e] = (T)(gs * g);
                }
            }
    }
}

/* Batch norm kernels, included by cpu_bn.c once per instruction set with
 * KSUF (name suffix) and KTARGET (GCC target, or none for the baseline) set.
 * Every helper carries the target too: GCC lowers a helper's vector
 * comparisons for its own target before inlining, so helpers compiled for
 * the baseline would scalarise them inside an AVX-512 caller. No include
 * guard on purpose. */
#define KCAT2(a, b) a##b
#define KCAT(a, b)  KCAT2(a, b)
#ifdef KTARGET
#define KATTR __attribute__((target(KTARGET)))
#else
#define KATTR
#endif
#define KINLINE    static inline __attribute__((always_inline)) KATTR
#define KFN        static KATTR
#define ld         KCAT(ld_, KSUF)
#define st         KCAT(st_, KSUF)
#define splat      KCAT(splat_, KSUF)
#define pattern    KCAT(pattern_, KSUF)
#define sel        KCAT(sel_, KSUF)
#define act_of     KCAT(act_of_, KSUF)
#define act_v      KCAT(act_v_, KSUF)
#define masked     KCAT(masked_, KSUF)
#define masked_v   KCAT(masked_v_, KSUF)
#define fold       KCAT(fold_, KSUF)
#define stats_blk  KCAT(stats_blk_, KSUF)
#define apply_blk  KCAT(apply_blk_, KSUF)
#define bsum_blk   KCAT(bsum_blk_, KSUF)
#define bdx_blk    KCAT(bdx_blk_, KSUF)
#define pass_stats KCAT(pass_stats_, KSUF)
#define pass_apply KCAT(pass_apply_, KSUF)
#define pass_bsum  KCAT(pass_bsum_, KSUF)
#define pass_dx    KCAT(pass_dx_, KSUF)

/* Kernels run over each (n, channel block) item as 16-float vectors (GCC
 * vector extensions; one zmm with AVX-512, split on smaller ISAs). An item is
 * hw*B floats where float k belongs to channel k % B of the block, and since
 * B divides 16, lane l of every vector is channel l % B: per-channel values
 * are loaded as a repeating pattern and lane sums fold back by l % B. Plain
 * layout is B = 1 (one channel per item). A tail shorter than a vector runs
 * scalar. */

KINLINE v16 ld(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

KINLINE void st(float *p, v16 v) {
    memcpy(p, &v, sizeof v);
}

KINLINE v16 splat(float f) {
    return (v16){f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f};
}

KINLINE v16 pattern(const float *per_channel, int B) {
    v16 v;
    for (int l = 0; l < 16; l++) v[l] = per_channel[l % B];
    return v;
}

KINLINE v16 sel(v16i m, v16 a, v16 b) { /* m ? a : b, lane-wise */
    return (v16)(((v16i)a & m) | ((v16i)b & ~m));
}

KINLINE float act_of(float t, ssd_act act) {
    if (act == SSD_ACT_NONE) return t;
    float v = t < 0.f ? 0.f : t;
    return act == SSD_ACT_RELU6 && v > 6.f ? 6.f : v;
}

KINLINE v16 act_v(v16 t, ssd_act act) {
    if (act == SSD_ACT_NONE) return t;
    v16 z = splat(0.f), v = sel(t < z, z, t); /* NaN stays NaN, as in PyTorch */
    if (act == SSD_ACT_RELU6) v = sel(v > splat(6.f), splat(6.f), v);
    return v;
}

/* Gradient mask at pre-activation t, as PyTorch's backward reads it off y
 * (<= and >=, so a NaN passes the gradient). */
KINLINE float masked(float g, float t, ssd_act act) {
    if (act == SSD_ACT_RELU) return t <= 0.f ? 0.f : g;
    if (act == SSD_ACT_RELU6) return ((t <= 0.f) | (t >= 6.f)) ? 0.f : g;
    return g;
}

KINLINE v16 masked_v(v16 g, v16 t, ssd_act act) {
    if (act == SSD_ACT_NONE) return g;
    /* two selects, not one on OR-ed masks: GCC scalarises the latter here */
    g = sel(t <= splat(0.f), splat(0.f), g);
    if (act == SSD_ACT_RELU6) g = sel(t >= splat(6.f), splat(0.f), g);
    return g;
}

/* ---- per (n, channel block) kernels; B and act are literals at every call ---- */

KINLINE void fold(double *s, v16 v, int B) {
    for (int l = 0; l < 16; l++) s[l % B] += v[l];
}

KINLINE void stats_blk(const float *x, int64_t len, int B, const float *K, double *s1, double *s2) {
    const v16 k = pattern(K, B);
    int64_t i = 0;
    for (; i + 16 <= len;) {
        int64_t end = i + 16 * RUN < len ? i + 16 * RUN : len;
        v16 f1 = splat(0.f), f2 = splat(0.f);
        for (; i + 16 <= end; i += 16) {
            v16 d = ld(x + i) - k;
            f1 += d;
            f2 += d * d;
        }
        fold(s1, f1, B);
        fold(s2, f2, B);
    }
    for (; i < len; i++) {
        double d = (double)(x[i] - K[i % B]);
        s1[i % B] += d;
        s2[i % B] += d * d;
    }
}

KINLINE void apply_blk(float *y, const float *x, int64_t len, int B, const float *a, const float *b,
                       ssd_act act) {
    const v16 va = pattern(a, B), vb = pattern(b, B);
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) st(y + i, act_v(ld(x + i) * va + vb, act));
    for (; i < len; i++) y[i] = act_of(x[i] * a[i % B] + b[i % B], act);
}

/* sg += sum g, sgx += sum g*(x - mean), g = dy masked by the activation. */
KINLINE void bsum_blk(const float *x, const float *dy, int64_t len, int B, const float *a,
                      const float *b, const float *mean, ssd_act act, double *sg, double *sgx) {
    const v16 va = pattern(a, B), vb = pattern(b, B), vm = pattern(mean, B);
    int64_t i = 0;
    for (; i + 16 <= len;) {
        int64_t end = i + 16 * RUN < len ? i + 16 * RUN : len;
        v16 f1 = splat(0.f), f2 = splat(0.f);
        for (; i + 16 <= end; i += 16) {
            v16 xv = ld(x + i), g = masked_v(ld(dy + i), xv * va + vb, act);
            f1 += g;
            f2 += g * (xv - vm);
        }
        fold(sg, f1, B);
        fold(sgx, f2, B);
    }
    for (; i < len; i++) {
        int j = (int)(i % B);
        float g = masked(dy[i], x[i] * a[j] + b[j], act);
        sg[j] += g;
        sgx[j] += g * (x[i] - mean[j]);
    }
}

/* dx = k1 * (g - k2 - (x - mean) * k3); eval passes k2 = k3 = 0. */
KINLINE void bdx_blk(float *dx, const float *x, const float *dy, int64_t len, int B, const float *a,
                     const float *b, const float *mean, const float *k1, const float *k2,
                     const float *k3, ssd_act act) {
    const v16 va = pattern(a, B), vb = pattern(b, B), vm = pattern(mean, B);
    const v16 c1 = pattern(k1, B), c2 = pattern(k2, B), c3 = pattern(k3, B);
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        v16 xv = ld(x + i), g = masked_v(ld(dy + i), xv * va + vb, act);
        st(dx + i, c1 * (g - c2 - (xv - vm) * c3));
    }
    for (; i < len; i++) {
        int j = (int)(i % B);
        float g = masked(dy[i], x[i] * a[j] + b[j], act);
        dx[i] = k1[j] * (g - k2[j] - (x[i] - mean[j]) * k3[j]);
    }
}

/* ---- passes over the whole tensor ---- */

KFN void pass_stats(const geo *g, const float *x, const float *K, double *part) {
    const int64_t items = g->n * g->cb, B = g->blk;
#pragma omp parallel for schedule(static) if (g->par)
    for (int64_t it = 0; it < items; it++) {
        int64_t cb = it % g->cb;
        double *s1 = part + it * 2 * B, *s2 = s1 + B;
        for (int j = 0; j < B; j++) s1[j] = s2[j] = 0.0;
        BY_BLK(B, stats_blk(x + it * g->hw * B_, g->hw * B_, B_, K + cb * B_, s1, s2));
    }
}

KFN void pass_apply(const geo *g, float *y, const float *x, const float *a, const float *b,
                    ssd_act act) {
    const int64_t items = g->n * g->cb;
#pragma omp parallel for schedule(static) if (g->par)
    for (int64_t it = 0; it < items; it++) {
        int64_t cb = it % g->cb, off = it * g->hw * g->blk;
        BY_ACT(act, BY_BLK(g->blk, apply_blk(y + off, x + off, g->hw * B_, B_, a + cb * B_,
                                             b + cb * B_, A_)));
    }
}

KFN void pass_bsum(const geo *g, const float *x, const float *dy, const float *a, const float *b,
                   const float *mean, ssd_act act, double *part) {
    const int64_t items = g->n * g->cb, B = g->blk;
#pragma omp parallel for schedule(static) if (g->par)
    for (int64_t it = 0; it < items; it++) {
        int64_t cb = it % g->cb, off = it * g->hw * B;
        double *s1 = part + it * 2 * B, *s2 = s1 + B;
        for (int j = 0; j < B; j++) s1[j] = s2[j] = 0.0;
        BY_ACT(act, BY_BLK(B, bsum_blk(x + off, dy + off, g->hw * B_, B_, a + cb * B_, b + cb * B_,
                                       mean + cb * B_, A_, s1, s2)));
    }
}

KFN void pass_dx(const geo *g, float *dx, const float *x, const float *dy, const float *a,
                 const float *b, const float *mean, const float *k1, const float *k2,
                 const float *k3, ssd_act act) {
    const int64_t items = g->n * g->cb;
#pragma omp parallel for schedule(static) if (g->par)
    for (int64_t it = 0; it < items; it++) {
        int64_t cb = it % g->cb, off = it * g->hw * g->blk, o = cb * g->blk;
        BY_ACT(act, BY_BLK(g->blk, bdx_blk(dx + off, x + off, dy + off, g->hw * B_, B_, a + o,
                                           b + o, mean + o, k1 + o, k2 + o, k3 + o, A_)));
    }
}

/* Sums the per-(n, block) partials over n: out1/out2 per padded channel. */

#undef ld
#undef st
#undef splat
#undef pattern
#undef sel
#undef act_of
#undef act_v
#undef masked
#undef masked_v
#undef fold
#undef stats_blk
#undef apply_blk
#undef bsum_blk
#undef bdx_blk
#undef pass_stats
#undef pass_apply
#undef pass_bsum
#undef pass_dx
#undef KCAT2
#undef KCAT
#undef KATTR
#undef KINLINE
#undef KFN

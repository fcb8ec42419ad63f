/* Max-pool kernels for one element type (see ref_instantiate.h). */

/* Scans each window row by row and keeps the first maximum, as PyTorch does,
 * so ties (common after a ReLU) route the gradient to the same element; a NaN
 * wins and propagates (the last one, as in PyTorch's loop). idx holds the argmax as an offset into
 * the H*W plane (PyTorch's return_indices). Padding never wins: windows start inside the input or
 * its left padding (ssd_pool_out_size). */
static void SFX(maxpool_fwd)(void *yv, int64_t *idx, const void *xv, const ref_pool_dims *d) {
    T *y = yv;
    const T *x = xv;
    for (int64_t nc = 0; nc < d->nc; nc++) {
        const T *xp = x + nc * d->h * d->w;
        for (int64_t oh = 0; oh < d->ho; oh++) {
            for (int64_t ow = 0; ow < d->wo; ow++) {
                int64_t h0 = oh * d->sh - d->ph, w0 = ow * d->sw - d->pw;
                int64_t h1 = h0 + d->kh < d->h ? h0 + d->kh : d->h;
                int64_t w1 = w0 + d->kw < d->w ? w0 + d->kw : d->w;
                if (h0 < 0) h0 = 0;
                if (w0 < 0) w0 = 0;
                int64_t best = h0 * d->w + w0;
                double bv = -INFINITY;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) {
                        double v = (double)xp[ih * d->w + iw];
                        if (v > bv || isnan(v)) {
                            bv = v;
                            best = ih * d->w + iw;
                        }
                    }
                y[(nc * d->ho + oh) * d->wo + ow] = xp[best];
                idx[(nc * d->ho + oh) * d->wo + ow] = best;
            }
        }
    }
}

/* Gathers, for each input element, dy of the windows that covered it and
 * chose it, so overlapping windows sum in double and each dx is rounded once. */
static void SFX(maxpool_bwd)(void *dxv, const void *dyv, const int64_t *idx,
                             const ref_pool_dims *d) {
    T *dx = dxv;
    const T *dy = dyv;
    const int64_t hw = d->h * d->w, ohw = d->ho * d->wo;
    for (int64_t nc = 0; nc < d->nc; nc++) {
        for (int64_t ih = 0; ih < d->h; ih++) {
            /* windows oh with oh*sh - ph <= ih < oh*sh - ph + kh */
            int64_t oh0 = ref_ceil_div(ih + d->ph - d->kh + 1, d->sh);
            int64_t oh1 = (ih + d->ph) / d->sh;
            if (oh0 < 0) oh0 = 0;
            if (oh1 >= d->ho) oh1 = d->ho - 1;
            for (int64_t iw = 0; iw < d->w; iw++) {
                int64_t ow0 = ref_ceil_div(iw + d->pw - d->kw + 1, d->sw);
                int64_t ow1 = (iw + d->pw) / d->sw;
                if (ow0 < 0) ow0 = 0;
                if (ow1 >= d->wo) ow1 = d->wo - 1;
                double acc = 0;
                for (int64_t oh = oh0; oh <= oh1; oh++)
                    for (int64_t ow = ow0; ow <= ow1; ow++) {
                        int64_t o = nc * ohw + oh * d->wo + ow;
                        if (idx[o] == ih * d->w + iw) acc += (double)dy[o];
                    }
                dx[nc * hw + ih * d->w + iw] = (T)acc;
            }
        }
    }
}

/* Direct conv2d kernels for one element type (see ref_instantiate.h). Each
 * output element is one double accumulator over its whole receptive field,
 * so the result does not depend on loop order or thread count. */

static void SFX(conv_fwd)(void *yv, const void *xv, const void *wv, const void *bv,
                          const ref_conv_dims *d) {
    T *y = yv;
    const T *x = xv, *w = wv, *b = bv;
    const int64_t cg = d->c / d->groups, og = d->o / d->groups, ksz = (int64_t)d->kh * d->kw;
    for (int64_t n = 0; n < d->n; n++) {
        for (int64_t o = 0; o < d->o; o++) {
            const int64_t g = o / og;
            const T *wo = w + o * cg * ksz;
            T *yo = y + (n * d->o + o) * d->ho * d->wo;
            for (int64_t oh = 0; oh < d->ho; oh++) {
                for (int64_t ow = 0; ow < d->wo; ow++) {
                    double acc = b ? (double)b[o] : 0.0;
                    for (int64_t ci = 0; ci < cg; ci++) {
                        const T *xc = x + (n * d->c + g * cg + ci) * d->h * d->w;
                        const T *wc = wo + ci * ksz;
                        for (int i = 0; i < d->kh; i++) {
                            int64_t ih = oh * d->sh - d->ph + (int64_t)i * d->dh;
                            if (ih < 0 || ih >= d->h) continue;
                            for (int j = 0; j < d->kw; j++) {
                                int64_t iw = ow * d->sw - d->pw + (int64_t)j * d->dw;
                                if (iw < 0 || iw >= d->w) continue;
                                acc += (double)xc[ih * d->w + iw] * (double)wc[i * d->kw + j];
                            }
                        }
                    }
                    if (d->act == SSD_ACT_RELU || d->act == SSD_ACT_RELU6) acc = acc > 0 ? acc : 0;
                    if (d->act == SSD_ACT_RELU6 && acc > 6) acc = 6;
                    yo[oh * d->wo + ow] = (T)acc;
                }
            }
        }
    }
}

/* Gathers, for each input pixel, the outputs whose window covered it. */
static void SFX(conv_bwd_data)(void *dxv, const void *dyv, const void *wv, const ref_conv_dims *d) {
    T *dx = dxv;
    const T *dy = dyv, *w = wv;
    const int64_t cg = d->c / d->groups, og = d->o / d->groups, ksz = (int64_t)d->kh * d->kw;
    for (int64_t n = 0; n < d->n; n++) {
        for (int64_t c = 0; c < d->c; c++) {
            const int64_t g = c / cg, ci = c % cg;
            T *dxc = dx + (n * d->c + c) * d->h * d->w;
            for (int64_t ih = 0; ih < d->h; ih++) {
                for (int64_t iw = 0; iw < d->w; iw++) {
                    double acc = 0.0;
                    for (int64_t o = g * og; o < (g + 1) * og; o++) {
                        const T *dyo = dy + (n * d->o + o) * d->ho * d->wo;
                        const T *wc = w + (o * cg + ci) * ksz;
                        for (int i = 0; i < d->kh; i++) {
                            int64_t th = ih + d->ph - (int64_t)i * d->dh;
                            if (th < 0 || th % d->sh) continue;
                            int64_t oh = th / d->sh;
                            if (oh >= d->ho) continue;
                            for (int j = 0; j < d->kw; j++) {
                                int64_t tw = iw + d->pw - (int64_t)j * d->dw;
                                if (tw < 0 || tw % d->sw) continue;
                                int64_t ow = tw / d->sw;
                                if (ow >= d->wo) continue;
                                acc += (double)dyo[oh * d->wo + ow] * (double)wc[i * d->kw + j];
                            }
                        }
                    }
                    dxc[ih * d->w + iw] = (T)acc;
                }
            }
        }
    }
}

static void SFX(conv_bwd_weights)(void *dwv, void *dbv, const void *dyv, const void *xv,
                                  const ref_conv_dims *d) {
    T *dw = dwv, *db = dbv;
    const T *dy = dyv, *x = xv;
    const int64_t cg = d->c / d->groups, og = d->o / d->groups;
    for (int64_t o = 0; o < d->o; o++) {
        const int64_t g = o / og;
        for (int64_t ci = 0; ci < cg; ci++) {
            for (int i = 0; i < d->kh; i++) {
                for (int j = 0; j < d->kw; j++) {
                    double acc = 0.0;
                    for (int64_t n = 0; n < d->n; n++) {
                        const T *dyo = dy + (n * d->o + o) * d->ho * d->wo;
                        const T *xc = x + (n * d->c + g * cg + ci) * d->h * d->w;
                        for (int64_t oh = 0; oh < d->ho; oh++) {
                            int64_t ih = oh * d->sh - d->ph + (int64_t)i * d->dh;
                            if (ih < 0 || ih >= d->h) continue;
                            for (int64_t ow = 0; ow < d->wo; ow++) {
                                int64_t iw = ow * d->sw - d->pw + (int64_t)j * d->dw;
                                if (iw < 0 || iw >= d->w) continue;
                                acc += (double)dyo[oh * d->wo + ow] * (double)xc[ih * d->w + iw];
                            }
                        }
                    }
                    dw[((o * cg + ci) * d->kh + i) * d->kw + j] = (T)acc;
                }
            }
        }
        if (db) {
            double acc = 0.0;
            for (int64_t n = 0; n < d->n; n++) {
                const T *dyo = dy + (n * d->o + o) * d->ho * d->wo;
                for (int64_t k = 0; k < d->ho * d->wo; k++) acc += (double)dyo[k];
            }
            db[o] = (T)acc;
        }
    }
}

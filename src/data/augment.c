#include "data/augment_internal.h"

#include "core/mem.h"

#include <math.h>
#include <string.h>

/* ---- random parameters ------------------------------------------------------------------- */

void ssd_augment_identity(ssd_augment_params *p, int w, int h) {
    memset(p, 0, sizeof *p);
    p->perm[0] = 0, p->perm[1] = 1, p->perm[2] = 2;
    p->canvas_w = w, p->canvas_h = h;
    p->crop_x1 = w, p->crop_y1 = h;
    p->u8_resize = true;
}

static bool coin(ssd_rng *r) {
    return ssd_rng_u32(r) >> 31;
}

static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};

static void draw_photometric(ssd_augment_params *p, ssd_rng *r) {
    p->photometric = true;
    p->brightness = coin(r);
    if (p->brightness) p->brightness_delta = (float)ssd_rng_range(r, -32.0, 32.0);
    p->contrast_first = coin(r);
    p->contrast = coin(r);
    if (p->contrast) p->contrast_alpha = (float)ssd_rng_range(r, 0.5, 1.5);
    p->saturation = coin(r);
    if (p->saturation) p->saturation_factor = (float)ssd_rng_range(r, 0.5, 1.5);
    p->hue = coin(r);
    if (p->hue) p->hue_delta = (float)ssd_rng_range(r, -18.0, 18.0);
    p->lighting = coin(r);
    if (p->lighting) memcpy(p->perm, perms[ssd_rng_int(r, 0, 6)], sizeof p->perm);
}

static void draw_expand(ssd_augment_params *p, ssd_rng *r, int w, int h) {
    if (!coin(r)) return;
    double ratio = ssd_rng_range(r, 1.0, 4.0);
    double left = ssd_rng_range(r, 0.0, w * ratio - w);
    double top = ssd_rng_range(r, 0.0, h * ratio - h);
    p->canvas_w = (int)(w * ratio);
    p->canvas_h = (int)(h * ratio);
    p->offset_x = (int)left;
    p->offset_y = (int)top;
}

/* IoU of a float box with an integer rect, in double as numpy computes jaccard_numpy there. */
static double jaccard(const float *b, const int *rect) {
    double ix = fmin(b[2], rect[2]) - fmax(b[0], rect[0]);
    double iy = fmin(b[3], rect[3]) - fmax(b[1], rect[1]);
    double inter = (ix > 0 ? ix : 0) * (iy > 0 ? iy : 0);
    double area_a = ((double)b[2] - b[0]) * ((double)b[3] - b[1]);
    double area_b = (double)(rect[2] - rect[0]) * (rect[3] - rect[1]);
    return inter / (area_a + area_b - inter);
}

static void canvas_box(const ssd_augment_params *p, const float *b, float *o) {
    o[0] = b[0] + (float)p->offset_x;
    o[1] = b[1] + (float)p->offset_y;
    o[2] = b[2] + (float)p->offset_x;
    o[3] = b[3] + (float)p->offset_y;
}

static bool centre_inside(const float *b, const int *rect) {
    float cx = (b[0] + b[2]) / 2.0f, cy = (b[1] + b[3]) / 2.0f;
    return rect[0] < cx && rect[1] < cy && cx < rect[2] && cy < rect[3];
}

/* The reference loops `while True` over modes; each round ends with probability >= 1/6 (mode
 * None), so this bound is never reached in practice and only guards against a broken RNG. */
#define CROP_MAX_MODES 1000

static void draw_crop(ssd_augment_params *p, ssd_rng *r, const float *boxes, int n) {
    /* Without boxes the reference fails on overlap.min() of an empty array; since no box can
     * satisfy the centre rule, the only possible outcome is the uncropped image. */
    if (n <= 0) return;
    /* Modes 1..5: min IoU 0.1, 0.3, 0.7, 0.9 and (None, None), whose None is -inf. */
    static const double min_ious[6] = {0, 0.1, 0.3, 0.7, 0.9, -INFINITY};
    const int W = p->canvas_w, H = p->canvas_h;
    for (int round = 0; round < CROP_MAX_MODES; round++) {
        int mode = (int)ssd_rng_int(r, 0, 6);
        if (mode == 0) return; /* None: keep the whole image */
        double min_iou = min_ious[mode], max_iou = INFINITY;
        for (int trial = 0; trial < 50; trial++) {
            double w = ssd_rng_range(r, 0.3 * W, W);
            double h = ssd_rng_range(r, 0.3 * H, H);
            if (h / w < 0.5 || h / w > 2) continue;
            /* The reference calls numpy's uniform(width - w) with one argument, which is
             * uniform(low=width - w, high=1.0): the offset lies between width - w and 1, not in
             * [0, width - w). Reproduced as is. */
            double lx = W - w, ly = H - h;
            double left = lx + (1.0 - lx) * ssd_rng_uniform(r);
            double top = ly + (1.0 - ly) * ssd_rng_uniform(r);
            int rect[4] = {(int)left, (int)top, (int)(left + w), (int)(top + h)};
            double omin = INFINITY, omax = -INFINITY;
            bool any = false;
            for (int i = 0; i < n; i++) {
                float b[4];
                canvas_box(p, boxes + 4 * i, b);
                double o = jaccard(b, rect);
                omin = fmin(omin, o), omax = fmax(omax, o);
                any = any || centre_inside(b, rect);
            }
            /* The reference's test `overlap.min() < min_iou and max_iou < overlap.max()`: max_iou
             * is +inf in every mode, so it never rejects and the modes 0.1 .. 0.9 and
             * (None, None) all behave alike. Kept verbatim. */
            if (omin < min_iou && max_iou < omax) continue;
            if (!any) continue;
            p->crop = true;
            p->crop_x0 = rect[0], p->crop_y0 = rect[1];
            p->crop_x1 = rect[2], p->crop_y1 = rect[3];
            return;
        }
    }
}

void ssd_augment_draw(ssd_augment_params *p, ssd_rng *r, int w, int h, const float *boxes, int n) {
    ssd_augment_identity(p, w, h);
    p->u8_resize = false;
    draw_photometric(p, r);
    draw_expand(p, r, w, h);
    p->crop_x1 = p->canvas_w, p->crop_y1 = p->canvas_h;
    draw_crop(p, r, boxes, n);
    p->mirror = coin(r);
}

int ssd_augment_boxes(const ssd_augment_params *p, const float *boxes, const int64_t *labels, int n,
                      float *out_boxes, int64_t *out_labels) {
    const int rect[4] = {p->crop_x0, p->crop_y0, p->crop_x1, p->crop_y1};
    const float cw = (float)(rect[2] - rect[0]), ch = (float)(rect[3] - rect[1]);
    int m = 0;
    for (int i = 0; i < n; i++) {
        float b[4];
        canvas_box(p, boxes + 4 * i, b);
        if (p->crop) {
            if (!centre_inside(b, rect)) continue;
            b[0] = fmaxf(b[0], (float)rect[0]) - (float)rect[0];
            b[1] = fmaxf(b[1], (float)rect[1]) - (float)rect[1];
            b[2] = fminf(b[2], (float)rect[2]) - (float)rect[0];
            b[3] = fminf(b[3], (float)rect[3]) - (float)rect[1];
        }
        if (p->mirror) {
            float x1 = cw - b[2], x2 = cw - b[0];
            b[0] = x1, b[2] = x2;
        }
        float *o = out_boxes + 4 * m;
        o[0] = b[0] / cw, o[1] = b[1] / ch, o[2] = b[2] / cw, o[3] = b[3] / ch;
        if (labels && out_labels) out_labels[m] = labels[i];
        m++;
    }
    return m;
}

/* ---- rendering --------------------------------------------------------------------------- */

void ssd_augment_scratch_free(ssd_augment_scratch *s) {
    if (!s) return;
    ssd_free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

/* cv2 INTER_LINEAR taps for n_src -> n_dst, with cv2's own expressions (scale as 1 / (dst/src),
 * the position rounded to float before the floor) so that they agree bit for bit. cv2 treats
 * the axes differently at the borders: horizontally it clamps the position (weights 1, 0);
 * vertically it only clamps the row indices and keeps the weights, so the two taps may read the
 * same row with weights (1 - f, f). */
static void linear_taps(int n_src, int n_dst, bool clamp_weights, int *i0, int *i1, float *w0,
                        float *w1, int *iw0, int *iw1) {
    double inv_scale = (double)n_dst / n_src;
    double scale = 1. / inv_scale;
    for (int d = 0; d < n_dst; d++) {
        float f = (float)((d + 0.5) * scale - 0.5);
        int s = (int)floorf(f);
        f -= (float)s;
        int s1 = s + 1;
        if (clamp_weights) {
            if (s < 0) f = 0, s = 0;
            if (s >= n_src - 1) f = 0, s = n_src - 1;
            s1 = s + 1 < n_src ? s + 1 : s;
        } else {
            s = s < 0 ? 0 : (s > n_src - 1 ? n_src - 1 : s);
            s1 = s1 < 0 ? 0 : (s1 > n_src - 1 ? n_src - 1 : s1);
        }
        i0[d] = s;
        i1[d] = s1;
        w0[d] = 1.f - f;
        w1[d] = f;
        /* The uint8 path's 11-bit weights, saturate_cast<short>(w * 2048): round half even. */
        iw0[d] = (int)lrintf(w0[d] * 2048.f);
        iw1[d] = (int)lrintf(w1[d] * 2048.f);
    }
}

/* Rows are kept as three channel planes, padded to whole vectors; the uint8 path stores int32
 * in the same buffers (4 bytes either way). */
typedef union {
    float f;
    int32_t i;
} cell;

typedef struct {
    int *x0, *x1, *y0, *y1;     /* (S) compact column indices / virtual rows */
    float *a0, *a1, *b0, *b1;   /* (S) float weights */
    int *ia0, *ia1, *ib0, *ib1; /* (S) fixed-point weights (uint8 path) */
    int *col_src;               /* (ncols) image column of each compact column, -1 = Expand fill */
    int *vmap;                  /* (cw) virtual column -> compact index, -1 = unused */
    int *fill;                  /* (nfill) compact columns that are Expand fill */
    int nfill;
    cell *src[3];     /* (ncols padded) one source row per channel, after photometric */
    cell *hrow[2][3]; /* (S padded) horizontally resized rows, per channel */
} render_bufs;

static size_t pad(size_t n) {
    return (n + SSD_AUG_VL - 1) / SSD_AUG_VL * SSD_AUG_VL;
}

static ssd_status carve(ssd_augment_scratch *s, render_bufs *rb, int S, int cw) {
    /* Every compact column is one of the 2S taps, and there are at most cw. */
    size_t ncols_max = (size_t)(cw < 2 * S ? cw : 2 * S);
    size_t pc = pad(ncols_max), ps = pad((size_t)S);
    size_t words = 3 * pc + 6 * ps + (size_t)16 * S + 2 * ncols_max + (size_t)cw;
    size_t need = words * 4 + 64;
    if (need > s->cap) {
        void *nb = ssd_malloc(need);
        if (!nb) return SSD_E_NOMEM;
        ssd_free(s->buf);
        s->buf = nb;
        s->cap = need;
    }
    cell *c = (cell *)s->buf;
    for (int k = 0; k < 3; k++) rb->src[k] = c, c += pc;
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 3; k++) rb->hrow[t][k] = c, c += ps;
    float *f = (float *)c;
    rb->a0 = f, f += S;
    rb->a1 = f, f += S;
    rb->b0 = f, f += S;
    rb->b1 = f, f += S;
    int *i = (int *)f;
    rb->ia0 = i, i += S;
    rb->ia1 = i, i += S;
    rb->ib0 = i, i += S;
    rb->ib1 = i, i += S;
    rb->x0 = i, i += S;
    rb->x1 = i, i += S;
    rb->y0 = i, i += S;
    rb->y1 = i, i += S;
    rb->col_src = i, i += ncols_max;
    rb->fill = i, i += ncols_max;
    rb->vmap = i;
    return SSD_OK;
}

/* One virtual row (of the cropped, mirrored canvas) through the photometric step and the
 * horizontal half of the resize. The photometric step runs on the row's source pixels; the
 * Expand fill is put in afterwards, as the reference fills its canvas after the distortion. */
static void render_row_f32(const ssd_augment_params *p, const ssd_image *img,
                           const ssd_transform_cfg *cfg, const render_bufs *rb, int ncols, int S,
                           int vy, cell *const out[3]) {
    const int oy = p->crop_y0 + vy - p->offset_y;
    const uint8_t *row = oy >= 0 && oy < img->h ? img->px + (size_t)oy * img->w * 3 : NULL;
    float *R = &rb->src[0][0].f, *G = &rb->src[1][0].f, *B = &rb->src[2][0].f;
    float *P[3] = {R, G, B};
    if (row) {
        for (int k = 0; k < ncols; k++) {
            int ox = rb->col_src[k];
            const uint8_t *px = row + 3 * (ox < 0 ? 0 : ox);
            R[k] = px[0], G[k] = px[1], B[k] = px[2];
        }
        if (p->photometric) {
            int n = (int)pad((size_t)ncols);
            for (int k = ncols; k < n; k++) R[k] = G[k] = B[k] = 0.f;
            ssd_augment_photometric_planes(p, R, G, B, n);
            if (p->lighting)
                for (int c = 0; c < 3; c++) P[c] = &rb->src[p->perm[c]][0].f;
        }
    }
    for (int c = 0; c < 3; c++) {
        float *sp = P[c];
        const float m = cfg->mean[c];
        if (!row) {
            for (int k = 0; k < ncols; k++) sp[k] = m;
        } else {
            for (int j = 0; j < rb->nfill; j++) sp[rb->fill[j]] = m;
        }
        float *h = &out[c][0].f;
        for (int d = 0; d < S; d++) h[d] = sp[rb->x0[d]] * rb->a0[d] + sp[rb->x1[d]] * rb->a1[d];
    }
}

/* The uint8 resize of the test transform: cv2's fixed point, exact integer sums. */
static void render_row_u8(const ssd_augment_params *p, const ssd_image *img,
                          const ssd_transform_cfg *cfg, const render_bufs *rb, int ncols, int S,
                          int vy, cell *const out[3]) {
    const int oy = p->crop_y0 + vy - p->offset_y;
    const uint8_t *row = oy >= 0 && oy < img->h ? img->px + (size_t)oy * img->w * 3 : NULL;
    for (int c = 0; c < 3; c++) {
        long fv = lrintf(cfg->mean[c]);
        int32_t fill = fv < 0 ? 0 : (fv > 255 ? 255 : (int32_t)fv);
        int32_t *sp = &rb->src[c][0].i;
        for (int k = 0; k < ncols; k++) {
            int ox = rb->col_src[k];
            sp[k] = row && ox >= 0 ? row[3 * ox + c] : fill;
        }
        int32_t *h = &out[c][0].i;
        for (int d = 0; d < S; d++) h[d] = sp[rb->x0[d]] * rb->ia0[d] + sp[rb->x1[d]] * rb->ia1[d];
    }
}

/* cv2's vertical uint8 pass (its vector form, which covers whole rows): each product is taken
 * on the sum shifted down by 4, keeps its high 16 bits, and the total is rounded by 2 bits. */
static void vresize_u8(float *o, const int32_t *s0, const int32_t *s1, int32_t b0, int32_t b1,
                       float m, float sd, int S) {
    for (int d = 0; d < S; d++) {
        int32_t v = ((((s0[d] >> 4) * b0) >> 16) + (((s1[d] >> 4) * b1) >> 16) + 2) >> 2;
        float x = (float)(v < 0 ? 0 : (v > 255 ? 255 : v));
        o[d] = (x - m) / sd;
    }
}

typedef float vf __attribute__((vector_size(4 * SSD_AUG_VL)));

/* The vertical float pass fused with SubtractMeans, / std and the CHW store. */
static void vresize_f32(float *o, const float *s0, const float *s1, float b0, float b1, float m,
                        float sd, int S) {
    int d = 0;
    for (; d + SSD_AUG_VL <= S; d += SSD_AUG_VL) {
        vf x0, x1;
        memcpy(&x0, s0 + d, sizeof x0);
        memcpy(&x1, s1 + d, sizeof x1);
        vf v = (x0 * b0 + x1 * b1 - m) / sd;
        memcpy(o + d, &v, sizeof v);
    }
    for (; d < S; d++) o[d] = (s0[d] * b0 + s1[d] * b1 - m) / sd;
}

ssd_status ssd_augment_render(const ssd_augment_params *p, const ssd_image *img,
                              const ssd_transform_cfg *cfg, float *out, ssd_augment_scratch *s) {
    const int S = cfg->size;
    const int cw = p->crop_x1 - p->crop_x0, ch = p->crop_y1 - p->crop_y0;
    if (!img || !img->px || img->c != 3 || img->w < 1 || img->h < 1)
        return ssd_error_set(SSD_E_INVAL, "augment: expected a non-empty 3-channel image");
    if (S < 1 || !(cfg->std != 0.f))
        return ssd_error_set(SSD_E_INVAL, "augment: bad output size %d or std %g", S,
                             (double)cfg->std);
    if (p->u8_resize && p->photometric)
        return ssd_error_set(SSD_E_INVAL, "augment: the uint8 resize takes no photometric step");
    if (cw < 1 || ch < 1 || p->crop_x0 < 0 || p->crop_y0 < 0 || p->crop_x1 > p->canvas_w ||
        p->crop_y1 > p->canvas_h || p->offset_x < 0 || p->offset_y < 0 ||
        p->offset_x + img->w > p->canvas_w || p->offset_y + img->h > p->canvas_h)
        return ssd_error_set(SSD_E_INVAL,
                             "augment: crop %d,%d-%d,%d / offset %d,%d do not fit a %dx%d canvas "
                             "for a %dx%d image",
                             p->crop_x0, p->crop_y0, p->crop_x1, p->crop_y1, p->offset_x,
                             p->offset_y, p->canvas_w, p->canvas_h, img->w, img->h);
    render_bufs rb;
    SSD_TRY(carve(s, &rb, S, cw));

    /* Columns: taps in virtual coordinates, then the distinct ones compacted in order. */
    linear_taps(cw, S, true, rb.x0, rb.x1, rb.a0, rb.a1, rb.ia0, rb.ia1);
    linear_taps(ch, S, false, rb.y0, rb.y1, rb.b0, rb.b1, rb.ib0, rb.ib1);
    for (int x = 0; x < cw; x++) rb.vmap[x] = -1;
    for (int d = 0; d < S; d++) rb.vmap[rb.x0[d]] = rb.vmap[rb.x1[d]] = 0;
    int ncols = 0;
    rb.nfill = 0;
    for (int x = 0; x < cw; x++) {
        if (rb.vmap[x] < 0) continue;
        int cx = p->crop_x0 + (p->mirror ? cw - 1 - x : x);
        int ox = cx - p->offset_x;
        rb.col_src[ncols] = ox >= 0 && ox < img->w ? ox : -1;
        if (rb.col_src[ncols] < 0) rb.fill[rb.nfill++] = ncols;
        rb.vmap[x] = ncols++;
    }
    for (int d = 0; d < S; d++) rb.x0[d] = rb.vmap[rb.x0[d]], rb.x1[d] = rb.vmap[rb.x1[d]];

    const size_t plane = (size_t)S * S;
    const float sd = cfg->std;
    int cached[2] = {-1, -1};
    for (int dy = 0; dy < S; dy++) {
        const int want[2] = {rb.y0[dy], rb.y1[dy]};
        int slot[2];
        for (int t = 0; t < 2; t++) {
            if (cached[0] == want[t]) {
                slot[t] = 0;
            } else if (cached[1] == want[t]) {
                slot[t] = 1;
            } else {
                /* Overwrite the slot that the other tap of this output row does not need. */
                slot[t] = t == 0 ? (cached[0] == want[1] ? 1 : 0) : 1 - slot[0];
                if (p->u8_resize)
                    render_row_u8(p, img, cfg, &rb, ncols, S, want[t], rb.hrow[slot[t]]);
                else
                    render_row_f32(p, img, cfg, &rb, ncols, S, want[t], rb.hrow[slot[t]]);
                cached[slot[t]] = want[t];
            }
        }
        for (int c = 0; c < 3; c++) {
            float *o = out + c * plane + (size_t)dy * S;
            const cell *h0 = rb.hrow[slot[0]][c], *h1 = rb.hrow[slot[1]][c];
            if (p->u8_resize)
                vresize_u8(o, &h0[0].i, &h1[0].i, rb.ib0[dy], rb.ib1[dy], cfg->mean[c], sd, S);
            else
                vresize_f32(o, &h0[0].f, &h1[0].f, rb.b0[dy], rb.b1[dy], cfg->mean[c], sd, S);
        }
    }
    return SSD_OK;
}

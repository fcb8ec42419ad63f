/* PhotometricDistort: cv2's float32 RGB<->HSV and the reference's brightness, contrast,
 * saturation, hue and channel-swap steps. A scalar path (the public per-pixel functions) and a
 * vector path over rows (the renderer), with the same operations in the same order so that they
 * give the same bits. */
#include "data/augment_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- scalar ------------------------------------------------------------------------------ */

/* cv2's RGB2HSV_f: no clamping, |max| in the saturation's denominator, FLT_EPSILON guards. */
static inline void rgb2hsv(float r, float g, float b, float *h, float *s, float *v) {
    float mx = r, mn = r;
    if (mx < g) mx = g;
    if (mx < b) mx = b;
    if (mn > g) mn = g;
    if (mn > b) mn = b;
    float diff = mx - mn;
    float k = 60.f / (diff + FLT_EPSILON);
    float hh;
    if (mx == r)
        hh = (g - b) * k;
    else if (mx == g)
        hh = (b - r) * k + 120.f;
    else
        hh = (r - g) * k + 240.f;
    if (hh < 0.f) hh += 360.f;
    *h = hh;
    *s = diff / (fabsf(mx) + FLT_EPSILON);
    *v = mx;
}

/* cv2's HSV2RGB_f (its vector path: sector from the truncated H/60, no special case for S == 0,
 * which gives the same numbers). */
static inline void hsv2rgb(float h, float s, float v, float *r, float *g, float *b) {
    float hh = h * (6.f / 360.f);
    float pre = floorf(hh);
    float f = hh - pre;
    int sector = (int)pre % 6;
    if (sector < 0) sector += 6;
    float t0 = v;
    float t1 = v * (1.f - s);
    float t2 = v * (1.f - s * f);
    float t3 = v * (1.f - s * (1.f - f));
    switch (sector) {
    case 0:
        *r = t0, *g = t3, *b = t1;
        break;
    case 1:
        *r = t2, *g = t0, *b = t1;
        break;
    case 2:
        *r = t1, *g = t0, *b = t3;
        break;
    case 3:
        *r = t1, *g = t2, *b = t0;
        break;
    case 4:
        *r = t3, *g = t1, *b = t0;
        break;
    default:
        *r = t0, *g = t1, *b = t2;
        break;
    }
}

void ssd_rgb_to_hsv_f32(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float h, s, v;
        rgb2hsv(src[3 * i], src[3 * i + 1], src[3 * i + 2], &h, &s, &v);
        dst[3 * i] = h, dst[3 * i + 1] = s, dst[3 * i + 2] = v;
    }
}

void ssd_hsv_to_rgb_f32(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float r, g, b;
        hsv2rgb(src[3 * i], src[3 * i + 1], src[3 * i + 2], &r, &g, &b);
        dst[3 * i] = r, dst[3 * i + 1] = g, dst[3 * i + 2] = b;
    }
}

/* Every step in float32, as numpy does it in place with Python-float scalars. The HSV round trip
 * always happens (even when neither saturation nor hue fires): it is not the identity for pixels
 * that brightness pushed below zero. */
void ssd_augment_photometric(const ssd_augment_params *p, const float in[3], float out[3]) {
    float r = in[0], g = in[1], b = in[2];
    if (!p->photometric) {
        out[0] = r, out[1] = g, out[2] = b;
        return;
    }
    if (p->brightness) {
        float d = p->brightness_delta;
        r += d, g += d, b += d;
    }
    if (p->contrast && p->contrast_first) {
        float a = p->contrast_alpha;
        r *= a, g *= a, b *= a;
    }
    float h, s, v;
    rgb2hsv(r, g, b, &h, &s, &v);
    if (p->saturation) s *= p->saturation_factor;
    if (p->hue) {
        h += p->hue_delta;
        if (h > 360.f) h -= 360.f;
        if (h < 0.f) h += 360.f;
    }
    hsv2rgb(h, s, v, &r, &g, &b);
    if (p->contrast && !p->contrast_first) {
        float a = p->contrast_alpha;
        r *= a, g *= a, b *= a;
    }
    float t[3] = {r, g, b};
    if (p->lighting) {
        out[0] = t[p->perm[0]], out[1] = t[p->perm[1]], out[2] = t[p->perm[2]];
    } else {
        out[0] = r, out[1] = g, out[2] = b;
    }
}

/* ---- vector ------------------------------------------------------------------------------ */

/* GCC/Clang vector extensions (SSE, AVX or NEON, whatever the target has); comparisons give
 * all-ones lanes, so selects are bit masks and every lane runs the scalar formulas above. */
typedef float vf __attribute__((vector_size(4 * SSD_AUG_VL)));
typedef int32_t vi __attribute__((vector_size(4 * SSD_AUG_VL)));

static inline vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, vf v) {
    memcpy(p, &v, sizeof v);
}

static inline vf vsel(vi m, vf a, vf b) {
    return (vf)((m & (vi)a) | (~m & (vi)b));
}

static inline vf vabs(vf x) {
    return (vf)((vi)x & 0x7fffffff);
}

/* One block of SSD_AUG_VL pixels, in place. h < 0 never reaches the backward conversion (the
 * forward one and the hue wrap keep H in [0, 360]), so truncation is the floor there. */
static inline void block(const ssd_augment_params *p, float *pr, float *pg, float *pb) {
    vf r = vload(pr), g = vload(pg), b = vload(pb);
    if (p->brightness) {
        float d = p->brightness_delta;
        r += d, g += d, b += d;
    }
    if (p->contrast && p->contrast_first) {
        float a = p->contrast_alpha;
        r *= a, g *= a, b *= a;
    }
    vf mx = vsel(r < g, g, r);
    mx = vsel(mx < b, b, mx);
    vf mn = vsel(r > g, g, r);
    mn = vsel(mn > b, b, mn);
    vf diff = mx - mn;
    vf k = 60.f / (diff + FLT_EPSILON);
    vf h = vsel(mx == r, (g - b) * k, vsel(mx == g, (b - r) * k + 120.f, (r - g) * k + 240.f));
    h = vsel(h < 0.f, h + 360.f, h);
    vf s = diff / (vabs(mx) + FLT_EPSILON);
    vf v = mx;
    if (p->saturation) s *= p->saturation_factor;
    if (p->hue) {
        h += p->hue_delta;
        h = vsel(h > 360.f, h - 360.f, h);
        h = vsel(h < 0.f, h + 360.f, h);
    }
    vf hh = h * (6.f / 360.f);
    vi pre = __builtin_convertvector(hh, vi);
    vf f = hh - __builtin_convertvector(pre, vf);
    vi sec = pre + ((pre >= 6) & -6);
    vf t0 = v, t1 = v * (1.f - s), t2 = v * (1.f - s * f), t3 = v * (1.f - s * (1.f - f));
    r = vsel((sec == 0) | (sec == 5), t0, vsel(sec == 1, t2, vsel(sec == 4, t3, t1)));
    g = vsel(sec == 0, t3, vsel((sec == 1) | (sec == 2), t0, vsel(sec == 3, t2, t1)));
    b = vsel((sec == 0) | (sec == 1), t1, vsel(sec == 2, t3, vsel(sec == 5, t2, t0)));
    if (p->contrast && !p->contrast_first) {
        float a = p->contrast_alpha;
        r *= a, g *= a, b *= a;
    }
    vstore(pr, r), vstore(pg, g), vstore(pb, b);
}

void ssd_augment_photometric_planes(const ssd_augment_params *p, float *r, float *g, float *b,
                                    int n) {
    for (int i = 0; i < n; i += SSD_AUG_VL) block(p, r + i, g + i, b + i);
}

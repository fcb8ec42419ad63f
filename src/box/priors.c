/* Prior boxes as box_utils.generate_ssd_priors builds them and the spec tables of the configs.
 *
 * The reference computes every value with Python floats (double) and converts the list to a
 * float32 tensor at the end, then clamps; doing the arithmetic in double and rounding once
 * reproduces it bit for bit. */
#include "box/box.h"

#include "core/mem.h"

#include <math.h>

static int priors_per_cell(const ssd_prior_spec *s) {
    return 2 + 2 * s->n_ratios;
}

int ssd_priors_count(const ssd_prior_spec *specs, int n_specs) {
    int k = 0;
    for (int i = 0; i < n_specs; i++)
        k += specs[i].feature_map_size * specs[i].feature_map_size * priors_per_cell(&specs[i]);
    return k;
}

static float clamp01(float v, bool clamp) {
    if (!clamp) return v;
    if (v < 0.0f) return 0.0f;
    if (v > 1.0f) return 1.0f;
    return v;
}

static float *put(float *p, double cx, double cy, double w, double h, bool clamp) {
    p[0] = clamp01((float)cx, clamp);
    p[1] = clamp01((float)cy, clamp);
    p[2] = clamp01((float)w, clamp);
    p[3] = clamp01((float)h, clamp);
    return p + 4;
}

ssd_status ssd_priors_generate(const ssd_prior_spec *specs, int n_specs, int image_size, bool clamp,
                               float **out, int *k) {
    *out = NULL;
    *k = 0;
    if (n_specs <= 0 || image_size <= 0)
        return ssd_error_set(SSD_E_INVAL, "priors: %d specs for image size %d", n_specs,
                             image_size);
    for (int i = 0; i < n_specs; i++) {
        const ssd_prior_spec *s = &specs[i];
        /* 4096^2 cells keep K far below INT_MAX. */
        if (s->feature_map_size <= 0 || s->feature_map_size > 4096 || !(s->shrinkage > 0) ||
            !(s->min_size > 0) || !(s->max_size > 0) || s->n_ratios < 0 || s->n_ratios > 4)
            return ssd_error_set(SSD_E_INVAL,
                                 "priors: spec %d is invalid (feature map %d, shrinkage %g, "
                                 "sizes %g/%g, %d ratios)",
                                 i, s->feature_map_size, (double)s->shrinkage, s->min_size,
                                 s->max_size, s->n_ratios);
        for (int r = 0; r < s->n_ratios; r++)
            if (s->aspect_ratios[r] <= 0)
                return ssd_error_set(SSD_E_INVAL, "priors: spec %d has aspect ratio %d", i,
                                     s->aspect_ratios[r]);
    }
    int n = ssd_priors_count(specs, n_specs);
    float *p = ssd_malloc((size_t)n * 4 * sizeof(float));
    if (!p) return SSD_E_NOMEM;
    float *w = p;
    for (int si = 0; si < n_specs; si++) {
        const ssd_prior_spec *s = &specs[si];
        double scale = (double)image_size / (double)s->shrinkage;
        double small = s->min_size / image_size;
        double big = sqrt(s->max_size * s->min_size) / image_size;
        for (int j = 0; j < s->feature_map_size; j++) {
            for (int i = 0; i < s->feature_map_size; i++) {
                double cx = (i + 0.5) / scale, cy = (j + 0.5) / scale;
                w = put(w, cx, cy, small, small, clamp);
                w = put(w, cx, cy, big, big, clamp);
                for (int r = 0; r < s->n_ratios; r++) {
                    double sr = sqrt((double)s->aspect_ratios[r]);
                    w = put(w, cx, cy, small * sr, small / sr, clamp);
                    w = put(w, cx, cy, small / sr, small * sr, clamp);
                }
            }
        }
    }
    *out = p;
    *k = n;
    return SSD_OK;
}

static void set_spec(ssd_prior_spec *s, int fm, float shrink, double min, double max, int nr) {
    s->feature_map_size = fm;
    s->shrinkage = shrink;
    s->min_size = min;
    s->max_size = max;
    s->n_ratios = nr;
    s->aspect_ratios[0] = 2;
    s->aspect_ratios[1] = 3;
    s->aspect_ratios[2] = 0;
    s->aspect_ratios[3] = 0;
}

/* set_image_size(size, min_ratio=20, max_ratio=90) of mobilenetv1_ssd_config over the real
 * feature maps: min_ratio 20, max_ratio 90 over 6 maps gives a step of floor(70 / 4) = 17; the
 * first map gets half of min_ratio. Python evaluates size * ratio / 100.0 with an exact integer
 * product. At 300 these sizes are vgg_ssd_config's table (30, 60, 111, ..., 315). */
static void derived(int image_size, const int feature_maps[6], const int n_ratios[6],
                    ssd_prior_spec out[6]) {
    const int min_ratio = 20, step = 17;
    for (int i = 0; i < 6; i++) {
        int fm = feature_maps[i];
        double lo, hi;
        if (i == 0) {
            lo = (double)image_size * 10.0 / 100.0;
            hi = (double)(image_size * min_ratio) / 100.0;
        } else {
            int r = min_ratio + (i - 1) * step;
            lo = (double)(image_size * r) / 100.0;
            hi = (double)(image_size * (r + step)) / 100.0;
        }
        int shrink = fm > 0 ? (image_size + fm - 1) / fm : 0; /* math.ceil(size / fm) */
        set_spec(&out[i], fm, (float)shrink, lo, hi, n_ratios[i]);
    }
}

static const int two_ratios[6] = {2, 2, 2, 2, 2, 2};

void ssd_priors_specs_mobilenetv1(int image_size, const int feature_maps[6],
                                  ssd_prior_spec out[6]) {
    if (image_size == 300) {
        /* set_image_size keeps the historical table at 300 even though its own formula would
         * give other sizes there. */
        static const int fm[6] = {19, 10, 5, 3, 2, 1};
        static const float shrink[6] = {16, 32, 64, 100, 150, 300};
        for (int i = 0; i < 6; i++)
            set_spec(&out[i], fm[i], shrink[i], 60 + 45 * i, 105 + 45 * i, 2);
        return;
    }
    derived(image_size, feature_maps, two_ratios, out);
}

/* The reference honours --resolution for mb1-ssd only; the other families keep their 300
 * table at 300 and otherwise take set_image_size's formula over the real feature maps with
 * the table's aspect ratios, as mb1-ssd does. */
void ssd_priors_specs_vgg(int image_size, const int feature_maps[6], ssd_prior_spec out[6]) {
    static const int nr[6] = {1, 2, 2, 2, 1, 1};
    if (image_size != 300) {
        derived(image_size, feature_maps, nr, out);
        return;
    }
    static const int fm[6] = {38, 19, 10, 5, 3, 1};
    static const float shrink[6] = {8, 16, 32, 64, 100, 300};
    for (int i = 0; i < 6; i++) {
        double lo = i == 0 ? 30 : 60 + 51 * (i - 1);
        set_spec(&out[i], fm[i], shrink[i], lo, i == 0 ? 60 : lo + 51, nr[i]);
    }
}

void ssd_priors_specs_squeezenet(int image_size, const int feature_maps[6], ssd_prior_spec out[6]) {
    if (image_size != 300) {
        derived(image_size, feature_maps, two_ratios, out);
        return;
    }
    ssd_priors_specs_mobilenetv1(300, NULL, out);
    out[0].feature_map_size = 17;
}

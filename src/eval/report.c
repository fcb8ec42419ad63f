/* What evaluation writes: eval_ssd.py's result files and printed lines,
 * metrics.json. */
#include "eval/eval_internal.h"

#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/pyfmt.h"
#include "core/strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest decimal significand (as an integer and the exponent of its last digit) that
 * reads back to v, the closest to v of those: numpy's Dragon4 in unique mode. */
static void shortest_f32(float v, long long *mant, int *exp_last) {
    for (int p = 1; p <= 9; p++) {
        char tmp[48];
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, (double)v);
        long long m0 = 0;
        const char *q = tmp;
        for (; *q && *q != 'e'; q++)
            if (*q >= '0' && *q <= '9') m0 = m0 * 10 + (*q - '0');
        int e = atoi(q + 1) - (p - 1);
        /* The correctly rounded candidate is the closest; only when it misses (a power of
         * two) can a neighbour be the shortest. */
        static const int delta[3] = {0, -1, 1};
        bool found = false;
        for (int di = 0; di < 3 && !found; di++) {
            long long m = m0 + delta[di];
            if (m <= 0) continue;
            snprintf(tmp, sizeof tmp, "%llde%d", m, e);
            if (strtof(tmp, NULL) != fabsf(v)) continue;
            found = true;
            *mant = m;
            *exp_last = e;
        }
        if (found) return;
    }
    *mant = 0;
    *exp_last = 0;
}

char *ssd_np_float32_str(float v, char *buf, size_t n) {
    if (isnan(v) || isinf(v)) {
        snprintf(buf, n, "%s", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
        return buf;
    }
    char digits[24];
    int nd, exp10;
    if (v == 0) {
        digits[0] = '0';
        nd = 1;
        exp10 = 0;
    } else {
        long long m;
        int e;
        shortest_f32(v, &m, &e);
        nd = snprintf(digits, sizeof digits, "%lld", m);
        exp10 = e + nd - 1;
        while (nd > 1 && digits[nd - 1] == '0') nd--;
    }
    /* numpy chooses the layout by the value: scientific below 1e-4 and from 1e16 on. */
    double a = fabs((double)v);
    bool sci = a != 0 && (a < 1e-4 || a >= 1e16);
    char out[48];
    size_t o = 0;
    if (signbit(v)) out[o++] = '-';
    if (sci) {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+',
                              exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp10 - 1; i++) out[o++] = '0';
        for (int i = 0; i < nd; i++) out[o++] = digits[i];
    } else {
        for (int i = 0; i <= exp10; i++) out[o++] = i < nd ? digits[i] : '0';
        out[o++] = '.';
        if (nd > exp10 + 1)
            for (int i = exp10 + 1; i < nd; i++) out[o++] = digits[i];
        else
            out[o++] = '0';
    }
    out[o] = '\0';
    snprintf(buf, n, "%s", out);
    return buf;
}

ssd_status ssd_eval_acc_write_dets(const ssd_eval_acc *a, const ssd_dataset *ds, const char *dir) {
    SSD_TRY(ssd_mkdir_p(dir));
    ssd_status st = SSD_OK;
    char *line = NULL;
    size_t cap = 0;
    for (int c = 1; c < a->num_classes && st == SSD_OK; c++) {
        char name[512];
        const char *cname =
            ds && ds->class_names && c < ds->num_classes ? ds->class_names[c] : NULL;
        if (cname)
            snprintf(name, sizeof name, "det_test_%s.txt", cname);
        else
            snprintf(name, sizeof name, "det_test_class%d.txt", c);
        char *path = ssd_path_join(dir, name);
        if (!path) return SSD_E_NOMEM;
        ssd_afile f;
        st = ssd_afile_open(&f, path);
        ssd_free(path);
        if (st != SSD_OK) break;
        for (int64_t s = 0; s < a->nimg && st == SSD_OK; s++) {
            const acc_image *im = &a->img[s];
            const char *id = ds ? ds->ops->image_id(ds, im->image) : NULL;
            char idbuf[32];
            if (!id) {
                snprintf(idbuf, sizeof idbuf, "%lld", (long long)im->image);
                id = idbuf;
            }
            for (int j = 0; j < im->ndet; j++) {
                const ssd_detection *d = &a->det[im->det_off + j];
                if (d->label != c) continue;
                char v[5][32];
                ssd_np_float32_str(d->prob, v[0], sizeof v[0]);
                /* Matlab's 1-based pixels, as the reference writes them. */
                for (int k = 0; k < 4; k++) ssd_np_float32_str(d->box[k] + 1.0f, v[k + 1], 32);
                size_t need = strlen(id) + 5 * 33 + 2;
                if (need > cap) {
                    char *q = ssd_realloc(line, need);
                    if (!q) {
                        st = SSD_E_NOMEM;
                        break;
                    }
                    line = q;
                    cap = need;
                }
                int len = snprintf(line, cap, "%s\t%s\t%s\t%s\t%s\t%s\n", id, v[0], v[1], v[2],
                                   v[3], v[4]);
                st = ssd_afile_write(&f, line, (size_t)len);
            }
        }
        if (st == SSD_OK)
            st = ssd_afile_commit(&f);
        else
            ssd_afile_abort(&f);
    }
    ssd_free(line);
    return st;
}

static const char *coco_str(double v, char *buf, size_t n) {
    snprintf(buf, n, "%.3f", v);
    return buf;
}

void ssd_eval_log(const ssd_eval_results *r, const char *prefix) {
    if (!prefix) prefix = "";
    char b[64];
    ssd_info("%sAverage Precision Per-class:", prefix);
    for (int c = 1; c < r->num_classes; c++) {
        const ssd_eval_class *k = &r->classes[c];
        if (k->present)
            ssd_info("    %s: %s", k->name, ssd_pyfloat_repr(k->ap, b, sizeof b));
        else
            ssd_info("    %s: no ground truth objects in the test set; left out of the mean",
                     k->name);
    }
    if (r->num_present)
        ssd_info("%sMean Average Precision (mAP):  %s", prefix,
                 ssd_pyfloat_repr(r->map, b, sizeof b));
    else
        ssd_info("%sMean Average Precision (mAP):  nan (no class has ground truth objects)",
                 prefix);
    static const char *rows[6][2] = {{"0.50:0.95", "   all"}, {"0.50     ", "   all"},
                                     {"0.75     ", "   all"}, {"0.50:0.95", " small"},
                                     {"0.50:0.95", "medium"}, {"0.50:0.95", " large"}};
    const double vals[6] = {r->coco.ap,       r->coco.ap50,      r->coco.ap75,
                            r->coco.ap_small, r->coco.ap_medium, r->coco.ap_large};
    for (int i = 0; i < 6; i++)
        ssd_info("%s Average Precision  (AP) @[ IoU=%s | area=%s | maxDets=100 ] = %s", prefix,
                 rows[i][0], rows[i][1], coco_str(vals[i], b, sizeof b));
    char t[40];
    ssd_info("%sAt score >= %s (IoU > %s): precision %.4f, recall %.4f, F1 %.4f (TP %lld, FP "
             "%lld, objects %lld)",
             prefix, ssd_pyfloat_repr(r->params.score_threshold, t, sizeof t),
             ssd_pyfloat_repr(r->params.iou_threshold, b, sizeof b), r->precision, r->recall, r->f1,
             (long long)r->tp, (long long)r->fp, (long long)r->num_gt);
}

/* --- metrics.json -------------------------------------------------------------- */

/* A number, or null for NaN and for COCO's -1 (absent). */
static void put_num(ssd_strbuf *b, double v, bool minus_one_is_null) {
    char t[40];
    if (!isfinite(v) || (minus_one_is_null && v == -1))
        ssd_strbuf_printf(b, "null");
    else
        ssd_strbuf_printf(b, "%s", ssd_pyfloat_repr(v, t, sizeof t));
}

static void put_coco(ssd_strbuf *b, const ssd_coco_ap *c) {
    ssd_strbuf_printf(b, "{\"AP\": ");
    put_num(b, c->ap, true);
    ssd_strbuf_printf(b, ", \"AP50\": ");
    put_num(b, c->ap50, true);
    ssd_strbuf_printf(b, ", \"AP75\": ");
    put_num(b, c->ap75, true);
    ssd_strbuf_printf(b, ", \"AP_small\": ");
    put_num(b, c->ap_small, true);
    ssd_strbuf_printf(b, ", \"AP_medium\": ");
    put_num(b, c->ap_medium, true);
    ssd_strbuf_printf(b, ", \"AP_large\": ");
    put_num(b, c->ap_large, true);
    ssd_strbuf_printf(b, "}");
}

ssd_status ssd_eval_write_json(const ssd_eval_results *r, const char *path,
                               const char *const *meta) {
    ssd_strbuf b = {0};
    ssd_strbuf_printf(&b, "{\n");
    for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2) {
        ssd_strbuf_printf(&b, "  ");
        ssd_strbuf_json(&b, meta[i]);
        ssd_strbuf_printf(&b, ": ");
        ssd_strbuf_json(&b, meta[i + 1]);
        ssd_strbuf_printf(&b, ",\n");
    }
    ssd_strbuf_printf(&b, "  \"images\": %lld,\n  \"skipped_images\": %lld,\n",
                      (long long)r->images, (long long)r->skipped);
    ssd_strbuf_printf(&b, "  \"images_per_second\": ");
    put_num(&b, r->images_per_s, false);
    ssd_strbuf_printf(&b, ",\n  \"iou_threshold\": ");
    put_num(&b, r->params.iou_threshold, false);
    ssd_strbuf_printf(&b, ",\n  \"use_2007_metric\": %s,\n  \"score_threshold\": ",
                      r->params.use_2007_metric ? "true" : "false");
    put_num(&b, r->params.score_threshold, false);
    ssd_strbuf_printf(&b, ",\n  \"mAP\": ");
    put_num(&b, r->map, false);
    ssd_strbuf_printf(&b, ",\n  \"mAP_voc07\": ");
    put_num(&b, r->map_voc07, false);
    ssd_strbuf_printf(&b, ",\n  \"mAP_voc_area\": ");
    put_num(&b, r->map_voc_area, false);
    ssd_strbuf_printf(&b, ",\n  \"classes_in_mean\": %d,\n  \"coco\": ", r->num_present);
    put_coco(&b, &r->coco);
    ssd_strbuf_printf(&b, ",\n  \"precision\": ");
    put_num(&b, r->precision, false);
    ssd_strbuf_printf(&b, ",\n  \"recall\": ");
    put_num(&b, r->recall, false);
    ssd_strbuf_printf(&b, ",\n  \"f1\": ");
    put_num(&b, r->f1, false);
    ssd_strbuf_printf(&b,
                      ",\n  \"tp\": %lld,\n  \"fp\": %lld,\n  \"objects\": %lld,\n  \"classes\": [",
                      (long long)r->tp, (long long)r->fp, (long long)r->num_gt);
    for (int c = 1; c < r->num_classes; c++) {
        const ssd_eval_class *k = &r->classes[c];
        char png[300];
        ssd_eval_pr_filename(k->name, png, sizeof png);
        ssd_strbuf_printf(&b, "%s\n    {\"name\": ", c > 1 ? "," : "");
        ssd_strbuf_json(&b, k->name);
        ssd_strbuf_printf(
            &b, ", \"present\": %s, \"objects\": %lld, \"difficult\": %lld, \"detections\": %lld",
            k->present ? "true" : "false", (long long)k->num_gt, (long long)k->num_difficult,
            (long long)k->num_det);
        ssd_strbuf_printf(&b, ",\n     \"AP\": ");
        put_num(&b, k->ap, false);
        ssd_strbuf_printf(&b, ", \"AP_voc07\": ");
        put_num(&b, k->ap_voc07, false);
        ssd_strbuf_printf(&b, ", \"AP_voc_area\": ");
        put_num(&b, k->ap_voc_area, false);
        ssd_strbuf_printf(&b, ",\n     \"coco\": ");
        put_coco(&b, &k->coco);
        ssd_strbuf_printf(&b, ",\n     \"precision\": ");
        put_num(&b, k->precision, false);
        ssd_strbuf_printf(&b, ", \"recall\": ");
        put_num(&b, k->recall, false);
        ssd_strbuf_printf(&b, ", \"f1\": ");
        put_num(&b, k->f1, false);
        ssd_strbuf_printf(&b, ", \"tp\": %lld, \"fp\": %lld, \"best_f1\": ", (long long)k->tp,
                          (long long)k->fp);
        put_num(&b, k->best_f1, false);
        ssd_strbuf_printf(&b, ", \"best_f1_score_threshold\": ");
        put_num(&b, k->best_f1_threshold, false);
        ssd_strbuf_printf(&b, ", \"pr_curve\": ");
        ssd_strbuf_json(&b, png);
        ssd_strbuf_printf(&b, "}");
    }
    ssd_strbuf_printf(&b, "\n  ]\n}\n");
    ssd_status st = b.oom ? SSD_E_NOMEM : ssd_file_write_atomic(path, b.s, b.len);
    ssd_strbuf_free(&b);
    return st;
}

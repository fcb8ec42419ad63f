/* `ssd detect`: jetson-inference detectnet's options and printout over our
 * ONNX runtime (or a .pth), on still images. Differences, on purpose:
 * per-class NMS by default so results match `ssd eval` (--clustering gives
 * detectnet's merge-by-overlap), a decoded batch really runs as one batch,
 * detections can be written as JSON and CSV, an unreadable image is reported
 * and skipped (the exit status is 1 at the end), and an output that would
 * overwrite an input or where two inputs would land on the same file is
 * refused before anything runs. */
#include "cli/cli.h"

#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/progress.h"
#include "core/strbuf.h"
#include "core/threadpool.h"
#include "core/threads.h"
#include "data/augment.h"
#include "data/draw.h"
#include "data/image.h"
#include "data/image_list.h"
#include "runtime/detector.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char usage[] =
    "usage: ssd detect [options] INPUT [OUTPUT]\n"
    "\n"
    "Run an SSD detector on images and draw what it finds (jetson-inference's detectnet).\n"
    "INPUT is an image, a directory (its .jpg/.jpeg/.png/.bmp, sorted), a quoted glob\n"
    "(\"test/*.jpg\") or a .txt list (one path a line). OUTPUT, optional, is a file (one\n"
    "input), a directory (the inputs' names) or a pattern with %i (out_%04i.jpg: the input's\n"
    "number from 0); .jpg or .png.\n"
    "\n"
    "  --model FILE          .onnx (ssd export), or a .pth checkpoint with --labels\n"
    "  --labels FILE         class names, one a line (BACKGROUND first; blank lines skipped);\n"
    "                        default: the ONNX metadata's\n"
    "  --net NET             network of a .pth: mb1-ssd (= ssd-mobilenet), mb1-ssd-lite,\n"
    "                        mb2-ssd-lite, sq-ssd-lite, vgg16-ssd, mb3-large-ssd-lite,\n"
    "                        mb3-small-ssd-lite (default mb1-ssd)\n"
    "  --resolution N        input size of a .pth (default 300)\n"
    "  --mb2-width-mult X    width multiplier of an mb2-ssd-lite .pth (default 1.0)\n"
    "  --input-blob NAME     the graph's input (input_0)\n"
    "  --output-cvg NAME     the graph's scores output (scores)\n"
    "  --output-bbox NAME    the graph's boxes output (boxes)\n"
    "  --threshold X         minimum class score, 0..1; 0 means the default (0.5)\n"
    "  --confidence X        the same\n"
    "  --clustering X        detectnet's merge-by-overlap at overlap X (0: 0.75) instead of\n"
    "                        the default per-class NMS at IoU 0.45 (pytorch-ssd's predictor)\n"
    "  --overlay FLAGS       box,labels,conf (default), lines, none; split on ',' or '|'\n"
    "  --alpha N             fill opacity 0..255 (default 120)\n"
    "  --font FILE           TrueType font for labels (default DejaVuSans)\n"
    "  --batch-size N        images per inference (default 1; a fixed-batch graph decides)\n"
    "  --json FILE           all detections as JSON (boxes in image pixels)\n"
    "  --csv FILE            all detections as CSV\n"
    "  --threads N           compute and decode threads (default: all cores)\n"
    "  --use-cuda BOOL       run the model on the GPU when one is present (default false:\n"
    "                        the CPU path is the verified one); falls back to the CPU\n"
    "  --precision P         fp32 (default: ONNX Runtime's results) or bf16: the convs on\n"
    "                        bfloat16 inputs and weights (8 significant bits; TensorRT's\n"
    "                        FP16 keeps 11), ~1.6x faster on CPUs with AVX512_BF16 or AMX\n"
    "                        (an error elsewhere; `ssd info` says which)\n"
    "  --quiet               no per-detection lines\n"
    "  --headless            accepted for detectnet compatibility (nothing is displayed)\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 ok; 1 when the model or an image failed (other images are still done);\n"
    "2 for bad options.\n";

enum {
    O_MODEL = 256,
    O_LABELS,
    O_NET,
    O_RES,
    O_MB2,
    O_INPUT_BLOB,
    O_OUTPUT_CVG,
    O_OUTPUT_BBOX,
    O_THRESHOLD,
    O_CLUSTERING,
    O_OVERLAY,
    O_ALPHA,
    O_FONT,
    O_BATCH,
    O_JSON,
    O_CSV,
    O_THREADS,
    O_PRECISION,
    O_CUDA,
    O_QUIET,
    O_HEADLESS,
};

static const struct option opts[] = {{"model", required_argument, 0, O_MODEL},
                                     {"labels", required_argument, 0, O_LABELS},
                                     {"class_labels", required_argument, 0, O_LABELS},
                                     {"net", required_argument, 0, O_NET},
                                     {"resolution", required_argument, 0, O_RES},
                                     {"mb2-width-mult", required_argument, 0, O_MB2},
                                     {"mb2_width_mult", required_argument, 0, O_MB2},
                                     {"input-blob", required_argument, 0, O_INPUT_BLOB},
                                     {"input_blob", required_argument, 0, O_INPUT_BLOB},
                                     {"output-cvg", required_argument, 0, O_OUTPUT_CVG},
                                     {"output_cvg", required_argument, 0, O_OUTPUT_CVG},
                                     {"output-bbox", required_argument, 0, O_OUTPUT_BBOX},
                                     {"output_bbox", required_argument, 0, O_OUTPUT_BBOX},
                                     {"threshold", required_argument, 0, O_THRESHOLD},
                                     {"confidence", required_argument, 0, O_THRESHOLD},
                                     {"clustering", required_argument, 0, O_CLUSTERING},
                                     {"overlay", required_argument, 0, O_OVERLAY},
                                     {"alpha", required_argument, 0, O_ALPHA},
                                     {"font", required_argument, 0, O_FONT},
                                     {"batch-size", required_argument, 0, O_BATCH},
                                     {"batch_size", required_argument, 0, O_BATCH},
                                     {"json", required_argument, 0, O_JSON},
                                     {"csv", required_argument, 0, O_CSV},
                                     {"threads", required_argument, 0, O_THREADS},
                                     {"precision", required_argument, 0, O_PRECISION},
                                     {"use-cuda", required_argument, 0, O_CUDA},
                                     {"use_cuda", required_argument, 0, O_CUDA},
                                     {"quiet", no_argument, 0, O_QUIET},
                                     {"headless", no_argument, 0, O_HEADLESS},
                                     {"help", no_argument, 0, 'h'},
                                     {0, 0, 0, 0}};

typedef struct {
    ssd_detector_cfg dc;
    const char *labels, *font, *json, *csv, *input, *output;
    float threshold, clustering;
    bool use_clustering, quiet, batch_given, use_cuda;
    unsigned overlay;
    int alpha, batch, threads;
} detect_args;

static int bad(const char *opt, const char *val, const char *why) {
    return cli_bad("detect", opt, val, why);
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    return cli_parse_int("detect", opt, s, lo, hi, out);
}

static int parse_unit(const char *opt, const char *s, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0 && v <= 1))
        return bad(opt, s, "expected a number in 0..1");
    *out = (float)v;
    return 0;
}

/* detectnet's OverlayFlagsFromStr: tokens split on ',' or '|', any case. */
static int parse_overlay(const char *s, unsigned *flags) {
    unsigned f = 0;
    const char *p = s;
    while (1) {
        size_t n = strcspn(p, ",|");
        char tok[32];
        const char *a = p, *b = p + n;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        size_t len = (size_t)(b - a);
        if (len >= sizeof tok)
            return bad("overlay", s, "unknown flag (box, lines, labels, conf, none)");
        memcpy(tok, a, len);
        tok[len] = 0;
        if (!len || !strcasecmp(tok, "none")) {
        } else if (!strcasecmp(tok, "box")) {
            f |= SSD_DRAW_BOX;
        } else if (!strcasecmp(tok, "lines") || !strcasecmp(tok, "line")) {
            f |= SSD_DRAW_LINES;
        } else if (!strcasecmp(tok, "labels") || !strcasecmp(tok, "label")) {
            f |= SSD_DRAW_LABELS;
        } else if (!strcasecmp(tok, "conf") || !strcasecmp(tok, "confidence")) {
            f |= SSD_DRAW_CONF;
        } else if (!strcasecmp(tok, "default")) {
            f |= SSD_DRAW_BOX | SSD_DRAW_LABELS | SSD_DRAW_CONF;
        } else if (!strcasecmp(tok, "track") || !strcasecmp(tok, "tracking")) {
            fprintf(stderr,
                    "ssd detect: warning: --overlay %s: no tracker on still images; "
                    "ignored\n",
                    tok);
        } else {
            char why[96];
            snprintf(why, sizeof why, "unknown flag '%s' (box, lines, labels, conf, none)", tok);
            return bad("overlay", s, why);
        }
        if (!p[n]) break;
        p += n + 1;
    }
    *flags = f;
    return 0;
}

/* ---- labels ---------------------------------------------------------------------------------- */

typedef struct {
    char **names;
    int n;
} names;

static void names_free(names *l) {
    for (int i = 0; i < l->n; i++) ssd_free(l->names[i]);
    ssd_free(l->names);
    l->names = NULL;
    l->n = 0;
}

static ssd_status names_push(names *l, const char *s, size_t len) {
    char **nn = ssd_realloc(l->names, sizeof *nn * (size_t)(l->n + 1));
    if (!nn) return SSD_E_NOMEM;
    l->names = nn;
    char *c = ssd_malloc(len + 1);
    if (!c) return SSD_E_NOMEM;
    memcpy(c, s, len);
    c[len] = 0;
    l->names[l->n++] = c;
    return SSD_OK;
}

/* One name per non-blank line, stripped; "n01234567 desc" (an ImageNet synset) keeps the desc. */
static ssd_status names_parse(names *l, const char *text, size_t len) {
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end, *a = p, *b = e;
        p = e + 1;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (a == b) continue;
        if (b - a > 10 && a[0] == 'n' && a[9] == ' ') {
            bool synset = true;
            for (int i = 1; i < 9; i++) synset = synset && isdigit((unsigned char)a[i]);
            if (synset) a += 10;
        }
        SSD_TRY(names_push(l, a, (size_t)(b - a)));
    }
    return SSD_OK;
}

static ssd_status names_read(names *l, const char *path) {
    uint8_t *data;
    size_t len;
    SSD_TRY(ssd_file_read_all(path, &data, &len));
    ssd_status st = SSD_OK;
    if (memchr(data, 0, len))
        st = ssd_error_set(SSD_E_FORMAT, "%s: holds NUL bytes; not a label list", path);
    else
        st = names_parse(l, (const char *)data, len);
    ssd_free(data);
    if (st == SSD_OK && l->n == 0) st = ssd_error_set(SSD_E_FORMAT, "%s: no labels", path);
    return st;
}

/* ---- the --json and --csv texts ---------------------------------------------------------- */

/* RFC 4180: quoted when it holds a comma, quote or line break. */
static void sb_csv_str(ssd_strbuf *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        ssd_strbuf_printf(b, "%s", s);
        return;
    }
    ssd_strbuf_printf(b, "\"");
    for (const char *p = s; *p; p++) ssd_strbuf_printf(b, *p == '"' ? "\"\"" : "%c", *p);
    ssd_strbuf_printf(b, "\"");
}

/* ---- the run --------------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    char *out;
    int index;
    ssd_image img;
    ssd_status st;
    char err[512];
    ssd_detection *det;
    int nd;
    float *x; /* its slot of the batch */
    ssd_augment_scratch scratch;
} item;

typedef struct {
    item *items;
    const ssd_transform_cfg *tf;
} load_job;

static void keep_error(item *it, ssd_status st) {
    it->st = st;
    const char *m = ssd_error_message();
    snprintf(it->err, sizeof it->err, "%s", m && m[0] ? m : ssd_status_name(st));
}

static void load_one(int64_t i, void *arg) {
    load_job *j = arg;
    item *it = &j->items[i];
    ssd_status st = ssd_image_load(&it->img, it->path);
    if (st == SSD_OK) {
        ssd_augment_params p;
        ssd_augment_identity(&p, it->img.w, it->img.h);
        st = ssd_augment_render(&p, &it->img, j->tf, it->x, &it->scratch);
    }
    if (st != SSD_OK) keep_error(it, st);
}

static void save_one(int64_t i, void *arg) {
    item *it = &((item *)arg)[i];
    if (it->st != SSD_OK || !it->out) return;
    ssd_status st = SSD_OK;
    char *slash = strrchr(it->out, '/');
    if (slash && slash != it->out) {
        *slash = 0;
        st = ssd_mkdir_p(it->out);
        *slash = '/';
    }
    if (st == SSD_OK) st = ssd_image_save(&it->img, it->out);
    if (st != SSD_OK) keep_error(it, st);
}

typedef struct {
    const detect_args *a;
    ssd_detector *det;
    ssd_threadpool *pool;
    ssd_font *font;
    names labels;
    bool *skip;
    ssd_detect_post post;
    ssd_draw_opts draw;
    ssd_strbuf json, csv;
    int json_items, failed, done, total_dets;
} runner;

static void report(runner *r, item *it) {
    const detect_args *a = r->a;
    printf("detected %d objects in image %s (%dx%d)\n", it->nd, it->path, it->img.w, it->img.h);
    for (int d = 0; d < it->nd && !a->quiet; d++) {
        const ssd_detection *q = &it->det[d];
        printf("  %d: class %d (%s)  confidence %.4f  box (%.1f, %.1f) (%.1f, %.1f)  w=%.1f "
               "h=%.1f\n",
               d, q->label, r->labels.names[q->label], q->prob, q->box[0], q->box[1], q->box[2],
               q->box[3], q->box[2] - q->box[0], q->box[3] - q->box[1]);
    }
    if (a->json) {
        ssd_strbuf_printf(&r->json, "%s\n  {\"image\": ", r->json_items++ ? "," : "[");
        ssd_strbuf_json(&r->json, it->path);
        ssd_strbuf_printf(&r->json, ", \"width\": %d, \"height\": %d, \"detections\": [", it->img.w,
                          it->img.h);
        for (int d = 0; d < it->nd; d++) {
            const ssd_detection *q = &it->det[d];
            ssd_strbuf_printf(&r->json, "%s\n    {\"class_id\": %d, \"label\": ", d ? "," : "",
                              q->label);
            ssd_strbuf_json(&r->json, r->labels.names[q->label]);
            ssd_strbuf_printf(&r->json,
                              ", \"confidence\": %.9g, \"box\": [%.9g, %.9g, %.9g, %.9g]}", q->prob,
                              q->box[0], q->box[1], q->box[2], q->box[3]);
        }
        ssd_strbuf_printf(&r->json, "%s]}", it->nd ? "\n  " : "");
    }
    if (a->csv) {
        for (int d = 0; d < it->nd; d++) {
            const ssd_detection *q = &it->det[d];
            sb_csv_str(&r->csv, it->path);
            ssd_strbuf_printf(&r->csv, ",%d,%d,%d,", it->img.w, it->img.h, q->label);
            sb_csv_str(&r->csv, r->labels.names[q->label]);
            ssd_strbuf_printf(&r->csv, ",%.9g,%.9g,%.9g,%.9g,%.9g\n", q->prob, q->box[0], q->box[1],
                              q->box[2], q->box[3]);
        }
    }
}

static ssd_status draw(runner *r, item *it) {
    if (!r->a->overlay || !it->nd || !it->out) return SSD_OK;
    ssd_draw_det *dd = ssd_malloc(sizeof *dd * (size_t)it->nd);
    if (!dd) return SSD_E_NOMEM;
    for (int d = 0; d < it->nd; d++) {
        const ssd_detection *q = &it->det[d];
        dd[d] = (ssd_draw_det){q->box[0],
                               q->box[1],
                               q->box[2],
                               q->box[3],
                               q->label,
                               q->prob,
                               r->labels.names[q->label]};
    }
    ssd_status st = ssd_draw_detections(&it->img, r->font, dd, it->nd, &r->draw);
    ssd_free(dd);
    return st;
}

/* One batch: decode and preprocess in parallel, infer, then per image post-process, print and
 * draw, and encode the outputs in parallel. */
static ssd_status run_batch(runner *r, item *items, int n, int slots, float *x, float *scores,
                            float *boxes) {
    const ssd_transform_cfg *tf = ssd_detector_transform(r->det);
    size_t per = (size_t)3 * tf->size * tf->size;
    int k = ssd_detector_num_priors(r->det), c = ssd_detector_num_classes(r->det);
    load_job lj = {items, tf};
    ssd_parallel_for(r->pool, n, load_one, &lj);
    /* Failed and padding slots run on zeros. */
    for (int i = 0; i < slots; i++)
        if (i >= n || items[i].st != SSD_OK) memset(x + i * per, 0, per * sizeof(float));
    SSD_TRY(ssd_detector_run(r->det, x, slots, scores, boxes));
    for (int i = 0; i < n; i++) {
        item *it = &items[i];
        if (it->st != SSD_OK) continue;
        ssd_status st =
            ssd_detect_postprocess(&it->det, &it->nd, scores + (size_t)i * k * c,
                                   boxes + (size_t)i * k * 4, k, c, it->img.w, it->img.h, &r->post);
        if (st == SSD_OK) st = draw(r, it);
        if (st != SSD_OK) {
            keep_error(it, st);
            continue;
        }
        report(r, it);
        r->total_dets += it->nd;
    }
    ssd_parallel_for(r->pool, n, save_one, items);
    for (int i = 0; i < n; i++) {
        item *it = &items[i];
        if (it->st != SSD_OK) {
            fprintf(stderr, "ssd detect: %s (skipped)\n", it->err);
            r->failed++;
        } else {
            r->done++;
        }
        fflush(stdout);
    }
    return SSD_OK;
}

/* Class names for every class of the model: --labels, else the ONNX metadata; "Class #n" for
 * the ones missing. */
static ssd_status setup_labels(runner *r, int c) {
    const detect_args *a = r->a;
    names given = {NULL, 0};
    ssd_status st = SSD_OK;
    const char *meta = ssd_detector_meta_labels(r->det);
    if (a->labels) {
        st = names_read(&given, a->labels);
    } else if (meta) {
        st = names_parse(&given, meta, strlen(meta));
    }
    if (st != SSD_OK) goto done;
    if (given.n && given.n < c)
        fprintf(stderr,
                "ssd detect: warning: %s has %d labels for %d classes; the others are "
                "called Class #n\n",
                a->labels ? a->labels : "the model's metadata", given.n, c);
    if (given.n > c)
        fprintf(stderr,
                "ssd detect: warning: %s has %d labels for %d classes; the last %d unused\n",
                a->labels ? a->labels : "the model's metadata", given.n, c, given.n - c);
    r->skip = ssd_calloc((size_t)c, sizeof *r->skip);
    if (!r->skip) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (int i = 0; i < c && st == SSD_OK; i++) {
        if (i < given.n) {
            st = names_push(&r->labels, given.names[i], strlen(given.names[i]));
            r->skip[i] = strcmp(given.names[i], "void") == 0;
        } else {
            char buf[32];
            snprintf(buf, sizeof buf, "Class #%d", i);
            st = names_push(&r->labels, buf, strlen(buf));
        }
    }
    r->post.skip = r->skip;
done:
    names_free(&given);
    return st;
}

static bool is_checkpoint(const char *path) {
    size_t n = strlen(path);
    return (n >= 4 && !strcmp(path + n - 4, ".pth")) || (n >= 3 && !strcmp(path + n - 3, ".pt"));
}

/* Refuses outputs that would overwrite an input or each other. */
static ssd_status check_outputs(const ssd_path_list *in, char **outs) {
    for (int i = 0; i < in->n; i++) {
        if (!outs[i]) continue;
        for (int j = 0; j < in->n; j++)
            if (!strcmp(outs[i], in->paths[j]))
                return ssd_error_set(SSD_E_INVAL, "output %s would overwrite an input", outs[i]);
    }
    /* Quadratic is fine for the thousands of images this is for; sort if it ever is not. */
    for (int i = 0; i < in->n; i++)
        for (int j = i + 1; j < in->n && outs[i]; j++)
            if (outs[j] && !strcmp(outs[i], outs[j]))
                return ssd_error_set(SSD_E_INVAL, "%s and %s would both be written to %s",
                                     in->paths[i], in->paths[j], outs[i]);
    return SSD_OK;
}

static ssd_status write_outputs(runner *r) {
    const detect_args *a = r->a;
    ssd_status st = SSD_OK;
    if (a->json) {
        ssd_strbuf_printf(&r->json, "%s]\n", r->json_items ? "\n" : "[");
        if (r->json.oom) return SSD_E_NOMEM;
        st = ssd_file_write_atomic(a->json, r->json.s, r->json.len);
    }
    if (st == SSD_OK && a->csv) {
        if (r->csv.oom) return SSD_E_NOMEM;
        st = ssd_file_write_atomic(a->csv, r->csv.s ? r->csv.s : "", r->csv.len);
    }
    return st;
}

static ssd_status run_detect(const detect_args *a, int *exit_code) {
    runner r = {.a = a};
    ssd_path_list in = {NULL, 0};
    ssd_out_spec out = {SSD_OUT_NONE, NULL};
    char **outs = NULL;
    item *items = NULL;
    float *x = NULL, *scores = NULL, *boxes = NULL;
    names pth_labels = {NULL, 0};
    ssd_status st;
    *exit_code = 0;

    SSD_CHECK_GOTO(st, ssd_path_list_expand(&in, a->input), done);
    SSD_CHECK_GOTO(st, ssd_out_spec_parse(&out, a->output), done);
    if (out.kind == SSD_OUT_FILE && in.n > 1) {
        st = ssd_error_set(SSD_E_INVAL,
                           "output %s is one file for %d inputs; give a directory or a %%i "
                           "pattern",
                           a->output, in.n);
        goto done;
    }
    outs = ssd_calloc((size_t)in.n, sizeof *outs);
    if (!outs) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (int i = 0; i < in.n && out.kind != SSD_OUT_NONE; i++)
        if (!(outs[i] = ssd_out_spec_path(&out, i, in.paths[i]))) {
            st = SSD_E_NOMEM;
            goto done;
        }
    SSD_CHECK_GOTO(st, check_outputs(&in, outs), done);

    ssd_detector_cfg dc = a->dc;
    if (is_checkpoint(a->dc.model)) {
        /* The class count of a checkpoint comes from its labels. */
        if (a->labels) SSD_CHECK_GOTO(st, names_read(&pth_labels, a->labels), done);
        dc.num_classes = pth_labels.n;
    }
    ssd_threads_set(a->threads);
    /* asked for explicitly (the default is the CPU), so the fallback is a warning */
    if (strcmp(ssd_backend_choose(a->use_cuda, SSD_LOG_WARNING, "running"), "cuda") == 0)
        dc.backend = "cuda";
    SSD_CHECK_GOTO(st, ssd_detector_open(&r.det, &dc), done);
    int c = ssd_detector_num_classes(r.det), k = ssd_detector_num_priors(r.det);
    const ssd_transform_cfg *tf = ssd_detector_transform(r.det);
    ssd_detect_post_default(&r.post);
    r.post.threshold = a->threshold;
    r.post.clustering = a->use_clustering;
    r.post.cluster = a->clustering;
    SSD_CHECK_GOTO(st, setup_labels(&r, c), done);

    ssd_draw_opts_default(&r.draw);
    r.draw.flags = a->overlay;
    r.draw.alpha = a->alpha;
    if ((a->overlay & (SSD_DRAW_LABELS | SSD_DRAW_CONF)) && out.kind != SSD_OUT_NONE)
        SSD_CHECK_GOTO(st, ssd_font_open(&r.font, a->font), done);

    int batch = a->batch, fixed = ssd_detector_fixed_batch(r.det);
    if (fixed && fixed != batch) {
        if (a->batch_given)
            fprintf(stderr,
                    "ssd detect: warning: %s takes batches of %d; --batch-size %d "
                    "ignored\n",
                    a->dc.model, fixed, batch);
        batch = fixed;
    }
    int threads = ssd_threads_get();
    if (threads > 1) SSD_CHECK_GOTO(st, ssd_threadpool_create(&r.pool, threads), done);
    size_t per = (size_t)3 * tf->size * tf->size;
    items = ssd_calloc((size_t)batch, sizeof *items);
    x = ssd_malloc((size_t)batch * per * sizeof(float));
    scores = ssd_malloc((size_t)batch * k * c * sizeof(float));
    boxes = ssd_malloc((size_t)batch * k * 4 * sizeof(float));
    if (!items || !x || !scores || !boxes) {
        st = SSD_E_NOMEM;
        goto done;
    }
    printf("ssd detect: %s, %d classes, %dx%d input, %d image%s, batch %d, %s\n", a->dc.model, c,
           tf->size, tf->size, in.n, in.n == 1 ? "" : "s", batch,
           a->use_clustering ? "clustering" : "per-class NMS");
    double t0 = ssd_now();
    for (int b0 = 0; b0 < in.n; b0 += batch) {
        int n = in.n - b0 < batch ? in.n - b0 : batch;
        for (int i = 0; i < n; i++) {
            ssd_augment_scratch keep = items[i].scratch;
            memset(&items[i], 0, sizeof items[i]);
            items[i].scratch = keep;
            items[i].path = in.paths[b0 + i];
            items[i].out = outs[b0 + i];
            items[i].index = b0 + i;
            items[i].x = x + i * per;
        }
        st = run_batch(&r, items, n, batch, x, scores, boxes);
        for (int i = 0; i < n; i++) {
            ssd_image_free(&items[i].img);
            ssd_free(items[i].det);
            items[i].det = NULL;
        }
        if (st != SSD_OK) goto done;
    }
    double dt = ssd_now() - t0;
    SSD_CHECK_GOTO(st, write_outputs(&r), done);
    fprintf(stderr, "ssd detect: %d image%s, %d detection%s, %d failed, %.3f s (%.2f images/s)\n",
            r.done, r.done == 1 ? "" : "s", r.total_dets, r.total_dets == 1 ? "" : "s", r.failed,
            dt, dt > 0 ? r.done / dt : 0.0);
    if (out.kind == SSD_OUT_DIR) printf("annotated images in %s/\n", out.spec);
    if (r.failed) *exit_code = 1;
done:
    for (int i = 0; items && i < batch; i++) ssd_augment_scratch_free(&items[i].scratch);
    ssd_free(items);
    ssd_free(x);
    ssd_free(scores);
    ssd_free(boxes);
    for (int i = 0; outs && i < in.n; i++) ssd_free(outs[i]);
    ssd_free(outs);
    ssd_threadpool_destroy(r.pool);
    ssd_font_close(r.font);
    names_free(&r.labels);
    names_free(&pth_labels);
    ssd_free(r.skip);
    ssd_strbuf_free(&r.json);
    ssd_strbuf_free(&r.csv);
    ssd_detector_destroy(r.det);
    ssd_out_spec_free(&out);
    ssd_path_list_free(&in);
    return st;
}

int cmd_detect(int argc, char **argv) {
    detect_args a;
    memset(&a, 0, sizeof a);
    a.threshold = 0.5f;
    a.clustering = 0.75f;
    a.overlay = SSD_DRAW_BOX | SSD_DRAW_LABELS | SSD_DRAW_CONF;
    a.alpha = 120;
    a.batch = 1;
    int o, r = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *q = opts; q->name; q++)
            if (q->val == o && !name) name = q->name;
        switch (o) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case O_MODEL:
            a.dc.model = optarg;
            break;
        case O_LABELS:
            a.labels = optarg;
            break;
        case O_NET:
            a.dc.net = optarg;
            break;
        case O_RES:
            r = parse_int(name, optarg, 32, 4096, &a.dc.resolution);
            break;
        case O_MB2:
            r = cli_parse_double("detect", name, optarg, 0.01, 4, &a.dc.width_mult);
            break;
        case O_INPUT_BLOB:
            a.dc.input_blob = optarg;
            break;
        case O_OUTPUT_CVG:
            a.dc.output_cvg = optarg;
            break;
        case O_OUTPUT_BBOX:
            a.dc.output_bbox = optarg;
            break;
        case O_THRESHOLD:
            r = parse_unit(name, optarg, &a.threshold);
            if (!r && a.threshold == 0) a.threshold = 0.5f; /* detectnet: 0 means the default */
            break;
        case O_CLUSTERING:
            r = parse_unit(name, optarg, &a.clustering);
            if (!r && a.clustering == 0) a.clustering = 0.75f;
            a.use_clustering = true;
            break;
        case O_OVERLAY:
            r = parse_overlay(optarg, &a.overlay);
            break;
        case O_ALPHA:
            r = parse_int(name, optarg, 0, 255, &a.alpha);
            break;
        case O_FONT:
            a.font = optarg;
            break;
        case O_BATCH:
            r = parse_int(name, optarg, 1, 1024, &a.batch);
            a.batch_given = true;
            break;
        case O_JSON:
            a.json = optarg;
            break;
        case O_CSV:
            a.csv = optarg;
            break;
        case O_THREADS:
            r = parse_int(name, optarg, 1, 1024, &a.threads);
            break;
        case O_CUDA:
            if (cli_parse_bool(optarg, &a.use_cuda))
                r = bad(name, optarg, "expected true or false");
            break;
        case O_PRECISION:
            r = cli_parse_precision("detect", name, optarg, &a.dc.precision);
            break;
        case O_QUIET:
            a.quiet = true;
            break;
        case O_HEADLESS:
            break;
        default:
            fprintf(stderr, "Try 'ssd detect --help'.\n");
            return 2;
        }
        if (r) return r;
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2) {
        if (npos < 1)
            fprintf(stderr, "ssd detect: no input given\nTry 'ssd detect --help'.\n");
        else
            fprintf(stderr,
                    "ssd detect: %d arguments; expected INPUT [OUTPUT] (quote a glob: "
                    "\"dir/*.jpg\")\n",
                    npos);
        return 2;
    }
    if (!a.dc.model) {
        fprintf(stderr, "ssd detect: --model is required\n");
        return 2;
    }
    a.input = argv[optind];
    a.output = npos == 2 ? argv[optind + 1] : NULL;
    int code = 0;
    ssd_status st = run_detect(&a, &code);
    return st == SSD_OK ? code : cli_fail("detect", st);
}

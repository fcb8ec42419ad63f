/* `ssd eval`: eval_ssd.py's options (with its underscores and with hyphens) and
 * its output lines, plus --resolution, batching, COCO-style numbers, metrics.json
 * and precision-recall curves. */
#include "cli/cli.h"

#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/progress.h"
#include "core/threads.h"
#include "data/open_images.h"
#include "data/voc.h"
#include "eval/eval.h"
#include "models/model.h"
#include "tensor/backend.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: ssd eval --model FILE --dataset DIR [options]\n"
    "\n"
    "Evaluate an SSD detector on a dataset's test split (the options of pytorch-ssd's\n"
    "eval_ssd.py; each may be spelled with underscores or hyphens).\n"
    "\n"
    "  --net NET                   mb1-ssd, mb1-ssd-lite, mb2-ssd-lite, sq-ssd-lite, vgg16-ssd,\n"
    "                              mb3-large-ssd-lite, mb3-small-ssd-lite\n"
    "                              (default mb1-ssd; eval_ssd.py's default is vgg16-ssd)\n"
    "  --model, --trained-model FILE   the checkpoint (.pth state_dict)\n"
    "  --dataset-type TYPE         voc or open_images (default voc)\n"
    "  --dataset DIR               dataset root; its test split is evaluated\n"
    "  --label-file FILE           class list (default: the dataset's labels.txt; eval_ssd.py\n"
    "                              parses this option but ignores it)\n"
    "  --use-cuda BOOL             evaluate on the GPU when one is present (default true)\n"
    "  --use-2007-metric BOOL      VOC07 11-point AP if true, else the area under the\n"
    "                              interpolated curve (default true)\n"
    "  --nms-method METHOD         hard or soft (gaussian soft-NMS, sigma 0.5) (default hard)\n"
    "  --iou-threshold X           IoU above which a detection matches an object (default 0.5)\n"
    "  --eval-dir DIR              result files, metrics.json and curves\n"
    "                              (default models/eval_results)\n"
    "  --mb2-width-mult X          MobileNetV2 width multiplier (default 1.0)\n"
    "beyond the reference:\n"
    "  --resolution N              input size N x N of the model (default 300)\n"
    "  --batch-size N              images per forward pass (default 8)\n"
    "  --workers N                 image decoding threads (default 2)\n"
    "  --threads N                 compute threads (default: all cores)\n"
    "  --precision P               fp32 (default) or bf16: the convs in bfloat16 (as ssd detect\n"
    "                              --precision bf16), to measure what it costs in AP\n"
    "  --score-threshold X         where precision, recall and F1 are read (default 0.5)\n"
    "  --pr-curves BOOL            write pr_<class>.png curves (default true)\n"
    "  --log-level LEVEL           debug, info, warning, error, critical (default info)\n"
    "  -h, --help                  this text\n"
    "\n"
    "Prints the per-class and mean AP lines of eval_ssd.py, COCO-style AP@[.5:.95], AP50,\n"
    "AP75 and AP per object size, precision / recall / F1, and images per second. Writes\n"
    "det_test_<class>.txt (as eval_ssd.py), metrics.json and pr_<class>.png to --eval-dir.\n";

enum {
    O_NET = 256,
    O_MODEL,
    O_DTYPE,
    O_DATASET,
    O_LABELS,
    O_CUDA,
    O_VOC07,
    O_NMS,
    O_IOU,
    O_DIR,
    O_MB2,
    O_RES,
    O_BATCH,
    O_WORKERS,
    O_THREADS,
    O_PRECISION,
    O_SCORE,
    O_CURVES,
    O_LOG
};

static const struct option opts[] = {{"net", required_argument, 0, O_NET},
                                     {"model", required_argument, 0, O_MODEL},
                                     {"trained-model", required_argument, 0, O_MODEL},
                                     {"trained_model", required_argument, 0, O_MODEL},
                                     {"dataset-type", required_argument, 0, O_DTYPE},
                                     {"dataset_type", required_argument, 0, O_DTYPE},
                                     {"dataset", required_argument, 0, O_DATASET},
                                     {"label-file", required_argument, 0, O_LABELS},
                                     {"label_file", required_argument, 0, O_LABELS},
                                     {"use-cuda", required_argument, 0, O_CUDA},
                                     {"use_cuda", required_argument, 0, O_CUDA},
                                     {"use-2007-metric", required_argument, 0, O_VOC07},
                                     {"use_2007_metric", required_argument, 0, O_VOC07},
                                     {"nms-method", required_argument, 0, O_NMS},
                                     {"nms_method", required_argument, 0, O_NMS},
                                     {"iou-threshold", required_argument, 0, O_IOU},
                                     {"iou_threshold", required_argument, 0, O_IOU},
                                     {"eval-dir", required_argument, 0, O_DIR},
                                     {"eval_dir", required_argument, 0, O_DIR},
                                     {"mb2-width-mult", required_argument, 0, O_MB2},
                                     {"mb2_width_mult", required_argument, 0, O_MB2},
                                     {"resolution", required_argument, 0, O_RES},
                                     {"batch-size", required_argument, 0, O_BATCH},
                                     {"batch_size", required_argument, 0, O_BATCH},
                                     {"workers", required_argument, 0, O_WORKERS},
                                     {"num-workers", required_argument, 0, O_WORKERS},
                                     {"threads", required_argument, 0, O_THREADS},
                                     {"precision", required_argument, 0, O_PRECISION},
                                     {"score-threshold", required_argument, 0, O_SCORE},
                                     {"score_threshold", required_argument, 0, O_SCORE},
                                     {"pr-curves", required_argument, 0, O_CURVES},
                                     {"log-level", required_argument, 0, O_LOG},
                                     {"help", no_argument, 0, 'h'},
                                     {0, 0, 0, 0}};

static int bad(const char *opt, const char *val, const char *why) {
    return cli_bad("eval", opt, val, why);
}

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out) {
    return cli_parse_double("eval", opt, s, lo, hi, out);
}

static int parse_int(const char *opt, const char *s, int lo, int *out) {
    return cli_parse_int("eval", opt, s, lo, 100000, out);
}

static int parse_bool(const char *opt, const char *s, bool *out) {
    return cli_parse_bool(s, out) ? bad(opt, s, "expected true or false") : 0;
}

typedef struct {
    const char *net, *model, *dataset_type, *dataset, *label_file, *eval_dir, *log_level;
    bool use_cuda, pr_curves;
    double mb2_width_mult;
    int resolution, threads;
    ssd_precision precision;
    ssd_eval_params ep;
} eval_opts;

/* Open Images takes its classes from the annotation files; a --label-file
 * (the model's labels.txt) must agree with them, or the label indices would not. */
static ssd_status check_labels(const ssd_dataset *ds, const char *label_file) {
    char **names = NULL;
    int n = 0;
    SSD_TRY(ssd_labels_load(label_file, &names, &n));
    int d = 0;
    while (d < n && d < ds->num_classes && !strcmp(names[d], ds->class_names[d])) d++;
    ssd_status st = SSD_OK;
    if (d < n || d < ds->num_classes)
        st = ssd_error_set(SSD_E_INVAL,
                           "%s: class %d is '%s' there but '%s' in the dataset's annotation files",
                           label_file, d, d < n ? names[d] : "(none)",
                           d < ds->num_classes ? ds->class_names[d] : "(none)");
    ssd_labels_free(names, n);
    return st;
}

static ssd_status run(const eval_opts *o) {
    ssd_log_set_level((ssd_log_level)ssd_log_level_parse(o->log_level));
    ssd_threads_set(o->threads);
    const char *backend = ssd_backend_choose(o->use_cuda, SSD_LOG_INFO, "evaluating");
    if (!ssd_net_supported(o->net))
        return ssd_error_set(SSD_E_INVAL,
                             "--net %s is not a known net (mb1-ssd, mb1-ssd-lite, mb2-ssd-lite, "
                             "sq-ssd-lite, vgg16-ssd, mb3-large-ssd-lite, mb3-small-ssd-lite)",
                             o->net);
    if (o->mb2_width_mult != 1.0 && strcmp(o->net, "mb2-ssd-lite") != 0)
        ssd_warn("--mb2-width-mult only applies to mb2-ssd-lite; ignored for %s", o->net);
    ssd_backend *be = NULL;
    ssd_dataset *ds = NULL;
    ssd_model *m = NULL;
    ssd_eval_results r = {0};
    char *json = NULL;
    ssd_status st;
    if (!strcmp(o->dataset_type, "open_images")) {
        st = ssd_oi_open(&ds, o->dataset, "test", false, 0);
        if (st == SSD_OK && o->label_file) st = check_labels(ds, o->label_file);
    } else {
        st = ssd_voc_open(&ds, o->dataset, true, o->label_file);
    }
    if (st == SSD_OK && ssd_dataset_size(ds) == 0)
        st = ssd_error_set(SSD_E_INVAL, "%s: the test split has no image", o->dataset);
    if (st == SSD_OK) st = ssd_backend_create_or_cpu(&be, backend, SSD_LOG_WARNING, "evaluating");
    if (st == SSD_OK)
        st = ssd_model_create_wm(&m, be, o->net, ds->num_classes, o->resolution,
                                 (float)o->mb2_width_mult);
    if (st == SSD_OK) {
        ssd_info("loading model %s", o->model);
        double t0 = ssd_now();
        st = ssd_model_load(m, o->model, SSD_LOAD_FULL);
        if (st == SSD_OK)
            ssd_info("loaded model %s (%.2f s; %s, %d classes, %dx%d)", o->model, ssd_now() - t0,
                     o->net, ds->num_classes, m->resolution, m->resolution);
    }
    if (st == SSD_OK) st = ssd_model_set_precision(m, o->precision);
    if (st == SSD_OK && o->precision != SSD_PREC_FP32)
        ssd_info("precision %s", ssd_precision_name(o->precision));
    if (st == SSD_OK) st = ssd_mkdir_p(o->eval_dir);
    if (st == SSD_OK) {
        ssd_eval_params ep = o->ep;
        ep.eval_dir = o->eval_dir;
        ep.pr_curves = o->pr_curves;
        ep.progress = isatty(STDERR_FILENO);
        ssd_info("evaluating %lld images of %s", (long long)ssd_dataset_size(ds), o->dataset);
        st = ssd_eval_run(m, ds, &ep, &r);
    }
    if (st == SSD_OK) {
        ssd_eval_log(&r, "");
        ssd_info("Evaluated %lld images in %.2f s: %.2f images/s (batch %d, %d threads)",
                 (long long)r.images, r.seconds, r.images_per_s, o->ep.batch_size,
                 ssd_threads_get());
        json = ssd_path_join(o->eval_dir, "metrics.json");
        if (!json) st = SSD_E_NOMEM;
    }
    if (st == SSD_OK) {
        char res[16], prob[40], nmsiou[40];
        snprintf(res, sizeof res, "%d", m->resolution);
        const char *meta[] = {
            "net",
            o->net,
            "model",
            o->model,
            "dataset",
            o->dataset,
            "resolution",
            res,
            "nms_method",
            o->ep.predict.soft ? "soft" : "hard",
            "nms_iou_threshold",
            ssd_np_float32_str(o->ep.predict.iou_threshold, nmsiou, sizeof nmsiou),
            "prob_threshold",
            ssd_np_float32_str(o->ep.predict.prob_threshold, prob, sizeof prob),
            NULL};
        st = ssd_eval_write_json(&r, json, meta);
        if (st == SSD_OK)
            ssd_info("Wrote %s, det_test_<class>.txt%s to %s", "metrics.json",
                     o->pr_curves ? " and pr_<class>.png" : "", o->eval_dir);
    }
    ssd_free(json);
    ssd_eval_results_free(&r);
    ssd_model_destroy(m);
    ssd_dataset_destroy(ds);
    ssd_backend_destroy(be);
    return st;
}

int cmd_eval(int argc, char **argv) {
    eval_opts o = {.net = "mb1-ssd",
                   .dataset_type = "voc",
                   .eval_dir = "models/eval_results",
                   .log_level = "info",
                   .use_cuda = true,
                   .pr_curves = true,
                   .mb2_width_mult = 1.0,
                   .resolution = 300};
    ssd_eval_params_default(&o.ep);
    int c, r = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *q = opts; q->name; q++)
            if (q->val == c) {
                name = q->name;
                break;
            }
        double d;
        switch (c) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case O_NET:
            o.net = optarg;
            break;
        case O_MODEL:
            o.model = optarg;
            break;
        case O_DTYPE:
            o.dataset_type = optarg;
            break;
        case O_DATASET:
            o.dataset = optarg;
            break;
        case O_LABELS:
            o.label_file = optarg;
            break;
        case O_CUDA:
            r = parse_bool(name, optarg, &o.use_cuda);
            break;
        case O_VOC07:
            r = parse_bool(name, optarg, &o.ep.metric.use_2007_metric);
            break;
        case O_NMS:
            if (!strcmp(optarg, "hard"))
                o.ep.predict.soft = false;
            else if (!strcmp(optarg, "soft"))
                o.ep.predict.soft = true;
            else
                r = bad(name, optarg, "expected hard or soft");
            break;
        case O_IOU:
            r = parse_double(name, optarg, 0, 0.999999, &o.ep.metric.iou_threshold);
            break;
        case O_DIR:
            o.eval_dir = optarg;
            break;
        case O_MB2:
            r = parse_double(name, optarg, 0.01, 10, &o.mb2_width_mult);
            break;
        case O_RES:
            r = parse_int(name, optarg, 32, &o.resolution);
            break;
        case O_BATCH:
            r = parse_int(name, optarg, 1, &o.ep.batch_size);
            break;
        case O_WORKERS:
            r = parse_int(name, optarg, 0, &o.ep.workers);
            break;
        case O_THREADS:
            r = parse_int(name, optarg, 0, &o.threads);
            break;
        case O_PRECISION:
            r = cli_parse_precision("eval", name, optarg, &o.precision);
            break;
        case O_SCORE:
            r = parse_double(name, optarg, 0, 1, &d);
            o.ep.metric.score_threshold = d;
            break;
        case O_CURVES:
            r = parse_bool(name, optarg, &o.pr_curves);
            break;
        case O_LOG:
            if (ssd_log_level_parse(optarg) < 0)
                r = bad(name, optarg, "expected debug, info, warning, error or critical");
            o.log_level = optarg;
            break;
        default:
            fprintf(stderr, "Try 'ssd eval --help'.\n");
            return 2;
        }
        if (r) return r;
    }
    if (optind < argc) {
        fprintf(stderr, "ssd eval: unexpected argument '%s'\nTry 'ssd eval --help'.\n",
                argv[optind]);
        return 2;
    }
    if (!o.model || !o.dataset) {
        fprintf(stderr, "ssd eval: --model and --dataset are required.\nTry 'ssd eval --help'.\n");
        return 2;
    }
    if (strcmp(o.dataset_type, "voc") && strcmp(o.dataset_type, "open_images")) {
        fprintf(stderr, "ssd eval: Dataset type %s is not supported (voc or open_images).\n",
                o.dataset_type);
        return 2;
    }
    if (!ssd_net_known(o.net)) {
        fprintf(stderr,
                "ssd eval: Invalid network architecture type '%s' - it should be one of: "
                " vgg16-ssd, mb1-ssd, mb1-ssd-lite, mb2-ssd-lite, sq-ssd-lite\n",
                o.net);
        return 2;
    }
    ssd_status st = run(&o);
    return st == SSD_OK ? 0 : cli_fail("eval", st);
}

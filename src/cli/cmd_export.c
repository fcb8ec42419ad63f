/* `ssd export`: onnx_export.py's options, defaults and prints. Differences,
 * on purpose: checkpoint names whose loss does not parse are ignored (the
 * reference may pick one of them), labels.txt is looked up in the model dir
 * before the working directory (a dataset's labels.txt in the CWD silently
 * changed the class count there), blank label lines are not classes, and no
 * GPU is needed. */
#include "cli/cli.h"

#include "core/fileio.h"
#include "core/mem.h"
#include "core/pyfmt.h"
#include "formats/onnx.h"
#include "models/model.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: ssd export [options]\n"
    "\n"
    "Export a trained SSD checkpoint to ONNX (the options of pytorch-ssd's onnx_export.py).\n"
    "The graph takes input_0 (N,3,R,R) and returns scores (N,K,classes) after softmax and\n"
    "boxes (N,K,4) decoded to normalised corners; no NMS.\n"
    "\n"
    "  --net NET             ssd-mobilenet (= mb1-ssd), mb1-ssd-lite, mb2-ssd-lite,\n"
    "                        sq-ssd-lite, vgg16-ssd, mb3-large-ssd-lite, mb3-small-ssd-lite\n"
    "                        (default ssd-mobilenet)\n"
    "  --input FILE          checkpoint .pth; default: the lowest-loss *-Loss-<x>.pth in "
    "--model-dir\n"
    "  --output FILE         default <net>.onnx, inside --model-dir unless FILE has a '/'\n"
    "  --labels FILE         class names, one a line (default labels.txt: the model dir's, then\n"
    "                        the working directory's)\n"
    "  --resolution N        input size N x N (default 300)\n"
    "  --mb2-width-mult X    MobileNetV2 width multiplier of mb2-ssd-lite (default 1.0)\n"
    "  --batch-size N        batch dimension of the graph (default 1)\n"
    "  --model-dir DIR       where to find the checkpoint and labels and write the output\n"
    "beyond the reference:\n"
    "  --opset N             ONNX opset, 11..17 (default 13)\n"
    "  --dynamic-batch       make the batch dimension symbolic (\"batch\")\n"
    "  -h, --help            this text\n";

enum {
    O_NET = 256,
    O_INPUT,
    O_OUTPUT,
    O_LABELS,
    O_RES,
    O_BATCH,
    O_MODEL_DIR,
    O_OPSET,
    O_DYN,
    O_MB2
};

static const struct option opts[] = {{"net", required_argument, 0, O_NET},
                                     {"input", required_argument, 0, O_INPUT},
                                     {"output", required_argument, 0, O_OUTPUT},
                                     {"labels", required_argument, 0, O_LABELS},
                                     {"resolution", required_argument, 0, O_RES},
                                     {"batch-size", required_argument, 0, O_BATCH},
                                     {"model-dir", required_argument, 0, O_MODEL_DIR},
                                     {"opset", required_argument, 0, O_OPSET},
                                     {"dynamic-batch", no_argument, 0, O_DYN},
                                     {"mb2-width-mult", required_argument, 0, O_MB2},
                                     {"mb2_width_mult", required_argument, 0, O_MB2},
                                     {"help", no_argument, 0, 'h'},
                                     {0, 0, 0, 0}};

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    return cli_parse_int("export", opt, s, lo, hi, out);
}

/* The loss in "<anything>-<loss>.pth", or NAN when the name does not end that way. */
static double name_loss(const char *name) {
    size_t n = strlen(name);
    if (n < 5 || strcmp(name + n - 4, ".pth") != 0) return NAN;
    const char *dash = strrchr(name, '-');
    if (!dash) return NAN;
    char num[64];
    size_t len = (size_t)(name + n - 4 - (dash + 1));
    if (len == 0 || len >= sizeof num) return NAN;
    memcpy(num, dash + 1, len);
    num[len] = 0;
    char *end;
    errno = 0;
    double v = strtod(num, &end);
    if (errno || *end || !isfinite(v)) return NAN;
    return v;
}

/* Lowest-loss checkpoint in dir (ties: the first name in byte order). */
static ssd_status best_checkpoint(const char *dir, char **path, double *loss) {
    *path = NULL;
    DIR *d = opendir(dir);
    if (!d) return ssd_error_set(SSD_E_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    char best[1024] = "";
    double bl = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        double v = name_loss(e->d_name);
        if (isnan(v) || strlen(e->d_name) >= sizeof best) continue;
        if (!best[0] || v < bl || (v == bl && strcmp(e->d_name, best) < 0)) {
            bl = v;
            snprintf(best, sizeof best, "%s", e->d_name);
        }
    }
    closedir(d);
    if (!best[0])
        return ssd_error_set(SSD_E_IO, "couldn't find valid .pth checkpoint under '%s'", dir);
    *path = ssd_path_join(dir, best);
    if (!*path) return SSD_E_NOMEM;
    *loss = bl;
    return SSD_OK;
}

typedef struct {
    char **names;
    int n;
} label_list;

static void labels_free(label_list *l) {
    for (int i = 0; i < l->n; i++) ssd_free(l->names[i]);
    ssd_free(l->names);
    l->names = NULL;
    l->n = 0;
}

/* One class per non-blank line, stripped of surrounding whitespace. */
static ssd_status labels_read(const char *path, label_list *l) {
    uint8_t *data;
    size_t len;
    SSD_TRY(ssd_file_read_all(path, &data, &len));
    ssd_status st = SSD_OK;
    char *p = (char *)data, *end = p + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\r')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
        if (b > a) {
            char **nn = ssd_realloc(l->names, sizeof *nn * (size_t)(l->n + 1));
            if (!nn) {
                st = SSD_E_NOMEM;
                break;
            }
            l->names = nn;
            l->names[l->n] = ssd_malloc((size_t)(b - a) + 1);
            if (!l->names[l->n]) {
                st = SSD_E_NOMEM;
                break;
            }
            memcpy(l->names[l->n], a, (size_t)(b - a));
            l->names[l->n][b - a] = 0;
            l->n++;
        }
        p = e + 1;
    }
    ssd_free(data);
    if (st == SSD_OK && l->n < 2)
        st = ssd_error_set(SSD_E_FORMAT,
                           "%s: needs BACKGROUND and at least one class, found %d "
                           "name%s",
                           path, l->n, l->n == 1 ? "" : "s");
    if (st != SSD_OK) labels_free(l);
    return st;
}

typedef struct {
    const char *net, *input, *output, *labels, *model_dir;
    int resolution, batch, opset;
    double width_mult;
    bool dynamic_batch;
} export_args;

static ssd_status run_export(const export_args *a) {
    ssd_status st = SSD_OK;
    char *model_dir = NULL, *input = NULL, *labels = NULL, *output = NULL;
    label_list lab = {NULL, 0};
    ssd_backend *be = NULL;
    ssd_model *m = NULL;
    const char *net = strcmp(a->net, "ssd-mobilenet") == 0 ? "mb1-ssd" : a->net;

    if (!ssd_net_known(net)) {
        st = ssd_error_set(SSD_E_INVAL,
                           "The net type is wrong. It should be one of ssd-mobilenet, "
                           "mb1-ssd, mb1-ssd-lite, mb2-ssd-lite, sq-ssd-lite, vgg16-ssd, "
                           "mb3-large-ssd-lite, mb3-small-ssd-lite.");
        goto done;
    }
    if (!ssd_net_supported(net)) {
        st = ssd_error_set(SSD_E_INVAL, "--net %s is not a known net", a->net);
        goto done;
    }
    if (a->model_dir && a->model_dir[0]) {
        model_dir = ssd_path_expand_user(a->model_dir);
        if (!model_dir) {
            st = SSD_E_NOMEM;
            goto done;
        }
    }
    if (a->input && a->input[0]) {
        input = ssd_strdup(a->input);
        if (input && model_dir && !ssd_path_exists(input)) {
            char *j = ssd_path_join(model_dir, input);
            ssd_free(input);
            input = j;
        }
        if (!input) {
            st = SSD_E_NOMEM;
            goto done;
        }
    } else if (model_dir) {
        double loss = 0;
        SSD_CHECK_GOTO(st, best_checkpoint(model_dir, &input, &loss), done);
        char buf[64];
        printf("=> found best checkpoint with loss %s (%s)\n",
               ssd_pyfloat_repr(loss, buf, sizeof buf), input);
    } else {
        st = ssd_error_set(SSD_E_INVAL, "give --input FILE or --model-dir DIR");
        goto done;
    }
    /* A bare name is looked up in the model dir first, then the working directory. */
    if (model_dir && !strchr(a->labels, '/')) {
        labels = ssd_path_join(model_dir, a->labels);
        if (labels && !ssd_path_exists(labels)) {
            ssd_free(labels);
            labels = ssd_strdup(a->labels);
        }
    } else {
        labels = ssd_strdup(a->labels);
    }
    if (!labels) {
        st = SSD_E_NOMEM;
        goto done;
    }
    SSD_CHECK_GOTO(st, labels_read(labels, &lab), done);

    printf("=> creating network:  %s\n", a->net);
    printf("=> num classes:       %d\n", lab.n);
    printf("=> resolution:        %dx%d\n", a->resolution, a->resolution);
    fflush(stdout);
    SSD_CHECK_GOTO(st, ssd_backend_create(&be, "ref"), done);
    SSD_CHECK_GOTO(st, ssd_model_create_wm(&m, be, net, lab.n, a->resolution, (float)a->width_mult),
                   done);
    printf("=> loading checkpoint:  %s\n", input);
    fflush(stdout);
    SSD_CHECK_GOTO(st, ssd_model_load(m, input, SSD_LOAD_FULL), done);

    const char *out = a->output && a->output[0] ? a->output : NULL;
    char defname[64];
    if (!out) {
        snprintf(defname, sizeof defname, "%s.onnx", a->net);
        out = defname;
    }
    if (model_dir && !strchr(out, '/') && !strchr(out, '\\'))
        output = ssd_path_join(model_dir, out);
    else
        output = ssd_strdup(out);
    if (!output) {
        st = SSD_E_NOMEM;
        goto done;
    }
    printf("=> exporting model to ONNX...\n");
    fflush(stdout);
    ssd_onnx_export_opts eo = {a->opset, a->batch, a->dynamic_batch, (const char *const *)lab.names,
                               lab.n};
    SSD_CHECK_GOTO(st, ssd_onnx_export(m, &eo, output), done);
    printf("model exported to:  %s\n", output);
done:
    ssd_model_destroy(m);
    ssd_backend_destroy(be);
    labels_free(&lab);
    ssd_free(model_dir);
    ssd_free(input);
    ssd_free(labels);
    ssd_free(output);
    return st;
}

int cmd_export(int argc, char **argv) {
    export_args a = {"ssd-mobilenet",        "",  "",   "labels.txt", "", 300, 1,
                     SSD_ONNX_OPSET_DEFAULT, 1.0, false};
    int o, r = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *q = opts; q->name; q++)
            if (q->val == o) name = q->name;
        switch (o) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case O_NET:
            a.net = optarg;
            break;
        case O_INPUT:
            a.input = optarg;
            break;
        case O_OUTPUT:
            a.output = optarg;
            break;
        case O_LABELS:
            a.labels = optarg;
            break;
        case O_RES:
            r = parse_int(name, optarg, 32, 4096, &a.resolution);
            break;
        case O_BATCH:
            r = parse_int(name, optarg, 1, 65536, &a.batch);
            break;
        case O_MB2:
            r = cli_parse_double("export", name, optarg, 0.01, 4, &a.width_mult);
            break;
        case O_MODEL_DIR:
            a.model_dir = optarg;
            break;
        case O_OPSET:
            r = parse_int(name, optarg, SSD_ONNX_OPSET_MIN, SSD_ONNX_OPSET_MAX, &a.opset);
            break;
        case O_DYN:
            a.dynamic_batch = true;
            break;
        default:
            fprintf(stderr, "Try 'ssd export --help'.\n");
            return 2;
        }
        if (r) return r;
    }
    if (optind < argc) {
        fprintf(stderr, "ssd export: unexpected argument '%s'\nTry 'ssd export --help'.\n",
                argv[optind]);
        return 2;
    }
    ssd_status st = run_export(&a);
    return st == SSD_OK ? 0 : cli_fail("export", st);
}

/* The training loop of train_ssd.py, with its files and log lines, plus exact
 * resume, Ctrl-C checkpoints, a NaN guard, metrics.csv and TensorBoard. */
#include "train/train.h"

#include "box/box.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/progress.h"
#include "core/pyfmt.h"
#include "core/strbuf.h"
#include "core/threads.h"
#include "data/loader.h"
#include "data/open_images.h"
#include "data/voc.h"
#include "eval/eval.h"
#include "models/model.h"
#include "train/schedule.h"
#include "train/sgd.h"
#include "train/tensorboard.h"
#include "train/train_state.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PRETRAINED "models/mobilenet-v1-ssd-mp-0_675.pth"

void ssd_train_config_defaults(ssd_train_config *c) {
    memset(c, 0, sizeof *c);
    c->dataset_type = "open_images";
    c->datasets[0] = "data";
    c->ndatasets = 1;
    c->net = "mb1-ssd";
    c->resolution = 300;
    c->mb2_width_mult = 1.0;
    c->pretrained_ssd = DEFAULT_PRETRAINED;
    c->lr = 0.01;
    c->momentum = 0.9;
    c->weight_decay = 5e-4;
    c->gamma = 0.1;
    c->base_net_lr = 0.001;
    c->extra_layers_lr = NAN;
    c->scheduler = "cosine";
    c->milestones_str = "80,100";
    c->milestones[0] = 80;
    c->milestones[1] = 100;
    c->nmilestones = 2;
    c->t_max = 100;
    c->batch_size = 4;
    c->num_epochs = 30;
    c->num_workers = 2;
    c->validation_epochs = 1;
    c->debug_steps = 10;
    c->use_cuda = true;
    c->precision = "fp32";
    c->model_dir = "models/";
    c->log_level = "info";
}

/* --- the arguments line: argparse's Namespace repr -------------------------- */

static void put_str(ssd_strbuf *b, const char *s) {
    if (!s) {
        ssd_strbuf_puts(b, "None");
        return;
    }
    ssd_strbuf_puts(b, "'");
    for (const char *p = s; *p; p++) {
        char ch[3] = {*p, 0, 0};
        if (*p == '\'' || *p == '\\') {
            ch[0] = '\\';
            ch[1] = *p;
        }
        ssd_strbuf_puts(b, ch);
    }
    ssd_strbuf_puts(b, "'");
}

static void kv(ssd_strbuf *b, const char *k, const char *v) {
    if (b->len > 10) ssd_strbuf_puts(b, ", ");
    ssd_strbuf_puts(b, k);
    ssd_strbuf_puts(b, "=");
    ssd_strbuf_puts(b, v);
}

static void kv_str(ssd_strbuf *b, const char *k, const char *v) {
    if (b->len > 10) ssd_strbuf_puts(b, ", ");
    ssd_strbuf_puts(b, k);
    ssd_strbuf_puts(b, "=");
    put_str(b, v);
}

static void kv_f(ssd_strbuf *b, const char *k, double v) {
    char t[40];
    kv(b, k, isnan(v) ? "None" : ssd_pyfloat_repr(v, t, sizeof t));
}

static void kv_i(ssd_strbuf *b, const char *k, long long v) {
    char t[32];
    snprintf(t, sizeof t, "%lld", v);
    kv(b, k, t);
}

static void log_args(const ssd_train_config *c) {
    ssd_strbuf b = {0};
    ssd_strbuf_puts(&b, "Namespace(");
    kv_str(&b, "dataset_type", c->dataset_type);
    if (b.len > 10) ssd_strbuf_puts(&b, ", ");
    ssd_strbuf_puts(&b, "datasets=[");
    for (int i = 0; i < c->ndatasets; i++) {
        if (i) ssd_strbuf_puts(&b, ", ");
        put_str(&b, c->datasets[i]);
    }
    ssd_strbuf_puts(&b, "]");
    kv(&b, "balance_data", c->balance_data ? "True" : "False");
    kv_str(&b, "net", c->net);
    kv_i(&b, "resolution", c->resolution);
    kv(&b, "freeze_base_net", c->freeze_base_net ? "True" : "False");
    kv(&b, "freeze_net", c->freeze_net ? "True" : "False");
    kv_f(&b, "mb2_width_mult", c->mb2_width_mult);
    kv_str(&b, "base_net", c->base_net);
    kv_str(&b, "pretrained_ssd", c->pretrained_ssd);
    kv_str(&b, "resume", c->resume);
    kv_f(&b, "lr", c->lr);
    kv_f(&b, "momentum", c->momentum);
    kv_f(&b, "weight_decay", c->weight_decay);
    kv_f(&b, "gamma", c->gamma);
    kv_f(&b, "base_net_lr", c->base_net_lr);
    kv_f(&b, "extra_layers_lr", c->extra_layers_lr);
    kv_str(&b, "scheduler", c->scheduler);
    kv_str(&b, "milestones", c->milestones_str);
    kv_f(&b, "t_max", c->t_max);
    kv_i(&b, "batch_size", c->batch_size);
    kv_i(&b, "num_epochs", c->num_epochs);
    kv_i(&b, "num_workers", c->num_workers);
    kv_i(&b, "validation_epochs", c->validation_epochs);
    kv(&b, "validation_mean_ap", c->validation_mean_ap ? "True" : "False");
    kv_i(&b, "debug_steps", c->debug_steps);
    kv(&b, "use_cuda", c->use_cuda ? "True" : "False");
    kv_str(&b, "checkpoint_folder", c->model_dir);
    kv_str(&b, "log_level", c->log_level);
    kv_i(&b, "seed", (long long)c->seed);
    kv_i(&b, "threads", c->threads);
    kv(&b, "strict", c->strict ? "True" : "False");
    ssd_strbuf_puts(&b, ")");
    if (b.s) ssd_info("%s", b.s);
    ssd_strbuf_free(&b);
}

/* str(SSDSpec(...)) as the reference logs it: ints stay ints, derived sizes are floats. */
static void log_specs(const ssd_model *m) {
    ssd_info("model resolution %dx%d", m->resolution, m->resolution);
    for (int i = 0; i < m->nheads; i++) {
        const ssd_prior_spec *s = &m->specs[i];
        char sh[40], mn[40], mx[40];
        bool ints = m->resolution == 300;
        if (ints) {
            snprintf(sh, sizeof sh, "%d", (int)s->shrinkage);
            snprintf(mn, sizeof mn, "%d", (int)s->min_size);
            snprintf(mx, sizeof mx, "%d", (int)s->max_size);
        } else {
            snprintf(sh, sizeof sh, "%d", (int)s->shrinkage);
            ssd_pyfloat_repr(s->min_size, mn, sizeof mn);
            ssd_pyfloat_repr(s->max_size, mx, sizeof mx);
        }
        char ar[64] = "";
        size_t o = 0;
        for (int r = 0; r < s->n_ratios; r++)
            o += (size_t)snprintf(ar + o, sizeof ar - o, r ? ", %d" : "%d", s->aspect_ratios[r]);
        ssd_info(
            "SSDSpec(feature_map_size=%d, shrinkage=%s, box_sizes=SSDBoxSizes(min=%s, max=%s), "
            "aspect_ratios=[%s])",
            s->feature_map_size, sh, mn, mx, ar);
    }
}

/* store_labels: "\n".join(names), no trailing newline. */
static ssd_status store_labels(const char *path, char **names, int n) {
    size_t len = 0;
    for (int i = 0; i < n; i++) len += strlen(names[i]) + 1;
    char *buf = ssd_malloc(len + 1), *p = buf;
    if (!buf) return SSD_E_NOMEM;
    for (int i = 0; i < n; i++) {
        if (i) *p++ = '\n';
        size_t k = strlen(names[i]);
        memcpy(p, names[i], k);
        p += k;
    }
    ssd_status st = ssd_file_write_atomic(path, buf, (size_t)(p - buf));
    ssd_free(buf);
    return st;
}

/* --- Ctrl-C ------------------------------------------------------------------ */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C stops at once */
}

/* --- one pass over a loader -------------------------------------------------- */

typedef struct {
    const ssd_train_config *c;
    ssd_model *m;
    ssd_sgd *opt;
    const ssd_dataset *train_ds;
    ssd_tensor x[2];
    int xi; /* the x of the last step */
    ssd_loss_ws loss;
    FILE *csv;
    ssd_tb_writer tb;
    int64_t global_step;
    size_t planned_logged; /* planned buffer bytes last logged */
} trainer;

/* Forward (and backward + update when training) of one batch; losses out. */
static ssd_status step(trainer *t, const ssd_batch *b, const ssd_dataset *ds, bool training,
                       int64_t epoch, int64_t i, double *reg, double *cls) {
    ssd_model *m = t->m;
    int n = b->n, s = m->resolution;
    int64_t shape[4] = {n, 3, s, s};
    /* Two input tensors in turn: this batch's copy may run while the previous step's
     * backward still reads the other one (ssd_tensor_upload). */
    ssd_tensor *x = &t->x[t->xi ^= 1];
    ssd_tensor_ensure(x, m->be, SSD_F32, 4, shape);
    SSD_TRY(ssd_tensor_upload(x, b->images));
    ssd_status fst = ssd_model_forward(m, x, training);
    if (fst != SSD_OK && training && n == 1)
        /* batch norm over a 1x1 map (mb3's squeeze-excite) cannot normalise one image;
         * PyTorch refuses the same batch */
        return ssd_error_prefix(fst,
                                "epoch %lld, step %lld: a batch of one image "
                                "(choose a --batch-size that does not leave one image over)",
                                (long long)epoch, (long long)i);
    SSD_TRY(fst);
    SSD_TRY(ssd_multibox_loss_on(&t->loss, reg, cls, training ? &m->dconf : NULL,
                                 training ? &m->dloc : NULL, &m->conf, &m->loc, b->labels, b->loc,
                                 3));
    if (!isfinite(*reg + *cls)) {
        char ids[512] = "";
        size_t o = 0;
        for (int j = 0; j < n && o < sizeof ids - 64; j++)
            o += (size_t)snprintf(ids + o, sizeof ids - o, "%s%s", j ? ", " : "",
                                  ds->ops->image_id(ds, b->sample_idx[j]));
        return ssd_error_set(SSD_E_FORMAT,
                             "epoch %lld, step %lld: the %s loss is %s (regression %g, "
                             "classification %g); images of the batch: %s",
                             (long long)epoch, (long long)i, training ? "training" : "validation",
                             isnan(*reg + *cls) ? "nan" : "inf", *reg, *cls, ids);
    }
    if (!training) return SSD_OK;
    SSD_TRY(ssd_model_backward(m));
    size_t planned = ssd_graph_planned_bytes(&m->g);
    if (planned != t->planned_logged) {
        ssd_log(SSD_LOG_DEBUG, "activation and gradient buffers: %.1f MB for batch %d",
                (double)planned / 1048576.0, n);
        t->planned_logged = planned;
    }
    return ssd_sgd_step(t->opt);
}

static void set_lrs(trainer *t, int epoch) {
    const ssd_train_config *c = t->c;
    double f = strcmp(c->scheduler, "cosine") == 0
                   ? ssd_schedule_cosine(epoch, c->t_max)
                   : ssd_schedule_multistep(epoch, c->milestones, c->nmilestones, c->gamma);
    double base = c->base_net_lr, extra = isnan(c->extra_layers_lr) ? c->lr : c->extra_layers_lr;
    t->opt->lr[SSD_GROUP_BASE] = base * f;
    t->opt->lr[SSD_GROUP_EXTRAS] = (c->freeze_net ? c->lr : extra) * f;
    t->opt->lr[SSD_GROUP_HEADS] = c->lr * f;
}

static ssd_status train_epoch(trainer *t, ssd_loader *ld, int epoch, double out[3]) {
    const ssd_train_config *c = t->c;
    SSD_TRY(ssd_loader_start_epoch(ld, epoch));
    int64_t nb = ssd_loader_num_batches(ld);
    double run[3] = {0}, tot[3] = {0};
    int64_t batches = 0, images = 0;
    ssd_progress bar;
    char label[32];
    snprintf(label, sizeof label, "epoch %d", epoch);
    ssd_progress_init(&bar, label, "img", nb * c->batch_size);
    double t0 = ssd_now();
    ssd_status st = SSD_OK;
    for (int64_t i = 0;; i++) {
        ssd_batch *b;
        st = ssd_loader_next(ld, &b);
        if (st != SSD_OK || !b) break;
        double reg, cls;
        if (b->n > 0)
            st = step(t, b, t->train_ds, true, epoch, i, &reg, &cls);
        else
            reg = cls = 0;
        int n = b->n;
        ssd_loader_release(ld, b);
        if (st != SSD_OK) break;
        double l[3] = {reg + cls, reg, cls};
        for (int k = 0; k < 3; k++) {
            run[k] += l[k];
            tot[k] += l[k];
        }
        batches++;
        images += n;
        t->global_step++;
        double ips = images / (ssd_now() - t0 + 1e-9);
        if (t->csv)
            fprintf(t->csv, "step,%d,%lld,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.2f\n", epoch,
                    (long long)i, l[0], l[1], l[2], t->opt->lr[0], t->opt->lr[1], t->opt->lr[2],
                    ips);
        char extra[64];
        snprintf(extra, sizeof extra, "loss %.4f  %.1f img/s", l[0], ips);
        ssd_progress_add(&bar, n, extra);
        if (i && i % c->debug_steps == 0) {
            ssd_info("Epoch: %d, Step: %lld/%lld, Avg Loss: %.4f, Avg Regression Loss %.4f, "
                     "Avg Classification Loss: %.4f",
                     epoch, (long long)i, (long long)nb, run[0] / c->debug_steps,
                     run[1] / c->debug_steps, run[2] / c->debug_steps);
            run[0] = run[1] = run[2] = 0;
        }
        if (interrupted) break;
    }
    ssd_progress_end(&bar);
    if (st != SSD_OK) return st;
    if (interrupted) return SSD_E_INTERRUPTED;
    if (batches == 0) return ssd_error_set(SSD_E_INVAL, "the training set gave no batch");
    for (int k = 0; k < 3; k++) out[k] = tot[k] / batches;
    double secs = ssd_now() - t0;
    ssd_info("Epoch: %d, Training Loss: %.4f, Training Regression Loss %.4f, Training "
             "Classification Loss: %.4f",
             epoch, out[0], out[1], out[2]);
    ssd_debug("Epoch: %d, %lld images in %.1f s (%.1f images/s)", epoch, (long long)images, secs,
              images / (secs + 1e-9));
    if (t->csv) {
        fprintf(t->csv, "train,%d,,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.2f\n", epoch, out[0], out[1],
                out[2], t->opt->lr[0], t->opt->lr[1], t->opt->lr[2], images / (secs + 1e-9));
        fflush(t->csv);
    }
    ssd_tb_scalar(&t->tb, "Loss/train", epoch, (float)out[0]);
    ssd_tb_scalar(&t->tb, "Regression Loss/train", epoch, (float)out[1]);
    ssd_tb_scalar(&t->tb, "Classification Loss/train", epoch, (float)out[2]);
    return SSD_OK;
}

static ssd_status validate(trainer *t, ssd_loader *ld, const ssd_dataset *ds, int epoch,
                           double out[3]) {
    SSD_TRY(ssd_loader_start_epoch(ld, 0));
    double tot[3] = {0};
    int64_t num = 0;
    ssd_status st = SSD_OK;
    for (int64_t i = 0;; i++) {
        ssd_batch *b;
        st = ssd_loader_next(ld, &b);
        if (st != SSD_OK || !b) break;
        double reg = 0, cls = 0;
        if (b->n > 0) st = step(t, b, ds, false, epoch, i, &reg, &cls);
        ssd_loader_release(ld, b);
        if (st != SSD_OK) break;
        tot[0] += reg + cls;
        tot[1] += reg;
        tot[2] += cls;
        num++;
    }
    if (st != SSD_OK) return st;
    if (num == 0) return ssd_error_set(SSD_E_INVAL, "the validation set gave no batch");
    for (int k = 0; k < 3; k++) out[k] = tot[k] / num;
    ssd_info("Epoch: %d, Validation Loss: %.4f, Validation Regression Loss %.4f, Validation "
             "Classification Loss: %.4f",
             epoch, out[0], out[1], out[2]);
    if (t->csv) {
        fprintf(t->csv, "val,%d,,%.9g,%.9g,%.9g,,,,\n", epoch, out[0], out[1], out[2]);
        fflush(t->csv);
    }
    ssd_tb_scalar(&t->tb, "Loss/val", epoch, (float)out[0]);
    ssd_tb_scalar(&t->tb, "Regression Loss/val", epoch, (float)out[1]);
    ssd_tb_scalar(&t->tb, "Classification Loss/val", epoch, (float)out[2]);
    return SSD_OK;
}

/* --validation-mean-ap: eval_ssd's VOC mAP on the validation set, with its log lines
 * ("Epoch: N, Average Precision Per-class:" ...) and TensorBoard tags. */
static ssd_status mean_ap(trainer *t, const ssd_dataset *val, const char *model_dir, int epoch) {
    ssd_eval_params p;
    ssd_eval_params_default(&p);
    p.batch_size = t->c->batch_size;
    p.workers = t->c->num_workers;
    p.pr_curves = false;
    char *dir = ssd_path_join(model_dir, "eval_results");
    if (!dir) return SSD_E_NOMEM;
    p.eval_dir = dir;
    ssd_eval_results r;
    memset(&r, 0, sizeof r);
    ssd_status st = ssd_mkdir_p(dir);
    if (st == SSD_OK) st = ssd_eval_run(t->m, val, &p, &r);
    if (st == SSD_OK) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "Epoch: %d, ", epoch);
        ssd_eval_log(&r, prefix);
        ssd_tb_scalar(&t->tb, "Mean Average Precision/val", epoch, (float)r.map);
        for (int i = 1; i < r.num_classes; i++) {
            char tag[160];
            snprintf(tag, sizeof tag, "Class Average Precision/%s", r.classes[i].name);
            ssd_tb_scalar(&t->tb, tag, epoch, (float)r.classes[i].ap);
        }
        if (t->csv) fprintf(t->csv, "map,%d,,%.9g,,,,,,\n", epoch, r.map);
    }
    ssd_eval_results_free(&r);
    ssd_free(dir);
    return st;
}

/* Weights and training state, both written atomically. */
static ssd_status save_checkpoint(trainer *t, const char *path, int64_t done_epoch) {
    SSD_TRY(ssd_model_save(t->m, path));
    char *sp = ssd_train_state_path(path);
    if (!sp) return SSD_E_NOMEM;
    ssd_status st = ssd_train_state_save(sp, t->opt, done_epoch, t->c->seed);
    ssd_free(sp);
    return st;
}

static ssd_status load_weights(const ssd_train_config *c, ssd_model *m, ssd_sgd *opt,
                               int *last_epoch, uint64_t *seed) {
    *last_epoch = -1;
    if (c->resume) {
        ssd_info("Resuming from the model %s", c->resume);
        SSD_TRY(ssd_model_load(m, c->resume, SSD_LOAD_FULL));
        char *sp = ssd_train_state_path(c->resume);
        if (!sp) return SSD_E_NOMEM;
        ssd_status st = SSD_OK;
        if (ssd_path_exists(sp)) {
            int64_t e;
            st = ssd_train_state_load(sp, opt, &e, seed);
            if (st == SSD_OK) {
                *last_epoch = (int)e;
                ssd_info("Restored the training state from %s: epoch %lld done, SGD momentum, "
                         "seed %llu.",
                         sp, (long long)e, (unsigned long long)*seed);
            }
        } else {
            ssd_info("No training state %s: resuming the weights only (epochs, schedule and "
                     "momentum restart, as train_ssd.py does).",
                     sp);
        }
        ssd_free(sp);
        return st;
    }
    if (c->base_net) {
        ssd_info("Init from base net %s", c->base_net);
        SSD_TRY(ssd_model_load(m, c->base_net, SSD_LOAD_BASE_NET));
        return ssd_model_init_non_base_xavier(m, c->seed);
    }
    if (c->pretrained_ssd && c->pretrained_ssd[0]) { /* '' means none, as in Python */
        if (!c->pretrained_ssd_given && !ssd_path_exists(c->pretrained_ssd)) {
            ssd_warn("The default pretrained model %s is not there and cannot be downloaded "
                     "here; training from scratch. (Make one with `ssd convert tfjs`, or pass "
                     "--pretrained-ssd.)",
                     c->pretrained_ssd);
            return SSD_OK;
        }
        ssd_info("Init from pretrained SSD %s", c->pretrained_ssd);
        SSD_TRY(ssd_model_load(m, c->pretrained_ssd, SSD_LOAD_PRETRAINED_SSD));
        return ssd_model_init_heads_xavier(m, c->seed);
    }
    return SSD_OK;
}

static ssd_status open_datasets(const ssd_train_config *c, ssd_dataset **train, ssd_dataset **val,
                                const char *label_file) {
    bool oi = !strcmp(c->dataset_type, "open_images");
    if (!oi && strcmp(c->dataset_type, "voc") != 0)
        return ssd_error_set(SSD_E_UNSUPPORTED, "--dataset-type %s is not supported",
                             c->dataset_type);
    if (c->balance_data && !oi) ssd_warn("--balance-data only applies to open_images; ignored");
    ssd_info("Prepare training datasets.");
    if (oi)
        SSD_TRY(ssd_oi_concat(train, c->datasets, c->ndatasets, "train", c->balance_data, c->seed));
    else
        SSD_TRY(ssd_voc_concat(train, c->datasets, c->ndatasets, false, NULL));
    SSD_TRY(store_labels(label_file, (*train)->class_names, (*train)->num_classes));
    ssd_info("Stored labels into file %s.", label_file);
    ssd_info("Train dataset size: %lld", (long long)ssd_dataset_size(*train));
    ssd_info("Prepare Validation datasets.");
    /* As the reference: Open Images validates on the test split, not validation. */
    if (oi)
        SSD_TRY(ssd_oi_open(val, c->datasets[c->ndatasets - 1], "test", false, c->seed));
    else
        SSD_TRY(ssd_voc_open(val, c->datasets[c->ndatasets - 1], true, NULL));
    ssd_info("Validation dataset size: %lld", (long long)ssd_dataset_size(*val));
    if (ssd_dataset_size(*train) == 0)
        return ssd_error_set(SSD_E_INVAL, "%s: the training set is empty", c->datasets[0]);
    if (ssd_dataset_size(*val) == 0)
        return ssd_error_set(SSD_E_INVAL, "%s: the validation set (test split) is empty",
                             c->datasets[c->ndatasets - 1]);
    return SSD_OK;
}

static void loader_cfg(const ssd_train_config *c, const ssd_model *m, ssd_prior_target *pt,
                       bool train, ssd_loader_cfg *lc) {
    ssd_loader_cfg_default(lc);
    lc->batch_size = c->batch_size;
    lc->workers = c->num_workers;
    lc->shuffle = train && !c->no_shuffle;
    lc->seed = c->seed;
    lc->train = train && !c->no_augment;
    lc->image_size = m->resolution;
    for (int i = 0; i < 3; i++) lc->mean[i] = m->image_mean[i];
    lc->std = m->image_std;
    lc->strict = c->strict;
    lc->target = ssd_prior_target_fn;
    lc->target_ctx = pt;
    lc->num_priors = m->num_priors;
    lc->buf_alloc = ssd_backend_host_alloc_cb;
    lc->buf_free = ssd_backend_host_free_cb;
    lc->buf_ctx = m->be;
}

/* --use-cuda (the default) trains on the GPU when the cuda backend is built and a device is
 * present, as train_ssd.py does with torch.cuda.is_available(); else on the CPU. */
static ssd_status open_backend(const ssd_train_config *c, ssd_backend **be) {
    ssd_precision prec;
    SSD_TRY(ssd_precision_parse(c->precision ? c->precision : "fp32", &prec));
    const bool gpu = strcmp(ssd_backend_choose(c->use_cuda, SSD_LOG_INFO, "training"), "cuda") == 0;
    char d[256];
    SSD_TRY(ssd_backend_create_or_cpu(be, gpu ? "cuda" : "cpu", SSD_LOG_WARNING, "training"));
    if (strcmp((*be)->ops->name, "cuda") == 0)
        ssd_info("Training on the GPU: cuda %s, precision %s.",
                 ssd_backend_cuda_describe(d, sizeof d), ssd_precision_name(prec));
    return ssd_backend_set_precision(*be, prec);
}

ssd_status ssd_train_run(const ssd_train_config *cfg) {
    ssd_train_config cc = *cfg;
    const ssd_train_config *c = &cc;
    ssd_log_set_level((ssd_log_level)ssd_log_level_parse(c->log_level));
    ssd_threads_set(c->threads);
    log_args(c);

    trainer t;
    memset(&t, 0, sizeof t);
    t.c = c;
    ssd_backend *be = NULL;
    ssd_dataset *train = NULL, *val = NULL;
    ssd_model *m = NULL;
    ssd_sgd opt;
    memset(&opt, 0, sizeof opt);
    ssd_prior_target pt;
    memset(&pt, 0, sizeof pt);
    ssd_loader *tl = NULL, *vl = NULL;
    char *model_dir = ssd_path_expand_user(c->model_dir), *label_file = NULL, *tbdir = NULL;
    ssd_status st = model_dir ? SSD_OK : SSD_E_NOMEM;
    if (st == SSD_OK) st = ssd_mkdir_p(model_dir);
    if (st == SSD_OK) st = open_backend(c, &be);
    if (st == SSD_OK && !ssd_net_supported(c->net))
        st = ssd_error_set(SSD_E_UNSUPPORTED, "--net %s is not supported yet (mb1-ssd is)", c->net);
    /* The priors depend on the resolution only; the reference logs them before the datasets. */
    if (st == SSD_OK)
        st = ssd_model_create_wm(&m, be, c->net, 2, c->resolution, (float)c->mb2_width_mult);
    if (st == SSD_OK) {
        if (!strcmp(c->net, "mb1-ssd")) log_specs(m);
        ssd_model_destroy(m);
        m = NULL;
        label_file = ssd_path_join(model_dir, "labels.txt");
        if (!label_file) st = SSD_E_NOMEM;
    }
    if (st == SSD_OK) st = open_datasets(c, &train, &val, label_file);
    if (st == SSD_OK) {
        ssd_info("Build network.");
        st = ssd_model_create_wm(&m, be, c->net, train->num_classes, c->resolution,
                                 (float)c->mb2_width_mult);
    }
    if (st == SSD_OK) {
        if (c->freeze_base_net)
            ssd_info("Freeze base net.");
        else if (c->freeze_net)
            ssd_info("Freeze all the layers except prediction heads.");
        ssd_model_set_frozen(m, c->freeze_base_net, c->freeze_net);
        st = ssd_sgd_init(&opt, &m->params, c->momentum, c->weight_decay);
    }
    int last_epoch = -1;
    if (st == SSD_OK) {
        double t0 = ssd_now();
        st = load_weights(c, m, &opt, &last_epoch, &cc.seed);
        if (st == SSD_OK) ssd_info("Took %.2f seconds to load the model.", ssd_now() - t0);
    }
    if (st == SSD_OK) {
        char a[40], b[40], e[40];
        ssd_info(
            "Learning rate: %s, Base net learning rate: %s, Extra Layers learning rate: %s.",
            ssd_pyfloat_repr(c->lr, a, sizeof a), ssd_pyfloat_repr(c->base_net_lr, b, sizeof b),
            ssd_pyfloat_repr(isnan(c->extra_layers_lr) ? c->lr : c->extra_layers_lr, e, sizeof e));
        ssd_info(strcmp(c->scheduler, "cosine") == 0 ? "Uses CosineAnnealingLR scheduler."
                                                     : "Uses MultiStepLR scheduler.");
        t.m = m;
        t.opt = &opt;
        t.train_ds = train;
        st = ssd_prior_target_init(&pt, m->priors, m->num_priors, 0.5f, m->center_variance,
                                   m->size_variance);
    }
    ssd_loader_cfg lc;
    if (st == SSD_OK) {
        loader_cfg(c, m, &pt, true, &lc);
        st = ssd_loader_create(&tl, train, &lc);
    }
    if (st == SSD_OK) {
        loader_cfg(c, m, &pt, false, &lc);
        st = ssd_loader_create(&vl, val, &lc);
    }
    if (st == SSD_OK) {
        char *csv = ssd_path_join(model_dir, "metrics.csv");
        bool fresh = csv && !ssd_path_exists(csv);
        t.csv = csv ? fopen(csv, "a") : NULL;
        if (t.csv && fresh)
            fprintf(t.csv, "kind,epoch,step,loss,regression_loss,classification_loss,lr_base,"
                           "lr_extras,lr_heads,images_per_sec\n");
        ssd_free(csv);
        char stamp[32], sub[64];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
        snprintf(sub, sizeof sub, "tensorboard/%s", stamp);
        tbdir = ssd_path_join(model_dir, sub);
        if (tbdir && ssd_tb_open(&t.tb, tbdir) != SSD_OK)
            ssd_warn("TensorBoard: %s", ssd_error_message());
    }
    if (st == SSD_OK) {
        ssd_info("Start training from epoch %d.", last_epoch + 1);
        interrupted = 0;
        signal(SIGINT, on_sigint);
    }
    for (int epoch = last_epoch + 1; st == SSD_OK && epoch < c->num_epochs; epoch++) {
        double tr[3], va[3];
        set_lrs(&t, epoch);
        st = train_epoch(&t, tl, epoch, tr);
        if (st == SSD_E_INTERRUPTED) {
            char name[128];
            snprintf(name, sizeof name, "%s-Epoch-%d-interrupted.pth", c->net, epoch);
            char *p = ssd_path_join(model_dir, name);
            if (p && save_checkpoint(&t, p, epoch - 1) == SSD_OK)
                ssd_info("Interrupted: saved model %s (resume with --resume %s)", p, p);
            ssd_free(p);
            ssd_error_set(SSD_E_INTERRUPTED, "interrupted during epoch %d", epoch);
            break;
        }
        if (st != SSD_OK) break;
        if (epoch % c->validation_epochs == 0 || epoch == c->num_epochs - 1) {
            st = validate(&t, vl, val, epoch, va);
            if (st != SSD_OK) break;
            if (c->validation_mean_ap) st = mean_ap(&t, val, model_dir, epoch);
            if (st != SSD_OK) break;
            char loss[40], name[160];
            snprintf(name, sizeof name, "%s-Epoch-%d-Loss-%s.pth", c->net, epoch,
                     ssd_pyfloat_repr(va[0], loss, sizeof loss));
            char *p = ssd_path_join(model_dir, name);
            st = p ? save_checkpoint(&t, p, epoch) : SSD_E_NOMEM;
            if (st == SSD_OK) ssd_info("Saved model %s", p);
            ssd_free(p);
        }
    }
    if (st == SSD_OK) ssd_info("Task done, exiting program.");
    signal(SIGINT, SIG_DFL);
    if (t.csv) fclose(t.csv);
    ssd_tb_close(&t.tb);
    ssd_loader_destroy(tl);
    ssd_loader_destroy(vl);
    ssd_prior_target_deinit(&pt);
    ssd_tensor_deinit(&t.x[0]);
    ssd_tensor_deinit(&t.x[1]);
    ssd_loss_ws_free(&t.loss);
    ssd_sgd_deinit(&opt);
    ssd_model_destroy(m);
    ssd_dataset_destroy(train);
    ssd_dataset_destroy(val);
    ssd_backend_destroy(be);
    ssd_free(model_dir);
    ssd_free(label_file);
    ssd_free(tbdir);
    return st;
}

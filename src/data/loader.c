#include "data/loader.h"

#include "box/box.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/rng.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- default target ----------------------------------------------------------------------- */

ssd_status ssd_prior_target_init(ssd_prior_target *t, const float *priors_center, int k,
                                 float iou_threshold, float center_variance, float size_variance) {
    memset(t, 0, sizeof *t);
    if (!priors_center || k < 1)
        return ssd_error_set(SSD_E_INVAL, "prior target: no priors (k = %d)", k);
    t->priors_corner = ssd_malloc((size_t)k * 4 * sizeof(float));
    if (!t->priors_corner) return SSD_E_NOMEM;
    ssd_box_center_to_corner(t->priors_corner, priors_center, k);
    t->priors_center = priors_center;
    t->k = k;
    t->iou_threshold = iou_threshold;
    t->center_variance = center_variance;
    t->size_variance = size_variance;
    return SSD_OK;
}

void ssd_prior_target_deinit(ssd_prior_target *t) {
    if (!t) return;
    ssd_free(t->priors_corner);
    t->priors_corner = NULL;
}

/* MatchPrior: assign ground truths to priors, then encode the assigned corners against the
 * center-form priors. */
ssd_status ssd_prior_target_fn(void *ctx, const float *boxes, const int64_t *labels, int n,
                               float *loc, int64_t *out_labels, float *scratch) {
    const ssd_prior_target *t = ctx;
    ssd_box_assign_priors(scratch, out_labels, boxes, labels, n, t->priors_corner, t->k,
                          t->iou_threshold);
    ssd_box_encode(loc, scratch, t->priors_center, t->k, t->center_variance, t->size_variance);
    return SSD_OK;
}

/* ---- loader -------------------------------------------------------------------------------- */

enum { SLOT_IDLE, SLOT_FILLING, SLOT_READY, SLOT_BORROWED };

typedef struct {
    ssd_batch b; /* first member: a borrowed ssd_batch * is its slot */
    int state;
    int size;       /* samples assigned to this batch */
    int done;       /* samples finished (loaded or failed) */
    uint8_t *ok;    /* (N) sample j loaded */
    ssd_status err; /* first fatal error of the batch */
    char msg[512];
} slot;

typedef struct {
    struct ssd_loader *l;
    pthread_t thread;
    ssd_augment_scratch scratch;
    float *boxes;    /* (cap,4) augmented boxes */
    int64_t *labels; /* (cap) */
    int cap;
    float *tscratch; /* (K,4) for the target callback */
} worker;

struct ssd_loader {
    const ssd_dataset *ds;
    ssd_loader_cfg cfg;
    ssd_transform_cfg tcfg;
    int64_t n;         /* dataset size */
    int64_t n_tasks;   /* samples used per epoch */
    int64_t n_batches; /* per epoch */
    int64_t *order;    /* (n) this epoch's sample order */
    int nslots;
    slot *slots;
    int nworkers; /* threads started */
    worker *workers;
    int nworker_structs; /* max(1, nworkers): the inline path uses workers[0] */

    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* workers: a task may be available, or stop */
    pthread_cond_t ready_cv; /* consumer: a batch is ready; start_epoch: nothing in flight */
    int64_t epoch;
    int64_t next_task;  /* next sample position of the epoch to hand out */
    int64_t next_batch; /* next batch the consumer gets */
    int inflight;
    bool stop;
    int64_t skipped;
    ssd_prior_target own_target; /* when cfg.priors is given instead of a callback */
};

static void *buf_alloc(const ssd_loader *l, size_t bytes) {
    return l->cfg.buf_alloc ? l->cfg.buf_alloc(l->cfg.buf_ctx, bytes) : ssd_aligned_alloc(bytes);
}

static void buf_free(const ssd_loader *l, void *p) {
    if (!p) return;
    if (l->cfg.buf_free)
        l->cfg.buf_free(l->cfg.buf_ctx, p);
    else
        ssd_free(p);
}

void ssd_loader_cfg_default(ssd_loader_cfg *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->batch_size = 32;
    cfg->image_size = 300;
    cfg->std = 1.f;
    cfg->iou_threshold = 0.5f;
    cfg->center_variance = 0.1f;
    cfg->size_variance = 0.2f;
}

static size_t image_floats(const ssd_loader *l) {
    return (size_t)3 * l->cfg.image_size * l->cfg.image_size;
}

static int batch_len(const ssd_loader *l, int64_t b) {
    int64_t left = l->n_tasks - b * l->cfg.batch_size;
    return (int)(left < l->cfg.batch_size ? left : l->cfg.batch_size);
}

/* Gives slot s the batch b of the current epoch (or nothing past the end). Lock held. */
static void slot_assign(ssd_loader *l, slot *s, int64_t b) {
    s->b.index = b;
    s->b.epoch = l->epoch;
    s->b.n = 0;
    s->b.skipped = 0;
    s->done = 0;
    s->err = SSD_OK;
    s->msg[0] = 0;
    if (b < l->n_batches) {
        s->size = batch_len(l, b);
        s->state = SLOT_FILLING;
        memset(s->ok, 0, (size_t)l->cfg.batch_size);
    } else {
        s->size = 0;
        s->state = SLOT_IDLE;
    }
}

static slot *slot_of_batch(ssd_loader *l, int64_t b) {
    return &l->slots[b % l->nslots];
}

/* Moves the loaded samples of a finished batch to the front, leaving out the failed ones. */
static void slot_finish(ssd_loader *l, slot *s) {
    const size_t img = image_floats(l);
    const size_t k = (size_t)l->cfg.num_priors;
    const bool tgt = l->cfg.target != NULL;
    int m = 0;
    for (int j = 0; j < s->size; j++) {
        if (!s->ok[j]) continue;
        if (m != j) {
            memcpy(s->b.images + m * img, s->b.images + j * img, img * sizeof(float));
            if (tgt) {
                memcpy(s->b.loc + m * k * 4, s->b.loc + j * k * 4, k * 4 * sizeof(float));
                memcpy(s->b.labels + m * k, s->b.labels + j * k, k * sizeof(int64_t));
            }
            s->b.sample_idx[m] = s->b.sample_idx[j];
        }
        m++;
    }
    s->b.n = m;
    s->b.skipped = s->size - m;
    s->state = SLOT_READY;
}

static ssd_status worker_reserve(worker *w, int n) {
    if (n <= w->cap) return SSD_OK;
    int cap = n < 16 ? 16 : n;
    float *b = ssd_malloc((size_t)cap * 4 * sizeof(float));
    int64_t *lb = ssd_malloc((size_t)cap * sizeof(int64_t));
    if (!b || !lb) {
        ssd_free(b);
        ssd_free(lb);
        return SSD_E_NOMEM;
    }
    ssd_free(w->boxes);
    ssd_free(w->labels);
    w->boxes = b;
    w->labels = lb;
    w->cap = cap;
    return SSD_OK;
}

/* Loads sample `idx` into position j of slot s. *load_failed tells a dataset failure (skippable)
 * from one of ours (always fatal). Writes only the slot's row j, so runs without the lock. */
static ssd_status load_sample(ssd_loader *l, worker *w, int64_t epoch, int64_t idx, slot *s, int j,
                              bool *load_failed) {
    ssd_image img = {0};
    ssd_annotation ann = {0};
    ssd_status st;
    *load_failed = false;
    st = l->ds->ops->get(l->ds, idx, l->cfg.keep_difficult, &img, &ann);
    if (st != SSD_OK) {
        /* A bad file is skipped; running out of memory is not the file's fault. */
        *load_failed = st != SSD_E_NOMEM;
        goto done;
    }
    ssd_augment_params p;
    if (l->cfg.train) {
        ssd_rng rng;
        ssd_rng_init(&rng, l->cfg.seed, ssd_rng_stream((uint64_t)epoch, (uint64_t)idx));
        ssd_augment_draw(&p, &rng, img.w, img.h, ann.boxes, ann.n);
    } else {
        ssd_augment_identity(&p, img.w, img.h);
    }
    SSD_CHECK_GOTO(st, worker_reserve(w, ann.n), done);
    int m = ssd_augment_boxes(&p, ann.boxes, ann.labels, ann.n, w->boxes, w->labels);
    SSD_CHECK_GOTO(st,
                   ssd_augment_render(&p, &img, &l->tcfg, s->b.images + (size_t)j * image_floats(l),
                                      &w->scratch),
                   done);
    if (l->cfg.target) {
        size_t k = (size_t)l->cfg.num_priors;
        SSD_CHECK_GOTO(st,
                       l->cfg.target(l->cfg.target_ctx, w->boxes, w->labels, m,
                                     s->b.loc + j * k * 4, s->b.labels + j * k, w->tscratch),
                       done);
    }
    s->b.sample_idx[j] = idx;
done:
    ssd_image_free(&img);
    ssd_annotation_free(&ann);
    return st;
}

static const char *sample_name(const ssd_loader *l, int64_t idx) {
    const char *p = l->ds->ops->image_path ? l->ds->ops->image_path(l->ds, idx) : NULL;
    return p ? p : "?";
}

/* Records the outcome of sample j of slot s. Lock held (or the inline path). */
static void record(ssd_loader *l, slot *s, int j, int64_t idx, ssd_status st, bool load_failed) {
    if (st == SSD_OK) {
        s->ok[j] = 1;
    } else if (load_failed && !l->cfg.strict) {
        ssd_warn("skipping sample %lld (%s): %s", (long long)idx, sample_name(l, idx),
                 ssd_error_message());
        l->skipped++;
    } else if (s->err == SSD_OK) {
        s->err = st;
        snprintf(s->msg, sizeof s->msg, "sample %lld (%s): %s", (long long)idx, sample_name(l, idx),
                 ssd_error_message());
    }
    if (++s->done == s->size) slot_finish(l, s);
}

static bool task_available(ssd_loader *l) {
    if (l->next_task >= l->n_tasks) return false;
    int64_t b = l->next_task / l->cfg.batch_size;
    slot *s = slot_of_batch(l, b);
    return s->state == SLOT_FILLING && s->b.index == b;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    ssd_loader *l = w->l;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !task_available(l)) pthread_cond_wait(&l->work_cv, &l->mu);
        if (l->stop) break;
        int64_t t = l->next_task++;
        int64_t b = t / l->cfg.batch_size;
        int j = (int)(t % l->cfg.batch_size);
        int64_t idx = l->order[t], epoch = l->epoch;
        slot *s = slot_of_batch(l, b);
        l->inflight++;
        pthread_mutex_unlock(&l->mu);

        bool load_failed;
        ssd_status st = load_sample(l, w, epoch, idx, s, j, &load_failed);

        pthread_mutex_lock(&l->mu);
        record(l, s, j, idx, st, load_failed);
        if (s->state == SLOT_READY) pthread_cond_broadcast(&l->ready_cv);
        if (--l->inflight == 0) pthread_cond_broadcast(&l->ready_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Lock held. Stops handing out tasks and waits for those in flight. */
static void drain(ssd_loader *l) {
    l->next_task = l->n_tasks;
    while (l->inflight > 0) pthread_cond_wait(&l->ready_cv, &l->mu);
}

/* Lock held, nothing in flight. */
static void reset_epoch(ssd_loader *l, int64_t epoch) {
    l->epoch = epoch;
    for (int64_t i = 0; i < l->n; i++) l->order[i] = i;
    if (l->cfg.shuffle) {
        ssd_rng r;
        /* A stream no sample uses: sample streams are keyed by (epoch, index >= 0). */
        ssd_rng_init(&r, l->cfg.seed, ssd_rng_stream((uint64_t)epoch, UINT64_MAX));
        ssd_rng_shuffle(&r, l->order, l->n);
    }
    l->next_task = 0;
    l->next_batch = 0;
    for (int i = 0; i < l->nslots; i++) slot_assign(l, &l->slots[i], i);
}

ssd_status ssd_loader_start_epoch(ssd_loader *l, int64_t epoch) {
    pthread_mutex_lock(&l->mu);
    drain(l);
    reset_epoch(l, epoch);
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    return SSD_OK;
}

static ssd_status check_cfg(const ssd_dataset *ds, const ssd_loader_cfg *c) {
    if (!ds || !ds->ops || !ds->ops->get || !ds->ops->size)
        return ssd_error_set(SSD_E_INVAL, "loader: no dataset");
    if (c->batch_size < 1)
        return ssd_error_set(SSD_E_INVAL, "loader: batch size %d", c->batch_size);
    if (c->workers < 0 || c->workers > 256)
        return ssd_error_set(SSD_E_INVAL, "loader: %d workers", c->workers);
    if (c->image_size < 1 || c->image_size > 8192)
        return ssd_error_set(SSD_E_INVAL, "loader: image size %d", c->image_size);
    if (!(c->std != 0.f)) return ssd_error_set(SSD_E_INVAL, "loader: std must be non-zero");
    if ((c->target || c->priors) && c->num_priors < 1)
        return ssd_error_set(SSD_E_INVAL, "loader: a target needs num_priors > 0");
    return SSD_OK;
}

ssd_status ssd_loader_create(ssd_loader **out, const ssd_dataset *ds, const ssd_loader_cfg *cfg) {
    *out = NULL;
    SSD_TRY(check_cfg(ds, cfg));
    ssd_status st = SSD_OK;
    ssd_loader *l = ssd_calloc(1, sizeof *l);
    if (!l) return SSD_E_NOMEM;
    l->ds = ds;
    l->cfg = *cfg;
    if (!cfg->target && cfg->priors) {
        st = ssd_prior_target_init(&l->own_target, cfg->priors, cfg->num_priors, cfg->iou_threshold,
                                   cfg->center_variance, cfg->size_variance);
        if (st != SSD_OK) {
            ssd_free(l);
            return st;
        }
        l->cfg.target = ssd_prior_target_fn;
        l->cfg.target_ctx = &l->own_target;
    }
    if (!l->cfg.target) l->cfg.num_priors = 0;
    l->tcfg.size = cfg->image_size;
    memcpy(l->tcfg.mean, cfg->mean, sizeof l->tcfg.mean);
    l->tcfg.std = cfg->std;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->ready_cv, NULL);

    l->n = ssd_dataset_size(ds);
    if (l->n < 0) l->n = 0;
    const int64_t N = cfg->batch_size;
    l->n_tasks = cfg->drop_last ? l->n / N * N : l->n;
    l->n_batches = (l->n_tasks + N - 1) / N;
    l->order = ssd_malloc((size_t)(l->n > 0 ? l->n : 1) * sizeof(int64_t));
    if (!l->order) goto nomem;

    l->nslots = cfg->prefetch > 0 ? cfg->prefetch : cfg->workers + 1;
    if (l->nslots < 2) l->nslots = 2;
    l->slots = ssd_calloc((size_t)l->nslots, sizeof(slot));
    if (!l->slots) goto nomem;
    const size_t K = (size_t)l->cfg.num_priors;
    for (int i = 0; i < l->nslots; i++) {
        slot *s = &l->slots[i];
        s->b.images = buf_alloc(l, (size_t)N * image_floats(l) * sizeof(float));
        s->b.sample_idx = ssd_malloc((size_t)N * sizeof(int64_t));
        s->ok = ssd_malloc((size_t)N);
        if (!s->b.images || !s->b.sample_idx || !s->ok) goto nomem;
        if (l->cfg.target) {
            s->b.loc = buf_alloc(l, (size_t)N * K * 4 * sizeof(float));
            s->b.labels = buf_alloc(l, (size_t)N * K * sizeof(int64_t));
            if (!s->b.loc || !s->b.labels) goto nomem;
        }
    }

    l->nworker_structs = cfg->workers > 0 ? cfg->workers : 1;
    l->workers = ssd_calloc((size_t)l->nworker_structs, sizeof(worker));
    if (!l->workers) goto nomem;
    for (int i = 0; i < l->nworker_structs; i++) {
        worker *w = &l->workers[i];
        w->l = l;
        if (K) {
            w->tscratch = ssd_malloc(K * 4 * sizeof(float));
            if (!w->tscratch) goto nomem;
        }
    }
    reset_epoch(l, 0);
    for (int i = 0; i < cfg->workers; i++) {
        if (pthread_create(&l->workers[i].thread, NULL, worker_main, &l->workers[i]) != 0) {
            st = ssd_error_set(SSD_E_UNSUPPORTED, "loader: cannot start worker thread %d", i);
            goto fail;
        }
        l->nworkers++;
    }
    *out = l;
    return SSD_OK;
nomem:
    st = SSD_E_NOMEM;
fail:
    ssd_loader_destroy(l);
    return st;
}

void ssd_loader_destroy(ssd_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nworkers; i++) pthread_join(l->workers[i].thread, NULL);
    if (l->workers) {
        for (int i = 0; i < l->nworker_structs; i++) {
            worker *w = &l->workers[i];
            ssd_augment_scratch_free(&w->scratch);
            ssd_free(w->boxes);
            ssd_free(w->labels);
            ssd_free(w->tscratch);
        }
    }
    if (l->slots) {
        for (int i = 0; i < l->nslots; i++) {
            slot *s = &l->slots[i];
            buf_free(l, s->b.images);
            buf_free(l, s->b.loc);
            buf_free(l, s->b.labels);
            ssd_free(s->b.sample_idx);
            ssd_free(s->ok);
        }
    }
    ssd_free(l->workers);
    ssd_free(l->slots);
    ssd_free(l->order);
    ssd_prior_target_deinit(&l->own_target);
    pthread_cond_destroy(&l->ready_cv);
    pthread_cond_destroy(&l->work_cv);
    pthread_mutex_destroy(&l->mu);
    ssd_free(l);
}

/* Lock held. Hands slot s (released or finished with) to the batch nslots ahead. */
static void slot_recycle(ssd_loader *l, slot *s) {
    slot_assign(l, s, s->b.index + l->nslots);
    pthread_cond_broadcast(&l->work_cv);
}

/* workers == 0: the caller's thread fills the batch. */
static void fill_inline(ssd_loader *l, slot *s) {
    for (int j = 0; j < s->size; j++) {
        int64_t t = s->b.index * l->cfg.batch_size + j;
        int64_t idx = l->order[t];
        bool load_failed;
        ssd_status st = load_sample(l, &l->workers[0], l->epoch, idx, s, j, &load_failed);
        record(l, s, j, idx, st, load_failed);
    }
}

ssd_status ssd_loader_next(ssd_loader *l, ssd_batch **batch) {
    *batch = NULL;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        if (l->next_batch >= l->n_batches) break;
        slot *s = slot_of_batch(l, l->next_batch);
        if (s->b.index != l->next_batch || s->state == SLOT_BORROWED) {
            pthread_mutex_unlock(&l->mu);
            return ssd_error_set(SSD_E_INVAL,
                                 "loader: all %d batch slots are borrowed; release one first",
                                 l->nslots);
        }
        if (l->nworkers == 0) {
            if (s->state == SLOT_FILLING) fill_inline(l, s);
        } else {
            while (s->state != SLOT_READY) pthread_cond_wait(&l->ready_cv, &l->mu);
        }
        l->next_batch++;
        if (s->err != SSD_OK) {
            ssd_status st = s->err;
            char msg[sizeof s->msg];
            memcpy(msg, s->msg, sizeof msg);
            slot_recycle(l, s);
            pthread_mutex_unlock(&l->mu);
            return ssd_error_set(st, "%s", msg);
        }
        if (s->b.n == 0) { /* every sample failed to load */
            slot_recycle(l, s);
            continue;
        }
        s->state = SLOT_BORROWED;
        *batch = &s->b;
        break;
    }
    pthread_mutex_unlock(&l->mu);
    return SSD_OK;
}

void ssd_loader_release(ssd_loader *l, ssd_batch *batch) {
    if (!l || !batch) return;
    slot *s = (slot *)batch;
    pthread_mutex_lock(&l->mu);
    if (s->state == SLOT_BORROWED) slot_recycle(l, s);
    pthread_mutex_unlock(&l->mu);
}

int64_t ssd_loader_num_batches(const ssd_loader *l) {
    return l->n_batches;
}

int64_t ssd_loader_skipped(const ssd_loader *l) {
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
    int64_t n = l->skipped;
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
    return n;
}

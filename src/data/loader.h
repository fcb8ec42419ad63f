/* The batch loader: worker threads decode, augment and match samples into a
 * bounded ring of prefetched batches while the model computes.
 *
 * Every sample's randomness comes from the counter-based RNG keyed by
 * (seed, epoch, dataset index), and the epoch's order from (seed, epoch), so a
 * seed gives bitwise the same batches with any number of workers. Batch slots
 * belong to the loader: borrow one with ssd_loader_next, give it back with
 * ssd_loader_release. Nothing is allocated per batch in the steady state
 * (decoding an image is the dataset's business and may allocate). */
#ifndef SSD_DATA_LOADER_H
#define SSD_DATA_LOADER_H

#include "core/status.h"
#include "data/augment.h"
#include "data/dataset.h"

#include <stdbool.h>
#include <stdint.h>

/* The target transform (the reference's MatchPrior): boxes (n,4) normalised corners of the
 * augmented image and their labels -> loc (K,4) and labels (K). scratch holds 4*K floats for the
 * callee. Called concurrently from the workers: ctx must be read-only or thread-safe. */
typedef ssd_status (*ssd_target_fn)(void *ctx, const float *boxes, const int64_t *labels, int n,
                                    float *loc, int64_t *out_labels, float *scratch);

/* The default target: ssd_box_assign_priors + ssd_box_encode against fixed priors. */
typedef struct {
    const float *priors_center; /* (K,4) center form, as the model's priors */
    float *priors_corner;       /* (K,4) derived; owned */
    int k;
    float iou_threshold;   /* 0.5 */
    float center_variance; /* 0.1 */
    float size_variance;   /* 0.2 */
} ssd_prior_target;

/* Borrows priors_center (must outlive the loader); computes the corner form. */
ssd_status ssd_prior_target_init(ssd_prior_target *t, const float *priors_center, int k,
                                 float iou_threshold, float center_variance, float size_variance);
void ssd_prior_target_deinit(ssd_prior_target *t);
/* An ssd_target_fn; ctx is an ssd_prior_target. */
ssd_status ssd_prior_target_fn(void *ctx, const float *boxes, const int64_t *labels, int n,
                               float *loc, int64_t *out_labels, float *scratch);

typedef struct {
    int batch_size; /* N */
    int workers;    /* threads; 0 = everything in the caller's thread, inside next() */
    bool shuffle;   /* a new seeded permutation each epoch */
    uint64_t seed;
    bool train;     /* training augmentation, else the test transform */
    int image_size; /* S */
    float mean[3];  /* RGB */
    float std;
    bool drop_last;      /* drop a last batch smaller than N */
    int prefetch;        /* batch slots in the ring; <= 0: workers + 1 (at least 2) */
    bool keep_difficult; /* passed to the dataset (training: false) */
    bool strict;         /* a sample that fails to load is an error of next(), not a skip */
    /* Targets, either from a callback or from priors (the reference's MatchPrior): */
    ssd_target_fn target; /* a callback (priors ignored) */
    void *target_ctx;
    const float *priors; /* (K,4) center form, borrowed: the loader matches with them itself */
    float iou_threshold, center_variance, size_variance; /* for priors: 0.5, 0.1, 0.2 */
    int num_priors; /* K, required with either; with neither, loc/labels stay NULL */
    /* Where the batches' images, loc and labels live (NULL: ssd_aligned_alloc / ssd_free):
     * training passes its backend's host memory, page-locked for cuda, so a batch's copy to the
     * device is fast and runs while the previous step computes. Zeroed memory. */
    void *(*buf_alloc)(void *ctx, size_t bytes);
    void (*buf_free)(void *ctx, void *p);
    void *buf_ctx;
} ssd_loader_cfg;

/* Defaults: batch 32, 0 workers, no shuffle, seed 0, test transform at 300, mean 0, std 1, no
 * targets (matching parameters 0.5, 0.1, 0.2 for when priors are given). */
void ssd_loader_cfg_default(ssd_loader_cfg *cfg);

typedef struct {
    int n;         /* samples in this batch: < N for the last one or after skipped samples */
    int64_t index; /* batch number within the epoch */
    int64_t epoch;
    float *images;       /* (N,3,S,S) NCHW; the first n are valid */
    float *loc;          /* (N,K,4) or NULL without a target */
    int64_t *labels;     /* (N,K) or NULL without a target */
    int64_t *sample_idx; /* (N) dataset index of each sample, for messages */
    int skipped;         /* samples of this batch that failed to load and were left out */
} ssd_batch;

typedef struct ssd_loader ssd_loader;

/* Borrows ds and cfg->target_ctx for the loader's lifetime. Starts epoch 0. */
ssd_status ssd_loader_create(ssd_loader **out, const ssd_dataset *ds, const ssd_loader_cfg *cfg);
/* Stops the workers (mid-epoch is fine) and frees everything. NULL-safe. */
void ssd_loader_destroy(ssd_loader *l);

/* Abandons what is left of the current epoch and starts `epoch` (its own shuffle and random
 * streams). Batches still borrowed become invalid. */
ssd_status ssd_loader_start_epoch(ssd_loader *l, int64_t epoch);

/* The next batch of the epoch, in order. *batch is NULL at the end of the epoch (returns SSD_OK).
 * Errors: a sample that fails in strict mode (the message names it), or a failure of the target
 * callback or of memory. */
ssd_status ssd_loader_next(ssd_loader *l, ssd_batch **batch);
/* Gives a borrowed batch back to the ring. NULL-safe. */
void ssd_loader_release(ssd_loader *l, ssd_batch *batch);

int64_t ssd_loader_num_batches(const ssd_loader *l);
/* Samples skipped (failed to load) since the loader was created. */
int64_t ssd_loader_skipped(const ssd_loader *l);

#endif

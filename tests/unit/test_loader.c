/* The batch loader on an in-memory dataset: the same seed gives bitwise the
 * same batches with 0, 1, 2 and 4 workers; shuffling is a per-epoch
 * permutation; failed samples are skipped and counted (or an error in strict
 * mode); the ring's borrow/release rules; shutdown mid-epoch. */
#include "test.h"

#include "box/box.h"
#include "core/mem.h"
#include "data/loader.h"
#include "fake_dataset.h"

#include <stdlib.h>
#include <string.h>

#define S    24
#define GRID 4
#define K    (GRID * GRID * 2)

static float priors[K * 4];

static void make_priors(void) {
    for (int y = 0, k = 0; y < GRID; y++)
        for (int x = 0; x < GRID; x++)
            for (int s = 0; s < 2; s++, k++) {
                float *p = priors + 4 * k;
                p[0] = (x + 0.5f) / GRID, p[1] = (y + 0.5f) / GRID;
                p[2] = p[3] = s ? 0.6f : 0.3f;
            }
}

/* Everything one epoch produced, concatenated. */
typedef struct {
    int nb;
    int ns;
    int sizes[64];
    int64_t batch_index[64];
    float *img;
    float *loc;
    int64_t *lab;
    int64_t idx[256];
} epoch_dump;

static void dump_free(epoch_dump *d) {
    free(d->img);
    free(d->loc);
    free(d->lab);
    memset(d, 0, sizeof *d);
}

static ssd_status run_epoch(ssd_loader *l, epoch_dump *d) {
    memset(d, 0, sizeof *d);
    const size_t img = 3 * S * S;
    d->img = malloc(256 * img * sizeof(float));
    d->loc = malloc(256 * K * 4 * sizeof(float));
    d->lab = malloc(256 * K * sizeof(int64_t));
    for (;;) {
        ssd_batch *b;
        ssd_status st = ssd_loader_next(l, &b);
        if (st != SSD_OK) return st;
        if (!b) break;
        if (d->nb >= 64 || d->ns + b->n > 256) return SSD_E_INVAL;
        d->sizes[d->nb] = b->n;
        d->batch_index[d->nb++] = b->index;
        memcpy(d->img + d->ns * img, b->images, b->n * img * sizeof(float));
        if (b->loc) {
            memcpy(d->loc + (size_t)d->ns * K * 4, b->loc, (size_t)b->n * K * 4 * sizeof(float));
            memcpy(d->lab + (size_t)d->ns * K, b->labels, (size_t)b->n * K * sizeof(int64_t));
        }
        memcpy(d->idx + d->ns, b->sample_idx, b->n * sizeof(int64_t));
        d->ns += b->n;
        ssd_loader_release(l, b);
    }
    return SSD_OK;
}

static bool dumps_equal(const epoch_dump *a, const epoch_dump *b, bool with_target) {
    if (a->nb != b->nb || a->ns != b->ns) return false;
    if (memcmp(a->sizes, b->sizes, a->nb * sizeof(int))) return false;
    if (memcmp(a->idx, b->idx, a->ns * sizeof(int64_t))) return false;
    if (memcmp(a->img, b->img, (size_t)a->ns * 3 * S * S * sizeof(float))) return false;
    if (with_target && (memcmp(a->loc, b->loc, (size_t)a->ns * K * 4 * sizeof(float)) ||
                        memcmp(a->lab, b->lab, (size_t)a->ns * K * sizeof(int64_t))))
        return false;
    return true;
}

static ssd_loader_cfg base_cfg(ssd_prior_target *pt) {
    ssd_loader_cfg c;
    ssd_loader_cfg_default(&c);
    c.batch_size = 4;
    c.shuffle = true;
    c.seed = 42;
    c.train = true;
    c.image_size = S;
    c.mean[0] = c.mean[1] = c.mean[2] = 127;
    c.std = 128;
    c.target = ssd_prior_target_fn;
    c.target_ctx = pt;
    c.num_priors = K;
    return c;
}

/* Same seed, any number of workers: identical epochs, bit for bit. */
static void test_determinism(ssd_dataset *ds, ssd_prior_target *pt) {
    const int workers[] = {0, 1, 2, 4};
    const int prefetch[] = {0, 2, 3, 5};
    epoch_dump ref[2];
    for (int w = 0; w < 4; w++) {
        ssd_loader_cfg c = base_cfg(pt);
        c.workers = workers[w];
        c.prefetch = prefetch[w];
        ssd_loader *l;
        CHECK_OK(ssd_loader_create(&l, ds, &c));
        if (!l) return;
        CHECK(ssd_loader_num_batches(l) == 6);
        for (int e = 0; e < 2; e++) {
            epoch_dump d;
            if (e) CHECK_OK(ssd_loader_start_epoch(l, e));
            CHECK_OK(run_epoch(l, &d));
            if (w == 0) {
                ref[e] = d;
                continue;
            }
            bool same = dumps_equal(&d, &ref[e], true);
            if (!same)
                fprintf(stderr, "workers=%d epoch %d differs from workers=0\n", workers[w], e);
            CHECK(same);
            dump_free(&d);
        }
        ssd_loader_destroy(l);
    }
    /* Each epoch is a permutation of the dataset, batches 4,4,4,4,4,3, in order. */
    for (int e = 0; e < 2; e++) {
        int seen[23] = {0};
        CHECK(ref[e].ns == 23 && ref[e].nb == 6 && ref[e].sizes[5] == 3);
        for (int i = 0; i < ref[e].ns; i++)
            if (ref[e].idx[i] >= 0 && ref[e].idx[i] < 23) seen[ref[e].idx[i]]++;
        int ok = 1;
        for (int i = 0; i < 23; i++) ok &= seen[i] == 1;
        CHECK(ok);
        for (int b = 0; b < ref[e].nb; b++) CHECK(ref[e].batch_index[b] == b);
    }
    /* Epochs differ in order and in augmentation. */
    CHECK(memcmp(ref[0].idx, ref[1].idx, sizeof ref[0].idx) != 0);
    int64_t i0 = ref[0].idx[0];
    int pos = -1;
    for (int i = 0; i < 23; i++)
        if (ref[1].idx[i] == i0) pos = i;
    CHECK(pos >= 0 &&
          memcmp(ref[0].img, ref[1].img + (size_t)pos * 3 * S * S, 3 * S * S * sizeof(float)) != 0);
    /* Some priors were matched (positives exist). */
    long pos_priors = 0;
    for (long i = 0; i < (long)ref[0].ns * K; i++) pos_priors += ref[0].lab[i] > 0;
    CHECK(pos_priors > 0);
    dump_free(&ref[0]);
    dump_free(&ref[1]);
}

/* The test transform without shuffling: sample i, in order, equals render + the default target
 * computed here by hand. */
static void test_eval_transform(ssd_dataset *ds, ssd_prior_target *pt) {
    ssd_loader_cfg c = base_cfg(pt);
    c.train = false;
    c.shuffle = false;
    c.workers = 2;
    ssd_loader *l;
    CHECK_OK(ssd_loader_create(&l, ds, &c));
    if (!l) return;
    epoch_dump d, d2;
    CHECK_OK(run_epoch(l, &d));
    ssd_loader_destroy(l);
    CHECK(d.ns == 23);
    /* Passing the priors instead of the callback is the same thing. */
    c.target = NULL;
    c.target_ctx = NULL;
    c.priors = priors;
    CHECK_OK(ssd_loader_create(&l, ds, &c));
    if (l) {
        CHECK_OK(run_epoch(l, &d2));
        CHECK(dumps_equal(&d, &d2, true));
        dump_free(&d2);
        ssd_loader_destroy(l);
    }
    ssd_transform_cfg tc = {.size = S, .mean = {127, 127, 127}, .std = 128};
    ssd_augment_scratch scratch = {0};
    float out[3 * S * S], loc[K * 4], corner[K * 4], pc[K * 4], boxes[16 * 4];
    int64_t lab[K];
    ssd_box_center_to_corner(pc, priors, K);
    int bad = 0;
    for (int i = 0; i < d.ns; i++) {
        ssd_image img;
        ssd_annotation ann;
        if (d.idx[i] != i || ds->ops->get(ds, i, false, &img, &ann) != SSD_OK) {
            bad++;
            continue;
        }
        ssd_augment_params p;
        ssd_augment_identity(&p, img.w, img.h);
        CHECK_OK(ssd_augment_render(&p, &img, &tc, out, &scratch));
        int m = ssd_augment_boxes(&p, ann.boxes, NULL, ann.n, boxes, NULL);
        CHECK(m == ann.n);
        ssd_box_assign_priors(corner, lab, boxes, ann.labels, m, pc, K, 0.5f);
        ssd_box_encode(loc, corner, priors, K, 0.1f, 0.2f);
        bad += memcmp(out, d.img + (size_t)i * 3 * S * S, sizeof out) != 0;
        bad += memcmp(loc, d.loc + (size_t)i * K * 4, sizeof loc) != 0;
        bad += memcmp(lab, d.lab + (size_t)i * K, sizeof lab) != 0;
        ssd_image_free(&img);
        ssd_annotation_free(&ann);
    }
    CHECK(bad == 0);
    ssd_augment_scratch_free(&scratch);
    dump_free(&d);
}

/* Samples that fail to decode are left out of their batch and counted; strict makes the first
 * one an error naming it. */
static void test_skips(ssd_prior_target *pt) {
    const int64_t bad[] = {3, 10, 16, 17, 18, 19};
    fake_dataset_cfg fc = {.n = 23,
                           .min_side = 10,
                           .max_side = 60,
                           .num_classes = 3,
                           .max_boxes = 3,
                           .seed = 9,
                           .bad = bad,
                           .n_bad = 6};
    ssd_dataset *ds;
    if (fake_dataset_create(&ds, &fc) != SSD_OK) {
        CHECK(0);
        return;
    }
    epoch_dump ref;
    for (int w = 0; w < 3; w++) {
        ssd_loader_cfg c = base_cfg(pt);
        c.shuffle = false;
        c.workers = w;
        ssd_loader *l;
        CHECK_OK(ssd_loader_create(&l, ds, &c));
        if (!l) break;
        epoch_dump d;
        CHECK_OK(run_epoch(l, &d));
        CHECK(ssd_loader_skipped(l) == 6);
        /* Batches 0..5 hold 4,4,4,4,4,3 samples; 3 and 10 fall in batches 0 and 2, 16..19 are
         * all of batch 4, which is skipped. */
        CHECK(d.nb == 5 && d.ns == 17);
        CHECK(d.sizes[0] == 3 && d.sizes[1] == 4 && d.sizes[2] == 3 && d.sizes[3] == 4 &&
              d.sizes[4] == 3);
        CHECK(d.batch_index[4] == 5);
        int leaked = 0;
        for (int i = 0; i < d.ns; i++)
            for (int k = 0; k < 6; k++) leaked += d.idx[i] == bad[k];
        CHECK(leaked == 0);
        if (w == 0) {
            ref = d;
        } else {
            CHECK(dumps_equal(&d, &ref, true));
            dump_free(&d);
        }
        ssd_loader_destroy(l);
    }
    dump_free(&ref);

    for (int w = 0; w < 3; w += 2) {
        ssd_loader_cfg c = base_cfg(pt);
        c.shuffle = false;
        c.strict = true;
        c.workers = w;
        ssd_loader *l;
        CHECK_OK(ssd_loader_create(&l, ds, &c));
        if (!l) break;
        ssd_batch *b = NULL;
        ssd_status st = ssd_loader_next(l, &b);
        CHECK(st == SSD_E_FORMAT && b == NULL);
        CHECK(strstr(ssd_error_message(), "fake/000003.jpg") != NULL);
        CHECK(strstr(ssd_error_message(), "sample 3") != NULL);
        /* The loader goes on with the next batch. */
        CHECK_OK(ssd_loader_next(l, &b));
        CHECK(b && b->index == 1 && b->n == 4);
        ssd_loader_release(l, b);
        ssd_loader_destroy(l);
    }
    ssd_dataset_destroy(ds);
}

static void test_ring_and_shutdown(ssd_dataset *ds, ssd_prior_target *pt) {
    /* Borrowing more slots than the ring has is an error, not a deadlock. */
    ssd_loader_cfg c = base_cfg(pt);
    c.prefetch = 2;
    ssd_loader *l;
    CHECK_OK(ssd_loader_create(&l, ds, &c));
    if (l) {
        ssd_batch *a, *b, *x;
        CHECK_OK(ssd_loader_next(l, &a));
        CHECK_OK(ssd_loader_next(l, &b));
        CHECK(ssd_loader_next(l, &x) == SSD_E_INVAL && x == NULL);
        ssd_loader_release(l, a);
        CHECK_OK(ssd_loader_next(l, &x));
        CHECK(x && x->index == 2);
        ssd_loader_release(l, b);
        ssd_loader_release(l, x);
        ssd_loader_release(l, NULL);
        ssd_loader_destroy(l);
    }
    /* Destroy mid-epoch with workers busy and a batch still borrowed. */
    for (int w = 1; w <= 4; w += 3) {
        c = base_cfg(pt);
        c.workers = w;
        CHECK_OK(ssd_loader_create(&l, ds, &c));
        if (!l) continue;
        ssd_batch *a;
        CHECK_OK(ssd_loader_next(l, &a));
        CHECK(a && a->n == 4);
        ssd_loader_destroy(l);
    }
    /* Restart mid-epoch: the new epoch is complete and equals a fresh loader's. */
    c = base_cfg(pt);
    c.workers = 2;
    CHECK_OK(ssd_loader_create(&l, ds, &c));
    if (l) {
        ssd_batch *a;
        CHECK_OK(ssd_loader_next(l, &a));
        ssd_loader_release(l, a);
        CHECK_OK(ssd_loader_next(l, &a));
        CHECK_OK(ssd_loader_start_epoch(l, 3));
        epoch_dump d, e;
        CHECK_OK(run_epoch(l, &d));
        ssd_loader_destroy(l);
        c.workers = 0;
        CHECK_OK(ssd_loader_create(&l, ds, &c));
        CHECK_OK(ssd_loader_start_epoch(l, 3));
        CHECK_OK(run_epoch(l, &e));
        CHECK(d.ns == 23 && dumps_equal(&d, &e, true));
        /* After the end, next keeps answering "no more". */
        CHECK_OK(ssd_loader_next(l, &a));
        CHECK(a == NULL);
        ssd_loader_destroy(l);
        dump_free(&d);
        dump_free(&e);
    }
}

/* Batch buffers from the caller's allocator (training: the backend's page-locked memory):
 * every image, loc and labels buffer comes from it and goes back to it, and the batches are
 * those of the default allocator. */
typedef struct {
    int live, allocs;
    void *seen[64];
} buf_count;

static void *count_alloc(void *ctx, size_t bytes) {
    buf_count *b = ctx;
    void *p = ssd_aligned_alloc(bytes);
    if (p && b->allocs < 64) b->seen[b->allocs] = p;
    b->allocs++;
    b->live += p != NULL;
    return p;
}

static void count_free(void *ctx, void *p) {
    buf_count *b = ctx;
    b->live--;
    ssd_free(p);
}

static bool from_hook(const buf_count *b, const void *p) {
    for (int i = 0; i < b->allocs && i < 64; i++)
        if (b->seen[i] == p) return true;
    return false;
}

static void test_buffer_hook(ssd_dataset *ds, ssd_prior_target *pt) {
    ssd_loader_cfg c = base_cfg(pt);
    c.workers = 2;
    c.prefetch = 3;
    buf_count bc = {0};
    c.buf_alloc = count_alloc;
    c.buf_free = count_free;
    c.buf_ctx = &bc;
    ssd_loader *l;
    CHECK_OK(ssd_loader_create(&l, ds, &c));
    if (!l) return;
    CHECK(bc.allocs == 3 * 3 && bc.live == 9); /* images, loc, labels per slot */
    ssd_batch *b;
    CHECK_OK(ssd_loader_next(l, &b));
    CHECK(b && from_hook(&bc, b->images) && from_hook(&bc, b->loc) && from_hook(&bc, b->labels));
    ssd_loader_release(l, b);
    CHECK_OK(ssd_loader_start_epoch(l, 1));
    epoch_dump d, e;
    CHECK_OK(run_epoch(l, &d));
    ssd_loader_destroy(l);
    CHECK(bc.live == 0);
    c.buf_alloc = NULL;
    c.buf_free = NULL;
    CHECK_OK(ssd_loader_create(&l, ds, &c));
    if (l) {
        CHECK_OK(ssd_loader_start_epoch(l, 1));
        CHECK_OK(run_epoch(l, &e));
        CHECK(dumps_equal(&d, &e, true));
        ssd_loader_destroy(l);
        dump_free(&e);
    }
    dump_free(&d);
}

static void test_cfg(ssd_dataset *ds, ssd_prior_target *pt) {
    ssd_loader_cfg c = base_cfg(pt);
    c.drop_last = true;
    c.target = NULL;
    ssd_loader *l;
    CHECK_OK(ssd_loader_create(&l, ds, &c));
    if (l) {
        CHECK(ssd_loader_num_batches(l) == 5);
        epoch_dump d;
        CHECK_OK(run_epoch(l, &d));
        CHECK(d.nb == 5 && d.ns == 20);
        dump_free(&d);
        ssd_batch *b;
        CHECK_OK(ssd_loader_start_epoch(l, 1));
        CHECK_OK(ssd_loader_next(l, &b));
        CHECK(b && b->loc == NULL && b->labels == NULL && b->epoch == 1);
        ssd_loader_release(l, b);
        ssd_loader_destroy(l);
    }
    ssd_loader_destroy(NULL);
    c = base_cfg(pt);
    c.batch_size = 0;
    CHECK(ssd_loader_create(&l, ds, &c) == SSD_E_INVAL && l == NULL);
    c = base_cfg(pt);
    c.std = 0;
    CHECK(ssd_loader_create(&l, ds, &c) == SSD_E_INVAL);
    c = base_cfg(pt);
    c.num_priors = 0;
    CHECK(ssd_loader_create(&l, ds, &c) == SSD_E_INVAL);
    c = base_cfg(pt);
    c.workers = -1;
    CHECK(ssd_loader_create(&l, ds, &c) == SSD_E_INVAL);
    ssd_prior_target bad;
    CHECK(ssd_prior_target_init(&bad, NULL, 0, 0.5f, 0.1f, 0.2f) == SSD_E_INVAL);
    ssd_prior_target_deinit(&bad);
    /* Out of memory at each allocation of create: an error, no leak (valgrind / ASan). */
    c = base_cfg(pt);
    c.workers = 0; /* with threads, the k-th allocation might be a worker's decode */
    int failures = 0;
    for (long k = 1; k < 40; k++) {
        ssd_alloc_fail_at(k);
        ssd_status st = ssd_loader_create(&l, ds, &c);
        ssd_alloc_fail_at(0);
        if (st == SSD_OK) {
            ssd_loader_destroy(l);
            break;
        }
        failures += st == SSD_E_NOMEM;
    }
    CHECK(failures > 5);
}

/* An empty dataset has no batches; images without objects (negatives) go through training
 * augmentation and match every prior to background. */
static void test_empty_and_negatives(ssd_prior_target *pt) {
    fake_dataset_cfg fc = {.n = 0, .min_side = 10, .max_side = 40, .num_classes = 2, .seed = 3};
    ssd_dataset *ds;
    if (fake_dataset_create(&ds, &fc) != SSD_OK) {
        CHECK(0);
        return;
    }
    ssd_loader_cfg c = base_cfg(pt);
    c.workers = 2;
    ssd_loader *l;
    CHECK_OK(ssd_loader_create(&l, ds, &c));
    if (l) {
        ssd_batch *b = (ssd_batch *)1;
        CHECK(ssd_loader_num_batches(l) == 0);
        CHECK_OK(ssd_loader_next(l, &b));
        CHECK(b == NULL);
        ssd_loader_destroy(l);
    }
    ssd_dataset_destroy(ds);

    fc.n = 9;
    fc.max_boxes = 0;
    if (fake_dataset_create(&ds, &fc) != SSD_OK) {
        CHECK(0);
        return;
    }
    CHECK_OK(ssd_loader_create(&l, ds, &c));
    if (l) {
        epoch_dump d;
        CHECK_OK(run_epoch(l, &d));
        CHECK(d.ns == 9);
        long positives = 0;
        for (long i = 0; i < (long)d.ns * K; i++) positives += d.lab[i] != 0;
        CHECK(positives == 0);
        dump_free(&d);
        ssd_loader_destroy(l);
    }
    ssd_dataset_destroy(ds);
}

int main(void) {
    make_priors();
    ssd_prior_target pt;
    REQUIRE_OK(ssd_prior_target_init(&pt, priors, K, 0.5f, 0.1f, 0.2f));
    fake_dataset_cfg fc = {
        .n = 23, .min_side = 12, .max_side = 70, .num_classes = 3, .max_boxes = 3, .seed = 5};
    ssd_dataset *ds;
    REQUIRE_OK(fake_dataset_create(&ds, &fc));
    test_determinism(ds, &pt);
    test_eval_transform(ds, &pt);
    test_skips(&pt);
    test_ring_and_shutdown(ds, &pt);
    test_cfg(ds, &pt);
    test_buffer_hook(ds, &pt);
    test_empty_and_negatives(&pt);
    ssd_dataset_destroy(ds);
    ssd_prior_target_deinit(&pt);
    return test_finish();
}

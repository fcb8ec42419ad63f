/* `ssd download open-images`: the reference open_images_downloader.py's
 * selection rules, done in three steps so that the caller can print the
 * statistics in between:
 *
 *   1. ssd_oi_select: fetch class-descriptions-boxable.csv and the three
 *      {split}-annotations-bbox.csv into root (kept: a re-run reuses them),
 *      keep the boxes of the requested classes (names matched without regard
 *      to case), drop depictions unless asked, optionally remove single boxes
 *      covered by a group box of their class, then cap the images and the
 *      boxes per class at random;
 *   2. ssd_oi_stats_format: the statistics block;
 *   3. ssd_oi_fetch_images: write root/sub-{split}-annotations-bbox.csv (the
 *      source columns plus id and ClassName) and fetch root/{split}/{ImageID}.jpg,
 *      each verified by decoding it.
 *
 * Beyond the reference: --max-annotations-per-class compares class names as
 * the class list spells them (the reference used the names as typed, so a
 * lower-case name lost every box) and counts an image once, not once per
 * class; --remove-overlapped is implemented; the draws take a seed. */
#ifndef SSD_DATA_OI_DOWNLOAD_H
#define SSD_DATA_OI_DOWNLOAD_H

#include "core/status.h"
#include "data/http.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define SSD_OI_CLASS_LIST_URL                                                                      \
    "https://storage.googleapis.com/openimages/2018_04/class-descriptions-boxable.csv"
#define SSD_OI_ANNOTATIONS_URL "https://storage.googleapis.com/openimages/2018_04"
#define SSD_OI_IMAGES_URL      "https://open-images-dataset.s3.amazonaws.com"

typedef struct {
    const char *root;
    const char *class_names; /* comma-separated */
    bool include_depiction;
    bool remove_overlapped;
    int64_t max_images;                /* <= 0: all */
    int64_t max_annotations_per_class; /* <= 0: all */
    const char *class_list_url;        /* the class list file itself */
    const char *annotations_url;       /* + /{split}/{split}-annotations-bbox.csv */
    const char *images_url;            /* + /{split}/{ImageID}.jpg */
    uint64_t seed;
    ssd_http_cfg http; /* workers, retries, back-off, timeouts, interrupt flag, bar */
} ssd_oi_download_cfg;

void ssd_oi_download_cfg_default(ssd_oi_download_cfg *c);

typedef struct ssd_oi_selection ssd_oi_selection;

ssd_status ssd_oi_select(const ssd_oi_download_cfg *cfg, ssd_oi_selection **out);
void ssd_oi_selection_free(ssd_oi_selection *s);

/* Per split (ssd_oi_splits order) and overall. */
typedef struct {
    int64_t images[3], boxes[3];
    int64_t total_images, total_boxes;
} ssd_oi_counts;
void ssd_oi_selection_counts(const ssd_oi_selection *s, ssd_oi_counts *c);

/* The reference's statistics block (per split: image count, box count, the
 * boxes per class, most frequent first; then the totals), in a fresh string. */
char *ssd_oi_stats_format(const ssd_oi_selection *s);

typedef struct {
    ssd_http_summary http;
    int64_t images; /* listed for download */
} ssd_oi_fetch_result;

ssd_status ssd_oi_fetch_images(const ssd_oi_download_cfg *cfg, const ssd_oi_selection *s,
                               ssd_oi_fetch_result *res);

#endif

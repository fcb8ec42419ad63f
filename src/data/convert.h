/* Dataset conversion: CCPD (licence plates, labels in the file names) to
 * Pascal VOC, and generating missing VOC split files. */
#ifndef SSD_DATA_CONVERT_H
#define SSD_DATA_CONVERT_H

#include "core/status.h"

#include <stdbool.h>
#include <stdint.h>

/* What a CCPD file name holds, as written there: 0-based pixel coordinates.
 * Name: area-hTilt_vTilt-x1&y1_x2&y2-(4 vertices from right-bottom, clockwise,
 * as x&y joined by '_')-plate indices-brightness-blur.jpg */
typedef struct {
    int x1, y1, x2, y2; /* bounding box, top-left and bottom-right */
    int vx[4], vy[4];   /* plate corners: right-bottom, left-bottom, left-top, right-top */
} ssd_ccpd_label;

/* Parses a CCPD file name (a path is fine: only the last component is read).
 * SSD_E_FORMAT when it is not one (CCPD's ccpd_np images have no box). */
ssd_status ssd_ccpd_parse_name(const char *name, ssd_ccpd_label *out);

typedef struct {
    int64_t images[3];      /* converted into train, val, test */
    int64_t unparsed;       /* names without a box, skipped */
    int64_t duplicates;     /* names seen before (in another folder), skipped */
    int64_t missing;        /* listed in a splits file but not there, skipped */
    int64_t unreadable;     /* not a readable image, skipped */
    int64_t linked, copied; /* how JPEGImages/ entries were made (0 each if already there) */
    bool test_from_val;     /* no test split: test.txt repeats val */
    bool from_lists;        /* the splits came from the lists in src/splits/ */
} ssd_ccpd_stats;

/* Converts the CCPD tree at src into a VOC dataset at dst (created if needed):
 *   src/splits/{train,val,test}.txt lists of paths relative to src (CCPD2019),
 *   or else src/{train,val,test}/ folders of images (CCPD2020).
 * Writes dst/Annotations/<id>.xml with one "plate" object, dst/JPEGImages/<id>.jpg
 * (hard links where possible, copies otherwise), dst/ImageSets/Main/{train,val,
 * trainval,test}.txt and dst/labels.txt. <id> is the file name without its
 * extension. XML coordinates are the file name's plus 1 (VOC is 1-based), so
 * the VOC reader's -1 gives back exactly the file name's box. Running it again
 * gives the same tree. */
ssd_status ssd_ccpd_convert(const char *src, const char *dst, ssd_ccpd_stats *stats);

typedef struct {
    double train, val, test; /* fractions, summing to 1 */
    uint64_t seed;
    bool force; /* rewrite all four files, not only the missing ones */
} ssd_voc_split_opts;

typedef struct {
    int64_t images;   /* ids with an image and an annotation */
    int64_t no_xml;   /* images without Annotations/<id>.xml, left out */
    int64_t count[4]; /* lines written to train, val, trainval, test (-1: kept as it was) */
} ssd_voc_split_result;

/* Writes the missing ImageSets/Main/{train,val,trainval,test}.txt of the VOC
 * dataset at root from its JPEGImages/. Each id's place depends only on
 * (seed, id): ids sorted by a keyed hash, then cut at the fractions. Ids
 * already listed in an existing split file are not used again; a missing
 * trainval.txt is train.txt plus val.txt. */
ssd_status ssd_voc_split(const char *root, const ssd_voc_split_opts *opts,
                         ssd_voc_split_result *result);

#endif

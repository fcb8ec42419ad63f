/* `ssd convert`: dataset conversion (CCPD -> VOC) and VOC split generation. */
#include "cli/cli.h"

#include "core/log.h"
#include "data/convert.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *convert_usage =
    "usage: ssd convert <what> ...\n"
    "\n"
    "  ccpd SRC DST     CCPD2019/CCPD2020 licence plates -> Pascal VOC\n"
    "  split DIR        write the missing split files of a VOC dataset\n"
    "  tfjs MANIFEST OUT.pth\n"
    "                   TensorFlow.js SSD-MobileNetV1 weights -> mb1-ssd .pth\n"
    "\n"
    "'ssd convert <what> --help' describes each.\n";

static const char *ccpd_usage =
    "usage: ssd convert ccpd SRC DST\n"
    "\n"
    "Converts a CCPD dataset (the plate box is in each file name) into a Pascal VOC\n"
    "dataset that 'ssd train --dataset-type=voc --data=DST' reads.\n"
    "\n"
    "SRC is either a CCPD2019 folder (ccpd_* folders listed by splits/train.txt,\n"
    "splits/val.txt, splits/test.txt) or a CCPD2020 folder (train/ val/ test/).\n"
    "DST gets Annotations/<id>.xml (one 'plate' object each), JPEGImages/<id>.jpg\n"
    "(hard links where possible, else copies), ImageSets/Main/{train,val,trainval,\n"
    "test}.txt and labels.txt. Without a test split, test.txt repeats val.txt.\n"
    "Box coordinates in the XML are the file name's plus 1 (VOC counts from 1), so\n"
    "after the reader's -1 they are exactly the file name's. Files whose names hold\n"
    "no box are skipped and counted. Running it again gives the same tree.\n";

static const char *split_usage =
    "usage: ssd convert split DIR [--seed=N] [--train=F] [--val=F] [--test=F] [--force]\n"
    "\n"
    "Writes the missing ImageSets/Main/{train,val,trainval,test}.txt of the VOC\n"
    "dataset DIR from the images in DIR/JPEGImages that have an annotation.\n"
    "Where each image goes depends only on the seed and its name, so the result is\n"
    "the same on every run and images added later do not move the others.\n"
    "\n"
    "  --seed=N     hash key (default 0)\n"
    "  --train=F    fraction for train.txt (default 0.7)\n"
    "  --val=F      fraction for val.txt (default 0.2)\n"
    "  --test=F     fraction for test.txt (default: what train and val leave, 0.1)\n"
    "  --force      rewrite all four files, not only the missing ones\n"
    "\n"
    "Ids listed in existing split files are not handed out again; a missing\n"
    "trainval.txt is train.txt followed by val.txt.\n";

static int usage_error(const char *usage, const char *fmt, const char *arg) {
    fprintf(stderr, "ssd convert: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n%s", usage);
    return 2;
}

static int run_ccpd(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(ccpd_usage, stdout);
            return 0;
        }
        fprintf(stderr, "\n%s", ccpd_usage);
        return 2;
    }
    if (argc - optind != 2) return usage_error(ccpd_usage, "ccpd needs SRC and DST%s", "");
    const char *src = argv[optind], *dst = argv[optind + 1];
    ssd_ccpd_stats s;
    ssd_status st = ssd_ccpd_convert(src, dst, &s);
    if (st != SSD_OK) return cli_fail("convert ccpd", st);
    printf("%s -> %s: %lld images (train %lld, val %lld, test %lld%s)\n", src, dst,
           (long long)(s.images[0] + s.images[1] + s.images[2]), (long long)s.images[0],
           (long long)s.images[1], (long long)s.images[2],
           s.test_from_val ? "; no test split, test.txt = val.txt" : "");
    printf("skipped: %lld names without a box, %lld duplicate names, %lld missing, %lld "
           "unreadable\n",
           (long long)s.unparsed, (long long)s.duplicates, (long long)s.missing,
           (long long)s.unreadable);
    printf("JPEGImages: %lld hard links, %lld copies made (the rest were already there)\n",
           (long long)s.linked, (long long)s.copied);
    return 0;
}

static bool parse_fraction(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && !errno && *v >= 0 && *v <= 1;
}

static int run_split(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, 0, 'h'},
                                         {"seed", required_argument, 0, 's'},
                                         {"train", required_argument, 0, 't'},
                                         {"val", required_argument, 0, 'v'},
                                         {"test", required_argument, 0, 'e'},
                                         {"force", no_argument, 0, 'f'},
                                         {0, 0, 0, 0}};
    ssd_voc_split_opts o = {0.7, 0.2, 0.1, 0, false};
    bool has_train = false, has_test = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        double *slot = c == 't' ? &o.train : c == 'v' ? &o.val : c == 'e' ? &o.test : NULL;
        char *end;
        switch (c) {
        case 'h':
            fputs(split_usage, stdout);
            return 0;
        case 's':
            errno = 0;
            o.seed = strtoull(optarg, &end, 0);
            if (!*optarg || *end || errno || optarg[0] == '-')
                return usage_error(split_usage, "--seed needs a non-negative integer, not '%s'",
                                   optarg);
            break;
        case 't':
        case 'v':
        case 'e':
            if (!parse_fraction(optarg, slot))
                return usage_error(split_usage, "a fraction must be a number in [0, 1], not '%s'",
                                   optarg);
            has_train |= c == 't';
            has_test |= c == 'e';
            break;
        case 'f':
            o.force = true;
            break;
        default:
            fprintf(stderr, "\n%s", split_usage);
            return 2;
        }
    }
    if (argc - optind != 1) return usage_error(split_usage, "split needs one DIR%s", "");
    /* The one fraction not given makes up the rest. */
    if (!has_test)
        o.test = 1 - o.train - o.val;
    else if (!has_train)
        o.train = 1 - o.val - o.test;
    if (o.test < -1e-9 || o.train < -1e-9) {
        fprintf(stderr, "ssd convert split: fractions add up to more than 1\n");
        return 2;
    }
    if (o.test < 0) o.test = 0;
    if (o.train < 0) o.train = 0;
    const char *dir = argv[optind];
    ssd_voc_split_result r;
    ssd_status st = ssd_voc_split(dir, &o, &r);
    if (st != SSD_OK) return cli_fail("convert split", st);
    static const char *names[4] = {"train", "val", "trainval", "test"};
    int written = 0;
    for (int f = 0; f < 4; f++)
        if (r.count[f] >= 0) {
            printf("%s/ImageSets/Main/%s.txt: %lld images\n", dir, names[f], (long long)r.count[f]);
            written++;
        }
    if (!written) printf("%s: all split files exist; nothing to do (--force rewrites them)\n", dir);
    if (r.no_xml) printf("left out: %lld images without an annotation\n", (long long)r.no_xml);
    return 0;
}

int cmd_convert(int argc, char **argv) {
    if (argc < 2) {
        fputs(convert_usage, stderr);
        return 2;
    }
    const char *what = argv[1];
    if (!strcmp(what, "--help") || !strcmp(what, "-h") || !strcmp(what, "help")) {
        fputs(convert_usage, stdout);
        return 0;
    }
    ssd_log_set_timestamps(0);
    if (!strcmp(what, "ccpd")) return run_ccpd(argc - 1, argv + 1);
    if (!strcmp(what, "split")) return run_split(argc - 1, argv + 1);
    if (!strcmp(what, "tfjs")) return cmd_convert_tfjs(argc - 1, argv + 1);
    return usage_error(convert_usage, "unknown conversion '%s'", what);
}

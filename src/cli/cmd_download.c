/* `ssd download open-images`: open_images_downloader.py's options and output. */
#include "cli/cli.h"

#include "core/log.h"
#include "core/mem.h"
#include "data/oi_download.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char download_usage[] =
    "usage: ssd download <dataset> [options]\n"
    "\n"
    "  open-images     classes of Google's Open Images (open_images_downloader.py)\n"
    "\n"
    "'ssd download <dataset> --help' describes each.\n";

static const char oi_usage[] =
    "usage: ssd download open-images --class-names LIST [options]\n"
    "\n"
    "Downloads the images and boxes of a few Open Images (V4) classes into a dataset\n"
    "that 'ssd train --dataset-type=open_images --data=ROOT' reads:\n"
    "ROOT/sub-{train,validation,test}-annotations-bbox.csv and ROOT/{split}/<ImageID>.jpg.\n"
    "The full class list and annotation files are kept in ROOT, so a second run only\n"
    "fetches what is missing: files are written under a temporary name and renamed\n"
    "when complete, each image is checked by decoding it, and Ctrl-C leaves no\n"
    "partial file.\n"
    "\n"
    "  --root, --data DIR             output directory (default data)\n"
    "  --class-names LIST             comma-separated class names, any case (required)\n"
    "  --include-depiction            keep boxes of drawings and other depictions\n"
    "  --remove-overlapped            drop single boxes at least half inside a group box\n"
    "                                 (IsGroupOf) of the same class and image\n"
    "  --max-images N                 at most N images in all, shared among the splits in\n"
    "                                 proportion to their size, drawn at random (default -1: all)\n"
    "  --max-annotations-per-class N  at most N boxes per class in each split, drawn at\n"
    "                                 random (default -1: all)\n"
    "  --num-workers N                parallel downloads (default 10)\n"
    "  --retry N                      attempts per file (default 10)\n"
    "  --stats-only                   print the statistics and stop (the annotation files\n"
    "                                 are still downloaded)\n"
    "beyond the reference:\n"
    "  --retry-wait SECONDS           wait before the second attempt, doubled for each\n"
    "                                 further one, at most 60 s (default 1)\n"
    "  --timeout SECONDS              give up on a transfer that receives nothing for this\n"
    "                                 long, then retry (default 60)\n"
    "  --class-list-url URL           class list (default\n"
    "                                 " SSD_OI_CLASS_LIST_URL ")\n"
    "  --annotations-url URL          base of <split>/<split>-annotations-bbox.csv (default\n"
    "                                 " SSD_OI_ANNOTATIONS_URL ")\n"
    "  --images-url URL               base of <split>/<ImageID>.jpg (default\n"
    "                                 " SSD_OI_IMAGES_URL ")\n"
    "  --seed N                       seed of the random draws (default 0)\n"
    "  --log-level LEVEL              debug, info, warning, error, critical (default info)\n"
    "  -h, --help                     this text\n"
    "\n"
    "Exit status: 0 when every image is there or does not exist on the server; 1 when\n"
    "some could not be downloaded (run it again to resume) or on an error; 130 on Ctrl-C.\n";

enum {
    O_ROOT = 256,
    O_CLASSES,
    O_DEPICTION,
    O_OVERLAP,
    O_MAX_IMAGES,
    O_MAX_ANN,
    O_WORKERS,
    O_RETRY,
    O_STATS,
    O_RETRY_WAIT,
    O_TIMEOUT,
    O_CLASS_URL,
    O_ANN_URL,
    O_IMG_URL,
    O_SEED,
    O_LOG,
};

static const struct option opts[] = {
    {"root", required_argument, 0, O_ROOT},
    {"data", required_argument, 0, O_ROOT},
    {"class-names", required_argument, 0, O_CLASSES},
    {"include-depiction", no_argument, 0, O_DEPICTION},
    {"remove-overlapped", no_argument, 0, O_OVERLAP},
    {"max-images", required_argument, 0, O_MAX_IMAGES},
    {"max-annotations-per-class", required_argument, 0, O_MAX_ANN},
    {"num-workers", required_argument, 0, O_WORKERS},
    {"retry", required_argument, 0, O_RETRY},
    {"stats-only", no_argument, 0, O_STATS},
    {"retry-wait", required_argument, 0, O_RETRY_WAIT},
    {"timeout", required_argument, 0, O_TIMEOUT},
    {"class-list-url", required_argument, 0, O_CLASS_URL},
    {"annotations-url", required_argument, 0, O_ANN_URL},
    {"images-url", required_argument, 0, O_IMG_URL},
    {"seed", required_argument, 0, O_SEED},
    {"log-level", required_argument, 0, O_LOG},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    interrupted = 1;
    /* A second Ctrl-C stops at once. */
    signal(sig, SIG_DFL);
}

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo) {
        char why[64];
        snprintf(why, sizeof why, "expected an integer >= %lld", (long long)lo);
        return cli_bad("download", opt, s, why);
    }
    *out = v;
    return 0;
}

static int open_images(int argc, char **argv) {
    ssd_oi_download_cfg c;
    ssd_oi_download_cfg_default(&c);
    const char *log_level = "info";
    bool stats_only = false;
    int o, r = 0;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *q = opts; q->name; q++)
            if (q->val == o) {
                name = q->name;
                break;
            }
        int64_t v = 0;
        switch (o) {
        case 'h':
            fputs(oi_usage, stdout);
            return 0;
        case O_ROOT:
            c.root = optarg;
            break;
        case O_CLASSES:
            c.class_names = optarg;
            break;
        case O_DEPICTION:
            c.include_depiction = true;
            break;
        case O_OVERLAP:
            c.remove_overlapped = true;
            break;
        case O_MAX_IMAGES:
            r = parse_i64(name, optarg, -1, &c.max_images);
            break;
        case O_MAX_ANN:
            r = parse_i64(name, optarg, -1, &c.max_annotations_per_class);
            break;
        case O_WORKERS:
            r = cli_parse_int("download", name, optarg, 1, 1000, &c.http.parallel);
            break;
        case O_RETRY:
            r = cli_parse_int("download", name, optarg, 1, 1000, &c.http.retry);
            break;
        case O_STATS:
            stats_only = true;
            break;
        case O_RETRY_WAIT:
            r = cli_parse_double("download", name, optarg, 0, 3600, &c.http.backoff_s);
            break;
        case O_TIMEOUT:
            r = cli_parse_double("download", name, optarg, 0, 86400, &c.http.timeout_s);
            break;
        case O_CLASS_URL:
            c.class_list_url = optarg;
            break;
        case O_ANN_URL:
            c.annotations_url = optarg;
            break;
        case O_IMG_URL:
            c.images_url = optarg;
            break;
        case O_SEED:
            r = parse_i64(name, optarg, 0, &v);
            c.seed = (uint64_t)v;
            break;
        case O_LOG:
            if (ssd_log_level_parse(optarg) < 0)
                r = cli_bad("download", name, optarg,
                            "expected debug, info, warning, error or critical");
            log_level = optarg;
            break;
        default:
            fprintf(stderr, "Try 'ssd download open-images --help'.\n");
            return 2;
        }
        if (r) return r;
    }
    if (optind < argc) {
        fprintf(stderr,
                "ssd download: unexpected argument '%s'\nTry 'ssd download open-images --help'.\n",
                argv[optind]);
        return 2;
    }
    if (!c.class_names) {
        fprintf(stderr, "ssd download: --class-names is required (e.g. --class-names "
                        "\"Apple,Orange\").\nTry 'ssd download open-images --help'.\n");
        return 2;
    }
    ssd_log_set_level((ssd_log_level)ssd_log_level_parse(log_level));
    c.http.label = isatty(STDERR_FILENO) ? "download" : NULL;
    c.http.interrupt = &interrupted;
    interrupted = 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    ssd_oi_selection *sel = NULL;
    char *stats = NULL;
    ssd_oi_fetch_result res;
    memset(&res, 0, sizeof res);
    ssd_status st = ssd_oi_select(&c, &sel);
    if (st == SSD_OK && !(stats = ssd_oi_stats_format(sel))) st = SSD_E_NOMEM;
    if (st == SSD_OK) {
        fputs(stats, stdout);
        fflush(stdout);
    }
    if (st == SSD_OK && !stats_only) st = ssd_oi_fetch_images(&c, sel, &res);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    ssd_free(stats);
    ssd_oi_selection_free(sel);
    if (st == SSD_E_INTERRUPTED || (st != SSD_OK && interrupted)) {
        fprintf(stderr, "ssd download: interrupted; no partial file was kept. Run the same "
                        "command again to resume.\n");
        return 130;
    }
    if (st != SSD_OK) return cli_fail("download", st);
    if (stats_only) return 0;
    const ssd_http_summary *h = &res.http;
    ssd_info("Images: %lld downloaded (%.1f MB), %lld already there, %lld not on the server, "
             "%lld failed; %lld retries.",
             (long long)h->done, (double)h->bytes / 1e6, (long long)h->present,
             (long long)h->not_found, (long long)h->failed, (long long)h->retries);
    if (h->failed) {
        fprintf(stderr,
                "ssd download: %lld of %lld images could not be downloaded; run the same "
                "command again to retry them.\n",
                (long long)h->failed, (long long)res.images);
        return 1;
    }
    ssd_info("Task Done.");
    return 0;
}

int cmd_download(int argc, char **argv) {
    if (argc < 2) {
        fputs(download_usage, stderr);
        return 2;
    }
    const char *what = argv[1];
    if (!strcmp(what, "-h") || !strcmp(what, "--help")) {
        fputs(download_usage, stdout);
        return 0;
    }
    if (!strcmp(what, "open-images") || !strcmp(what, "open_images"))
        return open_images(argc - 1, argv + 1);
    fprintf(stderr, "ssd download: unknown dataset '%s'\n\n%s", what, download_usage);
    return 2;
}

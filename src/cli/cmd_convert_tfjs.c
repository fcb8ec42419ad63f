/* `ssd convert tfjs MANIFEST OUT.pth`: offline pretrained weights for mb1-ssd
 * from a TensorFlow.js SSD-MobileNetV1 (models/import_tfjs.h). cmd_convert
 * dispatches here with argv[0] == "tfjs". */
#include "cli/cli.h"

#include "core/log.h"
#include "core/threads.h"
#include "models/import_tfjs.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYNOPSIS                                                                                   \
    "usage: ssd convert tfjs MANIFEST OUT.pth [--calibrate DIR] [--calibrate-images N]\n"          \
    "                        [--batch-size N] [--seed N] [--backend cpu|ref] [--verbose]\n"

static const char usage[] =
    SYNOPSIS "\n"
             "Converts the TensorFlow.js SSD-MobileNetV1 of face-api (data/pretrained/\n"
             "face-api-ssd-mobilenetv1/ssd_mobilenetv1_model-weights_manifest.json) into an\n"
             "mb1-ssd state_dict for --pretrained-ssd or --base-net: the MobileNetV1 backbone\n"
             "and the extra layers, de-quantised, kernels from HWIO to OIHW. Layers whose\n"
             "shapes differ keep a fresh initialisation and are listed; the heads are not\n"
             "written.\n"
             "\n"
             "The backbone's pointwise convolutions have their batch norm folded in. Without\n"
             "--calibrate it becomes an identity batch norm, which computes the pretrained\n"
             "function in eval mode but not in training mode (batch statistics undo the folded\n"
             "scales and fine-tuning diverges). With --calibrate DIR the per-channel statistics\n"
             "of those batch norms' inputs are measured on the images in DIR (a few dozen\n"
             "training images are enough), so both modes compute the pretrained function.\n"
             "\n"
             "  --calibrate DIR        folder of .jpg/.jpeg/.png/.bmp images (not recursive)\n"
             "  --calibrate-images N   use at most the first N images by name (64)\n"
             "  --batch-size N         calibration batch size (8)\n"
             "  --seed N               initialisation of the layers not converted (0)\n"
             "  --backend NAME         cpu (default) or ref\n"
             "  --threads N            threads for the backend (0: all cores)\n"
             "  --verbose              also list the file's tensors that were not used\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "ssd convert tfjs: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", SYNOPSIS);
    return 2;
}

static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

int cmd_convert_tfjs(int argc, char **argv) {
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},
        {"calibrate", required_argument, 0, 'c'},
        {"calibrate-images", required_argument, 0, 'n'},
        {"batch-size", required_argument, 0, 'b'},
        {"seed", required_argument, 0, 's'},
        {"backend", required_argument, 0, 'B'},
        {"threads", required_argument, 0, 't'},
        {"verbose", no_argument, 0, 'v'},
        {0, 0, 0, 0},
    };
    ssd_tfjs_convert_opts o = {.backend = "cpu"};
    bool verbose = false;
    long v;
    int c, threads = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case 'c':
            o.calib_dir = optarg;
            break;
        case 'n':
            if (!parse_int(optarg, 1, 1000000, &v))
                return usage_error("bad --calibrate-images '%s'", optarg);
            o.calib_max = (int)v;
            break;
        case 'b':
            if (!parse_int(optarg, 1, 4096, &v))
                return usage_error("bad --batch-size '%s'", optarg);
            o.batch = (int)v;
            break;
        case 's':
            if (!parse_int(optarg, 0, 0x7fffffffL, &v))
                return usage_error("bad --seed '%s'", optarg);
            o.seed = (uint64_t)v;
            break;
        case 'B':
            o.backend = optarg;
            break;
        case 't':
            if (!parse_int(optarg, 0, 4096, &v)) return usage_error("bad --threads '%s'", optarg);
            threads = (int)v;
            break;
        case 'v':
            verbose = true;
            break;
        default:
            fprintf(stderr, "\n%s", usage);
            return 2;
        }
    }
    if (argc - optind != 2) return usage_error("needs MANIFEST and OUT.pth%s", "");
    o.manifest = argv[optind];
    o.out = argv[optind + 1];
    ssd_threads_set(threads);
    ssd_log_set_timestamps(0);

    ssd_tfjs_report r;
    ssd_status st = ssd_tfjs_convert(&o, &r);
    if (st != SSD_OK) return cli_fail("convert tfjs", st);
    printf("%s: %d tensors converted from %s\n", o.out, r.converted, o.manifest);
    if (r.calib_images)
        printf("folded batch norms calibrated on %d image%s: %d layers\n", r.calib_images,
               r.calib_images == 1 ? "" : "s", r.nfolded);
    else
        printf("folded batch norms written as identity: %d layers (fine-tuning in training mode "
               "needs --calibrate DIR)\n",
               r.nfolded);
    printf("left freshly initialised (shapes differ): %d layers\n", r.nfresh);
    for (int i = 0; i < r.nfresh; i++) printf("  %s\n", r.fresh[i]);
    printf("not converted: the heads (classification_headers.*, regression_headers.*); "
           "%d tensors of the file unused\n",
           r.nunused);
    if (verbose)
        for (int i = 0; i < r.nunused; i++) printf("  %s\n", r.unused[i]);
    ssd_tfjs_report_free(&r);
    return 0;
}

/* `ssd train`: train_ssd.py's options, names, aliases and defaults. */
#include "cli/cli.h"

#include "core/log.h"
#include "models/model.h"
#include "train/train.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char usage[] =
    "usage: ssd train [options]\n"
    "\n"
    "Train an SSD detector with transfer learning (the options of pytorch-ssd's train_ssd.py).\n"
    "\n"
    "data:\n"
    "  --dataset-type TYPE         voc or open_images (default open_images)\n"
    "  --datasets, --data DIR...   dataset root(s); several are concatenated for training,\n"
    "                              the last one is used for validation (default data)\n"
    "  --balance-data              Open Images: balance classes by down-sampling\n"
    "network:\n"
    "  --net NET                   mb1-ssd, mb1-ssd-lite, mb2-ssd-lite, sq-ssd-lite, vgg16-ssd,\n"
    "                              mb3-large-ssd-lite, mb3-small-ssd-lite (default mb1-ssd)\n"
    "  --resolution N              input size N x N (default 300)\n"
    "  --freeze-base-net           freeze the base net; train extras and headers\n"
    "  --freeze-net                freeze all but the prediction headers\n"
    "  --mb2-width-mult X          MobileNetV2 width multiplier (default 1.0)\n"
    "initial weights (precedence: --resume, --base-net, --pretrained-ssd):\n"
    "  --base-net FILE             backbone-only state_dict\n"
    "  --pretrained-ssd FILE       whole SSD state_dict; the headers are re-initialised\n"
    "                              (default models/mobilenet-v1-ssd-mp-0_675.pth, used if "
    "present)\n"
    "  --resume FILE               continue from a checkpoint; with its .state file beside it the\n"
    "                              epoch, momentum, schedule and RNG continue exactly\n"
    "optimiser:\n"
    "  --lr, --learning-rate X     learning rate of the headers (default 0.01)\n"
    "  --momentum X                SGD momentum (default 0.9)\n"
    "  --weight-decay X            SGD weight decay (default 5e-4)\n"
    "  --gamma X                   multi-step decay factor (default 0.1)\n"
    "  --base-net-lr X             learning rate of the base net (default 0.001)\n"
    "  --extra-layers-lr X         learning rate of the extra layers (default: --lr)\n"
    "  --scheduler NAME            cosine or multi-step (default cosine)\n"
    "  --milestones LIST           multi-step epochs, comma-separated (default 80,100)\n"
    "  --t-max X                   cosine period in epochs (default 100)\n"
    "training:\n"
    "  --batch-size N              (default 4)\n"
    "  --num-epochs, --epochs N    (default 30)\n"
    "  --num-workers, --workers N  data loading threads (default 2)\n"
    "  --validation-epochs N       validate and save a checkpoint every N epochs (default 1)\n"
    "  --validation-mean-ap[=BOOL] also compute the VOC mAP when validating\n"
    "  --debug-steps N             log running averages every N steps (default 10)\n"
    "  --use-cuda[=BOOL]           train on the GPU when one is present (default true)\n"
    "  --checkpoint-folder, --model-dir DIR   output directory (default models/)\n"
    "  --log-level LEVEL           debug, info, warning, error, critical (default info)\n"
    "beyond the reference:\n"
    "  --seed N                    random seed for init, shuffling and augmentation (default 0)\n"
    "  --threads N                 compute threads (default: all cores)\n"
    "  --precision P               GPU arithmetic: fp32 (default), tf32 (TensorFloat-32\n"
    "                              convolutions), bf16 or fp16 (16-bit convolutions, float32\n"
    "                              weights, batch norm and loss; fp16 scales the gradients)\n"
    "  --strict                    a corrupt sample is an error instead of a skipped warning\n"
    "  -h, --help                  this text\n";

enum {
    O_DATASET_TYPE = 256,
    O_DATASETS,
    O_BALANCE,
    O_NET,
    O_RES,
    O_FREEZE_BASE,
    O_FREEZE_NET,
    O_MB2,
    O_BASE_NET,
    O_PRETRAINED,
    O_RESUME,
    O_LR,
    O_MOMENTUM,
    O_WD,
    O_GAMMA,
    O_BASE_LR,
    O_EXTRA_LR,
    O_SCHED,
    O_MILESTONES,
    O_TMAX,
    O_BATCH,
    O_EPOCHS,
    O_WORKERS,
    O_VAL_EPOCHS,
    O_VAL_MAP,
    O_DEBUG,
    O_CUDA,
    O_MODEL_DIR,
    O_LOG,
    O_SEED,
    O_THREADS,
    O_STRICT,
    O_NO_AUG,
    O_NO_SHUFFLE,
    O_PRECISION
};

static const struct option opts[] = {{"dataset-type", required_argument, 0, O_DATASET_TYPE},
                                     {"datasets", required_argument, 0, O_DATASETS},
                                     {"data", required_argument, 0, O_DATASETS},
                                     {"balance-data", no_argument, 0, O_BALANCE},
                                     {"net", required_argument, 0, O_NET},
                                     {"resolution", required_argument, 0, O_RES},
                                     {"freeze-base-net", no_argument, 0, O_FREEZE_BASE},
                                     {"freeze-net", no_argument, 0, O_FREEZE_NET},
                                     {"mb2-width-mult", required_argument, 0, O_MB2},
                                     {"base-net", required_argument, 0, O_BASE_NET},
                                     {"pretrained-ssd", required_argument, 0, O_PRETRAINED},
                                     {"resume", required_argument, 0, O_RESUME},
                                     {"lr", required_argument, 0, O_LR},
                                     {"learning-rate", required_argument, 0, O_LR},
                                     {"momentum", required_argument, 0, O_MOMENTUM},
                                     {"weight-decay", required_argument, 0, O_WD},
                                     {"gamma", required_argument, 0, O_GAMMA},
                                     {"base-net-lr", required_argument, 0, O_BASE_LR},
                                     {"extra-layers-lr", required_argument, 0, O_EXTRA_LR},
                                     {"scheduler", required_argument, 0, O_SCHED},
                                     {"milestones", required_argument, 0, O_MILESTONES},
                                     {"t-max", required_argument, 0, O_TMAX},
                                     {"batch-size", required_argument, 0, O_BATCH},
                                     {"num-epochs", required_argument, 0, O_EPOCHS},
                                     {"epochs", required_argument, 0, O_EPOCHS},
                                     {"num-workers", required_argument, 0, O_WORKERS},
                                     {"workers", required_argument, 0, O_WORKERS},
                                     {"validation-epochs", required_argument, 0, O_VAL_EPOCHS},
                                     {"validation-mean-ap", optional_argument, 0, O_VAL_MAP},
                                     {"debug-steps", required_argument, 0, O_DEBUG},
                                     {"use-cuda", optional_argument, 0, O_CUDA},
                                     {"checkpoint-folder", required_argument, 0, O_MODEL_DIR},
                                     {"model-dir", required_argument, 0, O_MODEL_DIR},
                                     {"log-level", required_argument, 0, O_LOG},
                                     {"seed", required_argument, 0, O_SEED},
                                     {"threads", required_argument, 0, O_THREADS},
                                     {"precision", required_argument, 0, O_PRECISION},
                                     {"strict", no_argument, 0, O_STRICT},
                                     {"no-augment", no_argument, 0, O_NO_AUG},
                                     {"no-shuffle", no_argument, 0, O_NO_SHUFFLE},
                                     {"help", no_argument, 0, 'h'},
                                     {0, 0, 0, 0}};

static int bad(const char *opt, const char *val, const char *why) {
    return cli_bad("train", opt, val, why);
}

static int parse_double(const char *opt, const char *s, double *out) {
    return cli_parse_double("train", opt, s, -INFINITY, INFINITY, out);
}

static int parse_int(const char *opt, const char *s, int lo, int *out) {
    return cli_parse_int("train", opt, s, lo, 1000000000, out);
}

/* Python's str2bool, as D22's flags: yes/true/t/y/1 and no/false/f/n/0. */
int cli_parse_bool(const char *s, bool *out) {
    static const char *yes[] = {"yes", "true", "t", "y", "1"},
                      *no[] = {"no", "false", "f", "n", "0"};
    for (int i = 0; i < 5; i++) {
        if (!strcasecmp(s, yes[i])) return *out = true, 0;
        if (!strcasecmp(s, no[i])) return *out = false, 0;
    }
    return -1;
}

static int parse_milestones(ssd_train_config *c, const char *s) {
    c->nmilestones = 0;
    c->milestones_str = s;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || c->nmilestones == SSD_MAX_MILESTONES)
            return bad("milestones", s, "expected comma-separated epochs");
        c->milestones[c->nmilestones++] = (int)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',')
            p++;
        else if (*p)
            return bad("milestones", s, "expected comma-separated epochs");
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    ssd_train_config c;
    ssd_train_config_defaults(&c);
    bool datasets_given = false;
    int o, r = 0;
    optind = 1;
    /* '+': stop at the first non-option, so that `--data a b c` can take several roots. */
    while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *q = opts; q->name; q++)
            if (q->val == o) {
                name = q->name;
                break;
            }
        switch (o) {
        case 'h':
            fputs(usage, stdout);
            return 0;
        case O_DATASET_TYPE:
            c.dataset_type = optarg;
            break;
        case O_DATASETS:
            if (!datasets_given) c.ndatasets = 0;
            datasets_given = true;
            if (c.ndatasets == SSD_MAX_DATASETS) return bad(name, optarg, "too many datasets");
            c.datasets[c.ndatasets++] = optarg;
            while (optind < argc && argv[optind][0] != '-') {
                if (c.ndatasets == SSD_MAX_DATASETS)
                    return bad(name, argv[optind], "too many datasets");
                c.datasets[c.ndatasets++] = argv[optind++];
            }
            break;
        case O_BALANCE:
            c.balance_data = true;
            break;
        case O_NET:
            c.net = optarg;
            break;
        case O_RES:
            r = parse_int(name, optarg, 1, &c.resolution);
            break;
        case O_FREEZE_BASE:
            c.freeze_base_net = true;
            break;
        case O_FREEZE_NET:
            c.freeze_net = true;
            break;
        case O_MB2:
            r = parse_double(name, optarg, &c.mb2_width_mult);
            break;
        case O_BASE_NET:
            c.base_net = optarg;
            break;
        case O_PRETRAINED:
            c.pretrained_ssd = optarg;
            c.pretrained_ssd_given = true;
            break;
        case O_RESUME:
            c.resume = optarg;
            break;
        case O_LR:
            r = parse_double(name, optarg, &c.lr);
            break;
        case O_MOMENTUM:
            r = parse_double(name, optarg, &c.momentum);
            break;
        case O_WD:
            r = parse_double(name, optarg, &c.weight_decay);
            break;
        case O_GAMMA:
            r = parse_double(name, optarg, &c.gamma);
            break;
        case O_BASE_LR:
            r = parse_double(name, optarg, &c.base_net_lr);
            break;
        case O_EXTRA_LR:
            r = parse_double(name, optarg, &c.extra_layers_lr);
            break;
        case O_SCHED:
            c.scheduler = optarg;
            break;
        case O_MILESTONES:
            r = parse_milestones(&c, optarg);
            break;
        case O_TMAX:
            r = parse_double(name, optarg, &c.t_max);
            break;
        case O_BATCH:
            r = parse_int(name, optarg, 1, &c.batch_size);
            break;
        case O_EPOCHS:
            r = parse_int(name, optarg, 0, &c.num_epochs);
            break;
        case O_WORKERS:
            r = parse_int(name, optarg, 0, &c.num_workers);
            break;
        case O_VAL_EPOCHS:
            r = parse_int(name, optarg, 1, &c.validation_epochs);
            break;
        case O_VAL_MAP:
            c.validation_mean_ap = true;
            if (optarg && cli_parse_bool(optarg, &c.validation_mean_ap))
                r = bad(name, optarg, "expected true or false");
            break;
        case O_DEBUG:
            r = parse_int(name, optarg, 1, &c.debug_steps);
            break;
        case O_CUDA:
            c.use_cuda = true;
            if (optarg && cli_parse_bool(optarg, &c.use_cuda))
                r = bad(name, optarg, "expected true or false");
            break;
        case O_MODEL_DIR:
            c.model_dir = optarg;
            break;
        case O_LOG:
            if (ssd_log_level_parse(optarg) < 0)
                r = bad(name, optarg, "expected debug, info, warning, error or critical");
            c.log_level = optarg;
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end) r = bad(name, optarg, "expected an integer");
            c.seed = v;
            break;
        }
        case O_THREADS:
            r = parse_int(name, optarg, 0, &c.threads);
            break;
        case O_STRICT:
            c.strict = true;
            break;
        case O_NO_AUG:
            c.no_augment = true;
            break;
        case O_NO_SHUFFLE:
            c.no_shuffle = true;
            break;
        case O_PRECISION: {
            ssd_precision pr;
            r = cli_parse_precision("train", name, optarg, &pr);
            c.precision = optarg;
            break;
        }
        default:
            fprintf(stderr, "Try 'ssd train --help'.\n");
            return 2;
        }
        if (r) return r;
    }
    if (optind < argc) {
        fprintf(stderr, "ssd train: unexpected argument '%s'\nTry 'ssd train --help'.\n",
                argv[optind]);
        return 2;
    }
    if (strcmp(c.dataset_type, "voc") && strcmp(c.dataset_type, "open_images")) {
        fprintf(stderr, "ssd train: Dataset type %s is not supported (voc or open_images).\n",
                c.dataset_type);
        return 2;
    }
    if (!ssd_net_known(c.net)) {
        fprintf(stderr,
                "ssd train: The net type is wrong: '%s' (mb1-ssd, mb1-ssd-lite, "
                "mb2-ssd-lite, sq-ssd-lite, vgg16-ssd).\n",
                c.net);
        return 2;
    }
    if (strcmp(c.scheduler, "cosine") && strcmp(c.scheduler, "multi-step")) {
        fprintf(stderr, "ssd train: Unsupported Scheduler: %s (cosine or multi-step).\n",
                c.scheduler);
        return 2;
    }
    ssd_status st = ssd_train_run(&c);
    return st == SSD_OK ? 0 : st == SSD_E_INTERRUPTED ? 130 : cli_fail("train", st);
}

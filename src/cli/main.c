#include "cli/cli.h"

#include "core/log.h"
#include "core/threads.h"

#include <stdio.h>
#include <string.h>

static const ssd_command commands[] = {
    {"convert", cmd_convert, "CCPD -> Pascal VOC; generate VOC split files"},
    {"download", cmd_download, "fetch classes of Open Images (open_images_downloader.py)"},
    {"train", cmd_train, "train an SSD detector (train_ssd.py)"},
    {"eval", cmd_eval, "VOC mAP, COCO-style AP, PR curves of a checkpoint (eval_ssd.py)"},
    {"detect", cmd_detect, "detect objects in images and draw them (detectnet)"},
    {"export", cmd_export, "export a checkpoint to ONNX (onnx_export.py)"},
    {"info", cmd_info, "version, backends, CPU ISA, GPU, threads"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
    fprintf(out, "usage: ssd <command> [options]\n\n"
                 "Train, evaluate, export and run SSD object detectors.\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n'ssd <command> --help' describes each command's options.\n");
}

int cli_fail(const char *cmd, ssd_status st) {
    const char *msg = ssd_error_message();
    fprintf(stderr, "ssd %s: %s\n", cmd, msg[0] ? msg : ssd_status_name(st));
    return st == SSD_E_INVAL ? 2 : 1;
}

int main(int argc, char **argv) {
    ssd_threads_wait_policy(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version")) {
        printf("ssd %s\n", SSD_VERSION);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ssd: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}

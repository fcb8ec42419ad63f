/* Subcommands: each is `int cmd_x(int argc, char **argv)` returning the exit
 * code (0 ok, 1 failure, 2 usage) and registered in main.c's table. */
#ifndef SSD_CLI_H
#define SSD_CLI_H

#include "core/status.h"
#include "tensor/backend.h"

#include <stdbool.h>

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} ssd_command;

int cmd_info(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_download(int argc, char **argv);
/* `ssd convert tfjs ...` (argv[0] == "tfjs"), dispatched from cmd_convert. */
int cmd_convert_tfjs(int argc, char **argv);

/* Usage errors: print "ssd <cmd>: --<opt> <val>: <why>" and return 2. */
int cli_bad(const char *cmd, const char *opt, const char *val, const char *why);
/* 0 on success; else the message above and 2. hi >= 1e9 reads as "no upper bound". */
int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out);

/* --precision: fp32, tf32, bf16 or fp16 (0), else the message above and 2. */
int cli_parse_precision(const char *cmd, const char *opt, const char *s, ssd_precision *out);

/* Python's str2bool: yes/true/t/y/1, no/false/f/n/0 (any case); -1 otherwise. */
int cli_parse_bool(const char *s, bool *out);

/* Prints "ssd <cmd>: <message>" for a failed status and returns the exit code 1. */
int cli_fail(const char *cmd, ssd_status st);

#endif

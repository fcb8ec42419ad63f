/* Option-value parsing shared by the subcommands: one message format,
 * "ssd <cmd>: --<opt> <value>: <why>", and exit code 2 for usage errors. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int cli_bad(const char *cmd, const char *opt, const char *val, const char *why) {
    fprintf(stderr, "ssd %s: --%s %s: %s\n", cmd, opt, val, why);
    return 2;
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        char why[64];
        if (hi >= 1000000000)
            snprintf(why, sizeof why, "expected an integer >= %d", lo);
        else
            snprintf(why, sizeof why, "expected an integer in %d..%d", lo, hi);
        return cli_bad(cmd, opt, s, why);
    }
    *out = (int)v;
    return 0;
}

int cli_parse_precision(const char *cmd, const char *opt, const char *s, ssd_precision *out) {
    if (ssd_precision_parse(s, out) != SSD_OK)
        return cli_bad(cmd, opt, s, "expected fp32, tf32, bf16 or fp16");
    return 0;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return cli_bad(cmd, opt, s, "not a number");
    if (v < lo || v > hi) {
        char why[96];
        snprintf(why, sizeof why, "expected a number in [%g, %g]", lo, hi);
        return cli_bad(cmd, opt, s, why);
    }
    *out = v;
    return 0;
}

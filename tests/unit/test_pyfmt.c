/* ssd_pyfloat_repr against Python's repr for awkward values (gen_pyfmt.py). */
#include "test.h"

#include "core/pyfmt.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    char path[1024], line[256];
    snprintf(path, sizeof path, "%s/repr.txt", argc > 1 ? argv[1] : ".");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    int shown = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long bits;
        char want[128], got[128];
        if (sscanf(line, "%llx %127s", &bits, want) != 2) continue;
        double v;
        memcpy(&v, &bits, 8);
        ssd_pyfloat_repr(v, got, sizeof got);
        if (strcmp(got, want) != 0 && shown++ < 10)
            fprintf(stderr, "repr: got %s want %s\n", got, want);
        CHECK(strcmp(got, want) == 0);
    }
    fclose(f);
    return test_finish();
}

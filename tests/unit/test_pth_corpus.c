/* Regression over the .pth fuzz corpus (seeds and fixed crashers): every file
 * loads or fails with SSD_E_FORMAT and a one-line message, without crashing or
 * leaking (run under ASan / valgrind to see the latter); seeds must load. */
#include "formats/pth.h"

#include "test.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) return test_skip("usage: test_pth_corpus FIXDIR");
    char p[4096], name[1024];
    snprintf(p, sizeof p, "%s/list.txt", argv[1]);
    FILE *list = fopen(p, "r");
    CHECK(list != NULL);
    if (!list) return test_finish();
    int files = 0, seeds = 0;
    while (fgets(name, sizeof name, list)) {
        name[strcspn(name, "\n")] = '\0';
        if (!name[0]) continue;
        snprintf(p, sizeof p, "%s/%s", argv[1], name);
        ssd_state_dict sd;
        ssd_status st = ssd_pth_load(&sd, p);
        bool ok = st == SSD_OK || (st == SSD_E_FORMAT && strstr(ssd_error_message(), name) &&
                                   !strchr(ssd_error_message(), '\n'));
        if (strncmp(name, "seed_", 5) == 0) {
            ok = ok && st == SSD_OK && sd.count > 0;
            seeds++;
        }
        printf("%-40s %s%s%s\n", name, ssd_status_name(st), st ? ": " : "",
               st ? ssd_error_message() : "");
        CHECK(ok);
        ssd_state_dict_free(&sd);
        files++;
    }
    fclose(list);
    CHECK(files >= 5 && seeds >= 5);
    return test_finish();
}

/* Regression over the ONNX fuzz corpus (tests/fuzz/corpus_onnx: seeds and
 * fixed crashers) on the reference backend, as the fuzz target runs them:
 * every file loads or fails with a one-line message naming it, and a graph
 * with a small declared input is planned and run (twice), without a crash, undefined
 * behaviour or a leak (run under `make asan` to see the latter two). */
#include "runtime/onnx_runtime.h"

#include "core/fileio.h"
#include "core/mem.h"
#include "test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    const char *dir = SRC_DIR "/../fuzz/corpus_onnx";
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) return test_finish();
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;)
        if (strstr(e->d_name, ".onnx")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    ssd_backend *be = NULL;
    REQUIRE_OK(ssd_backend_create(&be, "ref"));
    int loaded = 0;
    for (int i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        uint8_t *data = NULL;
        size_t len = 0;
        CHECK_OK(ssd_file_read_all(p, &data, &len));
        ssd_onnx_model *m = NULL;
        ssd_status st = ssd_onnx_load_mem(&m, data, len, names[i], be);
        const char *msg = st ? ssd_error_message() : "";
        CHECK(st == SSD_OK ||
              (strncmp(msg, names[i], strlen(names[i])) == 0 && !strchr(msg, '\n')));
        ssd_status run = SSD_OK;
        if (m) {
            loaded++;
            int64_t dims[SSD_MAX_DIMS], k = 1;
            int nd = ssd_onnx_input_dims(m, dims);
            for (int j = 0; j < nd; j++) k = dims[j] > 0 ? k * dims[j] : 1 << 30;
            if (nd >= 1 && k <= 4096) {
                ssd_tensor x;
                ssd_tensor_init(&x, be, SSD_F32, nd, dims);
                /* twice, as the fuzz target: the second run on shared buffers */
                if (ssd_tensor_alloc(&x) == SSD_OK) run = ssd_onnx_run(m, &x);
                if (run == SSD_OK && x.data) run = ssd_onnx_run(m, &x);
                ssd_tensor_deinit(&x);
            }
            ssd_onnx_destroy(m);
        }
        printf("%-28s load %s%s%s, run %s\n", names[i], ssd_status_name(st), st ? ": " : "", msg,
               ssd_status_name(run));
        ssd_free(data);
        free(names[i]);
    }
    ssd_backend_destroy(be);
    CHECK(n >= 6 && loaded >= 2); /* the seeds ops9 and ops13 load */
    return test_finish();
}

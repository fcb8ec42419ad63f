/* Which backend a command gets: the CPU unless CUDA is asked for and usable; a "cuda" that
 * cannot be made falls back to the CPU (on a machine without a GPU, always), while any other
 * unknown name stays an error. */
#include "core/log.h"
#include "tensor/backend.h"
#include "test.h"

#include <string.h>

int main(void) {
    CHECK(strcmp(ssd_backend_choose(false, SSD_LOG_INFO, "testing"), "cpu") == 0);
    const bool gpu = ssd_backend_cuda_devices() > 0;
    CHECK(strcmp(ssd_backend_choose(true, SSD_LOG_INFO, "testing"), gpu ? "cuda" : "cpu") == 0);

    ssd_backend *be = NULL;
    CHECK_OK(ssd_backend_create_or_cpu(&be, "cpu", SSD_LOG_INFO, "testing"));
    CHECK(be && strcmp(be->ops->name, "cpu") == 0);
    ssd_backend_destroy(be);

    /* as if ssd_backend_choose had counted a device: without one, creating cuda fails */
    be = NULL;
    CHECK_OK(ssd_backend_create_or_cpu(&be, "cuda", SSD_LOG_INFO, "testing"));
    CHECK(be && strcmp(be->ops->name, gpu ? "cuda" : "cpu") == 0);
    ssd_backend_destroy(be);

    be = NULL;
    CHECK(ssd_backend_create_or_cpu(&be, "tpu", SSD_LOG_INFO, "testing") == SSD_E_UNSUPPORTED);
    CHECK(be == NULL);
    CHECK(strstr(ssd_error_message(), "unknown backend 'tpu'") != NULL);
    printf("backend choice: %s\n", gpu ? "a GPU is present: cuda" : "no GPU: the CPU fallback");
    return test_finish();
}

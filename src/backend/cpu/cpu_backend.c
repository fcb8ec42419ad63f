/* Placeholder until the oneDNN backend lands. */
#include "tensor/backend.h"

ssd_status ssd_backend_cpu_create(ssd_backend **out) {
    *out = NULL;
    return ssd_error_set(SSD_E_UNSUPPORTED, "cpu backend not built yet");
}

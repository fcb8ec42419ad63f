/* `ssd info`: the tutorial's "verify your framework" step. */
#include "cli/cli.h"

#include "backend/cpu/cpu.h"

#include "core/threads.h"
#include "tensor/backend.h"

#include <getopt.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_all:
        return "all (no limit)";
    case dnnl_cpu_isa_sse41:
        return "sse41";
    case dnnl_cpu_isa_avx:
        return "avx";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    case dnnl_cpu_isa_avx512_mic:
        return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
        return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    default:
        return "unknown";
    }
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'}, {"threads", required_argument, 0, 't'}, {0, 0, 0, 0}};
    int threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ht:", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: ssd info [--threads=N]\n\n"
                   "Prints the version, the build options, the compiled-in backends, the oneDNN\n"
                   "version and the instruction set it dispatches to, the thread count and the\n"
                   "CUDA devices, if any.\n");
            return 0;
        case 't':
            threads = atoi(optarg);
            break;
        default:
            return 2;
        }
    }
    ssd_threads_set(threads);
    const dnnl_version_t *v = dnnl_version();
    printf("ssd %s\n", SSD_VERSION);
    printf("build:     %s, C%ld, %s\n", __VERSION__, __STDC_VERSION__,
#ifdef NDEBUG
           "release"
#else
           "debug"
#endif
    );
    printf("backends:  %s\n", ssd_backend_list());
    printf("oneDNN:    %d.%d.%d (%s), cpu runtime %s\n", v->major, v->minor, v->patch, v->hash,
           v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other");
    printf("cpu isa:   %s\n", isa_name(dnnl_get_effective_cpu_isa()));
    ssd_backend *cpu = NULL;
    if (ssd_backend_create(&cpu, "cpu") == SSD_OK) /* what --precision bf16 needs */
        printf("bf16:      %s\n", ssd_backend_has(cpu, SSD_OP_CONV2D, SSD_BF16, NULL)
                                      ? "native bfloat16 convs (--precision bf16)"
                                      : "no (--precision bf16 needs AVX512_BF16 or AMX)");
    if (cpu) printf("winograd:  %s\n", ssd_backend_cpu_winograd(cpu));
    ssd_backend_destroy(cpu);
    printf("threads:   %d (of %d cores)\n", ssd_threads_get(), ssd_cpu_count());
    const char *wp = getenv("OMP_WAIT_POLICY"), *sc = getenv("GOMP_SPINCOUNT");
    printf("waiting:   OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s\n", wp ? wp : "(unset)",
           sc ? sc : "(unset)");
    char cuda[256];
    printf("cuda:      %s\n", ssd_backend_cuda_describe(cuda, sizeof cuda));
    return 0;
}

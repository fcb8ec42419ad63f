#include "core/threads.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cur_threads;

int ssd_cpu_count(void) {
    /* libgomp's count of the CPUs the process started with: under
     * OMP_PROC_BIND it has bound this thread to one of them already, and
     * sched_getaffinity would say 1 */
    int n = omp_get_num_procs();
    return n > 0 ? n : 1;
}

void ssd_threads_set(int n) {
    if (n <= 0) {
        const char *env = getenv("SSD_THREADS");
        n = env ? atoi(env) : 0;
    }
    if (n <= 0) n = ssd_cpu_count();
    cur_threads = n;
    omp_set_num_threads(n);
}

int ssd_threads_get(void) {
    if (cur_threads <= 0) ssd_threads_set(0);
    return cur_threads;
}

void ssd_threads_wait_policy(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    /* with binding asked for, libgomp has pinned this thread to the first
     * place by now, and the new image would inherit that one core */
    if (getenv("OMP_PROC_BIND") || getenv("OMP_PLACES") || getenv("GOMP_CPU_AFFINITY")) return;
    const char *pre = getenv("LD_PRELOAD"); /* valgrind's exe would be re-run, not ours */
    if (pre && strstr(pre, "vgpreload")) return;
    if (setenv("GOMP_SPINCOUNT", SSD_GOMP_SPINCOUNT, 1) != 0) return;
    execv("/proc/self/exe", argv); /* on failure, go on with libgomp's default */
}

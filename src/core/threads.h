/* The one place that decides how many threads compute may use. oneDNN (via
 * OpenMP here) and our own pools read it from here. */
#ifndef SSD_CORE_THREADS_H
#define SSD_CORE_THREADS_H

/* Cores this process may run on (sched_getaffinity), at least 1. */
int ssd_cpu_count(void);
/* n <= 0: SSD_THREADS env var, else ssd_cpu_count(). Applies it to OpenMP. */
void ssd_threads_set(int n);
int ssd_threads_get(void);

#endif

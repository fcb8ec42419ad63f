/* The one place that decides how many threads compute may use. oneDNN (via
 * OpenMP here) and our own pools read it from here. */
#ifndef SSD_CORE_THREADS_H
#define SSD_CORE_THREADS_H

/* Cores this process may run on (its affinity mask at start), at least 1. */
int ssd_cpu_count(void);
/* n <= 0: SSD_THREADS env var, else ssd_cpu_count(). Applies it to OpenMP. */
void ssd_threads_set(int n);
int ssd_threads_get(void);

/* How long an OpenMP thread spins at a barrier before it sleeps (libgomp's
 * GOMP_SPINCOUNT), when the environment names neither OMP_WAIT_POLICY nor
 * GOMP_SPINCOUNT. libgomp's default, 300000, is about 15 ms here: on a shared
 * 2-core machine the spinning thread takes the core its partner needs (2-3x
 * slower). Sleeping at once (passive) makes every kernel pay a futex wake-up
 * (mb3-large-ssd-lite's 160 kernels: 11.2 ms instead of 8.6). 10000 spins
 * cover the gap between two kernels and little more. */
#define SSD_GOMP_SPINCOUNT "10000"

/* libgomp reads its wait policy once, when it loads, so the policy above
 * takes a re-execution of the program: call first thing in main. Returns
 * (without re-executing) when the environment already names a policy or
 * asks for thread binding (OMP_PROC_BIND, OMP_PLACES, GOMP_CPU_AFFINITY:
 * libgomp has bound this thread to one core, which the re-executed program
 * would inherit as all it may use), under valgrind, or when exec fails. */
void ssd_threads_wait_policy(char **argv);

#endif

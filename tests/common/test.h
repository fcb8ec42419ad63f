/* Minimal test harness: CHECK macros, tolerance comparison that reports the
 * worst element, and a closing "N passed, N failed" line. A failing check
 * makes the test exit non-zero; exit code 77 means skipped (CTest). */
#ifndef SSD_TEST_H
#define SSD_TEST_H

#include "core/status.h"
#include "tensor/backend.h"

#include <stdbool.h>
#include <stdio.h>

extern int test_passed, test_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            test_passed++;                                                                         \
        } else {                                                                                   \
            test_failed++;                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        ssd_status st_ = (expr);                                                                   \
        if (st_ == SSD_OK) {                                                                       \
            test_passed++;                                                                         \
        } else {                                                                                   \
            test_failed++;                                                                         \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,                    \
                    ssd_status_name(st_), ssd_error_message());                                    \
        }                                                                                          \
    } while (0)

/* Fatal variant for set-up steps whose failure makes the rest meaningless. */
#define REQUIRE_OK(expr)                                                                           \
    do {                                                                                           \
        ssd_status st_ = (expr);                                                                   \
        if (st_ != SSD_OK) {                                                                       \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,                    \
                    ssd_status_name(st_), ssd_error_message());                                    \
            return test_finish();                                                                  \
        }                                                                                          \
    } while (0)

/* Prints the summary line and returns the exit code for main. */
int test_finish(void);
/* Prints "skipped: why" and returns 77. */
int test_skip(const char *why);

/* The backend the runtime tests run on, its name printed: SSD_TEST_BACKEND
 * when set, else the oneDNN one where this build has it (fast), else the
 * reference one. */
ssd_status test_runtime_backend(ssd_backend **be);

/* |a-b| <= atol + rtol*|b| elementwise (b is the reference). On failure prints
 * max abs and rel error, the worst index and the first few mismatches. */
bool test_close_f32(const char *what, const float *a, const float *b, long n, double atol,
                    double rtol);
bool test_close_f64(const char *what, const double *a, const double *b, long n, double atol,
                    double rtol);
/* Reads t to host f32 and compares against ref (length = numel(t), shapes checked by caller). */
bool test_close_tensor(const char *what, const ssd_tensor *t, const float *ref, double atol,
                       double rtol);

/* Writes root/rel (its folders made as needed) with printf-formatted text;
 * exits the test on failure, since nothing after it could mean anything. */
void test_put(const char *root, const char *rel, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

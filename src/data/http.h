/* Parallel, resumable HTTP(S) downloads of many files through libcurl's
 * multi interface (one thread, many connections).
 *
 * Each file is written to "<dest>.part" and renamed onto dest once it is
 * complete (curl checks the length against Content-Length) and, when a verify
 * function is given, once it verifies. So dest either does not exist or is
 * whole: a re-run skips every dest that exists (and verifies), and an
 * interrupted run removes its .part files. Network errors, timeouts, 408, 429
 * and 5xx answers and files that fail verification are retried with
 * exponential back-off; 404 and 410 are "not found" and not retried; other
 * 4xx answers fail at once. */
#ifndef SSD_DATA_HTTP_H
#define SSD_DATA_HTTP_H

#include "core/status.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for curl's own error text (CURL_ERROR_SIZE) and a prefix. */
#define SSD_HTTP_ERROR_CAP 320

typedef enum {
    SSD_HTTP_PENDING = 0,
    SSD_HTTP_DONE,      /* downloaded now */
    SSD_HTTP_PRESENT,   /* dest was already there (and verified) */
    SSD_HTTP_NOT_FOUND, /* 404 / 410 */
    SSD_HTTP_FAILED,    /* out of retries, or a permanent error */
} ssd_http_result;

typedef struct {
    const char *url;  /* borrowed */
    const char *dest; /* borrowed */
    /* filled in */
    ssd_http_result result;
    long http_code; /* last answer's status; 0 if none */
    int attempts;
    int64_t bytes;                  /* size of dest when DONE */
    char error[SSD_HTTP_ERROR_CAP]; /* why, for NOT_FOUND and FAILED */
} ssd_http_item;

/* True if the file at path is good; otherwise a reason in why. */
typedef bool (*ssd_http_verify_fn)(const char *path, void *ctx, char *why, size_t n);

typedef struct {
    int parallel;              /* transfers at once (>= 1) */
    int retry;                 /* attempts per file (>= 1) */
    double backoff_s;          /* wait before the 2nd attempt; doubles, at most 60 s */
    double timeout_s;          /* abandon a transfer with no data for this long */
    double connect_timeout_s;  /* 0: curl's default */
    ssd_http_verify_fn verify; /* NULL: no check beyond the length */
    void *verify_ctx;
    const char *label;                /* progress bar label; NULL: no bar */
    int log_every;                    /* without a bar, log "Downloaded N files." every N */
    volatile sig_atomic_t *interrupt; /* non-zero: stop, remove .part files */
} ssd_http_cfg;

void ssd_http_cfg_default(ssd_http_cfg *c);

typedef struct {
    int64_t done, present, not_found, failed, retries;
    int64_t bytes; /* downloaded now */
} ssd_http_summary;

/* Fetches every item (results in the items). Returns SSD_OK when all were
 * attempted, whatever their results; SSD_E_INTERRUPTED when *interrupt was
 * set (nothing half-written is left); SSD_E_IO / SSD_E_NOMEM for local failures. */
ssd_status ssd_http_fetch(ssd_http_item *items, int64_t n, const ssd_http_cfg *cfg,
                          ssd_http_summary *sum);

#endif

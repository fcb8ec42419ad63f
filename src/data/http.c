/* Parallel downloads with libcurl's multi interface; the contract is in http.h. */
#include "data/http.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/progress.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ssd_http_cfg_default(ssd_http_cfg *c) {
    memset(c, 0, sizeof *c);
    c->parallel = 10;
    c->retry = 10;
    c->backoff_s = 1;
    c->timeout_s = 60;
    c->log_every = 100;
}

typedef struct transfer transfer;

typedef struct {
    ssd_http_item *items;
    int64_t n;
    const ssd_http_cfg *cfg;
    ssd_http_summary *sum;
    int64_t next;       /* next never-started item */
    int64_t *wait;      /* items waiting for a retry */
    double *wait_until; /* [n] when each may start again */
    int64_t nwait;
    int64_t finished;
    ssd_progress bar;
    char bar_extra[96];
    int64_t bytes_now; /* bytes received, for the bar */
} run_state;

struct transfer {
    CURL *h;
    run_state *rs;
    int64_t item;
    FILE *fp;
    char *part;
    int64_t got;
    char errbuf[CURL_ERROR_SIZE];
    bool write_failed;
};

static char *part_name(const char *dest) {
    size_t n = strlen(dest);
    char *p = ssd_malloc(n + 6);
    if (p) {
        memcpy(p, dest, n);
        memcpy(p + n, ".part", 6);
    }
    return p;
}

static void human_bytes(char *buf, size_t n, double b) {
    static const char *u[] = {"B", "kB", "MB", "GB", "TB"};
    int k = 0;
    while (b >= 1000 && k < 4) {
        b /= 1000;
        k++;
    }
    snprintf(buf, n, k ? "%.1f %s" : "%.0f %s", b, u[k]);
}

static void bar_update(run_state *rs, int64_t files, int64_t bytes) {
    if (!rs->cfg->label) return;
    rs->bytes_now += bytes;
    char b[32];
    human_bytes(b, sizeof b, (double)rs->bytes_now);
    snprintf(rs->bar_extra, sizeof rs->bar_extra, "%s", b);
    if (rs->sum->failed + rs->sum->not_found)
        snprintf(rs->bar_extra + strlen(rs->bar_extra),
                 sizeof rs->bar_extra - strlen(rs->bar_extra), ", %lld missing",
                 (long long)(rs->sum->failed + rs->sum->not_found));
    ssd_progress_add(&rs->bar, files, rs->bar_extra);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg) {
    transfer *t = arg;
    size_t n = size * nmemb;
    if (!t->fp) {
        t->fp = fopen(t->part, "wb");
        if (!t->fp) {
            t->write_failed = true;
            snprintf(t->errbuf, sizeof t->errbuf, "%s: cannot create: %s", t->part,
                     strerror(errno));
            return 0;
        }
    }
    if (fwrite(data, 1, n, t->fp) != n) {
        t->write_failed = true;
        snprintf(t->errbuf, sizeof t->errbuf, "%s: write failed: %s", t->part, strerror(errno));
        return 0;
    }
    t->got += (int64_t)n;
    bar_update(t->rs, 0, (int64_t)n);
    return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    transfer *t = arg;
    run_state *rs = t->rs;
    return rs->cfg->interrupt && *rs->cfg->interrupt ? 1 : 0;
}

static void drop_part(transfer *t) {
    if (t->fp) fclose(t->fp);
    t->fp = NULL;
    if (t->part) unlink(t->part);
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static ssd_status start(run_state *rs, CURLM *multi, transfer *t, int64_t i) {
    const ssd_http_cfg *cfg = rs->cfg;
    ssd_http_item *it = &rs->items[i];
    t->item = i;
    t->got = 0;
    t->write_failed = false;
    t->errbuf[0] = 0;
    t->fp = NULL;
    ssd_free(t->part);
    if (!(t->part = part_name(it->dest))) return SSD_E_NOMEM;
    /* The file is created on the first byte, so an answer without a body
     * (404) leaves nothing; an empty 200 body is created at the end. */
    curl_easy_reset(t->h);
    curl_easy_setopt(t->h, CURLOPT_URL, it->url);
    curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(t->h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(t->h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(t->h, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(t->h, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(t->h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(t->h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(t->h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(t->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t->h, CURLOPT_USERAGENT, "ssd/" SSD_VERSION);
    curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
    if (cfg->connect_timeout_s > 0)
        curl_easy_setopt(t->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(cfg->connect_timeout_s * 1000));
    if (cfg->timeout_s > 0) {
        /* "No data for timeout_s" rather than a total limit: big files are slow, not stuck. */
        curl_easy_setopt(t->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(t->h, CURLOPT_LOW_SPEED_TIME, (long)ceil(cfg->timeout_s));
    }
    it->attempts++;
    CURLMcode mc = curl_multi_add_handle(multi, t->h);
    if (mc != CURLM_OK)
        return ssd_error_set(SSD_E_IO, "%s: curl: %s", it->url, curl_multi_strerror(mc));
    return SSD_OK;
}

static void finish_item(run_state *rs, int64_t i, ssd_http_result r) {
    ssd_http_item *it = &rs->items[i];
    it->result = r;
    rs->finished++;
    switch (r) {
    case SSD_HTTP_DONE:
        rs->sum->done++;
        rs->sum->bytes += it->bytes;
        break;
    case SSD_HTTP_PRESENT:
        rs->sum->present++;
        break;
    case SSD_HTTP_NOT_FOUND:
        rs->sum->not_found++;
        ssd_warn("%s does not exist (%s).", it->url, it->error);
        break;
    default:
        rs->sum->failed++;
        ssd_warn("Failed to download %s after %d attempts: %s", it->url, it->attempts, it->error);
        break;
    }
    bar_update(rs, 1, 0);
    if (!rs->cfg->label && rs->cfg->log_every > 0 && rs->finished % rs->cfg->log_every == 0)
        ssd_info("Downloaded %lld files.", (long long)rs->finished);
}

static void retry_later(run_state *rs, int64_t i) {
    ssd_http_item *it = &rs->items[i];
    if (it->attempts >= rs->cfg->retry) {
        finish_item(rs, i, SSD_HTTP_FAILED);
        return;
    }
    double wait = rs->cfg->backoff_s * pow(2.0, it->attempts - 1);
    if (wait > 60) wait = 60;
    ssd_debug("%s: %s; retrying in %.1f s", it->url, it->error, wait);
    rs->sum->retries++;
    rs->wait_until[i] = ssd_now() + wait;
    rs->wait[rs->nwait++] = i;
}

/* One finished transfer: keep the file, retry or give up. */
static ssd_status complete(run_state *rs, transfer *t, CURLcode rc) {
    ssd_http_item *it = &rs->items[t->item];
    long code = 0;
    curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &code);
    it->http_code = code;
    if (t->write_failed) {
        drop_part(t);
        /* The disk, not the network: no retry will help. */
        return ssd_error_set(SSD_E_IO, "%s", t->errbuf);
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        drop_part(t);
        return SSD_E_INTERRUPTED;
    }
    if (rc == CURLE_OK && !t->fp) { /* an empty body */
        if (!(t->fp = fopen(t->part, "wb")))
            return ssd_error_set(SSD_E_IO, "%s: cannot create: %s", t->part, strerror(errno));
    }
    if (rc == CURLE_OK && fclose(t->fp) != 0) {
        t->fp = NULL;
        unlink(t->part);
        return ssd_error_set(SSD_E_IO, "%s: write failed: %s", t->part, strerror(errno));
    }
    if (rc == CURLE_OK) t->fp = NULL;
    if (rc != CURLE_OK) {
        drop_part(t);
        if (rc == CURLE_HTTP_RETURNED_ERROR) {
            snprintf(it->error, sizeof it->error, "HTTP %ld", code);
            if (code == 404 || code == 410) {
                finish_item(rs, t->item, SSD_HTTP_NOT_FOUND);
                return SSD_OK;
            }
            if (code >= 400 && code < 500 && code != 408 && code != 429) {
                finish_item(rs, t->item, SSD_HTTP_FAILED);
                return SSD_OK;
            }
        } else {
            snprintf(it->error, sizeof it->error, "%s",
                     t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
        }
        retry_later(rs, t->item);
        return SSD_OK;
    }
    char why[160] = "";
    if (rs->cfg->verify && !rs->cfg->verify(t->part, rs->cfg->verify_ctx, why, sizeof why)) {
        unlink(t->part);
        snprintf(it->error, sizeof it->error, "downloaded file is bad: %s", why);
        retry_later(rs, t->item);
        return SSD_OK;
    }
    if (rename(t->part, it->dest) != 0) {
        int e = errno;
        unlink(t->part);
        return ssd_error_set(SSD_E_IO, "%s: cannot rename to %s: %s", t->part, it->dest,
                             strerror(e));
    }
    it->bytes = t->got;
    finish_item(rs, t->item, SSD_HTTP_DONE);
    return SSD_OK;
}

/* An item that is not running: done if its dest is already good, else -1 (start it). */
static bool already_present(run_state *rs, int64_t i) {
    ssd_http_item *it = &rs->items[i];
    if (!file_exists(it->dest)) return false;
    char why[160] = "";
    if (rs->cfg->verify && !rs->cfg->verify(it->dest, rs->cfg->verify_ctx, why, sizeof why)) {
        ssd_warn("%s is damaged (%s); downloading it again", it->dest, why);
        unlink(it->dest);
        return false;
    }
    finish_item(rs, i, SSD_HTTP_PRESENT);
    return true;
}

/* The next item ready to start, or -1. */
static int64_t next_ready(run_state *rs) {
    double now = ssd_now();
    for (int64_t k = 0; k < rs->nwait; k++) {
        int64_t i = rs->wait[k];
        if (rs->wait_until[i] <= now) {
            rs->wait[k] = rs->wait[--rs->nwait];
            return i;
        }
    }
    while (rs->next < rs->n) {
        int64_t i = rs->next++;
        if (!already_present(rs, i)) return i;
    }
    return -1;
}

ssd_status ssd_http_fetch(ssd_http_item *items, int64_t n, const ssd_http_cfg *cfg,
                          ssd_http_summary *sum) {
    memset(sum, 0, sizeof *sum);
    for (int64_t i = 0; i < n; i++) {
        items[i].result = SSD_HTTP_PENDING;
        items[i].attempts = 0;
        items[i].http_code = 0;
        items[i].bytes = 0;
        items[i].error[0] = 0;
    }
    if (n == 0) return SSD_OK;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ssd_error_set(SSD_E_IO, "curl: global initialisation failed");
    ssd_status st = SSD_OK;
    int par = cfg->parallel < 1 ? 1 : cfg->parallel;
    if (par > n) par = (int)n;
    run_state rs = {.items = items, .n = n, .cfg = cfg, .sum = sum};
    transfer *ts = ssd_calloc((size_t)par, sizeof *ts);
    int *busy = ssd_calloc((size_t)par, sizeof *busy);
    rs.wait = ssd_malloc(sizeof *rs.wait * (size_t)n);
    rs.wait_until = ssd_calloc((size_t)n, sizeof *rs.wait_until);
    CURLM *multi = curl_multi_init();
    if (!ts || !busy || !rs.wait || !rs.wait_until || !multi) {
        st = multi ? SSD_E_NOMEM : ssd_error_set(SSD_E_IO, "curl: cannot create a multi handle");
        goto done;
    }
    for (int k = 0; k < par; k++) {
        ts[k].rs = &rs;
        if (!(ts[k].h = curl_easy_init())) {
            st = ssd_error_set(SSD_E_IO, "curl: cannot create a transfer handle");
            goto done;
        }
    }
    if (cfg->label) ssd_progress_init(&rs.bar, cfg->label, "files", n);
    int active = 0;
    while (rs.finished < n) {
        if (cfg->interrupt && *cfg->interrupt) {
            st = SSD_E_INTERRUPTED;
            goto done;
        }
        for (int k = 0; k < par && active < par; k++) {
            if (busy[k]) continue;
            int64_t i = next_ready(&rs);
            if (i < 0) break;
            SSD_CHECK_GOTO(st, start(&rs, multi, &ts[k], i), done);
            busy[k] = 1;
            active++;
        }
        if (rs.finished >= n) break;
        int running = 0;
        CURLMcode mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK) mc = curl_multi_poll(multi, NULL, 0, 100, NULL);
        if (mc != CURLM_OK) {
            st = ssd_error_set(SSD_E_IO, "curl: %s", curl_multi_strerror(mc));
            goto done;
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            transfer *t = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            CURLcode rc = msg->data.result;
            curl_multi_remove_handle(multi, t->h);
            busy[t - ts] = 0;
            active--;
            SSD_CHECK_GOTO(st, complete(&rs, t, rc), done);
        }
    }
done:
    if (cfg->label) ssd_progress_end(&rs.bar);
    for (int k = 0; ts && k < par; k++) {
        if (busy && busy[k]) {
            curl_multi_remove_handle(multi, ts[k].h);
            drop_part(&ts[k]);
        }
        if (ts[k].h) curl_easy_cleanup(ts[k].h);
        ssd_free(ts[k].part);
    }
    if (multi) curl_multi_cleanup(multi);
    ssd_free(ts);
    ssd_free(busy);
    ssd_free(rs.wait);
    ssd_free(rs.wait_until);
    curl_global_cleanup();
    if (st == SSD_E_INTERRUPTED) ssd_error_set(st, "interrupted; no partial file was kept");
    return st;
}

#include "data/data_io.h"

#include "core/mem.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ssd_status ssd_dio_read_all(const char *path, uint8_t **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ssd_error_set(SSD_E_IO, "%s: cannot open: %s", path, strerror(errno));
    ssd_status st = SSD_OK;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    struct stat sb;
    if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0)
        cap = (size_t)sb.st_size + 1;
    if (cap == 0) cap = 65536;
    buf = ssd_malloc(cap);
    if (!buf) {
        st = SSD_E_NOMEM;
        goto done;
    }
    for (;;) {
        if (n + 1 >= cap) {
            uint8_t *nb = ssd_realloc(buf, cap * 2);
            if (!nb) {
                st = SSD_E_NOMEM;
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        st = ssd_error_set(SSD_E_IO, "%s: read error: %s", path, strerror(errno));
        goto done;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    buf = NULL;
done:
    ssd_free(buf);
    fclose(fp);
    return st;
}

ssd_status ssd_dio_read_head(const char *path, uint8_t *buf, size_t max, size_t *len) {
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ssd_error_set(SSD_E_IO, "%s: cannot open: %s", path, strerror(errno));
    *len = fread(buf, 1, max, fp);
    int err = ferror(fp);
    fclose(fp);
    if (err) return ssd_error_set(SSD_E_IO, "%s: read error", path);
    return SSD_OK;
}

ssd_status ssd_dio_write_atomic(const char *path, const void *data, size_t len) {
    static atomic_uint counter;
    char *tmp =
        ssd_dio_strfmt("%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    if (!tmp) return SSD_E_NOMEM;
    ssd_status st = SSD_OK;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        st = ssd_error_set(SSD_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    size_t put = len ? fwrite(data, 1, len, fp) : 0;
    int bad = put != len || fflush(fp) != 0;
    int saved = errno;
    if (fclose(fp) != 0) bad = 1;
    if (bad) {
        st = ssd_error_set(SSD_E_IO, "%s: write failed: %s", path, strerror(saved));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        st = ssd_error_set(SSD_E_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        unlink(tmp);
    }
done:
    ssd_free(tmp);
    return st;
}

ssd_status ssd_dio_mkdir_p(const char *path) {
    char *p = ssd_strdup(path);
    if (!p) return SSD_E_NOMEM;
    ssd_status st = SSD_OK;
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c != '/' && c != 0) continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            st = ssd_error_set(SSD_E_IO, "%s: cannot create directory: %s", p, strerror(errno));
            goto done;
        }
        *s = c;
        if (!c) break;
    }
    struct stat sb;
    if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
        st = ssd_error_set(SSD_E_IO, "%s: exists and is not a directory", p);
done:
    ssd_free(p);
    return st;
}

char *ssd_dio_strfmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        ssd_error_set(SSD_E_INVAL, "bad format string");
        return NULL;
    }
    char *s = ssd_malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

ssd_status ssd_strlist_push(ssd_strlist *l, const char *s) {
    if (l->n == l->cap) {
        int64_t nc = l->cap ? l->cap * 2 : 64;
        char **nv = ssd_realloc(l->v, sizeof *nv * (size_t)nc);
        if (!nv) return SSD_E_NOMEM;
        l->v = nv;
        l->cap = nc;
    }
    char *c = ssd_strdup(s);
    if (!c) return SSD_E_NOMEM;
    l->v[l->n++] = c;
    return SSD_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ssd_strlist_sort(ssd_strlist *l) {
    if (l->n > 1) qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_str);
}

void ssd_strlist_free(ssd_strlist *l) {
    if (!l) return;
    for (int64_t i = 0; i < l->n; i++) ssd_free(l->v[i]);
    ssd_free(l->v);
    memset(l, 0, sizeof *l);
}

ssd_status ssd_dio_read_lines(const char *path, ssd_strlist *out) {
    uint8_t *data = NULL;
    size_t len = 0;
    SSD_TRY(ssd_dio_read_all(path, &data, &len));
    ssd_status st = SSD_OK;
    for (char *line = (char *)data; line && st == SSD_OK;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n) st = ssd_strlist_push(out, line);
        line = next;
    }
    ssd_free(data);
    return st;
}

ssd_status ssd_dio_list_files(const char *dir, ssd_strlist *out) {
    DIR *d = opendir(dir);
    if (!d) return ssd_error_set(SSD_E_IO, "%s: cannot list: %s", dir, strerror(errno));
    ssd_status st = SSD_OK;
    struct dirent *e;
    while (st == SSD_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        bool regular = e->d_type == DT_REG;
        if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
            char *p = ssd_dio_strfmt("%s/%s", dir, e->d_name);
            if (!p) {
                st = SSD_E_NOMEM;
                break;
            }
            struct stat sb;
            regular = stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
            ssd_free(p);
        }
        if (regular) st = ssd_strlist_push(out, e->d_name);
    }
    closedir(d);
    ssd_strlist_sort(out);
    return st;
}

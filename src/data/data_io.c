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
    SSD_TRY(ssd_file_read_all(path, &data, &len));
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

/* Inputs and outputs of `ssd detect` (image_list.h). */
#include "data/image_list.h"

#include "core/fileio.h"
#include "core/mem.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void ssd_path_list_free(ssd_path_list *l) {
    if (!l) return;
    for (int i = 0; i < l->n; i++) ssd_free(l->paths[i]);
    ssd_free(l->paths);
    l->paths = NULL;
    l->n = 0;
}

static const char *ext_of(const char *path) {
    const char *base = ssd_path_basename(path), *dot = strrchr(base, '.');
    return dot ? dot : "";
}

bool ssd_image_ext_ok(const char *path) {
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".bmp"};
    const char *e = ext_of(path);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!strcasecmp(e, exts[i])) return true;
    return false;
}

static bool is_file(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

/* Takes ownership of p. */
static ssd_status push_owned(ssd_path_list *l, char *p) {
    if (!p) return SSD_E_NOMEM;
    char **nn = ssd_realloc(l->paths, sizeof *nn * (size_t)(l->n + 1));
    if (!nn) {
        ssd_free(p);
        return SSD_E_NOMEM;
    }
    l->paths = nn;
    l->paths[l->n++] = p;
    return SSD_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static ssd_status expand_dir(ssd_path_list *l, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return ssd_error_set(SSD_E_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    int first = l->n;
    ssd_status st = SSD_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !ssd_image_ext_ok(e->d_name)) continue;
        char *p = ssd_path_join(dir, e->d_name);
        if (p && !is_file(p)) {
            ssd_free(p);
            continue;
        }
        if ((st = push_owned(l, p)) != SSD_OK) break;
    }
    closedir(d);
    if (st != SSD_OK) return st;
    if (l->n == first) return ssd_error_set(SSD_E_IO, "%s: no .jpg/.jpeg/.png/.bmp images", dir);
    qsort(l->paths + first, (size_t)(l->n - first), sizeof *l->paths, cmp_str);
    return SSD_OK;
}

static ssd_status expand_glob(ssd_path_list *l, const char *pat) {
    glob_t g;
    int r = glob(pat, 0, NULL, &g);
    if (r == GLOB_NOMATCH) {
        globfree(&g);
        return ssd_error_set(SSD_E_IO, "%s: no file matches", pat);
    }
    if (r != 0) {
        globfree(&g);
        return ssd_error_set(r == GLOB_NOSPACE ? SSD_E_NOMEM : SSD_E_IO, "%s: glob failed", pat);
    }
    int first = l->n;
    ssd_status st = SSD_OK;
    for (size_t i = 0; i < g.gl_pathc && st == SSD_OK; i++)
        if (is_file(g.gl_pathv[i]) && ssd_image_ext_ok(g.gl_pathv[i]))
            st = push_owned(l, ssd_strdup(g.gl_pathv[i]));
    globfree(&g);
    if (st == SSD_OK && l->n == first)
        st = ssd_error_set(SSD_E_IO, "%s: no .jpg/.jpeg/.png/.bmp image matches", pat);
    /* glob sorts by strcoll; the C locale makes that byte order, but say so explicitly. */
    if (st == SSD_OK) qsort(l->paths + first, (size_t)(l->n - first), sizeof *l->paths, cmp_str);
    return st;
}

static ssd_status expand_list(ssd_path_list *l, const char *list) {
    uint8_t *data;
    size_t len;
    SSD_TRY(ssd_file_read_all(list, &data, &len));
    char *dir = ssd_strdup(list);
    if (!dir) {
        ssd_free(data);
        return SSD_E_NOMEM;
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = 0;
    else
        dir[0] = 0;
    ssd_status st = SSD_OK;
    int first = l->n;
    char *p = (char *)data, *end = p + len;
    while (p < end && st == SSD_OK) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end, *a = p, *b = e;
        p = e + 1;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (a == b || *a == '#') continue;
        if (memchr(a, 0, (size_t)(b - a))) {
            st = ssd_error_set(SSD_E_FORMAT, "%s: a line holds a NUL byte", list);
            break;
        }
        char *entry = ssd_malloc((size_t)(b - a) + 1);
        if (!entry) {
            st = SSD_E_NOMEM;
            break;
        }
        memcpy(entry, a, (size_t)(b - a));
        entry[b - a] = 0;
        if (entry[0] != '/' && dir[0] && !ssd_path_exists(entry)) {
            char *j = ssd_path_join(dir, entry);
            ssd_free(entry);
            entry = j;
        }
        st = push_owned(l, entry);
    }
    ssd_free(dir);
    ssd_free(data);
    if (st == SSD_OK && l->n == first) st = ssd_error_set(SSD_E_FORMAT, "%s: lists no image", list);
    return st;
}

ssd_status ssd_path_list_expand(ssd_path_list *l, const char *spec) {
    if (!spec || !spec[0]) return ssd_error_set(SSD_E_INVAL, "empty input name");
    if (ssd_path_is_dir(spec)) return expand_dir(l, spec);
    if (!ssd_path_exists(spec) && strpbrk(spec, "*?[")) return expand_glob(l, spec);
    if (!ssd_path_exists(spec)) return ssd_error_set(SSD_E_IO, "%s: no such file", spec);
    if (!strcasecmp(ext_of(spec), ".txt")) return expand_list(l, spec);
    return push_owned(l, ssd_strdup(spec));
}

/* ---- outputs -------------------------------------------------------------------------------- */

static bool out_ext_ok(const char *path) {
    const char *e = ext_of(path);
    return !strcasecmp(e, ".jpg") || !strcasecmp(e, ".jpeg") || !strcasecmp(e, ".png");
}

/* Checks the conversions of a pattern: returns how many %i/%d there are, -1 when malformed. */
static int count_conversions(const char *s, char *why, size_t n) {
    int count = 0;
    for (const char *p = s; *p; p++) {
        if (*p != '%') continue;
        if (p[1] == '%') {
            p++;
            continue;
        }
        const char *q = p + 1;
        while (*q && strchr("-+ 0#", *q)) q++;
        int digits = 0;
        while (isdigit((unsigned char)*q)) q++, digits++;
        if (digits > 2) {
            snprintf(why, n, "width over 99");
            return -1;
        }
        if (*q != 'i' && *q != 'd') {
            snprintf(why, n, "only %%i or %%d (with flags and width) and %%%% are allowed");
            return -1;
        }
        count++;
        p = q;
    }
    return count;
}

ssd_status ssd_out_spec_parse(ssd_out_spec *o, const char *arg) {
    memset(o, 0, sizeof *o);
    if (!arg || !arg[0]) return SSD_OK;
    char why[96] = "";
    int conv = count_conversions(arg, why, sizeof why);
    if (conv < 0) return ssd_error_set(SSD_E_INVAL, "output %s: %s", arg, why);
    if (conv > 1) return ssd_error_set(SSD_E_INVAL, "output %s: more than one %%i", arg);
    size_t len = strlen(arg);
    if (conv == 0 && (arg[len - 1] == '/' || ssd_path_is_dir(arg))) {
        o->kind = SSD_OUT_DIR;
        o->spec = ssd_strdup(arg);
        if (!o->spec) return SSD_E_NOMEM;
        while (len > 1 && o->spec[len - 1] == '/') o->spec[--len] = 0;
        return SSD_OK;
    }
    if (!out_ext_ok(arg)) {
        return ssd_error_set(SSD_E_INVAL,
                             "output %s: images are written as .jpg, .jpeg or .png, not '%s'", arg,
                             ext_of(arg));
    }
    o->kind = conv ? SSD_OUT_PATTERN : SSD_OUT_FILE;
    o->spec = ssd_strdup(arg);
    if (!o->spec) return SSD_E_NOMEM;
    if (!conv) { /* "%%" in a plain file name stands for '%' */
        char *w = o->spec;
        for (const char *r = o->spec; *r; r++) {
            *w++ = *r;
            if (r[0] == '%' && r[1] == '%') r++;
        }
        *w = 0;
    }
    return SSD_OK;
}

void ssd_out_spec_free(ssd_out_spec *o) {
    if (!o) return;
    ssd_free(o->spec);
    o->spec = NULL;
    o->kind = SSD_OUT_NONE;
}

char *ssd_out_spec_path(const ssd_out_spec *o, int index, const char *input) {
    switch (o->kind) {
    case SSD_OUT_NONE:
        return NULL;
    case SSD_OUT_FILE:
        return ssd_strdup(o->spec);
    case SSD_OUT_PATTERN: {
        /* The spec was checked to hold exactly one %<flags><width>i and %% otherwise. */
        int n = snprintf(NULL, 0, o->spec, index);
        if (n < 0) return NULL;
        char *p = ssd_malloc((size_t)n + 1);
        if (p) snprintf(p, (size_t)n + 1, o->spec, index);
        return p;
    }
    case SSD_OUT_DIR: {
        const char *base = ssd_path_basename(input);
        if (out_ext_ok(base)) return ssd_path_join(o->spec, base);
        size_t stem = strlen(base) - strlen(ext_of(base));
        char *name = ssd_malloc(stem + 5);
        if (!name) return NULL;
        memcpy(name, base, stem);
        memcpy(name + stem, ".jpg", 5);
        char *p = ssd_path_join(o->spec, name);
        ssd_free(name);
        return p;
    }
    }
    return NULL;
}

#include "core/fileio.h"

#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_long read_count;
static atomic_long read_fail_at;

void ssd_read_fail_at(long k) {
    atomic_store(&read_count, 0);
    atomic_store(&read_fail_at, k);
}

long ssd_read_count(void) {
    return atomic_load(&read_count);
}

size_t ssd_fread_checked(void *p, size_t n, FILE *fp) {
    long k = atomic_fetch_add(&read_count, 1) + 1;
    long fail = atomic_load(&read_fail_at);
    /* An injected short read delivers half of what was asked (possibly 0) and
     * never reports EOF, as an interrupted device would: to any caller that
     * checks fread's count and feof it is an error, wherever in the file it falls. */
    if (fail > 0 && k == fail) {
        size_t got = fread(p, 1, n / 2, fp);
        clearerr(fp);
        return got;
    }
    return fread(p, 1, n, fp);
}

ssd_status ssd_file_read_all(const char *path, uint8_t **data, size_t *len) {
    ssd_status st = SSD_OK;
    uint8_t *buf = NULL;
    size_t used = 0, cap = 0;
    *data = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ssd_error_set(SSD_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0) {
        st = ssd_error_set(SSD_E_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = ssd_error_set(SSD_E_IO, "%s: is a directory", path);
        goto done;
    }
    /* The size is a hint only: pipes and /proc files report 0, and files can
     * grow while read. Reading stops at EOF, one spare byte takes the NUL. */
    cap = S_ISREG(sb.st_mode) && sb.st_size > 0 ? (size_t)sb.st_size + 1 : 4096;
    buf = ssd_malloc(cap);
    if (!buf) {
        st = ssd_error_prefix(SSD_E_NOMEM, "%s", path);
        goto done;
    }
    for (;;) {
        size_t want = cap - 1 - used;
        size_t got = ssd_fread_checked(buf + used, want, fp);
        used += got;
        if (got < want) {
            if (ferror(fp) || !feof(fp)) {
                int err = errno;
                st = ssd_error_set(SSD_E_IO, "%s: read failed after %zu bytes: %s", path, used,
                                   ferror(fp) ? strerror(err) : "short read");
                goto done;
            }
            break;
        }
        /* Full buffer: probe for EOF before growing, so a file whose size
         * was known costs exactly one buffer. */
        int c = fgetc(fp);
        if (c == EOF) {
            if (ferror(fp)) {
                st = ssd_error_set(SSD_E_IO, "%s: read failed after %zu bytes: %s", path, used,
                                   strerror(errno));
                goto done;
            }
            break;
        }
        ungetc(c, fp);
        if (cap > SIZE_MAX / 2) {
            st = ssd_error_set(SSD_E_NOMEM, "%s: file too large", path);
            goto done;
        }
        cap *= 2;
        uint8_t *nb = ssd_realloc(buf, cap);
        if (!nb) {
            st = ssd_error_prefix(SSD_E_NOMEM, "%s", path);
            goto done;
        }
        buf = nb;
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    buf = NULL;
done:
    ssd_free(buf);
    fclose(fp);
    return st;
}

ssd_status ssd_file_write_atomic(const char *path, const void *data, size_t len) {
    ssd_afile f;
    SSD_TRY(ssd_afile_open(&f, path));
    ssd_afile_write(&f, data, len);
    return ssd_afile_commit(&f);
}

static void afile_clear(ssd_afile *f) {
    ssd_free(f->path);
    ssd_free(f->tmp);
    f->fp = NULL;
    f->path = NULL;
    f->tmp = NULL;
}

ssd_status ssd_afile_open(ssd_afile *f, const char *path) {
    f->fp = NULL;
    f->path = NULL;
    f->tmp = NULL;
    f->st = SSD_OK;
    size_t n = strlen(path) + 32;
    f->path = ssd_strdup(path);
    f->tmp = ssd_malloc(n);
    if (!f->path || !f->tmp) {
        f->st = ssd_error_prefix(SSD_E_NOMEM, "%s", path);
        afile_clear(f);
        return f->st;
    }
    snprintf(f->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    f->fp = fopen(f->tmp, "wb");
    if (!f->fp) {
        f->st = ssd_error_set(SSD_E_IO, "%s: cannot create %s: %s", path, f->tmp, strerror(errno));
        afile_clear(f);
        return f->st;
    }
    return SSD_OK;
}

ssd_status ssd_afile_write(ssd_afile *f, const void *data, size_t len) {
    if (f->st != SSD_OK) return f->st;
    if (!f->fp) return f->st = ssd_error_set(SSD_E_INVAL, "write to a closed atomic file");
    if (len && fwrite(data, 1, len, f->fp) != len)
        f->st = ssd_error_set(SSD_E_IO, "%s: write failed: %s", f->path, strerror(errno));
    return f->st;
}

/* A rename is durable only once the directory entry is on disk too. */
static void fsync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? ssd_strdup(path) : NULL;
    if (slash && !dir) return;
    if (dir) dir[slash == path ? 1 : slash - path] = '\0';
    int fd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
    ssd_free(dir);
}

ssd_status ssd_afile_commit(ssd_afile *f) {
    if (!f->fp) {
        if (f->st == SSD_OK) f->st = ssd_error_set(SSD_E_INVAL, "commit of a closed atomic file");
        return f->st;
    }
    if (f->st == SSD_OK && fflush(f->fp) != 0)
        f->st = ssd_error_set(SSD_E_IO, "%s: write failed: %s", f->path, strerror(errno));
    if (f->st == SSD_OK && fsync(fileno(f->fp)) != 0)
        f->st = ssd_error_set(SSD_E_IO, "%s: fsync failed: %s", f->path, strerror(errno));
    if (fclose(f->fp) != 0 && f->st == SSD_OK)
        f->st = ssd_error_set(SSD_E_IO, "%s: close failed: %s", f->path, strerror(errno));
    f->fp = NULL;
    if (f->st == SSD_OK && rename(f->tmp, f->path) != 0)
        f->st = ssd_error_set(SSD_E_IO, "%s: cannot rename %s onto it: %s", f->path, f->tmp,
                              strerror(errno));
    if (f->st == SSD_OK)
        fsync_parent(f->path);
    else
        remove(f->tmp);
    afile_clear(f);
    return f->st;
}

void ssd_afile_abort(ssd_afile *f) {
    if (!f) return;
    if (f->fp) {
        fclose(f->fp);
        remove(f->tmp);
    }
    afile_clear(f);
}

ssd_status ssd_mkdir_p(const char *path) {
    ssd_status st = SSD_OK;
    if (!path || !*path) return ssd_error_set(SSD_E_INVAL, "mkdir: empty path");
    char *p = ssd_strdup(path);
    if (!p) return ssd_error_prefix(SSD_E_NOMEM, "%s", path);
    /* Each prefix ending before a '/' (and then the whole path) in turn. */
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            st = ssd_error_set(SSD_E_IO, "%s: cannot create directory %s: %s", path, p,
                               strerror(errno));
            goto done;
        }
        if (!ssd_path_is_dir(p)) {
            st = ssd_error_set(SSD_E_IO, "%s: %s exists and is not a directory", path, p);
            goto done;
        }
        *s = saved;
        if (saved == '\0') break;
        while (s[1] == '/') s++;
        if (s[1] == '\0') break;
    }
done:
    ssd_free(p);
    return st;
}

bool ssd_path_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

bool ssd_path_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

char *ssd_path_join(const char *a, const char *b) {
    size_t la = strlen(a);
    while (la > 0 && a[la - 1] == '/') la--;
    bool root = la == 0 && a[0] == '/';
    if (la == 0 && !root) return ssd_strdup(b);
    while (*b == '/') b++;
    size_t lb = strlen(b);
    char *out = ssd_malloc(la + 1 + lb + 1);
    if (!out) return NULL;
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, b, lb + 1);
    return out;
}

const char *ssd_path_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

char *ssd_path_expand_user(const char *path) {
    const char *home = getenv("HOME");
    if (path[0] != '~' || (path[1] != '/' && path[1] != '\0') || !home || !*home)
        return ssd_strdup(path);
    if (path[1] == '\0') return ssd_strdup(home);
    return ssd_path_join(home, path + 1);
}

/* Pascal VOC reader; the rules are described in voc.h. */
#include "data/voc.h"

#include "core/log.h"
#include "core/mem.h"
#include "data/data_io.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

const char *const ssd_voc_classes[20] = {
    "aeroplane", "bicycle",     "bird",  "boat",        "bottle", "bus",      "car",
    "cat",       "chair",       "cow",   "diningtable", "dog",    "horse",    "motorbike",
    "person",    "pottedplant", "sheep", "sofa",        "train",  "tvmonitor"};

/* The reference's order: the first extension that exists wins. */
static const char *const image_exts[] = {".jpg", ".JPG", ".jpeg", ".JPEG", ".png",  ".PNG",
                                         ".bmp", ".BMP", ".tif",  ".TIF",  ".tiff", ".TIFF"};

/* ---- labels.txt -------------------------------------------------------------- */

void ssd_labels_free(char **names, int count) {
    if (!names) return;
    for (int k = 0; k < count; k++) ssd_free(names[k]);
    ssd_free(names);
}

/* Trims s in place; returns the start. */
static char *trim(char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static ssd_status push_name(char ***names, int *count, int *cap, const char *name) {
    if (*count == *cap) {
        int nc = *cap ? *cap * 2 : 32;
        char **nn = ssd_realloc(*names, sizeof *nn * (size_t)nc);
        if (!nn) return SSD_E_NOMEM;
        *names = nn;
        *cap = nc;
    }
    (*names)[*count] = ssd_strdup(name);
    if (!(*names)[*count]) return SSD_E_NOMEM;
    (*count)++;
    return SSD_OK;
}

ssd_status ssd_labels_load(const char *path, char ***names_out, int *count_out) {
    uint8_t *data = NULL;
    size_t len = 0;
    char **names = NULL;
    int count = 0, cap = 0, line_no = 0;
    *names_out = NULL;
    *count_out = 0;
    ssd_status st = ssd_file_read_all(path, &data, &len);
    if (st != SSD_OK) return st;
    if (memchr(data, 0, len)) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: binary data in a labels file", path);
        goto fail;
    }
    SSD_CHECK_GOTO(st, push_name(&names, &count, &cap, "BACKGROUND"), fail);
    for (char *line = (char *)data; line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = 0;
        line_no++;
        char *name = trim(line);
        line = next;
        if (!*name) continue;
        /* A file that already starts with BACKGROUND must not get a second one. */
        if (count == 1 && !strcmp(name, "BACKGROUND")) continue;
        for (int k = 0; k < count; k++)
            if (!strcmp(names[k], name)) {
                st = ssd_error_set(SSD_E_FORMAT, "%s:%d: class '%s' is listed twice", path, line_no,
                                   name);
                goto fail;
            }
        SSD_CHECK_GOTO(st, push_name(&names, &count, &cap, name), fail);
    }
    if (count == 1) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: no class names", path);
        goto fail;
    }
    ssd_free(data);
    *names_out = names;
    *count_out = count;
    return SSD_OK;
fail:
    ssd_free(data);
    ssd_labels_free(names, count);
    return st;
}

static ssd_status default_labels(char ***names_out, int *count_out) {
    char **names = NULL;
    int count = 0, cap = 0;
    ssd_status st = push_name(&names, &count, &cap, "BACKGROUND");
    for (int k = 0; k < 20 && st == SSD_OK; k++)
        st = push_name(&names, &count, &cap, ssd_voc_classes[k]);
    if (st != SSD_OK) {
        ssd_labels_free(names, count);
        return st;
    }
    *names_out = names;
    *count_out = count;
    return SSD_OK;
}

/* ---- the dataset ------------------------------------------------------------- */

typedef struct {
    char *id;
    char *image_path;
    int width, height;  /* from <size>, else the image header; 0 if unknown */
    ssd_annotation ann; /* every kept object, difficult ones flagged */
} voc_item;

typedef struct {
    char *root;
    voc_item *items;
    int64_t n, cap;
    ssd_voc_stats stats;
    char *split_path;
} voc_impl;

/* Warnings about individual files are capped per kind so that a dataset with
 * thousands of the same problem prints a handful of lines and a count. */
enum { W_EMPTY_LINE, W_NO_IMAGE, W_UNKNOWN, W_CLAMPED, W_REJECTED, W_KINDS };
#define WARN_SHOWN 10

typedef struct {
    long count[W_KINDS];
} warn_budget;

static bool warn_ok(warn_budget *wb, int kind) {
    return ++wb->count[kind] <= WARN_SHOWN;
}

static void warn_summary(const warn_budget *wb, const char *root) {
    static const char *what[W_KINDS] = {"empty lines in the split file", "missing images",
                                        "objects of unknown classes", "clamped boxes",
                                        "dropped boxes"};
    for (int k = 0; k < W_KINDS; k++)
        if (wb->count[k] > WARN_SHOWN)
            ssd_warn("%s: %ld %s in all (only the first %d shown)", root, wb->count[k], what[k],
                     WARN_SHOWN);
}

static void item_free(voc_item *it) {
    ssd_free(it->id);
    ssd_free(it->image_path);
    ssd_annotation_free(&it->ann);
    memset(it, 0, sizeof *it);
}

static void voc_destroy(ssd_dataset *ds) {
    if (!ds) return;
    voc_impl *v = ds->impl;
    if (v) {
        for (int64_t i = 0; i < v->n; i++) item_free(&v->items[i]);
        ssd_free(v->items);
        ssd_free(v->root);
        ssd_free(v->split_path);
        ssd_free(v);
    }
    ssd_labels_free(ds->class_names, ds->num_classes);
    ssd_free(ds);
}

static int64_t voc_size(const ssd_dataset *ds) {
    return ((const voc_impl *)ds->impl)->n;
}

static const voc_item *item_at(const ssd_dataset *ds, int64_t i) {
    const voc_impl *v = ds->impl;
    return i >= 0 && i < v->n ? &v->items[i] : NULL;
}

static ssd_status voc_annotation(const ssd_dataset *ds, int64_t i, bool keep_difficult,
                                 ssd_annotation *out) {
    const voc_item *it = item_at(ds, i);
    if (!it) {
        memset(out, 0, sizeof *out);
        return ssd_error_set(SSD_E_INVAL, "VOC index %lld out of range", (long long)i);
    }
    return ssd_annotation_copy(out, &it->ann, keep_difficult);
}

static ssd_status voc_get(const ssd_dataset *ds, int64_t i, bool keep_difficult, ssd_image *img,
                          ssd_annotation *ann) {
    memset(ann, 0, sizeof *ann);
    memset(img, 0, sizeof *img);
    const voc_item *it = item_at(ds, i);
    if (!it) return ssd_error_set(SSD_E_INVAL, "VOC index %lld out of range", (long long)i);
    SSD_TRY(ssd_image_load(img, it->image_path));
    ssd_status st = ssd_annotation_copy(ann, &it->ann, keep_difficult);
    if (st != SSD_OK) {
        ssd_image_free(img);
        return st;
    }
    /* Boxes were clamped to the size the XML states; an XML that lies about
     * the size must still not hand boxes outside the pixels to augmentation. */
    if (img->w != it->width || img->h != it->height) {
        for (int k = 0; k < ann->n; k++) {
            float *b = ann->boxes + 4 * k;
            float mx = (float)(img->w - 1), my = (float)(img->h - 1);
            b[0] = fminf(fmaxf(b[0], 0), mx);
            b[2] = fminf(fmaxf(b[2], 0), mx);
            b[1] = fminf(fmaxf(b[1], 0), my);
            b[3] = fminf(fmaxf(b[3], 0), my);
        }
    }
    return SSD_OK;
}

static const char *voc_image_id(const ssd_dataset *ds, int64_t i) {
    const voc_item *it = item_at(ds, i);
    return it ? it->id : NULL;
}

static const char *voc_image_path(const ssd_dataset *ds, int64_t i) {
    const voc_item *it = item_at(ds, i);
    return it ? it->image_path : NULL;
}

static const ssd_dataset_ops voc_ops = {voc_size,     voc_annotation, voc_get,
                                        voc_image_id, voc_image_path, voc_destroy};

ssd_status ssd_voc_stats_get(const ssd_dataset *ds, ssd_voc_stats *stats) {
    if (!ds || ds->ops != &voc_ops) return ssd_error_set(SSD_E_INVAL, "not a VOC dataset");
    const voc_impl *v = ds->impl;
    *stats = v->stats;
    stats->split_file = v->split_path;
    return SSD_OK;
}

/* ---- XML ------------------------------------------------------------------- */

static xmlNodePtr child(xmlNodePtr parent, const char *name) {
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, (const xmlChar *)name)) return c;
    return NULL;
}

/* Text of a child element, trimmed, copied into buf; false if there is no such child. */
static bool child_text(xmlNodePtr parent, const char *name, char *buf, size_t cap) {
    xmlNodePtr c = child(parent, name);
    if (!c) return false;
    xmlChar *t = xmlNodeGetContent(c);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
    xmlFree(t);
    char *s = trim(buf);
    memmove(buf, s, strlen(s) + 1);
    return true;
}

static bool parse_double(const char *s, double *v) {
    if (!*s) return false;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *end == 0 && errno == 0 && isfinite(*v);
}

static bool parse_long(const char *s, long *v) {
    if (!*s) return false;
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return *end == 0 && errno == 0;
}

typedef struct {
    const char *xml_path;
    const ssd_dataset *ds;
    warn_budget *wb;
    ssd_voc_stats *stats;
} parse_ctx;

static ssd_status add_object(ssd_annotation *a, int *cap, const float box[4], int64_t label,
                             uint8_t difficult) {
    if (a->n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        float *b = ssd_realloc(a->boxes, sizeof *b * 4 * (size_t)nc);
        if (!b) return SSD_E_NOMEM;
        a->boxes = b;
        int64_t *l = ssd_realloc(a->labels, sizeof *l * (size_t)nc);
        if (!l) return SSD_E_NOMEM;
        a->labels = l;
        uint8_t *d = ssd_realloc(a->difficult, (size_t)nc);
        if (!d) return SSD_E_NOMEM;
        a->difficult = d;
        *cap = nc;
    }
    memcpy(a->boxes + 4 * a->n, box, sizeof(float) * 4);
    a->labels[a->n] = label;
    a->difficult[a->n] = difficult;
    a->n++;
    return SSD_OK;
}

/* One <object>: appended to it->ann, skipped with a warning, or an error. */
static ssd_status parse_object(parse_ctx *p, voc_item *it, int *cap, xmlNodePtr obj, int index) {
    char text[256];
    const char *xp = p->xml_path;
    long line = xmlGetLineNo(obj);
    if (!child_text(obj, "name", text, sizeof text))
        return ssd_error_set(SSD_E_FORMAT, "%s:%ld: <object> without <name>", xp, line);
    int64_t label = -1;
    /* From 1: an object called BACKGROUND is no object the model can learn. */
    for (int k = 1; k < p->ds->num_classes; k++)
        if (!strcmp(p->ds->class_names[k], text)) label = k;
    if (label < 0) {
        p->stats->unknown_class++;
        if (warn_ok(p->wb, W_UNKNOWN))
            ssd_warn("%s: object with unknown class '%s' skipped", xp, text);
        return SSD_OK;
    }
    xmlNodePtr bb = child(obj, "bndbox");
    if (!bb) return ssd_error_set(SSD_E_FORMAT, "%s:%ld: <object> without <bndbox>", xp, line);
    static const char *coord[4] = {"xmin", "ymin", "xmax", "ymax"};
    double v[4];
    for (int k = 0; k < 4; k++) {
        if (!child_text(bb, coord[k], text, sizeof text))
            return ssd_error_set(SSD_E_FORMAT, "%s:%ld: <bndbox> without <%s>", xp,
                                 xmlGetLineNo(bb), coord[k]);
        if (!parse_double(text, &v[k]))
            return ssd_error_set(SSD_E_FORMAT, "%s:%ld: <%s> is not a number: '%s'", xp,
                                 xmlGetLineNo(child(bb, coord[k])), coord[k], text);
        v[k] -= 1; /* VOC is 1-based (Matlab); the reference subtracts 1 and so do we */
    }
    uint8_t difficult = 0;
    if (child_text(obj, "difficult", text, sizeof text) && *text) {
        long d;
        if (!parse_long(text, &d))
            return ssd_error_set(SSD_E_FORMAT, "%s:%ld: <difficult> is not an integer: '%s'", xp,
                                 xmlGetLineNo(child(obj, "difficult")), text);
        difficult = d != 0;
    }
    const char *cls = p->ds->class_names[label];
    if (v[0] >= v[2] || v[1] >= v[3]) {
        p->stats->rejected++;
        if (warn_ok(p->wb, W_REJECTED))
            ssd_warn("%s: object %d (%s) dropped: box xmin %g ymin %g xmax %g ymax %g is %s", xp,
                     index, cls, v[0] + 1, v[1] + 1, v[2] + 1, v[3] + 1,
                     v[0] > v[2] || v[1] > v[3] ? "inverted" : "empty");
        return SSD_OK;
    }
    if (it->width > 0 && it->height > 0) {
        double mx = it->width - 1, my = it->height - 1;
        if (v[0] > mx || v[1] > my || v[2] < 0 || v[3] < 0) {
            p->stats->rejected++;
            if (warn_ok(p->wb, W_REJECTED))
                ssd_warn("%s: object %d (%s) dropped: box lies outside the %dx%d image", xp, index,
                         cls, it->width, it->height);
            return SSD_OK;
        }
        double c[4] = {fmin(fmax(v[0], 0), mx), fmin(fmax(v[1], 0), my), fmin(fmax(v[2], 0), mx),
                       fmin(fmax(v[3], 0), my)};
        if (memcmp(c, v, sizeof c)) {
            p->stats->clamped++;
            if (warn_ok(p->wb, W_CLAMPED))
                ssd_warn("%s: object %d (%s): box %g,%g,%g,%g reaches outside the %dx%d image; "
                         "clamped",
                         xp, index, cls, v[0] + 1, v[1] + 1, v[2] + 1, v[3] + 1, it->width,
                         it->height);
            memcpy(v, c, sizeof c);
        }
    }
    float box[4] = {(float)v[0], (float)v[1], (float)v[2], (float)v[3]};
    p->stats->objects++;
    p->stats->difficult += difficult;
    return add_object(&it->ann, cap, box, label, difficult);
}

/* <size> as the XML states it, else the image header; 0 x 0 if neither is readable. */
static void image_size(voc_item *it, xmlNodePtr root) {
    char text[64];
    xmlNodePtr size = child(root, "size");
    long w = 0, h = 0;
    double dw, dh;
    if (size && child_text(size, "width", text, sizeof text) && parse_double(text, &dw) &&
        child_text(size, "height", text, sizeof text) && parse_double(text, &dh) && dw >= 1 &&
        dh >= 1 && dw <= 1e6 && dh <= 1e6) {
        w = (long)dw;
        h = (long)dh;
    } else if (ssd_image_size(it->image_path, &it->width, &it->height) == SSD_OK) {
        return;
    }
    it->width = (int)w;
    it->height = (int)h;
}

/* libxml2 goes on after the first error and its "last error" is often a
 * consequence (premature end of data); the first one names the real line. */
typedef struct {
    int line;
    char msg[200];
    bool set;
} xml_error;

static void on_xml_error(void *data, xmlErrorPtr e) {
    xmlParserCtxtPtr ctxt = data;
    xml_error *f = ctxt ? ctxt->_private : NULL;
    if (!f || f->set || !e || e->level < XML_ERR_ERROR) return;
    f->set = true;
    f->line = e->line;
    snprintf(f->msg, sizeof f->msg, "%s", e->message ? e->message : "unknown error");
    char *t = trim(f->msg);
    memmove(f->msg, t, strlen(t) + 1);
}

static ssd_status parse_xml(parse_ctx *p, voc_item *it) {
    uint8_t *data = NULL;
    size_t len = 0;
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;
    ssd_status st = ssd_file_read_all(p->xml_path, &data, &len);
    if (st != SSD_OK) return st;
    if (len > (size_t)1 << 30) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: annotation file is too large", p->xml_path);
        goto done;
    }
    ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        st = ssd_error_set(SSD_E_NOMEM, "%s: out of memory creating the XML parser", p->xml_path);
        goto done;
    }
    xml_error first = {0, "", false};
    ctxt->_private = &first;
    ctxt->sax->serror = on_xml_error;
    /* No network, no entity expansion, nothing printed: errors come back here. */
    doc = xmlCtxtReadMemory(ctxt, (const char *)data, (int)len, p->xml_path, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc || !ctxt->wellFormed) {
        st = ssd_error_set(SSD_E_FORMAT, "%s:%d: malformed XML: %s", p->xml_path, first.line,
                           first.set ? first.msg : "unknown error");
        goto done;
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!root) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: XML without a root element", p->xml_path);
        goto done;
    }
    image_size(it, root);
    int cap = 0, index = 1;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !xmlStrEqual(c->name, (const xmlChar *)"object"))
            continue;
        SSD_CHECK_GOTO(st, parse_object(p, it, &cap, c, index++), done);
    }
done:
    if (doc) xmlFreeDoc(doc);
    if (ctxt) xmlFreeParserCtxt(ctxt);
    ssd_free(data);
    return st;
}

/* ---- opening ------------------------------------------------------------------ */

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static ssd_status find_image(const char *root, const char *id, char **out) {
    *out = NULL;
    for (size_t k = 0; k < sizeof image_exts / sizeof image_exts[0]; k++) {
        char *p = ssd_dio_strfmt("%s/JPEGImages/%s%s", root, id, image_exts[k]);
        if (!p) return SSD_E_NOMEM;
        if (is_file(p)) {
            *out = p;
            return SSD_OK;
        }
        ssd_free(p);
    }
    return SSD_OK;
}

static ssd_status load_classes(ssd_dataset *ds, const char *root, const char *label_file) {
    if (label_file) return ssd_labels_load(label_file, &ds->class_names, &ds->num_classes);
    char *path = ssd_dio_strfmt("%s/labels.txt", root);
    if (!path) return SSD_E_NOMEM;
    ssd_status st;
    if (is_file(path)) {
        st = ssd_labels_load(path, &ds->class_names, &ds->num_classes);
    } else {
        ssd_info("%s not found, using the 20 Pascal VOC classes", path);
        st = default_labels(&ds->class_names, &ds->num_classes);
    }
    ssd_free(path);
    return st;
}

static ssd_status pick_split(const char *root, bool is_test, char **out) {
    const char *want = is_test ? "test.txt" : "trainval.txt";
    char *main_path = ssd_dio_strfmt("%s/ImageSets/Main/%s", root, want);
    char *fallback = ssd_dio_strfmt("%s/ImageSets/Main/default.txt", root);
    ssd_status st = SSD_OK;
    *out = NULL;
    if (!main_path || !fallback) {
        st = SSD_E_NOMEM;
    } else if (is_file(main_path)) {
        *out = main_path;
        main_path = NULL;
    } else if (is_file(fallback)) {
        ssd_info("%s not found, using %s", main_path, fallback);
        *out = fallback;
        fallback = NULL;
    } else {
        st = ssd_error_set(SSD_E_IO,
                           "%s: missing ImageSet file (and no default.txt); 'ssd convert split %s' "
                           "can generate the split files",
                           main_path, root);
    }
    ssd_free(main_path);
    ssd_free(fallback);
    return st;
}

static ssd_status add_item(voc_impl *v, voc_item *it) {
    if (v->n == v->cap) {
        int64_t nc = v->cap ? v->cap * 2 : 256;
        voc_item *ni = ssd_realloc(v->items, sizeof *ni * (size_t)nc);
        if (!ni) return SSD_E_NOMEM;
        v->items = ni;
        v->cap = nc;
    }
    v->items[v->n++] = *it;
    memset(it, 0, sizeof *it);
    return SSD_OK;
}

static ssd_status read_ids(ssd_dataset *ds, voc_impl *v, warn_budget *wb) {
    uint8_t *data = NULL;
    size_t len = 0;
    char *xml_path = NULL;
    voc_item it = {0};
    ssd_status st = ssd_file_read_all(v->split_path, &data, &len);
    if (st != SSD_OK) return st;
    long line_no = 0;
    for (char *line = (char *)data; line && st == SSD_OK;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (!next && !*line) break; /* the file's final newline ends a line, it adds none */
        line_no++;
        /* rstrip only, as the reference: ids may start with spaces in principle. */
        size_t n = strlen(line);
        while (n && isspace((unsigned char)line[n - 1])) line[--n] = 0;
        char *id = line;
        line = next;
        if (!*id) {
            v->stats.empty_lines++;
            if (warn_ok(wb, W_EMPTY_LINE))
                ssd_warn("%s:%ld: empty line skipped", v->split_path, line_no);
            continue;
        }
        v->stats.listed++;
        xml_path = ssd_dio_strfmt("%s/Annotations/%s.xml", v->root, id);
        it.id = ssd_strdup(id);
        if (!xml_path || !it.id) {
            st = SSD_E_NOMEM;
            break;
        }
        SSD_CHECK_GOTO(st, find_image(v->root, id, &it.image_path), done);
        if (!is_file(xml_path)) {
            st = ssd_error_set(SSD_E_IO, "%s: missing annotation for image '%s' (listed in %s:%ld)",
                               xml_path, id, v->split_path, line_no);
            goto done;
        }
        if (!it.image_path) {
            v->stats.missing_image++;
            if (warn_ok(wb, W_NO_IMAGE))
                ssd_warn("%s/JPEGImages: no image for '%s' (listed in %s); skipped", v->root, id,
                         v->split_path);
            item_free(&it);
            ssd_free(xml_path);
            xml_path = NULL;
            continue;
        }
        parse_ctx p = {xml_path, ds, wb, &v->stats};
        SSD_CHECK_GOTO(st, parse_xml(&p, &it), done);
        v->stats.negatives += it.ann.n == 0;
        SSD_CHECK_GOTO(st, add_item(v, &it), done);
        ssd_free(xml_path);
        xml_path = NULL;
    }
    if (st == SSD_OK && v->n == 0)
        st = v->stats.listed == 0
                 ? ssd_error_set(SSD_E_FORMAT, "%s: lists no images", v->split_path)
                 : ssd_error_set(SSD_E_FORMAT, "%s: none of the %lld listed images was found",
                                 v->split_path, (long long)v->stats.listed);
done:
    item_free(&it);
    ssd_free(xml_path);
    ssd_free(data);
    return st;
}

ssd_status ssd_voc_open(ssd_dataset **out, const char *root, bool is_test, const char *label_file) {
    ssd_status st = SSD_OK;
    warn_budget wb = {{0}};
    voc_impl *v = NULL;
    *out = NULL;
    ssd_dataset *ds = ssd_calloc(1, sizeof *ds);
    if (!ds) return SSD_E_NOMEM;
    ds->ops = &voc_ops;
    v = ssd_calloc(1, sizeof *v);
    if (!v) goto nomem;
    ds->impl = v;
    v->root = ssd_strdup(root);
    if (!v->root) goto nomem;
    size_t rl = strlen(v->root);
    while (rl > 1 && v->root[rl - 1] == '/') v->root[--rl] = 0;
    if (!is_dir(v->root)) {
        st = ssd_error_set(SSD_E_IO, "%s: dataset directory not found", root);
        goto fail;
    }
    xmlInitParser(); /* once, before loader threads could race on it */
    SSD_CHECK_GOTO(st, load_classes(ds, v->root, label_file), fail);
    SSD_CHECK_GOTO(st, pick_split(v->root, is_test, &v->split_path), fail);
    SSD_CHECK_GOTO(st, read_ids(ds, v, &wb), fail);
    warn_summary(&wb, v->root);
    v->stats.images = v->n;
    ssd_debug("%s: %lld images from %s (%lld without objects), %lld objects (%lld difficult)",
              v->root, (long long)v->n, v->split_path, (long long)v->stats.negatives,
              (long long)v->stats.objects, (long long)v->stats.difficult);
    *out = ds;
    return SSD_OK;
nomem:
    st = SSD_E_NOMEM;
fail:
    voc_destroy(ds);
    return st;
}

ssd_status ssd_voc_concat(ssd_dataset **out, const char *const *roots, int n, bool is_test,
                          const char *label_file) {
    *out = NULL;
    if (n <= 0) return ssd_error_set(SSD_E_INVAL, "no dataset roots given");
    ssd_dataset **parts = ssd_calloc((size_t)n, sizeof *parts);
    if (!parts) return SSD_E_NOMEM;
    ssd_status st = SSD_OK;
    int opened = 0;
    for (; opened < n; opened++)
        SSD_CHECK_GOTO(st, ssd_voc_open(&parts[opened], roots[opened], is_test, label_file), fail);
    for (int k = 1; k < n; k++) {
        const ssd_dataset *a = parts[0], *b = parts[k];
        int d = 0;
        while (d < a->num_classes && d < b->num_classes &&
               !strcmp(a->class_names[d], b->class_names[d]))
            d++;
        if (d < a->num_classes || d < b->num_classes) {
            st = ssd_error_set(SSD_E_INVAL,
                               "%s and %s have different class lists: class %d is '%s' in one "
                               "and '%s' in the other; give them the same labels.txt",
                               roots[0], roots[k], d,
                               d < a->num_classes ? a->class_names[d] : "(none)",
                               d < b->num_classes ? b->class_names[d] : "(none)");
            goto fail;
        }
    }
    if (n == 1)
        *out = parts[0];
    else
        st = ssd_dataset_concat(out, parts, n);
    ssd_free(parts);
    return st;
fail:
    for (int k = 0; k < opened; k++) ssd_dataset_destroy(parts[k]);
    ssd_free(parts);
    return st;
}

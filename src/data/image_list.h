/* Input and output naming of `ssd detect`, as detectnet's image sources and
 * sinks: an input is an image file, a directory (its images in byte order of
 * name), a glob (quoted on the command line so that the shell leaves it alone) or a
 * list file (.txt, one path a line); an output is a file, a directory, or a
 * sequence pattern with one %i (printf flags and width allowed: %04i). */
#ifndef SSD_DATA_IMAGE_LIST_H
#define SSD_DATA_IMAGE_LIST_H

#include "core/status.h"

#include <stdbool.h>

typedef struct {
    char **paths;
    int n;
} ssd_path_list;

void ssd_path_list_free(ssd_path_list *l);

/* True for the extensions a directory listing picks up (.jpg .jpeg .png .bmp, any case). */
bool ssd_image_ext_ok(const char *path);

/* Expands spec into paths (appended to l). A directory lists its image files (not recursive);
 * a spec with * ? or [ is a glob, sorted, files only; a .txt file is a list (blank lines and
 * lines starting with '#' skipped; a relative path that does not exist from the working directory
 * is taken from the list's directory); anything
 * else is one image path, kept even if it cannot be read (the decoder reports it). An empty
 * directory, a glob without matches, a missing file or list are errors naming spec. */
ssd_status ssd_path_list_expand(ssd_path_list *l, const char *spec);

typedef enum {
    SSD_OUT_NONE,    /* no images written */
    SSD_OUT_FILE,    /* one file, for one input */
    SSD_OUT_DIR,     /* dir/<input's file name> */
    SSD_OUT_PATTERN, /* printf of the input's index */
} ssd_out_kind;

typedef struct {
    ssd_out_kind kind;
    char *spec; /* the file, the directory, or the pattern with its one conversion as %<flags>i */
} ssd_out_spec;

/* Parses the output argument (NULL: none). A directory is an existing one or a name ending in
 * '/'; a pattern has one %d or %i conversion with optional flags (-+ 0#) and width, and %% for a
 * literal percent; other conversions, precisions and a second conversion are errors. Written
 * images are JPEG unless the name ends in .png; other extensions than .jpg/.jpeg/.png are errors
 * (a directory keeps the input's name, with .jpg when the input's is neither). */
ssd_status ssd_out_spec_parse(ssd_out_spec *o, const char *arg);
void ssd_out_spec_free(ssd_out_spec *o);

/* The output path of input number index (from 0) called input; NULL for SSD_OUT_NONE or out of
 * memory (check o->kind). ssd_free it. */
char *ssd_out_spec_path(const ssd_out_spec *o, int index, const char *input);

#endif

/* A small JSON (RFC 8259) reader into a tree, and a string escaper for
 * writers (metrics.json, detection lists).
 *
 * The parser is strict: no comments, trailing commas, NaN or single quotes;
 * strings must be valid UTF-8 and \u escapes (surrogate pairs included)
 * become UTF-8. Errors name the source and the line and column (both from 1,
 * columns counted in bytes): "model.json:3:17: expected ',' or '}' after an
 * object member". Nesting deeper than SSD_JSON_MAX_DEPTH is an error rather
 * than a stack overflow. */
#ifndef SSD_CORE_JSON_H
#define SSD_CORE_JSON_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSD_JSON_MAX_DEPTH 256

typedef enum {
    SSD_JSON_NULL,
    SSD_JSON_BOOL,
    SSD_JSON_NUMBER,
    SSD_JSON_STRING,
    SSD_JSON_ARRAY,
    SSD_JSON_OBJECT,
} ssd_json_type;

typedef struct ssd_json ssd_json;
struct ssd_json {
    ssd_json_type type;
    int line, col; /* where the value starts in the source */
    union {
        bool b;
        double num;
        struct {
            char *s; /* NUL-terminated; may hold inner NULs from \u0000 (see len) */
            size_t len;
        } str;
        struct {
            ssd_json *items;
            int n;
        } arr;
        struct {
            char **keys; /* NUL-terminated UTF-8 */
            ssd_json *vals;
            int n;
        } obj;
    } u;
};

/* Parses text[0..len) (NUL bytes inside are an error). `name` labels errors
 * (a file name). The tree is freed with ssd_json_free. */
ssd_status ssd_json_parse(ssd_json **out, const char *text, size_t len, const char *name);
ssd_status ssd_json_parse_file(ssd_json **out, const char *path);
void ssd_json_free(ssd_json *j);

const char *ssd_json_type_name(ssd_json_type t);
/* Member of an object (the last one when a key repeats); NULL if j is not an
 * object or has no such key. */
const ssd_json *ssd_json_get(const ssd_json *j, const char *key);
/* Number of items of an array or members of an object; 0 otherwise. */
int ssd_json_len(const ssd_json *j);
/* Item i of an array; NULL if j is not an array or i is out of range. */
const ssd_json *ssd_json_at(const ssd_json *j, int i);
/* String value, or NULL if j is not a string. */
const char *ssd_json_str(const ssd_json *j);
/* True (and *v set) when j is a number that is an integer in int64 range. */
bool ssd_json_int(const ssd_json *j, int64_t *v);

/* Writes s as a JSON string literal, quotes included, into buf like
 * snprintf (always NUL-terminated when cap > 0) and returns the full length
 * (excluding the NUL). Escapes '"', '\\' and control characters; bytes that
 * are not valid UTF-8 become U+FFFD so the output is always valid JSON. */
size_t ssd_json_escape(char *buf, size_t cap, const char *s);
/* The same into a fresh string (ssd_free); NULL on out of memory. */
char *ssd_json_quote(const char *s);

#endif

#include "core/json.h"

#include "core/fileio.h"
#include "core/mem.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t n, pos;
    size_t line_start; /* offset of the current line's first byte */
    int line;
    const char *name;
} parser;

static ssd_status fail(parser *p, size_t at, const char *what) {
    /* Only whitespace holds newlines, so the current line start is valid for any
     * position at or after it; errors never point behind the last newline seen. */
    int col = (int)(at - p->line_start) + 1;
    return ssd_error_set(SSD_E_FORMAT, "%s:%d:%d: %s", p->name, p->line, col, what);
}

static void skip_ws(parser *p) {
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c == '\n') {
            p->line++;
            p->line_start = p->pos + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            return;
        }
        p->pos++;
    }
}

/* Length of the UTF-8 sequence at s (1..4), or 0 if it is not valid UTF-8
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static int utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

static int put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hex4(const char *s, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return 0;
        *v = *v << 4 | (uint32_t)d;
    }
    return 1;
}

/* p->pos is at the opening quote. */
static ssd_status parse_string(parser *p, char **out, size_t *out_len) {
    size_t start = ++p->pos, end = start;
    while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n) return fail(p, start - 1, "unterminated string");
    /* Escapes only shrink: \uXXXX (6 bytes) gives at most 3, a pair (12) gives 4. */
    char *o = ssd_malloc(end - start + 1);
    if (!o) return SSD_E_NOMEM;
    size_t k = 0;
    const unsigned char *u = (const unsigned char *)p->s;
    while (p->pos < end) {
        size_t at = p->pos;
        unsigned char c = u[at];
        if (c < 0x20) {
            ssd_free(o);
            return fail(p, at,
                        c == '\n' ? "newline inside a string"
                                  : "unescaped control character inside a string");
        }
        if (c != '\\') {
            int len = utf8_len(u + at, end - at);
            if (!len) {
                ssd_free(o);
                return fail(p, at, "invalid UTF-8 inside a string");
            }
            memcpy(o + k, p->s + at, (size_t)len);
            k += (size_t)len;
            p->pos += (size_t)len;
            continue;
        }
        char e = p->s[at + 1];
        p->pos += 2;
        switch (e) {
        case '"':
            o[k++] = '"';
            break;
        case '\\':
            o[k++] = '\\';
            break;
        case '/':
            o[k++] = '/';
            break;
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'n':
            o[k++] = '\n';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (at + 6 > end || !hex4(p->s + at + 2, &cp)) {
                ssd_free(o);
                return fail(p, at, "\\u must be followed by four hex digits");
            }
            p->pos = at + 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (at + 12 > end || p->s[at + 6] != '\\' || p->s[at + 7] != 'u' ||
                    !hex4(p->s + at + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    ssd_free(o);
                    return fail(p, at, "high surrogate \\u escape without a low surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p->pos = at + 12;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                ssd_free(o);
                return fail(p, at, "lone low surrogate \\u escape");
            }
            k += (size_t)put_utf8(o + k, cp);
            break;
        }
        default:
            ssd_free(o);
            return fail(p, at, "invalid escape in a string");
        }
    }
    o[k] = 0;
    p->pos = end + 1;
    *out = o;
    *out_len = k;
    return SSD_OK;
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static ssd_status parse_number(parser *p, double *out) {
    size_t start = p->pos, i = start;
    const char *s = p->s;
    if (i < p->n && s[i] == '-') i++;
    if (i >= p->n || !is_digit(s[i])) return fail(p, start, "invalid number");
    if (s[i] == '0') {
        i++;
        if (i < p->n && is_digit(s[i])) return fail(p, start, "number with a leading zero");
    } else {
        while (i < p->n && is_digit(s[i])) i++;
    }
    if (i < p->n && s[i] == '.') {
        i++;
        if (i >= p->n || !is_digit(s[i]))
            return fail(p, start, "invalid number: no digit after '.'");
        while (i < p->n && is_digit(s[i])) i++;
    }
    if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->n || !is_digit(s[i])) return fail(p, start, "invalid number: empty exponent");
        while (i < p->n && is_digit(s[i])) i++;
    }
    /* strtod needs a terminated copy: the text need not end after the token. */
    char small[64], *buf = small;
    size_t len = i - start;
    if (len >= sizeof small) {
        buf = ssd_malloc(len + 1);
        if (!buf) return SSD_E_NOMEM;
    }
    memcpy(buf, s + start, len);
    buf[len] = 0;
    errno = 0;
    double v = strtod(buf, NULL);
    bool range = errno == ERANGE && isinf(v);
    if (buf != small) ssd_free(buf);
    if (range) return fail(p, start, "number out of range");
    *out = v;
    p->pos = i;
    return SSD_OK;
}

static void free_value(ssd_json *j);

static ssd_status parse_value(parser *p, ssd_json *v, int depth);

static ssd_status expect_more(parser *p, const char *what) {
    skip_ws(p);
    if (p->pos >= p->n) return fail(p, p->pos, what);
    return SSD_OK;
}

static ssd_status parse_array(parser *p, ssd_json *v, int depth) {
    int cap = 0;
    p->pos++; /* '[' */
    SSD_TRY(expect_more(p, "unterminated array"));
    if (p->s[p->pos] == ']') {
        p->pos++;
        return SSD_OK;
    }
    for (;;) {
        if (v->u.arr.n == cap) {
            int nc = cap ? cap * 2 : 4;
            ssd_json *ni = ssd_realloc(v->u.arr.items, (size_t)nc * sizeof *ni);
            if (!ni) return SSD_E_NOMEM;
            v->u.arr.items = ni;
            cap = nc;
        }
        ssd_json *item = &v->u.arr.items[v->u.arr.n];
        memset(item, 0, sizeof *item);
        ssd_status st = parse_value(p, item, depth + 1);
        v->u.arr.n++; /* counted even on failure so that its partial tree is freed */
        if (st != SSD_OK) return st;
        SSD_TRY(expect_more(p, "unterminated array"));
        char c = p->s[p->pos];
        if (c == ']') {
            p->pos++;
            return SSD_OK;
        }
        if (c != ',') return fail(p, p->pos, "expected ',' or ']' after an array item");
        p->pos++;
        SSD_TRY(expect_more(p, "unterminated array"));
        if (p->s[p->pos] == ']') return fail(p, p->pos, "trailing comma in an array");
    }
}

static ssd_status parse_object(parser *p, ssd_json *v, int depth) {
    int cap = 0;
    p->pos++; /* '{' */
    SSD_TRY(expect_more(p, "unterminated object"));
    if (p->s[p->pos] == '}') {
        p->pos++;
        return SSD_OK;
    }
    for (;;) {
        SSD_TRY(expect_more(p, "unterminated object"));
        if (p->s[p->pos] != '"')
            return fail(p, p->pos,
                        p->s[p->pos] == '}' ? "trailing comma in an object"
                                            : "expected a string key in an object");
        if (v->u.obj.n == cap) {
            int nc = cap ? cap * 2 : 4;
            char **nk = ssd_realloc(v->u.obj.keys, (size_t)nc * sizeof *nk);
            if (!nk) return SSD_E_NOMEM;
            v->u.obj.keys = nk;
            ssd_json *nv = ssd_realloc(v->u.obj.vals, (size_t)nc * sizeof *nv);
            if (!nv) return SSD_E_NOMEM;
            v->u.obj.vals = nv;
            cap = nc;
        }
        int i = v->u.obj.n;
        size_t klen;
        size_t kpos = p->pos;
        SSD_TRY(parse_string(p, &v->u.obj.keys[i], &klen));
        memset(&v->u.obj.vals[i], 0, sizeof v->u.obj.vals[i]);
        v->u.obj.n++;
        if (strlen(v->u.obj.keys[i]) != klen) return fail(p, kpos, "object key contains \\u0000");
        SSD_TRY(expect_more(p, "unterminated object"));
        if (p->s[p->pos] != ':') return fail(p, p->pos, "expected ':' after an object key");
        p->pos++;
        SSD_TRY(parse_value(p, &v->u.obj.vals[i], depth + 1));
        SSD_TRY(expect_more(p, "unterminated object"));
        char c = p->s[p->pos];
        if (c == '}') {
            p->pos++;
            return SSD_OK;
        }
        if (c != ',') return fail(p, p->pos, "expected ',' or '}' after an object member");
        p->pos++;
    }
}

static bool literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->n - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return false;
    p->pos += n;
    return true;
}

static ssd_status parse_value(parser *p, ssd_json *v, int depth) {
    if (depth > SSD_JSON_MAX_DEPTH) return fail(p, p->pos, "nesting too deep");
    skip_ws(p);
    if (p->pos >= p->n) return fail(p, p->pos, "unexpected end of input, expected a value");
    v->line = p->line;
    v->col = (int)(p->pos - p->line_start) + 1;
    char c = p->s[p->pos];
    switch (c) {
    case '{':
        v->type = SSD_JSON_OBJECT;
        return parse_object(p, v, depth);
    case '[':
        v->type = SSD_JSON_ARRAY;
        return parse_array(p, v, depth);
    case '"':
        v->type = SSD_JSON_STRING;
        return parse_string(p, &v->u.str.s, &v->u.str.len);
    case 't':
    case 'f':
    case 'n':
        if (literal(p, "true") || literal(p, "false")) {
            v->type = SSD_JSON_BOOL;
            v->u.b = c == 't';
            return SSD_OK;
        }
        if (literal(p, "null")) {
            v->type = SSD_JSON_NULL;
            return SSD_OK;
        }
        return fail(p, p->pos, "invalid literal (expected true, false or null)");
    default:
        if (c == '-' || is_digit(c)) {
            v->type = SSD_JSON_NUMBER;
            return parse_number(p, &v->u.num);
        }
        return fail(p, p->pos, "unexpected character, expected a value");
    }
}

ssd_status ssd_json_parse(ssd_json **out, const char *text, size_t len, const char *name) {
    *out = NULL;
    parser p = {.s = text, .n = len, .line = 1, .name = name ? name : "<json>"};
    const void *nul = memchr(text, 0, len);
    if (nul) {
        /* Report where it is: count lines up to it. */
        size_t at = (size_t)((const char *)nul - text);
        for (size_t i = 0; i < at; i++)
            if (text[i] == '\n') p.line++, p.line_start = i + 1;
        return fail(&p, at, "NUL byte in the text");
    }
    ssd_json *root = ssd_calloc(1, sizeof *root);
    if (!root) return SSD_E_NOMEM;
    ssd_status st = parse_value(&p, root, 0);
    if (st == SSD_OK) {
        skip_ws(&p);
        if (p.pos < p.n) st = fail(&p, p.pos, "unexpected text after the JSON value");
    }
    if (st != SSD_OK) {
        ssd_json_free(root);
        return st;
    }
    *out = root;
    return SSD_OK;
}

ssd_status ssd_json_parse_file(ssd_json **out, const char *path) {
    uint8_t *data;
    size_t len;
    *out = NULL;
    SSD_TRY(ssd_file_read_all(path, &data, &len));
    ssd_status st = ssd_json_parse(out, (const char *)data, len, path);
    ssd_free(data);
    return st;
}

static void free_value(ssd_json *j) {
    if (j->type == SSD_JSON_STRING) {
        ssd_free(j->u.str.s);
    } else if (j->type == SSD_JSON_ARRAY) {
        for (int i = 0; i < j->u.arr.n; i++) free_value(&j->u.arr.items[i]);
        ssd_free(j->u.arr.items);
    } else if (j->type == SSD_JSON_OBJECT) {
        for (int i = 0; i < j->u.obj.n; i++) {
            ssd_free(j->u.obj.keys[i]);
            free_value(&j->u.obj.vals[i]);
        }
        ssd_free(j->u.obj.keys);
        ssd_free(j->u.obj.vals);
    }
}

void ssd_json_free(ssd_json *j) {
    if (!j) return;
    free_value(j);
    ssd_free(j);
}

const char *ssd_json_type_name(ssd_json_type t) {
    switch (t) {
    case SSD_JSON_NULL:
        return "null";
    case SSD_JSON_BOOL:
        return "boolean";
    case SSD_JSON_NUMBER:
        return "number";
    case SSD_JSON_STRING:
        return "string";
    case SSD_JSON_ARRAY:
        return "array";
    case SSD_JSON_OBJECT:
        return "object";
    }
    return "?";
}

const ssd_json *ssd_json_get(const ssd_json *j, const char *key) {
    if (!j || j->type != SSD_JSON_OBJECT) return NULL;
    for (int i = j->u.obj.n - 1; i >= 0; i--)
        if (strcmp(j->u.obj.keys[i], key) == 0) return &j->u.obj.vals[i];
    return NULL;
}

int ssd_json_len(const ssd_json *j) {
    if (!j) return 0;
    if (j->type == SSD_JSON_ARRAY) return j->u.arr.n;
    if (j->type == SSD_JSON_OBJECT) return j->u.obj.n;
    return 0;
}

const ssd_json *ssd_json_at(const ssd_json *j, int i) {
    if (!j || j->type != SSD_JSON_ARRAY || i < 0 || i >= j->u.arr.n) return NULL;
    return &j->u.arr.items[i];
}

const char *ssd_json_str(const ssd_json *j) {
    return j && j->type == SSD_JSON_STRING ? j->u.str.s : NULL;
}

bool ssd_json_int(const ssd_json *j, int64_t *v) {
    if (!j || j->type != SSD_JSON_NUMBER) return false;
    double d = j->u.num;
    /* 2^63 itself is out of range; every double below it in magnitude converts. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d)) return false;
    *v = (int64_t)d;
    return true;
}

size_t ssd_json_escape(char *buf, size_t cap, const char *s) {
    size_t k = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (k + 1 < cap) buf[k] = (char)(ch);                                                      \
        k++;                                                                                       \
    } while (0)
    PUT('"');
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        const char *esc = NULL;
        char tmp[8];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (c < 0x20) {
                static const char hex[] = "0123456789abcdef";
                memcpy(tmp, "\\u00", 4);
                tmp[4] = hex[c >> 4];
                tmp[5] = hex[c & 15];
                tmp[6] = 0;
                esc = tmp;
            }
        }
        if (esc) {
            for (const char *e = esc; *e; e++) PUT(*e);
            i++;
            continue;
        }
        int len = utf8_len(u + i, n - i);
        if (!len) {
            PUT(0xEF); /* U+FFFD */
            PUT(0xBF);
            PUT(0xBD);
            i++;
            continue;
        }
        for (int b = 0; b < len; b++) PUT(u[i + (size_t)b]);
        i += (size_t)len;
    }
    PUT('"');
#undef PUT
    if (cap) buf[k < cap ? k : cap - 1] = 0;
    return k;
}

char *ssd_json_quote(const char *s) {
    size_t n = ssd_json_escape(NULL, 0, s);
    char *o = ssd_malloc(n + 1);
    if (o) ssd_json_escape(o, n + 1, s);
    return o;
}

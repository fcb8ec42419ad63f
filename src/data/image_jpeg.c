/* JPEG through libjpeg-turbo. libjpeg reports errors by calling error_exit,
 * which must not return: it longjmps back here so that a corrupt file becomes
 * an ssd_status naming the file instead of the library's exit(). */
#include "data/image_codecs.h"

#include "core/mem.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} err_mgr;

static void on_error(j_common_ptr cinfo) {
    err_mgr *e = (err_mgr *)cinfo->err;
    e->pub.format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings are ignored (as PIL does) except running out of data before the
 * last scanline: libjpeg would pad the picture with grey and carry on, which
 * silently trains on half an image. A file that only lacks its final EOI
 * marker still decodes. */
static void on_message(j_common_ptr cinfo, int level) {
    err_mgr *e = (err_mgr *)cinfo->err;
    if (level >= 0) return;
    if (e->pub.msg_code == JWRN_JPEG_EOF && cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->global_state < 205 /* DSTATE_SCANNING or earlier */ ||
            d->output_scanline < d->output_height) {
            snprintf(e->msg, sizeof e->msg, "truncated JPEG data");
            longjmp(e->jb, 1);
        }
    }
    e->pub.num_warnings++;
}

static void init_err(err_mgr *e) {
    jpeg_std_error(&e->pub);
    e->pub.error_exit = on_error;
    e->pub.emit_message = on_message;
    e->msg[0] = 0;
}

/* Same rounding as PIL's MULDIV255, so CMYK files decode to PIL's bytes. */
static inline int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static void cmyk_to_rgb(uint8_t *dst, const uint8_t *src, int w, int inverted) {
    for (int x = 0; x < w; x++) {
        int c[4];
        for (int k = 0; k < 4; k++) c[k] = inverted ? 255 - src[4 * x + k] : src[4 * x + k];
        int nk = 255 - c[3];
        for (int k = 0; k < 3; k++) dst[3 * x + k] = (uint8_t)(nk - muldiv255(c[k], nk));
    }
}

ssd_status ssd_jpeg_decode(ssd_image *img, const uint8_t *data, size_t len, const char *name) {
    struct jpeg_decompress_struct cinfo;
    err_mgr err;
    uint8_t *volatile cmyk_row = NULL;
    ssd_status volatile st = SSD_OK;
    memset(img, 0, sizeof *img);
    init_err(&err);
    cinfo.err = &err.pub;
    jpeg_create_decompress(&cinfo);
    if (setjmp(err.jb)) {
        if (st == SSD_OK) st = ssd_error_set(SSD_E_FORMAT, "%s: corrupt JPEG: %s", name, err.msg);
        goto fail;
    }
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    st = ssd_image_check_dims(cinfo.image_width, cinfo.image_height, name);
    if (st != SSD_OK) goto fail;
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    /* libjpeg-turbo expands grayscale to RGB itself. */
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != (cmyk ? 4 : 3)) {
        st = ssd_error_set(SSD_E_UNSUPPORTED, "%s: JPEG with %d components is not supported", name,
                           cinfo.output_components);
        goto fail;
    }
    st = ssd_image_alloc(img, (int)cinfo.output_width, (int)cinfo.output_height, 3);
    if (st != SSD_OK) goto fail;
    if (cmyk) {
        cmyk_row = ssd_malloc((size_t)cinfo.output_width * 4);
        if (!cmyk_row) {
            st = SSD_E_NOMEM;
            goto fail;
        }
    }
    size_t stride = (size_t)img->w * 3;
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = img->px + stride * cinfo.output_scanline;
        if (cmyk) {
            JSAMPROW row = cmyk_row;
            jpeg_read_scanlines(&cinfo, &row, 1);
            cmyk_to_rgb(dst, cmyk_row, img->w, cinfo.saw_Adobe_marker);
        } else {
            JSAMPROW rows[16];
            int n = 0;
            while (n < 16 && cinfo.output_scanline + (unsigned)n < cinfo.output_height) {
                rows[n] = dst + stride * (size_t)n;
                n++;
            }
            jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)n);
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    ssd_free(cmyk_row);
    return SSD_OK;
fail:
    jpeg_destroy_decompress(&cinfo);
    ssd_free(cmyk_row);
    ssd_image_free(img);
    return st;
}

ssd_status ssd_jpeg_info(const uint8_t *data, size_t len, const char *name, int *w, int *h,
                         int *c) {
    struct jpeg_decompress_struct cinfo;
    err_mgr err;
    ssd_status volatile st = SSD_OK;
    init_err(&err);
    cinfo.err = &err.pub;
    jpeg_create_decompress(&cinfo);
    if (setjmp(err.jb)) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: corrupt JPEG header: %s", name, err.msg);
        goto done;
    }
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    st = ssd_image_check_dims(cinfo.image_width, cinfo.image_height, name);
    if (st != SSD_OK) goto done;
    *w = (int)cinfo.image_width;
    *h = (int)cinfo.image_height;
    *c = cinfo.num_components;
done:
    jpeg_destroy_decompress(&cinfo);
    return st;
}

ssd_status ssd_jpeg_encode(const ssd_image *img, int quality, uint8_t **out, size_t *len,
                           const char *name) {
    struct jpeg_compress_struct cinfo;
    err_mgr err;
    struct {
        unsigned char *buf;
        unsigned long len;
    } mem = {NULL, 0};
    ssd_status volatile st = SSD_OK;
    *out = NULL;
    *len = 0;
    if (img->c != 1 && img->c != 3)
        return ssd_error_set(SSD_E_INVAL, "%s: JPEG needs 1 or 3 channels, not %d", name, img->c);
    if (quality < 1 || quality > 100)
        return ssd_error_set(SSD_E_INVAL, "%s: JPEG quality %d is not in 1..100", name, quality);
    init_err(&err);
    cinfo.err = &err.pub;
    jpeg_create_compress(&cinfo);
    if (setjmp(err.jb)) {
        st = ssd_error_set(SSD_E_FORMAT, "%s: JPEG encoding failed: %s", name, err.msg);
        goto done;
    }
    jpeg_mem_dest(&cinfo, &mem.buf, &mem.len);
    cinfo.image_width = (JDIMENSION)img->w;
    cinfo.image_height = (JDIMENSION)img->h;
    cinfo.input_components = img->c;
    cinfo.in_color_space = img->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)img->w * (size_t)img->c;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = img->px + stride * cinfo.next_scanline;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    *out = ssd_malloc(mem.len);
    if (!*out) {
        st = SSD_E_NOMEM;
        goto done;
    }
    memcpy(*out, mem.buf, mem.len);
    *len = mem.len;
done:
    jpeg_destroy_compress(&cinfo);
    free(mem.buf); /* allocated by libjpeg with malloc */
    return st;
}

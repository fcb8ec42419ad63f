#include "tensor/convert.h"

#include <math.h>
#include <string.h>

float ssd_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        float f = ldexpf((float)man, -24); /* subnormal or zero */
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ssd_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; /* round to nearest even */
    return (uint16_t)h;
}

float ssd_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ssd_float_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static double load(const void *p, ssd_dtype dt, size_t i) {
    switch (dt) {
    case SSD_F32:
        return ((const float *)p)[i];
    case SSD_F64:
        return ((const double *)p)[i];
    case SSD_F16:
        return ssd_half_to_float(((const uint16_t *)p)[i]);
    case SSD_BF16:
        return ssd_bf16_to_float(((const uint16_t *)p)[i]);
    case SSD_I64:
        return (double)((const int64_t *)p)[i];
    case SSD_I32:
        return ((const int32_t *)p)[i];
    case SSD_U8:
        return ((const uint8_t *)p)[i];
    }
    return 0;
}

static void store(void *p, ssd_dtype dt, size_t i, double v) {
    switch (dt) {
    case SSD_F32:
        ((float *)p)[i] = (float)v;
        break;
    case SSD_F64:
        ((double *)p)[i] = v;
        break;
    case SSD_F16:
        ((uint16_t *)p)[i] = ssd_float_to_half((float)v);
        break;
    case SSD_BF16:
        ((uint16_t *)p)[i] = ssd_float_to_bf16((float)v);
        break;
    case SSD_I64:
        ((int64_t *)p)[i] = (int64_t)v;
        break;
    case SSD_I32:
        ((int32_t *)p)[i] = (int32_t)v;
        break;
    case SSD_U8:
        ((uint8_t *)p)[i] = (uint8_t)v;
        break;
    }
}

ssd_status ssd_convert(void *dst, ssd_dtype dst_dt, const void *src, ssd_dtype src_dt, size_t n) {
    if (dst_dt == src_dt) {
        memmove(dst, src, n * ssd_dtype_size(dst_dt));
        return SSD_OK;
    }
    if (dst_dt == SSD_F32 && src_dt == SSD_F64) {
        for (size_t i = 0; i < n; i++) ((float *)dst)[i] = (float)((const double *)src)[i];
        return SSD_OK;
    }
    if (dst_dt == SSD_F64 && src_dt == SSD_F32) {
        for (size_t i = 0; i < n; i++) ((double *)dst)[i] = ((const float *)src)[i];
        return SSD_OK;
    }
    for (size_t i = 0; i < n; i++) store(dst, dst_dt, i, load(src, src_dt, i));
    return SSD_OK;
}

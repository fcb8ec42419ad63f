#ifndef SSD_TENSOR_CONVERT_H
#define SSD_TENSOR_CONVERT_H

#include "core/status.h"
#include "tensor/tensor.h"

#include <stddef.h>

/* Converts n elements between dtypes (f32, f64, f16, bf16, i64, i32, u8). */
ssd_status ssd_convert(void *dst, ssd_dtype dst_dt, const void *src, ssd_dtype src_dt, size_t n);

float ssd_half_to_float(uint16_t h);
uint16_t ssd_float_to_half(float f);
float ssd_bf16_to_float(uint16_t h);
uint16_t ssd_float_to_bf16(float f);

#endif

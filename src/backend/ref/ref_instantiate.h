/* Instantiates the kernel template named by REF_TEMPLATE for float and double:
 * inside it, T is the element type and SFX(name) gives name_f32 / name_f64.
 * Kernels take void pointers so that REF_DISPATCH can call either copy with
 * the same arguments; they accumulate in double whatever T is.
 *
 *   #define REF_TEMPLATE "backend/ref/ref_conv_tmpl.h"
 *   #include "backend/ref/ref_instantiate.h"
 */
#ifndef REF_TEMPLATE
#error "define REF_TEMPLATE before including ref_instantiate.h"
#endif

#define T         float
#define SFX(name) name##_f32
#include REF_TEMPLATE
#undef T
#undef SFX

#define T         double
#define SFX(name) name##_f64
#include REF_TEMPLATE
#undef T
#undef SFX

#undef REF_TEMPLATE

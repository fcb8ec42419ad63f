/* Python's repr of a float (the shortest string that reads back to the same
 * double), so that file names such as "mb1-ssd-Epoch-0-Loss-5.672993580500285.pth"
 * and logged values are written exactly as the Python tools write them. */
#ifndef SSD_CORE_PYFMT_H
#define SSD_CORE_PYFMT_H

#include <stddef.h>

/* repr(float(v)): "5.0", "0.0005", "1e-05", "1.5e+16", "nan", "inf", "-inf". */
char *ssd_pyfloat_repr(double v, char *buf, size_t n);

#endif

/* Row softmax of attention score blocks (see softmax_rows.c). */
#ifndef DP_SOFTMAX_ROWS_H
#define DP_SOFTMAX_ROWS_H

#include "nn.h"

/* 1 when the plugin's ISA level (isa.h) runs the AVX-512 kernel; otherwise callers use
 * oneDNN's softmax. */
int dp_softmax_rows_available(void);
/* scores [rows][n] (overwritten with exponentials) -> out [rows][n] of out_dt. Only call when
 * dp_softmax_rows_available() returned 1. */
void dp_softmax_rows(float *scores, int rows, int n, void *out, dp_dtype_c out_dt);

#endif

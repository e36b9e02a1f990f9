/* Row-major f32 matrix products for the training head on oneDNN's sgemm: the adapters change
 * every step, so there is no weight reorder to amortise as in ops/linear.c. */
#ifndef DP_TRAIN_GEMM_H
#define DP_TRAIN_GEMM_H

#include "dp_error.h"

/* C[m][n] = alpha * op(A) op(B) + beta * C, row-major; op(X) = X or X^T per trans_a/trans_b
 * ('N' or 'T'); lda/ldb/ldc are the row strides of A, B, C as stored. All borrowed.
 * `what` names the product in the error message. */
dp_status dp_train_gemm(char trans_a, char trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc, const char *what, dp_err *err);

#endif

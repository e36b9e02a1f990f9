/* oneDNN sgemm with the project's error record. */
#include "train_gemm.h"

#include <oneapi/dnnl/dnnl.h>

dp_status dp_train_gemm(char trans_a, char trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc, const char *what, dp_err *err)
{
    if (m == 0 || n == 0)
        return DP_OK;
    dnnl_status_t s = dnnl_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (s != dnnl_success)
        return dp_fail(err, DP_E_INTERNAL, "%s: oneDNN sgemm %c%c %dx%dx%d failed (status %d)",
                       what, trans_a, trans_b, m, n, k, (int)s);
    return DP_OK;
}

/* Dot product, Euclidean norm and softmax of float vectors, summed in double: the head's cosine
 * similarities and state probabilities (inference and training) use these, so both sides round
 * the same way. */
#ifndef DP_VEC_H
#define DP_VEC_H

#include <math.h>

static inline double dp_vec_dot(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static inline float dp_vec_norm(const float *v, int n)
{
    return (float)sqrt(dp_vec_dot(v, v, n));
}

/* row[0..n-1] replaced by its softmax (max subtracted, the sum in double). */
static inline void dp_vec_softmax(float *row, int n)
{
    float mx = -INFINITY;
    for (int k = 0; k < n; k++)
        if (row[k] > mx)
            mx = row[k];
    double s = 0;
    for (int k = 0; k < n; k++) {
        row[k] = expf(row[k] - mx);
        s += row[k];
    }
    for (int k = 0; k < n; k++)
        row[k] = (float)(row[k] / s);
}

#endif

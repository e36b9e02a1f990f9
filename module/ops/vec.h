/* Dot product and Euclidean norm of float vectors, summed in double: the head's cosine
 * similarities (inference and training) use these, so both sides round the same way. */
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

#endif

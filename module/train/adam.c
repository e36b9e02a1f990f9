/* Adam as torch.optim.Adam's _single_tensor_adam computes it on CPU in float32. */
#include "adam.h"

#include <math.h>
#include <stdlib.h>

struct dp_adam {
    dp_adam_config c;
    int n;
    size_t *count;
    int64_t *step;
    float **m, **v;      /* [n] owned arrays of count[i] */
};

dp_status dp_adam_create(const dp_adam_config *cfg, const size_t *counts, int n, dp_adam **out,
                         dp_err *err)
{
    *out = NULL;
    if (!cfg || !counts || n < 1 || !(cfg->lr > 0) || !(cfg->beta1 >= 0 && cfg->beta1 < 1) ||
        !(cfg->beta2 >= 0 && cfg->beta2 < 1) || !(cfg->eps > 0))
        return dp_fail(err, DP_E_ARG, "Adam: lr %g, betas %g/%g, eps %g, %d tensors; expected "
                       "lr > 0, betas in [0,1), eps > 0 and tensors", cfg ? cfg->lr : 0,
                       cfg ? cfg->beta1 : 0, cfg ? cfg->beta2 : 0, cfg ? cfg->eps : 0, n);
    dp_adam *a = calloc(1, sizeof *a);
    if (!a)
        return dp_fail(err, DP_E_NOMEM, "out of memory for Adam");
    a->c = *cfg;
    a->n = n;
    a->count = calloc((size_t)n, sizeof *a->count);
    a->step = calloc((size_t)n, sizeof *a->step);
    a->m = calloc((size_t)n, sizeof *a->m);
    a->v = calloc((size_t)n, sizeof *a->v);
    int fail = !a->count || !a->step || !a->m || !a->v;
    for (int i = 0; !fail && i < n; i++) {
        a->count[i] = counts[i];
        a->m[i] = calloc(counts[i] ? counts[i] : 1, sizeof(float));
        a->v[i] = calloc(counts[i] ? counts[i] : 1, sizeof(float));
        fail = !a->m[i] || !a->v[i];
    }
    if (fail) {
        dp_adam_free(a);
        return dp_fail(err, DP_E_NOMEM, "out of memory for Adam's moments (%d tensors)", n);
    }
    *out = a;
    return DP_OK;
}

void dp_adam_free(dp_adam *a)
{
    if (!a)
        return;
    for (int i = 0; a->m && i < a->n; i++) {
        free(a->m[i]);
        free(a->v[i]);
    }
    free(a->m);
    free(a->v);
    free(a->count);
    free(a->step);
    free(a);
}

/* torch.lerp for float: start + w (end - start) when w < 0.5, else end - (end - start)(1 - w). */
static float lerp(float start, float end, float w)
{
    return w < 0.5f ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

void dp_adam_step(dp_adam *a, float *const *params, const float *const *grads)
{
    for (int i = 0; i < a->n; i++) {
        if (!grads[i])
            continue;
        int64_t t = ++a->step[i];
        double bc1 = 1.0 - pow(a->c.beta1, (double)t), bc2 = 1.0 - pow(a->c.beta2, (double)t);
        const float w1 = (float)(1.0 - a->c.beta1), b2 = (float)a->c.beta2,
                    w2 = (float)(1.0 - a->c.beta2), eps = (float)a->c.eps;
        const float neg_step = (float)-(a->c.lr / bc1), bc2_sqrt = (float)sqrt(bc2);
        float *p = params[i], *m = a->m[i], *v = a->v[i];
        const float *g = grads[i];
        for (size_t k = 0; k < a->count[i]; k++) {
            m[k] = lerp(m[k], g[k], w1);
            v[k] = v[k] * b2 + w2 * g[k] * g[k];
            float denom = sqrtf(v[k]) / bc2_sqrt + eps;
            p[k] = p[k] + neg_step * m[k] / denom;
        }
    }
}

void dp_adam_state(dp_adam *a, int i, int64_t *step, float **m, float **v)
{
    *step = a->step[i];
    *m = a->m[i];
    *v = a->v[i];
}

void dp_adam_set_step(dp_adam *a, int i, int64_t step)
{
    a->step[i] = step;
}

/* Helpers over a dp_weight_source. */
#include "weight_source.h"

#include <stdlib.h>

dp_status dp_weights_read_new(const dp_weight_source *src, const char *name, size_t n, float **out,
                              dp_err *err)
{
    *out = NULL;
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    if (!buf)
        return dp_fail(err, DP_E_NOMEM, "out of memory reading %s (%zu values)", name, n);
    dp_status st = src->read(src->ctx, name, buf, n, err);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    return DP_OK;
}

/* Helpers over a dp_weight_source. */
#include "weight_source.h"

#include <stdlib.h>

dp_status dp_weights_read_new(const dp_weight_source *src, const char *name, size_t n, float **out,
                              dp_err *err)
{
    *out = malloc(n * sizeof **out);
    if (!*out)
        return dp_fail(err, DP_E_NOMEM, "out of memory reading %s (%zu values)", name, n);
    return src->read(src->ctx, name, *out, n, err);
}

/* Cancellation check points. */
#include "dp_cancel.h"

dp_status dp_cancel_check(const dp_cancel *c, const char *where, dp_err *err)
{
    if (!c || !c->counter || atomic_load_explicit(c->counter, memory_order_relaxed) == c->start)
        return DP_OK;
    return dp_fail(err, DP_E_CANCELLED, "cancelled by the host %s; no result", where);
}

/* Cancelling a long computation from another thread: the owner of a counter bumps it, and a
 * computation that noted the counter's value when it started stops at its next check point. */
#ifndef DP_CANCEL_H
#define DP_CANCEL_H

#include <stdatomic.h>

#include "dp_error.h"

/* One running computation's view of its owner's cancel counter. */
typedef struct dp_cancel {
    const atomic_uint *counter;   /* borrowed; NULL = never cancelled */
    unsigned start;               /* *counter when the computation started */
} dp_cancel;

/* DP_OK, or DP_E_CANCELLED with err failed ("cancelled by the host <where>") when the counter
 * moved since the start. c may be NULL (never cancelled). where, err: borrowed. */
dp_status dp_cancel_check(const dp_cancel *c, const char *where, dp_err *err);

#endif

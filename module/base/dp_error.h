/* Status codes and the caller-owned error record used by every core function. */
#ifndef DP_ERROR_H
#define DP_ERROR_H

#include <stddef.h>

typedef enum dp_status {
    DP_OK = 0,
    DP_E_ARG,         /* a caller passed a NULL, out-of-range or inconsistent value */
    DP_E_IO,          /* a file could not be opened, mapped or read */
    DP_E_FORMAT,      /* a file's bytes do not follow its format */
    DP_E_MODEL,       /* weights missing, misshapen or non-finite */
    DP_E_NOMEM,       /* an allocation failed or a size is beyond the limits */
    DP_E_UNSUPPORTED, /* valid input this build does not handle */
    DP_E_INTERNAL,    /* a oneDNN call or an invariant failed */
    DP_E_CANCELLED    /* the caller's owner asked the computation to stop (dp_cancel.h) */
} dp_status;

/* Filled by the failing function; owned by the caller (usually on its stack). */
typedef struct dp_err {
    dp_status code;
    char msg[512];
} dp_err;

/* Records code and a formatted message in *err (err may be NULL) and returns code. */
dp_status dp_fail(dp_err *err, dp_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets err to DP_OK with an empty message. */
void dp_err_clear(dp_err *err);

/* Short stable name of a status ("DP_E_FORMAT"). */
const char *dp_status_name(dp_status s);

#endif

/* Error records: a status plus a message naming what was at fault. */
#include "dp_error.h"

#include <stdarg.h>
#include <stdio.h>

dp_status dp_fail(dp_err *err, dp_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void dp_err_clear(dp_err *err)
{
    if (err) {
        err->code = DP_OK;
        err->msg[0] = '\0';
    }
}

const char *dp_status_name(dp_status s)
{
    switch (s) {
    case DP_OK: return "DP_OK";
    case DP_E_ARG: return "DP_E_ARG";
    case DP_E_IO: return "DP_E_IO";
    case DP_E_FORMAT: return "DP_E_FORMAT";
    case DP_E_MODEL: return "DP_E_MODEL";
    case DP_E_NOMEM: return "DP_E_NOMEM";
    case DP_E_UNSUPPORTED: return "DP_E_UNSUPPORTED";
    case DP_E_INTERNAL: return "DP_E_INTERNAL";
    case DP_E_CANCELLED: return "DP_E_CANCELLED";
    }
    return "DP_E_UNKNOWN";
}

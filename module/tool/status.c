/* dp_status -> insp_status at the plugin boundary. */
#include "status.h"

#include <stdio.h>

insp_status dp_status_to_insp(dp_status st, dp_stage stage)
{
    switch (st) {
    case DP_OK: return INSP_OK;
    case DP_E_NOMEM: return INSP_E_NOMEM;
    case DP_E_CANCELLED: return INSP_E_CANCELLED;
    default: break;
    }
    if (stage == DP_STAGE_RECIPE)
        return INSP_E_RECIPE;
    switch (st) {
    case DP_E_ARG:
    case DP_E_IO:
    case DP_E_FORMAT:
        return stage == DP_STAGE_MODEL ? INSP_E_MODEL
               : stage == DP_STAGE_IMAGE ? INSP_E_IMAGE : INSP_E_INTERNAL;
    case DP_E_MODEL: return INSP_E_MODEL;
    case DP_E_UNSUPPORTED: return INSP_E_UNSUPPORTED;
    default: return INSP_E_INTERNAL;
    }
}

void dp_copy_err(char *err, size_t cap, const char *msg)
{
    if (!err || cap == 0)
        return;
    snprintf(err, cap, "%s", msg ? msg : "");
}

insp_status dp_report(const dp_err *e, dp_stage stage, char *err, size_t cap)
{
    dp_copy_err(err, cap, e->msg);
    return dp_status_to_insp(e->code, stage);
}

/* The plugin boundary's one mapping from internal statuses to the ABI's, and the caller-owned
 * error buffer. Every exported call reports through these, so the same failure gives the same
 * status on every path (whole image or tiles, create or set_param). */
#ifndef DP_STATUS_H
#define DP_STATUS_H

#include <stddef.h>

#include "dp_error.h"
#include "insp_tool.h"

/* What the failing step was working on: it decides what "bad input" means. */
typedef enum dp_stage {
    DP_STAGE_RECIPE,   /* reading the recipe: every failure but memory is INSP_E_RECIPE */
    DP_STAGE_MODEL,    /* loading model files: bad or missing files are INSP_E_MODEL */
    DP_STAGE_IMAGE,    /* the host's image view and its conversion: INSP_E_IMAGE */
    DP_STAGE_RUN       /* the model, head and regions on a valid image: a bad argument there
                          is a broken invariant, INSP_E_INTERNAL */
} dp_stage;

insp_status dp_status_to_insp(dp_status st, dp_stage stage);

/* Copies src into dst[cap] as one valid UTF-8 line, always NUL-terminated: control characters
 * (C0, DEL, C1 such as NEL, U+2028/U+2029) are written as escapes (\n, \x1B, \u0085:
 * a backslash and letters)
 * and bytes that are not UTF-8 as \xFF, so text copied from files (tensor names, paths,
 * parameter values) cannot inject lines or terminal sequences; truncation never splits a
 * character or an escape. dst may be NULL (nothing written); src NULL reads as "". */
void dp_sanitize_line(char *dst, size_t cap, const char *src);

/* The boundary's one exit for messages: dp_sanitize_line into the caller's (err, cap) buffer;
 * err may be NULL. */
void dp_copy_err(char *err, size_t cap, const char *msg);

/* dp_copy_err(err, cap, e->msg) and the mapped status of e->code. */
insp_status dp_report(const dp_err *e, dp_stage stage, char *err, size_t cap);

#endif

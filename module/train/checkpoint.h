/* Training checkpoints: the trained tensors, Adam's moments and step counts, where the run
 * stands, and the caller's history tables, in one safetensors file written atomically. Resuming
 * from one continues bit-identically (same tensors, same optimiser state, same position). */
#ifndef DP_CHECKPOINT_H
#define DP_CHECKPOINT_H

#include <stdint.h>

#include "adam.h"
#include "st_write.h"
#include "train_params.h"

typedef struct dp_train_position {
    int64_t epoch;            /* epoch in progress, 0-based */
    int64_t step_in_epoch;    /* its steps already done */
    int64_t global_step;      /* steps done in the whole run */
    char fingerprint[64];     /* the run's settings (caller's text); a resume must match it */
} dp_train_position;

/* Writes p's values, a's state, pos and the extra tensors (borrowed, names must not start with
 * "adam." or equal a parameter) to path (atomically: path.tmp, then rename). */
dp_status dp_checkpoint_save(const char *path, const dp_train_params *p, dp_adam *a,
                             const dp_train_position *pos, const dp_st_out *extra, int n_extra,
                             dp_err *err);

/* Restores p's values and a's state (both created for the same tensors) and *pos from path.
 * Every parameter must be present with its shape. */
dp_status dp_checkpoint_load(const char *path, dp_train_params *p, dp_adam *a,
                             dp_train_position *pos, dp_err *err);

/* An extra tensor of the checkpoint: *data malloc'ed (caller frees), shape[0..1] (rows, cols;
 * cols 1 for a vector); *data NULL and rows 0 when absent. */
dp_status dp_checkpoint_extra(const char *path, const char *name, float **data, int64_t shape[2],
                              dp_err *err);

#endif

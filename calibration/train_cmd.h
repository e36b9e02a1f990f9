/* insp-train: the training command (a model-building tool linked with libdapo_core.a, like
 * tools/; not a plugin host). train_cmd.c runs it, train_report.c writes its report. */
#ifndef CALIB_TRAIN_CMD_H
#define CALIB_TRAIN_CMD_H

#include <stdint.h>

#include "metrics.h"

/* One row per optimisation step. */
typedef struct tc_step { float epoch, total, local, image_ce; } tc_step;
/* One row per validation (row 0 = the starting weights, then one per epoch). */
typedef struct tc_val { float epoch, image_auroc, pixel_auroc, aupro; } tc_val;  /* < 0 = none */

typedef struct tc_report {
    const char *recipe, *set, *init, *out_weights, *schedule_text, *states_text;
    int batch, epochs, image_size, n_train, n_val, n_skipped, steps_per_epoch;
    double lr, seconds_per_step;
    uint64_t seed;
    const tc_step *steps; int n_steps;
    const tc_val *val; int n_val_rows;
    const char *const *skipped; int n_skipped_lines;   /* "part: why" */
    int stopped;                                      /* 1: stopped before the end */
} tc_report;

int tc_write_json(const tc_report *r, const char *path);
int tc_write_html(const tc_report *r, const char *path);

int train_cmd_main(int argc, char **argv);

#endif

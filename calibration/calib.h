/* insp-calibrate: internal types shared by the run (calibrate.c) and the report (report.c). */
#ifndef CALIB_CALIB_H
#define CALIB_CALIB_H

#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "metrics.h"
#include "recipe_text.h"

#define CAL_MAX_CLASSES 65
#define CAL_REF_SIZE 518          /* the reference protocol's map and mask side */

/* The run's state of one part. */
typedef struct cal_part {
    int scored;                   /* 1: result in the cache */
    char *problem;                /* owned: why it was left out (unreadable, mismatched, ...) */
    float score;
    double ms;                    /* plugin time when it was scored (from the cache) */
    int w, h, rx, ry;             /* map size and where it lies in the image */
    int class_id;                 /* recipe class of its labelled defect type, -1 none */
    int has_mask;                 /* 1: a mask of the right size was read */
    float map_max;
    int ng_old, ng_new, regions_new;
    char key[33];                 /* cache key, hex */
} cal_part;

typedef struct cal_thresholds {
    float image, pixel;
    int min_area;
    float type[CAL_MAX_CLASSES];  /* per class (index 0 unused); < 0 = none (global) */
} cal_thresholds;

typedef struct cal_protocol {     /* pixel metrics of one protocol */
    cm_value pixel_auroc, aupro;
    cm_value type_auroc, type_ap, type_f1;       /* macro over classes */
    cm_value class_auroc[CAL_MAX_CLASSES], class_ap[CAL_MAX_CLASSES], class_f1[CAL_MAX_CLASSES];
    int pixel_parts;              /* parts that took part */
} cal_protocol;

typedef struct cal_thumb { int part; char *png_b64; const char *what; } cal_thumb;

typedef struct cal_product {
    cd_product *set;              /* borrowed */
    cal_part *parts;              /* [set->n], owned */
    int n_good, n_bad, n_scored_good, n_scored_bad, n_masks, n_problems;
    int needed_resolve, needed_95;   /* good parts the FRR target needs */
    /* thresholds */
    cal_thresholds old, chosen;
    float img_frr, img_f1, img_cost;     /* candidates; < 0 = not available */
    double cost_frr, cost_f1, cost_cost;
    const char *image_rule;              /* "frr", "f1", "cost" */
    const char *pixel_rule;              /* sentence */
    char image_why[512], pixel_why[512], area_why[512], type_why[512];
    int gt_regions, detected_c1, detected_c2, used_c2;
    int fr_old, esc_old, fr_new, esc_new, fr_new_score;
    /* metrics */
    cm_value img_auroc, img_ap, img_maxf1;
    cal_protocol native, ref;
    int have_types;
    double *roc_x, *roc_y, *pr_x, *pr_y;
    size_t roc_n, pr_n;
    cal_thumb *thumbs; int n_thumbs;
    char *recipe_out;                    /* owned: path of the calibrated recipe */
    char *recipe_text;                   /* owned */
    int per_type_written;
} cal_product;

typedef struct cal_run {
    const char *recipe_path, *set_path, *out_dir, *plugin_path;
    rt_recipe recipe;
    cd_set set;
    cal_product *prod;            /* [set.n] */
    int n_classes;
    char class_name[CAL_MAX_CLASSES][80];
    char model_desc[200], precision[16], plugin_version[64];
    int input_size, tiling;
    double frr_target, cost_escape;
    const char *image_rule;
    int protocols;                /* bit 0 native, bit 1 reference */
    int scored_now, from_cache, total_parts, failed;
    double ms_now, wall_s;
    char started[32];
} cal_run;

/* report.c */
int cal_write_json(const cal_run *r, const char *path);
int cal_write_html(const cal_run *r, const char *path);
/* base64 of data (malloc'ed). */
char *cal_base64(const uint8_t *data, size_t n);
/* PNG in memory from packed RGB8 (malloc'ed, *n bytes). */
uint8_t *cal_png(const uint8_t *rgb, int w, int h, size_t *n);

int calib_main(int argc, char **argv);

#endif

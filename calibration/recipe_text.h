/* The calibration command's view of a recipe file: the values it calibrates, the model files it
 * names, a canonical text of everything that changes the plugin's scores and maps (for the
 * cache key), and a writer that replaces the `thresholds` and `defects` sections (and, when the
 * file moves, the model paths) while keeping every other line, comments included, as written.
 * The plugin stays the judge of validity: every recipe written here is loaded by the plugin
 * before the command reports success. */
#ifndef CALIB_RECIPE_TEXT_H
#define CALIB_RECIPE_TEXT_H

#include <stddef.h>

#define RT_MAX_DEFECTS 64

typedef struct rt_span { char key[24]; int line0, line1; } rt_span;   /* 0-based, inclusive */

typedef struct rt_recipe {
    char *path, *dir;              /* the file and its folder (owned) */
    char **lines; int n_lines;     /* the file's lines without line ends (owned) */
    char *product;                 /* owned; "" if absent */
    char *clip, *dapo, *vocab;     /* as written (owned; vocab NULL if absent) */
    char *clip_path, *dapo_path, *vocab_path;   /* resolved against dir (vocab: default) */
    char *defects[RT_MAX_DEFECTS]; /* names as written (owned) */
    float defect_thr[RT_MAX_DEFECTS];   /* per-defect pixel_threshold, < 0 = none */
    int n_defects;
    float image_thr, pixel_thr;    /* current values, defaults filled (0.5, 2.0) */
    int min_area;                  /* default 0 */
    int has_thresholds;
    rt_span spans[16]; int n_spans;
    char *canon;                   /* canonical score-relevant text (owned) */
} rt_recipe;

/* Reads and takes apart the recipe. Returns 0 or -1 with a message. A recipe whose top level
 * is not a block mapping with its keys in one column, or that uses anchors and aliases, is
 * refused (it could not be edited line by line). */
int rt_load(const char *path, rt_recipe *r, char *err, size_t err_cap);
void rt_free(rt_recipe *r);

/* New values for rt_render. */
typedef struct rt_changes {
    float image_thr, pixel_thr;
    int min_area;
    float defect_thr[RT_MAX_DEFECTS];   /* < 0 = no per-defect threshold */
    const char *comment;                /* lines to put at the top as comments (may be NULL) */
    const char *out_dir;                /* folder of the new file: relative model paths are
                                           rewritten relative to it; NULL = same folder */
    int absolute_models;                /* write model paths absolute (the scoring recipe) */
} rt_changes;

/* The recipe's text with the changes; malloc'ed, caller frees; NULL when out of memory. */
char *rt_render(const rt_recipe *r, const rt_changes *c);

/* Writes text to path only if no file is there (O_EXCL). Returns 0 or -1 (errno). */
int rt_write_new(const char *path, const char *text);

#endif

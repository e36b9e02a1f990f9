/* Test support: golden arrays (.npy), their tolerances from manifest.json, and comparisons that
 * print max absolute / relative error for every array they check. */
#ifndef DP_TEST_GOLDEN_H
#define DP_TEST_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct npy_array {
    char dtype;          /* 'f' float32, 'i' int32, 'u' uint8 */
    int ndim;
    int64_t shape[6];
    size_t count;        /* number of elements */
    void *data;          /* owned; free with npy_free */
} npy_array;

/* Directory of the golden set ($DAPO_GOLDEN, else tests/golden). */
const char *golden_dir(void);
/* Directory of models/ ($DAPO_MODELS, else ./models). */
const char *models_dir(void);
/* "<golden>/<rel>" in a static per-thread buffer rotation of 8 entries. */
const char *golden_path(const char *rel);

/* Loads <golden>/<rel>; returns 0 on success, prints the reason otherwise. */
int npy_load(const char *rel, npy_array *out);
void npy_free(npy_array *a);

/* 1 when manifest.json lists `rel` (the golden set stores only some arrays for large configs). */
int golden_has(const char *rel);

/* Manifest tolerance of file `rel` (e.g. "tiny/a/feat_L6.npy"): atol, or -1 if "exact" or absent. */
double golden_atol(const char *rel);

typedef struct cmp_stats {
    double max_abs, max_rel, max_golden;
    size_t worst_index, count;
} cmp_stats;

/* Compares mine[0..n) with the golden floats, prints one line
 * "name: n=.. max_abs=.. max_rel=.. (atol ..)" and returns the statistics. */
cmp_stats compare_f32(const char *name, const float *mine, const float *golden, size_t n);

/* Passes when every element satisfies |mine-golden| <= atol + rtol*|golden|; prints the figures. */
int within(const char *name, const float *mine, const float *golden, size_t n, double atol,
           double rtol);

#endif

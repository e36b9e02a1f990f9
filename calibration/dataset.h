/* Labelled sets of parts for calibration and evaluation, read from the layouts people have:
 *   MVTec AD (and MPDD, which uses the same layout): PRODUCT/train/good/, PRODUCT/test/good/,
 *     PRODUCT/test/<defect>/, masks PRODUCT/ground_truth/<defect>/<stem>_mask.png; the path is
 *     one product folder or a folder of product folders;
 *   VisA: the release folder with split_csv/1cls.csv (object, split, label, image, mask; paths
 *     relative to the folder) and, when present, each object's image_anno.csv for the defect
 *     type; or object folders with Data/Images/{Normal,Anomaly} and Data/Masks/Anomaly/<stem>.png;
 *   a CSV list: image, label (good/bad, ok/ng, normal/anomaly, 0/1), optional mask, optional
 *     defect type, optional product; with a header row the columns go by name (image, label, mask,
 *     type, product, split), without one by position. Paths are relative to the CSV's folder.
 * Images are not opened here. */
#ifndef CALIB_DATASET_H
#define CALIB_DATASET_H

#include <stddef.h>

typedef struct cd_part {
    char *image;     /* path as it can be opened; owned */
    char *mask;      /* owned; NULL = no mask (a good part needs none: all normal) */
    char *type;      /* defect type as labelled; owned; NULL = none given */
    char *name;      /* short name for people (path relative to the set); owned */
    int bad;         /* 1 = defective, 0 = good */
    int train;       /* 1 = from a training split (MVTec train/good, VisA train) */
} cd_part;

typedef struct cd_product {
    char *name;      /* owned */
    cd_part *parts;  /* owned, n entries */
    int n, cap;
} cd_product;

typedef struct cd_set {
    cd_product *products;   /* owned, n entries, in the order met (folders sorted) */
    int n;
    const char *layout;     /* "MVTec AD", "VisA", "CSV" (static) */
} cd_set;

/* Reads the set at path (a folder or a .csv file). split: "all", "test" or "train" keeps those
 * parts. Returns 0, or -1 with a message in err. */
int cd_load(const char *path, const char *split, cd_set *out, char *err, size_t err_cap);
void cd_free(cd_set *s);

#endif

/* Labelled sets (see dataset.h). */
#include "dataset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

static int image_name(const char *n)
{
    const char *dot = strrchr(n, '.');
    if (!dot || n[0] == '.')
        return 0;
    static const char *const ext[] = { ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp" };
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot, ext[i]) == 0)
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of dir: subfolders (want_dirs) or image files. Caller frees each and the list. */
static char **list_dir(const char *dir, int want_dirs, int *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **v = NULL;
    int cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char *full = fmt("%s/%s", dir, e->d_name);
        if (!full)
            break;
        int ok = want_dirs ? is_dir(full) : (image_name(e->d_name) && is_file(full));
        free(full);
        if (!ok)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv)
                break;
            v = nv;
        }
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (v)
        qsort(v, (size_t)*n, sizeof *v, cmp_str);
    return v;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static cd_product *product(cd_set *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->products[i].name, name) == 0)
            return &s->products[i];
    cd_product *np = realloc(s->products, (size_t)(s->n + 1) * sizeof *np);
    if (!np)
        return NULL;
    s->products = np;
    cd_product *p = &s->products[s->n];
    memset(p, 0, sizeof *p);
    if (!(p->name = strdup(name)))
        return NULL;
    s->n++;
    return p;
}

/* Takes ownership of the strings (freed on failure). */
static int add_part(cd_product *p, char *image, char *mask, char *type, char *name, int bad, int train)
{
    if (p && image && name && p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        cd_part *np = realloc(p->parts, (size_t)cap * sizeof *np);
        if (np) {
            p->parts = np;
            p->cap = cap;
        }
    }
    if (!p || !image || !name || p->n == p->cap) {
        free(image), free(mask), free(type), free(name);
        return -1;
    }
    p->parts[p->n++] = (cd_part){ image, mask, type, name, bad, train };
    return 0;
}

static const char *base_name(const char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    const char *b = p + n;
    while (b > p && b[-1] != '/')
        b--;
    return b;
}

static char *stem(const char *file)
{
    char *s = strdup(file);
    if (s) {
        char *dot = strrchr(s, '.');
        if (dot && dot != s)
            *dot = 0;
    }
    return s;
}

/* ---------- MVTec AD / MPDD ---------- */

static int mvtec_product(cd_set *s, const char *dir, const char *pname, int want_train, int want_test)
{
    cd_product *p = product(s, pname);
    if (!p)
        return -1;
    const char *splits[2] = { "train", "test" };
    for (int sp = 0; sp < 2; sp++) {
        if ((sp == 0 && !want_train) || (sp == 1 && !want_test))
            continue;
        char *sd = fmt("%s/%s", dir, splits[sp]);
        if (!sd)
            return -1;
        int nt;
        char **types = list_dir(sd, 1, &nt);
        for (int t = 0; t < nt; t++) {
            int good = strcmp(types[t], "good") == 0;
            char *td = fmt("%s/%s", sd, types[t]);
            int nf;
            char **files = td ? list_dir(td, 0, &nf) : NULL;
            for (int f = 0; td && f < nf; f++) {
                char *st = stem(files[f]);
                char *mask = NULL;
                if (!good && st) {
                    mask = fmt("%s/ground_truth/%s/%s_mask.png", dir, types[t], st);
                    if (mask && !is_file(mask)) {
                        free(mask);
                        mask = NULL;
                    }
                }
                free(st);
                if (add_part(p, fmt("%s/%s", td, files[f]), mask, good ? NULL : strdup(types[t]),
                             fmt("%s/%s/%s/%s", pname, splits[sp], types[t], files[f]), !good, sp == 0)) {
                    free_list(files, nf);
                    free(td);
                    free_list(types, nt);
                    free(sd);
                    return -1;
                }
            }
            free_list(files, td ? nf : 0);
            free(td);
        }
        free_list(types, nt);
        free(sd);
    }
    return 0;
}

/* ---------- CSV ---------- */

/* Splits one CSV line in place (RFC 4180 quotes). Returns the field count (<= max). */
static int csv_split(char *line, char **field, int max)
{
    int n = 0;
    char *r = line, *w = line;
    while (n < max) {
        field[n++] = w;
        if (*r == '"') {
            r++;
            while (*r) {
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else {
                    *w++ = *r++;
                }
            }
        }
        while (*r && *r != ',')
            *w++ = *r++;
        int more = *r == ',';
        *w++ = 0;
        if (!more)
            break;
        r++;
    }
    /* trim spaces */
    for (int i = 0; i < n; i++) {
        char *f = field[i];
        while (isspace((unsigned char)*f))
            f++;
        size_t l = strlen(f);
        while (l && isspace((unsigned char)f[l - 1]))
            f[--l] = 0;
        field[i] = f;
    }
    return n;
}

/* 1 bad, 0 good, -1 not a label. */
static int parse_label(const char *s)
{
    static const char *const good[] = { "good", "ok", "normal", "0", "false", "pass" };
    static const char *const bad[] = { "bad", "ng", "nok", "anomaly", "anomalous", "defect",
                                       "defective", "1", "true", "fail" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (strcasecmp(s, good[i]) == 0)
            return 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (strcasecmp(s, bad[i]) == 0)
            return 1;
    return -1;
}

static char *join(const char *dir, const char *p)
{
    if (!p || !*p)
        return NULL;
    if (p[0] == '/')
        return strdup(p);
    return fmt("%s/%s", dir, p);
}

static char *dir_of(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return NULL;
    char *sl = strrchr(d, '/');
    if (!sl)
        strcpy(d, ".");
    else if (sl == d)
        d[1] = 0;
    else
        *sl = 0;
    return d;
}

static int load_csv(cd_set *s, const char *path, const char *base, const char *default_product,
                    const char *split, char *err, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, cap, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *dir = base ? strdup(base) : dir_of(path);
    char *line = NULL;
    size_t lcap = 0;
    int lineno = 0, rc = 0;
    int col_img = 0, col_lab = 1, col_mask = 2, col_type = 3, col_prod = 4, col_split = -1;
    enum { MAXF = 16 };
    while (dir && getline(&line, &lcap, f) > 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (lineno == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
            (unsigned char)line[2] == 0xBF)
            memmove(line, line + 3, strlen(line + 3) + 1);
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char *fld[MAXF];
        int nf = csv_split(p, fld, MAXF);
        if (lineno == 1 && (nf < 2 || parse_label(fld[1]) < 0)) {
            /* a header row: columns by name */
            col_img = col_lab = col_mask = col_type = col_prod = col_split = -1;
            for (int i = 0; i < nf; i++) {
                const char *h = fld[i];
                if (!strcasecmp(h, "image") || !strcasecmp(h, "path") || !strcasecmp(h, "file"))
                    col_img = i;
                else if (!strcasecmp(h, "label") || !strcasecmp(h, "class"))
                    col_lab = i;
                else if (!strcasecmp(h, "mask"))
                    col_mask = i;
                else if (!strcasecmp(h, "type") || !strcasecmp(h, "defect") || !strcasecmp(h, "defect_type"))
                    col_type = i;
                else if (!strcasecmp(h, "product") || !strcasecmp(h, "object"))
                    col_prod = i;
                else if (!strcasecmp(h, "split"))
                    col_split = i;
            }
            if (col_img < 0 || col_lab < 0) {
                snprintf(err, cap, "%s:1: header row without an 'image' and a 'label' column; "
                         "expected image,label[,mask[,type[,product]]]", path);
                rc = -1;
                break;
            }
            continue;
        }
        const char *img = col_img < nf ? fld[col_img] : "";
        const char *lab = col_lab >= 0 && col_lab < nf ? fld[col_lab] : "";
        int bad = parse_label(lab);
        if (!*img || bad < 0) {
            snprintf(err, cap, "%s:%d: %s; expected image path, label good/bad[, mask[, defect type]]",
                     path, lineno, !*img ? "no image path" : "label is not good/bad/ok/ng/normal/anomaly/0/1");
            rc = -1;
            break;
        }
        const char *mask = col_mask >= 0 && col_mask < nf ? fld[col_mask] : "";
        const char *type = col_type >= 0 && col_type < nf ? fld[col_type] : "";
        const char *prod = col_prod >= 0 && col_prod < nf && *fld[col_prod] ? fld[col_prod] : default_product;
        const char *spl = col_split >= 0 && col_split < nf ? fld[col_split] : "test";
        int train = strcasecmp(spl, "train") == 0;
        if ((strcmp(split, "test") == 0 && train) || (strcmp(split, "train") == 0 && !train))
            continue;
        if (add_part(product(s, prod), join(dir, img), join(dir, mask), *type && bad ? strdup(type) : NULL,
                     strdup(img), bad, train)) {
            snprintf(err, cap, "out of memory");
            rc = -1;
            break;
        }
    }
    free(line);
    free(dir);
    fclose(f);
    return rc;
}

/* ---------- VisA ---------- */

static int visa_folders(cd_set *s, const char *root, char **objs, int nobj, char *err, size_t cap)
{
    for (int o = 0; o < nobj; o++) {
        cd_product *p = product(s, objs[o]);
        if (!p)
            return -1;
        const char *cls[2] = { "Normal", "Anomaly" };
        for (int c = 0; c < 2; c++) {
            char *d = fmt("%s/%s/Data/Images/%s", root, objs[o], cls[c]);
            int nf;
            char **files = d ? list_dir(d, 0, &nf) : NULL;
            for (int i = 0; files && i < nf; i++) {
                char *st = stem(files[i]);
                char *mask = c && st ? fmt("%s/%s/Data/Masks/Anomaly/%s.png", root, objs[o], st) : NULL;
                free(st);
                if (mask && !is_file(mask)) {
                    free(mask);
                    mask = NULL;
                }
                if (add_part(p, fmt("%s/%s", d, files[i]), mask, NULL,
                             fmt("%s/Data/Images/%s/%s", objs[o], cls[c], files[i]), c, 0)) {
                    free_list(files, nf);
                    free(d);
                    return -1;
                }
            }
            if (files)
                free_list(files, nf);
            free(d);
        }
    }
    (void)err;
    (void)cap;
    return 0;
}

/* Defect types from VisA's per-object image_anno.csv (image,label,mask), matched by image path. */
static void visa_types(cd_set *s, const char *root)
{
    for (int i = 0; i < s->n; i++) {
        cd_product *p = &s->products[i];
        char *anno = fmt("%s/%s/image_anno.csv", root, p->name);
        FILE *f = anno ? fopen(anno, "r") : NULL;
        free(anno);
        if (!f)
            continue;
        char *line = NULL;
        size_t lcap = 0;
        while (getline(&line, &lcap, f) > 0) {
            line[strcspn(line, "\r\n")] = 0;
            char *fld[8];
            int nf = csv_split(line, fld, 8);
            if (nf < 2 || !strcasecmp(fld[1], "normal") || !strcasecmp(fld[1], "label"))
                continue;
            for (int k = 0; k < p->n; k++) {
                size_t li = strlen(p->parts[k].image), lf = strlen(fld[0]);
                if (p->parts[k].bad && !p->parts[k].type && li >= lf &&
                    strcmp(p->parts[k].image + li - lf, fld[0]) == 0)
                    p->parts[k].type = strdup(fld[1]);
            }
        }
        free(line);
        fclose(f);
    }
}

int cd_load(const char *path, const char *split, cd_set *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    err[0] = 0;
    int want_train = strcmp(split, "test") != 0, want_test = strcmp(split, "train") != 0;
    int rc = 0;
    if (is_file(path)) {
        out->layout = "CSV";
        char *prod = stem(base_name(path));
        rc = load_csv(out, path, NULL, prod ? prod : "product", split, err, cap);
        free(prod);
    } else if (!is_dir(path)) {
        snprintf(err, cap, "%s: no such folder or CSV file", path);
        return -1;
    } else {
        char *tmp = fmt("%s/split_csv/1cls.csv", path);
        char *test = fmt("%s/test", path);
        if (tmp && is_file(tmp)) {
            out->layout = "VisA";
            /* 1cls.csv: object,split,label,image,mask with label normal/anomaly */
            rc = load_csv(out, tmp, path, "visa", split, err, cap);   /* paths relative to the root */
            if (!rc)
                visa_types(out, path);
        } else if (test && is_dir(test)) {
            out->layout = "MVTec AD";
            rc = mvtec_product(out, path, base_name(path), want_train, want_test);
        } else {
            int nd;
            char **dirs = list_dir(path, 1, &nd);
            int mv = 0, vi = 0;
            for (int i = 0; i < nd; i++) {
                char *t = fmt("%s/%s/test", path, dirs[i]);
                char *v = fmt("%s/%s/Data/Images", path, dirs[i]);
                mv += t && is_dir(t);
                vi += v && is_dir(v);
                free(t);
                free(v);
            }
            if (mv) {
                out->layout = "MVTec AD";
                for (int i = 0; i < nd && !rc; i++) {
                    char *pd = fmt("%s/%s", path, dirs[i]), *t = fmt("%s/%s/test", path, dirs[i]);
                    if (pd && t && is_dir(t))
                        rc = mvtec_product(out, pd, dirs[i], want_train, want_test);
                    free(pd);
                    free(t);
                }
            } else if (vi) {
                out->layout = "VisA";
                char **objs = malloc((size_t)nd * sizeof *objs);
                int no = 0;
                for (int i = 0; objs && i < nd; i++) {
                    char *v = fmt("%s/%s/Data/Images", path, dirs[i]);
                    if (v && is_dir(v))
                        objs[no++] = dirs[i];
                    free(v);
                }
                rc = objs ? visa_folders(out, path, objs, no, err, cap) : -1;
                free(objs);
                if (!rc)
                    visa_types(out, path);
            } else {
                snprintf(err, cap, "%s: not a labelled set: expected PRODUCT/test/good (MVTec AD, "
                         "MPDD), split_csv/1cls.csv or OBJECT/Data/Images (VisA), or a CSV file",
                         path);
                rc = -1;
            }
            free_list(dirs, nd);
        }
        free(tmp);
        free(test);
    }
    if (!rc) {
        int total = 0;
        for (int i = 0; i < out->n; i++)
            total += out->products[i].n;
        if (!total) {
            snprintf(err, cap, "%s: no image found (%s layout, split %s)", path, out->layout, split);
            rc = -1;
        }
    }
    if (rc) {
        if (!err[0])
            snprintf(err, cap, "%s: out of memory reading the set", path);
        cd_free(out);
    }
    return rc;
}

void cd_free(cd_set *s)
{
    for (int i = 0; i < s->n; i++) {
        cd_product *p = &s->products[i];
        for (int k = 0; k < p->n; k++) {
            free(p->parts[k].image);
            free(p->parts[k].mask);
            free(p->parts[k].type);
            free(p->parts[k].name);
        }
        free(p->parts);
        free(p->name);
    }
    free(s->products);
    memset(s, 0, sizeof *s);
}

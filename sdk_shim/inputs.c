/* Input expansion and result names for insp run. */
#include "inputs.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const insp_result_suffixes[4] = {".json", ".overlay.png", ".anomaly.tif", ".labels.tif"};

#define MAX_DEPTH 64

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int insp_is_image_name(const char *path)
{
    static const char *const ext[] = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t k = strlen(ext[i]);
        if (n > k && strcasecmp(path + n - k, ext[i]) == 0 && path[n - k - 1] != '/')
            return 1;
    }
    return 0;
}

/* Growable list of raw entries before names are given. */
typedef struct list {
    insp_input *items;
    int count, cap;
} list;

/* root: the folder given on the command line that path was found in, or NULL for a file given
 * itself; kept in .name until names are given. */
static int push(list *l, const char *path, const char *root, char *err, size_t cap)
{
    if (l->count == l->cap) {
        int nc = l->cap ? l->cap * 2 : 64;
        insp_input *p = realloc(l->items, sizeof *p * (size_t)nc);
        if (!p)
            return fail(err, cap, "out of memory listing inputs");
        l->items = p;
        l->cap = nc;
    }
    char *s = strdup(path), *r = root ? strdup(root) : NULL;
    if (!s || (root && !r)) {
        free(s);
        free(r);
        return fail(err, cap, "out of memory listing inputs");
    }
    l->items[l->count].path = s;
    l->items[l->count].name = r;
    l->count++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int excluded(const char *rel, const char *const *ex, int n)
{
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    for (int i = 0; i < n; i++)
        if (fnmatch(ex[i], rel, 0) == 0 || fnmatch(ex[i], base, 0) == 0)
            return 1;
    return 0;
}

/* Adds the images below dir (path as given joined with rel) in sorted order. */
static int walk(list *l, const char *root, const char *rel, int depth, const char *const *ex,
                int n_ex, int *skipped, char *err, size_t cap)
{
    char dirpath[PATH_MAX];
    if (snprintf(dirpath, sizeof dirpath, "%s%s%s", root, rel[0] ? "/" : "", rel) >= (int)sizeof dirpath)
        return fail(err, cap, "%s/%s: path too long", root, rel);
    if (depth > MAX_DEPTH)
        return fail(err, cap, "%s: folders nested deeper than %d levels", dirpath, MAX_DEPTH);
    DIR *d = opendir(dirpath);
    if (!d)
        return fail(err, cap, "%s: cannot read folder: %s", dirpath, strerror(errno));
    char **names = NULL;
    size_t n = 0, capn = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == capn) {
            capn = capn ? capn * 2 : 64;
            char **p = realloc(names, sizeof *p * capn);
            if (!p) {
                rc = fail(err, cap, "out of memory listing %s", dirpath);
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = fail(err, cap, "out of memory listing %s", dirpath);
            break;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char sub[PATH_MAX], full[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", names[i]) >= (int)sizeof sub ||
            snprintf(full, sizeof full, "%s/%s", dirpath, names[i]) >= (int)sizeof full) {
            rc = fail(err, cap, "%s/%s: path too long", dirpath, names[i]);
            break;
        }
        struct stat st;
        if (lstat(full, &st) != 0)
            continue;   /* vanished meanwhile */
        if (S_ISDIR(st.st_mode)) {
            rc = walk(l, root, sub, depth + 1, ex, n_ex, skipped, err, cap);
            continue;
        }
        if (S_ISLNK(st.st_mode) && stat(full, &st) != 0)
            st.st_mode = 0;   /* dangling link */
        if (!S_ISREG(st.st_mode) || !insp_is_image_name(names[i]) || excluded(sub, ex, n_ex)) {
            (*skipped)++;
            continue;
        }
        rc = push(l, full, root, err, cap);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* Absolute path of p with ".", "..", "//" resolved lexically (symbolic links are not
 * resolved: the names follow what the user typed). Owned result. */
static char *absolute(const char *p)
{
    char cwd[PATH_MAX] = "";
    if (p[0] != '/' && !getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, "/");
    size_t n = strlen(cwd) + strlen(p) + 3;
    char *joined = malloc(n), *out = malloc(n);
    if (!joined || !out) {
        free(joined);
        free(out);
        return NULL;
    }
    snprintf(joined, n, "%s/%s", cwd, p);
    size_t len = 0;
    for (char *s = joined; *s;) {
        while (*s == '/')
            s++;
        char *e = s;
        while (*e && *e != '/')
            e++;
        size_t k = (size_t)(e - s);
        if (k == 0 || (k == 1 && s[0] == '.')) {
        } else if (k == 2 && s[0] == '.' && s[1] == '.') {
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
        } else {
            out[len++] = '/';
            memcpy(out + len, s, k);
            len += k;
        }
        s = e;
    }
    if (len == 0)
        out[len++] = '/';
    out[len] = '\0';
    free(joined);
    return out;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether s is in the sorted array v[0..n). */
static int in_sorted(char **v, size_t n, const char *s)
{
    return n && bsearch(&s, v, n, sizeof *v, cmp_str) != NULL;
}

static char **sort_abs;   /* qsort has no context argument; used only inside name_all */

static int by_abs_then_index(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    int c = strcmp(sort_abs[i], sort_abs[j]);
    return c ? c : (i > j) - (i < j);
}

/* Gives every entry its name; drops repeated files. */
static int name_all(list *l, int *duplicates, char *err, size_t cap)
{
    char **abs = calloc((size_t)l->count + 1, sizeof *abs);
    if (!abs)
        return fail(err, cap, "out of memory naming inputs");
    int rc = 0;
    for (int i = 0; i < l->count && rc == 0; i++)
        if (!(abs[i] = absolute(l->items[i].path)))
            rc = fail(err, cap, "out of memory naming inputs");
    /* Drop repeats of the same file (same lexical absolute path), keeping the first. */
    int *order = rc == 0 ? malloc(sizeof *order * ((size_t)l->count + 1)) : NULL;
    char *dup = rc == 0 ? calloc((size_t)l->count + 1, 1) : NULL;
    if (rc == 0 && (!order || !dup))
        rc = fail(err, cap, "out of memory naming inputs");
    if (rc == 0) {
        for (int i = 0; i < l->count; i++)
            order[i] = i;
        sort_abs = abs;
        qsort(order, (size_t)l->count, sizeof *order, by_abs_then_index);
        for (int i = 1; i < l->count; i++)
            if (strcmp(abs[order[i]], abs[order[i - 1]]) == 0)
                dup[order[i]] = 1;
        int kept = 0;
        for (int i = 0; i < l->count; i++) {
            if (dup[i]) {
                (*duplicates)++;
                free(l->items[i].path);
                free(abs[i]);
                continue;
            }
            l->items[kept] = l->items[i];
            abs[kept++] = abs[i];
        }
        l->count = kept;
    }
    free(order);
    free(dup);
    /* The deepest folder holding every input's root: a folder given on the command line, or
     * the folder of a file given itself. */
    size_t base = 0;
    char *common = NULL;
    for (int i = 0; i < l->count && rc == 0; i++) {
        char *root;
        if (l->items[i].name) {
            root = absolute(l->items[i].name);
        } else {
            root = strdup(abs[i]);
            if (root)
                *strrchr(root, '/') = '\0';
        }
        free(l->items[i].name);
        l->items[i].name = NULL;
        if (!root) {
            rc = fail(err, cap, "out of memory naming inputs");
            break;
        }
        if (strcmp(root, "/") == 0)
            root[0] = '\0';   /* names start after "<root>/" */
        if (!common) {
            common = root;
            continue;
        }
        size_t k = 0;
        while (common[k] && common[k] == root[k])
            k++;
        /* keep whole folder names only: "/a/bc" and "/a/bd" share "/a" */
        if (!(common[k] == '\0' && (root[k] == '/' || root[k] == '\0')) &&
            !(root[k] == '\0' && common[k] == '/')) {
            while (k > 0 && common[k] != '/')
                k--;
        }
        common[k] = '\0';
        free(root);
    }
    if (common)
        base = strlen(common) + 1;   /* the name starts after "<common>/" */
    free(common);
    for (int i = 0; i < l->count; i++) {
        free(l->items[i].name);
        l->items[i].name = NULL;
    }
    for (int i = 0; i < l->count && rc == 0; i++)
        if (!(l->items[i].name = strdup(abs[i] + base)))
            rc = fail(err, cap, "out of memory naming inputs");
    /* Collisions: a result file equal to a run file, or to a folder some other result needs. */
    char **dirs = NULL;
    size_t nd = 0;
    if (rc == 0) {
        size_t total = 2;
        for (int i = 0; i < l->count; i++)
            for (const char *s = l->items[i].name; *s; s++)
                total += *s == '/';
        dirs = calloc(total, sizeof *dirs);
        if (!dirs)
            rc = fail(err, cap, "out of memory naming inputs");
        for (int i = 0; i < l->count && rc == 0; i++) {
            const char *nm = l->items[i].name;
            for (const char *s = strchr(nm, '/'); s && rc == 0; s = strchr(s + 1, '/'))
                if (!(dirs[nd++] = strndup(nm, (size_t)(s - nm))))
                    rc = fail(err, cap, "out of memory naming inputs");
        }
        if (rc == 0 && nd)
            qsort(dirs, nd, sizeof *dirs, cmp_str);
    }
    if (rc == 0 && (in_sorted(dirs, nd, INSP_SUMMARY_JSON) || in_sorted(dirs, nd, INSP_SUMMARY_CSV)))
        rc = fail(err, cap, "an input folder is named %s or %s, the run's own files; rename it",
                  INSP_SUMMARY_JSON, INSP_SUMMARY_CSV);
    for (int i = 0; i < l->count && rc == 0; i++)
        for (int k = 0; k < 4 && rc == 0; k++) {
            char f[PATH_MAX];
            snprintf(f, sizeof f, "%s%s", l->items[i].name, insp_result_suffixes[k]);
            if (strcmp(f, INSP_SUMMARY_JSON) == 0 || strcmp(f, INSP_SUMMARY_CSV) == 0)
                rc = fail(err, cap, "%s: its results would be named %s, the run's own file; "
                          "rename it (give it an extension, e.g. .png)", l->items[i].path, f);
            else if (in_sorted(dirs, nd, f))
                rc = fail(err, cap, "%s: its result %s would have the name of an input folder; "
                          "rename one of them", l->items[i].path, f);
        }
    for (size_t i = 0; i < nd; i++)
        free(dirs[i]);
    free(dirs);
    for (int i = 0; i < l->count; i++)
        free(abs[i]);
    free(abs);
    return rc;
}

int insp_inputs_collect(const char *const *args, int n_args, const char *const *excludes,
                        int n_excludes, insp_inputs *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    list l = {0};
    int rc = 0;
    for (int i = 0; i < n_args && rc == 0; i++) {
        struct stat st;
        if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            int before = l.count;
            size_t len = strlen(args[i]);
            char root[PATH_MAX];
            snprintf(root, sizeof root, "%s", args[i]);
            while (len > 1 && root[len - 1] == '/')
                root[--len] = '\0';
            rc = walk(&l, root, "", 0, excludes, n_excludes, &out->skipped, err, err_cap);
            if (rc == 0 && l.count == before)
                rc = fail(err, err_cap, "%s: folder holds no images (*.png *.tif *.tiff *.jpg "
                          "*.jpeg *.bmp%s)", args[i], n_excludes ? " not excluded" : "");
        } else {
            rc = push(&l, args[i], NULL, err, err_cap);
        }
    }
    if (rc == 0)
        rc = name_all(&l, &out->duplicates, err, err_cap);
    out->items = l.items;
    out->count = l.count;
    if (rc != 0)
        insp_inputs_free(out);
    return rc;
}

void insp_inputs_free(insp_inputs *in)
{
    if (!in)
        return;
    for (int i = 0; i < in->count; i++) {
        free(in->items[i].path);
        free(in->items[i].name);
    }
    free(in->items);
    memset(in, 0, sizeof *in);
}

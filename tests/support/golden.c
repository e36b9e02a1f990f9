/* Golden-file access for the parity tests. */
#include "golden.h"

#include <math.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* $var, else `fallback` made absolute (recipes written to temporary folders name these files),
 * resolved once per process; static storage. */
static const char *dir_from(const char *var, const char *fallback, char *buf, size_t cap)
{
    const char *d = getenv(var);
    if (d && *d)
        return d;
    if (!buf[0] && !realpath(fallback, buf))
        snprintf(buf, cap, "%s", fallback);
    return buf;
}

const char *golden_dir(void)
{
    static char buf[PATH_MAX];
    return dir_from("DAPO_GOLDEN", "tests/golden", buf, sizeof buf);
}

const char *models_dir(void)
{
    static char buf[PATH_MAX];
    return dir_from("DAPO_MODELS", "models", buf, sizeof buf);
}

const char *golden_path(const char *rel)
{
    static _Thread_local char bufs[8][1024];
    static _Thread_local int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", golden_dir(), rel);
    return b;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

int npy_load(const char *rel, npy_array *out)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *raw = read_all(golden_path(rel), &len);
    if (!raw) {
        fprintf(stderr, "npy: cannot read %s\n", golden_path(rel));
        return -1;
    }
    if (len < 10 || memcmp(raw, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "npy: %s is not an .npy file\n", rel);
        free(raw);
        return -1;
    }
    size_t hlen, hoff;
    if (raw[6] == 1) {
        hlen = (unsigned char)raw[8] | ((size_t)(unsigned char)raw[9] << 8);
        hoff = 10;
    } else {
        hlen = (unsigned char)raw[8] | ((size_t)(unsigned char)raw[9] << 8) |
               ((size_t)(unsigned char)raw[10] << 16) | ((size_t)(unsigned char)raw[11] << 24);
        hoff = 12;
    }
    if (hoff + hlen > len) {
        free(raw);
        return -1;
    }
    char header[4096];
    size_t hn = hlen < sizeof header - 1 ? hlen : sizeof header - 1;
    memcpy(header, raw + hoff, hn);
    header[hn] = '\0';
    size_t esize;
    if (strstr(header, "'<f4'")) { out->dtype = 'f'; esize = 4; }
    else if (strstr(header, "'<i4'")) { out->dtype = 'i'; esize = 4; }
    else if (strstr(header, "'|u1'")) { out->dtype = 'u'; esize = 1; }
    else {
        fprintf(stderr, "npy: %s has an unsupported dtype: %s\n", rel, header);
        free(raw);
        return -1;
    }
    if (strstr(header, "'fortran_order': True")) {
        free(raw);
        return -1;
    }
    const char *sh = strstr(header, "'shape': (");
    if (!sh) {
        free(raw);
        return -1;
    }
    sh += strlen("'shape': (");
    out->count = 1;
    while (*sh && *sh != ')' && out->ndim < 6) {
        char *end;
        long long v = strtoll(sh, &end, 10);
        if (end == sh)
            break;
        out->shape[out->ndim++] = v;
        out->count *= (size_t)v;
        sh = end;
        while (*sh == ',' || *sh == ' ')
            sh++;
    }
    if (hoff + hlen + out->count * esize > len) {
        fprintf(stderr, "npy: %s is truncated\n", rel);
        free(raw);
        return -1;
    }
    out->data = malloc(out->count * esize + 1);
    memcpy(out->data, raw + hoff + hlen, out->count * esize);
    free(raw);
    return 0;
}

void npy_free(npy_array *a)
{
    free(a->data);
    a->data = NULL;
}

static const dp_json *manifest_files(void);

int golden_has(const char *rel)
{
    return dp_json_get(manifest_files(), rel) != NULL;
}

double golden_atol(const char *rel)
{
    const dp_json *files = manifest_files();
    const dp_json *entry = dp_json_get(files, rel);
    const dp_json *tol = dp_json_get(entry, "tolerance");
    const dp_json *atol = dp_json_get(tol, "atol");
    return atol && atol->type == DP_JSON_NUMBER ? atol->number : -1;
}

static const dp_json *manifest_files(void)
{
    static _Thread_local dp_json *manifest;
    if (!manifest) {
        size_t len;
        char *raw = read_all(golden_path("manifest.json"), &len);
        if (!raw)
            return NULL;
        dp_err err;
        if (dp_json_parse(raw, len, "manifest.json", &manifest, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            manifest = NULL;
        }
        free(raw);
        if (!manifest)
            return NULL;
    }
    return dp_json_get(manifest, "files");
}

cmp_stats compare_f32(const char *name, const float *mine, const float *golden, size_t n)
{
    cmp_stats s = { 0, 0, 0, 0, n };
    for (size_t i = 0; i < n; i++) {
        double g = golden[i], d = fabs((double)mine[i] - g);
        if (isnan(mine[i]))
            d = INFINITY;
        if (fabs(g) > s.max_golden)
            s.max_golden = fabs(g);
        if (d > s.max_abs) {
            s.max_abs = d;
            s.worst_index = i;
        }
    }
    /* relative to the array's largest magnitude: per-element relative error blows up near 0 */
    s.max_rel = s.max_golden > 0 ? s.max_abs / s.max_golden : s.max_abs;
    printf("  %-34s n=%-8zu max_abs=%.3e max_rel=%.3e\n", name, n, s.max_abs, s.max_rel);
    return s;
}

int within(const char *name, const float *mine, const float *golden, size_t n, double atol,
           double rtol)
{
    cmp_stats s = compare_f32(name, mine, golden, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)mine[i] - golden[i]);
        if (!(d <= atol + rtol * fabs((double)golden[i])))
            bad++;
    }
    if (bad)
        printf("  %s: %zu of %zu elements outside atol=%.3e rtol=%.3e (worst [%zu] %.7g vs %.7g)\n",
               name, bad, n, atol, rtol, s.worst_index, (double)mine[s.worst_index],
               (double)golden[s.worst_index]);
    return bad == 0;
}

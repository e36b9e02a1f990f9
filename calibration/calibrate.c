/* insp-calibrate (see calibration/README.md): scores every part of a labelled set through the
 * plugin (public header and loader only, one tool, the recipe's threads), keeps each result in a
 * cache keyed by recipe content, model files and image content, then per product chooses the
 * thresholds, computes the metrics, writes a calibrated recipe beside the old one, and the
 * report (HTML and JSON). */
#define _GNU_SOURCE
#include "calib.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "imageio.h"
#include "insp_tool.h"
#include "loader.h"

#define SCORING_PIXEL "1e-30"     /* the scoring tool's pixel threshold: every pixel typed */

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *xfmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *xfmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static int mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0777) && errno != EEXIST ? -1 : 0;
}

/* ---------- content hash: two independent 64-bit lanes, streamed ---------- */

typedef struct hstate { uint64_t a, b, n; uint8_t tail[8]; int nt; } hstate;

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static void h_init(hstate *h, uint64_t seed)
{
    h->a = seed ^ 0x9E3779B185EBCA87ull;
    h->b = ~seed ^ 0xC2B2AE3D27D4EB4Full;
    h->n = 0;
    h->nt = 0;
}

static void h_word(hstate *h, uint64_t w)
{
    h->a = rotl(h->a ^ (w * 0xC2B2AE3D27D4EB4Full), 31) * 0x9E3779B185EBCA87ull;
    h->b = rotl(h->b ^ (w * 0x165667B19E3779F9ull), 27) * 0x85EBCA77C2B2AE63ull;
}

static void h_add(hstate *h, const void *data, size_t n)
{
    const uint8_t *p = data;
    h->n += n;
    while (n && h->nt) {
        h->tail[h->nt++] = *p++;
        n--;
        if (h->nt == 8) {
            uint64_t w;
            memcpy(&w, h->tail, 8);
            h_word(h, w);
            h->nt = 0;
        }
    }
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h_word(h, w);
    }
    while (n--)
        h->tail[h->nt++] = *p++;
}

static uint64_t fmix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    return k ^ (k >> 33);
}

static void h_hex(hstate *h, char out[33])
{
    uint64_t w = 0;
    memcpy(&w, h->tail, (size_t)h->nt);
    h_word(h, w ^ h->n);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)fmix(h->a ^ rotl(h->b, 17)),
             (unsigned long long)fmix(h->b + h->a * 31));
}

static int h_file(hstate *h, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static uint8_t buf[1 << 20];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h_add(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}

/* ---------- cache: one file per part ---------- */

#define CACHE_MAGIC "DAPOCAL1"

typedef struct cache_head {
    char magic[8];
    int32_t w, h, rx, ry;
    float score;
    double ms;
} cache_head;

static char *cache_path(const cal_run *r, const char *cache_dir, const char *key)
{
    (void)r;
    return xfmt("%s/%s.bin", cache_dir, key);
}

static int cache_write(const char *path, const cache_head *hd, const float *map, const uint16_t *types)
{
    size_t n = (size_t)hd->w * (size_t)hd->h, raw = n * 6;
    uint8_t *buf = malloc(raw);
    uLongf clen = compressBound(raw);
    uint8_t *z = malloc(clen);
    int rc = -1;
    if (buf && z) {
        memcpy(buf, map, n * 4);
        memcpy(buf + n * 4, types, n * 2);
        if (compress2(z, &clen, buf, raw, 1) == Z_OK) {
            char *tmp = xfmt("%s.tmp%d", path, (int)getpid());
            FILE *f = tmp ? fopen(tmp, "wb") : NULL;
            if (f) {
                uint64_t cl = clen;
                int ok = fwrite(hd, sizeof *hd, 1, f) == 1 && fwrite(&cl, 8, 1, f) == 1 &&
                         fwrite(z, 1, clen, f) == clen;
                ok &= fclose(f) == 0;
                if (ok && rename(tmp, path) == 0)
                    rc = 0;
                else
                    unlink(tmp);
            }
            free(tmp);
        }
    }
    free(buf);
    free(z);
    return rc;
}

/* Reads the header, and the maps when map/types are not NULL (malloc'ed). */
static int cache_read(const char *path, cache_head *hd, float **map, uint16_t **types)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint64_t cl = 0;
    int rc = -1;
    if (fread(hd, sizeof *hd, 1, f) == 1 && memcmp(hd->magic, CACHE_MAGIC, 8) == 0 &&
        hd->w > 0 && hd->h > 0 && (int64_t)hd->w * hd->h <= ((int64_t)1 << 30) &&
        fread(&cl, 8, 1, f) == 1 && cl < ((uint64_t)1 << 34)) {
        if (!map) {
            rc = 0;
        } else {
            size_t n = (size_t)hd->w * (size_t)hd->h;
            uLongf raw = n * 6;
            uint8_t *z = malloc(cl), *buf = malloc(raw);
            *map = malloc(n * 4);
            *types = malloc(n * 2);
            if (z && buf && *map && *types && fread(z, 1, cl, f) == cl &&
                uncompress(buf, &raw, z, cl) == Z_OK && raw == n * 6) {
                memcpy(*map, buf, n * 4);
                memcpy(*types, buf + n * 4, n * 2);
                rc = 0;
            } else {
                free(*map);
                free(*types);
                *map = NULL;
                *types = NULL;
            }
            free(z);
            free(buf);
        }
    }
    fclose(f);
    return rc;
}

/* ---------- the plugin ---------- */

static void host_log(void *user, int32_t level, const char *msg)
{
    (void)user;
    if (level <= INSP_LOG_WARN)
        fprintf(stderr, "insp-calibrate: plugin: %s\n", msg);
}

static insp_image view_of(const io_image *im)
{
    insp_image v;
    memset(&v, 0, sizeof v);
    v.struct_size = sizeof v;
    v.width = im->width;
    v.height = im->height;
    v.channels = im->channels;
    v.pixel = im->pixel == IO_U8 ? INSP_PIX_U8 : im->pixel == IO_U16 ? INSP_PIX_U16 : INSP_PIX_F32;
    v.row_stride = (ptrdiff_t)im->width * im->channels * (ptrdiff_t)io_pixel_bytes(im->pixel);
    v.data = im->data;
    return v;
}

/* Scores one image and writes its cache file. Returns 0, or -1 with a reason in why. */
static int score_part(const insp_api *A, insp_tool *tool, const char *image, const char *cpath,
                      cache_head *hd, char *why, size_t why_cap)
{
    io_image im;
    char err[INSP_ERRBUF_SIZE + 512];
    if (io_read_image(image, &im, err, sizeof err)) {
        snprintf(why, why_cap, "unreadable: %s", err);
        return -1;
    }
    insp_image v = view_of(&im);
    insp_result *res = NULL;
    double t0 = now_s();
    insp_status st = A->tool_process(tool, &v, &res, err, sizeof err);
    double ms = (now_s() - t0) * 1e3;
    io_image_free(&im);
    if (st != INSP_OK) {
        snprintf(why, why_cap, "the plugin refused it (%s): %s", A->status_name(st), err);
        return -1;
    }
    insp_image am, tm;
    memset(&am, 0, sizeof am);
    memset(&tm, 0, sizeof tm);
    am.struct_size = tm.struct_size = sizeof am;
    int rc = -1;
    if (A->result_anomaly_map(res, &am) != INSP_OK || A->result_type_map(res, &tm) != INSP_OK ||
        am.width != tm.width || am.height != tm.height) {
        snprintf(why, why_cap, "the plugin gave no anomaly or type map");
    } else {
        size_t n = (size_t)am.width * (size_t)am.height;
        float *map = malloc(n * 4);
        uint16_t *types = malloc(n * 2);
        if (map && types) {
            for (int y = 0; y < am.height; y++) {
                memcpy(map + (size_t)y * am.width, (const char *)am.data + y * am.row_stride, (size_t)am.width * 4);
                memcpy(types + (size_t)y * am.width, (const char *)tm.data + y * tm.row_stride, (size_t)am.width * 2);
            }
            memcpy(hd->magic, CACHE_MAGIC, 8);
            hd->w = am.width;
            hd->h = am.height;
            hd->rx = am.roi_x;
            hd->ry = am.roi_y;
            hd->score = A->result_score(res);
            hd->ms = ms;
            rc = cache_write(cpath, hd, map, types);
            if (rc)
                snprintf(why, why_cap, "cannot write the cache file %s: %s", cpath, strerror(errno));
        } else {
            snprintf(why, why_cap, "out of memory");
        }
        free(map);
        free(types);
    }
    A->result_release(res);
    return rc;
}

/* ---------- decisions as the plugin makes them ---------- */

/* Defective pixels under thresholds T: map > T.type[type] (or T.pixel). */
static void defective(const float *map, const uint16_t *types, size_t n, const cal_thresholds *T,
                      uint8_t *out)
{
    for (size_t p = 0; p < n; p++) {
        int k = types[p];
        float t = k >= 1 && k < CAL_MAX_CLASSES && T->type[k] > 0 ? T->type[k] : T->pixel;
        out[p] = k >= 1 && map[p] > t;
    }
}

/* Kept regions of a part (8-connected components of defective pixels with area >= min_area):
 * their count; lab (w*h) holds the component of each pixel, keep[c] whether component c is kept
 * (keep has room for w*h/1 + 1 entries: allocated here, caller frees). */
static int regions(const float *map, const uint16_t *types, int w, int h, const cal_thresholds *T,
                   int32_t *lab, uint8_t *scratch, uint8_t **keep_out, int64_t **area_out)
{
    size_t n = (size_t)w * (size_t)h;
    defective(map, types, n, T, scratch);
    int nc = cm_components(scratch, w, h, lab);
    if (nc < 0)
        return -1;
    int64_t *area = calloc((size_t)nc + 1, sizeof *area);
    uint8_t *keep = calloc((size_t)nc + 1, 1);
    if (!area || !keep) {
        free(area);
        free(keep);
        return -1;
    }
    for (size_t p = 0; p < n; p++)
        area[lab[p]]++;
    int kept = 0;
    for (int c = 1; c <= nc; c++)
        if (area[c] >= T->min_area) {
            keep[c] = 1;
            kept++;
        }
    if (keep_out)
        *keep_out = keep;
    else
        free(keep);
    if (area_out)
        *area_out = area;
    else
        free(area);
    return kept;
}

/* ---------- threshold cuts ---------- */

/* Image: NG when score >= t. Keeps a OK and b NG (b > a; b NaN = none above). */
static float cut_img(float a, float b)
{
    if (isnan(b)) {
        float t = nextafterf(a, 2.0f);
        return t < 1.0f ? t : nextafterf(1.0f, 0.0f);
    }
    float m = (float)(((double)a + (double)b) / 2);
    if (m <= a || m > b)
        m = b;
    return m;
}

/* Pixel: defective when value > t. Keeps a clean and b defective (b NaN = none above). */
static float cut_px(float a, float b)
{
    float m = a;
    if (!isnan(b)) {
        m = (float)(((double)a + (double)b) / 2);
        if (m < a || m >= b)
            m = a;
    }
    if (m <= 0)
        m = 1e-6f;
    if (m >= 4.0f)
        m = nextafterf(4.0f, 0.0f);
    return m;
}

static int cmp_float_desc(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return a < b ? 1 : a > b ? -1 : 0;
}

static int cmp_float_asc(const void *x, const void *y)
{
    return -cmp_float_desc(x, y);
}

/* Smallest value in v[0..n) greater than a (NaN if none). */
static float next_above(const float *v, int n, float a)
{
    float b = NAN;
    for (int i = 0; i < n; i++)
        if (v[i] > a && (isnan(b) || v[i] < b))
            b = v[i];
    return b;
}

/* ---------- resampling for the reference protocol ---------- */

/* PyTorch bilinear with align_corners=True: src = dst * (in-1)/(out-1) in float. */
static void resize_map(const float *in, int iw, int ih, float *out, int ow, int oh)
{
    float sx = ow > 1 ? (float)(iw - 1) / (float)(ow - 1) : 0, sy = oh > 1 ? (float)(ih - 1) / (float)(oh - 1) : 0;
    for (int y = 0; y < oh; y++) {
        float fy = sy * (float)y;
        int y0 = (int)fy;
        if (y0 > ih - 1)
            y0 = ih - 1;
        int y1 = y0 < ih - 1 ? y0 + 1 : y0;
        float ly = fy - (float)y0;
        for (int x = 0; x < ow; x++) {
            float fx = sx * (float)x;
            int x0 = (int)fx;
            if (x0 > iw - 1)
                x0 = iw - 1;
            int x1 = x0 < iw - 1 ? x0 + 1 : x0;
            float lx = fx - (float)x0;
            const float *r0 = in + (size_t)y0 * iw, *r1 = in + (size_t)y1 * iw;
            out[(size_t)y * ow + x] = (1 - ly) * ((1 - lx) * r0[x0] + lx * r0[x1]) + ly * ((1 - lx) * r1[x0] + lx * r1[x1]);
        }
    }
}

static void resize_types(const uint16_t *in, int iw, int ih, uint16_t *out, int ow, int oh)
{
    for (int y = 0; y < oh; y++) {
        int sy = oh > 1 ? (int)lround((double)y * (ih - 1) / (oh - 1)) : 0;
        for (int x = 0; x < ow; x++) {
            int sx = ow > 1 ? (int)lround((double)x * (iw - 1) / (ow - 1)) : 0;
            out[(size_t)y * ow + x] = in[(size_t)sy * iw + sx];
        }
    }
}

/* Pillow's BILINEAR resize of an 8-bit single-channel image (antialiased triangle filter,
 * 22-bit fixed point, horizontal pass then vertical), as torchvision's Resize of a PIL mask. */
static void pil_coeffs(int in, int out, int *lo, int *cnt, int32_t *k, int ksz)
{
    double scale = (double)in / out, fs = scale < 1 ? 1 : scale, support = 1.0 * fs, ss = 1.0 / fs;
    double wbuf[4096];
    for (int xx = 0; xx < out; xx++) {
        double center = (xx + 0.5) * scale;
        int xmin = (int)(center - support + 0.5), xmax;
        if (xmin < 0)
            xmin = 0;
        xmax = (int)(center + support + 0.5);
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        if (xmax > ksz)
            xmax = ksz;
        double ww = 0;
        for (int x = 0; x < xmax; x++) {
            double t = (x + xmin - center + 0.5) * ss;
            t = t < 0 ? -t : t;
            wbuf[x] = t < 1 ? 1 - t : 0;
            ww += wbuf[x];
        }
        for (int x = 0; x < xmax; x++) {
            double w = ww != 0 ? wbuf[x] / ww : wbuf[x];
            k[(size_t)xx * ksz + x] = w < 0 ? (int32_t)(-0.5 + w * (1 << 22)) : (int32_t)(0.5 + w * (1 << 22));
        }
        lo[xx] = xmin;
        cnt[xx] = xmax;
    }
}

static uint8_t clip8(int32_t v)
{
    if (v >= (1 << 22 << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> 22);
}

static int pil_bilinear(const uint8_t *in, int iw, int ih, uint8_t *out, int ow, int oh)
{
    int kx = (int)ceil((iw > ow ? (double)iw / ow : 1.0)) * 2 + 1, ky = (int)ceil((ih > oh ? (double)ih / oh : 1.0)) * 2 + 1;
    if (kx > 4096 || ky > 4096)
        return -1;
    uint8_t *tmp = malloc((size_t)ow * ih);
    int *lo = malloc(sizeof(int) * (size_t)(ow + oh) * 2);
    int32_t *k = malloc(sizeof(int32_t) * ((size_t)ow * kx + (size_t)oh * ky));
    if (!tmp || !lo || !k) {
        free(tmp), free(lo), free(k);
        return -1;
    }
    int *cnt = lo + ow, *loy = cnt + ow, *cnty = loy + oh;
    int32_t *ky_ = k + (size_t)ow * kx;
    if (iw != ow) {
        pil_coeffs(iw, ow, lo, cnt, k, kx);
        for (int y = 0; y < ih; y++)
            for (int x = 0; x < ow; x++) {
                int32_t acc = 1 << 21;
                for (int i = 0; i < cnt[x]; i++)
                    acc += in[(size_t)y * iw + lo[x] + i] * k[(size_t)x * kx + i];
                tmp[(size_t)y * ow + x] = clip8(acc);
            }
    } else {
        memcpy(tmp, in, (size_t)iw * ih);
    }
    if (ih != oh) {
        pil_coeffs(ih, oh, loy, cnty, ky_, ky);
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                int32_t acc = 1 << 21;
                for (int i = 0; i < cnty[y]; i++)
                    acc += tmp[(size_t)(loy[y] + i) * ow + x] * ky_[(size_t)y * ky + i];
                out[(size_t)y * ow + x] = clip8(acc);
            }
    } else {
        memcpy(out, tmp, (size_t)ow * oh);
    }
    free(tmp), free(lo), free(k);
    return 0;
}

/* ---------- per product ---------- */

typedef struct pdata {        /* one part's maps while its product is analysed */
    float *map;
    uint16_t *types;
    uint8_t *mask;            /* ROI-sized 0/1, NULL = none (good parts: all 0) */
    uint8_t *mask255;         /* ROI-sized 0/255 for the reference resize */
} pdata;

static void norm_name(const char *in, char *out, size_t cap)
{
    size_t j = 0;
    for (; *in && j + 1 < cap; in++) {
        char c = (char)tolower((unsigned char)*in);
        out[j++] = c == '_' || c == '-' ? ' ' : c;
    }
    out[j] = 0;
}

static int match_class(const cal_run *r, const char *type)
{
    if (!type)
        return -1;
    char t[128], c[128];
    norm_name(type, t, sizeof t);
    for (int k = 1; k < r->n_classes; k++) {
        norm_name(r->class_name[k], c, sizeof c);
        if (!strcmp(t, c))
            return k;
    }
    for (int k = 1; k < r->n_classes; k++) {   /* MVTec style: "broken_large" -> "broken" */
        norm_name(r->class_name[k], c, sizeof c);
        size_t n = strlen(c);
        if (!strncmp(t, c, n) && t[n] == ' ')
            return k;
    }
    return -1;
}

/* Thumbnail of a part: the ROI at most 180 px wide, defective pixels (chosen thresholds) tinted
 * red, ground-truth mask outline yellow. PNG as base64. */
static char *thumbnail(const cd_part *cp, const cal_part *pp, const pdata *d, const cal_thresholds *T)
{
    io_image raw, rgb;
    char err[600];
    if (io_read_image(cp->image, &raw, err, sizeof err))
        return NULL;
    int ok = io_to_rgb8(&raw, &rgb, err, sizeof err) == 0;
    io_image_free(&raw);
    if (!ok)
        return NULL;
    int w = pp->w, h = pp->h, side = w > h ? w : h;
    double s = side > 180 ? 180.0 / side : 1.0;
    int tw = (int)(w * s) > 0 ? (int)(w * s) : 1, th = (int)(h * s) > 0 ? (int)(h * s) : 1;
    uint8_t *t = malloc((size_t)tw * th * 3), *def = malloc((size_t)w * h);
    char *b64 = NULL;
    if (t && def) {
        defective(d->map, d->types, (size_t)w * h, T, def);
        const uint8_t *src = rgb.data;
        for (int y = 0; y < th; y++)
            for (int x = 0; x < tw; x++) {
                int sx = (int)((x + 0.5) / s), sy = (int)((y + 0.5) / s);
                sx = sx < w ? sx : w - 1;
                sy = sy < h ? sy : h - 1;
                size_t mp = (size_t)sy * w + sx;
                const uint8_t *p = src + (((size_t)(sy + pp->ry)) * rgb.width + (size_t)(sx + pp->rx)) * 3;
                uint8_t *q = t + ((size_t)y * tw + x) * 3;
                q[0] = p[0], q[1] = p[1], q[2] = p[2];
                if (def[mp]) {
                    q[0] = (uint8_t)((q[0] + 2 * 230) / 3);
                    q[1] = (uint8_t)(q[1] / 3);
                    q[2] = (uint8_t)(q[2] / 3);
                }
                if (d->mask && d->mask[mp]) {
                    /* outline: a mask pixel with a non-mask neighbour one thumbnail pixel away */
                    int step = (int)(1 / s) > 0 ? (int)(1 / s) : 1, edge = 0;
                    const int dx[4] = { -step, step, 0, 0 }, dy[4] = { 0, 0, -step, step };
                    for (int k = 0; k < 4; k++) {
                        int nx = sx + dx[k], ny = sy + dy[k];
                        edge |= nx < 0 || ny < 0 || nx >= w || ny >= h || !d->mask[(size_t)ny * w + nx];
                    }
                    if (edge)
                        q[0] = 255, q[1] = 220, q[2] = 0;
                }
            }
        size_t n;
        uint8_t *png = cal_png(t, tw, th, &n);
        if (png)
            b64 = cal_base64(png, n);
        free(png);
    }
    free(t);
    free(def);
    io_image_free(&rgb);
    return b64;
}

/* Loads a mask for part pp (ROI crop), 0 and -1 (mismatch: reason in pp->problem). */
static int load_mask(const cd_part *cp, cal_part *pp, pdata *d)
{
    io_image m;
    char err[600];
    if (io_read_image(cp->mask, &m, err, sizeof err)) {
        pp->problem = xfmt("mask unreadable: %s", err);
        return -1;
    }
    io_image g;
    int rc = -1;
    if (io_to_rgb8(&m, &g, err, sizeof err) == 0) {
        if (pp->rx + pp->w > g.width || pp->ry + pp->h > g.height) {
            pp->problem = xfmt("mask %dx%d does not match the image (its map covers x %d..%d, y %d..%d)",
                               g.width, g.height, pp->rx, pp->rx + pp->w - 1, pp->ry, pp->ry + pp->h - 1);
        } else {
            size_t n = (size_t)pp->w * pp->h;
            d->mask = malloc(n);
            d->mask255 = malloc(n);
            if (d->mask && d->mask255) {
                for (int y = 0; y < pp->h; y++)
                    for (int x = 0; x < pp->w; x++) {
                        const uint8_t *q = (const uint8_t *)g.data + (((size_t)(y + pp->ry)) * g.width + (size_t)(x + pp->rx)) * 3;
                        int on = q[0] || q[1] || q[2];
                        d->mask[(size_t)y * pp->w + x] = (uint8_t)on;
                        d->mask255[(size_t)y * pp->w + x] = on ? 255 : 0;
                    }
                rc = 0;
            }
        }
        io_image_free(&g);
    }
    io_image_free(&m);
    return rc;
}

/* Ground-truth regions detected under thresholds T (a kept region overlaps them). */
static int detected_regions(const cal_product *P, pdata *D, const cal_thresholds *T, int *gt_total)
{
    int found = 0;
    *gt_total = 0;
    for (int i = 0; i < P->set->n; i++) {
        const cal_part *pp = &P->parts[i];
        if (!pp->scored || !P->set->parts[i].bad || !D[i].mask)
            continue;
        size_t n = (size_t)pp->w * pp->h;
        int32_t *lab = malloc(n * 4), *glab = malloc(n * 4);
        uint8_t *scr = malloc(n), *keep = NULL;
        if (lab && glab && scr && regions(D[i].map, D[i].types, pp->w, pp->h, T, lab, scr, &keep, NULL) >= 0) {
            int ng = cm_components(D[i].mask, pp->w, pp->h, glab);
            uint8_t *hit = calloc((size_t)(ng > 0 ? ng : 0) + 1, 1);
            for (size_t p = 0; hit && p < n; p++)
                if (glab[p] && lab[p] && keep[lab[p]])
                    hit[glab[p]] = 1;
            for (int g = 1; hit && g <= ng; g++)
                found += hit[g];
            *gt_total += ng > 0 ? ng : 0;
            free(hit);
        }
        free(lab), free(glab), free(scr), free(keep);
    }
    return found;
}

/* Largest region area of a part under T with min_area 0. */
static int64_t largest_region(const cal_part *pp, const pdata *d, const cal_thresholds *T)
{
    size_t n = (size_t)pp->w * pp->h;
    int32_t *lab = malloc(n * 4);
    uint8_t *scr = malloc(n);
    int64_t *area = NULL, best = 0;
    cal_thresholds t0 = *T;
    t0.min_area = 0;
    int nc = lab && scr ? regions(d->map, d->types, pp->w, pp->h, &t0, lab, scr, NULL, &area) : -1;
    for (int c = 1; c <= nc; c++)
        best = area[c] > best ? area[c] : best;
    free(lab), free(scr), free(area);
    return best;
}

/* Smallest area of a kept region that overlaps a ground-truth region (0 if none). */
static int64_t smallest_true_region(const cal_product *P, pdata *D, const cal_thresholds *T)
{
    int64_t best = 0;
    cal_thresholds t0 = *T;
    t0.min_area = 0;
    for (int i = 0; i < P->set->n; i++) {
        const cal_part *pp = &P->parts[i];
        if (!pp->scored || !D[i].mask)
            continue;
        size_t n = (size_t)pp->w * pp->h;
        int32_t *lab = malloc(n * 4);
        uint8_t *scr = malloc(n);
        int64_t *area = NULL;
        int nc = lab && scr ? regions(D[i].map, D[i].types, pp->w, pp->h, &t0, lab, scr, NULL, &area) : -1;
        uint8_t *hit = nc >= 0 ? calloc((size_t)nc + 1, 1) : NULL;
        for (size_t p = 0; hit && p < n; p++)
            if (lab[p] && D[i].mask[p])
                hit[lab[p]] = 1;
        for (int c = 1; hit && c <= nc; c++)
            if (hit[c] && (best == 0 || area[c] < best))
                best = area[c];
        free(hit), free(lab), free(scr), free(area);
    }
    return best;
}

static int decide(const cal_part *pp, const pdata *d, const cal_thresholds *T, int *n_regions)
{
    size_t n = (size_t)pp->w * pp->h;
    int32_t *lab = malloc(n * 4);
    uint8_t *scr = malloc(n);
    int kept = lab && scr ? regions(d->map, d->types, pp->w, pp->h, T, lab, scr, NULL, NULL) : 0;
    free(lab), free(scr);
    if (n_regions)
        *n_regions = kept;
    return pp->score >= T->image || kept > 0;
}

/* Metrics of one protocol (ref = 518 x 518 maps and masks). */
static void protocol_metrics(cal_run *r, cal_product *P, pdata *D, int ref, cal_protocol *out)
{
    memset(out, 0, sizeof *out);
    cm_scores px;
    cm_scores_init(&px);
    cm_multi mt;
    int multi = P->have_types && cm_multi_init(&mt, r->n_classes) == 0;
    int n = P->set->n, used = 0;
    const float **maps = calloc((size_t)n, sizeof *maps);
    const uint8_t **masks = calloc((size_t)n, sizeof *masks);
    int *ws = calloc((size_t)n, sizeof *ws), *hs = calloc((size_t)n, sizeof *hs);
    float **own_maps = calloc((size_t)n, sizeof *own_maps);
    uint8_t **own_masks = calloc((size_t)n, sizeof *own_masks);
    float sc[CAL_MAX_CLASSES];
    for (int i = 0; maps && masks && ws && hs && own_maps && own_masks && i < n; i++) {
        const cal_part *pp = &P->parts[i];
        int bad = P->set->parts[i].bad;
        if (!pp->scored || (bad && !D[i].mask))
            continue;
        int w = pp->w, h = pp->h;
        const float *map = D[i].map;
        const uint16_t *types = D[i].types;
        uint8_t *mask = NULL;
        uint16_t *rt = NULL;
        if (ref) {
            w = h = CAL_REF_SIZE;
            float *m2 = malloc((size_t)w * h * 4);
            mask = calloc((size_t)w * h, 1);
            rt = malloc((size_t)w * h * 2);
            if (!m2 || !mask || !rt) {
                free(m2), free(mask), free(rt);
                continue;
            }
            resize_map(D[i].map, pp->w, pp->h, m2, w, h);
            resize_types(D[i].types, pp->w, pp->h, rt, w, h);
            if (D[i].mask255) {
                pil_bilinear(D[i].mask255, pp->w, pp->h, mask, w, h);
                for (size_t p = 0; p < (size_t)w * h; p++)
                    mask[p] = mask[p] >= 128;   /* ToTensor / 255 > 0.5 */
            }
            own_maps[i] = m2;
            map = m2;
            types = rt;
        } else {
            mask = calloc((size_t)w * h, 1);
            if (!mask)
                continue;
            if (D[i].mask)
                memcpy(mask, D[i].mask, (size_t)w * h);
        }
        own_masks[i] = mask;
        maps[used] = map;
        masks[used] = mask;
        ws[used] = w;
        hs[used] = h;
        used++;
        int cls = bad ? pp->class_id : 0;
        for (size_t p = 0; p < (size_t)w * h; p++) {
            cm_scores_add(&px, map[p], mask[p]);
            if (multi && (cls >= 1 || !bad)) {
                int k = types[p];
                for (int c = 0; c < r->n_classes; c++)
                    sc[c] = c == 0 ? 4.0f - map[p] : (k == c ? map[p] : 0.0f);
                float t = k >= 1 && P->chosen.type[k] > 0 ? P->chosen.type[k] : P->chosen.pixel;
                cm_multi_add(&mt, sc, mask[p] ? cls : 0, k >= 1 && map[p] > t ? k : 0);
            }
        }
        free(rt);
    }
    out->pixel_parts = used;
    out->pixel_auroc = cm_auroc(&px);
    out->aupro = used ? cm_aupro(maps, masks, ws, hs, (size_t)used, 0.3)
                      : (cm_value){ 0, "no part with a mask and no good part" };
    if (multi) {
        cm_multi_result(&mt, out->class_auroc, out->class_ap, out->class_f1, &out->type_auroc,
                        &out->type_ap, &out->type_f1);
        cm_multi_free(&mt);
    } else {
        out->type_auroc = out->type_ap = out->type_f1 =
            (cm_value){ 0, "no labelled defect type matches the recipe's defects" };
    }
    cm_scores_free(&px);
    for (int i = 0; own_maps && i < n; i++)
        free(own_maps[i]);
    for (int i = 0; own_masks && i < n; i++)
        free(own_masks[i]);
    free(own_maps), free(own_masks), free(maps), free(masks), free(ws), free(hs);
}

static void analyse(cal_run *r, cal_product *P, const char *cache_dir)
{
    cd_product *S = P->set;
    int n = S->n;
    pdata *D = calloc((size_t)n, sizeof *D);
    if (!D)
        return;
    /* the maps and masks of this product */
    for (int i = 0; i < n; i++) {
        cal_part *pp = &P->parts[i];
        if (!pp->scored)
            continue;
        char *cp = cache_path(r, cache_dir, pp->key);
        cache_head hd;
        if (!cp || cache_read(cp, &hd, &D[i].map, &D[i].types)) {
            pp->scored = 0;
            pp->problem = xfmt("its cache file %s could not be read back", cp ? cp : "?");
        }
        free(cp);
        if (pp->scored && S->parts[i].mask && S->parts[i].bad && load_mask(&S->parts[i], pp, &D[i]) == 0)
            pp->has_mask = 1;
        pp->class_id = S->parts[i].bad ? match_class(r, S->parts[i].type) : 0;
        if (pp->scored && S->parts[i].bad && pp->class_id >= 1)
            P->have_types = 1;
        if (pp->scored) {
            float mx = 0;
            for (size_t p = 0; p < (size_t)pp->w * pp->h; p++)
                mx = D[i].map[p] > mx ? D[i].map[p] : mx;
            pp->map_max = mx;
        }
    }
    float *good = malloc(sizeof(float) * (size_t)(n + 1)), *all = malloc(sizeof(float) * (size_t)(n + 1));
    int ng = 0, na = 0;
    cm_scores img;
    cm_scores_init(&img);
    for (int i = 0; i < n; i++) {
        cal_part *pp = &P->parts[i];
        int bad = S->parts[i].bad;
        P->n_good += !bad;
        P->n_bad += bad;
        P->n_problems += pp->problem != NULL;
        if (!pp->scored)
            continue;
        P->n_scored_good += !bad;
        P->n_scored_bad += bad;
        P->n_masks += pp->has_mask;
        if (!bad)
            good[ng++] = pp->score;
        all[na++] = pp->score;
        cm_scores_add(&img, pp->score, bad);
    }
    /* --- metrics: image level --- */
    P->img_auroc = cm_auroc(&img);
    P->img_ap = cm_ap(&img);
    P->img_maxf1 = cm_max_f1(&img, NULL);
    cm_roc_curve(&img, &P->roc_x, &P->roc_y, &P->roc_n);
    cm_pr_curve(&img, &P->pr_x, &P->pr_y, &P->pr_n);

    /* --- image threshold --- */
    P->old.image = r->recipe.image_thr;
    P->old.pixel = r->recipe.pixel_thr;
    P->old.min_area = r->recipe.min_area;
    for (int k = 0; k < CAL_MAX_CLASSES; k++)
        P->old.type[k] = k >= 1 && k - 1 < r->recipe.n_defects ? r->recipe.defect_thr[k - 1] : -1;
    P->chosen = P->old;
    double p = r->frr_target;
    P->needed_resolve = (int)ceil(1.0 / p - 1e-9);
    P->needed_95 = (int)ceil(log(0.05) / log(1.0 - p) - 1e-9);
    int allowed = (int)floor(p * ng + 1e-9);
    P->img_frr = P->img_f1 = P->img_cost = -1;
    if (ng > 0) {
        qsort(good, (size_t)ng, sizeof *good, cmp_float_desc);
        float a = good[allowed < ng ? allowed : ng - 1];
        P->img_frr = cut_img(a, next_above(all, na, a));
    }
    if (P->n_scored_bad > 0 && ng > 0) {
        float tstar = 0;
        cm_max_f1(&img, &tstar);
        float below = NAN;
        for (int i = 0; i < na; i++)
            if (all[i] < tstar && (isnan(below) || all[i] > below))
                below = all[i];
        P->img_f1 = isnan(below) ? tstar : cut_img(below, tstar);
        /* cost: every cut between distinct scores; ties go to the lower threshold */
        float *v = malloc(sizeof(float) * (size_t)na);
        if (v) {
            memcpy(v, all, sizeof(float) * (size_t)na);
            qsort(v, (size_t)na, sizeof *v, cmp_float_asc);
            double best = INFINITY;
            for (int j = 0; j <= na; j++) {
                if (j > 0 && j < na && v[j] == v[j - 1])
                    continue;
                float t = j == 0 ? v[0] : j == na ? cut_img(v[na - 1], NAN) : cut_img(v[j - 1], v[j]);
                double cost = 0;
                for (int i = 0; i < n; i++)
                    if (P->parts[i].scored) {
                        int ngd = P->parts[i].score >= t;
                        cost += S->parts[i].bad ? (!ngd) * r->cost_escape : ngd;
                    }
                if (cost < best) {
                    best = cost;
                    P->img_cost = t;
                }
            }
            free(v);
        }
    }
    const char *rule = r->image_rule;
    float chosen_img = !strcmp(rule, "f1") ? P->img_f1 : !strcmp(rule, "cost") ? P->img_cost : P->img_frr;
    if (chosen_img < 0 && P->img_frr >= 0) {
        rule = "frr";
        chosen_img = P->img_frr;
    }
    P->image_rule = rule;
    if (chosen_img > 0 && chosen_img < 1) {
        P->chosen.image = chosen_img;
        if (!strcmp(rule, "frr"))
            snprintf(P->image_why, sizeof P->image_why,
                     "false-reject target %.3g %% on %d good parts: at most %d of them (floor(%.3g %% x %d)) "
                     "may score at or above it; set halfway between the highest good score kept OK and "
                     "the next higher score%s", p * 100, ng, allowed, p * 100, ng,
                     ng < P->needed_resolve ? "" : "");
        else if (!strcmp(rule, "f1"))
            snprintf(P->image_why, sizeof P->image_why,
                     "best F1 of bad vs good parts (%d good, %d bad): the score with the highest F1, "
                     "halfway down to the next lower score", ng, P->n_scored_bad);
        else
            snprintf(P->image_why, sizeof P->image_why,
                     "least cost on %d good and %d bad parts with an escape costing %.3g false "
                     "rejects (ties: the lower threshold)", ng, P->n_scored_bad, r->cost_escape);
    } else {
        snprintf(P->image_why, sizeof P->image_why, "unchanged: no good part was scored");
    }
    if (ng > 0 && ng < P->needed_95)
        snprintf(P->image_why + strlen(P->image_why), sizeof P->image_why - strlen(P->image_why),
                 ". NOTE: %d good parts cannot support a %.3g %% false-reject rate: it takes %d good "
                 "parts to observe it at all and %d to show it with 95 %% confidence when none is "
                 "rejected (with 0 of %d rejected, the rate is only known to be below %.2g %%)",
                 ng, p * 100, P->needed_resolve, P->needed_95, ng, 100 * (1 - pow(0.05, 1.0 / ng)));

    /* --- pixel threshold, minimum area, per-type thresholds --- */
    int rejected_by_score = 0;
    for (int i = 0; i < n; i++)
        if (P->parts[i].scored && !S->parts[i].bad && P->parts[i].score >= P->chosen.image)
            rejected_by_score++;
    int budget = allowed - rejected_by_score > 0 ? allowed - rejected_by_score : 0;
    /* S = good parts that must stay free of regions */
    uint8_t *clean = calloc((size_t)n, 1);
    int nclean = 0;
    float *mx = malloc(sizeof(float) * (size_t)(n + 1));
    for (int i = 0; clean && i < n; i++)
        if (P->parts[i].scored && !S->parts[i].bad && P->parts[i].score < P->chosen.image) {
            clean[i] = 1;
            nclean++;
        }
    for (int b = 0; b < budget && nclean > 0; b++) {   /* give up the worst good parts */
        int worst = -1;
        for (int i = 0; i < n; i++)
            if (clean[i] && (worst < 0 || P->parts[i].map_max > P->parts[worst].map_max))
                worst = i;
        clean[worst] = 0;
        nclean--;
    }
    int nm = 0;
    for (int i = 0; i < n; i++)
        if (P->parts[i].scored)
            mx[nm++] = P->parts[i].map_max;
    cal_thresholds c1 = P->old;
    for (int k = 0; k < CAL_MAX_CLASSES; k++)
        c1.type[k] = -1;
    if (nclean > 0) {
        float a = 0;
        for (int i = 0; i < n; i++)
            if (clean[i] && P->parts[i].map_max > a)
                a = P->parts[i].map_max;
        c1.pixel = cut_px(a, next_above(mx, nm, a));
        snprintf(P->pixel_why, sizeof P->pixel_why,
                 "the lowest value that keeps %d good parts free of defect pixels (their highest map "
                 "value is %.4g), halfway to the next higher map maximum among all parts%s",
                 nclean, a, budget ? " (the false-reject budget let the parts with the highest maps go)" : "");
        if (P->have_types) {
            /* per type: the same rule on the pixels the model gives that type */
            for (int k = 1; k < r->n_classes; k++) {
                float ak = -1;
                float *vk = malloc(sizeof(float) * (size_t)(n + 1));
                int nv = 0;
                for (int i = 0; i < n; i++) {
                    if (!P->parts[i].scored)
                        continue;
                    float m = -1;
                    for (size_t q = 0; q < (size_t)P->parts[i].w * P->parts[i].h; q++)
                        if (D[i].types[q] == k && D[i].map[q] > m)
                            m = D[i].map[q];
                    if (m < 0)
                        continue;
                    if (vk)
                        vk[nv++] = m;
                    if (clean[i] && m > ak)
                        ak = m;
                }
                if (ak >= 0) {
                    float tk = cut_px(ak, vk ? next_above(vk, nv, ak) : NAN);
                    if (tk < c1.pixel)
                        c1.type[k] = tk;
                }
                free(vk);
            }
            snprintf(P->type_why, sizeof P->type_why,
                     "per defect type the same rule on the pixels the model labels with that type "
                     "(written where it is lower than thresholds.pixel; labelled types: present)");
        }
    } else {
        snprintf(P->pixel_why, sizeof P->pixel_why, "unchanged: no good part left to calibrate on");
    }
    int64_t small = smallest_true_region(P, D, &c1);
    if (P->n_masks > 0 && small > 0) {
        c1.min_area = (int)(small / 2);
        snprintf(P->area_why, sizeof P->area_why,
                 "half the smallest region (%lld px) that overlaps a true defect on %d bad parts with "
                 "masks at these pixel thresholds", (long long)small, P->n_masks);
    } else {
        snprintf(P->area_why, sizeof P->area_why, P->n_masks ? "unchanged: no true defect gives a "
                 "region at these pixel thresholds" : "unchanged: no masks to measure defects on");
    }
    P->detected_c1 = detected_regions(P, D, &c1, &P->gt_regions);
    P->chosen.pixel = c1.pixel;
    P->chosen.min_area = c1.min_area;
    memcpy(P->chosen.type, c1.type, sizeof c1.type);
    /* candidate 2: the pixel F1-best threshold with a minimum area that clears the good parts */
    if (P->n_masks > 0 && nclean > 0) {
        cm_scores pxs;
        cm_scores_init(&pxs);
        for (int i = 0; i < n; i++)
            if (P->parts[i].scored && (!S->parts[i].bad || D[i].mask))
                for (size_t q = 0; q < (size_t)P->parts[i].w * P->parts[i].h; q++)
                    cm_scores_add(&pxs, D[i].map[q], D[i].mask ? D[i].mask[q] : 0);
        float tstar = 0;
        if (!cm_max_f1(&pxs, &tstar).undefined) {
            cal_thresholds c2 = c1;
            for (int k = 0; k < CAL_MAX_CLASSES; k++)
                c2.type[k] = -1;
            c2.pixel = cut_px(nextafterf(tstar, 0.0f), NAN);
            int64_t big = 0;
            for (int i = 0; i < n; i++)
                if (clean[i]) {
                    int64_t a = largest_region(&P->parts[i], &D[i], &c2);
                    big = a > big ? a : big;
                }
            c2.min_area = big + 1 < 100000000 ? (int)big + 1 : 100000000;
            int gt;
            P->detected_c2 = detected_regions(P, D, &c2, &gt);
            if (P->detected_c2 > P->detected_c1) {
                P->used_c2 = 1;
                P->chosen.pixel = c2.pixel;
                P->chosen.min_area = c2.min_area;
                memcpy(P->chosen.type, c2.type, sizeof c2.type);
                snprintf(P->pixel_why, sizeof P->pixel_why,
                         "the best pixel F1 over %d parts' masks (map >= %.4g), which finds %d of %d "
                         "true defect regions where keeping every good pixel clean finds %d",
                         P->n_masks + P->n_scored_good, tstar, P->detected_c2, P->gt_regions, P->detected_c1);
                snprintf(P->area_why, sizeof P->area_why,
                         "one more than the largest region (%lld px) any of %d good parts shows at that "
                         "pixel threshold", (long long)big, nclean);
                P->type_why[0] = 0;
            }
        }
        cm_scores_free(&pxs);
    }
    for (int k = 1; k < r->n_classes; k++)
        P->per_type_written += P->chosen.type[k] > 0;

    /* --- decisions before and after --- */
    for (int i = 0; i < n; i++) {
        cal_part *pp = &P->parts[i];
        if (!pp->scored)
            continue;
        pp->ng_old = decide(pp, &D[i], &P->old, NULL);
        pp->ng_new = decide(pp, &D[i], &P->chosen, &pp->regions_new);
        int bad = S->parts[i].bad;
        P->fr_old += !bad && pp->ng_old;
        P->esc_old += bad && !pp->ng_old;
        P->fr_new += !bad && pp->ng_new;
        P->esc_new += bad && !pp->ng_new;
        P->fr_new_score += !bad && pp->score >= P->chosen.image;
    }
    /* --- pixel metrics, both protocols --- */
    if (r->protocols & 1)
        protocol_metrics(r, P, D, 0, &P->native);
    if (r->protocols & 2)
        protocol_metrics(r, P, D, 1, &P->ref);
    /* --- thumbnails: false rejects and escapes at the chosen thresholds --- */
    P->thumbs = calloc(48, sizeof *P->thumbs);
    for (int pass = 0; pass < 2 && P->thumbs; pass++)
        for (int i = 0; i < n && P->n_thumbs < 48; i++) {
            cal_part *pp = &P->parts[i];
            int bad = S->parts[i].bad;
            if (!pp->scored || (pass == 0 ? (bad || !pp->ng_new) : (!bad || pp->ng_new)))
                continue;
            if (P->n_thumbs >= (pass == 0 ? 24 : 48))
                continue;
            char *b = thumbnail(&S->parts[i], pp, &D[i], &P->chosen);
            if (b)
                P->thumbs[P->n_thumbs++] = (cal_thumb){ i, b, pass == 0 ? "false reject" : "escape" };
        }
    for (int i = 0; i < n; i++) {
        free(D[i].map), free(D[i].types), free(D[i].mask), free(D[i].mask255);
    }
    free(D), free(good), free(all), free(clean), free(mx);
    cm_scores_free(&img);
}

/* ---------- the calibrated recipe ---------- */

static char *recipe_comment(const cal_run *r, const cal_product *P)
{
    char *s = NULL;
    size_t cap = 0;
    FILE *f = open_memstream(&s, &cap);
    if (!f)
        return NULL;
    fprintf(f, "Calibrated by insp-calibrate (plugin %s) on %s\n", r->plugin_version, r->started);
    fprintf(f, "from %s with the %s set %s, product \"%s\".\n", r->recipe_path, r->set.layout,
            r->set_path, P->set->name);
    fprintf(f, "Parts: %d good and %d bad scored (%d bad with masks)", P->n_scored_good,
            P->n_scored_bad, P->n_masks);
    if (P->n_problems)
        fprintf(f, "; %d left out (see the report)", P->n_problems);
    fprintf(f, ". Model: %s, precision %s.\n", r->model_desc, r->precision);
    fprintf(f, "\nthresholds.image = %.6g (was %.6g): %s.\n", P->chosen.image, P->old.image, P->image_why);
    fprintf(f, "thresholds.pixel = %.6g (was %.6g): %s.\n", P->chosen.pixel, P->old.pixel, P->pixel_why);
    fprintf(f, "thresholds.min_region_area = %d (was %d): %s.\n", P->chosen.min_area, P->old.min_area, P->area_why);
    for (int k = 1; k < r->n_classes; k++)
        if (P->chosen.type[k] > 0)
            fprintf(f, "defects \"%s\" pixel_threshold = %.6g: %s.\n", r->class_name[k], P->chosen.type[k], P->type_why);
    fprintf(f, "\nOn these parts: %d false rejects of %d good parts and %d escapes of %d bad parts "
               "(with the old values: %d and %d).\n", P->fr_new, P->n_scored_good, P->esc_new,
            P->n_scored_bad, P->fr_old, P->esc_old);
    fprintf(f, "Calibrate again after changing input_size, tiling, roi, precision, the model files or "
               "the defect list:\nall of them change the scores. Report: report.html beside the cache.\n");
    fclose(f);
    return s;
}

static char *new_recipe_path(const cal_run *r, const cal_product *P, const char *dir, int multi)
{
    const char *base = strrchr(r->recipe_path, '/');
    base = base ? base + 1 : r->recipe_path;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && (!strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml")))
        *dot = 0;
    for (int i = 1; i < 1000; i++) {
        char suffix[16] = "";
        if (i > 1)
            snprintf(suffix, sizeof suffix, "-%d", i);
        char *p = multi ? xfmt("%s/%s.%s.calibrated%s.yaml", dir, stem, P->set->name, suffix)
                        : xfmt("%s/%s.calibrated%s.yaml", dir, stem, suffix);
        if (!p || access(p, F_OK) != 0)
            return p;
        free(p);
    }
    return NULL;
}

static int write_recipe(cal_run *r, cal_product *P, const char *recipe_dir, int multi,
                        const insp_api *A, int verify, char *err, size_t cap)
{
    rt_changes c;
    memset(&c, 0, sizeof c);
    c.image_thr = P->chosen.image;
    c.pixel_thr = P->chosen.pixel;
    c.min_area = P->chosen.min_area;
    for (int k = 1; k < r->n_classes && k - 1 < RT_MAX_DEFECTS; k++)
        c.defect_thr[k - 1] = P->chosen.type[k];
    char *comment = recipe_comment(r, P);
    c.comment = comment;
    c.out_dir = recipe_dir;
    char *text = rt_render(&r->recipe, &c);
    free(comment);
    char *path = new_recipe_path(r, P, recipe_dir ? recipe_dir : r->recipe.dir, multi);
    if (!text || !path) {
        free(text), free(path);
        snprintf(err, cap, "out of memory writing the recipe");
        return -1;
    }
    if (rt_write_new(path, text)) {
        snprintf(err, cap, "%s: cannot write: %s", path, strerror(errno));
        free(text), free(path);
        return -1;
    }
    P->recipe_out = path;
    P->recipe_text = text;
    if (!verify)
        return 0;
    /* the plugin is the judge: the new recipe must load and hold the chosen values */
    insp_tool *t = NULL;
    char perr[INSP_ERRBUF_SIZE];
    insp_host host = { .struct_size = sizeof host, .log = host_log };
    if (A->tool_create(&host, path, &t, perr, sizeof perr) != INSP_OK) {
        snprintf(err, cap, "the calibrated recipe %s does not load: %s", path, perr);
        return -1;
    }
    char buf[INSP_PARAM_VALUE_SIZE];
    int bad = 0;
    if (A->tool_get_param(t, INSP_PARAM_IMAGE_THRESHOLD, buf, sizeof buf, perr, sizeof perr) != INSP_OK ||
        fabs(strtod(buf, NULL) - P->chosen.image) > 1e-5 * fmax(1, P->chosen.image))
        bad = 1;
    A->tool_destroy(t);
    if (bad) {
        snprintf(err, cap, "the calibrated recipe %s loads with image threshold %s, not %.9g", path, buf, P->chosen.image);
        return -1;
    }
    return 0;
}

/* ---------- main ---------- */

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "insp-calibrate: %s\n", msg);
    fprintf(stderr,
        "usage: insp-calibrate --recipe R.yaml [options] SET\n"
        "Scores every part of a labelled SET through the plugin, chooses the thresholds per product,\n"
        "writes a calibrated recipe beside R.yaml (never over a file), and a report.\n"
        "SET: an MVTec AD / MPDD folder (PRODUCT/test/good, test/<defect>, ground_truth/<defect>/),\n"
        "     a VisA folder (split_csv/1cls.csv or OBJECT/Data/Images/{Normal,Anomaly}), or a CSV\n"
        "     list: image,label(good/bad)[,mask[,type[,product]]] (a header row names the columns).\n"
        "  --out DIR           report, JSON and cache folder (default: calibration-<recipe name>)\n"
        "  --cache DIR         cache of scored parts (default: DIR/cache); rerun to resume\n"
        "  --recipe-dir DIR    write the calibrated recipes there instead of beside R.yaml\n"
        "  --frr PCT           false-reject target on good parts, percent (default 1)\n"
        "  --image-rule RULE   frr (default), f1 or cost: which image threshold goes into the recipe\n"
        "  --cost-escape X     cost of an escape in false rejects, for the cost rule (default 10)\n"
        "  --split S           all (default), test or train parts of the set\n"
        "  --protocol P        both (default), native or reference (518 x 518 maps and masks)\n"
        "  --plugin SO         the plugin (default: $DAPO_INSPECT_PLUGIN, else libdapo_inspect.so\n"
        "                      beside this program)\n"
        "  --no-verify         do not load each written recipe in the plugin to check it\n"
        "  -q                  no progress line\n"
        "Exit codes: 0 done, 1 done but some parts were left out, 2 usage, 3 plugin or recipe\n"
        "error, 4 nothing could be scored, 130 interrupted (run again to resume).\n");
    return 2;
}

/* The plugin when --plugin is not given (loader.h: $DAPO_INSPECT_PLUGIN, else beside this
 * program); an installed build also looks in INSP_PLUGIN_DIR. */
static void default_plugin(char *buf, size_t cap)
{
#ifdef INSP_PLUGIN_DIR
    const char *installed = INSP_PLUGIN_DIR;
#else
    const char *installed = NULL;
#endif
    if (insp_loader_default_path(installed, buf, cap) != 0)
        snprintf(buf, cap, "%s", INSP_PLUGIN_FILE);
}

int calib_main(int argc, char **argv)
{
    cal_run R;
    memset(&R, 0, sizeof R);
    const char *cache_dir = NULL, *recipe_dir = NULL, *split = "all", *protocol = "both";
    int quiet = 0, verify = 1;
    R.frr_target = 0.01;
    R.cost_escape = 10;
    R.image_rule = "frr";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(NULL);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--no-verify")) {
            verify = 0;
        } else if (a[0] == '-' && a[1] == '-' && !v) {
            return usage("an option is missing its value");
        } else if (!strcmp(a, "--recipe")) {
            R.recipe_path = argv[++i];
        } else if (!strcmp(a, "--out")) {
            R.out_dir = argv[++i];
        } else if (!strcmp(a, "--cache")) {
            cache_dir = argv[++i];
        } else if (!strcmp(a, "--recipe-dir")) {
            recipe_dir = argv[++i];
        } else if (!strcmp(a, "--plugin") || !strcmp(a, "--module")) {
            R.plugin_path = argv[++i];
        } else if (!strcmp(a, "--frr")) {
            char *e;
            R.frr_target = strtod(argv[++i], &e) / 100;
            if (*e || !(R.frr_target > 0 && R.frr_target < 0.5))
                return usage("--frr must be a percentage above 0 and below 50");
        } else if (!strcmp(a, "--cost-escape")) {
            char *e;
            R.cost_escape = strtod(argv[++i], &e);
            if (*e || !(R.cost_escape > 0 && R.cost_escape < 1e9))
                return usage("--cost-escape must be a positive number");
        } else if (!strcmp(a, "--image-rule")) {
            R.image_rule = argv[++i];
            if (strcmp(R.image_rule, "frr") && strcmp(R.image_rule, "f1") && strcmp(R.image_rule, "cost"))
                return usage("--image-rule must be frr, f1 or cost");
        } else if (!strcmp(a, "--split")) {
            split = argv[++i];
            if (strcmp(split, "all") && strcmp(split, "test") && strcmp(split, "train"))
                return usage("--split must be all, test or train");
        } else if (!strcmp(a, "--protocol")) {
            protocol = argv[++i];
            if (strcmp(protocol, "both") && strcmp(protocol, "native") && strcmp(protocol, "reference"))
                return usage("--protocol must be both, native or reference");
        } else if (a[0] == '-') {
            return usage("unknown option");
        } else if (!R.set_path) {
            R.set_path = a;
        } else {
            return usage("one SET only");
        }
    }
    if (!R.recipe_path || !R.set_path)
        return usage(!R.recipe_path ? "--recipe is required" : "SET is missing");
    R.protocols = !strcmp(protocol, "native") ? 1 : !strcmp(protocol, "reference") ? 2 : 3;
    double t_start = now_s();
    time_t now = time(NULL);
    strftime(R.started, sizeof R.started, "%Y-%m-%d %H:%M:%S", localtime(&now));

    char err[4096];
    char outbuf[PATH_MAX], cachebuf[PATH_MAX + 16], plugbuf[PATH_MAX + 32];
    if (rt_load(R.recipe_path, &R.recipe, err, sizeof err)) {
        fprintf(stderr, "insp-calibrate: %s\n", err);
        return 3;
    }
    if (!R.out_dir) {
        const char *b = strrchr(R.recipe_path, '/');
        snprintf(outbuf, sizeof outbuf, "calibration-%s", b ? b + 1 : R.recipe_path);
        char *dot = strrchr(outbuf, '.');
        if (dot && dot > outbuf + 12)
            *dot = 0;
        R.out_dir = outbuf;
    }
    if (!cache_dir) {
        snprintf(cachebuf, sizeof cachebuf, "%s/cache", R.out_dir);
        cache_dir = cachebuf;
    }
    if (mkdirs(R.out_dir) || mkdirs(cache_dir) || (recipe_dir && mkdirs(recipe_dir))) {
        fprintf(stderr, "insp-calibrate: cannot create %s: %s\n", R.out_dir, strerror(errno));
        rt_free(&R.recipe);
        return 3;
    }
    if (cd_load(R.set_path, split, &R.set, err, sizeof err)) {
        fprintf(stderr, "insp-calibrate: %s\n", err);
        rt_free(&R.recipe);
        return 2;
    }
    if (!R.plugin_path) {
        default_plugin(plugbuf, sizeof plugbuf);
        R.plugin_path = plugbuf;
    }
    insp_module mod;
    int rc = 0;
    insp_tool *tool = NULL;
    char *scoring_path = NULL;
    if (insp_loader_open(R.plugin_path, &mod, err, sizeof err) != INSP_OK) {
        fprintf(stderr, "insp-calibrate: %s\n", err);
        rc = 3;
        goto done_early;
    }
    const insp_api *A = mod.api;
    snprintf(R.plugin_version, sizeof R.plugin_version, "%s %s", A->plugin_id, A->plugin_version);
    if (!INSP_API_HAS(A, result_type_map) || !A->result_type_map) {
        fprintf(stderr, "insp-calibrate: %s: plugin ABI %u.%u has no per-pixel type map (needs 1.1); "
                "use the plugin built with this program\n", R.plugin_path, A->abi_major, A->abi_minor);
        rc = 3;
        goto done;
    }
    /* the scoring recipe: thresholds that type every pixel, model paths absolute */
    {
        rt_changes c;
        memset(&c, 0, sizeof c);
        c.image_thr = 0.5f;
        c.pixel_thr = 1e-30f;
        c.min_area = 0;
        for (int k = 0; k < RT_MAX_DEFECTS; k++)
            c.defect_thr[k] = -1;
        c.absolute_models = 1;
        c.comment = "Written by insp-calibrate to score parts: every pixel above 1e-30 belongs to a region.";
        char *text = rt_render(&R.recipe, &c);
        scoring_path = xfmt("%s/scoring-recipe.%d.yaml", cache_dir, (int)getpid());
        unlink(scoring_path);
        if (!text || !scoring_path || rt_write_new(scoring_path, text)) {
            fprintf(stderr, "insp-calibrate: cannot write %s\n", scoring_path ? scoring_path : "the scoring recipe");
            free(text);
            rc = 3;
            goto done;
        }
        free(text);
    }
    insp_host host = { .struct_size = sizeof host, .log = host_log };
    if (A->tool_create(&host, scoring_path, &tool, err, sizeof err) != INSP_OK) {
        /* say it against the user's recipe, not our copy */
        char *e2 = err;
        fprintf(stderr, "insp-calibrate: %s: %s\n", R.recipe_path, e2);
        rc = 3;
        goto done;
    }
    unlink(scoring_path);
    if (A->tool_set_param(tool, INSP_PARAM_TYPE_MAP, "true", err, sizeof err) != INSP_OK) {
        fprintf(stderr, "insp-calibrate: %s\n", err);
        rc = 3;
        goto done;
    }
    {
        insp_tool_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        if (A->tool_info(tool, &info, err, sizeof err) == INSP_OK) {
            snprintf(R.model_desc, sizeof R.model_desc, "%s", info.model ? info.model : "");
            snprintf(R.precision, sizeof R.precision, "%s", info.precision ? info.precision : "");
            R.input_size = info.input_width;
            R.tiling = info.tiling;
        }
        R.n_classes = A->tool_class_count(tool);
        if (R.n_classes > CAL_MAX_CLASSES)
            R.n_classes = CAL_MAX_CLASSES;
        for (int k = 0; k < R.n_classes; k++)
            snprintf(R.class_name[k], sizeof R.class_name[k], "%s", A->tool_class_name(tool, k));
    }
    /* cache key: plugin, score-relevant recipe text, model file contents, image content */
    hstate base;
    h_init(&base, 1);
    h_add(&base, R.plugin_version, strlen(R.plugin_version) + 1);
    h_add(&base, R.recipe.canon, strlen(R.recipe.canon) + 1);
    {
        const char *files[3] = { R.recipe.clip_path, R.recipe.dapo_path, R.recipe.vocab_path };
        for (int k = 0; k < 3; k++)
            if (!files[k] || h_file(&base, files[k])) {
                fprintf(stderr, "insp-calibrate: cannot read the model file %s\n", files[k] ? files[k] : "?");
                rc = 3;
                goto done;
            }
    }
    R.prod = calloc((size_t)R.set.n, sizeof *R.prod);
    for (int i = 0; R.prod && i < R.set.n; i++) {
        R.prod[i].set = &R.set.products[i];
        R.prod[i].parts = calloc((size_t)R.set.products[i].n + 1, sizeof(cal_part));
        R.total_parts += R.set.products[i].n;
        if (!R.prod[i].parts) {
            rc = 3;
            goto done;
        }
    }
    if (!R.prod) {
        rc = 3;
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int tty = isatty(2), done_parts = 0;
    double last_print = 0;
    if (!quiet)
        fprintf(stderr, "insp-calibrate: %d parts in %d product(s) (%s layout), %s, cache %s\n",
                R.total_parts, R.set.n, R.set.layout, R.model_desc, cache_dir);
    for (int pi = 0; pi < R.set.n && !g_stop; pi++) {
        cd_product *S = &R.set.products[pi];
        for (int i = 0; i < S->n && !g_stop; i++) {
            cal_part *pp = &R.prod[pi].parts[i];
            hstate h = base;
            char why[1600];
            if (h_file(&h, S->parts[i].image)) {
                pp->problem = xfmt("unreadable: %s: %s", S->parts[i].image, strerror(errno));
            } else {
                h_hex(&h, pp->key);
                char *cp = cache_path(&R, cache_dir, pp->key);
                cache_head hd;
                if (cp && cache_read(cp, &hd, NULL, NULL) == 0) {
                    R.from_cache++;
                } else if (cp && score_part(A, tool, S->parts[i].image, cp, &hd, why, sizeof why) == 0) {
                    R.scored_now++;
                    R.ms_now += hd.ms;
                } else {
                    pp->problem = xfmt("%s", cp ? why : "out of memory");
                }
                if (!pp->problem) {
                    pp->scored = 1;
                    pp->score = hd.score;
                    pp->ms = hd.ms;
                    pp->w = hd.w, pp->h = hd.h, pp->rx = hd.rx, pp->ry = hd.ry;
                }
                free(cp);
            }
            done_parts++;
            double t = now_s();
            if (!quiet && (t - last_print > (tty ? 0.2 : 10.0) || done_parts == R.total_parts)) {
                double per = R.scored_now ? R.ms_now / R.scored_now : 0;
                double left = per * (R.total_parts - done_parts) / 1e3;
                fprintf(stderr, "%sinsp-calibrate: %d/%d parts (%d from the cache), %.0f ms/part, %.0f s left%s",
                        tty ? "\r" : "", done_parts, R.total_parts, R.from_cache, per, left,
                        tty ? "   " : "\n");
                last_print = t;
            }
        }
    }
    if (!quiet && tty)
        fprintf(stderr, "\n");
    if (g_stop) {
        fprintf(stderr, "insp-calibrate: interrupted after %d of %d parts; run the same command "
                "again to resume (scored parts are kept in %s)\n", done_parts, R.total_parts, cache_dir);
        rc = 130;
        goto done;
    }
    A->tool_destroy(tool);
    tool = NULL;
    int any = 0;
    for (int pi = 0; pi < R.set.n; pi++)
        for (int i = 0; i < R.set.products[pi].n; i++)
            any |= R.prod[pi].parts[i].scored;
    if (!any) {
        fprintf(stderr, "insp-calibrate: no part could be scored\n");
        rc = 4;
    }
    for (int pi = 0; rc == 0 && pi < R.set.n; pi++)
        analyse(&R, &R.prod[pi], cache_dir);
    for (int pi = 0; rc == 0 && pi < R.set.n; pi++)
        if (write_recipe(&R, &R.prod[pi], recipe_dir, R.set.n > 1, A, verify, err, sizeof err)) {
            fprintf(stderr, "insp-calibrate: %s\n", err);
            rc = 3;
        }
    R.wall_s = now_s() - t_start;
    if (rc == 0) {
        char *jp = xfmt("%s/report.json", R.out_dir), *hp = xfmt("%s/report.html", R.out_dir);
        if (!jp || !hp || cal_write_json(&R, jp) || cal_write_html(&R, hp)) {
            fprintf(stderr, "insp-calibrate: cannot write the report in %s\n", R.out_dir);
            rc = 3;
        }
        /* what changed */
        int problems = 0;
        for (int pi = 0; rc == 0 && pi < R.set.n; pi++) {
            cal_product *P = &R.prod[pi];
            printf("%s: %d good + %d bad parts -> %s\n", P->set->name, P->n_scored_good, P->n_scored_bad, P->recipe_out);
            printf("  thresholds.image            %-10.6g -> %-10.6g (%s rule)\n", P->old.image, P->chosen.image, P->image_rule);
            printf("  thresholds.pixel            %-10.6g -> %-10.6g\n", P->old.pixel, P->chosen.pixel);
            printf("  thresholds.min_region_area  %-10d -> %-10d\n", P->old.min_area, P->chosen.min_area);
            for (int k = 1; k < R.n_classes; k++)
                if (P->chosen.type[k] > 0 || P->old.type[k] > 0)
                    printf("  defects[%s].pixel_threshold %s -> %.6g\n", R.class_name[k],
                           P->old.type[k] > 0 ? "set" : "none", P->chosen.type[k] > 0 ? P->chosen.type[k] : P->chosen.pixel);
            printf("  false rejects %d -> %d of %d good, escapes %d -> %d of %d bad\n", P->fr_old,
                   P->fr_new, P->n_scored_good, P->esc_old, P->esc_new, P->n_scored_bad);
            if (P->n_scored_good < P->needed_95)
                printf("  note: %d good parts cannot support a %.3g %% false-reject rate (needs %d, %d for 95 %% confidence)\n",
                       P->n_scored_good, R.frr_target * 100, P->needed_resolve, P->needed_95);
            for (int i = 0; i < P->set->n; i++)
                if (P->parts[i].problem) {
                    if (!problems++)
                        printf("left out:\n");
                    printf("  %s: %s\n", P->set->parts[i].name, P->parts[i].problem);
                }
        }
        if (rc == 0) {
            printf("report: %s (JSON: %s)\n", hp, jp);
            if (problems)
                rc = 1;
        }
        free(jp);
        free(hp);
    }
done:
    if (tool)
        A->tool_destroy(tool);
    if (scoring_path)
        unlink(scoring_path);
    free(scoring_path);
    insp_loader_close(&mod);
done_early:
    for (int pi = 0; R.prod && pi < R.set.n; pi++) {
        cal_product *P = &R.prod[pi];
        for (int i = 0; P->parts && i < P->set->n; i++)
            free(P->parts[i].problem);
        free(P->parts);
        for (int t = 0; t < P->n_thumbs; t++)
            free(P->thumbs[t].png_b64);
        free(P->thumbs), free(P->roc_x), free(P->roc_y), free(P->pr_x), free(P->pr_y);
        free(P->recipe_out), free(P->recipe_text);
    }
    free(R.prod);
    cd_free(&R.set);
    rt_free(&R.recipe);
    return rc;
}

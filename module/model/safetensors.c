/* safetensors reader. The file is untrusted: every header field is checked before any byte of
 * tensor data is touched, so a bad file yields a message, never a wild read. */
#include "safetensors.h"
#include "dp_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

/* Real headers are a few hundred KB even for huge models. */
#define ST_MAX_HEADER DP_ST_MAX_HEADER_BYTES

struct dp_safetensors {
    char *path;                 /* owned */
    const unsigned char *map;   /* owned mapping of the whole file */
    size_t map_len;
    dp_json *header;            /* owned; tensor names and metadata point into it */
    const dp_json *metadata;    /* borrowed from header */
    dp_st_tensor *tensors;      /* owned, header order */
    size_t count;
    const dp_st_tensor **by_name; /* owned array of borrowed pointers, sorted by name */
};

typedef struct range {
    size_t begin, end;
    const char *name;   /* borrowed from the header */
} range;

/* Every dtype the safetensors format defines, with its element size. */
static const struct { const char *name; dp_dtype dt; size_t size; } DTYPES[] = {
    { "F32", DP_DT_F32, 4 }, { "F16", DP_DT_F16, 2 }, { "BF16", DP_DT_BF16, 2 },
    { "F64", DP_DT_OTHER, 8 }, { "I64", DP_DT_OTHER, 8 }, { "U64", DP_DT_OTHER, 8 },
    { "I32", DP_DT_OTHER, 4 }, { "U32", DP_DT_OTHER, 4 }, { "I16", DP_DT_OTHER, 2 },
    { "U16", DP_DT_OTHER, 2 }, { "I8", DP_DT_OTHER, 1 }, { "U8", DP_DT_OTHER, 1 },
    { "BOOL", DP_DT_OTHER, 1 }, { "F8_E4M3", DP_DT_OTHER, 1 }, { "F8_E5M2", DP_DT_OTHER, 1 },
};

static size_t dtype_size(const char *name)
{
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(DTYPES[i].name, name) == 0)
            return DTYPES[i].size;
    return 0;
}

const char *dp_st_format_shape(char *buf, size_t cap, const int64_t *shape, int ndim)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

static int cmp_name(const void *a, const void *b)
{
    const dp_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* A JSON integer in [0, max]; anything else (fraction, negative, out of int64) fails. */
static int json_uint(const dp_json *v, uint64_t max, uint64_t *out)
{
    if (!v || v->type != DP_JSON_NUMBER || !v->number_is_integer || v->integer < 0 ||
        (uint64_t)v->integer > max)
        return 0;
    *out = (uint64_t)v->integer;
    return 1;
}

static dp_status parse_tensor(const dp_safetensors *st, const char *name, const dp_json *v,
                              size_t data_len, dp_st_tensor *t, range *r, dp_err *err)
{
    const char *path = st->path;
    if (v->type != DP_JSON_OBJECT)
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': header entry is not a JSON object",
                       path, name);
    const dp_json *dtype = dp_json_get(v, "dtype");
    const dp_json *shape = dp_json_get(v, "shape");
    const dp_json *offs = dp_json_get(v, "data_offsets");
    if (!dtype || !shape || !offs)
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': header entry lacks \"%s\"", path, name,
                       !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (dtype->type != DP_JSON_STRING)
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': \"dtype\" must be a string", path,
                       name);
    t->dtype = DP_DT_OTHER;
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(DTYPES[i].name, dtype->string) == 0) {
            t->dtype = DTYPES[i].dt;
            snprintf(t->dtype_name, sizeof t->dtype_name, "%s", DTYPES[i].name);
        }
    if (!t->dtype_name[0])
        return dp_fail(err, DP_E_UNSUPPORTED,
                       "%s: tensor '%s': unknown dtype '%.32s' (weights must be F32, F16 or BF16)", path,
                       name, dtype->string);

    if (shape->type != DP_JSON_ARRAY)
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': \"shape\" must be an array", path,
                       name);
    if (shape->count > DP_ST_MAX_DIMS)
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': shape has %zu dimensions, at most %d "
                       "supported", path, name, shape->count, DP_ST_MAX_DIMS);
    t->ndim = (int)shape->count;
    size_t count = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d;
        if (!json_uint(&shape->items[i], INT64_MAX, &d))
            return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative "
                           "integer", path, name, i);
        t->shape[i] = (int64_t)d;
        /* any dim beyond the data size is absurd; this also keeps the product from overflowing */
        if (d > data_len && d > 1)
            return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': shape[%d] = %llu exceeds the %zu "
                           "byte data section", path, name, i, (unsigned long long)d, data_len);
        if (d != 0 && count > SIZE_MAX / (size_t)d)
            return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': element count overflows", path,
                           name);
        count *= (size_t)d;
    }
    size_t es = dtype_size(t->dtype_name);
    if (count > SIZE_MAX / es)
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': byte size overflows", path, name);
    t->count = count;
    t->nbytes = count * es;

    uint64_t b, e;
    if (offs->type != DP_JSON_ARRAY || offs->count != 2 ||
        !json_uint(&offs->items[0], INT64_MAX, &b) || !json_uint(&offs->items[1], INT64_MAX, &e))
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': \"data_offsets\" must be [begin, end] "
                       "with non-negative integers", path, name);
    if (b > e)
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': data_offsets [%llu,%llu) has begin > "
                       "end", path, name, (unsigned long long)b, (unsigned long long)e);
    if (e > data_len)
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': data_offsets [%llu,%llu) end beyond the "
                       "%zu byte data section (truncated file?)", path, name,
                       (unsigned long long)b, (unsigned long long)e, data_len);
    if (e - b != t->nbytes) {
        char sb[160];
        return dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': shape/size mismatch: shape %s %s needs "
                       "%zu bytes, data_offsets [%llu,%llu) hold %llu", path, name,
                       dp_st_format_shape(sb, sizeof sb, t->shape, t->ndim), dtype->string, t->nbytes,
                       (unsigned long long)b, (unsigned long long)e,
                       (unsigned long long)(e - b));
    }
    t->name = name;
    t->data = st->map + (st->map_len - data_len) + b;
    r->begin = (size_t)b;
    r->end = (size_t)e;
    r->name = name;
    return DP_OK;
}

static dp_status check_metadata(const dp_safetensors *st, const dp_json *m, dp_err *err)
{
    if (m->type != DP_JSON_OBJECT)
        return dp_fail(err, DP_E_FORMAT, "%s: \"__metadata__\" must be an object of strings",
                       st->path);
    for (size_t i = 0; i < m->count; i++)
        if (m->items[i].type != DP_JSON_STRING)
            return dp_fail(err, DP_E_FORMAT, "%s: \"__metadata__\" key '%s' must map to a string",
                           st->path, m->keys[i]);
    return DP_OK;
}

/* Fills st->tensors / by_name from st->header; the data section is the mapping's tail. */
static dp_status parse_header(dp_safetensors *st, size_t data_len, dp_err *err)
{
    const dp_json *h = st->header;
    if (h->type != DP_JSON_OBJECT)
        return dp_fail(err, DP_E_FORMAT, "%s: header is not a JSON object", st->path);
    size_t n = 0;
    for (size_t i = 0; i < h->count; i++) {
        if (strcmp(h->keys[i], "__metadata__") != 0) {
            n++;
            continue;
        }
        if (st->metadata)
            return dp_fail(err, DP_E_FORMAT, "%s: duplicate \"__metadata__\" entry", st->path);
        dp_status s = check_metadata(st, &h->items[i], err);
        if (s)
            return s;
        st->metadata = &h->items[i];
    }
    st->count = n;
    if (n == 0)
        return DP_OK;
    st->tensors = calloc(n, sizeof *st->tensors);
    st->by_name = calloc(n, sizeof *st->by_name);
    range *ranges = calloc(n, sizeof *ranges);
    if (!st->tensors || !st->by_name || !ranges) {
        free(ranges);
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory for %zu tensor entries", st->path, n);
    }
    dp_status s = DP_OK;
    size_t k = 0;
    for (size_t i = 0; i < h->count && !s; i++) {
        if (strcmp(h->keys[i], "__metadata__") == 0)
            continue;
        s = parse_tensor(st, h->keys[i], &h->items[i], data_len, &st->tensors[k], &ranges[k],
                         err);
        st->by_name[k] = &st->tensors[k];
        k++;
    }
    if (!s) {
        qsort(st->by_name, n, sizeof *st->by_name, cmp_name);
        for (size_t i = 1; i < n && !s; i++)
            if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0)
                s = dp_fail(err, DP_E_FORMAT, "%s: tensor '%s': duplicate tensor name", st->path,
                            st->by_name[i]->name);
    }
    if (!s) {
        qsort(ranges, n, sizeof *ranges, cmp_range);
        /* empty tensors occupy no bytes and cannot overlap anything */
        const range *prev = NULL;
        for (size_t i = 0; i < n && !s; i++) {
            if (ranges[i].begin == ranges[i].end)
                continue;
            if (prev && ranges[i].begin < prev->end)
                s = dp_fail(err, DP_E_FORMAT, "%s: tensors '%s' [%zu,%zu) and '%s' [%zu,%zu) have "
                            "overlapping data_offsets", st->path, prev->name, prev->begin,
                            prev->end, ranges[i].name, ranges[i].begin, ranges[i].end);
            prev = &ranges[i];
        }
    }
    free(ranges);
    return s;
}

static dp_status map_file(dp_safetensors *st, dp_err *err)
{
    const char *path = st->path;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* NONBLOCK: a FIFO must not hang */
    if (fd < 0)
        return dp_fail(err, DP_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return dp_fail(err, DP_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return dp_fail(err, DP_E_IO, "%s: not a regular file: %s", path,
                       strerror(S_ISDIR(sb.st_mode) ? EISDIR : EINVAL));
    }
    if (sb.st_size == 0) {
        close(fd);
        return dp_fail(err, DP_E_IO, "%s: file is empty (0 bytes), expected a safetensors file: %s",
                       path, strerror(ENODATA));
    }
    if ((uintmax_t)sb.st_size > (uintmax_t)SIZE_MAX) {
        close(fd);
        return dp_fail(err, DP_E_IO, "%s: file too large to map: %s", path, strerror(EFBIG));
    }
    size_t len = (size_t)sb.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return dp_fail(err, DP_E_IO, "%s: cannot map %zu bytes: %s", path, len, strerror(e));
    st->map = m;
    st->map_len = len;
    return DP_OK;
}

dp_status dp_st_open(const char *path, dp_safetensors **out, dp_err *err)
{
    if (!out)
        return dp_fail(err, DP_E_ARG, "dp_st_open: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return dp_fail(err, DP_E_ARG, "dp_st_open: empty path");
    dp_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory opening safetensors file", path);
    }
    dp_status s = map_file(st, err);
    if (s)
        goto fail;
    if (st->map_len < 8) {
        s = dp_fail(err, DP_E_FORMAT, "%s: truncated: file is %zu bytes, expected at least 8 "
                    "(the header length)", path, st->map_len);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | st->map[i];
    if (hlen > ST_MAX_HEADER) {
        s = dp_fail(err, DP_E_FORMAT, "%s: header length %llu is absurd (limit %llu bytes, "
                    "DP_ST_MAX_HEADER_BYTES; CLIP models need about 70 KB); not a safetensors "
                    "file?", path, (unsigned long long)hlen,
                    (unsigned long long)ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > st->map_len - 8) {
        s = dp_fail(err, DP_E_FORMAT, "%s: header length %llu exceeds the %zu bytes after the "
                    "length field (truncated file?)", path, (unsigned long long)hlen,
                    st->map_len - 8);
        goto fail;
    }
    size_t wlen = strlen(path) + sizeof " header";
    char *what = malloc(wlen);
    if (!what) {
        s = dp_fail(err, DP_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    snprintf(what, wlen, "%s header", path);
    s = dp_json_parse((const char *)st->map + 8, (size_t)hlen, what, &st->header, err);
    free(what);
    if (s)
        goto fail;
    s = parse_header(st, st->map_len - 8 - (size_t)hlen, err);
    if (s)
        goto fail;
    *out = st;
    return DP_OK;
fail:
    dp_st_close(st);
    return s;
}

void dp_st_close(dp_safetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap((void *)st->map, st->map_len);
    dp_json_free(st->header);
    free(st->tensors);
    free(st->by_name);
    free(st->path);
    free(st);
}

const char *dp_st_path(const dp_safetensors *st)
{
    return st ? st->path : NULL;
}

size_t dp_st_count(const dp_safetensors *st)
{
    return st ? st->count : 0;
}

const dp_st_tensor *dp_st_at(const dp_safetensors *st, size_t i)
{
    return st && i < st->count ? &st->tensors[i] : NULL;
}

const dp_st_tensor *dp_st_find(const dp_safetensors *st, const char *name)
{
    if (!st || !name || !st->count)
        return NULL;
    dp_st_tensor key = { 0 };
    key.name = name;
    const dp_st_tensor *kp = &key;
    const dp_st_tensor **hit = bsearch(&kp, st->by_name, st->count, sizeof *st->by_name, cmp_name);
    return hit ? *hit : NULL;
}

const dp_json *dp_st_metadata(const dp_safetensors *st)
{
    return st ? st->metadata : NULL;
}

/* Exact: every half is representable in float; subnormals are man * 2^-24. */
static float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        float v = (float)man * 0x1p-24f;
        memcpy(&bits, &v, sizeof bits);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static int is_finite_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return (b & 0x7f800000u) != 0x7f800000u;
}

dp_status dp_st_to_f32(const dp_safetensors *st, const dp_st_tensor *t, float *dst, dp_err *err)
{
    if (!st || !t || (!dst && t->count))
        return dp_fail(err, DP_E_ARG, "dp_st_to_f32: NULL argument");
    if (t < st->tensors || t >= st->tensors + st->count)
        return dp_fail(err, DP_E_ARG, "%s: dp_st_to_f32: tensor '%s' does not belong to this file",
                       st->path, t->name ? t->name : "?");
    if (t->dtype == DP_DT_OTHER)
        return dp_fail(err, DP_E_UNSUPPORTED, "%s: tensor '%s' has dtype %s; weights must be F32, "
                       "F16 or BF16", st->path, t->name, t->dtype_name);
    const unsigned char *p = t->data;   /* possibly unaligned: bytes only */
    if (t->dtype == DP_DT_F32) {
        memcpy(dst, p, t->nbytes);
    } else {
        for (size_t i = 0; i < t->count; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
            dst[i] = t->dtype == DP_DT_F16 ? half_to_f32(h) : bf16_to_f32(h);
        }
    }
    for (size_t i = 0; i < t->count; i++) {
        if (is_finite_bits(dst[i]))
            continue;
        char idx[200];
        int64_t rest = (int64_t)i, sub[DP_ST_MAX_DIMS];
        for (int d = t->ndim - 1; d >= 0; d--) {
            sub[d] = t->shape[d] ? rest % t->shape[d] : 0;
            rest = t->shape[d] ? rest / t->shape[d] : 0;
        }
        dp_st_format_shape(idx, sizeof idx, sub, t->ndim);
        return dp_fail(err, DP_E_MODEL, "%s: tensor '%s': element %zu %s is %s (weights must be "
                       "finite)", st->path, t->name, i, idx, dst[i] != dst[i] ? "NaN" : "Inf");
    }
    return DP_OK;
}

/* Parses a block index at s followed by `term` ("12." or "12\0"): digits without leading
 * zeros, < 100000; returns the characters consumed including a '.' terminator, 0 if s does not
 * start that way. */
size_t dp_st_parse_index(const char *s, char term, int *idx)
{
    size_t n = 0;
    long v = 0;
    while (s[n] >= '0' && s[n] <= '9' && n < 6)
        v = v * 10 + (s[n++] - '0');
    if (n == 0 || n == 6 || s[n] != term || (n > 1 && s[0] == '0'))
        return 0;
    *idx = (int)v;
    return n + (term != '\0');
}

int dp_st_count_indexed(const dp_safetensors *st, const char *prefix, char term)
{
    int n = 0;
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < dp_st_count(st); i++) {
        const char *name = dp_st_at(st, i)->name;
        int idx;
        if (strncmp(name, prefix, plen) == 0 && dp_st_parse_index(name + plen, term, &idx) && idx + 1 > n)
            n = idx + 1;
    }
    return n;
}

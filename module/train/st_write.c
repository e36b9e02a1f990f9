/* A safetensors writer: 8-byte little-endian header length, JSON header padded with spaces to a
 * multiple of 8, then the tensors' bytes back to back. */
#include "st_write.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends printf output to a growing buffer; returns 0 or -1 (out of memory). */
static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (k < 0)
            return -1;
        if ((size_t)k < *cap - *len) {
            *len += (size_t)k;
            return 0;
        }
        size_t ncap = *cap * 2 + (size_t)k + 64;
        char *nb = realloc(*buf, ncap);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = ncap;
    }
}

static size_t numel(const dp_st_out *t)
{
    size_t c = 1;
    for (int d = 0; d < t->ndim; d++)
        c *= (size_t)t->shape[d];
    return c;
}

dp_status dp_st_write_f32(const char *path, const dp_st_out *t, int n, const char *const *meta,
                          int n_meta, dp_err *err)
{
    size_t cap = 1024, len = 0, off = 0;
    char *h = malloc(cap);
    if (!h)
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory for the header", path);
    h[0] = 0;
    int bad = append(&h, &len, &cap, "{");
    if (n_meta > 0) {
        bad |= append(&h, &len, &cap, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++)
            bad |= append(&h, &len, &cap, "%s\"%s\":\"%s\"", i ? "," : "", meta[2 * i],
                          meta[2 * i + 1]);
        bad |= append(&h, &len, &cap, "}%s", n ? "," : "");
    }
    for (int i = 0; i < n; i++) {
        size_t bytes = numel(&t[i]) * sizeof(float);
        bad |= append(&h, &len, &cap, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "",
                      t[i].name);
        for (int d = 0; d < t[i].ndim; d++)
            bad |= append(&h, &len, &cap, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        bad |= append(&h, &len, &cap, "],\"data_offsets\":[%zu,%zu]}", off, off + bytes);
        off += bytes;
    }
    bad |= append(&h, &len, &cap, "}");
    while (!bad && len % 8)
        bad |= append(&h, &len, &cap, " ");
    if (bad) {
        free(h);
        return dp_fail(err, DP_E_NOMEM, "%s: out of memory for the header", path);
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        free(h);
        return dp_fail(err, DP_E_ARG, "%s: path too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(h);
        return dp_fail(err, DP_E_IO, "%s: cannot create (%s)", tmp, strerror(errno));
    }
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)((uint64_t)len >> (8 * i));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(h, 1, len, f) == len;
    free(h);
    for (int i = 0; ok && i < n; i++) {
        size_t c = numel(&t[i]);
        ok = fwrite(t[i].data, sizeof(float), c, f) == c;   /* x86-64: already little-endian */
    }
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        dp_status st = dp_fail(err, DP_E_IO, "%s: cannot write (%s)", ok ? path : tmp,
                               strerror(errno));
        remove(tmp);
        return st;
    }
    return DP_OK;
}

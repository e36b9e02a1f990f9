/* On-disk cache of encoded text features (text_cache.h says what the key holds and why). */
#include "text_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dp_file.h"

/* Ownership: pointers passed to the static helpers are borrowed and written only where stated. */

static const char FILE_MAGIC[8] = { 'D', 'A', 'P', 'O', 'T', 'X', 'T', 'C' };
enum {
    FILE_FORMAT = 1,          /* bump when the header, key record or payload layout changes */
    HEADER_BYTES = 48,        /* magic, format, n_states, dim, reserved, 3 x u64 */
    IO_CHUNK = 1 << 16        /* bytes read per call while hashing the vocabulary */
};
/* |row . row - 1| accepted for a stored unit vector (dp_text_encode leaves ~1e-7) */
#define UNIT_NORM_TOLERANCE 1e-4

/* ---- digest: 64-bit FNV-1a, enough to tell versions apart (not a defence against forgery:
 * whoever can write the cache directory can also write the model files) ---- */

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static uint64_t digest_add(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

/* ---- the key record: a growable byte buffer ---- */

typedef struct record {
    unsigned char *b;
    size_t len, cap;
    int failed;               /* an allocation failed; the record is unusable */
} record;

static void put(record *r, const void *data, size_t n)
{
    if (r->failed)
        return;
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n)
            cap *= 2;
        unsigned char *b = realloc(r->b, cap);
        if (!b) {
            r->failed = 1;
            return;
        }
        r->b = b;
        r->cap = cap;
    }
    memcpy(r->b + r->len, data, n);
    r->len += n;
}

static void put_u64(record *r, uint64_t v) { put(r, &v, sizeof v); }
static void put_i32(record *r, int32_t v) { put(r, &v, sizeof v); }

static void put_str(record *r, const char *s)
{
    size_t n = strlen(s);
    put_u64(r, n);
    put(r, s, n);
}

static void why_set(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void why_set(char *why, size_t cap, const char *fmt, ...)
{
    if (!why || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

static void describe_errno(int e, char *buf, size_t cap)
{
    if (strerror_r(e, buf, cap) != 0)
        snprintf(buf, cap, "error %d", e);
}

/* Reads up to n bytes at the current offset; returns the count (short only at end of file) or
 * -1 with errno set. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (unsigned char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int write_full(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, (const unsigned char *)buf + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Identity and head digest of the CLIP file: size, mtime, inode, digest of the first bytes. */
static dp_status put_clip(record *r, const char *path, dp_err *err)
{
    struct stat st;
    int fd = dp_open_regular(path, "the CLIP weights", &st, err);
    if (fd < 0)
        return DP_E_IO;
    size_t n = (size_t)st.st_size < DP_TEXT_CACHE_CLIP_HEAD_BYTES ? (size_t)st.st_size
                                                                   : DP_TEXT_CACHE_CLIP_HEAD_BYTES;
    unsigned char *head = malloc(n ? n : 1);
    if (!head) {
        close(fd);
        return dp_fail(err, DP_E_NOMEM, "out of memory reading the head of %s", path);
    }
    ssize_t got = read_full(fd, head, n);
    int e = errno;
    close(fd);
    if (got != (ssize_t)n) {
        free(head);
        char why[128];
        describe_errno(got < 0 ? e : EIO, why, sizeof why);
        return dp_fail(err, DP_E_IO, "%s: cannot read its first %zu bytes for the text cache "
                       "key: %s", path, n, why);
    }
    put_u64(r, (uint64_t)st.st_size);
    put_u64(r, (uint64_t)st.st_mtim.tv_sec);
    put_u64(r, (uint64_t)st.st_mtim.tv_nsec);
    put_u64(r, (uint64_t)st.st_ino);
    put_u64(r, n);
    put_u64(r, digest_add(FNV_OFFSET, head, n));
    free(head);
    return DP_OK;
}

/* Size and content digest of the vocabulary file (about 1.3 MB, gzip). */
static dp_status put_vocab(record *r, const char *path, dp_err *err)
{
    struct stat st;
    int fd = dp_open_regular(path, "the tokenizer vocabulary", &st, err);
    if (fd < 0)
        return DP_E_IO;
    unsigned char *buf = malloc(IO_CHUNK);
    if (!buf) {
        close(fd);
        return dp_fail(err, DP_E_NOMEM, "out of memory reading %s", path);
    }
    uint64_t h = FNV_OFFSET, total = 0;
    ssize_t got;
    while ((got = read_full(fd, buf, IO_CHUNK)) > 0) {
        h = digest_add(h, buf, (size_t)got);
        total += (uint64_t)got;
        if (got < IO_CHUNK)
            break;
    }
    int e = errno;
    close(fd);
    free(buf);
    if (got < 0) {
        char why[128];
        describe_errno(e, why, sizeof why);
        return dp_fail(err, DP_E_IO, "%s: cannot read the vocabulary for the text cache key: %s",
                       path, why);
    }
    put_u64(r, total);
    put_u64(r, h);
    return DP_OK;
}

void dp_text_cache_key_free(dp_text_cache_key *k)
{
    if (!k)
        return;
    free(k->bytes);
    memset(k, 0, sizeof *k);
}

dp_status dp_text_cache_key_make(const dp_text_cache_inputs *in, dp_text_cache_key *out,
                                 dp_err *err)
{
    memset(out, 0, sizeof *out);
    if (!in || !in->version || !in->clip_path || !in->vocab_path || !in->cfg || !in->normal_ctx ||
        !in->abnormal_ctx || !in->layer_tokens || !in->defects || in->n_defects < 1 ||
        in->n_defects > DP_MAX_DEFECTS)
        return dp_fail(err, DP_E_ARG, "text cache key: missing input or %d defect names "
                       "(expected 1..%d)", in ? in->n_defects : 0, DP_MAX_DEFECTS);
    for (int i = 0; i < in->n_defects; i++)
        if (!in->defects[i])
            return dp_fail(err, DP_E_ARG, "text cache key: defect %d is NULL", i + 1);
    const dp_model_config *c = in->cfg;
    record r = { 0 };
    put(&r, "key", 3);
    put_str(&r, in->version);
    put_i32(&r, (int32_t)in->precision);
    put_i32(&r, (int32_t)in->threads);
    const int32_t arch[] = { c->vision_width, c->vision_layers, c->vision_heads, c->patch_size,
                             c->native_grid, c->text_width, c->text_layers, c->text_heads,
                             c->context_length, c->vocab_size, c->embed_dim };
    put(&r, arch, sizeof arch);
    dp_status st = put_clip(&r, in->clip_path, err);
    if (!st)
        st = put_vocab(&r, in->vocab_path, err);
    if (st) {
        free(r.b);
        return st;
    }
    const size_t ctx_n = (size_t)DP_ENSEMBLE * DP_CONTEXT_TOKENS * c->text_width;
    const size_t layer_n = (size_t)c->text_layers * DP_TEXT_PROMPTS * c->text_width;
    uint64_t h = digest_add(FNV_OFFSET, in->normal_ctx, ctx_n * sizeof(float));
    h = digest_add(h, in->abnormal_ctx, ctx_n * sizeof(float));
    h = digest_add(h, in->layer_tokens, layer_n * sizeof(float));
    put_u64(&r, ctx_n);
    put_u64(&r, layer_n);
    put_u64(&r, h);
    put_u64(&r, (uint64_t)in->n_defects);
    for (int i = 0; i < in->n_defects; i++)
        put_str(&r, in->defects[i]);
    if (r.failed) {
        free(r.b);
        return dp_fail(err, DP_E_NOMEM, "out of memory building the text cache key");
    }
    out->bytes = r.b;
    out->len = r.len;
    out->digest = digest_add(FNV_OFFSET, r.b, r.len);
    out->n_states = 1 + in->n_defects;
    out->dim = c->embed_dim;
    out->context_length = c->context_length;
    return DP_OK;
}

int dp_text_cache_path(const char *dir, const dp_text_cache_key *key, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/text-%016llx.dptc", dir, (unsigned long long)key->digest);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Payload layout: features [n][E], abnormal [E], unnormalized [n][E] (f32), pool_index [n]
 * (i32). */
static size_t payload_bytes(int n, int E)
{
    return ((size_t)2 * n * E + (size_t)E) * sizeof(float) + (size_t)n * sizeof(int32_t);
}

typedef struct file_header {
    char magic[8];
    uint32_t format, n_states, dim, reserved;
    uint64_t key_len, payload_len, payload_digest;
} file_header;
_Static_assert(sizeof(file_header) == HEADER_BYTES, "cache file header layout");

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static int unit_norm(const float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return fabs(s - 1.0) <= UNIT_NORM_TOLERANCE;
}

/* Checks the payload's values; 0, or -1 with why filled. */
static int check_values(const dp_text_cache_key *key, const float *features, const float *abnormal,
                        const float *unnormalized, const int32_t *pool, char *why, size_t cap)
{
    const int n = key->n_states, E = key->dim;
    if (!all_finite(features, (size_t)n * E) || !all_finite(abnormal, (size_t)E) ||
        !all_finite(unnormalized, (size_t)n * E)) {
        why_set(why, cap, "non-finite values in the stored features");
        return -1;
    }
    for (int s = 0; s < n; s++)
        if (!unit_norm(features + (size_t)s * E, E)) {
            why_set(why, cap, "stored feature row %d is not of unit length", s);
            return -1;
        }
    if (!unit_norm(abnormal, E)) {
        why_set(why, cap, "stored abnormal feature is not of unit length");
        return -1;
    }
    for (int s = 0; s < n; s++)
        if (pool[s] < 0 || pool[s] >= key->context_length) {
            why_set(why, cap, "stored pooled row %d of state %d outside 0..%d", pool[s], s,
                    key->context_length - 1);
            return -1;
        }
    return 0;
}

dp_text_cache_lookup dp_text_cache_read(const char *dir, const dp_text_cache_key *key,
                                        dp_text_features *out, char *why, size_t why_cap)
{
    memset(out, 0, sizeof *out);
    why_set(why, why_cap, "%s", "");
    char path[4096];
    if (!dir || !key || !key->bytes || dp_text_cache_path(dir, key, path, sizeof path)) {
        why_set(why, why_cap, "no usable cache directory or key");
        return DP_TEXT_CACHE_REJECTED;
    }
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return DP_TEXT_CACHE_ABSENT;
    dp_err e;
    struct stat st;
    int fd = dp_open_regular(path, "a text cache file", &st, &e);
    if (fd < 0) {
        why_set(why, why_cap, "%s", e.msg);
        return DP_TEXT_CACHE_REJECTED;
    }
    const int n = key->n_states, E = key->dim;
    const size_t pay = payload_bytes(n, E), total = HEADER_BYTES + key->len + pay;
    if ((uint64_t)st.st_size != total) {
        close(fd);
        why_set(why, why_cap, "%s: %lld bytes; expected %zu (truncated, or another layout)",
                path, (long long)st.st_size, total);
        return DP_TEXT_CACHE_REJECTED;
    }
    unsigned char *buf = malloc(total);
    if (!buf) {
        close(fd);
        why_set(why, why_cap, "out of memory reading %s", path);
        return DP_TEXT_CACHE_REJECTED;
    }
    ssize_t got = read_full(fd, buf, total);
    close(fd);
    const char *bad = NULL;
    file_header h;
    if (got != (ssize_t)total)
        bad = "shorter than its size when read (changed while reading)";
    if (!bad) {
        memcpy(&h, buf, sizeof h);
        if (memcmp(h.magic, FILE_MAGIC, sizeof FILE_MAGIC) != 0)
            bad = "not a dapo-inspect text cache file (magic)";
        else if (h.format != FILE_FORMAT)
            bad = "another cache format version";
        else if (h.n_states != (uint32_t)n || h.dim != (uint32_t)E || h.reserved != 0 ||
                 h.key_len != key->len || h.payload_len != pay)
            bad = "header sizes differ from this key's";
        else if (memcmp(buf + HEADER_BYTES, key->bytes, key->len) != 0)
            bad = "written for other model files, prompts, defects, precision or version (key "
                  "differs)";
        else if (digest_add(FNV_OFFSET, buf + HEADER_BYTES + key->len, pay) != h.payload_digest)
            bad = "payload checksum mismatch (corrupt)";
    }
    if (bad) {
        free(buf);
        why_set(why, why_cap, "%s: %s", path, bad);
        return DP_TEXT_CACHE_REJECTED;
    }
    const unsigned char *p = buf + HEADER_BYTES + key->len;
    out->features = malloc((size_t)n * E * sizeof(float));
    out->abnormal = malloc((size_t)E * sizeof(float));
    out->unnormalized = malloc((size_t)n * E * sizeof(float));
    out->pool_index = malloc((size_t)n * sizeof(int));
    int32_t *pool = malloc((size_t)n * sizeof *pool);
    if (!out->features || !out->abnormal || !out->unnormalized || !out->pool_index || !pool) {
        free(buf);
        free(pool);
        dp_text_features_free(out);
        why_set(why, why_cap, "out of memory reading %s", path);
        return DP_TEXT_CACHE_REJECTED;
    }
    /* copied out field by field: the payload has no alignment guarantee inside buf */
    memcpy(out->features, p, (size_t)n * E * sizeof(float));
    p += (size_t)n * E * sizeof(float);
    memcpy(out->abnormal, p, (size_t)E * sizeof(float));
    p += (size_t)E * sizeof(float);
    memcpy(out->unnormalized, p, (size_t)n * E * sizeof(float));
    p += (size_t)n * E * sizeof(float);
    memcpy(pool, p, (size_t)n * sizeof *pool);
    free(buf);
    char vwhy[160];
    if (check_values(key, out->features, out->abnormal, out->unnormalized, pool, vwhy,
                     sizeof vwhy)) {
        free(pool);
        dp_text_features_free(out);
        why_set(why, why_cap, "%s: %s", path, vwhy);
        return DP_TEXT_CACHE_REJECTED;
    }
    for (int s = 0; s < n; s++)
        out->pool_index[s] = pool[s];
    free(pool);
    out->n_states = n;
    out->dim = E;
    return DP_TEXT_CACHE_HIT;
}

/* mkdir -p dir with mode 0700 for what it creates. 0, or -1 with err failed. */
static int make_dirs(const char *dir, dp_err *err)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p) {
        dp_fail(err, DP_E_IO, "text cache directory \"%.64s\": empty or longer than %zu bytes",
                dir, sizeof p - 1);
        return -1;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            char why[128];
            describe_errno(e, why, sizeof why);
            dp_fail(err, DP_E_IO, "%s: cannot create the text cache directory: %s", p, why);
            return -1;
        }
        p[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        dp_fail(err, DP_E_IO, "%s: the text cache directory is not a directory", dir);
        return -1;
    }
    return 0;
}

dp_status dp_text_cache_write(const char *dir, const dp_text_cache_key *key,
                              const dp_text_features *tf, dp_err *err)
{
    if (!dir || !key || !key->bytes || !tf || tf->n_states != key->n_states ||
        tf->dim != key->dim || !tf->features || !tf->abnormal || !tf->unnormalized ||
        !tf->pool_index)
        return dp_fail(err, DP_E_ARG, "text cache write: features of %d x %d do not match the "
                       "key's %d x %d", tf ? tf->n_states : 0, tf ? tf->dim : 0,
                       key ? key->n_states : 0, key ? key->dim : 0);
    char path[4096], tmp[4096 + 32];
    if (dp_text_cache_path(dir, key, path, sizeof path))
        return dp_fail(err, DP_E_IO, "text cache directory \"%.64s...\": path too long", dir);
    if (make_dirs(dir, err))
        return DP_E_IO;
    const int n = key->n_states, E = key->dim;
    const size_t pay = payload_bytes(n, E), total = HEADER_BYTES + key->len + pay;
    unsigned char *buf = malloc(total);
    if (!buf)
        return dp_fail(err, DP_E_NOMEM, "out of memory writing %s", path);
    unsigned char *p = buf + HEADER_BYTES;
    memcpy(p, key->bytes, key->len);
    p += key->len;
    unsigned char *payload = p;
    memcpy(p, tf->features, (size_t)n * E * sizeof(float));
    p += (size_t)n * E * sizeof(float);
    memcpy(p, tf->abnormal, (size_t)E * sizeof(float));
    p += (size_t)E * sizeof(float);
    memcpy(p, tf->unnormalized, (size_t)n * E * sizeof(float));
    p += (size_t)n * E * sizeof(float);
    for (int s = 0; s < n; s++) {
        int32_t v = tf->pool_index[s];
        memcpy(p + (size_t)s * sizeof v, &v, sizeof v);
    }
    file_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, FILE_MAGIC, sizeof FILE_MAGIC);
    h.format = FILE_FORMAT;
    h.n_states = (uint32_t)n;
    h.dim = (uint32_t)E;
    h.key_len = key->len;
    h.payload_len = pay;
    h.payload_digest = digest_add(FNV_OFFSET, payload, pay);
    memcpy(buf, &h, sizeof h);

    /* same directory as the target, so rename(2) replaces it atomically */
    snprintf(tmp, sizeof tmp, "%s/.text-%016llx.XXXXXX", dir, (unsigned long long)key->digest);
    int fd = mkstemp(tmp);
    int failed = fd < 0, e = errno;
    const char *step = "create a temporary file";
    if (!failed) {
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        /* readable by all, written only by its owner; synced so a power cut after the rename
         * leaves the whole file, not an empty one */
        if (write_full(fd, buf, total) != 0)
            failed = 1, step = "write";
        else if (fchmod(fd, 0644) != 0)
            failed = 1, step = "set permissions on";
        else if (fsync(fd) != 0)
            failed = 1, step = "sync";
        e = errno;
        if (close(fd) != 0 && !failed) {
            failed = 1;
            e = errno;
            step = "close";
        }
        if (!failed && rename(tmp, path) != 0) {
            failed = 1;
            e = errno;
            step = "rename into place";
        }
        if (failed)
            (void)unlink(tmp);
    }
    free(buf);
    if (failed) {
        char why[128];
        describe_errno(e, why, sizeof why);
        return dp_fail(err, DP_E_IO, "%s: cannot %s the text cache file: %s", failed && fd < 0 ?
                       dir : path, step, why);
    }
    return DP_OK;
}

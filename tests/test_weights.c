/* Weight readers: safetensors validation, CLIP in both namings, positional resize, DAPO tensors,
 * and a corrupt-file zoo (every error must name the file and the tensor / key at fault). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clip_weights.h"
#include "dapo_weights.h"
#include "golden.h"
#include "safetensors.h"
#include "model_testing.h"
#include "test_cmd.h"

/* ---------- helpers ---------- */

static void print_cfg(const char *label, const dp_model_config *c)
{
    printf("  %s: vision %d/%d layers/%d heads patch %d native grid %d | text %d/%d layers/%d "
           "heads ctx %d vocab %d | embed %d\n", label, c->vision_width, c->vision_layers,
           c->vision_heads, c->patch_size, c->native_grid, c->text_width, c->text_layers,
           c->text_heads, c->context_length, c->vocab_size, c->embed_dim);
}

static void make_tmpdir(char *dir, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, cap, "%s/dp_weights_XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void rm_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

static void write_bytes(const char *path, const void *a, size_t an, const void *b, size_t bn,
                        const void *c, size_t cn)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(an == 0 || fwrite(a, 1, an, f) == an);
    ck_assert(bn == 0 || fwrite(b, 1, bn, f) == bn);
    ck_assert(cn == 0 || fwrite(c, 1, cn, f) == cn);
    ck_assert(fclose(f) == 0);
}

static void le64(unsigned char *out, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(v >> (8 * i));
}

/* Writes a safetensors file: header JSON (space-padded to 8) + data. */
static void write_st(const char *path, const char *header, const void *data, size_t dlen)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    char *h = malloc(padded);
    ck_assert(h != NULL);
    memcpy(h, header, hl);
    memset(h + hl, ' ', padded - hl);
    unsigned char n[8];
    le64(n, padded);
    write_bytes(path, n, 8, h, padded, data, dlen);
    free(h);
}

/* Copies src to dst replacing the first occurrence of `from` (searched after `anchor` if given)
 * in the header by `to`; header length is rewritten, the data section is unchanged. */
static void rewrite_header(const char *src, const char *dst, const char *anchor, const char *from,
                           const char *to)
{
    size_t len;
    char *raw = tsup_slurp(src, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | (unsigned char)raw[i];
    char *hdr = malloc(hl + 1);
    memcpy(hdr, raw + 8, hl);
    hdr[hl] = '\0';
    char *at = hdr;
    if (anchor) {
        at = strstr(hdr, anchor);
        ck_assert_msg(at != NULL, "anchor %s not in %s", anchor, src);
    }
    char *hit = strstr(at, from);
    ck_assert_msg(hit != NULL, "'%s' not in the header of %s", from, src);
    size_t pre = (size_t)(hit - hdr), fl = strlen(from), tl = strlen(to);
    size_t nl = hl - fl + tl;
    char *nh = malloc(nl + 1);
    memcpy(nh, hdr, pre);
    memcpy(nh + pre, to, tl);
    memcpy(nh + pre + tl, hit + fl, hl - pre - fl);
    unsigned char n[8];
    le64(n, nl);
    write_bytes(dst, n, 8, nh, nl, raw + 8 + hl, len - 8 - hl);
    free(nh);
    free(hdr);
    free(raw);
}

#define ASSERT_ERR(st_, err_, code_, ...)                                                          \
    do {                                                                                           \
        ck_assert_msg((st_) == (code_), "status %s, expected %s (msg: %s)", dp_status_name(st_),   \
                      dp_status_name(code_), (err_).msg);                                          \
        const char *need_[] = { __VA_ARGS__ };                                                     \
        for (size_t i_ = 0; i_ < sizeof need_ / sizeof need_[0]; i_++)                             \
            ck_assert_msg(strstr((err_).msg, need_[i_]) != NULL, "message lacks '%s': %s",         \
                          need_[i_], (err_).msg);                                                  \
        printf("  expected error: %s\n", (err_).msg);                                              \
        fflush(stdout);                                                                            \
    } while (0)

/* Opening `path` must fail with `code` and a message containing the file name and `phrase`. */
static void expect_st_fail(const char *path, dp_status code, const char *phrase1,
                           const char *phrase2)
{
    dp_safetensors *st = (dp_safetensors *)1;
    dp_err err;
    dp_err_clear(&err);
    dp_status s = dp_st_open(path, &st, &err);
    ck_assert(st == NULL);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    ASSERT_ERR(s, err, code, base, phrase1, phrase2 ? phrase2 : phrase1);
}

/* First occurrence of needle in hay (memmem is not POSIX). */
static char *find_bytes(char *hay, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; m && i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

/* ---------- CLIP: both namings ---------- */

static void assert_cfg_equal(const dp_model_config *a, const dp_model_config *b)
{
    ck_assert_int_eq(a->vision_width, b->vision_width);
    ck_assert_int_eq(a->vision_layers, b->vision_layers);
    ck_assert_int_eq(a->vision_heads, b->vision_heads);
    ck_assert_int_eq(a->patch_size, b->patch_size);
    ck_assert_int_eq(a->native_grid, b->native_grid);
    ck_assert_int_eq(a->text_width, b->text_width);
    ck_assert_int_eq(a->text_layers, b->text_layers);
    ck_assert_int_eq(a->text_heads, b->text_heads);
    ck_assert_int_eq(a->context_length, b->context_length);
    ck_assert_int_eq(a->vocab_size, b->vocab_size);
    ck_assert_int_eq(a->embed_dim, b->embed_dim);
}

START_TEST(clip_tiny_openclip_vs_hf)
{
    dp_err err;
    dp_clip_file *oc, *hf;
    ck_assert_msg(dp_clip_open(golden_path("tiny/clip.safetensors"), &oc, &err) == DP_OK, "%s",
                  err.msg);
    ck_assert_msg(dp_clip_open(golden_path("tiny/clip_hf.safetensors"), &hf, &err) == DP_OK, "%s",
                  err.msg);
    ck_assert_int_eq(dp_clip_is_hf(oc), 0);
    ck_assert_int_eq(dp_clip_is_hf(hf), 1);
    const dp_model_config *a = dp_clip_config(oc), *b = dp_clip_config(hf);
    print_cfg("tiny open_clip", a);
    print_cfg("tiny hf       ", b);
    assert_cfg_equal(a, b);
    const dp_model_config want = { 64, 24, 2, 14, 6, 32, 12, 2, 77, 49408, 32 };
    assert_cfg_equal(a, &want);

    /* every tensor of the open_clip file, read through both */
    dp_safetensors *raw;
    ck_assert_msg(dp_st_open(golden_path("tiny/clip.safetensors"), &raw, &err) == DP_OK, "%s",
                  err.msg);
    size_t n = dp_st_count(raw), compared = 0, floats = 0;
    for (size_t i = 0; i < n; i++) {
        const dp_st_tensor *t = dp_st_at(raw, i);
        size_t na = dp_clip_numel(oc, t->name), nb = dp_clip_numel(hf, t->name);
        ck_assert_msg(na == t->count && nb == t->count, "%s: numel %zu / %zu, file %zu", t->name,
                      na, nb, t->count);
        float *x = malloc(na * sizeof *x), *y = malloc(na * sizeof *y), *r = malloc(na * sizeof *r);
        ck_assert_msg(dp_clip_read(oc, t->name, x, &err) == DP_OK, "%s", err.msg);
        ck_assert_msg(dp_clip_read(hf, t->name, y, &err) == DP_OK, "%s", err.msg);
        ck_assert_msg(dp_st_to_f32(raw, t, r, &err) == DP_OK, "%s", err.msg);
        ck_assert_msg(memcmp(x, y, na * sizeof *x) == 0, "%s differs between open_clip and HF",
                      t->name);
        ck_assert_msg(memcmp(x, r, na * sizeof *x) == 0, "%s differs from the raw file", t->name);
        compared++;
        floats += na;
        free(x);
        free(y);
        free(r);
    }
    /* 13 globals + logit_scale + 12 tensors x 36 blocks */
    ck_assert_uint_eq(compared, 14 + 12 * 36);
    printf("  tiny: %zu tensors (%zu floats) bitwise identical open_clip vs HF\n", compared,
           floats);

    /* the transposition is real: HF visual_projection.weight [E][Wv] vs proj [Wv][E] */
    dp_safetensors *rh;
    ck_assert(dp_st_open(golden_path("tiny/clip_hf.safetensors"), &rh, &err) == DP_OK);
    const dp_st_tensor *vp = dp_st_find(rh, "visual_projection.weight");
    ck_assert(vp && vp->shape[0] == 32 && vp->shape[1] == 64);
    float *hv = malloc(vp->count * sizeof *hv), *pv = malloc(vp->count * sizeof *pv);
    ck_assert(dp_st_to_f32(rh, vp, hv, &err) == DP_OK);
    ck_assert(dp_clip_read(hf, "visual.proj", pv, &err) == DP_OK);
    ck_assert(memcmp(&pv[5 * 32 + 7], &hv[7 * 64 + 5], sizeof(float)) == 0);
    free(hv);
    free(pv);
    dp_st_close(rh);

    /* unknown names */
    float dummy[4];
    ck_assert_uint_eq(dp_clip_numel(oc, "visual.transformer.resblocks.24.ln_1.weight"), 0);
    ck_assert_uint_eq(dp_clip_numel(hf, "visual.transformer.resblocks.03.ln_1.weight"), 0);
    ck_assert_uint_eq(dp_clip_numel(oc, "nope"), 0);
    dp_status s = dp_clip_read(hf, "transformer.resblocks.12.ln_1.weight", dummy, &err);
    ASSERT_ERR(s, err, DP_E_ARG, "clip_hf.safetensors", "transformer.resblocks.12.ln_1.weight");

    dp_st_close(raw);
    dp_clip_close(oc);
    dp_clip_close(hf);
}
END_TEST

START_TEST(clip_small_f16)
{
    dp_err err;
    dp_clip_file *f;
    ck_assert_msg(dp_clip_open(golden_path("small/clip.safetensors"), &f, &err) == DP_OK, "%s",
                  err.msg);
    print_cfg("small", dp_clip_config(f));
    const dp_model_config want = { 128, 24, 2, 14, 16, 128, 12, 2, 77, 49408, 96 };
    assert_cfg_equal(dp_clip_config(f), &want);
    /* F16 -> f32 is exact: re-encoding every value of a tensor to half must give the same bits */
    dp_safetensors *raw;
    ck_assert(dp_st_open(golden_path("small/clip.safetensors"), &raw, &err) == DP_OK);
    const dp_st_tensor *t = dp_st_find(raw, "visual.transformer.resblocks.0.attn.in_proj_weight");
    ck_assert(t && t->dtype == DP_DT_F16);
    float *v = malloc(t->count * sizeof *v);
    ck_assert(dp_clip_read(f, t->name, v, &err) == DP_OK);
    const unsigned char *b = t->data;
    size_t checked = 0;
    for (size_t i = 0; i < t->count; i++) {
        unsigned h = b[2 * i] | (unsigned)b[2 * i + 1] << 8;
        /* reference decode in double: (-1)^s * 2^(e-15) * (1 + m/1024), subnormal 2^-14 m/1024 */
        int e = (int)((h >> 10) & 31);
        double m = h & 1023, ref = e ? ldexp(1 + m / 1024, e - 15) : ldexp(m / 1024, -14);
        if (h & 0x8000)
            ref = -ref;
        ck_assert_msg((double)v[i] == ref, "half 0x%04x -> %.9g, expected %.9g", h, (double)v[i],
                      ref);
        checked++;
    }
    printf("  small: %zu F16 values decoded exactly\n", checked);
    free(v);
    dp_st_close(raw);
    dp_clip_close(f);
}
END_TEST

/* The real OpenAI ViT-L/14-336 layout (open_clip names, F16, no metadata) as a sparse file:
 * only the header is real, the 855 MB of data are holes reading as zeros. */
typedef struct hdr_buf {
    char *s;
    size_t len, cap;
    uint64_t off;
} hdr_buf;

static void hb_add(hdr_buf *b, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2,
                   int64_t d3)
{
    int64_t d[4] = { d0, d1, d2, d3 };
    uint64_t n = 1;
    char shape[96] = "";
    size_t sl = 0;
    for (int i = 0; i < ndim; i++) {
        n *= (uint64_t)d[i];
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%s%lld", i ? "," : "",
                               (long long)d[i]);
    }
    if (b->cap - b->len < 512) {
        b->cap = b->cap * 2 + 4096;
        b->s = realloc(b->s, b->cap);
        ck_assert(b->s != NULL);
    }
    b->len += (size_t)snprintf(b->s + b->len, b->cap - b->len,
                               "%s\"%s\":{\"dtype\":\"F16\",\"shape\":[%s],\"data_offsets\":"
                               "[%llu,%llu]}", b->len ? "," : "{", name, shape,
                               (unsigned long long)b->off, (unsigned long long)(b->off + 2 * n));
    b->off += 2 * n;
}

/* An I64 [1, n] entry, like the position_ids buffers of Hugging Face CLIP checkpoints. */
static void hb_add_i64(hdr_buf *b, const char *name, int64_t n)
{
    b->len += (size_t)snprintf(b->s + b->len, b->cap - b->len,
                               ",\"%s\":{\"dtype\":\"I64\",\"shape\":[1,%lld],\"data_offsets\":"
                               "[%llu,%llu]}", name, (long long)n, (unsigned long long)b->off,
                               (unsigned long long)(b->off + 8 * (uint64_t)n));
    b->off += 8 * (uint64_t)n;
}

static void hb_tower(hdr_buf *b, const char *prefix, int layers, int64_t w)
{
    char name[128];
    for (int i = 0; i < layers; i++) {
#define T(sfx, nd, a, c) \
        snprintf(name, sizeof name, "%s%d.%s", prefix, i, sfx), hb_add(b, name, nd, a, c, 0, 0)
        T("ln_1.weight", 1, w, 0); T("ln_1.bias", 1, w, 0);
        T("attn.in_proj_weight", 2, 3 * w, w); T("attn.in_proj_bias", 1, 3 * w, 0);
        T("attn.out_proj.weight", 2, w, w); T("attn.out_proj.bias", 1, w, 0);
        T("ln_2.weight", 1, w, 0); T("ln_2.bias", 1, w, 0);
        T("mlp.c_fc.weight", 2, 4 * w, w); T("mlp.c_fc.bias", 1, 4 * w, 0);
        T("mlp.c_proj.weight", 2, w, 4 * w); T("mlp.c_proj.bias", 1, w, 0);
#undef T
    }
}

START_TEST(clip_vit_l14_336_layout)
{
    char dir[256], p[512];
    make_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/vit_l14_336.safetensors", dir);
    hdr_buf b = { 0 };
    hb_add(&b, "positional_embedding", 2, 77, 768, 0, 0);
    hb_add(&b, "text_projection", 2, 768, 768, 0, 0);
    hb_add(&b, "logit_scale", 0, 0, 0, 0, 0);
    hb_add(&b, "visual.class_embedding", 1, 1024, 0, 0, 0);
    hb_add(&b, "visual.positional_embedding", 2, 577, 1024, 0, 0);
    hb_add(&b, "visual.proj", 2, 1024, 768, 0, 0);
    hb_add(&b, "visual.conv1.weight", 4, 1024, 3, 14, 14);
    hb_add(&b, "visual.ln_pre.weight", 1, 1024, 0, 0, 0);
    hb_add(&b, "visual.ln_pre.bias", 1, 1024, 0, 0, 0);
    hb_tower(&b, "visual.transformer.resblocks.", 24, 1024);
    hb_add(&b, "visual.ln_post.weight", 1, 1024, 0, 0, 0);
    hb_add(&b, "visual.ln_post.bias", 1, 1024, 0, 0, 0);
    hb_add(&b, "token_embedding.weight", 2, 49408, 768, 0, 0);
    hb_tower(&b, "transformer.resblocks.", 12, 768);
    hb_add(&b, "ln_final.weight", 1, 768, 0, 0, 0);
    hb_add(&b, "ln_final.bias", 1, 768, 0, 0, 0);
    /* integer buffers that real checkpoints carry next to the weights must not stop loading */
    hb_add_i64(&b, "text_model.embeddings.position_ids", 77);
    hb_add_i64(&b, "vision_model.embeddings.position_ids", 577);
    b.s[b.len++] = '}';
    b.s[b.len] = '\0';
    write_st(p, b.s, NULL, 0);
    size_t hl = (b.len + 7) / 8 * 8;
    ck_assert(truncate(p, (off_t)(8 + hl + b.off)) == 0);   /* sparse: holes read as zeros */
    free(b.s);

    dp_err err;
    dp_clip_file *f;
    ck_assert_msg(dp_clip_open(p, &f, &err) == DP_OK, "%s", err.msg);
    print_cfg("ViT-L/14-336", dp_clip_config(f));
    const dp_model_config want = { 1024, 24, 16, 14, 24, 768, 12, 12, 77, 49408, 768 };
    assert_cfg_equal(dp_clip_config(f), &want);
    /* parameter count of spec 2.1: vision 304,293,888 + text 123,650,304 + logit_scale 1 */
    dp_safetensors *st;
    ck_assert(dp_st_open(p, &st, &err) == DP_OK);
    size_t total = 0;
    for (size_t i = 0; i < dp_st_count(st); i++) {
        if (dp_st_at(st, i)->dtype == DP_DT_OTHER)
            continue;       /* the I64 position_ids buffers */
        size_t n = dp_clip_numel(f, dp_st_at(st, i)->name);
        ck_assert_msg(n == dp_st_at(st, i)->count, "%s", dp_st_at(st, i)->name);
        total += n;
    }
    const dp_st_tensor *ids = dp_st_find(st, "vision_model.embeddings.position_ids");
    ck_assert_ptr_nonnull(ids);
    float *tmp = malloc(577 * sizeof *tmp);
    ck_assert_int_eq(dp_st_to_f32(st, ids, tmp, &err), DP_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'vision_model.embeddings.position_ids' has dtype I64"));
    free(tmp);
    printf("  ViT-L/14-336: %zu parameters (spec: 427944193)\n", total);
    ck_assert_uint_eq(total, 427944193u);
    dp_st_close(st);
    float *pos = malloc((size_t)(1 + 37 * 37) * 1024 * sizeof *pos);
    ck_assert_msg(dp_clip_pos_embed(f, 37, pos, &err) == DP_OK, "%s", err.msg);
    ck_assert(pos[0] == 0.0f && pos[1370 * 1024 - 1] == 0.0f);
    free(pos);
    dp_clip_close(f);
    rm_tmpdir(dir);
}
END_TEST

/* ---------- positional table ---------- */

static void pos_case(const char *cfgname, int grid)
{
    char clip[64], gold[64];
    snprintf(clip, sizeof clip, "%s/clip.safetensors", cfgname);
    snprintf(gold, sizeof gold, "%s/pos_embed_resized.npy", cfgname);
    dp_err err;
    dp_clip_file *f;
    ck_assert_msg(dp_clip_open(golden_path(clip), &f, &err) == DP_OK, "%s", err.msg);
    int w = dp_clip_config(f)->vision_width, n = dp_clip_config(f)->native_grid;
    npy_array g;
    ck_assert(npy_load(gold, &g) == 0);
    size_t count = (size_t)(1 + grid * grid) * (size_t)w;
    ck_assert_uint_eq(g.count, count);
    float *mine = malloc(count * sizeof *mine);
    ck_assert_msg(dp_clip_pos_embed(f, grid, mine, &err) == DP_OK, "%s", err.msg);
    /* row 0 (CLS) is copied, not resampled */
    ck_assert(memcmp(mine, g.data, (size_t)w * sizeof *mine) == 0);
    double atol = golden_atol(gold);   /* manifest: tiny 4e-7, small 6e-6 */
    ck_assert(atol > 0);
    char label[64];
    snprintf(label, sizeof label, "%s pos_embed %dx%d->%dx%d", cfgname, n, n, grid, grid);
    int ok = within(label, mine, g.data, count, atol, 0);
    fflush(stdout);   /* a failing check ends the forked test without flushing */
    ck_assert(ok);

    /* grid == native: the stored table unchanged */
    size_t nc = (size_t)(1 + n * n) * (size_t)w;
    float *same = malloc(nc * sizeof *same), *tab = malloc(nc * sizeof *tab);
    ck_assert(dp_clip_pos_embed(f, n, same, &err) == DP_OK);
    ck_assert(dp_clip_read(f, "visual.positional_embedding", tab, &err) == DP_OK);
    ck_assert(memcmp(same, tab, nc * sizeof *tab) == 0);
    dp_status s = dp_clip_pos_embed(f, 0, same, &err);
    ASSERT_ERR(s, err, DP_E_ARG, "clip.safetensors", "grid 0");
    free(same);
    free(tab);
    free(mine);
    npy_free(&g);
    dp_clip_close(f);
}

START_TEST(pos_embed_tiny) { pos_case("tiny", 8); }
END_TEST

START_TEST(pos_embed_small) { pos_case("small", 37); }
END_TEST

/* ---------- DAPO ---------- */

static void expect_same(const dp_safetensors *raw, const char *name, const float *mine,
                        size_t count)
{
    const dp_st_tensor *t = dp_st_find(raw, name);
    ck_assert_msg(t != NULL, "%s missing", name);
    ck_assert_uint_eq(t->count, count);
    float *r = malloc(count * sizeof *r);
    dp_err err;
    ck_assert(dp_st_to_f32(raw, t, r, &err) == DP_OK);
    ck_assert_msg(memcmp(r, mine, count * sizeof *r) == 0, "%s differs from the file", name);
    free(r);
}

static void dapo_case(const char *cfgname)
{
    char clip[64], dapo[64];
    snprintf(clip, sizeof clip, "%s/clip.safetensors", cfgname);
    snprintf(dapo, sizeof dapo, "%s/dapo.safetensors", cfgname);
    dp_err err;
    dp_clip_file *f;
    ck_assert_msg(dp_clip_open(golden_path(clip), &f, &err) == DP_OK, "%s", err.msg);
    const dp_model_config *c = dp_clip_config(f);
    dp_dapo_params p;
    ck_assert_msg(dp_dapo_load(golden_path(dapo), c, &p, &err) == DP_OK, "%s", err.msg);
    ck_assert_int_eq(p.vision_depth, 24);
    ck_assert_int_eq(p.text_depth, 12);
    dp_safetensors *raw;
    ck_assert(dp_st_open(golden_path(dapo), &raw, &err) == DP_OK);
    size_t wv = (size_t)c->vision_width, wt = (size_t)c->text_width, e = (size_t)c->embed_dim;
    expect_same(raw, "visual_prompt.learnable_visual_tokens", p.visual_tokens, 24 * 4 * wv);
    expect_same(raw, "prompt_learner.learnable_normal_tokens", p.normal_ctx, 10 * 5 * wt);
    expect_same(raw, "prompt_learner.learnable_abnormal_tokens", p.abnormal_ctx, 10 * 5 * wt);
    for (int k = 0; k < 12; k++) {
        char name[80];
        snprintf(name, sizeof name, "prompt_learner.learnable_layer_tokens.%d", k);
        expect_same(raw, name, p.layer_tokens + (size_t)k * 4 * wt, 4 * wt);
    }
    for (int j = 0; j < 4; j++) {
        char name[80];
        snprintf(name, sizeof name, "linear_adapter.fc.%d.weight", j);
        expect_same(raw, name, p.adapter_w[j], e * wv);
        snprintf(name, sizeof name, "linear_adapter.fc.%d.bias", j);
        expect_same(raw, name, p.adapter_b[j], e);
    }
    printf("  %s dapo: all learnable tensors equal the file\n", cfgname);
    dp_dapo_free(&p);
    dp_dapo_free(&p);   /* idempotent */

    /* configs that do not match the file */
    struct { int field; const char *tensor; } cases[] = {
        { 0, "visual_prompt.learnable_visual_tokens" },     /* vision width */
        { 1, "visual_prompt.learnable_visual_tokens" },     /* vision layers */
        { 2, "prompt_learner.learnable_normal_tokens" },    /* text width */
        { 3, "prompt_learner.learnable_layer_tokens" },     /* text layers */
        { 4, "linear_adapter.fc.0.weight" },                /* embed dim */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dp_model_config bad = *c;
        switch (cases[i].field) {
        case 0: bad.vision_width += 8; break;
        case 1: bad.vision_layers = 23; break;
        case 2: bad.text_width *= 2; break;
        case 3: bad.text_layers = 11; break;
        default: bad.embed_dim += 1; break;
        }
        dp_status s = dp_dapo_load(golden_path(dapo), &bad, &p, &err);
        ASSERT_ERR(s, err, DP_E_MODEL, "dapo.safetensors", cases[i].tensor);
        ck_assert(p.visual_tokens == NULL && p.layer_tokens == NULL && p.adapter_w[0] == NULL);
    }
    dp_st_close(raw);
    dp_clip_close(f);
}

START_TEST(dapo_tiny) { dapo_case("tiny"); }
END_TEST

START_TEST(dapo_small) { dapo_case("small"); }
END_TEST

/* ---------- dtype conversion ---------- */

START_TEST(dtype_conversion)
{
    char dir[256], path[300];
    make_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/dtypes.safetensors", dir);
    /* F16: 2^-24, largest subnormal, 2^-14, 1, -2, 65504, -0 ; BF16: 1, -5, smallest subnormal */
    const uint16_t h[] = { 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x7bff, 0x8000 };
    const uint16_t bf[] = { 0x3f80, 0xc0a0, 0x0001 };
    const float fl[] = { 1.5f, -0.25f };
    unsigned char data[14 + 6 + 8 + 2];
    for (int i = 0; i < 7; i++) { data[2 * i] = h[i] & 0xff; data[2 * i + 1] = h[i] >> 8; }
    for (int i = 0; i < 3; i++) { data[14 + 2 * i] = bf[i] & 0xff; data[15 + 2 * i] = bf[i] >> 8; }
    memcpy(data + 20, fl, 8);
    data[28] = 0x00; data[29] = 0x7c;   /* F16 +Inf */
    write_st(path,
             "{\"__metadata__\":{\"k\":\"v\"},"
             "\"h\":{\"dtype\":\"F16\",\"shape\":[7],\"data_offsets\":[0,14]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[14,20]},"
             "\"f\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[20,28]},"
             "\"inf.tensor\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[28,30]},"
             "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[30,30]}}",
             data, sizeof data);
    dp_err err;
    dp_safetensors *st;
    ck_assert_msg(dp_st_open(path, &st, &err) == DP_OK, "%s", err.msg);
    ck_assert_uint_eq(dp_st_count(st), 5);
    ck_assert_str_eq(dp_st_at(st, 0)->name, "h");
    ck_assert_str_eq(dp_json_get(dp_st_metadata(st), "k")->string, "v");
    float out[8];
    ck_assert(dp_st_to_f32(st, dp_st_find(st, "h"), out, &err) == DP_OK);
    const float want_h[] = { 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f, 1.0f, -2.0f, 65504.0f, -0.0f };
    ck_assert(memcmp(out, want_h, sizeof want_h) == 0);   /* bitwise: -0 keeps its sign */
    ck_assert(dp_st_to_f32(st, dp_st_find(st, "b"), out, &err) == DP_OK);
    const float want_b[] = { 1.0f, -5.0f, 0x1p-133f };
    ck_assert(memcmp(out, want_b, sizeof want_b) == 0);
    const dp_st_tensor *f = dp_st_find(st, "f");
    ck_assert(f->ndim == 2 && f->count == 2);
    ck_assert(dp_st_to_f32(st, f, out, &err) == DP_OK);
    ck_assert(out[0] == 1.5f && out[1] == -0.25f);
    const dp_st_tensor *sc = dp_st_find(st, "inf.tensor");
    ck_assert(sc->ndim == 0 && sc->count == 1 && sc->nbytes == 2);
    dp_status s = dp_st_to_f32(st, sc, out, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "dtypes.safetensors", "inf.tensor", "Inf");
    ck_assert(dp_st_find(st, "empty")->count == 0);
    ck_assert(dp_st_find(st, "absent") == NULL);
    dp_st_close(st);
    rm_tmpdir(dir);
}
END_TEST

/* ---------- corrupt files ---------- */

START_TEST(corrupt_safetensors)
{
    char dir[256], p[512];
    make_tmpdir(dir, sizeof dir);
    unsigned char d16[16] = { 0 };

#define CASE(file, header, data, dlen, code, ph1, ph2)                                             \
    do {                                                                                           \
        snprintf(p, sizeof p, "%s/%s", dir, file);                                                 \
        write_st(p, header, data, dlen);                                                           \
        expect_st_fail(p, code, ph1, ph2);                                                         \
    } while (0)

    /* I/O level */
    snprintf(p, sizeof p, "%s/empty.safetensors", dir);
    write_bytes(p, NULL, 0, NULL, 0, NULL, 0);
    expect_st_fail(p, DP_E_IO, "empty", NULL);
    snprintf(p, sizeof p, "%s/short.safetensors", dir);
    write_bytes(p, "\x10\0\0\0\0", 5, NULL, 0, NULL, 0);
    expect_st_fail(p, DP_E_FORMAT, "at least 8", NULL);
    snprintf(p, sizeof p, "%s/absent.safetensors", dir);
    expect_st_fail(p, DP_E_IO, strerror(ENOENT), NULL);
    snprintf(p, sizeof p, "%s/a_dir.safetensors", dir);
    ck_assert(mkdir(p, 0700) == 0);
    expect_st_fail(p, DP_E_IO, strerror(EISDIR), NULL);
    snprintf(p, sizeof p, "%s/fifo.safetensors", dir);
    ck_assert(mkfifo(p, 0600) == 0);
    expect_st_fail(p, DP_E_IO, "not a regular file", NULL);   /* and does not hang */

    /* header length */
    unsigned char n8[8];
    snprintf(p, sizeof p, "%s/hlen_big.safetensors", dir);
    le64(n8, 1000);
    write_bytes(p, n8, 8, "{}      ", 8, NULL, 0);
    expect_st_fail(p, DP_E_FORMAT, "header length 1000", "exceeds");
    snprintf(p, sizeof p, "%s/hlen_absurd.safetensors", dir);
    le64(n8, (uint64_t)1 << 60);
    write_bytes(p, n8, 8, "{}      ", 8, NULL, 0);
    expect_st_fail(p, DP_E_FORMAT, "absurd", NULL);

    /* header content */
    CASE("garbage.safetensors", "{\"a\": {\"dtype\": F32", NULL, 0, DP_E_FORMAT, "invalid JSON",
         NULL);
    CASE("notobj.safetensors", "[1, 2]", NULL, 0, DP_E_FORMAT, "not a JSON object", NULL);
    CASE("entry_type.safetensors", "{\"w.x\": 3}", NULL, 0, DP_E_FORMAT, "'w.x'", "not a JSON");
    CASE("nodtype.safetensors", "{\"w.nodt\":{\"shape\":[4],\"data_offsets\":[0,16]}}", d16, 16,
         DP_E_FORMAT, "'w.nodt'", "\"dtype\"");
    CASE("dtype_num.safetensors", "{\"w.a\":{\"dtype\":5,\"shape\":[4],\"data_offsets\":[0,16]}}",
         d16, 16, DP_E_FORMAT, "'w.a'", "\"dtype\" must be a string");
    CASE("f128.safetensors", "{\"w.f128\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
         d16, 16, DP_E_UNSUPPORTED, "'w.f128'", "'F128' (weights must be F32, F16 or BF16)");
    CASE("shape_str.safetensors", "{\"w.s\":{\"dtype\":\"F32\",\"shape\":\"4\",\"data_offsets\":"
         "[0,16]}}", d16, 16, DP_E_FORMAT, "'w.s'", "\"shape\" must be an array");
    CASE("shape_neg.safetensors", "{\"w.neg\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":"
         "[0,16]}}", d16, 16, DP_E_FORMAT, "'w.neg'", "shape[0]");
    CASE("shape_frac.safetensors", "{\"w.fr\":{\"dtype\":\"F32\",\"shape\":[4.5],\"data_offsets\":"
         "[0,16]}}", d16, 16, DP_E_FORMAT, "'w.fr'", "shape[0]");
    CASE("shape_huge.safetensors", "{\"w.huge\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,"
         "4],\"data_offsets\":[0,16]}}", d16, 16, DP_E_FORMAT, "'w.huge'", "exceeds");
    CASE("shape_ovf.safetensors", "{\"w.ovf\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999]"
         ",\"data_offsets\":[0,16]}}", d16, 16, DP_E_FORMAT, "'w.ovf'", "shape[0]");
    CASE("dims9.safetensors", "{\"w.9\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,4],"
         "\"data_offsets\":[0,16]}}", d16, 16, DP_E_FORMAT, "'w.9'", "9 dimensions");
    CASE("offs_len.safetensors", "{\"w.o\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":"
         "[0]}}", d16, 16, DP_E_FORMAT, "'w.o'", "data_offsets");
    CASE("offs_order.safetensors", "{\"w.rev\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":"
         "[16,0]}}", d16, 16, DP_E_FORMAT, "'w.rev'", "begin > end");
    CASE("offs_range.safetensors", "{\"w.far\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":"
         "[8,24]}}", d16, 16, DP_E_FORMAT, "'w.far'", "beyond");
    CASE("overlap.safetensors", "{\"w.one\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":"
         "[0,12]},\"w.two\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", d16, 16,
         DP_E_FORMAT, "'w.one' [0,12) and 'w.two' [8,16)", "overlapping");
    CASE("mismatch.safetensors", "{\"w.mm\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":"
         "[0,16]}}", d16, 16, DP_E_FORMAT, "'w.mm'", "shape/size mismatch");
    CASE("dup.safetensors", "{\"w.dup\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"w.dup\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", d16, 16,
         DP_E_FORMAT, "'w.dup'", "duplicate");
    CASE("meta_type.safetensors", "{\"__metadata__\":{\"heads\":2}}", NULL, 0, DP_E_FORMAT,
         "__metadata__", "'heads'");
    CASE("meta_arr.safetensors", "{\"__metadata__\":[]}", NULL, 0, DP_E_FORMAT, "__metadata__",
         "object of strings");

    /* truncated data section of a real file */
    size_t len;
    char *raw = tsup_slurp(golden_path("tiny/dapo.safetensors"), &len);
    snprintf(p, sizeof p, "%s/dapo_trunc.safetensors", dir);
    write_bytes(p, raw, len - 1000, NULL, 0, NULL, 0);
    expect_st_fail(p, DP_E_FORMAT, "linear_adapter.fc.", "beyond");
    snprintf(p, sizeof p, "%s/dapo_hdr_trunc.safetensors", dir);
    write_bytes(p, raw, 1000, NULL, 0, NULL, 0);
    expect_st_fail(p, DP_E_FORMAT, "exceeds", "truncated");
    free(raw);

    /* NaN: the header is fine, reading names the tensor */
    const float vals[4] = { 1.0f, 2.0f, 0.0f, 4.0f };
    unsigned char nan_data[16];
    memcpy(nan_data, vals, 16);
    nan_data[8] = 0x00; nan_data[9] = 0x00; nan_data[10] = 0xc0; nan_data[11] = 0x7f;
    snprintf(p, sizeof p, "%s/nan.safetensors", dir);
    write_st(p, "{\"w.nan\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
             nan_data, 16);
    dp_err err;
    dp_safetensors *st;
    ck_assert_msg(dp_st_open(p, &st, &err) == DP_OK, "%s", err.msg);
    float out[4];
    dp_status s = dp_st_to_f32(st, dp_st_find(st, "w.nan"), out, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "nan.safetensors", "'w.nan'", "element 2 [1,0] is NaN");
    dp_st_close(st);
#undef CASE
    rm_tmpdir(dir);
}
END_TEST

/* Every refusal of the CLIP mapper: one header edit each (shapes with the same byte size, config
 * values that disagree with the tensors, head widths that do not divide), on both namings. */
START_TEST(corrupt_clip_table)
{
    static const struct { int hf; const char *anchor, *from, *to, *phrase; } cases[] = {
        /* open_clip config against the tensors */
        { 0, NULL, "\\\"embed_dim\\\": 32", "\\\"embed_dim\\\": 31", "embed_dim" },
        { 0, "vision_cfg", "\\\"layers\\\": 24", "\\\"layers\\\": 23", "layers" },
        { 0, "vision_cfg", "\\\"patch_size\\\": 14", "\\\"patch_size\\\": 16", "patch_size" },
        { 0, "text_cfg", "\\\"width\\\": 32", "\\\"width\\\": 30", "width" },
        { 0, "text_cfg", "\\\"layers\\\": 12", "\\\"layers\\\": 11", "layers" },
        { 0, NULL, "\\\"context_length\\\": 77", "\\\"context_length\\\": 76", "context_length" },
        { 0, NULL, "\\\"head_width\\\": 32", "\\\"head_width\\\": 30", "head" },
        { 0, NULL, "\\\"head_width\\\": 32", "\\\"head_width\\\": -1", "head" },
        { 0, NULL, "\\\"heads\\\": 2", "\\\"heads\\\": 3", "head" },
        { 0, NULL, "\\\"embed_dim\\\": 32", "\\\"embed_dim\\\": \\\"x\\\"", "embed_dim" },
        /* a config that is not a JSON object: ignored, head width 64 does not divide 32 */
        { 0, NULL, "\"open_clip_config\":\"{", "\"open_clip_config\":\"x{", "head width 64" },
        /* Hugging Face config against the tensors */
        { 1, NULL, "\\\"projection_dim\\\": 32", "\\\"projection_dim\\\": 31", "projection_dim" },
        { 1, "vision_config", "\\\"hidden_size\\\": 64", "\\\"hidden_size\\\": 60", "hidden_size" },
        { 1, "vision_config", "\\\"num_hidden_layers\\\": 24", "\\\"num_hidden_layers\\\": 23", "num_hidden_layers" },
        { 1, "vision_config", "\\\"patch_size\\\": 14", "\\\"patch_size\\\": 16", "patch_size" },
        { 1, "text_config", "\\\"hidden_size\\\": 32", "\\\"hidden_size\\\": 30", "hidden_size" },
        { 1, "text_config", "\\\"num_hidden_layers\\\": 12", "\\\"num_hidden_layers\\\": 11", "num_hidden_layers" },
        { 1, "text_config", "\\\"max_position_embeddings\\\": 77", "\\\"max_position_embeddings\\\": 76", "max_position_embeddings" },
        { 1, "vision_config", "\\\"num_attention_heads\\\": 2", "\\\"num_attention_heads\\\": 3", "head" },
        { 1, "text_config", "\\\"num_attention_heads\\\": 2", "\\\"num_attention_heads\\\": 3", "head" },
        { 1, "text_config", "\\\"num_attention_heads\\\": 2", "\\\"num_attention_heads\\\": -2", "head" },
        /* tensor shapes with the same number of elements */
        { 0, "\"visual.conv1.weight\"", "[64,3,14,14]", "[3,64,14,14]", "input channels" },
        { 0, "\"visual.conv1.weight\"", "[64,3,14,14]", "[64,3,196,1]", "patch" },
        { 0, "\"visual.positional_embedding\"", "[37,64]", "[74,32]", "positional" },
        { 0, "\"token_embedding.weight\"", "[49408,32]", "[98816,16]", "" },
        { 0, "\"positional_embedding\"", "[77,32]", "[2464,1]", "2464" },
        { 0, "\"visual.proj\"", "[64,32]", "[32,64]", "" },
        { 0, "\"text_projection\"", "[32,32]", "[16,64]", "" },
        { 1, "\"visual_projection.weight\"", "[32,64]", "[64,32]", "" },
        { 1, "\"vision_model.embeddings.patch_embedding.weight\"", "[64,3,14,14]", "[64,3,28,7]", "patch" },
        /* tensors the shape is read from: missing, or of the wrong rank */
        { 0, NULL, "\"visual.positional_embedding\"", "\"visual.positional_embeddinz\"", "missing" },
        { 0, NULL, "\"visual.proj\"", "\"visual.proz\"", "missing" },
        { 0, NULL, "\"token_embedding.weight\"", "\"token_embedding.weighz\"", "missing" },
        { 0, NULL, "\"positional_embedding\":", "\"positional_embeddinz\":", "missing" },
        { 0, "\"visual.positional_embedding\"", "[37,64]", "[2368]", "" },
        { 0, "\"visual.proj\"", "[64,32]", "[2048]", "" },
        { 0, "\"token_embedding.weight\"", "[49408,32]", "[1581056]", "" },
        { 0, "\"positional_embedding\"", "[77,32]", "[2464]", "" },
        { 0, "\"visual.conv1.weight\"", "[64,3,14,14]", "[37632]", "" },
        { 0, "\"visual.positional_embedding\"", "[37,64]", "[1,2368]", "" },
        { 0, "\"visual.conv1.weight\"", "[64,3,14,14]", "[37632,1,1,1]", "vision width" },
        { 0, "\"token_embedding.weight\"", "[49408,32]", "[1,1581056]", "" },
        { 0, NULL, "\\\"embed_dim\\\": 32", "\\\"embed_dim\\\": 32.5", "embed_dim" },
        { 0, NULL, "\\\"embed_dim\\\": 32", "\\\"embed_dim\\\": 0", "embed_dim" },
        { 0, NULL, "\\\"head_width\\\": 32", "\\\"head_width\\\": 128", "head" },
        { 0, NULL, "\\\"heads\\\": 2", "\\\"heads\\\": -2", "head" },
        { 0, NULL, "\\\"heads\\\": 2", "\\\"heads\\\": 64", "head" },
        { 1, "vision_config", "\\\"num_attention_heads\\\": 2", "\\\"num_attention_heads\\\": -2", "head" },
        { 1, "vision_config", "\\\"num_attention_heads\\\": 2", "\\\"num_attention_heads\\\": 128", "head" },
        { 0, "vision_cfg", "\\\"width\\\": 64", "\\\"width\\\": 60", "width" },
        { 0, NULL, "\\\"head_width\\\": 32", "\\\"head_width\\\": 0", "head_width" },
        { 0, NULL, "\\\"heads\\\": 2", "\\\"heads\\\": 99999", "text heads" },
        { 1, "vision_config", "\\\"num_attention_heads\\\": 2", "\\\"num_attention_heads\\\": 99999", "vision heads" },
        { 1, "text_config", "\\\"num_attention_heads\\\": 2", "\\\"num_attention_heads\\\": 99999", "text heads" },
        { 1, "text_config", "\\\"vocab_size\\\": 49408", "\\\"vocab_size\\\": 49407", "vocab_size" },
        { 0, NULL, "\\\"heads\\\": 2", "\\\"headz\\\": 2", "text heads" },
        { 1, "text_config", "\\\"num_attention_heads\\\": 2", "\\\"num_attention_headz\\\": 2", "text heads" },
        /* both namings in one file */
        { 0, NULL, "\"logit_scale\"", "\"vision_model.embeddings.patch_embedding.weight\"", "both" },
    };
    char dir[256], p[512];
    make_tmpdir(dir, sizeof dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(p, sizeof p, "%s/case%zu.safetensors", dir, i);
        rewrite_header(golden_path(cases[i].hf ? "tiny/clip_hf.safetensors" : "tiny/clip.safetensors"),
                       p, cases[i].anchor, cases[i].from, cases[i].to);
        dp_clip_file *f = (dp_clip_file *)1;
        dp_err err;
        dp_err_clear(&err);
        dp_status st = dp_clip_open(p, &f, &err);
        ck_assert_msg(st != DP_OK, "case %zu (%s -> %s) accepted", i, cases[i].from, cases[i].to);
        ck_assert_ptr_null(f);
        ck_assert_msg(strstr(err.msg, cases[i].phrase) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
                      err.msg, cases[i].phrase);
    }
    printf("  clip mapper: %zu header edits refused, each naming what disagrees\n",
           sizeof cases / sizeof cases[0]);
    /* metadata the mapper passes over: blank space before a config, empty strings, another
     * key's text that is not JSON */
    static const struct { int hf; const char *anchor, *from, *to; int vision_heads; } fine[] = {
        { 0, NULL, "\"open_clip_config\":\"{", "\"open_clip_config\":\" \\n\\t\\r{", 2 },
        { 0, NULL, "\"format\":\"pt\"", "\"format\":\"\"", 2 },
        { 0, NULL, "\"format\":\"pt\"", "\"format\":\"{pt\"", 2 },
        { 0, NULL, "\\\"head_width\\\": 32", "\\\"head_widtx\\\": 32", 1 },   /* default 64 */
        { 0, NULL, "\\\"context_length\\\": 77", "\\\"context_lengtx\\\": 77", 2 },
        { 1, "vision_config", "\\\"num_attention_heads\\\": 2", "\\\"num_attention_headz\\\": 2", 1 },
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        snprintf(p, sizeof p, "%s/fine%zu.safetensors", dir, i);
        rewrite_header(golden_path(fine[i].hf ? "tiny/clip_hf.safetensors" : "tiny/clip.safetensors"), p,
                       fine[i].anchor, fine[i].from, fine[i].to);
        dp_clip_file *g = NULL;
        dp_err e2;
        ck_assert_msg(dp_clip_open(p, &g, &e2) == DP_OK, "fine %zu: %s", i, e2.msg);
        ck_assert_int_eq(dp_clip_config(g)->vision_heads, fine[i].vision_heads);
        dp_clip_close(g);
    }
    /* the DAPO loader's arguments */
    dp_dapo_params dp;
    dp_model_config good = { 64, 24, 2, 14, 6, 32, 12, 2, 77, 49408, 32 };
    dp_err de;
    ck_assert_int_eq(dp_dapo_load(golden_path("tiny/dapo.safetensors"), &good, NULL, &de), DP_E_ARG);
    ck_assert_int_eq(dp_dapo_load(golden_path("tiny/dapo.safetensors"), NULL, &dp, &de), DP_E_ARG);
    for (int k = 0; k < 5; k++) {
        dp_model_config bad = good;
        int *field[] = { &bad.vision_layers, &bad.text_layers, &bad.vision_width, &bad.text_width,
                         &bad.embed_dim };
        *field[k] = 0;
        ck_assert_int_eq(dp_dapo_load(golden_path("tiny/dapo.safetensors"), &bad, &dp, &de), DP_E_ARG);
        ck_assert_ptr_null(dp.visual_tokens);
    }
    ck_assert_int_ne(dp_dapo_load("/nonexistent/dapo.safetensors", &good, &dp, &de), DP_OK);
    dp_dapo_free(NULL);

    /* arguments and accessors */
    dp_err err;
    dp_clip_file *f = NULL;
    ck_assert_int_eq(dp_clip_open(golden_path("tiny/clip_hf.safetensors"), NULL, &err), DP_E_ARG);
    ck_assert_ptr_null(dp_clip_config(NULL));
    ck_assert_int_eq(dp_clip_is_hf(NULL), 0);
    ck_assert_ptr_null(dp_clip_path(NULL));
    ck_assert_msg(dp_clip_open(golden_path("tiny/clip_hf.safetensors"), &f, &err) == DP_OK, "%s", err.msg);
    float row[64];
    ck_assert_uint_eq(dp_clip_numel(NULL, "visual.proj"), 0);
    ck_assert_uint_eq(dp_clip_numel(f, NULL), 0);
    ck_assert_uint_eq(dp_clip_numel(f, "visual.nothing"), 0);
    ck_assert_int_eq(dp_clip_read(NULL, "visual.proj", row, &err), DP_E_ARG);
    ck_assert_int_eq(dp_clip_read(f, "visual.proj", NULL, &err), DP_E_ARG);
    ck_assert_int_ne(dp_clip_read(f, "visual.nothing", row, &err), DP_OK);
    ck_assert_int_eq(dp_clip_pos_embed(NULL, 8, row, &err), DP_E_ARG);
    ck_assert_int_eq(dp_clip_pos_embed(f, 0, row, &err), DP_E_ARG);
    ck_assert_int_eq(dp_clip_pos_embed(f, 100000, row, &err), DP_E_ARG);
    ck_assert_int_eq(dp_clip_pos_embed(f, 8, NULL, &err), DP_E_ARG);
    ck_assert_int_eq(dp_clip_read(f, NULL, row, &err), DP_E_ARG);
    ck_assert_int_ne(dp_clip_read(f, "visual.nothing", row, NULL), DP_OK);
    /* names the mapper does not know, on both namings */
    static const char *const unknown[] = { "", "nothing", "visual.transformer.resblocks.0.nope",
                                           "visual.transformer.resblocks.99.ln_1.weight",
                                           "transformer.resblocks.x.ln_1.weight", "visual.conv1.bias" };
    dp_clip_file *oc = NULL;
    ck_assert(dp_clip_open(golden_path("tiny/clip.safetensors"), &oc, &err) == DP_OK);
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ck_assert_uint_eq(dp_clip_numel(f, unknown[i]), 0);
        ck_assert_uint_eq(dp_clip_numel(oc, unknown[i]), 0);
        ck_assert_int_ne(dp_clip_read(oc, unknown[i], row, &err), DP_OK);
        ck_assert_int_ne(dp_clip_read(f, unknown[i], row, &err), DP_OK);
    }
    dp_clip_close(oc);
    dp_clip_close(f);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(corrupt_clip)
{
    char dir[256], p[512];
    make_tmpdir(dir, sizeof dir);
    const char *oc = golden_path("tiny/clip.safetensors");
    const char *hf = golden_path("tiny/clip_hf.safetensors");
    dp_err err;
    dp_clip_file *f = (dp_clip_file *)1;
    dp_status s;

    /* missing block tensor (renamed away; the block count stays 24) */
    snprintf(p, sizeof p, "%s/miss.safetensors", dir);
    rewrite_header(oc, p, NULL, "\"visual.transformer.resblocks.5.ln_1.weight\"",
                   "\"visual.transformer.resblocks.5.ln_1.weighz\"");
    s = dp_clip_open(p, &f, &err);
    ck_assert(f == NULL);
    ASSERT_ERR(s, err, DP_E_MODEL, "miss.safetensors",
               "'visual.transformer.resblocks.5.ln_1.weight'",
               "missing");
    rewrite_header(oc, p, NULL, "\"ln_final.bias\"", "\"ln_final.biaz\"");
    s = dp_clip_open(p, &f, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "miss.safetensors", "'ln_final.bias'", "missing");

    /* HF: a missing k projection names both names */
    snprintf(p, sizeof p, "%s/miss_hf.safetensors", dir);
    rewrite_header(hf, p, NULL, "\"vision_model.encoder.layers.7.self_attn.k_proj.weight\"",
                   "\"vision_model.encoder.layers.7.self_attn.k_proj.weighz\"");
    s = dp_clip_open(p, &f, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "miss_hf.safetensors",
               "'vision_model.encoder.layers.7.self_attn.k_proj.weight'", "missing",
               "visual.transformer.resblocks.7.attn.in_proj_weight");

    /* wrong shape with the right byte size */
    snprintf(p, sizeof p, "%s/shape.safetensors", dir);
    rewrite_header(oc, p, "\"visual.transformer.resblocks.3.mlp.c_fc.weight\"", "[256,64]",
                   "[64,256]");
    s = dp_clip_open(p, &f, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "shape.safetensors", "'visual.transformer.resblocks.3.mlp.c_fc."
               "weight'", "shape [64,256], expected [256,64]");
    rewrite_header(oc, p, "\"visual.positional_embedding\"", "[37,64]", "[1,64]");
    s = dp_clip_open(p, &f, &err);
    ck_assert_int_ne(s, DP_OK);   /* 1 row: no grid (the size mismatch is caught first) */
    printf("  expected error: %s\n", err.msg);

    /* not a CLIP file at all */
    s = dp_clip_open(golden_path("tiny/dapo.safetensors"), &f, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "dapo.safetensors", "not a CLIP checkpoint",
               "visual.conv1.weight");

    /* metadata: a head width that does not divide the width */
    snprintf(p, sizeof p, "%s/meta.safetensors", dir);
    rewrite_header(oc, p, NULL, "\\\"head_width\\\": 32", "\\\"head_width\\\": 24");
    s = dp_clip_open(p, &f, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "meta.safetensors", "open_clip_config", "head_width");
    rewrite_header(oc, p, NULL, "\\\"layers\\\": 24", "\\\"layers\\\": 12");
    s = dp_clip_open(p, &f, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "meta.safetensors", "vision_cfg.layers = 12", "24");
    rewrite_header(oc, p, NULL, "\"open_clip_config\":\"{", "\"open_clip_config\":\"{,");
    s = dp_clip_open(p, &f, &err);
    ASSERT_ERR(s, err, DP_E_FORMAT, "meta.safetensors", "open_clip_config", "invalid JSON");
    /* no usable config: head width 64 -> text width 32 has no valid head count */
    rewrite_header(oc, p, NULL, "\"open_clip_config\":\"{", "\"open_clip_config\":\"#{");
    s = dp_clip_open(p, &f, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "meta.safetensors", "text width 32", "head width 64");
    /* ... while small (widths 128) gets 2 heads from the default */
    rewrite_header(golden_path("small/clip.safetensors"), p, NULL, "\"open_clip_config\":\"{",
                   "\"open_clip_config\":\"#{");
    ck_assert_msg(dp_clip_open(p, &f, &err) == DP_OK, "%s", err.msg);
    ck_assert_int_eq(dp_clip_config(f)->vision_heads, 2);
    ck_assert_int_eq(dp_clip_config(f)->text_heads, 2);
    dp_clip_close(f);

    /* NaN inside a CLIP tensor: open succeeds (no full scan), reading names the tensor */
    size_t len;
    char *raw = tsup_slurp(oc, &len);
    dp_safetensors *st;
    ck_assert(dp_st_open(oc, &st, &err) == DP_OK);
    const dp_st_tensor *t = dp_st_find(st, "visual.ln_post.bias");
    char *at = find_bytes(raw, len, t->data, t->nbytes);
    ck_assert(at != NULL);
    const unsigned char qnan[4] = { 0, 0, 0xc0, 0x7f };
    memcpy(at + 3 * 4, qnan, 4);
    dp_st_close(st);
    snprintf(p, sizeof p, "%s/nan_clip.safetensors", dir);
    write_bytes(p, raw, len, NULL, 0, NULL, 0);
    free(raw);
    ck_assert_msg(dp_clip_open(p, &f, &err) == DP_OK, "%s", err.msg);
    float buf[64];
    s = dp_clip_read(f, "visual.ln_post.bias", buf, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "nan_clip.safetensors", "'visual.ln_post.bias'", "NaN");
    ck_assert(dp_clip_read(f, "visual.ln_post.weight", buf, &err) == DP_OK);
    dp_clip_close(f);

    /* the same in an HF q/k/v part: the message names the HF tensor and the open_clip one */
    raw = tsup_slurp(hf, &len);
    ck_assert(dp_st_open(hf, &st, &err) == DP_OK);
    t = dp_st_find(st, "text_model.encoder.layers.2.self_attn.v_proj.bias");
    at = find_bytes(raw, len, t->data, t->nbytes);
    ck_assert(at != NULL);
    const unsigned char inf[4] = { 0, 0, 0x80, 0xff };
    memcpy(at + 5 * 4, inf, 4);
    dp_st_close(st);
    snprintf(p, sizeof p, "%s/nan_hf.safetensors", dir);
    write_bytes(p, raw, len, NULL, 0, NULL, 0);
    free(raw);
    ck_assert_msg(dp_clip_open(p, &f, &err) == DP_OK, "%s", err.msg);
    float qkv[96];
    ck_assert_uint_eq(dp_clip_numel(f, "transformer.resblocks.2.attn.in_proj_bias"), 96);
    s = dp_clip_read(f, "transformer.resblocks.2.attn.in_proj_bias", qkv, &err);
    ASSERT_ERR(s, err, DP_E_MODEL, "nan_hf.safetensors",
               "'text_model.encoder.layers.2.self_attn.v_proj.bias'", "Inf",
               "transformer.resblocks.2.attn.in_proj_bias");
    dp_clip_close(f);
    rm_tmpdir(dir);
}
END_TEST

/* ---------- random mutations: statuses only, never a crash (ASan watches) ---------- */

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void mutate(uint64_t *rng, char *buf, size_t *len, size_t hdr_end)
{
    static const char interesting[] = "\"{}[],:0123456789-e.\\ F";
    switch (xorshift(rng) % 5) {
    case 0:   /* truncate anywhere */
        *len = xorshift(rng) % (*len + 1);
        break;
    case 1:   /* flip bits in the header region (incl. the length field) */
        for (int k = 1 + (int)(xorshift(rng) % 4); k > 0; k--)
            buf[xorshift(rng) % hdr_end] ^= (char)(1u << (xorshift(rng) % 8));
        break;
    case 2:   /* JSON punctuation / digits somewhere in the header */
        for (int k = 1 + (int)(xorshift(rng) % 3); k > 0; k--)
            buf[8 + xorshift(rng) % (hdr_end - 8)] =
                interesting[xorshift(rng) % (sizeof interesting - 1)];
        break;
    case 3:   /* change one digit (offsets / shapes) */
        for (int tries = 0; tries < 64; tries++) {
            size_t i = 8 + xorshift(rng) % (hdr_end - 8);
            if (buf[i] >= '0' && buf[i] <= '9') {
                buf[i] = (char)('0' + xorshift(rng) % 10);
                break;
            }
        }
        break;
    default:  /* random byte in the length field */
        buf[xorshift(rng) % 8] = (char)xorshift(rng);
        break;
    }
}

/* 8 + header length of a well-formed file image. */
static size_t header_end(const char *raw, size_t len)
{
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | (unsigned char)raw[i];
    ck_assert(hl + 8 < len);
    return (size_t)hl + 8;
}

START_TEST(mutation_fuzz)
{
    char dir[256], p[512];
    make_tmpdir(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/m.safetensors", dir);
    size_t len;
    char *orig = tsup_slurp(golden_path("tiny/dapo.safetensors"), &len);
    size_t hdr_end = header_end(orig, len);
    ck_assert(hdr_end < len);
    dp_err err;
    dp_clip_file *clip;
    ck_assert(dp_clip_open(golden_path("tiny/clip.safetensors"), &clip, &err) == DP_OK);
    char *buf = malloc(len);
    float *tmp = malloc(len * 2 * sizeof *tmp);   /* >= any tensor count of a <= len byte file */
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int counts[DP_E_INTERNAL + 1] = { 0 }, loaded = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(buf, orig, len);
        size_t n = len;
        mutate(&rng, buf, &n, hdr_end);
        write_bytes(p, buf, n, NULL, 0, NULL, 0);
        dp_safetensors *st = NULL;
        dp_err_clear(&err);
        dp_status s = dp_st_open(p, &st, &err);
        ck_assert(s >= DP_OK && s <= DP_E_INTERNAL);
        if (s) {
            ck_assert(st == NULL && err.code == s && err.msg[0]);
            ck_assert(strstr(err.msg, "m.safetensors") != NULL);
        } else {
            for (size_t i = 0; i < dp_st_count(st); i++) {
                const dp_st_tensor *t = dp_st_at(st, i);
                ck_assert(t->nbytes <= n);
                dp_status c = dp_st_to_f32(st, t, tmp, &err);
                ck_assert(c == DP_OK || c == DP_E_MODEL);
            }
            dp_st_close(st);
            dp_dapo_params d;
            s = dp_dapo_load(p, dp_clip_config(clip), &d, &err);
            ck_assert(s >= DP_OK && s <= DP_E_INTERNAL);
            if (s)
                ck_assert(err.msg[0] && d.visual_tokens == NULL);
            else
                loaded++;
            dp_dapo_free(&d);
        }
        counts[s]++;
    }
    printf("  mutation fuzz (300 x tiny/dapo.safetensors):");
    for (int c = 0; c <= DP_E_INTERNAL; c++)
        if (counts[c])
            printf(" %s=%d", dp_status_name((dp_status)c), counts[c]);
    printf(" (dapo loads ok: %d)\n", loaded);
    ck_assert_int_gt(counts[DP_E_FORMAT], 50);   /* the mutations really hit the parser */
    free(tmp);
    free(buf);
    free(orig);
    dp_clip_close(clip);

    /* a smaller run on the HF CLIP header (dp_clip_open: names, shapes, metadata) */
    orig = tsup_slurp(golden_path("tiny/clip_hf.safetensors"), &len);
    hdr_end = header_end(orig, len);
    buf = malloc(len);
    int ok = 0, bad = 0;
    for (int it = 0; it < 40; it++) {
        memcpy(buf, orig, len);
        size_t n = len;
        mutate(&rng, buf, &n, hdr_end);
        write_bytes(p, buf, n, NULL, 0, NULL, 0);
        dp_status s = dp_clip_open(p, &clip, &err);
        ck_assert(s >= DP_OK && s <= DP_E_INTERNAL && s != DP_E_INTERNAL);
        if (s) {
            ck_assert(clip == NULL && err.msg[0]);
            bad++;
        } else {
            ok++;
            dp_clip_close(clip);
        }
    }
    printf("  mutation fuzz (40 x tiny/clip_hf.safetensors): %d opened, %d rejected\n", ok, bad);
    free(buf);
    free(orig);
    rm_tmpdir(dir);
}
END_TEST

Suite *weights_suite(void)
{
    Suite *s = suite_create("weights");
    TCase *tc = tcase_create("weights");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, clip_tiny_openclip_vs_hf);
    tcase_add_test(tc, clip_small_f16);
    tcase_add_test(tc, clip_vit_l14_336_layout);
    tcase_add_test(tc, pos_embed_tiny);
    tcase_add_test(tc, pos_embed_small);
    tcase_add_test(tc, dapo_tiny);
    tcase_add_test(tc, dapo_small);
    tcase_add_test(tc, dtype_conversion);
    tcase_add_test(tc, corrupt_safetensors);
    tcase_add_test(tc, corrupt_clip);
    tcase_add_test(tc, corrupt_clip_table);
    tcase_add_test(tc, mutation_fuzz);
    suite_add_tcase(s, tc);
    return s;
}

/* The text-feature cache (module/model/text_cache.c, module/tool/cache_dir.c): a hit gives the
 * features and results of a cold run bit for bit; every kind of damage or staleness is ignored
 * and rewritten; an unusable directory leaves tool creation working; racing writers and
 * readers never see half a file. Everything is written below a mkdtemp directory. */
#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_dir.h"
#include "golden.h"
#include "test_images.h"
#include "text_cache.h"
#include "tool_internal.h"
#include "test_cmd.h"

static char g_dir[256];

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dp_text_cache_XXXXXX");
    ck_assert(mkdtemp(g_dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    ck_assert(system(cmd) == 0);
}

/* ---- the model layer's API on synthetic features ---------------------------------------- */

enum { WT = 32, LAYERS = 12, E = 32, CTX = 77 };
static float g_normal[DP_ENSEMBLE * DP_CONTEXT_TOKENS * WT], g_abnormal[sizeof g_normal / sizeof(float)];
static float g_layers[LAYERS * DP_TEXT_PROMPTS * WT];
static const char *DEFECTS[] = { "hole", "scratch", "faulty imprint" };

static dp_model_config tiny_cfg(void)
{
    dp_model_config c = { 64, 24, 2, 14, 6, WT, LAYERS, 2, CTX, 49408, E };
    return c;
}

static char g_clip[512], g_vocab[512];

/* Inputs naming the golden tiny CLIP file and the shipped vocabulary; cfg: borrowed. */
static dp_text_cache_inputs inputs(const dp_model_config *cfg, const char *const *defects, int n)
{
    snprintf(g_clip, sizeof g_clip, "%s/tiny/clip.safetensors", golden_dir());
    snprintf(g_vocab, sizeof g_vocab, "%s/bpe_simple_vocab_16e6.txt.gz", models_dir());
    for (size_t i = 0; i < sizeof g_normal / sizeof(float); i++) {
        g_normal[i] = 0.01f * (float)(i % 17);
        g_abnormal[i] = -0.02f * (float)(i % 13);
    }
    for (size_t i = 0; i < sizeof g_layers / sizeof(float); i++)
        g_layers[i] = 0.003f * (float)(i % 29);
    dp_text_cache_inputs in = { "0.1.0", g_clip, g_vocab, cfg, DP_C_F32, 2, g_normal, g_abnormal,
                                g_layers, defects, n };
    return in;
}

static dp_text_cache_key make_key(const dp_text_cache_inputs *in)
{
    dp_text_cache_key k;
    dp_err e;
    ck_assert_msg(dp_text_cache_key_make(in, &k, &e) == DP_OK, "%s", e.msg);
    return k;
}

static void normalize(float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    for (int i = 0; i < n; i++)
        v[i] = (float)(v[i] / sqrt(s));
}

/* Features of n states with unit rows; owned by the caller (dp_text_features_free). */
static dp_text_features fake_features(int n)
{
    dp_text_features tf = { n, E, malloc((size_t)n * E * sizeof(float)), malloc(E * sizeof(float)),
                            malloc((size_t)n * E * sizeof(float)), malloc((size_t)n * sizeof(int)) };
    for (int i = 0; i < n * E; i++)
        tf.unnormalized[i] = tf.features[i] = sinf(0.37f * (float)i + 0.1f);
    for (int s = 0; s < n; s++) {
        normalize(tf.features + (size_t)s * E, E);
        tf.pool_index[s] = 8 + s;
    }
    for (int j = 0; j < E; j++)
        tf.abnormal[j] = cosf(0.11f * (float)j);
    normalize(tf.abnormal, E);
    return tf;
}

static void expect_same_features(const dp_text_features *a, const dp_text_features *b)
{
    ck_assert_int_eq(a->n_states, b->n_states);
    ck_assert_int_eq(a->dim, b->dim);
    size_t ne = (size_t)a->n_states * a->dim;
    ck_assert(memcmp(a->features, b->features, ne * sizeof(float)) == 0);
    ck_assert(memcmp(a->unnormalized, b->unnormalized, ne * sizeof(float)) == 0);
    ck_assert(memcmp(a->abnormal, b->abnormal, (size_t)a->dim * sizeof(float)) == 0);
    ck_assert(memcmp(a->pool_index, b->pool_index, (size_t)a->n_states * sizeof(int)) == 0);
}

static void write_ok(const char *dir, const dp_text_cache_key *k, const dp_text_features *tf)
{
    dp_err e;
    ck_assert_msg(dp_text_cache_write(dir, k, tf, &e) == DP_OK, "%s", e.msg);
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

START_TEST(roundtrip_is_bit_identical)
{
    dp_model_config c = tiny_cfg();
    dp_text_cache_inputs in = inputs(&c, DEFECTS, 3);
    dp_text_cache_key k = make_key(&in);
    dp_text_features tf = fake_features(4), got;
    char why[512];
    ck_assert_int_eq(dp_text_cache_read(g_dir, &k, &got, why, sizeof why), DP_TEXT_CACHE_ABSENT);
    ck_assert_ptr_null(got.features);
    write_ok(g_dir, &k, &tf);
    ck_assert_msg(dp_text_cache_read(g_dir, &k, &got, why, sizeof why) == DP_TEXT_CACHE_HIT, "%s", why);
    expect_same_features(&tf, &got);
    char path[512];
    ck_assert_int_eq(dp_text_cache_path(g_dir, &k, path, sizeof path), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);   /* only its owner may change it */
    dp_text_features_free(&got);
    dp_text_features_free(&tf);
    dp_text_cache_key_free(&k);
}
END_TEST

/* Truncated at several points and one byte flipped at several places (header fields, key,
 * checksum, payload): each read is refused, and a rewrite makes it valid again. */
START_TEST(damage_is_ignored_and_rewritten)
{
    dp_model_config c = tiny_cfg();
    dp_text_cache_inputs in = inputs(&c, DEFECTS, 3);
    dp_text_cache_key k = make_key(&in);
    dp_text_features tf = fake_features(4), got;
    char path[512], why[512];
    ck_assert_int_eq(dp_text_cache_path(g_dir, &k, path, sizeof path), 0);
    write_ok(g_dir, &k, &tf);
    const long total = file_size(path);
    const long header = 48, key_end = header + (long)k.len;
    ck_assert_int_gt(total, key_end);
    const long cuts[] = { 0, 7, 47, header, header + 5, key_end - 1, key_end, key_end + 100, total - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        ck_assert_int_eq(truncate(path, cuts[i]), 0);
        ck_assert_msg(dp_text_cache_read(g_dir, &k, &got, why, sizeof why) == DP_TEXT_CACHE_REJECTED,
                      "truncated at %ld was accepted", cuts[i]);
        ck_assert_ptr_null(got.features);
        ck_assert_ptr_nonnull(strstr(why, "truncated"));
        write_ok(g_dir, &k, &tf);
        ck_assert_int_eq(dp_text_cache_read(g_dir, &k, &got, why, sizeof why), DP_TEXT_CACHE_HIT);
        dp_text_features_free(&got);
    }
    /* magic, format, n_states, dim, reserved, key_len, payload_len, checksum, key, payload
     * (features, abnormal, unnormalized, pooled rows) */
    const long flips[] = { 0, 8, 12, 16, 20, 24, 32, 40, header + 3, key_end - 2, key_end,
                           key_end + 4 * 4 * E + 1, total - 4 * 4 - 8, total - 2 };
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        FILE *f = fopen(path, "r+b");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fseek(f, flips[i], SEEK_SET), 0);
        int b = fgetc(f);
        ck_assert_int_ne(b, EOF);
        ck_assert_int_eq(fseek(f, flips[i], SEEK_SET), 0);
        fputc(b ^ 0x40, f);
        fclose(f);
        ck_assert_msg(dp_text_cache_read(g_dir, &k, &got, why, sizeof why) == DP_TEXT_CACHE_REJECTED,
                      "byte %ld of %ld flipped was accepted", flips[i], total);
        ck_assert_ptr_null(got.features);
        write_ok(g_dir, &k, &tf);
        ck_assert_int_eq(dp_text_cache_read(g_dir, &k, &got, why, sizeof why), DP_TEXT_CACHE_HIT);
        expect_same_features(&tf, &got);
        dp_text_features_free(&got);
    }
    dp_text_features_free(&tf);
    dp_text_cache_key_free(&k);
}
END_TEST

/* Values that passed the checksum but cannot be features (written so by a bug or by hand):
 * a NaN, a row not of unit length, a pooled row outside the context. */
START_TEST(implausible_values_are_refused)
{
    dp_model_config c = tiny_cfg();
    dp_text_cache_inputs in = inputs(&c, DEFECTS, 3);
    dp_text_cache_key k = make_key(&in);
    const char *expect[] = { "non-finite", "unit length", "unit length", "pooled row" };
    for (int kind = 0; kind < 4; kind++) {
        dp_text_features tf = fake_features(4), got;
        if (kind == 0)
            tf.unnormalized[5] = NAN;
        else if (kind == 1)
            tf.features[E + 3] *= 1.01f;
        else if (kind == 2)
            tf.abnormal[0] += 0.1f;
        else
            tf.pool_index[2] = CTX;
        write_ok(g_dir, &k, &tf);
        char why[512];
        ck_assert_int_eq(dp_text_cache_read(g_dir, &k, &got, why, sizeof why), DP_TEXT_CACHE_REJECTED);
        ck_assert_msg(strstr(why, expect[kind]) != NULL, "kind %d: %s", kind, why);
        ck_assert_ptr_null(got.features);
        dp_text_features_free(&tf);
    }
    dp_text_cache_key_free(&k);
}
END_TEST

/* Every input of the key changes it, and a file written for another key but found under this
 * key's name (a copy, a digest collision) is refused because the whole key is compared. */
START_TEST(other_inputs_are_stale)
{
    dp_model_config c = tiny_cfg();
    dp_text_cache_inputs base = inputs(&c, DEFECTS, 3);
    dp_text_cache_key k0 = make_key(&base);
    dp_text_features tf = fake_features(4), got;
    write_ok(g_dir, &k0, &tf);
    char p0[512], why[512];
    ck_assert_int_eq(dp_text_cache_path(g_dir, &k0, p0, sizeof p0), 0);

    /* a private copy of the CLIP file whose stat identity we can change */
    char clip_copy[600];
    snprintf(clip_copy, sizeof clip_copy, "%s/clip_copy.safetensors", g_dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", base.clip_path, clip_copy);
    ck_assert(system(cmd) == 0);
    static const char *reordered[] = { "scratch", "hole", "faulty imprint" };
    static const char *renamed[] = { "hole", "scratch", "faulty  imprint" };
    static const char *shorter[] = { "hole", "scratch" };
    float prompt_changed[sizeof g_normal / sizeof(float)];
    for (int variant = 0; variant < 10; variant++) {
        dp_model_config cv = c;
        dp_text_cache_inputs in = base;
        in.cfg = &cv;
        switch (variant) {
        case 0: in.defects = reordered; break;
        case 1: in.defects = renamed; break;
        case 2: in.defects = shorter; in.n_defects = 2; break;
        case 3: in.precision = DP_C_BF16; break;
        case 4: in.version = "0.1.1"; break;
        case 5: in.threads = 1; break;
        case 6: in.clip_path = clip_copy; break;   /* another file (inode, mtime) */
        case 7:
            memcpy(prompt_changed, g_normal, sizeof prompt_changed);
            prompt_changed[17] = nextafterf(prompt_changed[17], 1.0f);   /* one ulp */
            in.normal_ctx = prompt_changed;
            break;
        case 8: in.vocab_path = base.clip_path; break;   /* another vocabulary file */
        case 9: cv.text_layers = 11; break;
        }
        dp_text_cache_key kv = make_key(&in);
        ck_assert_msg(kv.digest != k0.digest, "variant %d keeps the key", variant);
        ck_assert_int_eq(dp_text_cache_read(g_dir, &kv, &got, why, sizeof why), DP_TEXT_CACHE_ABSENT);
        char pv[512];
        ck_assert_int_eq(dp_text_cache_path(g_dir, &kv, pv, sizeof pv), 0);
        if (kv.n_states == k0.n_states) {
            snprintf(cmd, sizeof cmd, "cp '%s' '%s'", p0, pv);
            ck_assert(system(cmd) == 0);
            ck_assert_int_eq(dp_text_cache_read(g_dir, &kv, &got, why, sizeof why), DP_TEXT_CACHE_REJECTED);
            ck_assert_msg(strstr(why, "key differs") || strstr(why, "bytes; expected"), "%d: %s", variant, why);
            ck_assert_ptr_null(got.features);
            unlink(pv);
        }
        dp_text_cache_key_free(&kv);
    }
    /* the same file rewritten in place (new modification time) is another model version */
    dp_text_cache_inputs in = base;
    in.clip_path = clip_copy;
    dp_text_cache_key ka = make_key(&in);
    sleep(1);   /* file systems with one-second timestamps */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", base.clip_path, clip_copy);   /* same inode */
    ck_assert(system(cmd) == 0);
    dp_text_cache_key kb = make_key(&in);
    ck_assert(ka.len != kb.len || memcmp(ka.bytes, kb.bytes, ka.len) != 0);
    dp_text_cache_key_free(&ka);
    dp_text_cache_key_free(&kb);
    /* the original is untouched by all this */
    ck_assert_int_eq(dp_text_cache_read(g_dir, &k0, &got, why, sizeof why), DP_TEXT_CACHE_HIT);
    expect_same_features(&tf, &got);
    dp_text_features_free(&got);
    dp_text_features_free(&tf);
    dp_text_cache_key_free(&k0);
}
END_TEST

/* A FIFO or a directory where the cache file should be: refused at once (never waited on),
 * and a write replaces the FIFO with a real file. */
START_TEST(fifo_is_never_followed)
{
    dp_model_config c = tiny_cfg();
    dp_text_cache_inputs in = inputs(&c, DEFECTS, 3);
    dp_text_cache_key k = make_key(&in);
    dp_text_features tf = fake_features(4), got;
    char path[512], why[512];
    ck_assert_int_eq(dp_text_cache_path(g_dir, &k, path, sizeof path), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(dp_text_cache_read(g_dir, &k, &got, why, sizeof why), DP_TEXT_CACHE_REJECTED);
    ck_assert_msg(strstr(why, "FIFO") != NULL, "%s", why);
    write_ok(g_dir, &k, &tf);
    ck_assert_int_eq(dp_text_cache_read(g_dir, &k, &got, why, sizeof why), DP_TEXT_CACHE_HIT);
    dp_text_features_free(&got);
    dp_text_features_free(&tf);
    dp_text_cache_key_free(&k);
}
END_TEST

/* A directory that cannot exist (below a regular file; root ignores permission bits, so the
 * test does not rely on them): the write fails with the path, nothing is left behind. */
START_TEST(unusable_directory_fails_cleanly)
{
    dp_model_config c = tiny_cfg();
    dp_text_cache_inputs in = inputs(&c, DEFECTS, 3);
    dp_text_cache_key k = make_key(&in);
    dp_text_features tf = fake_features(4), got;
    char file[300], dir[400], why[512];
    snprintf(file, sizeof file, "%s/plain_file", g_dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/cache", file);
    dp_err e;
    ck_assert_int_eq(dp_text_cache_write(dir, &k, &tf, &e), DP_E_IO);
    ck_assert_msg(strstr(e.msg, "plain_file") != NULL, "%s", e.msg);
    ck_assert_int_ne(dp_text_cache_read(dir, &k, &got, why, sizeof why), DP_TEXT_CACHE_HIT);
    dp_text_features_free(&tf);
    dp_text_cache_key_free(&k);
}
END_TEST

/* Writers racing to replace one cache file while readers read it: every read finds a whole,
 * valid file, never half of one; no temporary file is left. */
typedef struct race_arg {
    const dp_text_cache_key *key;
    const dp_text_features *tf;
    int writer, rounds, rejected, hits, failed_writes;
} race_arg;

static void *race_worker(void *p)
{
    race_arg *a = p;
    for (int i = 0; i < a->rounds; i++) {
        if (a->writer) {
            dp_err e;
            a->failed_writes += dp_text_cache_write(g_dir, a->key, a->tf, &e) != DP_OK;
        } else {
            dp_text_features got;
            char why[512];
            dp_text_cache_lookup l = dp_text_cache_read(g_dir, a->key, &got, why, sizeof why);
            a->rejected += l == DP_TEXT_CACHE_REJECTED;
            a->hits += l == DP_TEXT_CACHE_HIT;
            dp_text_features_free(&got);
        }
    }
    return NULL;
}

START_TEST(racing_writers_and_readers)
{
    dp_model_config c = tiny_cfg();
    dp_text_cache_inputs in = inputs(&c, DEFECTS, 3);
    dp_text_cache_key k = make_key(&in);
    dp_text_features tf = fake_features(4);
    write_ok(g_dir, &k, &tf);   /* replaced over and over while the readers read it */
    enum { THREADS = 4 };
    pthread_t th[THREADS];
    race_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (race_arg){ &k, &tf, i % 2 == 0, 150, 0, 0, 0 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_worker, &args[i]), 0);
    }
    int hits = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].rejected, 0);
        ck_assert_int_eq(args[i].failed_writes, 0);
        hits += args[i].hits;
    }
    ck_assert_int_eq(hits, THREADS / 2 * 150);   /* every read found a whole, valid file */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", g_dir);
    ck_assert_msg(system(cmd) == 0, "temporary files left in %s", g_dir);
    dp_text_features_free(&tf);
    dp_text_cache_key_free(&k);
}
END_TEST

/* ---- the directory decision --------------------------------------------------------------- */

START_TEST(directory_decision)
{
    dp_recipe r = { 0 };
    const char *src;
    char *d;
    r.text_cache_off = 1;
    setenv(DP_TEXT_CACHE_ENV, "/tmp/env_cache", 1);
    ck_assert_ptr_null(dp_text_cache_dir_decide(&r, &src));
    ck_assert_ptr_nonnull(strstr(src, "recipe"));
    r.text_cache_off = 0;
    r.text_cache_dir = "/tmp/recipe_cache";
    d = dp_text_cache_dir_decide(&r, &src);
    ck_assert_str_eq(d, "/tmp/recipe_cache");
    free(d);
    r.text_cache_dir = NULL;
    d = dp_text_cache_dir_decide(&r, &src);
    ck_assert_str_eq(d, "/tmp/env_cache");
    free(d);
    setenv(DP_TEXT_CACHE_ENV, "NONE", 1);
    ck_assert_ptr_null(dp_text_cache_dir_decide(&r, &src));
    unsetenv(DP_TEXT_CACHE_ENV);
    setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
    setenv("HOME", "/tmp/home", 1);
    d = dp_text_cache_dir_decide(&r, &src);
    ck_assert_str_eq(d, "/tmp/xdg/dapo-inspect");
    free(d);
    setenv("XDG_CACHE_HOME", "relative", 1);   /* the XDG spec: ignored */
    d = dp_text_cache_dir_decide(&r, &src);
    ck_assert_str_eq(d, "/tmp/home/.cache/dapo-inspect");
    free(d);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    ck_assert_ptr_null(dp_text_cache_dir_decide(&r, &src));
    setenv(DP_TEXT_CACHE_ENV, "none", 1);   /* as check_main left it */
}
END_TEST

/* ---- through the tool --------------------------------------------------------------------- */

typedef struct log_capture {
    pthread_mutex_t lock;
    char text[8192];
    int warnings;
} log_capture;

static void capture_log(void *user, int32_t level, const char *msg)
{
    log_capture *c = user;
    pthread_mutex_lock(&c->lock);
    size_t n = strlen(c->text);
    snprintf(c->text + n, sizeof c->text - n, "%s\n", msg);
    c->warnings += level == INSP_LOG_WARN;
    pthread_mutex_unlock(&c->lock);
}

/* A recipe for the golden tiny model with `cache` as its text_cache line (may be ""). */
static const char *recipe(const char *name, const char *cache, const char *extra)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.yaml", g_dir, name);
    tsup_write(path, "recipe_version: 1\nproduct: cache test\nmodel:\n"
               "  clip: %s/tiny/clip.safetensors\n  dapo: %s/tiny/dapo.safetensors\n"
               "  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
               "precision: f32\ninput_size: 112\nthreads: 2\n"
               "defects: [hole, scratch, faulty imprint, discoloration]\n%s\n%s",
               golden_dir(), golden_dir(), models_dir(), cache, extra);
    return path;
}

static insp_tool *create(const char *recipe_path, log_capture *lc)
{
    insp_host host = { sizeof host, lc, capture_log, 0, NULL };
    if (lc)
        lc->text[0] = '\0';
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = NULL;
    ck_assert_msg(dp_tool_create(&host, recipe_path, &t, err, sizeof err) == INSP_OK, "%s", err);
    return t;
}

/* Processes the golden image a.png; returns the result (caller frees). */
static insp_result *process(insp_tool *t)
{
    io_image im = golden_rgb8("tiny/inputs/a.png");
    insp_image v = view_rgb8(&im);
    insp_result *r = NULL;
    char err[INSP_ERRBUF_SIZE];
    ck_assert_msg(dp_tool_process(t, &v, &r, err, sizeof err) == INSP_OK, "%s", err);
    io_image_free(&im);
    return r;
}

static void expect_same_result(const insp_result *a, const insp_result *b)
{
    ck_assert(memcmp(&a->score, &b->score, sizeof a->score) == 0);
    ck_assert_int_eq(a->width, b->width);
    ck_assert_int_eq(a->height, b->height);
    ck_assert(memcmp(a->anomaly, b->anomaly, (size_t)a->width * a->height * sizeof(float)) == 0);
    ck_assert(memcmp(a->class_scores, b->class_scores, (size_t)a->n_classes * sizeof(float)) == 0);
}

static log_capture g_log = { PTHREAD_MUTEX_INITIALIZER, "", 0 };

START_TEST(tool_hit_equals_cold_run)
{
    char cache[400];
    snprintf(cache, sizeof cache, "text_cache: %s/cache", g_dir);
    insp_tool *cold = create(recipe("off", "text_cache: none", ""), &g_log);
    ck_assert_int_eq(cold->model->text_origin, DP_TEXT_ENCODED);
    insp_tool *first = create(recipe("on", cache, ""), &g_log);
    ck_assert_int_eq(first->model->text_origin, DP_TEXT_CACHE_STORED);
    ck_assert_msg(strstr(g_log.text, "stored in the cache") != NULL, "%s", g_log.text);
    insp_tool *hit = create(recipe("on", cache, ""), &g_log);
    ck_assert_int_eq(hit->model->text_origin, DP_TEXT_FROM_CACHE);
    ck_assert_msg(strstr(g_log.text, "read from the cache") != NULL, "%s", g_log.text);
    expect_same_features(&cold->model->text, &hit->model->text);
    expect_same_features(&cold->model->text, &first->model->text);
    insp_result *ra = process(cold), *rb = process(hit);
    expect_same_result(ra, rb);
    dp_result_free(ra);
    dp_result_free(rb);
    dp_tool_destroy(cold);
    dp_tool_destroy(first);
    dp_tool_destroy(hit);
}
END_TEST

/* A damaged file under the tool: creation works, says so once, and the features are the cold
 * run's; the next tool reads the rewritten file. */
START_TEST(tool_rewrites_damaged_file)
{
    char cache[400], file[600];
    snprintf(cache, sizeof cache, "text_cache: %s/cache", g_dir);
    const char *rp = recipe("on", cache, "");
    insp_tool *first = create(rp, &g_log);
    char *slash = strstr(g_log.text, "the cache ");
    ck_assert_ptr_nonnull(slash);
    ck_assert_int_eq(sscanf(slash + strlen("the cache "), "%599s", file), 1);
    FILE *f = fopen(file, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, -20, SEEK_END), 0);
    fputc(0x5a, f);
    fclose(f);
    insp_tool *again = create(rp, &g_log);
    ck_assert_int_eq(again->model->text_origin, DP_TEXT_CACHE_REPLACED);
    ck_assert_msg(strstr(g_log.text, "checksum") && strstr(g_log.text, "rewritten"), "%s", g_log.text);
    expect_same_features(&first->model->text, &again->model->text);
    insp_tool *hit = create(rp, &g_log);
    ck_assert_int_eq(hit->model->text_origin, DP_TEXT_FROM_CACHE);
    dp_tool_destroy(first);
    dp_tool_destroy(again);
    dp_tool_destroy(hit);
}
END_TEST

START_TEST(tool_works_without_writable_cache)
{
    char file[300], cache[400];
    snprintf(file, sizeof file, "%s/plain_file", g_dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(cache, sizeof cache, "text_cache: %s/below", file);
    insp_tool *cold = create(recipe("off", "text_cache: none", ""), &g_log);
    int warnings = g_log.warnings;
    insp_tool *t = create(recipe("bad", cache, ""), &g_log);
    ck_assert_int_eq(t->model->text_origin, DP_TEXT_CACHE_UNUSABLE);
    ck_assert_int_eq(g_log.warnings, warnings + 1);   /* said once */
    ck_assert_msg(strstr(g_log.text, "running without it") != NULL, "%s", g_log.text);
    expect_same_features(&cold->model->text, &t->model->text);
    dp_tool_destroy(cold);
    dp_tool_destroy(t);
}
END_TEST

typedef struct create_arg { const char *recipe; insp_tool *tool; } create_arg;

static void *create_worker(void *p)
{
    create_arg *a = p;
    char err[INSP_ERRBUF_SIZE];
    if (dp_tool_create(NULL, a->recipe, &a->tool, err, sizeof err) != INSP_OK)
        a->tool = NULL;
    return NULL;
}

/* Two tools created at once on an empty cache: both encode, both store; both get the cold
 * run's features and a third tool reads the file. */
START_TEST(two_tools_racing)
{
    char cache[400];
    snprintf(cache, sizeof cache, "text_cache: %s/cache", g_dir);
    const char *rp = recipe("race", cache, "");
    create_arg a = { rp, NULL }, b = { rp, NULL };
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, create_worker, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, create_worker, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ck_assert_ptr_nonnull(a.tool);
    ck_assert_ptr_nonnull(b.tool);
    expect_same_features(&a.tool->model->text, &b.tool->model->text);
    insp_tool *hit = create(rp, &g_log);
    ck_assert_int_eq(hit->model->text_origin, DP_TEXT_FROM_CACHE);
    expect_same_features(&a.tool->model->text, &hit->model->text);
    dp_tool_destroy(a.tool);
    dp_tool_destroy(b.tool);
    dp_tool_destroy(hit);
}
END_TEST

/* Another defect list, precision or thread count reaches another file: the tool encodes. */
START_TEST(tool_other_settings_miss)
{
    char cache[400];
    snprintf(cache, sizeof cache, "text_cache: %s/cache", g_dir);
    insp_tool *t0 = create(recipe("on", cache, ""), &g_log);
    ck_assert_int_eq(t0->model->text_origin, DP_TEXT_CACHE_STORED);
    dp_tool_destroy(t0);
    static const char *const variants[][3] = {
        { "f32", "1", "[hole, scratch, faulty imprint, discoloration]" },
        { "bf16", "2", "[hole, scratch, faulty imprint, discoloration]" },
        { "f32", "2", "[hole, scratch, discoloration, faulty imprint]" },
    };
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/variant%d.yaml", g_dir, i);
        FILE *f = fopen(path, "w");
        ck_assert(f);
        fprintf(f, "recipe_version: 1\nproduct: cache test\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
                   "  dapo: %s/tiny/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
                   "input_size: 112\nprecision: %s\nthreads: %s\ndefects: %s\n%s\n", golden_dir(),
                golden_dir(), models_dir(), variants[i][0], variants[i][1], variants[i][2], cache);
        fclose(f);
        insp_tool *t = create(path, &g_log);
        /* bf16 on a CPU without it runs int8, whose text tower runs f32: at 2 threads that is
         * the first tool's key (the key holds the text tower's precision), a hit */
        int same = i == 1 && t->model->opt.precision != DP_C_BF16;
        ck_assert_int_eq(t->model->text_origin, same ? DP_TEXT_FROM_CACHE : DP_TEXT_CACHE_STORED);
        dp_tool_destroy(t);
    }
}
END_TEST

Suite *text_cache_suite(void)
{
    Suite *s = suite_create("text_cache");
    TCase *tc = tcase_create("text_cache");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, roundtrip_is_bit_identical);
    tcase_add_test(tc, damage_is_ignored_and_rewritten);
    tcase_add_test(tc, implausible_values_are_refused);
    tcase_add_test(tc, other_inputs_are_stale);
    tcase_add_test(tc, fifo_is_never_followed);
    tcase_add_test(tc, unusable_directory_fails_cleanly);
    tcase_add_test(tc, racing_writers_and_readers);
    tcase_add_test(tc, directory_decision);
    tcase_add_test(tc, tool_hit_equals_cold_run);
    tcase_add_test(tc, tool_rewrites_damaged_file);
    tcase_add_test(tc, tool_works_without_writable_cache);
    tcase_add_test(tc, two_tools_racing);
    tcase_add_test(tc, tool_other_settings_miss);
    suite_add_tcase(s, tc);
    return s;
}

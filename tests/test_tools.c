/* The model and data tools: the .pth converter against the golden checkpoints (byte-exact
 * tensors, refusal of code-running pickles, clear errors), make_demo_model (the golden tiny
 * tensor table in F16, finite, deterministic per seed) and make_demo_images (file set, masks that
 * agree with the truth files). The tools run as subprocesses, as users run them. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "imageio.h"
#include "golden.h"
#include "json.h"

/* ---------- scratch directory, files, subprocesses ---------- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dapo_tools_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* "<tmpdir>/<name>" in a small static rotation. */
static const char *tmp(const char *name)
{
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    ck_assert_int_ge(len, 0);
    uint8_t *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    b[len] = 0;
    *n = (size_t)len;
    return b;
}

static void spill(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* Runs a shell command (stdout and stderr to <tmpdir>/log.txt) and returns its exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[2400];
    snprintf(full, sizeof full, "%s >'%s' 2>&1", cmd, tmp("log.txt"));
    int st = system(full);
    ck_assert_msg(st != -1 && WIFEXITED(st), "could not run: %s", cmd);
    return WEXITSTATUS(st);
}

/* Output of the last run(). Caller frees. */
static char *last_log(void)
{
    size_t n;
    return (char *)slurp(tmp("log.txt"), &n);
}

static const char *converter(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/convert_dapo_pth.py", models_dir());
    return path;
}

/* build/<name> ($DAPO_BUILD overrides build/). `make check` does not build the tools, so a
 * missing binary is compiled here from its source into the scratch directory. */
static const char *tool(const char *name)
{
    static char path[1024];
    const char *dir = getenv("DAPO_BUILD");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "build", name);
    if (access(path, X_OK) == 0)
        return path;
    fprintf(stderr, "tools: %s missing, compiling it for this test\n", path);
    const char *extra = strcmp(name, "make_demo_images") == 0
                            ? "sdk_shim/imageio.c $(pkg-config --libs libtiff-4 libpng zlib)"
                            : "";
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cc -std=c11 -O2 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L "
             "-o '%s' tools/%s.c %s -lm", path, name, extra);
    ck_assert_msg(system(cmd) == 0, "could not build %s: %s", name, cmd);
    return path;
}

/* ---------- safetensors, read directly ---------- */

typedef struct stfile {
    uint8_t *buf;
    size_t len, data;     /* data: offset of the data section */
    dp_json *head;
} stfile;

static void st_load(const char *path, stfile *st)
{
    st->buf = slurp(path, &st->len);
    ck_assert_msg(st->len >= 8, "%s: too short", path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | st->buf[i];
    ck_assert_msg(n <= st->len - 8, "%s: header length %llu", path, (unsigned long long)n);
    ck_assert_msg(n % 8 == 0, "%s: header not padded to 8 bytes", path);
    st->data = 8 + (size_t)n;
    dp_err err;
    ck_assert_msg(dp_json_parse((const char *)st->buf + 8, (size_t)n, path, &st->head, &err) == DP_OK,
                  "%s", err.msg);
    ck_assert_int_eq(st->head->type, DP_JSON_OBJECT);
}

static void st_free(stfile *st)
{
    dp_json_free(st->head);
    free(st->buf);
}

typedef struct stinfo {
    const char *dtype;
    int ndim;
    int64_t shape[8];
    size_t begin, end;
} stinfo;

/* Header entry of `name`; 0 if absent. Checks offsets lie in the data section. */
static int st_info(const stfile *st, const char *name, stinfo *out)
{
    const dp_json *e = dp_json_get(st->head, name);
    if (!e)
        return 0;
    const dp_json *dt = dp_json_get(e, "dtype"), *sh = dp_json_get(e, "shape");
    const dp_json *off = dp_json_get(e, "data_offsets");
    ck_assert(dt && dt->type == DP_JSON_STRING && sh && sh->type == DP_JSON_ARRAY && off &&
              off->type == DP_JSON_ARRAY && off->count == 2 && sh->count <= 8);
    out->dtype = dt->string;
    out->ndim = (int)sh->count;
    for (size_t i = 0; i < sh->count; i++)
        out->shape[i] = sh->items[i].integer;
    out->begin = (size_t)off->items[0].integer;
    out->end = (size_t)off->items[1].integer;
    ck_assert(out->begin <= out->end && out->end <= st->len - st->data);
    return 1;
}

static const uint8_t *st_bytes(const stfile *st, const stinfo *t) { return st->buf + st->data + t->begin; }

static size_t elems(const stinfo *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    return n;
}

static int same_shape(const stinfo *a, const stinfo *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

/* Tensors (metadata excluded) and whether their offsets tile the data section without gaps. */
static size_t st_check_layout(const stfile *st, const char *path)
{
    size_t n = 0, pos = 0;
    for (size_t i = 0; i < st->head->count; i++) {
        if (strcmp(st->head->keys[i], "__metadata__") == 0)
            continue;
        stinfo t;
        ck_assert(st_info(st, st->head->keys[i], &t));
        ck_assert_msg(t.begin == pos, "%s: %s starts at %zu, expected %zu", path, st->head->keys[i],
                      t.begin, pos);
        pos = t.end;
        n++;
    }
    ck_assert_msg(st->data + pos == st->len, "%s: %zu trailing bytes", path, st->len - st->data - pos);
    return n;
}

/* ---------- converter ---------- */

static void check_converted(const char *out)
{
    stfile g, m;
    st_load(golden_path("tiny/dapo.safetensors"), &g);
    st_load(out, &m);
    size_t ng = st_check_layout(&g, "golden"), nm = st_check_layout(&m, out);
    ck_assert_uint_eq(nm, ng);
    size_t bytes = 0;
    for (size_t i = 0; i < g.head->count; i++) {
        const char *name = g.head->keys[i];
        if (strcmp(name, "__metadata__") == 0)
            continue;
        stinfo a, b;
        ck_assert(st_info(&g, name, &a));
        ck_assert_msg(st_info(&m, name, &b), "%s: tensor %s missing", out, name);
        ck_assert_str_eq(b.dtype, "F32");
        ck_assert_msg(same_shape(&a, &b), "%s: shape of %s differs", out, name);
        ck_assert_uint_eq(b.end - b.begin, a.end - a.begin);
        ck_assert_msg(memcmp(st_bytes(&g, &a), st_bytes(&m, &b), a.end - a.begin) == 0,
                      "%s: bytes of %s differ", out, name);
        bytes += a.end - a.begin;
    }
    printf("tools: %s: %zu tensors, %zu bytes identical to tiny/dapo.safetensors%s\n", out, ng,
           bytes, same_file(out, golden_path("tiny/dapo.safetensors")) ? " (whole file identical)" : "");
    st_free(&g);
    st_free(&m);
}

static const char *const CHECKPOINTS[] = {"checkpoint/tiny_train_style.pth",
                                          "checkpoint/tiny_test_style.pth"};

START_TEST(test_convert_golden)
{
    make_tmpdir();
    int rc = run("python3 '%s' '%s' '%s'", converter(), golden_path(CHECKPOINTS[_i]),
                 tmp("dapo.safetensors"));
    char *log = last_log();
    ck_assert_msg(rc == 0, "converter failed (%d): %s", rc, log);
    free(log);
    check_converted(tmp("dapo.safetensors"));
    remove_tmpdir();
}
END_TEST

/* A zip with one stored (uncompressed) record, as torch.save writes them. */
static void write_zip(const char *path, const char *name, const void *data, size_t n)
{
    uint8_t *z = malloc(200 + 2 * strlen(name) + n), *p = z;
    uint32_t crc = (uint32_t)crc32(0L, data, (uInt)n);
    size_t nl = strlen(name);
#define U16(v) (*p++ = (uint8_t)((v) & 0xFF), *p++ = (uint8_t)(((v) >> 8) & 0xFF))
#define U32(v) (U16((v) & 0xFFFF), U16(((uint32_t)(v) >> 16) & 0xFFFF))
    U32(0x04034b50u); U16(20); U16(0); U16(0); U16(0); U16(0x21);
    U32(crc); U32(n); U32(n); U16(nl); U16(0);
    memcpy(p, name, nl); p += nl;
    memcpy(p, data, n); p += n;
    size_t cd = (size_t)(p - z);
    U32(0x02014b50u); U16(20); U16(20); U16(0); U16(0); U16(0); U16(0x21);
    U32(crc); U32(n); U32(n); U16(nl); U16(0); U16(0); U16(0); U16(0); U32(0); U32(0);
    memcpy(p, name, nl); p += nl;
    size_t cdlen = (size_t)(p - z) - cd;
    U32(0x06054b50u); U16(0); U16(0); U16(1); U16(1); U32(cdlen); U32(cd); U16(0);
#undef U16
#undef U32
    spill(path, z, (size_t)(p - z));
    free(z);
}

/* Pickles that would run `touch <marker>` if the converter executed them: os.system and
 * builtins.eval via GLOBAL (protocol 2, as torch writes) and os.system via STACK_GLOBAL. */
static size_t evil_pickle(int variant, const char *marker, uint8_t *out)
{
    char cmd[300];
    int cl = snprintf(cmd, sizeof cmd, variant == 1 ? "__import__('os').system('touch %s')"
                                                     : "touch %s", marker);
    uint8_t *p = out;
    static const char g_os[] = "\x80\x02" "cos\nsystem\n";
    static const char g_eval[] = "\x80\x02" "cbuiltins\neval\n";
    static const char sg_os[] = "\x80\x04" "\x8c\x02os\x8c\x06system\x93";
    const char *head = variant == 0 ? g_os : variant == 1 ? g_eval : sg_os;
    size_t hl = variant == 0 ? sizeof g_os - 1 : variant == 1 ? sizeof g_eval - 1 : sizeof sg_os - 1;
    memcpy(p, head, hl);
    p += hl;
    *p++ = 'X';                                  /* BINUNICODE <len32> <utf8> */
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)((unsigned)cl >> (8 * i));
    memcpy(p, cmd, (size_t)cl);
    p += cl;
    *p++ = 0x85;                                 /* TUPLE1 */
    *p++ = 'R';                                  /* REDUCE: the call */
    *p++ = '.';                                  /* STOP */
    return (size_t)(p - out);
}

START_TEST(test_convert_refuses_code)
{
    make_tmpdir();
    uint8_t pk[512];
    size_t n = evil_pickle(_i, tmp("PWNED"), pk);
    write_zip(tmp("evil.pth"), "evil/data.pkl", pk, n);
    int rc = run("python3 '%s' '%s' '%s'", converter(), tmp("evil.pth"), tmp("out.safetensors"));
    char *log = last_log();
    ck_assert_msg(rc == 1, "exit %d, expected 1: %s", rc, log);
    ck_assert_msg(strstr(log, "refusing") != NULL, "no clear refusal: %s", log);
    ck_assert_msg(!exists(tmp("PWNED")), "the pickle's command ran");
    ck_assert(!exists(tmp("out.safetensors")));
    printf("tools: malicious pickle %d refused: %s", _i, log);
    free(log);
    remove_tmpdir();
}
END_TEST

START_TEST(test_convert_errors)
{
    make_tmpdir();
    static const struct {
        const char *what, *expect;
    } cases[] = {
        {"not a zip", "not a zip"},
        {"zip without data.pkl", "no data.pkl"},
        {"dict without DAPO state dicts", "missing DAPO state dicts"},
        {"state dicts without the adapters' tensors", "lacks required DAPO tensors"},
        {"missing file", "no such file"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *in = tmp("in.pth");
        if (c == 0) {
            spill(in, "\x80\x02garbage, not a checkpoint", 28);
        } else if (c == 1) {
            write_zip(in, "archive/version", "3\n", 2);
        } else if (c == 2) {
            /* {'epoch': 1} */
            static const char pk[] = "\x80\x02}q\x00X\x05\x00\x00\x00" "epochq\x01K\x01s.";
            write_zip(in, "archive/data.pkl", pk, sizeof pk - 1);
        } else if (c == 3) {
            /* {'visual_prompt': {}, 'prompt_learner': {}, 'linear_adapter': {}} */
            static const char pk[] = "\x80\x02}(X\x0d\x00\x00\x00visual_prompt}X\x0e\x00\x00\x00"
                                     "prompt_learner}X\x0e\x00\x00\x00linear_adapter}u.";
            write_zip(in, "archive/data.pkl", pk, sizeof pk - 1);
        } else {
            in = tmp("absent.pth");
        }
        int rc = run("python3 '%s' '%s' '%s'", converter(), in, tmp("out.safetensors"));
        char *log = last_log();
        ck_assert_msg(rc == 1, "%s: exit %d: %s", cases[c].what, rc, log);
        ck_assert_msg(strstr(log, cases[c].expect) != NULL, "%s: message lacks '%s': %s",
                      cases[c].what, cases[c].expect, log);
        ck_assert(!exists(tmp("out.safetensors")));
        free(log);
    }
    ck_assert_int_eq(run("python3 '%s'", converter()), 2);   /* usage */
    remove_tmpdir();
}
END_TEST

/* ---------- make_demo_model ---------- */

static int f16_finite(const uint8_t *b) { return ((b[1] >> 2) & 0x1F) != 0x1F; }

/* Every tensor of golden `gpath` is in `mpath` with the same shape and dtype `dtype`, finite;
 * nothing else is. */
static void check_table(const char *gpath, const char *mpath, const char *dtype)
{
    stfile g, m;
    st_load(gpath, &g);
    st_load(mpath, &m);
    size_t ng = st_check_layout(&g, gpath), nm = st_check_layout(&m, mpath);
    ck_assert_msg(nm == ng, "%s: %zu tensors, golden has %zu", mpath, nm, ng);
    size_t values = 0;
    for (size_t i = 0; i < g.head->count; i++) {
        const char *name = g.head->keys[i];
        if (strcmp(name, "__metadata__") == 0)
            continue;
        stinfo a, b;
        ck_assert(st_info(&g, name, &a));
        ck_assert_msg(st_info(&m, name, &b), "%s: tensor %s missing", mpath, name);
        ck_assert_msg(strcmp(b.dtype, dtype) == 0, "%s: %s is %s", mpath, name, b.dtype);
        ck_assert_msg(same_shape(&a, &b), "%s: shape of %s differs", mpath, name);
        size_t n = elems(&b), es = strcmp(dtype, "F16") == 0 ? 2 : 4;
        ck_assert_uint_eq(b.end - b.begin, n * es);
        const uint8_t *d = st_bytes(&m, &b);
        size_t bad = 0;   /* counted, asserted once: a Check assertion per value is slow */
        for (size_t k = 0; k < n; k++) {
            if (es == 2) {
                bad += !f16_finite(d + 2 * k);
            } else {
                float f;
                memcpy(&f, d + 4 * k, 4);
                bad += !isfinite(f);
            }
        }
        ck_assert_msg(bad == 0, "%s: %s has %zu non-finite values", mpath, name, bad);
        values += n;
    }
    printf("tools: %s: %zu tensors, %zu values, %s, shapes as %s\n", mpath, nm, values, dtype, gpath);
    st_free(&g);
    st_free(&m);
}

/* The architecture in __metadata__.open_clip_config equals the golden tiny one. */
static void check_config(const char *gpath, const char *mpath)
{
    static const char *const keys[] = {
        "embed_dim", "vision_cfg.width", "vision_cfg.layers", "vision_cfg.head_width",
        "vision_cfg.patch_size", "vision_cfg.image_size", "text_cfg.width", "text_cfg.heads",
        "text_cfg.layers", "text_cfg.context_length", "text_cfg.vocab_size"};
    stfile g, m;
    st_load(gpath, &g);
    st_load(mpath, &m);
    const dp_json *gs = dp_json_path(g.head, "__metadata__.open_clip_config");
    const dp_json *ms = dp_json_path(m.head, "__metadata__.open_clip_config");
    ck_assert(gs && ms && gs->type == DP_JSON_STRING && ms->type == DP_JSON_STRING);
    dp_json *gc, *mc;
    dp_err err;
    ck_assert(dp_json_parse(gs->string, gs->string_len, "golden config", &gc, &err) == DP_OK);
    ck_assert_msg(dp_json_parse(ms->string, ms->string_len, "demo config", &mc, &err) == DP_OK,
                  "%s", err.msg);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const dp_json *a = dp_json_path(gc, keys[i]), *b = dp_json_path(mc, keys[i]);
        ck_assert_msg(a && b && b->number_is_integer && a->integer == b->integer,
                      "open_clip_config.%s differs", keys[i]);
    }
    const dp_json *nat = dp_json_path(m.head, "__metadata__.native_image_size");
    ck_assert(nat && nat->type == DP_JSON_STRING && strcmp(nat->string, "84") == 0);
    dp_json_free(gc);
    dp_json_free(mc);
    st_free(&g);
    st_free(&m);
}

START_TEST(test_demo_model_tiny)
{
    make_tmpdir();
    const char *bin = tool("make_demo_model");
    static const struct {
        const char *dir;
        int seed;
    } runs[] = {{"a", 5}, {"b", 5}, {"c", 6}};
    for (int i = 0; i < 3; i++) {
        int rc = run("'%s' '%s' --size tiny --seed %d", bin, tmp(runs[i].dir), runs[i].seed);
        char *log = last_log();
        ck_assert_msg(rc == 0, "make_demo_model failed (%d): %s", rc, log);
        free(log);
    }
    check_table(golden_path("tiny/clip.safetensors"), tmp("a/clip.safetensors"), "F16");
    check_table(golden_path("tiny/dapo.safetensors"), tmp("a/dapo.safetensors"), "F32");
    check_config(golden_path("tiny/clip.safetensors"), tmp("a/clip.safetensors"));

    size_t n;
    char *readme = (char *)slurp(tmp("a/README.txt"), &n);
    ck_assert_msg(strstr(readme, "UNTRAINED demo model: random weights, scores are meaningless"),
                  "README.txt lacks the warning");
    free(readme);

    ck_assert_msg(same_file(tmp("a/clip.safetensors"), tmp("b/clip.safetensors")),
                  "same seed, different clip.safetensors");
    ck_assert_msg(same_file(tmp("a/dapo.safetensors"), tmp("b/dapo.safetensors")),
                  "same seed, different dapo.safetensors");
    ck_assert_msg(!same_file(tmp("a/clip.safetensors"), tmp("c/clip.safetensors")),
                  "other seed, same clip.safetensors");
    ck_assert_msg(!same_file(tmp("a/dapo.safetensors"), tmp("c/dapo.safetensors")),
                  "other seed, same dapo.safetensors");
    remove_tmpdir();
}
END_TEST

START_TEST(test_demo_model_usage)
{
    make_tmpdir();
    const char *bin = tool("make_demo_model");
    ck_assert_int_eq(run("'%s'", bin), 2);
    ck_assert_int_eq(run("'%s' '%s' --size huge", bin, tmp("x")), 2);
    ck_assert_int_eq(run("'%s' '%s' --seed -3", bin, tmp("x")), 2);
    ck_assert_int_eq(run("'%s' '%s' --bogus", bin, tmp("x")), 2);
    ck_assert(!exists(tmp("x")));
    spill(tmp("file"), "x", 1);                      /* OUTDIR is a file: I/O error */
    ck_assert_int_eq(run("'%s' '%s/sub' --size tiny", bin, tmp("file")), 1);
    remove_tmpdir();
}
END_TEST

/* ---------- make_demo_images ---------- */

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int json_int(const dp_json *o, const char *path)
{
    const dp_json *v = dp_json_path(o, path);
    ck_assert_msg(v && v->type == DP_JSON_NUMBER && v->number_is_integer, "truth: %s", path);
    return (int)v->integer;
}

/* One image: files readable with the right layout, mask pixels exactly inside the truth boxes,
 * each box tight around its defect. Returns the number of defects. */
static int check_image(const char *dir, int i, int w, int h)
{
    static const char *const kinds[] = {"metal", "fabric", "label"};
    char name[64], path[512], err[512];
    snprintf(name, sizeof name, "demo_%02d_%s", i, kinds[i % 3]);

    snprintf(path, sizeof path, "%s/%s_truth.json", dir, name);
    size_t n;
    char *text = (char *)slurp(path, &n);
    dp_json *truth;
    dp_err derr;
    ck_assert_msg(dp_json_parse(text, n, path, &truth, &derr) == DP_OK, "%s", derr.msg);
    ck_assert_int_eq(json_int(truth, "width"), w);
    ck_assert_int_eq(json_int(truth, "height"), h);
    const dp_json *defs = dp_json_get(truth, "defects");
    ck_assert(defs && defs->type == DP_JSON_ARRAY && defs->count <= 3);
    const dp_json *anom = dp_json_get(truth, "anomalous");
    ck_assert(anom && anom->type == DP_JSON_BOOL && anom->boolean == (defs->count > 0));

    io_image img, mask;
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    ck_assert_msg(io_read_image(path, &img, err, sizeof err) == 0, "%s", err);
    ck_assert(img.width == w && img.height == h && img.channels == 3 && img.pixel == IO_U8);
    snprintf(path, sizeof path, "%s/%s_mask.png", dir, name);
    ck_assert_msg(io_read_image(path, &mask, err, sizeof err) == 0, "%s", err);
    ck_assert(mask.width == w && mask.height == h && mask.pixel == IO_U8);

    /* the gray TIFF (metal: u16, label: f32) is the PNG's luminance */
    if (i % 3 != 1) {
        io_image tif;
        snprintf(path, sizeof path, "%s/%s.tif", dir, name);
        ck_assert_msg(io_read_image(path, &tif, err, sizeof err) == 0, "%s", err);
        ck_assert(tif.width == w && tif.height == h && tif.channels == 1);
        ck_assert_int_eq(tif.pixel, i % 3 == 0 ? IO_U16 : IO_F32);
        const uint8_t *rgb = img.data;
        double worst = 0;
        for (size_t k = 0; k < (size_t)w * (size_t)h; k++) {
            double y = (0.299 * rgb[3 * k] + 0.587 * rgb[3 * k + 1] + 0.114 * rgb[3 * k + 2]) / 255;
            double t = tif.pixel == IO_U16 ? ((const uint16_t *)tif.data)[k] / 65535.0
                                           : ((const float *)tif.data)[k];
            worst = fmax(worst, fabs(y - t));
        }
        ck_assert_msg(worst < 2.5 / 255, "%s.tif differs from the PNG luminance by %g", name, worst);
        io_image_free(&tif);
    }

    /* every mask pixel is 0 or 255 and lies in exactly one box; each box is tight */
    int nd = (int)defs->count;
    int box[3][4];
    long inside[3] = {0};
    int touch[3][4] = {{0}};
    for (int d = 0; d < nd; d++) {
        const dp_json *e = &defs->items[d];
        const dp_json *type = dp_json_get(e, "type");
        ck_assert(type && type->type == DP_JSON_STRING);
        ck_assert_msg(strcmp(type->string, "scratch") == 0 || strcmp(type->string, "hole") == 0 ||
                      strcmp(type->string, "stain") == 0, "unknown defect type %s", type->string);
        box[d][0] = json_int(e, "bbox.x");
        box[d][1] = json_int(e, "bbox.y");
        box[d][2] = box[d][0] + json_int(e, "bbox.width") - 1;
        box[d][3] = box[d][1] + json_int(e, "bbox.height") - 1;
        ck_assert(box[d][0] >= 0 && box[d][1] >= 0 && box[d][2] < w && box[d][3] < h);
    }
    const uint8_t *mp = mask.data;
    long on = 0, not_binary = 0, misplaced = 0;   /* counted, asserted once below */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *p = mp + ((size_t)y * (size_t)w + (size_t)x) * (size_t)mask.channels;
            not_binary += p[0] != 0 && p[0] != 255;
            if (!p[0])
                continue;
            on++;
            int hits = 0;
            for (int d = 0; d < nd; d++) {
                if (x < box[d][0] || x > box[d][2] || y < box[d][1] || y > box[d][3])
                    continue;
                hits++;
                inside[d]++;
                touch[d][0] |= x == box[d][0];
                touch[d][1] |= y == box[d][1];
                touch[d][2] |= x == box[d][2];
                touch[d][3] |= y == box[d][3];
            }
            if (hits != 1 && misplaced++ == 0)
                fprintf(stderr, "tools: %s: mask pixel (%d,%d) in %d boxes\n", name, x, y, hits);
        }
    ck_assert_msg(not_binary == 0, "%s: %ld mask values other than 0 / 255", name, not_binary);
    ck_assert_msg(misplaced == 0, "%s: %ld mask pixels outside exactly one box", name, misplaced);
    for (int d = 0; d < nd; d++) {
        ck_assert_msg(inside[d] > 0, "%s: defect %d has no mask pixels", name, d);
        ck_assert_msg(inside[d] == json_int(&defs->items[d], "area"), "%s: defect %d area", name, d);
        ck_assert_msg(touch[d][0] && touch[d][1] && touch[d][2] && touch[d][3],
                      "%s: box of defect %d is not tight", name, d);
    }
    if (nd == 0)
        ck_assert_msg(on == 0, "%s: defect-free but mask has %ld pixels", name, on);
    io_image_free(&img);
    io_image_free(&mask);
    dp_json_free(truth);
    free(text);
    return nd;
}

START_TEST(test_demo_images_default)
{
    make_tmpdir();
    int rc = run("'%s' '%s'", tool("make_demo_images"), tmp("img"));
    char *log = last_log();
    ck_assert_msg(rc == 0, "make_demo_images failed (%d): %s", rc, log);
    free(log);
    /* 6 images: png + mask + truth each, a TIFF for the 2 metal and 2 label images */
    ck_assert_int_eq(count_files(tmp("img")), 6 * 3 + 4);
    int defects = 0, clean = 0;
    for (int i = 0; i < 6; i++) {
        int nd = check_image(tmp("img"), i, 640, 480);
        defects += nd;
        clean += nd == 0;
    }
    ck_assert_int_eq(clean, 1);
    printf("tools: make_demo_images defaults: 6 images 640x480, %d defects, %d defect-free\n",
           defects, clean);
    remove_tmpdir();
}
END_TEST

START_TEST(test_demo_images_seeded)
{
    make_tmpdir();
    const char *bin = tool("make_demo_images");
    static const char *const dirs[] = {"a", "b", "c"};
    static const int seeds[] = {11, 11, 12};
    for (int r = 0; r < 3; r++) {
        int rc = run("'%s' '%s' --count 7 --size 200x150 --seed %d", bin, tmp(dirs[r]), seeds[r]);
        char *log = last_log();
        ck_assert_msg(rc == 0, "make_demo_images failed (%d): %s", rc, log);
        free(log);
    }
    ck_assert_int_eq(count_files(tmp("a")), 7 * 3 + 5);   /* TIFFs: images 0, 2, 3, 5, 6 */
    for (int i = 0; i < 7; i++)
        check_image(tmp("a"), i, 200, 150);
    char a[300], b[300], c[300];
    for (int i = 0; i < 7; i++) {
        static const char *const kinds[] = {"metal", "fabric", "label"};
        snprintf(a, sizeof a, "%s/demo_%02d_%s.png", tmp("a"), i, kinds[i % 3]);
        snprintf(b, sizeof b, "%s/demo_%02d_%s.png", tmp("b"), i, kinds[i % 3]);
        snprintf(c, sizeof c, "%s/demo_%02d_%s.png", tmp("c"), i, kinds[i % 3]);
        ck_assert_msg(same_file(a, b), "same seed, different %s", a);
        ck_assert_msg(!same_file(a, c), "other seed, same %s", a);
    }
    ck_assert_int_eq(run("'%s' '%s' --size 10x10", bin, tmp("d")), 2);
    ck_assert_int_eq(run("'%s' '%s' --count 0", bin, tmp("d")), 2);
    ck_assert(!exists(tmp("d")));
    remove_tmpdir();
}
END_TEST

Suite *tools_suite(void)
{
    Suite *s = suite_create("tools");
    TCase *tc = tcase_create("tools");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_convert_golden, 0, 2);
    tcase_add_loop_test(tc, test_convert_refuses_code, 0, 3);
    tcase_add_test(tc, test_convert_errors);
    tcase_add_test(tc, test_demo_model_tiny);
    tcase_add_test(tc, test_demo_model_usage);
    tcase_add_test(tc, test_demo_images_default);
    tcase_add_test(tc, test_demo_images_seeded);
    suite_add_tcase(s, tc);
    return s;
}

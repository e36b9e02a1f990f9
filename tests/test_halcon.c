/* The HALCON driver: calls the dapoinspect operators the way the HALCON runtime does (through
 * the stand-in's operator descriptions, with tuples and iconic objects built and read through
 * its accessors), including a script writer's misuse, and checks the results against the
 * reference CLI `insp run` on the same images and recipe.
 *
 * Plugins: the fake plugin (tests/fake_plugin.c, compiled here) for the operator semantics and
 * the misuse cases; the real plugin ($DAPO_PLUGIN) with the demo model (build/make_demo_model)
 * for the comparison with insp run. */
#include <check.h>
#include <math.h>
#include <png.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "golden.h"
#include "halcon/dapoinspect_ops.h"
#include "halcon/halcon_shim.h"
#include "imageio.h"
#include "json.h"
#include "test_cmd.h"

static char g_dir[256];
static char g_root[512];      /* repository root (from __FILE__) */

static const char *tmp(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", g_dir, name);
    return b;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static const char *build_dir(void)
{
    const char *d = getenv("DAPO_BUILD");
    return d && *d ? d : "build";
}

static const char *real_plugin(void)
{
    const char *p = getenv("DAPO_PLUGIN");
    return p && *p ? p : "build/libdapo_inspect.so";
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dp_halcon_XXXXXX");
    ck_assert(mkdtemp(g_dir));
    const char *suffix = "tests/test_halcon.c";
    size_t n = strlen(__FILE__), k = strlen(suffix);
    snprintf(g_root, sizeof g_root, "%.*s", n >= k ? (int)(n - k) : 0, __FILE__);
    if (!g_root[0])
        snprintf(g_root, sizeof g_root, "./");
    hs_register_package(&dapoinspect_hs_package);   /* as if found through HALCONEXTENSIONS */
}

static void teardown(void)
{
    ck_assert_int_eq(sh("rm -rf '%s'", g_dir), 0);
}

/* The fake plugin, compiled into the temp dir; path returned. */
static const char *fake_plugin(void)
{
    static char so[512];
    snprintf(so, sizeof so, "%s", tmp("fake.so"));
    ck_assert_int_eq(sh("cc -shared -fPIC -std=c11 -fvisibility=hidden -I'%ssdk_shim/include' "
                        "-o '%s' '%stests/fake_plugin.c' -lm", g_root, so, g_root), 0);
    return so;
}

/* ------------------------------------------------------------------------------------------
 * Calling operators like the runtime
 */

typedef struct call {
    const hs_operator *op;
    hs_objs *in_obj[HS_MAX_PARAMS], *out_obj[HS_MAX_PARAMS];
    hs_tuple *in_ctrl[HS_MAX_PARAMS], *out_ctrl[HS_MAX_PARAMS];
    char msg[1024];
    Herror err;
} call;

/* Prepares a call of `name` with fresh output containers; the inputs are set by the test and
 * owned by the call (freed by call_free). */
static call *call_new(const char *name)
{
    call *c = calloc(1, sizeof *c);
    c->op = hs_find_operator(name);
    ck_assert_msg(c->op != NULL, "operator %s not registered", name);
    for (int i = 0; i < c->op->n_out_obj; i++)
        c->out_obj[i] = hs_objs_new();
    for (int i = 0; i < c->op->n_out_ctrl; i++)
        c->out_ctrl[i] = hs_tuple_new();
    return c;
}

static Herror call_run(call *c)
{
    c->err = hs_call(c->op, c->in_obj, c->op->n_in_obj, c->out_obj, c->op->n_out_obj,
                     c->in_ctrl, c->op->n_in_ctrl, c->out_ctrl, c->op->n_out_ctrl, c->msg,
                     sizeof c->msg);
    return c->err;
}

static void call_free(call *c)
{
    for (int i = 0; i < HS_MAX_PARAMS; i++) {
        hs_objs_free(c->in_obj[i]);
        hs_objs_free(c->out_obj[i]);
        hs_tuple_free(c->in_ctrl[i]);
        hs_tuple_free(c->out_ctrl[i]);
    }
    free(c);
}

/* Tuples: "s:text", "l:42", "d:0.5", "h" (handle taken from `h`), in order. */
static hs_tuple *tup(const char *spec, ...)
{
    hs_tuple *t = hs_tuple_new();
    va_list ap;
    va_start(ap, spec);
    for (const char *p = spec; *p; p++) {
        switch (*p) {
        case 's': ck_assert_int_eq(hs_tuple_append_s(t, va_arg(ap, const char *)), 0); break;
        case 'l': ck_assert_int_eq(hs_tuple_append_l(t, va_arg(ap, long long)), 0); break;
        case 'd': ck_assert_int_eq(hs_tuple_append_d(t, va_arg(ap, double)), 0); break;
        case 'h': ck_assert_int_eq(hs_tuple_append_h(t, va_arg(ap, Hphandle)), 0); break;
        default: ck_abort_msg("bad tuple spec %c", *p);
        }
    }
    va_end(ap);
    return t;
}

static hs_objs *objs1(hs_obj *o)
{
    hs_objs *os = hs_objs_new();
    ck_assert_int_eq(hs_objs_append(os, o), 0);
    hs_obj_unref(o);
    return os;
}

/* The one handle of a tuple. */
static Hphandle handle_of(const hs_tuple *t)
{
    ck_assert_int_eq(hs_tuple_length(t), 1);
    const Hcpar *p = hs_tuple_get(t, 0);
    ck_assert_int_eq(p->type, HANDLE_PAR);
    return p->par.h;
}

/* read_inspection_tool(recipe, ['plugin'], [plugin]); returns the ToolHandle tuple (owned). */
static hs_tuple *read_tool(const char *recipe, const char *plugin)
{
    call *c = call_new("read_inspection_tool");
    c->in_ctrl[0] = tup("s", recipe);
    c->in_ctrl[1] = tup("s", "plugin");
    c->in_ctrl[2] = tup("s", plugin);
    Herror e = call_run(c);
    ck_assert_msg(e == H_MSG_TRUE, "read_inspection_tool: %d %s", e, c->msg);
    hs_tuple *h = c->out_ctrl[0];
    c->out_ctrl[0] = NULL;
    handle_of(h);
    call_free(c);
    return h;
}

/* A HALCON image (planar channels) from an interleaved file image; domain NULL = full. */
static hs_obj *halcon_image(const io_image *im, const Hrun *dom, INT4_8 n)
{
    int kind = im->pixel == IO_U8 ? BYTE_IMAGE : im->pixel == IO_U16 ? UINT2_IMAGE : FLOAT_IMAGE;
    size_t bpp = io_pixel_bytes(im->pixel), plane = (size_t)im->width * im->height;
    unsigned char *planes = malloc(plane * bpp * (size_t)im->channels);
    const void *ptr[3];
    for (int c = 0; c < im->channels; c++) {
        for (size_t i = 0; i < plane; i++)
            memcpy(planes + (c * plane + i) * bpp,
                   (const unsigned char *)im->data + (i * (size_t)im->channels + c) * bpp, bpp);
        ptr[c] = planes + c * plane * bpp;
    }
    char err[256];
    hs_obj *o = hs_gen_image(kind, im->width, im->height, im->channels, ptr, dom, n, err,
                             sizeof err);
    ck_assert_msg(o != NULL, "%s", err);
    free(planes);
    return o;
}

/* A synthetic single-kind image: w x h x ch, sample value f(x, y) (scaled to the kind). */
static hs_obj *synthetic(int kind, int w, int h, int ch, const Hrun *dom, INT4_8 n)
{
    size_t bpp = kind == BYTE_IMAGE ? 1 : kind == UINT2_IMAGE || kind == INT2_IMAGE ? 2 : 4;
    unsigned char *buf = calloc((size_t)w * h * ch, bpp);
    const void *ptr[4];
    for (int c = 0; c < ch; c++) {
        unsigned char *p = buf + (size_t)c * w * h * bpp;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v = (double)(x + y) / (w + h);   /* 0..1 */
                size_t i = (size_t)y * w + x;
                if (kind == BYTE_IMAGE)
                    p[i] = (unsigned char)(v * 255);
                else if (kind == UINT2_IMAGE || kind == INT2_IMAGE)
                    ((uint16_t *)p)[i] = (uint16_t)(v * 65535);
                else
                    ((float *)p)[i] = (float)v;
            }
        ptr[c] = p;
    }
    char err[256];
    hs_obj *o = hs_gen_image(kind, w, h, ch, ptr, dom, n, err, sizeof err);
    ck_assert_msg(o != NULL, "%s", err);
    free(buf);
    return o;
}

/* apply_inspection_tool(Image : Anomaly, Regions, Labels : Tool : Score, Decision, Names,
 * Scores); returns the call (caller frees). */
static call *apply(hs_obj *image, const hs_tuple *tool)
{
    call *c = call_new("apply_inspection_tool");
    c->in_obj[0] = objs1(image);
    c->in_ctrl[0] = hs_tuple_new();
    for (INT4_8 i = 0; i < hs_tuple_length(tool); i++) {
        const Hcpar *p = hs_tuple_get(tool, i);
        ck_assert_int_eq(hs_tuple_append_h(c->in_ctrl[0], p->par.h), 0);
    }
    call_run(c);
    return c;
}

/* The error of a failed call: code as expected, a message, and a known standard text. */
static void expect_error(call *c, Herror code, const char *fragment)
{
    printf("  %-26s -> %d (%s): %s\n", c->op->name, c->err, hs_error_text(c->err), c->msg);
    ck_assert_msg(c->err == code, "%s: got %d, expected %d: %s", c->op->name, c->err, code, c->msg);
    ck_assert_msg(c->msg[0] != '\0', "no message");
    ck_assert_msg(!fragment || strstr(c->msg, fragment), "message \"%s\" lacks \"%s\"", c->msg,
                  fragment);
    ck_assert_str_ne(hs_error_text(c->err), "No error message available for this error code");
    for (int i = 0; i < c->op->n_out_obj; i++)
        ck_assert_int_eq(hs_objs_count(c->out_obj[i]), 0);
    for (int i = 0; i < c->op->n_out_ctrl; i++)
        ck_assert_int_eq(hs_tuple_length(c->out_ctrl[i]), 0);
}

static const char *FAKE_RECIPE = "defects:\n  - scratch\n  - hole\n  - stain\n";

/* ------------------------------------------------------------------------------------------
 * The stand-in itself
 */

static int destroyed;
static Herror count_destroy(Hproc_handle ph, void *data)
{
    destroyed++;
    return HFree(ph, data);
}
static const HHandleInfo other_info = HANDLE_INFO_INITIALIZER_NOSER("othr", "other_thing", count_destroy, NULL, NULL);

/* A test operator: byte images only, one integer; copies the domain to a region output. */
static Herror CIPByteOnly(Hproc_handle ph)
{
    const INT4_8 *l;
    INT4_8 n;
    HCkP(HGetPElemL(ph, 1, CONV_NONE, &l, &n));
    Hkey obj;
    HCkP(HGetObj(ph, 1, 1, &obj));
    Hrlregion *r;
    const Hrlregion *fd;
    HCkP(HGetFDRL(ph, obj, &fd));
    HCkP(HAllocRLNumTmp(ph, &r, 1));
    if (fd->num > 1 && HGetDRL(ph, obj, r) != H_ERR_WRRLN3)
        return H_ERR_WNP;    /* must refuse: not enough room */
    HCkP(HAllocRLNumTmp(ph, &r, fd->num));
    HCkP(HGetDRL(ph, obj, r));
    HCkP(HNewRegion(ph, r));
    void *scratch;
    HCkP(HAllocTmp(ph, &scratch, 1000));   /* never freed here: the runtime does it */
    Himage im;
    HCkP(HNewImage(ph, &im, BYTE_IMAGE, 4, 4));   /* never attached: released too */
    INT4_8 out = l[0] * 2;
    return HPutElem(ph, 1, &out, 1, LONG_PAR);
}

static Herror CIPTakeOther(Hproc_handle ph)
{
    void *data;
    return HGetCElemH1(ph, 1, &other_info, &data);
}

static const hs_operator test_ops[] = {
    {"byte_only", "CIPByteOnly", CIPByteOnly, 1, 1, 1, 1,
     .in_obj = {{"Image", "image", BYTE_IMAGE, 0, 1}},
     .out_obj = {{"Domain", "region", 0, 0, 0}},
     .in_ctrl = {{"Number", "number", LONG_PAR, 0, 0}},
     .out_ctrl = {{"Twice", "number", LONG_PAR, 0, 0}}},
    {"take_other", "CIPTakeOther", CIPTakeOther, 0, 0, 1, 0,
     .in_ctrl = {{"Handle", "other_thing", HANDLE_PAR, 0, 0}}},
};
static const hs_package test_pkg = {"shimtest", 2, test_ops, NULL};

START_TEST(standin_checks)
{
    hs_register_package(&test_pkg);
    ck_assert_int_eq(H_MSG_TRUE, 2);
    ck_assert_str_eq(hs_error_text(H_ERR_WIPT1 + 2), "Wrong type of control parameter 3");
    ck_assert_str_eq(hs_error_text(H_ERR_WIPN1), "Wrong number of values of control parameter 1");
    ck_assert_str_eq(hs_error_text(10101), "dapo-inspect: invalid argument or parameter");
    ck_assert_str_eq(hs_error_text(12345), "No error message available for this error code");

    Hrun dom[] = {{2, 1, 3}, {1, 0, 5}, {1, 4, 7}, {3, 0, 0}};   /* unsorted, overlapping */
    call *c = call_new("byte_only");
    c->in_obj[0] = objs1(synthetic(BYTE_IMAGE, 8, 6, 1, dom, 4));
    c->in_ctrl[0] = tup("l", 21LL);
    ck_assert_int_eq(call_run(c), H_MSG_TRUE);
    const hs_tuple *t = c->out_ctrl[0];
    ck_assert(hs_tuple_get(t, 0)->type == LONG_PAR && hs_tuple_get(t, 0)->par.l == 42);
    const Hrlregion *r = hs_obj_region(hs_objs_get(c->out_obj[0], 0));
    ck_assert_int_eq(r->num, 3);      /* (1,0..7) merged, (2,1..3), (3,0..0) */
    ck_assert(r->rl[0].l == 1 && r->rl[0].cb == 0 && r->rl[0].ce == 7);
    ck_assert_int_eq(hs_region_area(r), 8 + 3 + 1);
    call_free(c);

    /* refusals made before the supply procedure runs */
    c = call_new("byte_only");
    c->in_obj[0] = objs1(synthetic(FLOAT_IMAGE, 8, 6, 1, NULL, 0));
    c->in_ctrl[0] = tup("l", 1LL);
    call_run(c);
    expect_error(c, H_ERR_WITFO, "real");
    call_free(c);
    c = call_new("byte_only");
    c->in_obj[0] = objs1(synthetic(BYTE_IMAGE, 8, 6, 1, dom, 0));   /* empty domain */
    c->in_ctrl[0] = tup("l", 1LL);
    call_run(c);
    expect_error(c, H_ERR_EDEF, "empty domain");
    call_free(c);
    c = call_new("byte_only");
    c->in_obj[0] = objs1(synthetic(BYTE_IMAGE, 8, 6, 1, NULL, 0));
    c->in_ctrl[0] = tup("s", "one");
    call_run(c);
    expect_error(c, H_ERR_WIPT1, "string");
    call_free(c);
    c = call_new("byte_only");
    c->in_obj[0] = objs1(synthetic(BYTE_IMAGE, 8, 6, 1, NULL, 0));
    c->in_ctrl[0] = tup("ll", 1LL, 2LL);
    call_run(c);
    expect_error(c, H_ERR_WIPN1, "exactly one");
    call_free(c);
    c = call_new("byte_only");
    c->in_obj[0] = hs_objs_new();
    c->in_ctrl[0] = tup("l", 1LL);
    call_run(c);
    expect_error(c, H_ERR_WION1, "exactly one object");
    /* wrong arity: HDevelop would refuse the line */
    c->err = hs_call(c->op, c->in_obj, 1, c->out_obj, 1, c->in_ctrl, 2, c->out_ctrl, 1, c->msg,
                     sizeof c->msg);
    expect_error(c, H_ERR_WNP, "called with 1:1:2:1");
    call_free(c);

    /* handles: destructor once, cleared handles refused, forged values refused unread */
    destroyed = 0;
    void *data;
    ck_assert_int_eq(HAlloc(NULL, 16, &data), H_MSG_OK);
    Hphandle h = hs_handle_new(&other_info, data);
    hs_tuple *ht = tup("h", h);
    hs_handle_release(h);
    c = call_new("take_other");
    c->in_ctrl[0] = ht;
    ck_assert_int_eq(call_run(c), H_MSG_TRUE);
    char msg[256];
    ck_assert_int_eq(hs_clear_handle(ht, msg, sizeof msg), H_MSG_TRUE);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(call_run(c), H_ERR_HANDLE_CLEARED);
    ck_assert_int_eq(hs_clear_handle(ht, msg, sizeof msg), H_ERR_HANDLE_CLEARED);
    printf("  clear_handle twice -> %s\n", msg);
    call_free(c);                     /* last reference: no second destructor call */
    ck_assert_int_eq(destroyed, 1);
    c = call_new("take_other");
    c->in_ctrl[0] = hs_tuple_new();
    hs_tuple_append_raw_handle(c->in_ctrl[0], (uintptr_t)0x5eed);
    ck_assert_int_eq(call_run(c), H_ERR_WHDL);
    call_free(c);
    ck_assert_int_eq(hs_live_handles(), 0);
}
END_TEST

/* DEF file and operator table describe the same operators. */
START_TEST(def_matches_table)
{
    char path[1024];
    snprintf(path, sizeof path, "%ssdk_shim/halcon/def/dapoinspect.def", g_root);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const hs_package *pkg = &dapoinspect_hs_package;
    int found = 0;
    for (char *p = text; (p = strstr(p, " <- ")) != NULL; p += 4) {
        char *line = p;
        while (line > text && line[-1] != '\n')
            line--;
        if (!((*line >= 'a' && *line <= 'z') || (*line >= 'A' && *line <= 'Z')))
            continue;         /* inside the comment block */
        char name[64], proc[64], sig[512];
        ck_assert(sscanf(line, "%63s <- %63[^[][%511[^]]", name, proc, sig) == 3);
        const hs_operator *op = NULL;
        for (int i = 0; i < pkg->n_operators; i++)
            if (strcmp(pkg->operators[i].name, name) == 0)
                op = &pkg->operators[i];
        ck_assert_msg(op != NULL, "DEF operator %s missing from the table", name);
        ck_assert_str_eq(op->supply_name, proc);
        /* the four classes, comma-separated names */
        const hs_param_desc *cls[4] = {op->in_obj, op->out_obj, op->in_ctrl, op->out_ctrl};
        const int counts[4] = {op->n_in_obj, op->n_out_obj, op->n_in_ctrl, op->n_out_ctrl};
        char *s = sig;
        for (int k = 0; k < 4; k++) {
            char *end = strchr(s, k < 3 ? ':' : '\0');
            ck_assert(end);
            char part[256];
            snprintf(part, sizeof part, "%.*s", (int)(end - s), s);
            int m = 0;
            for (char *tok = strtok(part, ","); tok; tok = strtok(NULL, ","), m++) {
                ck_assert_msg(m < counts[k], "%s: too many parameters in class %d", name, k);
                ck_assert_str_eq(tok, cls[k][m].name);
                /* the parameter block: sem_type and multivalue agree */
                char key[96];
                snprintf(key, sizeof key, "\n  %s:", tok);
                char *blk = strstr(line, key);
                ck_assert_msg(blk != NULL, "%s: no parameter block for %s", name, tok);
                char *sem = strstr(blk, "sem_type:"), *mv = strstr(blk, "multivalue:");
                ck_assert(sem && mv);
                char sv[64], mvv[16];
                sscanf(sem + 9, " %63[^;]", sv);
                sscanf(mv + 11, " %15[^;]", mvv);
                ck_assert_msg(strcmp(sv, cls[k][m].sem_type) == 0, "%s.%s sem_type %s vs %s",
                              name, tok, sv, cls[k][m].sem_type);
                ck_assert_msg((strcmp(mvv, "false") == 0) == (cls[k][m].multivalue == 0),
                              "%s.%s multivalue %s", name, tok, mvv);
            }
            ck_assert_msg(m == counts[k], "%s: class %d has %d parameters, table %d", name, k, m,
                          counts[k]);
            s = end + 1;
        }
        found++;
    }
    ck_assert_int_eq(found, pkg->n_operators);
    printf("  %d operators: DEF file and operator table agree\n", found);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * The operators on the fake plugin
 */

struct worker {
    const hs_tuple *tool;
    Herror err;
    double score;
};

/* Applies the tool three times to the same synthetic image (a thread of a HALCON program). */
static void *apply_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 3; i++) {
        hs_objs *img = hs_objs_new(), *out[3] = {hs_objs_new(), hs_objs_new(), hs_objs_new()};
        hs_tuple *ctl = hs_tuple_new(), *oc[4] = {hs_tuple_new(), hs_tuple_new(), hs_tuple_new(),
                                                  hs_tuple_new()};
        uint8_t px[32 * 24];
        for (int k = 0; k < 32 * 24; k++)
            px[k] = (uint8_t)(k * 3);
        const void *planes[1] = {px};
        char msg[512];
        hs_obj *o = hs_gen_image(BYTE_IMAGE, 32, 24, 1, planes, NULL, 0, msg, sizeof msg);
        hs_objs_append(img, o);
        hs_obj_unref(o);
        hs_tuple_append_h(ctl, hs_tuple_get(w->tool, 0)->par.h);
        w->err = hs_call(hs_find_operator("apply_inspection_tool"), &img, 1, out, 3, &ctl, 1, oc,
                         4, msg, sizeof msg);
        if (w->err == H_MSG_TRUE)
            w->score = hs_tuple_get(oc[0], 0)->par.d;
        hs_objs_free(img);
        hs_tuple_free(ctl);
        for (int k = 0; k < 3; k++)
            hs_objs_free(out[k]);
        for (int k = 0; k < 4; k++)
            hs_tuple_free(oc[k]);
        if (w->err != H_MSG_TRUE)
            break;
    }
    return NULL;
}

START_TEST(operators_fake)
{
    const char *plugin = fake_plugin();
    write_text(tmp("fake.txt"), FAKE_RECIPE);
    hs_tuple *tool = read_tool(tmp("fake.txt"), plugin);

    /* info and parameters */
    call *c = call_new("get_inspection_tool_info");
    c->in_ctrl[0] = tup("h", handle_of(tool));
    c->in_ctrl[1] = tup("s", "class_names");
    ck_assert_int_eq(call_run(c), H_MSG_TRUE);
    ck_assert_int_eq(hs_tuple_length(c->out_ctrl[0]), 4);
    ck_assert_str_eq(hs_tuple_get(c->out_ctrl[0], 2)->par.s, "hole");
    call_free(c);
    c = call_new("set_inspection_tool_param");
    c->in_ctrl[0] = tup("h", handle_of(tool));
    c->in_ctrl[1] = tup("ss", "pixel_threshold", "image_threshold");
    c->in_ctrl[2] = tup("dd", 1.0, 0.75);
    ck_assert_int_eq(call_run(c), H_MSG_TRUE);
    call_free(c);
    c = call_new("get_inspection_tool_param");
    c->in_ctrl[0] = tup("h", handle_of(tool));
    c->in_ctrl[1] = tup("sss", "pixel_threshold", "num_threads", "image_value_max");
    ck_assert_int_eq(call_run(c), H_MSG_TRUE);
    ck_assert(hs_tuple_get(c->out_ctrl[0], 0)->type == DOUBLE_PAR ||
              hs_tuple_get(c->out_ctrl[0], 0)->type == LONG_PAR);
    ck_assert(hs_tuple_get(c->out_ctrl[0], 1)->type == LONG_PAR &&
              hs_tuple_get(c->out_ctrl[0], 1)->par.l == 1);
    call_free(c);
    /* all or nothing: the second value is refused, the first is rolled back */
    c = call_new("set_inspection_tool_param");
    c->in_ctrl[0] = tup("h", handle_of(tool));
    c->in_ctrl[1] = tup("ss", "pixel_threshold", "image_threshold");
    c->in_ctrl[2] = tup("dd", 3.0, 7.0);
    call_run(c);
    expect_error(c, H_ERR_WIPV(3), "image_threshold");
    call_free(c);
    c = call_new("get_inspection_tool_param");
    c->in_ctrl[0] = tup("h", handle_of(tool));
    c->in_ctrl[1] = tup("s", "pixel_threshold");
    ck_assert_int_eq(call_run(c), H_MSG_TRUE);
    const Hcpar *pv = hs_tuple_get(c->out_ctrl[0], 0);
    ck_assert(pv->type == LONG_PAR ? pv->par.l == 1 : pv->par.d == 1.0);
    call_free(c);

    /* a circular domain on a 3-channel byte image: ROI = its box, the rest masked */
    enum { W = 64, H = 48 };
    Hrun dom[H];
    INT4_8 nd = 0;
    for (int y = 0; y < H; y++) {
        int dy = y - 24, half = (int)sqrt(400.0 - dy * dy);
        if (dy * dy <= 400)
            dom[nd++] = (Hrun){y, 30 - half, 30 + half};
    }
    hs_obj *img = synthetic(BYTE_IMAGE, W, H, 3, dom, nd);
    c = apply(img, tool);
    ck_assert_msg(c->err == H_MSG_TRUE, "%s", c->msg);
    hs_obj *amap = hs_objs_get(c->out_obj[0], 0), *lab = hs_objs_get(c->out_obj[2], 0);
    Himage a, l;
    ck_assert_int_eq(hs_obj_image(amap, 1, &a), 0);
    ck_assert_int_eq(hs_obj_image(lab, 1, &l), 0);
    ck_assert(a.kind == FLOAT_IMAGE && a.width == W && a.height == H);
    ck_assert(l.kind == UINT2_IMAGE && l.width == W && l.height == H);
    const Hrlregion *ad = hs_obj_region(amap);
    ck_assert_int_eq(ad->num, nd);
    ck_assert_int_eq(memcmp(ad->rl, dom, (size_t)nd * sizeof *dom), 0);
    /* fake map = 4 * brightness inside the domain, 0 outside */
    uint8_t inside[W * H] = {0};
    for (INT4_8 i = 0; i < nd; i++)
        for (int x = dom[i].cb; x <= dom[i].ce; x++)
            inside[dom[i].l * W + x] = 1;
    int checked = 0;
    for (int i = 0; i < W * H; i++) {
        if (!inside[i]) {
            ck_assert_msg(a.pixel.f[i] == 0 && l.pixel.u.p[i] == 0, "pixel %d outside", i);
        } else {
            float want = 4.0f * ((float)(unsigned char)((double)(i % W + i / W) / (W + H) * 255) / 255.0f);
            ck_assert_msg(fabsf(a.pixel.f[i] - want) < 1e-4f, "pixel %d: %g vs %g", i,
                          a.pixel.f[i], want);
            checked++;
        }
    }
    /* DefectRegions: one per type, exactly the label image's pixels of that type */
    ck_assert_int_eq(hs_objs_count(c->out_obj[1]), 3);
    INT4_8 total = 0;
    for (int k = 1; k <= 3; k++) {
        const Hrlregion *r = hs_obj_region(hs_objs_get(c->out_obj[1], k - 1));
        ck_assert_int_eq(hs_obj_channels(hs_objs_get(c->out_obj[1], k - 1)), 0);
        INT4_8 count = 0;
        for (int i = 0; i < W * H; i++)
            count += l.pixel.u.p[i] == k;
        ck_assert_int_eq(hs_region_area(r), count);
        for (INT4_8 i = 0; i < r->num; i++)
            for (int x = r->rl[i].cb; x <= r->rl[i].ce; x++)
                ck_assert_int_eq(l.pixel.u.p[r->rl[i].l * W + x], k);
        total += count;
    }
    ck_assert_int_gt(total, 0);
    ck_assert_int_eq(hs_tuple_get(c->out_ctrl[0], 0)->type, DOUBLE_PAR);
    const char *dec = hs_tuple_get(c->out_ctrl[1], 0)->par.s;
    ck_assert(strcmp(dec, "OK") == 0 || strcmp(dec, "NG") == 0);
    ck_assert_int_eq(hs_tuple_length(c->out_ctrl[2]), 4);
    ck_assert_int_eq(hs_tuple_length(c->out_ctrl[3]), 4);
    ck_assert_str_eq(hs_tuple_get(c->out_ctrl[2], 0)->par.s, "normal");
    printf("  circle domain: %d pixels inspected, %lld labelled, score %.4f %s\n", checked,
           (long long)total, hs_tuple_get(c->out_ctrl[0], 0)->par.d, dec);
    call_free(c);

    /* uint2 with 12 used bits reads 0..4095 as black..white; real 0..1 by default */
    hs_obj *u = synthetic(UINT2_IMAGE, 16, 8, 1, NULL, 0);
    c = apply(u, tool);
    ck_assert_msg(c->err == H_MSG_TRUE, "%s", c->msg);
    call_free(c);
    hs_obj *fl = synthetic(FLOAT_IMAGE, 16, 8, 1, NULL, 0);
    c = apply(fl, tool);
    ck_assert_msg(c->err == H_MSG_TRUE, "%s", c->msg);
    call_free(c);

    /* reentrant: one tool applied from several threads at once gives the same result */
    enum { THREADS = 3 };
    struct worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.tool = tool, .score = -1};
        ck_assert_int_eq(pthread_create(&th[i], NULL, apply_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(w[i].err == H_MSG_TRUE, "thread %d: %d", i, w[i].err);
        ck_assert(w[i].score == w[0].score);
    }
    printf("  %d threads applying one tool: identical scores %.4f\n", THREADS, w[0].score);

    /* clear_inspection_tool, then every use is refused */
    c = call_new("clear_inspection_tool");
    c->in_ctrl[0] = tup("h", handle_of(tool));
    ck_assert_int_eq(call_run(c), H_MSG_TRUE);
    ck_assert_int_eq(hs_live_handles(), 0);
    ck_assert_int_eq(call_run(c), H_ERR_HANDLE_CLEARED);
    call_free(c);
    c = apply(synthetic(BYTE_IMAGE, 8, 8, 1, NULL, 0), tool);
    expect_error(c, H_ERR_HANDLE_CLEARED, "cleared");
    call_free(c);
    hs_tuple_free(tool);
}
END_TEST

START_TEST(misuse)
{
    const char *plugin = fake_plugin();
    write_text(tmp("fake.txt"), FAKE_RECIPE);
    hs_tuple *tool = read_tool(tmp("fake.txt"), plugin);
    call *c;

    /* read_inspection_tool: counts, types, values, plugin, recipe */
    c = call_new("read_inspection_tool");
    c->in_ctrl[0] = tup("ss", tmp("fake.txt"), tmp("fake.txt"));
    c->in_ctrl[1] = tup("");
    c->in_ctrl[2] = tup("");
    call_run(c);
    expect_error(c, H_ERR_WIPN1, "RecipeFile");
    call_free(c);
    c = call_new("read_inspection_tool");
    c->in_ctrl[0] = tup("l", 7LL);
    c->in_ctrl[1] = tup("");
    c->in_ctrl[2] = tup("");
    call_run(c);
    expect_error(c, H_ERR_WIPT1, "integer");
    call_free(c);
    c = call_new("read_inspection_tool");
    c->in_ctrl[0] = tup("s", tmp("fake.txt"));
    c->in_ctrl[1] = tup("ss", "plugin", "num_threads");
    c->in_ctrl[2] = tup("s", plugin);
    call_run(c);
    expect_error(c, H_ERR_WIPN(3), "GenParamValue");
    call_free(c);
    c = call_new("read_inspection_tool");
    c->in_ctrl[0] = tup("s", tmp("fake.txt"));
    c->in_ctrl[1] = tup("ss", "plugin", "colour");
    c->in_ctrl[2] = tup("ss", plugin, "red");
    call_run(c);
    expect_error(c, H_ERR_WIPV(2), "colour");
    call_free(c);
    c = call_new("read_inspection_tool");
    c->in_ctrl[0] = tup("s", tmp("fake.txt"));
    c->in_ctrl[1] = tup("ss", "plugin", "image_threshold");
    c->in_ctrl[2] = tup("sd", plugin, 2.5);
    call_run(c);
    expect_error(c, H_ERR_WIPV(3), "image_threshold");
    call_free(c);
    c = call_new("read_inspection_tool");
    c->in_ctrl[0] = tup("s", tmp("fake.txt"));
    c->in_ctrl[1] = tup("s", "plugin");
    c->in_ctrl[2] = tup("s", tmp("no_such_plugin.so"));
    call_run(c);
    expect_error(c, DAPO_ERR_PLUGIN, "no_such_plugin.so");
    call_free(c);
    c = call_new("read_inspection_tool");
    c->in_ctrl[0] = tup("s", tmp("missing_recipe.yaml"));
    c->in_ctrl[1] = tup("s", "plugin");
    c->in_ctrl[2] = tup("s", plugin);
    call_run(c);
    expect_error(c, DAPO_ERR_BASE + 3, "missing_recipe.yaml");
    call_free(c);
    /* a recipe the real plugin refuses: code 10103 and file:line:column */
    write_text(tmp("bad.yaml"), "recipe_version: 1\nproduct: [unclosed\n");
    c = call_new("read_inspection_tool");
    c->in_ctrl[0] = tup("s", tmp("bad.yaml"));
    c->in_ctrl[1] = tup("s", "plugin");
    c->in_ctrl[2] = tup("s", real_plugin());
    call_run(c);
    expect_error(c, DAPO_ERR_BASE + 3, "bad.yaml:");
    call_free(c);

    /* apply_inspection_tool: images */
    c = apply(synthetic(INT2_IMAGE, 8, 8, 1, NULL, 0), tool);
    expect_error(c, H_ERR_WITFO, "int2");
    call_free(c);
    c = apply(synthetic(BYTE_IMAGE, 8, 8, 2, NULL, 0), tool);
    expect_error(c, H_ERR_WRNUMCHAN, "2 channels");
    call_free(c);
    Hrun none[1] = {{0, 0, 0}};
    c = apply(synthetic(BYTE_IMAGE, 8, 8, 1, none, 0), tool);
    expect_error(c, H_ERR_EDEF, "empty domain");
    call_free(c);
    char err[128];
    Hrun box[2] = {{1, 1, 3}, {2, 1, 3}};
    c = apply(hs_gen_region(box, 2, err, sizeof err), tool);
    expect_error(c, H_ERR_WITFO, "region");
    call_free(c);
    c = call_new("apply_inspection_tool");        /* two images */
    c->in_obj[0] = objs1(synthetic(BYTE_IMAGE, 8, 8, 1, NULL, 0));
    hs_obj *second = synthetic(BYTE_IMAGE, 8, 8, 1, NULL, 0);
    hs_objs_append(c->in_obj[0], second);
    hs_obj_unref(second);
    c->in_ctrl[0] = tup("h", handle_of(tool));
    call_run(c);
    expect_error(c, H_ERR_WION1, "Image");
    call_free(c);
    /* handles: two, none, a string, a foreign type, a forged value */
    c = call_new("apply_inspection_tool");
    c->in_obj[0] = objs1(synthetic(BYTE_IMAGE, 8, 8, 1, NULL, 0));
    c->in_ctrl[0] = tup("hh", handle_of(tool), handle_of(tool));
    call_run(c);
    expect_error(c, H_ERR_WIPN1, "ToolHandle");
    call_free(c);
    c = call_new("get_inspection_tool_info");
    c->in_ctrl[0] = tup("s", "tool");
    c->in_ctrl[1] = tup("s", "product");
    call_run(c);
    expect_error(c, H_ERR_WIPT1, "string");
    call_free(c);
    void *data;
    HAlloc(NULL, 8, &data);
    Hphandle other = hs_handle_new(&other_info, data);
    c = call_new("set_inspection_tool_param");
    c->in_ctrl[0] = tup("h", other);
    c->in_ctrl[1] = tup("s", "num_threads");
    c->in_ctrl[2] = tup("l", 2LL);
    hs_handle_release(other);
    call_run(c);
    expect_error(c, H_ERR_WRONG_HANDLE_TYPE, "not an inspection tool");
    call_free(c);
    c = call_new("get_inspection_tool_param");
    c->in_ctrl[0] = hs_tuple_new();
    hs_tuple_append_raw_handle(c->in_ctrl[0], (uintptr_t)tool + 64);
    c->in_ctrl[1] = tup("s", "num_threads");
    call_run(c);
    expect_error(c, H_ERR_WHDL, "not a valid handle");
    call_free(c);
    /* parameters */
    c = call_new("get_inspection_tool_param");
    c->in_ctrl[0] = tup("h", handle_of(tool));
    c->in_ctrl[1] = tup("s", "speed");
    call_run(c);
    expect_error(c, H_ERR_WIPV(2), "speed");
    call_free(c);
    c = call_new("get_inspection_tool_info");
    c->in_ctrl[0] = tup("h", handle_of(tool));
    c->in_ctrl[1] = tup("s", "colour");
    call_run(c);
    expect_error(c, H_ERR_WIPV(2), "info_names");
    call_free(c);
    c = call_new("set_inspection_tool_param");
    c->in_ctrl[0] = tup("h", handle_of(tool));
    c->in_ctrl[1] = tup("s", "image_value_min");
    c->in_ctrl[2] = tup("s", "low");
    call_run(c);
    expect_error(c, H_ERR_WIPV(3), "number");
    call_free(c);

    /* the tool still works after all that, then goes away with its last tuple */
    c = apply(synthetic(BYTE_IMAGE, 8, 8, 1, NULL, 0), tool);
    ck_assert_msg(c->err == H_MSG_TRUE, "%s", c->msg);
    call_free(c);
    ck_assert_int_eq(hs_live_handles(), 1);
    hs_tuple_free(tool);
    ck_assert_int_eq(hs_live_handles(), 0);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * The real plugin and the demo model: results equal those of `insp run`
 */

/* Writes the demo model and images into the temp dir, plus a recipe for them. */
static const char *demo_setup(void)
{
    ck_assert_msg(sh("'%s/make_demo_model' '%s' >/dev/null", build_dir(), tmp("demo")) == 0,
                  "make_demo_model failed (make builds it)");
    ck_assert(sh("'%s/make_demo_images' '%s' >/dev/null", build_dir(), tmp("images")) == 0);
    char recipe[8192], models[PATH_MAX];
    ck_assert_msg(realpath(models_dir(), models) != NULL, "models/ not found");
    snprintf(recipe, sizeof recipe,
             "recipe_version: 1\nproduct: halcon driver\nmodel:\n  clip: demo/clip.safetensors\n"
             "  dapo: demo/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
             "precision: f32\ninput_size: 224\ndefects: [scratch, hole, stain]\n"
             "thresholds: {image: 0.7, pixel: 2.9, min_region_area: 20}\nthreads: 2\n",
             models);
    write_text(tmp("recipe.yaml"), recipe);
    return tmp("recipe.yaml");
}

/* An 8-bit grey PNG (the CLI's --mask format). */
static void write_grey_png(const char *path, const uint8_t *px, int w, int h)
{
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    if (setjmp(png_jmpbuf(png)))
        ck_abort_msg("libpng failed writing %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(px + (size_t)y * w));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* Compares one apply_inspection_tool result with insp run's files for `stem` in out_dir. */
static void same_as_cli(call *c, const char *out_dir, const char *stem, int roi_x, int roi_y)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/%s.json", out_dir, stem);
    size_t text_len;
    char *text = tsup_slurp(path, &text_len);
    dp_json *j;
    dp_err e;
    ck_assert_msg(dp_json_parse(text, strlen(text), path, &j, &e) == DP_OK, "%s", e.msg);
    double score = hs_tuple_get(c->out_ctrl[0], 0)->par.d;
    double cli_score = dp_json_get(j, "score")->number;
    ck_assert_msg(fabs(score - cli_score) <= 1e-6 * fabs(cli_score) + 1e-7,
                  "%s: score %.9g vs insp %.9g", stem, score, cli_score);
    ck_assert_str_eq(hs_tuple_get(c->out_ctrl[1], 0)->par.s, dp_json_get(j, "decision")->string);
    const dp_json *classes = dp_json_get(j, "classes");
    ck_assert_int_eq((long)classes->count, (long)hs_tuple_length(c->out_ctrl[3]));
    for (size_t i = 0; i < classes->count; i++) {
        double cs = dp_json_get(&classes->items[i], "score")->number;
        ck_assert(fabs(hs_tuple_get(c->out_ctrl[3], (INT4_8)i)->par.d - cs) <= 1e-6 * fabs(cs) + 1e-7);
        ck_assert_str_eq(hs_tuple_get(c->out_ctrl[2], (INT4_8)i)->par.s,
                         dp_json_get(&classes->items[i], "name")->string);
    }
    /* maps: the CLI writes the inspected rectangle; the operator the whole image */
    io_image amap, labels;
    snprintf(path, sizeof path, "%s/%s.anomaly.tif", out_dir, stem);
    ck_assert_msg(io_read_image(path, &amap, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/%s.labels.tif", out_dir, stem);
    ck_assert_msg(io_read_image(path, &labels, err, sizeof err) == 0, "%s", err);
    Himage a, l;
    ck_assert_int_eq(hs_obj_image(hs_objs_get(c->out_obj[0], 0), 1, &a), 0);
    ck_assert_int_eq(hs_obj_image(hs_objs_get(c->out_obj[2], 0), 1, &l), 0);
    long long diff = 0, labelled = 0;
    for (int y = 0; y < amap.height; y++)
        for (int x = 0; x < amap.width; x++) {
            size_t hi = (size_t)(y + roi_y) * a.width + x + roi_x, ci = (size_t)y * amap.width + x;
            diff += memcmp(&a.pixel.f[hi], &((float *)amap.data)[ci], 4) != 0;
            diff += l.pixel.u.p[hi] != ((uint16_t *)labels.data)[ci];
            labelled += l.pixel.u.p[hi] != 0;
        }
    ck_assert_msg(diff == 0, "%s: %lld map/label pixels differ from insp run", stem, diff);
    /* regions: per type, the area of DefectRegions = the area of insp's regions of that type */
    const dp_json *regions = dp_json_get(j, "regions");
    for (int k = 1; k < (int)classes->count; k++) {
        long long area = 0;
        for (size_t i = 0; i < regions->count; i++)
            if (dp_json_get(&regions->items[i], "class_id")->integer == k)
                area += dp_json_get(&regions->items[i], "area")->integer;
        ck_assert_int_eq(hs_region_area(hs_obj_region(hs_objs_get(c->out_obj[1], k - 1))), area);
    }
    printf("  %-16s score %.6f %s, %zu regions, %lld labelled pixels: identical to insp run\n",
           stem, score, hs_tuple_get(c->out_ctrl[1], 0)->par.s, regions->count, labelled);
    io_image_free(&amap);
    io_image_free(&labels);
    dp_json_free(j);
    free(text);
}

START_TEST(same_as_insp_run)
{
    const char *recipe = demo_setup();
    static const char *const files[] = {"demo_00_metal.png", "demo_00_metal.tif",
                                        "demo_02_label.tif", "demo_04_fabric.png"};
    enum { N = sizeof files / sizeof files[0] };
    char list[4096] = "";
    for (int i = 0; i < N; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), " '%s/images/%s'", g_dir, files[i]);
    /* insp is an ordinary program: it loads the release plugin built beside it */
    int rc = sh("'%s/insp' run --quiet --module '%s/libdapo_inspect.so' --recipe '%s' --out '%s'%s",
                build_dir(), build_dir(), recipe, tmp("cli"), list);
    ck_assert_msg(rc == 0 || rc == 1, "insp run exit %d", rc);
    /* a domain with a hole: insp run with the domain's box as --roi and the domain as --mask */
    io_image im;
    char err[512], path[1024];
    snprintf(path, sizeof path, "%s/images/%s", g_dir, files[0]);
    ck_assert_msg(io_read_image(path, &im, err, sizeof err) == 0, "%s", err);
    const int W = im.width, H = im.height, X0 = W / 8, Y0 = H / 6, X1 = W * 7 / 8, Y1 = H * 5 / 6;
    Hrun *dom = malloc(sizeof(Hrun) * 2 * H);
    INT4_8 nd = 0;
    uint8_t *mask = calloc((size_t)W * H, 1);
    for (int y = Y0; y < Y1; y++) {
        int hole = y > H / 2 - 10 && y < H / 2 + 10;
        int cx0 = W / 2 - 15, cx1 = W / 2 + 15;
        if (hole) {
            dom[nd++] = (Hrun){y, X0, cx0 - 1};
            dom[nd++] = (Hrun){y, cx1 + 1, X1 - 1};
        } else {
            dom[nd++] = (Hrun){y, X0, X1 - 1};
        }
        for (int x = X0; x < X1; x++)
            if (!hole || x < cx0 || x > cx1)
                mask[(size_t)y * W + x] = 255;
    }
    write_grey_png(tmp("mask.png"), mask, W, H);
    free(mask);
    rc = sh("'%s/insp' run --quiet --module '%s/libdapo_inspect.so' --recipe '%s' --out '%s' "
            "--roi %d,%d,%d,%d --mask '%s' '%s'", build_dir(), build_dir(), recipe, tmp("cli_roi"),
            X0, Y0, X1 - X0, Y1 - Y0, tmp("mask.png"), path);
    ck_assert_msg(rc == 0 || rc == 1, "insp run --roi --mask exit %d", rc);

    /* the same through the HALCON operators (the plugin under test: $DAPO_PLUGIN) */
    hs_tuple *tool = read_tool(recipe, real_plugin());
    for (int i = 0; i < N; i++) {
        io_image f;
        snprintf(path, sizeof path, "%s/images/%s", g_dir, files[i]);
        ck_assert_msg(io_read_image(path, &f, err, sizeof err) == 0, "%s", err);
        call *c = apply(halcon_image(&f, NULL, 0), tool);
        ck_assert_msg(c->err == H_MSG_TRUE, "%s: %s", files[i], c->msg);
        const char *stem = files[i];    /* insp names results after the file, extension kept */
        printf("  %s: %s %dx%dx%d\n", files[i], f.pixel == IO_U8 ? "byte" : f.pixel == IO_U16 ? "uint2" : "real",
               f.width, f.height, f.channels);
        same_as_cli(c, tmp("cli"), stem, 0, 0);
        call_free(c);
        io_image_free(&f);
    }
    call *c = apply(halcon_image(&im, dom, nd), tool);
    ck_assert_msg(c->err == H_MSG_TRUE, "%s", c->msg);
    same_as_cli(c, tmp("cli_roi"), "demo_00_metal.png", X0, Y0);
    call_free(c);
    free(dom);
    io_image_free(&im);
    hs_tuple_free(tool);
    ck_assert_int_eq(hs_live_handles(), 0);
}
END_TEST

Suite *halcon_suite(void)
{
    Suite *s = suite_create("halcon");
    TCase *tc = tcase_create("standin");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, standin_checks);
    tcase_add_test(tc, def_matches_table);
    suite_add_tcase(s, tc);
    tc = tcase_create("operators");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, operators_fake);
    tcase_add_test(tc, misuse);
    suite_add_tcase(s, tc);
    tc = tcase_create("real_plugin");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, same_as_insp_run);
    suite_add_tcase(s, tc);
    return s;
}

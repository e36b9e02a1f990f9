/* insp-train: DAPO training on a labelled set (MVTec AD layout or CSV list, read by dataset.c):
 * batches in a seeded order per epoch, a held-out validation part scored with the standard
 * metrics (metrics.c) before training and after every epoch, a checkpoint every epoch and on
 * stop (Ctrl-C), resumed automatically and bit-identically, the weights written in the format
 * the plugin loads, and a report (HTML with inline SVG, JSON). The training itself is
 * module/train/ (dp_trainer). */
#define _GNU_SOURCE
#include "train_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dataset.h"
#include "imageio.h"
#include "preprocess.h"
#include "recipe_text.h"
#include "resample.h"
#include "train_gt.h"
#include "train_vocab.h"
#include "trainer.h"

#define MAX_STAGES 8

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

typedef struct stage { int groups, epochs; } stage;

typedef struct part {
    const cd_part *src;   /* borrowed from the set */
    int class_id;
} part;

typedef struct run {
    /* options */
    const char *recipe_path, *set_path, *out_dir, *init, *split, *states_arg;
    int batch, threads, restart;
    long max_steps;
    double lr, val_fraction;
    uint64_t seed;
    stage stages[MAX_STAGES];
    int n_stages, total_epochs;
    char schedule_text[256];
    /* model */
    rt_recipe recipe;
    int image_size;
    dp_dtype_c precision;
    const char *states[DP_MAX_STATES];   /* [0] normal, then the defect states */
    int n_states, default_vocab;
    char *states_buf;
    /* data */
    cd_set set;
    part *train, *val;
    int n_train, n_val;
    char **skipped;
    int n_skipped, cap_skipped;
    uint8_t *skip_flag;       /* per train part: already reported */
    uint8_t *val_flag;        /* per validation part: already reported */
    /* buffers (sized at start) */
    float *pre;               /* [batch][3][S][S] */
    uint8_t *gt_bin, *gt_multi;
    int *labels;
    uint8_t *rgb_s;           /* [S][S][3] */
    /* history */
    tc_step *steps;
    int n_steps, cap_steps;
    tc_val *vals;
    int n_vals, cap_vals;
} run;

/* --init's value for a fresh start instead of a file. */
#define INIT_REFERENCE "reference"

/* Options that take a value (the others are flags or unknown). */
static int takes_value(const char *opt)
{
    static const char *const with_value[] = { "--recipe", "--out", "--init", "--split", "--batch",
        "--epochs", "--lr", "--seed", "--groups", "--schedule", "--states", "--val-fraction",
        "--threads", "--max-steps" };
    for (size_t i = 0; i < sizeof with_value / sizeof *with_value; i++)
        if (!strcmp(opt, with_value[i]))
            return 1;
    return 0;
}

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "insp-train: %s\n", msg);
    fprintf(stderr,
            "usage: insp-train --recipe R.yaml --out DIR [options] SET\n"
            "  SET                MVTec AD folder (one product or several) or a CSV list\n"
            "                     (image,label[,mask[,type[,product]]]), as insp-calibrate reads it\n"
            "  --recipe R.yaml    the CLIP model, precision and input size (and the starting DAPO\n"
            "                     weights unless --init)\n"
            "  --out DIR          DIR/dapo.safetensors, DIR/checkpoint.safetensors, DIR/report.html,\n"
            "                     DIR/report.json\n"
            "  --init FILE        starting DAPO weights (default: the recipe's dapo file);\n"
            "                     'reference': fresh tensors drawn as the authors' code\n"
            "                     initialises them (seeded by --seed)\n"
            "  --batch N          images per step (default 8)\n"
            "  --epochs N         epochs of the single stage (default 5)\n"
            "  --lr X             Adam learning rate (default 1e-3; betas 0.5/0.999)\n"
            "  --seed N           order of the parts and the validation split (default 42)\n"
            "  --groups LIST      trained tensors: text,visual,adapters (default all three, the\n"
            "                     authors' single stage)\n"
            "  --schedule STAGES  staged training, e.g. text:1,visual+adapters:4 (groups:epochs,\n"
            "                     one stage after the other; replaces --groups and --epochs)\n"
            "  --states LIST      training vocabulary: defect states, comma-separated (default the\n"
            "                     reference's 20 training defects; folders map by the reference's\n"
            "                     table, else by exact name)\n"
            "  --split S          all, test (default, the authors' protocol) or train\n"
            "  --val-fraction X   parts held out for validation (default 0.2)\n"
            "  --threads N        (default: all cores)\n"
            "  --max-steps N      stop after N steps as Ctrl-C would (checkpoint, exit 130)\n"
            "  --restart          ignore DIR/checkpoint.safetensors (default: resume from it)\n"
            "exit: 0 done, 1 done with parts left out, 2 usage or set error, 3 model error,\n"
            "      130 stopped (the same command resumes)\n");
    return 2;
}

static int parse_groups(const char *s, int *out)
{
    int g = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",+", &save); tok; tok = strtok_r(NULL, ",+", &save)) {
        if (!strcmp(tok, "text"))
            g |= DP_GROUP_TEXT;
        else if (!strcmp(tok, "visual"))
            g |= DP_GROUP_VISUAL;
        else if (!strcmp(tok, "adapters"))
            g |= DP_GROUP_ADAPTERS;
        else
            return -1;
    }
    *out = g;
    return g ? 0 : -1;
}

static int parse_schedule(run *r, const char *s)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    r->n_stages = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        if (!colon || r->n_stages == MAX_STAGES)
            return -1;
        *colon = 0;
        stage *st = &r->stages[r->n_stages];
        char *end;
        long e = strtol(colon + 1, &end, 10);
        if (*end || e < 1 || e > 1000 || parse_groups(tok, &st->groups))
            return -1;
        st->epochs = (int)e;
        r->n_stages++;
    }
    return r->n_stages ? 0 : -1;
}

static void groups_text(int g, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s%s%s", g & DP_GROUP_TEXT ? "text" : "",
             (g & DP_GROUP_TEXT) && (g & (DP_GROUP_VISUAL | DP_GROUP_ADAPTERS)) ? "+" : "",
             g & DP_GROUP_VISUAL ? "visual" : "",
             (g & DP_GROUP_VISUAL) && (g & DP_GROUP_ADAPTERS) ? "+" : "",
             g & DP_GROUP_ADAPTERS ? "adapters" : "");
}

static void skip(run *r, const char *name, const char *why)
{
    if (r->n_skipped == r->cap_skipped) {
        int cap = r->cap_skipped ? 2 * r->cap_skipped : 16;
        char **n = realloc(r->skipped, (size_t)cap * sizeof *n);
        if (!n)
            return;
        r->skipped = n;
        r->cap_skipped = cap;
    }
    char *line = NULL;
    if (asprintf(&line, "%s: %s", name, why) < 0)
        return;
    r->skipped[r->n_skipped++] = line;
    fprintf(stderr, "insp-train: left out %s\n", line);
}

/* Scans the recipe's top-level `precision:` and `input_size:` lines (rt_load keeps the lines). */
static int recipe_settings(run *r, char *err, size_t cap)
{
    r->image_size = 0;
    r->precision = DP_C_F32;
    for (int i = 0; i < r->recipe.n_lines; i++) {
        const char *l = r->recipe.lines[i];
        if (!strncmp(l, "input_size:", 11))
            r->image_size = atoi(l + 11);
        else if (!strncmp(l, "precision:", 10)) {
            const char *v = l + 10;
            while (*v == ' ')
                v++;
            /* the tower backward passes are f32 only: a bf16 recipe trains in f32 (its
             * precision still applies when the trained weights inspect) */
            if (!strncmp(v, "bf16", 4))
                fprintf(stderr, "insp-train: %s: precision bf16 applies to inspection; training "
                        "runs the towers in f32\n", r->recipe_path);
            else if (strncmp(v, "f32", 3)) {
                snprintf(err, cap, "%s line %d: precision '%s'; expected f32 or bf16 for training",
                         r->recipe_path, i + 1, v);
                return -1;
            }
        }
    }
    if (r->image_size < 14 || r->image_size > 2016) {
        snprintf(err, cap, "%s: input_size %d; expected a top-level input_size (14..2016)",
                 r->recipe_path, r->image_size);
        return -1;
    }
    return 0;
}

static int same_state(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int ca = *a == '_' || *a == '-' ? ' ' : tolower((unsigned char)*a);
        int cb = *b == '_' || *b == '-' ? ' ' : tolower((unsigned char)*b);
        if (ca != cb)
            return 0;
    }
    return *a == *b;
}

static int class_of(const run *r, const cd_part *p)
{
    if (!p->bad)
        return 0;
    if (!p->type)
        return -1;
    if (r->default_vocab)
        return dp_train_class_of_folder(p->type);
    for (int k = 1; k < r->n_states; k++)
        if (same_state(p->type, r->states[k]))
            return k;
    return -1;
}

/* SplitMix64: the order of the parts per epoch and the validation split. */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void permutation(int *idx, int n, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(mix(&s) % (uint64_t)(i + 1));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static int collect_parts(run *r, char *err, size_t cap)
{
    int n = 0;
    for (int p = 0; p < r->set.n; p++)
        n += r->set.products[p].n;
    part *all = calloc((size_t)(n ? n : 1), sizeof *all);
    if (!all) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    int m = 0;
    for (int p = 0; p < r->set.n; p++)
        for (int i = 0; i < r->set.products[p].n; i++) {
            const cd_part *cp = &r->set.products[p].parts[i];
            int c = class_of(r, cp);
            if (c < 0) {
                char why[300];
                snprintf(why, sizeof why, "defect type '%s' is neither in the reference's folder "
                         "table nor a state of the training vocabulary (--states)",
                         cp->type ? cp->type : "(none)");
                skip(r, cp->name, why);
                continue;
            }
            if (cp->bad && !cp->mask) {
                skip(r, cp->name, "a defective part without a mask (the pixel loss needs one)");
                continue;
            }
            all[m].src = cp;
            all[m++].class_id = c;
        }
    int *order = malloc((size_t)(m ? m : 1) * sizeof *order);
    if (!order) {
        free(all);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    permutation(order, m, r->seed ^ 0x5EED5EEDull);
    r->n_val = (int)floor(r->val_fraction * m + 0.5);
    if (r->n_val >= m)
        r->n_val = m - 1;
    if (r->n_val < 0)
        r->n_val = 0;
    r->n_train = m - r->n_val;
    r->val = calloc((size_t)(r->n_val ? r->n_val : 1), sizeof *r->val);
    r->train = calloc((size_t)(r->n_train ? r->n_train : 1), sizeof *r->train);
    r->skip_flag = calloc((size_t)(r->n_train ? r->n_train : 1), 1);
    r->val_flag = calloc((size_t)(r->n_val ? r->n_val : 1), 1);
    if (!r->val || !r->train || !r->skip_flag || !r->val_flag) {
        free(all);
        free(order);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    /* validation: the first n_val of the seeded order, kept in set order for the report */
    uint8_t *is_val = calloc((size_t)(m ? m : 1), 1);
    for (int i = 0; i < r->n_val; i++)
        is_val[order[i]] = 1;
    int a = 0, b = 0;
    for (int i = 0; i < m; i++) {
        if (is_val[i])
            r->val[a++] = all[i];
        else
            r->train[b++] = all[i];
    }
    free(is_val);
    free(order);
    free(all);
    if (r->n_train < 1) {
        snprintf(err, cap, "%s: no part to train on (%d usable)", r->set_path, m);
        return -1;
    }
    return 0;
}

/* One part into slot b of the batch buffers: image preprocessed as the plugin does, ground truth
 * with the reference's quirk. Returns 0, or -1 with the reason in why. */
static int load_part(run *r, const part *p, int b, char *why, size_t cap)
{
    const int S = r->image_size;
    const size_t SS = (size_t)S * S;
    io_image raw, rgb;
    if (io_read_image(p->src->image, &raw, why, cap))
        return -1;
    int rc = io_to_rgb8(&raw, &rgb, why, cap);
    io_image_free(&raw);
    if (rc)
        return -1;
    size_t ws = dp_resize_u8_workspace(rgb.width, rgb.height, S, S, 3, DP_FILTER_BICUBIC);
    void *work = malloc(ws ? ws : 1);
    dp_err e;
    dp_status st = work ? dp_resize_u8(rgb.data, rgb.width, rgb.height, (ptrdiff_t)rgb.width * 3,
                                       3, r->rgb_s, S, S, (ptrdiff_t)S * 3, DP_FILTER_BICUBIC,
                                       work, ws, &e)
                        : dp_fail(&e, DP_E_NOMEM, "out of memory");
    free(work);
    io_image_free(&rgb);
    if (st) {
        snprintf(why, cap, "%s", e.msg);
        return -1;
    }
    dp_normalize_clip(r->rgb_s, S, (ptrdiff_t)S * 3, r->pre + (size_t)b * 3 * SS);
    r->labels[b] = p->src->bad;
    if (!p->src->bad) {
        memset(r->gt_bin + b * SS, 0, SS);
        memset(r->gt_multi + b * SS, 0, SS);
        return 0;
    }
    io_image m;
    if (io_read_image(p->src->mask, &m, why, cap))
        return -1;
    /* an 8-bit gray mask is used as it is; any other (RGB, 16-bit) through its RGB8 view,
     * channel 0 */
    uint8_t *packed = NULL;
    const uint8_t *mask = m.data;
    if (!(m.channels == 1 && m.pixel == IO_U8)) {
        io_image m8;
        if (io_to_rgb8(&m, &m8, why, cap)) {
            io_image_free(&m);
            return -1;
        }
        packed = malloc((size_t)m.width * m.height);
        for (size_t k = 0; packed && k < (size_t)m.width * m.height; k++)
            packed[k] = ((const uint8_t *)m8.data)[3 * k];
        io_image_free(&m8);
        if (!packed) {
            io_image_free(&m);
            snprintf(why, cap, "out of memory");
            return -1;
        }
        mask = packed;
    }
    ptrdiff_t stride = m.width;
    ws = dp_train_gt_workspace(m.width, m.height, S);
    work = malloc(ws ? ws : 1);
    st = work ? dp_train_gt(mask, m.width, m.height, stride, S, p->class_id, NULL,
                            r->gt_bin + b * SS, r->gt_multi + b * SS, work, ws, &e)
              : dp_fail(&e, DP_E_NOMEM, "out of memory");
    free(work);
    free(packed);
    io_image_free(&m);
    if (st) {
        snprintf(why, cap, "mask %s: %s", p->src->mask, e.msg);
        return -1;
    }
    return 0;
}

/* Validation of the current weights: image AUROC, pixel AUROC and AUPRO over the held-out
 * parts (maps at S x S against the ground truth as the loss sees it). */
static void validate(run *r, dp_trainer *t, float epoch, tc_val *out)
{
    out->epoch = epoch;
    out->image_auroc = out->pixel_auroc = out->aupro = -1;
    if (r->n_val < 1)
        return;
    const int S = r->image_size;
    const size_t SS = (size_t)S * S;
    float *maps = malloc((size_t)r->n_val * SS * sizeof *maps);
    uint8_t *masks = malloc((size_t)r->n_val * SS);
    float *scores = malloc((size_t)r->batch * sizeof *scores);
    int *ok = calloc((size_t)r->n_val, sizeof *ok);
    cm_scores img, px;
    cm_scores_init(&img);
    cm_scores_init(&px);
    if (!maps || !masks || !scores || !ok)
        goto done;
    for (int i0 = 0; i0 < r->n_val; i0 += r->batch) {
        int nb = 0, idx[64];
        for (int i = i0; i < r->n_val && i < i0 + r->batch; i++) {
            char why[600];
            if (load_part(r, &r->val[i], nb, why, sizeof why) == 0)
                idx[nb++] = i;
            else if (!r->val_flag[i]) {
                r->val_flag[i] = 1;
                skip(r, r->val[i].src->name, why);
            }
        }
        if (!nb)
            continue;
        dp_err e;
        float *bm = malloc((size_t)nb * SS * sizeof *bm);
        if (!bm || dp_trainer_predict(t, r->pre, nb, scores, bm, &e)) {
            free(bm);
            continue;
        }
        for (int b = 0; b < nb; b++) {
            memcpy(maps + idx[b] * SS, bm + b * SS, SS * sizeof *bm);
            memcpy(masks + idx[b] * SS, r->gt_bin + b * SS, SS);
            ok[idx[b]] = 1;
            cm_scores_add(&img, scores[b], r->labels[b]);
            for (size_t k = 0; k < SS; k++)
                cm_scores_add(&px, bm[b * SS + k], r->gt_bin[b * SS + k]);
        }
        free(bm);
    }
    cm_value v = cm_auroc(&img);
    if (!v.undefined)
        out->image_auroc = (float)v.value;
    v = cm_auroc(&px);
    if (!v.undefined)
        out->pixel_auroc = (float)v.value;
    {
        const float **mp = calloc((size_t)r->n_val, sizeof *mp);
        const uint8_t **kp = calloc((size_t)r->n_val, sizeof *kp);
        int *w = calloc((size_t)r->n_val, sizeof *w), *h = calloc((size_t)r->n_val, sizeof *h);
        size_t n = 0;
        for (int i = 0; mp && kp && w && h && i < r->n_val; i++)
            if (ok[i]) {
                mp[n] = maps + i * SS;
                kp[n] = masks + i * SS;
                w[n] = h[n] = S;
                n++;
            }
        if (n) {
            v = cm_aupro(mp, kp, w, h, n, 0.3);
            if (!v.undefined)
                out->aupro = (float)v.value;
        }
        free(mp);
        free(kp);
        free(w);
        free(h);
    }
done:
    cm_scores_free(&img);
    cm_scores_free(&px);
    free(maps);
    free(masks);
    free(scores);
    free(ok);
}

/* "validation image AUROC 0.6098, ...": a metric the held-out parts cannot give (no bad part, no
 * defect pixel, no validation part at all) reads "n/a" instead of its -1 marker. */
static const char *val_line(const tc_val *v, char *buf, size_t cap)
{
    char m[3][16];
    const float x[3] = { v->image_auroc, v->pixel_auroc, v->aupro };
    for (int i = 0; i < 3; i++)
        if (x[i] < 0)
            snprintf(m[i], sizeof m[i], "n/a");
        else
            snprintf(m[i], sizeof m[i], "%.4f", x[i]);
    snprintf(buf, cap, "validation image AUROC %s, pixel AUROC %s, AUPRO %s", m[0], m[1], m[2]);
    return buf;
}

static void push_step(run *r, tc_step s)
{
    if (r->n_steps == r->cap_steps) {
        int cap = r->cap_steps ? 2 * r->cap_steps : 64;
        tc_step *n = realloc(r->steps, (size_t)cap * sizeof *n);
        if (!n)
            return;
        r->steps = n;
        r->cap_steps = cap;
    }
    r->steps[r->n_steps++] = s;
}

static void push_val(run *r, tc_val v)
{
    if (r->n_vals == r->cap_vals) {
        int cap = r->cap_vals ? 2 * r->cap_vals : 16;
        tc_val *n = realloc(r->vals, (size_t)cap * sizeof *n);
        if (!n)
            return;
        r->vals = n;
        r->cap_vals = cap;
    }
    r->vals[r->n_vals++] = v;
}

/* FNV-1a of the settings a resume must share. */
static void fingerprint(const run *r, char out[64])
{
    uint64_t h = 0xcbf29ce484222325ull;
    char buf[512];
    snprintf(buf, sizeof buf, "b%d s%" PRIu64 " lr%.17g S%d v%.17g sched %s n%d/%d p%d",
             r->batch, r->seed, r->lr, r->image_size, r->val_fraction, r->schedule_text,
             r->n_train, r->n_val, (int)r->precision);
    for (const char *p = buf; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    for (int k = 0; k < r->n_states; k++)
        for (const char *p = r->states[k]; *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    for (int i = 0; i < r->n_train; i++)
        for (const char *p = r->train[i].src->name; *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    snprintf(out, 64, "%016" PRIx64, h);
}

static char *path_in(const run *r, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", r->out_dir, name) < 0)
        return NULL;
    return p;
}

static int save_checkpoint(run *r, dp_trainer *t, const dp_train_position *pos, char *err,
                           size_t cap)
{
    dp_st_out extra[2] = { { "history.steps", 2, { r->n_steps, 4, 0 }, (const float *)r->steps },
                           { "history.val", 2, { r->n_vals, 4, 0 }, (const float *)r->vals } };
    char *path = path_in(r, "checkpoint.safetensors");
    dp_err e;
    dp_status st = path ? dp_checkpoint_save(path, dp_trainer_params(t), dp_trainer_adam(t), pos,
                                             extra, 2, &e)
                        : dp_fail(&e, DP_E_NOMEM, "out of memory");
    free(path);
    if (st) {
        snprintf(err, cap, "%s", e.msg);
        return -1;
    }
    return 0;
}

static int load_history(run *r, const char *path, char *err, size_t cap)
{
    float *d;
    int64_t shape[2];
    dp_err e;
    if (dp_checkpoint_extra(path, "history.steps", &d, shape, &e)) {
        snprintf(err, cap, "%s", e.msg);
        return -1;
    }
    for (int64_t i = 0; d && shape[1] == 4 && i < shape[0]; i++)
        push_step(r, (tc_step){ d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3] });
    free(d);
    if (dp_checkpoint_extra(path, "history.val", &d, shape, &e)) {
        snprintf(err, cap, "%s", e.msg);
        return -1;
    }
    for (int64_t i = 0; d && shape[1] == 4 && i < shape[0]; i++)
        push_val(r, (tc_val){ d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3] });
    free(d);
    return 0;
}

static int stage_of_epoch(const run *r, int64_t epoch)
{
    int64_t e = 0;
    for (int s = 0; s < r->n_stages; s++) {
        e += r->stages[s].epochs;
        if (epoch < e)
            return s;
    }
    return r->n_stages - 1;
}

static int write_reports(run *r, double sec_per_step, int stopped, const char *weights)
{
    char states[2048] = "";
    for (int k = 1; k < r->n_states; k++) {
        strncat(states, r->states[k], sizeof states - strlen(states) - 1);
        if (k + 1 < r->n_states)
            strncat(states, ", ", sizeof states - strlen(states) - 1);
    }
    char init[96];
    if (!strcmp(r->init, INIT_REFERENCE))
        snprintf(init, sizeof init, "fresh, drawn as the reference initialises (seed %" PRIu64 ")",
                 r->seed);
    tc_report rep = { r->recipe_path, r->set_path,
                      strcmp(r->init, INIT_REFERENCE) ? r->init : init, weights, r->schedule_text, states,
                      r->batch, r->total_epochs, r->image_size, r->n_train, r->n_val,
                      r->n_skipped, (r->n_train + r->batch - 1) / r->batch, r->lr, sec_per_step,
                      r->seed, r->steps, r->n_steps, r->vals, r->n_vals,
                      (const char *const *)r->skipped, r->n_skipped, stopped };
    char *j = path_in(r, "report.json"), *h = path_in(r, "report.html");
    int rc = j && h ? tc_write_json(&rep, j) | tc_write_html(&rep, h) : -1;
    free(j);
    free(h);
    return rc;
}

static void free_run(run *r)
{
    rt_free(&r->recipe);
    cd_free(&r->set);
    free(r->train);
    free(r->val);
    free(r->skip_flag);
    free(r->val_flag);
    for (int i = 0; i < r->n_skipped; i++)
        free(r->skipped[i]);
    free(r->skipped);
    free(r->pre);
    free(r->gt_bin);
    free(r->gt_multi);
    free(r->labels);
    free(r->rgb_s);
    free(r->steps);
    free(r->vals);
    free(r->states_buf);
}

int train_cmd_main(int argc, char **argv)
{
    run r;
    memset(&r, 0, sizeof r);
    r.batch = 8;
    r.lr = DP_ADAM_LR;
    r.seed = 42;
    r.split = "test";
    r.val_fraction = 0.2;
    r.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    r.max_steps = -1;
    int epochs = 5, groups = DP_GROUP_ALL;
    const char *schedule = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(NULL);
            return 0;
        } else if (!strcmp(a, "--restart")) {
            r.restart = 1;
        } else if (!v && takes_value(a)) {
            fprintf(stderr, "insp-train: %s needs a value\n", a);
            return usage(NULL);
        } else if (!strcmp(a, "--recipe")) {
            r.recipe_path = argv[++i];
        } else if (!strcmp(a, "--out")) {
            r.out_dir = argv[++i];
        } else if (!strcmp(a, "--init")) {
            r.init = argv[++i];
        } else if (!strcmp(a, "--split")) {
            r.split = argv[++i];
            if (strcmp(r.split, "all") && strcmp(r.split, "test") && strcmp(r.split, "train"))
                return usage("--split must be all, test or train");
        } else if (!strcmp(a, "--batch")) {
            r.batch = (int)strtol(argv[++i], &end, 10);
            if (*end || r.batch < 1 || r.batch > 64)
                return usage("--batch must be 1..64");
        } else if (!strcmp(a, "--epochs")) {
            epochs = (int)strtol(argv[++i], &end, 10);
            if (*end || epochs < 1 || epochs > 10000)
                return usage("--epochs must be 1..10000");
        } else if (!strcmp(a, "--lr")) {
            r.lr = strtod(argv[++i], &end);
            if (*end || !(r.lr > 0 && r.lr < 1))
                return usage("--lr must be in (0, 1)");
        } else if (!strcmp(a, "--seed")) {
            r.seed = strtoull(argv[++i], &end, 10);
            if (*end)
                return usage("--seed must be a non-negative integer");
        } else if (!strcmp(a, "--groups")) {
            if (parse_groups(argv[++i], &groups))
                return usage("--groups is a comma-separated list of text, visual, adapters");
        } else if (!strcmp(a, "--schedule")) {
            schedule = argv[++i];
        } else if (!strcmp(a, "--states")) {
            r.states_arg = argv[++i];
        } else if (!strcmp(a, "--val-fraction")) {
            r.val_fraction = strtod(argv[++i], &end);
            if (*end || !(r.val_fraction >= 0 && r.val_fraction < 1))
                return usage("--val-fraction must be in [0, 1)");
        } else if (!strcmp(a, "--threads")) {
            r.threads = (int)strtol(argv[++i], &end, 10);
            if (*end || r.threads < 1 || r.threads > 256)
                return usage("--threads must be 1..256");
        } else if (!strcmp(a, "--max-steps")) {
            r.max_steps = strtol(argv[++i], &end, 10);
            if (*end || r.max_steps < 1)
                return usage("--max-steps must be >= 1");
        } else if (a[0] == '-') {
            fprintf(stderr, "insp-train: unknown option %s\n", a);
            return usage(NULL);
        } else if (!r.set_path) {
            r.set_path = a;
        } else {
            return usage("more than one set given");
        }
    }
    if (!r.recipe_path || !r.out_dir || !r.set_path)
        return usage("--recipe, --out and a set are required");
    if (schedule) {
        if (parse_schedule(&r, schedule))
            return usage("--schedule is GROUPS:EPOCHS[,GROUPS:EPOCHS...], groups joined by +, "
                         "e.g. text:1,visual+adapters:4");
    } else {
        r.n_stages = 1;
        r.stages[0] = (stage){ groups, epochs };
    }
    r.total_epochs = 0;
    size_t off = 0;
    for (int s = 0; s < r.n_stages; s++) {
        char g[64];
        groups_text(r.stages[s].groups, g, sizeof g);
        off += (size_t)snprintf(r.schedule_text + off, sizeof r.schedule_text - off, "%s%s:%d",
                                s ? "," : "", g, r.stages[s].epochs);
        if (off >= sizeof r.schedule_text)
            off = sizeof r.schedule_text - 1;
        r.total_epochs += r.stages[s].epochs;
        dp_err e;
        if (dp_trainer_check_groups(r.stages[s].groups, &e)) {
            fprintf(stderr, "insp-train: stage %d (%s): %s\n", s + 1, g, e.msg);
            return 2;
        }
    }

    char err[1024];
    int rc = 0;
    dp_trainer *t = NULL;
    int *order = NULL;
    if (rt_load(r.recipe_path, &r.recipe, err, sizeof err) || recipe_settings(&r, err, sizeof err)) {
        fprintf(stderr, "insp-train: %s\n", err);
        free_run(&r);
        return 2;
    }
    if (!r.init)
        r.init = r.recipe.dapo_path;
    /* the training vocabulary */
    r.states[0] = dp_train_state_name(0);
    if (!r.states_arg) {
        r.default_vocab = 1;
        for (int k = 1; k < DP_TRAIN_STATES; k++)
            r.states[k] = dp_train_state_name(k);
        r.n_states = DP_TRAIN_STATES;
    } else {
        r.states_buf = strdup(r.states_arg);
        r.n_states = 1;
        for (char *save = NULL, *tok = strtok_r(r.states_buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            if (!*tok)
                continue;
            if (r.n_states == DP_MAX_STATES) {
                free_run(&r);
                return usage("--states: too many states");
            }
            r.states[r.n_states++] = tok;
        }
        if (r.n_states < 2) {
            free_run(&r);
            return usage("--states needs at least one defect state");
        }
    }
    if (cd_load(r.set_path, r.split, &r.set, err, sizeof err) || collect_parts(&r, err, sizeof err)) {
        fprintf(stderr, "insp-train: %s\n", err);
        free_run(&r);
        return 2;
    }
    if (mkdir(r.out_dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "insp-train: cannot create %s: %s\n", r.out_dir, strerror(errno));
        free_run(&r);
        return 2;
    }
    const int S = r.image_size;
    const size_t SS = (size_t)S * S;
    r.pre = malloc((size_t)r.batch * 3 * SS * sizeof *r.pre);
    r.gt_bin = malloc((size_t)r.batch * SS);
    r.gt_multi = malloc((size_t)r.batch * SS);
    r.labels = calloc((size_t)r.batch, sizeof *r.labels);
    r.rgb_s = malloc(SS * 3);
    if (!r.pre || !r.gt_bin || !r.gt_multi || !r.labels || !r.rgb_s) {
        fprintf(stderr, "insp-train: out of memory for a batch of %d at %d px\n", r.batch, S);
        free_run(&r);
        return 3;
    }
    fprintf(stderr, "insp-train: %d parts to train on, %d held out for validation, %d left out; "
            "%d states; schedule %s; batch %d, lr %g, seed %" PRIu64 "\n", r.n_train, r.n_val,
            r.n_skipped, r.n_states, r.schedule_text, r.batch, r.lr, r.seed);

    /* "--init reference": fresh tensors drawn with the run's seed (a file named so: ./reference) */
    const int fresh = !strcmp(r.init, INIT_REFERENCE);
    dp_trainer_options o = { r.recipe.clip_path, r.recipe.vocab_path, fresh ? NULL : r.init,
                             r.seed, r.states + 1, r.n_states - 1, S, r.batch, r.threads,
                             r.precision, { r.lr, DP_ADAM_BETA1, DP_ADAM_BETA2, DP_ADAM_EPS } };
    dp_err e;
    if (dp_trainer_create(&o, &t, &e)) {
        /* no DAPO file yet is the usual first run: say how to start without one */
        int missing = !fresh && access(r.init, F_OK) != 0;
        fprintf(stderr, "insp-train: %s%s\n", e.msg,
                missing ? "\n  (no starting weights yet? --init reference draws fresh ones as "
                          "the authors' code does)" : "");
        free_run(&r);
        return 3;
    }

    {
        size_t vis, txt;
        dp_trainer_state_bytes(t, &vis, &txt);
        fprintf(stderr, "insp-train: training state %.0f MB (vision, per-block checkpoints: %.0f MB; "
                "text: %.0f MB)\n", (vis + txt) / 1e6, vis / 1e6, txt / 1e6);
    }
    dp_train_position pos = { 0, 0, 0, "" };
    fingerprint(&r, pos.fingerprint);
    char *ck = path_in(&r, "checkpoint.safetensors");
    struct stat sb;
    if (!r.restart && ck && stat(ck, &sb) == 0) {
        dp_train_position saved;
        if (dp_checkpoint_load(ck, dp_trainer_params(t), dp_trainer_adam(t), &saved, &e)) {
            fprintf(stderr, "insp-train: %s\n", e.msg);
            rc = 3;
            goto out;
        }
        if (strcmp(saved.fingerprint, pos.fingerprint)) {
            fprintf(stderr, "insp-train: %s was written by a run with other settings or parts "
                    "(fingerprint %s, this run %s); use --restart to start over\n", ck,
                    saved.fingerprint, pos.fingerprint);
            rc = 2;
            goto out;
        }
        if (load_history(&r, ck, err, sizeof err)) {
            fprintf(stderr, "insp-train: %s\n", err);
            rc = 3;
            goto out;
        }
        pos = saved;
        fprintf(stderr, "insp-train: resuming from %s: epoch %" PRId64 ", step %" PRId64 "\n", ck,
                pos.epoch + 1, pos.step_in_epoch);
    } else {
        tc_val v0;
        validate(&r, t, 0, &v0);
        push_val(&r, v0);
        char line[160];
        fprintf(stderr, "insp-train: start: %s\n", val_line(&v0, line, sizeof line));
    }

    signal(SIGINT, on_sigint);
    const int steps_per_epoch = (r.n_train + r.batch - 1) / r.batch;
    order = malloc((size_t)r.n_train * sizeof *order);
    double t0 = now_s(), spent = 0;
    long done_now = 0;
    int stopped = 0;
    for (; pos.epoch < r.total_epochs && order; pos.epoch++, pos.step_in_epoch = 0) {
        int groups_now = r.stages[stage_of_epoch(&r, pos.epoch)].groups;
        permutation(order, r.n_train, r.seed + (uint64_t)pos.epoch * 0x9E3779B97F4A7C15ull);
        for (; pos.step_in_epoch < steps_per_epoch; pos.step_in_epoch++) {
            if (g_stop || (r.max_steps > 0 && done_now >= r.max_steps)) {
                stopped = 1;
                break;
            }
            int nb = 0;
            for (int i = (int)pos.step_in_epoch * r.batch;
                 i < r.n_train && i < (pos.step_in_epoch + 1) * r.batch; i++) {
                char why[600];
                if (load_part(&r, &r.train[order[i]], nb, why, sizeof why) == 0)
                    nb++;
                else if (!r.skip_flag[order[i]]) {
                    r.skip_flag[order[i]] = 1;
                    skip(&r, r.train[order[i]].src->name, why);
                }
            }
            double ts = now_s();
            dp_train_loss loss = { 0 };
            if (nb && dp_trainer_step(t, groups_now, r.pre, r.gt_bin, r.gt_multi, r.labels, nb,
                                      &loss, &e)) {
                fprintf(stderr, "insp-train: step failed: %s\n", e.msg);
                rc = 3;
                goto out;
            }
            spent += now_s() - ts;
            done_now++;
            pos.global_step++;
            if (nb)
                push_step(&r, (tc_step){ (float)pos.epoch + (float)(pos.step_in_epoch + 1) /
                                                                steps_per_epoch,
                                         (float)loss.total, (float)loss.local,
                                         (float)loss.image_ce });
            double per = (now_s() - t0) / done_now;
            long left = (long)((r.total_epochs - pos.epoch) * (long)steps_per_epoch -
                               pos.step_in_epoch - 1);
            fprintf(stderr, "epoch %" PRId64 "/%d step %" PRId64 "/%d  loss %.4f (local %.4f, "
                    "image %.4f)  %.2f s/step, %ld:%02ld left\n", pos.epoch + 1, r.total_epochs,
                    pos.step_in_epoch + 1, steps_per_epoch, loss.total, loss.local,
                    loss.image_ce, per, (long)(per * left) / 60, (long)(per * left) % 60);
        }
        if (stopped)
            break;
        tc_val v;
        validate(&r, t, (float)(pos.epoch + 1), &v);
        push_val(&r, v);
        char line[160];
        fprintf(stderr, "epoch %" PRId64 " done: %s\n", pos.epoch + 1, val_line(&v, line, sizeof line));
        dp_train_position next = pos;
        next.epoch++;
        next.step_in_epoch = 0;
        if (save_checkpoint(&r, t, &next, err, sizeof err)) {
            fprintf(stderr, "insp-train: checkpoint: %s\n", err);
            rc = 3;
            goto out;
        }
    }
    free(order);
    order = NULL;
    double per_step = done_now ? spent / done_now : 0;
    if (stopped) {
        if (save_checkpoint(&r, t, &pos, err, sizeof err)) {
            fprintf(stderr, "insp-train: checkpoint: %s\n", err);
            rc = 3;
            goto out;
        }
        write_reports(&r, per_step, 1, NULL);
        fprintf(stderr, "insp-train: stopped after epoch %" PRId64 " step %" PRId64 "; the same "
                "command resumes from %s\n", pos.epoch + 1, pos.step_in_epoch, ck);
        rc = 130;
        goto out;
    }
    char *weights = path_in(&r, "dapo.safetensors");
    char steps_txt[32];
    snprintf(steps_txt, sizeof steps_txt, "%" PRId64, pos.global_step);
    const char *meta[] = { "format", "dapo-inspect DAPO weights", "trained_by", "insp-train",
                           "schedule", r.schedule_text, "steps", steps_txt };
    if (!weights || dp_train_params_save(dp_trainer_params(t), weights, meta, 4, &e)) {
        fprintf(stderr, "insp-train: %s\n", weights ? e.msg : "out of memory");
        free(weights);
        rc = 3;
        goto out;
    }
    if (write_reports(&r, per_step, 0, weights))
        fprintf(stderr, "insp-train: could not write the report in %s\n", r.out_dir);
    printf("weights: %s\nreport: %s/report.html, %s/report.json\n", weights, r.out_dir, r.out_dir);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("peak memory: %.0f MB resident\n", ru.ru_maxrss / 1e3);
    if (r.n_skipped) {
        printf("%d parts left out:\n", r.n_skipped);
        for (int i = 0; i < r.n_skipped; i++)
            printf("  %s\n", r.skipped[i]);
    }
    free(weights);
    rc = r.n_skipped ? 1 : 0;
out:
    free(order);
    free(ck);
    dp_trainer_free(t);
    free_run(&r);
    return rc;
}

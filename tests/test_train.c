/* Training downstream of the towers (module/train/) against the reference's training step
 * (golden train/, shared/golden/README.md "Training step"): ground truth bit-exact, the head's
 * forward (text features, image logits, probabilities, every loss term) and its adapter
 * gradients within the manifest / loss.json tolerances, finite-difference checks of the
 * gradients the tower backward passes take (dF_j, dg, dfeatures, dabnormal), and Adam from the
 * golden gradients to the golden parameters after steps 1 and 2; then the whole trainer (both
 * tower backward passes, all groups) for two steps: every gradient, the parameters after each
 * step and every loss term. Every comparison prints its error and tolerance. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adam.h"
#include "clip_weights.h"
#include "dapo_weights.h"
#include "golden.h"
#include "imageio.h"
#include "json.h"
#include "model.h"
#include "model_testing.h"
#include "safetensors.h"
#include "train_gt.h"
#include "train_head.h"
#include "train_init.h"
#include "train_params.h"
#include "train_vocab.h"
#include "trainer.h"
#include "test_cmd.h"

#define S_TINY 112
#define B_TINY 2

static dp_json *read_json(const char *rel)
{
    size_t len;
    char *txt = tsup_slurp(golden_path(rel), &len);
    dp_json *doc = NULL;
    dp_err err;
    ck_assert_msg(dp_json_parse(txt, len, rel, &doc, &err) == DP_OK, "%s", err.msg);
    free(txt);
    return doc;
}

/* ---- 1. ground truth ---------------------------------------------------------------------- */

static int exact_u8(const char *rel, const uint8_t *mine, size_t offset, size_t n)
{
    npy_array g;
    ck_assert_msg(npy_load(rel, &g) == 0, "cannot load %s", rel);
    ck_assert(g.dtype == 'u' && g.count >= offset + n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += ((uint8_t *)g.data)[offset + i] != mine[i];
    printf("  %-34s [%zu..%zu) mismatches=%zu (tolerance: exact)\n", rel, offset, offset + n, bad);
    npy_free(&g);
    return bad == 0;
}

START_TEST(ground_truth_exact)
{
    dp_json *batch = read_json("train/batch.json");
    const dp_json *imgs = dp_json_get(batch, "images");
    ck_assert(imgs && imgs->count == B_TINY);
    const size_t SS = (size_t)S_TINY * S_TINY;
    int ok = 1;
    for (int b = 0; b < B_TINY; b++) {
        const dp_json *im = &imgs->items[b];
        int label = (int)dp_json_get(im, "label")->integer;
        const char *type = dp_json_get(im, "defect_type")->string;
        int cls = dp_train_class_of_folder(type);
        ck_assert_int_eq(cls, (int)dp_json_get(im, "class_id")->integer);
        io_image m = { 0 };
        char e[256];
        const char *mask_rel = dp_json_get(im, "mask")->string;
        ck_assert_msg(io_read_image(golden_path(mask_rel), &m, e, sizeof e) == 0, "%s", e);
        ck_assert(m.channels == 1 && m.pixel == IO_U8);
        size_t ws = dp_train_gt_workspace(m.width, m.height, S_TINY);
        void *work = malloc(ws);
        uint8_t *rs = malloc(SS), *gb = malloc(SS), *gm = malloc(SS);
        dp_err err;
        /* a label-0 image's mask is never read (the reference uses zeros) */
        ck_assert_msg(dp_train_gt(label ? m.data : NULL, m.width, m.height, m.width, S_TINY, cls,
                                  rs, gb, gm, work, ws, &err) == DP_OK, "%s", err.msg);
        ok &= exact_u8("train/mask_resized_u8.npy", rs, b * SS, SS);
        ok &= exact_u8("train/gt_bin.npy", gb, b * SS, SS);
        ok &= exact_u8("train/gt_multi.npy", gm, b * SS, SS);
        free(work);
        free(rs);
        free(gb);
        free(gm);
        io_image_free(&m);
    }
    dp_json_free(batch);
    ck_assert_msg(ok, "ground truth differs from the reference");
}
END_TEST

START_TEST(vocabulary_and_folders)
{
    ck_assert_str_eq(dp_train_state_name(0), "normal");
    ck_assert_str_eq(dp_train_state_name(15), "scratch");
    ck_assert_ptr_null(dp_train_state_name(DP_TRAIN_STATES));
    dp_json *batch = read_json("train/batch.json");
    const dp_json *states = dp_json_get(batch, "states");
    ck_assert_int_eq((int)states->count, DP_TRAIN_STATES);
    for (int k = 0; k < DP_TRAIN_STATES; k++)
        ck_assert_str_eq(dp_train_state_name(k), states->items[k].string);
    dp_json_free(batch);
    ck_assert_int_eq(dp_train_class_of_folder("good"), 0);
    ck_assert_int_eq(dp_train_class_of_folder("scratch_neck"), 15);
    ck_assert_int_eq(dp_train_class_of_folder("broken_large"), 2);
    ck_assert_int_eq(dp_train_class_of_folder("color"), 3);
    ck_assert_int_eq(dp_train_class_of_folder("cable_swap"), 19);
    ck_assert_int_eq(dp_train_class_of_folder("pill_type"), 20);
    ck_assert_int_eq(dp_train_class_of_folder("faulty_imprint"), 9);
    ck_assert_int_eq(dp_train_class_of_folder("Hole"), 11);   /* by state name, case ignored */
    ck_assert_int_eq(dp_train_class_of_folder("squeezed_teeth"), 16);
    ck_assert_int_eq(dp_train_class_of_folder("manipulated_front"), 1);
    ck_assert_int_eq(dp_train_class_of_folder("combined"), 4);
    ck_assert_int_eq(dp_train_class_of_folder("print"), 9);
    ck_assert_int_eq(dp_train_class_of_folder("oil"), 18);
    ck_assert_int_eq(dp_train_class_of_folder("gray_stroke"), 20);
    ck_assert_int_eq(dp_train_class_of_folder("stain"), -1);   /* not MVTec, not a state */
    /* every defect folder of the 15 MVTec AD products (the dataset's own listing) has a class */
    static const char *const mvtec[] = {
        "broken_large", "broken_small", "contamination",                       /* bottle */
        "bent_wire", "cable_swap", "combined", "cut_inner_insulation",         /* cable */
        "cut_outer_insulation", "missing_cable", "missing_wire", "poke_insulation",
        "crack", "faulty_imprint", "poke", "scratch", "squeeze",               /* capsule */
        "color", "cut", "hole", "metal_contamination", "thread",               /* carpet */
        "bent", "broken", "glue",                                              /* grid */
        "print",                                                               /* hazelnut */
        "fold",                                                                /* leather */
        "flip",                                                                /* metal_nut */
        "pill_type",                                                           /* pill */
        "manipulated_front", "scratch_head", "scratch_neck", "thread_side",    /* screw */
        "thread_top",
        "glue_strip", "gray_stroke", "oil", "rough",                           /* tile */
        "defective",                                                           /* toothbrush */
        "bent_lead", "cut_lead", "damaged_case", "misplaced",                  /* transistor */
        "liquid",                                                              /* wood */
        "broken_teeth", "fabric_border", "fabric_interior", "split_teeth",     /* zipper */
        "squeezed_teeth",
    };
    for (size_t i = 0; i < sizeof mvtec / sizeof *mvtec; i++) {
        int k = dp_train_class_of_folder(mvtec[i]);
        ck_assert_msg(k >= 1 && k < DP_TRAIN_STATES, "MVTec folder '%s' maps to %d", mvtec[i], k);
    }
}
END_TEST

/* ---- 2. head forward and adapter gradients against the golden step ----------------------- */

static int within_manifest(const char *rel, const float *mine, size_t n)
{
    npy_array g;
    ck_assert_msg(npy_load(rel, &g) == 0, "cannot load %s", rel);
    ck_assert_msg(g.dtype == 'f' && g.count == n, "%s: %zu elements, compared %zu", rel, g.count,
                  n);
    double atol = golden_atol(rel);
    ck_assert_msg(atol > 0, "%s: no tolerance in the manifest", rel);
    int ok = within(rel, mine, g.data, n, atol, 0);
    printf("  %-34s tolerance atol=%.3g (manifest): %s\n", "", atol, ok ? "pass" : "FAIL");
    npy_free(&g);
    return ok;
}

static int loss_term(const dp_json *loss, const char *path, double mine)
{
    const dp_json *t = dp_json_path(loss, path);
    ck_assert_msg(t != NULL, "loss.json has no %s", path);
    double value = dp_json_get(t, "value")->number;
    double atol = dp_json_path(t, "tolerance.atol")->number;
    double d = fabs(mine - value);
    printf("  loss %-28s ours %.9f reference %.9f |diff| %.3g (atol %.3g)%s\n", path, mine,
           value, d, atol, d <= atol ? "" : "  FAIL");
    return d <= atol;
}

typedef struct golden_step {
    dp_model *model;
    dp_dapo_params dapo;
    float *global;              /* [B][E] */
    uint8_t *gt_bin, *gt_multi; /* [B][S][S] */
    int labels[B_TINY];
} golden_step;

static void golden_step_load(golden_step *g)
{
    memset(g, 0, sizeof *g);
    char clip[1024], dapo[1024], vocab[1024];
    snprintf(clip, sizeof clip, "%s/tiny/clip.safetensors", golden_dir());
    snprintf(dapo, sizeof dapo, "%s/tiny/dapo.safetensors", golden_dir());
    snprintf(vocab, sizeof vocab, "%s/bpe_simple_vocab_16e6.txt.gz", models_dir());
    dp_model_options opt = { .image_size = S_TINY, .max_batch = B_TINY,
                             .precision = DP_C_F32, .threads = 2, .record_taps = 1 };
    dp_err err;
    ck_assert_msg(dp_model_load(clip, dapo, vocab, dp_train_defect_names(), DP_TRAIN_STATES - 1,
                                &opt, &g->model, &err) == DP_OK, "%s", err.msg);
    ck_assert_msg(dp_dapo_load(dapo, &g->model->cfg, &g->dapo, &err) == DP_OK, "%s", err.msg);
    const size_t P = (size_t)3 * S_TINY * S_TINY;
    float *pre = malloc(B_TINY * P * sizeof *pre);
    const char *ids[B_TINY] = { "tiny/a/pre.npy", "tiny/b/pre.npy" };
    for (int b = 0; b < B_TINY; b++) {
        npy_array a;
        ck_assert(npy_load(ids[b], &a) == 0 && a.count == P);
        memcpy(pre + b * P, a.data, P * sizeof *pre);
        npy_free(&a);
    }
    ck_assert_msg(dp_model_run(g->model, pre, B_TINY, &err) == DP_OK, "%s", err.msg);
    free(pre);
    const int E = g->model->cfg.embed_dim;
    g->global = malloc((size_t)B_TINY * E * sizeof *g->global);
    for (int b = 0; b < B_TINY; b++)
        memcpy(g->global + (size_t)b * E, dp_vision_global(g->model->vision, b), E * sizeof(float));
    npy_array gb, gm;
    ck_assert(npy_load("train/gt_bin.npy", &gb) == 0 && npy_load("train/gt_multi.npy", &gm) == 0);
    g->gt_bin = gb.data;
    g->gt_multi = gm.data;
    g->labels[0] = 1;
    g->labels[1] = 0;
}

static void golden_step_free(golden_step *g)
{
    dp_model_free(g->model);
    dp_dapo_free(&g->dapo);
    free(g->global);
    free(g->gt_bin);
    free(g->gt_multi);
}

START_TEST(head_matches_reference_step)
{
    golden_step g;
    golden_step_load(&g);
    const dp_model_config *cfg = &g.model->cfg;
    const int E = cfg->embed_dim, Wv = cfg->vision_width, G = dp_vision_grid(g.model->vision);
    const int n = DP_TRAIN_STATES;
    ck_assert_int_eq(g.model->text.n_states, n);
    int ok = within_manifest("train/text_features.npy", g.model->text.features, (size_t)n * E);

    dp_train_head_shape shape = { B_TINY, G, S_TINY, Wv, E, n, 2 };
    dp_train_head *h;
    dp_err err;
    ck_assert_msg(dp_train_head_create(&shape, &h, &err) == DP_OK, "%s", err.msg);
    for (int j = 0; j < DP_FEATURE_LAYERS; j++)
        for (int b = 0; b < B_TINY; b++)
            /* tap 1+j is [CLS; patches] after feature layer j: the adapter input is the patches */
            ck_assert(dp_train_head_set_features(h, j, b, dp_vision_tap(g.model->vision, 1 + j, b) + Wv,
                                                 &err) == DP_OK);
    dp_train_head_in in = { .batch = B_TINY, .global = g.global, .text = g.model->text.features,
                            .abnormal = g.model->text.abnormal, .gt_bin = g.gt_bin,
                            .gt_multi = g.gt_multi, .labels = g.labels };
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        in.adapter_w[j] = g.dapo.adapter_w[j];
        in.adapter_b[j] = g.dapo.adapter_b[j];
    }
    dp_train_loss loss;
    ck_assert_msg(dp_train_head_forward(h, &in, &loss, &err) == DP_OK, "%s", err.msg);
    ok &= within_manifest("train/image_logits.npy", dp_train_head_image_logits(h), B_TINY * 2);
    const char *layer[4] = { "L6", "L12", "L18", "L24" };
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        char rel[64];
        snprintf(rel, sizeof rel, "train/probs_grid_%s.npy", layer[j]);
        ok &= within_manifest(rel, dp_train_head_probs(h, j), (size_t)B_TINY * G * G * n);
    }
    const size_t vol = (size_t)n * S_TINY * S_TINY;
    float *up = malloc(B_TINY * vol * sizeof *up);
    for (int b = 0; b < B_TINY; b++)
        dp_train_head_upsampled(h, 0, b, up + b * vol);
    ok &= within_manifest("train/probs_up_L6.npy", up, B_TINY * vol);
    free(up);

    dp_json *lj = read_json("train/loss.json");
    char path[96];
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        snprintf(path, sizeof path, "step1.per_layer.%s.focal", layer[j]);
        ok &= loss_term(lj, path, loss.focal[j]);
        snprintf(path, sizeof path, "step1.per_layer.%s.dice_normal", layer[j]);
        ok &= loss_term(lj, path, loss.dice_normal[j]);
        snprintf(path, sizeof path, "step1.per_layer.%s.dice_anomaly", layer[j]);
        ok &= loss_term(lj, path, loss.dice_anomaly[j]);
    }
    ok &= loss_term(lj, "step1.local_unweighted", loss.local_unweighted);
    ok &= loss_term(lj, "step1.local", loss.local);
    ok &= loss_term(lj, "step1.image_ce", loss.image_ce);
    ok &= loss_term(lj, "step1.total", loss.total);
    dp_json_free(lj);

    float *dw[DP_FEATURE_LAYERS], *db[DP_FEATURE_LAYERS];
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        dw[j] = calloc((size_t)E * Wv, sizeof(float));
        db[j] = calloc((size_t)E, sizeof(float));
    }
    ck_assert_msg(dp_train_head_backward(h, &in, dw, db, &err) == DP_OK, "%s", err.msg);
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        char rel[96];
        snprintf(rel, sizeof rel, "train/grad_linear_adapter.fc.%d.weight.npy", j);
        ok &= within_manifest(rel, dw[j], (size_t)E * Wv);
        snprintf(rel, sizeof rel, "train/grad_linear_adapter.fc.%d.bias.npy", j);
        ok &= within_manifest(rel, db[j], (size_t)E);
        free(dw[j]);
        free(db[j]);
    }
    dp_train_head_free(h);
    golden_step_free(&g);
    ck_assert_msg(ok, "the training head differs from the reference step (see above)");
}
END_TEST

/* ---- 3. finite differences of the gradients the tower backward takes ---------------------- */

/* A small random case: 2 images, grid 3, S 7, Wv 6, E 5, 4 states. */
enum { FB = 2, FG = 3, FS = 7, FW = 6, FE = 5, FN = 4 };

typedef struct fd_case {
    float feat[DP_FEATURE_LAYERS][FB * FG * FG * FW];
    float w[DP_FEATURE_LAYERS][FE * FW], bias[DP_FEATURE_LAYERS][FE];
    float global[FB * FE], text[FN * FE], abn[FE];
    uint8_t gt_bin[FB * FS * FS], gt_multi[FB * FS * FS];
    int labels[FB];
} fd_case;

static double frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65536.0 * 2 - 1;
}

static double fd_loss(dp_train_head *h, fd_case *c)
{
    dp_train_head_in in = { .batch = FB, .global = c->global, .text = c->text, .abnormal = c->abn,
                            .gt_bin = c->gt_bin, .gt_multi = c->gt_multi, .labels = c->labels };
    dp_err err;
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        in.adapter_w[j] = c->w[j];
        in.adapter_b[j] = c->bias[j];
        for (int b = 0; b < FB; b++)
            ck_assert(dp_train_head_set_features(h, j, b, c->feat[j] + b * FG * FG * FW, &err) == DP_OK);
    }
    dp_train_loss loss;
    ck_assert_msg(dp_train_head_forward(h, &in, &loss, &err) == DP_OK, "%s", err.msg);
    return loss.total;
}

/* Central differences of the loss in x[i] (Richardson-extrapolated from steps h and h/2, so the
 * h^2 term of the sharp softmax at T = 0.07 cancels) against the analytic gradient; returns the
 * worst |analytic - numeric| / (1e-2 + |numeric|) and prints it. */
static double central(dp_train_head *h, fd_case *c, float *x, double step)
{
    float keep = x[0];
    x[0] = (float)(keep + step);
    double up = fd_loss(h, c);
    x[0] = (float)(keep - step);
    double down = fd_loss(h, c);
    x[0] = keep;
    return (up - down) / (2 * step);
}

static double fd_check(const char *what, dp_train_head *h, fd_case *c, float *x, int count,
                       const float *analytic)
{
    double worst = 0;
    const double step = 1e-2;
    for (int i = 0; i < count; i++) {
        double num = (4 * central(h, c, x + i, step / 2) - central(h, c, x + i, step)) / 3;
        double rel = fabs(analytic[i] - num) / (1e-2 + fabs(num));
        if (rel > worst)
            worst = rel;
    }
    printf("  finite differences %-12s %3d entries: worst |analytic - numeric| / (0.01 + |numeric|) "
           "= %.3g (tolerance 1e-2)\n", what, count, worst);
    fflush(stdout);
    return worst;
}

START_TEST(gradients_match_finite_differences)
{
    static fd_case c;
    unsigned seed = 12345;
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        for (int i = 0; i < FB * FG * FG * FW; i++)
            c.feat[j][i] = (float)frand(&seed);
        for (int i = 0; i < FE * FW; i++)
            c.w[j][i] = (float)(0.5 * frand(&seed));
        for (int i = 0; i < FE; i++)
            c.bias[j][i] = (float)(0.1 * frand(&seed));
    }
    for (int i = 0; i < FB * FE; i++)
        c.global[i] = (float)frand(&seed);
    /* unit state rows and a unit t_abn, as the text tower gives them; the finite differences
     * move them off the sphere, which the head does not care about */
    for (int k = 0; k < FN; k++) {
        double s = 0;
        for (int e = 0; e < FE; e++) {
            c.text[k * FE + e] = (float)frand(&seed);
            s += c.text[k * FE + e] * c.text[k * FE + e];
        }
        for (int e = 0; e < FE; e++)
            c.text[k * FE + e] = (float)(c.text[k * FE + e] / sqrt(s));
    }
    for (int e = 0; e < FE; e++)
        c.abn[e] = (float)(0.5 * (c.text[FE + e] + c.text[2 * FE + e]));
    for (int b = 0; b < FB; b++)
        for (int i = 0; i < FS * FS; i++) {
            int y = i / FS, x = i % FS;
            int defect = b == 0 && y >= 2 && y <= 4 && x >= 1 && x <= 5;
            c.gt_bin[b * FS * FS + i] = (uint8_t)defect;
            c.gt_multi[b * FS * FS + i] = (uint8_t)(defect ? 2 : 0);
        }
    c.labels[0] = 1;
    c.labels[1] = 0;

    dp_train_head_shape shape = { FB, FG, FS, FW, FE, FN, 1 };
    dp_train_head *h;
    dp_err err;
    ck_assert_msg(dp_train_head_create(&shape, &h, &err) == DP_OK, "%s", err.msg);
    fd_loss(h, &c);
    dp_train_head_in in = { .batch = FB, .global = c.global, .text = c.text, .abnormal = c.abn,
                            .gt_bin = c.gt_bin, .gt_multi = c.gt_multi, .labels = c.labels };
    static float dw[DP_FEATURE_LAYERS][FE * FW], db[DP_FEATURE_LAYERS][FE];
    float *dwp[DP_FEATURE_LAYERS], *dbp[DP_FEATURE_LAYERS];
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        in.adapter_w[j] = c.w[j];
        in.adapter_b[j] = c.bias[j];
        dwp[j] = dw[j];
        dbp[j] = db[j];
    }
    ck_assert_msg(dp_train_head_backward(h, &in, dwp, dbp, &err) == DP_OK, "%s", err.msg);
    static float dfeat[DP_FEATURE_LAYERS][FB * FG * FG * FW];
    float dglobal[FB * FE], dtext[FN * FE], dabn[FE];
    for (int j = 0; j < DP_FEATURE_LAYERS; j++)
        memcpy(dfeat[j], dp_train_head_d_features(h, j), sizeof dfeat[j]);
    memcpy(dglobal, dp_train_head_d_global(h), sizeof dglobal);
    memcpy(dtext, dp_train_head_d_text(h), sizeof dtext);
    memcpy(dabn, dp_train_head_d_abnormal(h), sizeof dabn);

    double worst = 0, r;
    char what[32];
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        snprintf(what, sizeof what, "dF_%d", j);
        r = fd_check(what, h, &c, c.feat[j], FB * FG * FG * FW, dfeat[j]);
        worst = r > worst ? r : worst;
    }
    r = fd_check("dW_1", h, &c, c.w[1], FE * FW, dw[1]);
    worst = r > worst ? r : worst;
    r = fd_check("db_3", h, &c, c.bias[3], FE, db[3]);
    worst = r > worst ? r : worst;
    r = fd_check("dg", h, &c, c.global, FB * FE, dglobal);
    worst = r > worst ? r : worst;
    r = fd_check("dfeatures", h, &c, c.text, FN * FE, dtext);
    worst = r > worst ? r : worst;
    r = fd_check("dabnormal", h, &c, c.abn, FE, dabn);
    worst = r > worst ? r : worst;
    dp_train_head_free(h);
    ck_assert_msg(worst < 1e-2, "analytic and numeric gradients differ: %.3g", worst);
}
END_TEST

/* ---- 4. Adam from the golden gradients ---------------------------------------------------- */

/* Every tensor's value against the golden file rel (meta_net bit-identical). */
static int compare_params(const dp_train_params *p, const char *rel)
{
    dp_safetensors *sf;
    dp_err err;
    ck_assert_msg(dp_st_open(golden_path(rel), &sf, &err) == DP_OK, "%s", err.msg);
    dp_json *man = read_json("manifest.json");
    const dp_json *tol = dp_json_get(dp_json_get(dp_json_get(man, "files"), rel), "tolerance");
    ck_assert(tol != NULL);
    int ok = 1;
    ck_assert_int_eq((int)dp_st_count(sf), p->n);
    for (int i = 0; i < p->n; i++) {
        const dp_st_tensor *t = dp_st_find(sf, p->t[i].name);
        ck_assert_msg(t && t->count == p->t[i].count, "%s: %s missing or misshapen", rel,
                      p->t[i].name);
        float *want = malloc(t->count * sizeof *want);
        ck_assert(dp_st_to_f32(sf, t, want, &err) == DP_OK);
        char name[256];
        snprintf(name, sizeof name, "%s %s", rel, p->t[i].name);
        if (!p->t[i].group) {
            /* not trained (meta_net): must be bit-identical */
            int same = memcmp(want, p->t[i].value, t->count * sizeof *want) == 0;
            printf("  %-70s bit-identical: %s (tolerance: exact)\n", name, same ? "yes" : "NO");
            ok &= same;
        } else {
            const dp_json *a = dp_json_path(dp_json_get(tol, p->t[i].name), "atol");
            ck_assert_msg(a != NULL, "manifest: no tolerance for %s", name);
            int pass = within(name, p->t[i].value, want, t->count, a->number, 0);
            printf("  %-34s tolerance atol=%.3g (manifest): %s\n", "", a->number,
                   pass ? "pass" : "FAIL");
            ok &= pass;
        }
        free(want);
    }
    dp_json_free(man);
    dp_st_close(sf);
    return ok;
}

START_TEST(adam_reproduces_reference_steps)
{
    dp_model_config cfg;
    dp_err err;
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny/clip.safetensors", golden_dir());
    ck_assert_msg(dp_model_peek_config(path, &cfg, &err) == DP_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/tiny/dapo.safetensors", golden_dir());
    dp_train_params p;
    ck_assert_msg(dp_train_params_load(path, &cfg, &p, &err) == DP_OK, "%s", err.msg);
    int n_meta = 0;
    for (int i = 0; i < p.n; i++)
        n_meta += !p.t[i].group;
    printf("  %d tensors, %d outside the optimiser (meta_net)\n", p.n, n_meta);
    ck_assert_int_eq(n_meta, 4);
    size_t counts[64];
    float *vals[64];
    const float *grads[64];
    ck_assert(p.n <= 64);
    for (int i = 0; i < p.n; i++) {
        counts[i] = p.t[i].count;
        vals[i] = p.t[i].value;
    }
    dp_adam_config ac = { DP_ADAM_LR, DP_ADAM_BETA1, DP_ADAM_BETA2, DP_ADAM_EPS };
    dp_adam *adam;
    ck_assert_msg(dp_adam_create(&ac, counts, p.n, &adam, &err) == DP_OK, "%s", err.msg);

    /* step 1: grad_<name>.npy */
    for (int i = 0; i < p.n; i++) {
        grads[i] = NULL;
        if (!p.t[i].group)
            continue;
        char rel[256];
        snprintf(rel, sizeof rel, "train/grad_%s.npy", p.t[i].name);
        npy_array g;
        ck_assert_msg(npy_load(rel, &g) == 0 && g.count == p.t[i].count, "%s", rel);
        memcpy(p.t[i].grad, g.data, g.count * sizeof(float));
        npy_free(&g);
        grads[i] = p.t[i].grad;
    }
    dp_adam_step(adam, vals, grads);
    int ok = compare_params(&p, "train/params_after_step1.safetensors");

    /* step 2: grads_step2.safetensors */
    dp_safetensors *sf;
    ck_assert_msg(dp_st_open(golden_path("train/grads_step2.safetensors"), &sf, &err) == DP_OK,
                  "%s", err.msg);
    for (int i = 0; i < p.n; i++) {
        grads[i] = NULL;
        const dp_st_tensor *t = dp_st_find(sf, p.t[i].name);
        if (!p.t[i].group) {
            ck_assert_msg(t == NULL, "step 2 gives %s a gradient", p.t[i].name);
            continue;
        }
        ck_assert(t && t->count == p.t[i].count);
        ck_assert(dp_st_to_f32(sf, t, p.t[i].grad, &err) == DP_OK);
        grads[i] = p.t[i].grad;
    }
    dp_st_close(sf);
    dp_adam_step(adam, vals, grads);
    ok &= compare_params(&p, "train/params_after_step2.safetensors");
    for (int i = 0; i < p.n; i++) {
        int64_t t;
        float *m, *v;
        dp_adam_state(adam, i, &t, &m, &v);
        ck_assert_int_eq((int)t, p.t[i].group ? 2 : 0);
    }
    dp_adam_free(adam);
    dp_train_params_free(&p);
    ck_assert_msg(ok, "Adam differs from the reference (see above)");
}
END_TEST

/* ---- 5. the whole step: trainer with both tower backward passes, two steps --------------- */

/* One line per comparison: max |mine - golden| against atol (rtol 0, as every tolerance here). */
static int one_line(const char *what, const float *mine, const float *golden, size_t n,
                    double atol)
{
    double worst = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)mine[i] - golden[i]);
        if (!(d <= atol))   /* NaN counts as outside */
            bad++;
        if (d > worst || d != d)
            worst = d;
    }
    printf("  %-66s max|diff| %.3g  atol %.3g  %s\n", what, worst, atol,
           bad ? "FAIL" : "pass");
    return bad == 0;
}

/* Every trained tensor's gradient from the last step against the golden step-1 .npy files
 * (step 1) or grads_step2.safetensors (step 2); tensors outside the groups have no gradient. */
static int compare_grads(const dp_train_params *p, int step, const dp_json *man)
{
    int ok = 1, checked = 0;
    dp_safetensors *sf = NULL;
    dp_err err;
    const char *rel2 = "train/grads_step2.safetensors";
    if (step == 2)
        ck_assert_msg(dp_st_open(golden_path(rel2), &sf, &err) == DP_OK, "%s", err.msg);
    for (int i = 0; i < p->n; i++) {
        const dp_train_tensor *t = &p->t[i];
        if (!t->group) {
            ck_assert_ptr_null(t->grad);   /* meta_net: no gradient at all */
            continue;
        }
        char what[256];
        double atol;
        float *want = malloc(t->count * sizeof *want);
        if (step == 1) {
            char rel[256];
            snprintf(rel, sizeof rel, "train/grad_%s.npy", t->name);
            npy_array g;
            ck_assert_msg(npy_load(rel, &g) == 0 && g.count == t->count, "%s", rel);
            memcpy(want, g.data, t->count * sizeof *want);
            npy_free(&g);
            atol = golden_atol(rel);
            snprintf(what, sizeof what, "step 1 grad %s", t->name);
        } else {
            const dp_st_tensor *g = dp_st_find(sf, t->name);
            ck_assert_msg(g && g->count == t->count, "%s: %s missing", rel2, t->name);
            ck_assert(dp_st_to_f32(sf, g, want, &err) == DP_OK);
            const dp_json *a = dp_json_path(dp_json_get(dp_json_get(dp_json_get(
                dp_json_get(man, "files"), rel2), "tolerance"), t->name), "atol");
            ck_assert_msg(a != NULL, "manifest: no tolerance for %s %s", rel2, t->name);
            atol = a->number;
            snprintf(what, sizeof what, "step 2 grad %s", t->name);
        }
        ck_assert_msg(atol > 0, "%s: no tolerance in the manifest", what);
        ok &= one_line(what, t->grad, want, t->count, atol);
        checked++;
        free(want);
    }
    dp_st_close(sf);
    ck_assert_int_eq(checked, 1 + 2 + 12 + 2 * DP_FEATURE_LAYERS);   /* every trained tensor */
    return ok;
}

static int compare_losses(const dp_train_loss *loss, const char *step)
{
    dp_json *lj = read_json("train/loss.json");
    const char *layer[4] = { "L6", "L12", "L18", "L24" };
    char path[96];
    int ok = 1;
    for (int j = 0; j < DP_FEATURE_LAYERS; j++) {
        snprintf(path, sizeof path, "%s.per_layer.%s.focal", step, layer[j]);
        ok &= loss_term(lj, path, loss->focal[j]);
        snprintf(path, sizeof path, "%s.per_layer.%s.dice_normal", step, layer[j]);
        ok &= loss_term(lj, path, loss->dice_normal[j]);
        snprintf(path, sizeof path, "%s.per_layer.%s.dice_anomaly", step, layer[j]);
        ok &= loss_term(lj, path, loss->dice_anomaly[j]);
    }
    const char *sums[4] = { "local_unweighted", "local", "image_ce", "total" };
    const double mine[4] = { loss->local_unweighted, loss->local, loss->image_ce, loss->total };
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s.%s", step, sums[k]);
        ok &= loss_term(lj, path, mine[k]);
    }
    dp_json_free(lj);
    return ok;
}

START_TEST(trainer_reproduces_reference_steps)
{
    char clip[1024], dapo[1024], vocab[1024];
    snprintf(clip, sizeof clip, "%s/tiny/clip.safetensors", golden_dir());
    snprintf(dapo, sizeof dapo, "%s/tiny/dapo.safetensors", golden_dir());
    snprintf(vocab, sizeof vocab, "%s/bpe_simple_vocab_16e6.txt.gz", models_dir());
    dp_trainer_options o = { clip, vocab, dapo, 0, dp_train_defect_names(), DP_TRAIN_STATES - 1,
                             S_TINY, B_TINY, 2, DP_C_BF16,
                             { DP_ADAM_LR, DP_ADAM_BETA1, DP_ADAM_BETA2, DP_ADAM_EPS } };
    dp_trainer *t;
    dp_err err;
    /* the tower backward passes are f32 only: anything else is refused, saying so */
    ck_assert_int_eq(dp_trainer_create(&o, &t, &err), DP_E_UNSUPPORTED);
    printf("  bf16 refused: %s\n", err.msg);
    ck_assert(strstr(err.msg, "f32"));
    o.precision = DP_C_F32;
    ck_assert_msg(dp_trainer_create(&o, &t, &err) == DP_OK, "%s", err.msg);
    ck_assert_int_eq(dp_trainer_check_groups(DP_GROUP_ALL, &err), DP_OK);

    const size_t P = (size_t)3 * S_TINY * S_TINY;
    float *pre = malloc(B_TINY * P * sizeof *pre);
    const char *ids[B_TINY] = { "tiny/a/pre.npy", "tiny/b/pre.npy" };
    for (int b = 0; b < B_TINY; b++) {
        npy_array a;
        ck_assert(npy_load(ids[b], &a) == 0 && a.count == P);
        memcpy(pre + b * P, a.data, P * sizeof *pre);
        npy_free(&a);
    }
    npy_array gb, gm;
    ck_assert(npy_load("train/gt_bin.npy", &gb) == 0 && npy_load("train/gt_multi.npy", &gm) == 0);
    const int labels[B_TINY] = { 1, 0 };
    dp_json *man = read_json("manifest.json");
    dp_train_params *p = dp_trainer_params(t);

    dp_train_loss loss;
    ck_assert_msg(dp_trainer_step(t, DP_GROUP_ALL, pre, gb.data, gm.data, labels, B_TINY, &loss,
                                  &err) == DP_OK, "%s", err.msg);
    printf("  step 1 (all groups):\n");
    int ok = compare_losses(&loss, "step1");
    ok &= compare_grads(p, 1, man);
    ok &= compare_params(p, "train/params_after_step1.safetensors");

    ck_assert_msg(dp_trainer_step(t, DP_GROUP_ALL, pre, gb.data, gm.data, labels, B_TINY, &loss,
                                  &err) == DP_OK, "%s", err.msg);
    printf("  step 2 (same batch, step-1 parameters):\n");
    ok &= compare_losses(&loss, "step2");
    ok &= compare_grads(p, 2, man);
    ok &= compare_params(p, "train/params_after_step2.safetensors");

    dp_json_free(man);
    npy_free(&gb);
    npy_free(&gm);
    free(pre);
    dp_trainer_free(t);
    ck_assert_msg(ok, "the training step differs from the reference (see above)");
}
END_TEST

/* ---- 6. a fresh start drawn as the reference initialises -------------------------------- */

/* Mean and variance of (x - centre[i % w]) / scale[i % w] over a tensor. */
static void standardised_moments(const dp_train_tensor *t, const double *centre,
                                 const double *scale, int w, double *mean, double *var)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < t->count; i++) {
        double z = (t->value[i] - centre[i % (size_t)w]) / scale[i % (size_t)w];
        s += z;
        s2 += z * z;
    }
    *mean = s / (double)t->count;
    *var = s2 / (double)t->count - *mean * *mean;
}

START_TEST(fresh_start_has_reference_distributions)
{
    char clip_path[1024], tmpl[] = "/tmp/dapo_init_XXXXXX";
    snprintf(clip_path, sizeof clip_path, "%s/tiny/clip.safetensors", golden_dir());
    dp_clip_file *clip;
    dp_err err;
    ck_assert_msg(dp_clip_open(clip_path, &clip, &err) == DP_OK, "%s", err.msg);
    const dp_model_config *c = dp_clip_config(clip);
    const int Wv = c->vision_width, Wt = c->text_width, V = c->vocab_size;

    dp_train_params p, q, r;
    ck_assert_msg(dp_train_params_init_reference(clip, 42, &p, &err) == DP_OK, "%s", err.msg);
    ck_assert(dp_train_params_init_reference(clip, 42, &q, &err) == DP_OK);
    ck_assert(dp_train_params_init_reference(clip, 43, &r, &err) == DP_OK);
    ck_assert_int_eq(p.n, 1 + 2 + c->text_layers + 4 + 2 * DP_FEATURE_LAYERS);
    int same = 1, differs = 0;
    for (int i = 0; i < p.n; i++) {
        ck_assert_str_eq(p.t[i].name, q.t[i].name);
        same &= memcmp(p.t[i].value, q.t[i].value, p.t[i].count * sizeof(float)) == 0;
        differs |= memcmp(p.t[i].value, r.t[i].value, p.t[i].count * sizeof(float)) != 0;
    }
    ck_assert_msg(same, "the same seed drew different tensors");
    ck_assert_msg(differs, "another seed drew the same tensors");

    /* the plugin's loader takes the file (names, shapes, order) */
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    char path[256];
    snprintf(path, sizeof path, "%s/dapo.safetensors", tmpl);
    ck_assert_msg(dp_train_params_save(&p, path, NULL, 0, &err) == DP_OK, "%s", err.msg);
    dp_dapo_params loaded;
    ck_assert_msg(dp_dapo_load(path, c, &loaded, &err) == DP_OK, "%s", err.msg);
    dp_dapo_free(&loaded);
    unlink(path);
    rmdir(tmpl);

    /* uniform tensors: inside +-bound, variance bound^2 / 3 */
    const struct { const char *name; double bound; } uni[] = {
        { "visual_prompt.learnable_visual_tokens",
          sqrt(6.0 / (3.0 * c->patch_size * c->patch_size + Wv)) },
        { "linear_adapter.fc.0.weight", 1 / sqrt((double)Wv) },
        { "linear_adapter.fc.3.bias", 1 / sqrt((double)Wv) },
        { "prompt_learner.meta_net.2.weight", 1 / sqrt((double)(Wt / 16)) },
    };
    for (size_t k = 0; k < sizeof uni / sizeof *uni; k++) {
        const dp_train_tensor *t = dp_train_params_find(&p, uni[k].name);
        ck_assert_ptr_nonnull(t);
        double zero = 0, b = uni[k].bound, mean, var;
        float lo = 0, hi = 0;
        for (size_t i = 0; i < t->count; i++) {
            lo = fminf(lo, t->value[i]);
            hi = fmaxf(hi, t->value[i]);
        }
        standardised_moments(t, &zero, &b, 1, &mean, &var);
        printf("  %s: %zu values in [%.4f, %.4f], bound %.4f, mean %.4f, variance %.4f of "
               "bound^2 (1/3 expected)\n", uni[k].name, t->count, lo, hi, b, mean * b, var);
        /* 5 standard errors: of the mean sqrt(1/3n), of the variance sqrt((1/5 - 1/9) / n) */
        const double n = (double)t->count;
        ck_assert(lo >= -b && hi <= b);
        ck_assert(n < 1000 || (hi > 0.99 * b && lo < -0.99 * b));
        ck_assert(fabs(mean) < 5 * sqrt(1 / (3 * n)) && fabs(var - 1.0 / 3) < 5 * sqrt(0.0889 / n));
    }

    /* text tokens: per dimension the token embedding's mean and sd (n - 1) */
    float *emb = malloc((size_t)V * Wt * sizeof *emb);
    double *mu = calloc((size_t)Wt, sizeof *mu), *sd = calloc((size_t)Wt, sizeof *sd);
    ck_assert(dp_clip_read(clip, "token_embedding.weight", emb, &err) == DP_OK);
    for (int v = 0; v < V; v++)
        for (int d = 0; d < Wt; d++)
            mu[d] += emb[(size_t)v * Wt + d] / V;
    for (int v = 0; v < V; v++)
        for (int d = 0; d < Wt; d++)
            sd[d] += pow(emb[(size_t)v * Wt + d] - mu[d], 2) / (V - 1);
    for (int d = 0; d < Wt; d++)
        sd[d] = sqrt(sd[d]);
    const char *tok[3] = { "prompt_learner.learnable_normal_tokens",
                           "prompt_learner.learnable_abnormal_tokens",
                           "prompt_learner.learnable_layer_tokens.0" };
    for (int k = 0; k < 3; k++) {
        const dp_train_tensor *t = dp_train_params_find(&p, tok[k]);
        double mean, var;
        standardised_moments(t, mu, sd, Wt, &mean, &var);
        /* 5 standard errors: of the mean 1/sqrt(n), of the variance sqrt(2/n) */
        double tol = 5 / sqrt((double)t->count), tol_var = 5 * sqrt(2.0 / (double)t->count);
        printf("  %s: standardised mean %.4f, variance %.4f over %zu values (0, 1 expected, "
               "tolerance %.3f / %.3f)\n", tok[k], mean, var, t->count, tol, tol_var);
        ck_assert(fabs(mean) < tol && fabs(var - 1) < tol_var);
    }
    free(emb);
    free(mu);
    free(sd);

    /* the trainer starts from it when given no DAPO file */
    char vocab[1024];
    snprintf(vocab, sizeof vocab, "%s/bpe_simple_vocab_16e6.txt.gz", models_dir());
    const char *defects[2] = { "scratch", "hole" };
    dp_trainer_options o = { clip_path, vocab, NULL, 42, defects, 2, S_TINY, 1, 1, DP_C_F32,
                             { DP_ADAM_LR, DP_ADAM_BETA1, DP_ADAM_BETA2, DP_ADAM_EPS } };
    dp_trainer *tr;
    ck_assert_msg(dp_trainer_create(&o, &tr, &err) == DP_OK, "%s", err.msg);
    const dp_train_params *tp = dp_trainer_params(tr);
    for (int i = 0; i < p.n; i++)
        ck_assert(memcmp(tp->t[i].value, p.t[i].value, p.t[i].count * sizeof(float)) == 0);
    dp_trainer_free(tr);
    dp_train_params_free(&p);
    dp_train_params_free(&q);
    dp_train_params_free(&r);
    dp_clip_close(clip);
}
END_TEST

Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *t = tcase_create("train");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, ground_truth_exact);
    tcase_add_test(t, vocabulary_and_folders);
    tcase_add_test(t, head_matches_reference_step);
    tcase_add_test(t, gradients_match_finite_differences);
    tcase_add_test(t, adam_reproduces_reference_steps);
    tcase_add_test(t, trainer_reproduces_reference_steps);
    tcase_add_test(t, fresh_start_has_reference_distributions);
    suite_add_tcase(s, t);
    return s;
}

/* The plugin boundary's status mapping (one table, the same failure the same status on every
 * path) and the constructor contract: on failure every constructor leaves its output NULL. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "clip_text.h"
#include "clip_vision.h"
#include "clip_weights.h"
#include "dapo_weights.h"
#include "json.h"
#include "model.h"
#include "nn.h"
#include "recipe.h"
#include "safetensors.h"
#include "status.h"
#include "tokenizer.h"
#include "weight_source.h"

START_TEST(mapping_table)
{
    static const struct { dp_status st; insp_status recipe, model, image, run; } rows[] = {
        { DP_OK, INSP_OK, INSP_OK, INSP_OK, INSP_OK },
        { DP_E_ARG, INSP_E_RECIPE, INSP_E_MODEL, INSP_E_IMAGE, INSP_E_INTERNAL },
        { DP_E_IO, INSP_E_RECIPE, INSP_E_MODEL, INSP_E_IMAGE, INSP_E_INTERNAL },
        { DP_E_FORMAT, INSP_E_RECIPE, INSP_E_MODEL, INSP_E_IMAGE, INSP_E_INTERNAL },
        { DP_E_MODEL, INSP_E_RECIPE, INSP_E_MODEL, INSP_E_MODEL, INSP_E_MODEL },
        { DP_E_NOMEM, INSP_E_NOMEM, INSP_E_NOMEM, INSP_E_NOMEM, INSP_E_NOMEM },
        { DP_E_UNSUPPORTED, INSP_E_RECIPE, INSP_E_UNSUPPORTED, INSP_E_UNSUPPORTED, INSP_E_UNSUPPORTED },
        { DP_E_INTERNAL, INSP_E_RECIPE, INSP_E_INTERNAL, INSP_E_INTERNAL, INSP_E_INTERNAL },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ck_assert_int_eq(dp_status_to_insp(rows[i].st, DP_STAGE_RECIPE), rows[i].recipe);
        ck_assert_int_eq(dp_status_to_insp(rows[i].st, DP_STAGE_MODEL), rows[i].model);
        ck_assert_int_eq(dp_status_to_insp(rows[i].st, DP_STAGE_IMAGE), rows[i].image);
        ck_assert_int_eq(dp_status_to_insp(rows[i].st, DP_STAGE_RUN), rows[i].run);
    }
    dp_err e;
    dp_fail(&e, DP_E_INTERNAL, "oneDNN: matmul failed");
    char buf[8];
    ck_assert_int_eq(dp_report(&e, DP_STAGE_RUN, buf, sizeof buf), INSP_E_INTERNAL);
    ck_assert_str_eq(buf, "oneDNN:");            /* truncated, always terminated */
    ck_assert_int_eq(dp_report(&e, DP_STAGE_RUN, NULL, 0), INSP_E_INTERNAL);
}
END_TEST

/* A weight source whose every read fails, as a truncated file would. */
static dp_status failing_read(void *ctx, const char *name, float *dst, size_t n, dp_err *err)
{
    (void)ctx; (void)dst; (void)n;
    return dp_fail(err, DP_E_MODEL, "tensor %s: read failed (test)", name);
}
static dp_status failing_pos(void *ctx, int grid, float *dst, dp_err *err)
{
    (void)ctx; (void)grid; (void)dst;
    return dp_fail(err, DP_E_MODEL, "positional table: read failed (test)");
}

#define SENTINEL ((void *)&sentinel_object)
static int sentinel_object;

START_TEST(constructors_leave_null)
{
    dp_err e;
    const char *missing = "/nonexistent/dapo-inspect/file";

    dp_safetensors *st = SENTINEL;
    ck_assert_int_ne(dp_st_open(missing, &st, &e), DP_OK);
    ck_assert_ptr_null(st);

    dp_clip_file *cf = SENTINEL;
    ck_assert_int_ne(dp_clip_open(missing, &cf, &e), DP_OK);
    ck_assert_ptr_null(cf);

    dp_tokenizer *tok = SENTINEL;
    ck_assert_int_ne(dp_tokenizer_load(missing, &tok, &e), DP_OK);
    ck_assert_ptr_null(tok);

    dp_json *js = SENTINEL;
    ck_assert_int_ne(dp_json_parse("{\"a\": ", 6, "test", &js, &e), DP_OK);
    ck_assert_ptr_null(js);

    dp_nn *nn = SENTINEL;
    ck_assert_int_ne(dp_nn_create(0, &nn, &e), DP_OK);
    ck_assert_ptr_null(nn);
    ck_assert_int_eq(dp_nn_create(1, &nn, &e), DP_OK);

    dp_attention *at = SENTINEL;
    ck_assert_int_ne(dp_attention_create(nn, 10, 64, 3, 1, DP_C_F32, 0, &at, &e), DP_OK);  /* 64 % 3 */
    ck_assert_ptr_null(at);

    dp_model_config cfg = { 64, 2, 1, 14, 2, 32, 2, 1, 77, 49408, 32 };
    dp_weight_source src = { NULL, &cfg, failing_read, failing_pos };
    float *w = SENTINEL;
    ck_assert_int_eq(dp_weights_read_new(&src, "x", 4, &w, &e), DP_E_MODEL);
    ck_assert_ptr_null(w);

    float prompts[2 * 4 * 64] = { 0 }, aw[32 * 64] = { 0 }, ab[32] = { 0 };
    float *const aws[4] = { aw, aw, aw, aw }, *const abs_[4] = { ab, ab, ab, ab };
    dp_vision_options vo = { 28, 1, DP_C_F32, { 1, 1, 2, 2 }, 0 };
    dp_vision *v = SENTINEL;
    ck_assert_int_ne(dp_vision_build(nn, &src, &vo, prompts, aws, abs_, &v, &e), DP_OK);
    ck_assert_ptr_null(v);

    float ctx[10 * 5 * 32] = { 0 }, layer[2 * 4 * 32] = { 0 };
    dp_text *tx = SENTINEL;
    ck_assert_int_ne(dp_text_build(nn, &src, DP_C_F32, 10, ctx, ctx, layer, &tx, &e), DP_OK);
    ck_assert_ptr_null(tx);

    dp_model_options mo = { .image_size = 28, .max_batch = 1, .precision = DP_C_F32, .threads = 1 };
    dp_model *m = SENTINEL;
    ck_assert_int_ne(dp_model_load(missing, missing, missing, NULL, 0, &mo, &m, &e), DP_OK);
    ck_assert_ptr_null(m);
    /* assemble takes ownership of its parts even when it fails */
    dp_text_features none;
    memset(&none, 0, sizeof none);
    m = SENTINEL;
    ck_assert_int_ne(dp_model_assemble(nn, NULL, &none, &mo, &m, &e), DP_OK);
    ck_assert_ptr_null(m);

    /* struct outputs are zeroed on failure */
    dp_recipe r;
    memset(&r, 0xAB, sizeof r);
    ck_assert_int_ne(dp_recipe_load(missing, &r, &e), DP_OK);
    ck_assert_ptr_null(r.path);
    ck_assert_ptr_null(r.defects);
    dp_dapo_params dp;
    memset(&dp, 0xAB, sizeof dp);
    ck_assert_int_ne(dp_dapo_load(missing, &cfg, &dp, &e), DP_OK);
    ck_assert_ptr_null(dp.visual_tokens);
    ck_assert_ptr_null(dp.adapter_w[0]);
}
END_TEST

Suite *status_suite(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("boundary");
    tcase_add_test(tc, mapping_table);
    tcase_add_test(tc, constructors_leave_null);
    suite_add_tcase(s, tc);
    return s;
}

/* CLIP tokenizer: every golden string bit-exact, the cleaning rules, and the failure paths
 * (bad files, bad text, bad arguments). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "golden.h"
#include "json.h"
#include "tokenizer.h"
#include "model_testing.h"

#define CTX DP_TOK_CONTEXT

static const char *vocab_path(void)
{
    static _Thread_local char path[1024];
    snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", models_dir());
    return path;
}

/* The shipped tokenizer; the test fails if it cannot be loaded. Caller frees. */
static dp_tokenizer *load_tok(void)
{
    dp_tokenizer *tok = NULL;
    dp_err err = {0};
    dp_status st = dp_tokenizer_load(vocab_path(), &tok, &err);
    ck_assert_msg(st == DP_OK, "load %s: %s", vocab_path(), err.msg);
    ck_assert_ptr_nonnull(tok);
    return tok;
}

/* Whole file into a malloc'd buffer (caller frees), NULL when unreadable. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void tokenize_ok(const dp_tokenizer *tok, const char *text, int32_t *ids, int *n)
{
    dp_err err = {0};
    dp_status st = dp_tokenize(tok, text, ids, CTX, n, &err);
    ck_assert_msg(st == DP_OK, "tokenize \"%s\": %s", text, err.msg);
}

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_golden_ids)
{
    dp_tokenizer *tok = load_tok();
    size_t jlen;
    char *jtext = slurp(golden_path("tokenizer/strings.json"), &jlen);
    ck_assert_msg(jtext != NULL, "cannot read %s", golden_path("tokenizer/strings.json"));
    dp_json *strings = NULL;
    dp_err err = {0};
    ck_assert_msg(dp_json_parse(jtext, jlen, "strings.json", &strings, &err) == DP_OK, "%s",
                  err.msg);
    ck_assert_int_eq(strings->type, DP_JSON_ARRAY);
    char *ptext = slurp(golden_path("tokenizer/pieces.json"), &jlen);
    ck_assert_msg(ptext != NULL, "cannot read pieces.json");
    dp_json *pieces = NULL;
    ck_assert_msg(dp_json_parse(ptext, jlen, "pieces.json", &pieces, &err) == DP_OK, "%s",
                  err.msg);
    npy_array gold;
    ck_assert_int_eq(npy_load("tokenizer/ids.npy", &gold), 0);
    ck_assert_int_eq(gold.dtype, 'i');
    ck_assert_int_eq(gold.ndim, 2);
    ck_assert_int_eq(gold.shape[1], CTX);
    ck_assert_int_eq(gold.shape[0], (int64_t)strings->count);
    ck_assert_uint_eq(pieces->count, strings->count);

    const int32_t *g = gold.data;
    size_t matched = 0, truncated = 0, piece_ok = 0;
    for (size_t s = 0; s < strings->count; s++) {
        const char *text = strings->items[s].string;
        int32_t ids[CTX];
        int n = -1;
        tokenize_ok(tok, text, ids, &n);
        const int32_t *want = g + s * CTX;
        int first_bad = -1;
        for (int k = 0; k < CTX && first_bad < 0; k++)
            if (ids[k] != want[k])
                first_bad = k;
        if (first_bad >= 0)
            printf("tokenizer: string %zu \"%s\": id[%d] = %d, golden %d\n", s, text, first_bad,
                   ids[first_bad], want[first_bad]);
        else
            matched++;
        int want_n = 0;
        while (want_n < CTX && want[want_n] != 0)
            want_n++;
        ck_assert_int_eq(n, want_n);
        truncated += pieces->items[s].count > CTX - 2;

        /* pieces.json names the content tokens before truncation: check dp_tokenizer_id. */
        const dp_json *pl = &pieces->items[s];
        int ok = 1;
        for (size_t k = 0; k < pl->count && 1 + k < CTX - 1; k++)
            ok &= dp_tokenizer_id(tok, pl->items[k].string) == want[1 + k];
        piece_ok += ok;
    }
    printf("tokenizer: %zu of %zu golden strings match ids.npy exactly (%zu of them "
           "truncated); pieces.json ids agree for %zu\n", matched, strings->count, truncated,
           piece_ok);
    ck_assert_uint_eq(matched, strings->count);
    ck_assert_uint_eq(piece_ok, strings->count);
    npy_free(&gold);
    dp_json_free(pieces);
    dp_json_free(strings);
    free(ptext);
    free(jtext);
    dp_tokenizer_free(tok);
}
END_TEST

START_TEST(test_vocab_ids)
{
    dp_tokenizer *tok = load_tok();
    ck_assert_int_eq(dp_tokenizer_id(tok, "x</w>"), 343);
    ck_assert_int_eq(dp_tokenizer_id(tok, "!"), 0);
    ck_assert_int_eq(dp_tokenizer_id(tok, "i n"), -1);
    ck_assert_int_eq(dp_tokenizer_id(tok, "in"), 512);            /* first merge "i n" */
    ck_assert_int_eq(dp_tokenizer_id(tok, "flawless</w>"), 15531);
    ck_assert_int_eq(dp_tokenizer_id(tok, "object</w>"), 14115);
    ck_assert_int_eq(dp_tokenizer_id(tok, "anomaly</w>"), 46811);
    ck_assert_int_eq(dp_tokenizer_id(tok, "<start_of_text>"), DP_TOK_SOT);
    ck_assert_int_eq(dp_tokenizer_id(tok, "<end_of_text>"), DP_TOK_EOT);
    ck_assert_int_eq(dp_tokenizer_id(tok, "no such entry"), -1);
    ck_assert_int_eq(dp_tokenizer_id(tok, ""), -1);
    ck_assert_int_eq(dp_tokenizer_id(tok, NULL), -1);
    ck_assert_int_eq(dp_tokenizer_id(NULL, "x</w>"), -1);
    dp_tokenizer_free(tok);
}
END_TEST

START_TEST(test_normal_prompt)
{
    dp_tokenizer *tok = load_tok();
    int32_t ids[CTX];
    int n;
    tokenize_ok(tok, "X X X X X flawless object", ids, &n);
    const int32_t want[] = {49406, 343, 343, 343, 343, 343, 15531, 14115, 49407};
    ck_assert_int_eq(n, 9);
    for (int k = 0; k < CTX; k++)
        ck_assert_int_eq(ids[k], k < 9 ? want[k] : 0);
    dp_tokenizer_free(tok);
}
END_TEST

/* a and b must give the same ids. */
static void same_ids(const dp_tokenizer *tok, const char *a, const char *b)
{
    int32_t ia[CTX], ib[CTX];
    int na, nb;
    tokenize_ok(tok, a, ia, &na);
    tokenize_ok(tok, b, ib, &nb);
    ck_assert_msg(na == nb && memcmp(ia, ib, sizeof ia) == 0,
                  "\"%s\" and \"%s\" tokenise differently (%d vs %d ids)", a, b, na, nb);
}

START_TEST(test_cleaning)
{
    dp_tokenizer *tok = load_tok();
    /* html.unescape twice, Python semantics */
    same_ids(tok, "&lt;b&gt; &quot;x&quot; &#39;y&apos;", "<b> \"x\" 'y'");
    same_ids(tok, "salt &amp;amp; pepper", "salt & pepper");
    same_ids(tok, "&amp;lt;", "<");
    same_ids(tok, "&#65;&#x42;&#X43;&#0068", "abcd");
    same_ids(tok, "&notit; &ampfoo &lt3", "\xc2\xacit; &foo <3");      /* prefix names */
    same_ids(tok, "&#128;&#x80;", "\xe2\x82\xac\xe2\x82\xac");         /* cp1252 fix-up */
    same_ids(tok, "a&#1;b&#xFFFF;c", "abc");                           /* dropped */
    same_ids(tok, "&#xD800;&#99999999999;", "\xef\xbf\xbd\xef\xbf\xbd"); /* U+FFFD */
    same_ids(tok, "&eacute;t&Eacute;", "\xc3\xa9t\xc3\xa9");
    same_ids(tok, "&nosuchentity; &#; &#x; & ;", "&nosuchentity; &#; &#x; & ;");
    /* whitespace: str.split() set, incl. NBSP, ideographic space, line separator */
    same_ids(tok, " a&nbsp;b\xe3\x80\x80" "c\xe2\x80\xa8" "d\x1c" "e\t\n", "a b c d e");
    /* str.lower(): full mapping of U+0130 and the final sigma */
    same_ids(tok, "\xc4\xb0", "i\xcc\x87");
    same_ids(tok, "\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3\xce\x91",
             "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 \xcf\x83\xce\xb1");
    same_ids(tok, "CAF\xc3\x89", "caf\xc3\xa9");
    /* special tokens are recognised in the text, case-insensitively */
    int32_t ids[CTX];
    int n;
    tokenize_ok(tok, "a <START_OF_TEXT> <end_of_text>", ids, &n);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(ids[2], DP_TOK_SOT);
    ck_assert_int_eq(ids[3], DP_TOK_EOT);
    ck_assert_int_eq(ids[4], DP_TOK_EOT);
    dp_tokenizer_free(tok);
}
END_TEST

START_TEST(test_empty_and_long)
{
    dp_tokenizer *tok = load_tok();
    int32_t ids[CTX];
    int n;
    const char *empties[] = {"", "   ", " \t\n "};
    for (size_t e = 0; e < 3; e++) {
        tokenize_ok(tok, empties[e], ids, &n);
        ck_assert_int_eq(n, 2);
        ck_assert_int_eq(ids[0], DP_TOK_SOT);
        ck_assert_int_eq(ids[1], DP_TOK_EOT);
        for (int k = 2; k < CTX; k++)
            ck_assert_int_eq(ids[k], 0);
    }

    /* 100 words: the first 75 kept, EOT at index 76 */
    char text[1000] = "";
    for (int k = 0; k < 100; k++)
        strcat(text, "hole ");
    tokenize_ok(tok, text, ids, &n);
    ck_assert_int_eq(n, CTX);
    ck_assert_int_eq(ids[0], DP_TOK_SOT);
    for (int k = 1; k < CTX - 1; k++)
        ck_assert_int_eq(ids[k], dp_tokenizer_id(tok, "hole</w>"));
    ck_assert_int_eq(ids[CTX - 1], DP_TOK_EOT);

    /* exactly 75 content tokens fit; 76 do not */
    text[0] = '\0';
    for (int k = 0; k < 75; k++)
        strcat(text, "hole ");
    tokenize_ok(tok, text, ids, &n);
    ck_assert_int_eq(n, CTX);
    ck_assert_int_eq(ids[75], dp_tokenizer_id(tok, "hole</w>"));
    ck_assert_int_eq(ids[76], DP_TOK_EOT);
    strcat(text, "hole");
    tokenize_ok(tok, text, ids, &n);
    ck_assert_int_eq(n, CTX);
    ck_assert_int_eq(ids[75], dp_tokenizer_id(tok, "hole</w>"));
    ck_assert_int_eq(ids[76], DP_TOK_EOT);

    /* one huge word: BPE must stay fast (no quadratic loop) */
    size_t big = 300000;
    char *word = malloc(big + 1);
    ck_assert_ptr_nonnull(word);
    for (size_t k = 0; k < big; k++)
        word[k] = "abcdefghij"[k * 7 % 10];
    word[big] = '\0';
    tokenize_ok(tok, word, ids, &n);
    ck_assert_int_eq(n, CTX);
    ck_assert_int_eq(ids[CTX - 1], DP_TOK_EOT);

    /* beyond DP_TOK_MAX_TEXT: refused, not truncated silently */
    char *huge = malloc((size_t)DP_TOK_MAX_TEXT + 2);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'a', (size_t)DP_TOK_MAX_TEXT + 1);
    huge[DP_TOK_MAX_TEXT + 1] = '\0';
    dp_err err = {0};
    ck_assert_int_eq(dp_tokenize(tok, huge, ids, CTX, &n, &err), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "longer than"));
    free(huge);
    free(word);

    /* context_length 2: only SOT and EOT survive; any other length works too */
    ck_assert_int_eq(dp_tokenize(tok, "hole", ids, 2, &n, NULL), DP_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], DP_TOK_SOT);
    ck_assert_int_eq(ids[1], DP_TOK_EOT);
    ck_assert_int_eq(dp_tokenize(tok, "hole", ids, 3, &n, NULL), DP_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[2], DP_TOK_EOT);
    dp_tokenizer_free(tok);
}
END_TEST

START_TEST(test_bad_arguments)
{
    dp_tokenizer *tok = load_tok();
    int32_t ids[CTX];
    int n = 123;
    dp_err err = {0};
    for (int ctx = -5; ctx < 2; ctx++) {
        ck_assert_int_eq(dp_tokenize(tok, "hole", ids, ctx, &n, &err), DP_E_ARG);
        ck_assert_int_eq(err.code, DP_E_ARG);
        ck_assert_ptr_nonnull(strstr(err.msg, "context_length"));
    }
    ck_assert_int_eq(dp_tokenize(NULL, "hole", ids, CTX, &n, &err), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "tok"));
    ck_assert_int_eq(dp_tokenize(tok, NULL, ids, CTX, &n, &err), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "utf8"));
    ck_assert_int_eq(dp_tokenize(tok, "hole", NULL, CTX, &n, &err), DP_E_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "ids"));
    ck_assert_int_eq(dp_tokenize(tok, "hole", ids, CTX, NULL, NULL), DP_OK); /* both optional */

    dp_tokenizer *out = (dp_tokenizer *)&n;
    ck_assert_int_eq(dp_tokenizer_load(NULL, &out, &err), DP_E_ARG);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(dp_tokenizer_load(vocab_path(), NULL, &err), DP_E_ARG);
    dp_tokenizer_free(NULL);
    dp_tokenizer_free(tok);
}
END_TEST

START_TEST(test_invalid_utf8)
{
    dp_tokenizer *tok = load_tok();
    const char *bad[] = {
        "\xff", "hole\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80" /* surrogate */,
        "\xf4\x90\x80\x80" /* > U+10FFFF */, "ok \xe2\x82 ok", "\x80", "\xf8\x88\x80\x80\x80",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int32_t ids[CTX];
        memset(ids, 0x55, sizeof ids);
        int n = 99;
        dp_err err = {0};
        ck_assert_int_eq(dp_tokenize(tok, bad[k], ids, CTX, &n, &err), DP_E_ARG);
        ck_assert_msg(strstr(err.msg, "UTF-8") != NULL, "message: %s", err.msg);
        ck_assert_int_eq(n, 0);
        for (int i = 0; i < CTX; i++)
            ck_assert_int_eq(ids[i], 0);
    }
    dp_tokenizer_free(tok);
}
END_TEST

/* Expects dp_tokenizer_load(path) to fail with code and a message containing `what`. */
static void load_fails(const char *path, dp_status code, const char *what)
{
    dp_tokenizer *tok = (dp_tokenizer *)&tok;
    dp_err err = {0};
    dp_status st = dp_tokenizer_load(path, &tok, &err);
    ck_assert_msg(st == code, "%s: got %s (%s), expected %s", path, dp_status_name(st), err.msg,
                  dp_status_name(code));
    ck_assert_ptr_null(tok);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, what) != NULL, "message lacks \"%s\": %s", what, err.msg);
}

START_TEST(test_bad_files)
{
    char dir[] = "/tmp/dp_tokenizer_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char p_missing[256], p_plain[256], p_garbage[256], p_half[256], p_tail[256], p_flip[256],
        p_empty[256], p_short[256];
    snprintf(p_missing, sizeof p_missing, "%s/missing.txt.gz", dir);
    snprintf(p_plain, sizeof p_plain, "%s/plain.txt.gz", dir);
    snprintf(p_garbage, sizeof p_garbage, "%s/garbage.txt.gz", dir);
    snprintf(p_half, sizeof p_half, "%s/half.txt.gz", dir);
    snprintf(p_tail, sizeof p_tail, "%s/tail.txt.gz", dir);
    snprintf(p_flip, sizeof p_flip, "%s/flip.txt.gz", dir);
    snprintf(p_empty, sizeof p_empty, "%s/empty.txt.gz", dir);
    snprintf(p_short, sizeof p_short, "%s/short.txt.gz", dir);

    size_t len;
    unsigned char *real = (unsigned char *)slurp(vocab_path(), &len);
    ck_assert_ptr_nonnull(real);
    ck_assert_uint_gt(len, 1000);

    load_fails(p_missing, DP_E_IO, "No such file");
    load_fails(dir, DP_E_IO, "is a directory"); /* and names it: load_fails checks the path */

    spit(p_plain, "#version: 0.2\ni n\n", 18);
    load_fails(p_plain, DP_E_FORMAT, "not gzip");

    unsigned char garbage[4096] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03};
    for (size_t k = 10; k < sizeof garbage; k++)
        garbage[k] = (unsigned char)(k * 2654435761u >> 13);
    spit(p_garbage, garbage, sizeof garbage);
    load_fails(p_garbage, DP_E_FORMAT, "gzip");

    spit(p_half, real, len / 2);
    load_fails(p_half, DP_E_FORMAT, "truncated");
    spit(p_tail, real, len - 4); /* deflate data complete, size trailer missing */
    load_fails(p_tail, DP_E_FORMAT, "truncated");

    real[len / 2] ^= 0x5a;
    spit(p_flip, real, len);
    load_fails(p_flip, DP_E_FORMAT, "gzip");

    spit(p_empty, "", 0);
    load_fails(p_empty, DP_E_FORMAT, p_empty);

    gzFile gz = gzopen(p_short, "wb");
    ck_assert_ptr_nonnull(gz);
    gzputs(gz, "\"bpe_simple_vocab_16e6.txt#version: 0.2\ni n\nt h\n");
    gzclose(gz);
    load_fails(p_short, DP_E_FORMAT, "expected at least 48894");

    gz = gzopen(p_short, "wb");
    gzputs(gz, "no header\ni n\n");
    gzclose(gz);
    load_fails(p_short, DP_E_FORMAT, "#version");

    gz = gzopen(p_short, "wb");
    gzputs(gz, "#version: 0.2\ni n x\n");
    gzclose(gz);
    load_fails(p_short, DP_E_FORMAT, "line 2");

    gz = gzopen(p_short, "wb");
    gzputs(gz, "#version: 0.2\ni \xff\n");
    gzclose(gz);
    load_fails(p_short, DP_E_FORMAT, "UTF-8");

    free(real);
    const char *files[] = {p_plain, p_garbage, p_half, p_tail, p_flip, p_empty, p_short};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        unlink(files[k]);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* One tokenizer shared by threads gives the same ids as a single thread. */
START_TEST(test_threads)
{
    dp_tokenizer *tok = load_tok();
    const char *texts[] = {"X X X X X faulty imprint anomaly object",
                           "na\xc3\xafve r\xc3\xa9sum\xc3\xa9", "salt &amp; pepper",
                           "rock'n'roll", "M8 bolt 2024", "   "};
    enum { N = 6, REPS = 200 };
    int32_t want[N][CTX];
    for (int k = 0; k < N; k++)
        tokenize_ok(tok, texts[k], want[k], NULL);
    static int32_t got[N * REPS][CTX];
    int fails = 0;
#pragma omp parallel for reduction(+ : fails)
    for (int j = 0; j < N * REPS; j++)
        fails += dp_tokenize(tok, texts[j % N], got[j], CTX, NULL, NULL) != DP_OK;
    ck_assert_int_eq(fails, 0);
    for (int j = 0; j < N * REPS; j++)
        ck_assert_int_eq(memcmp(got[j], want[j % N], sizeof want[0]), 0);
    dp_tokenizer_free(tok);
}
END_TEST

Suite *tokenizer_suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_golden_ids);
    tcase_add_test(tc, test_vocab_ids);
    tcase_add_test(tc, test_normal_prompt);
    tcase_add_test(tc, test_cleaning);
    tcase_add_test(tc, test_empty_and_long);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    return s;
}

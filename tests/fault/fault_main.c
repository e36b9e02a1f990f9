/* The fault test binary (make fault): the plugin linked statically with allocation and
 * pthread_create wrapped (fault_alloc.c), driven through its API table on the golden tiny
 * model. Sweeps: the N-th allocation of tool_create fails, for every N; the N-th allocation of
 * tool_process fails (on a fresh tool, so the scratch buffers are allocated in that call too),
 * for every N; thread creation fails in both. Each must return a status with a message, leave
 * its output NULL, leave the tool usable (same score afterwards) and leak nothing (LeakSanitizer
 * in the sanitizer build, checked after each sweep). The process survives by construction of
 * the test: nothing runs in a child. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

#include "fault_alloc.h"
#include "golden.h"
#include "insp_tool.h"

static const insp_api *A;
static char g_recipe[512], g_recipe2[512];
enum { W = 72, H = 40 };
static uint8_t g_px[W * H * 3], g_mask[W * H];

static void write_recipe(char *path, size_t cap, const char *name, int threads)
{
    char dir[] = "/tmp/dp_fault_XXXXXX";
    ck_assert(mkdtemp(dir));
    snprintf(path, cap, "%s/%s.yaml", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert(f);
    fprintf(f, "recipe_version: 1\nproduct: fault\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
               "  dapo: %s/tiny/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
               "precision: f32\ninput_size: 112\nthreads: %d\ndefects: [hole, scratch]\n"
               "tiling: {mode: grid, tile: 56, overlap: 8, batch: 2}\n",
            golden_dir(), golden_dir(), models_dir(), threads);
    fclose(f);
}

static insp_image view(void)
{
    insp_image v = { .struct_size = sizeof v, .width = W, .height = H, .channels = 3,
                     .pixel = INSP_PIX_U8, .row_stride = W * 3, .data = g_px,
                     .roi_x = 2, .roi_y = 1, .roi_w = W - 4, .roi_h = H - 3,
                     .mask = g_mask, .mask_stride = W };
    return v;
}

static void setup(void)
{
    A = insp_get_api_v1(INSP_ABI_MAJOR, INSP_ABI_MINOR);
    ck_assert(A);
    write_recipe(g_recipe, sizeof g_recipe, "one_thread", 1);
    write_recipe(g_recipe2, sizeof g_recipe2, "two_threads", 2);
    for (size_t i = 0; i < sizeof g_px; i++)
        g_px[i] = (uint8_t)(i * 37 + (i >> 7));
    for (size_t i = 0; i < sizeof g_mask; i++)
        g_mask[i] = (i % W) > 5;
}

/* "function file:line" of an allocation's call site, for messages. */
static const char *site_name(void *pc)
{
    static char buf[256];
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_symbolize_pc((char *)pc - 1, "%f %S", buf, sizeof buf);
#else
    snprintf(buf, sizeof buf, "%p", pc);
#endif
    return buf;
}

static void leak_check(const char *what)
{
#if defined(__SANITIZE_ADDRESS__)
    ck_assert_msg(__lsan_do_recoverable_leak_check() == 0, "%s: LeakSanitizer found leaks", what);
    printf("  %s: LeakSanitizer: no leaks\n", what);
#else
    (void)what;
#endif
}

/* Which allocations to fail, from the counting run just done: FAULT_ALL=1: every one; otherwise
 * the first and the last allocation of every call site (the handling code differs per site, not
 * per repetition; a tool_create makes thousands of allocations from a few hundred sites, and one
 * run takes about half a second under ASan); every = 1: all of them. Returns the count; *out is
 * malloc'd, sorted. */
static long plan_runs(long total, int every, long **out, long *n_sites)
{
    long *runs = malloc((size_t)(total > 0 ? total : 1) * sizeof *runs);
    void **sites = malloc((size_t)(total > 0 ? total : 1) * sizeof *sites);
    long *last = malloc((size_t)(total > 0 ? total : 1) * sizeof *last);
    ck_assert(runs && sites && last);
    const int all = every || (getenv("FAULT_ALL") && atoi(getenv("FAULT_ALL")));
    long n = 0, ns = 0;
    for (long i = 1; i <= total; i++) {
        void *s = fault_site(i);
        long k = 0;
        while (k < ns && sites[k] != s)
            k++;
        if (k == ns) {
            sites[ns] = s;
            last[ns++] = i;
            runs[n++] = i;        /* first allocation of a new site */
        } else {
            last[k] = i;
            if (all)
                runs[n++] = i;
        }
    }
    if (!all)
        for (long k = 0; k < ns; k++) {
            long j = 0;
            while (j < n && runs[j] != last[k])
                j++;
            if (j == n)
                runs[n++] = last[k];
        }
    for (long i = 1; i < n; i++)   /* insertion sort: a few hundred entries */
        for (long j = i; j > 0 && runs[j - 1] > runs[j]; j--) {
            long t = runs[j];
            runs[j] = runs[j - 1];
            runs[j - 1] = t;
        }
    free(sites);
    free(last);
    *out = runs;
    *n_sites = ns;
    return n;
}

START_TEST(create_every_allocation_fails)
{
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = NULL;
    fault_arm(0, 0);   /* counting run; frozen before Check's own bookkeeping allocates */
    insp_status st0 = A->tool_create(NULL, g_recipe, &t, err, sizeof err);
    fault_freeze();
    ck_assert_msg(st0 == INSP_OK, "%s", err);
    long total = fault_allocations(), *runs, n_sites;
    long n_runs = plan_runs(total, 0, &runs, &n_sites);
    A->tool_destroy(t);
    long failed = 0, ok = 0;
    int statuses[16] = { 0 };
    for (long i = 0; i < n_runs; i++) {
        const long n = runs[i];
        t = NULL;
        err[0] = 'x';
        fault_arm(n, 0);
        insp_status st = A->tool_create(NULL, g_recipe, &t, err, sizeof err);
        int fired = fault_fired();
        fault_freeze();
        ck_assert_msg(fired, "allocation %ld of %ld was not reached (%ld made)", n, total,
                      fault_allocations());
        if (st == INSP_OK) {   /* a failure the plugin could absorb */
            ck_assert(t != NULL);
            printf("  tool_create: allocation %ld (%s) failed and was absorbed\n", n,
                   site_name(fault_site(n)));
            /* absorbed is fine only if the tool is whole: every class has its name (a NULL one
             * would crash the next process, which copies them into the result) */
            int whole = 1;
            for (int32_t k = 0; k < A->tool_class_count(t); k++)
                whole &= A->tool_class_name(t, k) != NULL;
            if (!whole) {
                A->tool_destroy(t);
                free(runs);
            }
            ck_assert_msg(whole, "allocation %ld (%s) failed: tool_create returned INSP_OK with a "
                          "class name missing", n, site_name(fault_site(n)));
            A->tool_destroy(t);
            ok++;
            continue;
        }
        ck_assert_msg(t == NULL, "allocation %ld: status %d but a tool", n, st);
        ck_assert_msg(err[0] && err[0] != 'x', "allocation %ld: status %d without a message", n, st);
        statuses[st & 15]++;
        failed++;
    }
    printf("  tool_create: %ld allocations from %ld call sites; %ld runs, each failing one: %ld "
           "statuses (INSP_E_NOMEM %d, INSP_E_RECIPE %d, INSP_E_MODEL %d, INSP_E_INTERNAL %d), %ld "
           "absorbed\n", total, n_sites, n_runs, failed, statuses[INSP_E_NOMEM],
           statuses[INSP_E_RECIPE], statuses[INSP_E_MODEL], statuses[INSP_E_INTERNAL], ok);
    free(runs);
    ck_assert_msg(A->tool_create(NULL, g_recipe, &t, err, sizeof err) == INSP_OK, "%s", err);
    A->tool_destroy(t);
    leak_check("tool_create sweep");
}
END_TEST

static float score_of(insp_tool *t)
{
    char err[INSP_ERRBUF_SIZE];
    insp_image v = view();
    insp_result *r = NULL;
    ck_assert_msg(A->tool_process(t, &v, &r, err, sizeof err) == INSP_OK, "%s", err);
    float s = A->result_score(r);
    A->result_release(r);
    return s;
}

START_TEST(process_every_allocation_fails)
{
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = NULL;
    ck_assert_msg(A->tool_create(NULL, g_recipe, &t, err, sizeof err) == INSP_OK, "%s", err);
    insp_image v = view();
    insp_result *r = NULL;
    fault_arm(0, 0);   /* counting run */
    insp_status st0 = A->tool_process(t, &v, &r, err, sizeof err);
    fault_freeze();
    ck_assert_msg(st0 == INSP_OK, "%s", err);
    long total = fault_allocations(), *runs, n_sites;
    long n_runs = plan_runs(total, 1, &runs, &n_sites);
    if (getenv("FAULT_LIST"))
        for (long i = 1; i <= total; i++)
            printf("  process allocation %ld: %s\n", i, site_name(fault_site(i)));
    const float want = A->result_score(r);
    A->result_release(r);
    A->tool_destroy(t);
    long failed = 0, ok = 0;
    for (long i = 0; i < n_runs; i++) {
        const long n = runs[i];
        ck_assert_msg(A->tool_create(NULL, g_recipe, &t, err, sizeof err) == INSP_OK, "%s", err);
        r = NULL;
        err[0] = 'x';
        fault_arm(n, 0);
        insp_status st = A->tool_process(t, &v, &r, err, sizeof err);
        int fired = fault_fired();
        fault_freeze();
        ck_assert_msg(fired, "allocation %ld of %ld was not reached (%ld made)", n, total,
                      fault_allocations());
        if (st == INSP_OK) {
            ck_assert(r != NULL);
            A->result_release(r);
            ok++;
        } else {
            ck_assert_msg(r == NULL, "allocation %ld: status %d but a result", n, st);
            ck_assert_msg(err[0] && err[0] != 'x', "allocation %ld: status %d without a message", n, st);
            failed++;
        }
        /* the tool is still usable and computes the same */
        float again = score_of(t);
        ck_assert_msg(again == want, "allocation %ld: score afterwards %.9g, expected %.9g", n, again, want);
        A->tool_destroy(t);
    }
    printf("  tool_process (first call on a fresh tool, tiled, ROI, mask): %ld allocations from %ld "
           "call sites; %ld runs, each failing one: %ld statuses, %ld absorbed; the tool processed "
           "correctly afterwards\n", total, n_sites, n_runs, failed, ok);
    free(runs);
    leak_check("tool_process sweep");
}
END_TEST

START_TEST(thread_creation_fails)
{
    char err[INSP_ERRBUF_SIZE];
    insp_tool *t = (insp_tool *)&t;
    fault_arm(0, 1);
    insp_status st = A->tool_create(NULL, g_recipe2, &t, err, sizeof err);
    fault_arm(0, 0);
    printf("  tool_create, first pthread_create fails: %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_NOMEM);
    ck_assert(t == NULL);
    ck_assert_msg(A->tool_create(NULL, g_recipe2, &t, err, sizeof err) == INSP_OK, "%s", err);
    const float want = score_of(t);
    insp_image v = view();
    insp_result *r = (insp_result *)&r;
    fault_arm(0, 1);
    st = A->tool_process(t, &v, &r, err, sizeof err);
    fault_arm(0, 0);
    printf("  tool_process, first pthread_create fails: %s: %s\n", A->status_name(st), err);
    ck_assert_int_eq(st, INSP_E_NOMEM);
    ck_assert(r == NULL);
    ck_assert(score_of(t) == want);
    A->tool_destroy(t);
    leak_check("thread creation");
}
END_TEST

int main(void)
{
    /* tests never write the real ~/.cache: the text-feature cache is off unless a test's
     * recipe names a temporary directory (the recipe's text_cache wins over this) */
    setenv("DAPO_TEXT_CACHE", "none", 1);
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("injected_failures");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 3600);
    tcase_add_test(tc, thread_creation_fails);
    tcase_add_test(tc, process_every_allocation_fails);
    tcase_add_test(tc, create_every_allocation_fails);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Issue 10 item 2: when the process cannot start another thread (thread limit, address-space
 * limit) the plugin returns a status instead of libgomp ending the host with exit(1). Each case
 * runs in a forked child (the limits are per process and cannot be raised again); the child's
 * exit code says what it saw, so a child killed by libgomp's exit(1) fails the test. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "golden.h"
#include "imageio.h"
#include "loader.h"

static const char *plugin_path(void)
{
    const char *p = getenv("DAPO_PLUGIN");
    return p && *p ? p : "build/libdapo_inspect.so";
}

/* Child exit codes: 0 = the expected statuses; others name the step that went wrong. */
enum { C_OK = 0, C_SETUP = 10, C_CREATE = 11, C_PROCESS_BEFORE = 12, C_LIMIT = 13,
       C_PROCESS_STATUS = 14, C_CREATE_STATUS = 15, C_MESSAGE = 16 };

typedef struct host_thread {
    const insp_api *api;
    insp_tool *tool;
    const insp_image *view;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int go;
    insp_status status;
    char err[INSP_ERRBUF_SIZE];
} host_thread;

/* A host thread started before the limit is lowered, processing only after: libgomp gives each
 * host thread its own team, so this call needs new worker threads. */
static void *host_main(void *arg)
{
    host_thread *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->go)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    insp_result *r = NULL;
    h->status = h->api->tool_process(h->tool, h->view, &r, h->err, sizeof h->err);
    h->api->result_release(r);
    return NULL;
}

typedef enum limit_kind { LIMIT_THREADS, LIMIT_ADDRESS_SPACE } limit_kind;

/* Lowers the limit: RLIMIT_NPROC to 1 (as root, which the kernel exempts, after dropping to
 * nobody), or RLIMIT_AS to what is mapped now plus 2 MiB (less than one thread stack). */
static int lower_limit(limit_kind kind)
{
    struct rlimit rl;
    if (kind == LIMIT_THREADS) {
        rl.rlim_cur = rl.rlim_max = 1;
        if (setrlimit(RLIMIT_NPROC, &rl))
            return -1;
        if (getuid() == 0 && (setgid(65534) || setuid(65534)))
            return -1;
        return 0;
    }
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    if (!f || fscanf(f, "%ld", &pages) != 1)
        return -1;
    fclose(f);
    rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (2u << 20);
    return setrlimit(RLIMIT_AS, &rl);
}

static int child(limit_kind kind, const char *dir)
{
    char err[INSP_ERRBUF_SIZE], recipe[512];
    insp_module mod;
    if (insp_loader_open(plugin_path(), &mod, err, sizeof err) != INSP_OK)
        return C_SETUP;
    const insp_api *A = mod.api;
    snprintf(recipe, sizeof recipe, "%s/tool.yaml", dir);
    FILE *f = fopen(recipe, "w");
    if (!f)
        return C_SETUP;
    fprintf(f, "recipe_version: 1\nproduct: thread limit\nmodel:\n  clip: %s/tiny/clip.safetensors\n"
               "  dapo: %s/tiny/dapo.safetensors\n  vocabulary: %s/bpe_simple_vocab_16e6.txt.gz\n"
               "precision: f32\ninput_size: 112\nthreads: 2\ndefects: [hole, scratch]\n",
            golden_dir(), golden_dir(), models_dir());
    fclose(f);
    insp_tool *tool = NULL;
    if (A->tool_create(NULL, recipe, &tool, err, sizeof err) != INSP_OK) {
        fprintf(stderr, "tool_create: %s\n", err);
        return C_CREATE;
    }
    static uint8_t px[64 * 48 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    insp_image v = { .struct_size = sizeof v, .width = 64, .height = 48, .channels = 3,
                     .pixel = INSP_PIX_U8, .row_stride = 64 * 3, .data = px };
    insp_result *r = NULL;
    if (A->tool_process(tool, &v, &r, err, sizeof err) != INSP_OK) {   /* scratch sized now */
        fprintf(stderr, "process before the limit: %s\n", err);
        return C_PROCESS_BEFORE;
    }
    A->result_release(r);
    host_thread h = { .api = A, .tool = tool, .view = &v, .mu = PTHREAD_MUTEX_INITIALIZER,
                      .cv = PTHREAD_COND_INITIALIZER };
    pthread_t th;
    if (pthread_create(&th, NULL, host_main, &h))
        return C_SETUP;
    if (lower_limit(kind))
        return C_LIMIT;
    pthread_mutex_lock(&h.mu);
    h.go = 1;
    pthread_cond_signal(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(th, NULL);
    printf("  %s limit, process on a new host thread: %s: %s\n",
           kind == LIMIT_THREADS ? "thread" : "address-space", A->status_name(h.status), h.err);
    if (h.status != INSP_E_NOMEM)
        return C_PROCESS_STATUS;
    if (!strstr(h.err, "pthread_create") || !strstr(h.err, "num_threads"))
        return C_MESSAGE;
    if (kind == LIMIT_THREADS) {   /* under an address-space limit the model itself cannot map */
        insp_tool *t2 = NULL;
        insp_status st = A->tool_create(NULL, recipe, &t2, err, sizeof err);
        printf("  thread limit, tool_create: %s: %s\n", A->status_name(st), err);
        if (st != INSP_E_NOMEM || t2 || !strstr(err, "pthread_create"))
            return C_CREATE_STATUS;
    }
    A->tool_destroy(tool);
    fflush(stdout);
    return C_OK;
}

static void run_case(limit_kind kind)
{
    char dir[] = "/tmp/dp_threadlimit_XXXXXX";
    ck_assert(mkdtemp(dir));
    ck_assert(chmod(dir, 0755) == 0);   /* still readable after dropping to nobody */
    fflush(stdout);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0)
        _exit(child(kind, dir));   /* _exit: the limits would also stop LeakSanitizer's thread */
    int ws = 0;
    ck_assert(waitpid(pid, &ws, 0) == pid);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert(system(cmd) == 0);
    ck_assert_msg(WIFEXITED(ws), "child killed by signal %d", WTERMSIG(ws));
    ck_assert_msg(WEXITSTATUS(ws) != 1, "child exited with 1: libgomp ended the process");
    ck_assert_msg(WEXITSTATUS(ws) == C_OK, "child failed at step %d", WEXITSTATUS(ws));
}

START_TEST(thread_limit)
{
    run_case(LIMIT_THREADS);
}
END_TEST

/* AddressSanitizer reserves terabytes of address space: no address-space limit there. */
START_TEST(address_space_limit)
{
#if defined(__SANITIZE_ADDRESS__)
    printf("  address_space_limit: skipped under ASan (its shadow memory needs unlimited address space)\n");
#else
    run_case(LIMIT_ADDRESS_SPACE);
#endif
}
END_TEST

Suite *threadlimit_suite(void)
{
    Suite *s = suite_create("threadlimit");
    TCase *tc = tcase_create("thread_creation_fails");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, thread_limit);
    tcase_add_test(tc, address_space_limit);
    suite_add_tcase(s, tc);
    return s;
}

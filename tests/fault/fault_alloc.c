/* Allocation and thread-creation fault injection for the fault test binary, which links the
 * plugin's objects with -Wl,--wrap=malloc,calloc,realloc,aligned_alloc,posix_memalign,strdup,
 * pthread_create: every such call made by plugin code comes here (calls made inside shared
 * libraries - oneDNN, libyaml, zlib, libgomp - do not). Counting is global and unsynchronised
 * on purpose: the sweeps run the plugin with one thread. */
#include "fault_alloc.h"

#include <errno.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
char *__real_strdup(const char *s);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
char *__wrap_strdup(const char *s);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);

static long alloc_count, fail_at, threads_count, thread_fail_at;
static int failed, frozen;
/* The call site (return address) of each allocation while counting (fault_arm(0, 0)). */
enum { MAX_SITES_RECORDED = 1 << 20 };
static void *site_of[MAX_SITES_RECORDED];

void fault_arm(long nth_alloc, long nth_thread)
{
    alloc_count = 0;
    threads_count = 0;
    fail_at = nth_alloc;
    thread_fail_at = nth_thread;
    failed = 0;
    frozen = 0;
}

void fault_freeze(void)
{
    frozen = 1;
    fail_at = thread_fail_at = 0;
}

long fault_allocations(void) { return alloc_count; }
void *fault_site(long n) { return n >= 1 && n <= alloc_count && n <= MAX_SITES_RECORDED ? site_of[n - 1] : NULL; }
long fault_threads(void) { return threads_count; }
int fault_fired(void) { return failed; }

/* True when this call is the one to fail. site: the caller's return address. */
#define should_fail() should_fail_at(__builtin_return_address(0))
static int should_fail_at(void *site)
{
    if (frozen)
        return 0;
    if (alloc_count < MAX_SITES_RECORDED)
        site_of[alloc_count] = site;
    alloc_count++;
    if (fail_at > 0 && alloc_count == fail_at) {
        failed = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? (errno = ENOMEM, NULL) : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? (errno = ENOMEM, NULL) : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? (errno = ENOMEM, NULL) : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return should_fail() ? (errno = ENOMEM, NULL) : __real_aligned_alloc(align, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return should_fail() ? ENOMEM : __real_posix_memalign(p, align, n);
}

char *__wrap_strdup(const char *s)
{
    return should_fail() ? (errno = ENOMEM, NULL) : __real_strdup(s);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    threads_count++;
    if (thread_fail_at > 0 && threads_count == thread_fail_at) {
        failed = 1;
        return EAGAIN;
    }
    return __real_pthread_create(t, a, fn, arg);
}

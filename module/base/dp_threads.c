/* Trial start of a team's worker threads (see dp_threads.h for why). */
#include "dp_threads.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp_limits.h"

/* libgomp's parse_stacksize: a positive integer, optional B/K/M/G suffix (default K), spaces
 * around. Returns 0 when the variable is unset or not in that form (libgomp then ignores it). */
static size_t env_stack_bytes(const char *name)
{
    const char *s = getenv(name);
    if (!s)
        return 0;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v == 0)
        return 0;
    while (isspace((unsigned char)*end))
        end++;
    unsigned shift = 10;
    switch (tolower((unsigned char)*end)) {
    case '\0': break;
    case 'b': shift = 0; end++; break;
    case 'k': shift = 10; end++; break;
    case 'm': shift = 20; end++; break;
    case 'g': shift = 30; end++; break;
    default: return 0;
    }
    while (isspace((unsigned char)*end))
        end++;
    if (*end || v > (SIZE_MAX >> shift))
        return 0;
    return (size_t)v << shift;
}

/* Trial threads wait on the caller's gate so that all of them exist at the same time, as a
 * team's workers do. gate: borrowed, a mutex the caller holds until every thread has started. */
static void *trial_thread(void *gate)
{
    pthread_mutex_lock(gate);
    pthread_mutex_unlock(gate);
    return NULL;
}

dp_status dp_threads_probe(int wanted, const char *what, dp_err *err)
{
    if (wanted <= 1)
        return DP_OK;
    if (wanted > DP_MAX_THREADS)
        return dp_fail(err, DP_E_ARG, "%s: %d worker threads; expected at most %d", what, wanted,
                       DP_MAX_THREADS);
    size_t stack = env_stack_bytes("OMP_STACKSIZE");
    if (!stack)
        stack = env_stack_bytes("GOMP_STACKSIZE");
    pthread_attr_t attr;
    if (pthread_attr_init(&attr))
        return dp_fail(err, DP_E_NOMEM, "%s: cannot initialise thread attributes", what);
    if (stack)
        pthread_attr_setstacksize(&attr, stack);
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_t trial[DP_MAX_THREADS];
    int started = 0, rc = 0;
    pthread_mutex_lock(&gate);
    while (started < wanted - 1 && (rc = pthread_create(&trial[started], &attr, trial_thread, &gate)) == 0)
        started++;
    pthread_mutex_unlock(&gate);
    for (int i = 0; i < started; i++)
        pthread_join(trial[i], NULL);
    pthread_attr_destroy(&attr);
    pthread_mutex_destroy(&gate);
    if (rc)
        return dp_fail(err, DP_E_NOMEM,
                       "%s: cannot run %d threads: creating thread %d failed (pthread_create: %s; "
                       "the process's thread or address-space limit?); lower num_threads or raise "
                       "the limit", what, wanted, started + 2, strerror(rc));
    return DP_OK;
}

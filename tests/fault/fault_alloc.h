/* Fault injection counters of the fault test binary (see fault_alloc.c). */
#ifndef DP_FAULT_ALLOC_H
#define DP_FAULT_ALLOC_H
#include <pthread.h>
#include <stddef.h>

/* Resets the counters; the nth_alloc-th allocation (1-based) and the nth_thread-th
 * pthread_create from plugin code fail from now on, once each; 0 = never. */
void fault_arm(long nth_alloc, long nth_thread);
/* Stops counting (the test's own allocations then keep the record of the last run intact). */
void fault_freeze(void);
long fault_allocations(void);   /* allocations since fault_arm */
void *fault_site(long n);       /* call site of allocation n (1-based) since fault_arm */
long fault_threads(void);       /* pthread_create calls since fault_arm */
int fault_fired(void);          /* 1 if the armed failure happened */
#endif

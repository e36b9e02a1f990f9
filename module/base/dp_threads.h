/* Can this process start the worker threads a parallel region needs? libgomp cannot fail softly:
 * when pthread_create fails inside a parallel region it prints to stderr and calls exit(1), which
 * would kill the host. So before the plugin's parallel work the caller asks here first. */
#ifndef DP_THREADS_H
#define DP_THREADS_H
#include "dp_error.h"

/* Starts wanted - 1 trial threads at once (the caller is the team's first thread), with the stack
 * size libgomp will use (OMP_STACKSIZE or GOMP_STACKSIZE, else the pthread default), holds them
 * until all have started, then joins them. DP_OK if every one started; otherwise DP_E_NOMEM naming
 * `what` (borrowed, for the message), how many could start and why (the pthread_create error).
 * This is a check, not a reservation: a thread or memory limit reached between this call and the
 * parallel region still ends the process inside libgomp. wanted <= 1 is DP_OK without a thread.
 * err: borrowed, may be NULL. */
dp_status dp_threads_probe(int wanted, const char *what, dp_err *err);

#endif

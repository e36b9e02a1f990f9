/* Test support for suites that run the project's programs: environment defaults, whole files,
 * shell commands. Failures end the test through Check's assertions. */
#ifndef DP_TEST_CMD_H
#define DP_TEST_CMD_H

#include <stddef.h>

/* $k when set and not empty, else d (both borrowed). */
const char *tsup_env_or(const char *k, const char *d);

/* The file at path, NUL-terminated, length in *n; caller-owned (free). */
char *tsup_slurp(const char *path, size_t *n);

/* Runs cmd through the shell; its exit status (the test fails if it could not run or died). */
int tsup_sh(const char *cmd);

#endif

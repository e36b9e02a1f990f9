/* Test support for suites that run the project's programs: environment defaults, whole files
 * read and written, shell commands. Failures end the test through Check's assertions. */
#ifndef DP_TEST_CMD_H
#define DP_TEST_CMD_H

#include <stddef.h>

/* $k when set and not empty, else d (both borrowed). */
const char *tsup_env_or(const char *k, const char *d);

/* The file at path, NUL-terminated, length in *n; caller-owned (free). */
char *tsup_slurp(const char *path, size_t *n);

/* Writes the printf-formatted text to path, replacing the file (the test fails if it cannot). */
void tsup_write(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs cmd through the shell; its exit status (the test fails if it could not run or died). */
int tsup_sh(const char *cmd);

#endif

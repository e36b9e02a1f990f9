/* Program-running helpers for the suites (test_cmd.h). */
#include "test_cmd.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

const char *tsup_env_or(const char *k, const char *d)
{
    const char *v = getenv(k);
    return v && *v ? v : d;
}

char *tsup_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    ck_assert(b && fread(b, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    b[len] = 0;
    *n = (size_t)len;
    return b;
}

void tsup_write(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(f, fmt, ap);
    va_end(ap);
    ck_assert_msg(n >= 0 && fclose(f) == 0, "cannot write %s", path);
}

int tsup_sh(const char *cmd)
{
    int st = system(cmd);
    ck_assert_msg(st != -1 && WIFEXITED(st), "could not run %s", cmd);
    return WEXITSTATUS(st);
}

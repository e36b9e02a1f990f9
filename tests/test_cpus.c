/* Usable CPUs: cgroup quota parsing and the affinity / quota narrowing the thread count uses. */
#define _GNU_SOURCE
#include <check.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dp_cpus.h"

START_TEST(parse_cpu_max)
{
    ck_assert_double_eq_tol(dp_cpus_parse_cpu_max("200000 100000\n"), 2.0, 1e-12);
    ck_assert_double_eq_tol(dp_cpus_parse_cpu_max("150000 100000"), 1.5, 1e-12);
    ck_assert_double_eq(dp_cpus_parse_cpu_max("max 100000\n"), 0.0);
    ck_assert_double_eq(dp_cpus_parse_cpu_max(""), 0.0);
    ck_assert_double_eq(dp_cpus_parse_cpu_max("garbage"), 0.0);
    ck_assert_double_eq(dp_cpus_parse_cpu_max("-5 100000"), 0.0);
    ck_assert_double_eq(dp_cpus_parse_cpu_max("100000 0"), 0.0);
    ck_assert_double_eq(dp_cpus_parse_cpu_max(NULL), 0.0);
}
END_TEST

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static char *make_root(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *dir = malloc(512);
    snprintf(dir, 512, "%s/dp_cgroup_XXXXXX", tmp);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

START_TEST(quota_narrows_usable)
{
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
    const int affinity = CPU_COUNT(&set);
    dp_cpus c;

    /* no cgroup files at all: the affinity mask decides */
    char *empty = make_root();
    dp_cpus_query(empty, &c);
    ck_assert_int_eq(c.affinity, affinity);
    ck_assert_double_eq(c.quota, 0.0);
    ck_assert_int_eq(c.usable, affinity);
    ck_assert_int_ge(c.online, c.affinity);

    /* cgroup v2: a quota of 1.5 CPUs allows 2 threads at most, never more than the mask */
    char *v2 = make_root();
    write_file(v2, "cpu.max", "150000 100000\n");
    dp_cpus_query(v2, &c);
    ck_assert_double_eq_tol(c.quota, 1.5, 1e-12);
    ck_assert_int_eq(c.usable, affinity < 2 ? affinity : 2);

    /* cgroup v1: quota of one CPU */
    char *v1 = make_root();
    char cpu[600];
    snprintf(cpu, sizeof cpu, "%s/cpu", v1);
    ck_assert_int_eq(mkdir(cpu, 0700), 0);
    write_file(cpu, "cpu.cfs_quota_us", "100000\n");
    write_file(cpu, "cpu.cfs_period_us", "100000\n");
    dp_cpus_query(v1, &c);
    ck_assert_double_eq_tol(c.quota, 1.0, 1e-12);
    ck_assert_int_eq(c.usable, 1);
    /* v1 "no limit" is -1 */
    write_file(cpu, "cpu.cfs_quota_us", "-1\n");
    dp_cpus_query(v1, &c);
    ck_assert_double_eq(c.quota, 0.0);
    ck_assert_int_eq(c.usable, affinity);
    printf("  cpus: %d online, %d in the affinity mask; fake quotas 1.5 and 1.0 -> %d and 1 threads\n",
           c.online, affinity, affinity < 2 ? affinity : 2);

    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", empty, v2, v1);
    ck_assert_int_eq(system(cmd), 0);
    free(empty); free(v2); free(v1);
}
END_TEST

Suite *cpus_suite(void)
{
    Suite *s = suite_create("cpus");
    TCase *tc = tcase_create("usable");
    tcase_add_test(tc, parse_cpu_max);
    tcase_add_test(tc, quota_narrows_usable);
    suite_add_tcase(s, tc);
    return s;
}

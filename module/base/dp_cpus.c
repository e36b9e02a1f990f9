/* Usable CPUs: online, affinity mask, cgroup quota. */
#define _GNU_SOURCE
#include "dp_cpus.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

double dp_cpus_parse_cpu_max(const char *text)
{
    char quota[32];
    long long period = 0;
    if (!text || sscanf(text, "%31s %lld", quota, &period) != 2 || period <= 0)
        return 0;
    if (strcmp(quota, "max") == 0)
        return 0;
    char *end;
    long long q = strtoll(quota, &end, 10);
    if (*end || q <= 0)
        return 0;
    return (double)q / (double)period;
}

/* First line of a small file into buf; 0 on success. */
static int read_line(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    return ok ? 0 : -1;
}

/* The process's cgroup path from /proc/self/cgroup: for v2 the "0::/path" line, for v1 the line
 * whose controller list holds "cpu". buf gets "" when there is none. */
static void own_cgroup(int v1, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrl = c1 + 1, *path = c2 + 1;
        int match = 0;
        if (!v1) {
            match = strcmp(line, "0") == 0 && *ctrl == '\0';
        } else {
            char list[128];
            snprintf(list, sizeof list, "%s", ctrl);
            for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok && !match;
                 tok = strtok_r(NULL, ",", &save))
                match = strcmp(tok, "cpu") == 0;
        }
        if (match) {
            snprintf(buf, cap, "%s", strcmp(path, "/") == 0 ? "" : path);
            break;
        }
    }
    if (f)
        fclose(f);
}

/* The tightest quota on the path from dir (under base) up to base; `leaf` names the v2 file,
 * or NULL for v1's cfs_quota_us / cfs_period_us pair. */
static double tightest_quota(const char *base, char *dir, const char *leaf)
{
    char path[700], line[128];
    double best = 0;
    for (;;) {
        double q = 0;
        if (leaf) {
            snprintf(path, sizeof path, "%s%s/%s", base, dir, leaf);
            if (read_line(path, line, sizeof line) == 0)
                q = dp_cpus_parse_cpu_max(line);
        } else {
            long long quota = 0, period = 0;
            snprintf(path, sizeof path, "%s%s/cpu.cfs_quota_us", base, dir);
            if (read_line(path, line, sizeof line) == 0)
                quota = atoll(line);
            snprintf(path, sizeof path, "%s%s/cpu.cfs_period_us", base, dir);
            if (read_line(path, line, sizeof line) == 0)
                period = atoll(line);
            q = quota > 0 && period > 0 ? (double)quota / (double)period : 0;
        }
        if (q > 0 && (best == 0 || q < best))
            best = q;
        char *slash = strrchr(dir, '/');
        if (!slash)
            break;
        *slash = '\0';       /* "/a/b" -> "/a" -> "" (the root) */
    }
    return best;
}

static double cgroup_quota(const char *root)
{
    char dir[512], base[560];
    own_cgroup(0, dir, sizeof dir);
    double q = tightest_quota(root, dir, "cpu.max");
    if (q > 0)
        return q;
    own_cgroup(1, dir, sizeof dir);
    snprintf(base, sizeof base, "%s/cpu", root);
    q = tightest_quota(base, dir, NULL);
    if (q > 0)
        return q;
    snprintf(base, sizeof base, "%s/cpu,cpuacct", root);
    return tightest_quota(base, dir, NULL);
}

void dp_cpus_query(const char *cgroup_root, dp_cpus *out)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    out->online = online > 0 ? (int)online : 1;
    cpu_set_t set;
    out->affinity = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : out->online;
    if (out->affinity < 1)
        out->affinity = out->online;
    out->quota = cgroup_quota(cgroup_root && *cgroup_root ? cgroup_root : "/sys/fs/cgroup");
    int usable = out->affinity;
    if (out->quota > 0) {
        int q = (int)ceil(out->quota - 1e-9);
        if (q < usable)
            usable = q;
    }
    out->usable = usable > 0 ? usable : 1;
}

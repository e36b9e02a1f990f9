/* How many CPUs this process may really use: the online CPUs, narrowed by the affinity mask
 * and by a cgroup CPU quota (a container limited to 2 CPUs on a 16-core machine gets 2). */
#ifndef DP_CPUS_H
#define DP_CPUS_H

typedef struct dp_cpus {
    int online;           /* CPUs online in the machine */
    int affinity;         /* CPUs in this thread's affinity mask (online if it cannot be read) */
    double quota;         /* cgroup CPU quota in CPUs (quota / period); 0 = none */
    int usable;           /* min(affinity, ceil(quota)), at least 1 */
} dp_cpus;

/* Fills *out for the calling thread. cgroup_root: the cgroup file system to read ("" or NULL:
 * /sys/fs/cgroup; tests pass a folder of their own). Reads cgroup v2 (cpu.max of the process's
 * cgroup, then its parents) and v1 (cpu/cpu.cfs_quota_us and cpu.cfs_period_us); a file that is
 * missing or unreadable means no quota. Never fails. */
void dp_cpus_query(const char *cgroup_root, dp_cpus *out);

/* Parses a cgroup v2 "cpu.max" text ("max 100000" or "200000 100000") into CPUs; 0 for no
 * quota or text it does not understand. */
double dp_cpus_parse_cpu_max(const char *text);

#endif

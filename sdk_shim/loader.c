/* Loads a plugin with dlopen and validates its function table, with messages that tell a
 * vision engineer which file is wrong and how. */
#include "loader.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* dlsym returns an object pointer; copying it into a function pointer of the same size is
 * the portable POSIX way to call it. */
_Static_assert(sizeof(void *) == sizeof(insp_get_api_v1_fn), "function pointers must fit void *");

static insp_status fail(char *err, size_t err_cap, insp_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static insp_status fail(char *err, size_t err_cap, insp_status code, const char *fmt, ...)
{
    if (err && err_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* dlerror() text without a leading "<path>: " (glibc repeats the path we already print).
 * Returned pointer borrowed from dlerror's thread-local buffer. */
static const char *dl_reason(const char *path)
{
    const char *e = dlerror();
    if (!e)
        return "unknown dynamic loader error";
    size_t n = strlen(path);
    if (strncmp(e, path, n) == 0 && e[n] == ':' && e[n + 1] == ' ')
        return e + n + 2;
    return e;
}

/* The plugin's OpenMP runtime reads its wait policy once, when it is loaded. Its default
 * (threads spin while they wait) steals the host's cycles and makes a call 1.5-1.7x slower when
 * the host keeps a core busy; passive waiting costs a few percent on a quiet machine. So unless
 * the host chose (OMP_WAIT_POLICY or GOMP_SPINCOUNT set) or the runtime is already loaded (then
 * it is too late), ask for passive before dlopen. */
static void prefer_passive_wait(void)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    void *gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (gomp) {
        dlclose(gomp);
        return;
    }
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
}

/* Every v1.0 member a host may call without checking; their offsets, for one generic check. */
#define MEMBER(m) { #m, offsetof(insp_api, m) }
static const struct { const char *name; size_t offset; } required[] = {
    MEMBER(plugin_id), MEMBER(plugin_version), MEMBER(plugin_description),
    MEMBER(status_name), MEMBER(tool_create), MEMBER(tool_destroy),
    MEMBER(tool_param_schema), MEMBER(tool_set_param), MEMBER(tool_get_param),
    MEMBER(tool_info), MEMBER(tool_class_count), MEMBER(tool_class_name),
    MEMBER(tool_process), MEMBER(result_release), MEMBER(result_score),
    MEMBER(result_decision), MEMBER(result_thresholds), MEMBER(result_class_count),
    MEMBER(result_class), MEMBER(result_anomaly_map), MEMBER(result_label_map),
    MEMBER(result_region_count), MEMBER(result_region), MEMBER(result_timing),
};
#undef MEMBER

/* Checks the table the plugin returned; api is borrowed from the plugin. */
static insp_status check_table(const char *path, const insp_api *api, char *err, size_t err_cap)
{
    if (!api)
        return fail(err, err_cap, INSP_E_ABI,
                    "%s: plugin refused ABI %d.%d (%s returned NULL); it needs a different "
                    "host version", path, INSP_ABI_MAJOR, INSP_ABI_MINOR, INSP_ENTRY_SYMBOL);
    if (api->abi_major != INSP_ABI_MAJOR)
        return fail(err, err_cap, INSP_E_ABI, "%s: plugin ABI %u.%u, this host speaks %d.x",
                    path, api->abi_major, api->abi_minor, INSP_ABI_MAJOR);
    if (api->struct_size < INSP_API_SIZE_1_0)
        return fail(err, err_cap, INSP_E_ABI,
                    "%s: plugin function table has %u bytes, ABI %d.0 needs at least %u "
                    "(plugin built from a broken or pre-release header)",
                    path, api->struct_size, INSP_ABI_MAJOR, (unsigned)INSP_API_SIZE_1_0);
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        void *member;
        memcpy(&member, (const char *)api + required[i].offset, sizeof member);
        if (!member)
            return fail(err, err_cap, INSP_E_ABI,
                        "%s: plugin function table lacks %s (NULL), required by ABI %d.0",
                        path, required[i].name, INSP_ABI_MAJOR);
    }
    return INSP_OK;
}

/* A newer-major plugin exports insp_get_api_vN instead: say so rather than "no symbol". */
static int newer_major(void *handle)
{
    for (int major = INSP_ABI_MAJOR + 1; major <= INSP_ABI_MAJOR + 8; major++) {
        char name[32];
        snprintf(name, sizeof name, "insp_get_api_v%d", major);
        if (dlsym(handle, name))
            return major;
    }
    return 0;
}

insp_status insp_loader_open(const char *so_path, insp_module *out, char *err, size_t err_cap)
{
    if (err && err_cap > 0)
        err[0] = '\0';
    if (!out)
        return fail(err, err_cap, INSP_E_ARG, "insp_loader_open: out is NULL");
    memset(out, 0, sizeof *out);
    if (!so_path || !so_path[0])
        return fail(err, err_cap, INSP_E_ARG, "insp_loader_open: empty plugin path");

    /* dlopen searches LD_LIBRARY_PATH for a bare name; a user who typed a file name means
     * the file in the current directory. */
    size_t n = strlen(so_path);
    int bare = strchr(so_path, '/') == NULL;
    char *path = malloc(n + 3);   /* owned by *out on success */
    if (!path)
        return fail(err, err_cap, INSP_E_NOMEM, "%s: out of memory", so_path);
    snprintf(path, n + 3, "%s%s", bare ? "./" : "", so_path);

    /* stat first: "no such file" is clearer than the loader's wording, and a directory would
     * give a misleading message. */
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        fail(err, err_cap, INSP_E_ABI, "%s: cannot open plugin: %s", path, strerror(e));
        free(path);
        return INSP_E_ABI;
    }
    if (!S_ISREG(st.st_mode)) {
        fail(err, err_cap, INSP_E_ABI, "%s: not a regular file (expected a plugin .so)", path);
        free(path);
        return INSP_E_ABI;
    }

    dlerror();
    prefer_passive_wait();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fail(err, err_cap, INSP_E_ABI, "%s: cannot load: %s", path, dl_reason(path));
        free(path);
        return INSP_E_ABI;
    }

    dlerror();
    void *sym = dlsym(handle, INSP_ENTRY_SYMBOL);
    insp_status st_code = INSP_OK;
    if (!sym) {
        int major = newer_major(handle);
        if (major)
            st_code = fail(err, err_cap, INSP_E_ABI,
                           "%s: plugin speaks ABI %d only (exports insp_get_api_v%d, not %s), "
                           "this host speaks %d.x", path, major, major, INSP_ENTRY_SYMBOL,
                           INSP_ABI_MAJOR);
        else
            st_code = fail(err, err_cap, INSP_E_ABI,
                           "%s: no symbol %s (not a dapo-inspect plugin?)", path,
                           INSP_ENTRY_SYMBOL);
    } else {
        insp_get_api_v1_fn entry;
        memcpy(&entry, &sym, sizeof entry);
        const insp_api *api = entry(INSP_ABI_MAJOR, INSP_ABI_MINOR);
        st_code = check_table(path, api, err, err_cap);
        if (st_code == INSP_OK) {
            out->handle = handle;
            out->api = api;
            out->path = path;
            return INSP_OK;
        }
    }
    dlclose(handle);
    free(path);
    return st_code;
}

void insp_loader_close(insp_module *m)
{
    if (!m)
        return;
    if (m->handle)
        dlclose(m->handle);
    free(m->path);
    memset(m, 0, sizeof *m);
}

int insp_loader_default_path(const char *installed_dir, char *buf, size_t cap)
{
    const char *env = getenv("DAPO_INSPECT_PLUGIN");
    if (env && *env) {
        int w = snprintf(buf, cap, "%s", env);
        return w > 0 && (size_t)w < cap ? 0 : -1;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    struct stat sb;
    int w = snprintf(buf, cap, "%s/%s", exe, INSP_PLUGIN_FILE);
    if (installed_dir && w > 0 && (size_t)w < cap && stat(buf, &sb) != 0)
        w = snprintf(buf, cap, "%s/%s", installed_dir, INSP_PLUGIN_FILE);
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

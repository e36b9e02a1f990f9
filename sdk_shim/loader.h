/* Host side of the plugin ABI: loads a plugin shared object and checks that it speaks our
 * ABI before anything else touches it. */
#ifndef INSP_LOADER_H
#define INSP_LOADER_H

#include <stddef.h>

#include "insp_tool.h"

typedef struct insp_module {
    void *handle;            /* dlopen handle, owned; released by insp_loader_close */
    const insp_api *api;     /* borrowed from the plugin; valid until insp_loader_close */
    char *path;              /* the path as opened, owned (malloc) */
} insp_module;

/* dlopen(RTLD_NOW | RTLD_LOCAL)s so_path (a path without '/' is taken relative to the current
 * directory, never searched in the library path), resolves insp_get_api_v1, calls it with our
 * INSP_ABI_MAJOR/MINOR and validates the table: major version, struct_size >= the v1.0 size,
 * every v1.0 function and string present. On success fills *out (caller closes it); on failure
 * *out is zeroed, nothing stays loaded and err (caller-owned, always NUL-terminated when
 * err_cap > 0) says why, starting with the path. Returns INSP_OK, INSP_E_ARG (NULL argument),
 * INSP_E_NOMEM, or INSP_E_ABI (anything about the file itself).
 * Before loading, when neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set and no OpenMP runtime
 * is loaded yet, it sets OMP_WAIT_POLICY=PASSIVE for the plugin's runtime (see INSTALL,
 * "Sharing the CPU"): call it before the host starts threads that read the environment, or set
 * OMP_WAIT_POLICY yourself to choose. */
insp_status insp_loader_open(const char *so_path, insp_module *out, char *err, size_t err_cap);

/* The plugin's file name, and the one way a host finds it when the user names none: into buf
 * (caller-owned, cap bytes) $DAPO_INSPECT_PLUGIN if set; else libdapo_inspect.so beside the
 * running program (the build tree); else, when installed_dir is not NULL and that file is
 * absent, installed_dir/libdapo_inspect.so (an installed host). 0, or -1 if it does not fit. */
#define INSP_PLUGIN_FILE "libdapo_inspect.so"
int insp_loader_default_path(const char *installed_dir, char *buf, size_t cap);

/* Unloads the plugin and zeroes *m. Every tool and result of it must be released before.
 * NULL or an already closed module is a no-op. */
void insp_loader_close(insp_module *m);

#endif

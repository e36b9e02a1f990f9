/* The vocabulary a recipe does not name: next to the CLIP file, else beside the plugin. */
#define _GNU_SOURCE
#include "vocab_default.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VOCAB_FILE "bpe_simple_vocab_16e6.txt.gz"

/* Folders, relative to the plugin's own folder, where a build tree (build/ or build/san/ beside
 * models/) or an installation (lib/dapo-inspect, or lib/<multiarch>/dapo-inspect, beside
 * share/) keeps it. */
static const char *const BESIDE_PLUGIN[] = {
    "../models", "../../models", "../../share/dapo-inspect/models",
    "../../../share/dapo-inspect/models",
};

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The folder of the shared object holding this code into buf; 0, or -1 if unknown. */
static int plugin_dir(char *buf, size_t cap)
{
    Dl_info info;
    if (!dladdr((void *)&plugin_dir, &info) || !info.dli_fname || !*info.dli_fname)
        return -1;
    int n = snprintf(buf, cap, "%s", info.dli_fname);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    char *slash = strrchr(buf, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else
        *slash = '\0';
    return 0;
}

dp_status dp_vocab_resolve(dp_recipe *r, dp_err *err)
{
    if (!r->vocab_default || is_file(r->vocab_path))
        return DP_OK;
    char dir[PATH_MAX], path[PATH_MAX + 96], tried[1024];
    int n = snprintf(tried, sizeof tried, "%s", r->vocab_path);
    if (plugin_dir(dir, sizeof dir) == 0)
        for (size_t i = 0; i < sizeof BESIDE_PLUGIN / sizeof BESIDE_PLUGIN[0]; i++) {
            snprintf(path, sizeof path, "%s/%s/%s", dir, BESIDE_PLUGIN[i], VOCAB_FILE);
            if (is_file(path)) {
                char *copy = realpath(path, NULL);
                if (!copy)
                    copy = strdup(path);
                if (!copy)
                    return dp_fail(err, DP_E_NOMEM, "out of memory resolving the vocabulary");
                free(r->vocab_path);
                r->vocab_path = copy;
                return DP_OK;
            }
            if (n > 0 && (size_t)n < sizeof tried)
                n += snprintf(tried + n, sizeof tried - (size_t)n, ", %s", path);
        }
    return dp_fail(err, DP_E_IO, "%s: model.vocabulary is not set and %s was not found; add "
                   "`vocabulary: <path to %s>` under model: (the repository ships it in models/, "
                   "the package in /usr/share/dapo-inspect/models/). Looked at: %s",
                   r->path ? r->path : "recipe", VOCAB_FILE, VOCAB_FILE, tried);
}

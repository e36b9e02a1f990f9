/* The text-feature cache directory of a tool (cache_dir.h). */
#include "cache_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

char *dp_text_cache_dir_decide(const dp_recipe *r, const char **source)
{
    const char *unused;
    if (!source)
        source = &unused;
    if (r->text_cache_off) {
        *source = "recipe text_cache: none";
        return NULL;
    }
    if (r->text_cache_dir) {
        *source = "recipe text_cache";
        return strdup(r->text_cache_dir);
    }
    /* getenv: read once per tool creation; the host sets it before, not while creating tools */
    const char *env = getenv(DP_TEXT_CACHE_ENV);
    if (env && env[0]) {
        *source = "environment " DP_TEXT_CACHE_ENV;
        return strcasecmp(env, "none") == 0 ? NULL : strdup(env);
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0] == '/') {     /* the XDG spec ignores a relative value */
        *source = "default $XDG_CACHE_HOME/dapo-inspect";
        return join(xdg, "dapo-inspect");
    }
    if (home && home[0] == '/') {
        *source = "default ~/.cache/dapo-inspect";
        return join(home, ".cache/dapo-inspect");
    }
    *source = "no recipe text_cache, " DP_TEXT_CACHE_ENV ", XDG_CACHE_HOME or HOME";
    return NULL;
}

/* Where a tool keeps its text-feature cache (module/model/text_cache.h): the one place the
 * directory is decided. */
#ifndef DP_CACHE_DIR_H
#define DP_CACHE_DIR_H

#include "recipe.h"

/* The environment variable a host sets to choose the directory ("none" disables the cache). */
#define DP_TEXT_CACHE_ENV "DAPO_TEXT_CACHE"

/* The recipe's text_cache (a directory, or none), else $DAPO_TEXT_CACHE (a directory, or
 * none), else $XDG_CACHE_HOME/dapo-inspect (when absolute), else $HOME/.cache/dapo-inspect.
 * Returns the directory (caller-owned, free) or NULL when the cache is off, or on no memory;
 * *source (borrowed, may be NULL) names the rule that decided, static storage. r: borrowed. */
char *dp_text_cache_dir_decide(const dp_recipe *r, const char **source);

#endif

/* Where the tokenizer vocabulary is when a recipe does not name it (model.vocabulary). */
#ifndef DP_VOCAB_DEFAULT_H
#define DP_VOCAB_DEFAULT_H

#include "dp_error.h"
#include "recipe.h"

/* For a recipe without model.vocabulary (r->vocab_default set): keeps r->vocab_path when that
 * file (next to model.clip) exists; else tries the copies a build tree or an installation puts
 * beside the plugin (<plugin dir>/../models, and share/dapo-inspect/models of its prefix) and
 * points r->vocab_path at the first that exists. Recipes that name the file are left alone.
 * On failure err names the key, every place looked at and what to write. r: borrowed, updated. */
dp_status dp_vocab_resolve(dp_recipe *r, dp_err *err);

#endif

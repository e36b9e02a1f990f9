/* libFuzzer target: recipe text (YAML) -> dp_recipe_parse. Every input must give DP_OK with a
 * fully defaulted recipe or an error naming the problem; never a crash, leak or hang. */
#include <stdint.h>
#include <string.h>

#include "recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_recipe r;
    dp_err e;
    dp_status st = dp_recipe_parse((const char *)data, size, "fuzz.yaml", "/fuzz/base", &r, &e);
    if (st == DP_OK) {
        /* the documented invariants of a parsed recipe */
        if (r.version != DP_RECIPE_VERSION || r.n_defects < 1 || !r.defects || !r.clip_path ||
            !r.dapo_path || !r.vocab_path || !(r.image_threshold > 0 && r.image_threshold < 1) ||
            r.tile < 1 || r.batch < 1 || 2 * r.overlap >= r.tile)
            __builtin_trap();
        for (int i = 0; i < r.n_defects; i++)
            if (!r.defects[i].name || !*r.defects[i].name)
                __builtin_trap();
    } else if (e.msg[0] == '\0' || memchr(e.msg, '\0', sizeof e.msg) == NULL) {
        __builtin_trap();   /* a failure always says why */
    }
    dp_recipe_free(&r);
    return 0;
}

/* Results: immutable, self-contained (class names copied), so they outlive their tool; and the
 * handle tag checks of both handles. */
#include "tool_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dp_result_free(insp_result *r)
{
    if (!r)
        return;
    r->tag = DP_HANDLE_TAG_DEAD;
    if (r->class_names)
        for (int i = 0; i < r->n_classes; i++)
            free(r->class_names[i]);
    free(r->class_names);
    free(r->class_scores);
    free(r->anomaly);
    free(r->label);
    free(r->types);
    free(r->regions);
    free(r);
}

#if defined(__GNUC__) || defined(__clang__)
#define DP_NO_ASAN __attribute__((no_sanitize_address))
#else
#define DP_NO_ASAN
#endif

DP_NO_ASAN int dp_result_live(const insp_result *r)
{
    return r && *(const volatile uint64_t *)&r->tag == DP_RESULT_TAG_LIVE;
}

DP_NO_ASAN int dp_tool_live(const insp_tool *t)
{
    return t && *(const volatile uint64_t *)&t->tag == DP_TOOL_TAG_LIVE;
}

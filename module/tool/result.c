/* Results: immutable, self-contained (class names copied), so they outlive their tool. */
#include "tool_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dp_result_free(insp_result *r)
{
    if (!r)
        return;
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

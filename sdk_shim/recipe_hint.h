/* Host-side help for recipe syntax errors: the plugin reports libyaml's own words ("mapping
 * values are not allowed in this context") with file:line:column; this adds what such a
 * message usually means and shows the recipe line with a caret under the column. */
#ifndef INSP_RECIPE_HINT_H
#define INSP_RECIPE_HINT_H

#include <stddef.h>

/* If msg (a tool_create error) names recipe_path:LINE:COLUMN, writes into out (caller-owned)
 * the recipe's line with a caret under the column and, for libyaml syntax errors it knows, a
 * hint; every line starts with "insp: " or spaces and ends with '\n'. Returns 0 when something
 * was written, -1 otherwise (out is then ""). Reads the recipe only if it is a regular file
 * of at most 1 MiB, without blocking. */
int insp_recipe_hint(const char *recipe_path, const char *msg, char *out, size_t cap);

/* The hint for a libyaml problem text, or NULL. Static string. */
const char *insp_yaml_problem_hint(const char *problem);

#endif

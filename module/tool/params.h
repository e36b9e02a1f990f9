/* The tool's runtime parameters, declared once: name, recipe key, type, range, unit and meaning.
 * The parameter schema, set_param's parsing and messages, get_param and the recipe's ranges for
 * the same settings all come from this table. */
#ifndef DP_PARAMS_H
#define DP_PARAMS_H

#include <stddef.h>

typedef enum dp_param_id {
    DP_PARAM_IMAGE_THRESHOLD,
    DP_PARAM_PIXEL_THRESHOLD,
    DP_PARAM_MIN_REGION_AREA,
    DP_PARAM_NUM_THREADS,
    DP_PARAM_TYPE_MAP,
    DP_PARAM_COUNT
} dp_param_id;

typedef enum dp_param_type { DP_PARAM_FLOAT, DP_PARAM_INT, DP_PARAM_BOOL } dp_param_type;

typedef struct dp_param_def {
    const char *name;          /* INSP_PARAM_* */
    const char *recipe_key;    /* the same setting in a recipe; NULL when there is none */
    dp_param_type type;
    double min, max;
    int open;                  /* 1: min < v < max; 0: min <= v <= max */
    const char *unit;          /* "" when none */
    const char *doc;
} dp_param_def;

/* The definition of parameter `id` (static storage). */
const dp_param_def *dp_param_def_of(dp_param_id id);

/* The id of a parameter name or recipe key; DP_PARAM_COUNT when it is neither. */
dp_param_id dp_param_find(const char *key);

/* The one parse-and-validate path of a parameter value, used by recipes (the same keys and the
 * per-defect pixel_threshold) and set_param: text[0..len) in the recipes' locale-independent
 * decimal syntax; an integer parameter refuses fractions, exponents and leading zeros; the
 * range is checked AFTER conversion to the type the tool stores (float for thresholds), so a
 * value that rounds to a bound (0.99999999999 -> 1, 1e-50 -> 0) is refused. 0 and *out set
 * (the stored value, exactly representable), or -1 and why (borrowed, why_cap bytes) saying
 * what is wrong with the text ("out of range", "rounds to 1 as a 32-bit float", ...). */
int dp_param_value(dp_param_id id, const char *text, size_t len, double *out, char *why,
                   size_t why_cap);

/* set_param's form: dp_param_value on a NUL-terminated value, and on failure msg (borrowed,
 * msg_cap bytes) = "<name> = \"<value>\" (<why>): expected ...". */
int dp_param_parse(dp_param_id id, const char *value, double *out, char *msg, size_t msg_cap);

/* "expected ..." for a parameter: the type, the range and the unit (buf borrowed). */
const char *dp_param_expected(dp_param_id id, char *buf, size_t cap);

/* "image_threshold, pixel_threshold, ..." (static storage). Booleans are "true" or "false". */
const char *dp_param_names(void);

/* The JSON schema of every parameter with its current value as default; *out is owned by the
 * caller (free). values: [DP_PARAM_COUNT]. Returns 0, or -1 when out of memory. */
int dp_param_schema(const double *values, char **out);

/* value formatted in C notation ("0.5", "4") into buf (borrowed). */
void dp_param_format(dp_param_id id, double value, char *buf, size_t cap);

#endif

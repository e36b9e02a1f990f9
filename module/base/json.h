/* A small, bounded JSON reader (RFC 8259) for safetensors headers and config metadata. */
#ifndef DP_JSON_H
#define DP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "dp_error.h"

typedef enum dp_json_type {
    DP_JSON_NULL, DP_JSON_BOOL, DP_JSON_NUMBER, DP_JSON_STRING, DP_JSON_ARRAY, DP_JSON_OBJECT
} dp_json_type;

typedef struct dp_json dp_json;
struct dp_json {
    dp_json_type type;
    int boolean;
    double number;
    int number_is_integer;   /* the text had no fraction or exponent */
    int64_t integer;         /* exact value when number_is_integer */
    char *string;            /* NUL-terminated, owned by the document (for STRING) */
    size_t string_len;
    char **keys;             /* OBJECT: count keys, owned by the document */
    dp_json *items;          /* ARRAY / OBJECT: count values, owned by the document */
    size_t count;
};

/* Parses text[0..len) into *out (caller frees with dp_json_free). `what` names the source in
 * messages ("model.safetensors header"). Depth and size are bounded, and so is memory: at most
 * DP_JSON_MEMORY_PER_BYTE bytes per byte of text plus DP_JSON_MEMORY_BASE (dp_limits.h), else
 * DP_E_FORMAT; errors give the byte offset and what was expected. */
dp_status dp_json_parse(const char *text, size_t len, const char *what, dp_json **out, dp_err *err);
void dp_json_free(dp_json *doc);

/* Member of an object by key, NULL if absent or obj is not an object. Borrowed. */
const dp_json *dp_json_get(const dp_json *obj, const char *key);
/* Nested lookup by a dot-separated path ("vision_cfg.width"). Borrowed; NULL if absent. */
const dp_json *dp_json_path(const dp_json *obj, const char *dotted);

#endif

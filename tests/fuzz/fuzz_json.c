/* libFuzzer target: the base layer's JSON reader (safetensors headers, config metadata) on
 * arbitrary bytes; the safetensors target reaches it only behind a consistent length prefix.
 * A parsed document is walked completely; strings must be NUL-terminated at string_len. */
#include <stdint.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const dp_json *v, int depth)
{
    if (depth > 10000)
        __builtin_trap();   /* the reader bounds depth far below this */
    switch (v->type) {
    case DP_JSON_STRING:
        if (!v->string || v->string[v->string_len] != '\0')
            __builtin_trap();
        break;
    case DP_JSON_OBJECT:
        for (size_t i = 0; i < v->count; i++) {
            if (!v->keys[i])
                __builtin_trap();
            (void)dp_json_get(v, v->keys[i]);
        }
        /* fall through */
    case DP_JSON_ARRAY:
        for (size_t i = 0; i < v->count; i++)
            walk(&v->items[i], depth + 1);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dp_json *doc = NULL;
    dp_err e;
    if (dp_json_parse((const char *)data, size, "fuzz.json", &doc, &e) != DP_OK) {
        if (doc || !e.msg[0])
            __builtin_trap();
        return 0;
    }
    walk(doc, 0);
    (void)dp_json_path(doc, "a.b.c");
    (void)dp_json_path(doc, "__metadata__");
    dp_json_free(doc);
    return 0;
}

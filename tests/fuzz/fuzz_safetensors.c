/* libFuzzer target: a .safetensors file -> dp_st_open (header JSON, dtypes, shapes, offsets,
 * overlaps, duplicates, metadata), then every accessor and the f32 conversion of each tensor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_path(data, size);
    if (!path)
        return 0;
    dp_safetensors *st = NULL;
    dp_err e;
    if (dp_st_open(path, &st, &e) != DP_OK) {
        if (st || !e.msg[0])
            __builtin_trap();
        return 0;
    }
    size_t n = dp_st_count(st);
    for (size_t i = 0; i < n; i++) {
        const dp_st_tensor *t = dp_st_at(st, i);
        if (!t || dp_st_find(st, t->name) == NULL)
            __builtin_trap();
        char shape[128];
        dp_st_format_shape(shape, sizeof shape, t->shape, t->ndim);
        if (t->dtype == DP_DT_OTHER || t->count > (1u << 20))
            continue;
        float *dst = malloc((t->count ? t->count : 1) * sizeof *dst);
        if (dst)
            (void)dp_st_to_f32(st, t, dst, &e);
        free(dst);
    }
    if (dp_st_at(st, n) != NULL)
        __builtin_trap();
    (void)dp_st_metadata(st);
    (void)dp_st_count_indexed(st, "visual.transformer.resblocks.", '.');
    dp_st_close(st);
    return 0;
}

/* libFuzzer target: arbitrary bytes (made NUL-terminated) -> dp_tokenize with the CLIP vocabulary
 * (models/bpe_simple_vocab_16e6.txt.gz, or $DAPO_MODELS), at CLIP's context and at a context
 * chosen by the first byte. Invalid UTF-8 must fail with a message and all-zero ids. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dp_tokenizer *tok;   /* loaded once per process; immutable, freed at exit */

static void free_tok(void)
{
    dp_tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok) {
        const char *dir = getenv("DAPO_MODELS") ? getenv("DAPO_MODELS") : "models";
        char path[1024];
        snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
        dp_err e;
        if (dp_tokenizer_load(path, &tok, &e) != DP_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", e.msg);
            abort();   /* a harness set-up failure, not a finding */
        }
        atexit(free_tok);
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int32_t ids[DP_TOK_CONTEXT + 256] = { 0 };
    dp_err e;
    int n = -1;
    int ctx = size ? 2 + data[0] % (DP_TOK_CONTEXT + 200) : DP_TOK_CONTEXT;
    const int contexts[2] = { DP_TOK_CONTEXT, ctx };
    for (int k = 0; k < 2; k++) {
        dp_status st = dp_tokenize(tok, text, ids, contexts[k], &n, &e);
        if (st == DP_OK) {
            if (n < 2 || n > contexts[k] || ids[0] != DP_TOK_SOT || ids[n - 1] != DP_TOK_EOT)
                __builtin_trap();
            for (int i = 0; i < contexts[k]; i++)
                if (ids[i] < 0 || ids[i] >= DP_TOK_VOCAB_SIZE || (i >= n && ids[i] != 0))
                    __builtin_trap();
        } else {
            for (int i = 0; i < contexts[k]; i++)
                if (ids[i] != 0)
                    __builtin_trap();
            if (!e.msg[0])
                __builtin_trap();
        }
    }
    free(text);
    return 0;
}

/* CLIP byte-level BPE tokenizer (OpenAI CLIP / open_clip SimpleTokenizer), bit-exact with the
 * reference for text that Python's ftfy.fix_text leaves unchanged (ftfy is not reproduced).
 * Algorithm: tests/golden/README.md §8. */
#ifndef DP_TOKENIZER_H
#define DP_TOKENIZER_H

#include <stdint.h>

#include "dp_error.h"

#define DP_TOK_VOCAB_SIZE 49408
#define DP_TOK_SOT 49406           /* <start_of_text> */
#define DP_TOK_EOT 49407           /* <end_of_text> */
#define DP_TOK_CONTEXT 77          /* CLIP's context length */
#define DP_TOK_MAX_TEXT (1 << 20)  /* longest accepted input, in bytes */

typedef struct dp_tokenizer dp_tokenizer;

/* Reads the gzip'd CLIP merges file (bpe_simple_vocab_16e6.txt.gz) and builds the byte
 * alphabet, the 49408-entry vocabulary and the merge ranks. On success *out is a new tokenizer
 * owned by the caller (free with dp_tokenizer_free); on failure *out is NULL. Immutable
 * afterwards, so one tokenizer may be shared by threads. */
dp_status dp_tokenizer_load(const char *bpe_gz_path, dp_tokenizer **out, dp_err *err);

/* Releases tok (owned by the caller; NULL is allowed). */
void dp_tokenizer_free(dp_tokenizer *tok);

/* Encodes the NUL-terminated UTF-8 text (borrowed) as CLIP does into ids[context_length]
 * (caller-owned): 49406, tokens..., 49407, zero padding; when too long the first
 * context_length ids are kept and the last is set to 49407. *n_tokens (optional) receives the
 * number of non-pad ids written. Cleaning: HTML-unescape twice (every html.entities.html5 name
 * and numeric reference, with Python html.unescape's fix-ups), Python str.split() whitespace
 * collapse and strip, Python str.lower() (including final sigma and U+0130). On failure (invalid
 * UTF-8, bad arguments, no memory) ids is all zero. Thread-safe: no caches, no shared state. */
dp_status dp_tokenize(const dp_tokenizer *tok, const char *utf8, int32_t *ids, int context_length,
                      int *n_tokens, dp_err *err);

/* The text cleaning dp_tokenize applies before BPE, alone (no vocabulary needed): HTML
 * unescape twice, whitespace collapse and strip, Unicode lower case. Texts with the same
 * normalised form get the same tokens, so callers compare names with it. utf8: borrowed,
 * NUL-terminated. *out: new UTF-8 string owned by the caller (free), NULL on failure
 * (DP_E_ARG: NULL, invalid UTF-8 or longer than DP_TOK_MAX_TEXT; DP_E_NOMEM). */
dp_status dp_tokenizer_normalize(const char *utf8, char **out, dp_err *err);

#endif

/* On-disk cache of a defect list's encoded text features (dp_text_features), so a tool
 * created again for the same recipe skips the text tower (seconds for 20 names on ViT-L/14).
 *
 * It lives in the model layer because everything the features depend on is the model's: the
 * CLIP text weights, the DAPO prompt tensors, the tokenizer vocabulary, the precision. Where
 * the directory is (recipe, environment, default) is the tool layer's decision.
 *
 * The key is written verbatim into the file and compared byte for byte when read (the file
 * name is only a 64-bit digest of it, to find the file). It holds:
 *   - the cache format and the caller's version tag (the plugin version);
 *   - the precision, the thread count (another count may sum in another order, and a hit must
 *     give the features a cold run of the same tool gives, bit for bit) and the architecture;
 *   - the CLIP file's size, modification time and inode plus a digest of its first
 *     DP_TEXT_CACHE_CLIP_HEAD_BYTES (the safetensors header: every tensor's name, dtype, shape
 *     and offset): hashing a 1.7 GB file at every tool creation would cost more than it saves;
 *   - a digest of the DAPO prompt tensors actually used (normal, abnormal contexts, deep text
 *     prompts), exact;
 *   - a digest and the size of the vocabulary file, exact;
 *   - the defect names, exact bytes, in order.
 * A file is trusted only when magic, format, key, sizes, the payload's checksum, finite values,
 * unit-norm rows and pooled-row indices all check out; anything else is ignored (and the caller
 * rewrites it). Writes go to a temporary file in the same directory, then rename(2): readers
 * never see half a file, and two writers racing leave one whole file. */
#ifndef DP_TEXT_CACHE_H
#define DP_TEXT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "clip_text.h"
#include "dp_error.h"
#include "model_config.h"
#include "nn.h"

/* Bytes at the start of the CLIP file that enter the key (its safetensors header: about
 * 70 KB for ViT-L/14). */
#define DP_TEXT_CACHE_CLIP_HEAD_BYTES ((size_t)1 << 20)

/* Everything the text features depend on; pointers borrowed for dp_text_cache_key_make. */
typedef struct dp_text_cache_inputs {
    const char *version;            /* the plugin version, e.g. "0.1.0" */
    const char *clip_path;          /* CLIP weights: stat identity + header digest */
    const char *vocab_path;         /* tokenizer vocabulary: content digest */
    const dp_model_config *cfg;
    dp_dtype_c precision;           /* the precision the text tower runs at */
    int threads;                    /* the OpenMP team size it runs with */
    const float *normal_ctx, *abnormal_ctx;   /* [10][5][Wt] */
    const float *layer_tokens;      /* [text_layers][4][Wt] */
    const char *const *defects;     /* n_defects names as given to dp_text_encode */
    int n_defects;
} dp_text_cache_inputs;

typedef struct dp_text_cache_key {
    unsigned char *bytes;           /* the key record, owned */
    size_t len;
    uint64_t digest;                /* of bytes: names the file */
    int n_states, dim;              /* the features this key describes */
    int context_length;             /* pooled-row indices must lie below it */
} dp_text_cache_key;

/* Builds the key (reads the CLIP file's head and the vocabulary). *out owned by the caller
 * (dp_text_cache_key_free). DP_E_IO names a file that cannot be read; DP_E_ARG bad inputs. */
dp_status dp_text_cache_key_make(const dp_text_cache_inputs *in, dp_text_cache_key *out,
                                 dp_err *err);
void dp_text_cache_key_free(dp_text_cache_key *k);

/* The cache file for key in dir: "<dir>/text-<16 hex digits>.dptc". buf: borrowed, written.
 * 0, or -1 when it does not fit. */
int dp_text_cache_path(const char *dir, const dp_text_cache_key *key, char *buf, size_t cap);

typedef enum dp_text_cache_lookup {
    DP_TEXT_CACHE_HIT = 0,          /* *out filled from the file */
    DP_TEXT_CACHE_ABSENT,           /* no file for this key */
    DP_TEXT_CACHE_REJECTED          /* a file exists but is not trusted: why says so */
} dp_text_cache_lookup;

/* Looks the key up in dir (borrowed). HIT: *out filled, owned by the caller
 * (dp_text_features_free). Otherwise *out is zeroed and why (borrowed, written, may be NULL)
 * says what was found ("truncated: 1200 bytes, expected 132344", "key differs", ...). Never
 * follows a FIFO or device; never blocks. */
dp_text_cache_lookup dp_text_cache_read(const char *dir, const dp_text_cache_key *key,
                                        dp_text_features *out, char *why, size_t why_cap);

/* Stores tf (borrowed) for key in dir (created, mode 0700, when missing), atomically: a
 * temporary file in dir, fsync, rename over the cache file. DP_E_IO names the directory or file
 * and the system's reason; nothing half-written is left behind. */
dp_status dp_text_cache_write(const char *dir, const dp_text_cache_key *key,
                              const dp_text_features *tf, dp_err *err);

#endif

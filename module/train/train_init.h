/* Fresh DAPO tensors, drawn as the reference creates them before its first step
 * (learnable_prompt.py, visual_prompt_tuning.py, adapter.py; tests/golden/README.md §9). */
#ifndef DP_TRAIN_INIT_H
#define DP_TRAIN_INIT_H

#include <stdint.h>

#include "clip_weights.h"
#include "dp_error.h"
#include "train_params.h"

/* Every tensor of a DAPO file for the architecture of clip (borrowed), in the file order the
 * plugin and the reference use:
 *   visual tokens        U(-v, v), v = sqrt(6 / (3 p^2 + Wv))
 *   normal, abnormal and deep text tokens   N(0,1) * sd + mean, per dimension of CLIP's
 *                        token-embedding matrix (sd with n - 1, as torch.std)
 *   meta_net and adapters   U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases
 *                        (torch.nn.Linear's default)
 * The draws come from our own generator seeded by `seed`: the distributions are the
 * reference's, the numbers are not torch's. *out zeroed on failure; free with
 * dp_train_params_free. */
dp_status dp_train_params_init_reference(const dp_clip_file *clip, uint64_t seed,
                                         dp_train_params *out, dp_err *err);

#endif

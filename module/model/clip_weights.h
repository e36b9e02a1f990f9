/* CLIP checkpoint (open_clip or Hugging Face CLIPModel naming) presented in open_clip names and
 * layout. */
#ifndef DP_CLIP_WEIGHTS_H
#define DP_CLIP_WEIGHTS_H

#include <stddef.h>

#include "dp_error.h"
#include "model_config.h"

typedef struct dp_clip_file dp_clip_file;

/* Opens path (borrowed), detects the naming (open_clip: "visual.conv1.weight"; Hugging Face
 * CLIPModel: "vision_model.embeddings.patch_embedding.weight"), derives the architecture from
 * tensor shapes (heads from __metadata__, else head width 64) and checks that every tensor the
 * model needs is present with the right shape. Values are not converted here (dp_clip_read
 * does, one tensor at a time). *out is owned by the caller (dp_clip_close); NULL on failure. */
dp_status dp_clip_open(const char *path, dp_clip_file **out, dp_err *err);
void dp_clip_close(dp_clip_file *f);   /* NULL is a no-op */

const dp_model_config *dp_clip_config(const dp_clip_file *f);   /* borrowed */
const char *dp_clip_path(const dp_clip_file *f);                 /* borrowed */

/* Writes the open_clip tensor oc_name (open_clip name and layout, e.g.
 * "visual.transformer.resblocks.3.attn.in_proj_weight" [3Wv,Wv], "visual.proj" [Wv,E]) as
 * float32 into dst (caller-owned, dp_clip_numel(f, oc_name) floats). For HF files q/k/v are
 * concatenated and the projections transposed. Fails naming file and tensor on an unknown name
 * (DP_E_ARG) or a NaN/Inf value (DP_E_MODEL). "logit_scale" is readable when stored. */
dp_status dp_clip_read(const dp_clip_file *f, const char *oc_name, float *dst, dp_err *err);
/* Element count of oc_name; 0 if unknown. */
size_t dp_clip_numel(const dp_clip_file *f, const char *oc_name);

/* The vision positional table resized to grid x grid as open_clip does at load: row 0 (CLS)
 * kept, the native n x n grid resized with dp_resize_f32_bicubic_aa (copied if grid == n).
 * dst: caller-owned, (1 + grid*grid) * vision_width floats. grid in 1..1024. */
dp_status dp_clip_pos_embed(const dp_clip_file *f, int grid, float *dst, dp_err *err);

#endif

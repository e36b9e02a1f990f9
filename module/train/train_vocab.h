/* The reference's training vocabulary (shared/spec/dapo.md §4.5, §7): 21 states, normal first,
 * and its table from MVTec AD defect-folder names to those class ids. One home for both. */
#ifndef DP_TRAIN_VOCAB_H
#define DP_TRAIN_VOCAB_H

#define DP_TRAIN_STATES 21          /* normal + 20 training defect classes */

/* State k (0 = "normal", 1..20 the defect names in the reference order); NULL out of range.
 * Static strings. The defect names (k >= 1) are what the text tower encodes. */
const char *dp_train_state_name(int k);

/* The 20 defect names in order (for dp_text_encode); static array of static strings. */
const char *const *dp_train_defect_names(void);

/* Class id of an MVTec AD defect folder ("good" -> 0, "scratch_head" -> 15, ...): the
 * reference's table entry when the name is in it, else the state whose name equals it exactly
 * (underscores read as spaces, case ignored), else -1 (the caller reports it). name: borrowed. */
int dp_train_class_of_folder(const char *name);

#endif

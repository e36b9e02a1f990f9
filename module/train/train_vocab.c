/* Training vocabulary and the MVTec AD defect-folder table of the reference's train.py. */
#include "train_vocab.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

static const char *const STATES[DP_TRAIN_STATES] = {
    "normal", "bent", "broken", "discoloration", "compound", "contamination", "crack", "cut",
    "fabric", "faulty imprint", "gluing", "hole", "missing", "puncture", "rough", "scratch",
    "compressed", "threading", "liquid", "misaligned", "wear"
};

/* The entries the spec (dapo.md §7) and the golden README name; the reference table has 49
 * folder names, the rest fall back to an exact match with a state name. */
static const struct { const char *folder; int id; } FOLDERS[] = {
    { "good", 0 },
    { "broken", 2 }, { "broken_large", 2 }, { "broken_small", 2 }, { "broken_teeth", 2 },
    { "color", 3 },
    { "scratch", 15 }, { "scratch_head", 15 }, { "scratch_neck", 15 },
    { "misplaced", 19 }, { "cable_swap", 19 }, { "flip", 19 }, { "fold", 19 },
    { "split_teeth", 19 },
    { "damaged_case", 20 }, { "defective", 20 }, { "gray_stroke", 20 }, { "pill_type", 20 },
};

const char *dp_train_state_name(int k)
{
    return k >= 0 && k < DP_TRAIN_STATES ? STATES[k] : NULL;
}

const char *const *dp_train_defect_names(void)
{
    return STATES + 1;
}

/* a equals b ignoring case, with '_' in a read as ' '. */
static int same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int ca = *a == '_' ? ' ' : tolower((unsigned char)*a);
        if (ca != tolower((unsigned char)*b))
            return 0;
    }
    return *a == *b;
}

int dp_train_class_of_folder(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof FOLDERS / sizeof FOLDERS[0]; i++)
        if (strcmp(FOLDERS[i].folder, name) == 0)
            return FOLDERS[i].id;
    for (int k = 1; k < DP_TRAIN_STATES; k++)
        if (same_name(name, STATES[k]))
            return k;
    return -1;
}

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

/* The reference's table (train.py, `gt_defect`): every defect folder of the 15 MVTec AD
 * products, 50 names plus "good". Names outside it fall back to an exact match with a state. */
static const struct { const char *folder; int id; } FOLDERS[] = {
    { "good", 0 },
    { "bent", 1 }, { "bent_lead", 1 }, { "bent_wire", 1 }, { "manipulated_front", 1 },
    { "broken", 2 }, { "broken_large", 2 }, { "broken_small", 2 }, { "broken_teeth", 2 },
    { "color", 3 },
    { "combined", 4 },
    { "contamination", 5 }, { "metal_contamination", 5 },
    { "crack", 6 },
    { "cut", 7 }, { "cut_inner_insulation", 7 }, { "cut_lead", 7 }, { "cut_outer_insulation", 7 },
    { "fabric", 8 }, { "fabric_border", 8 }, { "fabric_interior", 8 },
    { "faulty_imprint", 9 }, { "print", 9 },
    { "glue", 10 }, { "glue_strip", 10 },
    { "hole", 11 },
    { "missing", 12 }, { "missing_wire", 12 }, { "missing_cable", 12 },
    { "poke", 13 }, { "poke_insulation", 13 },
    { "rough", 14 },
    { "scratch", 15 }, { "scratch_head", 15 }, { "scratch_neck", 15 },
    { "squeeze", 16 }, { "squeezed_teeth", 16 },
    { "thread", 17 }, { "thread_side", 17 }, { "thread_top", 17 },
    { "liquid", 18 }, { "oil", 18 },
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

/* insp-train: trains DAPO weights on a labelled set (see calibration/README.md "Training").
 * Everything is in train_cmd.c (dp_train_cmd_main). */
#include "train_cmd.h"

int main(int argc, char **argv)
{
    return train_cmd_main(argc, argv);
}

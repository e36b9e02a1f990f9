/* insp-calibrate: thresholds per product from labelled parts, the standard metrics, a report.
 * Everything is in calibrate.c (calib_main); the tests link it too. */
#include "calib.h"

int main(int argc, char **argv)
{
    return calib_main(argc, argv);
}

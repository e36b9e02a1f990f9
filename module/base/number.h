/* Decimal numbers as written in recipes and parameter strings, read the same whatever the host
 * process's locale is. */
#ifndef DP_NUMBER_H
#define DP_NUMBER_H

#include <stddef.h>

typedef struct dp_number {
    int ok;             /* the text is a decimal number */
    int integral;       /* no fraction, no exponent */
    int leading_zero;   /* integral with a superfluous leading 0 ("064": octal in YAML 1.1) */
    int big;            /* integral beyond +-1e12 */
    long long i;
    double d;
} dp_number;

/* Scans s[0..n) (no NUL needed); .ok is 0 unless the whole text is one decimal number. */
dp_number dp_scan_number(const char *s, size_t n);

#endif

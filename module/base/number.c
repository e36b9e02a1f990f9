/* Locale-independent decimal number scanner (recipes and runtime parameters). */
#include "number.h"

#include <stdint.h>

/* [+-]? (digits (. digits*)? | . digits) ([eE] [+-]? digits)?  -- no hex, octal, inf, nan.
 * Hand-written because strtod obeys the host's LC_NUMERIC (a German host reads "0,5"). */
dp_number dp_scan_number(const char *s, size_t n)
{
    dp_number r = {0};
    size_t p = 0;
    int neg = 0;
    if (p < n && (s[p] == '+' || s[p] == '-'))
        neg = s[p++] == '-';
    uint64_t mant = 0;
    int sig = 0, exp10 = 0, int_digits = 0, frac_digits = 0, point = 0;
    size_t int_start = p;
    long long iv = 0;
    for (; p < n && s[p] >= '0' && s[p] <= '9'; p++, int_digits++) {
        int dgt = s[p] - '0';
        if (iv <= 1000000000000LL)
            iv = iv * 10 + dgt;
        if (mant == 0 && dgt == 0)
            continue;
        if (sig < 19) {
            mant = mant * 10 + (uint64_t)dgt;
            sig++;
        } else {
            exp10++;
        }
    }
    if (p < n && s[p] == '.') {
        point = 1;
        for (p++; p < n && s[p] >= '0' && s[p] <= '9'; p++, frac_digits++) {
            int dgt = s[p] - '0';
            if (mant == 0 && dgt == 0) {
                exp10--;
            } else if (sig < 19) {
                mant = mant * 10 + (uint64_t)dgt;
                sig++;
                exp10--;
            }
        }
    }
    if (int_digits == 0 && frac_digits == 0)
        return r;
    int has_exp = 0, e = 0;
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        has_exp = 1;
        p++;
        int eneg = 0;
        if (p < n && (s[p] == '+' || s[p] == '-'))
            eneg = s[p++] == '-';
        size_t start = p;
        for (; p < n && s[p] >= '0' && s[p] <= '9'; p++)
            if (e < 100000)
                e = e * 10 + (s[p] - '0');
        if (p == start)
            return r;
        if (eneg)
            e = -e;
    }
    if (p != n)
        return r;
    r.ok = 1;
    r.integral = !point && !has_exp;
    r.leading_zero = r.integral && int_digits > 1 && s[int_start] == '0';
    r.big = iv > 1000000000000LL;
    r.i = neg ? -iv : iv;
    /* Exact for up to 15 significant digits and |exponent| <= 22 (Clinger's fast path);
     * beyond that a close approximation, which no threshold needs to beat. */
    int te = exp10 + e;
    double d = (double)mant;
    if (mant == 0 || te < -400)
        d = 0.0;
    else if (te > 400)
        d = 1e300 * 1e300;
    else if (te >= 0) {
        double pw = 1.0;
        for (int k = 0; k < te; k++)
            pw *= 10.0;
        d *= pw;
    } else {
        double pw = 1.0;
        int k = 0;
        for (; k < -te && k < 22; k++)
            pw *= 10.0;
        d /= pw;
        for (; k < -te; k++)
            d /= 10.0;
    }
    r.d = neg ? -d : d;
    return r;
}

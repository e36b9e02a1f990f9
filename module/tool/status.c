/* dp_status -> insp_status at the plugin boundary. */
#include "status.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

insp_status dp_status_to_insp(dp_status st, dp_stage stage)
{
    switch (st) {
    case DP_OK: return INSP_OK;
    case DP_E_NOMEM: return INSP_E_NOMEM;
    case DP_E_CANCELLED: return INSP_E_CANCELLED;
    default: break;
    }
    if (stage == DP_STAGE_RECIPE)
        return INSP_E_RECIPE;
    switch (st) {
    case DP_E_ARG:
    case DP_E_IO:
    case DP_E_FORMAT:
        return stage == DP_STAGE_MODEL ? INSP_E_MODEL
               : stage == DP_STAGE_IMAGE ? INSP_E_IMAGE : INSP_E_INTERNAL;
    case DP_E_MODEL: return INSP_E_MODEL;
    case DP_E_UNSUPPORTED: return INSP_E_UNSUPPORTED;
    default: return INSP_E_INTERNAL;
    }
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if the bytes there are not one (overlong
 * forms, surrogates, code points above U+10FFFF and truncated sequences included). */
static int utf8_len(const unsigned char *s, uint32_t *cp)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0)
        return 0;
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;   /* also stops at the NUL */
        v = v << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_of[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (v < min_of[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

void dp_sanitize_line(char *dst, size_t cap, const char *src)
{
    if (!dst || cap == 0)
        return;
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t o = 0;
    while (*s) {
        char esc[12];
        const char *piece = (const char *)s;
        uint32_t cp = 0;
        int n = utf8_len(s, &cp), len = n;
        if (n == 0) {                              /* a byte that is not UTF-8 */
            snprintf(esc, sizeof esc, "\\x%02X", *s);
            piece = esc;
            len = 4;
            n = 1;
        } else if (cp < 0x20 || cp == 0x7F) {      /* C0 controls: LF, CR, ESC, TAB, ... */
            if (cp == '\n' || cp == '\r' || cp == '\t')
                snprintf(esc, sizeof esc, "\\%c", cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't');
            else
                snprintf(esc, sizeof esc, "\\x%02X", (unsigned)cp);
            piece = esc;
            len = (int)strlen(esc);
        } else if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) {
            /* C1 controls (NEL, CSI) and the Unicode line and paragraph separators */
            snprintf(esc, sizeof esc, "\\u%04X", (unsigned)cp);
            piece = esc;
            len = 6;
        }
        if (o + (size_t)len > cap - 1)
            break;                                 /* truncated between whole sequences */
        memcpy(dst + o, piece, (size_t)len);
        o += (size_t)len;
        s += n;
    }
    dst[o] = '\0';
}

void dp_copy_err(char *err, size_t cap, const char *msg)
{
    dp_sanitize_line(err, cap, msg);
}

insp_status dp_report(const dp_err *e, dp_stage stage, char *err, size_t cap)
{
    dp_copy_err(err, cap, e->msg);
    return dp_status_to_insp(e->code, stage);
}

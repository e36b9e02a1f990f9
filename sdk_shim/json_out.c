/* Streaming JSON writer: structure bookkeeping, escaping, locale-proof numbers. */
#include "json_out.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

void json_out_init(json_out *w, FILE *f, int pretty)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->pretty = pretty;
}

static void newline_indent(json_out *w)
{
    if (!w->pretty)
        return;
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->f);
}

/* Separator and indentation before a value or (is_key) a key at the current level. */
static void before(json_out *w, int is_key)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        int lvl = w->depth - 1;
        if (w->kind[lvl] == '{' && !is_key)
            w->failed = 1;   /* an object member without its key */
        if (w->count[lvl] > 0)
            fputs(w->flat[lvl] && w->pretty ? ", " : ",", w->f);
        if (!w->flat[lvl])
            newline_indent(w);
        w->count[lvl]++;
    }
}

static void open_level(json_out *w, char c, int one_line)
{
    before(w, 0);
    fputc(c, w->f);
    if (w->depth >= JSON_OUT_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    /* Everything inside a one-line level stays on that line. */
    w->kind[w->depth] = c;
    w->flat[w->depth] = one_line || (w->depth > 0 && w->flat[w->depth - 1]);
    w->count[w->depth++] = 0;
}

static void close_level(json_out *w, char c)
{
    if (w->depth == 0 || w->after_key || w->kind[w->depth - 1] != (c == '}' ? '{' : '[')) {
        w->failed = 1;
        return;
    }
    int had = w->count[w->depth - 1], one_line = w->flat[w->depth - 1];
    w->depth--;
    if (had && !one_line)
        newline_indent(w);
    fputc(c, w->f);
}

void json_out_begin_object(json_out *w) { open_level(w, '{', 0); }
void json_out_end_object(json_out *w) { close_level(w, '}'); }
void json_out_begin_array(json_out *w) { open_level(w, '[', 0); }
void json_out_begin_array_inline(json_out *w) { open_level(w, '[', 1); }
void json_out_begin_object_inline(json_out *w) { open_level(w, '{', 1); }
void json_out_end_array(json_out *w) { close_level(w, ']'); }

void json_out_key(json_out *w, const char *key)
{
    if (w->depth == 0 || w->after_key || w->kind[w->depth - 1] != '{')
        w->failed = 1;
    before(w, 1);
    json_out_escape(w->f, key ? key : "");
    fputs(w->pretty ? ": " : ":", w->f);
    w->after_key = 1;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one
 * (stray continuation, overlong form, surrogate, beyond U+10FFFF, truncated). *cp gets the
 * code point. */
static int utf8_seq(const unsigned char *s, uint32_t *cp)
{
    unsigned char c = s[0];
    int n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2; v = c & 0x1Fu; min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3; v = c & 0x0Fu; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4; v = c & 0x07u; min = 0x10000;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u)    /* also stops at the NUL terminator */
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

void json_out_escape(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        uint32_t cp;
        int n = utf8_seq(s, &cp);
        if (n == 0) {
            fputs("\xEF\xBF\xBD", f);   /* U+FFFD keeps the file valid UTF-8 */
            s++;
            continue;
        }
        switch (cp) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            /* Other controls must be escaped; DEL and the JS line separators are escaped so the
             * text can be pasted into any viewer or script safely. */
            if (cp < 0x20 || cp == 0x7F || cp == 0x2028 || cp == 0x2029)
                fprintf(f, "\\u%04x", (unsigned)cp);
            else
                fwrite(s, 1, (size_t)n, f);
        }
        s += n;
    }
    fputc('"', f);
}

void json_out_string(json_out *w, const char *s)
{
    if (!s) {
        json_out_null(w);
        return;
    }
    before(w, 0);
    json_out_escape(w->f, s);
}

/* printf honours LC_NUMERIC; a host that called setlocale could get "0,5". */
static void put_number(json_out *w, double v, int digits)
{
    if (!isfinite(v)) {
        json_out_null(w);
        return;
    }
    char buf[48];
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    for (char *p = buf; *p; p++)
        if (*p == ',')
            *p = '.';
    before(w, 0);
    fputs(buf, w->f);
}

void json_out_number(json_out *w, double v) { put_number(w, v, 10); }
void json_out_float(json_out *w, float v) { put_number(w, v, 7); }

void json_out_int(json_out *w, long long v)
{
    before(w, 0);
    fprintf(w->f, "%lld", v);
}

void json_out_bool(json_out *w, int v)
{
    before(w, 0);
    fputs(v ? "true" : "false", w->f);
}

void json_out_null(json_out *w)
{
    before(w, 0);
    fputs("null", w->f);
}

void json_out_kv_string(json_out *w, const char *key, const char *s)
{
    json_out_key(w, key);
    json_out_string(w, s);
}

void json_out_kv_float(json_out *w, const char *key, float v)
{
    json_out_key(w, key);
    json_out_float(w, v);
}

void json_out_kv_number(json_out *w, const char *key, double v)
{
    json_out_key(w, key);
    json_out_number(w, v);
}

void json_out_kv_int(json_out *w, const char *key, long long v)
{
    json_out_key(w, key);
    json_out_int(w, v);
}

int json_out_finish(json_out *w)
{
    if (w->depth != 0 || w->after_key)
        w->failed = 1;
    fputc('\n', w->f);
    if (fflush(w->f) != 0 || ferror(w->f))
        return -1;
    return w->failed ? -1 : 0;
}
